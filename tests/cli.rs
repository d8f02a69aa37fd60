//! The command line as a user meets it: exit codes, one-line errors that say what to do, output
//! files, formats.

use assert_cmd::Command;
use predicates::prelude::*;

fn mtlscan() -> Command {
    Command::cargo_bin("mtlscan").expect("binary builds")
}

/// Exactly one line on stderr, starting with the tool's name.
fn one_line_error() -> impl Predicate<str> {
    predicate::function(|s: &str| s.lines().count() == 1 && s.starts_with("mtlscan: error: "))
}

#[test]
fn missing_file_is_exit_2_with_one_line() {
    mtlscan()
        .arg("no-such-capture.pcap")
        .assert()
        .code(2)
        .stdout("")
        .stderr(one_line_error().and(predicate::str::contains("no such file")));
}

#[test]
fn directory_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    mtlscan()
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("directory")));
}

#[test]
fn random_file_is_exit_2_and_says_it_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are meeting notes, not packets\n".repeat(20)).unwrap();
    mtlscan()
        .arg(&path)
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("not a packet capture")));
}

#[test]
fn empty_file_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pcap");
    std::fs::write(&path, b"").unwrap();
    mtlscan()
        .arg(&path)
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("empty")));
}

#[test]
fn unknown_option_is_exit_2_with_one_line() {
    mtlscan()
        .args(["--frobnicate", "x.pcap"])
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("--help")));
}

#[test]
fn bad_allow_rule_is_exit_2() {
    mtlscan()
        .args(["--require", "mtls", "--allow", "prot=80", "x.pcap"])
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("port=15021")));
}

#[test]
fn no_capture_is_exit_2() {
    mtlscan().assert().code(2).stderr(one_line_error());
}

#[test]
fn help_is_exit_0() {
    mtlscan()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("--require"));
}

#[test]
fn malformed_keylog_is_exit_2_with_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.log");
    std::fs::write(&keys, "# comment\nCLIENT_HANDSHAKE_TRAFFIC_SECRET zz 00\n").unwrap();
    mtlscan()
        .args(["--keylog"])
        .arg(&keys)
        .arg("samples/mtls.pcap")
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("line 2")));
}

fn sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// The report of one run in `format`, on standard output.
fn report_of(args: &[&str], format: &str) -> (Vec<u8>, i32) {
    let out = mtlscan()
        .args(args)
        .args(["--format", format])
        .output()
        .unwrap();
    (out.stdout, out.status.code().unwrap())
}

#[test]
fn one_run_writes_every_export_as_separate_runs_would() {
    let capture = sample("mesh-istio-leak.pcap");
    let capture = capture.to_str().unwrap();
    let args = ["--mesh", "istio", "--require", "mtls", capture];
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let out = mtlscan()
        .args(args)
        .args(["--color", "never", "-j", "2"])
        .arg("--export-json")
        .arg(file("r.json"))
        .arg("--export-jsonl")
        .arg(file("r.jsonl"))
        .arg("--export-junit")
        .arg(file("r.xml"))
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert_eq!(code, 1, "the leak fails --require mtls");
    let (table, table_code) = report_of(&[&args[..], &["--color", "never"]].concat(), "table");
    assert_eq!((out.stdout, code), (table, table_code));
    for (name, format) in [("r.json", "json"), ("r.jsonl", "jsonl"), ("r.xml", "junit")] {
        let (alone, alone_code) = report_of(&args, format);
        assert_eq!(std::fs::read(file(name)).unwrap(), alone, "{format}");
        assert_eq!(alone_code, code);
    }
    // nothing but the reports is left in the directory
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    // with -o and --summary: the table verdict on stdout, the reports in their files
    mtlscan()
        .args(args)
        .args(["--summary", "-f", "json", "-o"])
        .arg(file("o.json"))
        .arg("--export-junit")
        .arg(file("o.xml"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("policy --require mtls: FAIL"));
    assert_eq!(
        std::fs::read(file("o.json")).unwrap(),
        report_of(&args, "json").0
    );
    assert_eq!(
        std::fs::read(file("o.xml")).unwrap(),
        report_of(&args, "junit").0
    );
}

#[test]
fn exports_that_cannot_be_written_are_exit_2_and_leave_nothing() {
    let capture = sample("mesh-istio-leak.pcap");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("r.json");
    mtlscan()
        .arg(&capture)
        .arg("--export-json")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("--export-json")));
    // two reports into one file, or an export to standard output: refused before reading
    let same = dir.path().join("r.json");
    mtlscan()
        .arg(&capture)
        .arg("-o")
        .arg(&same)
        .arg("--export-json")
        .arg(&same)
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("its own file")));
    mtlscan()
        .arg(&capture)
        .args(["--export-jsonl", "-"])
        .assert()
        .code(2)
        .stderr(one_line_error().and(predicate::str::contains("use --format")));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `--no-hash` takes the capture's SHA-256 out of every report and changes nothing else: the
/// JSON says `sha256: null`, the table has no hash line, JUnit no sha256 property; file, gzip,
/// standard input and a live run alike.
#[test]
fn no_hash_leaves_out_the_hash_and_nothing_else() {
    let capture = sample("mesh-istio-leak.pcap");
    let path = capture.to_str().unwrap();
    let gz = sample("mtls.pcap.gz");
    let mut hashed_json: Option<serde_json::Value> = None;
    for input in [path, gz.to_str().unwrap()] {
        let args = ["--mesh", "istio", "--require", "mtls", input];
        let (with, code) = report_of(&args, "json");
        let (without, code_without) = report_of(&[&args[..], &["--no-hash"]].concat(), "json");
        assert_eq!(code, code_without, "{input}");
        let mut with: serde_json::Value = serde_json::from_slice(&with).unwrap();
        let without: serde_json::Value = serde_json::from_slice(&without).unwrap();
        let sha = with["captures"][0]["sha256"].take();
        assert_eq!(sha.as_str().map(str::len), Some(64), "{input}");
        assert!(without["captures"][0]["sha256"].is_null(), "{input}");
        assert_eq!(with, without, "{input}: only the hash differs");
        if input == path {
            hashed_json = Some(with);
        }
    }

    let args = ["--mesh", "istio", "--require", "mtls", "--no-hash", path];
    let (table, _) = report_of(&[&args[..], &["--color", "never"]].concat(), "table");
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("mesh-istio-leak.pcap"), "{table}");
    assert!(!table.contains("sha256"), "{table}");
    let (junit, _) = report_of(&args, "junit");
    let junit = String::from_utf8(junit).unwrap();
    assert!(junit.contains(r#"<property name="format""#), "{junit}");
    assert!(!junit.contains("sha256"), "{junit}");

    // standard input and a live run: the same, unhashed
    let stdin = mtlscan()
        .args(["--mesh", "istio", "--require", "mtls", "--no-hash"])
        .args(["-f", "json", "-"])
        .pipe_stdin(&capture)
        .unwrap()
        .output()
        .unwrap();
    let mut stdin: serde_json::Value = serde_json::from_slice(&stdin.stdout).unwrap();
    assert!(stdin["captures"][0]["sha256"].is_null());
    stdin["captures"][0]["path"] = hashed_json.as_ref().unwrap()["captures"][0]["path"].clone();
    assert_eq!(Some(stdin), hashed_json);
    let live = mtlscan()
        .args(["--follow", "--no-hash", "-f", "jsonl", path])
        .output()
        .unwrap();
    let live = String::from_utf8(live.stdout).unwrap();
    let summary = live.lines().last().unwrap();
    assert!(summary.contains(r#""type":"summary""#), "{summary}");
    assert!(summary.contains(r#""sha256":null"#), "{summary}");
}
