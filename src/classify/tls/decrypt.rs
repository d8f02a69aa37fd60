//! Decryption of TLS 1.3 handshake records with secrets from a key log.
//!
//! After the ServerHello, each side of a TLS 1.3 connection sends its handshake flight encrypted
//! with its handshake traffic secret (`SERVER_HANDSHAKE_TRAFFIC_SECRET`: EncryptedExtensions,
//! CertificateRequest, Certificate, CertificateVerify, Finished; `CLIENT_HANDSHAKE_TRAFFIC_SECRET`:
//! Certificate, CertificateVerify, Finished). [`decrypt_handshake_flight`] opens those records and
//! returns the handshake messages, so the client's Certificate can be read directly.

use super::decrypt_suite::RecordKeys;

/// Record content types (RFC 8446 §5.1).
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

/// Handshake message type of Finished, the last message of a flight.
const FINISHED: u8 = 20;

/// Most leading records that may fail to open before the handshake flight is found. A client
/// that sends 0-RTT early data puts records protected with its early traffic secret (and an
/// EndOfEarlyData message) before its handshake flight; those are skipped, and the handshake
/// flight then starts again at sequence number 0.
pub const MAX_SKIPPED_RECORDS: usize = 8;

/// One protected TLS record of one direction, as captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedRecord<'a> {
    /// The 5-byte record header, which is also the AEAD additional data.
    pub header: &'a [u8],
    /// The record body: ciphertext followed by the authentication tag.
    pub body: &'a [u8],
    /// Capture frame the record ended in, if known.
    pub frame: Option<u64>,
}

/// What decrypting one direction's handshake flight gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecryptedFlight {
    /// Concatenated handshake messages (records of inner content type 22), with the inner
    /// content type byte and the zero padding removed. [`DecryptedFlight::handshake_messages`]
    /// walks them.
    pub messages: Vec<u8>,
    /// Number of records that opened with the handshake keys.
    pub records_decrypted: usize,
    /// Frame of each decrypted record, in order.
    pub frames: Vec<Option<u64>>,
    /// An encrypted alert (inner content type 21) found: (level, description).
    pub alert: Option<(u8, u8)>,
    /// Leading protected records skipped before the flight (0-RTT early data).
    pub records_skipped: usize,
    /// A Finished message closed the flight.
    pub finished: bool,
}

impl DecryptedFlight {
    /// The complete handshake messages of the flight, in order.
    pub fn handshake_messages(&self) -> HandshakeMessages<'_> {
        HandshakeMessages {
            rest: &self.messages,
        }
    }
}

/// One handshake message: type and body (without the 4-byte header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeMessage<'a> {
    /// HandshakeType (8 EncryptedExtensions, 11 Certificate, 13 CertificateRequest,
    /// 15 CertificateVerify, 20 Finished, ...).
    pub msg_type: u8,
    /// The message body.
    pub body: &'a [u8],
}

/// Iterator over the complete handshake messages of concatenated handshake bytes. A message cut
/// short ends the iteration.
#[derive(Debug, Clone)]
pub struct HandshakeMessages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for HandshakeMessages<'a> {
    type Item = HandshakeMessage<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (msg_type, body, rest) = split_message(self.rest)?;
        self.rest = rest;
        Some(HandshakeMessage { msg_type, body })
    }
}

/// Splits the first complete handshake message off `bytes`: (type, body, rest).
fn split_message(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&msg_type, rest) = bytes.split_first()?;
    let len_bytes = rest.get(..3)?;
    let len = len_bytes
        .iter()
        .fold(0usize, |n, b| (n << 8) | usize::from(*b));
    let rest = rest.get(3..)?;
    let body = rest.get(..len)?;
    let rest = rest.get(len..)?;
    Some((msg_type, body, rest))
}

/// Why a handshake flight could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The cipher suite is not a TLS 1.3 suite this tool decrypts.
    #[error("cipher suite {0:#06x} is not a TLS 1.3 suite that can be decrypted")]
    UnsupportedSuite(u16),
    /// The secret is not as long as the cipher suite's hash.
    #[error("the key log secret does not fit the cipher suite (wrong length)")]
    BadSecret,
    /// No record opened with the secret: wrong secret, or the flight is not in the capture.
    #[error("no record opened with the key log secret")]
    NoRecordDecrypted,
}

/// Decrypts one direction's TLS 1.3 handshake flight.
///
/// `secret` is that direction's handshake traffic secret from the key log, `cipher_suite` the
/// suite the ServerHello selected, `records` the direction's records after its hello, in order.
/// Records whose header is not of content type application data (23), such as the
/// compatibility ChangeCipherSpec, are passed over without using a sequence number.
///
/// Records are opened in order with sequence numbers 0, 1, 2, ... until one does not
/// authenticate after at least one did (the application traffic keys start there), a Finished
/// message ends the flight, an alert or application data appears, or the records run out. When
/// the first record does not open, up to [`MAX_SKIPPED_RECORDS`] leading records are skipped
/// (0-RTT early data) and the flight is tried again from the next record at sequence 0.
///
/// Memory used is bounded by the size of the records.
pub fn decrypt_handshake_flight(
    secret: &[u8],
    cipher_suite: u16,
    records: &[EncryptedRecord<'_>],
) -> Result<DecryptedFlight, DecryptError> {
    let keys = RecordKeys::from_secret(cipher_suite, secret)?;
    let protected: Vec<&EncryptedRecord<'_>> = records
        .iter()
        .filter(|r| r.header.first() == Some(&APPLICATION_DATA))
        .collect();
    for (skipped, start) in protected.iter().enumerate().take(MAX_SKIPPED_RECORDS + 1) {
        if let Some(first) = keys.open(0, start.header, start.body) {
            let rest = protected.get(skipped + 1..).unwrap_or_default();
            let mut flight = read_flight(&keys, first, start.frame, rest);
            flight.records_skipped = skipped;
            return Ok(flight);
        }
    }
    Err(DecryptError::NoRecordDecrypted)
}

/// Reads the flight from its first opened record (sequence 0) on.
fn read_flight(
    keys: &RecordKeys,
    first: Vec<u8>,
    first_frame: Option<u64>,
    rest: &[&EncryptedRecord<'_>],
) -> DecryptedFlight {
    let mut flight = DecryptedFlight::default();
    let mut scanned = 0usize; // bytes of `messages` already walked for Finished
    let mut plaintext = first;
    let mut frame = first_frame;
    let mut next = rest.iter();
    let mut seq = 0u64;
    loop {
        flight.records_decrypted = flight.records_decrypted.saturating_add(1);
        flight.frames.push(frame);
        if !absorb_record(&mut flight, &plaintext, &mut scanned) {
            return flight;
        }
        let Some(record) = next.next() else {
            return flight;
        };
        let Some(s) = seq.checked_add(1) else {
            return flight;
        };
        seq = s;
        match keys.open(seq, record.header, record.body) {
            Some(p) => plaintext = p,
            None => return flight, // application traffic keys from here on
        }
        frame = record.frame;
    }
}

/// Adds one record's TLSInnerPlaintext to the flight. `false` when the flight is over.
fn absorb_record(flight: &mut DecryptedFlight, inner: &[u8], scanned: &mut usize) -> bool {
    // Content, then the content type byte, then zero padding (RFC 8446 §5.2).
    let Some(end) = inner.iter().rposition(|b| *b != 0) else {
        return false; // all padding: not a valid record
    };
    let (content, content_type) = match (inner.get(..end), inner.get(end)) {
        (Some(content), Some(&content_type)) => (content, content_type),
        _ => return false,
    };
    match content_type {
        HANDSHAKE => {
            flight.messages.extend_from_slice(content);
            let mut rest = flight.messages.get(*scanned..).unwrap_or_default();
            while let Some((msg_type, body, after)) = split_message(rest) {
                *scanned = scanned.saturating_add(4).saturating_add(body.len());
                rest = after;
                if msg_type == FINISHED {
                    flight.finished = true;
                    return false;
                }
            }
            true
        }
        ALERT => {
            if let [level, description, ..] = content {
                flight.alert = Some((*level, *description));
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "decrypt_captures.rs"]
mod capture_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tls::KeyLog;

    /// A handshake test fixture: key log, suite and the protected records of both directions.
    struct Fixture {
        suite: u16,
        client_random: [u8; 32],
        keylog: KeyLog,
        server: Vec<Vec<u8>>,
        client: Vec<Vec<u8>>,
    }

    impl Fixture {
        /// Reads the text format of `tests/data/keylog/*.txt`: `suite`, `client_random`,
        /// `keylog` (a key log line), `server`/`client` (one full record in hex) lines.
        fn parse(text: &str) -> Fixture {
            let mut suite = None;
            let mut random = None;
            let mut keylog = String::new();
            let (mut server, mut client) = (Vec::new(), Vec::new());
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let (tag, value) = line.split_once(' ').unwrap();
                match tag {
                    "suite" => suite = Some(u16::from_str_radix(value, 16).unwrap()),
                    "client_random" => {
                        random = Some(hex::decode(value).unwrap().try_into().unwrap())
                    }
                    "keylog" => {
                        keylog.push_str(value);
                        keylog.push('\n');
                    }
                    "server" => server.push(hex::decode(value).unwrap()),
                    "client" => client.push(hex::decode(value).unwrap()),
                    _ => panic!("unknown fixture line {line}"),
                }
            }
            Fixture {
                suite: suite.unwrap(),
                client_random: random.unwrap(),
                keylog: KeyLog::parse(keylog.as_bytes()).unwrap(),
                server,
                client,
            }
        }

        fn decrypt(&self, server: bool) -> Result<DecryptedFlight, DecryptError> {
            let secrets = self.keylog.get(&self.client_random).unwrap();
            let (secret, records) = match server {
                true => (secrets.server_handshake.as_ref(), &self.server),
                false => (secrets.client_handshake.as_ref(), &self.client),
            };
            decrypt_handshake_flight(secret.unwrap(), self.suite, &as_records(records))
        }
    }

    /// Records numbered as frames 1, 2, 3, ...
    fn as_records(records: &[Vec<u8>]) -> Vec<EncryptedRecord<'_>> {
        records
            .iter()
            .zip(1u64..)
            .map(|(r, frame)| EncryptedRecord {
                header: &r[..5],
                body: &r[5..],
                frame: Some(frame),
            })
            .collect()
    }

    fn types(flight: &DecryptedFlight) -> Vec<u8> {
        flight.handshake_messages().map(|m| m.msg_type).collect()
    }

    fn fixture(name: &str) -> Fixture {
        let text = match name {
            "rfc8448" => include_str!("../../../tests/data/keylog/rfc8448_1rtt.txt"),
            "aes128gcm" => include_str!("../../../tests/data/keylog/tls13_aes128gcm.txt"),
            "aes256gcm" => include_str!("../../../tests/data/keylog/tls13_aes256gcm.txt"),
            "chacha20" => include_str!("../../../tests/data/keylog/tls13_chacha20.txt"),
            "aes128ccm" => include_str!("../../../tests/data/keylog/tls13_aes128ccm.txt"),
            "aes128ccm8" => include_str!("../../../tests/data/keylog/tls13_aes128ccm8.txt"),
            "nocert" => include_str!("../../../tests/data/keylog/tls13_nocert.txt"),
            "early" => include_str!("../../../tests/data/keylog/tls13_early.txt"),
            _ => unreachable!(),
        };
        Fixture::parse(text)
    }

    #[test]
    fn rfc8448_server_flight_in_one_record() {
        let f = fixture("rfc8448");
        let flight = f.decrypt(true).unwrap();
        assert_eq!(types(&flight), [8, 11, 15, 20]);
        // 674-byte body: 16-byte tag, 1 content type byte, no padding.
        assert_eq!(flight.messages.len(), 657);
        let ee = flight.handshake_messages().next().unwrap();
        assert_eq!(ee.body.len(), 0x24);
        assert_eq!(flight.records_decrypted, 1);
        assert_eq!(flight.frames, [Some(1)]);
        assert!(flight.finished);
        assert_eq!((flight.alert, flight.records_skipped), (None, 0));
    }

    #[test]
    fn rfc8448_client_finished() {
        let f = fixture("rfc8448");
        let flight = f.decrypt(false).unwrap();
        assert_eq!(types(&flight), [20]);
        let finished = flight.handshake_messages().next().unwrap();
        assert_eq!(finished.body.len(), 32);
        assert!(flight.finished);
    }

    #[test]
    fn rfc8448_records_need_the_right_direction_and_suite() {
        let f = fixture("rfc8448");
        let secrets = f.keylog.get(&f.client_random).unwrap();
        let client = secrets.client_handshake.as_ref().unwrap();
        assert_eq!(
            decrypt_handshake_flight(client, 0x1301, &as_records(&f.server)),
            Err(DecryptError::NoRecordDecrypted)
        );
        let server = secrets.server_handshake.as_ref().unwrap();
        assert_eq!(
            decrypt_handshake_flight(server, 0x1303, &as_records(&f.server)),
            Err(DecryptError::NoRecordDecrypted)
        );
        assert_eq!(
            decrypt_handshake_flight(server, 0x1302, &as_records(&f.server)),
            Err(DecryptError::BadSecret)
        );
        assert_eq!(
            decrypt_handshake_flight(server, 0x00ff, &as_records(&f.server)),
            Err(DecryptError::UnsupportedSuite(0x00ff))
        );
        assert_eq!(
            decrypt_handshake_flight(server, 0x1301, &[]),
            Err(DecryptError::NoRecordDecrypted)
        );
    }

    /// OpenSSL sends one message per record; frames count records from 1 and include the
    /// ChangeCipherSpec record, which is passed over.
    fn check_mtls(name: &str, suite: u16) {
        let f = fixture(name);
        assert_eq!(f.suite, suite);

        let server = f.decrypt(true).unwrap();
        assert_eq!(types(&server), [8, 13, 11, 15, 20], "{name} server");
        assert_eq!(server.records_decrypted, 5, "{name}");
        assert_eq!(
            server.frames,
            [Some(2), Some(3), Some(4), Some(5), Some(6)],
            "{name}"
        );
        assert!(server.finished && server.alert.is_none(), "{name}");

        let client = f.decrypt(false).unwrap();
        assert_eq!(types(&client), [11, 15, 20], "{name} client");
        assert_eq!(client.frames, [Some(2), Some(3), Some(4)], "{name}");
        let cert = client.handshake_messages().next().unwrap();
        // certificate_request_context (empty), then a non-empty certificate_list.
        assert_eq!(cert.body.first(), Some(&0), "{name}");
        assert!(cert.body.len() > 300, "{name}: {}", cert.body.len());
    }

    #[test]
    fn openssl_aes_128_gcm_mtls() {
        check_mtls("aes128gcm", 0x1301);
    }

    #[test]
    fn openssl_aes_256_gcm_mtls() {
        check_mtls("aes256gcm", 0x1302);
    }

    #[test]
    fn openssl_chacha20_poly1305_mtls() {
        check_mtls("chacha20", 0x1303);
    }

    #[test]
    fn openssl_aes_128_ccm_mtls() {
        check_mtls("aes128ccm", 0x1304);
    }

    #[test]
    fn openssl_aes_128_ccm_8_mtls() {
        check_mtls("aes128ccm8", 0x1305);
    }

    #[test]
    fn openssl_certificate_requested_but_none_sent() {
        let f = fixture("nocert");
        let server = f.decrypt(true).unwrap();
        assert_eq!(types(&server), [8, 13, 11, 15, 20]);
        let client = f.decrypt(false).unwrap();
        assert_eq!(types(&client), [11, 20]);
        let cert = client.handshake_messages().next().unwrap();
        // Empty context, empty certificate_list.
        assert_eq!(cert.body, [0, 0, 0, 0]);
    }

    #[test]
    fn openssl_0rtt_early_data_and_end_of_early_data_are_skipped() {
        let f = fixture("early");
        let server = f.decrypt(true).unwrap();
        // A resumed session: no Certificate, no CertificateVerify.
        assert_eq!(types(&server), [8, 20]);
        assert_eq!(server.records_skipped, 0);

        // Client records: ChangeCipherSpec, early data, EndOfEarlyData, Finished, then one
        // under the application keys.
        let client = f.decrypt(false).unwrap();
        assert_eq!(types(&client), [20]);
        assert_eq!(client.records_skipped, 2);
        assert_eq!(client.frames, [Some(4)]);
        assert!(client.finished);

        // The early traffic secret opens the early data, which ends the walk.
        let secrets = f.keylog.get(&f.client_random).unwrap();
        let early = secrets.client_early.as_ref().unwrap();
        let flight = decrypt_handshake_flight(early, 0x1302, &as_records(&f.client)).unwrap();
        assert_eq!((flight.records_decrypted, flight.messages.len()), (1, 0));
        assert_eq!(flight.frames, [Some(2)]);
    }

    #[test]
    fn leading_early_data_records_are_skipped() {
        let f = fixture("aes128gcm");
        let early: Vec<Vec<u8>> = (0..3u8)
            .map(|i| [&[23, 3, 3, 0, 40][..], &[i; 40]].concat())
            .collect();
        let records: Vec<Vec<u8>> = early.iter().chain(&f.client).cloned().collect();
        let secrets = f.keylog.get(&f.client_random).unwrap();
        let secret = secrets.client_handshake.as_ref().unwrap();
        let flight = decrypt_handshake_flight(secret, 0x1301, &as_records(&records)).unwrap();
        assert_eq!(types(&flight), [11, 15, 20]);
        assert_eq!(flight.records_skipped, 3);
        assert_eq!(flight.frames, [Some(5), Some(6), Some(7)]);

        // Beyond the bound, the flight is not searched for.
        let early: Vec<Vec<u8>> = (0..=MAX_SKIPPED_RECORDS as u8)
            .map(|i| [&[23, 3, 3, 0, 40][..], &[i; 40]].concat())
            .collect();
        let records: Vec<Vec<u8>> = early.iter().chain(&f.client).cloned().collect();
        assert_eq!(
            decrypt_handshake_flight(secret, 0x1301, &as_records(&records)),
            Err(DecryptError::NoRecordDecrypted)
        );
    }

    #[test]
    fn a_missing_record_ends_the_flight_early() {
        let f = fixture("aes128gcm");
        let secrets = f.keylog.get(&f.client_random).unwrap();
        let secret = secrets.server_handshake.as_ref().unwrap();
        // Drop CertificateRequest: the records after it no longer open at their sequence.
        let mut records = f.server.clone();
        records.remove(2);
        let flight = decrypt_handshake_flight(secret, 0x1301, &as_records(&records)).unwrap();
        assert_eq!(types(&flight), [8]);
        assert!(!flight.finished);
        // A flight cut by the end of the capture keeps what was there.
        let flight = decrypt_handshake_flight(secret, 0x1301, &as_records(&f.server[..4])).unwrap();
        assert_eq!(types(&flight), [8, 13, 11]);
        // A tampered header (the additional data) does not authenticate.
        let mut records = f.server.clone();
        records[2][2] ^= 1;
        let flight = decrypt_handshake_flight(secret, 0x1301, &as_records(&records)).unwrap();
        assert_eq!(types(&flight), [8]);
    }

    #[test]
    fn inner_plaintext_types_and_padding() {
        let mut flight = DecryptedFlight::default();
        let mut scanned = 0;
        // A Certificate message split across two records, with padding.
        assert!(absorb_record(
            &mut flight,
            &[11, 0, 0, 2, 22, 0, 0],
            &mut scanned
        ));
        assert!(absorb_record(&mut flight, &[0xaa, 22], &mut scanned));
        assert_eq!(flight.messages, [11, 0, 0, 2, 0xaa]);
        assert_eq!(scanned, 0);
        assert!(absorb_record(&mut flight, &[0xbb, 22], &mut scanned));
        assert_eq!(scanned, 6);
        assert_eq!(types(&flight), [11]);
        // An alert ends the flight and is kept.
        assert!(!absorb_record(&mut flight, &[2, 116, 21, 0], &mut scanned));
        assert_eq!(flight.alert, Some((2, 116)));
        // Application data, all-zero plaintext, an unknown type: over.
        assert!(!absorb_record(&mut flight, &[b'h', 23], &mut scanned));
        assert!(!absorb_record(&mut flight, &[0, 0, 0], &mut scanned));
        assert!(!absorb_record(&mut flight, &[], &mut scanned));
        assert!(!absorb_record(&mut flight, &[1, 99], &mut scanned));
        // Finished after the Certificate closes it.
        assert!(!absorb_record(
            &mut flight,
            &[20, 0, 0, 1, 9, 22],
            &mut scanned
        ));
        assert!(flight.finished);
        assert_eq!(types(&flight), [11, 20]);
    }

    #[test]
    fn handshake_messages_stop_at_a_cut_message() {
        let flight = DecryptedFlight {
            messages: vec![8, 0, 0, 0, 11, 0, 0, 5, 1, 2],
            ..DecryptedFlight::default()
        };
        assert_eq!(
            flight.handshake_messages().collect::<Vec<_>>(),
            [HandshakeMessage {
                msg_type: 8,
                body: &[]
            }]
        );
        assert_eq!(split_message(&[1, 0]), None);
        assert_eq!(split_message(&[]), None);
    }

    #[test]
    fn garbage_records_never_panic() {
        let secret = [3u8; 32];
        let bodies: [&[u8]; 4] = [&[], &[0], &[0; 16], &[0xff; 300]];
        for body in bodies {
            for header in [&[][..], &[23][..], &[23, 3, 3, 0, 0][..], &[22, 3, 3][..]] {
                let r = [EncryptedRecord {
                    header,
                    body,
                    frame: None,
                }];
                for suite in 0x1301..=0x1305u16 {
                    let s = if suite == 0x1302 {
                        &[3u8; 48][..]
                    } else {
                        &secret
                    };
                    assert_eq!(
                        decrypt_handshake_flight(s, suite, &r),
                        Err(DecryptError::NoRecordDecrypted)
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_records_never_panic(
            suite in 0x1300u16..0x1307,
            secret in proptest::collection::vec(proptest::num::u8::ANY, 0..50),
            records in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..80), 0..12),
        ) {
            let records: Vec<EncryptedRecord<'_>> = records
                .iter()
                .map(|r| {
                    let (header, body) = r.split_at(r.len().min(5));
                    EncryptedRecord { header, body, frame: None }
                })
                .collect();
            let _ = decrypt_handshake_flight(&secret, suite, &records);
        }
    }
}
