//! TLS: record walking, handshake facts, certificates, TLS 1.3 client-certificate inference and
//! key-log decryption of TLS 1.3 handshakes.
//!
//! [`analyze`] finds where TLS starts in each direction (at the first byte, after a cleartext
//! upgrade such as STARTTLS, or mid-stream), walks the records, reassembles the cleartext
//! handshake and derives the facts of [`TlsSummary`], each conclusion explained in `reasons`.

mod alerts;
pub(crate) mod certs;
mod cursor;
pub mod decrypt;
pub mod decrypt_suite;
pub(crate) mod hello;
pub mod keylog;
mod locate;
pub(crate) mod records;
mod session;
pub(crate) mod tls12;
mod tls13;
mod tls13_keys;

#[cfg(test)]
pub(crate) use hello::parse_client_hello;
pub use hello::{ClientHello, Extensions, RawExtension, ServerHello};
pub use keylog::{KeyLog, KeyLogError};

use crate::flow::{Direction, Flow};
use crate::intern;
use crate::model::{
    said, CertificateSide, Code, Credential, CredentialKind, Evidence, HandshakeState, LinkedBy,
    Said, SessionTokens, TlsSummary,
};
use hello::{CLIENT_HELLO, SERVER_HELLO};
use locate::Start;
use records::{HandshakeMsg, Record, Walk, WalkEnd, APPLICATION_DATA, CHANGE_CIPHER_SPEC};

/// What the TLS analysis of a flow found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsAnalysis {
    pub summary: TlsSummary,
    /// Human-readable steps of the reasoning, each naming its frame where there is one.
    pub reasons: Vec<Said>,
    /// The (first) ClientHello, with its raw extensions, for fingerprints (JA3/JA4).
    pub client_hello: Option<ClientHello>,
    /// The ServerHello that was answered (after any HelloRetryRequest).
    pub server_hello: Option<ServerHello>,
    /// The session credentials the handshake showed (issued, and offered when resumed).
    pub session: SessionTokens,
    /// Where, in the client's and the server's stream, the TLS records stop and bytes that are
    /// not a TLS record follow (the offset of the first such byte).
    pub records_end: [Option<usize>; 2],
    /// Where, in the client's and the server's stream, the first TLS record starts.
    pub records_start: [Option<usize>; 2],
}

/// Where a walk met bytes that are not a TLS record.
fn garbage_at(w: &Walk<'_>) -> Option<usize> {
    match w.end {
        Some(WalkEnd::Garbage { offset }) => Some(offset),
        _ => None,
    }
}

/// Analyzes a flow as TLS (`flow.a` is the client). `None` when neither direction carries TLS.
pub fn analyze(flow: &Flow, keylog: &KeyLog) -> Option<TlsAnalysis> {
    let client = flow.dir.first()?;
    let server = flow.dir.get(1)?;
    match locate::locate(client, server)? {
        Start::MidStream {
            client: c,
            server: s,
        } => Some(mid_stream(client, server, c, s)),
        Start::Handshake(start) => Some(Session::new(client, server, *start).analyze(keylog)),
    }
}

/// The bytes start with a TLS record header (content type 20..=24, version 3.x, sane length) or
/// an SSLv2-compatible ClientHello.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    records::plausible_header(bytes).is_some() || records::sslv2_client_hello_len(bytes).is_some()
}

/// The bytes start with a TLS handshake record holding a ClientHello.
pub fn looks_like_client_hello(bytes: &[u8]) -> bool {
    matches!(records::plausible_header(bytes), Some((22, _, _)))
        && matches!(bytes.get(5), Some(&CLIENT_HELLO))
}

/// The bytes start with a TLS handshake record holding a ServerHello.
pub fn looks_like_server_hello(bytes: &[u8]) -> bool {
    matches!(records::plausible_header(bytes), Some((22, _, _)))
        && matches!(bytes.get(5), Some(&SERVER_HELLO))
}

/// `frame N`, or `frame unknown`, written straight into the sentence that names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameText(Option<u64>);

impl std::fmt::Display for FrameText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(frame) => write!(f, "frame {frame}"),
            None => f.write_str("frame unknown"),
        }
    }
}

/// `frame N`, or `frame unknown`.
pub(crate) fn frame_text(frame: Option<u64>) -> FrameText {
    FrameText(frame)
}

fn closed(dir: &Direction) -> bool {
    dir.fin_frame.is_some() || dir.rst_frame.is_some()
}

/// A flow whose capture starts after the handshake: only records are seen.
fn mid_stream(
    client: &Direction,
    server: &Direction,
    c: Option<usize>,
    s: Option<usize>,
) -> TlsAnalysis {
    let cw = c.map(|o| records::walk(client, o)).unwrap_or_default();
    let sw = s.map(|o| records::walk(server, o)).unwrap_or_default();
    let describe = |who: &str, w: &Walk<'_>| -> Option<String> {
        let first = w.records.first()?;
        Some(format!(
            "{n} TLS record{s} from the {who} starting at {at}",
            n = w.records.len(),
            s = if w.records.len() == 1 { "" } else { "s" },
            at = frame_text(first.frame)
        ))
    };
    let seen: Vec<String> = [describe("client", &cw), describe("server", &sw)]
        .into_iter()
        .flatten()
        .collect();
    let alerts = alerts::both(
        alerts::collect(&cw.records, "client", Some(0), None, false),
        alerts::collect(&sw.records, "server", Some(0), None, false),
    );
    let mut summary = TlsSummary {
        handshake: Some(HandshakeState::NotCaptured),
        alerts,
        ..TlsSummary::default()
    };
    let mut reasons = Vec::new();
    // The server's side may start with its ServerHello (the ClientHello was lost).
    let server_hello = if s == Some(0) {
        let msgs = records::handshake_messages(&sw.records, server, true);
        msgs.iter()
            .find(|m| m.msg_type == SERVER_HELLO)
            .and_then(|m| {
                hello::parse_server_hello(&m.body)
                    .ok()
                    .map(|sh| (m.frame, sh, msgs.clone()))
            })
    } else {
        None
    };
    match server_hello {
        Some((frame, sh, msgs)) => {
            summary.handshake = Some(HandshakeState::Partial);
            summary.hello_mut().version = Some(hello::version_name(sh.negotiated_version()));
            summary.hello_mut().cipher_suite = Some(hello::cipher_suite_name(sh.cipher_suite));
            summary.hello_mut().alpn_selected = sh.alpn.as_deref().map(intern::str);
            reasons.push(said(
                Code::TlsHandshakeNotCaptured,
                format!(
                "the client's ClientHello is not in the capture, the server's ServerHello is ({})",
                frame_text(frame)
            ),
            ));
            if !hello::is_tls13(sh.negotiated_version()) {
                let facts =
                    tls12::analyze(&[], &msgs, None, Some(&sh), tls12::CcsFrames::default());
                summary.server_certificate = facts.server;
                summary.certificate_requested = facts.certificate_requested;
                reasons.extend(facts.reasons);
            }
            reasons.push(said(
                Code::TlsHandshakeNotCaptured,
                "client's handshake not captured: client certificate unknown".to_string(),
            ));
            TlsAnalysis {
                summary,
                reasons,
                client_hello: None,
                server_hello: Some(sh),
                session: SessionTokens::default(),
                records_end: [garbage_at(&cw), garbage_at(&sw)],
                records_start: [c, s],
            }
        }
        None => {
            reasons.push(said(
                Code::TlsHandshakeNotCaptured,
                format!(
                    "capture starts after the TLS handshake: {} and no ClientHello",
                    seen.join(", ")
                ),
            ));
            reasons.push(said(
                Code::TlsHandshakeNotCaptured,
                "handshake not captured: client certificate unknown".to_string(),
            ));
            TlsAnalysis {
                summary,
                reasons,
                client_hello: None,
                server_hello: None,
                session: SessionTokens::default(),
                records_end: [garbage_at(&cw), garbage_at(&sw)],
                records_start: [c, s],
            }
        }
    }
}

/// The records and cleartext handshake of both directions of a flow with a ClientHello.
struct Session<'a> {
    client: &'a Direction,
    server: &'a Direction,
    start: locate::HandshakeStart,
    cw: Walk<'a>,
    sw: Walk<'a>,
    client_msgs: Vec<HandshakeMsg<'a>>,
    server_msgs: Vec<HandshakeMsg<'a>>,
    /// The ServerHello messages of `server_msgs` that parse, in order, with their message index.
    server_hellos: Vec<(usize, ServerHello)>,
    reasons: Vec<Said>,
    /// The session credentials found.
    session: SessionTokens,
}

/// The ServerHello messages among `msgs` that parse, with their index.
fn server_hellos(msgs: &[HandshakeMsg<'_>]) -> Vec<(usize, ServerHello)> {
    msgs.iter()
        .enumerate()
        .filter(|(_, m)| m.msg_type == SERVER_HELLO)
        .filter_map(|(i, m)| hello::parse_server_hello(&m.body).ok().map(|sh| (i, sh)))
        .collect()
}

impl<'a> Session<'a> {
    fn new(client: &'a Direction, server: &'a Direction, start: locate::HandshakeStart) -> Self {
        let cw = records::walk(client, start.client);
        let sw = start
            .server
            .map(|o| records::walk_from(server, o, start.server_resynced))
            .unwrap_or_default();
        // First pass stops at ChangeCipherSpec (TLS <= 1.2 encrypts what follows it). In TLS 1.3
        // every cleartext handshake record is a hello (the encrypted ones are type 23), and the
        // compatibility ChangeCipherSpec may sit between a HelloRetryRequest and the next hello.
        let mut server_msgs = records::handshake_messages(&sw.records, server, true);
        let mut hellos = server_hellos(&server_msgs);
        // The version is that of the first ServerHello message (when it parses).
        let first_sh = server_msgs.iter().position(|m| m.msg_type == SERVER_HELLO);
        let tls13 = hellos.first().is_some_and(|(i, sh)| {
            Some(*i) == first_sh && hello::is_tls13(sh.negotiated_version())
        });
        let client_msgs = records::handshake_messages(&cw.records, client, !tls13);
        // Past the ChangeCipherSpec only when a handshake record follows it: otherwise the
        // messages are the same.
        if tls13 && !records::same_messages_past_ccs(&sw.records) {
            server_msgs = records::handshake_messages(&sw.records, server, false);
            hellos = server_hellos(&server_msgs);
        }
        Session {
            client,
            server,
            start,
            cw,
            sw,
            client_msgs,
            server_msgs,
            server_hellos: hellos,
            reasons: Vec::new(),
            session: SessionTokens::default(),
        }
    }

    fn analyze(mut self, keylog: &KeyLog) -> TlsAnalysis {
        let client_prefix = self.start.plaintext_prefix;
        let server_prefix = if client_prefix > 0 {
            self.start.server.unwrap_or(0)
        } else {
            0
        };
        let prefix = client_prefix.saturating_add(server_prefix);
        let mut s = TlsSummary {
            plaintext_prefix_bytes: u64::try_from(prefix).unwrap_or(u64::MAX),
            ..TlsSummary::default()
        };
        if prefix > 0 {
            self.reasons.push(said(Code::CleartextBeforeTls, format!(
                "{prefix} cleartext bytes ({client_prefix} from the client, {server_prefix} from the server) precede the TLS handshake (STARTTLS-style upgrade); ClientHello at {}",
                frame_text(self.client.frame_at(client_prefix))
            )));
        }
        // ClientHello (the first one; a second one follows a HelloRetryRequest).
        let mut client_hellos = self
            .client_msgs
            .iter()
            .filter(|m| m.msg_type == CLIENT_HELLO);
        let first_ch = client_hellos.next();
        let client_hello_count = usize::from(first_ch.is_some()) + client_hellos.count();
        let ch = match &self.start.sslv2_client_hello {
            Some(ch) => Some(ch.clone()),
            None => first_ch.and_then(|m| hello::parse_client_hello(&m.body).ok()),
        };
        s.client_hello_frame = match self.start.sslv2_client_hello {
            Some(_) => self.client.frame_at(self.start.sslv2_offset),
            None => first_ch.and_then(|m| m.frame),
        };
        if let Some(ch) = &ch {
            s.hello_mut().sni = ch.sni.as_deref().map(intern::str);
            s.hello_mut().alpn_offered = intern::list(&ch.alpn);
            s.early_data = ch.early_data;
            s.hello_mut().versions_offered = hello::versions_offered(ch);
        }
        // ServerHello: the last one answers; an earlier one with the special random is a
        // HelloRetryRequest.
        let server_hellos = std::mem::take(&mut self.server_hellos);
        let msg_of = |i: usize| self.server_msgs.get(i);
        let hrr = server_hellos.iter().find(|(_, sh)| sh.hello_retry);
        if let Some((i, _)) = hrr {
            s.hello_retry_request = true;
            self.reasons.push(said(
                Code::TlsHandshake,
                format!(
                    "server sent a HelloRetryRequest ({}); the client sent {} ClientHello messages",
                    frame_text(msg_of(*i).and_then(|m| m.frame)),
                    client_hello_count
                ),
            ));
        }
        let answered = server_hellos.iter().rposition(|(_, sh)| !sh.hello_retry);
        let sh_msg = answered
            .and_then(|a| server_hellos.get(a))
            .and_then(|(i, _)| msg_of(*i));
        let sh_record = sh_msg.map(|m| m.record);
        let sh_frame = sh_msg.and_then(|m| m.frame);
        if answered.is_none() {
            if let Some((_, hrr)) = hrr {
                s.hello_mut().version = Some(hello::version_name(hrr.negotiated_version()));
                s.hello_mut().cipher_suite = Some(hello::cipher_suite_name(hrr.cipher_suite));
                self.reasons.push(said(
                    Code::TlsHandshakeNotCaptured,
                    "the ServerHello that follows the HelloRetryRequest is not in the capture"
                        .to_string(),
                ));
            }
        }
        let sh = answered.and_then(|a| server_hellos.into_iter().nth(a).map(|(_, sh)| sh));
        if let Some(sh) = &sh {
            s.hello_mut().version = Some(hello::version_name(sh.negotiated_version()));
            s.hello_mut().cipher_suite = Some(hello::cipher_suite_name(sh.cipher_suite));
            s.hello_mut().alpn_selected = sh.alpn.as_deref().map(intern::str);
        }
        let tls13 = sh
            .as_ref()
            .is_some_and(|sh| hello::is_tls13(sh.negotiated_version()));
        match (&sh, tls13) {
            (Some(sh), true) => self.tls13(&mut s, ch.as_ref(), sh, sh_record.unwrap_or(0), keylog),
            (Some(sh), false) => self.tls12(&mut s, ch.as_ref(), sh, sh_frame),
            (None, _) => self.no_server_hello(&mut s, ch.as_ref()),
        }
        if s.handshake == Some(HandshakeState::Failed) {
            // A session whose handshake failed cannot be resumed.
            self.session.issued.clear();
        }
        TlsAnalysis {
            summary: s,
            reasons: self.reasons,
            client_hello: ch,
            server_hello: sh,
            session: self.session,
            records_end: [garbage_at(&self.cw), garbage_at(&self.sw)],
            records_start: [
                Some(match self.start.sslv2_client_hello {
                    Some(_) => self.start.sslv2_offset,
                    None => self.start.client,
                }),
                if self.start.sslv2_server_hello {
                    Some(0)
                } else {
                    self.start.server
                },
            ],
        }
    }

    /// Index of the first record of `w` of `content_type`, from `from` on.
    fn first_of(w: &Walk<'_>, content_type: u8, from: usize) -> Option<usize> {
        w.records
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, r)| r.content_type == content_type)
            .map(|(i, _)| i)
    }

    /// Frames of the ChangeCipherSpec records, for the TLS <= 1.2 analysis: a record found after
    /// missing bytes does not count (what preceded it is unknown).
    fn ccs_frames(&self, client: Option<usize>, server: Option<usize>) -> tls12::CcsFrames {
        let clean = |w: &Walk<'_>, i: Option<usize>| {
            let r = w.records.get(i?)?;
            (!r.after_hole).then_some(r.frame)
        };
        tls12::CcsFrames {
            client: clean(&self.cw, client),
            server: clean(&self.sw, server),
        }
    }

    fn fatal_alert(s: &TlsSummary) -> bool {
        s.alerts.iter().any(|a| a.level() == "fatal")
    }

    fn tls12(
        &mut self,
        s: &mut TlsSummary,
        ch: Option<&ClientHello>,
        sh: &ServerHello,
        sh_frame: Option<u64>,
    ) {
        let client_ccs = Self::first_of(&self.cw, CHANGE_CIPHER_SPEC, 0);
        let server_ccs = Self::first_of(&self.sw, CHANGE_CIPHER_SPEC, 0);
        let facts = tls12::analyze(
            &self.client_msgs,
            &self.server_msgs,
            ch,
            Some(sh),
            self.ccs_frames(client_ccs, server_ccs),
        );
        s.client_certificate = facts.client;
        s.server_certificate = facts.server;
        s.certificate_requested = facts.certificate_requested;
        s.resumed = facts.resumed;
        self.reasons.extend(facts.reasons);
        self.session = session::tls12(
            ch,
            sh,
            sh_frame,
            &self.server_msgs,
            facts.resumed == Some(true),
        );
        let enc = |i: Option<usize>| i.map(|i| i.saturating_add(1));
        s.alerts = alerts::both(
            alerts::collect(&self.cw.records, "client", enc(client_ccs), None, false),
            alerts::collect(&self.sw.records, "server", enc(server_ccs), None, false),
        );
        // Complete: each side sent ChangeCipherSpec followed by its (encrypted) Finished.
        let finished = |w: &Walk<'_>, ccs: Option<usize>| {
            ccs.is_some_and(|i| w.records.get(i.saturating_add(1)).is_some())
        };
        let complete = finished(&self.cw, client_ccs) && finished(&self.sw, server_ccs);
        // The server turned the client down: a fatal alert from it, or a close, after the
        // client's flight and before the handshake completed.
        let server_alert = s
            .alerts
            .iter()
            .any(|a| a.from() == "server" && a.level() == "fatal");
        let server_closed = client_ccs.is_some() && closed(self.server);
        s.server_rejected = !complete && (server_alert || server_closed);
        s.handshake = Some(self.state(s, complete, false));
    }

    /// Handshake state from what was seen: a fatal alert or a close before completion is a
    /// failure; `complete` otherwise when both flights ended.
    fn state(&mut self, s: &TlsSummary, complete: bool, rejected: bool) -> HandshakeState {
        if let Some(a) = s.alerts.iter().find(|a| a.level() == "fatal") {
            if !complete || rejected {
                self.reasons.push(said(
                    Code::TlsHandshakeFailed,
                    format!(
                        "{} sent a fatal {} alert ({}): handshake failed",
                        a.from(),
                        a.description(),
                        frame_text(a.frame)
                    ),
                ));
                return HandshakeState::Failed;
            }
        }
        if rejected {
            return HandshakeState::Failed;
        }
        if complete {
            return HandshakeState::Complete;
        }
        if Self::fatal_alert(s) {
            return HandshakeState::Failed;
        }
        let close = [(self.client, "client"), (self.server, "server")]
            .into_iter()
            .find_map(|(d, who)| {
                d.rst_frame
                    .map(|f| (who, "reset", f))
                    .or(d.fin_frame.map(|f| (who, "closed", f)))
            });
        let bytes_missing = [&self.cw, &self.sw]
            .iter()
            .any(|w| w.records.iter().any(|r| r.after_hole));
        match close {
            Some((who, how, frame)) if !bytes_missing => {
                self.reasons.push(said(
                    Code::TlsHandshakeFailed,
                    format!(
                        "{who} {how} the connection before the handshake completed (frame {frame})"
                    ),
                ));
                HandshakeState::Failed
            }
            _ => HandshakeState::Partial,
        }
    }

    fn no_server_hello(&mut self, s: &mut TlsSummary, ch: Option<&ClientHello>) {
        s.alerts = alerts::collect(&self.sw.records, "server", None, None, false).into();
        if self.start.sslv2_server_hello {
            s.hello_mut().version = Some(intern::str("ssl2"));
            self.reasons.push(said(
                Code::TlsHandshake,
                format!(
                    "SSLv2 handshake: the server answered with an SSLv2 ServerHello ({})",
                    frame_text(self.server.frame_at(0))
                ),
            ));
            s.handshake = Some(HandshakeState::Partial);
            return;
        }
        // The client's cleartext flight may still show its Certificate (TLS <= 1.2).
        let client_ccs = Self::first_of(&self.cw, CHANGE_CIPHER_SPEC, 0);
        let facts = tls12::analyze(
            &self.client_msgs,
            &[],
            ch,
            None,
            self.ccs_frames(client_ccs, None),
        );
        if facts.client.presented.is_some() {
            s.client_certificate = facts.client;
            s.certificate_requested = facts.certificate_requested;
            self.reasons.extend(facts.reasons);
        }
        if self.start.server.is_none() && !self.server.stream.is_empty() {
            self.reasons.push(said(
                Code::TlsHandshakeFailed,
                format!(
                    "server answered the ClientHello with bytes that are not TLS ({})",
                    frame_text(self.server.frame_at(0))
                ),
            ));
            s.handshake = Some(HandshakeState::Failed);
            return;
        }
        if self.server.stream.is_empty() {
            self.reasons.push(said(
                Code::TlsHandshakeNotCaptured,
                "no bytes from the server in the capture: handshake incomplete",
            ));
        } else if self.start.server_resynced {
            self.reasons.push(said(Code::TlsHandshakeNotCaptured, format!(
                "the start of the server's stream is missing: its ServerHello is not in the capture (first whole record at {})",
                frame_text(self.sw.records.first().and_then(|r| r.frame))
            )));
        }
        s.handshake = Some(self.state(s, false, false));
    }

    fn tls13(
        &mut self,
        s: &mut TlsSummary,
        ch: Option<&ClientHello>,
        sh: &ServerHello,
        sh_record: usize,
        keylog: &KeyLog,
    ) {
        let suite = sh.cipher_suite;
        let shapes = tls13::flight_shapes(suite);
        let tag = shapes.map(|sh| sh.sizes.tag_len);
        // Server: encrypted records after its ServerHello.
        let server_after = self
            .sw
            .records
            .get(sh_record.saturating_add(1)..)
            .unwrap_or(&[]);
        let server_first_encrypted = server_after
            .iter()
            .find(|r| r.content_type == APPLICATION_DATA && !r.after_hole);
        // Client: records after its last ClientHello.
        let last_ch_record = self
            .client_msgs
            .iter()
            .rev()
            .find(|m| m.msg_type == CLIENT_HELLO)
            .map_or(0, |m| m.record);
        let client_after = self
            .cw
            .records
            .get(last_ch_record.saturating_add(1)..)
            .unwrap_or(&[]);
        let broken = matches!(
            self.cw.end,
            Some(WalkEnd::Hole { .. } | WalkEnd::Garbage { .. } | WalkEnd::Truncated { .. })
        );
        let early_offered = ch.is_some_and(|c| c.early_data) && !s.hello_retry_request;
        let client_enc_from = Self::first_of(&self.cw, APPLICATION_DATA, last_ch_record);
        let server_enc_from = Some(sh_record.saturating_add(1));
        s.alerts = alerts::both(
            alerts::collect(
                &self.cw.records,
                "client",
                client_enc_from,
                tag,
                closed(self.client),
            ),
            alerts::collect(
                &self.sw.records,
                "server",
                server_enc_from,
                tag,
                closed(self.server),
            ),
        );

        if let Some(ch) = ch {
            if sh.psk_accepted {
                if let Some(identity) = session::selected_psk_identity(ch, sh) {
                    self.session.offered.push((
                        Credential::new(CredentialKind::Ticket, identity),
                        LinkedBy::PskIdentity,
                    ));
                }
            }
            if let Some(secret) = keylog
                .get(&ch.random)
                .and_then(|secrets| secrets.server_traffic_0.as_deref())
            {
                self.session.issued = session::tls13_tickets(suite, secret, server_after);
            }
        }
        if sh.psk_accepted {
            s.resumed = Some(true);
            self.reasons.push(said(
                Code::TlsHandshake,
                "resumed session (pre_shared_key accepted): no certificates exchanged".to_string(),
            ));
            let client_done = client_after
                .iter()
                .any(|r| r.content_type == APPLICATION_DATA);
            s.handshake =
                Some(self.state(s, client_done && server_first_encrypted.is_some(), false));
            return;
        }
        s.resumed = Some(false);
        let inference = tls13::infer(tls13::Input {
            suite,
            client_records: client_after,
            server_first_encrypted: server_first_encrypted.and_then(|r| r.frame),
            early_data_offered: early_offered,
            alps_offered: ch.is_some_and(|c| {
                c.extensions
                    .iter()
                    .any(|e| tls13::ALPS_EXTENSIONS.contains(&e.ext_type))
            }),
            client_stream_broken: broken,
        });
        // Only a session in the key log can be decrypted: the client's flight is gathered for
        // those alone.
        let decrypted = ch
            .filter(|ch| keylog.get(&ch.random).is_some())
            .and_then(|ch| {
                let flight: Vec<Record<'_>> = client_after
                    .iter()
                    .filter(|r| r.content_type == APPLICATION_DATA)
                    .skip(inference.early_data_records)
                    .copied()
                    .collect();
                tls13_keys::decrypt(keylog, &ch.random, suite, server_after, &flight)
            });
        if let Some(server_rec) = server_first_encrypted {
            s.server_certificate = CertificateSide {
                presented: Some(true),
                evidence: Some(Evidence::Inferred),
                frame: server_rec.frame,
                chain: Box::default(),
                cross: None,
            };
            self.reasons.push(said(Code::TlsHandshake, format!(
                "full TLS 1.3 handshake (no pre_shared_key accepted): the server authenticates with a certificate in its encrypted flight (from {})",
                frame_text(server_rec.frame)
            )));
        }
        let mut complete = inference.flight_end_frame.is_some();
        match decrypted {
            Some(facts) => {
                self.reasons.extend(facts.reasons);
                if let Some(side) = facts.client {
                    s.client_certificate = side;
                    complete = true;
                }
                if let Some(side) = facts.server {
                    s.server_certificate = side;
                }
                s.certificate_requested = facts.certificate_requested;
                let h = s.hello_mut();
                h.alpn_selected = h
                    .alpn_selected
                    .take()
                    .or(facts.alpn_selected.as_deref().map(intern::str));
            }
            None => {
                self.reasons.extend(inference.reasons.iter().cloned());
                s.certificate_requested = inference.certificate_requested;
                if inference.presented.is_some() {
                    s.client_certificate = CertificateSide {
                        presented: inference.presented,
                        evidence: Some(Evidence::Inferred),
                        frame: inference.frame,
                        chain: Box::default(),
                        cross: None,
                    };
                }
            }
        }
        // A rejected client: the server answers the client's flight with one alert-sized record
        // and closes.
        let mut rejected = inference.client_aborted;
        if let (Some(end), Some(shapes)) = (inference.flight_end_frame, shapes) {
            // The server's records after the client's flight: exactly one?
            let mut after = server_after
                .iter()
                .filter(|r| r.frame.is_some_and(|f| f > end));
            if let (Some(only), None) = (after.next(), after.next()) {
                if only.content_type == APPLICATION_DATA
                    && only.body.len() == shapes.alert
                    && closed(self.server)
                {
                    rejected = true;
                    s.server_rejected = true;
                    let why = if s.client_certificate.presented == Some(false)
                        && s.certificate_requested == Some(true)
                    {
                        "the server rejected the client, which sent no certificate"
                    } else {
                        "the server rejected the handshake"
                    };
                    self.reasons.push(said(Code::TlsServerRejected, format!(
                        "server answered the client's handshake flight with one {} byte encrypted record (the size of an alert, 2+1+{}) and closed the connection ({}): {why}",
                        shapes.alert,
                        shapes.sizes.tag_len,
                        frame_text(only.frame)
                    )));
                }
            }
        }
        s.handshake = Some(self.state(s, complete, rejected));
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod corpus_tests;
