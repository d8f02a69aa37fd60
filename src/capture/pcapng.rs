//! pcapng: a sequence of sections, each a Section Header Block (which fixes the byte order)
//! followed by Interface Description Blocks and packet blocks that refer to them by index.
//!
//! Block framing (type, length, trailing length) is checked here for every block, so that a
//! corrupt length is caught before anything is read or allocated. Section headers, interface
//! descriptions and decryption secrets are parsed with `pcap-parser`. Packet blocks (Enhanced,
//! Simple and the obsolete Packet Block) are read directly from their fixed fields: that keeps the
//! per-packet path free of allocation (`pcap-parser` collects each block's options into a `Vec`)
//! and covers the obsolete Packet Block, which `pcap-parser` does not know.

use pcap_parser::{
    parse_decryptionsecretsblock_be, parse_decryptionsecretsblock_le,
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock, InterfaceDescriptionBlock, OptionCode,
};

use super::record::{
    u16_at, u32_at, Need, Opened, RecordReader, Step, Tally, MAX_BLOCK, MAX_CAPLEN,
};
use super::{Frame, LinkType};

/// Block types.
const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const DSB: u32 = 10;

/// Byte-order magic of a Section Header Block, as stored by a little-endian writer.
const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];
/// Byte-order magic of a Section Header Block, as stored by a big-endian writer.
const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];

/// Secrets type of a Decryption Secrets Block holding an NSS TLS key log (`TLSK`).
const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;

/// Room for options in a packet block, on top of its captured bytes.
const MAX_PACKET_OPTIONS: usize = 64 * 1024;

/// Most interfaces accepted in one section (each costs a few bytes of memory).
const MAX_INTERFACES: usize = 1 << 16;

/// Smallest block: type, length, trailing length.
const MIN_BLOCK: usize = 12;

/// Reads the blocks of a pcapng file.
#[derive(Debug)]
pub(crate) struct PcapNgReader {
    /// Byte order of the current section.
    big: bool,
    /// Interfaces of the current section, by index.
    interfaces: Vec<Interface>,
    /// Timestamp of the last packet that had one (Simple Packet Blocks have none).
    last_ts: i64,
    /// Packet records naming an interface that was not declared.
    undeclared: u64,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    clock: Clock,
}

/// Converts an interface's raw 64-bit timestamps into nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    /// Exact nanoseconds per unit, when the resolution divides a second into 10^n, n <= 9.
    nanos_per_unit: Option<i64>,
    /// Units per second (used when `nanos_per_unit` is `None`).
    units_per_second: u64,
    /// `if_tsoffset` in nanoseconds.
    offset_nanos: i128,
}

impl Clock {
    /// The default clock: microseconds, no offset.
    const MICROS: Clock = Clock {
        nanos_per_unit: Some(1000),
        units_per_second: 1_000_000,
        offset_nanos: 0,
    };

    /// A clock from `if_tsresol` (10^-n seconds, or 2^-n when the top bit is set) and
    /// `if_tsoffset` (seconds); `None` when the resolution does not fit 64 bits.
    fn new(tsresol: u8, tsoffset_secs: i64) -> Option<Clock> {
        let exponent = u32::from(tsresol & 0x7f);
        let (units_per_second, nanos_per_unit) = if tsresol & 0x80 == 0 {
            let units = 10u64.checked_pow(exponent)?;
            let exact = 9u32
                .checked_sub(exponent)
                .and_then(|e| 10i64.checked_pow(e));
            (units, exact)
        } else {
            let units = 1u64.checked_shl(exponent).filter(|_| exponent < 64)?;
            (units, (exponent == 0).then_some(1_000_000_000))
        };
        Some(Clock {
            nanos_per_unit,
            units_per_second,
            offset_nanos: i128::from(tsoffset_secs).saturating_mul(1_000_000_000),
        })
    }

    #[inline]
    fn to_nanos(self, raw: u64) -> i64 {
        let raw = i128::from(raw);
        let nanos = match self.nanos_per_unit {
            Some(per_unit) => raw.saturating_mul(i128::from(per_unit)),
            None => raw
                .saturating_mul(1_000_000_000)
                .checked_div(i128::from(self.units_per_second.max(1)))
                .unwrap_or(0),
        };
        let nanos = nanos.saturating_add(self.offset_nanos);
        i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
    }
}

impl RecordReader for PcapNgReader {
    fn open(buf: &[u8], tally: &mut Tally) -> Opened<Self> {
        let mut reader = PcapNgReader {
            big: false,
            interfaces: Vec::new(),
            last_ts: 0,
            undeclared: 0,
        };
        match reader.section(buf, tally) {
            Step::Skip { len } => Opened::Ready { reader, len },
            Step::Need(need) => Opened::Need(need.total),
            Step::Corrupt { what } => Opened::Bad(what),
            Step::Frame { .. } | Step::Dropped { .. } => Opened::Bad("not a section header".into()),
        }
    }

    #[inline]
    fn next<'a>(&mut self, buf: &'a [u8], tally: &mut Tally) -> Step<'a> {
        if buf.len() < MIN_BLOCK {
            return Step::Need(Need {
                total: MIN_BLOCK,
                packet: false,
                kind: "block header",
            });
        }
        if u32_at(buf, 0, false) == Some(SHB) {
            return self.section(buf, tally);
        }
        let big = self.big;
        let (Some(block_type), Some(len)) = (u32_at(buf, 0, big), u32_at(buf, 4, big)) else {
            return Step::Corrupt {
                what: "unreadable block header".into(),
            };
        };
        let kind = block_name(block_type);
        let packet = matches!(block_type, EPB | SPB | PB);
        let limit = if packet {
            MAX_CAPLEN + MAX_PACKET_OPTIONS
        } else {
            MAX_BLOCK
        };
        let len = len as usize;
        if len < MIN_BLOCK || len % 4 != 0 || len > limit {
            return Step::Corrupt {
                what: format!(
                    "{kind} (type 0x{block_type:08x}) has an invalid length of {len} bytes"
                ),
            };
        }
        let Some(block) = buf.get(..len) else {
            return Step::Need(Need {
                total: len,
                packet,
                kind,
            });
        };
        let trailer = u32_at(block, len.saturating_sub(4), big);
        if trailer != Some(len as u32) {
            return Step::Corrupt {
                what: format!(
                    "{kind} of {len} bytes ends with a different length ({})",
                    trailer.unwrap_or(0)
                ),
            };
        }
        // Between the 8-byte header and the 4-byte trailing length.
        let body = block.get(8..len.saturating_sub(4)).unwrap_or_default();
        match block_type {
            EPB => self.enhanced(body, len),
            PB => self.obsolete(body, len),
            SPB => self.simple(body, len),
            IDB => self.interface(block, tally),
            DSB => self.secrets(block, tally),
            _ => Step::Skip { len },
        }
    }

    fn finish(&mut self, tally: &mut Tally) {
        if self.undeclared > 0 {
            tally.warnings.push(format!(
                "{} packet records name an interface that no Interface Description Block declared; \
                 they were skipped",
                self.undeclared
            ));
        }
    }
}

impl PcapNgReader {
    /// A Section Header Block: fixes the byte order and forgets the previous interfaces.
    fn section<'a>(&mut self, buf: &'a [u8], _tally: &mut Tally) -> Step<'a> {
        const KIND: &str = "Section Header Block";
        let big = match buf.get(8..12) {
            None => {
                return Step::Need(Need {
                    total: MIN_BLOCK,
                    packet: false,
                    kind: KIND,
                })
            }
            Some(bom) if bom == BOM_LE => false,
            Some(bom) if bom == BOM_BE => true,
            Some(bom) => {
                return Step::Corrupt {
                    what: format!(
                        "{KIND} with an unknown byte-order magic {}",
                        bom.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                }
            }
        };
        let len = u32_at(buf, 4, big).unwrap_or(0) as usize;
        if len < 28 || len % 4 != 0 || len > MAX_BLOCK {
            return Step::Corrupt {
                what: format!("{KIND} has an invalid length of {len} bytes"),
            };
        }
        let Some(block) = buf.get(..len) else {
            return Step::Need(Need {
                total: len,
                packet: false,
                kind: KIND,
            });
        };
        if u32_at(block, len.saturating_sub(4), big) != Some(len as u32) {
            return Step::Corrupt {
                what: format!("{KIND} of {len} bytes ends with a different length"),
            };
        }
        match parse_sectionheaderblock(block) {
            Ok((_, shb)) if shb.major_version == 1 => {
                self.big = big;
                self.interfaces.clear();
                Step::Skip { len }
            }
            Ok((_, shb)) => Step::Corrupt {
                what: format!(
                    "pcapng version {}.{} is not supported (only 1.x)",
                    shb.major_version, shb.minor_version
                ),
            },
            Err(_) => Step::Corrupt {
                what: format!("unreadable {KIND}"),
            },
        }
    }

    /// An Interface Description Block: declares the next interface of the section.
    fn interface<'a>(&mut self, block: &[u8], tally: &mut Tally) -> Step<'a> {
        let parsed = if self.big {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let Ok((_, idb)) = parsed else {
            return Step::Corrupt {
                what: "unreadable Interface Description Block".into(),
            };
        };
        if self.interfaces.len() >= MAX_INTERFACES {
            return Step::Corrupt {
                what: format!("more than {MAX_INTERFACES} interfaces in one section"),
            };
        }
        let link = LinkType(u32::try_from(idb.linktype.0).unwrap_or(u32::MAX) & 0xffff);
        tally.add_link(link);
        let clock = match Clock::new(idb.if_tsresol, self.tsoffset(&idb)) {
            Some(clock) => clock,
            None => {
                tally.warnings.push(format!(
                    "interface {} declares an unusable timestamp resolution (if_tsresol 0x{:02x}); \
                     its timestamps were read as microseconds",
                    self.interfaces.len(),
                    idb.if_tsresol
                ));
                Clock::MICROS
            }
        };
        self.interfaces.push(Interface {
            link,
            snaplen: idb.snaplen,
            clock,
        });
        Step::Skip { len: block.len() }
    }

    /// The `if_tsoffset` option in the section's byte order (`pcap-parser` always reads it
    /// little-endian).
    fn tsoffset(&self, idb: &InterfaceDescriptionBlock<'_>) -> i64 {
        idb.options
            .iter()
            .find(|opt| opt.code == OptionCode::IfTsoffset && opt.len == 8)
            .and_then(|opt| <[u8; 8]>::try_from(opt.value().get(..8)?).ok())
            .map_or(0, |b| {
                if self.big {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                }
            })
    }

    /// A Decryption Secrets Block: keeps TLS key logs, skips other secrets.
    fn secrets<'a>(&mut self, block: &[u8], tally: &mut Tally) -> Step<'a> {
        let parsed = if self.big {
            parse_decryptionsecretsblock_be(block)
        } else {
            parse_decryptionsecretsblock_le(block)
        };
        match parsed {
            Ok((_, dsb)) if dsb.secrets_type.0 == SECRETS_TLS_KEY_LOG => {
                let text = dsb.data.get(..dsb.secrets_len as usize).unwrap_or(dsb.data);
                tally.add_tls_secrets(text);
            }
            Ok(_) => {}
            Err(_) => tally
                .warnings
                .push("an unreadable Decryption Secrets Block was skipped".into()),
        }
        Step::Skip { len: block.len() }
    }

    /// An Enhanced Packet Block: interface id, 64-bit timestamp, lengths, packet bytes, options.
    #[inline]
    fn enhanced<'a>(&mut self, body: &'a [u8], len: usize) -> Step<'a> {
        let big = self.big;
        let Some(if_id) = u32_at(body, 0, big) else {
            return too_short("Enhanced Packet Block", len);
        };
        self.timed_packet("Enhanced Packet Block", if_id, body, len)
    }

    /// The obsolete Packet Block: like an Enhanced Packet Block with a 16-bit interface id
    /// followed by a 16-bit drop count.
    fn obsolete<'a>(&mut self, body: &'a [u8], len: usize) -> Step<'a> {
        let Some(if_id) = u16_at(body, 0, self.big) else {
            return too_short("Packet Block", len);
        };
        self.timed_packet("Packet Block", u32::from(if_id), body, len)
    }

    /// The common layout of Enhanced and obsolete Packet Blocks after the interface id.
    #[inline]
    fn timed_packet<'a>(
        &mut self,
        kind: &'static str,
        if_id: u32,
        body: &'a [u8],
        len: usize,
    ) -> Step<'a> {
        let big = self.big;
        let (Some(ts_high), Some(ts_low), Some(caplen), Some(orig_len)) = (
            u32_at(body, 4, big),
            u32_at(body, 8, big),
            u32_at(body, 12, big),
            u32_at(body, 16, big),
        ) else {
            return too_short(kind, len);
        };
        let caplen = caplen as usize;
        if caplen > MAX_CAPLEN {
            return Step::Corrupt {
                what: format!(
                    "{kind} claims {caplen} captured bytes, more than the {MAX_CAPLEN} a packet can hold"
                ),
            };
        }
        let Some(data) = body.get(20..caplen.saturating_add(20)) else {
            return Step::Corrupt {
                what: format!(
                    "{kind} of {len} bytes claims {caplen} captured bytes, more than it holds"
                ),
            };
        };
        let Some(iface) = self.interfaces.get(if_id as usize) else {
            self.undeclared = self.undeclared.saturating_add(1);
            return Step::Dropped { len };
        };
        let ts_nanos = iface
            .clock
            .to_nanos((u64::from(ts_high) << 32) | u64::from(ts_low));
        self.last_ts = ts_nanos;
        Step::Frame {
            len,
            frame: Frame {
                number: 0,
                ts_nanos,
                link: iface.link,
                interface: if_id,
                data,
                orig_len,
            },
        }
    }

    /// A Simple Packet Block: original length and packet bytes, on interface 0, no timestamp
    /// (the frame gets the timestamp of the packet before it).
    fn simple<'a>(&mut self, body: &'a [u8], len: usize) -> Step<'a> {
        let (Some(orig_len), Some(padded)) = (u32_at(body, 0, self.big), body.get(4..)) else {
            return too_short("Simple Packet Block", len);
        };
        let Some(iface) = self.interfaces.first() else {
            self.undeclared = self.undeclared.saturating_add(1);
            return Step::Dropped { len };
        };
        let mut caplen = padded.len().min(orig_len as usize);
        if iface.snaplen > 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Step::Frame {
            len,
            frame: Frame {
                number: 0,
                ts_nanos: self.last_ts,
                link: iface.link,
                interface: 0,
                data: padded.get(..caplen).unwrap_or_default(),
                orig_len,
            },
        }
    }
}

fn too_short<'a>(kind: &str, len: usize) -> Step<'a> {
    Step::Corrupt {
        what: format!("{kind} of {len} bytes is too short for its fields"),
    }
}

fn block_name(block_type: u32) -> &'static str {
    match block_type {
        IDB => "Interface Description Block",
        PB => "Packet Block",
        SPB => "Simple Packet Block",
        4 => "Name Resolution Block",
        5 => "Interface Statistics Block",
        EPB => "Enhanced Packet Block",
        9 => "Systemd Journal Export Block",
        DSB => "Decryption Secrets Block",
        0x0bad | 0x4000_0bad => "Custom Block",
        _ => "block",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::testutil::Ng;

    /// A frame as (interface, link type, timestamp, data, original length).
    type Seen = (u32, LinkType, i64, Vec<u8>, u32);

    /// Reads every block of `bytes`, returning the frames and the tally.
    fn read_all(bytes: &[u8]) -> (Vec<Seen>, Tally) {
        let mut tally = Tally::default();
        let (mut reader, mut pos) = match PcapNgReader::open(bytes, &mut tally) {
            Opened::Ready { reader, len } => (reader, len),
            other => panic!("not opened: {other:?}"),
        };
        let mut frames = Vec::new();
        while pos < bytes.len() {
            match reader.next(&bytes[pos..], &mut tally) {
                Step::Frame { len, frame } => {
                    frames.push((
                        frame.interface,
                        frame.link,
                        frame.ts_nanos,
                        frame.data.to_vec(),
                        frame.orig_len,
                    ));
                    pos += len;
                }
                Step::Dropped { len } | Step::Skip { len } => pos += len,
                other => panic!("at {pos}: {other:?}"),
            }
        }
        reader.finish(&mut tally);
        (frames, tally)
    }

    #[test]
    fn two_interfaces_with_their_own_link_types_and_clocks() {
        for big in [false, true] {
            let bytes = Ng::new(big)
                .shb()
                .idb(1, 0, None, None)
                .idb(276, 0, Some(9), Some(-10))
                .epb(0, 1_500_000_000_123_456, b"first", 5)
                .epb(1, 20_000_000_007, b"second!", 70)
                .bytes();
            let (frames, tally) = read_all(&bytes);
            assert_eq!(
                frames,
                [
                    (
                        0,
                        LinkType::ETHERNET,
                        1_500_000_000_123_456_000,
                        b"first".to_vec(),
                        5
                    ),
                    (
                        1,
                        LinkType::LINUX_SLL2,
                        10_000_000_007,
                        b"second!".to_vec(),
                        70
                    ),
                ],
                "big-endian: {big}"
            );
            assert_eq!(tally.link_types, [LinkType::ETHERNET, LinkType::LINUX_SLL2]);
            assert!(tally.warnings.is_empty());
        }
    }

    #[test]
    fn simple_and_obsolete_packet_blocks() {
        for big in [false, true] {
            let bytes = Ng::new(big)
                .shb()
                .idb(101, 4, None, None)
                .pb(0, 3_000_000, b"old", 3)
                .spb(b"simple", 6)
                .spb(b"ab", 2)
                .bytes();
            let (frames, _) = read_all(&bytes);
            assert_eq!(
                frames,
                [
                    (0, LinkType::RAW, 3_000_000_000, b"old".to_vec(), 3),
                    // snaplen 4 of interface 0 bounds a Simple Packet Block's bytes.
                    (0, LinkType::RAW, 3_000_000_000, b"simp".to_vec(), 6),
                    (0, LinkType::RAW, 3_000_000_000, b"ab".to_vec(), 2),
                ]
            );
        }
    }

    #[test]
    fn sections_reset_interfaces_and_may_change_byte_order() {
        let mut bytes = Ng::new(false)
            .shb()
            .idb(1, 0, None, None)
            .idb(113, 0, None, None)
            .epb(1, 1, b"a", 1)
            .bytes();
        bytes.extend(
            Ng::new(true)
                .shb()
                .idb(229, 0, None, None)
                .epb(0, 2, b"b", 1)
                .epb(1, 3, b"c", 1)
                .bytes(),
        );
        let (frames, tally) = read_all(&bytes);
        assert_eq!(
            frames,
            [
                (1, LinkType::LINUX_SLL, 1000, b"a".to_vec(), 1),
                (0, LinkType::IPV6, 2000, b"b".to_vec(), 1),
            ]
        );
        assert_eq!(
            tally.link_types,
            [LinkType::ETHERNET, LinkType::LINUX_SLL, LinkType::IPV6]
        );
        assert_eq!(
            tally.warnings,
            [
                "1 packet records name an interface that no Interface Description Block declared; \
              they were skipped"
            ]
        );
    }

    #[test]
    fn decryption_secrets_keep_tls_key_logs_only() {
        let bytes = Ng::new(true)
            .shb()
            .dsb(SECRETS_TLS_KEY_LOG, b"CLIENT_RANDOM 01 02")
            .dsb(0x5747_4b4c, b"wireguard")
            .dsb(
                SECRETS_TLS_KEY_LOG,
                b"CLIENT_HANDSHAKE_TRAFFIC_SECRET 03 04\n",
            )
            .custom(0x0bad, b"custom data")
            .bytes();
        let (frames, tally) = read_all(&bytes);
        assert!(frames.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&tally.tls_secrets),
            "CLIENT_RANDOM 01 02\nCLIENT_HANDSHAKE_TRAFFIC_SECRET 03 04\n"
        );
    }

    #[test]
    fn clocks_follow_tsresol_and_tsoffset() {
        assert_eq!(Clock::new(6, 0), Some(Clock::MICROS));
        assert_eq!(Clock::new(9, 0).map(|c| c.to_nanos(5)), Some(5));
        assert_eq!(Clock::new(3, 2).map(|c| c.to_nanos(5)), Some(2_005_000_000));
        // 10^-12 (picoseconds), and 2^-10 (1/1024 s).
        assert_eq!(Clock::new(12, 0).map(|c| c.to_nanos(7_000_000)), Some(7000));
        assert_eq!(
            Clock::new(0x8a, 0).map(|c| c.to_nanos(1024 + 512)),
            Some(1_500_000_000)
        );
        assert_eq!(
            Clock::new(0x80, 0).map(|c| c.to_nanos(3)),
            Some(3_000_000_000)
        );
        assert_eq!(Clock::new(20, 0), None);
        assert_eq!(Clock::new(0xc0, 0), None);
        assert_eq!(
            Clock::new(0, 0).map(|c| c.to_nanos(u64::MAX)),
            Some(i64::MAX)
        );
        assert_eq!(
            Clock::new(0, i64::MIN).map(|c| c.to_nanos(0)),
            Some(i64::MIN)
        );
    }

    #[test]
    fn bad_resolution_warns_and_falls_back_to_microseconds() {
        let bytes = Ng::new(false)
            .shb()
            .idb(1, 0, Some(30), None)
            .epb(0, 5, b"x", 1)
            .bytes();
        let (frames, tally) = read_all(&bytes);
        assert_eq!(frames[0].2, 5000);
        assert_eq!(tally.warnings.len(), 1);
    }

    #[test]
    fn corrupt_lengths_and_absurd_caplen_are_reported() {
        let good = Ng::new(false).shb().idb(1, 0, None, None).bytes();
        let cases: [(Vec<u8>, &str); 5] = [
            (
                Ng::new(false).raw_block(EPB, 0xffff_fff0, &[]).bytes(),
                "Enhanced Packet Block (type 0x00000006) has an invalid length of 4294967280 bytes",
            ),
            (
                Ng::new(false).raw_block(4, 14, &[]).bytes(),
                "Name Resolution Block (type 0x00000004) has an invalid length of 14 bytes",
            ),
            (
                Ng::new(false).epb_caplen(0, 1, b"abcd", 300_000).bytes(),
                "Enhanced Packet Block claims 300000 captured bytes, more than the 262144 a packet can hold",
            ),
            (
                Ng::new(false).epb_caplen(0, 1, b"abcd", 5).bytes(),
                "Enhanced Packet Block of 36 bytes claims 5 captured bytes, more than it holds",
            ),
            (
                Ng::new(false).trailer_mismatch().bytes(),
                "Interface Statistics Block of 16 bytes ends with a different length (20)",
            ),
        ];
        for (tail, expected) in cases {
            let mut tally = Tally::default();
            let Opened::Ready { mut reader, len } = PcapNgReader::open(&good, &mut tally) else {
                panic!("open");
            };
            let mut pos = len;
            while pos < good.len() {
                match reader.next(&good[pos..], &mut tally) {
                    Step::Skip { len } => pos += len,
                    other => panic!("{other:?}"),
                }
            }
            match reader.next(&tail, &mut tally) {
                Step::Corrupt { what } => assert_eq!(what, expected),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn incomplete_blocks_ask_for_their_full_length() {
        let bytes = Ng::new(false)
            .shb()
            .idb(1, 0, None, None)
            .epb(0, 1, b"0123456789", 10)
            .bytes();
        let mut tally = Tally::default();
        let Opened::Ready { mut reader, len } = PcapNgReader::open(&bytes, &mut tally) else {
            panic!("open");
        };
        let idb_len = 20;
        let epb = &bytes[len + idb_len..];
        assert!(matches!(
            reader.next(&bytes[len..], &mut tally),
            Step::Skip { len: 20 }
        ));
        match reader.next(&epb[..epb.len() - 1], &mut tally) {
            Step::Need(n) => {
                assert_eq!(
                    (n.total, n.packet, n.kind),
                    (44, true, "Enhanced Packet Block")
                )
            }
            other => panic!("{other:?}"),
        }
        match reader.next(&epb[..5], &mut tally) {
            Step::Need(n) => assert_eq!((n.total, n.kind), (12, "block header")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            PcapNgReader::open(&bytes[..10], &mut tally),
            Opened::Need(12)
        ));
        assert!(matches!(
            PcapNgReader::open(&bytes[..27], &mut tally),
            Opened::Need(28)
        ));
    }

    #[test]
    fn unknown_byte_order_and_version_are_bad_headers() {
        let mut bytes = Ng::new(false).shb().bytes();
        bytes[8] = 0;
        match PcapNgReader::open(&bytes, &mut Tally::default()) {
            Opened::Bad(what) => assert_eq!(
                what,
                "Section Header Block with an unknown byte-order magic 00 3c 2b 1a"
            ),
            other => panic!("{other:?}"),
        }
        let mut bytes = Ng::new(false).shb().bytes();
        bytes[12] = 2;
        match PcapNgReader::open(&bytes, &mut Tally::default()) {
            Opened::Bad(what) => assert_eq!(what, "pcapng version 2.0 is not supported (only 1.x)"),
            other => panic!("{other:?}"),
        }
    }

    /// Key log text met, as a sink sees it: the size and the first bytes of each block.
    #[derive(Default)]
    struct Secrets(Vec<(usize, Vec<u8>)>);

    impl<'a> crate::capture::FrameSink<'a> for Secrets {
        fn frame(&mut self, _frame: &Frame<'a>) {}

        fn tls_secrets(&mut self, text: &[u8]) {
            self.0
                .push((text.len(), text.iter().take(8).copied().collect()));
        }
    }

    /// A reader that forgets key log text once its sink has it is handed the same blocks, within
    /// the same bound, as one that keeps it.
    #[test]
    fn forgetting_secrets_keeps_their_bound() {
        // Blocks of 15 MiB (under the block size bound): the fifth is over the 64 MiB bound.
        let block = vec![b'a'; 15 << 20];
        let mut ng = Ng::new(false).shb();
        for _ in 0..5 {
            ng = ng.dsb(SECRETS_TLS_KEY_LOG, &block);
        }
        let bytes = ng.dsb(SECRETS_TLS_KEY_LOG, b"CLIENT_RANDOM 01 02").bytes();
        let read = |forget: bool| {
            let mut tally = Tally {
                forget_secrets: forget,
                ..Tally::default()
            };
            let mut sink = Secrets::default();
            crate::capture::driver::drive_slice::<PcapNgReader, _>(&bytes, &mut tally, &mut sink)
                .unwrap();
            (sink.0, tally)
        };
        let (kept, kept_tally) = read(false);
        let (forgotten, forgot_tally) = read(true);
        assert_eq!(kept.len(), 5, "the fifth large block is over the bound");
        assert_eq!(kept, forgotten);
        assert_eq!(kept_tally.warnings, forgot_tally.warnings);
        assert_eq!(kept_tally.tls_secrets.len(), 4 * (block.len() + 1) + 20);
        assert!(forgot_tally.tls_secrets.is_empty());
    }
}
