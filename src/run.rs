//! One run, as the command makes it: the inputs are read and judged once, every report the run
//! asks for is written from that one judgement, and the policy gives the answer.
//!
//! ```no_run
//! use mtlscan::capture::Input;
//! use mtlscan::report::{Format, Policy, Requirement};
//! use mtlscan::run::{run, Destination, Hooks, ReportSpec, RunConfig};
//!
//! let config = RunConfig {
//!     inputs: vec![Input::Path("mtls.pcap".into())],
//!     reports: vec![
//!         ReportSpec::new(Destination::Stdout, Format::Table),
//!         ReportSpec::new(Destination::file("--export-json", "evidence.json"), Format::Json),
//!     ],
//!     policy: Policy { require: Some(Requirement::Mtls), allow: Vec::new() },
//!     ..RunConfig::default()
//! };
//! let outcome = run(&config, Hooks::default())?;
//! std::process::exit(if outcome.pass { 0 } else { 1 });
//! # Ok::<(), mtlscan::run::RunError>(())
//! ```
//!
//! A batch run ([`RunConfig::follow`] off) analyses the whole input, then writes each report;
//! every report file is written under a temporary name and renamed when complete
//! ([`report::write_atomically`]). A live run writes each flow as its verdict settles
//! ([`live`]), and ends when the input does or [`Hooks::stop`] is raised.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::analyze::{analyze, AnalysisOptions, AnalyzeError, ProgressHook};
use crate::capture::{Input, ReadLimits, ReadOptions};
use crate::classify::KeyLog;
use crate::flow::FlowLimits;
use crate::live::{self, Follower, LiveError, LiveOptions, LiveSink, LiveStatus};
use crate::mesh::{MeshRequest, Meshed};
use crate::names::{Names, NamesError};
use crate::report::live::LiveTable;
use crate::report::{
    self, Complete, Document, ExportError, Exporter, Format, JsonlExporter, PendingFile, Policy,
    TableStyle, View,
};
use crate::Workers;

/// Everything a run needs, as the command line gives it.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<Input>,
    /// The reports to write, each in its format and to its destination.
    pub reports: Vec<ReportSpec>,
    pub policy: Policy,
    /// NSS key logs, merged.
    pub keylogs: Vec<PathBuf>,
    /// `kubectl get pods -A -o json`.
    pub pods: Option<PathBuf>,
    /// `kubectl get svc -A -o json`.
    pub services: Option<PathBuf>,
    pub mesh: Option<MeshRequest>,
    /// The table's layout; `None` picks pod pairs and flows when some address is named by
    /// [`RunConfig::pods`] or [`RunConfig::services`], else flows.
    pub view: Option<View>,
    /// Live: each flow as it settles (see [`live`]). One input; table and JSON Lines only.
    pub follow: bool,
    /// Worker threads; `None`: one per core.
    pub threads: Option<usize>,
    pub read: ReadOptions,
    pub limits: FlowLimits,
    pub read_limits: ReadLimits,
    /// See [`AnalysisOptions::max_empty_flows`].
    pub max_empty_flows: usize,
}

impl Default for RunConfig {
    /// No input, no report, no policy; the command's default limits.
    fn default() -> RunConfig {
        RunConfig {
            inputs: Vec::new(),
            reports: Vec::new(),
            policy: Policy::default(),
            keylogs: Vec::new(),
            pods: None,
            services: None,
            mesh: None,
            view: None,
            follow: false,
            threads: None,
            read: ReadOptions::default(),
            limits: FlowLimits::default(),
            read_limits: ReadLimits::default(),
            max_empty_flows: crate::analyze::MAX_EMPTY_FLOWS,
        }
    }
}

/// One report of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    pub to: Destination,
    pub format: Format,
    /// ANSI colours in a table.
    pub color: bool,
    /// Cut each table line to this many columns (a terminal's width).
    pub width: Option<usize>,
}

impl ReportSpec {
    /// How a table report is laid out in `view` (colour only in a table).
    fn table_style(&self, view: View) -> TableStyle {
        TableStyle {
            color: self.color && self.format == Format::Table,
            width: self.width,
            view,
        }
    }

    /// A report in `format` to `to`, without colour, lines whole.
    pub fn new(to: Destination, format: Format) -> ReportSpec {
        ReportSpec {
            to,
            format,
            color: false,
            width: None,
        }
    }
}

/// Where a report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    /// A file, written whole or not at all; `option` names the flag that asked for it
    /// (`-o`, `--export-json`), for messages.
    File {
        option: &'static str,
        path: PathBuf,
    },
}

impl Destination {
    /// The file `path`, asked for by `option`.
    pub fn file(option: &'static str, path: impl Into<PathBuf>) -> Destination {
        Destination::File {
            option,
            path: path.into(),
        }
    }
}

/// Told the counts so far of a live run.
pub type StatusHook = Box<dyn FnMut(&LiveStatus) + Send>;

/// What the caller hears while the run goes on, and how it stops a live run.
#[derive(Default)]
pub struct Hooks {
    /// Bytes read so far, in a batch run.
    pub progress: ProgressHook,
    /// Counts so far, in a live run (at most four times a second).
    pub status: Option<StatusHook>,
    /// Raised, it ends a live run's input: the open flows are judged with what they have.
    pub stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("status", &self.status.is_some())
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The policy holds (always, when none was asked for).
    pub pass: bool,
    /// What the user should know about the inputs: one sentence each.
    pub warnings: Vec<String>,
}

/// Why a run could not report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Workers(String),
    #[error("{0}")]
    KeyLog(String),
    #[error("{} {source}", source.option())]
    Names {
        #[from]
        source: NamesError,
    },
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("{option} {}: cannot write: {source}", path.display())]
    File {
        option: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot write the report: {0}")]
    Stdout(io::Error),
    #[error(
        "--follow reads one capture and writes table or JSON Lines reports; {0} needs the whole \
         capture"
    )]
    NotLive(String),
}

/// Runs `config`: analyses the inputs, writes every report, and says whether the policy holds.
pub fn run(config: &RunConfig, hooks: Hooks) -> Result<Outcome, RunError> {
    let mut warnings = Vec::new();
    let keylog = keylogs(&config.keylogs, &mut warnings)?;
    let names = Names::from_files(config.pods.as_deref(), config.services.as_deref())?;
    let pass = if config.follow {
        follow(config, keylog, names, hooks)?
    } else {
        let workers = Workers::new(config.threads).map_err(RunError::Workers)?;
        workers.run(|| scan(config, keylog, &names, hooks.progress, &mut warnings))?
    };
    Ok(Outcome { pass, warnings })
}

/// The key logs, merged; a warning when they hit their bound.
fn keylogs(paths: &[PathBuf], warnings: &mut Vec<String>) -> Result<KeyLog, RunError> {
    let mut keylog = KeyLog::default();
    for path in paths {
        keylog.merge(KeyLog::from_file(path).map_err(|e| RunError::KeyLog(e.to_string()))?);
    }
    warnings.extend(keylog.limit_warning());
    Ok(keylog)
}

/// A batch run: the whole analysis, then every report from it.
fn scan(
    config: &RunConfig,
    keylog: KeyLog,
    names: &Names,
    progress: ProgressHook,
    warnings: &mut Vec<String>,
) -> Result<bool, RunError> {
    let opts = AnalysisOptions {
        read: config.read.clone(),
        read_limits: config.read_limits.clone(),
        limits: config.limits.clone(),
        keylog,
        threads: config.threads,
        progress,
        max_empty_flows: config.max_empty_flows,
    };
    let meshed = Meshed::new(analyze(&config.inputs, &opts)?, config.mesh);
    let doc = Document::build(&meshed, &config.policy, names);
    for c in &meshed.analysis.captures {
        warnings.extend(c.info.warnings.iter().map(|w| format!("{}: {w}", c.name)));
    }
    if !names.is_empty() && !doc.any_named() && !doc.is_empty() {
        warnings.push(format!(
            "no address in the capture matches a pod or service of --pods/--services ({} known \
             addresses); are they from the same cluster and time?",
            names.len()
        ));
    }
    let view = config.view.unwrap_or(if doc.summary.pod_pairs.is_some() {
        View::Both
    } else {
        View::Flows
    });
    // Every report in one pass over the flows; a report file takes its name when complete.
    let mut exporters: Vec<Box<dyn Exporter + '_>> = Vec::with_capacity(config.reports.len());
    for spec in &config.reports {
        let style = spec.table_style(view);
        exporters.push(match &spec.to {
            Destination::File { option, path } => {
                report::exporter(spec.format, create(option, path)?, style)
            }
            Destination::Stdout => report::exporter(spec.format, Stdout::new(), style),
        });
    }
    let mut each: Vec<&mut dyn Exporter> = exporters.iter_mut().map(|e| &mut **e as _).collect();
    if let Err(ExportError { index, error }) = report::export(&doc, &mut each) {
        return Err(match config.reports.get(index).map(|s| &s.to) {
            Some(Destination::File { option, path }) => file_error(option, path, error),
            _ => RunError::Stdout(error),
        });
    }
    Ok(doc.pass())
}

/// Standard output as a report goes there: buffered, and once a reader closes it early
/// (`| head`) the rest of the report is dropped without an error.
struct Stdout {
    out: BufWriter<io::Stdout>,
    closed: bool,
}

impl Stdout {
    fn new() -> Stdout {
        Stdout {
            out: BufWriter::new(io::stdout()),
            closed: false,
        }
    }

    /// `result`, unless the reader went away: then nothing more is written.
    fn unless_closed<T>(&mut self, result: io::Result<T>, or: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(or)
            }
            other => other,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let written = self.out.write(buf);
        self.unless_closed(written, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.out.flush();
        self.unless_closed(flushed, ())
    }
}

impl Complete for Stdout {}

/// Starts the report file `path`, asked for by `option`.
fn create(option: &'static str, path: &Path) -> Result<PendingFile, RunError> {
    PendingFile::create(path).map_err(|source| file_error(option, path, source))
}

fn file_error(option: &'static str, path: &Path, source: io::Error) -> RunError {
    RunError::File {
        option,
        path: path.to_path_buf(),
        source,
    }
}

/// A live run: records as flows settle, the summary when the input ends or is stopped.
fn follow(
    config: &RunConfig,
    keylog: KeyLog,
    names: Names,
    hooks: Hooks,
) -> Result<bool, RunError> {
    let [input] = config.inputs.as_slice() else {
        return Err(RunError::NotLive(format!(
            "reading {} captures",
            config.inputs.len()
        )));
    };
    if let Some(spec) = config
        .reports
        .iter()
        .find(|s| !matches!(s.format, Format::Table | Format::Jsonl))
    {
        return Err(RunError::NotLive(format!(
            "a {} report",
            spec.format.name()
        )));
    }
    let opts = LiveOptions {
        limits: config.limits.clone(),
        keylog,
        mesh: config.mesh,
        policy: config.policy.clone(),
        names,
        max_empty_flows: config.max_empty_flows,
    };
    // a live table writes rows, then the summary, whatever the view; `--summary` leaves the rows out
    let rows = config.view != Some(View::Summary);
    let mut sinks: Vec<LiveSink> = Vec::with_capacity(config.reports.len());
    for spec in &config.reports {
        let style = spec.table_style(View::Flows);
        sinks.push(match &spec.to {
            Destination::Stdout => live_sink(spec.format, io::stdout(), style, rows),
            Destination::File { option, path } => {
                live_sink(spec.format, create(option, path)?, style, rows)
            }
        });
    }
    let mut follower = Follower::new(opts, input.display_name(), sinks);
    if let Some(status) = hooks.status {
        follower.on_status(status);
    }
    match live::follow(
        input,
        follower,
        &config.read,
        &config.read_limits,
        hooks.stop,
    ) {
        Ok(pass) => Ok(pass),
        Err(LiveError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The live output of `format` on `out` (`rows`: a table row per flow, else only the summary).
fn live_sink<W: Complete + Send + 'static>(
    format: Format,
    out: W,
    style: TableStyle,
    rows: bool,
) -> LiveSink {
    match format {
        Format::Jsonl => Box::new(JsonlExporter::live(out)),
        _ => Box::new(LiveTable::new(out, style, rows)),
    }
}
