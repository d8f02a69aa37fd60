//! IPv4 and IPv6: addresses, the upper-layer protocol, and the bounds of the payload.
//!
//! The payload is bounded by the length the IP header declares, which cuts Ethernet padding and
//! trailers off; when the capture holds less than that (a small snaplen), the captured part is
//! kept and the shortfall is counted instead of the packet being rejected.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::err::{ip_auth, ipv4, ipv6, LenError};
use etherparse::{
    IpAuthHeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice,
};

use super::Skip;

/// Extension headers after which the decoder gives up (each is at least 8 bytes, so a jumbo
/// packet could chain thousands: real ones have a handful).
const MAX_IPV6_EXT_HEADERS: usize = 16;

/// The part of an IP payload that was captured, and how much of it the capture cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Payload<'a> {
    pub data: &'a [u8],
    /// Bytes of the payload that were on the wire after `data` but were not captured.
    pub missing: u32,
}

impl<'a> Payload<'a> {
    /// `rest` (everything the frame holds after the IP header) cut to the `declared` length.
    #[inline]
    fn bounded(rest: &'a [u8], declared: usize) -> Payload<'a> {
        match rest.get(..declared) {
            Some(data) => Payload { data, missing: 0 },
            None => Payload {
                data: rest,
                missing: u32::try_from(declared.saturating_sub(rest.len())).unwrap_or(u32::MAX),
            },
        }
    }

    /// Length of the payload on the wire.
    pub fn wire_len(&self) -> usize {
        self.data
            .len()
            .saturating_add(usize::try_from(self.missing).unwrap_or(usize::MAX))
    }

    /// Why a header needing `required` bytes does not fit in `data`: the capture cut it
    /// ([`Skip::Truncated`]), or the packet itself is shorter than the header claims (`bad`).
    pub fn short(&self, required: usize, bad: Skip) -> Skip {
        if required > self.wire_len() {
            bad
        } else {
            Skip::Truncated
        }
    }

    /// The payload after its first `n` bytes (which must be in `data`).
    fn skip(self, n: usize) -> Payload<'a> {
        Payload {
            data: self.data.get(n..).unwrap_or_default(),
            missing: self.missing,
        }
    }
}

/// The upper-layer protocols the decoder reads past the IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upper {
    Tcp,
    /// UDP, read only to open the tunnels it may carry (VXLAN, Geneve, TZSP).
    Udp,
    /// An IP packet in an IP packet (IPv4 protocol 4 or 41, IPv6 next header likewise).
    IpInIp(super::link::Net),
    /// GRE (protocol 47).
    Gre,
}

/// A decoded IP packet carrying TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit (`None` for a reassembled datagram).
    pub ttl: Option<u8>,
    pub upper: Upper,
    /// The TCP segment or UDP datagram (header and payload).
    pub payload: Payload<'a>,
}

/// Identity of the IP datagram a fragment belongs to (RFC 791, RFC 8200): both addresses, the
/// identification field and the protocol of the fragmented payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 identification (16 bits) or IPv6 fragment header identification (32 bits).
    pub id: u32,
    /// IPv4 protocol, or the next header after the IPv6 fragment header.
    pub protocol: u8,
}

/// One fragment of an IP datagram: where its bytes go in the datagram's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub key: FragmentKey,
    /// Byte offset of `payload` in the datagram's payload (a multiple of 8).
    pub offset: u32,
    /// More fragments follow (the IPv4 MF flag, the IPv6 M flag).
    pub more: bool,
    /// The fragment's captured bytes, and how many the snaplen cut off.
    pub(super) payload: Payload<'a>,
}

impl<'a> Fragment<'a> {
    /// A fragment of `data`, all of it captured.
    pub fn new(key: FragmentKey, offset: u32, more: bool, data: &'a [u8]) -> Fragment<'a> {
        Fragment {
            key,
            offset,
            more,
            payload: Payload { data, missing: 0 },
        }
    }

    /// The fragment's bytes as captured.
    pub fn data(&self) -> &[u8] {
        self.payload.data
    }

    /// The capture holds the whole fragment (the snaplen cut none of it off).
    pub fn is_whole(&self) -> bool {
        self.payload.missing == 0
    }
}

/// What an IP header leads to: a whole packet, or a fragment of a datagram that only
/// reassembly can make whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found<'a> {
    Packet(IpPacket<'a>),
    Fragment(Fragment<'a>),
}

/// Decodes an IPv4 packet down to its TCP segment or UDP datagram.
///
/// A total length of 0 is taken as "unknown" and the payload runs to the end of the frame: hosts
/// with TCP segmentation offload capture their outgoing super-packets that way. Fragments (of TCP
/// or UDP: a tunnel's datagram may be fragmented too) are [`Skip::IpFragment`];
/// [`ipv4_found`] hands them out.
#[cfg(test)]
pub(super) fn ipv4(data: &[u8]) -> Result<IpPacket<'_>, Skip> {
    whole(ipv4_found(data)?)
}

/// A whole packet, or [`Skip::IpFragment`].
#[cfg(test)]
fn whole(found: Found<'_>) -> Result<IpPacket<'_>, Skip> {
    match found {
        Found::Packet(p) => Ok(p),
        Found::Fragment(_) => Err(Skip::IpFragment),
    }
}

/// Decodes an IPv4 packet down to its TCP segment or UDP datagram, or the fragment it carries.
#[inline]
pub(super) fn ipv4_found(data: &[u8]) -> Result<Found<'_>, Skip> {
    let header = Ipv4HeaderSlice::from_slice(data).map_err(|e| match e {
        ipv4::HeaderSliceError::Len(_) => Skip::Truncated,
        ipv4::HeaderSliceError::Content(_) => Skip::BadIpHeader,
    })?;
    let header_len = header.slice().len();
    let rest = data.get(header_len..).unwrap_or_default();
    let total_len = usize::from(header.total_len());
    let payload = if total_len == 0 {
        Payload {
            data: rest,
            missing: 0,
        }
    } else {
        let declared = total_len.checked_sub(header_len).ok_or(Skip::BadIpHeader)?;
        Payload::bounded(rest, declared)
    };
    let protocol = header.protocol();
    let upper = v4_upper(protocol)?;
    let src = IpAddr::V4(Ipv4Addr::from(header.source()));
    let dst = IpAddr::V4(Ipv4Addr::from(header.destination()));
    if header.more_fragments() || header.fragments_offset().value() != 0 {
        return Ok(Found::Fragment(Fragment {
            key: FragmentKey {
                src,
                dst,
                id: u32::from(header.identification()),
                protocol: protocol.0,
            },
            offset: u32::from(header.fragments_offset().byte_offset()),
            more: header.more_fragments(),
            payload,
        }));
    }
    Ok(Found::Packet(IpPacket {
        src,
        dst,
        ttl: Some(header.ttl()),
        upper,
        payload,
    }))
}

/// The upper protocols read past an IPv4 header.
#[inline]
fn v4_upper(protocol: IpNumber) -> Result<Upper, Skip> {
    match protocol {
        IpNumber::TCP => Ok(Upper::Tcp),
        IpNumber::UDP => Ok(Upper::Udp),
        IpNumber::IPV4 => Ok(Upper::IpInIp(super::link::Net::Ipv4)),
        IpNumber::IPV6 => Ok(Upper::IpInIp(super::link::Net::Ipv6)),
        IpNumber::GRE => Ok(Upper::Gre),
        _ => Err(Skip::NotTcp),
    }
}

/// The payload of a reassembled IPv4 datagram of `key.protocol`.
pub(super) fn ipv4_reassembled<'a>(key: &FragmentKey, data: &'a [u8]) -> Result<Found<'a>, Skip> {
    Ok(Found::Packet(IpPacket {
        src: key.src,
        dst: key.dst,
        ttl: None,
        upper: v4_upper(IpNumber(key.protocol))?,
        payload: Payload { data, missing: 0 },
    }))
}

fn ext_len_error(payload: &Payload<'_>, e: LenError) -> Skip {
    payload.short(e.required_len, Skip::BadIpHeader)
}

/// Decodes an IPv6 packet, walking its extension headers, down to its TCP segment or UDP
/// datagram; a fragment (not an atomic one) is [`Skip::IpFragment`].
///
/// A payload length of 0 (jumbogram, or a segmentation-offload super-packet) makes the payload
/// run to the end of the frame.
#[cfg(test)]
pub(super) fn ipv6(data: &[u8]) -> Result<IpPacket<'_>, Skip> {
    whole(ipv6_found(data)?)
}

/// Decodes an IPv6 packet down to its TCP segment or UDP datagram, or the fragment it carries.
#[inline]
pub(super) fn ipv6_found(data: &[u8]) -> Result<Found<'_>, Skip> {
    let header = Ipv6HeaderSlice::from_slice(data).map_err(|e| match e {
        ipv6::HeaderSliceError::Len(_) => Skip::Truncated,
        ipv6::HeaderSliceError::Content(_) => Skip::BadIpHeader,
    })?;
    let rest = data.get(header.slice().len()..).unwrap_or_default();
    let payload = match header.payload_length() {
        0 => Payload {
            data: rest,
            missing: 0,
        },
        n => Payload::bounded(rest, usize::from(n)),
    };
    let src = IpAddr::V6(Ipv6Addr::from(header.source()));
    let dst = IpAddr::V6(Ipv6Addr::from(header.destination()));
    v6_chain(
        src,
        dst,
        Some(header.hop_limit()),
        header.next_header(),
        payload,
    )
}

/// The payload of a reassembled IPv6 datagram: its extension headers (the ones after the
/// fragment header) are walked as in a whole packet.
pub(super) fn ipv6_reassembled<'a>(key: &FragmentKey, data: &'a [u8]) -> Result<Found<'a>, Skip> {
    v6_chain(
        key.src,
        key.dst,
        None,
        IpNumber(key.protocol),
        Payload { data, missing: 0 },
    )
}

/// Protocols whose fragments are worth reassembling: TCP, UDP (which may carry a tunnel) and
/// the extension headers that may stand before them.
fn reassembles(protocol: IpNumber) -> bool {
    matches!(
        protocol,
        IpNumber::TCP
            | IpNumber::UDP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS
            | IpNumber::AUTHENTICATION_HEADER
            | IpNumber::MOBILITY_HEADER
            | IpNumber::HIP
            | IpNumber::SHIM6
    )
}

/// Walks IPv6 extension headers from `next` over `payload` to TCP or UDP.
#[inline]
fn v6_chain(
    src: IpAddr,
    dst: IpAddr,
    ttl: Option<u8>,
    mut next: IpNumber,
    mut payload: Payload<'_>,
) -> Result<Found<'_>, Skip> {
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        let upper = match next {
            IpNumber::TCP => Upper::Tcp,
            IpNumber::UDP => Upper::Udp,
            IpNumber::IPV4 => Upper::IpInIp(super::link::Net::Ipv4),
            IpNumber::IPV6 => Upper::IpInIp(super::link::Net::Ipv6),
            IpNumber::GRE => Upper::Gre,
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS
            | IpNumber::MOBILITY_HEADER
            | IpNumber::HIP
            | IpNumber::SHIM6 => {
                let ext = Ipv6RawExtHeaderSlice::from_slice(payload.data)
                    .map_err(|e| ext_len_error(&payload, e))?;
                next = ext.next_header();
                payload = payload.skip(ext.slice().len());
                continue;
            }
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                let frag = Ipv6FragmentHeaderSlice::from_slice(payload.data)
                    .map_err(|e| ext_len_error(&payload, e))?;
                next = frag.next_header();
                payload = payload.skip(frag.slice().len());
                // An atomic fragment (offset 0, no more fragments) is a whole packet.
                if frag.is_fragmenting_payload() {
                    if !reassembles(next) {
                        return Err(Skip::NotTcp);
                    }
                    return Ok(Found::Fragment(Fragment {
                        key: FragmentKey {
                            src,
                            dst,
                            id: frag.identification(),
                            protocol: next.0,
                        },
                        offset: u32::from(frag.fragment_offset().byte_offset()),
                        more: frag.more_fragments(),
                        payload,
                    }));
                }
                continue;
            }
            IpNumber::AUTHENTICATION_HEADER => {
                let auth = IpAuthHeaderSlice::from_slice(payload.data).map_err(|e| match e {
                    ip_auth::HeaderSliceError::Len(e) => ext_len_error(&payload, e),
                    ip_auth::HeaderSliceError::Content(_) => Skip::BadIpHeader,
                })?;
                next = auth.next_header();
                payload = payload.skip(auth.slice().len());
                continue;
            }
            // No Next Header, ESP (encrypted: the upper protocol is hidden), ICMP, ...
            _ => return Err(Skip::NotTcp),
        };
        return Ok(Found::Packet(IpPacket {
            src,
            dst,
            ttl,
            upper,
            payload,
        }));
    }
    Err(Skip::BadIpHeader)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An IPv4 header (with `options`, a multiple of 4 bytes) for `payload_len` bytes of payload.
    pub fn v4_header(protocol: u8, options: &[u8], payload_len: usize, frag: u16) -> Vec<u8> {
        let ihl = 5 + options.len() / 4;
        let total = (ihl * 4 + payload_len) as u16;
        let mut v = vec![0x40 | ihl as u8, 0];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[0x12, 0x34]);
        v.extend_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[64, protocol, 0xde, 0xad]); // checksum left wrong on purpose
        v.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        v.extend_from_slice(options);
        v
    }

    /// An IPv6 header whose payload (extension headers included) is `payload_len` bytes.
    pub fn v6_header(next: u8, payload_len: usize) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&(payload_len as u16).to_be_bytes());
        v.extend_from_slice(&[next, 64]);
        let mut src = [0u8; 16];
        src[0] = 0xfd;
        src[15] = 1;
        let mut dst = src;
        dst[15] = 2;
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v
    }

    fn v4_addrs() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    }

    #[test]
    fn ipv4_plain() {
        let mut p = v4_header(6, &[], 5, 0x4000); // DF set
        p.extend_from_slice(b"hello");
        let ip = ipv4(&p).unwrap();
        assert_eq!((ip.src, ip.dst), v4_addrs());
        assert_eq!(ip.payload.data, b"hello");
        assert_eq!(ip.payload.missing, 0);
    }

    #[test]
    fn ipv4_options_respected() {
        let opts = [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]; // router alert, NOPs, EOL
        let mut p = v4_header(6, &opts, 3, 0);
        assert_eq!(p.len(), 28);
        p.extend_from_slice(b"abc");
        let ip = ipv4(&p).unwrap();
        assert_eq!(ip.payload.data, b"abc");
    }

    #[test]
    fn ipv4_padding_trimmed() {
        let mut p = v4_header(6, &[], 2, 0);
        p.extend_from_slice(b"ab\0\0\0\0");
        assert_eq!(ipv4(&p).unwrap().payload.data, b"ab");
    }

    #[test]
    fn ipv4_snaplen_cut() {
        let mut p = v4_header(6, &[], 1000, 0);
        p.extend_from_slice(&[7; 100]);
        let ip = ipv4(&p).unwrap();
        assert_eq!(ip.payload.data, &[7; 100][..]);
        assert_eq!(ip.payload.missing, 900);
    }

    #[test]
    fn ipv4_total_len_zero_runs_to_frame_end() {
        let mut p = v4_header(6, &[], 0, 0);
        p[2] = 0;
        p[3] = 0;
        p.extend_from_slice(&[1; 30]);
        let ip = ipv4(&p).unwrap();
        assert_eq!(ip.payload.data, &[1; 30][..]);
        assert_eq!(ip.payload.missing, 0);
    }

    #[test]
    fn ipv4_fragments() {
        let mut first = v4_header(6, &[], 8, 0x2000); // MF, offset 0
        first.extend_from_slice(&[0; 8]);
        assert_eq!(ipv4(&first), Err(Skip::IpFragment));
        let mut later = v4_header(6, &[], 8, 0x0001); // offset 8, last
        later.extend_from_slice(&[0; 8]);
        assert_eq!(ipv4(&later), Err(Skip::IpFragment));
    }

    #[test]
    fn ipv4_not_tcp() {
        let mut p = v4_header(1, &[], 8, 0);
        p.extend_from_slice(&[0; 8]);
        assert_eq!(ipv4(&p), Err(Skip::NotTcp));
    }

    #[test]
    fn ipv4_udp_and_its_fragments() {
        let mut p = v4_header(17, &[], 8, 0);
        p.extend_from_slice(&[1; 8]);
        let ip = ipv4(&p).unwrap();
        assert_eq!((ip.upper, ip.payload.data), (Upper::Udp, &[1u8; 8][..]));
        let mut p = v4_header(17, &[], 8, 0x2000);
        p.extend_from_slice(&[1; 8]);
        assert_eq!(ipv4(&p), Err(Skip::IpFragment));
        let mut p = v4_header(1, &[], 8, 0x2000); // ICMP: not worth reassembling
        p.extend_from_slice(&[1; 8]);
        assert_eq!(ipv4(&p), Err(Skip::NotTcp));
    }

    #[test]
    fn ipv4_bad_headers() {
        let mut p = v4_header(6, &[], 0, 0);
        p[0] = 0x44; // IHL 4
        assert_eq!(ipv4(&p), Err(Skip::BadIpHeader));
        let mut p = v4_header(6, &[], 0, 0);
        p[0] = 0x65; // version 6 behind an IPv4 EtherType
        assert_eq!(ipv4(&p), Err(Skip::BadIpHeader));
        let mut p = v4_header(6, &[], 0, 0);
        p[3] = 19; // total length shorter than the header
        assert_eq!(ipv4(&p), Err(Skip::BadIpHeader));
    }

    #[test]
    fn ipv4_truncated() {
        let p = v4_header(6, &[0x01; 8], 0, 0);
        for n in 0..p.len() {
            assert_eq!(ipv4(&p[..n]), Err(Skip::Truncated), "{n} bytes");
        }
    }

    #[test]
    fn ipv6_plain_trimmed_and_cut() {
        let mut p = v6_header(6, 4);
        p.extend_from_slice(b"abcdXX");
        let ip = ipv6(&p).unwrap();
        assert_eq!(ip.src, "fd00::1".parse::<IpAddr>().unwrap());
        assert_eq!(ip.dst, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!((ip.payload.data, ip.payload.missing), (&b"abcd"[..], 0));
        let mut p = v6_header(6, 1400);
        p.extend_from_slice(&[3; 60]);
        let ip = ipv6(&p).unwrap();
        assert_eq!(
            (ip.payload.data, ip.payload.missing),
            (&[3u8; 60][..], 1340)
        );
    }

    /// Hop-by-hop (8 bytes) then destination options (16 bytes) then TCP.
    pub fn v6_with_options(body: &[u8]) -> Vec<u8> {
        let mut p = v6_header(0, 24 + body.len());
        p.extend_from_slice(&[60, 0, 0x01, 0x04, 0, 0, 0, 0]); // PadN
        p.extend_from_slice(&[6, 1, 0x01, 0x0c]);
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn ipv6_extension_headers() {
        let p = v6_with_options(b"tcp!");
        let ip = ipv6(&p).unwrap();
        assert_eq!((ip.payload.data, ip.payload.missing), (&b"tcp!"[..], 0));
    }

    #[test]
    fn ipv6_extension_truncated_or_bad() {
        let p = v6_with_options(b"");
        for n in 0..p.len() {
            assert_eq!(ipv6(&p[..n]), Err(Skip::Truncated), "{n} bytes");
        }
        // Destination options longer than the declared payload.
        let mut p = v6_with_options(b"");
        p[49] = 5;
        assert_eq!(ipv6(&p), Err(Skip::BadIpHeader));
    }

    fn v6_fragment(offset_flags: u16) -> Vec<u8> {
        let mut p = v6_header(44, 8 + 4);
        p.extend_from_slice(&[6, 0]);
        p.extend_from_slice(&offset_flags.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 9]);
        p.extend_from_slice(b"data");
        p
    }

    #[test]
    fn ipv6_fragments() {
        assert_eq!(ipv6(&v6_fragment(0x0001)), Err(Skip::IpFragment)); // first, M set
        assert_eq!(ipv6(&v6_fragment(0x0008)), Err(Skip::IpFragment)); // offset 1, last
        let atomic = v6_fragment(0x0000);
        assert_eq!(ipv6(&atomic).unwrap().payload.data, b"data");
    }

    #[test]
    fn ipv6_auth_header() {
        let mut p = v6_header(51, 12 + 2);
        p.extend_from_slice(&[6, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        p.extend_from_slice(b"ok");
        assert_eq!(ipv6(&p).unwrap().payload.data, b"ok");
        p[41] = 0; // AH payload length 0 is malformed
        assert_eq!(ipv6(&p), Err(Skip::BadIpHeader));
    }

    #[test]
    fn ipv6_not_tcp() {
        assert_eq!(ipv6(&v6_header(59, 0)), Err(Skip::NotTcp)); // No Next Header
        assert_eq!(ipv6(&v6_header(58, 0)), Err(Skip::NotTcp)); // ICMPv6
        assert_eq!(ipv6(&v6_header(50, 0)), Err(Skip::NotTcp)); // ESP
    }

    #[test]
    fn ipv6_udp_after_extension_headers() {
        let mut p = v6_with_options(b"udp!");
        p[48] = 17; // destination options -> UDP
        let ip = ipv6(&p).unwrap();
        assert_eq!((ip.upper, ip.payload.data), (Upper::Udp, &b"udp!"[..]));
        assert_eq!(ipv6(&v6_header(6, 0)).unwrap().upper, Upper::Tcp);
    }

    #[test]
    fn ipv6_bad_and_truncated() {
        let mut p = v6_header(6, 0);
        p[0] = 0x40;
        assert_eq!(ipv6(&p), Err(Skip::BadIpHeader));
        let p = v6_header(6, 0);
        for n in 0..40 {
            assert_eq!(ipv6(&p[..n]), Err(Skip::Truncated), "{n} bytes");
        }
    }

    #[test]
    fn ipv6_extension_chain_is_bounded() {
        let n = MAX_IPV6_EXT_HEADERS + 1;
        let mut p = v6_header(60, n * 8);
        for _ in 0..n {
            p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(ipv6(&p), Err(Skip::BadIpHeader));
    }
}
