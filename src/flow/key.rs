//! Flow keys: both endpoints in a canonical order, so that either direction of a connection finds
//! the same entry, plus the hash used by the table and by shard routing.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;

use crate::decode::Endpoint;
pub(crate) use crate::hash::fmix64;
use crate::hash::fx_add;

/// The two endpoints of a connection in canonical (lower, higher) order. Fixed size, no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowKey {
    lo_ip: u128,
    hi_ip: u128,
    lo_port: u16,
    hi_port: u16,
    v6: bool,
}

impl FlowKey {
    /// The key of the connection between `src` and `dst`, and whether `src` is the lower
    /// endpoint. Endpoints of different address families cannot meet on one connection; if they
    /// do (hostile input) the key still stays consistent for that pair.
    pub(crate) fn new(src: &Endpoint, dst: &Endpoint) -> (FlowKey, bool) {
        let (s, s6) = ip_bits(src.ip);
        let (d, d6) = ip_bits(dst.ip);
        let src_is_lo = (s, src.port) <= (d, dst.port);
        let key = if src_is_lo {
            FlowKey {
                lo_ip: s,
                hi_ip: d,
                lo_port: src.port,
                hi_port: dst.port,
                v6: s6 || d6,
            }
        } else {
            FlowKey {
                lo_ip: d,
                hi_ip: s,
                lo_port: dst.port,
                hi_port: src.port,
                v6: s6 || d6,
            }
        };
        (key, src_is_lo)
    }

    /// A stable 64-bit hash of the key: the same on every run, platform and Rust version, and the
    /// same for both directions (the key is canonical).
    pub(crate) fn hash64(&self) -> u64 {
        let mut h = 0u64;
        for ip in [self.lo_ip, self.hi_ip] {
            h = fx_add(h, ip as u64);
            h = fx_add(h, (ip >> 64) as u64);
        }
        let tail =
            u64::from(self.lo_port) | u64::from(self.hi_port) << 16 | u64::from(self.v6) << 32;
        fmix64(fx_add(h, tail))
    }
}

/// The address as a number (IPv4 in the low 32 bits) and whether it is IPv6.
fn ip_bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    }
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

/// Hasher for [`FlowKey`] maps: the key already hashes itself (see [`FlowKey::hash64`]), so this
/// only passes the value on; other writes fall back to FxHash steps.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w.iter_mut().zip(chunk).for_each(|(w, &c)| *w = c);
            self.0 = fx_add(self.0, u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = if self.0 == 0 { n } else { fx_add(self.0, n) };
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `BuildHasher` of the flow table's map.
pub(crate) type KeyBuildHasher = BuildHasherDefault<KeyHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ep(ip: [u8; 4], port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(ip)),
            port,
        }
    }

    #[test]
    fn key_is_direction_independent() {
        let a = ep([10, 0, 0, 1], 43512);
        let b = ep([10, 0, 0, 2], 443);
        let (k1, a_lo) = FlowKey::new(&a, &b);
        let (k2, b_lo) = FlowKey::new(&b, &a);
        assert_eq!(k1, k2);
        assert!(a_lo);
        assert!(!b_lo);
        assert_eq!(k1.hash64(), k2.hash64());
    }

    #[test]
    fn same_ip_ordered_by_port() {
        let a = ep([127, 0, 0, 1], 15001);
        let b = ep([127, 0, 0, 1], 8080);
        let (k1, a_lo) = FlowKey::new(&a, &b);
        let (k2, _) = FlowKey::new(&b, &a);
        assert_eq!(k1, k2);
        assert!(!a_lo);
    }

    #[test]
    fn keys_differ_by_port_and_family() {
        let a = ep([10, 0, 0, 1], 1000);
        let b = ep([10, 0, 0, 2], 443);
        let c = ep([10, 0, 0, 1], 1001);
        assert_ne!(FlowKey::new(&a, &b).0, FlowKey::new(&c, &b).0);
        let a6 = Endpoint {
            ip: IpAddr::V6(Ipv6Addr::from([
                10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ])),
            port: 1000,
        };
        let b6 = Endpoint {
            ip: IpAddr::V6(Ipv6Addr::from([
                10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ])),
            port: 443,
        };
        assert_ne!(FlowKey::new(&a, &b).0, FlowKey::new(&a6, &b6).0);
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: shard routing must not change between builds.
        let (k, _) = FlowKey::new(&ep([10, 0, 0, 1], 43512), &ep([10, 0, 0, 2], 443));
        assert_eq!(k.hash64(), 14_541_821_707_909_517_320);
        let (k2, _) = FlowKey::new(&ep([10, 0, 0, 1], 43513), &ep([10, 0, 0, 2], 443));
        assert_ne!(k.hash64(), k2.hash64());
    }

    #[test]
    fn hasher_passes_key_hash_through() {
        use std::hash::BuildHasher;
        let (k, _) = FlowKey::new(&ep([1, 2, 3, 4], 5), &ep([6, 7, 8, 9], 10));
        assert_eq!(KeyBuildHasher::default().hash_one(k), k.hash64());
    }
}
