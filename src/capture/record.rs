//! What the pcap and pcapng readers share: the outcome of reading one record, the running tally
//! of a capture, and the limits that keep hostile input from allocating without bound.

use super::{Frame, LinkType};

/// Largest captured length accepted for one packet (the snaplen tcpdump and Wireshark use by
/// default). A record claiming more is treated as corrupt rather than allocated for.
pub(crate) const MAX_CAPLEN: usize = 256 * 1024;

/// Largest pcapng block other than a packet block (section headers, interface descriptions,
/// decryption secrets, unknown blocks). A larger length is taken as corruption.
pub(crate) const MAX_BLOCK: usize = 16 * 1024 * 1024;

/// Largest total of TLS key log text kept from Decryption Secrets Blocks.
pub(crate) const MAX_TLS_SECRETS: usize = 64 * 1024 * 1024;

/// The outcome of reading one record (pcap) or block (pcapng) at the start of a buffer.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// A packet, taking `len` bytes of the buffer. The reader leaves `number` at 0.
    Frame { len: usize, frame: Frame<'a> },
    /// A packet record that cannot be delivered (e.g. it names an undeclared interface).
    Dropped { len: usize },
    /// A record that holds no packet, fully handled.
    Skip { len: usize },
    /// The record is not complete in the buffer: `total` bytes are needed from its start.
    Need(Need),
    /// The record cannot be read; `what` says why, without the byte offset.
    Corrupt { what: String },
}

/// An incomplete record: how much is needed and what it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need {
    /// Bytes needed from the start of the record, when known yet (always > what is there).
    pub total: usize,
    /// The record holds (or may hold) a packet.
    pub packet: bool,
    /// Short name of the record, e.g. `record header`, `Enhanced Packet Block`.
    pub kind: &'static str,
}

/// A capture format's record reader.
pub(crate) trait RecordReader: Sized {
    /// Reads the file header at the start of `buf`; returns the reader and the header length.
    fn open(buf: &[u8], tally: &mut Tally) -> Opened<Self>;

    /// Reads the record at the start of `buf` (never empty).
    fn next<'a>(&mut self, buf: &'a [u8], tally: &mut Tally) -> Step<'a>;

    /// Adds the warnings that summarise the whole capture, once reading has stopped.
    fn finish(&mut self, _tally: &mut Tally) {}
}

/// The outcome of reading a file header.
#[derive(Debug)]
pub(crate) enum Opened<R> {
    Ready {
        reader: R,
        len: usize,
    },
    /// The header is longer than the bytes given: `0` = needed in total.
    Need(usize),
    /// The header is invalid; the text says why.
    Bad(String),
}

/// What reading a capture has found so far, besides its frames.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub packets: u64,
    pub link_types: Vec<LinkType>,
    pub tls_secrets: Vec<u8>,
    /// Bytes of key log text taken so far, within [`MAX_TLS_SECRETS`], kept or not.
    pub tls_secrets_taken: usize,
    /// Key log text is handed to the sink and then forgotten, only its size counting on (for a
    /// second reader of the same capture, whose first reader keeps it).
    pub forget_secrets: bool,
    pub warnings: Vec<String>,
    pub truncated: bool,
    /// Appended to byte offsets in warnings, e.g. ` of the decompressed data`.
    pub offset_note: &'static str,
}

impl Tally {
    /// Records a link type, keeping first-seen order without duplicates.
    pub fn add_link(&mut self, link: LinkType) {
        if !self.link_types.contains(&link) {
            self.link_types.push(link);
        }
    }

    /// Appends TLS key log text, separated by a newline from earlier text, within a bound.
    pub fn add_tls_secrets(&mut self, text: &[u8]) {
        let room = MAX_TLS_SECRETS.saturating_sub(self.tls_secrets_taken);
        if text.len().saturating_add(1) > room {
            self.warnings.push(format!(
                "TLS key log in the capture is larger than {} MiB: the rest was ignored",
                MAX_TLS_SECRETS >> 20
            ));
            return;
        }
        let before = self.tls_secrets.len();
        self.tls_secrets.extend_from_slice(text);
        if !text.ends_with(b"\n") {
            self.tls_secrets.push(b'\n');
        }
        self.tls_secrets_taken = self
            .tls_secrets_taken
            .saturating_add(self.tls_secrets.len().saturating_sub(before));
    }

    /// Notes that the input ends inside the record at `offset`, of which `have` bytes are there.
    pub fn cut(&mut self, offset: u64, have: usize, need: Need) {
        self.truncated = true;
        let note = self.offset_note;
        let complete = self.packets;
        let msg = if need.packet {
            let n = complete.saturating_add(1);
            format!(
                "capture ends inside packet record {n} (at byte {offset}{note}): the last {have} bytes \
                 are an incomplete {}; analysed the {complete} complete packets",
                need.kind
            )
        } else {
            format!(
                "capture ends inside a {} (at byte {offset}{note}): the last {have} bytes are \
                 incomplete; analysed the {complete} complete packets",
                need.kind
            )
        };
        self.warnings.push(msg);
    }

    /// Notes that the record at `offset` is corrupt and reading stopped there.
    pub fn corrupt(&mut self, offset: u64, what: &str) {
        self.truncated = true;
        let note = self.offset_note;
        let complete = self.packets;
        self.warnings.push(format!(
            "capture is damaged at byte {offset}{note}: {what}; stopped reading there and analysed \
             the {complete} packets before it"
        ));
    }
}

/// Reads a `u16` at `at`, big- or little-endian; `None` past the end.
#[inline]
pub(crate) fn u16_at(buf: &[u8], at: usize, big: bool) -> Option<u16> {
    let b: [u8; 2] = buf.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

/// Reads a `u32` at `at`, big- or little-endian; `None` past the end.
#[inline]
pub(crate) fn u32_at(buf: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_inside_packet_names_record_and_counts() {
        let mut t = Tally {
            packets: 1233,
            ..Tally::default()
        };
        t.cut(
            56789,
            321,
            Need {
                total: 400,
                packet: true,
                kind: "pcap record",
            },
        );
        assert!(t.truncated);
        assert_eq!(
            t.warnings,
            ["capture ends inside packet record 1234 (at byte 56789): the last 321 bytes are an \
              incomplete pcap record; analysed the 1233 complete packets"]
        );
    }

    #[test]
    fn secrets_are_newline_separated_and_bounded() {
        let mut t = Tally::default();
        t.add_tls_secrets(b"CLIENT_RANDOM a b");
        t.add_tls_secrets(b"CLIENT_RANDOM c d\n");
        assert_eq!(t.tls_secrets, b"CLIENT_RANDOM a b\nCLIENT_RANDOM c d\n");
        t.add_tls_secrets(&vec![b'x'; MAX_TLS_SECRETS]);
        assert_eq!(t.tls_secrets.len(), 36);
        assert_eq!(t.warnings.len(), 1);
    }

    #[test]
    fn integer_readers_respect_bounds_and_order() {
        let b = [1, 2, 3, 4, 5];
        assert_eq!(u32_at(&b, 0, false), Some(0x0403_0201));
        assert_eq!(u32_at(&b, 1, true), Some(0x0203_0405));
        assert_eq!(u32_at(&b, 2, true), None);
        assert_eq!(u32_at(&b, usize::MAX, true), None);
        assert_eq!(u16_at(&b, 3, true), Some(0x0405));
        assert_eq!(u16_at(&b, 4, true), None);
    }
}
