//! Every class of bad input ends with exit 2 and one line on stderr that says what is wrong.

use std::io::Write;

use assert_cmd::Command;
use predicates::prelude::*;

fn mtlscan() -> Command {
    Command::cargo_bin("mtlscan").expect("binary builds")
}

fn one_line_error(needle: &'static str) -> impl Predicate<str> {
    predicate::function(move |s: &str| {
        s.lines().count() == 1 && s.starts_with("mtlscan: error: ") && s.contains(needle)
    })
}

fn pcap_header(link: u32) -> Vec<u8> {
    let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    h
}

fn pcap_record(data: &[u8]) -> Vec<u8> {
    let mut r = vec![1, 0, 0, 0, 0, 0, 0, 0];
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(data);
    r
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "x.pcap", b"%PDF-1.7 not packets");
    mtlscan()
        .arg(&p)
        .assert()
        .code(2)
        .stdout("")
        .stderr(one_line_error("not a packet capture").and(predicate::str::contains("PDF")));
}

#[test]
fn empty_file_and_empty_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "e.pcap", b"");
    mtlscan()
        .arg(&p)
        .assert()
        .code(2)
        .stderr(one_line_error("empty file"));
    mtlscan()
        .arg("-")
        .write_stdin(Vec::<u8>::new())
        .assert()
        .code(2)
        .stderr(one_line_error("empty file"));
}

#[test]
fn directory() {
    let dir = tempfile::tempdir().unwrap();
    mtlscan()
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(one_line_error("is a directory"));
}

#[cfg(unix)]
#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "secret.pcap", &pcap_header(1));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&p).is_ok() {
        eprintln!("skipped: running as a user who reads any file (root)");
        return;
    }
    mtlscan()
        .arg(&p)
        .assert()
        .code(2)
        .stderr(one_line_error("cannot read"));
}

#[test]
fn unsupported_link_type_is_named_with_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = pcap_header(127);
    bytes.extend(pcap_record(&[0u8; 40]));
    let p = write(&dir, "wifi.pcap", &bytes);
    mtlscan().arg(&p).assert().code(2).stderr(
        one_line_error("unsupported link type ieee802.11-radiotap (127)")
            .and(predicate::str::contains("ethernet (1)"))
            .and(predicate::str::contains("linux-sll2 (276)")),
    );
}

#[test]
fn pcapng_with_a_corrupt_block_in_the_middle_reports_what_was_read() {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/tls13-mtls-keylog.pcapng"
    ))
    .unwrap();
    // Find the third Enhanced Packet Block and give it an impossible length.
    let mut pos = 0;
    let mut epbs = 0;
    while pos + 8 <= sample.len() {
        let kind = u32::from_le_bytes(sample[pos..pos + 4].try_into().unwrap());
        let len = u32::from_le_bytes(sample[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if kind == 6 {
            epbs += 1;
            if epbs == 3 {
                break;
            }
        }
        pos += len;
    }
    let mut bad = sample.clone();
    bad[pos + 4..pos + 8].copy_from_slice(&7u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "corrupt.pcapng", &bad);
    let out = mtlscan().arg(&p).args(["-f", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cap = &doc["captures"][0];
    assert_eq!(cap["packets"], 2);
    assert_eq!(cap["truncated"], true);
    let warning = cap["warnings"][0].as_str().unwrap();
    assert!(warning.contains(&format!("at byte {pos}")), "{warning}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning"), "{stderr}");
}

#[test]
fn gzip_that_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "notes.pcap.gz", &gzip(b"just some text\n"));
    mtlscan().arg(&p).assert().code(2).stderr(
        one_line_error("gzip file that is not a capture")
            .and(predicate::str::contains("looks like text")),
    );
}

#[test]
fn gzip_that_cannot_be_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "bad.pcap.gz",
        &[0x1f, 0x8b, 0x08, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
    );
    mtlscan()
        .arg(&p)
        .assert()
        .code(2)
        .stderr(one_line_error("not a packet capture"));
}

#[test]
fn header_only_capture_is_analysed_with_no_flows() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "h.pcap", &pcap_header(1));
    mtlscan().arg(&p).args(["-f", "json"]).assert().code(0);
}

#[test]
fn gzip_bomb_stops_at_the_limit_with_a_warning() {
    use mtlscan::capture::{read_capture_bytes, ReadLimits};
    let mut plain = pcap_header(1);
    for _ in 0..2000 {
        plain.extend(pcap_record(&[0u8; 1000]));
    }
    let packed = gzip(&plain);
    let limits = ReadLimits {
        max_decompressed_bytes: 1 << 20,
    };
    let info = read_capture_bytes("bomb", &packed, &limits, |_| {}).unwrap();
    assert!(info.truncated);
    assert!(info.packets < 1100, "{}", info.packets);
    assert!(
        info.warnings
            .iter()
            .any(|w| w.contains("stopped after 1 MiB of decompressed data")),
        "{:?}",
        info.warnings
    );
}
