//! The binary on every sample capture (made with real peers by `samples/make-samples.sh`),
//! checked flow by flow against `samples/expected.tsv`, which the script derives from tshark
//! with the TLS key logs of every client (so TLS 1.3 client certificates are ground truth).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// One line of `expected.tsv`.
#[derive(Debug)]
struct Expected {
    file: String,
    server_port: u64,
    verdict: String,
    client_cert: Option<bool>,
    notes: BTreeMap<String, String>,
}

fn expected() -> Vec<Expected> {
    let text =
        std::fs::read_to_string(samples().join("expected.tsv")).expect("samples/expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 6, "expected.tsv line has 6 columns: {line}");
            let notes = cols[5]
                .split(';')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Expected {
                file: cols[0].to_string(),
                server_port: cols[2].parse().expect("server port"),
                verdict: cols[3].to_string(),
                client_cert: match cols[4] {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                },
                notes,
            }
        })
        .collect()
}

fn report(args: &[&str]) -> Value {
    let out = Command::cargo_bin("mtlscan")
        .unwrap()
        .current_dir(samples())
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.code() == Some(0),
        "mtlscan {args:?} exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report is JSON")
}

/// The `order`-th flow (1-based) of the report with the given server port.
fn flow(report: &Value, port: u64, order: usize) -> &Value {
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["server"]["port"] == port)
        .nth(order - 1)
        .unwrap_or_else(|| panic!("no flow #{order} to port {port}"))
}

fn check_flow(file: &str, report: &Value, e: &Expected, order_on_port: usize, keylog: bool) {
    let f = flow(report, e.server_port, order_on_port);
    let ctx = format!(
        "{file} flow to port {} (#{order_on_port}): {f:#}",
        e.server_port
    );
    assert_eq!(f["verdict"], e.verdict.as_str(), "verdict of {ctx}");
    let tls = &f["tls"];
    if let Some(version) = e.notes.get("tls") {
        assert_eq!(tls["version"], version.as_str(), "TLS version of {ctx}");
        assert_eq!(
            tls["client_certificate"]["presented"],
            serde_json::json!(e.client_cert),
            "client cert of {ctx}"
        );
        if let Some(suite) = e.notes.get("suite") {
            assert_eq!(tls["cipher_suite"], suite.as_str(), "suite of {ctx}");
        }
        if let Some(sni) = e.notes.get("sni") {
            assert_eq!(tls["sni"], sni.as_str(), "SNI of {ctx}");
        }
        if let Some(alpn) = e.notes.get("alpn_offered") {
            let offered: Vec<&str> = alpn.split(',').collect();
            assert_eq!(
                tls["alpn_offered"],
                serde_json::json!(offered),
                "ALPN of {ctx}"
            );
        }
        // TLS 1.3 sends the selected ALPN in the encrypted EncryptedExtensions: only TLS 1.2
        // shows it without keys.
        if let Some(alpn) = e.notes.get("alpn_selected").filter(|_| version == "1.2") {
            assert_eq!(
                tls["alpn_selected"],
                alpn.as_str(),
                "selected ALPN of {ctx}"
            );
        }
        if e.client_cert == Some(true) {
            let mut evidence = e.notes.get("evidence").cloned().unwrap_or_default();
            if keylog {
                if let Some(with) = e.notes.get("with_keylog") {
                    evidence = with.rsplit(':').next().unwrap_or_default().to_string();
                }
            }
            assert_eq!(
                tls["client_certificate"]["evidence"],
                evidence.as_str(),
                "evidence of {ctx}"
            );
            if evidence != "inferred" {
                if let Some(id) = e.notes.get("client_id") {
                    let uris = &tls["client_certificate"]["chain"][0]["san_uris"];
                    assert_eq!(uris[0], id.as_str(), "client identity of {ctx}");
                }
            }
        }
        if let Some(id) = e
            .notes
            .get("server_id")
            .filter(|id| id.starts_with("spiffe://"))
        {
            let chain = &tls["server_certificate"]["chain"];
            if tls["version"] == "1.2" || chain.as_array().is_some_and(|c| !c.is_empty()) {
                assert_eq!(
                    chain[0]["san_uris"][0],
                    id.as_str(),
                    "server identity of {ctx}"
                );
            }
        }
    }
    if e.verdict == "plaintext" {
        let p = &f["plaintext"];
        if let Some(req) = e.notes.get("request") {
            assert!(
                p["evidence"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(req.as_str()),
                "plaintext evidence of {ctx}"
            );
        }
        let rejected = e.notes.get("rejected").is_some_and(|r| r == "true");
        assert_eq!(p["rejected"], rejected, "rejected of {ctx}");
    }
}

#[test]
fn every_sample_flow_has_its_expected_verdict() {
    let all = expected();
    let mut files: BTreeMap<&str, Vec<&Expected>> = BTreeMap::new();
    for e in &all {
        files.entry(e.file.as_str()).or_default().push(e);
    }
    assert!(files.len() >= 15, "expected.tsv lists the sample set");
    for (file, flows) in files {
        let report = report(&[file]);
        let truncated = flows.iter().any(|e| e.notes.contains_key("truncated"));
        assert_eq!(
            report["captures"][0]["truncated"], truncated,
            "{file} truncated flag"
        );
        let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
        for e in flows {
            let n = seen.entry(e.server_port).or_default();
            *n += 1;
            check_flow(file, &report, e, *n, false);
        }
    }
}

#[test]
fn key_logs_turn_inference_into_proof() {
    for (capture, keys) in [
        ("tls13-mtls-keylog.pcap", "tls13-mtls.keys"),
        ("tls13-suites-keylog.pcap", "tls13-suites.keys"),
        // rustls: Certificate, CertificateVerify and Finished in one encrypted record
        ("rustls-tls13-mtls.pcap", "rustls-tls13-mtls.keys"),
    ] {
        let report = report(&["--keylog", keys, capture]);
        for f in report["flows"].as_array().unwrap() {
            let cert = &f["tls"]["client_certificate"];
            assert_eq!(f["verdict"], "mtls", "{capture}: {f:#}");
            assert_eq!(cert["evidence"], "decrypted", "{capture}: {f:#}");
            assert_eq!(
                cert["chain"][0]["san_uris"][0],
                "spiffe://cluster.local/ns/bookinfo/sa/productpage",
                "{capture}: {f:#}"
            );
        }
    }
}

#[test]
fn redaction_keeps_credentials_out_of_every_format() {
    for format in ["json", "jsonl", "table"] {
        let out = Command::cargo_bin("mtlscan")
            .unwrap()
            .current_dir(samples())
            .args(["--format", format, "http-plaintext.pcap"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("s3cr3t"),
            "{format} report leaks the token:\n{text}"
        );
        assert!(
            text.contains("/productpage?u=normal"),
            "{format} report keeps the query string:\n{text}"
        );
    }
}

#[test]
fn require_mtls_fails_on_plaintext_and_passes_on_mtls_only() {
    let run = |args: &[&str]| {
        Command::cargo_bin("mtlscan")
            .unwrap()
            .current_dir(samples())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--require", "mtls", "mtls.pcap"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["--require", "mtls", "mtls-only.pcap"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["--require", "encrypted", "--format", "json", "mtls.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let violations = &doc["summary"]["policy"]["violations"];
    // the two plaintext flows violate `encrypted`; the server-only TLS flow does not
    assert_eq!(violations.as_array().unwrap().len(), 2, "{doc:#}");
    // exempting the plaintext ports makes the policy pass
    let out = run(&[
        "--require",
        "encrypted",
        "--allow",
        "port=8180",
        "--allow",
        "port=9182",
        "mtls.pcap",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn gzip_stdin_and_file_give_the_same_flows() {
    let by_file = report(&["mtls.pcap"]);
    let by_gzip = report(&["mtls.pcap.gz"]);
    let stdin = Command::cargo_bin("mtlscan")
        .unwrap()
        .current_dir(samples())
        .args(["--format", "json", "-"])
        .write_stdin(std::fs::read(samples().join("mtls.pcap")).unwrap())
        .output()
        .unwrap();
    let by_stdin: Value = serde_json::from_slice(&stdin.stdout).unwrap();
    assert_eq!(by_file["flows"], by_gzip["flows"]);
    assert_eq!(by_file["flows"], by_stdin["flows"]);
    assert_eq!(
        by_file["captures"][0]["sha256"],
        by_stdin["captures"][0]["sha256"]
    );
    assert_eq!(by_gzip["captures"][0]["compression"], "gzip");
}
