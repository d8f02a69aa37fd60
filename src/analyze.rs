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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;

use crate::capture::{self, CaptureError, CaptureInfo, Input, ReadOptions};
use crate::classify::{self, KeyLog};
use crate::decode::{self, Endpoint};
use crate::flow::{ClientBy, Flow, FlowLimits, FlowTable};
use crate::model::Classification;

/// Everything that tunes an analysis.
#[derive(Debug, Clone, Default)]
pub struct AnalysisOptions {
    pub read: ReadOptions,
    pub limits: FlowLimits,
    /// Secrets from `--keylog` files (a capture's own Decryption Secrets Blocks are added).
    pub keylog: KeyLog,
    /// Worker threads for classification; `None` uses every core.
    pub threads: Option<usize>,
    /// Told how far the analysis has come (for a progress bar).
    pub progress: ProgressHook,
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

    fn emit(&self, p: Progress) {
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

/// Frames between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 13;
/// Bytes of a classic pcap record header, used to estimate how far reading has come.
const RECORD_HEADER: u64 = 16;

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot start {threads} worker threads: {why}")]
    Threads { threads: usize, why: String },
}

/// One capture and what reading it found.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    pub name: String,
    pub info: CaptureInfo,
    /// Frames that yielded no TCP segment, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

/// A flow's counters, without its buffered bytes.
#[derive(Debug, Clone)]
pub struct FlowFacts {
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
    /// `fin`, `rst` or `none`: how the connection ended in the capture.
    pub close: &'static str,
    pub gaps: u32,
    pub out_of_order: u32,
    pub retransmitted: u32,
}

impl FlowFacts {
    fn of(flow: &Flow) -> FlowFacts {
        let [c, s] = &flow.dir;
        let close = if c.rst_frame.is_some() || s.rst_frame.is_some() {
            "rst"
        } else if c.fin_frame.is_some() || s.fin_frame.is_some() {
            "fin"
        } else {
            "none"
        };
        FlowFacts {
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
pub fn analyze(inputs: &[Input], opts: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    match opts.threads {
        None => analyze_all(inputs, opts),
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| AnalyzeError::Threads {
                threads,
                why: e.to_string(),
            })?
            .install(|| analyze_all(inputs, opts)),
    }
}

fn analyze_all(inputs: &[Input], opts: &AnalysisOptions) -> Result<Analysis, AnalyzeError> {
    let mut analysis = Analysis {
        captures: Vec::new(),
        flows: Vec::new(),
    };
    for (index, input) in inputs.iter().enumerate() {
        let (mut report, flows) = analyze_one(index, input, opts)?;
        opts.progress.emit(Progress::Classifying {
            input: index,
            flows: flows.len(),
        });
        let mut keylog = opts.keylog.clone();
        if !report.info.tls_secrets.is_empty() {
            let (embedded, errors) = KeyLog::parse_lenient(&report.info.tls_secrets);
            for e in errors {
                report.info.warnings.push(format!(
                    "TLS key log in a Decryption Secrets Block: {e}; line ignored"
                ));
            }
            keylog.merge(embedded);
        }
        let ctx = classify::Context { keylog };
        let first_id = analysis.flows.len() as u64 + 1;
        let results: Vec<FlowResult> = flows
            .into_par_iter()
            .enumerate()
            .map(|(i, mut flow)| {
                classify::orient(&mut flow);
                let class = classify::classify(&flow, &ctx);
                FlowResult {
                    id: first_id + i as u64,
                    capture: index,
                    facts: FlowFacts::of(&flow),
                    class,
                }
            })
            .collect();
        analysis.captures.push(report);
        analysis.flows.extend(results);
    }
    Ok(analysis)
}

fn analyze_one(
    index: usize,
    input: &Input,
    opts: &AnalysisOptions,
) -> Result<(CaptureReport, Vec<Flow>), AnalyzeError> {
    let mut table = FlowTable::new(opts.limits.clone());
    let mut skipped: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut read_bytes: u64 = 0;
    let info = capture::read_capture(input, &opts.read, |frame| {
        read_bytes = read_bytes
            .saturating_add(frame.data.len() as u64)
            .saturating_add(RECORD_HEADER);
        if frame.number % PROGRESS_EVERY == 0 {
            opts.progress.emit(Progress::Reading {
                input: index,
                bytes: read_bytes,
            });
        }
        match decode::decode(frame.link, frame.data) {
            Ok(seg) => table.push(frame.number, frame.ts_nanos, &seg),
            Err(skip) => *skipped.entry(skip.name()).or_default() += 1,
        }
    })?;
    let report = CaptureReport {
        name: input.display_name(),
        info,
        skipped,
    };
    Ok((report, table.finish()))
}
