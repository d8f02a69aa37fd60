//! Decodes the real captures of `shared/captures` and compares, file by file, the TCP packets
//! and connections found with the tshark-made ground truth (`oracle.jsonl`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapCapture, PcapNGCapture};

use super::{decode, Endpoint};
use crate::capture::LinkType;

/// The `shared/captures` folder, found by walking up from the crate root.
fn captures_dir() -> Option<PathBuf> {
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        let candidate = d.join("shared").join("captures");
        if candidate.join("oracle.jsonl").is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// Every frame of a pcap or pcapng file with its link type; `None` when the file is not one
/// this simple reader takes whole (compressed, cut, or corrupt files).
fn frames(bytes: &[u8]) -> Option<Vec<(LinkType, &[u8])>> {
    if let Ok(cap) = PcapCapture::from_file(bytes) {
        let link = LinkType(u32::try_from(cap.header.network.0).ok()?);
        return Some(cap.blocks.iter().map(|b| (link, b.data)).collect());
    }
    let cap = PcapNGCapture::from_file(bytes).ok()?;
    let mut out = Vec::new();
    for section in &cap.sections {
        let mut links = Vec::new();
        for block in &section.blocks {
            match block {
                Block::InterfaceDescription(idb) => {
                    links.push(LinkType(u32::try_from(idb.linktype.0).ok()?))
                }
                Block::EnhancedPacket(epb) => {
                    let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                    out.push((*links.get(epb.if_id as usize)?, data))
                }
                Block::SimplePacket(spb) => {
                    let data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                    out.push((*links.first()?, data))
                }
                _ => {}
            }
        }
    }
    Some(out)
}

/// What the oracle says about one file: TCP packets, and connections as sorted endpoint pairs.
#[derive(Debug, Default)]
struct Truth {
    packets: u64,
    flows: BTreeSet<(String, String)>,
}

fn pair(a: &Endpoint, b: &Endpoint) -> (String, String) {
    let (a, b) = (a.to_string(), b.to_string());
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn oracle(dir: &Path) -> BTreeMap<String, Truth> {
    let text = std::fs::read_to_string(dir.join("oracle.jsonl")).unwrap();
    let mut files: BTreeMap<String, Truth> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap().to_string();
        let truth = files.entry(file).or_default();
        if v["tcp_stream"].is_null() {
            continue;
        }
        truth.packets += v["packets"].as_u64().unwrap();
        let end = |side: &str| Endpoint {
            ip: v[side]["ip"].as_str().unwrap().parse().unwrap(),
            port: v[side]["port"].as_u64().unwrap() as u16,
        };
        truth.flows.insert(pair(&end("client"), &end("server")));
    }
    files
}

/// Captures where tshark finds TCP that the decoder deliberately does not: encapsulations it
/// does not open.
const NOT_DECODED: [(&str, &str); 0] = [];

#[test]
fn real_captures_match_the_oracle() {
    let Some(dir) = captures_dir() else {
        println!("shared/captures not found: real-capture test skipped");
        return;
    };
    let mut checked = 0;
    let mut report = Vec::new();
    for (file, truth) in oracle(&dir) {
        let Ok(bytes) = std::fs::read(dir.join(&file)) else {
            continue;
        };
        let Some(frames) = frames(&bytes).filter(|f| !f.is_empty()) else {
            println!("{file}: not read by the test's reader, not checked");
            continue;
        };
        let mut packets = 0u64;
        let mut flows = BTreeSet::new();
        let mut skips: BTreeMap<&str, u64> = BTreeMap::new();
        for (link, data) in &frames {
            match decode(*link, data) {
                // the oracle counts TCP
                Ok(seg) if seg.transport == super::Transport::Tcp => {
                    packets += 1;
                    flows.insert(pair(&seg.src, &seg.dst));
                }
                Ok(_) => *skips.entry("udp").or_default() += 1,
                Err(skip) => *skips.entry(skip.name()).or_default() += 1,
            }
        }
        checked += 1;
        if NOT_DECODED.iter().any(|(f, _)| *f == file) {
            assert!(
                packets < truth.packets,
                "{file}: now decoded ({packets} packets): update NOT_DECODED"
            );
            continue;
        }
        if packets != truth.packets || flows != truth.flows {
            report.push(format!(
                "{file}: packets {packets} (oracle {}), flows {} (oracle {}), skipped {skips:?}",
                truth.packets,
                flows.len(),
                truth.flows.len()
            ));
        }
    }
    println!("{checked} captures checked");
    assert!(checked > 100, "only {checked} captures could be read");
    for line in &report {
        println!("{line}");
    }
    assert!(report.is_empty(), "{} captures differ", report.len());
}
