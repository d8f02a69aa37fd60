//! Verdicts while the capture is still being written (`--follow`): `kubectl sniff <pod> -o - |
//! mtlscan --follow -`, `tcpdump -w - | …`, a FIFO.
//!
//! The [`Follower`] is the sink of the record walk. Each flow's record is written once, as soon
//! as its verdict is **settled**, and the flow's final counters follow when it ends:
//!
//! - cleartext: at the first request or response found;
//! - TLS with its handshake: once the client-certificate answer is known (TLS ≤ 1.2 after the
//!   client's second flight, TLS 1.3 after the client's first encrypted flight), the handshake
//!   completed or failed, or the session was resumed;
//! - TLS whose handshake is not in the capture: at its first records;
//! - opaque and empty: when the flow ends.
//!
//! A record is written within [`stop::WAIT_MS`] of the read that brought the bytes that settled
//! it, plus the time to classify. A flow's later bytes can still change its verdict (cleartext
//! after TLS records): its `flow-end` record then carries the final verdict and the settled one.
//! The summary and the policy count the final verdicts.
//!
//! Nothing is kept for a flow once its end is written but the summary's counters and the ids
//! that the policy lists: memory follows the open flows, as the flow table bounds them.
//!
//! Each flow is judged by its own bytes, with the mesh profile in force (under `--mesh auto`,
//! the first one recognised). The proofs that rest on other flows (resumed sessions linked to
//! their full handshake, what a server demands, the identity a sidecar forwards, the pairing of
//! legs) need the whole capture: a resumed session stays unproven here, and a run without
//! `--follow` on the saved capture makes them.

mod stop;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use stop::{Stoppable, WAIT_MS};

use crate::analyze::{Analysis, CaptureReport, Close, FlowFacts, FlowResult};
use crate::capture::{
    self, CaptureError, CaptureInfo, Frame, FrameSink, Input, ReadLimits, ReadOptions,
};
use crate::classify::{self, Context, KeyLog};
use crate::decode::defrag::Defragmenter;
use crate::decode::{Skip, Transport};
use crate::flow::{Flow, FlowLimits, FlowTable, TableCounters};
use crate::mesh::{MeshRequest, Meshed, Profile};
use crate::model::{HandshakeState, Verdict};
use crate::names::Names;
use crate::report::document::{
    ByVerdict, ExemptionDoc, ExpectedCountDoc, LegsDoc, MeshSummaryDoc, PerSide, PolicyDoc,
    PolicyTotals, RecognitionDoc, SummaryDoc,
};
use crate::report::{Document, Exporter, MarkKind, Policy, UNPROVEN_ADVICE};

/// Segments between two looks for flows that ended, when the input never makes the reader wait.
const DRAIN_EVERY: u32 = 4096;
/// Shortest time between two status updates.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// Flows that violate the policy (and unproven ones) kept whole for the summary's list.
const KEPT_PER_LIST: usize = 10;

/// What a live run is judged by.
#[derive(Debug, Default)]
pub struct LiveOptions {
    pub limits: FlowLimits,
    pub keylog: KeyLog,
    pub mesh: Option<MeshRequest>,
    pub policy: Policy,
    pub names: Names,
    /// Flows without payload written one by one (the first seen); the others are counted.
    pub max_empty_flows: usize,
}

/// Where a live run's records go: an [`Exporter`] begun without a document, told each flow as
/// its verdict settles (its counters as of then), each end, and finished once with a document
/// whose flows are only those the summary lists by name.
pub type LiveSink = Box<dyn Exporter + Send>;

/// The end of a flow: its final counters and verdict.
#[derive(Debug, Clone, Serialize)]
pub struct FlowEnd {
    pub id: u64,
    pub last_frame: u64,
    pub packets: PerSide,
    pub bytes: PerSide,
    pub close: Close,
    pub verdict: Verdict,
    /// The verdict of the flow's record, when later bytes changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_verdict: Option<Verdict>,
    /// The flow had not ended when the input did (or the run was stopped).
    pub open: bool,
    /// How the final verdict stands against `--require`: `violation`, `unproven` or `exempt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_mark: Option<MarkKind>,
}

/// Counts so far, for a status line.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    pub packets: u64,
    /// Flows whose record was written.
    pub flows: u64,
    /// Final verdicts of the flows that ended.
    pub ended: ByVerdict,
}

/// A flow whose record was written and that has not ended yet.
#[derive(Debug, Clone, Copy)]
struct Settled {
    id: u64,
    verdict: Verdict,
}

/// What the summary adds up, flow by flow.
#[derive(Debug, Default)]
struct Totals {
    flows: u64,
    by_verdict: ByVerdict,
    unlisted_empty: u64,
    listed_empty: usize,
    loopback: u64,
    network: u64,
    /// The first ids of each policy list ([`PolicyTotals::KEPT`]), and their counts.
    violations: Vec<u64>,
    unproven: Vec<u64>,
    exempted: Vec<u64>,
    policy_totals: PolicyTotals,
    /// Flows that meet the requirement.
    met: u64,
    exemptions: Vec<ExemptionDoc>,
    expected: Vec<ExpectedCountDoc>,
    recognised_by: Vec<RecognitionDoc>,
}

impl Totals {
    /// Adds the summary of a report of one flow.
    fn add(&mut self, s: &SummaryDoc) {
        self.flows += s.flows;
        self.by_verdict.merge(&s.by_verdict);
        self.loopback += s.legs.loopback;
        self.network += s.legs.network;
        if let Some(p) = &s.policy {
            let keep = |list: &mut Vec<u64>, ids: &[u64]| {
                let room = PolicyTotals::KEPT.saturating_sub(list.len());
                list.extend(ids.iter().take(room));
            };
            keep(&mut self.violations, &p.violations);
            keep(&mut self.unproven, &p.unproven);
            keep(&mut self.exempted, &p.exempted);
            let t = &mut self.policy_totals;
            t.violations += p.violations.len() as u64;
            t.unproven += p.unproven.len() as u64;
            t.exempted += p.exempted.len() as u64;
            self.met += p.met;
            for e in &p.exemptions {
                match self.exemptions.iter_mut().find(|x| x.by == e.by) {
                    Some(x) => {
                        x.count += e.count;
                        keep(&mut x.flows, &e.flows);
                    }
                    None => self.exemptions.push(ExemptionDoc {
                        by: e.by.clone(),
                        count: e.count,
                        flows: e.flows.clone(),
                    }),
                }
            }
        }
        for e in &s.mesh.expected {
            match self.expected.iter_mut().find(|x| x.rule == e.rule) {
                Some(x) => x.flows += e.flows,
                None => self.expected.push(ExpectedCountDoc {
                    rule: e.rule,
                    description: e.description,
                    flows: e.flows,
                }),
            }
        }
        for r in &s.mesh.recognised_by {
            match self.recognised_by.iter_mut().find(|x| x.what == r.what) {
                Some(x) => x.flows += r.flows,
                None => self.recognised_by.push(RecognitionDoc {
                    what: r.what.clone(),
                    flow: r.flow,
                    flows: r.flows,
                }),
            }
        }
    }
}

/// What [`Follower::on_status`] calls.
type StatusHook = Box<dyn FnMut(&LiveStatus) + Send>;

/// The live run: reads frames (as a [`FrameSink`]), writes records to its sinks.
pub struct Follower {
    opts: LiveOptions,
    name: String,
    table: FlowTable,
    defrag: Defragmenter,
    ctx: Context,
    sinks: Vec<LiveSink>,
    /// The first error a sink met: the run stops writing, and says it at the end.
    error: Option<io::Error>,
    next_id: u64,
    /// Open flows whose record was written, by first frame.
    settled: HashMap<u64, Settled>,
    packets: u64,
    since_drain: u32,
    skipped: BTreeMap<&'static str, u64>,
    /// UDP datagrams seen: a live run judges TCP flows only.
    udp_datagrams: u64,
    totals: Totals,
    /// The mesh profile in force: asked for, or the first recognised under `auto`.
    profile: Option<Profile>,
    recognised: Option<Profile>,
    /// Flows the summary lists by name (the first violations and unproven flows).
    kept: Vec<FlowResult>,
    status: Option<StatusHook>,
    last_status: Option<Instant>,
    table_counters: TableCounters,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("name", &self.name)
            .field("packets", &self.packets)
            .field("flows", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// A run over the capture named `name` (as the report names it), writing to `sinks`.
    pub fn new(opts: LiveOptions, name: String, sinks: Vec<LiveSink>) -> Follower {
        let mut table = FlowTable::new(opts.limits.clone());
        table.track_touched();
        let profile = match opts.mesh {
            Some(MeshRequest::Profile(p)) => Some(p),
            _ => None,
        };
        let mut error = None;
        let mut sinks = sinks;
        write_each(&mut sinks, &mut error, |sink| sink.begin(None));
        Follower {
            ctx: Context {
                keylog: opts.keylog.clone(),
            },
            opts,
            name,
            table,
            defrag: Defragmenter::new(),
            sinks,
            error,
            next_id: 0,
            settled: HashMap::new(),
            packets: 0,
            since_drain: 0,
            skipped: BTreeMap::new(),
            udp_datagrams: 0,
            totals: Totals::default(),
            profile,
            recognised: None,
            kept: Vec::new(),
            status: None,
            last_status: None,
            table_counters: TableCounters::default(),
        }
    }

    /// Calls `status` with the counts so far, at most every quarter second while frames come
    /// in, and once at the end.
    pub fn on_status(&mut self, status: impl FnMut(&LiveStatus) + Send + 'static) {
        self.status = Some(Box::new(status));
    }

    /// The counts so far.
    pub fn status(&self) -> LiveStatus {
        LiveStatus {
            packets: self.packets,
            flows: self.next_id,
            ended: self.totals.by_verdict.clone(),
        }
    }

    /// Ends the run with the capture's `info` (`stopped`: a signal ended the input): the flows
    /// still open are judged with the bytes they have, the summary is written, and every sink
    /// finishes. Returns whether the policy holds.
    pub fn finish(mut self, info: CaptureInfo, stopped: bool) -> io::Result<bool> {
        self.drain();
        let table = std::mem::replace(&mut self.table, FlowTable::new(FlowLimits::default()));
        self.table_counters = table.counters();
        let mut left = Vec::new();
        table.finish_each(|item| {
            if let crate::flow::Leftover::Flow(flow) = item {
                left.push(flow);
            }
        });
        left.sort_unstable_by_key(|f| f.first_frame);
        for flow in left {
            let open = !ended(&flow);
            self.end(flow, open);
        }
        let fragments = self.defrag.finish();
        for (reason, count) in [
            (Skip::IpFragment.name(), fragments.lost_fragments),
            (
                Skip::IpFragmentDuplicate.name(),
                fragments.duplicate_fragments,
            ),
            (Skip::NotTcp.name(), fragments.not_tcp_fragments),
        ] {
            if count > 0 {
                *self.skipped.entry(reason).or_default() += count;
            }
        }
        let mut info = info;
        if self.udp_datagrams > 0 {
            *self.skipped.entry("udp-not-followed").or_default() += self.udp_datagrams;
            info.warnings.push(format!(
                "{} UDP datagrams are not judged by a live run: run mtlscan without --follow on \
                 the saved capture to judge the UDP flows",
                self.udp_datagrams
            ));
        }
        info.warnings.extend(fragments.warnings());
        info.warnings
            .extend(crate::analyze::undecoded_warnings(&self.skipped));
        info.warnings
            .extend(self.table_counters.warnings(&self.opts.limits));
        if stopped {
            info.warnings.push(
                "stopped by a signal before the input ended: the flows still open were judged \
                 with the bytes they had (their flow-end records say open)"
                    .to_string(),
            );
        }
        self.report_status(true);
        let report = CaptureReport {
            name: self.name.clone(),
            info,
            skipped: std::mem::take(&mut self.skipped),
            fragments,
            unlisted_empty: self.totals.unlisted_empty,
        };
        let mut kept = std::mem::take(&mut self.kept);
        kept.sort_unstable_by_key(|f| f.facts.first_frame);
        let analysis = Analysis {
            captures: vec![report],
            flows: kept,
        };
        let meshed = Meshed::new(analysis, self.request());
        let mut doc = Document::build(&meshed, &self.opts.policy, &self.opts.names);
        doc.summary = self.summary();
        let pass = doc.pass();
        write_each(&mut self.sinks, &mut self.error, |sink| sink.finish(&doc));
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(pass),
        }
    }

    /// The mesh request for one flow: the profile in force once known.
    fn request(&self) -> Option<MeshRequest> {
        match (self.opts.mesh, self.profile) {
            (Some(_), Some(p)) => Some(MeshRequest::Profile(p)),
            (request, _) => request,
        }
    }

    fn summary(&self) -> SummaryDoc {
        let t = &self.totals;
        let totals = t.policy_totals;
        let cut = [totals.violations, totals.unproven, totals.exempted]
            .iter()
            .any(|&n| n > PolicyTotals::KEPT as u64);
        let policy = self.opts.policy.require.map(|r| PolicyDoc {
            require: r,
            pass: totals.violations == 0 && totals.unproven == 0,
            totals: cut.then_some(totals),
            met: t.met,
            violations: t.violations.clone(),
            unproven: t.unproven.clone(),
            advice: (totals.unproven > 0).then_some(UNPROVEN_ADVICE),
            exempted: t.exempted.clone(),
            exemptions: t
                .exemptions
                .iter()
                .map(|e| ExemptionDoc {
                    by: e.by.clone(),
                    count: e.count,
                    flows: e.flows.clone(),
                })
                .collect(),
        });
        let mut by_verdict = t.by_verdict.clone();
        by_verdict.empty += t.unlisted_empty;
        SummaryDoc {
            flows: t.flows + t.unlisted_empty,
            by_verdict,
            unlisted_empty: t.unlisted_empty,
            policy,
            legs: LegsDoc {
                loopback: t.loopback,
                network: t.network,
                paired: 0,
            },
            mesh: MeshSummaryDoc {
                requested: self.opts.mesh,
                profile: self.profile,
                recognised: self.recognised,
                recognised_by: t
                    .recognised_by
                    .iter()
                    .map(|r| RecognitionDoc {
                        what: r.what.clone(),
                        flow: r.flow,
                        flows: r.flows,
                    })
                    .collect(),
                expected: t
                    .expected
                    .iter()
                    .map(|e| ExpectedCountDoc {
                        rule: e.rule,
                        description: e.description,
                        flows: e.flows,
                    })
                    .collect(),
            },
            pod_pairs: None,
        }
    }

    /// Hands the flows that ended to [`Follower::end`], then writes the records of the open
    /// flows whose verdict is now settled.
    fn drain(&mut self) {
        self.since_drain = 0;
        for flow in self.table.drain_closed() {
            self.end(flow, false);
        }
        // Late segments of flows already ended change only their counters: not followed.
        drop(self.table.drain_tails());
        let mut touched = Vec::new();
        let settled = &self.settled;
        self.table.visit_touched(|flow| {
            if !settled.contains_key(&flow.first_frame) {
                touched.push(flow.clone());
            }
        });
        for mut flow in touched {
            classify::orient(&mut flow);
            let class = classify::classify(&flow, &self.ctx);
            if !is_settled(&class) {
                continue;
            }
            let id = self.new_id();
            let verdict = class.verdict;
            let result = FlowResult {
                id,
                capture: 0,
                facts: FlowFacts::of(&flow),
                class,
            };
            self.settled
                .insert(flow.first_frame, Settled { id, verdict });
            self.judge(result, true);
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A flow is over (or the input is, `open`): its record if none was written, its end.
    fn end(&mut self, mut flow: Flow, open: bool) {
        classify::orient(&mut flow);
        let class = classify::classify(&flow, &self.ctx);
        let settled = self.settled.remove(&flow.first_frame);
        if settled.is_none() && class.verdict == Verdict::Empty {
            if self.totals.listed_empty >= self.opts.max_empty_flows {
                self.totals.unlisted_empty += 1;
                return;
            }
            self.totals.listed_empty += 1;
        }
        let id = settled.map_or_else(|| self.new_id(), |s| s.id);
        let result = FlowResult {
            id,
            capture: 0,
            facts: FlowFacts::of(&flow),
            class,
        };
        let (summary, end) = self.judge_end(result, settled, open);
        self.totals.add(&summary);
        write_each(&mut self.sinks, &mut self.error, |sink| sink.flow_end(&end));
    }

    /// The report of one flow: writes its record when `record`; returns its summary, and the
    /// flow's result back.
    fn judge(&mut self, result: FlowResult, record: bool) -> (SummaryDoc, Option<FlowResult>) {
        // Only the flow is written: the report of one flow needs no capture.
        let analysis = Analysis {
            captures: Vec::new(),
            flows: vec![result],
        };
        let mut meshed = Meshed::new(analysis, self.request());
        if self.opts.mesh == Some(MeshRequest::Auto) && self.profile.is_none() {
            self.profile = meshed.view.profile;
        }
        if self.recognised.is_none() {
            self.recognised = meshed.view.recognised;
        }
        let doc = Document::build(&meshed, &self.opts.policy, &self.opts.names);
        if let Some(flow) = doc.flow_doc(0).filter(|_| record) {
            let flows = std::slice::from_ref(&flow);
            write_each(&mut self.sinks, &mut self.error, |sink| sink.flows(flows));
        }
        let summary = doc.summary;
        (summary, meshed.analysis.flows.pop())
    }

    /// Judges an ended flow: writes its record if it had none, keeps it if the summary lists it
    /// by name, and returns its summary and its end.
    fn judge_end(
        &mut self,
        result: FlowResult,
        settled: Option<Settled>,
        open: bool,
    ) -> (SummaryDoc, FlowEnd) {
        let (id, facts, verdict) = (result.id, result.facts.clone(), result.class.verdict);
        let (summary, result) = self.judge(result, settled.is_none());
        let mark = summary.policy.as_ref().and_then(|p| {
            if p.violations.contains(&id) {
                Some(MarkKind::Violation)
            } else if p.unproven.contains(&id) {
                Some(MarkKind::Unproven)
            } else if p.exempted.contains(&id) {
                Some(MarkKind::Exempt)
            } else {
                None
            }
        });
        let listed = |list: &[u64]| list.len() < KEPT_PER_LIST;
        let end = FlowEnd {
            id,
            last_frame: facts.last_frame,
            packets: PerSide::of(facts.packets),
            bytes: PerSide::of(facts.bytes),
            close: facts.close,
            verdict,
            settled_verdict: settled.map(|s| s.verdict).filter(|&v| v != verdict),
            open,
            policy_mark: mark,
        };
        let keep = match mark {
            Some(MarkKind::Violation) => listed(&self.totals.violations),
            Some(MarkKind::Unproven) => listed(&self.totals.unproven),
            _ => false,
        };
        if let Some(result) = result.filter(|_| keep) {
            self.kept.push(result);
        }
        (summary, end)
    }

    fn report_status(&mut self, last: bool) {
        let now = Instant::now();
        if !last && self.last_status.is_some_and(|t| now - t < STATUS_EVERY) {
            return;
        }
        self.last_status = Some(now);
        let status = self.status();
        if let Some(hook) = self.status.as_mut() {
            hook(&status);
        }
    }
}

impl<'a> FrameSink<'a> for Follower {
    fn frame(&mut self, frame: &Frame<'a>) {
        self.packets += 1;
        let (table, udp) = (&mut self.table, &mut self.udp_datagrams);
        let decoded = self.defrag.decode(frame, |seg| {
            if seg.transport == Transport::Udp {
                *udp += 1;
            } else {
                table.push(frame.number, frame.ts_nanos, seg);
            }
        });
        if let Err(skipped) = decoded {
            *self.skipped.entry(skipped.skip.name()).or_default() += skipped.frames;
        }
        self.since_drain += 1;
        if self.since_drain >= DRAIN_EVERY {
            self.drain();
            self.report_status(false);
        }
    }

    fn tls_secrets(&mut self, text: &[u8]) {
        self.drain();
        self.ctx.keylog.merge(KeyLog::parse_lenient(text).0);
    }

    fn waiting(&mut self) {
        self.drain();
        self.report_status(false);
    }
}

/// Where a live run reads: standard input, or a file (a FIFO, or a capture already written).
#[derive(Debug)]
pub enum LiveInput {
    Stdin(io::Stdin),
    File(std::fs::File),
}

#[cfg(unix)]
impl std::os::fd::AsFd for LiveInput {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            LiveInput::Stdin(s) => s.as_fd(),
            LiveInput::File(f) => f.as_fd(),
        }
    }
}

impl io::Read for LiveInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            LiveInput::Stdin(s) => s.read(buf),
            LiveInput::File(f) => f.read(buf),
        }
    }
}

/// Opens `input` for a live run.
pub fn open(input: &Input) -> Result<LiveInput, CaptureError> {
    match input {
        Input::Stdin => Ok(LiveInput::Stdin(io::stdin())),
        Input::Path(path) => {
            let error = |source: io::Error| match source.kind() {
                io::ErrorKind::NotFound => CaptureError::NotFound { path: path.clone() },
                _ => CaptureError::Io {
                    path: path.clone(),
                    source,
                },
            };
            if std::fs::metadata(path).map_err(error)?.is_dir() {
                return Err(CaptureError::IsDirectory { path: path.clone() });
            }
            std::fs::File::open(path)
                .map(LiveInput::File)
                .map_err(error)
        }
    }
}

/// Reads `input` into `follower` until it ends or `stop` is set, then finishes the run (see
/// [`Follower::finish`]). Returns whether the policy holds.
pub fn follow(
    input: &Input,
    mut follower: Follower,
    read: &ReadOptions,
    limits: &ReadLimits,
    stop: Arc<AtomicBool>,
) -> Result<bool, LiveError> {
    let mut reader = Stoppable::new(open(input)?, stop);
    let name = input.display_name();
    let info = capture::read_stream_into(&name, &mut reader, read, limits, &mut follower)?;
    let stopped = reader.stopped();
    follower.finish(info, stopped).map_err(LiveError::Write)
}

/// Why a live run could not report.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot write the report: {0}")]
    Write(io::Error),
}

/// Tells each sink with `each`, until one fails: its error is kept in `error`, and nothing more
/// is written.
fn write_each(
    sinks: &mut [LiveSink],
    error: &mut Option<io::Error>,
    mut each: impl FnMut(&mut dyn Exporter) -> io::Result<()>,
) {
    for sink in sinks {
        if error.is_some() {
            return;
        }
        if let Err(e) = each(sink.as_mut()) {
            *error = Some(e);
        }
    }
}

/// The flow ended: a RST, or FINs both ways.
fn ended(flow: &Flow) -> bool {
    let [c, s] = &flow.dir;
    c.rst_frame.is_some()
        || s.rst_frame.is_some()
        || (c.fin_frame.is_some() && s.fin_frame.is_some())
}

/// The verdict will not change with more of the handshake (see the module documentation).
fn is_settled(class: &crate::model::Classification) -> bool {
    match class.verdict {
        Verdict::Plaintext | Verdict::Encrypted => true,
        Verdict::Tls | Verdict::Mtls => class.tls.as_deref().is_some_and(|t| {
            t.client_certificate.presented.is_some()
                || t.resumed == Some(true)
                || matches!(
                    t.handshake,
                    Some(
                        HandshakeState::Complete
                            | HandshakeState::Failed
                            | HandshakeState::NotCaptured
                    )
                )
        }),
        Verdict::Opaque | Verdict::Empty => false,
    }
}
