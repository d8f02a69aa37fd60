//! Hostile captures: thousands of mutated real captures (bit flips, cuts, absurd length fields,
//! spliced files, zeroed headers, repeated chunks) through the library pipeline in-process, and a
//! smaller set through the real binary. Nothing may panic; each input ends in bounded time; the
//! binary exits 0, 1 or 2, and on 2 says why in one line.
//!
//! The inputs are made by a fixed-seed generator, so a failure names a reproducible case. The
//! heavier variant (`cargo test --release --test hostile -- --ignored`) runs 20 times as many.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// xorshift64*: small, fixed-seed, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Length values that break readers: zero, one, huge, just past limits, negative as i32.
const ABSURD: [u32; 8] = [
    0,
    1,
    0xffff_ffff,
    0x7fff_ffff,
    0x8000_0000,
    0x0100_0000,
    0x0004_0001,
    0xffff,
];

fn mutate(rng: &mut Rng, inputs: &[Vec<u8>], kind: usize) -> Vec<u8> {
    let base = &inputs[rng.below(inputs.len())];
    let mut out = base.clone();
    if out.is_empty() {
        return out;
    }
    match kind % 7 {
        0 => {
            // Bit flips.
            for _ in 0..=rng.below(8) {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            // A cut at a random point.
            out.truncate(rng.below(out.len()));
        }
        2 => {
            // An absurd length written over a 32-bit field, in either byte order.
            let i = rng.below(out.len().saturating_sub(4)) & !3;
            let v = ABSURD[rng.below(ABSURD.len())];
            let bytes = if rng.below(2) == 0 {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            if let Some(field) = out.get_mut(i..i + 4) {
                field.copy_from_slice(&bytes);
            }
        }
        3 => {
            // The start of one file spliced onto a later part of another.
            let other = &inputs[rng.below(inputs.len())];
            let cut = rng.below(out.len());
            let from = rng.below(other.len());
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
        4 => {
            // Zeroed header bytes: at the start, or at a random place.
            let at = if rng.below(2) == 0 {
                rng.below(24.min(out.len()))
            } else {
                rng.below(out.len())
            };
            let len = 4 + rng.below(60);
            let end = (at + len).min(out.len());
            out[at..end].fill(0);
        }
        5 => {
            // A chunk repeated in place.
            let at = rng.below(out.len());
            let len = 1 + rng.below(512);
            let end = (at + len).min(out.len());
            let chunk = out[at..end].to_vec();
            for _ in 0..=rng.below(4) {
                out.splice(at..at, chunk.iter().copied());
            }
        }
        _ => {
            // Several of the above.
            for k in 0..3 {
                let pick = rng.below(6) + k;
                let again = mutate(rng, std::slice::from_ref(&out), pick);
                out = again;
            }
        }
    }
    out
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shared capture folder, found by walking up from the crate.
fn shared_captures() -> Option<PathBuf> {
    crate_dir()
        .ancestors()
        .map(|d| d.join("shared/captures"))
        .find(|d| d.is_dir())
}

/// Every sample capture, plus a selection of small corpus captures when the folder is there.
fn inputs() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(crate_dir().join("samples"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".gz")
        })
        .collect();
    files.sort();
    match shared_captures() {
        Some(dir) => {
            let mut corpus = Vec::new();
            collect(&dir, &mut corpus);
            corpus.sort();
            // Small files of every kind: pcap, pcapng, other link types.
            files.extend(
                corpus
                    .into_iter()
                    .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < 48 << 10))
                    .take(40),
            );
        }
        None => eprintln!("shared/captures not found: mutating the samples only"),
    }
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|d| !d.is_empty())
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if ["pcap", "pcapng", "cap", "gz"]
            .iter()
            .any(|x| p.extension().is_some_and(|e| e == *x))
        {
            out.push(p);
        }
    }
}

/// Runs `count` mutations through the library pipeline; returns how many were analysed.
fn library_run(count: usize, seed: u64, limit: Duration) -> (usize, usize) {
    let inputs = inputs();
    let mut rng = Rng(seed);
    let mut analysed = 0;
    let mut slowest = Duration::ZERO;
    for case in 0..count {
        let data = mutate(&mut rng, &inputs, case);
        let start = Instant::now();
        let summary = mtlscan::fuzzing::pipeline(&data);
        let took = start.elapsed();
        slowest = slowest.max(took);
        assert!(
            took < limit,
            "case {case} (seed {seed}) took {took:?} for {} bytes",
            data.len()
        );
        if summary.frames > 0 {
            analysed += 1;
        }
    }
    eprintln!("{count} mutated captures, {analysed} with frames, slowest {slowest:?}");
    (analysed, count)
}

#[test]
fn mutated_captures_never_panic_in_the_library() {
    let (analysed, count) = library_run(3000, 0x6d74_6c73, Duration::from_secs(10));
    // Most mutations keep a readable start: the pipeline did run on them.
    assert!(analysed > count / 3, "{analysed} of {count}");
}

#[test]
#[ignore = "heavy: run with --release -- --ignored"]
fn many_mutated_captures_never_panic_in_the_library() {
    library_run(60_000, 0x5eed_0001, Duration::from_secs(5));
}

#[test]
fn mutated_captures_through_the_binary_exit_0_1_or_2() {
    let inputs = inputs();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0xb1_4a_47);
    let mut codes = [0usize; 3];
    for case in 0..60 {
        let data = mutate(&mut rng, &inputs, case);
        let path = dir.path().join(format!("case-{case}.pcap"));
        std::fs::write(&path, &data).unwrap();
        let mut cmd = Command::cargo_bin("mtlscan").unwrap();
        cmd.arg(&path).args(["-f", "json", "--require", "mtls"]);
        if case % 3 == 0 {
            cmd.arg("--no-mmap");
        }
        let out = cmd.timeout(Duration::from_secs(30)).output().unwrap();
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match code {
            Some(c @ 0..=2) => codes[c as usize] += 1,
            _ => panic!("case {case}: exit {code:?}, stderr {stderr}"),
        }
        if code == Some(2) {
            assert_eq!(stderr.lines().count(), 1, "case {case}: {stderr}");
            assert!(
                stderr.starts_with("mtlscan: error: "),
                "case {case}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "case {case}");
        } else {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("case {case}: report is not JSON: {e}"));
            assert!(doc["flows"].is_array(), "case {case}");
        }
    }
    eprintln!("exit codes 0/1/2: {codes:?}");
    assert!(codes[2] > 0 && codes[0] + codes[1] > 0, "{codes:?}");
}
