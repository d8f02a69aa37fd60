//! The two loops that walk records: over a slice (a memory map, where frames borrow the map) and
//! over a stream (standard input, a buffered file, a gzip decoder), refilled through a bounded
//! buffer whose size follows the largest record, never the input.

use std::io::{self, Read};

use super::record::{Opened, RecordReader, Step, Tally};
use super::Frame;

/// Where the record loops deliver what they read: packets, and TLS key log text from pcapng
/// Decryption Secrets Blocks as soon as it is met (it applies to the packets that follow).
pub trait FrameSink<'a> {
    /// One packet, in file order.
    fn frame(&mut self, frame: &Frame<'a>);

    /// Key log text from a Decryption Secrets Block (NSS key log lines).
    fn tls_secrets(&mut self, _text: &[u8]) {}

    /// Every record read so far was delivered, and the next read may wait for the input (a
    /// pipe, a FIFO): what the frames so far settled can be told now.
    fn waiting(&mut self) {}
}

/// A [`FrameSink`] made of a closure that takes the frames and ignores the secrets (they are
/// still collected in [`CaptureInfo::tls_secrets`](super::CaptureInfo::tls_secrets)).
#[derive(Debug)]
pub struct Frames<F>(pub F);

impl<'a, F: FnMut(&Frame<'a>)> FrameSink<'a> for Frames<F> {
    fn frame(&mut self, frame: &Frame<'a>) {
        (self.0)(frame)
    }
}

/// [`Frames`] for a closure that takes frames of any lifetime (a stream's frames borrow the
/// read buffer only for the call).
#[derive(Debug)]
pub(crate) struct AnyFrames<F>(pub F);

impl<'a, F: FnMut(&Frame<'_>)> FrameSink<'a> for AnyFrames<F> {
    fn frame(&mut self, frame: &Frame<'a>) {
        (self.0)(frame)
    }
}

/// Reads one record with `reader`, telling `sink` about key log text the record added.
fn next_record<'a, R: RecordReader, S: FrameSink<'a> + ?Sized>(
    reader: &mut R,
    buf: &'a [u8],
    tally: &mut Tally,
    sink: &mut S,
) -> Step<'a> {
    let before = tally.tls_secrets.len();
    let step = reader.next(buf, tally);
    if let Some(added) = tally.tls_secrets.get(before..).filter(|a| !a.is_empty()) {
        sink.tls_secrets(added);
        if tally.forget_secrets {
            tally.tls_secrets.clear();
        }
    }
    step
}

/// Size the read buffer grows to (more only for a larger record).
const CHUNK: usize = 1 << 20;

/// Size of the read buffer at first.
const MIN_CHUNK: usize = 64 << 10;

/// How a stream's file header could not be read.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The input ended after `have` of the `need` header bytes.
    Cut { have: usize, need: usize },
    /// The header is invalid.
    Bad(String),
    /// Reading the stream failed.
    Read(io::Error),
}

/// Reads every record of `data` after its file header, calling `on_frame` for each packet.
///
/// `data` must start with the file header; returns `Err` when the header cannot be read.
pub(crate) fn drive_slice<'a, R, F>(
    data: &'a [u8],
    tally: &mut Tally,
    on_frame: &mut F,
) -> Result<(), OpenError>
where
    R: RecordReader,
    F: FrameSink<'a>,
{
    let (mut reader, mut pos) = match R::open(data, tally) {
        Opened::Ready { reader, len } => (reader, len),
        Opened::Need(need) => {
            return Err(OpenError::Cut {
                have: data.len(),
                need,
            })
        }
        Opened::Bad(why) => return Err(OpenError::Bad(why)),
    };
    while let Some(rest) = data.get(pos..).filter(|rest| !rest.is_empty()) {
        let len = match next_record(&mut reader, rest, tally, on_frame) {
            Step::Frame { len, mut frame } => {
                tally.packets = tally.packets.saturating_add(1);
                frame.number = tally.packets;
                on_frame.frame(&frame);
                len
            }
            Step::Dropped { len } => {
                tally.packets = tally.packets.saturating_add(1);
                len
            }
            Step::Skip { len } => len,
            Step::Need(need) => {
                tally.cut(pos as u64, rest.len(), need);
                break;
            }
            Step::Corrupt { what } => {
                tally.corrupt(pos as u64, &what);
                break;
            }
        };
        // A reader never reports more than it was given; `max(1)` guarantees progress.
        pos = pos.saturating_add(len.clamp(1, rest.len()));
    }
    reader.finish(tally);
    Ok(())
}

/// A read buffer over a stream: `buf[start..end]` holds bytes read but not yet consumed.
#[derive(Debug)]
pub(crate) struct StreamBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The stream has ended.
    eof: bool,
    /// Stream offset of `buf[start]`.
    offset: u64,
}

impl StreamBuf {
    pub fn new() -> StreamBuf {
        StreamBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
        }
    }

    /// The bytes read and not yet consumed.
    #[inline]
    pub fn available(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end.saturating_sub(self.start));
        self.start = self.start.saturating_add(n);
        self.offset = self.offset.saturating_add(n as u64);
    }

    /// Reads until at least `total` bytes are available or the stream ends.
    pub fn fill_to(&mut self, reader: &mut dyn Read, total: usize) -> io::Result<()> {
        if self.end.saturating_sub(self.start) >= total || self.eof {
            return Ok(());
        }
        if self.buf.len().saturating_sub(self.start) < total || self.end == self.buf.len() {
            // Move the partial record to the front, then make room for the whole of it.
            self.buf.copy_within(self.start..self.end, 0);
            self.end = self.end.saturating_sub(self.start);
            self.start = 0;
            // Start small (most test inputs and many captures are tiny), grow to CHUNK.
            let wanted = total.max(self.buf.len().saturating_mul(2).clamp(MIN_CHUNK, CHUNK));
            if self.buf.len() < wanted {
                self.buf.resize(wanted, 0);
            }
        }
        while self.end.saturating_sub(self.start) < total {
            let free = self.buf.get_mut(self.end..).unwrap_or_default();
            match reader.read(free) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end = self.end.saturating_add(n.min(free.len())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes the bytes available, leaving the buffer empty.
    pub fn take_available(&mut self) -> Vec<u8> {
        let out = self.available().to_vec();
        self.consume(out.len());
        out
    }
}

/// Reads every record of a stream, calling `on_frame` for each packet. `buf` may already hold
/// the first bytes of the stream (read to sniff the format).
///
/// A read error after the file header is returned in `tally`-consistent state: the frames before
/// it were delivered and counted.
pub(crate) fn drive_stream<R, F>(
    buf: &mut StreamBuf,
    input: &mut dyn Read,
    tally: &mut Tally,
    on_frame: &mut F,
) -> Result<Result<(), io::Error>, OpenError>
where
    R: RecordReader,
    F: for<'b> FrameSink<'b>,
{
    let mut reader = loop {
        match R::open(buf.available(), tally) {
            Opened::Ready { reader, len } => {
                buf.consume(len);
                break reader;
            }
            Opened::Need(need) if !buf.eof => {
                let more = buf.available().len().saturating_add(1);
                buf.fill_to(input, need.max(more))
                    .map_err(OpenError::Read)?
            }
            Opened::Need(need) => {
                return Err(OpenError::Cut {
                    have: buf.available().len(),
                    need,
                })
            }
            Opened::Bad(why) => return Err(OpenError::Bad(why)),
        }
    };
    let result = records(&mut reader, buf, input, tally, on_frame);
    reader.finish(tally);
    Ok(result)
}

fn records<R, F>(
    reader: &mut R,
    buf: &mut StreamBuf,
    input: &mut dyn Read,
    tally: &mut Tally,
    on_frame: &mut F,
) -> io::Result<()>
where
    R: RecordReader,
    F: for<'b> FrameSink<'b>,
{
    loop {
        if buf.available().is_empty() {
            if buf.eof {
                return Ok(());
            }
            on_frame.waiting();
            buf.fill_to(input, 1)?;
            continue;
        }
        let len = match next_record(reader, buf.available(), tally, on_frame) {
            Step::Frame { len, mut frame } => {
                tally.packets = tally.packets.saturating_add(1);
                frame.number = tally.packets;
                on_frame.frame(&frame);
                len
            }
            Step::Dropped { len } => {
                tally.packets = tally.packets.saturating_add(1);
                len
            }
            Step::Skip { len } => len,
            Step::Need(need) if !buf.eof => {
                on_frame.waiting();
                // Always ask for more than is there, so that the loop cannot spin.
                let more = buf.available().len().saturating_add(1);
                buf.fill_to(input, need.total.max(more))?;
                continue;
            }
            Step::Need(need) => {
                tally.cut(buf.offset, buf.available().len(), need);
                return Ok(());
            }
            Step::Corrupt { what } => {
                tally.corrupt(buf.offset, &what);
                return Ok(());
            }
        };
        buf.consume(len.max(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap::PcapReader;
    use crate::capture::testutil::{pcap_file, PcapOpts, Trickle};

    fn frames_of_slice(data: &[u8]) -> (Vec<(u64, Vec<u8>)>, Tally) {
        let mut tally = Tally::default();
        let mut frames = Vec::new();
        drive_slice::<PcapReader, _>(
            data,
            &mut tally,
            &mut Frames(|f: &Frame<'_>| frames.push((f.number, f.data.to_vec()))),
        )
        .unwrap();
        (frames, tally)
    }

    fn frames_of_stream(data: &[u8], step: usize) -> (Vec<(u64, Vec<u8>)>, Tally) {
        let mut tally = Tally::default();
        let mut frames = Vec::new();
        let mut buf = StreamBuf::new();
        let mut input = Trickle { data, step };
        drive_stream::<PcapReader, _>(
            &mut buf,
            &mut input,
            &mut tally,
            &mut AnyFrames(|f: &Frame<'_>| frames.push((f.number, f.data.to_vec()))),
        )
        .unwrap()
        .unwrap();
        (frames, tally)
    }

    #[test]
    fn slice_and_stream_agree_on_a_cut_capture() {
        let mut file = pcap_file(
            PcapOpts::default(),
            &[(1, 0, b"one", 3), (2, 0, b"two!", 4), (3, 0, b"three", 5)],
        );
        file.truncate(file.len() - 2);
        let (frames, tally) = frames_of_slice(&file);
        assert_eq!(frames, [(1, b"one".to_vec()), (2, b"two!".to_vec())]);
        assert!(tally.truncated);
        assert_eq!(
            tally.warnings,
            [
                "capture ends inside packet record 3 (at byte 63): the last 19 bytes are an \
              incomplete record; analysed the 2 complete packets"
            ]
        );
        for step in [1, 7, 64, 1 << 20] {
            let (s_frames, s_tally) = frames_of_stream(&file, step);
            assert_eq!(s_frames, frames, "step {step}");
            assert_eq!(s_tally.warnings, tally.warnings, "step {step}");
        }
    }

    #[test]
    fn stream_refills_records_larger_than_the_first_chunk() {
        let big = vec![7u8; 200_000];
        let records: Vec<(u32, u32, &[u8], u32)> =
            (0..12).map(|i| (i, 0, big.as_slice(), 200_000)).collect();
        let file = pcap_file(PcapOpts::default(), &records);
        let (frames, tally) = frames_of_stream(&file, 65_536);
        assert_eq!(frames.len(), 12);
        assert!(frames.iter().all(|(_, d)| d.len() == 200_000));
        assert!(!tally.truncated);
    }

    #[test]
    fn header_cut_is_an_open_error() {
        let file = pcap_file(PcapOpts::default(), &[]);
        let mut tally = Tally::default();
        let err =
            drive_slice::<PcapReader, _>(&file[..10], &mut tally, &mut Frames(|_: &Frame<'_>| {}));
        assert!(matches!(err, Err(OpenError::Cut { have: 10, need: 24 })));
        let mut buf = StreamBuf::new();
        let err = drive_stream::<PcapReader, _>(
            &mut buf,
            &mut Trickle {
                data: &file[..10],
                step: 3,
            },
            &mut tally,
            &mut AnyFrames(|_: &Frame<'_>| {}),
        );
        assert!(matches!(err, Err(OpenError::Cut { have: 10, need: 24 })));
    }
}
