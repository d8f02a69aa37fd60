//! Link layers: Ethernet (with VLAN tags), Linux cooked capture v1 and v2, raw IP and BSD
//! loopback, and (in their own files) NFLOG and ARCNET. Each one is a header read by fixed
//! offsets; what it yields is the network protocol and the bytes that follow the header.

use super::{arcnet, nflog, Encapsulation, Skip};
use crate::capture::LinkType;

/// Which network protocol the link layer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Net {
    Ipv4,
    Ipv6,
}

/// The link layer of a frame, decoded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link<'a> {
    pub net: Net,
    /// The network-layer packet (everything after the link header and VLAN tags).
    pub data: &'a [u8],
    /// The interface is a loopback: Linux cooked capture says so (ARPHRD_LOOPBACK). Ethernet
    /// frames never set it: all-zero addresses also appear in synthetic and replayed captures,
    /// so the leg of an Ethernet flow is judged from its addresses instead.
    pub loopback_if: bool,
    /// Linux cooked capture v2: index of the interface the packet was seen on.
    pub if_index: Option<u32>,
}

/// EtherType values the decoder acts on.
mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
    pub const PROVIDER_BRIDGING: u16 = 0x88a8;
    /// Pre-standard QinQ outer tag.
    pub const VLAN_DOUBLE: u16 = 0x9100;
    /// PPP over Ethernet, session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Cisco MetaData (Security Group Tag), inserted between the addresses and the EtherType.
    pub const CISCO_METADATA: u16 = 0x8909;
    /// MPLS, unicast and multicast: a label stack, then the payload.
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
}

/// MPLS labels read before giving up on a label stack.
pub const MAX_MPLS_LABELS: usize = 16;
/// One MPLS label stack entry: label, traffic class, bottom-of-stack bit, TTL.
const MPLS_ENTRY_LEN: usize = 4;
/// The bottom-of-stack bit, in the third byte of an entry.
const MPLS_BOTTOM: u8 = 0x01;
/// A pseudowire control word (RFC 4385) before an Ethernet frame.
const MPLS_CONTROL_WORD_LEN: usize = 4;

/// PPP protocol numbers carried in a PPPoE session.
mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
}

/// Raw IP as written by libpcap versions that stored the platform's `DLT_RAW` value instead of
/// `LINKTYPE_RAW`: 12 on most systems, 14 on OpenBSD and BSD/OS. Readers (Wireshark, tcpdump)
/// take both as raw IP.
const DLT_RAW_12: LinkType = LinkType(12);
const DLT_RAW_14: LinkType = LinkType(14);

/// ARCNET with the BSD header (`LINKTYPE_ARCNET_BSD`) and with the Linux one
/// (`LINKTYPE_ARCNET_LINUX`).
const ARCNET_BSD: LinkType = LinkType::ARCNET_BSD;
const ARCNET_LINUX: LinkType = LinkType::ARCNET_LINUX;

/// VLAN tags stacked deeper than this are not unwrapped (the frame is counted as not IP).
const MAX_VLAN_TAGS: usize = 8;

/// `ARPHRD_LOOPBACK` in `<linux/if_arp.h>`.
const ARPHRD_LOOPBACK: u16 = 772;

/// Address family numbers of the BSD loopback header.
mod af {
    pub const INET: u32 = 2;
    /// `AF_INET6` on NetBSD, OpenBSD and BSD/OS.
    pub const INET6_BSD: u32 = 24;
    /// `AF_INET6` on FreeBSD and DragonFly BSD.
    pub const INET6_FREEBSD: u32 = 28;
    /// `AF_INET6` on macOS.
    pub const INET6_DARWIN: u32 = 30;
}

/// Header sizes and field offsets (within the fixed-size header arrays).
mod field {
    /// Ethernet II: destination, source, EtherType.
    pub const ETHERNET_LEN: usize = 14;
    pub const ETHERNET_TYPE: usize = 12;
    /// One VLAN tag: TCI, then the inner EtherType.
    pub const VLAN_LEN: usize = 4;
    pub const VLAN_TYPE: usize = 2;
    /// Linux cooked capture v1: packet type, ARPHRD type, address length, address, protocol.
    pub const SLL_LEN: usize = 16;
    pub const SLL_HATYPE: usize = 2;
    pub const SLL_PROTOCOL: usize = 14;
    /// Linux cooked capture v2: protocol, reserved, interface index, ARPHRD type, packet type,
    /// address length, address.
    pub const SLL2_LEN: usize = 20;
    pub const SLL2_PROTOCOL: usize = 0;
    pub const SLL2_IF_INDEX: usize = 4;
    pub const SLL2_HATYPE: usize = 8;
    /// Cisco MetaData header: version, length, option (length and type), SGT value, then the
    /// inner EtherType.
    pub const CMD_LEN: usize = 8;
    pub const CMD_TYPE: usize = 6;
    /// PPPoE session header (version and type, code, session id, length) and the PPP protocol.
    pub const PPPOE_LEN: usize = 8;
    pub const PPPOE_PROTOCOL: usize = 6;
    /// BSD loopback: a 32-bit address family.
    pub const NULL_LEN: usize = 4;
}

#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], at: usize) -> Option<u16> {
    let b = h.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

#[inline(always)]
fn be32<const N: usize>(h: &[u8; N], at: usize) -> Option<u32> {
    let b = h.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Decodes the link-layer header of a frame of type `link`.
#[inline]
pub(super) fn decode(link: LinkType, data: &[u8]) -> Result<Link<'_>, Skip> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::LINUX_SLL2 => sll2(data),
        LinkType::LINUX_SLL => sll(data),
        LinkType::RAW | DLT_RAW_12 | DLT_RAW_14 => raw(data),
        LinkType::IPV4 => Ok(plain(Net::Ipv4, data)),
        LinkType::IPV6 => Ok(plain(Net::Ipv6, data)),
        LinkType::NULL => null(data),
        LinkType::LOOP => bsd_loop(data),
        LinkType::NFLOG => nflog::decode(data).map(|(net, data)| plain(net, data)),
        ARCNET_LINUX => arcnet::linux(data).map(|(net, data)| plain(net, data)),
        ARCNET_BSD => arcnet::bsd(data).map(|(net, data)| plain(net, data)),
        other => Err(Skip::UnsupportedLink(other)),
    }
}

fn plain(net: Net, data: &[u8]) -> Link<'_> {
    Link {
        net,
        data,
        loopback_if: false,
        if_index: None,
    }
}

/// Ethernet pseudowires opened inside MPLS, one within the other, at most.
const MAX_PSEUDOWIRES: u8 = 2;

/// The network protocol an EtherType names, after unwrapping any VLAN tags in `data`.
#[inline]
fn by_ether_type(ether_type: u16, data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    by_ether_type_within(ether_type, data, 0)
}

/// [`by_ether_type`] inside `pseudowires` MPLS pseudowires.
fn by_ether_type_within(
    mut ether_type: u16,
    mut data: &[u8],
    pseudowires: u8,
) -> Result<(Net, &[u8]), Skip> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ether_type {
            ether_type::IPV4 => return Ok((Net::Ipv4, data)),
            ether_type::IPV6 => return Ok((Net::Ipv6, data)),
            ether_type::VLAN | ether_type::PROVIDER_BRIDGING | ether_type::VLAN_DOUBLE => {
                let (tag, rest) = data
                    .split_first_chunk::<{ field::VLAN_LEN }>()
                    .ok_or(Skip::Truncated)?;
                ether_type = be16(tag, field::VLAN_TYPE).ok_or(Skip::Truncated)?;
                data = rest;
            }
            ether_type::CISCO_METADATA => {
                let (h, rest) = data
                    .split_first_chunk::<{ field::CMD_LEN }>()
                    .ok_or(Skip::Truncated)?;
                ether_type = be16(h, field::CMD_TYPE).ok_or(Skip::Truncated)?;
                data = rest;
            }
            ether_type::MPLS | ether_type::MPLS_MULTICAST => return mpls_within(data, pseudowires),
            ether_type::PPPOE_SESSION => {
                let (h, rest) = data
                    .split_first_chunk::<{ field::PPPOE_LEN }>()
                    .ok_or(Skip::Truncated)?;
                return match be16(h, field::PPPOE_PROTOCOL) {
                    Some(ppp::IPV4) => Ok((Net::Ipv4, rest)),
                    Some(ppp::IPV6) => Ok((Net::Ipv6, rest)),
                    _ => Err(Skip::NotIp),
                };
            }
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::NotIp)
}

/// An MPLS label stack and what it carries: IPv4 or IPv6 (told by the version nibble, as
/// Wireshark does), or an Ethernet pseudowire after a control word (first nibble 0). Anything
/// else, or a stack deeper than [`MAX_MPLS_LABELS`], is recognised but not decoded.
pub(super) fn mpls(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    mpls_within(data, 0)
}

/// [`mpls`] inside `pseudowires` pseudowires: past [`MAX_PSEUDOWIRES`] the Ethernet of one
/// more is not opened.
fn mpls_within(mut data: &[u8], pseudowires: u8) -> Result<(Net, &[u8]), Skip> {
    for _ in 0..MAX_MPLS_LABELS {
        let (entry, rest) = data
            .split_first_chunk::<MPLS_ENTRY_LEN>()
            .ok_or(Skip::Truncated)?;
        data = rest;
        if entry[2] & MPLS_BOTTOM == 0 {
            continue;
        }
        return match data.first().map(|b| b >> 4) {
            Some(4) => Ok((Net::Ipv4, data)),
            Some(6) => Ok((Net::Ipv6, data)),
            Some(0) if pseudowires < MAX_PSEUDOWIRES => {
                let frame = data.get(MPLS_CONTROL_WORD_LEN..).ok_or(Skip::Truncated)?;
                let (h, rest) = frame
                    .split_first_chunk::<{ field::ETHERNET_LEN }>()
                    .ok_or(Skip::Truncated)?;
                let ether_type = be16(h, field::ETHERNET_TYPE).ok_or(Skip::Truncated)?;
                by_ether_type_within(ether_type, rest, pseudowires.saturating_add(1))
            }
            None => Err(Skip::Truncated),
            Some(_) => Err(Skip::Undecoded(Encapsulation::Mpls)),
        };
    }
    Err(Skip::Undecoded(Encapsulation::Mpls))
}

/// Ethernet II, after any VLAN tags; also the inner frame of VXLAN, Geneve and TZSP.
#[inline]
pub(super) fn ethernet(data: &[u8]) -> Result<Link<'_>, Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::ETHERNET_LEN }>()
        .ok_or(Skip::Truncated)?;
    let ether_type = be16(h, field::ETHERNET_TYPE).ok_or(Skip::Truncated)?;
    let (net, data) = by_ether_type(ether_type, rest)?;
    Ok(Link {
        net,
        data,
        loopback_if: false,
        if_index: None,
    })
}

#[inline]
fn sll(data: &[u8]) -> Result<Link<'_>, Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::SLL_LEN }>()
        .ok_or(Skip::Truncated)?;
    let hatype = be16(h, field::SLL_HATYPE).ok_or(Skip::Truncated)?;
    let protocol = be16(h, field::SLL_PROTOCOL).ok_or(Skip::Truncated)?;
    let (net, data) = by_ether_type(protocol, rest)?;
    Ok(Link {
        net,
        data,
        loopback_if: hatype == ARPHRD_LOOPBACK,
        if_index: None,
    })
}

#[inline]
fn sll2(data: &[u8]) -> Result<Link<'_>, Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::SLL2_LEN }>()
        .ok_or(Skip::Truncated)?;
    let protocol = be16(h, field::SLL2_PROTOCOL).ok_or(Skip::Truncated)?;
    let if_index = be32(h, field::SLL2_IF_INDEX).ok_or(Skip::Truncated)?;
    let hatype = be16(h, field::SLL2_HATYPE).ok_or(Skip::Truncated)?;
    let (net, data) = by_ether_type(protocol, rest)?;
    Ok(Link {
        net,
        data,
        loopback_if: hatype == ARPHRD_LOOPBACK,
        if_index: Some(if_index),
    })
}

/// Raw IP (101): the version nibble says which IP.
fn raw(data: &[u8]) -> Result<Link<'_>, Skip> {
    let first = data.first().ok_or(Skip::Truncated)?;
    match first >> 4 {
        4 => Ok(plain(Net::Ipv4, data)),
        6 => Ok(plain(Net::Ipv6, data)),
        _ => Err(Skip::BadIpHeader),
    }
}

fn by_family(family: u32) -> Result<Net, Skip> {
    match family {
        af::INET => Ok(Net::Ipv4),
        af::INET6_BSD | af::INET6_FREEBSD | af::INET6_DARWIN => Ok(Net::Ipv6),
        _ => Err(Skip::NotIp),
    }
}

/// BSD null (0): the family is in the capturing host's byte order, which the file does not say.
/// Family numbers are small, so the order in which the value fits in 16 bits is the right one.
fn null(data: &[u8]) -> Result<Link<'_>, Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::NULL_LEN }>()
        .ok_or(Skip::Truncated)?;
    let le = u32::from_le_bytes(*h);
    let family = if le <= 0xffff {
        le
    } else {
        u32::from_be_bytes(*h)
    };
    Ok(plain(by_family(family)?, rest))
}

/// OpenBSD loop (108): the family is in network byte order.
fn bsd_loop(data: &[u8]) -> Result<Link<'_>, Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::NULL_LEN }>()
        .ok_or(Skip::Truncated)?;
    Ok(plain(by_family(u32::from_be_bytes(*h))?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    const IP: [u8; 3] = [0x45, 0xaa, 0xbb];

    fn eth(ether_type: u16, body: &[u8]) -> Vec<u8> {
        let mut v = MACS.to_vec();
        v.extend_from_slice(&ether_type.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn ok(link: LinkType, data: &[u8]) -> Link<'_> {
        match decode(link, data) {
            Ok(l) => l,
            Err(e) => panic!("{link:?} {data:02x?}: {e:?}"),
        }
    }

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        let f = eth(0x0800, &IP);
        let l = ok(LinkType::ETHERNET, &f);
        assert_eq!(l.net, Net::Ipv4);
        assert_eq!(l.data, &IP);
        assert!(!l.loopback_if);
        assert_eq!(l.if_index, None);
        let f = eth(0x86dd, &[0x60]);
        let l = ok(LinkType::ETHERNET, &f);
        assert_eq!(l.net, Net::Ipv6);
        assert_eq!(l.data, &[0x60]);
    }

    #[test]
    fn ethernet_vlan_and_qinq() {
        // 802.1Q, VLAN 100.
        let f = eth(0x8100, &[0x00, 0x64, 0x08, 0x00, 0x45, 0x01]);
        let l = ok(LinkType::ETHERNET, &f);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8, 0x01][..]));
        // 802.1ad outer tag, 802.1Q inner tag.
        let f = eth(
            0x88a8,
            &[0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x86, 0xdd, 0x60, 0x02],
        );
        let l = ok(LinkType::ETHERNET, &f);
        assert_eq!((l.net, l.data), (Net::Ipv6, &[0x60u8, 0x02][..]));
        // Pre-standard 0x9100 outer tag.
        let f = eth(
            0x9100,
            &[0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00, 0x45],
        );
        assert_eq!(ok(LinkType::ETHERNET, &f).data, &[0x45]);
    }

    #[test]
    fn cisco_metadata_tag_is_skipped() {
        // version 1, length 1 (8 bytes), option SGT (0x0001), SGT 0x0010, inner IPv4
        let f = eth(
            0x8909,
            &[
                &[0x01, 0x01, 0x00, 0x01, 0x00, 0x10, 0x08, 0x00][..],
                &IP[..],
            ]
            .concat(),
        );
        assert_eq!(ok(LinkType::ETHERNET, &f).data, &IP[..]);
        let cut = eth(0x8909, &[0x01, 0x01, 0x00]);
        assert_eq!(
            decode(LinkType::ETHERNET, &cut).err(),
            Some(Skip::Truncated)
        );
    }

    #[test]
    fn ethernet_never_claims_loopback() {
        let mut f = eth(0x0800, &IP);
        f[..12].fill(0);
        assert!(!ok(LinkType::ETHERNET, &f).loopback_if);
    }

    #[test]
    fn ethernet_mpls() {
        let ip = [0x45, 0, 0, 20];
        // two labels, the second at the bottom of the stack
        let mut body = vec![0, 1, 0x40, 64, 0, 2, 0x41, 64];
        body.extend_from_slice(&ip);
        let f = eth(0x8847, &body);
        let l = ethernet(&f).unwrap();
        assert_eq!((l.net, l.data), (Net::Ipv4, &ip[..]));
        // IPv6, multicast
        let f = eth(0x8848, &[0, 1, 0x41, 64, 0x60, 0]);
        assert_eq!(ethernet(&f).unwrap().net, Net::Ipv6);
        // an Ethernet pseudowire after a control word
        let mut body = vec![0, 1, 0x41, 64, 0, 0, 0, 0];
        body.extend_from_slice(&eth(0x0800, &ip));
        let f = eth(0x8847, &body);
        let l = ethernet(&f).unwrap();
        assert_eq!((l.net, l.data), (Net::Ipv4, &ip[..]));
        // something else at the bottom, a stack that never ends, pseudowires nested too deep
        let undecoded = |f: Vec<u8>| ethernet(&f).map(|l| l.net);
        assert_eq!(
            undecoded(eth(0x8847, &[0, 1, 0x41, 64, 0x90, 0])),
            Err(Skip::Undecoded(Encapsulation::Mpls))
        );
        assert_eq!(
            undecoded(eth(0x8847, &[0, 1, 0x40, 64].repeat(MAX_MPLS_LABELS + 1))),
            Err(Skip::Undecoded(Encapsulation::Mpls))
        );
        let mut nested = ip.to_vec();
        for _ in 0..3 {
            let mut pw = vec![0, 1, 0x41, 64, 0, 0, 0, 0];
            pw.extend_from_slice(&eth(0x8847, &nested));
            nested = pw;
        }
        assert_eq!(
            undecoded(eth(0x8847, &nested)),
            Err(Skip::Undecoded(Encapsulation::Mpls))
        );
        assert_eq!(undecoded(eth(0x8847, &[0, 1, 0x41])), Err(Skip::Truncated));
    }

    #[test]
    fn ethernet_pppoe() {
        let f = eth(
            0x8864,
            &[0x11, 0x00, 0x12, 0x34, 0x00, 0x05, 0x00, 0x21, 0x45],
        );
        let l = ok(LinkType::ETHERNET, &f);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
        let f = eth(
            0x8864,
            &[0x11, 0x00, 0x12, 0x34, 0x00, 0x05, 0x00, 0x57, 0x60],
        );
        assert_eq!(ok(LinkType::ETHERNET, &f).net, Net::Ipv6);
        // LCP, not IP.
        let f = eth(
            0x8864,
            &[0x11, 0x00, 0x12, 0x34, 0x00, 0x05, 0xc0, 0x21, 0x01],
        );
        assert_eq!(decode(LinkType::ETHERNET, &f).err(), Some(Skip::NotIp));
        let f = eth(0x8864, &[0x11, 0x00, 0x12, 0x34, 0x00, 0x05, 0x00]);
        assert_eq!(decode(LinkType::ETHERNET, &f).err(), Some(Skip::Truncated));
    }

    #[test]
    fn ethernet_vlan_depth_is_bounded() {
        let mut body = Vec::new();
        for _ in 0..MAX_VLAN_TAGS {
            body.extend_from_slice(&[0x00, 0x01, 0x81, 0x00]);
        }
        body.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 0x45]);
        // MAX_VLAN_TAGS + 1 tags in all: too deep.
        let f = eth(0x8100, &body);
        assert_eq!(decode(LinkType::ETHERNET, &f).err(), Some(Skip::NotIp));
        // MAX_VLAN_TAGS tags: fine.
        let f = eth(0x8100, &body[4..]);
        assert_eq!(ok(LinkType::ETHERNET, &f).data, &[0x45]);
    }

    #[test]
    fn ethernet_not_ip_and_truncated() {
        assert_eq!(
            decode(LinkType::ETHERNET, &eth(0x0806, &[0; 28])).err(),
            Some(Skip::NotIp)
        );
        // 802.3 length field instead of an EtherType.
        assert_eq!(
            decode(LinkType::ETHERNET, &eth(0x002e, &[0; 46])).err(),
            Some(Skip::NotIp)
        );
        let f = eth(0x0800, &[]);
        assert_eq!(ok(LinkType::ETHERNET, &f).data, &[] as &[u8]);
        for n in 0..14 {
            assert_eq!(
                decode(LinkType::ETHERNET, &f[..n]).err(),
                Some(Skip::Truncated),
                "{n} bytes"
            );
        }
        // VLAN tag cut short.
        let f = eth(0x8100, &[0x00, 0x64, 0x08]);
        assert_eq!(decode(LinkType::ETHERNET, &f).err(), Some(Skip::Truncated));
    }

    fn sll_header(hatype: u16, protocol: u16) -> Vec<u8> {
        let mut v = vec![0x00, 0x00];
        v.extend_from_slice(&hatype.to_be_bytes());
        v.extend_from_slice(&[0x00, 0x06, 2, 0, 0, 0, 0, 1, 0, 0]);
        v.extend_from_slice(&protocol.to_be_bytes());
        v
    }

    #[test]
    fn linux_sll() {
        let mut f = sll_header(1, 0x0800);
        f.extend_from_slice(&IP);
        let l = ok(LinkType::LINUX_SLL, &f);
        assert_eq!((l.net, l.data, l.loopback_if), (Net::Ipv4, &IP[..], false));
        assert_eq!(l.if_index, None);
        let mut f = sll_header(772, 0x86dd);
        f.push(0x60);
        let l = ok(LinkType::LINUX_SLL, &f);
        assert_eq!(
            (l.net, l.data, l.loopback_if),
            (Net::Ipv6, &[0x60u8][..], true)
        );
        // Linux-specific protocol value (ETH_P_802_2).
        assert_eq!(
            decode(LinkType::LINUX_SLL, &sll_header(1, 0x0004)).err(),
            Some(Skip::NotIp)
        );
        assert_eq!(
            decode(LinkType::LINUX_SLL, &f[..15]).err(),
            Some(Skip::Truncated)
        );
    }

    fn sll2_header(protocol: u16, if_index: u32, hatype: u16) -> Vec<u8> {
        let mut v = protocol.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&if_index.to_be_bytes());
        v.extend_from_slice(&hatype.to_be_bytes());
        v.extend_from_slice(&[0x04, 0x06, 2, 0, 0, 0, 0, 1, 0, 0]);
        v
    }

    #[test]
    fn linux_sll2_loopback_and_if_index() {
        let mut f = sll2_header(0x0800, 1, 772);
        f.extend_from_slice(&IP);
        let l = ok(LinkType::LINUX_SLL2, &f);
        assert_eq!((l.net, l.data), (Net::Ipv4, &IP[..]));
        assert!(l.loopback_if);
        assert_eq!(l.if_index, Some(1));

        let mut f = sll2_header(0x86dd, 0x0102_0304, 1);
        f.push(0x60);
        let l = ok(LinkType::LINUX_SLL2, &f);
        assert_eq!((l.net, l.data), (Net::Ipv6, &[0x60u8][..]));
        assert!(!l.loopback_if);
        assert_eq!(l.if_index, Some(0x0102_0304));

        assert_eq!(
            decode(LinkType::LINUX_SLL2, &sll2_header(0x0806, 3, 1)).err(),
            Some(Skip::NotIp)
        );
        assert_eq!(
            decode(LinkType::LINUX_SLL2, &f[..19]).err(),
            Some(Skip::Truncated)
        );
    }

    #[test]
    fn raw_ip_link_types() {
        let l = ok(LinkType::RAW, &[0x45, 1]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8, 1][..]));
        assert_eq!(ok(LinkType::RAW, &[0x60]).net, Net::Ipv6);
        assert_eq!(
            decode(LinkType::RAW, &[0x50]).err(),
            Some(Skip::BadIpHeader)
        );
        assert_eq!(decode(LinkType::RAW, &[]).err(), Some(Skip::Truncated));
        for old_dlt in [12, 14] {
            let l = ok(LinkType(old_dlt), &[0x60, 1]);
            assert_eq!((l.net, l.data), (Net::Ipv6, &[0x60u8, 1][..]));
        }
        let l = ok(LinkType::IPV4, &[0x45]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
        let l = ok(LinkType::IPV6, &[0x60]);
        assert_eq!((l.net, l.data), (Net::Ipv6, &[0x60u8][..]));
    }

    #[test]
    fn bsd_null_both_byte_orders() {
        let l = ok(LinkType::NULL, &[2, 0, 0, 0, 0x45]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
        let l = ok(LinkType::NULL, &[0, 0, 0, 2, 0x45]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
        for family in [24u32, 28, 30] {
            let mut f = family.to_le_bytes().to_vec();
            f.push(0x60);
            assert_eq!(ok(LinkType::NULL, &f).net, Net::Ipv6, "LE {family}");
            let mut f = family.to_be_bytes().to_vec();
            f.push(0x60);
            assert_eq!(ok(LinkType::NULL, &f).net, Net::Ipv6, "BE {family}");
        }
        assert_eq!(
            decode(LinkType::NULL, &[7, 0, 0, 0, 0x45]).err(),
            Some(Skip::NotIp)
        );
        assert_eq!(
            decode(LinkType::NULL, &[2, 0, 0]).err(),
            Some(Skip::Truncated)
        );
    }

    #[test]
    fn bsd_loop_network_order() {
        let l = ok(LinkType::LOOP, &[0, 0, 0, 2, 0x45]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
        assert_eq!(ok(LinkType::LOOP, &[0, 0, 0, 24, 0x60]).net, Net::Ipv6);
        // Host order is not accepted for LOOP.
        assert_eq!(
            decode(LinkType::LOOP, &[2, 0, 0, 0, 0x45]).err(),
            Some(Skip::NotIp)
        );
        assert_eq!(decode(LinkType::LOOP, &[0, 0]).err(), Some(Skip::Truncated));
    }

    #[test]
    fn nflog_and_arcnet_link_types() {
        let mut f = vec![2, 0, 0, 0];
        f.extend_from_slice(&[7, 0, 9, 0, 0x45, 1, 2, 0]);
        let l = ok(LinkType::NFLOG, &f);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8, 1, 2][..]));
        assert_eq!((l.loopback_if, l.if_index), (false, None));
        let l = ok(LinkType(129), &[1, 2, 0, 0, 212, 0, 0, 1, 0x45]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
        let l = ok(LinkType(7), &[1, 2, 212, 0, 0, 1, 0x45]);
        assert_eq!((l.net, l.data), (Net::Ipv4, &[0x45u8][..]));
    }

    #[test]
    fn unsupported_link_type() {
        assert_eq!(
            decode(LinkType(147), &[0; 64]).err(),
            Some(Skip::UnsupportedLink(LinkType(147)))
        );
    }
}
