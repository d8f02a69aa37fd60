//! `--follow` as a user meets it: a capture still being written (a FIFO, a pipe), records that
//! appear while the writer is still at it, Ctrl+C that ends the input and still reports.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// A classic pcap cut into its file header and its packet records.
fn records(path: &Path) -> (Vec<u8>, Vec<Vec<u8>>) {
    let data = std::fs::read(path).unwrap();
    let little = matches!(
        &data[..4],
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len: [u8; 4] = data[at + 8..at + 12].try_into().unwrap();
        let len = if little {
            u32::from_le_bytes(len)
        } else {
            u32::from_be_bytes(len)
        } as usize;
        out.push(data[at..at + 16 + len].to_vec());
        at += 16 + len;
    }
    (data[..24].to_vec(), out)
}

fn mtlscan(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mtlscan"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Each line of `child`'s standard output, parsed, with the time it arrived.
fn lines_of(child: &mut Child) -> mpsc::Receiver<(Instant, Value)> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let value: Value = serde_json::from_str(&line).expect("each line is JSON");
            if tx.send((Instant::now(), value)).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn records_appear_while_the_capture_is_being_written() {
    let (header, packets) = records(&sample("mtls.pcap"));
    // a FIFO, as `mkfifo f; tcpdump -w f & mtlscan --follow f` gives it
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtlscan"))
        .args(["--follow", "-f", "jsonl", "--require", "mtls"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer.write_all(&header).unwrap();
    for p in &packets {
        writer.write_all(p).unwrap();
        writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(15));
    }
    // the writer is done, but keeps the FIFO open a while: the input has not ended
    let written = Instant::now();
    std::thread::sleep(Duration::from_millis(600));
    let before_end: Vec<(Instant, Value)> = lines.try_iter().collect();
    drop(writer);
    let status = child.wait().unwrap();
    let after: Vec<(Instant, Value)> = lines.iter().collect();
    assert_eq!(
        status.code(),
        Some(1),
        "flows 3 to 5 violate --require mtls"
    );

    let kind = |v: &Value| v["type"].as_str().unwrap().to_string();
    let flows: Vec<&Value> = before_end
        .iter()
        .map(|(_, v)| v)
        .filter(|v| kind(v) == "flow")
        .collect();
    let verdicts: Vec<&str> = flows
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["mtls", "mtls", "tls", "plaintext", "plaintext", "empty"],
        "every flow's record came before the input ended"
    );
    // the first flow settled long before the writer was done
    let first = before_end
        .iter()
        .find(|(_, v)| kind(v) == "flow")
        .unwrap()
        .0;
    assert!(written.duration_since(first) > Duration::from_millis(500));
    // ended flows say so, each once, with the final counters
    let ends: Vec<&Value> = before_end
        .iter()
        .chain(&after)
        .map(|(_, v)| v)
        .filter(|v| kind(v) == "flow-end")
        .collect();
    assert_eq!(ends.len(), 6);
    assert!(ends.iter().all(|e| e["open"] == false));
    let summary = &after.last().unwrap().1;
    assert_eq!(kind(summary), "summary");
    assert_eq!(
        summary["summary"]["policy"]["violations"],
        serde_json::json!([3, 4, 5])
    );
    assert_eq!(summary["captures"][0]["packets"], packets.len());
}

#[test]
fn ctrl_c_ends_the_input_and_still_reports_with_the_policy_exit_code() {
    let (header, packets) = records(&sample("mtls.pcap"));
    let mut child = mtlscan(&["--follow", "-f", "jsonl", "--require", "encrypted", "-"]);
    let lines = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&header).unwrap();
    // up to the middle of the plaintext flow 4 (its request is in frame 61)
    for p in &packets[..62] {
        stdin.write_all(p).unwrap();
    }
    stdin.flush().unwrap();
    // wait for the plaintext flow's record, then interrupt while stdin stays open
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|v: &Value| v["type"] == "flow" && v["verdict"] == "plaintext")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, v) = lines
            .recv_timeout(left)
            .expect("the plaintext flow settles");
        seen.push(v);
    }
    // Ctrl+C, as a terminal sends it (Python 3 is on every machine the tests run on)
    let interrupt = format!("import os, signal; os.kill({}, signal.SIGINT)", child.id());
    assert!(Command::new("python3")
        .args(["-c", &interrupt])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    drop(stdin);
    seen.extend(lines.iter().map(|(_, v)| v));
    assert_eq!(
        status.code(),
        Some(1),
        "the plaintext flow violates the policy"
    );
    let summary = seen.last().unwrap();
    assert_eq!(summary["type"], "summary");
    let s = &summary["summary"];
    assert_eq!(s["policy"]["violations"], serde_json::json!([4]));
    assert_eq!(s["by_verdict"]["mtls"], 2);
    let open: Vec<&Value> = seen
        .iter()
        .filter(|v| v["type"] == "flow-end" && v["open"] == true)
        .collect();
    assert_eq!(open.len(), 1, "flow 4 was still open");
    let warnings = summary["captures"][0]["warnings"].to_string();
    assert!(warnings.contains("stopped by a signal"), "{warnings}");
}

#[test]
fn a_live_table_then_the_summary_and_refusals_that_say_what_to_do() {
    let out = Command::new(env!("CARGO_BIN_EXE_mtlscan"))
        .args(["--follow", "--color", "never", "--require", "mtls"])
        .arg(sample("mtls.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = text.lines().filter(|l| l.contains("127.0.0.1:")).count();
    assert!(rows >= 6, "{text}");
    assert!(text.contains("policy --require mtls: FAIL"), "{text}");
    for (args, says) in [
        (
            &["--follow", "-f", "json"][..],
            "use --format table or jsonl",
        ),
        (
            &["--follow", "--export-junit", "x.xml"][..],
            "with --follow use --export-jsonl",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mtlscan"))
            .args(args)
            .arg(sample("mtls.pcap"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn a_passing_live_run_counts_the_flows_it_judged() {
    let out = Command::new(env!("CARGO_BIN_EXE_mtlscan"))
        .args(["--follow", "--color", "never", "--require", "mtls"])
        .arg(sample("mtls-only.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let batch = Command::new(env!("CARGO_BIN_EXE_mtlscan"))
        .args(["--color", "never", "--require", "mtls"])
        .arg(sample("mtls-only.pcap"))
        .output()
        .unwrap();
    let last = |t: &str| t.lines().last().unwrap_or_default().to_string();
    // the same verdict line as without --follow: every judged flow counted
    assert_eq!(last(&text), last(&String::from_utf8(batch.stdout).unwrap()));
    assert!(last(&text).contains("the 3 flows with payload"), "{text}");
}
