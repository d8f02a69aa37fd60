//! Flow-level tests of [`detect`]: hand-made flows, and byte excerpts of real captures under
//! `tests/data/plaintext/` (one line per segment: `c|s FRAME HEX`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::*;
use crate::decode::Endpoint;
use crate::flow::ClientBy;

fn endpoint(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

fn direction(segments: &[(u64, &[u8])]) -> Direction {
    let mut d = Direction::default();
    for &(frame, bytes) in segments {
        d.frames.push((d.stream.len() as u32, frame));
        d.stream.extend_from_slice(bytes);
        d.packets += 1;
        d.payload_bytes += bytes.len() as u64;
        d.first_payload_frame.get_or_insert(frame);
    }
    d
}

/// A flow whose client sent `client` and whose server sent `server`, as `(frame, bytes)` segments.
fn flow(client: &[(u64, &[u8])], server: &[(u64, &[u8])]) -> Flow {
    Flow {
        a: endpoint(1, 43512),
        b: endpoint(2, 9080),
        client_by: ClientBy::Syn,
        dir: [direction(client), direction(server)],
        first_frame: 1,
        last_frame: 20,
        first_ts: 0,
        last_ts: 0,
        syn_seen: true,
        loopback_if: false,
        reopens: None,
    }
}

fn detect_ok(f: &Flow) -> Detection {
    detect(f).expect("plaintext expected")
}

const GET: &[u8] = b"GET /productpage?u=normal HTTP/1.1\r\nHost: productpage:9080\r\nUser-Agent: curl/7.81.0\r\nAccept: */*\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nServer: istio-envoy\r\nContent-Length: 2\r\n\r\nhi";

#[test]
fn http_request_and_response() {
    let d = detect_ok(&flow(&[(4, GET)], &[(6, OK)]));
    assert_eq!(
        d.summary,
        PlaintextSummary {
            protocol: "http/1.1",
            evidence: "GET /productpage?u=normal HTTP/1.1".into(),
            frame: Some(4),
            direction: "client",
            rejected: false,
            forwarded_client: None,
        }
    );
    assert_eq!(
        d.reasons,
        [
            "client sent an HTTP/1.1 request in cleartext: `GET /productpage?u=normal HTTP/1.1` (frame 4)",
            "server sent an HTTP/1.1 response in cleartext: `HTTP/1.1 200 OK` (frame 6)",
        ]
    );
    assert_eq!(
        d.headers,
        [
            ("Host".to_string(), "productpage:9080".to_string()),
            ("User-Agent".into(), "curl/7.81.0".into()),
            ("Content-Type".into(), "text/html".into()),
            ("Server".into(), "istio-envoy".into()),
        ]
    );
    assert!(d.credentials.is_empty());
    assert!(!d.upgrades_to_tls);
}

#[test]
fn http_request_split_over_segments_quotes_the_first_frame() {
    let d = detect_ok(&flow(&[(4, &GET[..10]), (5, &GET[10..])], &[]));
    assert_eq!(&*d.summary.evidence, "GET /productpage?u=normal HTTP/1.1");
    assert_eq!(d.summary.frame, Some(4));
    assert_eq!(
        d.reasons.last().unwrap(),
        "no answer from the server in the capture"
    );
}

#[test]
fn credentials_are_named_never_quoted() {
    let req =
        b"POST http://admin:s3cret@api:8080/login?password=hunter2&u=1 HTTP/1.0\r\nHost: api\r\n\
        Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig\r\nCookie: sid=abcdef\r\n\r\n";
    let resp = b"HTTP/1.0 302 Found\r\nSet-Cookie: sid=zzz; HttpOnly\r\nLocation: /\r\n\r\n";
    let d = detect_ok(&flow(&[(3, req)], &[(5, resp)]));
    assert_eq!(d.summary.protocol, "http/1.0");
    assert_eq!(
        &*d.summary.evidence,
        "POST http://<redacted>@api:8080/login?password=<redacted>&u=1 HTTP/1.0"
    );
    assert_eq!(d.credentials, ["Authorization", "Cookie", "Set-Cookie"]);
    assert!(d
        .reasons
        .iter()
        .any(|r| r == "Authorization header sent in cleartext (value redacted)"));
    assert!(d
        .reasons
        .iter()
        .any(|r| r == "Set-Cookie header sent in cleartext (value redacted)"));
    let everything = format!("{:?}", d);
    for secret in ["s3cret", "hunter2", "eyJhbGci", "abcdef", "zzz"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
}

#[test]
fn response_only_capture() {
    let d = detect_ok(&flow(&[], &[(9, OK)]));
    assert_eq!(&*d.summary.evidence, "HTTP/1.1 200 OK");
    assert_eq!(d.summary.direction, "server");
    assert_eq!(d.summary.frame, Some(9));
    assert!(!d.summary.rejected);
}

#[test]
fn rejected_by_reset() {
    let mut f = flow(&[(4, GET)], &[]);
    f.dir[1].rst_frame = Some(5);
    let d = detect_ok(&f);
    assert!(d.summary.rejected);
    assert_eq!(
        d.reasons.last().unwrap(),
        "server reset the connection (frame 5) without answering: the cleartext request was rejected"
    );
}

#[test]
fn rejected_by_close() {
    let mut f = flow(&[(4, GET)], &[]);
    f.dir[1].fin_frame = Some(6);
    let d = detect_ok(&f);
    assert!(d.summary.rejected);
    assert_eq!(
        d.reasons.last().unwrap(),
        "server closed the connection (frame 6) without answering: the cleartext request was rejected"
    );
}

#[test]
fn rejected_by_tls_alert() {
    // Alert record: fatal (2), unexpected_message (10)... as Envoy answers a cleartext request.
    let mut f = flow(
        &[(4, GET)],
        &[(5, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a])],
    );
    f.dir[1].rst_frame = Some(6);
    let d = detect_ok(&f);
    assert!(d.summary.rejected);
    assert_eq!(d.summary.direction, "client");
    assert_eq!(
        d.reasons.last().unwrap(),
        "server answered with a TLS alert (frame 5): it expects TLS, the cleartext request was rejected"
    );
}

#[test]
fn not_rejected_when_the_server_answered() {
    let mut f = flow(&[(4, GET)], &[(6, OK)]);
    f.dir[1].rst_frame = Some(8);
    f.dir[1].fin_frame = Some(7);
    assert!(!detect_ok(&f).summary.rejected);
    // Bytes were sent but not captured: no proof of rejection.
    let mut f = flow(&[(4, GET)], &[]);
    f.dir[1].payload_bytes = 100;
    f.dir[1].fin_frame = Some(7);
    assert!(!detect_ok(&f).summary.rejected);
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.extend_from_slice(&[kind, flags]);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn h2c_with_preface() {
    let mut client = h2::PREFACE.to_vec();
    client.extend(h2_frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    // :method GET, :scheme http, :path /, :authority www.example.com (RFC 7541 C.4.1).
    let block = hex::decode("828684418cf1e3c2e5f23a6ba0ab90f4ff").unwrap();
    let headers = h2_frame(1, 0x05, 1, &block);
    let server = h2_frame(4, 0, 0, &[]);
    let d = detect_ok(&flow(&[(3, &client), (4, &headers)], &[(5, &server)]));
    assert_eq!(
        d.summary,
        PlaintextSummary {
            protocol: "h2c",
            evidence: "GET / HTTP/2".into(),
            frame: Some(4),
            direction: "client",
            rejected: false,
            forwarded_client: None,
        }
    );
    assert_eq!(
        d.reasons,
        [
            "client sent the HTTP/2 cleartext connection preface (frame 3)",
            "client sent HTTP/2 HEADERS in cleartext: `GET / HTTP/2` (frame 4)",
            "server sent the HTTP/2 connection preface (SETTINGS) in cleartext (frame 5)",
        ]
    );
    assert_eq!(
        d.headers,
        [(":authority".to_string(), "www.example.com".to_string())]
    );
}

#[test]
fn h2c_preface_alone() {
    let d = detect_ok(&flow(&[(3, h2::PREFACE)], &[]));
    assert_eq!(d.summary.protocol, "h2c");
    assert_eq!(&*d.summary.evidence, "PRI * HTTP/2.0");
    assert_eq!(d.summary.frame, Some(3));
}

#[test]
fn h2c_upgrade_from_http1() {
    let req =
        b"GET /robots.txt HTTP/1.1\r\nHost: nghttp2.org\r\nConnection: Upgrade, HTTP2-Settings\r\n\
        Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    let mut preface = h2::PREFACE.to_vec();
    preface.extend(h2_frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    let mut resp =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    resp.extend(h2_frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    // :status 200 (static index 8).
    resp.extend(h2_frame(1, 0x04, 1, &[0x88]));
    let d = detect_ok(&flow(&[(1, req), (3, &preface)], &[(2, &resp)]));
    assert_eq!(d.summary.protocol, "h2c");
    assert_eq!(&*d.summary.evidence, "GET /robots.txt HTTP/1.1");
    assert_eq!(d.summary.frame, Some(1));
    assert_eq!(d.summary.direction, "client");
    assert!(d
        .reasons
        .iter()
        .any(|r| r == "client upgraded the connection to HTTP/2 cleartext (h2c)"));
    assert!(d
        .reasons
        .iter()
        .any(|r| r == "server sent HTTP/2 HEADERS in cleartext: `HTTP/2 200` (frame 2)"));
}

#[test]
fn h2c_upgrade_declined_is_http1() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n";
    let d = detect_ok(&flow(&[(1, req)], &[(2, OK)]));
    assert_eq!(d.summary.protocol, "http/1.1");
    assert!(d
        .reasons
        .iter()
        .any(|r| r == "client offered an upgrade to HTTP/2 cleartext (h2c)"));
}

#[test]
fn h2c_mid_stream_without_preface() {
    // The capture starts inside a DATA frame, then whole frames follow.
    let mut client = vec![0x42; 25];
    client.extend(h2_frame(8, 0, 0, &[0, 0, 0x40, 0]));
    client.extend(h2_frame(1, 0x04, 3, &[0x82, 0x86, 0xc1])); // index 65: unknown dynamic entry
    client.extend(h2_frame(0, 0x01, 3, b"{\"x\":1}"));
    let d = detect_ok(&flow(&[(10, &client[..30]), (11, &client[30..])], &[]));
    assert_eq!(d.summary.protocol, "h2c");
    assert_eq!(&*d.summary.evidence, "GET HTTP/2");
    assert_eq!(d.summary.frame, Some(11));
    assert_eq!(
        d.reasons[0],
        "client sent 3 HTTP/2 frames in cleartext without a preface (capture starts mid-connection) (frame 10)"
    );
}

#[test]
fn h2c_mid_stream_frames_without_headers() {
    let mut server = h2_frame(6, 0, 0, &[1; 8]);
    server.extend(h2_frame(8, 0, 0, &[0, 0, 0x40, 0]));
    server.extend(h2_frame(0, 0, 7, b"<html>"));
    let d = detect_ok(&flow(&[], &[(20, &server)]));
    assert_eq!(d.summary.protocol, "h2c");
    assert_eq!(
        &*d.summary.evidence,
        "HTTP/2 frames: PING, WINDOW_UPDATE, DATA"
    );
    assert_eq!(d.summary.direction, "server");
}

#[test]
fn grpc_by_content_type() {
    let mut client = h2::PREFACE.to_vec();
    client.extend(h2_frame(4, 0, 0, &[]));
    let block = hex::decode(
        "83864592626b0a54af8ac2953b8b677310ac62b0a54f418ba0e41d139d09b8d800d87f5f8b1d75d0620d263d4c4d6564",
    )
    .unwrap();
    client.extend(h2_frame(1, 0x04, 1, &block));
    client.extend(h2_frame(0, 0x01, 1, &[0, 0, 0, 0, 2, 0x0a, 0x00]));
    let d = detect_ok(&flow(&[(31, &client)], &[]));
    assert_eq!(d.summary.protocol, "grpc");
    assert_eq!(
        &*d.summary.evidence,
        "POST /greet.GreetService/Greet HTTP/2"
    );
    assert!(d
        .reasons
        .iter()
        .any(|r| r == "content-type application/grpc: a gRPC call without TLS"));
}

#[test]
fn grpc_by_message_framing_mid_stream() {
    // HEADERS that cannot be decoded (dynamic references), then gRPC-framed DATA.
    let mut client = h2_frame(1, 0x04, 5, &[0xc5, 0xc4]);
    client.extend(h2_frame(0, 0, 5, &[0, 0, 0, 0, 3, 1, 2, 3]));
    client.extend(h2_frame(0, 0x01, 5, &[]));
    let d = detect_ok(&flow(&[(7, &client)], &[]));
    assert_eq!(d.summary.protocol, "grpc");
    assert!(d
        .reasons
        .iter()
        .any(|r| r.starts_with("client sent DATA framed as gRPC messages")));
}

#[test]
fn other_protocols_are_named() {
    let d = detect_ok(&flow(
        &[(5, b"EHLO client.example\r\n")],
        &[(4, b"220 mx ESMTP ready\r\n")],
    ));
    assert_eq!(
        (d.summary.protocol, &*d.summary.evidence),
        ("smtp", "EHLO client.example")
    );
    let d = detect_ok(&flow(&[(5, b"USER bob\r\n")], &[(4, b"+OK hello\r\n")]));
    assert_eq!(d.summary.protocol, "pop3");
    assert_eq!(&*d.summary.evidence, "USER bob");
    let d = detect_ok(&flow(
        &[(5, b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n")],
        &[(6, b"+OK\r\n")],
    ));
    assert_eq!(d.summary.protocol, "redis");
    assert_eq!(&*d.summary.evidence, "AUTH with 1 argument");
}

#[test]
fn starttls_is_flagged() {
    let d = detect_ok(&flow(
        &[(5, b"\x00\x00\x00\x08\x04\xd2\x16\x2f")],
        &[(6, b"S")],
    ));
    assert_eq!(d.summary.protocol, "postgresql");
    assert!(d.upgrades_to_tls);
}

#[test]
fn binary_low_entropy_is_plaintext_unknown() {
    let mut bytes = Vec::new();
    for i in 0u16..100 {
        bytes.extend_from_slice(&[0x01, 0x00, 0x00, 0x0c]);
        bytes.extend_from_slice(&i.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    }
    let d = detect_ok(&flow(&[(2, &bytes)], &[]));
    assert_eq!(d.summary.protocol, "unknown");
    assert_eq!(
        &*d.summary.evidence,
        "\\x01\\x00\\x00\\x0c\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x01\\x00\\x00\\x0c\\x00\\x01\\x00\\x00\\x00\\x01\\x00\\x00\\x01\\x00\\x00\\x0c\\x00…"
    );
    assert!(d.reasons[0].starts_with("client sent binary data that is not high-entropy (1.9 bits/byte over 1200 bytes) in cleartext"), "{}", d.reasons[0]);
}

fn xorshift(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[test]
fn random_bytes_and_tls_are_not_plaintext() {
    assert!(detect(&flow(
        &[(2, &xorshift(42, 3000))],
        &[(3, &xorshift(43, 500))]
    ))
    .is_none());
    let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
    let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
    let f = flow(&[(2, &hello)], &[(3, &alert)]);
    assert!(detect(&f).is_none());
    assert!(detect(&flow(&[], &[])).is_none());
}

#[test]
fn ssh_is_encrypted_not_plaintext() {
    let f = flow(
        &[(8, b"SSH-2.0-OpenSSH_8.9\r\n")],
        &[(9, b"SSH-2.0-OpenSSH_9.0\r\n")],
    );
    assert!(detect(&f).is_none());
    assert_eq!(
        encrypted_non_tls(&f),
        Some(("ssh", "SSH-2.0-OpenSSH_8.9".to_string(), Some(8)))
    );
}

#[test]
fn openvpn_is_encrypted_not_plaintext() {
    // Hard reset (opcode 7), then an ACK (opcode 5), as an OpenVPN client over TCP sends them.
    let reset = hex::decode("000e38507a28a78275788d0000000000").unwrap();
    let ack = hex::decode("001628507a28a78275788d01000000009ad747beb24d8a1b").unwrap();
    let f = flow(&[(4, &reset), (8, &ack)], &[]);
    assert!(detect(&f).is_none());
    assert_eq!(
        encrypted_non_tls(&f),
        Some((
            "openvpn",
            "P_CONTROL_HARD_RESET_CLIENT_V2".to_string(),
            Some(4)
        ))
    );
    // A length that does not lead to another packet is not OpenVPN.
    let mut junk = reset.clone();
    junk.extend_from_slice(&[0xff; 30]);
    assert!(encrypted_non_tls(&flow(&[(4, &junk)], &[])).is_none());
}

#[test]
fn sslv2_client_hello_is_tls_not_plaintext() {
    let hello = hex::decode("804c01030000330000001000000400000500000a0100800700c0030080").unwrap();
    assert!(detect(&flow(&[(4, &hello)], &[])).is_none());
}

#[test]
fn stream_after_a_hole_is_not_read_as_contiguous() {
    let mut f = flow(&[(4, GET), (9, b"junk")], &[]);
    f.dir[0].holes.push(GET.len() as u32);
    assert_eq!(run(&f.dir[0]), GET);
}

#[test]
fn request_openers() {
    assert!(looks_like_request(b"GET / HTTP/1.1\r\n"));
    assert!(looks_like_request(b"PROPFIND /x HTTP/1.1"));
    assert!(looks_like_request(h2::PREFACE));
    assert!(looks_like_request(b"EHLO x\r\n"));
    assert!(looks_like_request(b"*1\r\n$4\r\nPING\r\n"));
    assert!(looks_like_request(b"\x00\x00\x00\x08\x04\xd2\x16\x2f"));
    assert!(!looks_like_request(b"HTTP/1.1 200 OK\r\n"));
    assert!(!looks_like_request(b"220 mx ESMTP\r\n"));
    assert!(!looks_like_request(b"+OK\r\n"));
    assert!(!looks_like_request(&[0x16, 0x03, 0x01, 0, 5, 1]));
    assert!(!looks_like_request(b"hello"));
    assert!(!looks_like_request(b""));
    assert!(looks_like_response(b"HTTP/1.0 404 Not Found\r\n"));
    assert!(looks_like_response(b"220 mx ESMTP\r\n"));
    assert!(!looks_like_response(b"GET / HTTP/1.1\r\n"));
}

#[test]
fn never_panics_on_prefixes_of_odd_input() {
    let mut samples: Vec<Vec<u8>> = vec![
        GET.to_vec(),
        OK.to_vec(),
        h2::PREFACE.to_vec(),
        xorshift(1, 300),
    ];
    let mut h2 = h2::PREFACE.to_vec();
    h2.extend(h2_frame(1, 0x2d, 1, &[0xff; 40]));
    samples.push(h2);
    for s in &samples {
        for cut in 0..s.len() {
            let f = flow(&[(1, &s[..cut])], &[(2, &s[cut..])]);
            let _ = detect(&f);
            let _ = looks_like_request(&s[..cut]);
        }
    }
}

// ---- Excerpts of real captures -------------------------------------------------------------

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/plaintext")
}

/// Reads a fixture: `c|s FRAME HEX` lines; `#` lines are comments.
fn fixture(name: &str) -> Flow {
    fixture_text(&std::fs::read_to_string(fixture_dir().join(name)).unwrap())
}

/// Parses fixture text.
fn fixture_text(text: &str) -> Flow {
    let mut segments: [Vec<(u64, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut parts = line.split(' ');
        let side = usize::from(parts.next() == Some("s"));
        let frame: u64 = parts.next().unwrap().parse().unwrap();
        let bytes = hex::decode(parts.next().unwrap_or("")).unwrap();
        segments[side].push((frame, bytes));
    }
    let as_refs = |s: &[(u64, Vec<u8>)]| -> Vec<(u64, Vec<u8>)> { s.to_vec() };
    let c = as_refs(&segments[0]);
    let s = as_refs(&segments[1]);
    let c: Vec<(u64, &[u8])> = c.iter().map(|(f, b)| (*f, b.as_slice())).collect();
    let s: Vec<(u64, &[u8])> = s.iter().map(|(f, b)| (*f, b.as_slice())).collect();
    flow(&c, &s)
}

#[test]
fn capture_grpc_unary() {
    let d = detect_ok(&fixture("grpc_unary.txt"));
    assert_eq!(
        d.summary,
        PlaintextSummary {
            protocol: "grpc",
            evidence: "POST /greet.GreetService/Greet HTTP/2".into(),
            frame: Some(37),
            direction: "client",
            rejected: false,
            forwarded_client: None,
        }
    );
    assert_eq!(
        d.headers,
        [
            (":authority".to_string(), "localhost:50051".to_string()),
            ("content-type".into(), "application/grpc".into()),
            ("user-agent".into(), "grpc-go/1.50.1".into()),
        ]
    );
}

#[test]
fn capture_http_without_syn() {
    let d = detect_ok(&fixture("http_get_nosyn.txt"));
    assert_eq!(d.summary.protocol, "http/1.1");
    assert_eq!(
        &*d.summary.evidence,
        "GET /download/CHANGES.bro-aux.txt HTTP/1.1"
    );
    assert_eq!(d.summary.frame, Some(1));
    assert_eq!(
        d.headers[0],
        (
            "User-Agent".to_string(),
            "Wget/1.14 (darwin12.2.0)".to_string()
        )
    );
}

#[test]
fn capture_tls_client_plaintext_server() {
    let d = detect_ok(&fixture("tls_client_http_server.txt"));
    assert_eq!(&*d.summary.evidence, "HTTP/1.1 400 Bad Request");
    assert_eq!(d.summary.direction, "server");
    assert_eq!(d.summary.frame, Some(8));
}

#[test]
fn capture_http_connect_then_tls() {
    let d = detect_ok(&fixture("http_connect_tls.txt"));
    assert_eq!(&*d.summary.evidence, "CONNECT abc:443 HTTP/1.1");
    // what follows the `200 OK` is an empty handshake record header (16 03 00 00 00) and zeros:
    // no TLS record, so the cleartext CONNECT is not an upgrade to TLS
    assert!(!d.upgrades_to_tls);
}

#[test]
fn capture_postgresql_startup() {
    let d = detect_ok(&fixture("pgsql_startup.txt"));
    assert_eq!(d.summary.protocol, "postgresql");
    assert_eq!(
        &*d.summary.evidence,
        "StartupMessage v3.0 user=rep database=replication application_name=walreceiver"
    );
    assert_eq!(d.summary.frame, Some(20));
}

#[test]
fn capture_response_only() {
    let d = detect_ok(&fixture("http_response_only.txt"));
    assert_eq!(&*d.summary.evidence, "HTTP/1.1 200 OK");
    assert_eq!(d.summary.direction, "server");
    assert_eq!(d.summary.frame, Some(1));
}

#[test]
fn capture_ssh() {
    let f = fixture("ssh.txt");
    assert!(detect(&f).is_none());
    assert_eq!(
        encrypted_non_tls(&f).map(|e| (e.0, e.1)),
        Some(("ssh", "SSH-2.0-OpenSSH_5.3".to_string()))
    );
}

#[test]
fn capture_x11_binary() {
    let d = detect_ok(&fixture("x11.txt"));
    assert_eq!(d.summary.protocol, "unknown");
    assert_eq!(d.summary.frame, Some(62));
}

#[test]
fn quoted_bytes_cannot_forge_frame_numbers() {
    let d = detect_ok(&flow(
        &[(4, b"GET /{frame}/{frame@0} HTTP/1.1\r\n\r\n")],
        &[(6, OK)],
    ));
    assert_eq!(
        d.reasons[0],
        "client sent an HTTP/1.1 request in cleartext: `GET /{frame}/{frame@0} HTTP/1.1` (frame 4)"
    );
}

#[test]
fn reason_sentences_have_room_for_the_frame_suffix() {
    let mut text = sentence(&["client", " sent an ", "HTTP/1.1", " request"]);
    assert_eq!(text, "client sent an HTTP/1.1 request");
    let capacity = text.capacity();
    push_frame_suffix(&mut text, Some(u64::MAX));
    assert_eq!(
        text,
        format!("client sent an HTTP/1.1 request (frame {})", u64::MAX)
    );
    assert_eq!(text.capacity(), capacity, "the suffix fits without growing");
    push_frame_suffix(&mut text, None);
    assert!(text.ends_with(&format!("(frame {})", u64::MAX)));
}
