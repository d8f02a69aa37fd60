//! TLS record layer over one reassembled direction: a walker that honours the holes of the stream
//! (stops at a hole, then resynchronises on the next plausible chain of records) and handshake
//! message reassembly (one message over several records, several messages in one record).

use std::borrow::Cow;

use crate::flow::Direction;

/// Record content types.
pub(crate) const CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// Length of a record header.
pub(crate) const HEADER_LEN: usize = 5;
/// Largest record body accepted: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows.
pub(crate) const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Records kept per direction (the stream prefix is bounded, this bounds the walk itself).
const MAX_RECORDS: usize = 8192;
/// How far past a hole the walker looks for the next chain of records.
const RESYNC_WINDOW: usize = 32 * 1024;

/// One TLS record, borrowing the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub content_type: u8,
    pub version: u16,
    /// Offset of the header in the direction's stream.
    pub offset: usize,
    /// The 5-byte header (the AEAD additional data in TLS 1.3).
    pub header: &'a [u8],
    pub body: &'a [u8],
    /// Frame that carried the header's first byte.
    pub frame: Option<u64>,
    /// Bytes are missing somewhere before this record (found again after a hole).
    pub after_hole: bool,
}

/// Why a walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkEnd {
    /// Every byte of the stream was consumed by whole records.
    Clean,
    /// The last record is cut by the end of the buffered stream.
    Truncated { offset: usize },
    /// A hole, with no chain of records found after it.
    Hole { offset: usize },
    /// Bytes that are not a TLS record header.
    Garbage { offset: usize },
    /// The record cap was reached.
    TooManyRecords,
}

/// The records of one direction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Walk<'a> {
    pub records: Vec<Record<'a>>,
    pub end: Option<WalkEnd>,
}

/// A record header that a TLS stack could have sent: known content type, SSL 3.0 to TLS 1.3
/// version, length within the protocol limit (zero only for application data).
pub(crate) fn plausible_header(bytes: &[u8]) -> Option<(u8, u16, usize)> {
    let (&ct, &major, &minor, &hi, &lo) = match bytes {
        [a, b, c, d, e, ..] => (a, b, c, d, e),
        _ => return None,
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let ok = (CHANGE_CIPHER_SPEC..=24).contains(&ct)
        && major == 3
        && minor <= 4
        && len <= MAX_RECORD_LEN
        && (len > 0 || ct == APPLICATION_DATA);
    ok.then_some((ct, u16::from_be_bytes([major, minor]), len))
}

/// An SSLv2-compatible ClientHello (2-byte header with the high bit set, message type 1, SSL 2.0
/// to TLS 1.3 version). Returns its total length (header included).
pub(crate) fn sslv2_client_hello_len(bytes: &[u8]) -> Option<usize> {
    let (&h0, &h1, &msg, &major, &minor) = match bytes {
        [a, b, c, d, e, ..] => (a, b, c, d, e),
        _ => return None,
    };
    if h0 & 0x80 == 0 || msg != 1 {
        return None;
    }
    let version_ok = (major == 0 && minor == 2) || (major == 3 && minor <= 4);
    let len = usize::from(u16::from_be_bytes([h0 & 0x7f, h1]));
    (version_ok && len >= 9).then_some(len.saturating_add(2))
}

/// An SSLv2 ServerHello (message type 4). Returns its total length.
pub(crate) fn sslv2_server_hello_len(bytes: &[u8]) -> Option<usize> {
    let (&h0, &h1, &msg) = match bytes {
        [a, b, c, ..] => (a, b, c),
        _ => return None,
    };
    let len = usize::from(u16::from_be_bytes([h0 & 0x7f, h1]));
    (h0 & 0x80 != 0 && msg == 4 && len >= 11).then_some(len.saturating_add(2))
}

/// The end of the contiguous region that starts at `offset` (the next hole after it, or the end
/// of the stream).
fn region_end(dir: &Direction, offset: usize) -> usize {
    dir.holes
        .iter()
        .map(|&h| h as usize)
        .find(|&h| h > offset)
        .unwrap_or(dir.stream.len())
        .min(dir.stream.len())
}

/// Number of plausible records that follow each other from `offset` up to `end` (stops counting
/// at `want`; a last record cut by the end of the stream counts). The flag says the chain ended
/// exactly at `end`.
fn chain_len(stream: &[u8], mut offset: usize, end: usize, want: usize) -> (usize, bool) {
    let mut n = 0;
    while n < want {
        let Some((_, _, len)) = stream.get(offset..end).and_then(plausible_header) else {
            return (n, offset == end);
        };
        let next = offset.saturating_add(HEADER_LEN).saturating_add(len);
        if next > end {
            // A record cut by the end of the captured bytes still continues the chain.
            let cut_by_end = end == stream.len() && n > 0;
            return (n + usize::from(cut_by_end), false);
        }
        n += 1;
        offset = next;
    }
    (n, offset == end)
}

/// Finds, in `start..end`, the first offset where at least two plausible records follow each
/// other (or one that fills the region exactly). Scans at most `window` bytes.
pub(crate) fn find_chain(stream: &[u8], start: usize, end: usize, window: usize) -> Option<usize> {
    let last = start.saturating_add(window).min(end);
    let region = stream.get(start..last.saturating_add(1).min(end))?;
    header_candidates(region).map(|i| start + i).find(|&o| {
        let (n, exact) = chain_len(stream, o, end, 2);
        n >= 2 || (n == 1 && exact)
    })
}

/// Offsets in `region` where a record header may start: a content type byte (20..=24) followed
/// by major version 3, in increasing order. Every header [`plausible_header`] accepts is among
/// them. Byte 3 is rare in text and in most binary payloads, so `memchr` finds the few offsets
/// worth a full check.
pub(crate) fn header_candidates(region: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let after_first = region.get(1..).unwrap_or_default();
    // A 3 at `after_first[i]` is at `region[i + 1]`: the header would start at `i`.
    memchr::memchr_iter(3, after_first).filter(move |&i| matches!(region.get(i), Some(20..=24)))
}

/// Walks the records of `dir` from `start`. At a hole the walk resynchronises on the next chain
/// of records and marks them `after_hole`; elsewhere it stops at the first byte that is not a
/// record.
pub(crate) fn walk(dir: &Direction, start: usize) -> Walk<'_> {
    walk_from(dir, start, false)
}

/// The first offset at or after `from` where a chain of records starts (skipping holes).
pub(crate) fn first_chain(dir: &Direction, from: usize) -> Option<usize> {
    resync(dir, from).map(|(start, _)| start)
}

/// Walks from `start`; with `after_hole` every record is marked as found after missing bytes
/// (the stream started inside a record or after a hole: what precedes is unknown).
pub(crate) fn walk_from(dir: &Direction, start: usize, mut after_hole: bool) -> Walk<'_> {
    let stream = dir.stream.as_slice();
    let mut frames = FrameCursor::new(dir);
    let mut out = Walk::default();
    let mut offset = start;
    let mut end = region_end(dir, offset);
    loop {
        if out.records.len() >= MAX_RECORDS {
            out.end = Some(WalkEnd::TooManyRecords);
            return out;
        }
        if offset >= stream.len() {
            out.end = Some(WalkEnd::Clean);
            return out;
        }
        if offset >= end {
            // At a hole: look for the next chain of records in the following regions.
            match resync(dir, end) {
                Some((o, e)) => {
                    offset = o;
                    end = e;
                    after_hole = true;
                    continue;
                }
                None => {
                    out.end = Some(WalkEnd::Hole { offset: end });
                    return out;
                }
            }
        }
        let Some(region) = stream.get(offset..end) else {
            out.end = Some(WalkEnd::Garbage { offset });
            return out;
        };
        let Some((content_type, version, len)) = plausible_header(region) else {
            if region.len() < HEADER_LEN && end == stream.len() {
                out.end = Some(WalkEnd::Truncated { offset });
            } else {
                out.end = Some(WalkEnd::Garbage { offset });
            }
            return out;
        };
        let body_start = offset.saturating_add(HEADER_LEN);
        let body_end = body_start.saturating_add(len);
        if body_end > end {
            if end == stream.len() {
                out.end = Some(WalkEnd::Truncated { offset });
                return out;
            }
            // The record runs into a hole: resync after it.
            offset = end;
            continue;
        }
        let (Some(header), Some(body)) = (
            stream.get(offset..body_start),
            stream.get(body_start..body_end),
        ) else {
            out.end = Some(WalkEnd::Garbage { offset });
            return out;
        };
        out.records.push(Record {
            content_type,
            version,
            offset,
            header,
            body,
            frame: frames.at(offset),
            after_hole,
        });
        offset = body_end;
    }
}

/// [`Direction::frame_at`] for offsets that only grow (the records of a walk): the frame list
/// is walked forward once instead of searched for every record.
struct FrameCursor<'d> {
    dir: &'d Direction,
    /// Number of frames that start at or before the last offset asked for.
    started: usize,
}

impl<'d> FrameCursor<'d> {
    fn new(dir: &'d Direction) -> Self {
        FrameCursor { dir, started: 0 }
    }

    /// The frame that carried the byte at `offset` (`offset` at least the previous one).
    fn at(&mut self, offset: usize) -> Option<u64> {
        if offset >= self.dir.stream.len() {
            return None;
        }
        let offset = u32::try_from(offset).ok()?;
        let frames = &self.dir.frames;
        while frames.get(self.started).is_some_and(|&(o, _)| o <= offset) {
            self.started = self.started.saturating_add(1);
        }
        self.started
            .checked_sub(1)
            .and_then(|i| frames.get(i))
            .map(|&(_, frame)| frame)
    }
}

/// After the hole at `hole`, the first offset that starts a chain of records and the end of its
/// region.
fn resync(dir: &Direction, hole: usize) -> Option<(usize, usize)> {
    let mut region_start = hole;
    let mut scanned = 0usize;
    while region_start < dir.stream.len() && scanned < RESYNC_WINDOW {
        let end = region_end(dir, region_start);
        let window = RESYNC_WINDOW.saturating_sub(scanned);
        if let Some(o) = find_chain(&dir.stream, region_start, end, window) {
            return Some((o, end));
        }
        scanned = scanned.saturating_add(end.saturating_sub(region_start));
        region_start = end;
    }
    None
}

/// One handshake message, reassembled from the handshake records of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HandshakeMsg<'a> {
    pub msg_type: u8,
    /// The body (without the 4-byte header); shorter than `declared_len` when cut. Borrowed
    /// from the stream when one record holds it (the usual case), copied together otherwise.
    pub body: Cow<'a, [u8]>,
    pub declared_len: usize,
    /// The whole body is present.
    pub complete: bool,
    /// Frame that carried the message header.
    pub frame: Option<u64>,
    /// Index (in the walk) of the record holding the message header.
    pub record: usize,
}

/// The body of one handshake record, placed in the handshake byte sequence of its direction.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    /// Offset of the body's first byte in the sequence.
    at: usize,
    /// Offset of the body's first byte in the stream.
    stream: usize,
    /// Index of the record in the walk.
    record: usize,
    bytes: &'a [u8],
}

/// The handshake bytes of one direction: the bodies of its handshake records, read as one
/// sequence without copying them together.
struct Sequence<'a> {
    pieces: Vec<Piece<'a>>,
    len: usize,
}

impl<'a> Sequence<'a> {
    /// The handshake record bodies up to a record found after a hole and, when `stop_at_ccs`,
    /// up to the first ChangeCipherSpec.
    fn of(records: &[Record<'a>], stop_at_ccs: bool) -> Self {
        let mut pieces = Vec::new();
        let mut len = 0usize;
        for (i, r) in records.iter().enumerate() {
            if r.after_hole || (stop_at_ccs && r.content_type == CHANGE_CIPHER_SPEC) {
                break;
            }
            if r.content_type != HANDSHAKE {
                continue;
            }
            pieces.push(Piece {
                at: len,
                stream: r.offset.saturating_add(HEADER_LEN),
                record: i,
                bytes: r.body,
            });
            len = len.saturating_add(r.body.len());
        }
        Sequence { pieces, len }
    }

    /// The last piece that starts at or before `at`.
    fn piece_at(&self, at: usize) -> Option<&Piece<'a>> {
        let idx = self.pieces.partition_point(|p| p.at <= at);
        idx.checked_sub(1).and_then(|i| self.pieces.get(i))
    }

    /// Bytes `start..end` of the sequence (`end` at most its length): borrowed when one record
    /// holds them all, copied together otherwise.
    fn slice(&self, start: usize, end: usize) -> Cow<'a, [u8]> {
        if start >= end {
            return Cow::Borrowed(&[]);
        }
        if let Some(p) = self.piece_at(start) {
            let within = start.saturating_sub(p.at)..end.saturating_sub(p.at);
            if let Some(bytes) = p.bytes.get(within) {
                return Cow::Borrowed(bytes);
            }
        }
        let mut out = Vec::with_capacity(end.saturating_sub(start));
        for p in &self.pieces {
            let p_end = p.at.saturating_add(p.bytes.len());
            if p_end <= start || p.at >= end {
                continue;
            }
            let from = start.max(p.at).saturating_sub(p.at);
            let to = end.min(p_end).saturating_sub(p.at);
            out.extend_from_slice(p.bytes.get(from..to).unwrap_or_default());
        }
        Cow::Owned(out)
    }

    /// Frame and record index of the byte at `at` of the sequence.
    fn locate(&self, dir: &Direction, at: usize) -> (Option<u64>, usize) {
        match self.piece_at(at) {
            Some(p) => (
                dir.frame_at(p.stream.saturating_add(at.saturating_sub(p.at))),
                p.record,
            ),
            None => (None, 0),
        }
    }
}

/// Reassembles the cleartext handshake messages of one direction. Reassembly stops at a record
/// found after a hole and, when `stop_at_ccs`, at the first ChangeCipherSpec (TLS <= 1.2: the
/// handshake records after it are encrypted).
pub(crate) fn handshake_messages<'a>(
    records: &[Record<'a>],
    dir: &Direction,
    stop_at_ccs: bool,
) -> Vec<HandshakeMsg<'a>> {
    let seq = Sequence::of(records, stop_at_ccs);
    let mut msgs = Vec::new();
    let mut at = 0usize;
    while at.saturating_add(4) <= seq.len {
        let head = seq.slice(at, at.saturating_add(4));
        let (msg_type, declared_len) = match *head {
            [t, a, b, c] => (
                t,
                usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c),
            ),
            _ => break,
        };
        let body_start = at.saturating_add(4);
        let body_end = body_start.saturating_add(declared_len);
        let body = seq.slice(body_start, body_end.min(seq.len));
        let (frame, record) = seq.locate(dir, at);
        msgs.push(HandshakeMsg {
            msg_type,
            complete: body.len() == declared_len,
            body,
            declared_len,
            frame,
            record,
        });
        at = body_end;
    }
    msgs
}

/// Whether reassembling with `stop_at_ccs` gives the same messages as without: true unless a
/// handshake record follows the first ChangeCipherSpec (before any record found after a hole).
pub(crate) fn same_messages_past_ccs(records: &[Record<'_>]) -> bool {
    !records
        .iter()
        .take_while(|r| !r.after_hole)
        .skip_while(|r| r.content_type != CHANGE_CIPHER_SPEC)
        .any(|r| r.content_type == HANDSHAKE)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A direction holding `stream`, one frame per `frames` entry, with `holes`.
    pub(crate) fn direction(stream: &[u8], frames: &[(u32, u64)], holes: &[u32]) -> Direction {
        Direction {
            stream: stream.to_vec(),
            frames: frames.to_vec(),
            holes: holes.to_vec(),
            payload_bytes: stream.len() as u64,
            ..Direction::default()
        }
    }

    /// A record of `content_type` with `body`.
    pub(crate) fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![content_type, 3, 3];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A handshake message of `msg_type` with `body`.
    pub(crate) fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len() as u32;
        let mut v = vec![msg_type];
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn header_plausibility() {
        assert_eq!(plausible_header(&[22, 3, 1, 0, 5]), Some((22, 0x0301, 5)));
        assert_eq!(plausible_header(&[23, 3, 3, 0, 0]), Some((23, 0x0303, 0)));
        assert_eq!(plausible_header(&[22, 3, 3, 0, 0]), None);
        assert_eq!(plausible_header(&[25, 3, 3, 0, 1]), None);
        assert_eq!(plausible_header(&[22, 3, 5, 0, 1]), None);
        assert_eq!(plausible_header(&[22, 2, 0, 0, 1]), None);
        assert_eq!(plausible_header(&[23, 3, 3, 0x48, 0x01]), None);
        assert_eq!(
            plausible_header(&[23, 3, 3, 0x48, 0x00]),
            Some((23, 0x0303, 18432))
        );
        assert_eq!(plausible_header(&[22, 3, 3, 0]), None);
    }

    #[test]
    fn sslv2_hellos() {
        assert_eq!(
            sslv2_client_hello_len(&[0x80, 0x2e, 1, 3, 1, 0]),
            Some(0x30)
        );
        assert_eq!(
            sslv2_client_hello_len(&[0x80, 0x2e, 1, 0, 2, 0]),
            Some(0x30)
        );
        assert_eq!(sslv2_client_hello_len(&[0x80, 0x2e, 2, 3, 1, 0]), None);
        assert_eq!(sslv2_client_hello_len(&[0x00, 0x2e, 1, 3, 1, 0]), None);
        assert_eq!(sslv2_client_hello_len(&[0x80, 0x2e, 1]), None);
        assert_eq!(sslv2_server_hello_len(&[0x83, 0x00, 4]), Some(0x302));
        assert_eq!(sslv2_server_hello_len(&[0x83, 0x00, 2]), None);
    }

    #[test]
    fn walks_whole_records_and_reports_truncation() {
        let mut s = record(22, &[1, 0, 0, 0]);
        s.extend(record(23, &[9; 10]));
        s.extend_from_slice(&[23, 3, 3, 0, 20, 1, 2]);
        let d = direction(&s, &[(0, 1), (9, 2), (24, 3)], &[]);
        let w = walk(&d, 0);
        assert_eq!(w.records.len(), 2);
        assert_eq!(w.records[0].frame, Some(1));
        assert_eq!(w.records[1].frame, Some(2));
        assert_eq!(w.records[1].body, &[9; 10]);
        assert_eq!(w.end, Some(WalkEnd::Truncated { offset: 24 }));
    }

    /// The frame cursor answers as `Direction::frame_at` for every growing sequence of offsets,
    /// including offsets before the first frame, shared frame offsets and the end of the stream.
    #[test]
    fn frame_cursor_agrees_with_frame_at() {
        let d = direction(
            &[0; 40],
            &[(3, 1), (3, 2), (10, 3), (11, 4), (25, 5), (39, 6)],
            &[],
        );
        for step in 1..=7 {
            for first in 0..step {
                let mut frames = FrameCursor::new(&d);
                for offset in (first..45).step_by(step) {
                    assert_eq!(frames.at(offset), d.frame_at(offset), "offset {offset}");
                }
            }
        }
    }

    #[test]
    fn stops_at_garbage() {
        let mut s = record(21, &[2, 40]);
        s.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let d = direction(&s, &[(0, 1)], &[]);
        let w = walk(&d, 0);
        assert_eq!(w.records.len(), 1);
        assert_eq!(w.end, Some(WalkEnd::Garbage { offset: 7 }));
    }

    #[test]
    fn resyncs_after_a_hole() {
        // A record cut by a hole at 8, then junk (the tail of a lost record), then two records.
        let mut s = record(23, &[1; 3]);
        s.extend_from_slice(&[23, 3, 3, 0, 50]); // runs into the hole
        let hole = s.len() as u32;
        s.extend_from_slice(&[0xaa, 0xbb]);
        let resume = s.len();
        s.extend(record(23, &[2; 4]));
        s.extend(record(21, &[3; 2]));
        let d = direction(&s, &[(0, 1), (hole, 5)], &[hole]);
        let w = walk(&d, 0);
        assert_eq!(w.records.len(), 3);
        assert!(!w.records[0].after_hole);
        assert!(w.records[1].after_hole);
        assert_eq!(w.records[1].offset, resume);
        assert_eq!(w.records[2].content_type, 21);
        assert_eq!(w.end, Some(WalkEnd::Clean));
    }

    #[test]
    fn resynced_walk_marks_everything() {
        let mut s = vec![0x42; 9];
        s.extend(record(23, &[2; 4]));
        s.extend(record(23, &[3; 4]));
        let d = direction(&s, &[(0, 7)], &[]);
        let w = walk_from(&d, first_chain(&d, 0).unwrap(), true);
        assert_eq!(w.records.len(), 2);
        assert_eq!(w.records[0].offset, 9);
        assert!(w.records.iter().all(|r| r.after_hole));
        assert_eq!(first_chain(&direction(b"plain text", &[], &[]), 0), None);
    }

    #[test]
    fn chain_counts_a_record_cut_by_the_end_of_the_stream() {
        let mut s = record(22, &[2; 10]);
        s.extend_from_slice(&[22, 3, 3, 4, 0, 11, 0]);
        assert_eq!(chain_len(&s, 0, s.len(), 2), (2, false));
        assert_eq!(find_chain(&s, 0, s.len(), 100), Some(0));
        // Alone, a cut record is no chain.
        assert_eq!(chain_len(&s[15..], 0, s.len() - 15, 2), (0, false));
    }

    #[test]
    fn hole_without_records_after_it() {
        let mut s = record(23, &[1; 3]);
        let hole = s.len() as u32;
        s.extend_from_slice(&[0x55; 40]);
        let d = direction(&s, &[(0, 1)], &[hole]);
        let w = walk(&d, 0);
        assert_eq!(w.records.len(), 1);
        assert_eq!(
            w.end,
            Some(WalkEnd::Hole {
                offset: hole as usize
            })
        );
    }

    #[test]
    fn reassembles_messages_across_and_within_records() {
        // Certificate (11) split over two records, then ServerHelloDone (14) and another message
        // in the same record as the certificate's tail.
        let cert = message(11, &[7; 30]);
        let mut tail = cert[20..].to_vec();
        tail.extend(message(14, &[]));
        tail.extend(message(13, &[1, 2]));
        let mut s = record(22, &cert[..20]);
        let second = s.len() as u32;
        s.extend(record(22, &tail));
        let d = direction(&s, &[(0, 4), (second, 5)], &[]);
        let w = walk(&d, 0);
        let m = handshake_messages(&w.records, &d, true);
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].msg_type, m[0].body.len(), m[0].complete),
            (11, 30, true)
        );
        assert_eq!(m[0].frame, Some(4));
        assert_eq!((m[1].msg_type, m[1].frame, m[1].record), (14, Some(5), 1));
        assert_eq!(m[2].body, vec![1, 2]);
        // Only the message spread over two records is copied; the others borrow the stream.
        assert_eq!(m[0].body.as_ref(), &cert[4..]);
        assert!(matches!(m[0].body, Cow::Owned(_)));
        assert!(matches!(m[1].body, Cow::Borrowed(_)) && matches!(m[2].body, Cow::Borrowed(_)));
        // A message whose header itself is split over two records.
        let mut s = record(22, &cert[..2]);
        let second = s.len() as u32;
        s.extend(record(22, &cert[2..]));
        let d = direction(&s, &[(0, 4), (second, 5)], &[]);
        let m = handshake_messages(&walk(&d, 0).records, &d, true);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].msg_type, m[0].declared_len), (11, 30));
        assert_eq!((m[0].body.as_ref(), m[0].frame), (&cert[4..], Some(4)));
    }

    /// When `same_messages_past_ccs` says so, reassembling past the first ChangeCipherSpec
    /// gives exactly the messages that stopping at it gives; a handshake record after the
    /// ChangeCipherSpec (a hello after a HelloRetryRequest) is what makes them differ.
    #[test]
    fn messages_past_the_ccs_are_the_same_without_handshake_records_after_it() {
        let hello = record(22, &message(2, &[3; 40]));
        let cut = record(22, &message(11, &[7; 30])[..12]);
        let cases: [(Vec<Vec<u8>>, bool); 5] = [
            (
                vec![hello.clone(), record(20, &[1]), record(23, &[9; 60])],
                true,
            ),
            (vec![hello.clone(), record(23, &[9; 60])], true),
            (
                vec![cut.clone(), record(20, &[1]), record(23, &[9; 20])],
                true,
            ),
            (vec![hello.clone(), record(20, &[1]), hello.clone()], false),
            (vec![cut, record(20, &[1]), record(22, &[5; 25])], false),
        ];
        for (i, (records, same)) in cases.into_iter().enumerate() {
            let s = records.concat();
            let d = direction(&s, &[(0, 1)], &[]);
            let w = walk(&d, 0);
            assert_eq!(same_messages_past_ccs(&w.records), same, "case {i}");
            let (stop, past) = (
                handshake_messages(&w.records, &d, true),
                handshake_messages(&w.records, &d, false),
            );
            assert_eq!(stop == past, same, "case {i}");
        }
    }

    #[test]
    fn cut_message_and_ccs_boundary() {
        let mut s = record(22, &message(11, &[7; 30])[..10]);
        s.extend(record(20, &[1]));
        s.extend(record(22, &message(11, &[1; 5]))); // encrypted Finished lookalike
        let d = direction(&s, &[(0, 1)], &[]);
        let w = walk(&d, 0);
        let m = handshake_messages(&w.records, &d, true);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].declared_len, m[0].body.len(), m[0].complete),
            (30, 6, false)
        );
        let all = handshake_messages(&w.records, &d, false);
        assert_eq!(all.len(), 1, "the cut message swallows what follows");
    }

    #[test]
    fn empty_and_garbage_streams() {
        let d = direction(&[], &[], &[]);
        assert_eq!(walk(&d, 0).end, Some(WalkEnd::Clean));
        let d = direction(&[22, 3], &[], &[]);
        assert_eq!(walk(&d, 0).end, Some(WalkEnd::Truncated { offset: 0 }));
        let d = direction(&[0xff; 100], &[], &[3, 50, 2000]);
        let w = walk(&d, 0);
        assert!(w.records.is_empty());
    }
}
