//! UDP flows between real peers (samples/make-udp-samples.sh): cleartext DNS, syslog and statsd
//! are `plaintext` with the protocol named; a wireguard-go tunnel between two nodes is
//! `encrypted`; a datagram of text among WireGuard messages is not hidden by them.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{json_report, pcap_records, sample, shared_captures};
use serde_json::{json, Value};

fn path(name: &str) -> String {
    sample(name).to_str().unwrap().to_string()
}

#[test]
fn cleartext_dns_is_plaintext_and_fails_require_encrypted() {
    let (r, code) = json_report(&["--require", "encrypted", &path("udp-dns.pcap")], None);
    assert_eq!(code, 1);
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(
        flows.len(),
        2,
        "an A and an AAAA query, each from its own port"
    );
    for (f, qtype) in flows.iter().zip(["A", "AAAA"]) {
        assert_eq!(f["transport"], "udp");
        assert!(f["tcp"].is_null(), "{f:#}");
        assert_eq!(f["verdict"], "plaintext", "{f:#}");
        assert_eq!(f["server"]["port"], 53);
        assert_eq!(f["client_by"], "bytes");
        assert_eq!(f["packets"], json!({"client": 1, "server": 1}));
        let p = &f["plaintext"];
        assert_eq!(p["protocol"], "dns");
        assert_eq!(
            p["evidence"],
            format!("{qtype} details.bookinfo.svc.cluster.local")
        );
        assert_eq!(p["direction"], "client");
        assert_eq!(f["policy_mark"], "violation");
    }
    assert_eq!(r["summary"]["policy"]["violations"], json!([1, 2]));
    assert_eq!(r["summary"]["by_verdict"]["plaintext"], 2);
}

#[test]
fn syslog_and_statsd_are_named() {
    let (r, _) = json_report(&[&path("udp-syslog-statsd.pcap")], None);
    let flows = r["flows"].as_array().unwrap();
    let by_port = |port: u64| {
        flows
            .iter()
            .find(|f| f["server"]["port"] == port)
            .unwrap_or_else(|| panic!("no flow to {port}: {r:#}"))
    };
    let syslog = &by_port(5514)["plaintext"];
    assert_eq!(syslog["protocol"], "syslog");
    let quote = syslog["evidence"].as_str().unwrap();
    assert!(
        quote.starts_with("<13>1 ") && quote.contains(" payments "),
        "{quote}"
    );
    let statsd = &by_port(8125)["plaintext"];
    assert_eq!(statsd["protocol"], "statsd");
    assert_eq!(statsd["evidence"], "payments.declined:1|c|#env:prod");
    assert_eq!(by_port(8125)["packets"], json!({"client": 1, "server": 0}));
}

#[test]
fn a_wireguard_tunnel_between_nodes_is_encrypted() {
    let p = path("encrypted-wireguard.pcap");
    let (r, code) = json_report(&["--require", "encrypted", &p], None);
    assert_eq!(code, 0);
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(
        (&f["transport"], &f["verdict"]),
        (&json!("udp"), &json!("encrypted"))
    );
    let e = &f["encryption"];
    assert_eq!(e["protocol"], "wireguard");
    assert_eq!(e["key_exchange"], "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s");
    // tshark: 1 initiation, 2 response, 3 and 4 the first transport data each way
    assert_eq!(e["encrypted_from"], json!({"client": 3, "server": 4}));
    assert_eq!(f["packets"], json!({"client": 4, "server": 4}));
    assert_eq!(f["reason_codes"], json!(["encrypted", "encrypted"]));
    let (_, code) = json_report(&["--require", "mtls", &p], None);
    assert_eq!(code, 1, "WireGuard is not mutual TLS");
}

/// The real tunnel with one transport data datagram overwritten by text of the same length
/// (Ethernet, IPv4 without options, UDP): the WireGuard messages around it do not hide it.
#[test]
fn text_among_wireguard_messages_is_plaintext() {
    let mut bytes = std::fs::read(sample("encrypted-wireguard.pcap")).unwrap();
    let (start, len) = pcap_records(&bytes)[6];
    let payload = start + 14 + 20 + 8;
    let room = start + len - payload;
    assert!(room >= 64, "frame 7 carries {room} bytes");
    let mut text =
        b"POST /payments HTTP/1.1\r\nHost: ledger\r\nContent-Length: 18\r\n\r\n".to_vec();
    text.resize(room, b' ');
    bytes[payload..payload + room].copy_from_slice(&text);
    let (r, code) = json_report(&["--require", "encrypted"], Some(bytes));
    let f = &r["flows"][0];
    assert_eq!(f["verdict"], "plaintext", "{f:#}");
    assert_eq!(f["plaintext"]["frame"], 7);
    assert!(f["plaintext"]["evidence"]
        .as_str()
        .unwrap()
        .starts_with("POST /payments HTTP/1.1"));
    assert_eq!(code, 1);
}

/// Flows of both transports are numbered in first-seen order, and the table says which are
/// UDP.
#[test]
fn flows_of_both_transports_are_numbered_in_first_seen_order() {
    let Some(root) = shared_captures() else {
        eprintln!("SKIPPED: ../shared/captures not found");
        return;
    };
    // SSH over TCP, then QUIC over UDP, both inside Geneve between two hosts
    let capture = root.join("mercury/geneve.pcap");
    let (r, _) = json_report(&[capture.to_str().unwrap()], None);
    let flows = r["flows"].as_array().unwrap();
    let first: Vec<u64> = flows
        .iter()
        .map(|f| f["first_frame"].as_u64().unwrap())
        .collect();
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
    let transports: Vec<&str> = flows
        .iter()
        .map(|f| f["transport"].as_str().unwrap())
        .collect();
    assert!(transports.contains(&"tcp") && transports.contains(&"udp"));
    // Chrome's QUIC: the Initial packets decrypt (the SNI is tshark's)
    let quic: Vec<&Value> = flows
        .iter()
        .filter(|f| f["transport"] == "udp" && f["server"]["port"] == 443)
        .collect();
    assert_eq!(quic.len(), 22);
    assert!(quic.iter().all(|f| f["verdict"] == "tls"));
    assert_eq!(quic[0]["tls"]["sni"], "www.amazon.com");
    let table = Command::cargo_bin("mtlscan")
        .unwrap()
        .args(["--color", "never"])
        .arg(&capture)
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains(":443/udp"), "{table}");
}

#[test]
fn a_live_run_says_it_leaves_udp_out() {
    let out = Command::cargo_bin("mtlscan")
        .unwrap()
        .args(["--follow", "-f", "jsonl"])
        .arg(sample("udp-dns.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let summary: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let capture = &summary["captures"][0];
    assert_eq!(capture["skipped"]["udp-not-followed"], 4);
    assert!(capture["warnings"][0]
        .as_str()
        .unwrap()
        .contains("UDP datagrams are not judged by a live run"));
}

/// Meshes do not carry DNS: under a mesh profile cleartext DNS on port 53 is expected, with its
/// own rule and count; without one it is a violation (above).
#[test]
fn a_mesh_profile_expects_cluster_dns() {
    for mesh in ["istio", "linkerd", "ambient"] {
        let (r, code) = json_report(
            &["--mesh", mesh, "--require", "mtls", &path("udp-dns.pcap")],
            None,
        );
        assert_eq!(code, 0, "{mesh}: {r:#}");
        for f in r["flows"].as_array().unwrap() {
            assert_eq!(f["expected_rule"], "cluster-dns", "{mesh}");
            assert!(f["expected_reason"].as_str().unwrap().starts_with(mesh));
        }
        let expected = &r["summary"]["mesh"]["expected"];
        assert_eq!(expected[0]["rule"], "cluster-dns", "{mesh}: {expected:#}");
        assert_eq!(expected[0]["flows"], 2);
    }
}

/// UDP flows are numbered and reported alike for any thread count and for a file read or
/// mapped: each thread owns the UDP flows of its endpoint pairs, as it owns TCP flows.
#[test]
fn udp_reports_are_identical_for_any_thread_count() {
    let mut captures = vec![sample("udp-dns.pcap"), sample("encrypted-wireguard.pcap")];
    if let Some(shared) = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| {
            d.join("shared")
                .join("captures")
                .join("mercury/geneve.pcap")
        })
        .find(|p| p.is_file())
    {
        captures.push(shared);
    }
    for capture in captures {
        let c = capture.to_str().unwrap();
        let (one, _) = json_report(&["-j", "1", c], None);
        for args in [
            &["-j", "2", c][..],
            &["-j", "3", c],
            &["-j", "2", "--no-mmap", c],
        ] {
            assert_eq!(json_report(args, None).0, one, "{args:?}");
        }
    }
}

/// The UDP datagrams of a loopback capture (Ethernet, IPv4 without options): frame number,
/// source port, and where the payload is in the file with its length.
fn datagrams(bytes: &[u8]) -> Vec<(u64, u16, usize, usize)> {
    pcap_records(bytes)
        .into_iter()
        .enumerate()
        .map(|(i, (start, len))| {
            let src = u16::from_be_bytes([bytes[start + 34], bytes[start + 35]]);
            (i as u64 + 1, src, start + 42, len - 42)
        })
        .collect()
}

/// The first datagram of each side of the QUIC sample that begins with a 1-RTT (short header)
/// packet: `[client, server]`. A 1-RTT packet may come earlier, coalesced after a long one.
fn first_one_rtt(bytes: &[u8]) -> [(u64, usize, usize); 2] {
    let d = datagrams(bytes);
    let side = |server: bool| {
        d.iter()
            .find(|&&(_, src, at, _)| (src == 4433) == server && bytes[at] & 0xc0 == 0x40)
            .map(|&(frame, _, at, len)| (frame, at, len))
            .expect("a 1-RTT packet each way")
    };
    [side(false), side(true)]
}

/// QUIC between aioquic peers: the Initial packets decrypt with the keys their connection ID
/// gives, so the flow is TLS 1.3 with the hellos' facts; the client certificate is unknown.
#[test]
fn quic_is_tls_read_from_its_initial_packets() {
    let p = path("udp-quic.pcap");
    let (r, code) = json_report(&["--require", "encrypted", &p], None);
    assert_eq!(code, 0);
    let f = &r["flows"][0];
    assert_eq!(
        (&f["transport"], &f["verdict"]),
        (&json!("udp"), &json!("tls"))
    );
    let t = &f["tls"];
    assert_eq!(t["version"], "1.3");
    assert_eq!(t["sni"], "api.example.internal");
    assert_eq!(t["alpn_offered"], json!(["mtlscan-echo"]));
    assert_eq!(t["handshake"], "complete");
    assert_eq!(t["client_hello_frame"], 1);
    assert!(t["client_certificate"]["presented"].is_null());
    assert!(t["ja4"].as_str().unwrap().starts_with("q13d"), "{t:#}");
    // the first 1-RTT packets: after the Initial packets, and by the first datagrams that
    // begin with one
    let [(client, ..), (server, ..)] =
        first_one_rtt(&std::fs::read(sample("udp-quic.pcap")).unwrap());
    let reason = f["reasons"][2].as_str().unwrap();
    let frames: Vec<u64> = reason
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .filter(|&n| n > 1)
        .collect();
    assert!(reason.starts_with("1-RTT packets both ways"), "{reason}");
    let within = |n: u64, bound: u64| n > 2 && n <= bound;
    assert!(
        matches!(frames[..], [c, s] if within(c, client) && within(s, server)),
        "{reason}"
    );
    let (r, code) = json_report(&["--require", "mtls", &p], None);
    assert_eq!(code, 1);
    assert_eq!(r["summary"]["policy"]["unproven"], json!([1]));
}

/// The real QUIC exchange with the client's first 1-RTT packet overwritten by text: the
/// decrypted handshake before it does not hide it.
#[test]
fn text_after_a_quic_handshake_is_plaintext() {
    let mut bytes = std::fs::read(sample("udp-quic.pcap")).unwrap();
    let [(frame, at, len), _] = first_one_rtt(&bytes);
    let mut text = b"GET /payments HTTP/1.1\r\nHost: ledger\r\n\r\n".to_vec();
    text.resize(len, b' ');
    bytes[at..at + len].copy_from_slice(&text);
    let (r, code) = json_report(&["--require", "encrypted"], Some(bytes));
    let f = &r["flows"][0];
    assert_eq!(f["verdict"], "plaintext", "{f:#}");
    assert_eq!(f["plaintext"]["frame"], frame);
    assert_eq!(code, 1);
}

/// DTLS 1.2 between OpenSSL peers: its handshake is in the clear, so a client certificate is
/// seen as in TLS 1.2, reassembled from its fragments.
#[test]
fn dtls_shows_its_client_certificate() {
    let (r, code) = json_report(&["--require", "mtls", &path("udp-dtls.pcap")], None);
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    let (mtls, server_only) = (&flows[0], &flows[1]);
    assert_eq!(
        (&mtls["server"]["port"], &mtls["verdict"]),
        (&json!(4444), &json!("mtls"))
    );
    let t = &mtls["tls"];
    assert_eq!(t["version"], "dtls1.2");
    assert_eq!(t["certificate_requested"], true);
    assert_eq!(t["handshake"], "complete");
    assert_eq!(t["sni"], "details.bookinfo.svc.cluster.local");
    assert!(t["ja4"].as_str().unwrap().starts_with("dd2d"), "{t:#}");
    let cert = &t["client_certificate"];
    assert_eq!(
        (&cert["presented"], &cert["evidence"]),
        (&json!(true), &json!("observed"))
    );
    assert_eq!(
        cert["chain"][0]["san_uris"][0],
        "spiffe://cluster.local/ns/bookinfo/sa/productpage"
    );
    assert_eq!(
        t["server_certificate"]["chain"][0]["san_uris"][0],
        "spiffe://cluster.local/ns/bookinfo/sa/details",
        "the server's chain, sent in fragments"
    );
    assert_eq!(server_only["verdict"], "tls");
    assert_eq!(server_only["tls"]["certificate_requested"], false);
    assert_eq!(server_only["tls"]["client_certificate"]["presented"], false);
    assert_eq!(code, 1);
    assert_eq!(r["summary"]["policy"]["violations"], json!([2]));
}
