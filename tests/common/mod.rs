//! Helpers shared by the integration tests (each test crate includes this with `mod common;`).
#![allow(dead_code)]

pub mod synth;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the `mtlscan` binary with `args`, feeding `stdin` to it when given.
pub fn run_mtlscan(args: &[&str], stdin: Option<&Path>) -> Output {
    let bytes = stdin.map(|path| std::fs::read(path).expect("capture is readable"));
    run_with_bytes(args, bytes)
}

/// Runs the `mtlscan` binary with `args`, writing `stdin` to its standard input when given.
pub fn run_with_bytes(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtlscan"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match stdin {
        Some(bytes) => {
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().expect("mtlscan starts");
            let mut pipe = child.stdin.take().expect("stdin is piped");
            // Feed from a thread: the report may fill stdout before stdin is drained.
            let feeder = std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
            let out = child.wait_with_output().expect("mtlscan runs");
            feeder.join().expect("stdin feeder");
            out
        }
        None => cmd.stdin(Stdio::null()).output().expect("mtlscan runs"),
    }
}

/// The JSON string literal of `text` (how the report spells a path).
pub fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// A capture of `samples/`.
pub fn sample(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// `../shared/captures` (real captures of other projects), when it is beside the repository.
pub fn shared_captures() -> Option<std::path::PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared").join("captures"))
        .find(|d| d.join("oracle.jsonl").is_file())
}

/// The JSON report of `args` and the exit code; with `stdin`, the capture is those bytes on
/// standard input.
pub fn json_report(args: &[&str], stdin: Option<Vec<u8>>) -> (serde_json::Value, i32) {
    let mut all = vec!["-f", "json"];
    all.extend_from_slice(args);
    if stdin.is_some() {
        all.push("-");
    }
    let out = run_with_bytes(&all, stdin);
    let json = serde_json::from_slice(&out.stdout).expect("a JSON report");
    (json, out.status.code().expect("an exit code"))
}

/// Where each record's data starts in the classic pcap `bytes` (little-endian), and its
/// captured length.
pub fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 24;
    let mut out = Vec::new();
    while let Some(header) = bytes.get(at..at + 16) {
        let caplen = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        out.push((at + 16, caplen));
        at += 16 + caplen;
    }
    out
}
