//! The Internet checksum (RFC 1071) of TCP segments, summed fast enough to check every segment
//! whose bytes a flow keeps.
//!
//! The ones' complement sum is taken over native-endian words: the sum of 16-bit words modulo
//! 2^16 - 1 is the same whatever the width of the words added (2^16 ≡ 1), so the bytes are
//! added as independent 32-bit halves into 64-bit accumulators, with no carry chain from one
//! word to the next: the compiler turns the loop into vector adds. (etherparse's
//! `Sum16BitWords`, which gives the same sums, carries word by word.)

/// Adds `bytes`, as native-endian 16-bit words (an odd last byte padded with a zero after it),
/// to the running sum `acc`. At most 2^31 bytes between two folds.
pub(super) fn add(mut acc: u64, bytes: &[u8]) -> u64 {
    const LANES: usize = 4;
    let mut lanes = [0u64; LANES];
    let mut chunks = bytes.chunks_exact(8 * LANES);
    for chunk in &mut chunks {
        for (lane, word) in lanes.iter_mut().zip(chunk.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let v = u64::from_ne_bytes(w);
            *lane = lane.wrapping_add(v & 0xffff_ffff).wrapping_add(v >> 32);
        }
    }
    for lane in lanes {
        acc = acc
            .wrapping_add(lane & 0xffff_ffff)
            .wrapping_add(lane >> 32);
    }
    let mut words = chunks.remainder().chunks_exact(2);
    for pair in &mut words {
        if let [a, b] = pair {
            acc = acc.wrapping_add(u64::from(u16::from_ne_bytes([*a, *b])));
        }
    }
    if let [last] = words.remainder() {
        acc = acc.wrapping_add(u64::from(u16::from_ne_bytes([*last, 0])));
    }
    acc
}

/// Folds a running sum to 16 bits (not complemented).
pub(super) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff).wrapping_add(acc >> 16);
    }
    u16::try_from(acc).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::checksum::Sum16BitWords;

    #[test]
    fn sums_as_etherparse_does() {
        let data: Vec<u8> = (0..4099u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in [0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 1500, 4099] {
            let bytes = &data[..len];
            let ours = !fold(add(0, bytes));
            let theirs = Sum16BitWords::new().add_slice(bytes).ones_complement();
            assert_eq!(ours, theirs, "{len} bytes");
        }
        // a running sum carries on across pieces of even length
        let whole = fold(add(0, &data[..1000]));
        let pieces = fold(add(add(0, &data[..36]), &data[36..1000]));
        assert_eq!(whole, pieces);
        assert_eq!(fold(u64::MAX), 0xffff);
    }
}
