//! Opening the input (memory map, buffered file, standard input, gzip) and dispatching to the
//! pcap or pcapng reader.
//!
//! A regular file is memory-mapped and its records are walked in place: frames borrow the map.
//! Everything else (standard input, a pipe, a file that cannot be mapped, `--no-mmap`, and the
//! content of a gzip file) is read as a stream through a buffer bounded by the largest record.
//! Both ways give the same frames and the same [`CaptureInfo`].

use std::fs::{self, File};
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::thread;

use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use sha2::{Digest, Sha256};

use super::driver::{
    drive_slice, drive_stream, AnyFrames, FrameSink, Frames, OpenError, StreamBuf,
};
use super::pcap::PcapReader;
use super::pcapng::PcapNgReader;
use super::record::Tally;
use super::sniff::{describe, sniff_format, Sniffed};
use super::stream_hash::StreamHasher;
use super::{CaptureError, CaptureFormat, CaptureInfo, Frame, LinkType};

/// Most bytes decompressed from a gzip input by default: a decompression bomb must end.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 16 << 30;

#[cfg(test)]
const MAX_DECOMPRESSED: u64 = DEFAULT_MAX_DECOMPRESSED;

/// Bytes read from a stream before telling its format (enough to describe a non-capture).
const SNIFF_LEN: usize = 256;

/// Inputs at least this large are hashed on a second thread while they are parsed (a stream
/// from the point it has passed this size).
pub(super) const PARALLEL_HASH_MIN: usize = 8 << 20;

/// Where a capture comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    /// The name used in reports: the path as given, or `-` for standard input.
    pub fn display_name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }
}

/// How to read a capture.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Memory-map regular files (default); otherwise read them with buffered I/O.
    pub mmap: bool,
    /// Compute the SHA-256 of each input (default), beside the record walk.
    pub hash: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            mmap: true,
            hash: true,
        }
    }
}

/// Bounds on what reading one capture may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most bytes taken out of a gzip-compressed capture (default 16 GiB). Reading stops there
    /// with a warning and `truncated` set: a decompression bomb ends in bounded time.
    pub max_decompressed_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// Reads every frame of `input`, calling `on_frame` for each in file order.
///
/// Classic pcap (both byte orders, micro- and nanosecond timestamps) and pcapng (several
/// sections and interfaces, Enhanced, Simple and obsolete Packet Blocks, TLS key logs from
/// Decryption Secrets Blocks) are read, gzip-compressed or not. Frames borrow the input: the
/// memory map of a regular file, or the read buffer of a stream.
///
/// A capture cut off inside a record, or damaged in the middle, is not an error: the frames
/// before the cut are delivered, [`CaptureInfo::truncated`] is set and a warning says where.
///
/// A capture whose interfaces all have link types the decoder does not read is an error
/// ([`CaptureError::UnsupportedLinkType`]), once its frames have been handed over.
pub fn read_capture<F>(
    input: &Input,
    opts: &ReadOptions,
    on_frame: F,
) -> Result<CaptureInfo, CaptureError>
where
    F: FnMut(&Frame<'_>),
{
    read_capture_limited(input, opts, &ReadLimits::default(), on_frame)
}

/// [`read_capture`] within the given [`ReadLimits`].
pub fn read_capture_limited<F>(
    input: &Input,
    opts: &ReadOptions,
    limits: &ReadLimits,
    on_frame: F,
) -> Result<CaptureInfo, CaptureError>
where
    F: FnMut(&Frame<'_>),
{
    read_capture_into(input, opts, limits, &mut AnyFrames(on_frame))
}

/// [`read_capture_limited`] delivering to a [`FrameSink`], which also hears about the TLS key
/// logs of Decryption Secrets Blocks as soon as they are read.
pub fn read_capture_into<S>(
    input: &Input,
    opts: &ReadOptions,
    limits: &ReadLimits,
    sink: &mut S,
) -> Result<CaptureInfo, CaptureError>
where
    S: for<'b> FrameSink<'b>,
{
    let name = input.display_name();
    let max = limits.max_decompressed_bytes;
    let info = match input {
        Input::Path(path) => read_path(path, &name, opts, max, sink),
        Input::Stdin => {
            let stdin = io::stdin();
            widen_pipe(&stdin);
            let mut stdin = stdin.lock();
            read_stream(&name, &mut stdin, max, opts.hash, sink)
        }
    }?;
    check_links(name, info)
}

/// Buffer asked for a pipe that a capture comes through.
#[cfg(target_os = "linux")]
const WIDE_PIPE: usize = 1 << 20;

/// Widens the buffer of the pipe `input` is, if it is one. A pipe holds 64 KiB by
/// default, so its writer and this reader wake each other up every 64 KiB; with 1 MiB (as much
/// as an unprivileged process may ask for by default) they do so sixteen times less often, and
/// `cat FILE | mtlscan -` of 2 GB runs about 15 % faster. Only a hint: when it fails, or
/// `input` is no pipe, nothing changes.
#[cfg(target_os = "linux")]
fn widen_pipe(input: impl std::os::fd::AsFd) {
    use rustix::pipe::{fcntl_getpipe_size, fcntl_setpipe_size};
    let fd = input.as_fd();
    if fcntl_getpipe_size(fd).is_ok_and(|size| size < WIDE_PIPE) {
        let _ = fcntl_setpipe_size(fd, WIDE_PIPE);
    }
}

#[cfg(not(target_os = "linux"))]
fn widen_pipe<T>(_input: T) {}

/// [`read_capture_limited`] over a capture held in memory, as a memory map would give it.
pub fn read_capture_bytes<F>(
    name: &str,
    data: &[u8],
    limits: &ReadLimits,
    on_frame: F,
) -> Result<CaptureInfo, CaptureError>
where
    F: FnMut(&Frame<'_>),
{
    if data.is_empty() {
        return Err(CaptureError::Empty { name: name.into() });
    }
    let info = read_mapped(
        name,
        data,
        limits.max_decompressed_bytes,
        true,
        &mut AnyFrames(on_frame),
    )?;
    check_links(name.into(), info)
}

/// [`read_capture_limited`] over any byte stream (read through a bounded buffer, as standard
/// input is).
pub fn read_capture_stream<F>(
    name: &str,
    input: &mut dyn Read,
    limits: &ReadLimits,
    on_frame: F,
) -> Result<CaptureInfo, CaptureError>
where
    F: FnMut(&Frame<'_>),
{
    let info = read_stream(
        name,
        input,
        limits.max_decompressed_bytes,
        true,
        &mut AnyFrames(on_frame),
    )?;
    check_links(name.into(), info)
}

/// [`read_capture_stream`] into a [`FrameSink`], which is also told the key log text of
/// Decryption Secrets Blocks and each time the reader is about to wait for more input; hashed
/// when `opts` asks for it.
pub fn read_stream_into<S>(
    name: &str,
    input: &mut dyn Read,
    opts: &ReadOptions,
    limits: &ReadLimits,
    sink: &mut S,
) -> Result<CaptureInfo, CaptureError>
where
    S: for<'b> FrameSink<'b>,
{
    let info = read_stream(name, input, limits.max_decompressed_bytes, opts.hash, sink)?;
    check_links(name.into(), info)
}

/// An error when no interface of the capture has a link type the decoder reads.
fn check_links(name: String, info: CaptureInfo) -> Result<CaptureInfo, CaptureError> {
    if !info.link_types.is_empty() && !info.link_types.iter().any(|l| l.is_supported()) {
        return Err(CaptureError::UnsupportedLinkType {
            name,
            found: info
                .link_types
                .iter()
                .map(|l| l.describe())
                .collect::<Vec<_>>()
                .join(", "),
            supported: LinkType::supported_list(),
        });
    }
    Ok(info)
}

fn read_path<F>(
    path: &Path,
    name: &str,
    opts: &ReadOptions,
    max_decompressed: u64,
    on_frame: &mut F,
) -> Result<CaptureInfo, CaptureError>
where
    F: for<'b> FrameSink<'b>,
{
    let open_error = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => CaptureError::NotFound { path: path.into() },
        _ => CaptureError::Io {
            path: path.into(),
            source,
        },
    };
    let meta = fs::metadata(path).map_err(open_error)?;
    if meta.is_dir() {
        return Err(CaptureError::IsDirectory { path: path.into() });
    }
    let mut file = File::open(path).map_err(open_error)?;
    if meta.is_file() {
        if meta.len() == 0 {
            return Err(CaptureError::Empty { name: name.into() });
        }
        if opts.mmap {
            if let Ok(map) = map_file(&file) {
                return read_mapped(name, &map, max_decompressed, opts.hash, on_frame);
            }
        }
    }
    // A named pipe, or a shell's `<(command)`, is read like standard input.
    widen_pipe(&file);
    read_stream(name, &mut file, max_decompressed, opts.hash, on_frame)
}

/// Maps `file` read-only, advising the kernel that it will be read sequentially.
///
/// # Safety
///
/// This is the crate's only `unsafe` code. A memory map is only sound while nobody changes the
/// file under it: if another process truncates the file while it is mapped, touching the lost
/// pages raises SIGBUS and the process dies; if it writes to the file, the bytes seen may change
/// between reads. Captures are normally finished files; a capture still being written by tcpdump
/// only grows, which is harmless (the map keeps its length). Callers that cannot accept the risk
/// use `--no-mmap` ([`ReadOptions::mmap`] = false), which reads the file instead.
fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: the map is read-only and only lives for one `read_capture` call; the residual
    // risk (SIGBUS if the file is truncated meanwhile) is documented above and avoided by
    // `--no-mmap`.
    let map = unsafe { Mmap::map(file) }?;
    #[cfg(unix)]
    {
        // Only a hint: read-ahead matters for speed, not for correctness.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    Ok(map)
}

/// Reads a capture held in memory (a map), hashing it when `hash`. gzip data and non-captures
/// go the stream way.
fn read_mapped<F>(
    name: &str,
    data: &[u8],
    max_decompressed: u64,
    hash: bool,
    on_frame: &mut F,
) -> Result<CaptureInfo, CaptureError>
where
    F: for<'b> FrameSink<'b>,
{
    let Some(Sniffed::Capture(format)) = sniff_format(data) else {
        return read_stream(name, &mut &data[..], max_decompressed, hash, on_frame);
    };
    walk_slice(name, format, data, hash, on_frame)
}

/// Walks the records of an uncompressed capture in memory, hashing it meanwhile when `hash`.
fn walk_slice<'a, F>(
    name: &str,
    format: CaptureFormat,
    data: &'a [u8],
    hash: bool,
    on_frame: &mut F,
) -> Result<CaptureInfo, CaptureError>
where
    F: FrameSink<'a>,
{
    let mut tally = Tally::default();
    let mut walk = || drive(format, data, &mut tally, on_frame);
    let (outcome, sha256) = match hash {
        true => {
            let (outcome, sha256) = hashed_while(data, walk);
            (outcome, Some(sha256))
        }
        false => (walk(), None),
    };
    outcome.map_err(|e| open_error(name, format, e))?;
    Ok(info(format, None, tally, data.len() as u64, sha256))
}

/// [`drive_slice`] with the record reader of `format`.
fn drive<'a, F>(
    format: CaptureFormat,
    data: &'a [u8],
    tally: &mut Tally,
    on_frame: &mut F,
) -> Result<(), OpenError>
where
    F: FrameSink<'a>,
{
    match format {
        CaptureFormat::Pcap => drive_slice::<PcapReader, F>(data, tally, on_frame),
        CaptureFormat::PcapNg => drive_slice::<PcapNgReader, F>(data, tally, on_frame),
    }
}

/// An uncompressed capture file held in a memory map. Its frames borrow the map for as long as
/// the `MappedCapture` lives, so they can be handed to other threads without a copy.
#[derive(Debug)]
pub struct MappedCapture {
    name: String,
    format: CaptureFormat,
    map: Mmap,
    /// Hash the file while reading it ([`ReadOptions::hash`]).
    hash: bool,
}

impl MappedCapture {
    /// Maps `input` when it is a non-empty regular file holding an uncompressed pcap or pcapng
    /// and `opts` allows mapping. `None` otherwise: [`read_capture`] then reads it (and reports
    /// any error).
    pub fn open(input: &Input, opts: &ReadOptions) -> Option<MappedCapture> {
        let Input::Path(path) = input else {
            return None;
        };
        if !opts.mmap {
            return None;
        }
        let meta = fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        let map = map_file(&File::open(path).ok()?).ok()?;
        let Some(Sniffed::Capture(format)) = sniff_format(&map) else {
            return None;
        };
        Some(MappedCapture {
            name: input.display_name(),
            format,
            map,
            hash: opts.hash,
        })
    }

    /// Size of the file in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The file is empty (never true for an opened capture).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Calls `on_frame` for every frame in file order, hashing the file meanwhile (on a second
    /// thread for large files). Same frames and [`CaptureInfo`] as [`read_capture`].
    pub fn read<'m, F>(&'m self, on_frame: F) -> Result<CaptureInfo, CaptureError>
    where
        F: FnMut(&Frame<'m>),
    {
        self.read_into(&mut Frames(on_frame))
    }

    /// [`MappedCapture::read`] delivering to a [`FrameSink`].
    pub fn read_into<'m, S>(&'m self, sink: &mut S) -> Result<CaptureInfo, CaptureError>
    where
        S: FrameSink<'m>,
    {
        let info = walk_slice(&self.name, self.format, &self.map, self.hash, sink)?;
        check_links(self.name.clone(), info)
    }

    /// Walks the records into `sink` as [`MappedCapture::read_into`] does, without hashing the
    /// file or describing it: for a second reader of the same map, which the first one's
    /// [`CaptureInfo`] and errors speak for.
    pub fn walk_into<'m, S>(&'m self, sink: &mut S)
    where
        S: FrameSink<'m>,
    {
        let mut tally = Tally {
            forget_secrets: true,
            ..Tally::default()
        };
        // The first reader reports how the walk ended, and keeps the key log text.
        let _ = drive(self.format, &self.map, &mut tally, sink);
    }
}

/// Runs `work` while hashing `data`, on a second thread when `data` is large.
fn hashed_while<T>(data: &[u8], work: impl FnOnce() -> T) -> (T, String) {
    if data.len() < PARALLEL_HASH_MIN {
        return (work(), sha256_hex(data));
    }
    thread::scope(|scope| {
        let hasher = thread::Builder::new()
            .name("sha256".into())
            .spawn_scoped(scope, || sha256_hex(data));
        let result = work();
        let sha256 = match hasher {
            Ok(handle) => handle.join().unwrap_or_else(|_| sha256_hex(data)),
            Err(_) => sha256_hex(data),
        };
        (result, sha256)
    })
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Reads a capture from a stream, gzip-compressed or not, hashing the stored bytes as they come
/// when `hash`. `max_decompressed` bounds the bytes taken out of a gzip stream.
fn read_stream<F>(
    name: &str,
    raw: &mut dyn Read,
    max_decompressed: u64,
    hash: bool,
    on_frame: &mut F,
) -> Result<CaptureInfo, CaptureError>
where
    F: for<'b> FrameSink<'b>,
{
    let io_error = |source: io::Error| CaptureError::Io {
        path: name.into(),
        source,
    };
    let mut hashing = HashingReader::new(raw, hash);
    let mut buf = StreamBuf::new();
    buf.fill_to(&mut hashing, SNIFF_LEN).map_err(io_error)?;
    let mut tally = Tally::default();
    let (format, compression) = match sniff_format(buf.available()) {
        _ if buf.available().is_empty() => return Err(CaptureError::Empty { name: name.into() }),
        None => {
            return Err(CaptureError::NotACapture {
                name: name.into(),
                magic: describe(buf.available()),
            })
        }
        Some(Sniffed::Capture(format)) => {
            let outcome = stream_records(format, &mut buf, &mut hashing, &mut tally, on_frame);
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(OpenError::Read(e)) => return Err(io_error(e)),
                Err(e) => return Err(open_error(name, format, e)),
            }
            (format, None)
        }
        Some(Sniffed::Gzip) => {
            let head = buf.take_available();
            let gzip = read_gzip(head, &mut hashing, max_decompressed, &mut tally, on_frame);
            let format = match gzip {
                Gzip::Read { format, outcome } => {
                    match outcome {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) | Err(OpenError::Read(e)) if hashing.failed => {
                            return Err(io_error(e))
                        }
                        Ok(Err(e)) => {
                            tally.truncated = true;
                            tally.warnings.push(format!(
                                "the gzip data is damaged or cut short ({e}); analysed the {} \
                                 packets before that point",
                                tally.packets
                            ));
                        }
                        Err(OpenError::Read(e)) => return Err(undecompressable(name, &e)),
                        Err(e) => return Err(open_error(name, format, e)),
                    }
                    format
                }
                Gzip::NotACapture(_) | Gzip::Failed(_) if hashing.failed => {
                    return Err(io_error(hashing.error()))
                }
                Gzip::NotACapture(magic) => {
                    return Err(CaptureError::NotACapture {
                        name: name.into(),
                        magic,
                    })
                }
                Gzip::Failed(e) => return Err(undecompressable(name, &e)),
            };
            (format, Some("gzip"))
        }
    };
    // The hash covers the whole input, also past a damaged block where reading stopped.
    io::copy(&mut hashing, &mut io::sink()).map_err(io_error)?;
    let bytes = hashing.count;
    Ok(info(format, compression, tally, bytes, hashing.finish()))
}

/// How reading the content of a gzip stream went.
enum Gzip {
    Read {
        format: CaptureFormat,
        outcome: Result<io::Result<()>, OpenError>,
    },
    /// The content is not a capture; the text describes it.
    NotACapture(String),
    /// The data could not be decompressed at all.
    Failed(io::Error),
}

fn read_gzip<F>(
    head: Vec<u8>,
    raw: &mut HashingReader<'_>,
    max_decompressed: u64,
    tally: &mut Tally,
    on_frame: &mut F,
) -> Gzip
where
    F: for<'b> FrameSink<'b>,
{
    let mut gz = Bounded::new(
        MultiGzDecoder::new(Cursor::new(head).chain(raw)),
        max_decompressed,
    );
    let mut buf = StreamBuf::new();
    if let Err(e) = buf.fill_to(&mut gz, SNIFF_LEN) {
        return Gzip::Failed(e);
    }
    let format = match sniff_format(buf.available()) {
        Some(Sniffed::Capture(format)) => format,
        _ if buf.available().is_empty() => {
            return Gzip::NotACapture("1f 8b, a gzip file with nothing inside".into())
        }
        _ => {
            return Gzip::NotACapture(format!(
                "1f 8b, looks like a gzip file that is not a capture: its content starts with {}",
                describe(buf.available())
            ))
        }
    };
    tally.offset_note = " of the decompressed data";
    let outcome = stream_records(format, &mut buf, &mut gz, tally, on_frame);
    if gz.hit {
        tally.truncated = true;
        tally.warnings.push(format!(
            "stopped after {} of decompressed data, the limit for a gzip input (a \
             decompression bomb?); analysed the {} packets before it",
            human_size(max_decompressed),
            tally.packets
        ));
    }
    Gzip::Read { format, outcome }
}

fn stream_records<F>(
    format: CaptureFormat,
    buf: &mut StreamBuf,
    input: &mut dyn Read,
    tally: &mut Tally,
    on_frame: &mut F,
) -> Result<io::Result<()>, OpenError>
where
    F: for<'b> FrameSink<'b>,
{
    match format {
        CaptureFormat::Pcap => drive_stream::<PcapReader, F>(buf, input, tally, on_frame),
        CaptureFormat::PcapNg => drive_stream::<PcapNgReader, F>(buf, input, tally, on_frame),
    }
}

fn open_error(name: &str, format: CaptureFormat, e: OpenError) -> CaptureError {
    match e {
        OpenError::Cut { have, need } => CaptureError::HeaderCut {
            name: name.into(),
            format: format.name(),
            have,
            need,
        },
        OpenError::Bad(detail) => CaptureError::BadHeader {
            name: name.into(),
            detail,
        },
        OpenError::Read(source) => CaptureError::Io {
            path: name.into(),
            source,
        },
    }
}

/// `n` bytes in GiB, MiB or bytes, whichever is whole.
fn human_size(n: u64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

fn undecompressable(name: &str, e: &io::Error) -> CaptureError {
    CaptureError::NotACapture {
        name: name.into(),
        magic: format!("1f 8b, a gzip file that cannot be decompressed: {e}"),
    }
}

fn info(
    format: CaptureFormat,
    compression: Option<&'static str>,
    tally: Tally,
    bytes: u64,
    sha256: Option<String>,
) -> CaptureInfo {
    CaptureInfo {
        format,
        compression,
        link_types: tally.link_types,
        packets: tally.packets,
        bytes,
        sha256,
        truncated: tally.truncated,
        warnings: tally.warnings,
        tls_secrets: tally.tls_secrets,
    }
}

/// Counts (and hashes, if asked) the bytes read through it; remembers whether the input failed.
struct HashingReader<'r> {
    inner: &'r mut dyn Read,
    sha: Option<StreamHasher>,
    count: u64,
    failed: bool,
    error: Option<io::Error>,
}

impl<'r> HashingReader<'r> {
    fn new(inner: &'r mut dyn Read, hash: bool) -> Self {
        HashingReader {
            inner,
            sha: hash.then(StreamHasher::new),
            count: 0,
            failed: false,
            error: None,
        }
    }

    /// The input's read error (it is handed on to the reader's caller too).
    fn error(&mut self) -> io::Error {
        self.error
            .take()
            .unwrap_or_else(|| io::Error::other("read failed"))
    }

    fn finish(self) -> Option<String> {
        self.sha.map(StreamHasher::finish)
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(out) {
            Ok(n) => {
                let n = n.min(out.len());
                if let Some(sha) = &mut self.sha {
                    sha.update(out.get(..n).unwrap_or_default());
                }
                self.count = self.count.saturating_add(n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed = true;
                    self.error = Some(io::Error::new(e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

/// Ends a stream after `left` bytes, noting whether more were there.
struct Bounded<R> {
    inner: R,
    left: u64,
    hit: bool,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            left: limit,
            hit: false,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            if !self.hit && !out.is_empty() {
                let mut probe = [0u8; 1];
                self.hit = self.inner.read(&mut probe)? > 0;
            }
            return Ok(0);
        }
        let max = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let out = out.get_mut(..max).unwrap_or_default();
        let n = self.inner.read(out)?.min(max);
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;
    use crate::capture::testutil::{pcap_file, Ng, PcapOpts, Trickle};
    use crate::capture::LinkType;

    /// A frame as (number, timestamp, link type, interface, data, original length).
    type Seen = (u64, i64, LinkType, u32, Vec<u8>, u32);

    fn seen(frames: &mut Vec<Seen>) -> impl FnMut(&Frame<'_>) + '_ {
        |f: &Frame<'_>| {
            frames.push((
                f.number,
                f.ts_nanos,
                f.link,
                f.interface,
                f.data.to_vec(),
                f.orig_len,
            ))
        }
    }

    fn mapped(data: &[u8]) -> Result<(Vec<Seen>, CaptureInfo), CaptureError> {
        let mut frames = Vec::new();
        let info = read_mapped(
            "test",
            data,
            DEFAULT_MAX_DECOMPRESSED,
            true,
            &mut AnyFrames(seen(&mut frames)),
        )?;
        Ok((frames, info))
    }

    fn streamed(
        data: &[u8],
        step: usize,
        limit: u64,
    ) -> Result<(Vec<Seen>, CaptureInfo), CaptureError> {
        let mut frames = Vec::new();
        let mut input = Trickle { data, step };
        let info = {
            let sink = &mut AnyFrames(seen(&mut frames));
            read_stream("test", &mut input, limit, true, sink)?
        };
        Ok((frames, info))
    }

    /// Reads `data` from a map and as a stream of 7-byte reads; both must agree.
    fn both(data: &[u8]) -> Result<(Vec<Seen>, CaptureInfo), CaptureError> {
        let a = mapped(data);
        let b = streamed(data, 7, MAX_DECOMPRESSED);
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "map and stream differ");
        a
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn multi_interface_ng() -> Vec<u8> {
        Ng::new(false)
            .shb()
            .idb(1, 0, None, None)
            .dsb(0x544c_534b, b"CLIENT_RANDOM aa bb\n")
            .idb(276, 0, Some(9), None)
            .epb(1, 1_000_000_000_000_000_001, b"sll2 pkt", 8)
            .epb(0, 1_000_000, b"ether pkt", 60)
            .custom(0x1234, b"unknown block")
            .spb(b"simple", 6)
            .bytes()
    }

    #[test]
    fn pcap_variants_read_the_same_from_map_and_stream() {
        let records: [(u32, u32, &[u8], u32); 2] = [(1, 2, b"abc", 3), (4, 5, b"defgh", 1500)];
        for big in [false, true] {
            for nanos in [false, true] {
                let opts = PcapOpts {
                    big,
                    nanos,
                    link: 113,
                };
                let file = pcap_file(opts, &records);
                let (frames, info) = both(&file).unwrap();
                let frac = if nanos { 1 } else { 1000 };
                assert_eq!(
                    frames,
                    [
                        (
                            1,
                            1_000_000_000 + 2 * frac,
                            LinkType::LINUX_SLL,
                            0,
                            b"abc".to_vec(),
                            3
                        ),
                        (
                            2,
                            4_000_000_000 + 5 * frac,
                            LinkType::LINUX_SLL,
                            0,
                            b"defgh".to_vec(),
                            1500
                        ),
                    ]
                );
                assert_eq!(info.format, CaptureFormat::Pcap);
                assert_eq!(info.compression, None);
                assert_eq!(info.packets, 2);
                assert_eq!(info.bytes, file.len() as u64);
                assert_eq!(info.sha256, Some(hex::encode(Sha256::digest(&file))));
                assert_eq!(info.link_types, [LinkType::LINUX_SLL]);
                assert!(!info.truncated);
                assert!(info.warnings.is_empty());
            }
        }
    }

    #[test]
    fn pcapng_with_interfaces_secrets_and_simple_packets() {
        let file = multi_interface_ng();
        let (frames, info) = both(&file).unwrap();
        assert_eq!(
            frames,
            [
                (
                    1,
                    1_000_000_000_000_000_001,
                    LinkType::LINUX_SLL2,
                    1,
                    b"sll2 pkt".to_vec(),
                    8
                ),
                (
                    2,
                    1_000_000_000,
                    LinkType::ETHERNET,
                    0,
                    b"ether pkt".to_vec(),
                    60
                ),
                (
                    3,
                    1_000_000_000,
                    LinkType::ETHERNET,
                    0,
                    b"simple".to_vec(),
                    6
                ),
            ]
        );
        assert_eq!(info.format, CaptureFormat::PcapNg);
        assert_eq!(info.link_types, [LinkType::ETHERNET, LinkType::LINUX_SLL2]);
        assert_eq!(info.tls_secrets, b"CLIENT_RANDOM aa bb\n");
        assert!(!info.truncated);
    }

    #[test]
    fn gzip_round_trip_from_map_and_stream() {
        let plain = multi_interface_ng();
        let packed = gzip(&plain);
        let (frames, info) = both(&packed).unwrap();
        let (plain_frames, plain_info) = both(&plain).unwrap();
        assert_eq!(frames, plain_frames);
        assert_eq!(info.compression, Some("gzip"));
        assert_eq!(info.bytes, packed.len() as u64);
        assert_eq!(info.sha256, Some(hex::encode(Sha256::digest(&packed))));
        assert_eq!(info.packets, plain_info.packets);
        assert_eq!(info.tls_secrets, plain_info.tls_secrets);
    }

    #[test]
    fn cut_gzip_reports_truncation() {
        let plain = pcap_file(PcapOpts::default(), &[(1, 0, &[9u8; 4000][..], 4000); 20]);
        let packed = gzip(&plain);
        let (frames, info) = both(&packed[..packed.len() / 2]).unwrap();
        assert!(info.truncated);
        assert_eq!(info.packets, frames.len() as u64);
        assert!(!frames.is_empty() && frames.len() < 20, "{}", frames.len());
        assert_eq!(info.warnings.len(), 1, "{:?}", info.warnings);
    }

    #[test]
    fn decompression_is_bounded() {
        let plain = pcap_file(PcapOpts::default(), &[(1, 0, &[0u8; 1000][..], 1000); 50]);
        let packed = gzip(&plain);
        let (frames, info) = streamed(&packed, 4096, 24 + 3 * 1016 + 10).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(info.truncated);
        assert_eq!(
            info.warnings,
            [
                "capture ends inside packet record 4 (at byte 3072 of the decompressed data): the \
                 last 10 bytes are an incomplete record header; analysed the 3 complete packets",
                "stopped after 3082 bytes of decompressed data, the limit for a gzip input (a \
                 decompression bomb?); analysed the 3 packets before it",
            ]
        );
        // The hash still covers the whole stored input.
        assert_eq!(info.bytes, packed.len() as u64);
    }

    #[test]
    fn truncated_pcapng_names_the_record_and_offset() {
        let file = multi_interface_ng();
        let cut = &file[..file.len() - 10];
        let (frames, info) = both(cut).unwrap();
        assert_eq!(frames.len(), 2);
        assert!(info.truncated);
        assert_eq!(
            info.warnings,
            [
                "capture ends inside packet record 3 (at byte 232): the last 14 bytes are an \
              incomplete Simple Packet Block; analysed the 2 complete packets"
            ]
        );
        assert_eq!(info.bytes, cut.len() as u64);
    }

    #[test]
    fn corrupt_block_in_the_middle_stops_with_a_warning() {
        let mut file = multi_interface_ng();
        // Damage the length of the unknown block (after SHB 28, IDB 20, DSB 40, IDB 32, EPBs).
        let at = 28 + 20 + 40 + 32 + 40 + 44;
        assert_eq!(file[at..at + 4], 0x1234u32.to_le_bytes());
        file[at + 4..at + 8].copy_from_slice(&13u32.to_le_bytes());
        let (frames, info) = both(&file).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(
            info.warnings,
            [format!(
                "capture is damaged at byte {at}: block (type 0x00001234) has an invalid length \
                 of 13 bytes; stopped reading there and analysed the 2 packets before it"
            )]
        );
        assert!(info.truncated);
    }

    #[test]
    fn absurd_caplen_does_not_allocate() {
        let mut file = pcap_file(PcapOpts::default(), &[(1, 0, b"ok", 2), (2, 0, b"bad", 3)]);
        file[24 + 18 + 8..24 + 18 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let (frames, info) = both(&file).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(
            info.warnings,
            ["capture is damaged at byte 42: a pcap record claims 4294967295 captured bytes, more \
              than the 262144 a packet can hold; stopped reading there and analysed the 1 packets \
              before it"]
        );
    }

    #[test]
    fn inputs_that_are_not_captures_are_described() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "test: empty file; nothing was captured (did tcpdump run long enough?)"),
            (
                b"hello world\n",
                "test: not a packet capture (starts with bytes 68 65 6c 6c 6f 20 77 6f, looks like \
                 text); give a pcap or pcapng file, e.g. from tcpdump -w or kubectl sniff -o",
            ),
            (
                &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0],
                "test: the pcap file header is cut short (8 of 24 bytes), so the capture holds no \
                 packets; capture again and let the capture run until packets are written",
            ),
            (
                &[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4],
                "test: damaged capture file header: Section Header Block with an unknown \
                 byte-order magic 01 02 03 04; capture again, or repair the file (e.g. with pcapfix)",
            ),
            (
                &[0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff],
                "test: not a packet capture (starts with 1f 8b, a gzip file that cannot be \
                 decompressed: ",
            ),
        ];
        for (input, expected) in cases {
            let a = mapped(input).map(|_| ()).unwrap_err().to_string();
            let b = streamed(input, 3, MAX_DECOMPRESSED)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(a.starts_with(expected), "{a}");
            assert_eq!(a, b);
        }
        let text = gzip(b"GET / HTTP/1.1\r\n");
        let err = mapped(&text).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            err,
            "test: not a packet capture (starts with 1f 8b, looks like a gzip file that is not a \
             capture: its content starts with bytes 47 45 54 20 2f 20 48 54, looks like text); \
             give a pcap or pcapng file, e.g. from tcpdump -w or kubectl sniff -o"
        );
    }

    #[test]
    fn files_are_mapped_or_read_with_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcapng");
        let file = multi_interface_ng();
        fs::write(&path, &file).unwrap();
        let run = |mmap: bool, hash: bool| {
            let mut frames = Vec::new();
            let info = read_capture(
                &Input::Path(path.clone()),
                &ReadOptions { mmap, hash },
                seen(&mut frames),
            )
            .unwrap();
            assert_eq!(info.sha256.is_some(), hash, "{mmap}");
            (
                frames,
                CaptureInfo {
                    sha256: None,
                    ..info
                },
            )
        };
        let read = format!("{:?}", run(true, true));
        assert!(read.contains("packets: 3"));
        for (mmap, hash) in [(false, true), (true, false), (false, false)] {
            assert_eq!(format!("{:?}", run(mmap, hash)), read, "{mmap} {hash}");
        }
        // gzip goes the stream way: unhashed too when asked
        let gz = dir.path().join("x.pcapng.gz");
        fs::write(&gz, gzip(&file)).unwrap();
        let opts = ReadOptions {
            mmap: true,
            hash: false,
        };
        let info = read_capture(&Input::Path(gz), &opts, |_| ()).unwrap();
        assert_eq!((info.sha256, info.packets), (None, 3));
    }

    #[test]
    fn path_errors_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let read = |p: &Path| {
            read_capture(&Input::Path(p.into()), &ReadOptions::default(), |_| {})
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let missing = dir.path().join("missing.pcap");
        assert_eq!(
            read(&missing),
            format!("{}: no such file; check the path", missing.display())
        );
        assert_eq!(
            read(dir.path()),
            format!(
                "{}: is a directory; give a capture file (pcap or pcapng) inside it",
                dir.path().display()
            )
        );
        let empty = dir.path().join("empty.pcap");
        fs::write(&empty, b"").unwrap();
        assert_eq!(
            read(&empty),
            format!(
                "{}: empty file; nothing was captured (did tcpdump run long enough?)",
                empty.display()
            )
        );
    }

    /// A deterministic xorshift generator for the mutation test.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn mutated_captures_never_panic_and_map_equals_stream() {
        let seeds = [
            multi_interface_ng(),
            pcap_file(PcapOpts::default(), &[(1, 2, &b"abcdefgh"[..], 8); 6]),
            Ng::new(true)
                .shb()
                .idb(1, 0, Some(0x86), Some(3))
                .epb(0, 77, b"big endian", 10)
                .pb(0, 78, b"old", 3)
                .bytes(),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for seed in &seeds {
            for _ in 0..700 {
                let mut data = seed.clone();
                for _ in 0..1 + xorshift(&mut state) % 4 {
                    let at = (xorshift(&mut state) % data.len() as u64) as usize;
                    data[at] = xorshift(&mut state) as u8;
                }
                if xorshift(&mut state) % 4 == 0 {
                    let len = (xorshift(&mut state) % data.len() as u64) as usize;
                    data.truncate(len);
                }
                let a = mapped(&data);
                let b = streamed(
                    &data,
                    1 + (xorshift(&mut state) % 9) as usize,
                    MAX_DECOMPRESSED,
                );
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
        }
    }

    /// Hands out `data`, then fails.
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = out.len().min(self.0.len()).min(100);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_errors_of_the_input_are_errors_not_truncation() {
        let plain = pcap_file(PcapOpts::default(), &[(1, 0, &[5u8; 300][..], 300); 4]);
        let packed = gzip(&plain);
        for data in [&plain[..700], &packed[..packed.len() - 8]] {
            let mut frames = 0;
            let err = read_stream(
                "cap",
                &mut Failing(data),
                MAX_DECOMPRESSED,
                true,
                &mut AnyFrames(|_: &Frame<'_>| frames += 1),
            )
            .map(|_| ())
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                "cap: cannot read: disk on fire; check that the file is readable"
            );
        }
    }

    /// The shared folder of real captures, found by walking up from the crate.
    fn captures_dir() -> Option<PathBuf> {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("shared/captures"))
            .find(|dir| dir.is_dir())
    }

    fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    #[test]
    fn real_captures_read_alike_from_map_and_stream() {
        let Some(dir) = captures_dir() else {
            eprintln!("skipped: no shared/captures folder above the crate");
            return;
        };
        let mut files = Vec::new();
        files_under(&dir, &mut files);
        files.sort();
        let mut packets = std::collections::HashMap::new();
        for path in &files {
            let run = |mmap: bool| {
                let mut count = 0u64;
                let mut bytes = 0usize;
                let mut last_ts = 0;
                let result = read_capture(
                    &Input::Path(path.clone()),
                    &ReadOptions { mmap, hash: true },
                    |f| {
                        count += 1;
                        bytes += f.data.len();
                        last_ts = f.ts_nanos;
                    },
                );
                (result, count, bytes, last_ts)
            };
            let (mapped, count, bytes, last_ts) = run(true);
            let (read, _, read_bytes, _) = run(false);
            assert_eq!(
                format!("{mapped:?}"),
                format!("{read:?}"),
                "{}",
                path.display()
            );
            assert_eq!(bytes, read_bytes);
            let rel = path
                .strip_prefix(&dir)
                .unwrap_or(path)
                .display()
                .to_string();
            match &mapped {
                Ok(info) => {
                    assert_eq!(info.packets, count, "{rel}");
                    if rel.contains("dsb-") {
                        // NSS key log lines: label, client random, secret.
                        let text = String::from_utf8_lossy(&info.tls_secrets);
                        assert!(text.lines().count() > 0, "{rel}");
                        assert!(text.lines().all(|l| l.split(' ').count() == 3), "{rel}");
                    }
                    println!(
                        "{rel}\t{}\t{}\t{last_ts}\t{}\t{}",
                        info.packets,
                        info.truncated,
                        info.link_types
                            .iter()
                            .map(|l| l.name())
                            .collect::<Vec<_>>()
                            .join(","),
                        info.warnings.join(" | ")
                    );
                }
                Err(e) => println!("{rel}\terror\t{e}"),
            }
            // Read, but nothing in it can be decoded: reported as an error after reading.
            let packets_read = match &mapped {
                Err(CaptureError::UnsupportedLinkType { .. }) => Some(count),
                Err(_) => None,
                Ok(i) => Some(i.packets),
            };
            packets.insert(rel, packets_read);
        }
        let summary = fs::read_to_string(dir.join("files_summary.tsv")).unwrap_or_default();
        let mut checked = 0;
        for line in summary.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(file), Some(streams)) = (cols.first(), cols.get(4)) else {
                continue;
            };
            if streams.parse::<u64>().unwrap_or(0) > 0 {
                let got = packets.get(*file).copied().flatten();
                assert!(got.unwrap_or(0) > 0, "{file}: no packet read ({got:?})");
                checked += 1;
            }
        }
        println!("{checked} captures with TCP streams read");
    }

    /// A pipe's buffer is widened (a default Linux lets an unprivileged process ask for 1 MiB);
    /// a regular file is left as it is.
    #[cfg(target_os = "linux")]
    #[test]
    fn pipes_are_widened_files_left_alone() {
        use rustix::pipe::{fcntl_getpipe_size, pipe};
        let (reader, _writer) = pipe().unwrap();
        assert!(fcntl_getpipe_size(&reader).unwrap() < WIDE_PIPE);
        widen_pipe(&reader);
        assert!(fcntl_getpipe_size(&reader).unwrap() >= WIDE_PIPE);
        let file = tempfile::tempfile().unwrap();
        widen_pipe(&file);
        assert!(fcntl_getpipe_size(&file).is_err());
    }
}
