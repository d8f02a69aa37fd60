//! The `mtlscan` command: flags in, report out, exit code 0 / 1 / 2.

mod cli;
mod progress;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use mtlscan::classify::KeyLog;
use mtlscan::live::{self, Follower, LiveError, LiveOptions, LiveSink};
use mtlscan::mesh;
use mtlscan::names::Names;
use mtlscan::report::live::{LiveJsonl, LiveTable};
use mtlscan::report::{self, Document, Format, TableStyle, View};
use mtlscan::{analyze, AnalysisOptions};

use cli::{Cli, ColorArg, Settings, ViewArg};

/// The analysis allocates many small, short-lived buffers per flow (reassembly prefixes,
/// certificate fields, reasons): mimalloc serves them markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code: analysis done and the policy (if any) holds.
const OK: u8 = 0;
/// Exit code: analysis done, the policy is violated.
const POLICY_VIOLATED: u8 = 1;
/// Exit code: the input could not be analysed.
const FAILED: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let settings = match cli.into_settings() {
        Ok(s) => s,
        Err(msg) => return fail(&msg),
    };
    match run(settings) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => fail(&msg),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("mtlscan: error: {msg}");
    ExitCode::from(FAILED)
}

/// Help and version go to stdout with exit 0; usage errors become one line on stderr.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(OK);
    }
    let rendered = e.to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    fail(&format!("{first}; see 'mtlscan --help'"))
}

fn run(settings: Settings) -> Result<u8, String> {
    if settings.follow {
        return follow(settings);
    }
    let workers = mtlscan::Workers::new(settings.threads)?;
    workers.run(|| scan(&settings))
}

/// The key logs of `--keylog`, merged; a warning when they hit their bound.
fn keylogs(settings: &Settings) -> Result<KeyLog, String> {
    let mut keylog = KeyLog::default();
    for path in &settings.keylogs {
        keylog.merge(KeyLog::from_file(path).map_err(|e| e.to_string())?);
    }
    if let Some(warning) = keylog.limit_warning().filter(|_| !settings.quiet) {
        eprintln!("mtlscan: warning: {warning}");
    }
    Ok(keylog)
}

/// `--pods` and `--services`.
fn names(settings: &Settings) -> Result<Names, String> {
    Names::from_files(settings.pods.as_deref(), settings.services.as_deref())
        .map_err(|e| format!("{} {e}", e.option()))
}

/// A live run (`--follow`): records as flows settle, the summary when the input ends or a
/// signal ends it (a second Ctrl+C exits at once).
fn follow(settings: Settings) -> Result<u8, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| format!("cannot catch Ctrl+C: {e}"))?;
    let opts = LiveOptions {
        limits: settings.limits.clone(),
        keylog: keylogs(&settings)?,
        mesh: settings.mesh,
        policy: settings.policy.clone(),
        names: names(&settings)?,
        max_empty_flows: settings.max_empty_flows,
    };
    let mut sinks: Vec<Box<dyn LiveSink>> = Vec::new();
    let stdout_format = match (&settings.output, settings.summary) {
        (None, _) => Some(settings.format),
        (Some(_), true) => Some(Format::Table),
        (Some(_), false) => None,
    };
    if let Some(format) = stdout_format {
        let terminal = io::stdout().is_terminal();
        let style = TableStyle {
            color: color_for(&settings, terminal),
            width: terminal.then(terminal_width),
            view: View::Flows,
        };
        sinks.push(live_sink(format, io::stdout(), style, !settings.summary));
    }
    for (flag, format, path) in settings.report_files() {
        let file = report::PendingFile::create(path)
            .map_err(|e| format!("{flag} {}: cannot create: {e}", path.display()))?;
        let style = TableStyle {
            color: color_for(&settings, false),
            width: None,
            view: View::Flows,
        };
        sinks.push(live_sink(format, file, style, true));
    }
    let Some(input) = settings.inputs.first() else {
        return Err("--follow reads one capture".to_string());
    };
    let mut follower = Follower::new(opts, input.display_name(), sinks);
    let status = io::stderr().is_terminal() && !settings.quiet;
    if status {
        follower.on_status(|s| {
            eprint!(
                "\r\x1b[2K{} packets, {} flows; ended: {}",
                s.packets,
                s.flows,
                s.ended.short()
            );
        });
    }
    let outcome = live::follow(input, follower, &settings.read_limits, stop);
    if status {
        eprint!("\r\x1b[2K");
    }
    match outcome {
        Ok(pass) => Ok(if pass { OK } else { POLICY_VIOLATED }),
        Err(LiveError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(OK),
        Err(e) => Err(e.to_string()),
    }
}

/// The live output of `format` on `out` (`rows`: a table row per flow, else only the summary).
fn live_sink<W: report::Complete + Send + 'static>(
    format: Format,
    out: W,
    style: TableStyle,
    rows: bool,
) -> Box<dyn LiveSink> {
    match format {
        Format::Jsonl => Box::new(LiveJsonl::new(out)),
        _ => Box::new(LiveTable::new(out, style, rows)),
    }
}

/// Analyses the inputs, then writes every report of the run from the one analysis.
fn scan(settings: &Settings) -> Result<u8, String> {
    let keylog = keylogs(settings)?;
    let names = names(settings)?;
    let bar = progress::Bar::for_inputs(&settings.inputs, settings.quiet);
    let opts = AnalysisOptions {
        read: settings.read.clone(),
        read_limits: settings.read_limits.clone(),
        limits: settings.limits.clone(),
        keylog,
        threads: settings.threads,
        progress: bar
            .as_ref()
            .map(|(_, hook)| hook.clone())
            .unwrap_or_default(),
        max_empty_flows: settings.max_empty_flows,
    };
    let analysis = analyze(&settings.inputs, &opts);
    if let Some((bar, _)) = &bar {
        bar.finish();
    }
    let mut analysis = analysis.map_err(|e| e.to_string())?;
    let view = mesh::analyze(&mut analysis, settings.mesh);
    let doc = Document::build(&analysis, &view, &settings.policy, &names);
    if !settings.quiet {
        for c in &analysis.captures {
            for w in &c.info.warnings {
                eprintln!("mtlscan: warning: {}: {w}", c.name);
            }
        }
        if !names.is_empty() && !doc.any_named() && !doc.is_empty() {
            eprintln!(
                "mtlscan: warning: no address in the capture matches a pod or service of \
                 --pods/--services ({} known addresses); are they from the same cluster and time?",
                names.len()
            );
        }
    }
    let table_view = if settings.summary {
        View::Summary
    } else {
        match settings.view {
            ViewArg::Flows => View::Flows,
            ViewArg::Pods => View::Pods,
            ViewArg::Both => View::Both,
            ViewArg::Auto if doc.summary.pod_pairs.is_some() => View::Both,
            ViewArg::Auto => View::Flows,
        }
    };
    let file_style = TableStyle {
        color: color_for(settings, false),
        width: None,
        view: table_view,
    };
    for (flag, format, path) in settings.report_files() {
        report::write_atomically(path, |out| report::write(&doc, format, out, file_style))
            .map_err(|e| format!("{flag} {}: cannot write: {e}", path.display()))?;
    }
    let to_stdout = match (&settings.output, settings.summary) {
        (None, _) => Some(settings.format),
        (Some(_), true) if settings.format != Format::Table => Some(Format::Table),
        (Some(_), _) => None,
    };
    if let Some(format) = to_stdout {
        let stdout = io::stdout();
        let terminal = stdout.is_terminal();
        let style = TableStyle {
            color: format == Format::Table && color_for(settings, terminal),
            width: terminal.then(terminal_width),
            view: table_view,
        };
        let mut out = BufWriter::new(stdout.lock());
        match report::write(&doc, format, &mut out, style).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => other.map_err(|e| format!("cannot write the report: {e}"))?,
        }
    }
    Ok(if doc.pass() { OK } else { POLICY_VIOLATED })
}

/// Colour for a table: `--color`, else only on a terminal without `NO_COLOR`.
fn color_for(settings: &Settings, terminal: bool) -> bool {
    match settings.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The terminal's width from `COLUMNS`, else 100.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 40)
        .unwrap_or(100)
}
