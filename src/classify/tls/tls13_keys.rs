//! TLS 1.3 with a key log: decrypts the handshake flights and reads the certificates directly
//! (`evidence: "decrypted"`), instead of inferring them from record sizes.
//!
//! The decryption itself lives in the `decrypt` and `keylog` modules; this file adapts their API
//! and parses the decrypted handshake messages (EncryptedExtensions, CertificateRequest,
//! Certificate).

use super::certs::{read_entries, Chain};
use super::cursor::Cursor;
use super::frame_text;
use super::keylog::KeyLog;
use super::records::{Record, APPLICATION_DATA};
use crate::model::{said, CertificateSide, Code, Evidence, Said};

use super::decrypt::{decrypt_handshake_flight, EncryptedRecord};

/// The handshake traffic secrets a key log holds for one session.
struct HandshakeSecrets {
    client: Option<Vec<u8>>,
    server: Option<Vec<u8>>,
}

/// The client and server handshake traffic secrets logged for a session.
fn handshake_secrets(keylog: &KeyLog, client_random: &[u8; 32]) -> Option<HandshakeSecrets> {
    keylog.get(client_random).map(|s| HandshakeSecrets {
        client: s.client_handshake.clone(),
        server: s.server_handshake.clone(),
    })
}

/// Handshake message types of the encrypted flights.
const ENCRYPTED_EXTENSIONS: u8 = 8;
const CERTIFICATE: u8 = 11;
const CERTIFICATE_REQUEST: u8 = 13;
const FINISHED: u8 = 20;
const ALPN: u16 = 16;

/// What the decrypted flights show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecryptedFacts {
    /// The client's side, when its flight was decrypted.
    pub client: Option<CertificateSide>,
    /// The server's side, when its flight was decrypted.
    pub server: Option<CertificateSide>,
    pub certificate_requested: Option<bool>,
    pub alpn_selected: Option<String>,
    pub reasons: Vec<Said>,
}

/// Splits concatenated handshake messages into `(type, body)`; stops at a cut message.
pub(crate) fn split_messages(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut c = Cursor::new(bytes);
    let mut out = Vec::new();
    while let Some(t) = c.u8() {
        let Some(body) = c.vec24() else { break };
        out.push((t, body));
    }
    out
}

/// Reads a TLS 1.3 Certificate body: `certificate_request_context<0..255>`, then
/// `certificate_list<0..2^24-1>` of `{cert_data<1..2^24-1>, extensions<0..2^16-1>}`.
pub(crate) fn parse_certificate13(body: &[u8]) -> Option<Chain> {
    let mut c = Cursor::new(body);
    c.vec8()?;
    let list_len = c.u24()?;
    let available = c.rest();
    let list = available.get(..list_len).unwrap_or(available);
    let mut chain = read_entries(list, true);
    chain.cut |= list.len() < list_len;
    Some(chain)
}

/// The ALPN protocol selected in an EncryptedExtensions body.
pub(crate) fn alpn_from_encrypted_extensions(body: &[u8]) -> Option<String> {
    let mut c = Cursor::new(body);
    let mut exts = Cursor::new(c.vec16()?);
    while let (Some(t), Some(data)) = (exts.u16(), exts.vec16()) {
        if t == ALPN {
            let mut d = Cursor::new(data);
            let mut list = Cursor::new(d.vec16()?);
            return list.vec8().map(|p| String::from_utf8_lossy(p).into_owned());
        }
    }
    None
}

/// Facts from one side's decrypted handshake messages.
pub(crate) fn read_flight(
    messages: &[u8],
    from_client: bool,
    frame: Option<u64>,
) -> DecryptedFacts {
    let mut f = DecryptedFacts::default();
    let who = if from_client { "client" } else { "server" };
    let at = frame_text(frame);
    let msgs = split_messages(messages);
    let mut side = CertificateSide {
        evidence: Some(Evidence::Decrypted),
        frame,
        ..CertificateSide::default()
    };
    // What a flight's Certificate (or its lack) proves: the client's answer, or the server's.
    let cert_code = if from_client {
        Code::TlsClientCertificateDecrypted
    } else {
        Code::TlsHandshake
    };
    for (t, body) in &msgs {
        match *t {
            ENCRYPTED_EXTENSIONS if !from_client => {
                f.alpn_selected = alpn_from_encrypted_extensions(body);
            }
            CERTIFICATE_REQUEST if !from_client => {
                f.certificate_requested = Some(true);
                f.reasons.push(said(
                    Code::TlsCertificateRequest,
                    format!("decrypted server flight holds a CertificateRequest ({at})"),
                ));
            }
            CERTIFICATE => {
                let chain = parse_certificate13(body).unwrap_or_default();
                side.presented = Some(chain.entries > 0);
                f.reasons.push(said(
                    cert_code,
                    if chain.entries > 0 {
                        format!(
                            "decrypted {who} Certificate message with {} certificate{} ({at})",
                            chain.entries,
                            if chain.entries == 1 { "" } else { "s" }
                        )
                    } else {
                        format!("decrypted {who} Certificate message is empty ({at})")
                    },
                ));
                side.chain = chain.certs.into();
            }
            FINISHED => {
                if side.presented.is_none() {
                    side.presented = Some(false);
                    f.reasons.push(said(
                        cert_code,
                        format!(
                        "decrypted {who} flight has no Certificate message before Finished ({at})"
                    ),
                    ));
                }
                if !from_client && f.certificate_requested.is_none() {
                    f.certificate_requested = Some(false);
                }
                break;
            }
            _ => {}
        }
    }
    if side.presented.is_some() {
        if from_client {
            f.client = Some(side);
        } else {
            f.server = Some(side);
        }
    }
    f
}

/// Decrypts the server's and the client's handshake flights with the key log, when it holds the
/// session's secrets. `None` when it does not (the caller then infers from record sizes).
pub fn decrypt(
    keylog: &KeyLog,
    client_random: &[u8; 32],
    suite: u16,
    server_records: &[Record<'_>],
    client_records: &[Record<'_>],
) -> Option<DecryptedFacts> {
    let secrets = handshake_secrets(keylog, client_random)?;
    let mut facts = DecryptedFacts::default();
    let mut any = false;
    for (secret, records, from_client) in [
        (secrets.server, server_records, false),
        (secrets.client, client_records, true),
    ] {
        let Some(secret) = secret else { continue };
        let encrypted: Vec<EncryptedRecord<'_>> = records
            .iter()
            .filter(|r| r.content_type == APPLICATION_DATA && !r.after_hole)
            .map(|r| EncryptedRecord {
                header: r.header,
                body: r.body,
                frame: r.frame,
            })
            .collect();
        let frame = encrypted.first().and_then(|r| r.frame);
        let Ok(flight) = decrypt_handshake_flight(&secret, suite, &encrypted) else {
            facts.reasons.push(said(
                Code::TlsKeylogFailed,
                format!(
                    "key log has the {} handshake secret but its records did not decrypt",
                    if from_client { "client" } else { "server" }
                ),
            ));
            continue;
        };
        any = true;
        let f = read_flight(&flight.messages, from_client, frame);
        facts.client = facts.client.or(f.client);
        facts.server = facts.server.or(f.server);
        facts.certificate_requested = facts.certificate_requested.or(f.certificate_requested);
        facts.alpn_selected = facts.alpn_selected.or(f.alpn_selected);
        facts.reasons.extend(f.reasons);
    }
    if facts.client.is_none() && facts.certificate_requested == Some(false) {
        // A TLS 1.3 client may only send a Certificate when the server asked for one.
        facts.client = Some(CertificateSide {
            presented: Some(false),
            evidence: Some(Evidence::Decrypted),
            ..CertificateSide::default()
        });
        facts.reasons.push(said(
            Code::TlsCertificateRequest,
            "the decrypted server flight holds no CertificateRequest: the client could not \
             send a certificate"
                .to_string(),
        ));
    }
    any.then_some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tls::certs::tests::spiffe_der;

    fn msg(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    fn cert13(n: usize) -> Vec<u8> {
        let der = spiffe_der();
        let mut list = Vec::new();
        for _ in 0..n {
            list.extend_from_slice(&(der.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(&der);
            list.extend_from_slice(&[0, 0]);
        }
        let mut body = vec![0];
        body.extend_from_slice(&(list.len() as u32).to_be_bytes()[1..]);
        body.extend(list);
        body
    }

    #[test]
    fn client_flight_with_chain() {
        let mut flight = msg(CERTIFICATE, &cert13(2));
        flight.extend(msg(15, &[0; 72]));
        flight.extend(msg(FINISHED, &[0; 32]));
        let f = read_flight(&flight, true, Some(9));
        let side = f.client.unwrap();
        assert_eq!(side.presented, Some(true));
        assert_eq!(side.evidence, Some(Evidence::Decrypted));
        assert_eq!(side.chain.len(), 2);
        assert_eq!(
            side.chain[0].san_uris,
            vec!["spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage".to_string()]
        );
        assert_eq!(
            f.reasons,
            vec!["decrypted client Certificate message with 2 certificates (frame 9)".to_string()]
        );
    }

    #[test]
    fn client_flight_empty_and_absent() {
        let mut flight = msg(CERTIFICATE, &[0, 0, 0, 0]);
        flight.extend(msg(FINISHED, &[0; 32]));
        let side = read_flight(&flight, true, Some(9)).client.unwrap();
        assert_eq!((side.presented, side.chain.len()), (Some(false), 0));
        let side = read_flight(&msg(FINISHED, &[0; 32]), true, None)
            .client
            .unwrap();
        assert_eq!(side.presented, Some(false));
        assert!(read_flight(&[], true, None).client.is_none());
    }

    #[test]
    fn server_flight_with_request_and_alpn() {
        // EncryptedExtensions with ALPN "istio".
        let mut ee = vec![0, 12, 0, 16, 0, 8, 0, 6, 5];
        ee.extend_from_slice(b"istio");
        let mut flight = msg(ENCRYPTED_EXTENSIONS, &ee);
        flight.extend(msg(CERTIFICATE_REQUEST, &[0, 0, 0]));
        flight.extend(msg(CERTIFICATE, &cert13(1)));
        flight.extend(msg(15, &[0; 72]));
        flight.extend(msg(FINISHED, &[0; 32]));
        let f = read_flight(&flight, false, Some(5));
        assert_eq!(f.alpn_selected.as_deref(), Some("istio"));
        assert_eq!(f.certificate_requested, Some(true));
        assert_eq!(f.server.unwrap().chain.len(), 1);
        let f = read_flight(&msg(FINISHED, &[0; 32]), false, Some(5));
        assert_eq!(f.certificate_requested, Some(false));
    }

    #[test]
    fn malformed_decrypted_bytes() {
        assert_eq!(split_messages(&[11, 0, 0, 9, 1]), vec![]);
        assert_eq!(
            split_messages(&[20, 0, 0, 1, 7, 11]),
            vec![(20, &[7u8][..])]
        );
        assert_eq!(parse_certificate13(&[0]), None);
        assert_eq!(parse_certificate13(&[5, 0]), None);
        let cut = parse_certificate13(&[0, 0, 0, 9, 0, 0, 20, 1]).unwrap();
        assert!(cut.cut);
        assert_eq!((cut.entries, cut.certs.len()), (1, 0));
        assert_eq!(alpn_from_encrypted_extensions(&[0, 0]), None);
        assert_eq!(alpn_from_encrypted_extensions(&[0, 4, 0, 16, 0, 9]), None);
    }

    #[test]
    fn without_secrets_nothing_is_decrypted() {
        assert_eq!(
            decrypt(&KeyLog::default(), &[0; 32], 0x1301, &[], &[]),
            None
        );
    }
}
