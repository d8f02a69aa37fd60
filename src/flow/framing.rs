//! TLS record framing followed past the buffered prefix.
//!
//! Classification reads only the prefix of each direction (64 KiB by default). A stream that
//! starts with TLS records and turns to cleartext after that would be judged by its records
//! alone. So, for a direction whose stream starts at its SYN with a TLS record header, the
//! record headers are followed over every in-order byte, within the prefix and past it, at a
//! cost of a few comparisons per record: where the bytes stop being a plausible record header
//! past the prefix, the position, the frame and a short sample of what follows are kept.

/// Record content types from ChangeCipherSpec (20) to Heartbeat (24).
const FIRST_TYPE: u8 = 20;
const LAST_TYPE: u8 = 24;
/// The longest record body a TLS stack sends (2^14 plus the largest expansion).
const MAX_BODY: u32 = (1 << 14) + 2048;
const HEADER_LEN: usize = 5;
/// Bytes of what follows a break kept for classification.
pub const SAMPLE_LEN: usize = 512;

/// Where the framing broke past the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingBreak {
    /// Bytes of the stream before the break.
    pub position: u64,
    pub frame: u64,
    /// The bytes at the break (at most [`SAMPLE_LEN`], from that segment).
    pub sample: Box<[u8]>,
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
    /// Stopped: a hole (bytes never captured) or a break.
    Done,
}

/// The record framing of one direction, fed with its in-order bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Framing {
    state: State,
    /// Stream bytes fed before the current segment.
    fed: u64,
}

impl Framing {
    /// Starts following at the stream's first byte (after a SYN).
    pub(crate) fn start(&mut self) {
        self.state = State::Header {
            have: 0,
            buf: [0; HEADER_LEN],
        };
        self.fed = 0;
    }

    /// Stops following (a hole: what follows cannot be framed).
    pub(crate) fn stop(&mut self) {
        self.state = State::Done;
    }

    /// Feeds the next in-order `bytes`; returns the break when they stop being records, and
    /// `prefix` bytes of the stream are buffered (a break inside them is the classifier's).
    pub(crate) fn feed(&mut self, bytes: &[u8], frame: u64, prefix: u64) -> Option<FramingBreak> {
        let mut at = 0usize;
        while at < bytes.len() {
            match self.state {
                State::Off | State::Done => return None,
                State::Body { left } => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - at);
                    at += take;
                    let left = left - u32::try_from(take).unwrap_or(left);
                    self.state = if left == 0 {
                        State::Header {
                            have: 0,
                            buf: [0; HEADER_LEN],
                        }
                    } else {
                        State::Body { left }
                    };
                }
                State::Header { mut have, mut buf } => {
                    let start = at;
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
                        self.state = State::Done;
                        // The break is where this header began (possibly in an earlier segment).
                        let back = u64::from(have) - (at - start) as u64;
                        let position = (self.fed + start as u64).saturating_sub(back);
                        self.fed += at as u64;
                        if position < prefix {
                            return None;
                        }
                        let from = start.saturating_sub(usize::try_from(back).unwrap_or(0));
                        let rest = bytes.get(from..).unwrap_or_default();
                        return Some(FramingBreak {
                            position,
                            frame,
                            sample: rest.get(..SAMPLE_LEN).unwrap_or(rest).into(),
                        });
                    }
                    self.state = if len == 0 {
                        State::Header {
                            have: 0,
                            buf: [0; HEADER_LEN],
                        }
                    } else {
                        State::Body { left: len }
                    };
                }
            }
        }
        self.fed += bytes.len() as u64;
        None
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

    #[test]
    fn follows_records_across_segments_and_finds_cleartext_past_the_prefix() {
        let mut stream = record(22, 300);
        for _ in 0..8 {
            stream.extend(record(23, 16_000));
        }
        let cut = stream.len();
        stream.extend_from_slice(b"GET /secret HTTP/1.1\r\n\r\n");
        let mut f = Framing::default();
        f.start();
        let mut found = None;
        // segments of 1000 bytes, the header of a record split between two of them
        for (i, seg) in stream.chunks(1000).enumerate() {
            if let Some(b) = f.feed(seg, i as u64 + 1, 64 * 1024) {
                found = Some(b);
            }
        }
        let b = found.expect("the break is found");
        assert_eq!(b.position, cut as u64);
        assert_eq!(b.frame, cut as u64 / 1000 + 1);
        assert!(b.sample.starts_with(b"GET /secret"));
        // once broken, nothing more is reported
        assert_eq!(f.feed(b"more", 99, 0), None);
    }

    #[test]
    fn a_break_inside_the_prefix_is_left_to_the_classifier() {
        let mut stream = record(22, 10);
        stream.extend_from_slice(b"GET / HTTP/1.1");
        let mut f = Framing::default();
        f.start();
        assert_eq!(f.feed(&stream, 1, 64 * 1024), None);
        assert_eq!(f.feed(&record(23, 5), 2, 0), None);
    }

    #[test]
    fn a_header_split_over_segments_is_judged_whole() {
        let mut f = Framing::default();
        f.start();
        // "GET" in one segment, " /" in the next: the break is at the header's start
        assert_eq!(f.feed(&record(23, 2), 1, 0), None);
        assert_eq!(f.feed(b"GE", 2, 0), None);
        let b = f.feed(b"T /x HTTP/1.1", 3, 0).expect("break");
        assert_eq!(b.position, 7);
        assert_eq!(&b.sample[..], b"T /x HTTP/1.1");
        // not started, or stopped: nothing
        let mut off = Framing::default();
        assert_eq!(off.feed(b"GET / HTTP/1.1", 1, 0), None);
        let mut stopped = Framing::default();
        stopped.start();
        stopped.stop();
        assert_eq!(stopped.feed(b"GET / HTTP/1.1", 1, 0), None);
    }
}
