//! The pipeline's two drivers. Sequential: the record walk feeds one [`Engine`] in place.
//! Sharded: every shard walks the whole memory map itself and decodes each frame, keeping the
//! segments of the flows it owns (a hash of both endpoints) for its own engine, on its own
//! thread. Every shard pays for the whole walk and for decoding every frame, a cost that does
//! not shrink with more shards; on two cores that costs what handing the segments from one
//! walker to the shards did, without a walker that the shards wait for. Flows never span
//! shards, so the results are the same for any number of shards.

use std::collections::BTreeMap;
use std::thread;

use crate::capture::{Frame, FrameSink, MappedCapture};
use crate::classify::KeyLog;
use crate::decode::{Defragmenter, FragmentLosses, Skip};
use crate::flow::{FlowLimits, FlowTable};

use super::engine::{Engine, Finished};
use super::{Progress, ProgressHook};

/// Frames between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 13;
/// Bytes of a classic pcap record header, used to estimate how far reading has come.
const RECORD_HEADER: u64 = 16;

/// What the record walk found besides segments, and how far it has come.
#[derive(Debug)]
pub(super) struct WalkNotes {
    /// Frames that yielded no TCP segment, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Problems with key logs met in the capture, and IP fragments that could not be
    /// reassembled.
    pub warnings: Vec<String>,
    /// What IP reassembly made whole and gave up.
    pub fragments: FragmentLosses,
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
            fragments: FragmentLosses::default(),
            input,
            progress,
            read_bytes: 0,
        }
    }
}

/// What a shard notes of the walk: the first shard keeps the [`WalkNotes`] of the capture, the
/// others note nothing, so that each frame is counted once.
pub(super) trait Notes {
    fn tick(&mut self, _frame: &Frame<'_>) {}
    /// `frames` frames gave no TCP segment, for `reason`.
    fn skip(&mut self, _reason: &'static str, _frames: u64) {}
    /// The walk has ended; IP reassembly made whole and gave up what `losses` says.
    fn fragments(&mut self, _losses: FragmentLosses) {}
    fn secrets(&mut self, text: &[u8]) -> KeyLog {
        KeyLog::parse_lenient(text).0
    }
}

impl Notes for WalkNotes {
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
    fn skip(&mut self, reason: &'static str, frames: u64) {
        let n = self.skipped.entry(reason).or_default();
        *n = n.saturating_add(frames);
    }

    /// The fragments of the datagrams given up, and the ones repeated after their datagram was
    /// whole, count as skipped frames.
    fn fragments(&mut self, losses: FragmentLosses) {
        for (reason, count) in [
            (Skip::IpFragment.name(), losses.lost_fragments),
            (Skip::IpFragmentDuplicate.name(), losses.duplicate_fragments),
            (Skip::NotTcp.name(), losses.not_tcp_fragments),
        ] {
            if count > 0 {
                self.skip(reason, count);
            }
        }
        self.warnings.extend(losses.warnings());
        self.fragments = losses;
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

/// The notes of a shard that only walks.
#[derive(Debug)]
struct Unnoted;

impl Notes for Unnoted {}

/// One shard of the sharded driver: it reads every frame and keeps the segments of its flows.
/// The sequential driver is the one shard of one.
///
/// Every shard reassembles every IP fragment: only the first fragment of a datagram says which
/// flow (and so which shard) it belongs to.
#[derive(Debug)]
pub(super) struct Shard<N> {
    pub engine: Engine,
    index: usize,
    count: usize,
    pub notes: N,
    defrag: Defragmenter,
}

/// The sequential driver: frames go straight into one engine.
pub(super) type Sequential = Shard<WalkNotes>;

impl Sequential {
    pub(super) fn new(engine: Engine, notes: WalkNotes) -> Sequential {
        Shard::with(engine, 0, 1, notes)
    }
}

impl<N: Notes> Shard<N> {
    fn with(engine: Engine, index: usize, count: usize, notes: N) -> Shard<N> {
        Shard {
            engine,
            index,
            count,
            notes,
            defrag: Defragmenter::new(),
        }
    }

    /// Ends the walk: the datagrams still incomplete are given up, and the engine finishes.
    pub(super) fn finish(mut self) -> (N, Finished) {
        let losses = self.defrag.finish();
        self.notes.fragments(losses);
        (self.notes, self.engine.finish())
    }
}

impl<'a, N: Notes> FrameSink<'a> for Shard<N> {
    #[inline]
    fn frame(&mut self, frame: &Frame<'a>) {
        self.notes.tick(frame);
        let (engine, index, count) = (&mut self.engine, self.index, self.count);
        let decoded = self.defrag.decode(frame, |seg| {
            if count == 1 || FlowTable::shard_of(seg, count) == index {
                engine.push(frame.number, frame.ts_nanos, seg);
            }
        });
        if let Err(skipped) = decoded {
            self.notes.skip(skipped.skip.name(), skipped.frames);
        }
    }

    fn tls_secrets(&mut self, text: &[u8]) {
        // Every shard meets the secrets where they stand among the frames.
        let keylog = self.notes.secrets(text);
        self.engine.add_secrets(keylog);
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

/// Runs `shards` engines on their own threads over a mapped capture. The first shard runs on
/// the calling thread and is the one that reads the capture for the report (its facts, its
/// hash, the walk's notes); the others only walk it.
pub(super) fn run_sharded(
    mapped: &MappedCapture,
    shards: usize,
    limits: &FlowLimits,
    keylog: &KeyLog,
    max_empty: usize,
    notes: WalkNotes,
) -> Driven {
    let capture = notes.input;
    let count = shards.max(1);
    let limits = shard_limits(limits, count);
    let engine = || Engine::new(limits.clone(), keylog.clone(), capture, max_empty);
    thread::scope(|scope| {
        let others: Vec<_> = (1..count)
            .map(|index| {
                let mut shard = Shard::with(engine(), index, count, Unnoted);
                scope.spawn(move || {
                    mapped.walk_into(&mut shard);
                    shard.finish().1
                })
            })
            .collect();
        let mut first = Shard::with(engine(), 0, count, notes);
        let info = mapped.read_into(&mut first);
        let (notes, mut all) = first.finish();
        for other in others {
            match other.join() {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capture::{Input, ReadOptions};
    use crate::flow::FlowLimits;

    /// What a driver found, comparable: the walk's notes and every flow's facts and verdict in
    /// first-seen order.
    fn found(driven: Driven) -> (String, BTreeMap<&'static str, u64>, Vec<String>) {
        let (info, notes, mut finished) = driven;
        finished.results.sort_by_key(|f| f.facts.first_frame);
        let flows = finished
            .results
            .iter()
            .map(|f| format!("{:?} {:?} {:?}", f.facts, f.class.verdict, f.class.reasons))
            .collect();
        (
            format!("{info:?} {:?}", notes.warnings),
            notes.skipped,
            flows,
        )
    }

    /// Any number of shards finds what the sequential driver finds, key logs carried by the
    /// capture (pcapng Decryption Secrets Blocks) and IP fragments included: every shard applies
    /// the secrets where they stand among the frames, and reassembles every fragment.
    #[test]
    fn shards_find_what_one_engine_finds() {
        for (name, min_flows, verdict) in [
            ("tls13-suites-keylog.pcapng", 5, "Mtls"),
            // Without reassembly its TLS flow is `Tls`: the server's flight is fragmented.
            ("fragmented-tcp.pcap", 2, "Mtls"),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(name);
            let mapped = MappedCapture::open(&Input::Path(path), &ReadOptions::default()).unwrap();
            let limits = FlowLimits::default();
            let notes = || WalkNotes::new(0, ProgressHook::default());
            let mut seq = Sequential::new(
                Engine::new(limits.clone(), KeyLog::default(), 0, usize::MAX),
                notes(),
            );
            let info = mapped.read_into(&mut seq);
            let (walked, finished) = seq.finish();
            let one = found((info, walked, finished));
            assert!(one.2.len() >= min_flows, "{name}");
            assert!(
                one.2.iter().any(|f| f.contains(verdict)),
                "{name}: {:?}",
                one.2
            );
            for shards in 1..=4 {
                let driven = run_sharded(
                    &mapped,
                    shards,
                    &limits,
                    &KeyLog::default(),
                    usize::MAX,
                    notes(),
                );
                assert_eq!(found(driven), one, "{name}: {shards} shards");
            }
        }
    }

    /// The client certificate evidence of the one flow of `samples/tls13-mtls-keylog.pcap`,
    /// with the secrets of `samples/tls13-mtls.keys` met before its frames or after them (as a
    /// Decryption Secrets Block placed there would be).
    fn evidence_with_secrets(before: bool) -> Option<crate::model::Evidence> {
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let input = Input::Path(samples.join("tls13-mtls-keylog.pcap"));
        let mapped = MappedCapture::open(&input, &ReadOptions::default()).unwrap();
        let keys = std::fs::read(samples.join("tls13-mtls.keys")).unwrap();
        let mut seq = Sequential::new(
            Engine::new(FlowLimits::default(), KeyLog::default(), 0, usize::MAX),
            WalkNotes::new(0, ProgressHook::default()),
        );
        if before {
            seq.tls_secrets(&keys);
        }
        mapped.read_into(&mut seq).unwrap();
        if !before {
            seq.tls_secrets(&keys);
        }
        let results = seq.finish().1.results;
        assert_eq!(results.len(), 1);
        let tls = results.first()?.class.tls.as_deref()?;
        tls.client_certificate.evidence
    }

    /// Secrets apply to the flows that end after they are met: a flow that ended before is
    /// classified without them however long the engine waits to classify it, so the report
    /// does not depend on when engines drain (nor on the number of shards).
    #[test]
    fn secrets_apply_to_flows_that_end_after_them() {
        use crate::model::Evidence;
        assert_eq!(evidence_with_secrets(true), Some(Evidence::Decrypted));
        assert_eq!(evidence_with_secrets(false), Some(Evidence::Inferred));
    }
}
