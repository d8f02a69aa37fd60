//! A deterministic generator of realistic service-mesh captures, for tests and benchmarks.
//!
//! [`generate`] writes a classic pcap (Ethernet, microsecond timestamps) in memory: many
//! concurrent TCP connections between pod addresses, their packets interleaved, each with a
//! three-way handshake, proper sequence and acknowledgement numbers, segments of at most one MSS
//! (1448 bytes with TCP timestamps), delayed ACKs and an orderly close. The connections carry:
//!
//! - TLS 1.2 mutual TLS (ECDHE-ECDSA-AES256-GCM-SHA384) with real certificate chains (the PEM
//!   files of `samples/pki`), then application data records;
//! - TLS 1.3 mutual TLS and server-only TLS with the record sizes OpenSSL produces (ServerHello,
//!   CCS, then one encrypted record per handshake message, session tickets, close_notify);
//! - TLS 1.3 with a certificate requested and refused (empty Certificate, alert, reset);
//! - TLS 1.2 server-only TLS;
//! - plaintext HTTP/1.1 with keep-alive (some requests carry credentials), and plaintext requests
//!   answered by a reset (a TLS-only listener);
//! - TCP probes (connect, close) and refused connections (SYN, RST).
//!
//! Every flow kind has one intended verdict ([`Kind::verdict`]); [`Synth::expected`] counts them.
//! The same [`SynthConfig`] always yields the same bytes: the only randomness is a fixed-seed PRNG.
#![allow(dead_code)]

use std::ops::Range;

/// Certificates of the sample PKI, as PEM.
const CA_PEM: &str = include_str!("../../samples/pki/ca.crt");
const DETAILS_PEM: &str = include_str!("../../samples/pki/details.crt");
const REVIEWS_PEM: &str = include_str!("../../samples/pki/reviews.crt");
const API_PEM: &str = include_str!("../../samples/pki/api.crt");
const PRODUCTPAGE_PEM: &str = include_str!("../../samples/pki/productpage.crt");

/// TCP payload per segment: MTU 1500 minus IPv4 (20) and TCP with timestamps (32).
const MSS: usize = 1448;
/// Largest TLS plaintext fragment.
const MAX_FRAGMENT: usize = 16384;
/// Capture time of the first packet (seconds since the epoch).
const START_SECS: u64 = 1_764_000_000;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// The capture grows until it holds at least this many bytes, then open flows are finished.
    pub target_bytes: usize,
    pub seed: u64,
    /// Connections open at the same time (their packets are interleaved).
    pub concurrency: usize,
}

impl SynthConfig {
    /// The default mix at `target_bytes`: seed 1, 128 concurrent flows.
    pub fn with_size(target_bytes: usize) -> SynthConfig {
        SynthConfig {
            target_bytes,
            seed: 1,
            concurrency: 128,
        }
    }
}

/// Flows per intended verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub mtls: u64,
    pub tls: u64,
    pub plaintext: u64,
    pub opaque: u64,
    pub empty: u64,
}

impl Expected {
    fn add(&mut self, verdict: &str) {
        match verdict {
            "mtls" => self.mtls += 1,
            "tls" => self.tls += 1,
            "plaintext" => self.plaintext += 1,
            "opaque" => self.opaque += 1,
            _ => self.empty += 1,
        }
    }

    /// `(verdict, count)` pairs in report order.
    pub fn entries(&self) -> [(&'static str, u64); 5] {
        [
            ("mtls", self.mtls),
            ("tls", self.tls),
            ("plaintext", self.plaintext),
            ("opaque", self.opaque),
            ("empty", self.empty),
        ]
    }
}

/// A generated capture.
#[derive(Debug, Clone)]
pub struct Synth {
    /// The whole pcap file.
    pub pcap: Vec<u8>,
    pub packets: u64,
    pub flows: u64,
    /// Flows per kind, in [`Kind::ALL`] order.
    pub kinds: Vec<(Kind, u64)>,
    pub expected: Expected,
}

/// The kinds of connection in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tls13Mtls,
    Tls12Mtls,
    Tls13ServerOnly,
    Tls12ServerOnly,
    Tls13CertRefused,
    Http,
    HttpRejected,
    Probe,
    Refused,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Tls13Mtls,
        Kind::Tls12Mtls,
        Kind::Tls13ServerOnly,
        Kind::Tls12ServerOnly,
        Kind::Tls13CertRefused,
        Kind::Http,
        Kind::HttpRejected,
        Kind::Probe,
        Kind::Refused,
    ];

    /// Share of the mix, per thousand flows (close to the reference workload's).
    fn weight(self) -> u64 {
        match self {
            Kind::Tls13Mtls => 300,
            Kind::Tls12Mtls => 140,
            Kind::Tls13ServerOnly => 60,
            Kind::Tls12ServerOnly => 20,
            Kind::Tls13CertRefused => 10,
            Kind::Http => 140,
            Kind::HttpRejected => 10,
            Kind::Probe => 280,
            Kind::Refused => 40,
        }
    }

    /// The verdict mtlscan must give a flow of this kind.
    pub fn verdict(self) -> &'static str {
        match self {
            Kind::Tls13Mtls | Kind::Tls12Mtls => "mtls",
            Kind::Tls13ServerOnly | Kind::Tls12ServerOnly | Kind::Tls13CertRefused => "tls",
            Kind::Http | Kind::HttpRejected => "plaintext",
            Kind::Probe | Kind::Refused => "empty",
        }
    }
}

/// Generates a capture as `cfg` says.
pub fn generate(cfg: &SynthConfig) -> Synth {
    let mut g = Generator::new(cfg);
    g.run();
    let mut expected = Expected::default();
    let mut kinds = Vec::new();
    for (kind, n) in Kind::ALL.iter().zip(g.per_kind) {
        for _ in 0..n {
            expected.add(kind.verdict());
        }
        kinds.push((*kind, n));
    }
    Synth {
        pcap: g.out,
        packets: g.packets,
        flows: g.flows,
        kinds,
        expected,
    }
}

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo) as u64) as usize
    }

    /// Log-uniform in `lo..hi`: many small values, a few large ones, like real message sizes.
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
        let unit = self.below(1 << 24) as f64 / f64::from(1u32 << 24);
        ((a + (b - a) * unit).exp() as usize).clamp(lo, hi - 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Decodes the first certificate of a PEM text to DER.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let text: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode(text.trim())
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:#x}"),
        }
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | value(c);
        }
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The DER certificates the TLS flows present.
struct Pki {
    ca: Vec<u8>,
    servers: [Vec<u8>; 3],
    client: Vec<u8>,
}

impl Pki {
    fn load() -> Pki {
        Pki {
            ca: pem_to_der(CA_PEM),
            servers: [
                pem_to_der(DETAILS_PEM),
                pem_to_der(REVIEWS_PEM),
                pem_to_der(API_PEM),
            ],
            client: pem_to_der(PRODUCTPAGE_PEM),
        }
    }
}

type Addr = ([u8; 4], u16);

/// One packet of a flow; its payload is a range of the sender's stream.
#[derive(Debug, Clone)]
struct Pkt {
    from_server: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    data: Range<usize>,
}

/// A connection, fully scripted when it starts, emitted one packet at a time.
#[derive(Debug)]
struct Flow {
    client: Addr,
    server: Addr,
    /// Bytes sent by the client (0) and the server (1).
    streams: [Vec<u8>; 2],
    pkts: Vec<Pkt>,
    next: usize,
    ip_id: [u16; 2],
}

/// Scripts a connection: TCP handshake, messages split into segments with ACKs, close.
struct Script<'r> {
    rng: &'r mut Rng,
    streams: [Vec<u8>; 2],
    next_seq: [u32; 2],
    pkts: Vec<Pkt>,
    /// The side that owes an ACK for data it received.
    owes_ack: Option<usize>,
}

impl<'r> Script<'r> {
    fn new(rng: &'r mut Rng) -> Script<'r> {
        let isn = [rng.next_u64() as u32, rng.next_u64() as u32];
        Script {
            rng,
            streams: [Vec::new(), Vec::new()],
            next_seq: isn,
            pkts: Vec::new(),
            owes_ack: None,
        }
    }

    fn bare(&mut self, side: usize, flags: u8) {
        let ack = if flags & ACK != 0 {
            self.next_seq[1 - side]
        } else {
            0
        };
        self.pkts.push(Pkt {
            from_server: side == 1,
            flags,
            seq: self.next_seq[side],
            ack,
            data: 0..0,
        });
        if flags & (SYN | FIN) != 0 {
            self.next_seq[side] = self.next_seq[side].wrapping_add(1);
        }
    }

    fn connect(&mut self) {
        self.bare(0, SYN);
        self.bare(1, SYN | ACK);
        self.bare(0, ACK);
    }

    /// Sends `bytes` from `side` (0 client, 1 server) in MSS-sized segments.
    fn send(&mut self, side: usize, bytes: &[u8]) {
        if self.owes_ack == Some(1 - side) {
            // The other side's earlier data is acknowledged before this side speaks again.
        } else if let Some(owing) = self.owes_ack {
            self.bare(owing, ACK);
        }
        self.owes_ack = None;
        let start = self.streams[side].len();
        self.streams[side].extend_from_slice(bytes);
        let end = self.streams[side].len();
        let mut at = start;
        let mut segments = 0;
        while at < end {
            let len = MSS.min(end - at);
            let last = at + len == end;
            let pkt = Pkt {
                from_server: side == 1,
                flags: if last { ACK | PSH } else { ACK },
                seq: self.next_seq[side],
                ack: self.next_seq[1 - side],
                data: at..at + len,
            };
            // Now and then a segment is sent twice (a retransmission).
            if self.rng.chance(3) {
                self.pkts.push(pkt.clone());
            }
            self.pkts.push(pkt);
            self.next_seq[side] = self.next_seq[side].wrapping_add(len as u32);
            at += len;
            segments += 1;
            if segments % 2 == 0 && !last {
                self.bare(1 - side, ACK);
            }
        }
        self.owes_ack = Some(1 - side);
    }

    /// Orderly close started by `side`.
    fn close(&mut self, side: usize) {
        self.owes_ack = None;
        self.bare(side, FIN | ACK);
        self.bare(1 - side, FIN | ACK);
        self.bare(side, ACK);
    }

    /// `side` resets the connection.
    fn reset(&mut self, side: usize) {
        self.owes_ack = None;
        self.bare(side, RST | ACK);
    }

    fn into_flow(self, client: Addr, server: Addr) -> Flow {
        Flow {
            client,
            server,
            streams: self.streams,
            pkts: self.pkts,
            next: 0,
            ip_id: [0, 0],
        }
    }
}

/// TLS records and messages.
mod tls {
    use super::Rng;

    pub const CCS: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    /// TLS_AES_256_GCM_SHA384, OpenSSL's first choice.
    pub const TLS13_SUITE: u16 = 0x1302;
    /// TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384.
    pub const TLS12_SUITE: u16 = 0xc02c;
    /// AEAD tag of the GCM suites.
    pub const TAG: usize = 16;
    /// Finished of a SHA-384 suite: 4 + 48.
    pub const FINISHED_13: usize = 52;

    fn u16be(out: &mut Vec<u8>, v: usize) {
        out.extend_from_slice(&(v as u16).to_be_bytes());
    }

    fn u24be(out: &mut Vec<u8>, v: usize) {
        out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
    }

    /// Appends a record of type `ct`.
    pub fn record(out: &mut Vec<u8>, ct: u8, version: u16, body: &[u8]) {
        out.push(ct);
        out.extend_from_slice(&version.to_be_bytes());
        u16be(out, body.len());
        out.extend_from_slice(body);
    }

    /// A handshake message.
    pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        u24be(&mut m, body.len());
        m.extend_from_slice(body);
        m
    }

    /// An encrypted record whose plaintext was `inner` bytes (content type included): random
    /// ciphertext of the size a GCM suite gives, in an outer application_data record (1.3).
    pub fn sealed13(out: &mut Vec<u8>, rng: &mut Rng, inner: usize) {
        let body = rng.bytes(inner + TAG);
        record(out, APPLICATION_DATA, 0x0303, &body);
    }

    /// A TLS 1.2 GCM record: explicit nonce, ciphertext, tag.
    pub fn sealed12(out: &mut Vec<u8>, rng: &mut Rng, ct: u8, plain: usize) {
        let body = rng.bytes(8 + plain + TAG);
        record(out, ct, 0x0303, &body);
    }

    fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        u16be(out, body.len());
        out.extend_from_slice(body);
    }

    fn alpn_list(protocols: &[&str]) -> Vec<u8> {
        let mut list = Vec::new();
        for p in protocols {
            list.push(p.len() as u8);
            list.extend_from_slice(p.as_bytes());
        }
        let mut body = Vec::new();
        u16be(&mut body, list.len());
        body.extend_from_slice(&list);
        body
    }

    /// A ClientHello record as OpenSSL 3 sends it (TLS 1.3 capable unless `tls12_only`).
    pub fn client_hello(
        rng: &mut Rng,
        sni: Option<&str>,
        alpn: &[&str],
        tls12_only: bool,
    ) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&rng.bytes(32));
        body.push(32);
        body.extend_from_slice(&rng.bytes(32));
        let suites: &[u16] = if tls12_only {
            &[
                0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc02b, 0xc02f, 0x009f, 0x009e, 0x00ff,
            ]
        } else {
            &[
                0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc02b, 0xc02f, 0x00ff,
            ]
        };
        u16be(&mut body, suites.len() * 2);
        for s in suites {
            body.extend_from_slice(&s.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut ext = Vec::new();
        if let Some(name) = sni {
            let mut sn = Vec::new();
            u16be(&mut sn, name.len() + 3);
            sn.push(0);
            u16be(&mut sn, name.len());
            sn.extend_from_slice(name.as_bytes());
            extension(&mut ext, 0, &sn);
        }
        extension(&mut ext, 11, &[3, 0, 1, 2]);
        extension(&mut ext, 10, &[0, 8, 0, 0x1d, 0, 0x17, 0, 0x1e, 0, 0x18]);
        extension(&mut ext, 35, &[]);
        if !alpn.is_empty() {
            extension(&mut ext, 16, &alpn_list(alpn));
        }
        extension(&mut ext, 22, &[]);
        extension(&mut ext, 23, &[]);
        extension(&mut ext, 13, &[0, 12, 4, 3, 5, 3, 8, 4, 8, 5, 4, 1, 5, 1]);
        if !tls12_only {
            extension(&mut ext, 43, &[4, 3, 4, 3, 3]);
            extension(&mut ext, 45, &[1, 1]);
            let mut ks = Vec::new();
            u16be(&mut ks, 36);
            ks.extend_from_slice(&[0, 0x1d, 0, 32]);
            ks.extend_from_slice(&rng.bytes(32));
            extension(&mut ext, 51, &ks);
        }
        u16be(&mut body, ext.len());
        body.extend_from_slice(&ext);
        let mut out = Vec::new();
        record(&mut out, HANDSHAKE, 0x0301, &message(1, &body));
        out
    }

    /// A TLS 1.3 ServerHello record (supported_versions and an x25519 key share).
    pub fn server_hello13(rng: &mut Rng) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&rng.bytes(32));
        body.push(32);
        body.extend_from_slice(&rng.bytes(32));
        body.extend_from_slice(&TLS13_SUITE.to_be_bytes());
        body.push(0);
        let mut ext = Vec::new();
        extension(&mut ext, 43, &[3, 4]);
        let mut ks = vec![0, 0x1d, 0, 32];
        ks.extend_from_slice(&rng.bytes(32));
        extension(&mut ext, 51, &ks);
        u16be(&mut body, ext.len());
        body.extend_from_slice(&ext);
        let mut out = Vec::new();
        record(&mut out, HANDSHAKE, 0x0303, &message(2, &body));
        out
    }

    /// A TLS 1.2 ServerHello message selecting `alpn`.
    pub fn server_hello12(rng: &mut Rng, alpn: Option<&str>) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&rng.bytes(32));
        body.push(32);
        body.extend_from_slice(&rng.bytes(32));
        body.extend_from_slice(&TLS12_SUITE.to_be_bytes());
        body.push(0);
        let mut ext = Vec::new();
        extension(&mut ext, 0xff01, &[0]);
        extension(&mut ext, 11, &[3, 0, 1, 2]);
        extension(&mut ext, 35, &[]);
        extension(&mut ext, 23, &[]);
        if let Some(p) = alpn {
            extension(&mut ext, 16, &alpn_list(&[p]));
        }
        u16be(&mut body, ext.len());
        body.extend_from_slice(&ext);
        message(2, &body)
    }

    /// A TLS 1.2 Certificate message with `chain`.
    pub fn certificate12(chain: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for der in chain {
            u24be(&mut list, der.len());
            list.extend_from_slice(der);
        }
        let mut body = Vec::new();
        u24be(&mut body, list.len());
        body.extend_from_slice(&list);
        message(11, &body)
    }

    /// The inner size of a TLS 1.3 Certificate message with `chain` (no extensions).
    pub fn certificate13_len(chain: &[&[u8]]) -> usize {
        4 + 1 + 3 + chain.iter().map(|c| 3 + c.len() + 2).sum::<usize>()
    }

    /// ServerKeyExchange for x25519 signed with ECDSA P-256 (a 71-byte DER signature).
    pub fn server_key_exchange(rng: &mut Rng) -> Vec<u8> {
        let mut body = vec![3, 0, 0x1d, 32];
        body.extend_from_slice(&rng.bytes(32));
        body.extend_from_slice(&[4, 3, 0, 71]);
        body.extend_from_slice(&ecdsa_signature(rng));
        message(12, &body)
    }

    /// CertificateRequest asking for ECDSA or RSA certificates, any CA.
    pub fn certificate_request12() -> Vec<u8> {
        message(13, &[2, 1, 64, 0, 6, 4, 3, 8, 4, 4, 1, 0, 0])
    }

    pub fn client_key_exchange(rng: &mut Rng) -> Vec<u8> {
        let mut body = vec![32];
        body.extend_from_slice(&rng.bytes(32));
        message(16, &body)
    }

    pub fn certificate_verify12(rng: &mut Rng) -> Vec<u8> {
        let mut body = vec![4, 3, 0, 71];
        body.extend_from_slice(&ecdsa_signature(rng));
        message(15, &body)
    }

    /// A DER ECDSA-Sig-Value of 71 bytes with random integers.
    fn ecdsa_signature(rng: &mut Rng) -> Vec<u8> {
        let mut sig = vec![0x30, 69, 0x02, 33, 0x00];
        let mut r = rng.bytes(32);
        r[0] |= 0x80;
        sig.extend_from_slice(&r);
        sig.extend_from_slice(&[0x02, 32]);
        let mut s = rng.bytes(32);
        s[0] &= 0x7f;
        s[0] |= 0x01;
        sig.extend_from_slice(&s);
        sig
    }
}

/// Service names and the Istio SNI and ALPN of each.
const SERVICES: [(&str, u16); 6] = [
    ("details", 9080),
    ("reviews", 9080),
    ("ratings", 9080),
    ("productpage", 9080),
    ("api", 8443),
    ("payments", 7070),
];

/// Text that response bodies are cut from.
const BODY_TEXT: &str =
    "{\"id\":0,\"author\":\"William Shakespeare\",\"year\":1595,\"type\":\"paperback\",\
\"pages\":200,\"publisher\":\"PublisherA\",\"language\":\"English\",\"ISBN-10\":\"1234567890\",\
\"ISBN-13\":\"123-1234567890\",\"reviews\":[{\"reviewer\":\"Reviewer1\",\"text\":\"An extremely \
entertaining play by Shakespeare. The slapstick humour is refreshing!\"},{\"reviewer\":\
\"Reviewer2\",\"text\":\"Absolutely fun and entertaining. The play lacks thematic depth when \
compared to other plays by Shakespeare.\"}]}\n";

struct Generator {
    rng: Rng,
    pki: Pki,
    cfg: SynthConfig,
    out: Vec<u8>,
    packets: u64,
    flows: u64,
    per_kind: [u64; 9],
    clock_micros: u64,
}

impl Generator {
    fn new(cfg: &SynthConfig) -> Generator {
        let mut out = Vec::with_capacity(cfg.target_bytes + (4 << 20));
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&262_144u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        Generator {
            rng: Rng::new(cfg.seed),
            pki: Pki::load(),
            cfg: cfg.clone(),
            out,
            packets: 0,
            flows: 0,
            per_kind: [0; 9],
            clock_micros: START_SECS * 1_000_000,
        }
    }

    fn run(&mut self) {
        let mut active: Vec<Flow> = Vec::with_capacity(self.cfg.concurrency);
        loop {
            while active.len() < self.cfg.concurrency.max(1)
                && self.out.len() < self.cfg.target_bytes
            {
                let flow = self.new_flow();
                active.push(flow);
            }
            if active.is_empty() {
                break;
            }
            let i = self.rng.below(active.len() as u64) as usize;
            self.clock_micros += self.rng.range(1, 24) as u64;
            if self.emit(&mut active[i]) {
                active.swap_remove(i);
            }
        }
    }

    fn pick_kind(&mut self) -> (usize, Kind) {
        let mut x = self.rng.below(1000);
        for (i, kind) in Kind::ALL.iter().enumerate() {
            if x < kind.weight() {
                return (i, *kind);
            }
            x -= kind.weight();
        }
        (Kind::ALL.len() - 1, Kind::Refused)
    }

    fn new_flow(&mut self) -> Flow {
        let n = self.flows;
        self.flows += 1;
        let (index, kind) = self.pick_kind();
        self.per_kind[index] += 1;
        let pod = (n % 4096) as u16;
        let client = (
            [10, 244, (pod >> 8) as u8, (pod & 0xff) as u8],
            32768 + ((n / 4096) % 28000) as u16,
        );
        let service = self.rng.below(SERVICES.len() as u64) as usize;
        let (name, port) = SERVICES[service];
        let replica = self.rng.below(3) as u8;
        let port = match kind {
            Kind::Probe => 15021,
            Kind::Http | Kind::HttpRejected if service % 2 == 0 => 8080,
            _ => port,
        };
        let server = ([10, 245, service as u8, 10 + replica], port);
        let mut rng = Rng::new(self.rng.next_u64());
        let mut s = Script::new(&mut rng);
        match kind {
            Kind::Tls13Mtls => tls13_flow(&mut s, &self.pki, name, port, Tls13Client::Certificate),
            Kind::Tls13ServerOnly => {
                tls13_flow(&mut s, &self.pki, name, port, Tls13Client::NotAsked)
            }
            Kind::Tls13CertRefused => {
                tls13_flow(&mut s, &self.pki, name, port, Tls13Client::Refused)
            }
            Kind::Tls12Mtls => tls12_flow(&mut s, &self.pki, name, port, true),
            Kind::Tls12ServerOnly => tls12_flow(&mut s, &self.pki, name, port, false),
            Kind::Http => http_flow(&mut s, name, port),
            Kind::HttpRejected => {
                s.connect();
                let req = http_request(s.rng, name, port, false);
                s.send(0, &req);
                s.reset(1);
            }
            Kind::Probe => {
                s.connect();
                s.close(0);
            }
            Kind::Refused => {
                s.bare(0, SYN);
                s.reset(1);
            }
        }
        s.into_flow(client, server)
    }

    /// Writes the flow's next packet; true when it was the last.
    fn emit(&mut self, flow: &mut Flow) -> bool {
        let Some(pkt) = flow.pkts.get(flow.next).cloned() else {
            return true;
        };
        flow.next += 1;
        let side = usize::from(pkt.from_server);
        let (src, dst) = if pkt.from_server {
            (flow.server, flow.client)
        } else {
            (flow.client, flow.server)
        };
        let payload = &flow.streams[side][pkt.data.clone()];
        let syn = pkt.flags & SYN != 0;
        let tcp_len = if syn { 40 } else { 32 };
        let ip_len = 20 + tcp_len + payload.len();
        let frame_len = 14 + ip_len;
        let secs = self.clock_micros / 1_000_000;
        let micros = self.clock_micros % 1_000_000;
        let out = &mut self.out;
        out.extend_from_slice(&(secs as u32).to_le_bytes());
        out.extend_from_slice(&(micros as u32).to_le_bytes());
        out.extend_from_slice(&(frame_len as u32).to_le_bytes());
        out.extend_from_slice(&(frame_len as u32).to_le_bytes());
        // Ethernet: MACs derived from the addresses.
        out.extend_from_slice(&[0x0a, 0x58, dst.0[0], dst.0[1], dst.0[2], dst.0[3]]);
        out.extend_from_slice(&[0x0a, 0x58, src.0[0], src.0[1], src.0[2], src.0[3]]);
        out.extend_from_slice(&[0x08, 0x00]);
        // IPv4, DF, TTL 64.
        let ip_start = out.len();
        let id = flow.ip_id[side];
        flow.ip_id[side] = id.wrapping_add(1);
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&(ip_len as u16).to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
        out.extend_from_slice(&src.0);
        out.extend_from_slice(&dst.0);
        let sum = checksum(0, &out[ip_start..ip_start + 20]);
        out[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
        // TCP with timestamps (and MSS, SACK, window scale on SYNs).
        let tcp_start = out.len();
        out.extend_from_slice(&src.1.to_be_bytes());
        out.extend_from_slice(&dst.1.to_be_bytes());
        out.extend_from_slice(&pkt.seq.to_be_bytes());
        out.extend_from_slice(&pkt.ack.to_be_bytes());
        out.push(((tcp_len / 4) as u8) << 4);
        out.push(pkt.flags);
        out.extend_from_slice(&if syn { 64240u16 } else { 502 }.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        let tsval = (self.clock_micros / 1000) as u32;
        if syn {
            out.extend_from_slice(&[2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
            out.extend_from_slice(&tsval.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&[1, 3, 3, 7]);
        } else {
            out.extend_from_slice(&[1, 1, 8, 10]);
            out.extend_from_slice(&tsval.to_be_bytes());
            out.extend_from_slice(&tsval.wrapping_sub(1).to_be_bytes());
        }
        out.extend_from_slice(payload);
        let tcp_total = tcp_len + payload.len();
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&src.0);
        pseudo[4..8].copy_from_slice(&dst.0);
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&(tcp_total as u16).to_be_bytes());
        let sum = checksum(sum_words(0, &pseudo), &out[tcp_start..]);
        out[tcp_start + 16..tcp_start + 18].copy_from_slice(&sum.to_be_bytes());
        self.packets += 1;
        flow.next >= flow.pkts.len()
    }
}

fn sum_words(mut acc: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// The Internet checksum of `bytes`, starting from a partial sum.
fn checksum(start: u64, bytes: &[u8]) -> u16 {
    let mut acc = sum_words(start, bytes);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// What the client of a TLS 1.3 flow does about certificates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tls13Client {
    /// The server asks, the client sends its certificate (mesh mTLS).
    Certificate,
    /// The server does not ask (server-only TLS).
    NotAsked,
    /// The server asks, the client has none: empty Certificate, the server rejects it.
    Refused,
}

fn istio_sni(name: &str, port: u16) -> String {
    format!("outbound_.{port}_._.{name}.bookinfo.svc.cluster.local")
}

/// A TLS 1.3 connection with OpenSSL's record layout.
fn tls13_flow(s: &mut Script<'_>, pki: &Pki, name: &str, port: u16, client: Tls13Client) {
    use tls::*;
    s.connect();
    let mesh = client != Tls13Client::NotAsked;
    let sni = if mesh {
        istio_sni(name, port)
    } else {
        format!("{name}.example.internal")
    };
    let alpn: &[&str] = if mesh {
        &["istio-http/1.1", "istio", "http/1.1"]
    } else {
        &["h2", "http/1.1"]
    };
    let hello = client_hello(s.rng, Some(&sni), alpn, false);
    s.send(0, &hello);
    let server_leaf = &pki.servers[s.rng.below(3) as usize];
    let mut flight = server_hello13(s.rng);
    record(&mut flight, CCS, 0x0303, &[1]);
    // EncryptedExtensions with the selected ALPN.
    sealed13(&mut flight, s.rng, 4 + 2 + 4 + 2 + 1 + 8 + 1);
    if mesh {
        // CertificateRequest with signature_algorithms.
        sealed13(&mut flight, s.rng, 79);
    }
    sealed13(
        &mut flight,
        s.rng,
        certificate13_len(&[server_leaf.as_slice(), pki.ca.as_slice()]) + 1,
    );
    sealed13(&mut flight, s.rng, 4 + 4 + 71 + 1);
    sealed13(&mut flight, s.rng, FINISHED_13 + 1);
    s.send(1, &flight);
    let mut answer = Vec::new();
    record(&mut answer, CCS, 0x0303, &[1]);
    match client {
        Tls13Client::Certificate => {
            sealed13(
                &mut answer,
                s.rng,
                certificate13_len(&[pki.client.as_slice(), pki.ca.as_slice()]) + 1,
            );
            sealed13(&mut answer, s.rng, 4 + 4 + 72 + 1);
        }
        Tls13Client::Refused => sealed13(&mut answer, s.rng, 8 + 1),
        Tls13Client::NotAsked => {}
    }
    sealed13(&mut answer, s.rng, FINISHED_13 + 1);
    if client == Tls13Client::Refused {
        s.send(0, &answer);
        // certificate_required alert, then the server drops the connection.
        let mut alert = Vec::new();
        sealed13(&mut alert, s.rng, 2 + 1);
        s.send(1, &alert);
        s.reset(1);
        return;
    }
    // The first request rides with the client's Finished.
    let exchanges = s.rng.range(1, 4);
    let mut first = true;
    for _ in 0..exchanges {
        let mut request = if first {
            std::mem::take(&mut answer)
        } else {
            Vec::new()
        };
        let len = s.rng.log_range(120, 2000);
        sealed13(&mut request, s.rng, len + 1);
        s.send(0, &request);
        let mut response = Vec::new();
        if first {
            // Two session tickets, larger when they hold the client's certificate.
            let ticket = if mesh { 713 } else { 233 };
            sealed13(&mut response, s.rng, ticket + 1);
            sealed13(&mut response, s.rng, ticket + 1);
            first = false;
        }
        let mut left = s.rng.log_range(200, 24_000);
        while left > 0 {
            let n = left.min(MAX_FRAGMENT);
            sealed13(&mut response, s.rng, n + 1);
            left -= n;
        }
        s.send(1, &response);
    }
    let mut bye = Vec::new();
    sealed13(&mut bye, s.rng, 2 + 1);
    s.send(0, &bye);
    let mut bye = Vec::new();
    sealed13(&mut bye, s.rng, 2 + 1);
    s.send(1, &bye);
    s.close(0);
}

/// A TLS 1.2 connection with a full handshake in the clear.
fn tls12_flow(s: &mut Script<'_>, pki: &Pki, name: &str, port: u16, mutual: bool) {
    use tls::*;
    s.connect();
    let (sni, alpn): (String, &[&str]) = if mutual {
        (istio_sni(name, port), &["istio-peer-exchange", "istio"])
    } else {
        (format!("{name}.example.internal"), &["http/1.1"])
    };
    let hello = client_hello(s.rng, Some(&sni), alpn, true);
    s.send(0, &hello);
    let server_leaf = &pki.servers[s.rng.below(3) as usize];
    let mut flight = Vec::new();
    record(
        &mut flight,
        HANDSHAKE,
        0x0303,
        &server_hello12(s.rng, alpn.first().copied()),
    );
    record(
        &mut flight,
        HANDSHAKE,
        0x0303,
        &certificate12(&[server_leaf.as_slice(), pki.ca.as_slice()]),
    );
    record(&mut flight, HANDSHAKE, 0x0303, &server_key_exchange(s.rng));
    if mutual {
        record(&mut flight, HANDSHAKE, 0x0303, &certificate_request12());
    }
    record(&mut flight, HANDSHAKE, 0x0303, &message(14, &[]));
    s.send(1, &flight);
    let mut answer = Vec::new();
    if mutual {
        record(
            &mut answer,
            HANDSHAKE,
            0x0303,
            &certificate12(&[pki.client.as_slice(), pki.ca.as_slice()]),
        );
    }
    record(&mut answer, HANDSHAKE, 0x0303, &client_key_exchange(s.rng));
    if mutual {
        record(&mut answer, HANDSHAKE, 0x0303, &certificate_verify12(s.rng));
    }
    record(&mut answer, CCS, 0x0303, &[1]);
    sealed12(&mut answer, s.rng, HANDSHAKE, 16);
    s.send(0, &answer);
    let mut finish = Vec::new();
    record(&mut finish, CCS, 0x0303, &[1]);
    sealed12(&mut finish, s.rng, HANDSHAKE, 16);
    s.send(1, &finish);
    for _ in 0..s.rng.range(1, 4) {
        let mut request = Vec::new();
        let len = s.rng.log_range(120, 2000);
        sealed12(&mut request, s.rng, APPLICATION_DATA, len);
        s.send(0, &request);
        let mut response = Vec::new();
        let mut left = s.rng.log_range(200, 24_000);
        while left > 0 {
            let n = left.min(MAX_FRAGMENT);
            sealed12(&mut response, s.rng, APPLICATION_DATA, n);
            left -= n;
        }
        s.send(1, &response);
    }
    let mut bye = Vec::new();
    sealed12(&mut bye, s.rng, ALERT, 2);
    s.send(0, &bye);
    s.close(0);
}

fn http_request(rng: &mut Rng, name: &str, port: u16, credentials: bool) -> Vec<u8> {
    let id = rng.below(10_000);
    let mut req = if rng.chance(200) {
        let body = &BODY_TEXT[..rng.range(20, BODY_TEXT.len())];
        format!(
            "POST /{name}/v1/items HTTP/1.1\r\nHost: {name}:{port}\r\nUser-Agent: Go-http-client/1.1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ) + if credentials { "Authorization: Bearer c2VjcmV0LXRva2VuLXZhbHVl\r\n" } else { "" }
            + "\r\n"
            + body
    } else {
        format!(
            "GET /{name}/{id}?u=normal HTTP/1.1\r\nHost: {name}:{port}\r\nUser-Agent: curl/7.88.1\r\n\
             Accept: */*\r\nx-request-id: {:016x}\r\n",
            rng.next_u64()
        ) + if credentials { "Cookie: session=0123456789abcdef\r\n" } else { "" }
            + "\r\n"
    };
    req.shrink_to_fit();
    req.into_bytes()
}

/// Plaintext HTTP/1.1 with keep-alive: several requests on one connection.
fn http_flow(s: &mut Script<'_>, name: &str, port: u16) {
    s.connect();
    let credentials = s.rng.chance(300);
    for _ in 0..s.rng.range(1, 5) {
        let req = http_request(s.rng, name, port, credentials);
        s.send(0, &req);
        let len = s.rng.log_range(100, 12_000);
        let mut body = Vec::with_capacity(len);
        while body.len() < len {
            let take = (len - body.len()).min(BODY_TEXT.len());
            body.extend_from_slice(&BODY_TEXT.as_bytes()[..take]);
        }
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\
             date: Tue, 25 Nov 2025 01:00:00 GMT\r\n\r\n"
        )
        .into_bytes();
        resp.extend_from_slice(&body);
        s.send(1, &resp);
    }
    s.close(0);
}
