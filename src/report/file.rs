//! Report files written whole or not at all: the bytes go to a temporary file beside the
//! destination, which takes the destination's name only once everything is written. A run that
//! fails or is killed never leaves half a report under the real name (a killed run may leave
//! the temporary file, named `.NAME.mtlscan-PID.tmp`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

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
    let temp = temporary_name(path);
    let result = File::create(&temp).and_then(|file| {
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        drop(file);
        fs::rename(&temp, path)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
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
