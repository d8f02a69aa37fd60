//! Whole-flow tests of [`analyze`] on hand-made byte streams.

use std::net::{IpAddr, Ipv4Addr};

use super::certs::tests::spiffe_der;
use super::hello::tests::{client_hello_body, ext, server_hello_body, tls13_client_exts};
use super::hello::HELLO_RETRY_RANDOM;
use super::records::tests::{message, record};
use super::*;
use crate::decode::Endpoint;
use crate::flow::ClientBy;

/// Builds one direction from `(frame, bytes)` segments, with optional holes before segments.
#[derive(Default)]
struct Side {
    dir: Direction,
}

impl Side {
    fn send(mut self, frame: u64, bytes: &[u8]) -> Self {
        let at = self.dir.stream.len() as u32;
        self.dir.frames.push((at, frame));
        self.dir.stream.extend_from_slice(bytes);
        self.dir.packets += 1;
        self.dir.payload_bytes += bytes.len() as u64;
        self
    }
    /// Bytes lost before the next segment.
    fn hole(mut self) -> Self {
        self.dir.holes.push(self.dir.stream.len() as u32);
        self.dir.gaps += 1;
        self
    }
    fn fin(mut self, frame: u64) -> Self {
        self.dir.fin_frame = Some(frame);
        self
    }
}

fn flow(client: Side, server: Side) -> Flow {
    let ep = |last: u8, port: u16| Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    };
    Flow {
        a: ep(1, 40000),
        b: ep(2, 9080),
        client_by: ClientBy::Syn,
        dir: [client.dir, server.dir],
        first_frame: 1,
        last_frame: 100,
        first_ts: 0,
        last_ts: 0,
        syn_seen: true,
        loopback_if: false,
        reopens: None,
    }
}

fn u24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

fn cert12(n: usize) -> Vec<u8> {
    let der = spiffe_der();
    let mut list = Vec::new();
    for _ in 0..n {
        list.extend_from_slice(&u24(der.len()));
        list.extend_from_slice(&der);
    }
    let mut body = u24(list.len()).to_vec();
    body.extend(list);
    body
}

fn ch12() -> Vec<u8> {
    record(
        22,
        &message(
            1,
            &client_hello_body(1, &tls13_client_exts("details.bookinfo", &[])),
        ),
    )
}

pub(crate) fn ch13(extra: &[u8]) -> Vec<u8> {
    record(
        22,
        &message(
            1,
            &client_hello_body(1, &tls13_client_exts("details.bookinfo", extra)),
        ),
    )
}

fn sh13(random: [u8; 32], suite: u16, extra: &[u8]) -> Vec<u8> {
    let mut e = ext(43, &[3, 4]);
    e.extend_from_slice(extra);
    record(22, &message(2, &server_hello_body(random, suite, &e)))
}

fn app(len: usize) -> Vec<u8> {
    record(23, &vec![0xab; len])
}

fn ccs() -> Vec<u8> {
    record(20, &[1])
}

fn run(f: &Flow) -> TlsAnalysis {
    analyze(f, &KeyLog::default()).expect("TLS")
}

/// A TLS 1.2 server flight: ServerHello, Certificate, [CertificateRequest,] ServerHelloDone.
fn server12(request: bool) -> Vec<u8> {
    let mut hs = message(
        2,
        &server_hello_body(
            [2; 32],
            0xc02f,
            &ext(16, &[0, 6, 5, b'i', b's', b't', b'i', b'o']),
        ),
    );
    hs.extend(message(11, &cert12(1)));
    if request {
        hs.extend(message(13, &[1, 1, 0, 2, 4, 3, 0, 0]));
    }
    hs.extend(message(14, &[]));
    record(22, &hs)
}

#[test]
fn tls12_mutual_tls_observed() {
    let mut client_flight = record(22, &message(11, &cert12(2)));
    client_flight.extend(record(
        22,
        &[message(16, &[0; 65]), message(15, &[0; 72])].concat(),
    ));
    let c = Side::default()
        .send(4, &ch12())
        .send(8, &client_flight)
        .send(8, &ccs())
        .send(8, &record(22, &[0x55; 40]))
        .send(12, &app(100));
    let s = Side::default()
        .send(6, &server12(true))
        .send(10, &ccs())
        .send(10, &record(22, &[0x66; 40]))
        .send(13, &app(300));
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert_eq!(t.hello.version.as_deref(), Some("1.2"));
    assert_eq!(t.handshake, Some(HandshakeState::Complete));
    assert_eq!(
        t.hello.cipher_suite.as_deref(),
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );
    assert_eq!(t.hello.sni.as_deref(), Some("details.bookinfo"));
    assert_eq!(t.hello.alpn_offered.join(","), "istio,http2");
    assert_eq!(t.hello.alpn_selected.as_deref(), Some("istio"));
    assert_eq!(t.hello.versions_offered.join(","), "1.3,1.2");
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.client_certificate.presented, Some(true));
    assert_eq!(t.client_certificate.evidence, Some(Evidence::Observed));
    assert_eq!(t.client_certificate.frame, Some(8));
    assert_eq!(t.client_certificate.chain.len(), 2);
    assert_eq!(
        t.client_certificate.chain[0].san_uris,
        vec!["spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage".to_string()]
    );
    assert_eq!(t.server_certificate.chain.len(), 1);
    assert_eq!(t.client_hello_frame, Some(4));
    assert_eq!(t.resumed, Some(false));
    assert!(t.alerts.is_empty());
    assert_eq!(
        a.reasons,
        vec![
            "server sent a CertificateRequest (frame 6)".to_string(),
            "client sent a Certificate message with 2 certificates (frame 8)".to_string(),
        ]
    );
    let ch = a.client_hello.unwrap();
    assert_eq!(ch.extensions.first().map(|e| e.ext_type), Some(0x1a1a));
}

#[test]
fn tls12_encrypted_finished_is_not_read_as_a_certificate() {
    // After ChangeCipherSpec an encrypted Finished whose first byte is 11 must not count.
    let c = Side::default()
        .send(1, &ch12())
        .send(3, &record(22, &message(16, &[0; 65])))
        .send(3, &ccs())
        .send(3, &record(22, &[11, 0, 0, 4, 0, 0, 0, 0, 0, 0]));
    let s = Side::default()
        .send(2, &server12(false))
        .send(4, &ccs())
        .send(4, &app(40));
    let t = run(&flow(c, s)).summary;
    assert_eq!(t.client_certificate.presented, Some(false));
    assert_eq!(t.certificate_requested, Some(false));
    assert_eq!(t.handshake, Some(HandshakeState::Complete));
}

#[test]
fn tls12_rejected_empty_certificate() {
    let c = Side::default()
        .send(1, &ch12())
        .send(
            3,
            &record(
                22,
                &[message(11, &[0, 0, 0]), message(16, &[0; 65])].concat(),
            ),
        )
        .send(3, &ccs())
        .send(3, &record(22, &[0x55; 40]));
    let s = Side::default()
        .send(2, &server12(true))
        .send(4, &record(21, &[2, 116]))
        .fin(5);
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert_eq!(
        (t.client_certificate.presented, t.certificate_requested),
        (Some(false), Some(true))
    );
    assert_eq!(t.handshake, Some(HandshakeState::Failed));
    assert_eq!(t.alerts.len(), 1);
    assert_eq!(t.alerts[0].description(), "certificate_required");
    assert!(
        a.reasons
            .iter()
            .any(|r| r
                == "server sent a fatal certificate_required alert (frame 4): handshake failed")
    );
}

#[test]
fn tls13_chain_inferred_openssl_records() {
    let c = Side::default()
        .send(4, &ch13(&[]))
        .send(8, &[ccs(), app(1210), app(97), app(53)].concat())
        .send(9, &app(300));
    let s = Side::default()
        .send(5, &[sh13([2; 32], 0x1301, &[]), ccs(), app(2500)].concat())
        .send(10, &app(200));
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert_eq!(t.hello.version.as_deref(), Some("1.3"));
    assert_eq!(
        t.hello.cipher_suite.as_deref(),
        Some("TLS_AES_128_GCM_SHA256")
    );
    assert_eq!(t.handshake, Some(HandshakeState::Complete));
    assert_eq!(t.client_certificate.presented, Some(true));
    assert_eq!(t.client_certificate.evidence, Some(Evidence::Inferred));
    assert_eq!(t.client_certificate.frame, Some(8));
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.server_certificate.presented, Some(true));
    assert_eq!(t.resumed, Some(false));
    assert!(a.reasons.iter().any(|r| r == "first client handshake record 1210 bytes > Finished-only 53 bytes for TLS_AES_128_GCM_SHA256: certificate chain present (frame 8), then a Finished-sized record of 53 bytes (frame 8)"), "{:?}", a.reasons);
}

#[test]
fn tls13_no_certificate_finished_only() {
    let c = Side::default()
        .send(1, &ch13(&[]))
        .send(3, &[ccs(), app(69)].concat())
        .send(4, &app(500));
    let s = Side::default().send(2, &[sh13([2; 32], 0x1302, &[]), ccs(), app(3000)].concat());
    let a = run(&flow(c, s));
    assert_eq!(a.summary.client_certificate.presented, Some(false));
    assert_eq!(a.summary.certificate_requested, Some(false));
    assert_eq!(a.summary.handshake, Some(HandshakeState::Complete));
}

#[test]
fn tls13_rejected_client_without_certificate() {
    // Empty Certificate + Finished coalesced (61 bytes), then the server's alert-sized record.
    let c = Side::default()
        .send(1, &ch13(&[]))
        .send(3, &[ccs(), app(61)].concat())
        .send(3, &app(80));
    let s = Side::default()
        .send(2, &[sh13([2; 32], 0x1301, &[]), ccs(), app(3000)].concat())
        .send(4, &app(19))
        .fin(5);
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert_eq!(
        (t.client_certificate.presented, t.certificate_requested),
        (Some(false), Some(true))
    );
    assert_eq!(t.handshake, Some(HandshakeState::Failed));
    assert_eq!(t.alerts.len(), 1);
    assert_eq!(
        (t.alerts[0].level(), t.alerts[0].frame),
        ("encrypted", Some(4))
    );
    assert!(
        a.reasons.iter().any(
            |r| r.contains("one 19 byte encrypted record") && r.contains("sent no certificate")
        ),
        "{:?}",
        a.reasons
    );
}

#[test]
fn tls13_psk_resumption() {
    let c = Side::default()
        .send(1, &ch13(&ext(41, &[0; 10])))
        .send(3, &app(53));
    let s = Side::default().send(
        2,
        &[sh13([2; 32], 0x1301, &ext(41, &[0, 0])), app(100)].concat(),
    );
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert_eq!(t.resumed, Some(true));
    assert_eq!(t.client_certificate.presented, None);
    assert_eq!(t.server_certificate.presented, None);
    assert_eq!(t.handshake, Some(HandshakeState::Complete));
    assert_eq!(
        a.reasons,
        vec!["resumed session (pre_shared_key accepted): no certificates exchanged".to_string()]
    );
}

#[test]
fn tls13_hello_retry_request() {
    let c = Side::default()
        .send(1, &ch13(&[]))
        .send(3, &[ccs(), ch13(&[])].concat())
        .send(5, &app(25))
        .send(5, &app(53));
    let s = Side::default()
        .send(2, &[sh13(HELLO_RETRY_RANDOM, 0x1301, &[]), ccs()].concat())
        .send(4, &[sh13([2; 32], 0x1301, &[]), app(2000)].concat());
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert!(t.hello_retry_request);
    assert_eq!(t.client_certificate.presented, Some(false));
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.client_certificate.frame, Some(5));
    assert!(a.reasons[0].contains("HelloRetryRequest (frame 2); the client sent 2 ClientHello"));
}

#[test]
fn hello_retry_request_without_the_second_server_hello() {
    let c = Side::default()
        .send(1, &ch13(&[]))
        .send(3, &[ccs(), ch13(&[])].concat());
    let s = Side::default().send(2, &[sh13(HELLO_RETRY_RANDOM, 0x1302, &[]), ccs()].concat());
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert!(t.hello_retry_request);
    assert_eq!(t.hello.version.as_deref(), Some("1.3"));
    assert_eq!(
        t.hello.cipher_suite.as_deref(),
        Some("TLS_AES_256_GCM_SHA384")
    );
    assert_eq!(t.handshake, Some(HandshakeState::Partial));
    assert_eq!(t.client_certificate.presented, None);
}

#[test]
fn tls13_early_data_skipped() {
    let c = Side::default()
        .send(1, &[ch13(&ext(42, &[])), app(400)].concat())
        .send(2, &app(100))
        .send(5, &app(21))
        .send(5, &app(53));
    let s = Side::default().send(
        3,
        &[sh13([2; 32], 0x1301, &ext(41, &[0, 0])), app(90)].concat(),
    );
    // PSK accepted: no inference, but early data is reported.
    let t = run(&flow(c, s)).summary;
    assert!(t.early_data);
    assert_eq!(t.resumed, Some(true));
    let c = Side::default()
        .send(1, &[ch13(&ext(42, &[])), app(400)].concat())
        .send(5, &app(1500));
    let s = Side::default().send(3, &[sh13([2; 32], 0x1301, &[]), app(2000)].concat());
    let a = run(&flow(c, s));
    assert_eq!(a.summary.client_certificate.presented, Some(true));
    assert_eq!(a.summary.client_certificate.frame, Some(5));
    assert!(a.reasons.iter().any(
        |r| r.contains("1 encrypted record(s) before the server's encrypted flight (frame 3)")
    ));
}

#[test]
fn tls13_hole_in_client_flight_is_unknown() {
    let c = Side::default()
        .send(1, &ch13(&[]))
        .send(3, &ccs())
        .hole()
        .send(5, &[0x11; 7])
        .send(5, &[app(53), app(200)].concat());
    let s = Side::default().send(2, &[sh13([2; 32], 0x1301, &[]), app(2000)].concat());
    let a = run(&flow(c, s));
    assert_eq!(a.summary.client_certificate.presented, None);
    assert!(
        a.reasons.iter().any(|r| r.contains("bytes are missing")),
        "{:?}",
        a.reasons
    );
}

#[test]
fn cleartext_before_the_handshake_is_plaintext_unless_it_asks_for_tls() {
    use crate::classify::{classify, Context};
    use crate::model::Verdict;
    let server = || {
        Side::default()
            .send(2, b"220 mail ESMTP\r\n")
            .send(4, b"220 ready\r\n")
            .send(6, &server12(false))
    };
    let upgrade = Side::default()
        .send(3, b"EHLO a\r\nSTARTTLS\r\n")
        .send(5, &ch12());
    let class = classify(&flow(upgrade, server()), &Context::default());
    assert_eq!(class.verdict, Verdict::Tls, "{:?}", class.reasons);
    // a request in the clear, then a ClientHello: the request crossed the wire
    let request = Side::default()
        .send(3, b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n")
        .send(5, &ch12());
    let class = classify(&flow(request, server()), &Context::default());
    assert_eq!(class.verdict, Verdict::Plaintext);
    let p = class.plaintext.as_deref().unwrap();
    assert_eq!((&*p.evidence, p.frame), ("GET /secret HTTP/1.1", Some(3)));
    let text = class.reasons.join("\n");
    assert!(text.contains("does not switch to TLS that way"), "{text}");
}

#[test]
fn starttls_prefix() {
    let c = Side::default()
        .send(3, b"EHLO a\r\nSTARTTLS\r\n")
        .send(5, &ch12());
    let s = Side::default()
        .send(2, b"220 mail ESMTP\r\n")
        .send(4, b"220 ready\r\n")
        .send(6, &server12(false));
    let a = run(&flow(c, s));
    assert_eq!(a.summary.plaintext_prefix_bytes, 18 + 27);
    assert_eq!(a.summary.hello.version.as_deref(), Some("1.2"));
    assert_eq!(a.summary.client_hello_frame, Some(5));
    assert_eq!(a.summary.handshake, Some(HandshakeState::Partial));
    assert_eq!(
        a.reasons[0],
        "45 cleartext bytes (18 from the client, 27 from the server) precede the TLS handshake (STARTTLS-style upgrade); ClientHello at frame 5"
    );
}

#[test]
fn mid_stream_records() {
    let mut cbytes = vec![0x42; 30]; // tail of a record cut by the capture start
    cbytes.extend([app(100), app(40)].concat());
    let c = Side::default().send(20, &cbytes);
    let s = Side::default().send(21, &[app(500), record(21, &[0; 26])].concat());
    let a = run(&flow(c, s));
    let t = &a.summary;
    assert_eq!(t.handshake, Some(HandshakeState::NotCaptured));
    assert_eq!(t.client_certificate.presented, None);
    assert_eq!(t.hello.version, None);
    assert_eq!(t.alerts.len(), 1);
    assert_eq!(t.alerts[0].level(), "encrypted");
    assert_eq!(
        a.reasons[0],
        "capture starts after the TLS handshake: 2 TLS records from the client starting at frame 20, 2 TLS records from the server starting at frame 21 and no ClientHello"
    );
}

#[test]
fn server_hello_without_client_hello() {
    let mut sbytes = server12(true);
    sbytes.extend(&record(22, &[11, 0, 9, 0])[..5]); // a record cut by the end of the capture
    let s = Side::default().send(7, &sbytes);
    let a = run(&flow(Side::default(), s));
    let t = &a.summary;
    assert_eq!(t.handshake, Some(HandshakeState::Partial));
    assert_eq!(t.hello.version.as_deref(), Some("1.2"));
    assert_eq!(t.certificate_requested, Some(true));
    assert_eq!(t.server_certificate.chain.len(), 1);
    assert_eq!(t.client_certificate.presented, None);
    assert_eq!(
        a.reasons[0],
        "the client's ClientHello is not in the capture, the server's ServerHello is (frame 7)"
    );
}

#[test]
fn not_tls() {
    let c = Side::default().send(1, b"GET /productpage HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = Side::default().send(2, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert!(analyze(&flow(c, s), &KeyLog::default()).is_none());
    assert!(analyze(&flow(Side::default(), Side::default()), &KeyLog::default()).is_none());
    // One lone record-looking header is not enough...
    let c = Side::default().send(1, &[23, 3, 3, 0, 200, 1, 2, 3]);
    assert!(analyze(&flow(c, Side::default()), &KeyLog::default()).is_none());
    // ... nor one record followed by other bytes.
    let c = Side::default().send(1, &[&app(3)[..], b"GET"].concat());
    assert!(analyze(&flow(c, Side::default()), &KeyLog::default()).is_none());
}

#[test]
fn lone_record_filling_the_stream() {
    // An encrypted alert, alone in the captured stream, then the close.
    let c = Side::default().send(137, &record(21, &[0; 26])).fin(138);
    let a = run(&flow(c, Side::default()));
    assert_eq!(a.summary.handshake, Some(HandshakeState::NotCaptured));
    assert_eq!(a.summary.alerts.len(), 1);
    assert_eq!(
        a.reasons[0],
        "capture starts after the TLS handshake: 1 TLS record from the client starting at frame 137 and no ClientHello"
    );
}

#[test]
fn client_hello_to_a_plaintext_server() {
    let c = Side::default().send(1, &ch12());
    let s = Side::default()
        .send(2, b"HTTP/1.1 400 Bad Request\r\n\r\n")
        .fin(3);
    let a = run(&flow(c, s));
    assert_eq!(a.summary.handshake, Some(HandshakeState::Failed));
    assert_eq!(a.summary.hello.version, None);
    assert_eq!(
        a.reasons,
        vec!["server answered the ClientHello with bytes that are not TLS (frame 2)".to_string()]
    );
}

#[test]
fn server_alert_before_encryption() {
    let c = Side::default().send(1, &ch13(&[]));
    let s = Side::default().send(2, &record(21, &[2, 40])).fin(3);
    let a = run(&flow(c, s));
    assert_eq!(a.summary.handshake, Some(HandshakeState::Failed));
    assert_eq!(a.summary.alerts[0].description(), "handshake_failure");
    assert_eq!(a.summary.alerts[0].level(), "fatal");
}

#[test]
fn sslv2_client_hello_upgraded_to_tls() {
    let mut v2 = vec![0x80, 0, 1, 3, 1, 0, 3, 0, 0, 0, 16, 0x00, 0xc0, 0x2f];
    v2.extend_from_slice(&[5; 16]);
    v2[1] = (v2.len() - 2) as u8;
    let c = Side::default()
        .send(1, &v2)
        .send(3, &record(22, &message(16, &[0; 40])))
        .send(3, &ccs())
        .send(3, &app(40));
    let s = Side::default()
        .send(2, &server12(false))
        .send(4, &ccs())
        .send(4, &app(40));
    let a = run(&flow(c, s));
    assert_eq!(a.summary.hello.version.as_deref(), Some("1.2"));
    assert_eq!(a.summary.client_hello_frame, Some(1));
    assert_eq!(a.summary.hello.versions_offered.join(","), "1.0");
    assert_eq!(a.summary.handshake, Some(HandshakeState::Complete));
}

#[test]
fn detection_helpers() {
    assert!(looks_like_tls(&[22, 3, 1, 0, 10]));
    assert!(!looks_like_tls(b"GET / HTTP/1.1"));
    assert!(looks_like_client_hello(&ch12()));
    assert!(!looks_like_client_hello(&app(10)));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(
        c in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        cut in 0usize..600,
        prefix in proptest::prelude::any::<bool>(),
    ) {
        // Arbitrary bytes, and a real handshake cut anywhere with junk appended.
        let _ = analyze(&flow(Side::default().send(1, &c), Side::default().send(2, &s)), &KeyLog::default());
        let mut real = if prefix { b"STARTTLS\r\n".to_vec() } else { Vec::new() };
        real.extend(ch13(&[]));
        real.extend([ccs(), app(1210)].concat());
        real.truncate(cut.min(real.len()));
        real.extend_from_slice(&c);
        let mut srv = [sh13([2; 32], 0x1301, &[]), app(300)].concat();
        srv.extend_from_slice(&s);
        let side = Side::default().send(1, &real[..real.len() / 2]).hole().send(3, &real[real.len() / 2..]);
        let _ = analyze(&flow(side, Side::default().send(2, &srv)), &KeyLog::default());
    }
}
