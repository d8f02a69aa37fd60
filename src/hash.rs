//! Cheap, stable hashing for the crate's own tables: FxHash steps (as in rustc's hasher) finished
//! by MurmurHash3's mixer. Flow keys use the steps directly; strings go through [`FxHasher`].
//! None of these tables is keyed by anything an attacker could grow without bound: every one is
//! bounded in entries, so collisions cost time in proportion to the bound, never more.

use std::hash::{BuildHasherDefault, Hasher};

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// One FxHash step: cheap, good enough once finished by [`fmix64`].
pub(crate) fn fx_add(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(FX_SEED)
}

/// MurmurHash3's 64-bit finaliser: spreads every input bit over the low bits (bucket index) and
/// the high bits (control bytes) of a table.
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FxHash over 8-byte words, finished by [`fmix64`]: for short strings in bounded tables.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.0 = fx_add(self.0, u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w.iter_mut().zip(rest).for_each(|(w, &c)| *w = c);
            self.0 = fx_add(self.0, u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.0 = fx_add(self.0, u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = fx_add(self.0, n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = fx_add(self.0, n);
    }

    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

/// `BuildHasher` of [`FxHasher`].
pub(crate) type FxBuildHasher = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash_of(s: &str) -> u64 {
        FxBuildHasher::default().hash_one(s)
    }

    #[test]
    fn equal_strings_hash_alike_and_neighbours_apart() {
        assert_eq!(hash_of("istio"), hash_of(&String::from("istio")));
        let names = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abcdefgh",
            "abcdefghi",
            "abcdefgh\0",
        ];
        let mut seen: Vec<u64> = names.iter().map(|n| hash_of(n)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), names.len());
    }

    #[test]
    fn low_bits_spread() {
        // Bucket indexes come from the low bits: 1000 similar names must not pile up.
        let mut buckets = [0u32; 64];
        for i in 0..1000 {
            let h = hash_of(&format!("outbound_.9080_._.svc-{i}.ns.svc.cluster.local"));
            buckets[(h & 63) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n < 40), "{buckets:?}");
    }
}
