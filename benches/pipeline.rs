//! Throughput of each pipeline stage on a generated capture (TLS 1.2/1.3 mTLS with real
//! certificates, server-only TLS, plaintext HTTP, probes, resets; many concurrent flows).
//!
//! `cargo bench --bench pipeline` generates the capture once (200 MB; `MTLSCAN_BENCH_MB` sets
//! another size), writes it to a temporary file and measures, in bytes/s and packets/s:
//!
//! - `read`: the record walk of [`mtlscan::capture::read_capture`] (memory map, SHA-256 of the
//!   file on a second thread, as the product reads);
//! - `decode`: the walk plus link/IP/TCP decoding of every frame;
//! - `reassemble`: the walk, decoding and the flow table (closed flows drained as they end);
//! - `classify`: the whole analysis ([`mtlscan::analyze`]) on one thread;
//! - `end_to_end`: the analysis plus the JSON report, written to a sink, on one thread;
//! - `end_to_end_2_threads`: the same with two threads (the sharded driver).
//!
//! As in the binary (`--threads`), the thread count bounds both the shards and the rayon pool
//! that orders the flows and renders the report.
//!
//! Run as a test (`cargo test --benches`), each stage runs once on a 4 MB capture.

#[path = "../tests/common/synth.rs"]
mod synth;

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mtlscan::capture::{read_capture, Input, ReadOptions};
use mtlscan::decode;
use mtlscan::flow::{FlowLimits, FlowTable};
use mtlscan::names::Names;
use mtlscan::report::{self, Document, Format, Policy, TableStyle};
use mtlscan::{analyze, Analysis, AnalysisOptions};

use synth::{generate, SynthConfig};

/// Segments pushed between two drains of closed flows (as the analysis does).
const DRAIN_EVERY: u32 = 4096;

/// The generated capture on disk.
struct Capture {
    _dir: tempfile::TempDir,
    input: Input,
    bytes: u64,
    packets: u64,
}

fn capture() -> Capture {
    let benching = std::env::args().any(|a| a == "--bench");
    let megabytes: usize = match std::env::var("MTLSCAN_BENCH_MB") {
        Ok(mb) => mb
            .parse()
            .expect("MTLSCAN_BENCH_MB is a number of megabytes"),
        Err(_) if benching => 200,
        Err(_) => 4,
    };
    let synth = generate(&SynthConfig::with_size(megabytes * 1_000_000));
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("synthetic.pcap");
    std::fs::write(&path, &synth.pcap).expect("capture is written");
    eprintln!(
        "generated capture: {} bytes, {} packets, {} flows ({:?})",
        synth.pcap.len(),
        synth.packets,
        synth.flows,
        synth.expected
    );
    Capture {
        _dir: dir,
        input: Input::Path(path),
        bytes: synth.pcap.len() as u64,
        packets: synth.packets,
    }
}

fn read_only(input: &Input) -> (u64, usize) {
    let (mut frames, mut bytes) = (0u64, 0usize);
    read_capture(input, &ReadOptions::default(), |frame| {
        frames += 1;
        bytes += frame.data.len();
    })
    .expect("capture reads");
    (frames, bytes)
}

fn decode_only(input: &Input) -> (u64, usize) {
    let (mut segments, mut payload) = (0u64, 0usize);
    read_capture(input, &ReadOptions::default(), |frame| {
        if let Ok(seg) = decode::decode(frame.link, frame.data) {
            segments += 1;
            payload += seg.payload.len();
        }
    })
    .expect("capture reads");
    (segments, payload)
}

fn reassemble(input: &Input) -> usize {
    let mut table = FlowTable::new(FlowLimits::default());
    let mut flows = 0;
    let mut since_drain = 0;
    read_capture(input, &ReadOptions::default(), |frame| {
        if let Ok(seg) = decode::decode(frame.link, frame.data) {
            table.push(frame.number, frame.ts_nanos, &seg);
            since_drain += 1;
            if since_drain >= DRAIN_EVERY {
                since_drain = 0;
                flows += table.drain_closed().len();
                black_box(table.drain_tails());
            }
        }
    })
    .expect("capture reads");
    let (rest, tails) = table.finish_with_tails();
    black_box(tails);
    flows + rest.len()
}

fn analysis(input: &Input, threads: usize) -> Analysis {
    let opts = AnalysisOptions {
        threads: Some(threads),
        ..AnalysisOptions::default()
    };
    analyze(std::slice::from_ref(input), &opts).expect("capture analyses")
}

fn end_to_end(input: &Input, threads: usize) -> usize {
    let mesh = mtlscan::mesh::Meshed::new(analysis(input, threads), None);
    let (policy, names) = (Policy::default(), Names::default());
    let doc = Document::build(&mesh, &policy, &names);
    let style = TableStyle {
        color: false,
        width: None,
        view: Default::default(),
    };
    report::write(&doc, Format::Json, &mut io::sink(), style).expect("report writes");
    doc.len()
}

/// A rayon pool of `threads` threads, as `--threads` makes the binary's.
fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

fn stages(c: &mut Criterion) {
    let cap = capture();
    let input = &cap.input;
    let mut group = c.benchmark_group("pipeline");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::ElementsAndBytes {
            elements: cap.packets,
            bytes: cap.bytes,
        });
    group.bench_function("read", |b| b.iter(|| black_box(read_only(input))));
    group.bench_function("decode", |b| b.iter(|| black_box(decode_only(input))));
    group.bench_function("reassemble", |b| b.iter(|| black_box(reassemble(input))));
    let (one, two) = (pool(1), pool(2));
    group.bench_function("classify", |b| {
        b.iter(|| one.install(|| black_box(analysis(input, 1).flows.len())))
    });
    group.bench_function("end_to_end", |b| {
        b.iter(|| one.install(|| black_box(end_to_end(input, 1))))
    });
    group.bench_function("end_to_end_2_threads", |b| {
        b.iter(|| two.install(|| black_box(end_to_end(input, 2))))
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
