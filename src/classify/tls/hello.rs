//! ClientHello and ServerHello facts: versions (including `supported_versions`), cipher suites,
//! SNI, ALPN, session resumption signals, HelloRetryRequest, early data, and the raw extension
//! list (JA3/JA4 fingerprints are computed from it).

use std::borrow::Cow;
use std::sync::Arc;

use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_handshake_client_hello,
    parse_tls_handshake_server_hello, parse_tls_server_hello_extension, SNIType, TlsCipherSuite,
    TlsExtension,
};

use super::cursor::Cursor;
use crate::intern;

/// Handshake message types.
pub(crate) const CLIENT_HELLO: u8 = 1;
pub(crate) const SERVER_HELLO: u8 = 2;

/// The `random` of a ServerHello that is really a HelloRetryRequest (RFC 8446 §4.1.3).
pub const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Extension type numbers used here.
mod ext {
    pub const ALPN: u16 = 16;
    pub const SESSION_TICKET: u16 = 35;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

/// One extension as sent: type and raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawExtension {
    pub ext_type: u16,
    pub data: Vec<u8>,
}

/// What a ClientHello offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` of the message.
    pub version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compressions: Vec<u8>,
    /// Every extension in order, GREASE included.
    pub extensions: Vec<RawExtension>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// `supported_versions`, GREASE included, in order.
    pub supported_versions: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    /// The client sent a non-empty session ticket (TLS <= 1.2 resumption attempt).
    pub session_ticket: bool,
    /// The client offered a pre-shared key (TLS 1.3 resumption attempt).
    pub psk_offered: bool,
    pub early_data: bool,
}

/// What a ServerHello (or HelloRetryRequest) selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub extensions: Vec<RawExtension>,
    /// The version from `supported_versions`, when present.
    pub selected_version: Option<u16>,
    pub alpn: Option<String>,
    /// The server accepted one of the client's pre-shared keys.
    pub psk_accepted: bool,
    pub hello_retry: bool,
}

impl ServerHello {
    /// The negotiated version: `supported_versions` when present, else the message version.
    pub fn negotiated_version(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

/// The ClientHello fails to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    #[error("malformed ClientHello")]
    ClientHello,
    #[error("malformed ServerHello")]
    ServerHello,
}

/// A GREASE value (RFC 8701): 0x?a?a with equal bytes.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The report's name for a protocol version (shared: see [`crate::intern`]).
pub fn version_name(v: u16) -> Arc<str> {
    let name: Cow<'static, str> = match v {
        0x0002 => "ssl2".into(),
        0x0300 => "ssl3".into(),
        0x0301 => "1.0".into(),
        0x0302 => "1.1".into(),
        0x0303 => "1.2".into(),
        0x0304 => "1.3".into(),
        0x7f00..=0x7fff => format!("1.3-draft{}", v & 0xff).into(),
        0x7e01..=0x7e02 => format!("1.3-experiment{}", v & 0xff).into(),
        _ => format!("0x{v:04x}").into(),
    };
    intern::str(&name)
}

/// TLS 1.3 or one of its drafts and experiments: everything after the ServerHello is encrypted.
pub fn is_tls13(v: u16) -> bool {
    v == 0x0304 || (0x7f00..=0x7fff).contains(&v) || (0x7e01..=0x7e02).contains(&v)
}

/// IANA name of a cipher suite, or `0xNNNN` (shared: see [`crate::intern`]).
pub fn cipher_suite_name(id: u16) -> Arc<str> {
    match TlsCipherSuite::from_id(id) {
        Some(suite) => intern::str(suite.name),
        None => intern::str(&format!("0x{id:04x}")),
    }
}

/// Splits an extensions block into raw extensions (stops at the first malformed one).
fn raw_extensions(block: &[u8]) -> Vec<RawExtension> {
    extension_spans(block)
        .map(|(ext_type, data, _)| RawExtension {
            ext_type,
            data: data.to_vec(),
        })
        .collect()
}

/// Each whole extension of an extensions block: its type, its data, and its wire form (type,
/// length and data: what tls-parser's single-extension parsers read), all borrowed from `block`.
/// Stops at the first extension that does not fit.
fn extension_spans(block: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> + '_ {
    let mut rest = block;
    std::iter::from_fn(move || {
        let (&[t0, t1, l0, l1], after) = rest.split_first_chunk::<4>()?;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let data = after.get(..len)?;
        let wire = rest.get(..len + 4)?;
        rest = after.get(len..).unwrap_or_default();
        Some((u16::from_be_bytes([t0, t1]), data, wire))
    })
}

/// The wire form of one extension (what tls-parser's single-extension parsers read).
fn wire(e: &RawExtension) -> Vec<u8> {
    let mut v = Vec::with_capacity(e.data.len().saturating_add(4));
    v.extend_from_slice(&e.ext_type.to_be_bytes());
    v.extend_from_slice(&u16::try_from(e.data.len()).unwrap_or(0).to_be_bytes());
    v.extend_from_slice(&e.data);
    v
}

/// Whether `body` parses as a ClientHello: exactly when [`parse_client_hello`] succeeds, without
/// building one.
pub fn is_client_hello(body: &[u8]) -> bool {
    parse_tls_handshake_client_hello(body).is_ok()
}

fn random32(bytes: &[u8]) -> [u8; 32] {
    let mut r = [0u8; 32];
    if let Some(src) = bytes.get(..32) {
        r.copy_from_slice(src);
    }
    r
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses a ClientHello body (the handshake message without its 4-byte header).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    let (_, ch) = parse_tls_handshake_client_hello(body).map_err(|_| HelloError::ClientHello)?;
    let mut out = ClientHello {
        version: ch.version.0,
        random: random32(ch.random),
        session_id: ch.session_id.unwrap_or(&[]).to_vec(),
        cipher_suites: ch.ciphers.iter().map(|c| c.0).collect(),
        compressions: ch.comp.iter().map(|c| c.0).collect(),
        extensions: raw_extensions(ch.ext.unwrap_or(&[])),
        ..ClientHello::default()
    };
    for (ext_type, data, wire) in extension_spans(ch.ext.unwrap_or(&[])) {
        match ext_type {
            ext::PRE_SHARED_KEY => out.psk_offered = true,
            ext::EARLY_DATA => out.early_data = true,
            ext::SESSION_TICKET => out.session_ticket = !data.is_empty(),
            ext::SUPPORTED_VERSIONS => {
                // Read by hand: tls-parser takes a 2-byte body for the ServerHello form.
                let mut c = Cursor::new(data);
                if let Some(list) = c.vec8() {
                    out.supported_versions = list
                        .chunks_exact(2)
                        .filter_map(|p| match p {
                            [a, b] => Some(u16::from_be_bytes([*a, *b])),
                            _ => None,
                        })
                        .collect();
                }
                continue;
            }
            _ => {}
        }
        let Ok((_, parsed)) = parse_tls_client_hello_extension(wire) else {
            continue;
        };
        match parsed {
            TlsExtension::SNI(names) => {
                out.sni = names
                    .iter()
                    .find(|(t, _)| *t == SNIType::HostName)
                    .map(|(_, n)| lossy(n));
            }
            TlsExtension::ALPN(protos) => out.alpn = protos.iter().map(|p| lossy(p)).collect(),
            TlsExtension::EllipticCurves(groups) => {
                out.supported_groups = groups.iter().map(|g| g.0).collect();
            }
            TlsExtension::EcPointFormats(f) => out.ec_point_formats = f.to_vec(),
            TlsExtension::SignatureAlgorithms(s) => out.signature_algorithms = s,
            _ => {}
        }
    }
    Ok(out)
}

/// Parses an SSLv2-compatible ClientHello record (2-byte header included): version, cipher
/// specs (the TLS ones, `0x00XXYY`, become `XXYY`) and challenge (right-aligned as the random).
pub fn parse_sslv2_client_hello(record: &[u8]) -> Result<ClientHello, HelloError> {
    let mut c = Cursor::new(record);
    c.take(2).ok_or(HelloError::ClientHello)?;
    if c.u8() != Some(CLIENT_HELLO) {
        return Err(HelloError::ClientHello);
    }
    let version = c.u16().ok_or(HelloError::ClientHello)?;
    let specs_len = c.u16().ok_or(HelloError::ClientHello)?;
    let sid_len = c.u16().ok_or(HelloError::ClientHello)?;
    let challenge_len = c.u16().ok_or(HelloError::ClientHello)?;
    let specs = c
        .take(usize::from(specs_len))
        .ok_or(HelloError::ClientHello)?;
    let session_id = c
        .take(usize::from(sid_len))
        .ok_or(HelloError::ClientHello)?;
    let challenge = c
        .take(usize::from(challenge_len))
        .ok_or(HelloError::ClientHello)?;
    let mut random = [0u8; 32];
    let n = challenge.len().min(32);
    if let (Some(dst), Some(src)) = (
        random.get_mut(32usize.saturating_sub(n)..),
        challenge.get(challenge.len().saturating_sub(n)..),
    ) {
        dst.copy_from_slice(src);
    }
    Ok(ClientHello {
        version,
        random,
        session_id: session_id.to_vec(),
        cipher_suites: specs
            .chunks_exact(3)
            .filter_map(|s| match s {
                [0, a, b] => Some(u16::from_be_bytes([*a, *b])),
                _ => None,
            })
            .collect(),
        ..ClientHello::default()
    })
}

/// Parses a ServerHello body (TLS 1.3 drafts with their own layout included).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, HelloError> {
    let mut c = Cursor::new(body);
    let version = c.u16().ok_or(HelloError::ServerHello)?;
    let mut out = if (0x0300..=0x0303).contains(&version) {
        let (_, sh) =
            parse_tls_handshake_server_hello(body).map_err(|_| HelloError::ServerHello)?;
        ServerHello {
            version,
            random: random32(sh.random),
            session_id: sh.session_id.unwrap_or(&[]).to_vec(),
            cipher_suite: sh.cipher.0,
            extensions: raw_extensions(sh.ext.unwrap_or(&[])),
            ..ServerHello::default()
        }
    } else if is_tls13(version) {
        // Drafts before 22: version, random, cipher suite, extensions.
        let random = c.take(32).ok_or(HelloError::ServerHello)?;
        let cipher_suite = c.u16().ok_or(HelloError::ServerHello)?;
        let block = c.vec16().unwrap_or(&[]);
        ServerHello {
            version,
            random: random32(random),
            cipher_suite,
            extensions: raw_extensions(block),
            ..ServerHello::default()
        }
    } else {
        return Err(HelloError::ServerHello);
    };
    out.hello_retry = out.random == HELLO_RETRY_RANDOM;
    for e in &out.extensions {
        match e.ext_type {
            ext::PRE_SHARED_KEY => out.psk_accepted = true,
            ext::SUPPORTED_VERSIONS => {
                if let [a, b] = e.data.as_slice() {
                    out.selected_version = Some(u16::from_be_bytes([*a, *b]));
                }
            }
            ext::ALPN => {
                let bytes = wire(e);
                if let Ok((_, TlsExtension::ALPN(p))) = parse_tls_server_hello_extension(&bytes) {
                    out.alpn = p.first().map(|p| lossy(p));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ext(t: u16, data: &[u8]) -> Vec<u8> {
        let mut v = t.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    /// A ClientHello body with the given extensions block content.
    pub(crate) fn client_hello_body(random: u8, exts: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[random; 32]);
        b.push(32);
        b.extend_from_slice(&[0x55; 32]);
        b.extend_from_slice(&[0, 6, 0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2f]);
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(exts);
        b
    }

    /// A ServerHello body (TLS 1.2 layout) with the given extensions block content.
    pub(crate) fn server_hello_body(random: [u8; 32], suite: u16, exts: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(32);
        b.extend_from_slice(&[0x66; 32]);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(exts);
        b
    }

    /// Typical TLS 1.3 ClientHello extensions: SNI, ALPN, supported_versions.
    pub(crate) fn tls13_client_exts(sni: &str, extra: &[u8]) -> Vec<u8> {
        let mut sni_data = ((sni.len() + 3) as u16).to_be_bytes().to_vec();
        sni_data.push(0);
        sni_data.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        sni_data.extend_from_slice(sni.as_bytes());
        let mut e = ext(0x1a1a, &[]);
        e.extend(ext(0, &sni_data));
        e.extend(ext(
            16,
            &[
                0, 12, 5, b'i', b's', b't', b'i', b'o', 5, b'h', b't', b't', b'p', b'2',
            ][..14],
        ));
        e.extend(ext(43, &[4, 0x03, 0x04, 0x03, 0x03]));
        e.extend_from_slice(extra);
        e
    }

    #[test]
    fn client_hello_facts() {
        let mut extra = ext(42, &[]);
        extra.extend(ext(41, &[0, 0]));
        extra.extend(ext(10, &[0, 4, 0, 0x1d, 0, 0x17]));
        extra.extend(ext(11, &[1, 0]));
        extra.extend(ext(13, &[0, 2, 4, 3]));
        extra.extend(ext(35, &[1, 2]));
        let body = client_hello_body(7, &tls13_client_exts("a.example", &extra));
        let ch = parse_client_hello(&body).unwrap();
        assert_eq!(ch.version, 0x0303);
        assert_eq!(ch.random, [7; 32]);
        assert_eq!(ch.session_id, vec![0x55; 32]);
        assert_eq!(ch.cipher_suites, vec![0x0a0a, 0x1301, 0xc02f]);
        assert_eq!(ch.sni.as_deref(), Some("a.example"));
        assert_eq!(ch.alpn, vec!["istio".to_string(), "http2".to_string()]);
        assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
        assert_eq!(ch.supported_groups, vec![0x1d, 0x17]);
        assert_eq!(ch.ec_point_formats, vec![0]);
        assert_eq!(ch.signature_algorithms, vec![0x0403]);
        assert!(ch.early_data && ch.psk_offered && ch.session_ticket);
        let types: Vec<u16> = ch.extensions.iter().map(|e| e.ext_type).collect();
        assert_eq!(types, vec![0x1a1a, 0, 16, 43, 42, 41, 10, 11, 13, 35]);
    }

    #[test]
    fn truncated_client_hello_is_an_error() {
        let body = client_hello_body(7, &[]);
        assert_eq!(
            parse_client_hello(&body[..40]),
            Err(HelloError::ClientHello)
        );
        assert_eq!(parse_client_hello(&[]), Err(HelloError::ClientHello));
    }

    #[test]
    fn malformed_extension_keeps_earlier_ones() {
        let mut e = ext(0, &[0, 4, 0, 0, 1, b'x']);
        e.extend_from_slice(&[0, 16, 0, 40, 1]);
        let ch = parse_client_hello(&client_hello_body(1, &e)).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("x"));
        assert_eq!(ch.extensions.len(), 1);
    }

    #[test]
    fn server_hello_tls13_with_psk_and_alpn() {
        let mut e = ext(43, &[3, 4]);
        e.extend(ext(41, &[0, 0]));
        e.extend(ext(16, &[0, 6, 5, b'i', b's', b't', b'i', b'o']));
        let sh = parse_server_hello(&server_hello_body([2; 32], 0x1302, &e)).unwrap();
        assert_eq!(sh.negotiated_version(), 0x0304);
        assert_eq!(sh.cipher_suite, 0x1302);
        assert!(sh.psk_accepted);
        assert!(!sh.hello_retry);
        assert_eq!(sh.alpn.as_deref(), Some("istio"));
    }

    #[test]
    fn hello_retry_request_and_tls12() {
        let sh = parse_server_hello(&server_hello_body(
            HELLO_RETRY_RANDOM,
            0x1301,
            &ext(43, &[3, 4]),
        ))
        .unwrap();
        assert!(sh.hello_retry);
        let sh = parse_server_hello(&server_hello_body([1; 32], 0xc030, &[])).unwrap();
        assert_eq!(sh.negotiated_version(), 0x0303);
        assert_eq!(sh.selected_version, None);
    }

    #[test]
    fn draft_server_hello_layout() {
        let mut b = vec![0x7f, 0x12];
        b.extend_from_slice(&[9; 32]);
        b.extend_from_slice(&[0x13, 0x01, 0, 0]);
        let sh = parse_server_hello(&b).unwrap();
        assert_eq!((sh.version, sh.cipher_suite), (0x7f12, 0x1301));
        assert_eq!(
            parse_server_hello(&[0x7f, 0x12, 1]),
            Err(HelloError::ServerHello)
        );
        assert_eq!(
            parse_server_hello(&[0x05, 0x05]),
            Err(HelloError::ServerHello)
        );
    }

    #[test]
    fn sslv2_client_hello() {
        let mut r = vec![0x80, 0, 1, 3, 1, 0, 6, 0, 0, 0, 16];
        r.extend_from_slice(&[0x07, 0x00, 0xc0, 0x00, 0x00, 0x2f]);
        r.extend_from_slice(&[5; 16]);
        r[1] = (r.len() - 2) as u8;
        let ch = parse_sslv2_client_hello(&r).unwrap();
        assert_eq!(ch.version, 0x0301);
        assert_eq!(ch.cipher_suites, vec![0x002f]);
        assert_eq!(&ch.random[16..], &[5; 16]);
        assert_eq!(&ch.random[..16], &[0; 16]);
        assert_eq!(
            parse_sslv2_client_hello(&r[..20]),
            Err(HelloError::ClientHello)
        );
    }

    #[test]
    fn names() {
        assert_eq!(&*version_name(0x0303), "1.2");
        assert_eq!(&*version_name(0x7f17), "1.3-draft23");
        assert_eq!(&*version_name(0x7e02), "1.3-experiment2");
        assert_eq!(&*version_name(0x1234), "0x1234");
        assert_eq!(&*cipher_suite_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(
            &*cipher_suite_name(0xc030),
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        );
        assert_eq!(&*cipher_suite_name(0xeeee), "0xeeee");
        assert!(is_grease(0x3a3a) && !is_grease(0x3a4a) && !is_grease(0x1301));
        assert!(is_tls13(0x0304) && is_tls13(0x7f1c) && !is_tls13(0x0303));
    }
}
