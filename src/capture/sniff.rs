//! Recognising an input from its first bytes, and describing inputs that are not captures.

use super::CaptureFormat;

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A capture container: classic pcap (either byte order, micro- or nanosecond) or pcapng.
    Capture(CaptureFormat),
    /// gzip-compressed data (magic `1f 8b`); its content has to be sniffed again.
    Gzip,
}

/// Magic numbers of classic pcap files, as the first four bytes of the file.
const PCAP_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // little-endian, microseconds
    [0x4d, 0x3c, 0xb2, 0xa1], // little-endian, nanoseconds
    [0x34, 0xcd, 0xb2, 0xa1], // little-endian, "modified" (Kuznetzov) format
    [0xa1, 0xb2, 0xc3, 0xd4], // big-endian, microseconds
    [0xa1, 0xb2, 0x3c, 0x4d], // big-endian, nanoseconds
];

/// Block type of a pcapng Section Header Block, the same in both byte orders.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Tells from the first bytes of an input whether it is a pcap file, a pcapng file or gzip data.
///
/// Needs four bytes to recognise a capture and two for gzip; returns `None` for anything else
/// (including inputs too short to tell).
///
/// ```
/// use mtlscan::capture::{sniff_format, CaptureFormat, Sniffed};
///
/// assert_eq!(sniff_format(&[0xd4, 0xc3, 0xb2, 0xa1]), Some(Sniffed::Capture(CaptureFormat::Pcap)));
/// assert_eq!(sniff_format(&[0x1f, 0x8b, 0x08]), Some(Sniffed::Gzip));
/// assert_eq!(sniff_format(b"GET / HTTP/1.1"), None);
/// ```
pub fn sniff_format(first_bytes: &[u8]) -> Option<Sniffed> {
    if first_bytes.starts_with(&[0x1f, 0x8b]) {
        return Some(Sniffed::Gzip);
    }
    let magic: [u8; 4] = first_bytes.get(..4)?.try_into().ok()?;
    if magic == PCAPNG_MAGIC {
        Some(Sniffed::Capture(CaptureFormat::PcapNg))
    } else if PCAP_MAGICS.contains(&magic) {
        Some(Sniffed::Capture(CaptureFormat::Pcap))
    } else {
        None
    }
}

/// Describes the start of an input that is not a capture, for an error message: its first bytes
/// in hex and a guess at what it is, e.g. `bytes 47 45 54 20 (looks like text)`.
pub(crate) fn describe(first_bytes: &[u8]) -> String {
    let shown = first_bytes.get(..8).unwrap_or(first_bytes);
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let hex = hex.join(" ");
    match guess(first_bytes) {
        Some(what) => format!("bytes {hex}, {what}"),
        None => format!("bytes {hex}"),
    }
}

/// A guess at what a non-capture input is, from its first bytes.
fn guess(b: &[u8]) -> Option<&'static str> {
    const KNOWN: [(&[u8], &str); 10] = [
        (
            b"CLIENT_",
            "looks like a TLS key log (give it with --keylog)",
        ),
        (
            b"# SSL/TLS secrets log",
            "looks like a TLS key log (give it with --keylog)",
        ),
        (
            b"SERVER_",
            "looks like a TLS key log (give it with --keylog)",
        ),
        (
            b"PK\x03\x04",
            "looks like a zip archive (extract the capture first)",
        ),
        (b"BZh", "looks like bzip2 data (decompress it first)"),
        (b"\xfd7zXZ\x00", "looks like xz data (decompress it first)"),
        (
            b"\x28\xb5\x2f\xfd",
            "looks like zstd data (decompress it first)",
        ),
        (
            b"snoop\x00\x00\x00",
            "looks like a snoop capture (convert it with editcap -F pcap)",
        ),
        (b"\x7fELF", "looks like a program, not a capture"),
        (b"%PDF", "looks like a PDF document"),
    ];
    if b.is_empty() {
        return None;
    }
    if let Some((_, what)) = KNOWN.iter().find(|(magic, _)| b.starts_with(magic)) {
        return Some(what);
    }
    let sample = b.get(..256).unwrap_or(b);
    let texty = sample
        .iter()
        .all(|&c| c == b'\n' || c == b'\r' || c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80);
    if texty {
        return Some("looks like text");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_pcap_magic_and_pcapng() {
        for magic in PCAP_MAGICS {
            assert_eq!(
                sniff_format(&magic),
                Some(Sniffed::Capture(CaptureFormat::Pcap))
            );
        }
        assert_eq!(
            sniff_format(&[0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0]),
            Some(Sniffed::Capture(CaptureFormat::PcapNg))
        );
        assert_eq!(sniff_format(&[0x1f, 0x8b]), Some(Sniffed::Gzip));
    }

    #[test]
    fn rejects_short_and_unknown_inputs() {
        assert_eq!(sniff_format(&[]), None);
        assert_eq!(sniff_format(&[0xd4, 0xc3, 0xb2]), None);
        assert_eq!(sniff_format(&[0x1f]), None);
        assert_eq!(sniff_format(&[0, 0, 0, 0]), None);
    }

    #[test]
    fn describes_text_binary_and_known_formats() {
        assert_eq!(
            describe(b"GET / HTTP/1.1\r\n"),
            "bytes 47 45 54 20 2f 20 48 54, looks like text"
        );
        assert_eq!(describe(&[0, 1, 2]), "bytes 00 01 02");
        assert_eq!(
            describe(b"CLIENT_RANDOM 00"),
            "bytes 43 4c 49 45 4e 54 5f 52, looks like a TLS key log (give it with --keylog)"
        );
        assert_eq!(
            describe(b"PK\x03\x04\x14\x00"),
            "bytes 50 4b 03 04 14 00, looks like a zip archive (extract the capture first)"
        );
    }
}
