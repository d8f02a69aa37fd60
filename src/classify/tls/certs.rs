//! X.509 certificates of a TLS chain, described for the report: subject, issuer, serial,
//! validity, SHA-256 fingerprint, public key, URI and DNS SANs (SPIFFE and Linkerd identities).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::time::ASN1Time;

use super::cursor::Cursor;
use crate::hash::FxBuildHasher;
use crate::model::CertInfo;

/// Certificates described per chain; longer chains are cut (the report says so).
pub const MAX_CHAIN: usize = 16;

/// A certificate chain read from a Certificate message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub certs: Vec<Arc<CertInfo>>,
    /// Entries in the message (may exceed `certs.len()` when capped or cut).
    pub entries: usize,
    /// The message ended before its declared list did.
    pub cut: bool,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(t: &ASN1Time) -> String {
    let dt = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Names an EC curve OID.
fn curve_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.2.840.10045.3.1.7" => "P-256",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.132.0.33" => "P-224",
        _ => return None,
    })
}

/// Describes the subject public key, e.g. `RSA 2048`, `EC P-256`, `Ed25519`.
fn key_description(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.3.101.112" => return "Ed25519".into(),
        "1.3.101.113" => return "Ed448".into(),
        "1.3.101.110" => return "X25519".into(),
        _ => {}
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(ec)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref().and_then(curve_name) {
                Some(name) => format!("EC {name}"),
                None => format!("EC {}", ec.key_size()),
            }
        }
        Ok(PublicKey::DSA(y)) => format!("DSA {}", y.len().saturating_mul(8)),
        _ => alg,
    }
}

/// Distinct certificates remembered per thread: a capture's flows present the same few
/// certificates over and over, and describing one (X.509 parse, SHA-256) costs far more than a
/// look-up.
const CACHE_CERTS: usize = 1024;

thread_local! {
    // FxHash: the table is bounded, and hashing a certificate's DER (a kilobyte or more) with
    // SipHash costs several times more.
    static DESCRIBED: RefCell<HashMap<Box<[u8]>, Arc<CertInfo>, FxBuildHasher>> =
        RefCell::new(HashMap::default());
}

/// Describes one DER certificate, shared with every other flow that presented the same bytes.
pub fn describe_shared(der: &[u8]) -> Arc<CertInfo> {
    DESCRIBED.with(|cache| {
        if let Some(info) = cache.borrow().get(der) {
            return Arc::clone(info);
        }
        let info = Arc::new(describe(der));
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_CERTS {
            cache.clear();
        }
        cache.insert(der.into(), Arc::clone(&info));
        info
    })
}

/// Describes one DER certificate. One that fails to parse still gets its fingerprint.
pub fn describe(der: &[u8]) -> CertInfo {
    let sha256 = sha256_hex(der);
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            return CertInfo {
                sha256,
                parse_error: Some(e.to_string()),
                ..CertInfo::default()
            }
        }
    };
    let mut info = CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: rfc3339(&cert.validity().not_before),
        not_after: rfc3339(&cert.validity().not_after),
        sha256,
        key: key_description(&cert),
        ..CertInfo::default()
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(u) => info.san_uris.push((*u).to_string()),
                GeneralName::DNSName(d) => info.san_dns.push((*d).to_string()),
                _ => {}
            }
        }
    }
    info
}

/// Reads a TLS <= 1.2 Certificate body: `certificate_list<0..2^24-1>` of `ASN.1Cert<1..2^24-1>`.
/// `declared_len` is the message's length from its header (the body may be cut short).
pub fn parse_tls12_chain(body: &[u8]) -> Chain {
    let mut c = Cursor::new(body);
    let Some(list_len) = c.u24() else {
        return Chain {
            cut: true,
            ..Chain::default()
        };
    };
    let available = c.rest();
    let list = available.get(..list_len).unwrap_or(available);
    let mut chain = read_entries(list, false);
    chain.cut |= list.len() < list_len;
    chain
}

/// Reads the entries of a certificate list. In TLS 1.3 each entry carries extensions.
pub(crate) fn read_entries(list: &[u8], tls13: bool) -> Chain {
    let mut chain = Chain::default();
    let mut c = Cursor::new(list);
    while !c.is_empty() {
        let Some(der) = c.vec24() else {
            // An entry whose header is there but whose bytes are not: count it, cut.
            chain.entries = chain.entries.saturating_add(1);
            chain.cut = true;
            break;
        };
        if tls13 && c.vec16().is_none() {
            chain.cut = true;
        }
        chain.entries = chain.entries.saturating_add(1);
        if chain.certs.len() < MAX_CHAIN {
            chain.certs.push(describe_shared(der));
        }
        if chain.cut {
            break;
        }
    }
    chain
}

/// The declared length of a TLS <= 1.2 Certificate message's list (known even when the message
/// is cut): zero means an empty chain.
pub fn tls12_list_len(body: &[u8]) -> Option<usize> {
    Cursor::new(body).u24()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed EC P-256 certificate (serial 0x012345, valid 2024-2034) with URI SAN
    /// `spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage` and DNS SAN
    /// `productpage.bookinfo.svc`, made for these tests.
    pub(crate) const SPIFFE_CERT_HEX: &str = include_str!("testdata/spiffe_p256.der.hex");

    pub(crate) fn spiffe_der() -> Vec<u8> {
        hex::decode(SPIFFE_CERT_HEX.trim()).unwrap()
    }

    #[test]
    fn describes_a_spiffe_certificate() {
        let info = describe(&spiffe_der());
        assert_eq!(info.parse_error, None);
        assert_eq!(info.subject, "O=cluster.local");
        assert_eq!(info.issuer, "O=cluster.local");
        assert_eq!(info.key, "EC P-256");
        assert_eq!(
            info.san_uris,
            vec!["spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage".to_string()]
        );
        assert_eq!(info.san_dns, vec!["productpage.bookinfo.svc".to_string()]);
        assert_eq!(info.not_before, "2024-01-01T00:00:00Z");
        assert_eq!(info.not_after, "2034-01-01T00:00:00Z");
        assert_eq!(info.serial, "01:23:45");
        assert_eq!(info.sha256, sha256_hex(&spiffe_der()));
        assert_eq!(info.sha256.len(), 64);
    }

    #[test]
    fn garbage_gets_fingerprint_and_error() {
        let info = describe(b"not a certificate");
        assert_eq!(info.sha256, sha256_hex(b"not a certificate"));
        assert!(info.parse_error.is_some());
        assert!(info.subject.is_empty());
        assert!(info.key.is_empty());
    }

    #[test]
    fn key_types() {
        let ed = hex::decode(include_str!("testdata/ed25519.der.hex").trim()).unwrap();
        assert_eq!(describe(&ed).key, "Ed25519");
        let rsa = hex::decode(include_str!("testdata/rsa2048.der.hex").trim()).unwrap();
        let info = describe(&rsa);
        assert_eq!(info.key, "RSA 2048");
        assert!(info.san_uris.is_empty());
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn u24(n: usize) -> [u8; 3] {
        let b = (n as u32).to_be_bytes();
        [b[1], b[2], b[3]]
    }

    #[test]
    fn tls12_chain_of_two_and_cut_chain() {
        let der = spiffe_der();
        let mut list = Vec::new();
        for _ in 0..2 {
            list.extend_from_slice(&u24(der.len()));
            list.extend_from_slice(&der);
        }
        let mut body = u24(list.len()).to_vec();
        body.extend_from_slice(&list);
        let chain = parse_tls12_chain(&body);
        assert_eq!((chain.entries, chain.certs.len(), chain.cut), (2, 2, false));
        let cut = parse_tls12_chain(&body[..body.len() - 10]);
        assert_eq!((cut.entries, cut.certs.len(), cut.cut), (2, 1, true));
        assert_eq!(tls12_list_len(&body[..5]), Some(list.len()));
        let empty = parse_tls12_chain(&[0, 0, 0]);
        assert_eq!((empty.entries, empty.cut), (0, false));
        assert!(parse_tls12_chain(&[0]).cut);
    }

    #[test]
    fn chain_is_capped() {
        let mut list = Vec::new();
        for _ in 0..20 {
            list.extend_from_slice(&[0, 0, 2, 0x30, 0]);
        }
        let chain = read_entries(&list, false);
        assert_eq!((chain.entries, chain.certs.len()), (20, MAX_CHAIN));
    }
}
