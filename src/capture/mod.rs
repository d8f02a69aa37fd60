//! Capture files: classic pcap and pcapng (optionally gzip-compressed), read from a memory map or
//! a stream, handed to the caller one [`Frame`] at a time. Frames borrow the input: nothing is
//! copied on the way.
//!
//! ```no_run
//! use mtlscan::capture::{read_capture, Input, ReadOptions};
//!
//! let mut bytes = 0;
//! let info = read_capture(&Input::Path("mtls.pcap".into()), &ReadOptions::default(), |frame| {
//!     bytes += frame.data.len();
//! })?;
//! let sha256 = info.sha256.unwrap_or_default(); // hashed: ReadOptions::hash is on by default
//! println!("{} packets, {bytes} bytes captured, sha256 {sha256}", info.packets);
//! # Ok::<(), mtlscan::capture::CaptureError>(())
//! ```
//!
//! Layout: `source` opens the input (map, file, stdin, gzip) and hashes it; `driver` walks records
//! over a slice or a refilled stream buffer; `pcap` and `pcapng` read one record or block each;
//! `record` holds what they share (steps, limits, the running tally); `sniff` recognises formats.
//!
//! Hostile input is bounded: a packet may hold at most 256 KiB, any other pcapng block 16 MiB, a
//! gzip stream yields at most 16 GiB by default ([`ReadLimits`]); a record beyond those limits
//! ends reading with a warning.

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

mod driver;
mod error;
mod linktype;
mod pcap;
mod pcapng;
mod record;
mod sniff;
mod source;
mod stream_hash;
#[cfg(test)]
mod testutil;

pub use driver::{FrameSink, Frames};
pub use error::CaptureError;
pub use linktype::LinkType;
pub use sniff::{sniff_format, Sniffed};
pub use source::{
    read_capture, read_capture_bytes, read_capture_into, read_capture_limited, read_capture_stream,
    read_stream_into, Input, MappedCapture, ReadLimits, ReadOptions, DEFAULT_MAX_DECOMPRESSED,
};

/// One captured packet, borrowing its bytes from the input.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based frame number in file order, as Wireshark numbers them.
    pub number: u64,
    /// Capture time, nanoseconds since the Unix epoch. A pcapng Simple Packet Block has no
    /// timestamp: its frame gets the timestamp of the packet before it (0 if none).
    pub ts_nanos: i64,
    /// Link-layer header type of the interface that captured the frame.
    pub link: LinkType,
    /// pcapng interface index (0 for classic pcap).
    pub interface: u32,
    /// The captured bytes (may be shorter than `orig_len` when the snaplen cut the packet).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// Container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNg,
}

impl CaptureFormat {
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
    }
}

/// What a capture held, besides its frames.
#[derive(Debug, Clone)]
pub struct CaptureInfo {
    pub format: CaptureFormat,
    /// `Some("gzip")` when the file was compressed.
    pub compression: Option<&'static str>,
    /// Link types of the interfaces, in first-seen order, without duplicates.
    pub link_types: Vec<LinkType>,
    /// Number of packet records read (the last [`Frame::number`]), including records that could
    /// not be delivered (a pcapng packet naming an undeclared interface).
    pub packets: u64,
    /// Size of the input in bytes, as stored (compressed size for a gzip file).
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the input bytes, as stored; `None` when not asked for
    /// ([`ReadOptions::hash`]).
    pub sha256: Option<String>,
    /// The capture ends inside a record (or a block): frames up to the cut were delivered.
    pub truncated: bool,
    /// Human-readable notes about the file (cut records, skipped blocks, ...).
    pub warnings: Vec<String>,
    /// TLS key log text found in pcapng Decryption Secrets Blocks (NSS key log format).
    pub tls_secrets: Vec<u8>,
}
