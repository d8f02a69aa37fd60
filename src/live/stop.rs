//! Reading that stops when asked. A capture still being written (a pipe from `kubectl sniff`,
//! a FIFO) may leave a read waiting for ever; the reader waits for bytes at most
//! [`WAIT_MS`] at a time and, once a stop was asked for (Ctrl+C, SIGTERM), ends the input as
//! if the writer had closed it, so that what was read is reported.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Longest wait for bytes before the stop flag is looked at again.
pub const WAIT_MS: i64 = 100;

/// A readable file descriptor whose reads end once `stop` is set.
#[derive(Debug)]
pub struct Stoppable<F> {
    input: F,
    stop: Arc<AtomicBool>,
    stopped: bool,
}

impl<F> Stoppable<F> {
    pub fn new(input: F, stop: Arc<AtomicBool>) -> Stoppable<F> {
        Stoppable {
            input,
            stop,
            stopped: false,
        }
    }

    /// The input was ended by the stop flag, not by its writer.
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(target_os = "linux")]
impl<F: std::os::fd::AsFd> Read for Stoppable<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let wait = Timespec {
            tv_sec: 0,
            tv_nsec: WAIT_MS * 1_000_000,
        };
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.stopped = true;
                return Ok(0);
            }
            let mut fds = [PollFd::new(&self.input, PollFlags::IN)];
            match poll(&mut fds, Some(&wait)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            // Straight from the descriptor: a buffer in between could hold bytes poll cannot see.
            return match rustix::io::read(&self.input, &mut *buf) {
                Ok(n) => Ok(n),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl<F: Read> Read for Stoppable<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            self.stopped = true;
            return Ok(0);
        }
        self.input.read(buf)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_waiting_read_ends_when_stopped_and_reads_what_came_before() {
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut input = Stoppable::new(reader, Arc::clone(&stop));
        let mut writer = std::fs::File::from(writer);
        writer.write_all(b"abc").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(input.read(&mut buf).unwrap(), 3);
        // nothing more is written: the read waits until the stop
        let setter = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(150));
                stop.store(true, Ordering::Relaxed);
            })
        };
        assert_eq!(input.read(&mut buf).unwrap(), 0);
        assert!(input.stopped());
        setter.join().unwrap();
        drop(writer);
    }
}
