//! The library's entry point, `mtlscan::run::run`: what a program that embeds mtlscan gets.
//! One call analyses the capture once and writes every report, each as the command writes it;
//! a live run (`follow`) writes what a live command writes; errors are typed and say what to do.

mod common;

use std::path::{Path, PathBuf};

use mtlscan::capture::Input;
use mtlscan::report::{Format, Policy, Requirement};
use mtlscan::run::{run, Destination, Hooks, ReportSpec, RunConfig, RunError};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

fn require_mtls() -> Policy {
    Policy {
        require: Some(Requirement::Mtls),
        allow: Vec::new(),
    }
}

/// The command's report of `args` on standard output.
fn command(args: &[&str]) -> String {
    let out = common::run_mtlscan(args, None);
    String::from_utf8(out.stdout).expect("the report is UTF-8")
}

#[test]
fn one_call_writes_every_report_as_the_command_does() {
    let dir = tempfile::tempdir().unwrap();
    let capture = sample("mesh-istio-leak.pcap");
    let formats = [
        ("--export-json", Format::Json, "json"),
        ("--export-jsonl", Format::Jsonl, "jsonl"),
        ("--export-junit", Format::Junit, "junit"),
        ("-o", Format::Table, "table"),
    ];
    let config = RunConfig {
        inputs: vec![Input::Path(capture.clone())],
        reports: formats
            .iter()
            .map(|&(option, format, name)| {
                ReportSpec::new(Destination::file(option, dir.path().join(name)), format)
            })
            .collect(),
        policy: require_mtls(),
        threads: Some(2),
        ..RunConfig::default()
    };
    let outcome = run(&config, Hooks::default()).expect("the run reports");
    assert!(!outcome.pass, "the sample leaks plaintext between pods");
    for (_, _, name) in formats {
        let written = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let path = capture.to_str().unwrap();
        let by_command = command(&["--require", "mtls", "-f", name, "--color", "never", path]);
        assert_eq!(written, by_command, "{name}");
    }
}

#[test]
fn a_live_run_writes_what_the_live_command_writes() {
    let dir = tempfile::tempdir().unwrap();
    let capture = sample("mesh-istio-leak.pcap");
    let out = dir.path().join("live.jsonl");
    let config = RunConfig {
        inputs: vec![Input::Path(capture.clone())],
        reports: vec![ReportSpec::new(
            Destination::file("--export-jsonl", &out),
            Format::Jsonl,
        )],
        policy: require_mtls(),
        follow: true,
        ..RunConfig::default()
    };
    let outcome = run(&config, Hooks::default()).expect("the live run reports");
    assert!(!outcome.pass);
    let written = std::fs::read_to_string(&out).unwrap();
    let path = capture.to_str().unwrap();
    let by_command = command(&["--follow", "--require", "mtls", "-f", "jsonl", path]);
    assert_eq!(written, by_command);
    assert!(written.lines().any(|l| l.contains("\"type\":\"flow-end\"")));
}

#[test]
fn errors_are_typed_and_name_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Input::Path(sample("mesh-istio.pcap"));
    let missing = RunConfig {
        inputs: vec![Input::Path(dir.path().join("absent.pcap"))],
        ..RunConfig::default()
    };
    let err = run(&missing, Hooks::default()).unwrap_err();
    assert!(matches!(err, RunError::Analyze(_)), "{err:?}");
    assert!(err.to_string().contains("absent.pcap"), "{err}");

    let unwritable = RunConfig {
        inputs: vec![capture.clone()],
        reports: vec![ReportSpec::new(
            Destination::file("--export-json", dir.path().join("no/such/dir/r.json")),
            Format::Json,
        )],
        ..RunConfig::default()
    };
    let err = run(&unwritable, Hooks::default()).unwrap_err();
    assert!(matches!(err, RunError::File { .. }), "{err:?}");
    assert!(err.to_string().starts_with("--export-json "), "{err}");

    let pods = dir.path().join("pods.json");
    std::fs::write(&pods, "not json").unwrap();
    let bad_names = RunConfig {
        inputs: vec![capture.clone()],
        pods: Some(pods),
        ..RunConfig::default()
    };
    let err = run(&bad_names, Hooks::default()).unwrap_err();
    assert!(err.to_string().starts_with("--pods "), "{err}");

    let live_json = RunConfig {
        inputs: vec![capture],
        reports: vec![ReportSpec::new(Destination::Stdout, Format::Json)],
        follow: true,
        ..RunConfig::default()
    };
    let err = run(&live_json, Hooks::default()).unwrap_err();
    assert!(matches!(err, RunError::NotLive(_)), "{err:?}");
    assert!(err.to_string().contains("json report"), "{err}");
}

#[test]
fn warnings_come_back_to_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods.json");
    std::fs::write(
        &pods,
        r#"{"items":[{"metadata":{"namespace":"x","name":"elsewhere"},"status":{"podIP":"192.0.2.77"}}]}"#,
    )
    .unwrap();
    let config = RunConfig {
        inputs: vec![Input::Path(sample("mesh-istio.pcap"))],
        pods: Some(pods),
        ..RunConfig::default()
    };
    let outcome = run(&config, Hooks::default()).expect("the run reports");
    assert!(outcome.pass);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("no address in the capture matches")),
        "{:?}",
        outcome.warnings
    );
}
