//! The `mtlscan` command: flags in, report out, exit code 0 / 1 / 2.

mod cli;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use mtlscan::classify::KeyLog;
use mtlscan::names::Names;
use mtlscan::report::{self, Document, Format, TableStyle};
use mtlscan::{analyze, AnalysisOptions};

use cli::{Cli, ColorArg, Settings};

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
    let mut keylog = KeyLog::default();
    for path in &settings.keylogs {
        keylog.merge(KeyLog::from_file(path).map_err(|e| e.to_string())?);
    }
    let names = match &settings.pods {
        Some(path) => Names::from_pods_file(path).map_err(|e| format!("--pods {e}"))?,
        None => Names::default(),
    };
    let opts = AnalysisOptions {
        read: settings.read.clone(),
        keylog,
        threads: settings.threads,
        ..AnalysisOptions::default()
    };
    let analysis = analyze(&settings.inputs, &opts).map_err(|e| e.to_string())?;
    if !settings.quiet {
        for c in &analysis.captures {
            for w in &c.info.warnings {
                eprintln!("mtlscan: warning: {}: {w}", c.name);
            }
        }
    }
    let (doc, outcome) = Document::build(&analysis, &settings.policy, &names);
    let written = match &settings.output {
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| format!("-o {}: cannot create: {e}", path.display()))?;
            let mut out = BufWriter::new(file);
            report::write(
                &doc,
                settings.format,
                &mut out,
                TableStyle {
                    color: color_for(&settings, false),
                    width: None,
                },
            )
            .and_then(|()| out.flush())
            .map_err(|e| format!("-o {}: cannot write: {e}", path.display()))
        }
        None => {
            let stdout = io::stdout();
            let terminal = stdout.is_terminal();
            let style = TableStyle {
                color: color_for(&settings, terminal),
                width: terminal.then(terminal_width),
            };
            let mut out = BufWriter::new(stdout.lock());
            match report::write(&doc, settings.format, &mut out, style).and_then(|()| out.flush()) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| format!("cannot write the report: {e}")),
            }
        }
    };
    written?;
    Ok(match outcome {
        Some(o) if !o.pass => POLICY_VIOLATED,
        _ => OK,
    })
}

fn color_for(settings: &Settings, terminal: bool) -> bool {
    if settings.format != Format::Table {
        return false;
    }
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
