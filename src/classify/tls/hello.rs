//! ClientHello and ServerHello facts: versions (including `supported_versions`), cipher suites,
//! SNI, ALPN, session resumption signals, HelloRetryRequest, early data, and the raw extension
//! list (JA3/JA4 fingerprints are computed from it).
//!
//! tls-parser reads the hellos and the extensions whose content is used; the extensions are
//! kept as one copy of their block, read one at a time from it.

use std::borrow::Cow;
use std::cell::RefCell;
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

/// One extension as sent: type and raw data, borrowed from its hello's [`Extensions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawExtension<'a> {
    pub ext_type: u16,
    pub data: &'a [u8],
}

/// The extensions of a hello, in order, GREASE included: the whole ones of the block as sent
/// (one copy of the block instead of one allocation per extension), read one at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// Whole extensions only: type (2), length (2) and data, one after the other.
    block: Vec<u8>,
}

impl Extensions {
    /// The whole extensions at the front of an extensions block (without its length prefix); a
    /// malformed extension and what follows it are left out.
    pub fn from_block(block: &[u8]) -> Extensions {
        let whole: usize = extension_spans(block).map(|(_, _, wire)| wire.len()).sum();
        Extensions {
            block: block.get(..whole).unwrap_or(block).to_vec(),
        }
    }

    /// Each extension in order.
    pub fn iter(&self) -> impl Iterator<Item = RawExtension<'_>> + '_ {
        extension_spans(&self.block).map(|(ext_type, data, _)| RawExtension { ext_type, data })
    }

    /// The first extension.
    pub fn first(&self) -> Option<RawExtension<'_>> {
        self.iter().next()
    }

    /// Number of extensions.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The block the extensions were sent in (whole extensions only).
    pub fn as_bytes(&self) -> &[u8] {
        &self.block
    }
}

impl<'a> FromIterator<(u16, &'a [u8])> for Extensions {
    /// Extensions from `(type, data)` pairs (data longer than 65535 bytes is cut to fit).
    fn from_iter<I: IntoIterator<Item = (u16, &'a [u8])>>(items: I) -> Self {
        let mut block = Vec::new();
        for (ext_type, data) in items {
            let data = data.get(..usize::from(u16::MAX)).unwrap_or(data);
            block.extend_from_slice(&ext_type.to_be_bytes());
            block.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
            block.extend_from_slice(data);
        }
        Extensions { block }
    }
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
    pub extensions: Extensions,
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
    pub extensions: Extensions,
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

/// Distinct version and cipher suite names remembered per thread (a capture names a handful).
const MAX_NAMES: usize = 1024;

/// Longest offered-versions list remembered.
const MAX_OFFERED: usize = 16;

thread_local! {
    /// Names by their code.
    static VERSION_NAMES: intern::Remembered<u16, Arc<str>> = RefCell::default();
    static SUITE_NAMES: intern::Remembered<u16, Arc<str>> = RefCell::default();
    /// Named version lists by their version numbers.
    static OFFERED: intern::Remembered<Vec<u16>, Arc<[Arc<str>]>> = RefCell::default();
}

/// The report's name for a protocol version (shared: see [`crate::intern`]).
///
/// Remembered per thread by its number: the look-up spares building and hashing the text for
/// every flow.
pub fn version_name(v: u16) -> Arc<str> {
    intern::remembered(&VERSION_NAMES, &v, MAX_NAMES, || {
        let name: Cow<'static, str> = match v {
            0x0002 => "ssl2".into(),
            0x0300 => "ssl3".into(),
            0x0301 => "1.0".into(),
            0x0302 => "1.1".into(),
            0x0303 => "1.2".into(),
            0x0304 => "1.3".into(),
            0xfeff => "dtls1.0".into(),
            0xfefd => "dtls1.2".into(),
            0xfefc => "dtls1.3".into(),
            0x7f00..=0x7fff => format!("1.3-draft{}", v & 0xff).into(),
            0x7e01..=0x7e02 => format!("1.3-experiment{}", v & 0xff).into(),
            _ => format!("0x{v:04x}").into(),
        };
        intern::str(&name)
    })
}

/// The versions a ClientHello offers, named: its `supported_versions` without GREASE, else its
/// own version. Remembered per thread by the version numbers (a capture's clients offer a few
/// lists), shared through [`crate::intern`].
pub fn versions_offered(ch: &ClientHello) -> Arc<[Arc<str>]> {
    let offered: Vec<u16> = if ch.supported_versions.is_empty() {
        vec![ch.version]
    } else {
        ch.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect()
    };
    let name = || intern::list(offered.iter().map(|&v| version_name(v)));
    if offered.len() > MAX_OFFERED {
        return name();
    }
    intern::remembered(&OFFERED, offered.as_slice(), MAX_NAMES, name)
}

/// TLS 1.3 or one of its drafts and experiments: everything after the ServerHello is encrypted.
pub fn is_tls13(v: u16) -> bool {
    v == 0x0304 || (0x7f00..=0x7fff).contains(&v) || (0x7e01..=0x7e02).contains(&v)
}

/// IANA name of a cipher suite, or `0xNNNN` (shared: see [`crate::intern`]).
pub fn cipher_suite_name(id: u16) -> Arc<str> {
    intern::remembered(
        &SUITE_NAMES,
        &id,
        MAX_NAMES,
        || match TlsCipherSuite::from_id(id) {
            Some(suite) => intern::str(suite.name),
            None => intern::str(&format!("0x{id:04x}")),
        },
    )
}

/// Each whole extension of an extensions block: its type, its data, and its wire form (type,
/// length and data), all borrowed from `block`. Stops at the first extension that does not fit.
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

/// Big-endian `u16`s of `bytes`, a trailing odd byte left out. The iterator knows its length,
/// so collecting it allocates once.
fn u16s(bytes: &[u8]) -> impl ExactSizeIterator<Item = u16> + '_ {
    bytes.chunks_exact(2).map(|p| match p {
        [a, b] => u16::from_be_bytes([*a, *b]),
        // `chunks_exact(2)` only yields pairs.
        _ => 0,
    })
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
    let block = ch.ext.unwrap_or(&[]);
    let mut out = ClientHello {
        version: ch.version.0,
        random: random32(ch.random),
        session_id: ch.session_id.unwrap_or(&[]).to_vec(),
        cipher_suites: ch.ciphers.iter().map(|c| c.0).collect(),
        compressions: ch.comp.iter().map(|c| c.0).collect(),
        extensions: Extensions::from_block(block),
        ..ClientHello::default()
    };
    for (ext_type, data, wire) in extension_spans(block) {
        match ext_type {
            ext::PRE_SHARED_KEY => out.psk_offered = true,
            ext::EARLY_DATA => out.early_data = true,
            ext::SESSION_TICKET => out.session_ticket = !data.is_empty(),
            ext::SUPPORTED_VERSIONS => {
                // Read by hand: tls-parser takes a 2-byte body for the ServerHello form.
                if let Some(list) = Cursor::new(data).vec8() {
                    out.supported_versions = u16s(list).collect();
                }
                continue;
            }
            _ => {}
        }
        // tls-parser reads the extension from its wire form (type, length, data).
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
            TlsExtension::ALPN(p) => out.alpn = p.iter().map(|p| lossy(p)).collect(),
            TlsExtension::EllipticCurves(g) => {
                out.supported_groups = g.iter().map(|g| g.0).collect();
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
            extensions: Extensions::from_block(sh.ext.unwrap_or(&[])),
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
            extensions: Extensions::from_block(block),
            ..ServerHello::default()
        }
    } else {
        return Err(HelloError::ServerHello);
    };
    out.hello_retry = out.random == HELLO_RETRY_RANDOM;
    let (mut psk, mut selected, mut alpn) = (false, None, None);
    for (ext_type, data, wire) in extension_spans(out.extensions.as_bytes()) {
        match ext_type {
            ext::PRE_SHARED_KEY => psk = true,
            ext::SUPPORTED_VERSIONS => {
                if let [a, b] = data {
                    selected = Some(u16::from_be_bytes([*a, *b]));
                }
            }
            ext::ALPN => {
                if let Ok((_, TlsExtension::ALPN(p))) = parse_tls_server_hello_extension(wire) {
                    alpn = p.first().map(|p| lossy(p));
                }
            }
            _ => {}
        }
    }
    out.psk_accepted = psk;
    out.selected_version = selected;
    out.alpn = alpn;
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

    /// xorshift64*: a fixed sequence of pseudo-random numbers.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// Fewer than `max` random bytes.
        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let n = self.below(max);
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// An extension's data that is well formed, cut, padded or random, for the types the
    /// reader looks into.
    fn mutated_ext_data(rng: &mut Rng, ext_type: u16) -> Vec<u8> {
        let mut d = match ext_type {
            0 => {
                let mut list = Vec::new();
                for _ in 0..rng.below(3) {
                    list.push(if rng.below(3) == 0 { 1 } else { 0 });
                    let name = rng.bytes(6);
                    list.extend_from_slice(&(name.len() as u16).to_be_bytes());
                    list.extend(name);
                }
                let mut d = (list.len() as u16).to_be_bytes().to_vec();
                d.extend(list);
                d
            }
            16 => {
                let mut list = Vec::new();
                for _ in 0..rng.below(4) {
                    let name = rng.bytes(5);
                    list.push(name.len() as u8);
                    list.extend(name);
                }
                let mut d = (list.len() as u16).to_be_bytes().to_vec();
                d.extend(list);
                d
            }
            10 | 13 => {
                let list = rng.bytes(9);
                let mut d = (list.len() as u16).to_be_bytes().to_vec();
                d.extend(list);
                d
            }
            11 | 43 => {
                let list = rng.bytes(7);
                let mut d = vec![list.len() as u8];
                d.extend(list);
                d
            }
            _ => rng.bytes(4),
        };
        match rng.below(6) {
            0 => {
                let keep = rng.below(d.len() + 1);
                d.truncate(keep);
            }
            1 => {
                let more = rng.bytes(4);
                d.push(rng.next() as u8);
                d.extend(more);
            }
            2 => {
                let at = rng.below(d.len().max(1));
                if let Some(b) = d.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            _ => {}
        }
        d
    }

    /// On thousands of mutated hellos (cut, flipped, odd lengths, duplicate and malformed
    /// extensions): `is_client_hello` answers as `parse_client_hello` does, and neither reader
    /// panics.
    #[test]
    fn mutated_hellos_are_read_or_refused() {
        let types = [0u16, 10, 11, 13, 16, 35, 41, 42, 43, 0x1a1a, 51, 0xff01];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut exts = Vec::new();
            for _ in 0..rng.below(8) {
                let t = types[rng.below(types.len())];
                exts.extend(ext(t, &mutated_ext_data(&mut rng, t)));
            }
            let mut body = client_hello_body(rng.next() as u8, &exts);
            match rng.below(8) {
                0 => body.truncate(rng.below(body.len() + 1)),
                1 => {
                    let i = rng.below(body.len());
                    body[i] = rng.next() as u8;
                }
                2 => body[34] = rng.below(40) as u8,
                3 => body[68] = (rng.next() as u8) & 7,
                _ => {}
            }
            let parsed = parse_client_hello(&body);
            assert_eq!(is_client_hello(&body), parsed.is_ok(), "{body:02x?}");
            accepted += usize::from(parsed.is_ok());

            let sh_exts: Vec<u8> = (0..rng.below(4))
                .flat_map(|_| {
                    let t = [16u16, 41, 43, 0x2a2a][rng.below(4)];
                    ext(t, &mutated_ext_data(&mut rng, t))
                })
                .collect();
            let mut sh = server_hello_body([rng.next() as u8; 32], 0x1301, &sh_exts);
            sh[1] = [0, 1, 2, 3][rng.below(4)];
            if rng.below(4) == 0 {
                sh.truncate(rng.below(sh.len() + 1));
            }
            let _ = parse_server_hello(&sh);
        }
        assert!(accepted > 5_000, "{accepted}");
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
