//! TLS client fingerprints of a ClientHello: JA3 (Salesforce) and JA4 (FoxIO, BSD-3-Clause; the
//! client fingerprint only: JA4S, JA4X and the other JA4+ methods are under a licence that does
//! not allow them here).
//!
//! JA3 is the MD5 of `version,ciphers,extensions,groups,point_formats` (decimal values joined by
//! `-`, GREASE left out, extensions in the order sent). JA4 is
//! `t{version}{d|i}{ciphers:02}{extensions:02}{alpn}_{sha256(sorted ciphers)[..12]}_{sha256(sorted
//! extensions without SNI and ALPN, then signature algorithms)[..12]}`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::tls::ClientHello;
use crate::hash::FxBuildHasher;

/// Extension numbers JA4 treats apart.
const EXT_SNI: u16 = 0x0000;
const EXT_ALPN: u16 = 0x0010;

/// The fingerprints of one ClientHello, shared between the flows of the same client stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// JA3: lowercase hex MD5 of [`Fingerprints::ja3_full`].
    pub ja3: Arc<str>,
    /// The JA3 string before hashing.
    pub ja3_full: Arc<str>,
    /// JA4, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub ja4: Arc<str>,
    /// JA4 with its lists in the clear instead of hashed (`JA4_r`).
    pub ja4_r: Arc<str>,
}

/// Distinct ClientHello shapes remembered per thread: a capture's flows come from a few client
/// stacks, whose hellos differ only in the fields that no fingerprint reads.
const CACHE_HELLOS: usize = 256;
/// Largest hello shape remembered (a browser's is about 200 bytes; a hostile one can be 64 KiB).
const CACHE_SHAPE_BYTES: usize = 1024;

/// The per-thread fingerprints of the hello shapes seen, and a buffer the shape of each new
/// hello is written into (so that looking one up allocates nothing).
#[derive(Default)]
struct Cache {
    computed: HashMap<Box<[u8]>, Fingerprints, FxBuildHasher>,
    shape: Vec<u8>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Computes JA3 and JA4 of a ClientHello seen over TCP; a hello whose fingerprinted fields
/// equal those of an earlier one on this thread gets the same shared strings.
pub fn fingerprints(ch: &ClientHello) -> Fingerprints {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let Cache { computed, shape } = &mut *cache;
        shape.clear();
        write_shape(ch, shape);
        if shape.len() > CACHE_SHAPE_BYTES {
            return compute(ch);
        }
        if let Some(fp) = computed.get(shape.as_slice()) {
            return fp.clone();
        }
        let fp = compute(ch);
        if computed.len() >= CACHE_HELLOS {
            computed.clear();
        }
        computed.insert(shape.as_slice().into(), fp.clone());
        fp
    })
}

/// Writes every field of the hello that JA3 or JA4 reads into `out`, each list prefixed by its
/// length (so that two different hellos never write the same bytes): version, cipher suites,
/// extension types in order, groups, point formats, `supported_versions`, signature algorithms
/// and the first ALPN protocol. Nothing else (random, session id, SNI, key shares...) is
/// written: hellos that differ only there share their fingerprints.
fn write_shape(ch: &ClientHello, out: &mut Vec<u8>) {
    fn list(out: &mut Vec<u8>, values: impl Iterator<Item = u16>) {
        let at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let mut n = 0u64;
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
            n = n.saturating_add(1);
        }
        if let Some(count) = out.get_mut(at..at.saturating_add(8)) {
            count.copy_from_slice(&n.to_le_bytes());
        }
    }
    out.extend_from_slice(&ch.version.to_le_bytes());
    list(out, ch.cipher_suites.iter().copied());
    list(out, ch.extensions.iter().map(|e| e.ext_type));
    list(out, ch.supported_groups.iter().copied());
    list(out, ch.ec_point_formats.iter().map(|&f| u16::from(f)));
    list(out, ch.supported_versions.iter().copied());
    list(out, ch.signature_algorithms.iter().copied());
    let alpn = first_alpn(ch);
    out.push(u8::from(alpn.is_some()));
    out.extend_from_slice(alpn.unwrap_or_default());
}

/// JA3 and JA4 of a ClientHello, computed.
fn compute(ch: &ClientHello) -> Fingerprints {
    let ja3_full = ja3_string(ch);
    let ja3 = hex::encode(Md5::digest(ja3_full.as_bytes()));
    let parts = Ja4Parts::of(ch);
    Fingerprints {
        ja3: ja3.into(),
        ja3_full: ja3_full.into(),
        ja4: parts.hashed().into(),
        ja4_r: parts.raw().into(),
    }
}

/// A GREASE value (RFC 8701): `0x?a?a` with equal bytes.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The first protocol of the ALPN extension, as raw bytes.
fn first_alpn(ch: &ClientHello) -> Option<&[u8]> {
    let data = ch.extensions.iter().find(|e| e.ext_type == EXT_ALPN)?.data;
    // u16 list length, then u8 length + name
    let len = usize::from(*data.get(2)?);
    data.get(3..3usize.checked_add(len)?)
}

fn no_grease(values: &[u16]) -> impl Iterator<Item = u16> + '_ {
    values.iter().copied().filter(|v| !is_grease(*v))
}

fn decimal_list(values: impl Iterator<Item = u16>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join("-")
}

/// The JA3 string: `771,4865-4866,0-23-65281,29-23,0`.
pub fn ja3_string(ch: &ClientHello) -> String {
    let types: Vec<u16> = ch.extensions.iter().map(|e| e.ext_type).collect();
    format!(
        "{},{},{},{},{}",
        ch.version,
        decimal_list(no_grease(&ch.cipher_suites)),
        decimal_list(no_grease(&types)),
        decimal_list(no_grease(&ch.supported_groups)),
        ch.ec_point_formats
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// JA4's two-character version: the highest `supported_versions` entry, else the hello version.
fn ja4_version(ch: &ClientHello) -> &'static str {
    let version = no_grease(&ch.supported_versions)
        .max()
        .unwrap_or(ch.version);
    match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// JA4's ALPN characters: first and last of the first protocol, when both are alphanumeric; the
/// first and last hex digits of its bytes otherwise; `00` without ALPN.
fn ja4_alpn(ch: &ClientHello) -> String {
    let Some(first) = first_alpn(ch).filter(|p| !p.is_empty()) else {
        return "00".to_string();
    };
    let (Some(&a), Some(&z)) = (first.first(), first.last()) else {
        return "00".to_string();
    };
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        return format!("{}{}", char::from(a), char::from(z));
    }
    let hex = hex::encode(first);
    let first_digit = hex.chars().next().unwrap_or('0');
    let last_digit = hex.chars().last().unwrap_or('0');
    format!("{first_digit}{last_digit}")
}

fn hex_list(values: impl Iterator<Item = u16>) -> String {
    values
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The first 12 hex digits of the SHA-256 of `text`, or twelve zeros for an empty list.
fn truncated_sha256(text: &str, empty: bool) -> String {
    if empty {
        return "000000000000".to_string();
    }
    let mut digest = hex::encode(Sha256::digest(text.as_bytes()));
    digest.truncate(12);
    digest
}

/// The parts JA4 is made of, before hashing.
struct Ja4Parts {
    /// `t13d1516h2`.
    head: String,
    /// Sorted cipher suites in hex.
    ciphers: String,
    /// Sorted extensions in hex without SNI and ALPN.
    extensions: String,
    /// Signature algorithms in hex, in the order sent.
    sigalgs: String,
}

impl Ja4Parts {
    fn of(ch: &ClientHello) -> Ja4Parts {
        let mut ciphers: Vec<u16> = no_grease(&ch.cipher_suites).collect();
        let types: Vec<u16> = ch.extensions.iter().map(|e| e.ext_type).collect();
        let all_exts: Vec<u16> = no_grease(&types).collect();
        let sni = if all_exts.contains(&EXT_SNI) {
            'd'
        } else {
            'i'
        };
        let head = format!(
            "t{}{sni}{:02}{:02}{}",
            ja4_version(ch),
            ciphers.len().min(99),
            all_exts.len().min(99),
            ja4_alpn(ch)
        );
        ciphers.sort_unstable();
        let mut exts: Vec<u16> = all_exts
            .into_iter()
            .filter(|&t| t != EXT_SNI && t != EXT_ALPN)
            .collect();
        exts.sort_unstable();
        Ja4Parts {
            head,
            ciphers: hex_list(ciphers.into_iter()),
            extensions: hex_list(exts.into_iter()),
            sigalgs: hex_list(no_grease(&ch.signature_algorithms)),
        }
    }

    /// Extensions and signature algorithms as JA4_c hashes them.
    fn c_text(&self) -> String {
        if self.sigalgs.is_empty() {
            self.extensions.clone()
        } else {
            format!("{}_{}", self.extensions, self.sigalgs)
        }
    }

    fn hashed(&self) -> String {
        format!(
            "{}_{}_{}",
            self.head,
            truncated_sha256(&self.ciphers, self.ciphers.is_empty()),
            truncated_sha256(&self.c_text(), self.extensions.is_empty())
        )
    }

    fn raw(&self) -> String {
        format!("{}_{}_{}", self.head, self.ciphers, self.c_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tls::parse_client_hello;

    fn hexes(list: &str) -> Vec<u16> {
        list.split(',')
            .map(|h| u16::from_str_radix(h, 16).unwrap())
            .collect()
    }

    /// A ClientHello with the given ciphers, extension types (in order) and signature algorithms,
    /// SNI present when 0x0000 is listed, ALPN `alpn` when 0x0010 is listed.
    fn hello(ciphers: &[u16], exts: &[u16], sigalgs: &[u16], alpn: &[u8]) -> ClientHello {
        ClientHello {
            version: 0x0303,
            cipher_suites: ciphers.to_vec(),
            extensions: {
                let mut alpn_data = ((alpn.len() + 1) as u16).to_be_bytes().to_vec();
                alpn_data.push(alpn.len() as u8);
                alpn_data.extend_from_slice(alpn);
                exts.iter()
                    .map(|&t| {
                        (
                            t,
                            if t == EXT_ALPN {
                                &alpn_data[..]
                            } else {
                                &[][..]
                            },
                        )
                    })
                    .collect()
            },
            supported_versions: vec![0x7a7a, 0x0304, 0x0303],
            signature_algorithms: sigalgs.to_vec(),
            ..ClientHello::default()
        }
    }

    /// The worked example of the JA4 specification (technical_details/JA4.md), with GREASE
    /// values added in every list: they must not change anything.
    #[test]
    fn ja4_specification_example() {
        let mut ciphers = vec![0x0a0a];
        ciphers.extend(hexes(
            "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
        ));
        let mut exts = vec![0x2a2a];
        exts.extend(hexes(
            "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015",
        ));
        exts.push(0x3a3a);
        let sigalgs = hexes("0403,0804,0401,0503,0805,0501,0806,0601");
        let fp = fingerprints(&hello(&ciphers, &exts, &sigalgs, b"h2"));
        assert_eq!(&*fp.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(
            &*fp.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,\
             cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,\
             0804,0401,0503,0805,0501,0806,0601"
        );
        // Without signature algorithms the hash covers the extensions alone (no underscore).
        let fp = fingerprints(&hello(&ciphers, &exts, &[], b"h2"));
        assert!(fp.ja4.ends_with("_6d807ffa2a79"), "{}", fp.ja4);
    }

    /// `sigalg-grease.pcapng` of the JA4 project's test data: a GREASE signature algorithm and
    /// 17 extensions.
    #[test]
    fn ja4_project_sigalg_grease_vector() {
        let ciphers =
            hexes("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035");
        let exts = hexes(
            "fe0d,0010,0017,0033,44cd,ff01,000a,000d,0023,002b,000b,ca34,002d,0000,0005,001b,0012",
        );
        let mut sigalgs = vec![0x1a1a];
        sigalgs.extend(hexes(
            "0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601",
        ));
        let fp = fingerprints(&hello(&ciphers, &exts, &sigalgs, b"h2"));
        assert_eq!(&*fp.ja4, "t13d1517h2_8daaf6152771_cb7bf5808d99");
    }

    /// The example string of the JA3 README and its published MD5.
    #[test]
    fn ja3_readme_example() {
        let ch = ClientHello {
            version: 0x0301,
            cipher_suites: vec![
                0x0a0a, 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4,
            ],
            extensions: [0u16, 10, 0x5a5a, 11]
                .iter()
                .map(|&t| (t, &[][..]))
                .collect(),
            supported_groups: vec![0x1a1a, 23, 24, 25],
            ec_point_formats: vec![0],
            ..ClientHello::default()
        };
        let fp = fingerprints(&ch);
        assert_eq!(
            &*fp.ja3_full,
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
        );
        assert_eq!(&*fp.ja3, "ada70206e40642a3e4461f35503241d5");
        // no supported_versions: JA4 takes the hello version; no ALPN: "00"
        assert!(fp.ja4.starts_with("t10d1203"), "{}", fp.ja4);
        assert!(fp.ja4.starts_with("t10d120300_"), "{}", fp.ja4);
    }

    #[test]
    fn ja4_alpn_rules() {
        let with = |alpn: &[u8]| {
            let ch = hello(&[0x1301], &[EXT_ALPN], &[], alpn);
            ja4_alpn(&ch)
        };
        assert_eq!(with(b"http/1.1"), "h1");
        assert_eq!(with(b"istio-peer-exchange"), "ie");
        assert_eq!(with(b"h"), "hh");
        assert_eq!(with(&[0xab]), "ab");
        assert_eq!(with(&[0xab, 0xcd]), "ad");
        assert_eq!(with(&[0x30, 0xab]), "3b");
        assert_eq!(with(&[0x30, 0x31, 0xab, 0xcd]), "3d");
        assert_eq!(with(&[0x30, 0xab, 0xcd, 0x31]), "01");
        assert_eq!(with(b""), "00");
        assert_eq!(ja4_alpn(&hello(&[], &[], &[], b"")), "00");
    }

    /// Hellos that differ only where no fingerprint looks share one computation; a difference
    /// in any fingerprinted field, even only the first ALPN protocol, gets its own.
    #[test]
    fn equal_shapes_share_their_fingerprints() {
        let mut a = hello(&[0x1301, 0x1302], &[0, EXT_ALPN, 0x002b], &[0x0403], b"h2");
        a.random = [1; 32];
        let mut b = a.clone();
        b.random = [2; 32];
        b.session_id = vec![7; 32];
        let (fa, fb) = (fingerprints(&a), fingerprints(&b));
        assert!(Arc::ptr_eq(&fa.ja4_r, &fb.ja4_r) && Arc::ptr_eq(&fa.ja3_full, &fb.ja3_full));
        assert_eq!(fa, compute(&a));
        let c = hello(
            &[0x1301, 0x1302],
            &[0, EXT_ALPN, 0x002b],
            &[0x0403],
            b"http/1.1",
        );
        let fc = fingerprints(&c);
        assert_eq!(fc, compute(&c));
        assert_ne!(fa.ja4, fc.ja4);
        assert_eq!(fa.ja3, fc.ja3);
        let mut d = a.clone();
        d.ec_point_formats = vec![0];
        assert_eq!(fingerprints(&d), compute(&d));
        assert_ne!(fingerprints(&d).ja3, fa.ja3);
        // a huge hello is computed, not remembered
        let many: Vec<u16> = (1..=600).collect();
        let big = hello(&many, &[0], &[], b"");
        assert!(shape(&big).len() > CACHE_SHAPE_BYTES);
        let (f1, f2) = (fingerprints(&big), fingerprints(&big));
        assert_eq!(f1, compute(&big));
        assert!(!Arc::ptr_eq(&f1.ja4_r, &f2.ja4_r));
        CACHE.with(|c| assert!(!c.borrow().computed.contains_key(shape(&big).as_slice())));
    }

    fn shape(ch: &ClientHello) -> Vec<u8> {
        let mut out = Vec::new();
        write_shape(ch, &mut out);
        out
    }

    /// A TLS 1.3 ClientHello body as a browser sends it: `random`, session id, SNI, ALPN, key
    /// share and padding vary from connection to connection, the rest is the client stack's.
    fn wire_hello(random: u8, sni: &str, alpn: &[u8], key_share: u8, padding: usize) -> Vec<u8> {
        fn ext(t: u16, data: &[u8]) -> Vec<u8> {
            let mut v = t.to_be_bytes().to_vec();
            v.extend_from_slice(&(data.len() as u16).to_be_bytes());
            v.extend_from_slice(data);
            v
        }
        let mut sni_data = ((sni.len() + 3) as u16).to_be_bytes().to_vec();
        sni_data.push(0);
        sni_data.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        sni_data.extend_from_slice(sni.as_bytes());
        let mut alpn_data = ((alpn.len() + 1) as u16).to_be_bytes().to_vec();
        alpn_data.push(alpn.len() as u8);
        alpn_data.extend_from_slice(alpn);
        let mut exts = ext(0x2a2a, &[]);
        exts.extend(ext(0, &sni_data));
        exts.extend(ext(10, &[0, 4, 0, 0x1d, 0, 0x17]));
        exts.extend(ext(11, &[1, 0]));
        exts.extend(ext(13, &[0, 4, 4, 3, 8, 4]));
        exts.extend(ext(16, &alpn_data));
        exts.extend(ext(43, &[4, 3, 4, 3, 3]));
        exts.extend(ext(
            51,
            &[
                0, 36, 0, 0x1d, 0, 32, key_share, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
            ],
        ));
        exts.extend(ext(21, &vec![0; padding]));
        let mut b = vec![3, 3];
        b.extend_from_slice(&[random; 32]);
        b.push(32);
        b.extend_from_slice(&[random ^ 0x55; 32]);
        b.extend_from_slice(&[0, 6, 0x1a, 0x1a, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend(exts);
        b
    }

    /// The cache key of hellos read from the wire: what JA3/JA4 ignore (random, session id,
    /// SNI name, key share, padding length, ALPN protocols after the first) does not change it;
    /// each field they read does.
    #[test]
    fn cache_key_covers_exactly_the_fingerprinted_fields() {
        let read = |body: &[u8]| parse_client_hello(body).unwrap();
        let base = read(&wire_hello(1, "a.example", b"h2", 7, 10));
        let key = shape(&base);
        for other in [
            wire_hello(2, "a.example", b"h2", 7, 10),
            wire_hello(1, "another.example.org", b"h2", 7, 10),
            wire_hello(1, "a.example", b"h2", 99, 10),
            wire_hello(1, "a.example", b"h2", 7, 200),
        ] {
            let ch = read(&other);
            assert_eq!(shape(&ch), key);
            assert_eq!(fingerprints(&ch), compute(&base));
        }
        let mut differs: Vec<ClientHello> = vec![read(&wire_hello(1, "a.example", b"h3", 7, 10))];
        let edits: [fn(&mut ClientHello); 9] = [
            |c| c.version = 0x0301,
            |c| c.cipher_suites.swap(1, 2),
            |c| c.cipher_suites.push(0x009c),
            |c| {
                let mut types: Vec<(u16, Vec<u8>)> = c
                    .extensions
                    .iter()
                    .map(|e| (e.ext_type, e.data.to_vec()))
                    .collect();
                types.swap(2, 3);
                c.extensions = types.iter().map(|(t, d)| (*t, d.as_slice())).collect();
            },
            |c| c.supported_groups.push(0x18),
            |c| c.ec_point_formats.push(1),
            |c| c.supported_versions.retain(|&v| v != 0x0304),
            |c| c.signature_algorithms.reverse(),
            |c| c.extensions = c.extensions.iter().map(|e| (e.ext_type, &[][..])).collect(),
        ];
        for edit in edits {
            let mut c = base.clone();
            edit(&mut c);
            differs.push(c);
        }
        for (i, c) in differs.iter().enumerate() {
            assert_ne!(shape(c), key, "edit {i}");
            assert_eq!(fingerprints(c), compute(c), "edit {i}");
        }
        // Every fingerprint string of the edited hellos differs from the base's in at least
        // one of JA3 and JA4_r: no edit is one the cache could have confused.
        let fb = compute(&base);
        for (i, c) in differs.iter().enumerate() {
            let f = compute(c);
            assert!(f.ja3_full != fb.ja3_full || f.ja4_r != fb.ja4_r, "edit {i}");
        }
    }

    #[test]
    fn empty_and_odd_hellos_do_not_panic() {
        let fp = fingerprints(&ClientHello::default());
        assert_eq!(&*fp.ja3_full, "0,,,,");
        assert_eq!(&*fp.ja4, "t00i000000_000000000000_000000000000");
        assert_eq!(&*fp.ja4_r, "t00i000000__");
        // counts stop at 99
        let many: Vec<u16> = (1..=150).collect();
        let fp = fingerprints(&hello(&many, &many, &[], b""));
        assert!(fp.ja4.starts_with("t13i999900_"), "{}", fp.ja4);
    }
}
