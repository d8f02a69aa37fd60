//! Opening the input (memory map, buffered file, standard input, gzip) and dispatching to the
//! pcap or pcapng reader.

use std::path::PathBuf;

use super::{CaptureError, CaptureInfo, Frame};

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
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { mmap: true }
    }
}

/// Reads every frame of `input`, calling `on_frame` for each in file order.
///
/// A capture cut off inside a record is not an error: the frames before the cut are delivered and
/// [`CaptureInfo::truncated`] is set.
pub fn read_capture<F>(
    input: &Input,
    opts: &ReadOptions,
    mut on_frame: F,
) -> Result<CaptureInfo, CaptureError>
where
    F: FnMut(&Frame<'_>),
{
    let _ = (input, opts, &mut on_frame);
    unimplemented!("capture reader")
}
