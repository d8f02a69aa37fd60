//! HTTP/2 in cleartext (h2c): the connection preface, frame walking (also from the middle of a
//! connection), HEADERS decoding and the gRPC signs.

use super::hpack::{self, Field};
use super::redact::is_sensitive_header;

/// The client connection preface (RFC 9113 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// A frame header's size.
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE unless a peer raises it.
pub const DEFAULT_MAX_FRAME: u32 = 16_384;
/// Most frames walked per direction.
const MAX_FRAMES: usize = 512;
/// Largest header block (HEADERS + CONTINUATION) assembled for decoding.
const MAX_BLOCK: usize = 64 * 1024;
/// Offsets tried when looking for the first frame boundary of a capture that starts mid-stream.
const MAX_SYNC: usize = DEFAULT_MAX_FRAME as usize + HEADER_LEN;
/// Complete frames in a row that make a mid-stream byte run HTTP/2 when they end the run exactly
/// (the last one may be cut by the run's end).
const MIN_FRAMES_TO_END: usize = 3;
/// Complete frames in a row that make a mid-stream byte run HTTP/2 even if something else follows.
const MIN_FRAMES_MIDSTREAM: usize = 8;
/// Largest stream identifier believed: 8 million streams on one connection. Binary data read as
/// frame headers tends to give huge identifiers.
const MAX_STREAM_ID: u32 = 1 << 24;
/// Largest gRPC message length believed (gRPC's default receive limit is 4 MiB).
const MAX_GRPC_MESSAGE: u32 = 64 * 1024 * 1024;
/// Forwarded client identities kept per direction (one per HEADERS block).
const MAX_FORWARDED: usize = 256;

pub mod kind {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const PRIORITY: u8 = 2;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PUSH_PROMISE: u8 = 5;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}

mod flag {
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// The name of a frame type.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        kind::DATA => "DATA",
        kind::HEADERS => "HEADERS",
        kind::PRIORITY => "PRIORITY",
        kind::RST_STREAM => "RST_STREAM",
        kind::SETTINGS => "SETTINGS",
        kind::PUSH_PROMISE => "PUSH_PROMISE",
        kind::PING => "PING",
        kind::GOAWAY => "GOAWAY",
        kind::WINDOW_UPDATE => "WINDOW_UPDATE",
        kind::CONTINUATION => "CONTINUATION",
        _ => "unknown",
    }
}

/// A 9-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    /// Stream identifier with the reserved bit.
    pub stream: u32,
}

impl FrameHeader {
    /// Reads the header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]),
        })
    }

    /// A header a conforming endpoint could send: known type, length within `max_frame` and the
    /// type's fixed size, only defined flags, reserved bit clear, stream 0 exactly for
    /// connection-level types, stream identifier below [`MAX_STREAM_ID`].
    pub fn is_plausible(&self, max_frame: u32) -> bool {
        if self.len > max_frame || self.stream >= MAX_STREAM_ID {
            return false;
        }
        let on_stream = self.stream != 0;
        let (flags_ok, stream_ok, len_ok) = match self.kind {
            kind::DATA => (self.flags & !0x09 == 0, on_stream, true),
            kind::HEADERS => (self.flags & !0x2d == 0, on_stream, true),
            kind::PRIORITY => (self.flags == 0, on_stream, self.len == 5),
            kind::RST_STREAM => (self.flags == 0, on_stream, self.len == 4),
            kind::SETTINGS => (
                self.flags & !flag::ACK == 0,
                !on_stream,
                self.len % 6 == 0 && (self.flags & flag::ACK == 0 || self.len == 0),
            ),
            kind::PUSH_PROMISE => (self.flags & !0x0c == 0, on_stream, self.len >= 4),
            kind::PING => (self.flags & !flag::ACK == 0, !on_stream, self.len == 8),
            kind::GOAWAY => (self.flags == 0, !on_stream, self.len >= 8),
            kind::WINDOW_UPDATE => (self.flags == 0, true, self.len == 4),
            kind::CONTINUATION => (self.flags & !flag::END_HEADERS == 0, on_stream, true),
            _ => (false, false, false),
        };
        flags_ok && stream_ok && len_ok
    }
}

/// One frame found in a byte run; `payload` may be cut by the end of the run.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Offset of the frame header in the direction's stream.
    pub offset: usize,
    pub header: FrameHeader,
    pub payload: &'a [u8],
}

impl Frame<'_> {
    pub fn is_complete(&self) -> bool {
        self.payload.len() == self.header.len as usize
    }
}

/// Frames read in a row from one starting point.
#[derive(Debug, Clone)]
pub struct Walk<'a> {
    pub frames: Vec<Frame<'a>>,
    /// The walk read every byte of the run (the last frame may be cut by the run's end).
    pub reached_end: bool,
}

/// Walks frames in `bytes[start..]` (offsets reported relative to `bytes` plus `base`) until a
/// header is implausible, breaks the frame order, or the bytes end.
///
/// Order rules: a header block not ended by END_HEADERS continues in a CONTINUATION on the same
/// stream, and nothing else; a CONTINUATION only follows such a block (or opens the walk, which
/// may start mid-block); an even stream identifier needs a PUSH_PROMISE first (only servers open
/// even streams, and only by promising them).
pub fn walk(bytes: &[u8], start: usize, base: usize) -> Walk<'_> {
    let mut frames: Vec<Frame<'_>> = Vec::new();
    let mut max_frame = DEFAULT_MAX_FRAME;
    let mut pos = start;
    let mut reached_end = false;
    let mut open_block: Option<u32> = None;
    let mut push_seen = false;
    while frames.len() < MAX_FRAMES {
        let Some(rest) = bytes.get(pos..) else { break };
        if rest.is_empty() {
            reached_end = true;
            break;
        }
        let Some(header) = FrameHeader::parse(rest) else {
            // A header cut by the end of the run.
            reached_end = true;
            break;
        };
        if !header.is_plausible(max_frame)
            || !in_order(&header, open_block, push_seen, frames.is_empty())
        {
            break;
        }
        let ends_block = header.flags & flag::END_HEADERS != 0;
        open_block = match header.kind {
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION if !ends_block => {
                Some(header.stream)
            }
            _ => None,
        };
        push_seen |= header.kind == kind::PUSH_PROMISE;
        let len = header.len as usize;
        let body = rest.get(HEADER_LEN..).unwrap_or_default();
        let payload = body.get(..len).unwrap_or(body);
        if header.kind == kind::SETTINGS && header.flags & flag::ACK == 0 {
            max_frame = max_frame.max(settings_max_frame(payload).unwrap_or(0));
        }
        frames.push(Frame {
            offset: base + pos,
            header,
            payload,
        });
        if payload.len() < len {
            reached_end = true;
            break;
        }
        pos += HEADER_LEN + len;
    }
    Walk {
        frames,
        reached_end,
    }
}

/// The frame may come next, given the open header block and whether a push was promised.
fn in_order(h: &FrameHeader, open_block: Option<u32>, push_seen: bool, first: bool) -> bool {
    if let Some(stream) = open_block {
        return h.kind == kind::CONTINUATION && h.stream == stream;
    }
    if h.kind == kind::CONTINUATION && !first {
        return false;
    }
    h.stream == 0 || h.stream % 2 == 1 || push_seen
}

/// SETTINGS_MAX_FRAME_SIZE (id 5) in a SETTINGS payload, if valid (2^14 ..= 2^24-1).
fn settings_max_frame(payload: &[u8]) -> Option<u32> {
    payload
        .chunks_exact(6)
        .rev()
        .filter_map(|setting| match *setting {
            [0, 5, a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        })
        .find(|v| (DEFAULT_MAX_FRAME..=0x00ff_ffff).contains(v))
}

/// Finds HTTP/2 frames in a run that may start in the middle of a frame: the first offset from
/// which plausible frames follow in a row to the end of the run ([`MIN_FRAMES_TO_END`] at least),
/// or [`MIN_FRAMES_MIDSTREAM`] of them. Returns the walk from there.
pub fn find_midstream(bytes: &[u8], base: usize) -> Option<Walk<'_>> {
    let last = bytes.len().saturating_sub(HEADER_LEN).min(MAX_SYNC);
    for start in 0..=last {
        let Some(header) = bytes.get(start..).and_then(FrameHeader::parse) else {
            break;
        };
        if !header.is_plausible(DEFAULT_MAX_FRAME) {
            continue;
        }
        let w = walk(bytes, start, base);
        let complete = w.frames.iter().filter(|f| f.is_complete()).count();
        if complete >= MIN_FRAMES_MIDSTREAM || (complete >= MIN_FRAMES_TO_END && w.reached_end) {
            return Some(w);
        }
    }
    None
}

/// The run starts with the server's connection preface: a SETTINGS frame (not an ACK), followed by
/// plausible frames up to the end of the run.
pub fn starts_with_server_preface(bytes: &[u8]) -> Option<Walk<'_>> {
    let h = FrameHeader::parse(bytes)?;
    if h.kind != kind::SETTINGS || h.flags & flag::ACK != 0 || !h.is_plausible(DEFAULT_MAX_FRAME) {
        return None;
    }
    let w = walk(bytes, 0, 0);
    w.reached_end.then_some(w)
}

/// What the HTTP/2 frames of one direction show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Facts {
    /// Frames read.
    pub frames: usize,
    /// Offset of the first frame.
    pub first_offset: Option<usize>,
    /// The first request's `:method` and `:path` (path redacted), with its HEADERS offset.
    pub request: Option<(usize, String, String)>,
    /// The first response's `:status`, with its HEADERS offset.
    pub status: Option<(usize, String)>,
    /// Offset of the first HEADERS frame.
    pub headers_offset: Option<usize>,
    /// `content-type` of the first HEADERS that has one.
    pub content_type: Option<String>,
    /// A DATA frame on a stream with HEADERS carries gRPC length-prefixed messages (its offset).
    pub grpc_data: Option<usize>,
    /// Names of credential fields seen (values never kept).
    pub credentials: Vec<String>,
    /// Sample fields worth showing: `:authority`, `user-agent`, `content-type`.
    pub headers: Vec<(String, String)>,
    /// Client identities forwarded in `x-forwarded-client-cert` or `l5d-client-id` fields, one
    /// per HEADERS block that has one.
    pub forwarded: Vec<super::forwarded::Forward>,
}

impl H2Facts {
    /// A gRPC content type, or gRPC-framed DATA after HEADERS.
    pub fn is_grpc(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/grpc"))
            || self.grpc_data.is_some()
    }
}

/// Reads the frames of a walk: decodes header blocks, looks for gRPC messages.
pub fn facts(walk: &Walk<'_>) -> H2Facts {
    let mut facts = H2Facts {
        frames: walk.frames.len(),
        first_offset: walk.frames.first().map(|f| f.offset),
        ..H2Facts::default()
    };
    let mut decoder = hpack::Decoder::default();
    let mut header_streams: Vec<u32> = Vec::new();
    let mut i = 0;
    while let Some(frame) = walk.frames.get(i) {
        i += 1;
        let h = frame.header;
        match h.kind {
            kind::HEADERS => {
                facts.headers_offset.get_or_insert(frame.offset);
                if header_streams.len() < 64 && !header_streams.contains(&h.stream) {
                    header_streams.push(h.stream);
                }
                let mut block = headers_fragment(frame).unwrap_or_default().to_vec();
                let mut end = h.flags & flag::END_HEADERS != 0;
                while !end {
                    match walk.frames.get(i) {
                        Some(c)
                            if c.header.kind == kind::CONTINUATION
                                && c.header.stream == h.stream =>
                        {
                            if block.len() + c.payload.len() <= MAX_BLOCK {
                                block.extend_from_slice(c.payload);
                            }
                            end = c.header.flags & flag::END_HEADERS != 0;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                let mut fields = Vec::new();
                let decoded = frame.is_complete() && decoder.decode(&block, &mut fields).is_ok();
                if !decoded && fields.is_empty() {
                    // State is unknown from here on (missed insertions): start afresh.
                    decoder = hpack::Decoder::default();
                }
                note_fields(&mut facts, frame.offset, &fields);
            }
            kind::DATA if facts.grpc_data.is_none() && header_streams.contains(&h.stream) => {
                if let Some(data) = data_payload(frame) {
                    let full = frame.is_complete() && h.len >= DEFAULT_MAX_FRAME;
                    if grpc_messages(data, full) {
                        facts.grpc_data = Some(frame.offset);
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

fn note_fields(facts: &mut H2Facts, offset: usize, fields: &[Field]) {
    let get = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    };
    if facts.request.is_none() {
        if let (Some(method), Some(path)) = (get(":method"), get(":path")) {
            let path = super::redact::redact_target(&super::escape::escape(path.as_bytes(), 2048));
            facts.request = Some((offset, super::escape::escape(method.as_bytes(), 32), path));
        } else if let Some(method) = get(":method") {
            facts.request = Some((
                offset,
                super::escape::escape(method.as_bytes(), 32),
                String::new(),
            ));
        }
    }
    if facts.status.is_none() {
        if let Some(status) = get(":status") {
            facts.status = Some((offset, super::escape::escape(status.as_bytes(), 8)));
        }
    }
    if facts.content_type.is_none() {
        if let Some(ct) = get("content-type") {
            facts.content_type = Some(super::escape::escape(ct.as_bytes(), 80));
        }
    }
    if facts.forwarded.len() < MAX_FORWARDED {
        if let Some(found) = fields
            .iter()
            .find_map(|f| super::forwarded::from_field(&f.name, f.value.as_bytes(), offset))
        {
            facts.forwarded.push(found);
        }
    }
    for f in fields {
        if is_sensitive_header(&f.name) {
            if !facts
                .credentials
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&f.name))
                && facts.credentials.len() < 16
            {
                facts
                    .credentials
                    .push(super::escape::escape(f.name.as_bytes(), 64));
            }
        } else if [":authority", "user-agent", "content-type"].contains(&f.name.as_str())
            && !facts.headers.iter().any(|(n, _)| n == &f.name)
        {
            facts.headers.push((
                f.name.clone(),
                super::escape::escape(f.value.as_bytes(), 80),
            ));
        }
    }
}

/// The header block fragment of a HEADERS frame (padding and priority removed).
fn headers_fragment<'a>(frame: &Frame<'a>) -> Option<&'a [u8]> {
    let mut p = frame.payload;
    let mut pad = 0usize;
    if frame.header.flags & flag::PADDED != 0 {
        let (&n, rest) = p.split_first()?;
        pad = usize::from(n);
        p = rest;
    }
    if frame.header.flags & flag::PRIORITY != 0 {
        p = p.get(5..)?;
    }
    if frame.is_complete() {
        p = p.get(..p.len().checked_sub(pad)?)?;
    }
    Some(p)
}

/// The data of a DATA frame (padding removed).
fn data_payload<'a>(frame: &Frame<'a>) -> Option<&'a [u8]> {
    let p = frame.payload;
    if frame.header.flags & flag::PADDED == 0 {
        return Some(p);
    }
    let (&n, rest) = p.split_first()?;
    if frame.is_complete() {
        rest.get(..rest.len().checked_sub(usize::from(n))?)
    } else {
        Some(rest)
    }
}

/// `data` is a sequence of gRPC length-prefixed messages (flag 0 or 1, 4-byte length) that ends
/// exactly at its end; or, when the frame is full-size (`may_continue`), whose last message goes on
/// in the next frame.
pub fn grpc_messages(data: &[u8], may_continue: bool) -> bool {
    let mut rest = data;
    let mut messages = 0;
    while !rest.is_empty() && messages < 64 {
        let Some(&[flag, a, b, c, d]) = rest.get(..5) else {
            return false;
        };
        let len = u32::from_be_bytes([a, b, c, d]);
        if flag > 1 || len > MAX_GRPC_MESSAGE {
            return false;
        }
        messages += 1;
        match rest.get(5 + len as usize..) {
            Some(next) => rest = next,
            None => return may_continue,
        }
    }
    messages > 0 && rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.extend_from_slice(&[kind, flags]);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn plausibility_rules() {
        let ok = |b: &[u8]| {
            FrameHeader::parse(b)
                .unwrap()
                .is_plausible(DEFAULT_MAX_FRAME)
        };
        assert!(ok(&frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])));
        assert!(ok(&frame(kind::SETTINGS, 1, 0, &[])));
        assert!(!ok(&frame(kind::SETTINGS, 1, 0, &[0; 6])));
        assert!(!ok(&frame(kind::SETTINGS, 0, 1, &[])));
        assert!(!ok(&frame(kind::SETTINGS, 0, 0, &[0; 5])));
        assert!(ok(&frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0])));
        assert!(!ok(&frame(kind::PING, 0, 0, &[0; 7])));
        assert!(!ok(&frame(kind::DATA, 0, 0, b"x")));
        assert!(!ok(&frame(kind::DATA, 0x02, 1, b"x")));
        assert!(!ok(&frame(10, 0, 1, b"x")));
        assert!(!ok(&frame(kind::DATA, 0, 0x8000_0001, b"x")));
        assert!(!ok(&frame(kind::DATA, 0, 0x0100_0001, b"x")));
        assert!(ok(&frame(kind::DATA, 0, 0x00ff_ffff, b"x")));
        assert!(!ok(b"GET / HTTP/1.1"));
        assert!(FrameHeader::parse(&[0; 8]).is_none());
    }

    #[test]
    fn walk_enforces_frame_order() {
        // HEADERS without END_HEADERS must be followed by CONTINUATION on the same stream.
        let bytes = [
            frame(kind::HEADERS, 0, 1, &[0x82]),
            frame(kind::DATA, 0, 1, b"x"),
        ]
        .concat();
        assert_eq!(walk(&bytes, 0, 0).frames.len(), 1);
        let bytes = [
            frame(kind::HEADERS, 0, 1, &[0x82]),
            frame(kind::CONTINUATION, 4, 3, &[0x84]),
        ]
        .concat();
        assert_eq!(walk(&bytes, 0, 0).frames.len(), 1);
        let bytes = [
            frame(kind::HEADERS, 0, 1, &[0x82]),
            frame(kind::CONTINUATION, 4, 1, &[0x84]),
        ]
        .concat();
        assert_eq!(walk(&bytes, 0, 0).frames.len(), 2);
        // A CONTINUATION may open a walk (mid-block), not follow a finished block.
        let bytes = [
            frame(kind::CONTINUATION, 4, 1, &[0x84]),
            frame(kind::CONTINUATION, 4, 1, &[0x84]),
        ]
        .concat();
        assert_eq!(walk(&bytes, 0, 0).frames.len(), 1);
        // Even streams only after a PUSH_PROMISE.
        let bytes = [frame(kind::DATA, 0, 1, b"x"), frame(kind::DATA, 0, 2, b"y")].concat();
        assert_eq!(walk(&bytes, 0, 0).frames.len(), 1);
        let bytes = [
            frame(kind::PUSH_PROMISE, 4, 1, &[0, 0, 0, 2, 0x82]),
            frame(kind::DATA, 0, 2, b"y"),
        ]
        .concat();
        assert_eq!(walk(&bytes, 0, 0).frames.len(), 2);
    }

    #[test]
    fn walks_and_raises_max_frame_from_settings() {
        let mut bytes = frame(kind::SETTINGS, 0, 0, &[0, 5, 0, 0, 0x80, 0]);
        bytes.extend(frame(kind::DATA, 0, 1, &vec![7; 20_000]));
        let w = walk(&bytes, 0, 100);
        assert_eq!(w.frames.len(), 2);
        assert!(w.reached_end);
        assert_eq!(w.frames[1].offset, 100 + 15);
        // Without the setting the big frame is implausible.
        let w = walk(&bytes[15..], 0, 0);
        assert_eq!(w.frames.len(), 0);
        assert!(!w.reached_end);
    }

    #[test]
    fn finds_frames_mid_stream() {
        // The tail of a DATA frame, then three frames.
        let mut bytes = vec![0x55; 37];
        bytes.extend(frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 0x10, 0]));
        bytes.extend(frame(kind::HEADERS, 0x04, 3, &[0x82, 0x86, 0x84]));
        bytes.extend(frame(kind::DATA, 0x01, 3, b"{}"));
        let w = find_midstream(&bytes, 0).unwrap();
        assert_eq!(w.frames.len(), 3);
        assert_eq!(w.frames[0].offset, 37);
        // Eight frames in a row count even when something else follows.
        let mut eight: Vec<u8> = (0..8)
            .flat_map(|i| frame(kind::DATA, 0, 2 * i + 1, b"ab"))
            .collect();
        eight.extend_from_slice(b"not a frame header");
        assert_eq!(find_midstream(&eight, 0).unwrap().frames.len(), 8);
        eight.drain(..11);
        assert!(find_midstream(&eight, 0).is_none());
        // Three frames are not enough unless they end the run; two never are.
        let ping = |f| frame(kind::PING, f, 0, &[0; 8]);
        let three = [ping(0), ping(1), ping(0)].concat();
        assert!(find_midstream(&three, 0).is_some());
        assert!(find_midstream(&three[..36], 0).is_none());
        let mut three_then_junk = three.clone();
        three_then_junk.extend_from_slice(b"junk junk junk");
        assert!(find_midstream(&three_then_junk, 0).is_none());
        assert!(find_midstream(b"hello world, this is text and no frames at all", 0).is_none());
        assert!(find_midstream(&[], 0).is_none());
    }

    #[test]
    fn server_preface() {
        let mut bytes = frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        assert_eq!(starts_with_server_preface(&bytes).unwrap().frames.len(), 1);
        bytes.extend(frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 0x10, 0]));
        assert_eq!(starts_with_server_preface(&bytes).unwrap().frames.len(), 2);
        bytes.extend_from_slice(b"junk that is no frame");
        assert!(starts_with_server_preface(&bytes).is_none());
        assert!(starts_with_server_preface(&frame(kind::SETTINGS, 1, 0, &[])).is_none());
        assert!(starts_with_server_preface(&frame(kind::PING, 0, 0, &[0; 8])).is_none());
    }

    #[test]
    fn decodes_headers_and_sees_grpc() {
        let hdr = hex::decode(
            "83864592626b0a54af8ac2953b8b677310ac62b0a54f418ba0e41d139d09b8d800d87f5f8b1d75d0620d263d4c4d6564",
        )
        .unwrap();
        let mut bytes = frame(kind::SETTINGS, 0, 0, &[]);
        bytes.extend(frame(kind::HEADERS, 0x04, 1, &hdr));
        bytes.extend(frame(kind::DATA, 0x01, 1, &[0, 0, 0, 0, 3, 10, 1, b'x']));
        let f = facts(&walk(&bytes, 0, 0));
        assert_eq!(f.frames, 3);
        assert_eq!(
            f.request,
            Some((9, "POST".into(), "/greet.GreetService/Greet".into()))
        );
        assert_eq!(f.content_type.as_deref(), Some("application/grpc"));
        assert_eq!(f.grpc_data, Some(9 + 9 + hdr.len()));
        assert!(f.is_grpc());
        assert_eq!(
            f.headers,
            [
                (":authority".to_string(), "localhost:50051".to_string()),
                ("content-type".into(), "application/grpc".into())
            ]
        );
    }

    #[test]
    fn padded_priority_headers_and_continuation() {
        // :method GET, :path /a?token=s (literal), then authorization in a CONTINUATION.
        let mut block1 = vec![0x82, 0x04, 0x0a];
        block1.extend_from_slice(b"/a?token=s");
        let block2 = [&[0x1fu8, 0x08, 0x04][..], b"Bear"].concat(); // authorization, never indexed
        let mut payload = vec![2u8]; // pad length
        payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
        payload.extend_from_slice(&block1);
        payload.extend_from_slice(&[0, 0]);
        let mut bytes = frame(kind::HEADERS, flag::PADDED | flag::PRIORITY, 5, &payload);
        bytes.extend(frame(kind::CONTINUATION, flag::END_HEADERS, 5, &block2));
        let f = facts(&walk(&bytes, 0, 0));
        assert_eq!(
            f.request,
            Some((0, "GET".into(), "/a?token=<redacted>".into()))
        );
        assert_eq!(f.credentials, ["authorization"]);
        assert!(!f.is_grpc());
    }

    #[test]
    fn grpc_message_framing() {
        assert!(grpc_messages(&[0, 0, 0, 0, 2, 8, 1], false));
        assert!(grpc_messages(&[0, 0, 0, 0, 0], false));
        assert!(grpc_messages(&[1, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0], false));
        assert!(!grpc_messages(&[0, 0, 0, 0, 5, 1], false));
        assert!(grpc_messages(&[0, 0, 0, 0, 5, 1], true));
        assert!(!grpc_messages(&[2, 0, 0, 0, 1, 1], false));
        assert!(!grpc_messages(b"{\"a\":1}", false));
        assert!(!grpc_messages(&[], false));
        assert!(!grpc_messages(&[0, 0, 0], false));
    }
}
