//! The verdict of a UDP flow, by its datagrams' bytes, never by its port:
//!
//! - WireGuard (its four message types, each of a fixed shape): `encrypted` once both sides
//!   are seen in it, a handshake both ways or transport data both ways;
//! - DNS (the datagrams parse as DNS messages): `plaintext`, quoting the query;
//! - QUIC whose Initial packets decrypt: `tls`, with the hellos' facts (the client certificate
//!   is unknown without keys); DTLS and QUIC that does not decrypt: `opaque`, saying so;
//! - text (syslog, statsd and the like): `plaintext`, quoting it;
//! - random bytes: `opaque`; anything else: `plaintext`.

use simple_dns::Packet;

use super::tls::hello::{self, ClientHello};
use super::{dtls, entropy, fingerprint, plaintext, quic};
use crate::flow::udp::{Datagram, UdpFlow};
use crate::intern;
use crate::model::{
    said, Classification, Code, EncryptedFrom, EncryptionSummary, HandshakeState, HelloSummary,
    PlaintextSummary, Reasons, Said, TlsSummary, Verdict,
};

/// Characters of a quote.
const QUOTE_CHARS: usize = 120;

/// The verdict of a UDP flow.
pub fn classify(flow: &UdpFlow) -> Classification {
    let [client, server] = &flow.datagrams;
    if client.is_empty() && server.is_empty() {
        return verdict(
            Verdict::Empty,
            vec![said(
                Code::NoPayload,
                "no payload in either direction: every datagram was empty",
            )],
        );
    }
    if let Some(class) = wireguard(client, server) {
        return class;
    }
    if let Some(class) = dns(client, server) {
        return class;
    }
    // a datagram of text is quoted whatever the first one looks like
    let text = first_text(client, server);
    if text.is_none() {
        if let Some(class) = quic_or_dtls(client, server) {
            return class;
        }
    }
    unrecognised(client, server, text)
}

fn verdict(verdict: Verdict, reasons: Vec<Said>) -> Classification {
    Classification {
        verdict,
        reasons: Reasons::new(reasons),
        tls: None,
        plaintext: None,
        session: None,
        ambiguity: None,
        encryption: None,
    }
}

fn cleartext(
    protocol: &'static str,
    evidence: &str,
    at: &Datagram,
    side: &'static str,
    reasons: Vec<Said>,
) -> Classification {
    Classification {
        plaintext: Some(Box::new(PlaintextSummary {
            protocol,
            evidence: intern::str(evidence),
            frame: Some(at.frame),
            direction: side,
            rejected: false,
            forwarded_client: None,
        })),
        ..verdict(Verdict::Plaintext, reasons)
    }
}

/// The WireGuard message a datagram is: its type (1 initiation, 2 response, 3 cookie reply, 4
/// transport data), when its size and reserved bytes fit that type.
fn wireguard_message(d: &Datagram) -> Option<u8> {
    let b = &d.bytes;
    let len = b.len() + d.cut as usize;
    let kind = *b.first()?;
    if b.get(1..4)? != [0, 0, 0] {
        return None;
    }
    let fits = match kind {
        1 => len == 148,
        2 => len == 92,
        3 => len == 64,
        // header, counter, then ChaCha20-Poly1305 over zero-padded (16-byte) plaintext
        4 => len >= 32 && (len - 32) % 16 == 0,
        _ => false,
    };
    fits.then_some(kind)
}

/// A WireGuard tunnel: every datagram kept is a WireGuard message, and both sides are seen in
/// the protocol (an initiation answered by a response, or transport data each way).
fn wireguard(client: &[Datagram], server: &[Datagram]) -> Option<Classification> {
    let kinds =
        |side: &[Datagram]| -> Option<Vec<u8>> { side.iter().map(wireguard_message).collect() };
    let (c, s) = (kinds(client)?, kinds(server)?);
    let handshake = (c.contains(&1) && s.contains(&2)) || (s.contains(&1) && c.contains(&2));
    let data_both = c.contains(&4) && s.contains(&4);
    if !(handshake || data_both) {
        return None;
    }
    let first_data = |side: &[Datagram], kinds: &[u8]| {
        side.iter()
            .zip(kinds)
            .find(|(_, &k)| k == 4)
            .map(|(d, _)| d.frame)
    };
    let count = |kinds: &[u8], k: u8| kinds.iter().filter(|&&x| x == k).count();
    let frames = |side: &[Datagram], kinds: &[u8], k: u8| -> String {
        let f: Vec<String> = side
            .iter()
            .zip(kinds)
            .filter(|(_, &x)| x == k)
            .map(|(d, _)| d.frame.to_string())
            .collect();
        f.join(", ")
    };
    let mut reasons = Vec::new();
    if handshake {
        let (init, resp) = if c.contains(&1) {
            (
                ("client", frames(client, &c, 1)),
                ("server", frames(server, &s, 2)),
            )
        } else {
            (
                ("server", frames(server, &s, 1)),
                ("client", frames(client, &c, 2)),
            )
        };
        reasons.push(said(
            Code::Encrypted,
            format!(
                "WireGuard handshake: the {} sent an initiation (148 bytes, frame {}) and the {} \
                 a response (92 bytes, frame {}): Noise IK, keys agreed",
                init.0, init.1, resp.0, resp.1
            ),
        ));
    }
    reasons.push(said(
        Code::Encrypted,
        format!(
            "every datagram is a WireGuard message ({} from the client, {} from the server, of \
             which transport data {} and {}): encrypted by WireGuard (ChaCha20-Poly1305), not TLS",
            c.len(),
            s.len(),
            count(&c, 4),
            count(&s, 4)
        ),
    ));
    let encryption = EncryptionSummary {
        protocol: "wireguard",
        version: None,
        client_software: None,
        server_software: None,
        key_exchange: handshake.then(|| "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s".to_string()),
        cipher_client_to_server: Some("ChaCha20-Poly1305".to_string()),
        cipher_server_to_client: Some("ChaCha20-Poly1305".to_string()),
        encrypted_from: EncryptedFrom {
            client: first_data(client, &c),
            server: first_data(server, &s),
        },
    };
    Some(Classification {
        encryption: Some(Box::new(encryption)),
        ..verdict(Verdict::Encrypted, reasons)
    })
}

/// The name of a DNS question type.
fn qtype_name(code: u16) -> String {
    match code {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        n => format!("TYPE{n}"),
    }
}

/// DNS in the clear: the first datagram of each side that sent one parses as a DNS message
/// with a question.
fn dns(client: &[Datagram], server: &[Datagram]) -> Option<Classification> {
    let question = |d: &Datagram| -> Option<(String, bool)> {
        if d.cut > 0 && d.bytes.len() < 12 {
            return None;
        }
        let packet = Packet::parse(&d.bytes).ok()?;
        let q = packet.questions.first()?;
        let response = packet.has_flags(simple_dns::PacketFlag::RESPONSE);
        let name = q.qname.to_string();
        Some((
            format!("{} {}", qtype_name(u16::from(q.qtype)), name),
            response,
        ))
    };
    let asked = client.first().map(question);
    let answered = server.first().map(question);
    // every side that spoke must speak DNS
    if asked.as_ref().is_some_and(Option::is_none) || answered.as_ref().is_some_and(Option::is_none)
    {
        return None;
    }
    let (quote, at, side) = match (asked.flatten(), answered.flatten()) {
        (Some((q, _)), _) => (q, client.first()?, "client"),
        (None, Some((q, _))) => (q, server.first()?, "server"),
        (None, None) => return None,
    };
    let quote = plaintext::escape::escape(quote.as_bytes(), QUOTE_CHARS);
    let mut reasons = vec![said(
        Code::CleartextSeen,
        format!(
            "the {side} sent a DNS message in cleartext: `{quote}` (frame {})",
            at.frame
        ),
    )];
    if let Some(d) = server.first().filter(|_| side == "client") {
        reasons.push(said(
            Code::CleartextSeen,
            format!("the server answered in cleartext DNS (frame {})", d.frame),
        ));
    }
    Some(cleartext("dns", &quote, at, side, reasons))
}

/// What a datagram protocol's ClientHello tells: SNI, ALPN, the versions offered, and the
/// fingerprints, JA4 beginning with `protocol` (`q` QUIC, `d` DTLS) where TCP's has `t`.
pub(super) fn client_hello_facts(h: &mut HelloSummary, ch: &ClientHello, protocol: char) {
    h.sni = ch.sni.as_deref().map(intern::str);
    h.alpn_offered = intern::list(&ch.alpn);
    h.versions_offered = hello::versions_offered(ch);
    let fp = fingerprint::fingerprints(ch);
    let named = |ja4: &str| intern::str(&format!("{protocol}{}", ja4.get(1..).unwrap_or_default()));
    (h.ja3, h.ja3_full, h.ja4, h.ja4_r) = (
        Some(fp.ja3),
        Some(fp.ja3_full),
        Some(named(&fp.ja4)),
        Some(named(&fp.ja4_r)),
    );
}

/// QUIC whose Initial packets decrypt (see [`quic`]): `tls`, with what the hellos said and the
/// client certificate unknown.
fn quic_tls(client: &[Datagram], server: &[Datagram]) -> Option<Classification> {
    let q = quic::read(client, server)?;
    let (ch, ch_frame) = q.client_hello.as_ref()?;
    let mut s = TlsSummary::default();
    client_hello_facts(s.hello_mut(), ch, 'q');
    s.client_hello_frame = Some(*ch_frame);
    let sni = ch.sni.as_deref().unwrap_or("none");
    let alpn = if ch.alpn.is_empty() {
        "none".to_string()
    } else {
        ch.alpn.join(", ")
    };
    let mut reasons = vec![said(
        Code::TlsHandshake,
        format!(
            "QUIC version {}: the client's Initial packets (from frame {ch_frame}) decrypt with \
             the keys their Destination Connection ID gives (RFC 9001 §5.2) and hold a TLS \
             ClientHello (SNI {sni}, ALPN {alpn})",
            q.version
        ),
    )];
    if let Some((sh, frame)) = &q.server_hello {
        s.hello_mut().version = Some(hello::version_name(sh.negotiated_version()));
        s.hello_mut().cipher_suite = Some(hello::cipher_suite_name(sh.cipher_suite));
        reasons.push(said(
            Code::TlsHandshake,
            format!(
                "the server's Initial packet (frame {frame}) holds its ServerHello: TLS {}, {}",
                hello::version_name(sh.negotiated_version()),
                hello::cipher_suite_name(sh.cipher_suite)
            ),
        ));
    }
    s.handshake = Some(match q.one_rtt {
        [Some(c), Some(sv)] => {
            reasons.push(said(
                Code::TlsHandshake,
                format!(
                    "1-RTT packets both ways (the client's from frame {c}, the server's from \
                     frame {sv}): the handshake completed, and what follows is encrypted"
                ),
            ));
            HandshakeState::Complete
        }
        _ => HandshakeState::Partial,
    });
    reasons.push(said(
        Code::TlsClientCertificateUnknown,
        "the rest of the QUIC handshake, certificates included, is encrypted with keys the \
         capture does not hold: whether the client presented a certificate is unknown",
    ));
    Some(Classification {
        tls: Some(super::finished(s)),
        ..verdict(Verdict::Tls, reasons)
    })
}

/// QUIC (long header, version 1 or 2) whose Initial packets do not decrypt, and DTLS (record
/// header, version 1.0 or 1.2): TLS carried in framing mtlscan does not read: not proven, and
/// said so.
fn quic_or_dtls(client: &[Datagram], server: &[Datagram]) -> Option<Classification> {
    if let Some(class) = quic_tls(client, server).or_else(|| dtls::classify(client, server)) {
        return Some(class);
    }
    let first = client.first().or(server.first())?;
    let b = &first.bytes;
    let what = if b.first().is_some_and(|&x| x & 0xc0 == 0xc0)
        && matches!(b.get(1..5), Some([0, 0, 0, 1] | [0x6b, 0x33, 0x43, 0xcf]))
    {
        "QUIC (a long header packet of version 1 or 2, whose Initial packets do not decrypt)"
    } else if matches!(b.first(), Some(20..=23)) && matches!(b.get(1..3), Some([0xfe, 0xff | 0xfd]))
    {
        "DTLS (a record of DTLS 1.0 or 1.2 without a ClientHello to read)"
    } else {
        return None;
    };
    Some(verdict(
        Verdict::Opaque,
        vec![said(
            Code::NotTls,
            format!(
                "{what} (frame {}): TLS inside QUIC or DTLS is not read by this version of \
                 mtlscan, so the flow is not proven encrypted",
                first.frame
            ),
        )],
    ))
}

/// Datagrams of no protocol read here: a datagram of text makes the flow `plaintext`, quoting
/// it (statsd and syslog named), whatever the others hold; datagrams that all look random are
/// `opaque`; anything else is `plaintext`.
/// The first datagram of text, and who sent it.
fn first_text<'d>(
    client: &'d [Datagram],
    server: &'d [Datagram],
) -> Option<(&'static str, &'d Datagram)> {
    [("client", client), ("server", server)]
        .into_iter()
        .find_map(|(side, kept)| {
            kept.iter()
                .find(|d| plaintext::other::is_text(&d.bytes))
                .map(|d| (side, d))
        })
}

/// `text`: the first datagram of text ([`first_text`]).
fn unrecognised(
    client: &[Datagram],
    server: &[Datagram],
    text: Option<(&'static str, &Datagram)>,
) -> Classification {
    let sides = [("client", client), ("server", server)];
    let judged = sides.iter().filter(|(_, kept)| !kept.is_empty());
    let random = judged.clone().all(|(_, kept)| {
        let sample: Vec<u8> = kept
            .iter()
            .flat_map(|d| d.bytes.iter().copied())
            .take(entropy::SAMPLE_BYTES)
            .collect();
        entropy::is_high_entropy(&sample)
    });
    let Some(&(side, kept)) = judged.clone().next() else {
        return verdict(Verdict::Empty, Vec::new());
    };
    let first = match kept.first() {
        Some(d) => d,
        None => return verdict(Verdict::Empty, Vec::new()),
    };
    if text.is_none() && random {
        let bytes: usize = kept.iter().map(|d| d.bytes.len()).sum();
        return verdict(
            Verdict::Opaque,
            vec![said(
                Code::NotTls,
                format!(
                    "datagrams of no known protocol that look random ({} datagrams, {bytes} \
                     bytes from the {side}): encrypted or compressed by something else, not \
                     proven encrypted",
                    kept.len()
                ),
            )],
        );
    }
    let (side, at) = text.unwrap_or((side, first));
    let quote = plaintext::quote(&at.bytes, QUOTE_CHARS);
    let protocol = text_protocol(&at.bytes);
    let named = match protocol {
        "unknown" => "a datagram of no known protocol".to_string(),
        p => format!("a {p} datagram"),
    };
    let bits = entropy::bits_per_byte(&at.bytes);
    cleartext(
        protocol,
        &quote,
        at,
        side,
        vec![said(
            Code::Unrecognised,
            format!(
                "the {side} sent {named}, not random ({bits:.2} bits/byte), readable on the \
                 wire: `{quote}` (frame {})",
                at.frame
            ),
        )],
    )
}

/// syslog (`<PRI>`) or statsd (`name:value|type`) text, else `unknown`.
fn text_protocol(bytes: &[u8]) -> &'static str {
    let line = plaintext::escape::first_line(bytes);
    let pri = line.strip_prefix(b"<").and_then(|rest| {
        rest.split(|&b| b == b'>')
            .next()
            .filter(|_| rest.contains(&b'>'))
    });
    if pri.is_some_and(|p| (1..=3).contains(&p.len()) && p.iter().all(u8::is_ascii_digit)) {
        return "syslog";
    }
    // name:value|type, then optional |@rate or |#tags
    let mut fields = line.splitn(2, |&b| b == b':');
    let (name, rest) = (fields.next().unwrap_or_default(), fields.next());
    let statsd = rest.is_some_and(|rest| {
        let mut parts = rest.split(|&b| b == b'|');
        let value = parts.next().unwrap_or_default();
        let kind = parts.next().unwrap_or_default();
        !name.is_empty()
            && !value.is_empty()
            && matches!(kind, b"c" | b"g" | b"ms" | b"h" | b"s" | b"d")
    });
    if statsd {
        return "statsd";
    }
    "unknown"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(frame: u64, bytes: &[u8]) -> Datagram {
        Datagram {
            frame,
            bytes: bytes.to_vec(),
            cut: 0,
        }
    }

    fn wg(kind: u8, len: usize) -> Vec<u8> {
        let mut b = vec![kind, 0, 0, 0];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        b.extend((4..len).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }));
        b
    }

    #[test]
    fn a_wireguard_handshake_and_data_are_encrypted() {
        let c = [d(1, &wg(1, 148)), d(3, &wg(4, 32 + 96))];
        let s = [d(2, &wg(2, 92)), d(4, &wg(4, 32 + 1424))];
        let class = wireguard(&c, &s).unwrap();
        assert_eq!(class.verdict, Verdict::Encrypted);
        let e = class.encryption.unwrap();
        assert_eq!(
            (e.protocol, e.encrypted_from.client, e.encrypted_from.server),
            ("wireguard", Some(3), Some(4))
        );
        // one side only, or a message of the wrong size: not proven
        assert!(wireguard(&c, &[]).is_none());
        assert!(wireguard(&[d(1, &wg(1, 149))], &s).is_none());
        // something else among the datagrams: not a WireGuard flow
        assert!(wireguard(&[d(1, &wg(1, 148)), d(3, b"GET / HTTP/1.1\r\n\r\n")], &s).is_none());
    }

    #[test]
    fn text_datagrams_are_plaintext_and_named() {
        assert_eq!(
            text_protocol(b"<34>Oct 11 22:14:15 mymachine su: failed"),
            "syslog"
        );
        assert_eq!(text_protocol(b"api.requests:1|c|#env:prod"), "statsd");
        assert_eq!(text_protocol(b"hello there"), "unknown");
        let statsd = [d(5, b"api.requests:1|c")];
        let class = unrecognised(&statsd, &[], first_text(&statsd, &[]));
        assert_eq!(class.verdict, Verdict::Plaintext);
        assert_eq!(class.plaintext.unwrap().protocol, "statsd");
        let random = wg(9, 600);
        let random = [d(5, &random)];
        let class = unrecognised(&random, &[], first_text(&random, &[]));
        assert_eq!(class.verdict, Verdict::Opaque);
    }

    #[test]
    fn quic_and_dtls_are_said_not_read() {
        let quic = [0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let class = quic_or_dtls(&[d(1, &quic)], &[]).unwrap();
        assert_eq!(class.verdict, Verdict::Opaque);
        assert!(class.reasons.first().unwrap_or_default().contains("QUIC"));
        let dtls = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10];
        assert!(quic_or_dtls(&[d(1, &dtls)], &[]).is_some());
        assert!(quic_or_dtls(&[d(1, b"hello")], &[]).is_none());
    }

    #[test]
    fn any_bytes_are_read_without_panic() {
        let mut x = 7u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 33) as u8
                })
                .collect();
            let flow = [d(1, &bytes)];
            let _ = wireguard(&flow, &flow);
            let _ = dns(&flow, &flow);
            let _ = quic_or_dtls(&flow, &[]);
            let _ = unrecognised(&flow, &[], first_text(&flow, &[]));
        }
    }
}
