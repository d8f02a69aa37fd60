//! The `mtlscan` command: flags in, report out, exit code 0 / 1 / 2.

mod cli;
mod progress;

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::Parser;
use mtlscan::live::LiveStatus;
use mtlscan::run::Hooks;

use cli::{Cli, Settings};

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

/// Runs the settings: a progress bar while a large capture is read, or a status line while a
/// live one is followed, on a terminal; warnings on standard error unless `--quiet`.
fn run(settings: Settings) -> Result<u8, String> {
    let Settings { config, quiet } = settings;
    let mut hooks = Hooks::default();
    if config.follow {
        let stop = Arc::clone(&hooks.stop);
        ctrlc::set_handler(move || {
            // A second Ctrl+C exits at once.
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        })
        .map_err(|e| format!("cannot catch Ctrl+C: {e}"))?;
    }
    let status = config.follow && !quiet && io::stderr().is_terminal();
    if status {
        hooks.status = Some(Box::new(|s: &LiveStatus| {
            eprint!(
                "\r\x1b[2K{} packets, {} flows; ended: {}",
                s.packets,
                s.flows,
                s.ended.short()
            );
        }));
    }
    let bar = match config.follow {
        false => progress::Bar::for_inputs(&config.inputs, quiet),
        true => None,
    };
    if let Some((_, hook)) = &bar {
        hooks.progress = hook.clone();
    }
    let outcome = mtlscan::run::run(&config, hooks);
    if let Some((bar, _)) = &bar {
        bar.finish();
    }
    if status {
        eprint!("\r\x1b[2K");
    }
    let outcome = outcome.map_err(|e| e.to_string())?;
    if !quiet {
        for warning in &outcome.warnings {
            eprintln!("mtlscan: warning: {warning}");
        }
    }
    Ok(if outcome.pass { OK } else { POLICY_VIOLATED })
}
