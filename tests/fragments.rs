//! IP fragments: the captures of `samples/fragmented-*.pcap` (made by make-samples.sh with
//! peers whose links make the kernel fragment), and sample captures whose packets this test
//! cuts into IP fragments itself, in shuffled order and with duplicates: every flow must come
//! out as it does from the unfragmented capture.

mod common;

use std::path::{Path, PathBuf};

use common::run_mtlscan;
use common::synth::Rng;
use serde_json::Value;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn json_report(args: &[&str], stdin: Option<&Path>) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = run_mtlscan(&all, stdin);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// A classic pcap file: its 24-byte header and its records (header, data).
struct Pcap {
    header: Vec<u8>,
    records: Vec<([u8; 16], Vec<u8>)>,
}

impl Pcap {
    fn read(path: &Path) -> Pcap {
        let data = std::fs::read(path).unwrap();
        assert!(
            data.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1])
                || data.starts_with(&[0x4d, 0x3c, 0xb2, 0xa1]),
            "{}: a little-endian classic pcap",
            path.display()
        );
        assert_eq!(
            u32::from_le_bytes(data[20..24].try_into().unwrap()),
            1,
            "Ethernet"
        );
        let mut records = Vec::new();
        let mut at = 24;
        while at + 16 <= data.len() {
            let head: [u8; 16] = data[at..at + 16].try_into().unwrap();
            let caplen = u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize;
            records.push((head, data[at + 16..at + 16 + caplen].to_vec()));
            at += 16 + caplen;
        }
        Pcap {
            header: data[..24].to_vec(),
            records,
        }
    }

    fn write(&self, path: &Path) {
        let mut out = self.header.clone();
        for (head, data) in &self.records {
            let mut head = *head;
            let len = (data.len() as u32).to_le_bytes();
            head[8..12].copy_from_slice(&len);
            head[12..16].copy_from_slice(&len);
            out.extend_from_slice(&head);
            out.extend_from_slice(data);
        }
        std::fs::write(path, out).unwrap();
    }
}

/// Fragment payload lengths for `len` bytes: random multiples of 8, the last one the rest.
fn cuts(rng: &mut Rng, len: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < len {
        let size = 8 * rng.range(1, 64);
        let end = (at + size).min(len);
        out.push((at, end));
        at = end;
    }
    out
}

/// Repeats one of `pieces` now and then (a duplicate fragment), and shuffles them: a repeat may
/// come before or after its datagram is whole.
fn shuffled<T: Clone>(rng: &mut Rng, mut pieces: Vec<T>) -> Vec<T> {
    if pieces.len() > 1 && rng.chance(300) {
        let k = rng.below(pieces.len() as u64) as usize;
        let dup = pieces[k].clone();
        pieces.push(dup);
    }
    for i in (1..pieces.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        pieces.swap(i, j);
    }
    pieces
}

/// The frames an Ethernet frame becomes when its IPv4 or IPv6 payload (TCP) is cut into
/// fragments; other frames, and TCP segments of 24 payload bytes or fewer, stay whole.
fn fragment_frame(rng: &mut Rng, frame: &[u8], id: u32) -> Vec<Vec<u8>> {
    let (eth, ip) = frame.split_at(14);
    let (v4, header_len, payload_end, protocol) = match u16::from_be_bytes([eth[12], eth[13]]) {
        0x0800 => (
            true,
            usize::from(ip[0] & 0x0f) * 4,
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            ip[9],
        ),
        0x86dd => (
            false,
            40,
            40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])),
            ip[6],
        ),
        _ => return vec![frame.to_vec()],
    };
    let payload = &ip[header_len..payload_end];
    if protocol != 6 || payload.len() <= 20 + 24 {
        return vec![frame.to_vec()];
    }
    let pieces = cuts(rng, payload.len());
    shuffled(rng, pieces)
        .into_iter()
        .map(|(from, to)| {
            let more = to < payload.len();
            let mut h = ip[..header_len].to_vec();
            if v4 {
                h[2..4].copy_from_slice(&((header_len + to - from) as u16).to_be_bytes());
                h[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                let flags = if more { 0x2000 } else { 0 };
                h[6..8].copy_from_slice(&(flags | (from / 8) as u16).to_be_bytes());
            } else {
                // A fragment header (next header TCP) after the fixed header.
                h[4..6].copy_from_slice(&((8 + to - from) as u16).to_be_bytes());
                h[6] = 44;
                h.extend_from_slice(&[6, 0]);
                h.extend_from_slice(&((from as u16) | u16::from(more)).to_be_bytes());
                h.extend_from_slice(&id.to_be_bytes());
            }
            [eth, &h, &payload[from..to]].concat()
        })
        .collect()
}

/// `capture` with every TCP segment of more than 24 payload bytes cut into fragments; each
/// fragment keeps its segment's timestamp.
fn fragmented(capture: &Pcap, seed: u64) -> Pcap {
    let mut rng = Rng::new(seed);
    let mut records = Vec::new();
    for (n, (head, frame)) in capture.records.iter().enumerate() {
        for piece in fragment_frame(&mut rng, frame, n as u32 + 1) {
            records.push((*head, piece));
        }
    }
    Pcap {
        header: capture.header.clone(),
        records,
    }
}

/// What a flow is, without frame numbers: keys naming frames are dropped and digit runs in
/// texts (reasons name frames) become `#`.
fn without_frames(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.contains("frame"))
                .map(|(k, v)| (k.clone(), without_frames(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_frames).collect()),
        Value::String(s) => {
            let mut out = String::new();
            let mut digits = false;
            for c in s.chars() {
                if c.is_ascii_digit() {
                    if !digits {
                        out.push('#');
                    }
                    digits = true;
                } else {
                    out.push(c);
                    digits = false;
                }
            }
            Value::String(out)
        }
        other => other.clone(),
    }
}

#[test]
fn fragmenting_a_capture_changes_no_flow() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "tls13-mtls.pcap",
        "tls12-mtls.pcap",
        "ipv6-mtls.pcap",
        "mtls.pcap",
        "http-plaintext.pcap",
        "tls13-resumed.pcap",
    ];
    for (i, name) in files.iter().enumerate() {
        let path = samples().join(name);
        let original = Pcap::read(&path);
        let cut = fragmented(&original, 0x5eed + i as u64);
        assert!(
            cut.records.len() > original.records.len(),
            "{name}: fragments were made"
        );
        let out = dir.path().join(name);
        cut.write(&out);
        if std::env::var_os("KEEP_FRAGMENTED").is_some() {
            cut.write(Path::new(&format!("/tmp/frag-{name}")));
        }
        let want = json_report(&[path.to_str().unwrap()], None);
        let got = json_report(&[out.to_str().unwrap()], None);
        assert_eq!(
            without_frames(&got["flows"]),
            without_frames(&want["flows"]),
            "{name}"
        );
        assert_eq!(got["summary"], want["summary"], "{name}");
        let capture = &got["captures"][0];
        assert!(
            capture["ip_reassembly"]["datagrams"].as_u64().unwrap() > 0,
            "{name}: {capture:#}"
        );
        assert!(
            capture["skipped"].get("ip-fragment").is_none(),
            "{name}: {capture:#}"
        );
        assert_eq!(
            capture["warnings"], want["captures"][0]["warnings"],
            "{name}"
        );
        // The same report read from standard input.
        let mut streamed = json_report(&["-"], Some(&out));
        streamed["captures"][0]["path"] = capture["path"].clone();
        assert_eq!(streamed, got, "{name} from stdin");
    }
}

#[test]
fn fragmented_samples_reassemble_without_gaps() {
    for name in ["fragmented-vxlan.pcap", "fragmented-tcp.pcap"] {
        let report = json_report(&[samples().join(name).to_str().unwrap()], None);
        let capture = &report["captures"][0];
        assert!(
            capture["ip_reassembly"]["datagrams"].as_u64().unwrap() > 0,
            "{name}: {capture:#}"
        );
        assert!(capture["skipped"].get("ip-fragment").is_none(), "{name}");
        assert_eq!(capture["warnings"], Value::Array(vec![]), "{name}");
        let flows = report["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 2, "{name}");
        for f in flows {
            assert_eq!(f["tcp"]["gaps"], 0, "{name}: {f:#}");
        }
        assert_eq!(flows[0]["verdict"], "mtls", "{name}");
        // The server's first flight crossed the wire in fragments: the client's certificate is
        // inferred from the records that follow it.
        assert_eq!(
            flows[0]["tls"]["client_certificate"]["presented"], true,
            "{name}: {:#}",
            flows[0]
        );
        // The table says so in the capture's line.
        let table = run_mtlscan(&[samples().join(name).to_str().unwrap()], None);
        let text = String::from_utf8_lossy(&table.stdout);
        let datagrams = capture["ip_reassembly"]["datagrams"].as_u64().unwrap();
        assert!(
            text.contains(&format!("{datagrams} IP datagrams reassembled from ")),
            "{name}: {text}"
        );
        // The page the client fetched, fragmented on its way: all of its bytes reached the flow.
        assert!(
            flows[1]["bytes"]["server"].as_u64().unwrap() > 20_000,
            "{name}: {:#}",
            flows[1]
        );
    }
}

/// The fragments of the client's request in `http-plaintext.pcap`, one of them overlapping
/// another in part: the datagram is void, as a Linux receiver would have it.
#[test]
fn overlapping_fragments_are_given_up_and_said() {
    let original = Pcap::read(&samples().join("http-plaintext.pcap"));
    let mut records = Vec::new();
    let mut lost = 0;
    for (head, frame) in &original.records {
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let payload = &ip[ihl..total];
        let dport = u16::from_be_bytes([payload[2], payload[3]]);
        if dport != 8080 || payload.len() < 20 + 64 || lost > 0 {
            records.push((*head, frame.clone()));
            continue;
        }
        for (from, to, more) in [(0, 32, true), (24, 48, true), (48, payload.len(), false)] {
            let mut h = ip[..ihl].to_vec();
            h[2..4].copy_from_slice(&((ihl + to - from) as u16).to_be_bytes());
            h[6..8].copy_from_slice(
                &((if more { 0x2000 } else { 0 }) | (from / 8) as u16).to_be_bytes(),
            );
            records.push((*head, [&frame[..14], &h, &payload[from..to]].concat()));
            lost += 1;
        }
    }
    assert_eq!(lost, 3, "the request was cut");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("overlap.pcap");
    Pcap {
        header: original.header,
        records,
    }
    .write(&out);
    let report = json_report(&[out.to_str().unwrap()], None);
    let capture = &report["captures"][0];
    // The first two fragments were one datagram (void); the third began another, never whole.
    assert_eq!(capture["skipped"]["ip-fragment"], 3, "{capture:#}");
    let warning = capture["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("3 IP fragments could not be reassembled"),
        "{warning}"
    );
    assert!(
        warning.contains("1 with fragments that overlap"),
        "{warning}"
    );
    assert!(capture.get("ip_reassembly").is_none(), "{capture:#}");
    // The request's bytes are missing from the flow: the client sent nothing it could read.
    let flow = &report["flows"][0];
    assert_eq!(flow["bytes"]["client"], 0, "{flow:#}");
}
