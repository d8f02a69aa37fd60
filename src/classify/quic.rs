//! QUIC is TLS 1.3 in other framing. Its Initial packets are protected with keys that anyone
//! can derive from the client's first Destination Connection ID (RFC 9001 §5.2, RFC 9369 for
//! version 2), so a capture shows the ClientHello (SNI, ALPN, the offer JA4 fingerprints) and
//! the ServerHello (version, cipher suite). The rest of the handshake, certificates included,
//! travels under keys the capture does not hold: the client certificate stays unknown.

use std::collections::BTreeMap;

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Nonce};

use super::tls::decrypt_suite::{expand_label_sha256, extract_sha256};
use super::tls::hello::{self, ClientHello, ServerHello};
use crate::flow::udp::Datagram;

/// QUIC version 1 (RFC 9000) and version 2 (RFC 9369).
const VERSION_1: u32 = 0x0000_0001;
const VERSION_2: u32 = 0x6b33_43cf;
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// Most CRYPTO bytes gathered per side (a ClientHello with a post-quantum key share fits).
const MAX_CRYPTO: u64 = 16 << 10;
/// Connection IDs are at most 20 bytes (RFC 9000 §17.2).
const MAX_CID: usize = 20;

/// What one side's Initial packets show.
#[derive(Debug, Default)]
struct Side {
    /// CRYPTO frame data by offset.
    crypto: Crypto,
    /// The frame of the first Initial packet that decrypted.
    frame: Option<u64>,
    /// The frame of the first short-header (1-RTT) packet.
    one_rtt: Option<u64>,
}

/// CRYPTO frame data by offset, and how many bytes it holds (at most [`MAX_CRYPTO`]).
#[derive(Debug, Default)]
struct Crypto {
    by_offset: BTreeMap<u64, Vec<u8>>,
    held: u64,
}

/// What a QUIC flow's Initial packets show.
#[derive(Debug, Clone, Default)]
pub struct QuicHandshake {
    /// `1` or `2`.
    pub version: u8,
    pub client_hello: Option<(ClientHello, u64)>,
    pub server_hello: Option<(ServerHello, u64)>,
    /// The frames of the first 1-RTT packet of each side: the handshake completed.
    pub one_rtt: [Option<u64>; 2],
}

/// Reads the Initial packets of a flow whose client sent `client` and server `server`, or
/// `None` when the client sent no QUIC Initial packet that decrypts to a ClientHello.
pub fn read(client: &[Datagram], server: &[Datagram]) -> Option<QuicHandshake> {
    // 0-RTT packets may come first: the first Initial packet gives the keys
    let (version, dcid) = client.iter().find_map(|d| initial_header(&d.bytes))?;
    let mut sides = [Side::default(), Side::default()];
    for (d, (side, datagrams)) in sides.iter_mut().zip([client, server]).enumerate() {
        let keys = Keys::initial(version, &dcid, d == 0)?;
        for datagram in datagrams {
            read_datagram(&keys, datagram, side);
        }
    }
    let [c, s] = &sides;
    c.frame?;
    let client_hello = message(&c.crypto, hello::CLIENT_HELLO)
        .and_then(|body| hello::parse_client_hello(&body).ok())
        .zip(c.frame);
    let server_hello = message(&s.crypto, hello::SERVER_HELLO)
        .and_then(|body| hello::parse_server_hello(&body).ok())
        .zip(s.frame);
    client_hello.as_ref()?;
    Some(QuicHandshake {
        version: if version == VERSION_2 { 2 } else { 1 },
        client_hello,
        server_hello,
        one_rtt: [c.one_rtt, s.one_rtt],
    })
}

/// The version and Destination Connection ID of a long-header Initial packet.
fn initial_header(b: &[u8]) -> Option<(u32, Vec<u8>)> {
    let first = *b.first()?;
    let version = u32::from_be_bytes(b.get(1..5)?.try_into().ok()?);
    let initial_type = match version {
        VERSION_1 => 0,
        VERSION_2 => 1,
        _ => return None,
    };
    if first & 0xc0 != 0xc0 || (first >> 4) & 0x03 != initial_type {
        return None;
    }
    let dcid_len = usize::from(*b.get(5)?);
    if dcid_len > MAX_CID {
        return None;
    }
    Some((version, b.get(6..6 + dcid_len)?.to_vec()))
}

/// The Initial packet protection keys of one side.
struct Keys {
    version: u32,
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: Aes128,
}

impl Keys {
    fn initial(version: u32, dcid: &[u8], client: bool) -> Option<Keys> {
        let (salt, prefix) = match version {
            VERSION_2 => (&SALT_V2, "quicv2 "),
            _ => (&SALT_V1, "quic "),
        };
        let initial = extract_sha256(salt, dcid);
        let mut secret = [0u8; 32];
        let label: &[u8] = if client { b"client in" } else { b"server in" };
        expand_label_sha256(&initial, label, &mut secret)?;
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        for (name, out) in [
            ("key", &mut key[..]),
            ("iv", &mut iv[..]),
            ("hp", &mut hp[..]),
        ] {
            expand_label_sha256(&secret, format!("{prefix}{name}").as_bytes(), out)?;
        }
        Some(Keys {
            version,
            aead: Aes128Gcm::new_from_slice(&key).ok()?,
            iv,
            hp: Aes128::new_from_slice(&hp).ok()?,
        })
    }
}

/// A QUIC variable-length integer at `at`: its value and the position after it.
fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *b.get(at)?;
    let len = 1usize << (first >> 6);
    let mut v = u64::from(first & 0x3f);
    for i in 1..len {
        v = (v << 8) | u64::from(*b.get(at + i)?);
    }
    Some((v, at + len))
}

/// Reads the packets coalesced in one datagram: Initial packets are decrypted and their CRYPTO
/// frames kept; a short-header packet is noted; anything else ends the datagram.
fn read_datagram(keys: &Keys, datagram: &Datagram, side: &mut Side) {
    let mut at = 0;
    let b = &datagram.bytes;
    while let Some(&first) = b.get(at) {
        if first & 0xc0 == 0x40 {
            // a short header packet (its fixed bit set): 1-RTT keys, the handshake completed
            side.one_rtt.get_or_insert(datagram.frame);
            return;
        }
        if first & 0x80 == 0 {
            // padding after the coalesced packets
            return;
        }
        let Some(end) = long_packet(keys, b, at, datagram.frame, side) else {
            return;
        };
        at = end;
    }
}

/// Reads the long-header packet at `at`; returns where it ends.
fn long_packet(keys: &Keys, b: &[u8], at: usize, frame: u64, side: &mut Side) -> Option<usize> {
    let version = u32::from_be_bytes(b.get(at + 1..at + 5)?.try_into().ok()?);
    let initial_type = if version == VERSION_2 { 1 } else { 0 };
    let kind = (*b.get(at)? >> 4) & 0x03;
    let dcid_len = usize::from(*b.get(at + 5)?);
    let scid_at = at + 6 + dcid_len;
    let scid_len = usize::from(*b.get(scid_at)?);
    let mut p = scid_at + 1 + scid_len;
    if version != keys.version || dcid_len > MAX_CID || scid_len > MAX_CID {
        return None;
    }
    if kind == initial_type {
        let (token_len, after) = varint(b, p)?;
        p = after.checked_add(usize::try_from(token_len).ok()?)?;
    }
    let (length, pn_at) = varint(b, p)?;
    let end = pn_at.checked_add(usize::try_from(length).ok()?)?;
    if end > b.len() {
        return None;
    }
    if kind == initial_type {
        if let Some(plain) = open(keys, b, at, pn_at, end) {
            side.frame.get_or_insert(frame);
            crypto_frames(&plain, &mut side.crypto);
        }
    }
    Some(end)
}

/// Removes the header protection of the packet at `start` (its packet number at `pn_at`, its
/// end at `end`) and decrypts its payload.
fn open(keys: &Keys, b: &[u8], start: usize, pn_at: usize, end: usize) -> Option<Vec<u8>> {
    let sample = b.get(pn_at + 4..pn_at + 20)?;
    let mut block = aes::Block::try_from(sample).ok()?;
    keys.hp.encrypt_block(&mut block);
    let mask: [u8; 16] = block.into();
    let [m0, pn_mask @ ..] = mask;
    let mut header = b.get(start..pn_at)?.to_vec();
    let first = header.first_mut()?;
    *first ^= m0 & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut pn = 0u64;
    for (i, m) in pn_mask.iter().enumerate().take(pn_len) {
        let byte = b.get(pn_at + i)? ^ m;
        header.push(byte);
        pn = (pn << 8) | u64::from(byte);
    }
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= p;
    }
    let mut payload = b.get(pn_at + pn_len..end)?.to_vec();
    let nonce = Nonce::try_from(&nonce[..]).ok()?;
    keys.aead
        .decrypt_in_place(&nonce, &header, &mut payload)
        .ok()?;
    Some(payload)
}

/// Keeps the CRYPTO frames of a decrypted Initial payload; stops at a frame it cannot skip.
fn crypto_frames(p: &[u8], crypto: &mut Crypto) {
    let mut at = 0;
    while at < p.len() {
        let Some((kind, next)) = varint(p, at) else {
            return;
        };
        at = match kind {
            0x00 | 0x01 => next,
            0x02 | 0x03 => match skip_ack(p, next, kind == 0x03) {
                Some(end) => end,
                None => return,
            },
            0x06 => {
                let Some((offset, after)) = varint(p, next) else {
                    return;
                };
                let Some((len, data_at)) = varint(p, after) else {
                    return;
                };
                let Some(data) = usize::try_from(len)
                    .ok()
                    .and_then(|n| p.get(data_at..data_at.checked_add(n)?))
                else {
                    return;
                };
                let fits = offset.saturating_add(len) <= MAX_CRYPTO
                    && crypto.held + len <= MAX_CRYPTO
                    && !crypto.by_offset.contains_key(&offset);
                if fits {
                    crypto.by_offset.insert(offset, data.to_vec());
                    crypto.held += len;
                }
                data_at + data.len()
            }
            _ => return,
        };
    }
}

/// The end of an ACK frame whose fields start at `at`.
fn skip_ack(p: &[u8], at: usize, ecn: bool) -> Option<usize> {
    let (_, at) = varint(p, at)?; // largest acknowledged
    let (_, at) = varint(p, at)?; // delay
    let (ranges, mut at) = varint(p, at)?;
    (_, at) = varint(p, at)?; // first range
    for _ in 0..ranges.min(256) {
        (_, at) = varint(p, at)?; // gap
        (_, at) = varint(p, at)?; // range length
    }
    if ecn {
        for _ in 0..3 {
            (_, at) = varint(p, at)?;
        }
    }
    Some(at)
}

/// The body of the first handshake message of `kind` in the CRYPTO stream, read from offset 0
/// as far as it is contiguous.
fn message(crypto: &Crypto, kind: u8) -> Option<Vec<u8>> {
    let mut stream = Vec::new();
    for (&offset, data) in &crypto.by_offset {
        let have = stream.len() as u64;
        if offset > have {
            break;
        }
        let skip = usize::try_from(have - offset).ok()?;
        stream.extend_from_slice(data.get(skip..).unwrap_or_default());
    }
    let mut at = 0;
    while let Some(&[msg_type, a, b, c]) = stream.get(at..at + 4) {
        let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        let body = stream.get(at + 4..at + 4 + len)?;
        if msg_type == kind {
            return Some(body.to_vec());
        }
        at += 4 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap()
    }

    /// RFC 9001 appendix A: the client's Initial keys from DCID 0x8394c8f03e515708.
    #[test]
    fn initial_keys_are_those_of_rfc_9001() {
        let dcid = unhex("8394c8f03e515708");
        let keys = Keys::initial(VERSION_1, &dcid, true).unwrap();
        assert_eq!(keys.iv.to_vec(), unhex("fa044b2f42a3fd3b46fb255c"));
        let mut block =
            aes::Block::try_from(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b")[..]).unwrap();
        keys.hp.encrypt_block(&mut block);
        // RFC 9001 A.2: mask = 437b9aec36
        assert_eq!(block[..5].to_vec(), unhex("437b9aec36"));
    }

    #[test]
    fn varints_read_as_rfc_9000_says() {
        assert_eq!(
            varint(&unhex("c2197c5eff14e88c"), 0),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&unhex("9d7f3e7d"), 0), Some((494_878_333, 4)));
        assert_eq!(varint(&unhex("7bbd"), 0), Some((15_293, 2)));
        assert_eq!(varint(&unhex("25"), 0), Some((37, 1)));
        assert_eq!(varint(&unhex("7b"), 0), None);
    }

    #[test]
    fn any_bytes_are_read_without_panic() {
        let mut x = 3u64;
        let keys = Keys::initial(VERSION_1, &[1, 2, 3, 4, 5, 6, 7, 8], true).unwrap();
        for len in 0..400 {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (x >> 33) as u8
                })
                .collect();
            if let Some(b) = bytes.first_mut() {
                *b |= 0xc0;
            }
            if bytes.len() > 5 {
                bytes[1..5].copy_from_slice(&VERSION_1.to_be_bytes());
                bytes[5] = 8;
            }
            let d = Datagram {
                frame: 1,
                bytes,
                cut: 0,
            };
            let _ = read(std::slice::from_ref(&d), std::slice::from_ref(&d));
            let mut side = Side::default();
            read_datagram(&keys, &d, &mut side);
            crypto_frames(&d.bytes, &mut side.crypto);
            let _ = message(&side.crypto, 1);
        }
    }
}
