//! Helpers shared by the integration tests (each test crate includes this with `mod common;`).
#![allow(dead_code)]

pub mod synth;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the `mtlscan` binary with `args`, feeding `stdin` to it when given.
pub fn run_mtlscan(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtlscan"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match stdin {
        Some(path) => {
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().expect("mtlscan starts");
            let bytes = std::fs::read(path).expect("capture is readable");
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
