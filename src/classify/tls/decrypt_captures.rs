//! Handshake decryption checked on real third-party captures and their key logs (the shared
//! `captures/` corpus), against its tshark-made oracle. Test-only: the capture reading here is a
//! minimal stand-in for the product's own pipeline (whole files, in-order TCP stitching).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::{decrypt_handshake_flight, DecryptedFlight, EncryptedRecord};
use crate::classify::tls::KeyLog;

/// The shared captures folder, found by walking up from the crate root.
fn captures_dir() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/captures"))
        .find(|p| p.join("oracle.jsonl").is_file())
}

/// One TCP direction: (source, source port, destination, destination port).
type Dir = (IpAddr, u16, IpAddr, u16);

/// Packets of a capture: TCP segments per direction, and embedded key log text.
#[derive(Default)]
struct Capture {
    segments: HashMap<Dir, Vec<(u32, Vec<u8>)>>,
    order: Vec<Dir>,
    embedded_keylog: Vec<u8>,
}

fn read_capture(path: &Path) -> Capture {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = create_reader(1 << 20, file).unwrap();
    let mut capture = Capture::default();
    let mut linktypes: Vec<i32> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => linktypes = vec![h.network.0],
                    PcapBlockOwned::Legacy(b) => {
                        add_packet(&mut capture, linktypes.first().copied(), b.data)
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => linktypes.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        linktypes.push(idb.linktype.0)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let link = linktypes.get(epb.if_id as usize).copied();
                        let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                        add_packet(&mut capture, link, data);
                    }
                    PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
                        let len = dsb.secrets_len as usize;
                        let data = dsb.data.get(..len).unwrap_or(dsb.data);
                        capture.embedded_keylog.extend_from_slice(data);
                        capture.embedded_keylog.push(b'\n');
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => return capture,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
}

fn add_packet(capture: &mut Capture, linktype: Option<i32>, data: &[u8]) {
    let sliced = match linktype {
        Some(1) => SlicedPacket::from_ethernet(data),
        Some(113) => SlicedPacket::from_linux_sll(data),
        Some(0) => SlicedPacket::from_ip(data.get(4..).unwrap_or_default()),
        other => panic!("link type {other:?} not handled by this test"),
    };
    let Ok(p) = sliced else { return };
    let (src, dst) = match p.net {
        Some(NetSlice::Ipv4(ip)) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
        _ => return,
    };
    let Some(TransportSlice::Tcp(tcp)) = p.transport else {
        return;
    };
    let dir = (src, tcp.source_port(), dst, tcp.destination_port());
    let seq = tcp.sequence_number().wrapping_add(u32::from(tcp.syn()));
    let segments = capture.segments.entry(dir).or_insert_with(|| {
        capture.order.push(dir);
        Vec::new()
    });
    if !tcp.payload().is_empty() {
        segments.push((seq, tcp.payload().to_vec()));
    }
}

/// The bytes of one direction, in sequence order, stopping at the first gap.
fn stitch(segments: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let Some(base) = segments.iter().map(|s| s.0).next() else {
        return Vec::new();
    };
    let mut sorted: Vec<(u32, &[u8])> = segments
        .iter()
        .map(|(seq, data)| (seq.wrapping_sub(base), &data[..]))
        .collect();
    sorted.sort_by_key(|s| s.0);
    let mut out = Vec::new();
    for (offset, data) in sorted {
        let offset = offset as usize;
        if offset > out.len() {
            break;
        }
        if let Some(new) = data.get(out.len() - offset..) {
            out.extend_from_slice(new);
        }
    }
    out
}

/// TLS records of a byte stream, as long as they are whole.
fn records(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some(len) = rest
        .get(3..5)
        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
    {
        let Some(record) = rest.get(..5 + len) else {
            break;
        };
        out.push(record);
        rest = &rest[5 + len..];
    }
    out
}

/// A TLS 1.3 connection found in a capture and decrypted with a key log.
#[derive(Debug)]
struct Decrypted {
    client_port: u16,
    server_port: u16,
    server: DecryptedFlight,
    client: DecryptedFlight,
}

fn types(flight: &DecryptedFlight) -> Vec<u8> {
    flight.handshake_messages().map(|m| m.msg_type).collect()
}

/// Finds each TLS 1.3 connection (ClientHello one way, ServerHello with a TLS 1.3 suite the
/// other) that the key log has secrets for, and decrypts both flights.
fn decrypt_capture(capture: &Capture, keylog: &KeyLog) -> Vec<Decrypted> {
    let mut out = Vec::new();
    for dir in &capture.order {
        let reverse = (dir.2, dir.3, dir.0, dir.1);
        let client_stream = stitch(&capture.segments[dir]);
        let Some(server_segments) = capture.segments.get(&reverse) else {
            continue;
        };
        let server_stream = stitch(server_segments);
        let (client_records, server_records) = (records(&client_stream), records(&server_stream));
        let (Some(ch), Some(sh)) = (client_records.first(), server_records.first()) else {
            continue;
        };
        if ch.get(..1) != Some(&[22]) || ch.get(5) != Some(&1) || sh.get(5) != Some(&2) {
            continue;
        }
        let random: [u8; 32] = ch[11..43].try_into().unwrap();
        let sid_len = usize::from(sh[43]);
        let suite = u16::from_be_bytes([sh[44 + sid_len], sh[45 + sid_len]]);
        let Some(secrets) = keylog.get(&random) else {
            continue;
        };
        if !(0x1301..=0x1305).contains(&suite) {
            continue;
        }
        // The records after each side's hello, ChangeCipherSpec included.
        let decrypt = |secret: &Option<Vec<u8>>, records: &[&[u8]]| {
            let records: Vec<EncryptedRecord<'_>> = records
                .iter()
                .skip(1)
                .map(|r| EncryptedRecord {
                    header: &r[..5],
                    body: &r[5..],
                    frame: None,
                })
                .collect();
            decrypt_handshake_flight(secret.as_ref().unwrap(), suite, &records).unwrap()
        };
        out.push(Decrypted {
            client_port: dir.1,
            server_port: dir.3,
            server: decrypt(&secrets.server_handshake, &server_records),
            client: decrypt(&secrets.client_handshake, &client_records),
        });
    }
    out
}

#[test]
fn every_key_log_of_the_corpus_parses() {
    let Some(dir) = captures_dir() else {
        eprintln!("shared/captures not found: skipped");
        return;
    };
    let provenance = std::fs::read_to_string(dir.join("PROVENANCE.tsv")).unwrap();
    let mut sessions = 0;
    let mut files = 0;
    for line in provenance.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.get(1) != Some(&"keylog") {
            continue;
        }
        let log = KeyLog::from_file(&dir.join(fields[0]))
            .unwrap_or_else(|e| panic!("{}: {e}", fields[0]));
        assert!(!log.is_empty(), "{}", fields[0]);
        sessions += log.len();
        files += 1;
    }
    assert_eq!(files, 12);
    eprintln!("{files} key logs, {sessions} sessions");
}

/// Every TLS 1.3 connection the oracle decrypted: the server flight opens and ends with
/// Finished, no CertificateRequest where the oracle saw none, and the client's flight is its
/// Finished alone (no client certificate in this corpus) or an encrypted alert.
#[test]
fn tls13_flows_of_the_corpus_decrypt_like_the_oracle_says() {
    let Some(dir) = captures_dir() else {
        eprintln!("shared/captures not found: skipped");
        return;
    };
    let oracle = std::fs::read_to_string(dir.join("oracle.jsonl")).unwrap();
    let provenance = std::fs::read_to_string(dir.join("PROVENANCE.tsv")).unwrap();
    let mut keylogs: HashMap<String, KeyLog> = HashMap::new();
    for line in provenance.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.get(1) == Some(&"keylog") {
            for capture in fields[8].split(',') {
                let log = KeyLog::from_file(&dir.join(fields[0])).unwrap();
                keylogs.entry(capture.to_string()).or_default().merge(log);
            }
        }
    }

    let mut expected: Vec<(String, u16, u16, bool)> = Vec::new();
    for line in oracle.lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        let tls13 = o["tls_versions"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v == "TLSv1.3"));
        if o["decrypted"] == true && tls13 {
            expected.push((
                o["file"].as_str().unwrap().to_string(),
                o["client"]["port"].as_u64().unwrap() as u16,
                o["server"]["port"].as_u64().unwrap() as u16,
                o["resumed"] == true,
            ));
        }
    }
    assert!(expected.len() >= 20, "{}", expected.len());

    let mut cache: HashMap<String, Vec<Decrypted>> = HashMap::new();
    let mut alerts = Vec::new();
    for (file, client_port, server_port, resumed) in &expected {
        let found = cache.entry(file.clone()).or_insert_with(|| {
            let capture = read_capture(&dir.join(file));
            let mut log = keylogs.remove(file).unwrap_or_default();
            let (embedded, errors) = KeyLog::parse_lenient(&capture.embedded_keylog);
            assert!(errors.is_empty(), "{file}: {errors:?}");
            log.merge(embedded);
            assert!(!log.is_empty(), "{file}: no key log");
            decrypt_capture(&capture, &log)
        });
        let flow = found
            .iter()
            .find(|d| d.client_port == *client_port && d.server_port == *server_port)
            .unwrap_or_else(|| panic!("{file} {client_port}: not decrypted"));
        let server = types(&flow.server);
        assert_eq!(server.first(), Some(&8), "{file} {client_port}: {server:?}");
        assert_eq!(server.last(), Some(&20), "{file} {client_port}: {server:?}");
        assert!(!server.contains(&13), "{file} {client_port}: {server:?}");
        match resumed {
            true => assert_eq!(server, [8, 20], "{file} {client_port}"),
            false => assert!(server.contains(&11), "{file} {client_port}: {server:?}"),
        }
        assert!(flow.server.finished, "{file} {client_port}");
        match flow.client.alert {
            // A client that rejected the server's certificate: an encrypted fatal alert instead
            // of its Finished.
            Some(alert) => {
                assert!(types(&flow.client).is_empty(), "{file} {client_port}");
                alerts.push((file.as_str(), *client_port, alert));
            }
            None => {
                assert_eq!(types(&flow.client), [20], "{file} {client_port}");
                assert!(flow.client.finished);
            }
        }
    }
    // Fatal certificate_unknown (46): a client refusing the server's certificate (tshark
    // decrypts the same alerts with this key log).
    assert_eq!(
        alerts,
        [
            ("hotplace/http2.pcapng", 3374, (2, 46)),
            ("hotplace/http2.pcapng", 3376, (2, 46)),
            ("hotplace/http2.pcapng", 3391, (2, 46)),
        ]
    );
    eprintln!(
        "{} TLS 1.3 connections decrypted in {} captures",
        expected.len(),
        cache.len()
    );
}
