//! Evasion regression cases, one per trick, in the manner of suricata-verify: each
//! `samples/evasion-*.pcap` is a real cleartext HTTP exchange into which crafted packets were
//! injected (`samples/make-evasion-samples.sh`). Whatever was injected, the cleartext request
//! must be reported, `--require encrypted` must fail, no flow may be `mtls`, and the report must
//! say what it saw.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The JSON report of `capture` under `--require encrypted`, which must fail.
fn gate(capture: &str, extra: &[&str]) -> Value {
    let out = Command::cargo_bin("mtlscan")
        .unwrap()
        .current_dir(samples())
        .args(["--format", "json", "--require", "encrypted"])
        .args(extra)
        .arg(capture)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{capture}: the cleartext must fail the gate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let flows = report["flows"].as_array().unwrap();
    assert!(
        flows.iter().all(|f| f["verdict"] != "mtls"),
        "{capture}: nothing here is mTLS"
    );
    report
}

/// The flows with payload, in order.
fn with_payload(report: &Value) -> Vec<&Value> {
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] != "empty")
        .collect()
}

/// The flow whose client sent the secret request in cleartext.
fn request_flow<'a>(report: &'a Value, capture: &str) -> &'a Value {
    with_payload(report)
        .into_iter()
        .find(|f| {
            f["verdict"] == "plaintext"
                && f["plaintext"]["evidence"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("GET /secret/report?id=7"))
        })
        .unwrap_or_else(|| panic!("{capture}: the cleartext GET is reported: {report:#}"))
}

fn reasons(flow: &Value) -> String {
    flow["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn injected_resets_that_a_receiver_drops_do_not_end_the_flow() {
    for (capture, ignored) in [
        ("evasion-rst-out-of-window.pcap", 2),
        ("evasion-rst-in-window.pcap", 1),
    ] {
        let report = gate(capture, &[]);
        assert_eq!(with_payload(&report).len(), 1, "{capture}: one flow");
        let f = request_flow(&report, capture);
        assert_eq!(f["tcp"]["ignored_rst"], ignored, "{capture}");
        assert_eq!(f["tcp"]["close"], "fin", "{capture}: the real close");
        assert!(reasons(f).contains("RFC 5961"), "{capture}: {}", reasons(f));
        assert!(f["plaintext"]["evidence"]
            .as_str()
            .unwrap()
            .contains("HTTP/1.1"));
    }
}

#[test]
fn injected_fins_outside_the_window_do_not_end_the_flow() {
    let report = gate("evasion-fin-out-of-window.pcap", &[]);
    assert_eq!(with_payload(&report).len(), 1);
    let f = request_flow(&report, "fin");
    assert_eq!(f["tcp"]["ignored_fin"], 2);
    assert!(reasons(f).contains("outside the receiver's window"));
}

#[test]
fn bytes_after_an_accepted_close_are_a_flow_that_says_what_it_continues() {
    // A RST answering the SYN, a FIN, a client RST, and only then the real handshake and request.
    let report = gate("evasion-rst-before-synack.pcap", &[]);
    let f = request_flow(&report, "rst-before-synack");
    assert_eq!(f["tcp"]["reopens"]["flow"], 1);
    assert_eq!(f["tcp"]["reopens"]["rst_frame"], 2);
    assert!(reasons(f).contains("after it was reset at frame 2"));
    // A RST with the exact sequence number, then the server's answer.
    let report = gate("evasion-rst-exact.pcap", &[]);
    let flows = with_payload(&report);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[1]["verdict"], "plaintext");
    assert_eq!(flows[1]["plaintext"]["evidence"], "HTTP/1.0 200 OK");
    assert_eq!(flows[1]["tcp"]["reopens"]["flow"], flows[0]["id"]);
    // FINs both ways with the exact sequence numbers, then the request.
    let report = gate("evasion-fin-exact.pcap", &[]);
    let f = request_flow(&report, "fin-exact");
    assert_eq!(f["tcp"]["reopens"]["rst_frame"], Value::Null);
    assert!(reasons(f).contains("closed with FINs both ways"));
}

#[test]
fn an_injected_copy_with_other_bytes_is_seen_and_judged() {
    // TLS-looking bytes in a copy of the request's segment, sent before it.
    for (capture, why, reading) in [
        (
            "evasion-overlap-badsum.pcap",
            "wrong TCP checksum",
            "the later bytes are the ones read",
        ),
        (
            "evasion-overlap-ttl.pcap",
            "two TTLs: 64",
            "the later bytes are the ones read",
        ),
        (
            "evasion-overlap-conflict.pcap",
            "overlapped bytes already received",
            "the first bytes are the ones read",
        ),
    ] {
        let report = gate(capture, &[]);
        let flows = with_payload(&report);
        assert_eq!(flows.len(), 1, "{capture}");
        let f = flows[0];
        assert_eq!(f["verdict"], "plaintext", "{capture}");
        assert_eq!(f["tcp"]["overlap_conflicts"], 1, "{capture}");
        let text = reasons(f);
        assert!(text.contains(why), "{capture}: {text}");
        assert!(text.contains(reading), "{capture}: {text}");
        // whichever copy was kept, the request is quoted in one reading or the other
        assert!(
            text.contains("GET /secret/report?id=7"),
            "{capture}: {text}"
        );
    }
    let report = gate("evasion-overlap-badsum.pcap", &[]);
    let f = request_flow(&report, "badsum");
    assert_eq!(f["tcp"]["bad_checksums"], 1);
    assert_eq!(f["tcp"]["checksum_offload"], false);
}

#[test]
fn checksum_offload_on_the_sending_host_is_not_an_injection() {
    let report = gate("evasion-offload.pcap", &[]);
    let f = request_flow(&report, "offload");
    assert!(f["tcp"].get("bad_checksums").is_none(), "{f:#}");
    assert!(!reasons(f).contains("checksum"));
}

#[test]
fn cleartext_after_tls_records_is_plaintext() {
    let report = gate("evasion-fake-clienthello.pcap", &[]);
    let f = request_flow(&report, "fake-clienthello");
    assert!(
        f["tls"].is_object(),
        "the TLS-looking prefix is still described"
    );
    assert!(reasons(f).contains("TLS records stop after 348 bytes"));
    // 80 KB of TLS records, past the 64 KiB the classifier reads, then the request
    let report = gate("evasion-huge-prefix.pcap", &[]);
    let f = request_flow(&report, "huge-prefix");
    assert!(reasons(f).contains("TLS records stop after 82293 bytes"));
    // a smaller prefix changes nothing: the framing is followed past it
    let report = gate("evasion-huge-prefix.pcap", &["--max-prefix", "4KiB"]);
    request_flow(&report, "huge-prefix with a small prefix");
}

#[test]
fn mpls_is_decoded() {
    let report = gate("evasion-mpls.pcap", &[]);
    request_flow(&report, "mpls");
    assert!(report["captures"][0]["skipped"].get("not-ip").is_none());
}

#[test]
fn a_flooded_flow_table_does_not_hide_the_request() {
    let report = gate("evasion-flood.pcap", &["--max-flows", "1000"]);
    request_flow(&report, "flood");
    let warnings = report["captures"][0]["warnings"].to_string();
    assert!(warnings.contains("flow table full"), "{warnings}");
}
