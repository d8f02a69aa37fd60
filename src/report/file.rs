//! Report files written whole or not at all: the bytes go to a temporary file beside the
//! destination, which takes the destination's name only once everything is written. A run that
//! fails or is killed never leaves half a report under the real name (a killed run may leave
//! the temporary file, named `.NAME.mtlscan-PID.tmp`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An output that is told when the report is complete: a file takes its name then.
pub trait Complete: Write {
    /// Everything was written.
    fn complete(&mut self) -> io::Result<()> {
        self.flush()
    }
}

impl<W: Write> Complete for BufWriter<W> {}
impl Complete for io::Stdout {}
impl Complete for io::StdoutLock<'_> {}
impl Complete for io::Sink {}

/// A report file being written under its temporary name; [`Complete::complete`] gives it its
/// name, and dropping it before that removes it.
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl PendingFile {
    /// Starts a report that will be `path`.
    pub fn create(path: &Path) -> io::Result<PendingFile> {
        let temp = temporary_name(path);
        let file = File::create(&temp)?;
        Ok(PendingFile {
            path: path.to_path_buf(),
            temp,
            out: Some(BufWriter::new(file)),
        })
    }

    fn out(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the report file was already completed"))
    }
}

impl Write for PendingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out()?.flush()
    }
}

impl Complete for PendingFile {
    fn complete(&mut self) -> io::Result<()> {
        let out = self.out.take();
        let file = match out {
            Some(out) => out.into_inner().map_err(io::IntoInnerError::into_error)?,
            None => return Ok(()),
        };
        drop(file);
        fs::rename(&self.temp, &self.path)
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The temporary name a report to `path` is written under: hidden, in the same directory (so
/// that the rename stays on one file system), and unique to this process.
fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.mtlscan-{}.tmp", std::process::id()))
}

/// Writes a file at `path` with `write`, atomically: `path` holds either its old content (or
/// nothing) or all that `write` wrote. On an error the temporary file is removed.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = PendingFile::create(path)?;
    write(&mut file)?;
    file.complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mtlscan-file-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_complete_write_takes_the_name_and_leaves_nothing_else() {
        let dir = scratch("ok");
        let path = dir.join("report.json");
        fs::write(&path, b"old").unwrap();
        write_atomically(&path, |w| w.write_all(b"new report")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new report");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report.json"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = scratch("fail");
        let path = dir.join("report.json");
        fs::write(&path, b"old").unwrap();
        let err = write_atomically(&path, |w| {
            w.write_all(b"half a rep")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        // a directory that does not exist: an error, nothing created
        let missing = dir.join("no/such/dir/report.json");
        assert!(write_atomically(&missing, |w| w.write_all(b"x")).is_err());
        fs::remove_dir_all(dir).unwrap();
    }
}
