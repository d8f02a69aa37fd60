//! TCP header: ports, sequence numbers, flags, and the payload after the options.

use etherparse::err::tcp::HeaderSliceError;
use etherparse::TcpHeaderSlice;

use super::ip::Payload;
use super::{Skip, TcpFlags};

/// Byte 13 of the TCP header holds CWR, ECE, URG, ACK, PSH, RST, SYN, FIN.
const FLAGS: usize = 13;

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

/// Decodes the TCP segment held in an IP payload. The checksum is never looked at.
#[inline]
pub(super) fn decode(segment: Payload<'_>) -> Result<Tcp<'_>, Skip> {
    let header = TcpHeaderSlice::from_slice(segment.data).map_err(|e| match e {
        HeaderSliceError::Len(e) => segment.short(e.required_len, Skip::BadTcpHeader),
        HeaderSliceError::Content(_) => Skip::BadTcpHeader,
    })?;
    let raw = header.slice();
    Ok(Tcp {
        src_port: header.source_port(),
        dst_port: header.destination_port(),
        seq: header.sequence_number(),
        ack: header.acknowledgment_number(),
        flags: TcpFlags(raw.get(FLAGS).copied().unwrap_or(0)),
        payload: Payload {
            data: segment.data.get(raw.len()..).unwrap_or_default(),
            missing: segment.missing,
        },
    })
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
    fn truncated_by_capture() {
        let s = tcp_header(0x02, &[2, 4, 5, 0xb4]);
        for n in 0..s.len() {
            let cut = Payload {
                data: &s[..n],
                missing: (s.len() - n) as u32,
            };
            assert_eq!(decode(cut), Err(Skip::Truncated), "{n} bytes");
        }
    }
}
