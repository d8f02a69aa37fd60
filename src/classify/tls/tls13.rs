//! TLS 1.3 client-certificate inference without keys, from the sizes of the client's encrypted
//! handshake records (the product's key feature: SPEC §4).
//!
//! After the ServerHello everything is encrypted (outer content type 23). The client's flight is
//! `[Certificate, CertificateVerify,] Finished` when the server asked for a certificate
//! (`Certificate` is empty when the client has none), and `Finished` alone otherwise. Each record
//! carries the messages, one content-type byte and the AEAD tag, so the sizes of the few possible
//! shapes are known exactly per cipher suite; some stacks send one record per message, others
//! coalesce the flight into one record: both are recognised.

use super::frame_text;
use super::hello::cipher_suite_name;
use super::records::{Record, ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC};
use crate::model::{said, Code, Said};

/// Inner bytes (messages + content type) from which a first record can only be a certificate
/// chain: the smallest real certificate is already larger.
pub const MIN_CHAIN_INNER: usize = 100;
/// The client's EncryptedExtensions carrying an empty ALPS `application_settings` extension
/// (Chrome/BoringSSL send it before their Certificate when ALPS is negotiated): 4 + 2 + 2 + 2.
pub const ALPS_EMPTY_ENCRYPTED_EXTENSIONS: usize = 10;
/// With ALPS offered, the client's EncryptedExtensions may carry settings of any size: a chain is
/// only concluded from a first record this much larger.
pub const MIN_CHAIN_INNER_WITH_ALPS: usize = 300;
/// Smallest and largest CertificateVerify body (signature scheme 2 + length 2 + signature): an
/// Ed25519 signature is 64 bytes, an RSA-8192 one 1024.
pub const CERTIFICATE_VERIFY_BODY: std::ops::RangeInclusive<usize> = (4 + 64)..=(4 + 1024);
/// ALPS extension code points (old and new).
pub const ALPS_EXTENSIONS: [u16; 2] = [17513, 17613];

/// Hash and AEAD tag lengths of a TLS 1.3 cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteSizes {
    pub hash_len: usize,
    pub tag_len: usize,
}

/// Record body lengths (ciphertext with tag) of the flight shapes the inference recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightShapes {
    pub sizes: SuiteSizes,
    /// `Finished` alone: 4 + hash + 1 + tag.
    pub finished_only: usize,
    /// An empty `Certificate` alone: 8 + 1 + tag.
    pub empty_certificate: usize,
    /// Empty `Certificate` and `Finished` in one record: 8 + 4 + hash + 1 + tag.
    pub empty_certificate_finished: usize,
    /// `EndOfEarlyData` alone (0-RTT accepted): 4 + 1 + tag.
    pub end_of_early_data: usize,
    /// An alert: 2 + 1 + tag.
    pub alert: usize,
}

/// Hash and tag lengths of a TLS 1.3 suite (`None` for suites that are not TLS 1.3).
pub fn suite_sizes(suite: u16) -> Option<SuiteSizes> {
    let (hash_len, tag_len) = match suite {
        0x1301 | 0x1303 | 0x1304 => (32, 16),
        0x1302 => (48, 16),
        0x1305 => (32, 8),
        // SM4 GCM/CCM with SM3 (RFC 8998).
        0x00c6 | 0x00c7 => (32, 16),
        _ => return None,
    };
    Some(SuiteSizes { hash_len, tag_len })
}

/// The flight shapes of a TLS 1.3 suite.
pub fn flight_shapes(suite: u16) -> Option<FlightShapes> {
    let s = suite_sizes(suite)?;
    let overhead = 1 + s.tag_len;
    let finished = 4 + s.hash_len;
    Some(FlightShapes {
        sizes: s,
        finished_only: finished + overhead,
        empty_certificate: 8 + overhead,
        empty_certificate_finished: 8 + finished + overhead,
        end_of_early_data: 4 + overhead,
        alert: 2 + overhead,
    })
}

/// What the client's encrypted records say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inference {
    /// The client sent a certificate chain (`Some(false)`: an empty Certificate or none at all).
    pub presented: Option<bool>,
    pub certificate_requested: Option<bool>,
    /// Frame of the record the conclusion rests on.
    pub frame: Option<u64>,
    /// Records the client sent as 0-RTT early data.
    pub early_data_records: usize,
    /// Frame of the client's last handshake record (its Finished) when identified.
    pub flight_end_frame: Option<u64>,
    /// The client's first encrypted record has the size of an alert: it gave up.
    pub client_aborted: bool,
    pub reasons: Vec<Said>,
}

/// Inputs of the inference.
#[derive(Debug, Clone, Copy)]
pub struct Input<'r, 'a> {
    pub suite: u16,
    /// The client's records after its last ClientHello.
    pub client_records: &'r [Record<'a>],
    /// Frame of the server's first encrypted record, if captured.
    pub server_first_encrypted: Option<u64>,
    pub early_data_offered: bool,
    /// The ClientHello offered ALPS (application settings).
    pub alps_offered: bool,
    /// The client's stream stops (hole, cut, garbage) before the records given.
    pub client_stream_broken: bool,
}

/// How the client's flight continues after the record holding its certificate chain: the end
/// of the reason sentence, written straight into it.
#[derive(Debug, Clone, Copy)]
enum FlightTail {
    /// A CertificateVerify-sized record, then a Finished-sized one of `finished` bytes.
    VerifyThenFinished { finished: usize, frame: Option<u64> },
    /// CertificateVerify in the chain record, then a Finished-sized record.
    FinishedNext { finished: usize, frame: Option<u64> },
    /// Nothing follows the chain record.
    Nothing,
    /// Records of other sizes follow: the flight is coalesced into the chain record.
    Coalesced,
}

impl std::fmt::Display for FlightTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            FlightTail::VerifyThenFinished { finished, frame } => write!(
                f,
                ", then a Finished-sized record of {finished} bytes ({})",
                frame_text(frame)
            ),
            FlightTail::FinishedNext { finished, frame } => write!(
                f,
                ", CertificateVerify in the same record, then a Finished-sized record of {finished} bytes ({})",
                frame_text(frame)
            ),
            FlightTail::Nothing => Ok(()),
            FlightTail::Coalesced => f.write_str(
                ", no CertificateVerify and Finished-sized records follow: the flight is coalesced into this record (CertificateVerify and Finished included)",
            ),
        }
    }
}

/// Where the client's flight ends after the record holding its certificate chain, and how that
/// reads. One record per message (OpenSSL): a CertificateVerify-sized record, then a
/// Finished-sized one. Certificate + CertificateVerify together: a Finished-sized record next.
/// Anything else follows a flight coalesced into the chain record (rustls, Go, BoringSSL): the
/// Finished is in it, and what follows is application data, whatever its size.
fn chain_flight_end(
    chain: &Record<'_>,
    rest: &[&Record<'_>],
    shapes: &FlightShapes,
) -> (Option<u64>, FlightTail) {
    let inner = |r: &Record<'_>| r.body.len().checked_sub(1 + shapes.sizes.tag_len);
    let finished = |r: &Record<'_>| r.body.len() == shapes.finished_only;
    match rest {
        [cv, fin, ..]
            if finished(fin) && inner(cv).is_some_and(|n| CERTIFICATE_VERIFY_BODY.contains(&n)) =>
        {
            (
                fin.frame,
                FlightTail::VerifyThenFinished {
                    finished: shapes.finished_only,
                    frame: fin.frame,
                },
            )
        }
        [fin, ..] if finished(fin) => (
            fin.frame,
            FlightTail::FinishedNext {
                finished: shapes.finished_only,
                frame: fin.frame,
            },
        ),
        [] => (chain.frame, FlightTail::Nothing),
        [_, ..] => (chain.frame, FlightTail::Coalesced),
    }
}

/// Infers from the client's encrypted handshake records whether it sent a certificate.
pub fn infer(input: Input<'_, '_>) -> Inference {
    let mut out = Inference::default();
    let suite_name = cipher_suite_name(input.suite);
    let Some(shapes) = flight_shapes(input.suite) else {
        out.reasons.push(said(Code::TlsClientCertificateUnknown, format!(
            "TLS 1.3 cipher suite {suite_name} has no known record overhead: client certificate unknown"
        )));
        return out;
    };
    // The client's encrypted records, in order, up to a hole.
    let mut encrypted: Vec<&Record<'_>> = Vec::new();
    let mut broken = input.client_stream_broken;
    for r in input.client_records {
        if r.after_hole {
            broken = true;
            break;
        }
        match r.content_type {
            CHANGE_CIPHER_SPEC => {}
            APPLICATION_DATA => encrypted.push(r),
            ALERT if encrypted.is_empty() => {
                out.client_aborted = true;
                out.reasons.push(said(Code::TlsClientCertificateUnknown, format!(
                    "client sent a cleartext alert instead of its handshake flight ({}): client certificate unknown",
                    frame_text(r.frame)
                )));
                return out;
            }
            _ => {}
        }
    }
    // Split off 0-RTT early data: records sent before the server's encrypted flight arrived.
    let mut flight: &[&Record<'_>] = &encrypted;
    if input.early_data_offered {
        let Some(server_frame) = input.server_first_encrypted else {
            out.reasons.push(said(Code::TlsClientCertificateUnknown,
                "client offered early data and the server's encrypted flight is not captured: its records cannot be told apart, client certificate unknown"
                    .to_string()));
            return out;
        };
        let early = encrypted
            .iter()
            .take_while(|r| r.frame.is_some_and(|f| f < server_frame))
            .count();
        if encrypted.iter().any(|r| r.frame.is_none()) {
            out.reasons.push(said(Code::TlsClientCertificateUnknown,
                "client offered early data and its records have no frame numbers: client certificate unknown"
                    .to_string()));
            return out;
        }
        out.early_data_records = early;
        if early > 0 {
            out.reasons.push(said(Code::TlsEarlyData, format!(
                "client sent {early} encrypted record(s) before the server's encrypted flight (frame {server_frame}): 0-RTT early data, not part of the handshake flight"
            )));
        }
        flight = flight.get(early..).unwrap_or(&[]);
    }
    let Some(first) = flight.first() else {
        out.reasons.push(said(Code::TlsClientCertificateUnknown, if broken {
            "bytes are missing from the client stream before its encrypted handshake flight: client certificate unknown".to_string()
        } else {
            "client's encrypted handshake flight is not in the capture: client certificate unknown"
                .to_string()
        }));
        return out;
    };
    let mut first = *first;
    let mut rest = flight.get(1..).unwrap_or(&[]);
    let mut eoed = 0;
    if out.early_data_records > 0 && first.body.len() == shapes.end_of_early_data {
        out.reasons.push(said(
            Code::TlsEarlyData,
            format!(
                "client record of {} bytes = EndOfEarlyData 4+1+{} ({})",
                shapes.end_of_early_data,
                shapes.sizes.tag_len,
                frame_text(first.frame)
            ),
        ));
        match rest.split_first() {
            Some((next, tail)) => {
                first = next;
                rest = tail;
            }
            None => {
                out.reasons.push(said(Code::TlsClientCertificateUnknown,
                    "client's handshake flight ends before its Finished: client certificate unknown"
                        .to_string()));
                return out;
            }
        }
    } else if out.early_data_records > 0 {
        // EndOfEarlyData coalesced with the rest of the flight.
        eoed = 4;
    }
    let len = first.body.len();
    let hash = shapes.sizes.hash_len;
    let tag = shapes.sizes.tag_len;
    let at = frame_text(first.frame);
    out.frame = first.frame;
    // A length matches a shape exactly, or (ALPS offered) with the client's EncryptedExtensions.
    let alps = if input.alps_offered {
        ALPS_EMPTY_ENCRYPTED_EXTENSIONS
    } else {
        0
    };
    let extra = |len: usize, shape: usize| -> Option<bool> {
        if len == shape {
            Some(false)
        } else if alps > 0 && len == shape + alps {
            Some(true)
        } else {
            None
        }
    };
    let alps_text = |with: bool| {
        if with {
            format!(" + client EncryptedExtensions (ALPS) {alps}")
        } else {
            String::new()
        }
    };
    let min_chain = if input.alps_offered {
        MIN_CHAIN_INNER_WITH_ALPS
    } else {
        MIN_CHAIN_INNER
    };
    let finished_after = |records: &[&Record<'_>]| {
        // an empty Certificate alone is followed by the Finished
        records
            .iter()
            .find(|r| r.body.len() == shapes.finished_only)
            .map(|r| r.frame)
    };
    if len == shapes.alert && eoed == 0 {
        out.client_aborted = true;
        out.reasons.push(said(Code::TlsClientCertificateUnknown, format!(
            "first client encrypted record {len} bytes = alert 2+1+{tag}: the client aborted the handshake ({at}), client certificate unknown"
        )));
    } else if let Some(alps) = extra(len, shapes.finished_only + eoed) {
        out.presented = Some(false);
        out.certificate_requested = Some(false);
        out.flight_end_frame = first.frame;
        out.reasons.push(said(Code::TlsClientCertificateInferred, format!(
            "first client handshake record {len} bytes = Finished-only {eoed_txt}4+{hash}+1+{tag}{alps_txt} for {suite_name}: no Certificate message, the server did not request one ({at})",
            eoed_txt = if eoed > 0 { "4+" } else { "" },
            alps_txt = alps_text(alps),
        )));
    } else if len == shapes.empty_certificate && eoed == 0 {
        out.presented = Some(false);
        out.certificate_requested = Some(true);
        out.flight_end_frame = finished_after(rest).flatten().or(first.frame);
        out.reasons.push(said(Code::TlsClientCertificateInferred, format!(
            "first client handshake record {len} bytes = empty Certificate 8+1+{tag} for {suite_name}: certificate requested, none sent ({at})"
        )));
    } else if let Some(alps) = extra(len, shapes.empty_certificate_finished + eoed) {
        out.presented = Some(false);
        out.certificate_requested = Some(true);
        out.flight_end_frame = first.frame;
        out.reasons.push(said(Code::TlsClientCertificateInferred, format!(
            "first client handshake record {len} bytes = empty Certificate + Finished {eoed_txt}8+4+{hash}+1+{tag}{alps_txt} for {suite_name}: certificate requested, none sent ({at})",
            eoed_txt = if eoed > 0 { "4+" } else { "" },
            alps_txt = alps_text(alps),
        )));
    } else if len.saturating_sub(1 + tag) >= min_chain {
        out.presented = Some(true);
        out.certificate_requested = Some(true);
        let (end, tail) = chain_flight_end(first, rest, &shapes);
        out.flight_end_frame = end;
        out.reasons.push(said(Code::TlsClientCertificateInferred, format!(
            "first client handshake record {len} bytes > Finished-only {} bytes for {suite_name}: certificate chain present ({at}){tail}",
            shapes.finished_only
        )));
    } else {
        out.reasons.push(said(Code::TlsClientCertificateUnknown, format!(
            "first client handshake record {len} bytes matches no known flight shape for {suite_name} (Finished-only {}, empty Certificate {}, empty Certificate + Finished {}): client certificate unknown ({at})",
            shapes.finished_only, shapes.empty_certificate, shapes.empty_certificate_finished
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(content_type: u8, len: usize, frame: u64) -> Record<'static> {
        static ZEROS: [u8; 4096] = [0; 4096];
        Record {
            content_type,
            version: 0x0303,
            offset: 0,
            header: &[],
            body: &ZEROS[..len],
            frame: Some(frame),
            after_hole: false,
        }
    }

    fn input<'r>(suite: u16, records: &'r [Record<'static>]) -> Input<'r, 'static> {
        Input {
            suite,
            client_records: records,
            server_first_encrypted: Some(5),
            early_data_offered: false,
            alps_offered: false,
            client_stream_broken: false,
        }
    }

    #[test]
    fn shapes_of_every_tls13_suite() {
        // (suite, finished-only, empty certificate, empty certificate + finished, alert)
        let expect = [
            (0x1301, 53, 25, 61, 19),
            (0x1302, 69, 25, 77, 19),
            (0x1303, 53, 25, 61, 19),
            (0x1304, 53, 25, 61, 19),
            (0x1305, 45, 17, 53, 11),
        ];
        for (suite, fin, empty, both, alert) in expect {
            let s = flight_shapes(suite).unwrap();
            assert_eq!(
                (
                    s.finished_only,
                    s.empty_certificate,
                    s.empty_certificate_finished,
                    s.alert
                ),
                (fin, empty, both, alert),
                "suite {suite:#06x}"
            );
        }
        assert_eq!(
            suite_sizes(0x1302),
            Some(SuiteSizes {
                hash_len: 48,
                tag_len: 16
            })
        );
        assert_eq!(
            suite_sizes(0x1305),
            Some(SuiteSizes {
                hash_len: 32,
                tag_len: 8
            })
        );
        assert_eq!(flight_shapes(0xc02f), None);
    }

    #[test]
    fn finished_only_means_no_certificate_for_every_suite() {
        for (suite, fin) in [
            (0x1301, 53),
            (0x1302, 69),
            (0x1303, 53),
            (0x1304, 53),
            (0x1305, 45),
        ] {
            let r = [rec(20, 1, 6), rec(23, fin, 7), rec(23, 300, 9)];
            let i = infer(input(suite, &r));
            assert_eq!(i.presented, Some(false), "suite {suite:#06x}");
            assert_eq!(i.certificate_requested, Some(false));
            assert_eq!(i.frame, Some(7));
            assert!(
                i.reasons[0].contains(&format!("{fin} bytes = Finished-only")),
                "{:?}",
                i.reasons
            );
        }
    }

    #[test]
    fn chain_in_separate_records_openssl_style() {
        let r = [
            rec(20, 1, 6),
            rec(23, 1210, 7),
            rec(23, 97, 7),
            rec(23, 53, 8),
        ];
        let i = infer(input(0x1301, &r));
        assert_eq!(
            (i.presented, i.certificate_requested),
            (Some(true), Some(true))
        );
        assert_eq!(i.flight_end_frame, Some(8));
        assert_eq!(
            i.reasons,
            vec!["first client handshake record 1210 bytes > Finished-only 53 bytes for TLS_AES_128_GCM_SHA256: certificate chain present (frame 7), then a Finished-sized record of 53 bytes (frame 8)".to_string()]
        );
    }

    #[test]
    fn chain_coalesced_with_sha384() {
        let r = [rec(23, 1500, 9)];
        let i = infer(input(0x1302, &r));
        assert_eq!(i.presented, Some(true));
        assert!(i.reasons[0].contains("> Finished-only 69 bytes for TLS_AES_256_GCM_SHA384"));
    }

    #[test]
    fn rustls_coalesced_flights_from_real_captures() {
        // rustls-tls13-mtls.pcap: CCS, then Certificate + CertificateVerify + Finished in one
        // 624-byte record (frame 8), application data (49) and close_notify (19) afterwards.
        let r = [
            rec(20, 1, 8),
            rec(23, 624, 8),
            rec(23, 49, 10),
            rec(23, 19, 14),
        ];
        let i = infer(input(0x1302, &r));
        assert_eq!(
            (i.presented, i.certificate_requested),
            (Some(true), Some(true))
        );
        assert_eq!((i.frame, i.flight_end_frame), (Some(8), Some(8)));
        assert_eq!(
            i.reasons,
            vec!["first client handshake record 624 bytes > Finished-only 69 bytes for TLS_AES_256_GCM_SHA384: certificate chain present (frame 8), no CertificateVerify and Finished-sized records follow: the flight is coalesced into this record (CertificateVerify and Finished included)".to_string()]
        );
        // A Finished-sized record of application data after a coalesced flight is not the
        // flight's end: the record before it (49 bytes) is too small for a CertificateVerify.
        let r = [
            rec(20, 1, 8),
            rec(23, 624, 8),
            rec(23, 49, 10),
            rec(23, 69, 12),
        ];
        assert_eq!(infer(input(0x1302, &r)).flight_end_frame, Some(8));
        // rustls-tls13-cert-requested-none.pcap: empty Certificate + Finished, 77 bytes.
        let r = [
            rec(20, 1, 8),
            rec(23, 77, 8),
            rec(23, 49, 10),
            rec(23, 19, 14),
        ];
        let i = infer(input(0x1302, &r));
        assert_eq!(
            (i.presented, i.certificate_requested, i.flight_end_frame),
            (Some(false), Some(true), Some(8))
        );
        assert!(
            i.reasons[0].contains("77 bytes = empty Certificate + Finished 8+4+48+1+16"),
            "{:?}",
            i.reasons
        );
        // rustls-tls13-server-only.pcap: Finished alone, 69 bytes.
        let r = [
            rec(20, 1, 8),
            rec(23, 69, 8),
            rec(23, 49, 10),
            rec(23, 19, 14),
        ];
        let i = infer(input(0x1302, &r));
        assert_eq!(
            (i.presented, i.certificate_requested, i.flight_end_frame),
            (Some(false), Some(false), Some(8))
        );
    }

    #[test]
    fn certificate_and_verify_together_then_finished() {
        let r = [
            rec(20, 1, 6),
            rec(23, 700, 7),
            rec(23, 53, 9),
            rec(23, 80, 11),
        ];
        let i = infer(input(0x1301, &r));
        assert_eq!(i.presented, Some(true));
        assert_eq!(i.flight_end_frame, Some(9));
        assert!(
            i.reasons[0].ends_with(
                ", CertificateVerify in the same record, then a Finished-sized record of 53 bytes (frame 9)"
            ),
            "{:?}",
            i.reasons
        );
        // OpenSSL, RSA-2048 client: CertificateVerify 4+256+1+16 = 281, Finished 69.
        let r = [rec(23, 1085, 7), rec(23, 281, 7), rec(23, 69, 8)];
        assert_eq!(infer(input(0x1302, &r)).flight_end_frame, Some(8));
    }

    #[test]
    fn empty_certificate_alone_and_coalesced() {
        let r = [rec(23, 25, 7), rec(23, 53, 7)];
        let i = infer(input(0x1301, &r));
        assert_eq!(
            (i.presented, i.certificate_requested),
            (Some(false), Some(true))
        );
        assert!(i.reasons[0].contains("25 bytes = empty Certificate 8+1+16"));
        let r = [rec(23, 61, 7)];
        let i = infer(input(0x1303, &r));
        assert_eq!(
            (i.presented, i.certificate_requested),
            (Some(false), Some(true))
        );
        let r = [rec(23, 53, 7)];
        let i = infer(input(0x1305, &r));
        assert_eq!(
            (i.presented, i.certificate_requested),
            (Some(false), Some(true)),
            "CCM_8: 8+4+32+1+8"
        );
    }

    #[test]
    fn alps_encrypted_extensions_with_finished() {
        // Chrome with ALPS: EncryptedExtensions (10) + Finished (53) = 63 bytes.
        let r = [rec(20, 1, 6), rec(23, 63, 12)];
        let mut inp = input(0x1301, &r);
        assert_eq!(
            infer(inp).presented,
            None,
            "without ALPS offered 63 bytes is no known shape"
        );
        inp.alps_offered = true;
        let i = infer(inp);
        assert_eq!(
            (i.presented, i.certificate_requested),
            (Some(false), Some(false))
        );
        assert_eq!(
            i.reasons,
            vec!["first client handshake record 63 bytes = Finished-only 4+32+1+16 + client EncryptedExtensions (ALPS) 10 for TLS_AES_128_GCM_SHA256: no Certificate message, the server did not request one (frame 12)".to_string()]
        );
        let r = [rec(23, 71, 12)];
        let mut inp = input(0x1301, &r);
        inp.alps_offered = true;
        assert_eq!(infer(inp).presented, Some(false));
        assert_eq!(infer(inp).certificate_requested, Some(true));
        // With ALPS, a mid-sized record is no proof of a chain.
        let r = [rec(23, 250, 12)];
        let mut inp = input(0x1301, &r);
        inp.alps_offered = true;
        assert_eq!(infer(inp).presented, None);
    }

    #[test]
    fn unknown_shapes_and_aborts() {
        let r = [rec(23, 70, 7)];
        let i = infer(input(0x1301, &r));
        assert_eq!(i.presented, None);
        assert!(i.reasons[0].contains("matches no known flight shape"));
        let r = [rec(23, 19, 7)];
        let i = infer(input(0x1301, &r));
        assert!(i.client_aborted);
        assert_eq!(i.presented, None);
        let r = [rec(21, 2, 7)];
        assert!(infer(input(0x1301, &r)).client_aborted);
        let i = infer(input(0x9999, &r));
        assert!(i.reasons[0].contains("0x9999"));
    }

    #[test]
    fn hole_or_missing_flight_is_unknown() {
        let mut r = [rec(20, 1, 6), rec(23, 1210, 7)];
        r[1].after_hole = true;
        let i = infer(input(0x1301, &r));
        assert_eq!(i.presented, None);
        assert!(i.reasons[0].contains("bytes are missing"));
        let i = infer(input(0x1301, &r[..1]));
        assert!(i.reasons[0].contains("not in the capture"));
    }

    #[test]
    fn early_data_is_skipped_by_frame_order() {
        // Early data in frames 3-4, the server's flight at 5, then EndOfEarlyData and Finished.
        let r = [
            rec(23, 300, 3),
            rec(23, 40, 4),
            rec(23, 21, 7),
            rec(23, 53, 7),
        ];
        let mut inp = input(0x1301, &r);
        inp.early_data_offered = true;
        let i = infer(inp);
        assert_eq!(i.early_data_records, 2);
        assert_eq!(i.presented, Some(false));
        assert_eq!(i.frame, Some(7));
        // Coalesced EndOfEarlyData + Finished: 57 bytes.
        let r = [rec(23, 300, 3), rec(23, 57, 7)];
        let mut inp = input(0x1301, &r);
        inp.early_data_offered = true;
        assert_eq!(infer(inp).presented, Some(false));
        // Server flight not captured: unknown.
        inp.server_first_encrypted = None;
        assert_eq!(infer(inp).presented, None);
    }
}
