//! Tunnels carried in UDP: VXLAN (RFC 7348), Geneve (RFC 8926) and TZSP; and GRE (RFC 2784,
//! RFC 2890) carried in IP. Each is opened down to the network-layer packet it carries, so that
//! the flow found is the inner TCP connection's and not the tunnel endpoints'.
//!
//! Which tunnel a datagram carries is decided by its UDP destination port, as Wireshark and the
//! kernels do: 4789 (IANA) and 8472 (the Linux and flannel default) for VXLAN, 6081 for Geneve,
//! 37008 for TZSP. A datagram on such a port whose header does not hold up (VXLAN without the
//! I flag, a Geneve version other than 0, a TZSP version other than 1) is left as UDP
//! ([`Skip::NotTcp`]).
//!
//! TZSP senders (MikroTik's packet sniffer among them) are often pointed at another port, so TZSP
//! is also recognised on any port when the whole header validates: version 1, type 0 (received)
//! or 1 (to transmit), encapsulation 1 (Ethernet), tagged fields ending with the END tag inside
//! the datagram, and an inner Ethernet frame whose EtherType names IPv4 or IPv6 with a matching
//! IP version nibble. Anything less and the datagram stays [`Skip::NotTcp`]: a guess never turns
//! a UDP datagram into a truncated or malformed packet. The four leading bytes this needs
//! (`01 00|01 00 01`) start no common UDP protocol (DNS would need a response code in a query,
//! QUIC and DTLS set high bits in their first byte).

use super::ip::Payload;
use super::link::{self, Net};
use super::{Encapsulation, Skip};

/// UDP destination ports that name a tunnel.
mod port {
    pub const VXLAN: u16 = 4789;
    /// VXLAN as the Linux kernel and flannel configure it by default.
    pub const VXLAN_LINUX: u16 = 8472;
    pub const GENEVE: u16 = 6081;
    pub const TZSP: u16 = 37008;
}

/// Header sizes and field offsets (within the fixed-size header arrays).
mod field {
    /// UDP: source port, destination port, length, checksum.
    pub const UDP_LEN: usize = 8;
    pub const UDP_DST_PORT: usize = 2;
    pub const UDP_LENGTH: usize = 4;
    /// VXLAN: flags, reserved, VNI, reserved.
    pub const VXLAN_LEN: usize = 8;
    pub const VXLAN_FLAGS: usize = 0;
    /// Geneve: version and option length, flags, protocol type, VNI, reserved; then options.
    pub const GENEVE_LEN: usize = 8;
    pub const GENEVE_VERSION_OPT_LEN: usize = 0;
    pub const GENEVE_PROTOCOL: usize = 2;
    /// TZSP: version, type, encapsulation; then tagged fields.
    pub const TZSP_LEN: usize = 4;
    pub const TZSP_VERSION: usize = 0;
    pub const TZSP_TYPE: usize = 1;
    pub const TZSP_ENCAPSULATION: usize = 2;
}

/// VXLAN flags: the VNI is valid (must be set).
const VXLAN_FLAG_I: u8 = 0x08;

/// Geneve: the version (top two bits of the first byte) this decoder reads.
const GENEVE_VERSION: u8 = 0;
/// Geneve: option length (low six bits of the first byte) is in 4-byte words.
const GENEVE_OPT_LEN_MASK: u8 = 0x3f;
const GENEVE_OPT_WORD: usize = 4;

/// Protocol types of a Geneve header (EtherType values).
mod protocol {
    /// Transparent Ethernet Bridging: an Ethernet frame follows.
    pub const ETHERNET: u16 = 0x6558;
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
}

/// TZSP header values.
mod tzsp {
    pub const VERSION: u8 = 1;
    /// A packet received by the sensor.
    pub const TYPE_RECEIVED: u8 = 0;
    /// A packet for the receiver to transmit.
    pub const TYPE_TRANSMIT: u8 = 1;
    pub const ENCAPSULATION_ETHERNET: u16 = 1;
    /// Tagged fields: padding is a single byte, END closes the list, every other tag has a
    /// length byte and a value.
    pub const TAG_PADDING: u8 = 0;
    pub const TAG_END: u8 = 1;
}

#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    match h.get(at..).and_then(|b| b.first_chunk::<2>()) {
        Some(b) => u16::from_be_bytes(*b),
        None => 0,
    }
}

/// Opens the tunnel a UDP datagram (header and payload, as bounded by IP) carries: the inner
/// network protocol and packet.
///
/// A datagram that is no known tunnel, or whose UDP header was cut, is [`Skip::NotTcp`]; a tunnel
/// header that the capture cut is [`Skip::Truncated`]; a tunnel carrying neither IPv4 nor IPv6 is
/// [`Skip::NotIp`].
/// A UDP datagram's ports and payload (bounded by the UDP length where it fits what was
/// captured), or `None` when the header is cut.
pub(super) fn udp(udp: Payload<'_>) -> Option<(u16, u16, Payload<'_>)> {
    let (h, rest) = udp.data.split_first_chunk::<{ field::UDP_LEN }>()?;
    let length = usize::from(be16(h, field::UDP_LENGTH));
    let (data, missing) = match length.checked_sub(field::UDP_LEN) {
        Some(n) if n <= rest.len() => (rest.get(..n).unwrap_or(rest), 0),
        // longer than captured: the snaplen cut it; the IP bound says what is missing
        Some(_) => (rest, udp.missing),
        // a length below the header's (0 in jumbograms): the IP bound stands
        None => (rest, udp.missing),
    };
    Some((
        be16(h, 0),
        be16(h, field::UDP_DST_PORT),
        Payload { data, missing },
    ))
}

pub(super) fn open(udp: Payload<'_>) -> Result<(Net, &[u8]), Skip> {
    let Some((h, rest)) = udp.data.split_first_chunk::<{ field::UDP_LEN }>() else {
        return Err(Skip::NotTcp);
    };
    // The UDP length bounds the payload when it fits what was captured (it is 0 in jumbograms
    // and may exceed a snaplen-cut capture: then the IP bound stands).
    let body = usize::from(be16(h, field::UDP_LENGTH))
        .checked_sub(field::UDP_LEN)
        .and_then(|n| rest.get(..n))
        .unwrap_or(rest);
    match be16(h, field::UDP_DST_PORT) {
        port::VXLAN | port::VXLAN_LINUX => vxlan(body),
        port::GENEVE => geneve(body),
        port::TZSP => tzsp(body),
        _ => tzsp_on_other_port(body),
    }
}

/// GRE header fields: flags and version, then the protocol type; optional words follow.
mod gre {
    pub const LEN: usize = 4;
    pub const FLAGS: usize = 0;
    pub const PROTOCOL: usize = 2;
    /// Checksum present (a checksum and a reserved word follow).
    pub const C: u16 = 0x8000;
    /// Key present.
    pub const K: u16 = 0x2000;
    /// Sequence number present.
    pub const S: u16 = 0x1000;
    pub const VERSION: u16 = 0x0007;
    pub const MPLS: u16 = 0x8847;
}

/// Opens a GRE packet (the IP payload): the network packet it carries. Version 0 only;
/// IPv4, IPv6, Ethernet (transparent bridging) and MPLS are opened, anything else is
/// [`Skip::Undecoded`].
pub(super) fn gre(payload: Payload<'_>) -> Result<(Net, &[u8]), Skip> {
    let (h, rest) = payload
        .data
        .split_first_chunk::<{ gre::LEN }>()
        .ok_or(Skip::Truncated)?;
    let flags = be16(h, gre::FLAGS);
    if flags & gre::VERSION != 0 {
        return Err(Skip::Undecoded(Encapsulation::Gre));
    }
    let optional = [gre::C, gre::K, gre::S]
        .iter()
        .filter(|&&bit| flags & bit != 0)
        .count()
        .saturating_mul(4);
    let body = rest.get(optional..).ok_or(Skip::Truncated)?;
    match be16(h, gre::PROTOCOL) {
        protocol::IPV4 => Ok((Net::Ipv4, body)),
        protocol::IPV6 => Ok((Net::Ipv6, body)),
        protocol::ETHERNET => inner_ethernet(body),
        gre::MPLS => link::mpls(body),
        _ => Err(Skip::Undecoded(Encapsulation::Gre)),
    }
}

/// The network packet an inner Ethernet frame carries (VLAN tags unwrapped).
fn inner_ethernet(frame: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let inner = link::ethernet(frame)?;
    Ok((inner.net, inner.data))
}

/// VXLAN: an 8-byte header with the I flag, then an Ethernet frame.
fn vxlan(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let (h, frame) = data
        .split_first_chunk::<{ field::VXLAN_LEN }>()
        .ok_or(Skip::Truncated)?;
    if h[field::VXLAN_FLAGS] & VXLAN_FLAG_I == 0 {
        return Err(Skip::NotTcp);
    }
    inner_ethernet(frame)
}

/// Geneve: an 8-byte header, options, then what the protocol type names.
fn geneve(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::GENEVE_LEN }>()
        .ok_or(Skip::Truncated)?;
    let first = h[field::GENEVE_VERSION_OPT_LEN];
    if first >> 6 != GENEVE_VERSION {
        return Err(Skip::NotTcp);
    }
    let options = usize::from(first & GENEVE_OPT_LEN_MASK) * GENEVE_OPT_WORD;
    let inner = rest.get(options..).ok_or(Skip::Truncated)?;
    match be16(h, field::GENEVE_PROTOCOL) {
        protocol::ETHERNET => inner_ethernet(inner),
        protocol::IPV4 => Ok((Net::Ipv4, inner)),
        protocol::IPV6 => Ok((Net::Ipv6, inner)),
        _ => Err(Skip::NotIp),
    }
}

/// TZSP on its own port: the header, the tagged fields, then the encapsulated frame.
fn tzsp(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let (h, rest) = data
        .split_first_chunk::<{ field::TZSP_LEN }>()
        .ok_or(Skip::Truncated)?;
    if h[field::TZSP_VERSION] != tzsp::VERSION
        || !matches!(
            h[field::TZSP_TYPE],
            tzsp::TYPE_RECEIVED | tzsp::TYPE_TRANSMIT
        )
    {
        // Keep-alives, configuration, or not TZSP at all.
        return Err(Skip::NotTcp);
    }
    let frame = tzsp_tags(rest)?;
    if be16(h, field::TZSP_ENCAPSULATION) != tzsp::ENCAPSULATION_ETHERNET {
        return Err(Skip::NotIp);
    }
    inner_ethernet(frame)
}

/// Skips the tagged fields up to and including END; what follows is the encapsulated frame.
/// Every step consumes at least one byte, so the walk ends.
fn tzsp_tags(mut data: &[u8]) -> Result<&[u8], Skip> {
    loop {
        let (&tag, rest) = data.split_first().ok_or(Skip::Truncated)?;
        data = match tag {
            tzsp::TAG_END => return Ok(rest),
            tzsp::TAG_PADDING => rest,
            _ => {
                let (&len, rest) = rest.split_first().ok_or(Skip::Truncated)?;
                rest.get(usize::from(len)..).ok_or(Skip::Truncated)?
            }
        };
    }
}

/// TZSP on a port other than 37008, recognised only when the whole header validates (see the
/// module documentation); any failure leaves the datagram as plain UDP.
fn tzsp_on_other_port(data: &[u8]) -> Result<(Net, &[u8]), Skip> {
    let Some(h) = data.first_chunk::<{ field::TZSP_LEN }>() else {
        return Err(Skip::NotTcp);
    };
    if h[field::TZSP_VERSION] != tzsp::VERSION
        || h[field::TZSP_TYPE] > tzsp::TYPE_TRANSMIT
        || be16(h, field::TZSP_ENCAPSULATION) != tzsp::ENCAPSULATION_ETHERNET
    {
        return Err(Skip::NotTcp);
    }
    let (net, packet) = tzsp(data).map_err(|_| Skip::NotTcp)?;
    let version = packet.first().map(|b| b >> 4);
    match (net, version) {
        (Net::Ipv4, Some(4)) | (Net::Ipv6, Some(6)) => Ok((net, packet)),
        _ => Err(Skip::NotTcp),
    }
}

#[cfg(test)]
mod gre_tests {
    use super::*;

    fn gre_packet(flags: u16, protocol: u16, body: &[u8]) -> Vec<u8> {
        let mut p = flags.to_be_bytes().to_vec();
        p.extend_from_slice(&protocol.to_be_bytes());
        let words = [gre::C, gre::K, gre::S]
            .iter()
            .filter(|&&b| flags & b != 0)
            .count();
        p.extend(std::iter::repeat_n(0xee, words * 4));
        p.extend_from_slice(body);
        p
    }

    fn open(p: &[u8]) -> Result<(Net, &[u8]), Skip> {
        gre(Payload {
            data: p,
            missing: 0,
        })
    }

    #[test]
    fn opens_ip_and_skips_the_optional_words() {
        let ip = [0x45, 1, 2, 3];
        let p = gre_packet(0, 0x0800, &ip);
        assert_eq!(open(&p), Ok((Net::Ipv4, &ip[..])));
        let p = gre_packet(gre::C | gre::K | gre::S, 0x86dd, &[0x60, 0]);
        assert_eq!(open(&p), Ok((Net::Ipv6, &[0x60u8, 0][..])));
        // version 1 (PPTP), another protocol: recognised, not opened
        let p = gre_packet(1, 0x880b, &ip);
        assert_eq!(open(&p), Err(Skip::Undecoded(Encapsulation::Gre)));
        let p = gre_packet(0, 0x0806, &ip);
        assert_eq!(open(&p), Err(Skip::Undecoded(Encapsulation::Gre)));
        assert_eq!(open(&[0, 0]), Err(Skip::Truncated));
        assert_eq!(
            open(&gre_packet(gre::K, 0x0800, &[])[..6]),
            Err(Skip::Truncated)
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    const IP: [u8; 3] = [0x45, 0xaa, 0xbb];

    /// An Ethernet frame.
    pub fn eth(ether_type: u16, body: &[u8]) -> Vec<u8> {
        let mut v = MACS.to_vec();
        v.extend_from_slice(&ether_type.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A UDP header (length covering `body`) and `body`.
    pub fn udp(dst_port: u16, body: &[u8]) -> Vec<u8> {
        let mut v = 51000u16.to_be_bytes().to_vec();
        v.extend_from_slice(&dst_port.to_be_bytes());
        v.extend_from_slice(&((body.len() + 8) as u16).to_be_bytes());
        v.extend_from_slice(&[0xab, 0xcd]);
        v.extend_from_slice(body);
        v
    }

    /// A VXLAN header (I flag, VNI 1) and an inner frame.
    pub fn vxlan_header(frame: &[u8]) -> Vec<u8> {
        [&[0x08, 0, 0, 0, 0, 0, 1, 0][..], frame].concat()
    }

    /// A Geneve header with `options` (a multiple of 4 bytes), then `inner`.
    pub fn geneve_header(protocol: u16, options: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut v = vec![(options.len() / 4) as u8, 0];
        v.extend_from_slice(&protocol.to_be_bytes());
        v.extend_from_slice(&[0, 0, 7, 0]);
        v.extend_from_slice(options);
        v.extend_from_slice(inner);
        v
    }

    /// A TZSP header (version 1, received, Ethernet) with `tags` (END included), then `frame`.
    pub fn tzsp_header(tags: &[u8], frame: &[u8]) -> Vec<u8> {
        [&[1, 0, 0, 1][..], tags, frame].concat()
    }

    fn open_udp(datagram: &[u8]) -> Result<(Net, &[u8]), Skip> {
        open(Payload {
            data: datagram,
            missing: 0,
        })
    }

    #[test]
    fn vxlan_on_both_ports() {
        for p in [4789, 8472] {
            let d = udp(p, &vxlan_header(&eth(0x0800, &IP)));
            assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])), "port {p}");
        }
        // Inner VLAN tag, inner IPv6.
        let d = udp(
            4789,
            &vxlan_header(&eth(0x8100, &[0x00, 0x64, 0x86, 0xdd, 0x60, 1])),
        );
        assert_eq!(open_udp(&d), Ok((Net::Ipv6, &[0x60u8, 1][..])));
    }

    #[test]
    fn vxlan_without_i_flag_is_plain_udp() {
        let mut d = udp(4789, &vxlan_header(&eth(0x0800, &IP)));
        d[8] = 0x00;
        assert_eq!(open_udp(&d), Err(Skip::NotTcp));
    }

    #[test]
    fn vxlan_inner_not_ip() {
        let d = udp(4789, &vxlan_header(&eth(0x0806, &[0; 28])));
        assert_eq!(open_udp(&d), Err(Skip::NotIp));
    }

    #[test]
    fn geneve_ethernet_and_ip() {
        let d = udp(6081, &geneve_header(0x6558, &[], &eth(0x0800, &IP)));
        assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])));
        let opts = [0x01, 0x02, 0x03, 0x02, 1, 2, 3, 4, 5, 6, 7, 8];
        let d = udp(6081, &geneve_header(0x0800, &opts, &IP));
        assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])));
        let d = udp(6081, &geneve_header(0x86dd, &[0; 4], &[0x60]));
        assert_eq!(open_udp(&d), Ok((Net::Ipv6, &[0x60u8][..])));
        let d = udp(6081, &geneve_header(0x8847, &[], &[0; 4])); // MPLS
        assert_eq!(open_udp(&d), Err(Skip::NotIp));
    }

    #[test]
    fn geneve_other_version_is_plain_udp() {
        let mut d = udp(6081, &geneve_header(0x0800, &[], &IP));
        d[8] = 0x40;
        assert_eq!(open_udp(&d), Err(Skip::NotTcp));
    }

    #[test]
    fn geneve_options_cut() {
        let d = udp(6081, &geneve_header(0x0800, &[0; 8], &[]));
        assert_eq!(open_udp(&d[..d.len() - 1]), Err(Skip::Truncated));
    }

    #[test]
    fn tzsp_standard_port() {
        let d = udp(37008, &tzsp_header(&[1], &eth(0x0800, &IP)));
        assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])));
        // Padding, a tagged field (RSSI), then END.
        let d = udp(37008, &tzsp_header(&[0, 10, 1, 0xc4, 1], &eth(0x0800, &IP)));
        assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])));
        // 802.11 encapsulation.
        let mut d = udp(37008, &tzsp_header(&[1], &[0; 24]));
        d[11] = 18;
        assert_eq!(open_udp(&d), Err(Skip::NotIp));
        // A keep-alive.
        let d = udp(37008, &[1, 4, 0, 1, 1]);
        assert_eq!(open_udp(&d), Err(Skip::NotTcp));
        // Tags never closed.
        let d = udp(37008, &tzsp_header(&[0, 0, 10, 1], &[]));
        assert_eq!(open_udp(&d), Err(Skip::Truncated));
    }

    #[test]
    fn tzsp_on_other_port_needs_a_valid_header() {
        let d = udp(31337, &tzsp_header(&[1], &eth(0x0800, &IP)));
        assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])));
        // Inner EtherType says IPv4 but the packet is not.
        let d = udp(31337, &tzsp_header(&[1], &eth(0x0800, &[0x60])));
        assert_eq!(open_udp(&d), Err(Skip::NotTcp));
        // Type 3 (configuration), encapsulation 18, version 2, unclosed tags, ARP inside.
        for h in [[1, 3, 0, 1], [1, 0, 0, 18], [2, 0, 0, 1]] {
            let d = udp(31337, &[&h[..], &[1], &eth(0x0800, &IP)].concat());
            assert_eq!(open_udp(&d), Err(Skip::NotTcp), "{h:?}");
        }
        let d = udp(31337, &tzsp_header(&[0, 0], &[]));
        assert_eq!(open_udp(&d), Err(Skip::NotTcp));
        let d = udp(31337, &tzsp_header(&[1], &eth(0x0806, &[0; 28])));
        assert_eq!(open_udp(&d), Err(Skip::NotTcp));
        // A DNS query is no TZSP.
        let dns = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(open_udp(&udp(53, &dns)), Err(Skip::NotTcp));
    }

    #[test]
    fn tunnel_headers_cut_are_truncated() {
        let cases = [
            udp(4789, &vxlan_header(&eth(0x0800, &[]))),
            udp(6081, &geneve_header(0x6558, &[0; 4], &eth(0x0800, &[]))),
            udp(37008, &tzsp_header(&[1], &eth(0x0800, &[]))),
        ];
        for d in &cases {
            assert!(open_udp(d).is_ok());
            // Every cut after the UDP header and before the inner packet (the UDP length field
            // then overstates the datagram, and the captured part is used).
            for n in 8..d.len() {
                assert_eq!(open_udp(&d[..n]), Err(Skip::Truncated), "{n} of {d:02x?}");
            }
            // A cut UDP header: nothing is known of the datagram.
            for n in 0..8 {
                assert_eq!(open_udp(&d[..n]), Err(Skip::NotTcp), "{n}");
            }
        }
    }

    #[test]
    fn udp_length_bounds_the_body() {
        // Trailing bytes beyond the UDP length are not part of the VXLAN frame.
        let mut d = udp(4789, &vxlan_header(&eth(0x0800, &IP)));
        d.extend_from_slice(&[0xee; 6]);
        assert_eq!(open_udp(&d), Ok((Net::Ipv4, &IP[..])));
        // A UDP length of 0 (jumbogram) runs to the end.
        d[4] = 0;
        d[5] = 0;
        let (_, inner) = open_udp(&d).unwrap();
        assert_eq!(inner.len(), IP.len() + 6);
    }

    #[test]
    fn other_ports_are_plain_udp() {
        for p in [53, 443, 4790, 6082, 8000] {
            let d = udp(p, &vxlan_header(&eth(0x0800, &IP)));
            assert_eq!(open_udp(&d), Err(Skip::NotTcp), "port {p}");
            let d = udp(p, &geneve_header(0x6558, &[], &eth(0x0800, &IP)));
            assert_eq!(open_udp(&d), Err(Skip::NotTcp), "port {p}");
        }
    }
}
