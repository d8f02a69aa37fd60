//! The pipeline's two drivers. Sequential: the record walk feeds one [`Engine`] in place.
//! Sharded: the record walk (the thin sequential part: walk, decode, route) sends each segment,
//! still borrowing the memory map, to the shard that owns its flow (a hash of both endpoints);
//! each shard's engine reassembles and classifies on its own thread. Flows never span shards,
//! so the results are the same for any number of shards.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread;

use crate::capture::{Frame, FrameSink, MappedCapture};
use crate::classify::KeyLog;
use crate::decode::{self, Segment};
use crate::flow::{FlowLimits, FlowTable, TableCounters};

use super::engine::{Engine, Finished};
use super::{Progress, ProgressHook};

/// Segments sent to a shard at a time.
const BATCH: usize = 8192;
/// Batches waiting for a shard before the record walk waits for it.
const QUEUE: usize = 8;

/// Frames between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 13;
/// Bytes of a classic pcap record header, used to estimate how far reading has come.
const RECORD_HEADER: u64 = 16;

/// What the record walk found besides segments, and how far it has come.
#[derive(Debug)]
pub(super) struct WalkNotes {
    /// Frames that yielded no TCP segment, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Problems with key logs met in the capture.
    pub warnings: Vec<String>,
    /// The capture's index, for progress reports.
    input: usize,
    progress: ProgressHook,
    read_bytes: u64,
}

impl WalkNotes {
    pub(super) fn new(input: usize, progress: ProgressHook) -> WalkNotes {
        WalkNotes {
            skipped: BTreeMap::new(),
            warnings: Vec::new(),
            input,
            progress,
            read_bytes: 0,
        }
    }

    /// Counts a frame; every few thousand frames, tells the progress hook.
    #[inline]
    fn tick(&mut self, frame: &Frame<'_>) {
        self.read_bytes = self
            .read_bytes
            .saturating_add(frame.data.len() as u64)
            .saturating_add(RECORD_HEADER);
        if frame.number % PROGRESS_EVERY == 0 {
            self.progress.emit(Progress::Reading {
                input: self.input,
                bytes: self.read_bytes,
            });
        }
    }

    #[cold]
    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// Parses key log text from a Decryption Secrets Block, noting bad lines.
    fn secrets(&mut self, text: &[u8]) -> KeyLog {
        let (keylog, errors) = KeyLog::parse_lenient(text);
        for e in errors {
            self.warnings.push(format!(
                "TLS key log in a Decryption Secrets Block: {e}; line ignored"
            ));
        }
        keylog
    }
}

/// The sequential driver: frames go straight into one engine.
#[derive(Debug)]
pub(super) struct Sequential {
    pub engine: Engine,
    pub notes: WalkNotes,
}

impl<'a> FrameSink<'a> for Sequential {
    #[inline]
    fn frame(&mut self, frame: &Frame<'a>) {
        self.notes.tick(frame);
        match decode::decode(frame.link, frame.data) {
            Ok(seg) => self.engine.push(frame.number, frame.ts_nanos, &seg),
            Err(skip) => self.notes.skip(skip.name()),
        }
    }

    fn tls_secrets(&mut self, text: &[u8]) {
        let keylog = self.notes.secrets(text);
        self.engine.add_secrets(keylog);
    }
}

/// A message to a shard.
enum Msg<'m> {
    Segments(Vec<(u64, i64, Segment<'m>)>),
    Secrets(KeyLog),
}

/// The routing side of the sharded driver.
struct Router<'m> {
    shards: Vec<SyncSender<Msg<'m>>>,
    pending: Vec<Vec<(u64, i64, Segment<'m>)>>,
    /// Emptied batches handed back by the shards, reused instead of allocating new ones.
    spare: Receiver<Vec<(u64, i64, Segment<'m>)>>,
    notes: WalkNotes,
}

impl<'m> Router<'m> {
    fn send(&mut self, shard: usize) {
        let Some(pending) = self.pending.get_mut(shard) else {
            return;
        };
        if pending.is_empty() {
            return;
        }
        let fresh = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(pending, fresh);
        if let Some(tx) = self.shards.get(shard) {
            // A shard only stops receiving when it panicked; its join reports that.
            let _ = tx.send(Msg::Segments(batch));
        }
    }

    fn flush(&mut self) {
        for shard in 0..self.pending.len() {
            self.send(shard);
        }
    }
}

impl<'m> FrameSink<'m> for Router<'m> {
    #[inline]
    fn frame(&mut self, frame: &Frame<'m>) {
        self.notes.tick(frame);
        match decode::decode(frame.link, frame.data) {
            Ok(seg) => {
                let shard = FlowTable::shard_of(&seg, self.shards.len());
                if let Some(pending) = self.pending.get_mut(shard) {
                    pending.push((frame.number, frame.ts_nanos, seg));
                    if pending.len() >= BATCH {
                        self.send(shard);
                    }
                }
            }
            Err(skip) => self.notes.skip(skip.name()),
        }
    }

    fn tls_secrets(&mut self, text: &[u8]) {
        // Segments routed so far must meet the engines before the secrets do.
        self.flush();
        let keylog = self.notes.secrets(text);
        for tx in &self.shards {
            let _ = tx.send(Msg::Secrets(keylog.clone()));
        }
    }
}

/// The table limits of one of `shards` shards: the capture's bounds are shared out.
pub(super) fn shard_limits(limits: &FlowLimits, shards: usize) -> FlowLimits {
    let n = shards.max(1);
    FlowLimits {
        max_flows: (limits.max_flows / n).max(1),
        max_buffered_bytes: (limits.max_buffered_bytes / n).max(limits.prefix_bytes),
        ..limits.clone()
    }
}

/// What a driver produced: the capture's facts, the walk's notes and what the engines found.
pub(super) type Driven = (
    Result<crate::capture::CaptureInfo, crate::capture::CaptureError>,
    WalkNotes,
    Finished,
);

/// Runs `shards` engines on their own threads over a mapped capture.
pub(super) fn run_sharded(
    mapped: &MappedCapture,
    shards: usize,
    limits: &FlowLimits,
    keylog: &KeyLog,
    max_empty: usize,
    notes: WalkNotes,
) -> Driven {
    let capture = notes.input;
    let limits = shard_limits(limits, shards);
    thread::scope(|scope| {
        let mut senders = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        let (spare_tx, spare_rx) = channel();
        for _ in 0..shards {
            let (tx, rx) = sync_channel::<Msg<'_>>(QUEUE);
            let mut engine = Engine::new(limits.clone(), keylog.clone(), capture, max_empty);
            let spare: Sender<Vec<_>> = spare_tx.clone();
            workers.push(scope.spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Segments(mut batch) => {
                            for (frame, ts, seg) in &batch {
                                engine.push(*frame, *ts, seg);
                            }
                            batch.clear();
                            // The router may have finished: then the batch is simply dropped.
                            let _ = spare.send(batch);
                        }
                        Msg::Secrets(keylog) => engine.add_secrets(keylog),
                    }
                }
                engine.finish()
            }));
            senders.push(tx);
        }
        drop(spare_tx);
        let mut router = Router {
            shards: senders,
            pending: (0..shards).map(|_| Vec::with_capacity(BATCH)).collect(),
            spare: spare_rx,
            notes,
        };
        let info = mapped.read_into(&mut router);
        router.flush();
        let Router {
            shards: senders,
            notes,
            ..
        } = router;
        drop(senders);
        let mut all = Finished {
            results: Vec::new(),
            unlisted_empty: 0,
            counters: TableCounters::default(),
        };
        for worker in workers {
            match worker.join() {
                Ok(part) => {
                    all.results.extend(part.results);
                    all.unlisted_empty += part.unlisted_empty;
                    all.counters.merge(&part.counters);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (info, notes, all)
    })
}
