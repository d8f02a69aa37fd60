//! DTLS (RFC 6347, RFC 9147) is TLS over datagrams: each record carries an epoch and a sequence
//! number, each handshake message a message sequence number and a fragment offset. Up to DTLS
//! 1.2 the handshake is in the clear: reassembled, its messages are read as TLS 1.2's are, so a
//! client certificate is seen on the wire. In DTLS 1.3 the certificates are encrypted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use tls_parser::parse_dtls_record_header;

use super::finished;
use super::tls::hello::{self, ClientHello, ServerHello};
use super::tls::records::HandshakeMsg;
use super::tls::tls12::{self, CcsFrames};
use crate::flow::udp::Datagram;
use crate::model::{said, Classification, Code, HandshakeState, Reasons, TlsSummary, Verdict};

/// Record content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
/// Handshake message types.
const HELLO_VERIFY_REQUEST: u8 = 3;
/// DTLS 1.0, 1.2 and 1.3 on the wire.
const VERSIONS: [u16; 3] = [0xfeff, 0xfefd, 0xfefc];
/// Largest handshake message reassembled (a certificate chain fits); longer ones are cut.
const MAX_MESSAGE: usize = 64 << 10;
/// Handshake messages tracked per side.
const MAX_MESSAGES: usize = 32;

/// A handshake message being reassembled from its fragments.
#[derive(Debug)]
struct Message {
    msg_type: u8,
    length: usize,
    body: Vec<u8>,
    /// Bytes of the body received (fragments may repeat: retransmissions).
    covered: Vec<bool>,
    frame: u64,
}

/// What one side's datagrams show.
#[derive(Debug, Default)]
struct Side {
    /// By message sequence number.
    messages: BTreeMap<u16, Message>,
    ccs: Option<u64>,
    /// The first record of epoch 1 or later: encrypted.
    encrypted_from: Option<u64>,
}

/// A side's datagrams read as DTLS, or `None` when its first datagram is no DTLS record.
fn side(datagrams: &[Datagram]) -> Option<Side> {
    let mut side = Side::default();
    let first = datagrams.first()?;
    let (_, header) = parse_dtls_record_header(&first.bytes).ok()?;
    if !VERSIONS.contains(&header.version.0) {
        return None;
    }
    for d in datagrams {
        let mut rest: &[u8] = &d.bytes;
        while let Ok((after, header)) = parse_dtls_record_header(rest) {
            let len = usize::from(header.length);
            let Some(fragment) = after.get(..len) else {
                break;
            };
            rest = after.get(len..).unwrap_or_default();
            match (header.content_type.0, header.epoch) {
                (_, epoch) if epoch > 0 => {
                    side.encrypted_from.get_or_insert(d.frame);
                }
                (HANDSHAKE, _) => handshake_fragments(fragment, d.frame, &mut side),
                (CHANGE_CIPHER_SPEC, _) => {
                    side.ccs.get_or_insert(d.frame);
                }
                _ => {}
            }
        }
    }
    Some(side)
}

/// Adds the handshake message fragments of one record.
fn handshake_fragments(mut b: &[u8], frame: u64, side: &mut Side) {
    let u24 = |[x, y, z]: [u8; 3]| usize::from(x) << 16 | usize::from(y) << 8 | usize::from(z);
    while let Some(&[msg_type, l0, l1, l2, s0, s1, o0, o1, o2, f0, f1, f2]) = b.first_chunk::<12>()
    {
        let (length, seq) = (u24([l0, l1, l2]), u16::from_be_bytes([s0, s1]));
        let (offset, flen) = (u24([o0, o1, o2]), u24([f0, f1, f2]));
        let Some(data) = b.get(12..12 + flen) else {
            return;
        };
        b = b.get(12 + flen..).unwrap_or_default();
        let kept = length.min(MAX_MESSAGE);
        if !side.messages.contains_key(&seq) && side.messages.len() >= MAX_MESSAGES {
            continue;
        }
        let m = side.messages.entry(seq).or_insert_with(|| Message {
            msg_type,
            length,
            body: vec![0; kept],
            covered: vec![false; kept],
            frame,
        });
        if m.msg_type != msg_type || m.length != length {
            continue;
        }
        for (i, &byte) in data.iter().enumerate() {
            let at = offset.saturating_add(i);
            if let (Some(slot), Some(seen)) = (m.body.get_mut(at), m.covered.get_mut(at)) {
                *slot = byte;
                *seen = true;
            }
        }
    }
}

/// The side's messages as TLS handshake messages, in sequence: each complete when every byte of
/// it arrived, else cut where the first missing byte is.
fn as_tls(side: &Side) -> Vec<HandshakeMsg<'static>> {
    side.messages
        .values()
        .enumerate()
        .map(|(record, m)| {
            let have = m.covered.iter().position(|c| !c).unwrap_or(m.covered.len());
            HandshakeMsg {
                msg_type: m.msg_type,
                body: Cow::Owned(m.body.get(..have).unwrap_or_default().to_vec()),
                declared_len: m.length,
                complete: have == m.length,
                frame: Some(m.frame),
                record,
            }
        })
        .collect()
}

/// A DTLS ClientHello body as TLS's: the same fields but for the cookie after the session id.
fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let sid_len = usize::from(*body.get(34)?);
    let cookie_at = 35 + sid_len;
    let cookie_len = usize::from(*body.get(cookie_at)?);
    let mut tls = body.get(..cookie_at)?.to_vec();
    tls.extend_from_slice(body.get(cookie_at + 1 + cookie_len..)?);
    hello::parse_client_hello(&tls).ok()
}

/// A DTLS ServerHello: laid out as TLS 1.2's (DTLS 1.3 as TLS 1.3's), read as such, its version
/// kept.
fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let mut tls = body.to_vec();
    tls.get_mut(..2)?.copy_from_slice(&[0x03, 0x03]);
    let mut sh = hello::parse_server_hello(&tls).ok()?;
    sh.version = version;
    // DTLS 1.3 names itself in supported_versions as TLS 1.3 does
    Some(sh)
}

/// The verdict of a flow whose datagrams are DTLS with its handshake, or `None`.
pub fn classify(client: &[Datagram], server: &[Datagram]) -> Option<Classification> {
    let c = side(client)?;
    let s = side(server).unwrap_or_default();
    let (client_msgs, server_msgs) = (as_tls(&c), as_tls(&s));
    // after a HelloVerifyRequest the client sends its ClientHello again, with the cookie
    let ch_msg = client_msgs
        .iter()
        .rfind(|m| m.msg_type == hello::CLIENT_HELLO && m.complete)?;
    let ch = client_hello(&ch_msg.body)?;
    let sh = server_msgs
        .iter()
        .find(|m| m.msg_type == hello::SERVER_HELLO)
        .and_then(|m| server_hello(&m.body));
    let mut t = TlsSummary::default();
    super::udp::client_hello_facts(t.hello_mut(), &ch, 'd');
    t.client_hello_frame = ch_msg.frame;
    let verified = server_msgs
        .iter()
        .any(|m| m.msg_type == HELLO_VERIFY_REQUEST);
    let mut reasons = vec![said(
        Code::TlsHandshake,
        format!(
            "DTLS handshake in the clear (records of epoch 0): ClientHello (frame {}, SNI {}){}",
            ch_msg.frame.unwrap_or_default(),
            ch.sni.as_deref().unwrap_or("none"),
            if verified {
                ", sent again with the cookie of the server's HelloVerifyRequest"
            } else {
                ""
            }
        ),
    )];
    let dtls13 = sh
        .as_ref()
        .is_some_and(|sh| sh.negotiated_version() == 0xfefc);
    if let Some(sh) = &sh {
        let h = t.hello_mut();
        h.version = Some(hello::version_name(sh.negotiated_version()));
        h.cipher_suite = Some(hello::cipher_suite_name(sh.cipher_suite));
    }
    if dtls13 {
        reasons.push(said(
            Code::TlsClientCertificateUnknown,
            "DTLS 1.3: the rest of the handshake, certificates included, is encrypted: whether \
             the client presented a certificate is unknown",
        ));
    } else {
        let ccs = CcsFrames {
            client: c.ccs.map(Some),
            server: s.ccs.map(Some),
        };
        let facts = tls12::analyze(&client_msgs, &server_msgs, Some(&ch), sh.as_ref(), ccs);
        t.client_certificate = facts.client;
        t.server_certificate = facts.server;
        t.certificate_requested = facts.certificate_requested;
        t.resumed = facts.resumed;
        reasons.extend(facts.reasons);
    }
    t.handshake = Some(match (c.encrypted_from, s.encrypted_from, &sh) {
        (Some(_), Some(_), Some(_)) => HandshakeState::Complete,
        _ => HandshakeState::Partial,
    });
    let verdict = match t.client_certificate.presented {
        Some(true) => Verdict::Mtls,
        _ => Verdict::Tls,
    };
    Some(Classification {
        verdict,
        reasons: Reasons::new(reasons),
        tls: Some(finished(t)),
        plaintext: None,
        session: None,
        ambiguity: None,
        encryption: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DTLS 1.2 record of `content_type` holding `fragment`.
    fn record(content_type: u8, epoch: u16, fragment: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        r.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
        r.extend_from_slice(fragment);
        r
    }

    /// A handshake fragment header and its bytes.
    fn fragment(msg_type: u8, length: usize, seq: u16, offset: usize, data: &[u8]) -> Vec<u8> {
        let u24 = |n: usize| [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let mut f = vec![msg_type];
        f.extend_from_slice(&u24(length));
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&u24(offset));
        f.extend_from_slice(&u24(data.len()));
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn fragments_are_put_back_together_whatever_their_order() {
        let body: Vec<u8> = (0..100).collect();
        let d = |frame, bytes| Datagram {
            frame,
            bytes,
            cut: 0,
        };
        let datagrams = [
            d(
                1,
                record(HANDSHAKE, 0, &fragment(11, 100, 2, 60, &body[60..])),
            ),
            d(
                2,
                record(HANDSHAKE, 0, &fragment(11, 100, 2, 0, &body[..30])),
            ),
            // a retransmission, then the missing middle
            d(
                3,
                record(HANDSHAKE, 0, &fragment(11, 100, 2, 0, &body[..30])),
            ),
            d(
                4,
                record(HANDSHAKE, 0, &fragment(11, 100, 2, 30, &body[30..60])),
            ),
            d(5, record(CHANGE_CIPHER_SPEC, 0, &[1])),
            d(6, record(23, 1, &[9; 40])),
        ];
        let s = side(&datagrams).unwrap();
        let msgs = as_tls(&s);
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].complete);
        assert_eq!(&*msgs[0].body, &body[..]);
        assert_eq!((s.ccs, s.encrypted_from), (Some(5), Some(6)));
        // without the middle: cut where it is missing
        let s = side(&datagrams[..2]).unwrap();
        let msgs = as_tls(&s);
        assert!(!msgs[0].complete);
        assert_eq!(msgs[0].body.len(), 30);
    }

    #[test]
    fn any_bytes_are_read_without_panic() {
        let mut x = 11u64;
        for len in 0..300 {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(7);
                    (x >> 33) as u8
                })
                .collect();
            if bytes.len() > 3 {
                bytes[0] = HANDSHAKE;
                bytes[1..3].copy_from_slice(&[0xfe, 0xfd]);
            }
            let d = [Datagram {
                frame: 1,
                bytes,
                cut: 0,
            }];
            let _ = classify(&d, &d);
        }
    }
}
