//! SHA-256 of a capture read as a stream (standard input, a pipe, `--no-mmap`). The first
//! `PARALLEL_HASH_MIN` bytes are hashed in place, so small captures never start a thread; past
//! them the hashing moves to a second thread and no longer slows the record walk down, as for a
//! mapped file (see `hashed_while`).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};

use super::source::PARALLEL_HASH_MIN;

/// Bytes handed to the hashing thread at a time.
const CHUNK: usize = 256 << 10;
/// Chunks waiting for the hashing thread before the reader waits for it.
const QUEUE: usize = 4;

/// The hashing thread and its mailboxes.
struct Worker {
    chunks: SyncSender<Vec<u8>>,
    /// Hashed chunks handed back for reuse.
    spare: Receiver<Vec<u8>>,
    handle: JoinHandle<Sha256>,
}

/// Where the hashing happens.
enum State {
    InPlace(Sha256),
    Thread(Worker),
}

/// Hashes the bytes given to [`StreamHasher::update`], in order.
pub(super) struct StreamHasher {
    state: State,
    /// Bytes not yet handed to the worker.
    pending: Vec<u8>,
    seen: u64,
}

impl StreamHasher {
    pub(super) fn new() -> StreamHasher {
        StreamHasher {
            state: State::InPlace(Sha256::new()),
            pending: Vec::new(),
            seen: 0,
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.seen = self.seen.saturating_add(bytes.len() as u64);
        match &mut self.state {
            State::InPlace(sha) => {
                sha.update(bytes);
                if self.seen >= PARALLEL_HASH_MIN as u64 {
                    self.start_worker();
                }
            }
            State::Thread(_) => {
                self.pending.extend_from_slice(bytes);
                if self.pending.len() >= CHUNK {
                    self.hand_over();
                }
            }
        }
    }

    /// Moves the hashing to a new thread; if no thread can be started it stays in place.
    fn start_worker(&mut self) {
        let State::InPlace(sha) = &self.state else {
            return;
        };
        let mut sha = sha.clone();
        let (chunks, inbox) = sync_channel::<Vec<u8>>(QUEUE);
        let (give_back, spare) = sync_channel::<Vec<u8>>(QUEUE + 1);
        let spawned = thread::Builder::new().name("sha256".into()).spawn(move || {
            for mut chunk in inbox {
                sha.update(&chunk);
                chunk.clear();
                // The reader may be gone or hold enough spares: then the chunk is dropped.
                let _ = give_back.try_send(chunk);
            }
            sha
        });
        if let Ok(handle) = spawned {
            self.state = State::Thread(Worker {
                chunks,
                spare,
                handle,
            });
            self.pending = Vec::with_capacity(CHUNK);
        }
    }

    fn hand_over(&mut self) {
        let State::Thread(worker) = &self.state else {
            return;
        };
        let fresh = worker
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.pending, fresh);
        // A send fails only if the worker panicked; its join then says so.
        let _ = worker.chunks.send(chunk);
    }

    /// The lowercase hex SHA-256 of every byte given.
    pub(super) fn finish(mut self) -> String {
        self.hand_over();
        let sha = match self.state {
            State::InPlace(sha) => sha,
            State::Thread(Worker { chunks, handle, .. }) => {
                drop(chunks);
                match handle.join() {
                    Ok(sha) => sha,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        };
        hex::encode(sha.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed_in_pieces(data: &[u8], piece: usize) -> String {
        let mut h = StreamHasher::new();
        for part in data.chunks(piece) {
            h.update(part);
        }
        h.finish()
    }

    #[test]
    fn same_hash_in_place_and_on_a_thread_whatever_the_pieces() {
        let mut data = vec![0u8; PARALLEL_HASH_MIN + 3 * CHUNK + 12345];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let expected = hex::encode(Sha256::digest(&data));
        for piece in [1 << 16, 4096 + 7, CHUNK * 2 + 1] {
            assert_eq!(
                hashed_in_pieces(&data, piece),
                expected,
                "pieces of {piece}"
            );
        }
        let small = &data[..1000];
        assert_eq!(
            hashed_in_pieces(small, 100),
            hex::encode(Sha256::digest(small))
        );
        assert_eq!(
            StreamHasher::new().finish(),
            hex::encode(Sha256::digest(b""))
        );
    }
}
