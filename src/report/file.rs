//! Report files written whole or not at all: the bytes go to a temporary file beside the
//! destination, which takes the destination's name only once everything is written. A run that
//! fails or is killed never leaves half a report under the real name (a killed run may leave
//! the temporary file, named `.NAME.mtlscan-PID.tmp`). A destination that is not a regular file
//! (`/dev/null`, `/dev/stdout`, a FIFO) is written in place, and through a symbolic link the
//! file it names takes the report.

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
impl Complete for &mut dyn Write {}
impl Complete for Vec<u8> {}
impl Complete for io::Stdout {}
impl Complete for io::StdoutLock<'_> {}
impl Complete for io::Sink {}

/// A report file being written under its temporary name; [`Complete::complete`] gives it its
/// name, and dropping it before that removes it. What is not a regular file (`/dev/null`,
/// `/dev/stdout`, a FIFO) is written in place: it cannot be replaced by a file.
#[derive(Debug)]
pub struct PendingFile {
    out: Option<BufWriter<File>>,
    /// The temporary name and the name it takes when complete; `None` when written in place.
    rename: Option<(PathBuf, PathBuf)>,
}

impl PendingFile {
    /// Starts a report that will be `path`.
    pub fn create(path: &Path) -> io::Result<PendingFile> {
        if fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
            return Ok(PendingFile {
                out: Some(BufWriter::new(File::create(path)?)),
                rename: None,
            });
        }
        // Through a symbolic link, the file it names takes the report and the link stays.
        let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let path = match is_link {
            true => fs::canonicalize(path)?,
            false => path.to_path_buf(),
        };
        let temp = temporary_name(&path);
        let file = File::create(&temp)?;
        Ok(PendingFile {
            out: Some(BufWriter::new(file)),
            rename: Some((temp, path)),
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
        match &self.rename {
            Some((temp, path)) => fs::rename(temp, path),
            None => Ok(()),
        }
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if let (Some(_), Some((temp, _))) = (self.out.take(), &self.rename) {
            let _ = fs::remove_file(temp);
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

    /// `-o /dev/null`, `-o /dev/stdout` or a FIFO: written in place, never replaced by a file.
    #[cfg(unix)]
    #[test]
    fn what_is_not_a_regular_file_is_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        write_atomically(Path::new("/dev/null"), |w| w.write_all(b"gone")).unwrap();
        let null = fs::metadata("/dev/null").unwrap();
        assert!(null.file_type().is_char_device());

        let dir = scratch("fifo");
        let fifo = dir.join("report.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || fs::read(fifo).unwrap())
            };
            write_atomically(&fifo, |w| w.write_all(b"through the pipe")).unwrap();
            assert_eq!(reader.join().unwrap(), b"through the pipe");
            let kind = fs::symlink_metadata(&fifo).unwrap().file_type();
            assert!(kind.is_fifo());
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        }
        fs::remove_dir_all(dir).unwrap();
    }

    /// Through a symbolic link the file it names takes the report; the link stays a link.
    #[cfg(unix)]
    #[test]
    fn a_link_keeps_pointing_at_the_report() {
        let dir = scratch("link");
        let target = dir.join("real.json");
        let link = dir.join("latest.json");
        fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, |w| w.write_all(b"new")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(dir).unwrap();
    }
}
