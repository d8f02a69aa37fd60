//! TCP header: ports, sequence numbers, flags, and the payload after the options.
//!
//! Read by hand from fixed offsets rather than with `etherparse::TcpHeaderSlice`, which needs the
//! whole header, options included: old tcpdump's default snaplen (68 bytes) cuts the options of
//! SYNs, and the flow table needs those SYNs (they say who the client is). Only the fixed
//! 20 bytes must be captured; options are never read.

use super::ip::Payload;
use super::{Skip, TcpFlags};

/// Offsets in the fixed part of the TCP header.
mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    /// Data offset in the high nibble, in 32-bit words.
    pub const DATA_OFFSET: usize = 12;
    /// CWR, ECE, URG, ACK, PSH, RST, SYN, FIN.
    pub const FLAGS: usize = 13;
    /// The receive window the sender advertises.
    pub const WINDOW: usize = 14;
    /// The fixed part of the header (data offset 5).
    pub const MIN_LEN: usize = 20;
}

/// The fields of a TCP header the flow table needs, and the segment's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: Payload<'a>,
}

#[inline(always)]
fn be16(h: &[u8; field::MIN_LEN], at: usize) -> u16 {
    match h.get(at..).and_then(|b| b.first_chunk::<2>()) {
        Some(b) => u16::from_be_bytes(*b),
        None => 0,
    }
}

#[inline(always)]
fn be32(h: &[u8; field::MIN_LEN], at: usize) -> u32 {
    match h.get(at..).and_then(|b| b.first_chunk::<4>()) {
        Some(b) => u32::from_be_bytes(*b),
        None => 0,
    }
}

/// Decodes the TCP segment held in an IP payload. The checksum is never looked at.
///
/// A header whose options the capture cut still yields the segment: its payload is then empty
/// and entirely counted in `payload.missing`.
#[inline]
pub(super) fn decode(segment: Payload<'_>) -> Result<Tcp<'_>, Skip> {
    let Some(h) = segment.data.first_chunk::<{ field::MIN_LEN }>() else {
        return Err(segment.short(field::MIN_LEN, Skip::BadTcpHeader));
    };
    let header_len = usize::from(h[field::DATA_OFFSET] >> 4) * 4;
    if header_len < field::MIN_LEN {
        return Err(Skip::BadTcpHeader);
    }
    let payload = match segment.data.get(header_len..) {
        Some(data) => Payload {
            data,
            missing: segment.missing,
        },
        None => {
            let wire_payload = segment
                .wire_len()
                .checked_sub(header_len)
                .ok_or(Skip::BadTcpHeader)?;
            Payload {
                data: &[],
                missing: u32::try_from(wire_payload).unwrap_or(u32::MAX),
            }
        }
    };
    Ok(Tcp {
        src_port: be16(h, field::SRC_PORT),
        dst_port: be16(h, field::DST_PORT),
        seq: be32(h, field::SEQ),
        ack: be32(h, field::ACK),
        flags: TcpFlags(h[field::FLAGS]),
        payload,
    })
}

/// TCP option kinds read here.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_WINDOW_SCALE: u8 = 3;
/// The largest window scale shift RFC 7323 allows.
const MAX_WINDOW_SCALE: u8 = 14;

/// The window field of a captured TCP header (`None`: not captured).
pub(super) fn window(segment: &[u8]) -> Option<u16> {
    let b = segment.get(field::WINDOW..)?.first_chunk::<2>()?;
    Some(u16::from_be_bytes(*b))
}

/// The window scale option of a captured TCP header (RFC 7323; only SYNs carry it), capped at
/// 14. `None` when absent or not captured.
pub(super) fn window_scale(segment: &[u8]) -> Option<u8> {
    let header_len = usize::from(*segment.get(field::DATA_OFFSET)? >> 4) * 4;
    let mut options = segment.get(field::MIN_LEN..header_len)?;
    while let Some((&kind, rest)) = options.split_first() {
        match kind {
            OPT_END => return None,
            OPT_NOP => options = rest,
            _ => {
                let len = usize::from(*rest.first()?);
                if len < 2 {
                    return None;
                }
                if kind == OPT_WINDOW_SCALE && len == 3 {
                    return rest.get(1).map(|&s| s.min(MAX_WINDOW_SCALE));
                }
                options = options.get(len..)?;
            }
        }
    }
    None
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A TCP header with `options` (a multiple of 4 bytes).
    pub fn tcp_header(flags: u8, options: &[u8]) -> Vec<u8> {
        let words = 5 + options.len() / 4;
        let mut v = vec![0xa9, 0x08, 0x23, 0x78]; // 43272 -> 9080
        v.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        v.extend_from_slice(&0xa0b0_c0d0u32.to_be_bytes());
        v.push((words as u8) << 4);
        v.push(flags);
        v.extend_from_slice(&[0xff, 0xff, 0x12, 0x34, 0, 0]); // bogus checksum
        v.extend_from_slice(options);
        v
    }

    fn full(data: &[u8]) -> Payload<'_> {
        Payload { data, missing: 0 }
    }

    #[test]
    fn window_and_its_scale() {
        // MSS, NOP, window scale 7, NOP, NOP, SACK permitted... (a Linux SYN's options, cut)
        let syn = tcp_header(0x02, &[2, 4, 5, 0xb4, 1, 3, 3, 7]);
        assert_eq!(window(&syn), Some(0xffff));
        assert_eq!(window_scale(&syn), Some(7));
        assert_eq!(window_scale(&tcp_header(0x02, &[1, 3, 3, 20])), Some(14));
        assert_eq!(window_scale(&tcp_header(0x02, &[2, 4, 5, 0xb4])), None);
        assert_eq!(window_scale(&tcp_header(0x02, &[0, 3, 3, 7])), None);
        assert_eq!(window_scale(&tcp_header(0x02, &[9, 0, 3, 7])), None);
        assert_eq!(window_scale(&tcp_header(0x02, &[9, 9, 3, 7])), None);
        // options cut by the snaplen
        let syn = tcp_header(0x02, &[1, 3, 3, 7]);
        assert_eq!(window_scale(&syn[..22]), None);
        assert_eq!(window(&syn[..15]), None);
    }

    #[test]
    fn fields_and_payload() {
        let mut s = tcp_header(0x18, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        s.extend_from_slice(b"GET /");
        let t = decode(full(&s)).unwrap();
        assert_eq!((t.src_port, t.dst_port), (43272, 9080));
        assert_eq!((t.seq, t.ack), (0x0102_0304, 0xa0b0_c0d0));
        assert_eq!(t.flags, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
        assert_eq!(t.payload, full(b"GET /"));
    }

    #[test]
    fn missing_carried_to_payload() {
        let mut s = tcp_header(0x10, &[]);
        s.extend_from_slice(b"ab");
        let t = decode(Payload {
            data: &s,
            missing: 10,
        })
        .unwrap();
        assert_eq!(
            t.payload,
            Payload {
                data: b"ab",
                missing: 10
            }
        );
    }

    #[test]
    fn data_offset_too_small() {
        let mut s = tcp_header(0x02, &[]);
        s[12] = 0x40;
        assert_eq!(decode(full(&s)), Err(Skip::BadTcpHeader));
    }

    #[test]
    fn data_offset_beyond_packet() {
        let mut s = tcp_header(0x02, &[]);
        s[12] = 0xf0; // 60-byte header in a 20-byte segment
        assert_eq!(decode(full(&s)), Err(Skip::BadTcpHeader));
        // A segment shorter than any TCP header, and nothing was cut.
        assert_eq!(decode(full(&s[..12])), Err(Skip::BadTcpHeader));
    }

    #[test]
    fn options_cut_by_capture() {
        // A SYN with 20 bytes of options, captured up to 6 bytes into them, 100 bytes of payload.
        let s = tcp_header(
            0x02,
            &[
                2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
            ],
        );
        let t = decode(Payload {
            data: &s[..26],
            missing: 14 + 100,
        })
        .unwrap();
        assert_eq!((t.src_port, t.dst_port, t.seq), (43272, 9080, 0x0102_0304));
        assert!(t.flags.syn());
        assert_eq!(
            t.payload,
            Payload {
                data: b"",
                missing: 100
            }
        );
    }

    #[test]
    fn truncated_by_capture() {
        let s = tcp_header(0x02, &[2, 4, 5, 0xb4]);
        for n in 0..20 {
            let cut = Payload {
                data: &s[..n],
                missing: (s.len() - n) as u32,
            };
            assert_eq!(decode(cut), Err(Skip::Truncated), "{n} bytes");
        }
    }
}
