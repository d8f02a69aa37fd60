//! Tests on flows of real captures (`tests/data/tls/*.txt`, dumped by `extract.py` with tshark
//! from the shared capture corpus; the expected values are those of the corpus' tshark oracle).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::*;
use crate::decode::Endpoint;
use crate::flow::ClientBy;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls")
}

/// Reads a flow dump: `c|s FRAME HEX`, `c|s hole`, `c|s fin FRAME`, `c|s rst FRAME`, `c|s full`.
pub(crate) fn load_flow(text: &str) -> Flow {
    let mut dirs = [Direction::default(), Direction::default()];
    let mut first = u64::MAX;
    let mut last = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut parts = line.split_whitespace();
        let d = match parts.next() {
            Some("c") => &mut dirs[0],
            Some("s") => &mut dirs[1],
            other => panic!("bad line start {other:?}"),
        };
        match (parts.next(), parts.next()) {
            (Some("hole"), None) => {
                d.holes.push(d.stream.len() as u32);
                d.gaps += 1;
            }
            (Some("full"), None) => d.prefix_full = true,
            (Some("fin"), Some(f)) => d.fin_frame = Some(f.parse().unwrap()),
            (Some("rst"), Some(f)) => d.rst_frame = Some(f.parse().unwrap()),
            (Some(frame), Some(hex)) => {
                let frame: u64 = frame.parse().unwrap();
                let bytes = hex::decode(hex).unwrap();
                first = first.min(frame);
                last = last.max(frame);
                d.frames.push((d.stream.len() as u32, frame));
                d.first_payload_frame.get_or_insert(frame);
                d.packets += 1;
                d.payload_bytes += bytes.len() as u64;
                d.stream.extend_from_slice(&bytes);
            }
            other => panic!("bad line {other:?}"),
        }
    }
    let ep = |last: u8| Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port: 1000 + u16::from(last),
    };
    Flow {
        a: ep(1),
        b: ep(2),
        client_by: ClientBy::Syn,
        dir: dirs,
        first_frame: first,
        last_frame: last,
        first_ts: 0,
        last_ts: 0,
        syn_seen: true,
        loopback_if: false,
        reopens: None,
    }
}

fn analyze_fixture(name: &str) -> TlsAnalysis {
    let text = std::fs::read_to_string(data_dir().join(name)).unwrap();
    analyze(&load_flow(&text), &KeyLog::default()).expect("TLS")
}

#[test]
fn zeek_client_certificate_tls12_chain_observed() {
    let a = analyze_fixture("zeek-client-certificate.txt");
    let t = &a.summary;
    assert_eq!(t.hello.version.as_deref(), Some("1.2"));
    assert_eq!(
        t.hello.cipher_suite.as_deref(),
        Some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
    );
    assert_eq!(t.hello.sni.as_deref(), Some("certauth.idrix.fr"));
    assert_eq!(t.hello.alpn_offered.join(","), "h2,http/1.1");
    assert_eq!(t.hello.alpn_selected.as_deref(), Some("http/1.1"));
    assert_eq!(t.hello.versions_offered.join(","), "1.3,1.2");
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.client_certificate.presented, Some(true));
    assert_eq!(t.client_certificate.evidence, Some(Evidence::Observed));
    assert!(!t.client_certificate.chain.is_empty());
    assert!(t
        .client_certificate
        .chain
        .iter()
        .all(|c| c.parse_error.is_none()));
    assert!(!t.server_certificate.chain.is_empty());
    assert_eq!(t.resumed, Some(false));
    assert_eq!(t.handshake, Some(HandshakeState::Complete));
    assert!(
        a.reasons
            .iter()
            .any(|r| r.starts_with("client sent a Certificate message with")),
        "{:?}",
        a.reasons
    );
}

#[test]
fn zeek_certificate_request_failed_empty_chain() {
    let a = analyze_fixture("zeek-certificate-request-failed.txt");
    let t = &a.summary;
    assert_eq!(t.hello.version.as_deref(), Some("1.2"));
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.client_certificate.presented, Some(false));
    assert_eq!(t.client_certificate.evidence, Some(Evidence::Observed));
    assert!(t.client_certificate.chain.is_empty());
}

#[test]
fn zeek_tls13_psk_resumed() {
    let a = analyze_fixture("zeek-tls13-psk.txt");
    let t = &a.summary;
    assert_eq!(t.hello.version.as_deref(), Some("1.3"));
    assert_eq!(t.resumed, Some(true));
    assert_eq!(t.client_certificate.presented, None);
    assert!(a
        .reasons
        .iter()
        .any(|r| r == "resumed session (pre_shared_key accepted): no certificates exchanged"));
}

#[test]
fn zeek_hello_retry_request() {
    let a = analyze_fixture("zeek-hrr.txt");
    let t = &a.summary;
    assert!(t.hello_retry_request);
    assert_eq!(t.hello.version.as_deref(), Some("1.3"));
}

#[test]
fn zeek_smtp_starttls_prefix() {
    let a = analyze_fixture("zeek-smtp-starttls.txt");
    let t = &a.summary;
    assert_eq!(t.plaintext_prefix_bytes, 259);
    assert_eq!(t.hello.version.as_deref(), Some("1.2"));
    assert_eq!(t.certificate_requested, Some(false));
    assert_eq!(t.client_certificate.presented, Some(false));
}

#[test]
fn zeek_postgres_ssl_request_prefix() {
    let a = analyze_fixture("zeek-psql-ssl-require.txt");
    let t = &a.summary;
    assert_eq!(t.plaintext_prefix_bytes, 9);
    assert_eq!(t.hello.version.as_deref(), Some("1.2"));
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.client_certificate.presented, Some(false));
}

#[test]
fn mercury_encrypted_handshake_is_not_a_certificate() {
    let a = analyze_fixture("mercury-encrypted-handshake-trap.txt");
    let t = &a.summary;
    assert_ne!(
        t.client_certificate.presented,
        Some(true),
        "{:?}",
        a.reasons
    );
    assert!(t.client_certificate.chain.is_empty());
}

#[test]
fn tls13_finished_only_clients() {
    // The oracle decrypted these with their key logs: no CertificateRequest, no client Certificate.
    for name in ["illustrated-tls13.txt", "hotplace-tls13-aes128gcm.txt"] {
        let a = analyze_fixture(name);
        let t = &a.summary;
        assert_eq!(t.hello.version.as_deref(), Some("1.3"), "{name}");
        assert_eq!(
            t.client_certificate.presented,
            Some(false),
            "{name}: {:?}",
            a.reasons
        );
        assert_eq!(
            t.client_certificate.evidence,
            Some(Evidence::Inferred),
            "{name}"
        );
        assert_eq!(t.certificate_requested, Some(false), "{name}");
        assert_eq!(t.handshake, Some(HandshakeState::Complete), "{name}");
    }
}

#[test]
fn hotplace_handshake_failure() {
    let a = analyze_fixture("hotplace-handshake-failure.txt");
    assert_eq!(
        a.summary.handshake,
        Some(HandshakeState::Failed),
        "{:?}",
        a.reasons
    );
}

/// Prints the analysis of every flow dump in the directory named by `MTLSCAN_TLS_FLOWS` (one
/// line per flow, for comparison with the corpus oracle). Run with `--ignored --nocapture`.
#[test]
#[ignore = "needs a directory of flow dumps made by extract.py"]
fn print_flow_dumps() {
    let Some(dir) = std::env::var_os("MTLSCAN_TLS_FLOWS") else {
        println!("MTLSCAN_TLS_FLOWS not set: nothing to print");
        return;
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    names.sort();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let a = analyze(&load_flow(&text), &KeyLog::default());
        let line = match a {
            None => {
                serde_json::json!({"file": path.file_name().unwrap().to_string_lossy(), "tls": null})
            }
            Some(a) => serde_json::json!({
                "file": path.file_name().unwrap().to_string_lossy(),
                "tls": a.summary,
                "reasons": a.reasons,
            }),
        };
        println!("FLOW {line}");
    }
}
