//! Classification: decides, from a flow's reassembled bytes, who the client is and whether the
//! flow was mutual TLS, TLS, plaintext, opaque or empty.
//!
//! The order of the questions is the verdict logic: no payload is `empty`; bytes that parse as TLS
//! are `tls` or `mtls` (never judged by port); recognisable cleartext is `plaintext`; what is left
//! is `opaque` when it looks random and `plaintext` otherwise.

// No panics on hostile input: library code may not unwrap, expect, panic or index unchecked
// (tests may).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod dtls;
pub mod entropy;
pub mod fingerprint;
pub mod plaintext;
pub mod quic;
mod readings;
pub mod ssh;
pub mod tls;
pub mod udp;

pub use readings::{offloaded as checksums_offloaded, OFFLOAD_SHARE};

use crate::flow::{ClientBy, Flow, FramingEnd};
use crate::intern;
use crate::model::{
    said, Ambiguity, AmbiguityCause, Classification, Code, EncryptedFrom, EncryptionSummary,
    HandshakeState, PlaintextSummary, Reading, Reasons, Said, TlsSummary, Verdict,
};
pub use tls::KeyLog;

/// What classification may use besides the flow itself.
#[derive(Debug, Default)]
pub struct Context {
    pub keylog: KeyLog,
}

/// Decides the client of a flow whose TCP handshake was not captured: first from the bytes (who
/// sent a ClientHello or a request, who sent a ServerHello or a response), then from the ports.
pub fn orient(flow: &mut Flow) {
    if flow.client_by != ClientBy::FirstSeen {
        return;
    }
    let speaks_first =
        |bytes: &[u8]| tls::looks_like_client_hello(bytes) || plaintext::looks_like_request(bytes);
    let answers = |bytes: &[u8]| tls::looks_like_server_hello(bytes) || bytes.starts_with(b"HTTP/");
    let (a, b) = (flow.dir[0].contiguous(), flow.dir[1].contiguous());
    let a_client = speaks_first(a) || answers(b);
    let b_client = speaks_first(b) || answers(a);
    if a_client != b_client {
        if b_client {
            flow.swap();
        }
        flow.client_by = ClientBy::Bytes;
        return;
    }
    if server_port_rank(flow.a.port) > server_port_rank(flow.b.port) {
        flow.swap();
        flow.client_by = ClientBy::Port;
    } else if server_port_rank(flow.a.port) < server_port_rank(flow.b.port) {
        flow.client_by = ClientBy::Port;
    }
}

/// How likely a port is to be the server's: well-known ports first, then registered ports, with
/// the ephemeral range last; lower numbers win within a class.
fn server_port_rank(port: u16) -> u32 {
    let class = match port {
        0..=1023 => 3u32,
        1024..=32767 => 2,
        _ => 1,
    };
    (class << 16) | u32::from(u16::MAX - port)
}

/// Classifies one flow (`flow.a` is the client): from the bytes the capture kept, then from
/// what a receiver may have taken otherwise ([`readings`]).
pub fn classify(flow: &Flow, ctx: &Context) -> Classification {
    let class = classify_bytes(flow, ctx);
    readings::review(flow, class, |other| classify_bytes(other, ctx))
}

/// Classifies one flow from its bytes as kept.
fn classify_bytes(flow: &Flow, ctx: &Context) -> Classification {
    if flow.is_empty() {
        return Classification {
            verdict: Verdict::Empty,
            reasons: one(Code::NoPayload, empty_reason(flow)),
            tls: None,
            plaintext: None,
            session: None,
            ambiguity: None,
            encryption: None,
        };
    }
    if is_keepalive_only(flow) {
        return Classification {
            verdict: Verdict::Empty,
            reasons: one(
                Code::NoPayload,
                format!(
                    "no application payload: a single 1-byte segment (frame {}) on a connection \
                 that started before the capture is a TCP keep-alive probe",
                    flow.first_frame
                ),
            ),
            tls: None,
            plaintext: None,
            session: None,
            ambiguity: None,
            encryption: None,
        };
    }
    if let Some(mut analysis) = tls::analyze(flow, &ctx.keylog) {
        if let Some(ch) = &analysis.client_hello {
            let fp = fingerprint::fingerprints(ch);
            let h = analysis.summary.hello_mut();
            (h.ja3, h.ja3_full, h.ja4, h.ja4_r) = (
                Some(fp.ja3),
                Some(fp.ja3_full),
                Some(fp.ja4),
                Some(fp.ja4_r),
            );
        }
        let verdict = if analysis.summary.client_certificate.presented == Some(true) {
            Verdict::Mtls
        } else {
            Verdict::Tls
        };
        let mut reasons = analysis.reasons;
        let (before, unknown) = before_records(flow, &analysis.records_start, &mut reasons);
        let (after, unframed) = after_records(flow, &analysis.records_end, &mut reasons);
        let cleartext = before.or(after);
        let ambiguity = if cleartext.is_some() {
            None
        } else {
            unknown.or(unframed)
        };
        return Classification {
            verdict: if cleartext.is_some() {
                Verdict::Plaintext
            } else {
                verdict
            },
            reasons: boxed(reasons),
            tls: Some(finished(analysis.summary)),
            plaintext: cleartext.map(Box::new),
            session: (!analysis.session.is_empty()).then(|| Box::new(analysis.session)),
            ambiguity,
            encryption: None,
        };
    }
    if let Some(found) = plaintext::detect(flow) {
        if found.upgrades_to_tls {
            return upgraded_without_handshake(found);
        }
        let mut reasons = found.reasons;
        if reasons.is_empty() {
            let p = &found.summary;
            reasons.push(said(
                Code::CleartextSeen,
                format!(
                    "{} in cleartext from the {} (frame {}): {}",
                    p.protocol,
                    p.direction,
                    p.frame.map_or_else(|| "?".to_string(), |f| f.to_string()),
                    p.evidence
                ),
            ));
        }
        return Classification {
            verdict: Verdict::Plaintext,
            reasons: boxed(reasons),
            tls: None,
            plaintext: Some(Box::new(found.summary)),
            session: None,
            ambiguity: None,
            encryption: None,
        };
    }
    if let Some(class) = ssh_session(flow) {
        return class;
    }
    if let Some((protocol, banner, frame)) = plaintext::encrypted_non_tls(flow) {
        let at = frame.map_or_else(String::new, |f| format!(" (frame {f})"));
        return Classification {
            verdict: Verdict::Opaque,
            reasons: one(
                Code::NotTls,
                format!(
                    "{protocol} session{at}: `{banner}`; encrypted by {protocol}, not TLS, so not \
                     proven encrypted by the mesh"
                ),
            ),
            tls: None,
            plaintext: None,
            session: None,
            ambiguity: None,
            encryption: None,
        };
    }
    classify_unrecognised(flow)
}

/// Cleartext before a direction's first TLS record that is not a negotiation switching to TLS
/// (STARTTLS and its kin, see [`plaintext::before_tls`]). A known protocol (an HTTP request,
/// Redis…) makes the flow plaintext; text of no known protocol, from the stream's first byte,
/// makes it ambiguous (an upgrade mtlscan does not know, or cleartext). Each is said in
/// `reasons`.
fn before_records(
    flow: &Flow,
    records_start: &[Option<usize>; 2],
    reasons: &mut Vec<Said>,
) -> (Option<PlaintextSummary>, Option<Box<Ambiguity>>) {
    let mut found = None;
    let mut unknown = None;
    let mut negotiated = false;
    for (d, dir) in flow.dir.iter().enumerate() {
        let Some(start) = records_start.get(d).copied().flatten().filter(|&s| s > 0) else {
            continue;
        };
        let stream = dir.contiguous();
        if stream.len() < start {
            continue;
        }
        let Some((clear, upgrading)) = plaintext::before_tls(stream, d == 0) else {
            continue;
        };
        // One side's negotiation covers the other side's part of it.
        negotiated |= upgrading;
        if negotiated {
            continue;
        }
        let side = if d == 0 { "client" } else { "server" };
        let frame = dir.frame_at(0);
        if clear.protocol == "unknown" {
            if dir.syn {
                reasons.push(said(
                    Code::Ambiguous,
                    format!(
                    "ambiguous: the {side} sent {start} bytes of text before its first TLS record \
                     ({}): `{}`; no known protocol switches to TLS that way, so it may be \
                     cleartext; the policy judges the flow as plaintext",
                    tls::frame_text(frame),
                    clear.evidence
                ),
                ));
                unknown.get_or_insert_with(|| {
                    unsure(AmbiguityCause::TextBefore, &clear.evidence, frame)
                });
            }
            continue;
        }
        reasons.push(said(
            Code::CleartextBeforeTls,
            format!(
                "the {side} sent {start} bytes of cleartext before its first TLS record ({}), and \
             {} does not switch to TLS that way: `{}`",
                tls::frame_text(frame),
                clear.protocol,
                clear.evidence
            ),
        ));
        found.get_or_insert_with(|| cleartext_summary(&clear, frame, side));
    }
    (found, unknown)
}

/// The cleartext `clear` that the `side` sent in `frame`, as the flow's plaintext facts.
fn cleartext_summary(
    clear: &plaintext::Cleartext,
    frame: Option<u64>,
    side: &'static str,
) -> PlaintextSummary {
    PlaintextSummary {
        protocol: clear.protocol,
        evidence: intern::str(&clear.evidence),
        frame,
        direction: side,
        rejected: false,
        forwarded_client: None,
    }
}

/// A stream read as TLS that may be otherwise (see [`AmbiguityCause`]): the other reading is
/// `evidence`, at `frame`, with the verdict the cause implies.
fn unsure(cause: AmbiguityCause, evidence: &str, frame: Option<u64>) -> Box<Ambiguity> {
    let other_verdict = match cause {
        AmbiguityCause::TextBefore => Verdict::Plaintext,
        AmbiguityCause::NotRecordsAfter | AmbiguityCause::Overlap => Verdict::Opaque,
    };
    Box::new(Ambiguity {
        cause,
        conflicts: 0,
        reading: Reading::First,
        other_verdict,
        other_client_certificate: None,
        other_evidence: intern::str(evidence),
        frames: frame.into_iter().collect(),
        unread: 0,
    })
}

/// What follows a direction's TLS records where they stop: inside the prefix
/// (`records_end`), or past what the classifier reads, where the flow table followed a stream
/// that began with records ([`FramingEnd`]). Each finding is said in `reasons`. Cleartext makes
/// the flow plaintext (the first found is its cleartext); other bytes that are not records make
/// it ambiguous: TLS up to there, then not proven encrypted.
fn after_records(
    flow: &Flow,
    records_end: &[Option<usize>; 2],
    reasons: &mut Vec<Said>,
) -> (Option<PlaintextSummary>, Option<Box<Ambiguity>>) {
    let mut found = None;
    let mut unframed = None;
    for (d, dir) in flow.dir.iter().enumerate() {
        let side = if d == 0 { "client" } else { "server" };
        let inside =
            records_end.get(d).copied().flatten().and_then(|off| {
                Some((off as u64, dir.contiguous().get(off..)?, dir.frame_at(off)))
            });
        let past = match dir.framing_end.as_deref() {
            Some(FramingEnd::Break {
                position,
                frame,
                sample,
            }) => Some((*position, &sample[..], Some(*frame))),
            Some(&FramingEnd::Lost { position, frame }) => {
                reasons.push(said(
                    Code::TlsRecordsStop,
                    format!(
                        "the {side}'s TLS records could not be followed past byte {position}: a \
                     record header is missing from the capture (frame {frame} came after it), \
                     so the bytes that follow were not checked for cleartext"
                    ),
                ));
                None
            }
            None => None,
        };
        let Some((offset, bytes, frame)) = inside.or(past) else {
            continue;
        };
        let at = frame.map_or_else(String::new, |f| format!(" (frame {f})"));
        match plaintext::cleartext_in(bytes, d == 0) {
            Some(clear) => {
                reasons.push(said(Code::TlsRecordsStop, format!(
                    "the {side}'s TLS records stop after {offset} bytes{at}: what follows is cleartext, {}: `{}`",
                    clear.protocol, clear.evidence
                )));
                found.get_or_insert_with(|| cleartext_summary(&clear, frame, side));
            }
            None => {
                reasons.push(said(
                    Code::Ambiguous,
                    format!(
                        "ambiguous: the {side}'s TLS records stop after {offset} bytes{at}: what \
                     follows is not a TLS record, nor readable cleartext (another protocol's \
                     framing, or random bytes), so it is not proven encrypted; the policy judges \
                     the flow as opaque"
                    ),
                ));
                unframed.get_or_insert_with(|| {
                    let what = format!(
                        "bytes that are not TLS records from the {side}, after {offset} bytes"
                    );
                    unsure(AmbiguityCause::NotRecordsAfter, &what, frame)
                });
            }
        }
    }
    (found, unframed)
}

/// A cleartext upgrade (CONNECT, STARTTLS, SOCKS) followed by TLS records whose handshake the
/// capture does not hold: the application data is TLS, the client certificate unknown.
fn upgraded_without_handshake(found: plaintext::Detection) -> Classification {
    let mut reasons = found.reasons;
    reasons.push(said(
        Code::TlsHandshakeNotCaptured,
        "TLS records follow the cleartext upgrade, but the TLS handshake is not in the capture: \
         client certificate unknown",
    ));
    Classification {
        verdict: Verdict::Tls,
        reasons: boxed(reasons),
        tls: Some(finished(TlsSummary {
            handshake: Some(HandshakeState::NotCaptured),
            ..TlsSummary::default()
        })),
        plaintext: None,
        session: None,
        ambiguity: None,
        encryption: None,
    }
}

/// Payload that is neither TLS nor a known cleartext protocol: `opaque` when every direction that
/// carries enough bytes to judge looks random, `plaintext` otherwise.
fn classify_unrecognised(flow: &Flow) -> Classification {
    let judged: Vec<(usize, &[u8])> = flow
        .dir
        .iter()
        .map(|dir| dir.contiguous())
        .map(|bytes| bytes.get(..entropy::SAMPLE_BYTES).unwrap_or(bytes))
        .enumerate()
        .filter(|(_, bytes)| !bytes.is_empty())
        .collect();
    let random = !judged.is_empty()
        && judged
            .iter()
            .all(|(_, bytes)| entropy::is_high_entropy(bytes));
    let (d, bytes) = judged
        .iter()
        .copied()
        .max_by_key(|(_, b)| b.len())
        .unwrap_or((0, &[]));
    let side = if d == 0 { "client" } else { "server" };
    let frame = flow.dir.get(d).and_then(|dir| dir.frame_at(0));
    let bits = entropy::bits_per_byte(bytes);
    if random {
        Classification {
            verdict: Verdict::Opaque,
            reasons: one(
                Code::NotTls,
                format!(
                    "payload is not TLS and not a known cleartext protocol, and looks random \
                 ({bits:.2} bits/byte over the first {} bytes from the {side}): encrypted or \
                 compressed by something else, not proven encrypted",
                    bytes.len()
                ),
            ),
            tls: None,
            plaintext: None,
            session: None,
            ambiguity: None,
            encryption: None,
        }
    } else {
        let evidence = plaintext::quote(bytes, QUOTE_CHARS);
        Classification {
            verdict: Verdict::Plaintext,
            reasons: one(
                Code::Unrecognised,
                format!(
                    "payload is not TLS and not random ({bits:.2} bits/byte over {} bytes from \
                     the {side}): readable on the wire",
                    bytes.len()
                ),
            ),
            tls: None,
            plaintext: Some(unknown_text(&evidence, frame, side)),
            session: None,
            ambiguity: None,
            encryption: None,
        }
    }
}

/// Cleartext of no known protocol: its quote, where it is and who sent it.
fn unknown_text(
    evidence: &str,
    frame: Option<u64>,
    direction: &'static str,
) -> Box<PlaintextSummary> {
    Box::new(PlaintextSummary {
        protocol: "unknown",
        evidence: intern::str(evidence),
        frame,
        direction,
        rejected: false,
        forwarded_client: None,
    })
}

/// An SSH session whose two sides are both seen taking their new keys: `encrypted`. When what a
/// side sends after its `NEWKEYS` reads as text, the flow is `plaintext`, quoting it: SSH
/// framing in front of cleartext never passes for encryption.
fn ssh_session(flow: &Flow) -> Option<Classification> {
    let [c, s] = &flow.dir;
    let client = ssh::side(c.contiguous(), true)?;
    let server = ssh::side(s.contiguous(), false)?;
    let (client_keys, server_keys) = (client.newkeys_end?, server.newkeys_end?);
    for (side, dir, name) in [(&client, c, "client"), (&server, s, "server")] {
        if let Some(at) = side.clear_after {
            let text = dir.contiguous().get(at..).unwrap_or_default();
            let evidence = plaintext::quote(text, QUOTE_CHARS);
            let frame = dir.frame_at(at);
            let at = frame.map_or_else(String::new, |f| format!(" (frame {f})"));
            return Some(Classification {
                verdict: Verdict::Plaintext,
                reasons: one(
                    Code::CleartextSeen,
                    format!(
                        "the {name} took new SSH keys but what it sends after them{at} is text, \
                         not ciphertext: `{evidence}`"
                    ),
                ),
                tls: None,
                plaintext: Some(unknown_text(&evidence, frame, name)),
                session: None,
                ambiguity: None,
                encryption: None,
            });
        }
    }
    let encryption = EncryptionSummary {
        protocol: "ssh",
        version: Some(client.version.clone()),
        client_software: Some(client.banner.clone()),
        server_software: Some(server.banner.clone()),
        key_exchange: ssh::agreed(&client.kex, &server.kex),
        cipher_client_to_server: ssh::agreed(&client.ciphers_c2s, &server.ciphers_c2s),
        cipher_server_to_client: ssh::agreed(&client.ciphers_s2c, &server.ciphers_s2c),
        encrypted_from: EncryptedFrom {
            client: c.frame_at(client_keys),
            server: s.frame_at(server_keys),
        },
    };
    let frame = |f: Option<u64>| f.map_or_else(|| "?".to_string(), |f| f.to_string());
    let hello = format!(
        "SSH {} handshake: the client is `{}` (frame {}), the server `{}` (frame {}); key \
         exchange {}",
        client.version,
        client.banner,
        frame(c.frame_at(0)),
        server.banner,
        frame(s.frame_at(0)),
        encryption.key_exchange.as_deref().unwrap_or("not agreed")
    );
    let keys = format!(
        "both sides took their new keys (SSH_MSG_NEWKEYS): the client encrypts from frame {}, \
         the server from frame {} ({} and {}); encrypted by SSH, not TLS",
        frame(encryption.encrypted_from.client),
        frame(encryption.encrypted_from.server),
        encryption
            .cipher_client_to_server
            .as_deref()
            .unwrap_or("cipher not agreed"),
        encryption
            .cipher_server_to_client
            .as_deref()
            .unwrap_or("cipher not agreed"),
    );
    Some(Classification {
        verdict: Verdict::Encrypted,
        reasons: Reasons::new([said(Code::Encrypted, hello), said(Code::Encrypted, keys)]),
        tls: None,
        plaintext: None,
        session: None,
        ambiguity: None,
        encryption: Some(Box::new(encryption)),
    })
}

/// A flow's TLS facts as kept until the report: its hellos' facts shared with the flows whose
/// hellos said the same.
fn finished(mut summary: TlsSummary) -> Box<TlsSummary> {
    summary.hello = intern::hello(summary.hello);
    Box::new(summary)
}

/// Reasons as kept until the report.
fn boxed(reasons: Vec<Said>) -> Reasons {
    Reasons::new(reasons)
}

/// A single reason, as kept until the report.
fn one(code: Code, reason: String) -> Reasons {
    Reasons::new([said(code, reason)])
}

/// A connection seen only mid-stream whose whole payload is one byte: TCP keep-alive probes
/// carry one byte of already-acknowledged data, not application data.
fn is_keepalive_only(flow: &Flow) -> bool {
    !flow.syn_seen && flow.dir[0].payload_bytes + flow.dir[1].payload_bytes == 1
}

fn empty_reason(flow: &Flow) -> String {
    if flow.syn_seen {
        "no payload in either direction: the connection carried no data".to_string()
    } else {
        "no payload in either direction (the connection started before the capture)".to_string()
    }
}

/// Characters quoted from payload that no detector recognised.
const QUOTE_CHARS: usize = 60;
