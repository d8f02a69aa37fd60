//! The report does not depend on how the capture is read: one thread or several (the sharded
//! driver), memory map or buffered reads, file or standard input. Checked on a generated capture
//! large enough for the sharded driver, whose flow verdicts are known in advance.

mod common;

use std::path::Path;

use common::synth::{generate, SynthConfig};
use common::{json_string, run_mtlscan};

/// Larger than the size from which a mapped capture is sharded (16 MiB).
const CAPTURE_BYTES: usize = 20 << 20;

fn report(args: &[&str], stdin: Option<&Path>) -> String {
    let out = run_mtlscan(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "mtlscan {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "mtlscan {args:?} warned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the report is UTF-8")
}

#[test]
fn report_is_identical_for_threads_mmap_and_stdin() {
    let synth = generate(&SynthConfig::with_size(CAPTURE_BYTES));
    assert!(synth.pcap.len() >= CAPTURE_BYTES);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("synthetic.pcap");
    std::fs::write(&path, &synth.pcap).expect("capture is written");
    let file = path.to_str().expect("temporary path is UTF-8");

    let one = report(&["-f", "json", "-j", "1", file], None);
    for args in [
        &["-f", "json", "-j", "2", file][..],
        &["-f", "json", "-j", "3", file],
        &["-f", "json", "-j", "2", "--no-mmap", file],
        &["-f", "json", "-j", "1", "--no-mmap", file],
    ] {
        let other = report(args, None);
        assert!(other == one, "report of {args:?} differs from -j 1");
    }

    // Standard input: the same report but for the capture's path, which is `-`.
    let from_file = one.replacen(
        &format!("\"path\": {}", json_string(file)),
        "\"path\": \"-\"",
        1,
    );
    assert_ne!(from_file, one, "the report names the capture's path");
    for threads in ["1", "2"] {
        let piped = report(&["-f", "json", "-j", threads, "-"], Some(&path));
        assert!(
            piped == from_file,
            "report from stdin with -j {threads} differs"
        );
    }

    // Every flow got the verdict its kind was generated for.
    let doc: serde_json::Value = serde_json::from_str(&one).expect("the report is JSON");
    let summary = &doc["summary"];
    assert_eq!(summary["flows"], synth.flows, "flows in the report");
    for (verdict, count) in synth.expected.entries() {
        assert_eq!(
            summary["by_verdict"][verdict], count,
            "{verdict} flows (generated: {:?})",
            synth.kinds
        );
    }
    assert_eq!(doc["captures"][0]["packets"], synth.packets);
    assert_eq!(doc["captures"][0]["truncated"], false);
}

#[test]
fn generator_is_deterministic() {
    let a = generate(&SynthConfig::with_size(1 << 20));
    let b = generate(&SynthConfig::with_size(1 << 20));
    assert!(a.pcap == b.pcap);
    let mut other = SynthConfig::with_size(1 << 20);
    other.seed = 2;
    assert!(generate(&other).pcap != a.pcap);
}

/// Writes a generated capture for manual runs:
/// `MTLSCAN_SYNTH_OUT=x.pcap MTLSCAN_SYNTH_BYTES=200000000 cargo test --release --test determinism -- --ignored`.
#[test]
#[ignore = "writes a capture where MTLSCAN_SYNTH_OUT says"]
fn write_synthetic_capture() {
    let Some(out) = std::env::var_os("MTLSCAN_SYNTH_OUT") else {
        println!("set MTLSCAN_SYNTH_OUT to the file to write");
        return;
    };
    let bytes = std::env::var("MTLSCAN_SYNTH_BYTES")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(CAPTURE_BYTES);
    let synth = generate(&SynthConfig::with_size(bytes));
    std::fs::write(&out, &synth.pcap).expect("capture is written");
    println!(
        "{} bytes, {} packets, {} flows, expected {:?}, kinds {:?}",
        synth.pcap.len(),
        synth.packets,
        synth.flows,
        synth.expected,
        synth.kinds
    );
}
