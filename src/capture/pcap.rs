//! Classic pcap: a 24-byte file header, then records of a 16-byte header and the packet bytes.
//! Both byte orders, microsecond and nanosecond timestamps, and the "modified" variant with
//! 24-byte record headers. Parsing is done by `pcap-parser`'s slice parsers.

use pcap_parser::nom;
use pcap_parser::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock, PcapError,
};

use super::record::{u32_at, Need, Opened, RecordReader, Step, Tally, MAX_CAPLEN};
use super::{Frame, LinkType};

/// Length of the classic pcap file header.
pub(crate) const HEADER_LEN: usize = 24;

/// The lower 16 bits of the header's link type field hold the link type; the upper bits may
/// carry FCS information.
const LINKTYPE_MASK: u32 = 0xffff;

/// Reads the records of a classic pcap file.
#[derive(Debug)]
pub(crate) struct PcapReader {
    layout: Layout,
    /// Nanoseconds per unit of the fractional timestamp (1000 for µs files, 1 for ns files).
    frac_nanos: i64,
    link: LinkType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Little,
    Big,
    /// Kuznetzov's patched libpcap: little-endian, 24-byte record headers.
    Modified,
}

impl Layout {
    fn record_header_len(self) -> usize {
        match self {
            Layout::Modified => 24,
            Layout::Little | Layout::Big => 16,
        }
    }
}

impl RecordReader for PcapReader {
    fn open(buf: &[u8], tally: &mut Tally) -> Opened<Self> {
        if buf.len() < HEADER_LEN {
            return Opened::Need(HEADER_LEN);
        }
        let header = match parse_pcap_header(buf) {
            Ok((_, header)) => header,
            Err(_) => return Opened::Bad("pcap file header is not recognised".into()),
        };
        let layout = if header.is_modified_format() {
            Layout::Modified
        } else if header.is_bigendian() {
            Layout::Big
        } else {
            Layout::Little
        };
        // The link type is a u32 on disk; pcap-parser hands it over as an i32.
        let link = LinkType(u32::from_ne_bytes(header.network.0.to_ne_bytes()) & LINKTYPE_MASK);
        tally.add_link(link);
        let reader = PcapReader {
            layout,
            frac_nanos: if header.is_nanosecond_precision() {
                1
            } else {
                1000
            },
            link,
        };
        Opened::Ready {
            reader,
            len: HEADER_LEN,
        }
    }

    #[inline]
    fn next<'a>(&mut self, buf: &'a [u8], _tally: &mut Tally) -> Step<'a> {
        let parsed = match self.layout {
            Layout::Little => parse_pcap_frame(buf),
            Layout::Big => parse_pcap_frame_be(buf),
            Layout::Modified => parse_pcap_frame_modified(buf),
        };
        let header_len = self.layout.record_header_len();
        match parsed {
            Ok((rest, block)) => {
                if block.caplen as usize > MAX_CAPLEN {
                    return Step::Corrupt {
                        what: absurd_caplen(block.caplen),
                    };
                }
                Step::Frame {
                    len: buf.len().saturating_sub(rest.len()),
                    frame: self.frame(&block),
                }
            }
            Err(nom::Err::Incomplete(_)) => {
                // pcap-parser reads the header first: with it present, the packet bytes are short.
                let caplen = u32_at(buf, 8, self.layout == Layout::Big);
                match caplen {
                    Some(caplen) if caplen as usize > MAX_CAPLEN => Step::Corrupt {
                        what: absurd_caplen(caplen),
                    },
                    Some(caplen) => Step::Need(Need {
                        total: header_len.saturating_add(caplen as usize),
                        packet: true,
                        kind: "record",
                    }),
                    None => Step::Need(Need {
                        total: header_len,
                        packet: true,
                        kind: "record header",
                    }),
                }
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Step::Corrupt {
                what: format!("unreadable pcap record ({})", describe_error(&e)),
            },
        }
    }
}

impl PcapReader {
    #[inline]
    fn frame<'a>(&self, block: &LegacyPcapBlock<'a>) -> Frame<'a> {
        let ts_nanos = i64::from(block.ts_sec)
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(block.ts_usec).saturating_mul(self.frac_nanos));
        Frame {
            number: 0,
            ts_nanos,
            link: self.link,
            interface: 0,
            data: block.data,
            orig_len: block.origlen,
        }
    }
}

fn absurd_caplen(caplen: u32) -> String {
    format!(
        "a pcap record claims {caplen} captured bytes, more than the {MAX_CAPLEN} a packet can hold"
    )
}

fn describe_error(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("{kind:?}")
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::testutil::{pcap_file, PcapOpts};

    fn open(bytes: &[u8]) -> (PcapReader, usize, Tally) {
        let mut tally = Tally::default();
        match PcapReader::open(bytes, &mut tally) {
            Opened::Ready { reader, len } => (reader, len, tally),
            other => panic!("not opened: {other:?}"),
        }
    }

    #[test]
    fn reads_little_endian_microsecond_records() {
        let file = pcap_file(PcapOpts::default(), &[(10, 20, b"abc", 60)]);
        let (mut r, len, mut tally) = open(&file);
        assert_eq!(len, 24);
        assert_eq!(tally.link_types, [LinkType::ETHERNET]);
        match r.next(&file[24..], &mut tally) {
            Step::Frame { len, frame } => {
                assert_eq!(len, 19);
                assert_eq!(frame.ts_nanos, 10_000_020_000);
                assert_eq!(frame.data, b"abc");
                assert_eq!(frame.orig_len, 60);
                assert_eq!(frame.link, LinkType::ETHERNET);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_big_endian_nanosecond_records() {
        let opts = PcapOpts {
            big: true,
            nanos: true,
            link: 276,
        };
        let file = pcap_file(opts, &[(1_700_000_000, 999_999_999, b"xy", 2)]);
        let (mut r, _, mut tally) = open(&file);
        assert_eq!(tally.link_types, [LinkType::LINUX_SLL2]);
        match r.next(&file[24..], &mut tally) {
            Step::Frame { frame, .. } => {
                assert_eq!(frame.ts_nanos, 1_700_000_000_999_999_999);
                assert_eq!(frame.data, b"xy");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn incomplete_header_and_record_ask_for_more() {
        let file = pcap_file(PcapOpts::default(), &[(1, 2, b"abcdef", 6)]);
        assert!(matches!(
            PcapReader::open(&file[..20], &mut Tally::default()),
            Opened::Need(24)
        ));
        let (mut r, _, mut tally) = open(&file);
        match r.next(&file[24..34], &mut tally) {
            Step::Need(n) => assert_eq!((n.total, n.kind), (16, "record header")),
            other => panic!("{other:?}"),
        }
        match r.next(&file[24..42], &mut tally) {
            Step::Need(n) => assert_eq!((n.total, n.kind, n.packet), (22, "record", true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absurd_caplen_is_corrupt_even_when_incomplete() {
        let mut file = pcap_file(PcapOpts::default(), &[(1, 2, b"abcdef", 6)]);
        file[32..36].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let (mut r, _, mut tally) = open(&file);
        match r.next(&file[24..], &mut tally) {
            Step::Corrupt { what } => assert_eq!(
                what,
                "a pcap record claims 2147483647 captured bytes, more than the 262144 a packet can hold"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn link_type_fcs_bits_are_masked() {
        let opts = PcapOpts {
            link: 0x1000_0001,
            ..PcapOpts::default()
        };
        let (_, _, tally) = open(&pcap_file(opts, &[]));
        assert_eq!(tally.link_types, [LinkType::ETHERNET]);
    }
}
