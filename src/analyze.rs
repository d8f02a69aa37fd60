//! The whole pipeline: captures in, classified flows out.
//!
//! ```no_run
//! use mtlscan::{analyze, AnalysisOptions};
//! use mtlscan::capture::Input;
//!
//! let analysis = analyze(&[Input::Path("samples/mtls.pcap".into())], &AnalysisOptions::default())?;
//! for flow in &analysis.flows {
//!     println!("{} {:?}", flow.id, flow.class.verdict);
//! }
//! # Ok::<(), mtlscan::AnalyzeError>(())
//! ```

mod engine;
mod shards;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;

use crate::capture::{
    self, CaptureError, CaptureInfo, Input, MappedCapture, ReadLimits, ReadOptions,
};
use crate::classify::KeyLog;
use crate::decode::{Endpoint, FragmentLosses, Transport};
use crate::flow::udp::UdpFlow;
use crate::flow::{ClientBy, Flow, FlowLimits, FlowTail, Reopened};
use crate::model::{Classification, Verdict};

use engine::Engine;
use shards::{run_sharded, Sequential, WalkNotes};

/// Mapped captures smaller than this are analysed on one thread: sharding would cost more than
/// it saves.
const SHARD_MIN_BYTES: usize = 16 << 20;

/// Flows without payload listed one by one by default; see
/// [`AnalysisOptions::max_empty_flows`].
pub const MAX_EMPTY_FLOWS: usize = 100_000;

/// Everything that tunes an analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    pub read: ReadOptions,
    /// Bounds on reading (decompressed size of a gzip capture).
    pub read_limits: ReadLimits,
    /// Bounds on the flow table (prefix per direction, concurrent flows, buffered bytes); with
    /// several threads they are shared out between the shards.
    pub limits: FlowLimits,
    /// Secrets from `--keylog` files (a capture's own Decryption Secrets Blocks are added).
    pub keylog: KeyLog,
    /// Threads that reassemble and classify (the record walk runs beside them when there are
    /// two or more); `None` uses every core. Reports are the same for any number.
    pub threads: Option<usize>,
    /// Told how far the analysis has come (for a progress bar).
    pub progress: ProgressHook,
    /// Most flows without payload (SYN-only, refused or idle connections) kept per capture: the
    /// first seen. The others are only counted ([`CaptureReport::unlisted_empty`]), so a flood
    /// of SYNs runs in bounded memory; they cannot break a policy, having carried no data.
    /// Default [`MAX_EMPTY_FLOWS`].
    pub max_empty_flows: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            read: ReadOptions::default(),
            read_limits: ReadLimits::default(),
            limits: FlowLimits::default(),
            keylog: KeyLog::default(),
            threads: None,
            progress: ProgressHook::default(),
            max_empty_flows: MAX_EMPTY_FLOWS,
        }
    }
}

/// How far an analysis has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading input number `input` (0-based): about `bytes` of it read so far (packet bytes
    /// plus record headers; compressed inputs read more than their size).
    Reading { input: usize, bytes: u64 },
    /// Input `input` is read; its `flows` flows are being classified.
    Classifying { input: usize, flows: usize },
}

/// A callback told of [`Progress`]; the default does nothing.
#[derive(Clone, Default)]
pub struct ProgressHook(Option<Arc<dyn Fn(Progress) + Send + Sync>>);

impl ProgressHook {
    /// A hook that calls `f`.
    pub fn new(f: impl Fn(Progress) + Send + Sync + 'static) -> ProgressHook {
        ProgressHook(Some(Arc::new(f)))
    }

    pub(crate) fn emit(&self, p: Progress) {
        if let Some(f) = &self.0 {
            f(p);
        }
    }
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressHook(set)"
        } else {
            "ProgressHook(none)"
        })
    }
}

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// One capture and what reading it found.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    pub name: String,
    pub info: CaptureInfo,
    /// Frames that yielded no TCP segment, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// IP datagrams reassembled from fragments, and the ones given up.
    pub fragments: FragmentLosses,
    /// Flows without payload counted but not listed, past
    /// [`AnalysisOptions::max_empty_flows`].
    pub unlisted_empty: u64,
}

/// A flow's counters, without its buffered bytes.
#[derive(Debug, Clone)]
pub struct FlowFacts {
    /// TCP, or UDP (whose TCP facts below are left empty: no SYN, no close, nothing missing).
    pub transport: Transport,
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_by: ClientBy,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub syn_seen: bool,
    pub loopback_if: bool,
    /// `[client, server]` packet counts.
    pub packets: [u64; 2],
    /// `[client, server]` payload byte counts.
    pub bytes: [u64; 2],
    /// How the connection ended in the capture.
    pub close: Close,
    pub gaps: u32,
    pub out_of_order: u32,
    pub retransmitted: u32,
    /// What a receiver would not have taken as captured (`None` for nearly every flow).
    pub odd: Option<Box<TcpOddities>>,
}

/// What a flow's segments showed that a receiver would not have taken as captured, or that
/// looks injected; both directions summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpOddities {
    /// RST segments a receiver would have dropped: the flow went on.
    pub ignored_rst: u32,
    /// FIN segments a receiver would have dropped.
    pub ignored_fin: u32,
    /// Segments whose bytes overlapped bytes already received with other values.
    pub overlap_conflicts: u32,
    /// Segments with a wrong TCP checksum, of those checked.
    pub bad_checksums: u32,
    pub checksums_checked: u32,
    /// Every direction with wrong checksums had nearly only wrong ones: offload.
    pub checksum_offload: bool,
    /// Segments with a TTL other than their direction's most frequent one, in directions where
    /// overlapping bytes disagreed (elsewhere two TTLs are only a changed path).
    pub odd_ttl: u32,
    /// The flow's bytes came after an earlier flow on its addresses and ports had ended.
    pub reopens: Option<Reopened>,
}

impl TcpOddities {
    /// What `flow` showed, or `None` when nothing.
    fn of(flow: &Flow) -> Option<Box<TcpOddities>> {
        let mut odd = TcpOddities {
            reopens: flow.reopens,
            checksum_offload: true,
            ..TcpOddities::default()
        };
        for d in &flow.dir {
            if let Some(a) = d.anomalies.as_deref() {
                odd.ignored_rst += a.ignored_rst;
                odd.ignored_fin += a.ignored_fin;
                odd.overlap_conflicts += a.conflicts;
            }
            if d.checksums_bad > 0 {
                odd.bad_checksums += d.checksums_bad;
                odd.checksums_checked += d.checksums_checked;
                odd.checksum_offload &= crate::classify::checksums_offloaded(d);
            }
            if d.anomalies.as_deref().is_some_and(|a| a.conflicts > 0) {
                odd.odd_ttl += d.ttls[1].1 + d.ttls_other;
            }
        }
        odd.checksum_offload &= odd.bad_checksums > 0;
        let nothing = TcpOddities::default();
        (odd != nothing).then(|| Box::new(odd))
    }
}

/// How a connection ended in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// A FIN was seen and no RST.
    Fin,
    /// A RST was seen.
    Rst,
    /// Neither: the connection was still open when the capture ended.
    NotSeen,
}

impl serde::Serialize for Close {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Close {
    /// `fin`, `rst` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Close::Fin => "fin",
            Close::Rst => "rst",
            Close::NotSeen => "none",
        }
    }
}

/// How a connection ended in the capture, from its FIN and RST flags.
fn close_of(fin: bool, rst: bool) -> Close {
    if rst {
        Close::Rst
    } else if fin {
        Close::Fin
    } else {
        Close::NotSeen
    }
}

impl FlowFacts {
    /// Counts the segments that arrived after the flow was handed out (last ACKs, late FINs
    /// and RSTs). `tail.a` tells the tail's direction order, whatever the orientation.
    fn apply_tail(&mut self, tail: &FlowTail) {
        let order = if tail.a == self.client {
            [0, 1]
        } else {
            [1, 0]
        };
        for (i, &d) in order.iter().enumerate() {
            if let (Some(p), Some(extra)) = (self.packets.get_mut(d), tail.packets.get(i)) {
                *p += extra;
            }
        }
        let fin = self.close == Close::Fin || tail.fin_frame.iter().any(Option::is_some);
        let rst = self.close == Close::Rst || tail.rst_frame.iter().any(Option::is_some);
        self.close = close_of(fin, rst);
        self.last_frame = self.last_frame.max(tail.last_frame);
        self.last_ts = self.last_ts.max(tail.last_ts);
        self.loopback_if |= tail.loopback_if;
    }

    /// The facts of a UDP flow.
    pub(crate) fn of_udp(flow: &UdpFlow) -> FlowFacts {
        FlowFacts {
            transport: Transport::Udp,
            client: flow.client,
            server: flow.server,
            client_by: match flow.client_by_port {
                true => ClientBy::Port,
                false => ClientBy::Bytes,
            },
            first_frame: flow.first_frame,
            last_frame: flow.last_frame,
            first_ts: flow.first_ts,
            last_ts: flow.last_ts,
            syn_seen: false,
            loopback_if: flow.loopback_if,
            packets: flow.packets,
            bytes: flow.bytes,
            close: Close::NotSeen,
            gaps: 0,
            out_of_order: 0,
            retransmitted: 0,
            odd: None,
        }
    }

    pub(crate) fn of(flow: &Flow) -> FlowFacts {
        let [c, s] = &flow.dir;
        let close = close_of(
            c.fin_frame.is_some() || s.fin_frame.is_some(),
            c.rst_frame.is_some() || s.rst_frame.is_some(),
        );
        FlowFacts {
            transport: Transport::Tcp,
            client: flow.a,
            server: flow.b,
            client_by: flow.client_by,
            first_frame: flow.first_frame,
            last_frame: flow.last_frame,
            first_ts: flow.first_ts,
            last_ts: flow.last_ts,
            syn_seen: flow.syn_seen,
            loopback_if: flow.loopback_if,
            packets: [c.packets, s.packets],
            bytes: [c.payload_bytes, s.payload_bytes],
            close,
            gaps: c.gaps + s.gaps,
            out_of_order: c.out_of_order + s.out_of_order,
            retransmitted: c.retransmitted + s.retransmitted,
            odd: TcpOddities::of(flow),
        }
    }
}

/// One classified flow.
#[derive(Debug, Clone)]
pub struct FlowResult {
    /// 1-based, in first-seen order across all captures.
    pub id: u64,
    /// Index into [`Analysis::captures`].
    pub capture: usize,
    pub facts: FlowFacts,
    pub class: Classification,
}

/// The result of analysing one or more captures.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub captures: Vec<CaptureReport>,
    pub flows: Vec<FlowResult>,
}

/// Reads, reassembles and classifies every TCP flow of `inputs`.
///
/// Flows are classified as soon as they close, so memory follows the open flows; their results
/// are numbered in first-seen order across all captures, identically for any thread count. A
/// memory-mapped capture of 64 MiB or more is unmapped by a thread that may still be at it when
/// this returns.
pub fn analyze(inputs: &[Input], opts: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut analysis = Analysis {
        captures: Vec::new(),
        flows: Vec::new(),
    };
    for (index, input) in inputs.iter().enumerate() {
        let (mut report, mut flows) = analyze_one(input, index, threads, opts)?;
        opts.progress.emit(Progress::Classifying {
            input: index,
            flows: flows.len(),
        });
        flows.par_sort_unstable_by_key(|f| f.facts.first_frame);
        // Each engine kept its first-seen empty flows; of those, the capture keeps its own.
        let mut empty = 0usize;
        let before = flows.len();
        flows.retain(|f| {
            if f.class.verdict != Verdict::Empty {
                return true;
            }
            empty += 1;
            empty <= opts.max_empty_flows
        });
        report.unlisted_empty += (before - flows.len()) as u64;
        if report.unlisted_empty > 0 {
            report.info.warnings.push(format!(
                "{} flows without payload (SYN-only, refused or idle connections) are counted in \
                 the summary but not listed: only the first {} are; raise --max-empty-flows to \
                 list more",
                report.unlisted_empty, opts.max_empty_flows
            ));
        }
        let first_id = analysis.flows.len() as u64 + 1;
        for (i, flow) in flows.iter_mut().enumerate() {
            flow.id = first_id + i as u64;
        }
        analysis.captures.push(report);
        if analysis.flows.is_empty() {
            // One capture (the usual case): move its results rather than copy them.
            analysis.flows = flows;
        } else {
            analysis.flows.extend(flows);
        }
    }
    crate::proof::apply(&mut analysis.flows);
    Ok(analysis)
}

fn analyze_one(
    input: &Input,
    index: usize,
    threads: usize,
    opts: &AnalysisOptions,
) -> Result<(CaptureReport, Vec<FlowResult>), AnalyzeError> {
    let mapped = MappedCapture::open(input, &opts.read);
    let (info, notes, found) = match &mapped {
        Some(mapped) if threads >= 2 && mapped.len() >= SHARD_MIN_BYTES => run_sharded(
            mapped,
            threads,
            &opts.limits,
            &opts.keylog,
            opts.max_empty_flows,
            WalkNotes::new(index, opts.progress.clone()),
        ),
        Some(mapped) => {
            let mut seq = sequential(opts, index);
            let info = mapped.read_into(&mut seq);
            let (notes, found) = seq.finish();
            (info, notes, found)
        }
        None => {
            let mut seq = sequential(opts, index);
            let info = capture::read_capture_into(input, &opts.read, &opts.read_limits, &mut seq);
            let (notes, found) = seq.finish();
            (info, notes, found)
        }
    };
    if let Some(mapped) = mapped {
        release(mapped);
    }
    let mut info = info?;
    info.warnings.extend(notes.warnings);
    info.warnings.extend(undecoded_warnings(&notes.skipped));
    info.warnings.extend(found.counters.warnings(&opts.limits));
    let report = CaptureReport {
        name: input.display_name(),
        info,
        skipped: notes.skipped,
        fragments: notes.fragments,
        unlisted_empty: found.unlisted_empty,
    };
    Ok((report, found.results))
}

/// The warnings about frames of an encapsulation recognised but not opened, from the skip
/// counts.
pub(crate) fn undecoded_warnings(skipped: &BTreeMap<&'static str, u64>) -> Vec<String> {
    skipped
        .iter()
        .filter_map(|(&name, &frames)| {
            let encapsulation = crate::decode::Skip::undecoded(name)?;
            Some(format!(
                "{frames} frames carry {}: recognised but not opened, so whatever they carry \
                 is not analysed (skipped: {name})",
                encapsulation.describe()
            ))
        })
        .collect()
}

/// Mapped captures from this size on are unmapped on a thread of their own.
const UNMAP_APART_MIN: usize = 64 << 20;

/// Unmaps a capture. Tearing down the page tables of a map of gigabytes takes tens of
/// milliseconds, so a large one is unmapped on a thread of its own, beside what follows; that
/// thread may outlive [`analyze`].
fn release(mapped: MappedCapture) {
    if mapped.len() < UNMAP_APART_MIN {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("unmap".into())
        .spawn(move || drop(mapped));
    // Without a thread, the map was dropped here with the failed closure.
    drop(spawned);
}

fn sequential(opts: &AnalysisOptions, index: usize) -> Sequential {
    Sequential::new(
        Engine::new(
            opts.limits.clone(),
            opts.keylog.clone(),
            index,
            opts.max_empty_flows,
        ),
        WalkNotes::new(index, opts.progress.clone()),
    )
}
