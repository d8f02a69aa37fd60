//! The HTML report: one self-contained page, checked as a file and in a real browser (headless
//! Chromium, driven by tests/browser/check_report.py) against the JSON report of the same run.
//! Screenshots are kept under target/html-report/ for people to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir() -> PathBuf {
    let dir = root().join("target").join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs mtlscan in `dir` with `args`, writing the JSON report and the HTML page of one run
/// into `out/name.json` and `out/name.html`.
fn reports(dir: &Path, args: &[&str], name: &str) -> (PathBuf, PathBuf) {
    let out = out_dir();
    let (json, html) = (
        out.join(format!("{name}.json")),
        out.join(format!("{name}.html")),
    );
    let status = Command::new(env!("CARGO_BIN_EXE_mtlscan"))
        .current_dir(dir)
        .args(args)
        .args(["-q", "-f", "json", "-o"])
        .arg(&json)
        .arg("--export-html")
        .arg(&html)
        .status()
        .unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "{status}");
    (json, html)
}

/// A capture of `flows` short plaintext connections (benches/flowgen.py), as `out/name.pcap`.
fn generated(flows: usize, name: &str) -> PathBuf {
    let capture = out_dir().join(format!("{name}.pcap"));
    let made = Command::new("python3")
        .arg(root().join("benches/flowgen.py"))
        .arg(flows.to_string())
        .stdout(std::fs::File::create(&capture).unwrap())
        .status()
        .unwrap();
    assert!(made.success());
    capture
}

/// The browser check; `false` when it reported itself skipped.
fn in_browser(json: &Path, html: &Path, name: &str) -> bool {
    let shot = out_dir().join(format!("{name}.png"));
    let out = Command::new("python3")
        .arg(root().join("tests/browser/check_report.py"))
        .arg(html)
        .arg(json)
        .arg(&shot)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(77) {
        eprintln!("browser check of {name} skipped: {}", text.trim());
        return false;
    }
    assert!(
        out.status.success(),
        "the browser check of {name} failed:\n{text}"
    );
    true
}

/// The sidecar sample, with pod and service names, judged by `--require mtls`.
fn sidecar_args() -> Vec<&'static str> {
    "--mesh istio --pods pods.json --services services.json --require mtls mesh-istio-leak.pcap"
        .split(' ')
        .collect()
}

#[test]
fn the_page_is_self_contained_and_allows_nothing_from_outside() {
    let samples = root().join("samples");
    let (_, html) = reports(&samples, &sidecar_args(), "static");
    let page = std::fs::read_to_string(html).unwrap();
    let csp = page
        .lines()
        .find(|l| l.contains("Content-Security-Policy"))
        .expect("a Content-Security-Policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    // nothing is loaded: no src or href attribute, no URL but the SVG namespace
    for bad in [" src=", " href=", "https://", "<link", "@import"] {
        assert!(!page.contains(bad), "the page holds {bad:?}");
    }
    let urls: Vec<&str> = page
        .match_indices("http://")
        .map(|(i, _)| &page[i..i + 30])
        .collect();
    assert!(
        urls.iter()
            .all(|u| u.starts_with("http://www.w3.org/2000/svg")),
        "{urls:?}"
    );
    // the evidence of the leaking flow is in it, packed
    assert!(page.contains("GET /ratings/0 HTTP/1.1"));
}

#[test]
fn the_sidecar_report_in_a_browser_matches_its_json() {
    let samples = root().join("samples");
    let (json, html) = reports(&samples, &sidecar_args(), "mesh-istio-leak");
    in_browser(&json, &html, "mesh-istio-leak");
}

#[test]
fn a_report_of_thousands_of_flows_in_a_browser_matches_its_json() {
    let out = out_dir();
    let capture = generated(4000, "generated");
    let (json, html) = reports(
        &out,
        &["--require", "encrypted", capture.to_str().unwrap()],
        "generated",
    );
    in_browser(&json, &html, "generated");
}

#[test]
fn a_report_without_flows_in_a_browser_says_so() {
    let out = out_dir();
    let capture = generated(0, "no-flows");
    let (json, html) = reports(&out, &[capture.to_str().unwrap()], "no-flows");
    in_browser(&json, &html, "no-flows");
}
