//! Link, IP and TCP decoding: a captured frame becomes a TCP [`Segment`] borrowing its payload,
//! or a [`Skip`] reason the report can tally.
//!
//! One file per layer: `link` (Ethernet, VLAN, Linux cooked capture, raw IP, BSD loopback),
//! `nflog` and `arcnet` (two more link types), `ip` (IPv4, IPv6 and its extension headers),
//! `tunnel` (VXLAN, Geneve and TZSP over UDP), `tcp`. Nothing is copied and nothing is
//! allocated: the segment's payload borrows the frame. Checksums are never checked (captures
//! taken on a sending host with checksum offload carry wrong ones).
//!
//! Tunnelled traffic (the VXLAN or Geneve overlay of a Kubernetes node capture) is decoded down
//! to the innermost TCP segment, whose addresses are the pods', not the nodes'. Only UDP packets
//! take that path: plain TCP pays a single comparison for it.

// No panics on hostile input: library code may not unwrap, expect, panic, index unchecked or
// do arithmetic that may overflow (tests may).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod arcnet;
mod checksum;
pub mod defrag;
mod ip;
mod link;
mod nflog;
mod tcp;
mod tunnel;

#[cfg(test)]
mod real_captures;

use std::net::IpAddr;

use crate::capture::LinkType;

pub use defrag::{Datagram, Defragmenter, FragmentLosses, Skipped};
pub use ip::{Fragment, FragmentKey};

/// Tunnels nested deeper than this (tunnel headers opened in one frame) are not opened further:
/// the innermost UDP datagram is counted as [`Skip::NotTcp`].
const MAX_TUNNELS: usize = 4;

/// One end of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// The transport a segment, and its flow, travel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A decoded TCP segment. `payload` borrows the frame's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// TCP, or UDP: a datagram that opens no tunnel (its `seq`, `ack` and `flags` are zero, and
    /// `tcp` is empty).
    pub transport: Transport,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// The captured part of the TCP payload, bounded by the IP length fields (Ethernet padding
    /// and trailers are not payload).
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen cut the packet): the IP
    /// length fields minus what the frame holds. When the snaplen cut into the TCP options, the
    /// whole payload is missing and `payload` is empty.
    pub payload_missing: u32,
    /// The link layer says the packet was seen on a loopback interface: Linux cooked capture
    /// (v1 or v2) with ARPHRD_LOOPBACK (772).
    pub loopback_if: bool,
    /// Linux cooked capture v2 (`tcpdump -i any`): index of the interface the packet was seen on.
    /// `None` for other link types.
    pub if_index: Option<u32>,
    /// IPv4 TTL or IPv6 hop limit of the packet that carried it (`None` when reassembled from
    /// fragments).
    pub ttl: Option<u8>,
    /// The captured TCP segment, header and payload, for [`Segment::checksum`] (empty when not
    /// known: the checksum is then unknown).
    pub tcp: &'a [u8],
}

/// Copies `fields` one after the other into `buf`; the part of `buf` they fill.
fn fill<'b>(buf: &'b mut [u8], fields: &[&[u8]]) -> &'b [u8] {
    let mut at = 0usize;
    for f in fields {
        let end = at.saturating_add(f.len());
        if let Some(dst) = buf.get_mut(at..end) {
            dst.copy_from_slice(f);
            at = end;
        }
    }
    buf.get(..at).unwrap_or_default()
}

/// What a segment's TCP checksum says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Good,
    /// Wrong: the receiver drops the segment, unless the capture was taken on the sending host
    /// before the network card filled the checksum in (offload) in a way not recognised.
    Bad,
    /// The field holds the pseudo-header's partial sum that Linux leaves for the network card
    /// to complete (checksum offload, `CHECKSUM_PARTIAL`): captured on the sending host.
    Offloaded,
    /// Not checkable: the snaplen cut the segment.
    Unknown,
}

impl Segment<'_> {
    /// The receive window the sender advertises, unscaled (`None`: not known).
    pub fn window(&self) -> Option<u16> {
        tcp::window(self.tcp)
    }

    /// The window scale a SYN offers (RFC 7323; `None`: absent or not known).
    pub fn window_scale(&self) -> Option<u8> {
        tcp::window_scale(self.tcp)
    }

    /// Checks the TCP checksum over the pseudo-header and the segment (RFC 793, RFC 8200 §8.1).
    /// It reads every byte of the segment: call it only for the segments that matter.
    pub fn checksum(&self) -> Checksum {
        if self.payload_missing > 0 || self.tcp.len() < 20 {
            return Checksum::Unknown;
        }
        let Ok(len) = u32::try_from(self.tcp.len()) else {
            return Checksum::Unknown;
        };
        let mut header = [0u8; 40];
        let pseudo = match (self.src.ip, self.dst.ip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let len = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
                let fields = [&s.octets()[..], &d.octets(), &[0, 6], &len];
                fill(&mut header, &fields)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let fields = [
                    &s.octets()[..],
                    &d.octets(),
                    &len.to_be_bytes(),
                    &[0, 0, 0, 6],
                ];
                fill(&mut header, &fields)
            }
            _ => return Checksum::Unknown,
        };
        let pseudo = checksum::add(0, pseudo);
        // The checksum field is summed too: a correct segment sums to all ones.
        if checksum::fold(checksum::add(pseudo, self.tcp)) == 0xffff {
            return Checksum::Good;
        }
        // Linux leaves the pseudo-header's folded sum in the field for the card to complete.
        let partial = checksum::fold(pseudo).to_ne_bytes();
        if self.tcp.get(16..18) == Some(&partial[..]) {
            Checksum::Offloaded
        } else {
            Checksum::Bad
        }
    }
}

/// Why a frame did not yield a TCP segment. Counted per capture, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Skip {
    /// The frame ends before the headers do (cut by the snaplen, or corrupt).
    Truncated,
    /// The interface's link type is not one the decoder knows.
    UnsupportedLink(LinkType),
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP other than a known tunnel, ICMP, ESP, IPv6 No Next Header, ...).
    NotTcp,
    /// A fragment of an IP datagram of TCP or UDP (any IPv4 fragment, the first one too; any
    /// IPv6 fragment that is not atomic) that was not made whole: [`decode`] says this of every
    /// fragment, a [`Defragmenter`] of the fragments of datagrams it could not complete.
    /// Fragments of other protocols are [`Skip::NotTcp`].
    IpFragment,
    /// A fragment repeated after a [`Defragmenter`] made its datagram whole: its bytes had
    /// reached the flow already.
    IpFragmentDuplicate,
    /// An IP header that is malformed (bad version, header length, total length, an IPv6
    /// extension header beyond the packet, or a chain of more than 16 of them).
    BadIpHeader,
    /// A TCP header that is malformed (data offset too small or beyond the packet).
    BadTcpHeader,
    /// An encapsulation the decoder recognises but does not open: what it carries is not
    /// analysed, and the capture's warnings say so.
    Undecoded(Encapsulation),
}

/// An encapsulation the decoder recognises but does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Encapsulation {
    /// An MPLS label stack ending in neither IP nor an Ethernet pseudowire, or deeper than
    /// [`link::MAX_MPLS_LABELS`].
    Mpls,
    /// GRE of version 1 (PPTP's enhanced GRE), or carrying another protocol than IPv4, IPv6,
    /// Ethernet or MPLS.
    Gre,
    /// Tunnels nested deeper than [`MAX_TUNNELS`].
    TooDeep,
}

impl Encapsulation {
    /// What the report calls it.
    pub fn describe(self) -> &'static str {
        match self {
            Encapsulation::Mpls => "MPLS whose payload is neither IP nor an Ethernet pseudowire",
            Encapsulation::Gre => "GRE that is not version 0 carrying IP, Ethernet or MPLS",
            Encapsulation::TooDeep => "tunnels nested deeper than the decoder opens",
        }
    }
}

impl Skip {
    /// A stable name for report tallies.
    pub fn name(self) -> &'static str {
        match self {
            Skip::Truncated => "truncated",
            Skip::UnsupportedLink(_) => "unsupported-link-type",
            Skip::NotIp => "not-ip",
            Skip::NotTcp => "not-tcp",
            Skip::IpFragment => "ip-fragment",
            Skip::IpFragmentDuplicate => "ip-fragment-duplicate",
            Skip::BadIpHeader => "bad-ip-header",
            Skip::BadTcpHeader => "bad-tcp-header",
            Skip::Undecoded(Encapsulation::Mpls) => "undecoded-mpls",
            Skip::Undecoded(Encapsulation::Gre) => "undecoded-gre",
            Skip::Undecoded(Encapsulation::TooDeep) => "undecoded-nested-tunnels",
        }
    }

    /// The encapsulations behind each `undecoded-*` name of [`Skip::name`].
    pub fn undecoded(name: &str) -> Option<Encapsulation> {
        [
            Encapsulation::Mpls,
            Encapsulation::Gre,
            Encapsulation::TooDeep,
        ]
        .into_iter()
        .find(|&e| Skip::Undecoded(e).name() == name)
    }
}

/// Decodes one frame of the given link type down to its TCP segment.
///
/// The payload is bounded by the IP length fields (Ethernet padding is not payload); when the
/// frame holds less than they declare, the captured part is returned and the rest counted in
/// [`Segment::payload_missing`]. A frame cut inside a header is [`Skip::Truncated`]. A frame
/// that carries an IP fragment is [`Skip::IpFragment`]: [`decode_frame`] hands the fragment out
/// for a [`Defragmenter`].
///
/// UDP carrying VXLAN, Geneve or TZSP is opened (up to [`MAX_TUNNELS`] nested tunnels) and the
/// segment is the inner one: its endpoints are the inner IP addresses and TCP ports, while
/// `loopback_if` and `if_index` still describe the interface the outer frame was seen on.
#[inline]
pub fn decode(link: LinkType, data: &[u8]) -> Result<Segment<'_>, Skip> {
    match decode_frame(link, data)? {
        Decoded::Segment(seg) => Ok(seg),
        Decoded::Fragment(..) => Err(Skip::IpFragment),
    }
}

/// What the link layer says of the interface a frame was seen on: kept with every fragment, so
/// that a reassembled segment says it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LinkFacts {
    /// See [`Segment::loopback_if`].
    pub loopback_if: bool,
    /// See [`Segment::if_index`].
    pub if_index: Option<u32>,
}

/// What a frame (or a reassembled datagram) holds: a TCP segment, or a fragment of an IP
/// datagram (of TCP, or of UDP that may carry a tunnel).
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    Segment(Segment<'a>),
    Fragment(Fragment<'a>, LinkFacts),
}

/// Decodes one frame as [`decode`] does, handing out the IP fragment it may carry (at any
/// tunnel depth) instead of [`Skip::IpFragment`].
#[inline]
pub fn decode_frame(link: LinkType, data: &[u8]) -> Result<Decoded<'_>, Skip> {
    let link = link::decode(link, data)?;
    let facts = LinkFacts {
        loopback_if: link.loopback_if,
        if_index: link.if_index,
    };
    to_segment(ip_found(link.net, link.data)?, facts)
}

/// The packet or fragment an IP header of version `net` leads to.
#[inline(always)]
fn ip_found(net: link::Net, data: &[u8]) -> Result<ip::Found<'_>, Skip> {
    match net {
        link::Net::Ipv4 => ip::ipv4_found(data),
        link::Net::Ipv6 => ip::ipv6_found(data),
    }
}

/// Decodes a datagram that a [`Defragmenter`] made whole, as [`decode_frame`] decodes a frame.
/// The segment borrows the datagram; its interface facts are those of its fragments.
pub fn decode_datagram(datagram: &Datagram) -> Result<Decoded<'_>, Skip> {
    let key = &datagram.key;
    let found = match key.src {
        IpAddr::V4(_) => ip::ipv4_reassembled(key, &datagram.payload)?,
        IpAddr::V6(_) => ip::ipv6_reassembled(key, &datagram.payload)?,
    };
    to_segment(found, datagram.facts)
}

/// The TCP segment `found` holds, opening the tunnels a UDP datagram carries; or the fragment
/// met on the way.
#[inline(always)]
fn to_segment(found: ip::Found<'_>, facts: LinkFacts) -> Result<Decoded<'_>, Skip> {
    let mut ip = match found {
        ip::Found::Packet(ip) => ip,
        ip::Found::Fragment(f) => return Ok(Decoded::Fragment(f, facts)),
    };
    if ip.upper != ip::Upper::Tcp {
        ip = match tunnelled(ip)? {
            ip::Found::Packet(ip) => ip,
            ip::Found::Fragment(f) => return Ok(Decoded::Fragment(f, facts)),
        };
    }
    if ip.upper == ip::Upper::Udp {
        return udp_segment(ip, facts);
    }
    let tcp = tcp::decode(ip.payload)?;
    Ok(Decoded::Segment(Segment {
        transport: Transport::Tcp,
        src: Endpoint {
            ip: ip.src,
            port: tcp.src_port,
        },
        dst: Endpoint {
            ip: ip.dst,
            port: tcp.dst_port,
        },
        seq: tcp.seq,
        ack: tcp.ack,
        flags: tcp.flags,
        payload: tcp.payload.data,
        payload_missing: tcp.payload.missing,
        loopback_if: facts.loopback_if,
        if_index: facts.if_index,
        ttl: ip.ttl,
        tcp: ip.payload.data,
    }))
}

/// A UDP datagram that opens no tunnel, as a segment.
#[cold]
#[inline(never)]
fn udp_segment(ip: ip::IpPacket<'_>, facts: LinkFacts) -> Result<Decoded<'_>, Skip> {
    let (src_port, dst_port, payload) = tunnel::udp(ip.payload).ok_or(Skip::Truncated)?;
    Ok(Decoded::Segment(Segment {
        transport: Transport::Udp,
        src: Endpoint {
            ip: ip.src,
            port: src_port,
        },
        dst: Endpoint {
            ip: ip.dst,
            port: dst_port,
        },
        seq: 0,
        ack: 0,
        flags: TcpFlags::default(),
        payload: payload.data,
        payload_missing: payload.missing,
        loopback_if: facts.loopback_if,
        if_index: facts.if_index,
        ttl: ip.ttl,
        tcp: &[],
    }))
}

/// Opens the tunnels an IP packet carries (UDP with VXLAN, Geneve or TZSP; IP in IP; GRE),
/// down to the IP packet that carries TCP, or UDP that opens no tunnel (or a fragment of one).
#[cold]
#[inline(never)]
fn tunnelled(mut outer: ip::IpPacket<'_>) -> Result<ip::Found<'_>, Skip> {
    for _ in 0..MAX_TUNNELS {
        let (net, packet) = match outer.upper {
            ip::Upper::Udp => match tunnel::open(outer.payload) {
                Ok(opened) => opened,
                // no tunnel: the datagram is the flow's
                Err(Skip::NotTcp) => return Ok(ip::Found::Packet(outer)),
                Err(e) => return Err(e),
            },
            ip::Upper::IpInIp(net) => (net, outer.payload.data),
            ip::Upper::Gre => tunnel::gre(outer.payload)?,
            ip::Upper::Tcp => return Ok(ip::Found::Packet(outer)),
        };
        match ip_found(net, packet)? {
            ip::Found::Packet(ip) if !matches!(ip.upper, ip::Upper::Tcp) => outer = ip,
            found => return Ok(found),
        }
    }
    Err(Skip::Undecoded(Encapsulation::TooDeep))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::ip::tests::{v4_header, v6_header, v6_with_options};
    use super::nflog::tests::nflog;
    use super::tcp::tests::tcp_header;
    use super::tunnel::tests::{geneve_header, tzsp_header, udp, vxlan_header};
    use super::*;

    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

    /// IPv4/TCP packet with `payload`, and an IPv4 total length that says `wire_payload` bytes.
    fn v4_tcp(payload: &[u8], wire_payload: usize) -> Vec<u8> {
        let mut p = v4_header(6, &[], 20 + wire_payload, 0x4000);
        p.extend_from_slice(&tcp_header(0x18, &[]));
        p.extend_from_slice(payload);
        p
    }

    fn ethernet(ether_type: u16, body: &[u8]) -> Vec<u8> {
        let mut f = MACS.to_vec();
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn sll2(protocol: u16, if_index: u32, hatype: u16, body: &[u8]) -> Vec<u8> {
        let mut f = protocol.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&if_index.to_be_bytes());
        f.extend_from_slice(&hatype.to_be_bytes());
        f.extend_from_slice(&[0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(body);
        f
    }

    fn sll(hatype: u16, protocol: u16, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0];
        f.extend_from_slice(&hatype.to_be_bytes());
        f.extend_from_slice(&[0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&protocol.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn seg(link: LinkType, data: &[u8]) -> Segment<'_> {
        match decode(link, data) {
            Ok(s) => s,
            Err(e) => panic!("{link:?}: {e:?}"),
        }
    }

    fn v4_endpoints(s: &Segment<'_>) {
        assert_eq!(
            s.src,
            Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port: 43272
            }
        );
        assert_eq!(
            s.dst,
            Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                port: 9080
            }
        );
    }

    #[test]
    fn every_link_type_yields_the_segment() {
        let ip = v4_tcp(b"GET / HTTP/1.1\r\n", 16);
        let frames = [
            (LinkType::ETHERNET, ethernet(0x0800, &ip)),
            (LinkType::LINUX_SLL, sll(1, 0x0800, &ip)),
            (LinkType::LINUX_SLL2, sll2(0x0800, 2, 1, &ip)),
            (LinkType::RAW, ip.clone()),
            (LinkType::IPV4, ip.clone()),
            (LinkType::NULL, [&[2u8, 0, 0, 0][..], &ip].concat()),
            (LinkType::NULL, [&[0u8, 0, 0, 2][..], &ip].concat()),
            (LinkType::LOOP, [&[0u8, 0, 0, 2][..], &ip].concat()),
        ];
        for (link, frame) in &frames {
            let s = seg(*link, frame);
            v4_endpoints(&s);
            assert_eq!((s.seq, s.ack), (0x0102_0304, 0xa0b0_c0d0), "{link:?}");
            assert_eq!(s.flags, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
            assert_eq!(s.payload, b"GET / HTTP/1.1\r\n", "{link:?}");
            assert_eq!(s.payload_missing, 0);
            assert!(!s.loopback_if);
        }
    }

    #[test]
    fn ipv6_link_types() {
        let mut ip = v6_header(6, 22);
        ip.extend_from_slice(&tcp_header(0x02, &[]));
        ip.extend_from_slice(b"hi");
        let frames = [
            (LinkType::ETHERNET, ethernet(0x86dd, &ip)),
            (LinkType::LINUX_SLL, sll(1, 0x86dd, &ip)),
            (LinkType::LINUX_SLL2, sll2(0x86dd, 2, 1, &ip)),
            (LinkType::RAW, ip.clone()),
            (LinkType::IPV6, ip.clone()),
            (LinkType::NULL, [&30u32.to_le_bytes()[..], &ip].concat()),
            (LinkType::LOOP, [&24u32.to_be_bytes()[..], &ip].concat()),
        ];
        for (link, frame) in &frames {
            let s = seg(*link, frame);
            assert_eq!(s.src.to_string(), "[fd00::1]:43272", "{link:?}");
            assert_eq!(s.dst.to_string(), "[fd00::2]:9080");
            assert!(s.flags.syn());
            assert_eq!(s.payload, b"hi");
        }
    }

    #[test]
    fn vlan_and_qinq() {
        let ip = v4_tcp(b"x", 1);
        let one = ethernet(0x8100, &[&[0x00, 0x64, 0x08, 0x00][..], &ip].concat());
        assert_eq!(seg(LinkType::ETHERNET, &one).payload, b"x");
        let two = ethernet(
            0x88a8,
            &[&[0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00][..], &ip].concat(),
        );
        let s = seg(LinkType::ETHERNET, &two);
        v4_endpoints(&s);
        assert_eq!(s.payload, b"x");
    }

    #[test]
    fn sll2_loopback_and_if_index() {
        let ip = v4_tcp(b"", 0);
        let f = sll2(0x0800, 1, 772, &ip);
        let s = seg(LinkType::LINUX_SLL2, &f);
        assert!(s.loopback_if);
        assert_eq!(s.if_index, Some(1));
        let f = sll2(0x0800, 7, 1, &ip);
        let s = seg(LinkType::LINUX_SLL2, &f);
        assert!(!s.loopback_if);
        assert_eq!(s.if_index, Some(7));
        let f = sll(772, 0x0800, &ip);
        let s = seg(LinkType::LINUX_SLL, &f);
        assert!(s.loopback_if);
        assert_eq!(s.if_index, None);
        assert_eq!(
            seg(LinkType::ETHERNET, &ethernet(0x0800, &ip)).if_index,
            None
        );
    }

    #[test]
    fn ipv4_options_then_tcp() {
        let opts = [0x01, 0x01, 0x01, 0x00];
        let mut ip = v4_header(6, &opts, 20 + 3, 0);
        ip.extend_from_slice(&tcp_header(0x10, &[]));
        ip.extend_from_slice(b"abc");
        let s = seg(LinkType::RAW, &ip);
        v4_endpoints(&s);
        assert_eq!(s.payload, b"abc");
    }

    #[test]
    fn ipv6_hop_by_hop_and_destination_options() {
        let body = [&tcp_header(0x11, &[])[..], b"bye"].concat();
        let p = v6_with_options(&body);
        let s = seg(LinkType::IPV6, &p);
        assert!(s.flags.fin() && s.flags.ack());
        assert_eq!(s.payload, b"bye");
    }

    #[test]
    fn fragments() {
        let mut ip = v4_header(6, &[], 24, 0x2000);
        ip.extend_from_slice(&tcp_header(0x10, &[]));
        ip.extend_from_slice(&[0; 4]);
        assert_eq!(
            decode(LinkType::ETHERNET, &ethernet(0x0800, &ip)).err(),
            Some(Skip::IpFragment)
        );
        let mut ip = v6_header(44, 8 + 8);
        ip.extend_from_slice(&[6, 0, 0x00, 0x10, 0, 0, 0, 1]); // offset 2, last
        ip.extend_from_slice(&[0; 8]);
        assert_eq!(decode(LinkType::IPV6, &ip).err(), Some(Skip::IpFragment));
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let ip = v4_tcp(b"", 0);
        assert_eq!(ip.len(), 40);
        let mut frame = ethernet(0x0800, &ip);
        frame.resize(60, 0);
        let s = seg(LinkType::ETHERNET, &frame);
        assert_eq!(s.payload, b"");
        assert_eq!(s.payload_missing, 0);
    }

    #[test]
    fn snaplen_cut_payload() {
        let ip = v4_tcp(&[0x17; 42], 1448);
        let f = sll2(0x0800, 3, 1, &ip);
        let s = seg(LinkType::LINUX_SLL2, &f);
        assert_eq!(s.payload, &[0x17; 42][..]);
        assert_eq!(s.payload_missing, 1448 - 42);
    }

    #[test]
    fn truncated_at_each_layer() {
        let ip = v4_tcp(b"", 0);
        let frame = ethernet(0x0800, &ip);
        // Every cut inside the Ethernet, IPv4 or TCP header.
        for n in 0..frame.len() {
            assert_eq!(
                decode(LinkType::ETHERNET, &frame[..n]).err(),
                Some(Skip::Truncated),
                "{n} bytes"
            );
        }
        let frame = sll2(0x0800, 1, 1, &ip);
        for n in 0..frame.len() {
            assert_eq!(
                decode(LinkType::LINUX_SLL2, &frame[..n]).err(),
                Some(Skip::Truncated),
                "{n} bytes"
            );
        }
        assert!(decode(LinkType::ETHERNET, &ethernet(0x0800, &ip)).is_ok());
    }

    #[test]
    fn not_ip_not_tcp_and_unsupported() {
        let arp = ethernet(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(decode(LinkType::ETHERNET, &arp).err(), Some(Skip::NotIp));
        // UDP that opens no tunnel is a UDP segment
        let mut udp = v4_header(17, &[], 8, 0);
        udp.extend_from_slice(&[0, 53, 0, 53, 0, 8, 0, 0]);
        let frame = ethernet(0x0800, &udp);
        let seg = decode(LinkType::ETHERNET, &frame).unwrap();
        assert_eq!(
            (seg.transport, seg.src.port, seg.dst.port),
            (Transport::Udp, 53, 53)
        );
        assert!(seg.payload.is_empty() && seg.tcp.is_empty());
        // ICMP is neither
        let icmp = v4_header(1, &[], 8, 0);
        assert_eq!(
            decode(LinkType::ETHERNET, &ethernet(0x0800, &icmp)).err(),
            Some(Skip::NotTcp)
        );
        assert_eq!(
            decode(LinkType(105), &udp).err(),
            Some(Skip::UnsupportedLink(LinkType(105)))
        );
    }

    #[test]
    fn bad_ihl_and_data_offset() {
        let mut ip = v4_tcp(b"", 0);
        ip[0] = 0x43;
        assert_eq!(decode(LinkType::RAW, &ip).err(), Some(Skip::BadIpHeader));
        let mut ip = v4_tcp(b"", 0);
        ip[20 + 12] = 0x30;
        assert_eq!(decode(LinkType::RAW, &ip).err(), Some(Skip::BadTcpHeader));
        // A data offset that runs past the IP total length.
        let mut ip = v4_tcp(b"", 0);
        ip[20 + 12] = 0x60;
        assert_eq!(decode(LinkType::RAW, &ip).err(), Some(Skip::BadTcpHeader));
    }

    #[test]
    fn checksums_are_ignored() {
        let mut ip = v4_tcp(b"x", 1);
        ip[10] = 0;
        ip[11] = 0;
        ip[20 + 16] = 0xff;
        assert_eq!(seg(LinkType::RAW, &ip).payload, b"x");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            link in proptest::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276, 7, 129, 239]),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160),
        ) {
            let _ = decode(LinkType(link), &data);
        }

        #[test]
        fn damaged_frames_never_panic(
            at in 0usize..80,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..80,
        ) {
            let mut frame = ethernet(0x0800, &v4_tcp(b"payload", 7));
            if let Some(b) = frame.get_mut(at) {
                *b = byte;
            }
            frame.truncate(frame.len().saturating_sub(cut));
            if let Ok(s) = decode(LinkType::ETHERNET, &frame) {
                proptest::prop_assert!(s.payload.len() <= 7);
            }
        }

        #[test]
        fn damaged_tunnelled_frames_never_panic(
            at in 0usize..140,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..140,
            port in proptest::sample::select(vec![4789u16, 6081, 37008, 31337]),
        ) {
            let inner = ethernet(0x0800, &v4_tcp(b"payload", 7));
            let body = match port {
                4789 => vxlan_header(&inner),
                6081 => geneve_header(0x6558, &[1, 2, 3, 1, 0, 0, 0, 0], &inner),
                _ => tzsp_header(&[0, 10, 1, 0xc4, 1], &inner),
            };
            let mut frame = ethernet(0x0800, &node_v4(&udp(port, &body)));
            if let Some(b) = frame.get_mut(at) {
                *b = byte;
            }
            frame.truncate(frame.len().saturating_sub(cut));
            if let Ok(s) = decode(LinkType::ETHERNET, &frame) {
                proptest::prop_assert!(s.payload.len() <= frame.len());
            }
        }
    }

    /// An outer IPv4 packet between two nodes (192.168.1.1 -> 192.168.1.2) carrying `udp`.
    fn node_v4(udp: &[u8]) -> Vec<u8> {
        let mut p = v4_header(17, &[], udp.len(), 0x4000);
        p[12..20].copy_from_slice(&[192, 168, 1, 1, 192, 168, 1, 2]);
        p.extend_from_slice(udp);
        p
    }

    /// A pod-to-pod Ethernet frame (10.0.0.1:43272 -> 10.0.0.2:9080) with `payload`.
    fn pod_frame(payload: &[u8]) -> Vec<u8> {
        ethernet(0x0800, &v4_tcp(payload, payload.len()))
    }

    #[test]
    fn vxlan_yields_the_inner_segment() {
        for port in [4789, 8472] {
            let f = ethernet(
                0x0800,
                &node_v4(&udp(port, &vxlan_header(&pod_frame(b"hello")))),
            );
            let s = seg(LinkType::ETHERNET, &f);
            v4_endpoints(&s);
            assert_eq!(
                (s.seq, s.payload, s.payload_missing),
                (0x0102_0304, &b"hello"[..], 0)
            );
        }
    }

    #[test]
    fn vxlan_in_vlan_over_ipv6_with_sll2() {
        let vx = udp(4789, &vxlan_header(&pod_frame(b"x")));
        let mut outer = v6_header(17, vx.len());
        outer.extend_from_slice(&vx);
        let tagged = [&[0x00, 0x64, 0x86, 0xdd][..], &outer].concat();
        let f = ethernet(0x8100, &tagged);
        let s = seg(LinkType::ETHERNET, &f);
        v4_endpoints(&s);
        assert_eq!(s.payload, b"x");
        let f = sll2(0x86dd, 5, 1, &outer);
        let s = seg(LinkType::LINUX_SLL2, &f);
        v4_endpoints(&s);
        assert_eq!(s.if_index, Some(5));
    }

    #[test]
    fn geneve_with_options_yields_the_inner_segment() {
        let opts = [0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef];
        let g = geneve_header(0x6558, &opts, &pod_frame(b"tls?"));
        let f = ethernet(0x0800, &node_v4(&udp(6081, &g)));
        let s = seg(LinkType::ETHERNET, &f);
        v4_endpoints(&s);
        assert_eq!(s.payload, b"tls?");
        // Inner IPv6 directly after the Geneve header.
        let mut inner = v6_header(6, 20);
        inner.extend_from_slice(&tcp_header(0x02, &[]));
        let g = geneve_header(0x86dd, &[], &inner);
        let p = node_v4(&udp(6081, &g));
        let s = seg(LinkType::RAW, &p);
        assert_eq!(s.src.to_string(), "[fd00::1]:43272");
        assert!(s.flags.syn());
    }

    #[test]
    fn tzsp_yields_the_inner_segment() {
        for port in [37008, 31337] {
            let t = tzsp_header(&[1], &pod_frame(b"GET"));
            let f = ethernet(0x0800, &node_v4(&udp(port, &t)));
            let s = seg(LinkType::ETHERNET, &f);
            v4_endpoints(&s);
            assert_eq!(s.payload, b"GET", "port {port}");
        }
    }

    #[test]
    fn nflog_and_arcnet_yield_the_segment() {
        let ip = v4_tcp(b"hi", 2);
        for big in [false, true] {
            let f = nflog(2, big, &ip);
            let s = seg(LinkType::NFLOG, &f);
            v4_endpoints(&s);
            assert_eq!(s.payload, b"hi");
        }
        let f = [&[0xbe, 0x50, 0, 0, 212, 0, 0, 1][..], &ip].concat();
        let s = seg(LinkType(129), &f);
        v4_endpoints(&s);
        assert_eq!(s.payload, b"hi");
        let f = [&[0xbe, 0x50, 212, 0, 0, 1][..], &ip].concat();
        assert_eq!(seg(LinkType(7), &f).payload, b"hi");
    }

    #[test]
    fn nested_tunnels_are_bounded() {
        // Geneve in VXLAN in VXLAN: three tunnels, opened.
        let mut frame = pod_frame(b"deep");
        frame = ethernet(
            0x0800,
            &node_v4(&udp(6081, &geneve_header(0x6558, &[], &frame))),
        );
        for _ in 0..2 {
            frame = ethernet(0x0800, &node_v4(&udp(4789, &vxlan_header(&frame))));
        }
        assert_eq!(seg(LinkType::ETHERNET, &frame).payload, b"deep");
        // MAX_TUNNELS tunnels: opened; one more: recognised, not opened (and warned about).
        let mut frame = pod_frame(b"deep");
        for _ in 0..MAX_TUNNELS {
            frame = ethernet(0x0800, &node_v4(&udp(4789, &vxlan_header(&frame))));
        }
        assert_eq!(seg(LinkType::ETHERNET, &frame).payload, b"deep");
        let frame = ethernet(0x0800, &node_v4(&udp(4789, &vxlan_header(&frame))));
        assert_eq!(
            decode(LinkType::ETHERNET, &frame).err(),
            Some(Skip::Undecoded(Encapsulation::TooDeep))
        );
    }

    #[test]
    fn tcp_checksums_are_told_good_bad_or_offloaded() {
        // etherparse writes correct checksums
        let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 9080, 7, 1000);
        let payload = b"GET / HTTP/1.1\r\n\r\n";
        let mut frame = Vec::new();
        builder.write(&mut frame, payload).unwrap();
        let check = |f: &[u8]| decode(LinkType::ETHERNET, f).unwrap().checksum();
        assert_eq!(check(&frame), Checksum::Good);
        // the TCP checksum field sits at 14 (Ethernet) + 20 (IPv4) + 16
        let at = 14 + 20 + 16;
        let mut bad = frame.clone();
        bad[at] ^= 0x5a;
        assert_eq!(check(&bad), Checksum::Bad);
        // the pseudo-header's folded sum, as Linux leaves it for the card (offload)
        let tcp_len = (frame.len() - 34) as u32;
        let mut sum = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + tcp_len;
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let mut offloaded = frame.clone();
        offloaded[at..at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
        assert_eq!(check(&offloaded), Checksum::Offloaded);
        // cut by the snaplen: not checkable
        assert_eq!(check(&frame[..frame.len() - 3]), Checksum::Unknown);
    }

    #[test]
    fn ip_in_ip_and_gre_are_opened() {
        let inner = v4_tcp(b"inner", 5);
        // IPv4 in IPv4 (protocol 4)
        let mut outer = v4_header(4, &[], inner.len(), 0x4000);
        outer.extend_from_slice(&inner);
        let f = ethernet(0x0800, &outer);
        assert_eq!(seg(LinkType::ETHERNET, &f).payload, b"inner");
        // GRE (protocol 47) with a key, carrying IPv4
        let mut gre = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 7];
        gre.extend_from_slice(&inner);
        let mut outer = v4_header(47, &[], gre.len(), 0x4000);
        outer.extend_from_slice(&gre);
        let f = ethernet(0x0800, &outer);
        assert_eq!(seg(LinkType::ETHERNET, &f).payload, b"inner");
        // PPTP's GRE (version 1): recognised, not opened
        let mut pptp = vec![0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 7];
        pptp.extend_from_slice(&inner);
        let mut outer = v4_header(47, &[], pptp.len(), 0x4000);
        outer.extend_from_slice(&pptp);
        let f = ethernet(0x0800, &outer);
        assert_eq!(
            decode(LinkType::ETHERNET, &f).err(),
            Some(Skip::Undecoded(Encapsulation::Gre))
        );
        assert_eq!(Skip::undecoded("undecoded-gre"), Some(Encapsulation::Gre));
        assert_eq!(Skip::undecoded("not-tcp"), None);
    }

    #[test]
    fn tunnelled_frame_truncated_at_each_layer() {
        let inner = pod_frame(b"");
        let g = geneve_header(0x6558, &[0; 4], &inner);
        let frames = [
            ethernet(0x0800, &node_v4(&udp(4789, &vxlan_header(&inner)))),
            ethernet(0x0800, &node_v4(&udp(6081, &g))),
            ethernet(0x0800, &node_v4(&udp(37008, &tzsp_header(&[1], &inner)))),
        ];
        for frame in &frames {
            assert!(decode(LinkType::ETHERNET, frame).is_ok());
            for n in 0..frame.len() {
                assert_eq!(
                    decode(LinkType::ETHERNET, &frame[..n]).err(),
                    Some(Skip::Truncated),
                    "{n}"
                );
            }
        }
        // NFLOG cut inside the logged packet's headers.
        let f = nflog(2, false, &v4_tcp(b"", 0));
        let payload_at = f.len() - 40;
        for n in payload_at..f.len() {
            assert_eq!(
                decode(LinkType::NFLOG, &f[..n]).err(),
                Some(Skip::Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn tunnels_on_other_ports_stay_udp() {
        for (port, body) in [
            (4790, vxlan_header(&pod_frame(b""))),
            (6082, geneve_header(0x6558, &[], &pod_frame(b""))),
            (53, vxlan_header(&pod_frame(b""))),
            (443, geneve_header(0x0800, &[], &v4_tcp(b"", 0))),
        ] {
            let f = ethernet(0x0800, &node_v4(&udp(port, &body)));
            let seg = decode(LinkType::ETHERNET, &f).unwrap();
            assert_eq!((seg.transport, seg.dst.port), (Transport::Udp, port));
            assert_eq!(seg.payload, &body[..], "{port}");
        }
        // An inner frame that is ARP.
        let arp = ethernet(0x0806, &[0; 28]);
        let f = ethernet(0x0800, &node_v4(&udp(4789, &vxlan_header(&arp))));
        assert_eq!(decode(LinkType::ETHERNET, &f).err(), Some(Skip::NotIp));
        // An inner packet that is UDP but no tunnel.
        let mut dns = v4_header(17, &[], 8, 0);
        dns.extend_from_slice(&[0, 53, 0, 53, 0, 8, 0, 0]);
        let f = ethernet(
            0x0800,
            &node_v4(&udp(4789, &vxlan_header(&ethernet(0x0800, &dns)))),
        );
        let seg = decode(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((seg.transport, seg.dst.port), (Transport::Udp, 53));
        assert_ne!(
            seg.src.ip,
            IpAddr::from([192, 168, 1, 1]),
            "the inner datagram's"
        );
    }

    #[test]
    fn skip_names_are_stable() {
        assert_eq!(Skip::Truncated.name(), "truncated");
        assert_eq!(Skip::IpFragment.name(), "ip-fragment");
        assert_eq!(Skip::IpFragmentDuplicate.name(), "ip-fragment-duplicate");
        assert_eq!(
            Skip::UnsupportedLink(LinkType(9)).name(),
            "unsupported-link-type"
        );
    }
}
