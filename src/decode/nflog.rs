//! Linux netfilter log (NFLOG, link type 239): the packets an `NFLOG` firewall rule copies to
//! user space. A 4-byte header (address family, version, resource id) is followed by
//! type-length-value attributes; `NFULA_PAYLOAD` holds the logged packet from its IP header on.
//!
//! Attribute lengths and types are in the byte order of the host that wrote the capture, which
//! the frame does not say (libpcap swaps them when it reads a file from a host of the other
//! order; a reader of the raw bytes must guess). Attribute types are small numbers, so the order
//! in which the first attribute's type fits in one byte is taken; little-endian when both or
//! neither do.

use super::link::Net;
use super::Skip;

/// Header sizes and field offsets (within the fixed-size header arrays).
mod field {
    /// NFLOG header: address family, version, resource id (big-endian).
    pub const HEADER_LEN: usize = 4;
    pub const FAMILY: usize = 0;
    /// Attribute header: length (header included, before padding), type.
    pub const TLV_LEN: usize = 4;
    pub const TLV_LENGTH: usize = 0;
    pub const TLV_TYPE: usize = 2;
}

/// `NFULA_PAYLOAD` in `<linux/netfilter/nfnetlink_log.h>`.
const NFULA_PAYLOAD: u16 = 9;
/// The attribute type without the netlink "nested" flag.
const TLV_TYPE_MASK: u16 = 0x7fff;
/// Known attribute types are far below this.
const TLV_TYPE_LIMIT: u16 = 0x100;
/// Attributes are padded to 4 bytes.
const TLV_ALIGN: usize = 4;

/// Address families of the NFLOG header.
mod af {
    pub const INET: u8 = 2;
    pub const INET6: u8 = 10;
}

/// The byte order of the attribute headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, h: &[u8; field::TLV_LEN], at: usize) -> u16 {
        let b = match h.get(at..).and_then(|b| b.first_chunk::<2>()) {
            Some(b) => *b,
            None => [0, 0],
        };
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }

    /// The order in which the attribute's type is a plausible (small) value.
    fn guess(first: &[u8; field::TLV_LEN]) -> Order {
        let small =
            |order: Order| order.u16(first, field::TLV_TYPE) & TLV_TYPE_MASK < TLV_TYPE_LIMIT;
        if !small(Order::Little) && small(Order::Big) {
            Order::Big
        } else {
            Order::Little
        }
    }
}

/// Decodes an NFLOG frame down to the logged IP packet.
///
/// A frame without a payload attribute (logged with a copy range of 0) or with a malformed
/// attribute is [`Skip::NotIp`]; one cut before the payload attribute is [`Skip::Truncated`]. A
/// payload attribute cut by the snaplen yields what was captured.
pub(super) fn decode(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let (h, mut tlvs) = data
        .split_first_chunk::<{ field::HEADER_LEN }>()
        .ok_or(Skip::Truncated)?;
    let family = h[field::FAMILY];
    let mut order = None;
    // Each step consumes at least one attribute header, so the walk ends.
    loop {
        if tlvs.is_empty() {
            return Err(Skip::NotIp);
        }
        let (t, rest) = tlvs
            .split_first_chunk::<{ field::TLV_LEN }>()
            .ok_or(Skip::Truncated)?;
        let order = *order.get_or_insert_with(|| Order::guess(t));
        let len = usize::from(order.u16(t, field::TLV_LENGTH));
        let value_len = len.checked_sub(field::TLV_LEN).ok_or(Skip::NotIp)?;
        if order.u16(t, field::TLV_TYPE) & TLV_TYPE_MASK == NFULA_PAYLOAD {
            let packet = rest.get(..value_len).unwrap_or(rest);
            return Ok((by_family(family, packet)?, packet));
        }
        let padded = value_len.div_ceil(TLV_ALIGN).saturating_mul(TLV_ALIGN);
        tlvs = rest.get(padded..).ok_or(Skip::Truncated)?;
    }
}

/// The network protocol of the logged packet: the header's family, or the IP version nibble
/// for other families (bridge, unspecified).
fn by_family(family: u8, packet: &[u8]) -> Result<Net, Skip> {
    match family {
        af::INET => Ok(Net::Ipv4),
        af::INET6 => Ok(Net::Ipv6),
        _ => match packet.first().map(|b| b >> 4) {
            Some(4) => Ok(Net::Ipv4),
            Some(6) => Ok(Net::Ipv6),
            Some(_) => Err(Skip::NotIp),
            None => Err(Skip::Truncated),
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const IP: [u8; 3] = [0x45, 0xaa, 0xbb];

    /// An attribute in little- or big-endian order, padded to 4 bytes.
    pub fn tlv(big: bool, kind: u16, value: &[u8]) -> Vec<u8> {
        let len = (value.len() + 4) as u16;
        let mut v = if big {
            [len.to_be_bytes(), kind.to_be_bytes()].concat()
        } else {
            [len.to_le_bytes(), kind.to_le_bytes()].concat()
        };
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// An NFLOG frame: prefix, hardware header type, then the payload attribute, as iptables
    /// logs them.
    pub fn nflog(family: u8, big: bool, packet: &[u8]) -> Vec<u8> {
        let mut v = vec![family, 0, 0, 42];
        v.extend_from_slice(&tlv(big, 1, &[0x08, 0x00, 1, 0])); // packet header
        v.extend_from_slice(&tlv(big, 10, b"log\0")); // prefix
        v.extend_from_slice(&tlv(big, 15, &[0, 1])); // hardware type, padded
        v.extend_from_slice(&tlv(big, 9, packet));
        v
    }

    #[test]
    fn payload_found_in_both_byte_orders() {
        for big in [false, true] {
            let f = nflog(2, big, &IP);
            assert_eq!(decode(&f), Ok((Net::Ipv4, &IP[..])), "big {big}");
            let f = nflog(10, big, &[0x60, 1]);
            assert_eq!(decode(&f), Ok((Net::Ipv6, &[0x60u8, 1][..])), "big {big}");
        }
    }

    #[test]
    fn padding_is_not_payload() {
        let f = nflog(2, false, &[0x45, 1, 2, 3, 4]);
        assert_eq!(f.len() % 4, 0);
        assert_eq!(decode(&f), Ok((Net::Ipv4, &[0x45u8, 1, 2, 3, 4][..])));
    }

    #[test]
    fn nested_flag_ignored_and_family_fallback() {
        let mut f = vec![0, 0, 0, 0];
        f.extend_from_slice(&tlv(false, 0x8000 | 9, &[0x60, 2]));
        assert_eq!(decode(&f), Ok((Net::Ipv6, &[0x60u8, 2][..])));
        let mut f = vec![7, 0, 0, 0]; // AF_BRIDGE
        f.extend_from_slice(&tlv(false, 9, &IP));
        assert_eq!(decode(&f), Ok((Net::Ipv4, &IP[..])));
        let mut f = vec![7, 0, 0, 0];
        f.extend_from_slice(&tlv(false, 9, &[0x11]));
        assert_eq!(decode(&f), Err(Skip::NotIp));
    }

    #[test]
    fn payload_cut_by_snaplen() {
        let f = nflog(2, false, &[0x45; 40]);
        let cut = &f[..f.len() - 30];
        assert_eq!(decode(cut), Ok((Net::Ipv4, &[0x45u8; 10][..])));
    }

    #[test]
    fn no_payload_or_malformed() {
        let f = nflog(2, false, &IP);
        // Everything before the payload attribute, nothing cut: no payload logged.
        let before = f.len() - 8;
        assert_eq!(decode(&f[..before]), Err(Skip::NotIp));
        // An attribute shorter than its own header.
        let mut f = vec![2, 0, 0, 0];
        f.extend_from_slice(&[2, 0, 9, 0]);
        assert_eq!(decode(&f), Err(Skip::NotIp));
    }

    #[test]
    fn truncated_before_the_payload() {
        let f = nflog(2, false, &IP);
        let payload_at = f.len() - 8;
        for n in 0..payload_at {
            // A cut on an attribute boundary cannot be told from the end of the attributes.
            let want = if [4, 12, 20].contains(&n) {
                Skip::NotIp
            } else {
                Skip::Truncated
            };
            assert_eq!(decode(&f[..n]), Err(want), "{n} bytes");
        }
    }
}
