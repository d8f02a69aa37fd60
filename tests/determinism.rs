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

/// Past `--max-empty-flows`, the same first-seen flows without payload are listed whatever the
/// number of threads (each thread's engine keeps its own first ones, the capture then its own).
#[test]
fn unlisted_empty_flows_are_the_same_for_any_thread_count() {
    let synth = generate(&SynthConfig::with_size(CAPTURE_BYTES));
    let empty = synth.expected.empty;
    assert!(
        empty > 20,
        "the generated capture has flows without payload"
    );
    let keep = empty / 3;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("synthetic.pcap");
    std::fs::write(&path, &synth.pcap).expect("capture is written");
    let file = path.to_str().expect("temporary path is UTF-8");
    let keep_arg = keep.to_string();

    let run = |threads: &str| {
        let args = [
            "-q",
            "-f",
            "json",
            "-j",
            threads,
            "--max-empty-flows",
            &keep_arg,
            file,
        ];
        let out = run_mtlscan(&args, None);
        assert_eq!(out.status.code(), Some(0), "mtlscan {args:?}");
        String::from_utf8(out.stdout).expect("the report is UTF-8")
    };
    let one = run("1");
    assert!(run("2") == one, "-j 2 lists other flows than -j 1");

    let full: serde_json::Value =
        serde_json::from_str(&report(&["-f", "json", "-j", "1", file], None)).expect("JSON");
    let doc: serde_json::Value = serde_json::from_str(&one).expect("the report is JSON");
    let summary = &doc["summary"];
    assert_eq!(
        summary["flows"], synth.flows,
        "unlisted flows are still counted"
    );
    assert_eq!(summary["by_verdict"]["empty"], empty);
    assert_eq!(summary["unlisted_empty"], empty - keep);
    let listed = doc["flows"].as_array().expect("flows");
    assert_eq!(listed.len() as u64, synth.flows - (empty - keep));
    let warnings = doc["captures"][0]["warnings"].to_string();
    assert!(
        warnings.contains(&format!("{} flows without payload", empty - keep)),
        "{warnings}"
    );

    // The listed empty flows are the first seen; the other flows are all there.
    let first_frames = |flows: &serde_json::Value, verdict_empty: bool| -> Vec<u64> {
        flows
            .as_array()
            .expect("flows")
            .iter()
            .filter(|f| (f["verdict"] == "empty") == verdict_empty)
            .map(|f| f["first_frame"].as_u64().expect("first_frame"))
            .collect()
    };
    let all_empty = first_frames(&full["flows"], true);
    assert_eq!(
        first_frames(&doc["flows"], true),
        all_empty[..keep as usize].to_vec()
    );
    assert_eq!(
        first_frames(&doc["flows"], false),
        first_frames(&full["flows"], false)
    );
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
