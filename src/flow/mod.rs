//! TCP flows: segments grouped by connection, each direction reassembled into a bounded prefix of
//! its byte stream (what classification needs); everything past the prefix is only counted.
//!
//! [`FlowTable`] takes segments one at a time. Flows are keyed by both endpoints regardless of
//! direction; a SYN with a new initial sequence number on a key whose connection has ended starts
//! a new flow (port reuse). The table holds open flows and small tombstones of ended ones:
//! [`FlowTable::drain_closed`] hands back the flows that are over, [`FlowTable::drain_tails`]
//! the late segments counted on them afterwards ([`FlowTail`], see [`FlowTable`] for the life of
//! a flow), and [`FlowTable::finish_with_tails`] the rest. For parallel runs, [`FlowTable::shard_of`] routes every segment
//! of a connection to the same table and [`merge_flows`] puts the outputs back in first-frame
//! order, so the result is the same for any number of tables.

// No panics on hostile input: library code may not unwrap, expect, panic or index unchecked
// (tests may).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod framing;
mod key;
mod reassembly;
mod receiver;
mod seq;
mod table;
#[cfg(test)]
mod testkit;
pub mod udp;

pub use framing::FramingEnd;
pub use receiver::Ignored;
pub use table::{apply_tails, merge_flows, FlowTable, Leftover, TableCounters};

use crate::decode::Endpoint;

/// Bounds on what the flow table keeps.
#[derive(Debug, Clone)]
pub struct FlowLimits {
    /// Bytes of each direction's stream that are buffered for classification.
    pub prefix_bytes: usize,
    /// How long (capture time, counted from the flow's last segment) a flow that has ended (FIN
    /// both ways, or a RST) still counts late segments (last ACK, retransmitted FIN, RST
    /// answers) before a segment on its key starts a new flow. A SYN with a new initial sequence
    /// number always starts one. Default 60 s, like TCP's TIME-WAIT.
    pub close_linger_nanos: i64,
    /// A segment arriving after this much silence (capture time) on a flow starts a new flow;
    /// `None` (the default, as tshark does) never splits a flow for silence. Setting it bounds
    /// the memory held by connections whose end is not in the capture.
    pub idle_timeout_nanos: Option<i64>,
    /// Most keys (open flows and the small tombstones of ended ones) one table holds. When a new
    /// connection would exceed it, the oldest tombstone is dropped, else the least recently
    /// active open flow is handed out early with the bytes it has (a later segment on its key is
    /// only counted, or starts a new flow after the close linger). Default 1,000,000 (about
    /// 600 MiB of table at worst). Hitting it is counted in [`TableCounters`].
    pub max_flows: usize,
    /// Most bytes the open flows of one table buffer in total (stream prefixes, out-of-order
    /// data, frame maps). Over it, the least recently active open flows are handed out early, as
    /// for `max_flows`. Default 512 MiB. Hitting it is counted in [`TableCounters`].
    ///
    /// Both bounds keep memory flat only for a caller that drains the table
    /// ([`FlowTable::drain_closed`]): flows handed out stay in the table until drained.
    pub max_buffered_bytes: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            prefix_bytes: 64 * 1024,
            close_linger_nanos: 60_000_000_000,
            idle_timeout_nanos: None,
            max_flows: 1_000_000,
            max_buffered_bytes: 512 << 20,
        }
    }
}

/// Segments counted on a flow after [`FlowTable::drain_closed`] handed it out: the last ACK, a
/// retransmitted FIN, RSTs after the close. They change only packet counts, the last frame and
/// time, and FIN/RST frames. [`FlowTable::drain_tails`] and [`FlowTable::finish_with_tails`] return
/// them; apply each to the flow (or to what was kept of it) with the same `first_frame`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTail {
    pub first_frame: u64,
    /// The flow's `a` when it was handed out: index 0 of the arrays below is `a` → `b`.
    pub a: Endpoint,
    pub packets: [u64; 2],
    pub last_frame: u64,
    pub last_ts: i64,
    /// First late FIN and RST in each direction.
    pub fin_frame: [Option<u64>; 2],
    pub rst_frame: [Option<u64>; 2],
    pub loopback_if: bool,
}

impl FlowTail {
    /// Adds the late segments to `flow` (which may have been swapped since it was handed out).
    pub fn apply(&self, flow: &mut Flow) {
        let order = if flow.a == self.a { [0, 1] } else { [1, 0] };
        let late = self
            .packets
            .iter()
            .zip(&self.fin_frame)
            .zip(&self.rst_frame);
        for (&d, ((&packets, &fin), &rst)) in order.iter().zip(late) {
            let Some(dir) = flow.dir.get_mut(d) else {
                continue;
            };
            dir.packets += packets;
            dir.fin_frame = dir.fin_frame.or(fin);
            dir.rst_frame = dir.rst_frame.or(rst);
        }
        flow.last_frame = flow.last_frame.max(self.last_frame);
        flow.last_ts = flow.last_ts.max(self.last_ts);
        flow.loopback_if |= self.loopback_if;
    }
}

/// How the flow's client was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBy {
    /// `a` sent the SYN (or `b` sent the SYN-ACK).
    Syn,
    /// No handshake seen: `a` is merely the sender of the first packet. The classifier may swap
    /// the flow once the bytes tell who the client is.
    FirstSeen,
    /// Decided from the bytes (ClientHello or request sender).
    Bytes,
    /// Decided from the port numbers (the lower, well-known port is the server's).
    Port,
}

impl ClientBy {
    /// How the report names it: `syn`, `bytes` or `port` (a flow whose first packet was taken
    /// for the client's is reported as decided by its ports).
    pub fn name(self) -> &'static str {
        match self {
            ClientBy::Syn => "syn",
            ClientBy::Bytes => "bytes",
            ClientBy::Port | ClientBy::FirstSeen => "port",
        }
    }
}

impl serde::Serialize for ClientBy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One TCP connection. `a` is the client when known (see [`ClientBy`]).
#[derive(Debug, Clone)]
pub struct Flow {
    pub a: Endpoint,
    pub b: Endpoint,
    pub client_by: ClientBy,
    /// `dir[0]` is `a` → `b`, `dir[1]` is `b` → `a`.
    pub dir: [Direction; 2],
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub syn_seen: bool,
    /// Some packet of the flow came from a loopback interface (link layer says so).
    pub loopback_if: bool,
    /// The flow carries data that came on its addresses and ports after an earlier flow there
    /// had ended (a RST or FINs a receiver may have ignored, or a flow handed out early).
    pub reopens: Option<Reopened>,
}

/// The earlier flow on the same addresses and ports, after whose end this flow's bytes came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reopened {
    /// First frame of the earlier flow.
    pub after: u64,
    /// The RST that ended it, else `None` (FINs both ways).
    pub rst_frame: Option<u64>,
}

impl Flow {
    /// Exchanges the roles of `a` and `b` (used when the bytes reveal the client).
    pub fn swap(&mut self) {
        std::mem::swap(&mut self.a, &mut self.b);
        self.dir.swap(0, 1);
    }

    /// No payload in either direction.
    pub fn is_empty(&self) -> bool {
        self.dir[0].payload_bytes == 0 && self.dir[1].payload_bytes == 0
    }
}

/// One direction of a flow.
///
/// Counters: `payload_bytes` counts each sequence number once; a segment that repeats bytes
/// already seen (fully or partly) counts in `retransmitted`; a segment bringing new bytes below
/// the highest sequence number already seen (it fills a gap) counts in `out_of_order`; `gaps`
/// counts byte ranges never captured, in the prefix (each also listed in `holes`) or after it.
/// Bytes the snaplen cut off are holes too, counted in `bytes_not_captured`, not in `gaps`.
/// Where segments overlap, the first-received bytes are kept. A RST's payload is not stream
/// data. A direction whose start was not captured begins at its first data segment; a segment
/// reaching back from there is put in front (within the prefix budget, never before a SYN).
#[derive(Debug, Clone, Default)]
pub struct Direction {
    pub packets: u64,
    /// TCP payload bytes on the wire in this direction, retransmissions not counted twice.
    pub payload_bytes: u64,
    /// The reassembled start of the byte stream, at most `FlowLimits::prefix_bytes` long.
    /// Where bytes are missing (a gap that was never filled) the stream continues after the gap
    /// and the offset is listed in `holes`.
    pub stream: Vec<u8>,
    /// `(stream offset, frame number)` for every segment that contributed bytes to `stream`, in
    /// offset order: the frame that carried the byte at a given offset is the last entry whose
    /// offset is <= it.
    pub frames: Vec<(u32, u64)>,
    /// Offsets in `stream` before which bytes are missing (segments never captured).
    pub holes: Vec<u32>,
    /// The stream continued past the buffered prefix.
    pub prefix_full: bool,
    pub syn: bool,
    pub fin_frame: Option<u64>,
    pub rst_frame: Option<u64>,
    /// Frame of the first segment carrying payload.
    pub first_payload_frame: Option<u64>,
    pub gaps: u32,
    pub out_of_order: u32,
    pub retransmitted: u32,
    /// Payload bytes the snaplen cut off.
    pub bytes_not_captured: u64,
    /// What a receiver would not have taken, and segments that disagree: `None` for nearly every
    /// flow.
    pub anomalies: Option<Box<Anomalies>>,
    /// Segments whose TCP checksum was checked (those with SYN, FIN or RST, and data segments
    /// whose bytes went into the prefix: the first few, those reaching back over bytes already
    /// sent, all once one was wrong), and how many were wrong.
    pub checksums_checked: u32,
    pub checksums_bad: u32,
    /// The two most frequent IP TTLs (hop limits) of the direction's segments, with counts,
    /// most frequent first, and the count of segments with yet another one.
    pub ttls: [(u8, u32); 2],
    pub ttls_other: u32,
    /// A stream that began at its SYN with TLS records, whose records could not be followed to
    /// the end where the classifier does not read (past the prefix, or past its first hole):
    /// where the bytes stopped being records and what followed, or where a header's bytes were
    /// missing.
    pub framing_end: Option<Box<FramingEnd>>,
}

/// Most alternate readings kept per direction, and the most bytes each keeps.
pub const MAX_ALTERNATES: usize = 32;
pub const MAX_ALTERNATE_BYTES: usize = 4096;
/// Most marked segments remembered per direction.
pub const MAX_MARKS: usize = 64;

/// What one direction showed that a receiver would not have taken as captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// RST segments a receiver would have dropped (see [`Ignored`]): the flow went on.
    pub ignored_rst: u32,
    /// FIN segments a receiver would have dropped.
    pub ignored_fin: u32,
    /// The first ignored one: its frame and why.
    pub first_ignored: Option<(u64, Ignored)>,
    /// Segments whose bytes overlap bytes already held but differ from them. The first bytes
    /// are kept (as Linux does); the other copy is an alternate reading.
    pub conflicts: u32,
    /// The other copies, at their stream offsets, first conflicts first (at most
    /// [`MAX_ALTERNATES`], each cut to [`MAX_ALTERNATE_BYTES`]).
    pub alternates: Vec<Alternate>,
    /// Conflicting copies not wholly kept: beyond [`MAX_ALTERNATES`], or longer than
    /// [`MAX_ALTERNATE_BYTES`]. The other reading is then incomplete.
    pub unread: u32,
    /// Segments a receiver may not have taken: a wrong checksum, or a TTL other than the
    /// direction's first one (at most [`MAX_MARKS`]).
    pub marks: Vec<Mark>,
}

/// The bytes of a later segment that overlapped kept bytes with other values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternate {
    /// Offset in the direction's stream.
    pub offset: u32,
    pub bytes: Box<[u8]>,
    /// Frame of the segment with these bytes.
    pub frame: u64,
    /// Frame of the segment whose bytes were kept there.
    pub kept_frame: Option<u64>,
}

/// A segment a receiver may not have taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub frame: u64,
    pub bad_checksum: bool,
    pub ttl: Option<u8>,
}

impl Anomalies {
    /// Heap bytes these anomalies hold.
    pub fn heap_bytes(&self) -> usize {
        let alternates = self
            .alternates
            .iter()
            .map(|a| a.bytes.len())
            .fold(0, usize::saturating_add);
        alternates
            .saturating_add(self.alternates.capacity() * std::mem::size_of::<Alternate>())
            .saturating_add(self.marks.capacity() * std::mem::size_of::<Mark>())
            .saturating_add(std::mem::size_of::<Anomalies>())
    }

    /// The mark of the segment in `frame`, if it has one.
    pub fn mark_of(&self, frame: u64) -> Option<&Mark> {
        self.marks.iter().find(|m| m.frame == frame)
    }
}

impl Direction {
    /// The frame that carried the stream byte at `offset`, if it lies in the buffered prefix.
    pub fn frame_at(&self, offset: usize) -> Option<u64> {
        if offset >= self.stream.len() {
            return None;
        }
        let offset = u32::try_from(offset).ok()?;
        let idx = self.frames.partition_point(|&(o, _)| o <= offset);
        idx.checked_sub(1)
            .and_then(|i| self.frames.get(i))
            .map(|&(_, frame)| frame)
    }

    /// The contiguous bytes at the start of the stream (up to the first hole).
    pub fn contiguous(&self) -> &[u8] {
        let end = self
            .holes
            .first()
            .map_or(self.stream.len(), |&h| h as usize);
        self.stream.get(..end).unwrap_or(&self.stream)
    }
}
