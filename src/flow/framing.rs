//! TLS record framing followed past the buffered prefix.
//!
//! Classification reads only the prefix of each direction (64 KiB by default). A stream that
//! starts with TLS records and turns to cleartext after that would be judged by its records
//! alone. So, for a direction whose stream starts at its SYN with a TLS record header, the
//! record headers are followed over every byte the capture holds, within the prefix and past
//! it, at a cost of a few comparisons per record:
//! - where the bytes stop being a plausible record header past the prefix, the position, the
//!   frame and a sample of what follows (up to [`SAMPLE_LEN`] bytes, from as many segments as
//!   it takes) are kept ([`FramingEnd::Break`]);
//! - bytes missing from the capture, or arriving out of order, inside a record body do not
//!   matter: the next header's position is known, and following goes on from the first segment
//!   that holds it;
//! - where the bytes of a header itself are missing, following cannot go on past the prefix:
//!   that is kept too ([`FramingEnd::Lost`]), so the report can say what was not checked.
//!
//! Positions are the reassembler's stream positions (sequence offsets from the first byte).

/// Record content types from ChangeCipherSpec (20) to Heartbeat (24).
const FIRST_TYPE: u8 = 20;
const LAST_TYPE: u8 = 24;
/// The longest record body a TLS stack sends (2^14 plus the largest expansion).
const MAX_BODY: u32 = (1 << 14) + 2048;
const HEADER_LEN: usize = 5;
/// Bytes of what follows a break kept for classification.
pub const SAMPLE_LEN: usize = 512;

/// How following the records ended past the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingEnd {
    /// The bytes stopped being TLS records.
    Break {
        /// Bytes of the stream before the break.
        position: u64,
        /// The frame that holds the break's first byte.
        frame: u64,
        /// The bytes from the break on (at most [`SAMPLE_LEN`], over the segments that
        /// followed in order).
        sample: Vec<u8>,
    },
    /// A record header's bytes are missing from the capture (or came out of order): the
    /// records could not be followed from `position` on.
    Lost {
        position: u64,
        /// The first segment past the missing bytes.
        frame: u64,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Not following: the stream did not start at a SYN with a record header.
    #[default]
    Off,
    /// Inside a record body, `left` bytes before the next header.
    Body { left: u32 },
    /// Reading a header: `have` bytes of it so far.
    Header { have: u8, buf: [u8; HEADER_LEN] },
    /// Past a break: the sample takes `left` more bytes.
    Sampling { left: u16 },
    /// Stopped.
    Done,
}

/// The record framing of one direction, fed with its bytes at their positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Framing {
    state: State,
    /// Position of the next byte the state needs.
    at: u64,
}

impl Framing {
    /// Starts following at the stream's first byte (after a SYN).
    pub(crate) fn start(&mut self) {
        self.state = header();
        self.at = 0;
    }

    /// Stops following (the stream's positions changed).
    pub(crate) fn stop(&mut self) {
        self.state = State::Done;
    }

    /// Feeds `bytes` found at stream position `pos` in frame `frame`. What ends the framing at
    /// or past `prefix` (a break inside the buffered prefix is the classifier's) goes to `end`,
    /// and later bytes complete its sample.
    pub(crate) fn feed(
        &mut self,
        pos: u64,
        bytes: &[u8],
        frame: u64,
        prefix: u64,
        end: &mut Option<Box<FramingEnd>>,
    ) {
        if matches!(self.state, State::Off | State::Done) {
            return;
        }
        let stop = pos + bytes.len() as u64;
        if stop <= self.at {
            return;
        }
        let bytes = if pos > self.at {
            match self.state {
                // The missing bytes were record body: go on at the next header.
                State::Body { left } => {
                    let next = self.at + u64::from(left);
                    if stop <= next {
                        return;
                    }
                    if pos > next {
                        self.lose(next, frame, prefix, end);
                        return;
                    }
                    self.at = next;
                    self.state = header();
                    usize::try_from(next - pos)
                        .ok()
                        .and_then(|skip| bytes.get(skip..))
                        .unwrap_or_default()
                }
                State::Header { have, .. } => {
                    self.lose(self.at - u64::from(have), frame, prefix, end);
                    return;
                }
                // The sample stops at missing bytes.
                _ => {
                    self.state = State::Done;
                    return;
                }
            }
        } else {
            usize::try_from(self.at - pos)
                .ok()
                .and_then(|skip| bytes.get(skip..))
                .unwrap_or_default()
        };
        self.walk(bytes, frame, prefix, end);
    }

    /// Follows the records over `bytes`, which start at `self.at`.
    fn walk(&mut self, bytes: &[u8], frame: u64, prefix: u64, end: &mut Option<Box<FramingEnd>>) {
        let mut at = 0usize;
        while at < bytes.len() {
            match self.state {
                State::Off | State::Done => break,
                State::Sampling { left } => {
                    let take = usize::from(left).min(bytes.len() - at);
                    if let Some(FramingEnd::Break { sample, .. }) = end.as_deref_mut() {
                        sample.extend_from_slice(bytes.get(at..at + take).unwrap_or_default());
                    }
                    at += take;
                    let left = left.saturating_sub(u16::try_from(take).unwrap_or(u16::MAX));
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Sampling { left }
                    };
                }
                State::Body { left } => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - at);
                    at += take;
                    let left = left - u32::try_from(take).unwrap_or(left);
                    self.state = if left == 0 {
                        header()
                    } else {
                        State::Body { left }
                    };
                }
                State::Header { mut have, mut buf } => {
                    while usize::from(have) < HEADER_LEN && at < bytes.len() {
                        if let (Some(slot), Some(&b)) =
                            (buf.get_mut(usize::from(have)), bytes.get(at))
                        {
                            *slot = b;
                        }
                        have += 1;
                        at += 1;
                    }
                    if usize::from(have) < HEADER_LEN {
                        self.state = State::Header { have, buf };
                        break;
                    }
                    let [ctype, major, minor, hi, lo] = buf;
                    let len = u32::from(u16::from_be_bytes([hi, lo]));
                    let plausible = (FIRST_TYPE..=LAST_TYPE).contains(&ctype)
                        && major == 3
                        && minor <= 4
                        && len <= MAX_BODY;
                    if !plausible {
                        // The break is where this header began (possibly in an earlier segment).
                        let position = self.at + at as u64 - HEADER_LEN as u64;
                        if position < prefix {
                            self.state = State::Done;
                            break;
                        }
                        let mut sample = Vec::with_capacity(SAMPLE_LEN);
                        sample.extend_from_slice(&buf);
                        *end = Some(Box::new(FramingEnd::Break {
                            position,
                            frame,
                            sample,
                        }));
                        self.state = State::Sampling {
                            left: (SAMPLE_LEN - HEADER_LEN) as u16,
                        };
                        continue;
                    }
                    self.state = if len == 0 {
                        header()
                    } else {
                        State::Body { left: len }
                    };
                }
            }
        }
        self.at += bytes.len() as u64;
    }

    /// Following stops at `position`: its header's bytes are missing.
    fn lose(&mut self, position: u64, frame: u64, prefix: u64, end: &mut Option<Box<FramingEnd>>) {
        self.state = State::Done;
        if position >= prefix && end.is_none() {
            *end = Some(Box::new(FramingEnd::Lost { position, frame }));
        }
    }
}

fn header() -> State {
    State::Header {
        have: 0,
        buf: [0; HEADER_LEN],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ctype: u8, body: usize) -> Vec<u8> {
        let mut r = vec![ctype, 3, 3];
        r.extend_from_slice(&(body as u16).to_be_bytes());
        r.extend(std::iter::repeat_n(0xab, body));
        r
    }

    /// Feeds `stream` in segments of `size` bytes (frames 1, 2, …), skipping those `skip` names.
    fn follow(stream: &[u8], size: usize, prefix: u64, skip: &[usize]) -> Option<FramingEnd> {
        let mut f = Framing::default();
        f.start();
        let mut end = None;
        for (i, seg) in stream.chunks(size).enumerate() {
            if !skip.contains(&i) {
                f.feed((i * size) as u64, seg, i as u64 + 1, prefix, &mut end);
            }
        }
        end.map(|e| *e)
    }

    fn records_then_get() -> (Vec<u8>, usize) {
        let mut stream = record(22, 300);
        for _ in 0..8 {
            stream.extend(record(23, 16_000));
        }
        let cut = stream.len();
        stream.extend_from_slice(b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n");
        (stream, cut)
    }

    #[test]
    fn follows_records_across_segments_and_finds_cleartext_past_the_prefix() {
        let (stream, cut) = records_then_get();
        // segments of 1000 bytes, the header of a record split between two of them
        let Some(FramingEnd::Break {
            position,
            frame,
            sample,
        }) = follow(&stream, 1000, 64 * 1024, &[])
        else {
            panic!("the break is found");
        };
        assert_eq!(position, cut as u64);
        assert_eq!(frame, cut as u64 / 1000 + 1);
        // the sample goes on over the next segment
        assert_eq!(sample, b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[test]
    fn missing_body_bytes_do_not_stop_it_and_a_missing_header_is_said() {
        let (stream, cut) = records_then_get();
        // segment 40 lies inside a record body: following goes on at the next header
        let body_only = 40;
        assert!(matches!(
            follow(&stream, 1000, 64 * 1024, &[body_only]),
            Some(FramingEnd::Break { position, .. }) if position == cut as u64
        ));
        // the segment with the header of the record after the prefix is missing
        let header_at = 5 + 300 + 5 * (5 + 16_000);
        let lost = follow(&stream, 1000, 64 * 1024, &[header_at / 1000]);
        assert_eq!(
            lost,
            Some(FramingEnd::Lost {
                position: header_at as u64,
                frame: (header_at / 1000 + 2) as u64
            })
        );
        // inside the prefix, that is the classifier's
        assert_eq!(follow(&stream, 1000, 1 << 20, &[header_at / 1000]), None);
    }

    #[test]
    fn a_break_inside_the_prefix_is_left_to_the_classifier() {
        let mut stream = record(22, 10);
        stream.extend_from_slice(b"GET / HTTP/1.1");
        assert_eq!(follow(&stream, 7, 64 * 1024, &[]), None);
    }

    #[test]
    fn a_header_split_over_segments_is_judged_whole() {
        // "GE" in one segment, "T /" in the next: the break is at the header's start
        let mut stream = record(23, 2);
        stream.extend_from_slice(b"GET /x HTTP/1.1");
        let Some(FramingEnd::Break {
            position, sample, ..
        }) = follow(&stream, 9, 0, &[])
        else {
            panic!("break");
        };
        assert_eq!(position, 7);
        assert_eq!(sample, b"GET /x HTTP/1.1");
        // not started, or stopped: nothing
        let mut end = None;
        let mut off = Framing::default();
        off.feed(0, b"GET / HTTP/1.1", 1, 0, &mut end);
        let mut stopped = Framing::default();
        stopped.start();
        stopped.stop();
        stopped.feed(0, b"GET / HTTP/1.1", 1, 0, &mut end);
        assert_eq!(end, None);
    }

    #[test]
    fn retransmitted_and_reordered_bytes_are_read_once() {
        let (stream, cut) = records_then_get();
        let mut f = Framing::default();
        f.start();
        let mut end = None;
        let chunks: Vec<&[u8]> = stream.chunks(1000).collect();
        // every segment twice, and each pair of segments swapped where it is body only
        for (i, seg) in chunks.iter().enumerate() {
            f.feed((i * 1000) as u64, seg, i as u64 + 1, 64 * 1024, &mut end);
            f.feed((i * 1000) as u64, seg, i as u64 + 1, 64 * 1024, &mut end);
        }
        assert!(matches!(
            end.as_deref(),
            Some(FramingEnd::Break { position, .. }) if *position == cut as u64
        ));
    }
}
