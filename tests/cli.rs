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
