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
        "{file} flow to port {} (#{order_on_port}){}: {f:#}",
        e.server_port,
        if keylog { " with its key log" } else { "" }
    );
    // With the key log, a resumed TLS 1.3 session is linked to its full handshake: its answer
    // is the one `with_keylog_client_cert` gives.
    let with_keys = keylog.then(|| e.notes.get("with_keylog")).flatten();
    let client_cert = match e
        .notes
        .get("with_keylog_client_cert")
        .filter(|_| with_keys.is_some())
    {
        Some(c) => Some(c == "true"),
        None => e.client_cert,
    };
    let verdict = match (e.verdict.as_str(), client_cert) {
        ("tls" | "mtls", Some(true)) => "mtls",
        ("tls" | "mtls", _) => "tls",
        (v, _) => v,
    };
    assert_eq!(f["verdict"], verdict, "verdict of {ctx}");
    let tls = &f["tls"];
    if matches!(verdict, "tls" | "mtls") {
        let cert = &tls["client_certificate"];
        assert_eq!(
            cert["presented"],
            serde_json::json!(client_cert),
            "client cert of {ctx}"
        );
        let mut evidence = e.notes.get("evidence").cloned().unwrap_or_default();
        if let Some(with) = with_keys {
            evidence = with.rsplit(':').next().unwrap_or_default().to_string();
        }
        if client_cert.is_some() {
            assert_eq!(cert["evidence"], evidence.as_str(), "evidence of {ctx}");
        }
        if let Some(handshake) = e.notes.get("handshake") {
            assert_eq!(tls["handshake"], handshake.as_str(), "handshake of {ctx}");
        }
        // How a resumed session was linked (with the key log too, for TLS 1.3), and what an
        // inference from the server's demands rests on.
        if evidence == "resumed" {
            let from: u64 = e.notes["resumed_from"].parse().expect("resumed_from");
            let root = report["flows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| g["server"]["port"] == e.server_port)
                .nth(usize::try_from(from).unwrap() - 1)
                .unwrap_or_else(|| panic!("no flow #{from} for {ctx}"));
            assert_eq!(cert["resumed_from"], root["id"], "resumed_from of {ctx}");
            assert_eq!(
                cert["resumption"]["linked_by"],
                e.notes["linked_by"].as_str(),
                "link of {ctx}"
            );
        } else {
            assert!(cert.get("resumed_from").is_none(), "not resumed: {ctx}");
        }
        match e.notes.get("demand").filter(|_| evidence == "inferred") {
            Some(rule) => {
                let basis = &cert["basis"];
                assert_eq!(basis["rule"], rule.as_str(), "demand rule of {ctx}");
                let flows: Vec<u64> = e.notes["demand_flows"]
                    .split(',')
                    .map(|n| n.parse().unwrap())
                    .collect();
                assert_eq!(basis["flows"], serde_json::json!(flows), "basis of {ctx}");
                assert_eq!(basis["server"]["port"], e.server_port, "basis of {ctx}");
            }
            None => assert!(cert.get("basis").is_none(), "no basis: {ctx}"),
        }
    }
    if let Some(version) = e.notes.get("tls") {
        assert_eq!(tls["version"], version.as_str(), "TLS version of {ctx}");
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
        let evidence = &tls["client_certificate"]["evidence"];
        if client_cert == Some(true) && evidence != "inferred" {
            if let Some(id) = e.notes.get("client_id") {
                let uris = &tls["client_certificate"]["chain"][0]["san_uris"];
                assert_eq!(uris[0], id.as_str(), "client identity of {ctx}");
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

/// The expected flows of each file, in order.
fn by_file(all: &[Expected]) -> BTreeMap<&str, Vec<&Expected>> {
    let mut files: BTreeMap<&str, Vec<&Expected>> = BTreeMap::new();
    for e in all {
        files.entry(e.file.as_str()).or_default().push(e);
    }
    files
}

/// Checks every flow of `file` in `report`.
fn check_file(file: &str, report: &Value, flows: &[&Expected], keylog: bool) {
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for e in flows {
        let n = seen.entry(e.server_port).or_default();
        *n += 1;
        check_flow(file, report, e, *n, keylog);
    }
}

#[test]
fn every_sample_flow_has_its_expected_verdict() {
    let all = expected();
    let files = by_file(&all);
    assert!(files.len() >= 15, "expected.tsv lists the sample set");
    for (file, flows) in files {
        let report = report(&[file]);
        let truncated = flows.iter().any(|e| e.notes.contains_key("truncated"));
        assert_eq!(
            report["captures"][0]["truncated"], truncated,
            "{file} truncated flag"
        );
        check_file(file, &report, &flows, false);
    }
}

#[test]
fn every_sample_with_a_key_log_has_its_expected_answers_with_it() {
    let all = expected();
    let mut checked = 0;
    for (file, flows) in by_file(&all) {
        let Some(keys) = flows
            .iter()
            .find_map(|e| e.notes.get("with_keylog"))
            .and_then(|w| w.split(':').next())
        else {
            continue;
        };
        let report = report(&["--keylog", keys, file]);
        check_file(file, &report, &flows, true);
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} samples have a key log");
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

/// `--require mtls` on warm-mesh captures: resumed sessions and pooled connections pass where
/// the capture proves mTLS; otherwise proven violations and unproven flows are listed apart,
/// with the advice, and both fail the gate.
#[test]
fn require_mtls_tells_violated_from_unproven() {
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("mtlscan")
            .unwrap()
            .current_dir(samples())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for capture in [
        "resumed-tls12-ticket.pcap",
        "resumed-tls12-id.pcap",
        "resumed-rustls-tls12.pcap",
        "resumed-tls13-keylog.pcap",
        "resumed-rustls-tls13-keylog.pcap",
        "tls13-resumed.pcap",
    ] {
        let (code, out) = run(&["--require", "mtls", capture]);
        assert_eq!(code, Some(0), "{capture}:\n{out}");
    }
    let policy = |args: &[&str]| {
        let mut all = vec!["--require", "mtls", "--format", "json"];
        all.extend_from_slice(args);
        let (code, out) = run(&all);
        let doc: Value = serde_json::from_str(&out).unwrap();
        (code, doc["summary"]["policy"].clone())
    };
    let (code, p) = policy(&["resumed-pooled.pcap"]);
    assert_eq!(code, Some(1));
    assert_eq!(p["violations"], serde_json::json!([2, 6]), "{p:#}");
    assert_eq!(p["unproven"], serde_json::json!([5, 7]), "{p:#}");
    assert!(p["advice"].as_str().unwrap().contains("--keylog"));
    // server-only TLS resumed: unknown without keys, proven without a certificate with them
    let (code, p) = policy(&["resumed-tls13-server-only-keylog.pcap"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        (&p["violations"], &p["unproven"]),
        (&serde_json::json!([1]), &serde_json::json!([2]))
    );
    let (_, p) = policy(&[
        "--keylog",
        "resumed-tls13-server-only.keys",
        "resumed-tls13-server-only-keylog.pcap",
    ]);
    assert_eq!(
        (&p["violations"], &p["unproven"]),
        (&serde_json::json!([1, 2]), &serde_json::json!([]))
    );
    assert!(p["advice"].is_null());
    // the table lists both, marked apart, with the advice; JUnit types them apart
    let (_, table) = run(&["--require", "mtls", "resumed-pooled.pcap"]);
    assert!(
        table.contains("FAIL: 2 flows violate it (!), 2 flows are unproven (?)"),
        "{table}"
    );
    assert!(table.contains("\n  5?  "), "{table}");
    assert!(table.contains("\n  6!  "), "{table}");
    assert!(
        table.contains("Unproven: the capture cannot show"),
        "{table}"
    );
    let (_, junit) = run(&[
        "--require",
        "mtls",
        "--format",
        "junit",
        "resumed-pooled.pcap",
    ]);
    assert_eq!(junit.matches(r#"type="unproven""#).count(), 2, "{junit}");
    assert_eq!(
        junit.matches(r#"type="no client certificate""#).count(),
        2,
        "{junit}"
    );
    assert!(junit.contains(r#"failures="4""#), "{junit}");
    // --require encrypted checks encryption alone: nothing is unproven there
    let (code, out) = run(&["--require", "encrypted", "resumed-pooled.pcap"]);
    assert_eq!(code, Some(0), "{out}");
}
