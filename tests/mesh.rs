//! Mesh-aware reporting on the Istio sidecar samples (`samples/make-mesh-sample.sh`): a pod
//! captured with `tcpdump -i any`, holding the loopback leg (application ↔ sidecar, plaintext)
//! and the network leg (mTLS) of its requests, plus a health check, a metrics scrape, and (in
//! `mesh-istio-leak.pcap`) one plaintext call that bypasses the sidecar.
//!
//! Every format is compared in full with a snapshot in `tests/data/mesh/`; run with
//! `MTLSCAN_BLESS=1` to rewrite the snapshots after an intended change, then review the diff.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mesh")
}

/// Runs mtlscan in `samples/`; returns exit code, stdout, stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("mtlscan")
        .unwrap()
        .current_dir(samples())
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("UTF-8 report"),
        String::from_utf8(out.stderr).expect("UTF-8 errors"),
    )
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    (code, serde_json::from_str(&out).expect("JSON report"))
}

/// Compares `actual` with the snapshot `name`, or writes it under `MTLSCAN_BLESS=1`.
fn snapshot(name: &str, actual: &str) {
    let path = snapshots().join(name);
    if std::env::var_os("MTLSCAN_BLESS").is_some() {
        std::fs::create_dir_all(snapshots()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with MTLSCAN_BLESS=1", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its snapshot at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             whole output:\n{actual}",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

const ISTIO_LEAK: [&str; 8] = [
    "--mesh",
    "istio",
    "--pods",
    "pods.json",
    "--services",
    "services.json",
    "--require",
    "mtls",
];

#[test]
fn done_criterion_passes_when_every_network_leg_is_mtls() {
    let (code, out, err) = run(&[
        "--mesh",
        "istio",
        "--pods",
        "pods.json",
        "--require",
        "mtls",
        "mesh-istio.pcap",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("policy --require mtls: PASS"), "{out}");
    assert_eq!(err, "");
}

#[test]
fn done_criterion_fails_naming_the_pods_when_one_network_leg_is_not() {
    let (code, out, _) = run(&[
        "--mesh",
        "istio",
        "--pods",
        "pods.json",
        "--require",
        "mtls",
        "mesh-istio-leak.pcap",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("policy --require mtls: FAIL: 1 flow violates it (!)"));
    assert!(out.contains(
        "  #8 bookinfo/productpage-v1-7f9d5b8c6d-x2k4p:35454 → \
         bookinfo/ratings-v1-5b9b8f8c7b-lh7wd:9080 (network leg, plaintext): GET /ratings/0 HTTP/1.1"
    ), "{out}");
}

#[test]
fn table_with_pods_snapshot() {
    let mut args = ISTIO_LEAK.to_vec();
    args.push("mesh-istio-leak.pcap");
    let (code, out, _) = run(&args);
    assert_eq!(code, 1);
    snapshot("leak.table.txt", &out);
}

#[test]
fn table_without_names_tells_the_legs_apart() {
    let (code, out, _) = run(&["mesh-istio.pcap"]);
    assert_eq!(code, 0);
    // the legend explains both legs; a mesh hint says what --mesh would do
    assert!(
        out.contains("LEG   loopback: inside one pod or host"),
        "{out}"
    );
    assert!(
        out.contains("network: between pods or hosts, on the wire"),
        "{out}"
    );
    assert!(
        out.contains("add --mesh istio to judge the network leg only"),
        "{out}"
    );
    snapshot("pass.table.txt", &out);
}

#[test]
fn json_snapshot_and_facts() {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(&ISTIO_LEAK);
    args.push("mesh-istio-leak.pcap");
    let (code, out, _) = run(&args);
    assert_eq!(code, 1);
    snapshot("leak.json", &out);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let flows = doc["flows"].as_array().unwrap();
    let legs: Vec<&str> = flows.iter().map(|f| f["leg"].as_str().unwrap()).collect();
    assert_eq!(
        legs,
        [
            "network", "loopback", "loopback", "network", "network", "loopback", "network",
            "network"
        ]
    );
    // outbound: the application's request (2) and the sidecar's mTLS call (4) are one request
    assert_eq!(flows[1]["paired_with"], 4);
    assert_eq!(flows[3]["paired_with"], 2);
    // the replies of the redirected connection carry the service's ClusterIP
    assert_eq!(flows[2]["reply_half_of"], 2);
    assert_eq!(flows[1]["original_destination"]["name"], "bookinfo/details");
    assert_eq!(flows[1]["original_destination"]["kind"], "service");
    // inbound: reviews → productpage (5), then the sidecar hands it over from 127.0.0.6 (6)
    assert_eq!(flows[5]["client"]["ip"], "127.0.0.6");
    assert_eq!(flows[5]["paired_with"], 5);
    assert!(flows[5]["leg_reason"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.6 is the source address Istio's sidecar uses"));
    assert_eq!(flows[3]["mesh"]["istio_sni"]["service"], "bookinfo/details");
    assert_eq!(flows[3]["mesh"]["istio_sni"]["port"], 9080);
    assert_eq!(flows[3]["mesh"]["istio_sni"]["subset"], Value::Null);
    let expected: Vec<(u64, &str)> = flows
        .iter()
        .filter(|f| f["expected"] == true)
        .map(|f| {
            (
                f["id"].as_u64().unwrap(),
                f["expected_rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        expected,
        [
            (1, "health-check"),
            (2, "loopback-leg"),
            (3, "loopback-leg"),
            (6, "loopback-leg"),
            (7, "metrics")
        ]
    );
    let policy = &doc["summary"]["policy"];
    assert_eq!(policy["violations"], serde_json::json!([8]));
    assert_eq!(policy["exempted"], serde_json::json!([1, 2, 3, 6, 7]));
    assert_eq!(
        policy["exemptions"],
        serde_json::json!([
            {"by": "istio health-check", "count": 1, "flows": [1]},
            {"by": "istio loopback-leg", "count": 3, "flows": [2, 3, 6]},
            {"by": "istio metrics", "count": 1, "flows": [7]},
        ])
    );
    assert_eq!(
        doc["summary"]["legs"],
        serde_json::json!({"loopback": 3, "network": 5, "paired": 2})
    );
    assert_eq!(
        flows[7]["client"]["services"],
        serde_json::json!(["bookinfo/productpage"])
    );
    assert_eq!(
        flows[7]["server"]["name"],
        "bookinfo/ratings-v1-5b9b8f8c7b-lh7wd"
    );
    let pairs = doc["summary"]["pod_pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 5);
    assert_eq!(pairs[4]["violations"], 1);
}

#[test]
fn jsonl_snapshot() {
    let (code, out, _) = run(&[
        "--format",
        "jsonl",
        "--mesh",
        "auto",
        "--pods",
        "pods.json",
        "mesh-istio.pcap",
    ]);
    assert_eq!(code, 0);
    snapshot("pass.jsonl", &out);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert!(lines[..7].iter().all(|l| l["type"] == "flow"));
    assert_eq!(lines[7]["type"], "summary");
    assert_eq!(lines[7]["summary"]["mesh"]["requested"], "auto");
    assert_eq!(lines[7]["summary"]["mesh"]["profile"], "istio");
}

#[test]
fn junit_snapshot() {
    let mut args = vec!["--format", "junit"];
    args.extend_from_slice(&ISTIO_LEAK);
    args.push("mesh-istio-leak.pcap");
    let (code, out, _) = run(&args);
    assert_eq!(code, 1);
    snapshot("leak.junit.xml", &out);
    assert!(out.contains(r#"<testsuites name="mtlscan" tests="8" failures="1" errors="0">"#));
    assert!(out.contains(
        r#"<failure message="plaintext on the network leg: http/1.1 from the client (frame 77): GET /ratings/0 HTTP/1.1" type="plaintext">"#
    ));
    assert_eq!(out.matches("<skipped ").count(), 5);
}

#[test]
fn summary_snapshot_and_report_file() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("report.xml");
    let mut args = vec![
        "--summary",
        "--format",
        "junit",
        "-o",
        xml.to_str().unwrap(),
    ];
    args.extend_from_slice(&ISTIO_LEAK);
    args.push("mesh-istio.pcap");
    let (code, out, _) = run(&args);
    assert_eq!(code, 0);
    snapshot("pass.summary.txt", &out);
    let written = std::fs::read_to_string(&xml).unwrap();
    assert!(written.starts_with("<?xml"));
    assert!(written.contains(r#"failures="0""#));
}

#[test]
fn summary_needs_a_file_for_machine_formats() {
    let (code, out, err) = run(&["--summary", "--format", "json", "mesh-istio.pcap"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("mtlscan: error: --summary"), "{err}");
}

#[test]
fn without_a_profile_nothing_is_exempt() {
    let (code, doc) = json(&["--require", "mtls", "mesh-istio.pcap"]);
    assert_eq!(code, 1);
    assert_eq!(
        doc["summary"]["policy"]["violations"],
        serde_json::json!([1, 2, 3, 6, 7])
    );
    assert!(doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["expected"] == false));
    assert_eq!(doc["summary"]["mesh"]["requested"], Value::Null);
    assert_eq!(doc["summary"]["mesh"]["recognised"], "istio");
    // --allow rules still exempt (the first that matches), and say so
    let (code, doc) = json(&[
        "--require",
        "mtls",
        "--allow",
        "port=15001",
        "--allow",
        "net=127.0.0.0/8",
        "--allow",
        "host=10.44.0.1",
        "mesh-istio.pcap",
    ]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        doc["summary"]["policy"]["exemptions"],
        serde_json::json!([
            {"by": "--allow host=10.44.0.1", "count": 2, "flows": [1, 7]},
            {"by": "--allow port=15001", "count": 1, "flows": [2]},
            {"by": "--allow net=127.0.0.0/8", "count": 1, "flows": [6]},
        ])
    );
    // the reply half of the redirected connection (to 10.96.0.20) matches no rule
    assert_eq!(
        doc["summary"]["policy"]["violations"],
        serde_json::json!([3])
    );
}

#[test]
fn each_profile_expects_its_own_ports() {
    // ambient expects the same health and metrics ports as Istio
    let (code, doc) = json(&["--mesh", "ambient", "--require", "mtls", "mesh-istio.pcap"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["summary"]["mesh"]["profile"], "ambient");
    // Linkerd expects the loopback leg but not Istio's 15021 and 15090
    let (code, doc) = json(&["--mesh", "linkerd", "--require", "mtls", "mesh-istio.pcap"]);
    assert_eq!(code, 1);
    assert_eq!(
        doc["summary"]["policy"]["violations"],
        serde_json::json!([1, 7])
    );
    assert_eq!(
        doc["summary"]["mesh"]["expected"],
        serde_json::json!([{"rule": "loopback-leg",
            "description": "loopback leg (application ↔ proxy)", "flows": 3}])
    );
    // auto recognises Istio from ALPN and SNI
    let (code, doc) = json(&["--mesh", "auto", "--require", "mtls", "mesh-istio.pcap"]);
    assert_eq!(code, 0);
    assert_eq!(doc["summary"]["mesh"]["profile"], "istio");
    assert_eq!(
        doc["summary"]["mesh"]["recognised_by"][0],
        serde_json::json!({"what": "ALPN istio-http/1.1", "flow": 4, "flows": 2})
    );
}

#[test]
fn auto_without_markers_exempts_nothing() {
    let (code, doc) = json(&[
        "--mesh",
        "auto",
        "--require",
        "encrypted",
        "http-plaintext.pcap",
    ]);
    assert_eq!(code, 1);
    assert_eq!(doc["summary"]["mesh"]["profile"], Value::Null);
    let (_, out, _) = run(&["--mesh", "auto", "http-plaintext.pcap"]);
    assert!(out.contains("mesh: none recognised"), "{out}");
}

#[test]
fn fingerprints_are_in_every_tls_flow() {
    let (_, doc) = json(&["mesh-istio.pcap"]);
    let tls: Vec<&Value> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["tls"].is_null())
        .collect();
    assert_eq!(tls.len(), 2);
    for f in tls {
        let ja4 = f["tls"]["ja4"].as_str().unwrap();
        assert!(ja4.starts_with("t13d"), "{ja4}");
        // first and last character of the first ALPN value, istio-http/1.1
        assert_eq!(&ja4[8..10], "i1", "{ja4}");
        assert_eq!(f["tls"]["ja3"].as_str().unwrap().len(), 32);
        assert!(f["tls"]["ja3_full"].as_str().unwrap().starts_with("771,"));
    }
}

#[test]
fn names_files_that_are_not_kubectl_json_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("svc.json");
    std::fs::write(&bad, "[]").unwrap();
    let (code, _, err) = run(&["--services", bad.to_str().unwrap(), "mesh-istio.pcap"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("mtlscan: error: --services "), "{err}");
    assert!(err.contains("kubectl get svc -A -o json"), "{err}");
    let (code, _, err) = run(&["--pods", "no-such-pods.json", "mesh-istio.pcap"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("mtlscan: error: --pods no-such-pods.json: cannot read"),
        "{err}"
    );
}

#[test]
fn unmatched_names_warn() {
    let (code, _, err) = run(&["--pods", "pods.json", "mtls.pcap"]);
    assert_eq!(code, 0);
    assert!(
        err.contains("no address in the capture matches a pod or service"),
        "{err}"
    );
}

#[test]
fn views_can_be_chosen() {
    let (_, pods, _) = run(&["--view", "pods", "--pods", "pods.json", "mesh-istio.pcap"]);
    assert!(pods.contains("CLIENT POD → SERVER POD"));
    assert!(!pods.contains("CLIENT → SERVER "));
    let (_, flows, _) = run(&["--view", "flows", "--pods", "pods.json", "mesh-istio.pcap"]);
    assert!(!flows.contains("CLIENT POD → SERVER POD"));
    assert!(flows.contains("CLIENT → SERVER "));
    // without names, the pods view falls back to flows
    let (_, nameless, _) = run(&["--view", "pods", "mesh-istio.pcap"]);
    assert!(nameless.contains("CLIENT → SERVER "));
}

/// The flow with id `id` of a JSON report.
fn flow_with_id(report: &Value, id: u64) -> &Value {
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no flow {id}"))
}

/// Inside the server pod, the sidecar's forwarded identity proves the pooled network flow whose
/// handshake the capture does not hold, in every format; a plaintext request carrying a forged
/// header stays plaintext; the bearer token is redacted and the identity header is not.
#[test]
fn forwarded_client_identity_proves_the_network_leg() {
    for (capture, profile, header, productpage, reviews) in [
        (
            "mesh-istio-xfcc.pcap",
            "istio",
            "x-forwarded-client-cert",
            "spiffe://cluster.local/ns/bookinfo/sa/productpage",
            "spiffe://cluster.local/ns/bookinfo/sa/reviews",
        ),
        (
            "mesh-linkerd-l5d.pcap",
            "linkerd",
            "l5d-client-id",
            "productpage.bookinfo.serviceaccount.identity.linkerd.cluster.local",
            "reviews.bookinfo.serviceaccount.identity.linkerd.cluster.local",
        ),
    ] {
        let (code, report) = json(&["--mesh", profile, "--require", "mtls", capture]);
        assert_eq!(code, 1, "{capture}: the plaintext flow 6 fails the gate");
        let pooled = flow_with_id(&report, 1);
        assert_eq!(pooled["verdict"], "mtls", "{capture}: {pooled:#}");
        assert_eq!(pooled["tls"]["handshake"], "not-captured");
        let cert = &pooled["tls"]["client_certificate"];
        assert_eq!(cert["evidence"], "forwarded", "{capture}: {cert:#}");
        assert_eq!(cert["forwarded_identity"], productpage);
        assert_eq!(cert["forwarded"]["header"], header);
        assert_eq!(cert["forwarded"]["flow"], 2);
        assert_eq!(pooled["paired_with"], 2);
        // the fresh handshake keeps its own evidence and gains the identity
        let fresh = &flow_with_id(&report, 4)["tls"]["client_certificate"];
        assert_eq!(fresh["evidence"], "inferred");
        assert_eq!(fresh["forwarded_identity"], reviews);
        // the loopback legs carry the header, unredacted
        for (id, who) in [(2, productpage), (3, productpage), (5, reviews)] {
            let p = &flow_with_id(&report, id)["plaintext"]["forwarded_client"];
            assert_eq!(p["identity"], who, "{capture} flow {id}");
            assert_eq!(p["header"], header);
        }
        assert!(flow_with_id(&report, 7)["plaintext"]
            .get("forwarded_client")
            .is_none());
        // a forged header in a plaintext request on the network leg proves nothing
        let leak = flow_with_id(&report, 6);
        assert_eq!(leak["verdict"], "plaintext");
        assert_eq!(leak["policy_mark"], "violation");
        assert_eq!(
            report["summary"]["policy"]["violations"],
            serde_json::json!([6])
        );
        assert_eq!(
            report["summary"]["policy"]["unproven"],
            serde_json::json!([])
        );
        // without the leak, the warm mesh passes
        let (code, _, err) = run(&[
            "--mesh",
            profile,
            "--require",
            "mtls",
            "--allow",
            "host=10.44.0.30",
            capture,
        ]);
        assert_eq!(code, 0, "{capture}: {err}");
        // every format shows the identity; none shows the token
        for format in ["table", "jsonl", "junit"] {
            let (_, out, _) = run(&["--mesh", profile, "--format", format, capture]);
            let short = if format == "table" {
                "bookinfo/sa/productpage"
            } else {
                productpage
            };
            assert!(out.contains(short), "{capture} {format}:\n{out}");
            assert!(
                !out.contains("eyJzdWIiOiJtZXNoc2ltIn0"),
                "{capture} {format} leaks the token"
            );
        }
    }
}
