//! Entry points for the fuzz targets in `fuzz/` and for the hostile-input tests: each takes
//! arbitrary bytes and runs one stage (or the whole pipeline) on them. None may panic, loop
//! without end or allocate without bound, whatever the bytes. Not part of the stable API.

// No panics on hostile input: library code may not unwrap, expect, panic, index unchecked or
// do arithmetic that may overflow (tests may). The fuzz targets' own checks (`assert!`, and one `panic!` allowed where it is) are
// the point: they turn a broken property into a finding.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};

use crate::analyze::{Analysis, FlowFacts, FlowResult};
use crate::capture::{self, Frame, LinkType, ReadLimits};
use crate::classify::{self, plaintext, tls, Context, KeyLog};
use crate::decode::{self, Endpoint, Segment, TcpFlags};
use crate::flow::{Direction, Flow, FlowLimits, FlowTable};
use crate::report::{Document, Format, Policy, Requirement, TableStyle};

/// What [`pipeline`] found: enough to compare runs, nothing borrowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineSummary {
    /// Frames delivered by the capture reader.
    pub frames: u64,
    /// Frames that decoded to a TCP segment.
    pub segments: u64,
    /// Verdict names, one per flow, in flow order.
    pub verdicts: Vec<&'static str>,
    /// The capture reader's warnings (including the flow table's limits when hit).
    pub warnings: Vec<String>,
}

/// Limits small enough that hostile inputs reach them quickly.
fn small_flow_limits() -> FlowLimits {
    FlowLimits {
        max_flows: 64,
        max_buffered_bytes: 1 << 20,
        ..FlowLimits::default()
    }
}

/// Reads `data` as a capture (gzip, pcap or pcapng) both from memory and as a stream refilled a
/// few bytes at a time; both ways must deliver the same frames and the same outcome.
#[allow(clippy::panic)] // a disagreement is a finding
pub fn capture(data: &[u8]) {
    let limits = ReadLimits {
        max_decompressed_bytes: 8 << 20,
    };
    let mut mapped = Vec::new();
    let a = capture::read_capture_bytes("fuzz", data, &limits, |f| {
        mapped.push((f.number, f.link, f.data.len()))
    });
    let mut streamed = Vec::new();
    let mut input = Trickle { data, step: 7 };
    let b = capture::read_capture_stream("fuzz", &mut input, &limits, |f| {
        streamed.push((f.number, f.link, f.data.len()))
    });
    // Damaged gzip data yields a little more or less before the damage depending on how the
    // decoder was fed: only uncompressed captures must read alike both ways.
    if data.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    match (&a, &b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x.packets, y.packets, "map and stream count packets alike");
            assert_eq!(x.truncated, y.truncated, "map and stream agree on a cut");
        }
        (Err(_), Err(_)) => {}
        // A read error of an empty input differs (the map path checks the length first).
        _ if data.is_empty() => {}
        _ => panic!("map and stream disagree: {a:?} vs {b:?}"),
    }
    assert_eq!(mapped, streamed, "map and stream deliver the same frames");
}

/// Decodes `data` as one frame: the first byte picks the link type.
pub fn decode(data: &[u8]) {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let supported = LinkType::SUPPORTED;
    let link = supported
        .get(usize::from(pick).checked_rem(supported.len()).unwrap_or(0))
        .copied()
        .unwrap_or(LinkType::ETHERNET);
    if let Ok(seg) = decode::decode(link, frame) {
        assert!(seg.payload.len() <= frame.len());
    }
}

/// Entries a [`decode::Defragmenter`]'s bookkeeping may hold (ages of the datagrams pending,
/// datagrams made whole lately, sources counted) after any fragment.
const FRAGMENT_TRACKING_BOUND: usize = 3 * decode::defrag::MAX_PENDING + 1024 + 4096;

/// Reads `data` as IP fragments of a few datagrams and offers them to a [`decode::Defragmenter`]:
/// each fragment is a 6-byte header — datagram (its identification), flags (bit 0: more
/// fragments follow, bit 1: UDP, bit 7: IPv6), offset in 8-byte units (`u16`), payload length,
/// clock (signed: seconds of capture time since the last fragment, by 4) — then its payload.
/// After every fragment the bounds must hold; a datagram made whole must reach past the
/// fragment that completed it, fit in 65,535 bytes and decode without panic.
pub fn fragments(data: &[u8]) {
    let mut defrag = decode::Defragmenter::new();
    let mut rest = data;
    let mut ts = 0i64;
    while let Some((head, tail)) = rest.split_first_chunk::<6>() {
        let [id, flags, o0, o1, len, clock] = *head;
        let take = usize::from(len).min(tail.len());
        let (payload, after) = tail.split_at(take);
        rest = after;
        ts = ts.saturating_add(i64::from(clock as i8).saturating_mul(4_000_000_000));
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let src = if flags & 0x80 == 0 {
            v4
        } else {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        };
        let fragment = decode::Fragment::new(
            decode::FragmentKey {
                src,
                dst: v4,
                id: u32::from(id),
                protocol: if flags & 2 == 0 { 6 } else { 17 },
            },
            u32::from(u16::from_be_bytes([o0, o1])).saturating_mul(8),
            flags & 1 != 0,
            payload,
        );
        if let Some(d) = defrag.offer(&fragment, decode::LinkFacts::default(), 0, ts) {
            assert!(d.payload.len() <= 65_535);
            // The fragment that made it whole lies inside it (a non-final IPv4 fragment may
            // have been cut to a multiple of 8 bytes).
            assert!(d.payload.len() >= fragment.offset as usize);
            let _ = decode::decode_datagram(&d);
        }
        assert!(defrag.pending() <= decode::defrag::MAX_PENDING);
        assert!(defrag.buffered_bytes() <= decode::defrag::MAX_BUFFERED);
        assert!(defrag.tracked() <= FRAGMENT_TRACKING_BOUND);
    }
    let losses = defrag.finish();
    assert_eq!(defrag.pending(), 0);
    assert_eq!(defrag.buffered_bytes(), 0);
    assert!(losses.lost_fragments >= losses.lost_datagrams());
}

/// Reads `data` as a sequence of segments on a handful of connections and feeds them to a flow
/// table with small limits, draining now and then. Each segment is a 7-byte header — direction
/// and connection, flags, sequence offset (`u16`), payload length, payload-missing length — then
/// its payload (bytes of the input). Checks the table's bounds.
pub fn reassembly(data: &[u8]) {
    let limits = FlowLimits {
        prefix_bytes: 512,
        max_flows: 4,
        max_buffered_bytes: 64 << 10,
        ..FlowLimits::default()
    };
    let mut table = FlowTable::new(limits.clone());
    let mut rest = data;
    let mut frame = 0u64;
    let mut flows = Vec::new();
    while let Some((head, tail)) = rest.split_first_chunk::<7>() {
        let [conn, flags, s0, s1, len, missing, base] = *head;
        let take = usize::from(len).min(tail.len());
        let (payload, after) = tail.split_at(take);
        rest = after;
        frame = frame.saturating_add(1);
        let port = 1000 + u16::from(conn & 0x7);
        let (c, s) = (endpoint(1, port), endpoint(2, 443));
        let (src, dst) = if conn & 0x80 == 0 { (c, s) } else { (s, c) };
        let seq = u32::from(base)
            .wrapping_mul(0x0100_0000)
            .wrapping_add(u32::from(u16::from_be_bytes([s0, s1])));
        let seg = Segment {
            transport: crate::decode::Transport::Tcp,
            src,
            dst,
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            payload,
            payload_missing: u32::from(missing),
            loopback_if: false,
            if_index: None,
            ttl: None,
            tcp: &[],
        };
        table.push(frame, i64::try_from(frame).unwrap_or(i64::MAX), &seg);
        assert!(table.len() <= limits.max_flows);
        if frame % 16 == 0 {
            flows.extend(table.drain_closed());
            table.drain_tails();
        }
    }
    flows.extend(table.finish());
    for flow in &flows {
        for dir in &flow.dir {
            assert!(dir.stream.len() <= limits.prefix_bytes);
            assert!(dir.holes.is_sorted());
            assert!(dir.holes.iter().all(|&h| h as usize <= dir.stream.len()));
        }
    }
}

/// Classifies a flow whose two directions are cut from `data`: the first two bytes say where
/// the client's bytes end; a key log may follow a `\n\n--keylog--\n` marker. Runs the TLS
/// analysis (records, handshake, certificates, 1.3 inference, decryption with the key log), the
/// plaintext detectors and the verdict.
pub fn tls(data: &[u8]) {
    let (streams, keylog_text) = split_keylog(data);
    let (keylog, _) = KeyLog::parse_lenient(keylog_text);
    let mut flow = flow_of(streams);
    let _ = tls::analyze(&flow, &keylog);
    let _ = tls::looks_like_tls(flow.dir[0].contiguous());
    classify::orient(&mut flow);
    let ctx = Context { keylog };
    let _ = classify::classify(&flow, &ctx);
}

/// The plaintext detectors (HTTP/1.x, h2c, gRPC, other protocols, redaction) on a flow cut
/// from `data` as in [`tls`].
pub fn plaintext(data: &[u8]) {
    let flow = flow_of(data);
    let _ = plaintext::detect(&flow);
    let _ = plaintext::encrypted_non_tls(&flow);
    let _ = plaintext::looks_like_request(data);
    let _ = plaintext::looks_like_response(data);
}

/// Parses `data` as NSS key log text, leniently and strictly.
pub fn keylog(data: &[u8]) {
    let (log, errors) = KeyLog::parse_lenient(data);
    assert!(errors.len() <= tls::keylog::MAX_LISTED_ERRORS + 1);
    if let Ok(strict) = KeyLog::parse(data) {
        assert_eq!(strict.len(), log.len());
    }
}

/// Reads `data` as a TLS <= 1.2 Certificate message body and as one DER certificate.
pub fn certificates(data: &[u8]) {
    let chain = tls::certs::parse_tls12_chain(data);
    assert!(chain.certs.len() <= tls::certs::MAX_CHAIN);
    let _ = tls::certs::describe(data);
}

/// The whole pipeline on `data` as a capture file: read, decode, reassemble (with small flow
/// limits), orient and classify every flow, with the capture's own key log.
pub fn pipeline(data: &[u8]) -> PipelineSummary {
    pipeline_with(data, small_flow_limits())
}

/// [`pipeline`] with the given flow limits.
pub fn pipeline_with(data: &[u8], limits: FlowLimits) -> PipelineSummary {
    let read_limits = ReadLimits {
        max_decompressed_bytes: 64 << 20,
    };
    let mut summary = PipelineSummary::default();
    let mut table = FlowTable::new(limits.clone());
    let mut udp = crate::flow::udp::UdpTable::new(limits.max_flows, limits.max_buffered_bytes);
    let mut flows = Vec::new();
    let mut defrag = decode::Defragmenter::new();
    let info = capture::read_capture_bytes("fuzz", data, &read_limits, |frame: &Frame<'_>| {
        summary.frames = summary.frames.saturating_add(1);
        let _ = defrag.decode(frame, |seg| {
            summary.segments = summary.segments.saturating_add(1);
            if seg.transport == decode::Transport::Udp {
                udp.push(frame.number, frame.ts_nanos, seg);
            }
            table.push(frame.number, frame.ts_nanos, seg);
            if summary.segments % 1024 == 0 {
                flows.extend(table.drain_closed());
            }
        });
        assert!(defrag.pending() <= decode::defrag::MAX_PENDING);
        assert!(defrag.buffered_bytes() <= decode::defrag::MAX_BUFFERED);
        assert!(defrag.tracked() <= FRAGMENT_TRACKING_BOUND);
    });
    let Ok(info) = info else {
        return summary;
    };
    summary.warnings = info.warnings;
    summary.warnings.extend(defrag.finish().warnings());
    summary.warnings.extend(table.counters().warnings(&limits));
    let (rest, tails) = table.finish_with_tails();
    flows.extend(rest);
    let mut flows = crate::flow::merge_flows([flows]);
    crate::flow::apply_tails(&mut flows, &tails);
    let (keylog, _) = KeyLog::parse_lenient(&info.tls_secrets);
    let ctx = Context { keylog };
    let mut results: Vec<FlowResult> = flows
        .into_iter()
        .map(|mut flow| {
            classify::orient(&mut flow);
            let class = classify::classify(&flow, &ctx);
            FlowResult {
                id: 0,
                capture: 0,
                facts: FlowFacts::of(&flow),
                class,
            }
        })
        .chain(udp.finish().iter().map(|flow| FlowResult {
            id: 0,
            capture: 0,
            facts: FlowFacts::of_udp(flow),
            class: classify::udp::classify(flow),
        }))
        .collect();
    // As the analysis numbers them: first seen first.
    results.sort_by_key(|r| r.facts.first_frame);
    for (i, r) in results.iter_mut().enumerate() {
        r.id = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
    }
    // What flows prove about each other, and the mesh view with forwarded identities.
    crate::proof::apply(&mut results);
    let analysis = Analysis {
        captures: Vec::new(),
        flows: results,
    };
    let meshed = crate::mesh::Meshed::new(analysis, Some(crate::mesh::MeshRequest::Auto));
    summary.verdicts = meshed
        .analysis
        .flows
        .iter()
        .map(|f| f.class.verdict.name())
        .collect();
    // Every report format renders whatever the flows hold.
    let policy = Policy {
        require: Some(Requirement::Mtls),
        allow: Vec::new(),
    };
    let names = crate::names::Names::default();
    let doc = Document::build(&meshed, &policy, &names);
    for format in [
        Format::Table,
        Format::Json,
        Format::Jsonl,
        Format::Junit,
        Format::Html,
    ] {
        let written = crate::report::write(&doc, format, &mut io::sink(), TableStyle::default());
        assert!(written.is_ok(), "{format:?}: {written:?}");
    }
    live(data, limits);
    summary
}

/// The bytes as a capture still being written (`--follow`): the live outputs, then the
/// summary. Whatever the bytes, the run ends and reports.
fn live(data: &[u8], limits: FlowLimits) {
    use crate::live::{Follower, LiveOptions, LiveSink};
    use crate::report::live::LiveTable;
    use crate::report::JsonlExporter;
    let opts = LiveOptions {
        limits,
        mesh: Some(crate::mesh::MeshRequest::Auto),
        policy: Policy {
            require: Some(Requirement::Encrypted),
            allow: Vec::new(),
        },
        max_empty_flows: 16,
        ..LiveOptions::default()
    };
    let sinks: Vec<LiveSink> = vec![
        Box::new(JsonlExporter::live(io::sink())),
        Box::new(LiveTable::new(io::sink(), TableStyle::default(), true)),
    ];
    let mut follower = Follower::new(opts, "fuzz".to_string(), sinks);
    let read_limits = ReadLimits {
        max_decompressed_bytes: 64 << 20,
    };
    let mut input = data;
    let read = capture::ReadOptions::default();
    if let Ok(info) =
        capture::read_stream_into("fuzz", &mut input, &read, &read_limits, &mut follower)
    {
        let finished = follower.finish(info, false);
        assert!(finished.is_ok(), "{finished:?}");
    }
}

/// Reads `data` as the value of a client-identity header (`x-forwarded-client-cert`,
/// `l5d-client-id`) and as the start of a client's HTTP/1.x stream whose requests may carry one.
pub fn forwarded(data: &[u8]) {
    for name in ["x-forwarded-client-cert", "l5d-client-id"] {
        if let Some(f) = plaintext::forwarded::from_field(name, data, 0) {
            assert!(!f.identity.is_empty());
        }
    }
    let found = plaintext::forwarded::http1_requests(data);
    assert!(found
        .windows(2)
        .all(|w| w.first().map(|f| f.offset) < w.get(1).map(|f| f.offset)));
    let _ = plaintext::forwarded::summarize(&found, |o| u64::try_from(o).ok());
}

/// Splits fuzz input at the key log marker.
fn split_keylog(data: &[u8]) -> (&[u8], &[u8]) {
    const MARK: &[u8] = b"\n\n--keylog--\n";
    match data.windows(MARK.len()).position(|w| w == MARK) {
        Some(at) => (
            data.get(..at).unwrap_or_default(),
            data.get(at.saturating_add(MARK.len())..)
                .unwrap_or_default(),
        ),
        None => (data, &[]),
    }
}

/// A flow from 10.0.0.1:40000 to 10.0.0.2:443 whose streams are cut from `data`: the first two
/// bytes (big-endian) say how many of the rest the client sent.
fn flow_of(data: &[u8]) -> Flow {
    let (split, body) = match data.split_first_chunk::<2>() {
        Some((head, body)) => (usize::from(u16::from_be_bytes(*head)), body),
        None => (0, data),
    };
    let (c, s) = body.split_at(split.min(body.len()));
    let dir = |bytes: &[u8], frame: u64| Direction {
        packets: 1,
        payload_bytes: bytes.len() as u64,
        stream: bytes.to_vec(),
        frames: if bytes.is_empty() {
            Vec::new()
        } else {
            vec![(0, frame)]
        },
        first_payload_frame: (!bytes.is_empty()).then_some(frame),
        ..Direction::default()
    };
    Flow {
        a: endpoint(1, 40000),
        b: endpoint(2, 443),
        client_by: crate::flow::ClientBy::FirstSeen,
        dir: [dir(c, 4), dir(s, 5)],
        first_frame: 1,
        last_frame: 6,
        first_ts: 0,
        last_ts: 1,
        syn_seen: false,
        loopback_if: false,
        reopens: None,
    }
}

fn endpoint(host: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        port,
    }
}

/// A reader that hands out at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(out.len()).min(self.data.len());
        let (now, later) = self.data.split_at(n);
        out.get_mut(..n).unwrap_or_default().copy_from_slice(now);
        self.data = later;
        Ok(n)
    }
}

/// Names of the fuzz targets, as in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 10] = [
    "capture",
    "decode",
    "reassembly",
    "tls",
    "plaintext",
    "keylog",
    "certificates",
    "pipeline",
    "fragments",
    "forwarded",
];

/// Payload bytes of one fragment in a [`fragments`] seed (a multiple of 8 that fits its `u8`
/// length).
const FRAGMENT_SEED_PIECE: usize = 248;

/// Appends one fragment in the [`fragments`] format (`offset` in 8-byte units).
fn encode_fragment(out: &mut Vec<u8>, id: u8, more: bool, offset: usize, payload: &[u8]) {
    let offset = u16::try_from(offset).unwrap_or(u16::MAX).to_be_bytes();
    let len = u8::try_from(payload.len()).unwrap_or(u8::MAX);
    out.extend_from_slice(&[id, u8::from(more), offset[0], offset[1], len, 0]);
    out.extend_from_slice(payload.get(..usize::from(len)).unwrap_or(payload));
}

/// Largest seed written for a whole capture (fuzzing is faster on small inputs).
const MAX_CAPTURE_SEED: usize = 64 << 10;

/// Largest stream written per direction into a flow seed.
const MAX_STREAM_SEED: usize = 16 << 10;

/// Seed inputs for the fuzz targets cut from a real capture: the capture itself (its start, when
/// large), its first frames, its segments in the [`reassembly`] format, its flows' streams in the
/// [`tls`] / [`plaintext`] format (with the capture's own key log), and that key log.
pub fn seeds(capture: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    seeds_with_keys(capture, &[])
}

/// [`seeds`], the flows' streams given `keylog` (the capture's companion key log) beside the
/// capture's own secrets; every client stream is also a [`forwarded`] seed.
pub fn seeds_with_keys(capture: &[u8], keylog: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let head = capture.get(..MAX_CAPTURE_SEED).unwrap_or(capture).to_vec();
    out.push(("capture", head.clone()));
    out.push(("pipeline", head));
    let mut table = FlowTable::new(FlowLimits::default());
    let mut segments = Vec::new();
    let mut fragments = Vec::new();
    let info = capture::read_capture_bytes("seed", capture, &ReadLimits::default(), |frame| {
        if frame.number <= 32 {
            let pick = LinkType::SUPPORTED
                .iter()
                .position(|&l| l == frame.link)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(0);
            let mut seed = vec![pick];
            seed.extend_from_slice(frame.data);
            out.push(("decode", seed));
        }
        match decode::decode_frame(frame.link, frame.data) {
            Ok(decode::Decoded::Segment(seg)) => {
                table.push(frame.number, frame.ts_nanos, &seg);
                if segments.len() < 4096 {
                    encode_segment(&mut segments, &seg);
                }
                if fragments.len() < 4096 {
                    // The segment's payload cut into fragments, the last one first.
                    let id = u8::try_from(frame.number % 16).unwrap_or(0);
                    let pieces: Vec<_> = seg.payload.chunks(FRAGMENT_SEED_PIECE).collect();
                    let last = pieces.len().saturating_sub(1);
                    for (i, piece) in pieces.iter().enumerate().rev() {
                        let offset = i.saturating_mul(FRAGMENT_SEED_PIECE / 8);
                        encode_fragment(&mut fragments, id, i != last, offset, piece);
                    }
                }
            }
            Ok(decode::Decoded::Fragment(f, _)) if fragments.len() < 4096 => {
                let id = u8::try_from(f.key.id % 16).unwrap_or(0);
                let pieces: Vec<_> = f.data().chunks(FRAGMENT_SEED_PIECE).collect();
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.iter().enumerate() {
                    let offset = i
                        .saturating_mul(FRAGMENT_SEED_PIECE / 8)
                        .saturating_add((f.offset / 8) as usize);
                    encode_fragment(&mut fragments, id, f.more || i != last, offset, piece);
                }
            }
            _ => {}
        }
    });
    if !segments.is_empty() {
        out.push(("reassembly", segments));
    }
    if !fragments.is_empty() {
        out.push(("fragments", fragments));
    }
    let mut secrets = info.map(|i| i.tls_secrets).unwrap_or_default();
    if !keylog.is_empty() {
        secrets.push(b'\n');
        secrets.extend_from_slice(keylog);
    }
    if !secrets.is_empty() {
        out.push(("keylog", secrets.clone()));
    }
    for flow in table.finish().into_iter().take(16) {
        let [c, s] = &flow.dir;
        let c = c.stream.get(..MAX_STREAM_SEED).unwrap_or(&c.stream);
        let s = s.stream.get(..MAX_STREAM_SEED).unwrap_or(&s.stream);
        if c.is_empty() && s.is_empty() {
            continue;
        }
        let mut seed = u16::try_from(c.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes()
            .to_vec();
        seed.extend_from_slice(c);
        seed.extend_from_slice(s);
        out.push(("plaintext", seed.clone()));
        out.push(("forwarded", c.to_vec()));
        if !secrets.is_empty() {
            seed.extend_from_slice(b"\n\n--keylog--\n");
            seed.extend_from_slice(&secrets);
        }
        out.push(("tls", seed));
    }
    out
}

/// A certificates seed: one DER certificate as a TLS <= 1.2 Certificate message body.
pub fn certificate_seed(der: &[u8]) -> Vec<u8> {
    let len = |n: usize| {
        let n = u32::try_from(n).unwrap_or(0).to_be_bytes();
        [n[1], n[2], n[3]]
    };
    let mut out = len(der.len().saturating_add(3)).to_vec();
    out.extend_from_slice(&len(der.len()));
    out.extend_from_slice(der);
    out
}

/// Appends `seg` in the [`reassembly`] input format (connection 0, sequence numbers folded).
fn encode_segment(out: &mut Vec<u8>, seg: &Segment<'_>) {
    let dir = if seg.src.port < seg.dst.port { 0x80 } else { 0 };
    let payload = seg.payload.get(..255).unwrap_or(seg.payload);
    let [b0, _, s0, s1] = seg.seq.to_be_bytes();
    let len = u8::try_from(payload.len()).unwrap_or(u8::MAX);
    let missing = u8::try_from(seg.payload_missing).unwrap_or(u8::MAX);
    out.extend_from_slice(&[dir, seg.flags.0, s0, s1, len, missing, b0]);
    out.extend_from_slice(payload);
}
