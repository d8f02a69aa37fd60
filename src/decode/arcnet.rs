//! ARCNET, as BSD (link type 7) and Linux (link type 129) capture it: the RFC 1201 framing
//! (with its fragmentation header) and the older RFC 1051 one.
//!
//! BSD header: source, destination, protocol id; RFC 1201 protocols then add a split flag and a
//! sequence number, and an "exception" packet (split flag 0xff) repeats them after padding.
//! Linux header: source, destination, a 16-bit offset, protocol id, then the split flag and
//! sequence number for RFC 1201 protocols. Linux hands over reassembled packets; BSD may show
//! RFC 1201 fragments, of which only the first holds the IP header (it then decodes as a packet
//! cut short).

use super::link::Net;
use super::Skip;

/// Protocol ids.
mod arc_type {
    /// RFC 1201 IPv4.
    pub const IP: u8 = 212;
    /// IPv6 (RFC 2497).
    pub const IPV6: u8 = 0xc4;
    /// RFC 1051 IPv4 and ARP, and diagnostics: no split flag or sequence number.
    pub const IP_RFC1051: u8 = 240;
    pub const ARP_RFC1051: u8 = 241;
    pub const DIAGNOSE: u8 = 0x80;
}

/// Header sizes and field offsets (within the fixed-size header arrays).
mod field {
    /// BSD: source, destination, protocol id.
    pub const BSD_LEN: usize = 3;
    pub const BSD_TYPE: usize = 2;
    /// Linux: source, destination, offset, protocol id.
    pub const LINUX_LEN: usize = 5;
    pub const LINUX_TYPE: usize = 4;
    /// RFC 1201 fragmentation header: split flag, sequence number.
    pub const SPLIT_LEN: usize = 3;
    pub const SPLIT_FLAG: usize = 0;
    /// Exception packet tail: protocol id, split flag, sequence number.
    pub const EXCEPTION_LEN: usize = 4;
    pub const EXCEPTION_FLAG: usize = 1;
}

/// The split flag of an exception packet.
const SPLIT_EXCEPTION: u8 = 0xff;

/// Protocol ids with the short (RFC 1051) header.
fn short_header(kind: u8) -> bool {
    matches!(
        kind,
        arc_type::IP_RFC1051 | arc_type::ARP_RFC1051 | arc_type::DIAGNOSE
    )
}

fn by_type(kind: u8, data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    match kind {
        arc_type::IP | arc_type::IP_RFC1051 => Ok((Net::Ipv4, data)),
        arc_type::IPV6 => Ok((Net::Ipv6, data)),
        _ => Err(Skip::NotIp),
    }
}

/// BSD ARCNET (link type 7).
pub(super) fn bsd(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::BSD_LEN }>()
        .ok_or(Skip::Truncated)?;
    let kind = h[field::BSD_TYPE];
    if short_header(kind) {
        return by_type(kind, rest);
    }
    let (split, rest) = rest
        .split_first_chunk::<{ field::SPLIT_LEN }>()
        .ok_or(Skip::Truncated)?;
    let (flag, rest) = match split[field::SPLIT_FLAG] {
        SPLIT_EXCEPTION => {
            let (exc, rest) = rest
                .split_first_chunk::<{ field::EXCEPTION_LEN }>()
                .ok_or(Skip::Truncated)?;
            (exc[field::EXCEPTION_FLAG], rest)
        }
        flag => (flag, rest),
    };
    // A non-zero even flag marks a fragment after the first: no IP header in it.
    if flag != 0 && flag % 2 == 0 {
        return Err(Skip::NotIp);
    }
    by_type(kind, rest)
}

/// Linux ARCNET (link type 129).
pub(super) fn linux(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::LINUX_LEN }>()
        .ok_or(Skip::Truncated)?;
    let kind = h[field::LINUX_TYPE];
    if short_header(kind) {
        return by_type(kind, rest);
    }
    let (_, rest) = rest
        .split_first_chunk::<{ field::SPLIT_LEN }>()
        .ok_or(Skip::Truncated)?;
    by_type(kind, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 2] = [0x45, 0xaa];

    #[test]
    fn linux_rfc1201_and_rfc1051() {
        // As in the tcpdump test capture: source, destination, offset, 212, flag 0, sequence.
        let f = [&[0xbe, 0x50, 0xa8, 0xe7, 0xd4, 0x00, 0x01, 0x66][..], &IP].concat();
        assert_eq!(linux(&f), Ok((Net::Ipv4, &IP[..])));
        let f = [&[1, 2, 0, 0, 0xc4, 0, 0, 1][..], &[0x60]].concat();
        assert_eq!(linux(&f), Ok((Net::Ipv6, &[0x60u8][..])));
        let f = [&[1, 2, 0, 0, 240][..], &IP].concat();
        assert_eq!(linux(&f), Ok((Net::Ipv4, &IP[..])));
        // RFC 1201 ARP, RFC 1051 ARP.
        assert_eq!(linux(&[1, 2, 0, 0, 213, 0, 0, 1, 0]), Err(Skip::NotIp));
        assert_eq!(linux(&[1, 2, 0, 0, 241, 0]), Err(Skip::NotIp));
        for n in 0..8 {
            assert_eq!(
                linux(&[1, 2, 0, 0, 212, 0, 0, 1][..n]),
                Err(Skip::Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn bsd_headers() {
        let f = [&[1, 2, 212, 0, 0, 1][..], &IP].concat();
        assert_eq!(bsd(&f), Ok((Net::Ipv4, &IP[..])));
        let f = [&[1, 2, 240][..], &IP].concat();
        assert_eq!(bsd(&f), Ok((Net::Ipv4, &IP[..])));
        // Exception packet, real flag 0.
        let f = [&[1, 2, 212, 0xff, 0xff, 0xff, 212, 0, 0, 1][..], &IP].concat();
        assert_eq!(bsd(&f), Ok((Net::Ipv4, &IP[..])));
        // First fragment of three (flag 3): decodes; the second (flag 2) does not.
        let f = [&[1, 2, 212, 3, 0, 1][..], &IP].concat();
        assert_eq!(bsd(&f), Ok((Net::Ipv4, &IP[..])));
        let f = [&[1, 2, 212, 2, 0, 1][..], &IP].concat();
        assert_eq!(bsd(&f), Err(Skip::NotIp));
        let exc = [1, 2, 212, 0xff, 0xff, 0xff, 212, 0, 0, 1];
        for n in 0..exc.len() {
            assert_eq!(bsd(&exc[..n]), Err(Skip::Truncated), "{n}");
        }
    }
}
