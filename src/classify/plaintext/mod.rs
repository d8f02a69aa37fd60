//! Cleartext protocols: HTTP/1.x requests and responses, HTTP/2 cleartext (h2c, with or without
//! its preface), gRPC without TLS, well-known text and binary protocols, any other payload that is
//! not high-entropy; quoted with credentials redacted.
//!
//! Each direction is read on its own (a capture may hold only one side), then the two findings are
//! combined: the flow's protocol is the most specific one seen, the evidence quotes the most
//! specific finding (the client's on a tie), and a cleartext request the server answered with a
//! reset, a bare close or a TLS alert is marked `rejected`.

pub(crate) mod escape;

pub use escape::escape as quote;
pub(crate) mod forwarded;
mod h2;
mod hpack;
mod http1;
mod huffman;
pub(crate) mod other;
mod redact;

pub use redact::{
    has_credentials, is_sensitive_header, redact_http_head, redact_target, redact_text_line,
    REDACTED,
};

use std::fmt::Write;

use crate::flow::{Direction, Flow};
use crate::intern;
use crate::model::{said, Code, PlaintextSummary, Said};

/// Who sent a run of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    /// `client` or `server`, as the report spells it.
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// What [`detect`] found: the report's summary plus what the classifier may add to the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub summary: PlaintextSummary,
    /// Sentences for the flow's `reasons`, each naming its frame where there is one.
    pub reasons: Vec<Said>,
    /// Names of credential headers (or HPACK fields) that crossed in the clear; values never kept.
    pub credentials: Vec<String>,
    /// A redacted sample of headers worth showing (Host, User-Agent, `:authority`, Content-Type,
    /// Server, Upgrade, Via); never credentials.
    pub headers: Vec<(String, String)>,
    /// The cleartext only negotiates TLS (STARTTLS, STLS, AUTH TLS, PostgreSQL SSLRequest, HTTP
    /// CONNECT followed by a TLS record): if TLS follows, the flow is TLS with a cleartext prefix.
    pub upgrades_to_tls: bool,
}

/// How specific a finding is; the flow's protocol is the most specific one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Binary,
    Text,
    Named,
    Http1,
    H2c,
    Grpc,
}

/// What one direction shows.
#[derive(Debug, Clone)]
struct Finding {
    side: Side,
    rank: Rank,
    protocol: &'static str,
    evidence: String,
    offset: usize,
    frame: Option<u64>,
    /// Reason sentences, each with the stream offset whose frame it names.
    reasons: Vec<(Said, Option<usize>)>,
    credentials: Vec<String>,
    headers: Vec<(String, String)>,
    upgrades_to_tls: bool,
    /// HTTP/1 status code, when the finding is a response.
    status: Option<u16>,
    /// A name that a banner from the other side should override.
    weak: bool,
    /// Client identities a proxy forwarded in the requests.
    forwarded: Vec<forwarded::Forward>,
}

impl Finding {
    fn new(
        side: Side,
        rank: Rank,
        protocol: &'static str,
        evidence: String,
        offset: usize,
    ) -> Finding {
        Finding {
            side,
            rank,
            protocol,
            evidence,
            offset,
            frame: None,
            reasons: Vec::new(),
            credentials: Vec::new(),
            headers: Vec::new(),
            upgrades_to_tls: false,
            status: None,
            weak: false,
            forwarded: Vec::new(),
        }
    }
}

/// Finds cleartext application data in either direction of `flow` (`a` is the client).
///
/// `None` means neither direction carries recognisable cleartext: no payload, TLS records only,
/// an SSH session (see [`encrypted_non_tls`]), or high-entropy bytes (the classifier calls a
/// non-TLS flow with payload `opaque` then).
pub fn detect(flow: &Flow) -> Option<Detection> {
    if encrypted_non_tls(flow).is_some() {
        return None;
    }
    let client = examine(&flow.dir[0], Side::Client);
    let server = examine(&flow.dir[1], Side::Server);
    // The protocol comes from the most specific finding; the quote prefers the client's request.
    let (named_by, best) = match (&client, &server) {
        (Some(c), Some(s)) => (
            if s.rank > c.rank { s } else { c },
            if c.rank >= Rank::Http1 || c.rank >= s.rank {
                c
            } else {
                s
            },
        ),
        (Some(c), None) => (c, c),
        (None, Some(s)) => (s, s),
        (None, None) => return None,
    };
    let mut protocol = named_by.protocol;
    // A banner names a protocol better than a command several protocols share.
    if let (Some(c), Some(s)) = (&client, &server) {
        if c.weak && s.rank == Rank::Named {
            protocol = s.protocol;
        }
    }

    let forwarded_client = client
        .as_ref()
        .and_then(|c| forwarded::summarize(&c.forwarded, |at| flow.dir[0].frame_at(at)));
    let mut summary = PlaintextSummary {
        protocol,
        evidence: intern::str(&best.evidence),
        frame: best.frame,
        direction: best.side.name(),
        rejected: false,
        forwarded_client: forwarded_client.map(Box::new),
    };
    let client_only = client.is_some() && server.is_none();
    let upgrades_to_tls = [&client, &server]
        .into_iter()
        .flatten()
        .any(|f| f.upgrades_to_tls);

    // The findings are consumed: their reasons, names and headers move into the detection.
    let mut reasons = Vec::new();
    let mut credentials: Vec<String> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    for f in [client, server].into_iter().flatten() {
        reasons.extend(f.reasons.into_iter().map(|(text, _)| text));
        for name in f.credentials {
            if !credentials.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                credentials.push(name);
            }
        }
        for (n, v) in f.headers {
            if !headers.iter().any(|(m, _)| m.eq_ignore_ascii_case(&n)) {
                headers.push((n, v));
            }
        }
    }
    for name in &credentials {
        reasons.push(said(
            Code::CleartextCredential,
            format!("{name} header sent in cleartext (value redacted)"),
        ));
    }
    if let Some(f) = &summary.forwarded_client {
        reasons.push(said(Code::ForwardedIdentity, forwarded_sentence(f)));
    }

    let rejected = client_only && rejection(&flow.dir[1]).is_some();
    if let Some(why) = rejection(&flow.dir[1]).filter(|_| rejected) {
        reasons.push(said(Code::CleartextUnanswered, why));
    } else if client_only && flow.dir[1].payload_bytes == 0 {
        reasons.push(said(
            Code::CleartextUnanswered,
            "no answer from the server in the capture",
        ));
    }

    summary.rejected = rejected;
    Some(Detection {
        summary,
        reasons,
        credentials,
        headers,
        upgrades_to_tls,
    })
}

/// Cleartext found in a run of bytes that is not a whole stream (what follows TLS records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleartext {
    /// As [`PlaintextSummary::protocol`].
    pub protocol: &'static str,
    /// A short, redacted quote.
    pub evidence: String,
}

/// Whether `bytes` (sent by the client, or not) are readable cleartext: a known protocol, or
/// printable text. `None` for binary bytes (another protocol's framing, random data), which
/// are no proof of cleartext.
pub fn cleartext_in(bytes: &[u8], client: bool) -> Option<Cleartext> {
    let side = if client { Side::Client } else { Side::Server };
    if bytes.is_empty() || starts_tls(bytes) {
        return None;
    }
    let f = examine_bytes(bytes, side)?;
    (f.rank > Rank::Binary).then_some(Cleartext {
        protocol: f.protocol,
        evidence: f.evidence,
    })
}

/// Protocols that switch to TLS in the same connection after a cleartext negotiation
/// (STARTTLS and its kin, SSLRequest, SOCKS, VeNCrypt, NATS's INFO, AMQP's TLS header): their
/// cleartext before a TLS handshake is by design.
const UPGRADING: &[&str] = &[
    "smtp",
    "ftp",
    "pop3",
    "imap",
    "xmpp",
    "postgresql",
    "mysql",
    "socks",
    "nats",
    "vnc",
    "amqp",
];

/// What a direction's `stream` (its contiguous bytes) starts with before its first TLS record:
/// readable cleartext, and whether it is a negotiation that switches to TLS (a protocol of
/// [`UPGRADING`], or an HTTP CONNECT). `None` for binary bytes of no known protocol.
pub fn before_tls(stream: &[u8], client: bool) -> Option<(Cleartext, bool)> {
    let side = if client { Side::Client } else { Side::Server };
    if stream.is_empty() || starts_tls(stream) {
        return None;
    }
    let f = examine_bytes(stream, side)?;
    let upgrading = f.upgrades_to_tls || UPGRADING.contains(&f.protocol);
    (f.rank > Rank::Binary || upgrading).then(|| {
        let clear = Cleartext {
            protocol: f.protocol,
            evidence: f.evidence,
        };
        (clear, upgrading)
    })
}

/// What the forwarded identity of a flow's requests says, as a reason sentence.
fn forwarded_sentence(f: &crate::model::ForwardedClient) -> String {
    let mut text = sentence(&[
        "the client's requests carry ",
        f.header.name(),
        " naming the client identity ",
        &f.identity,
    ]);
    if let Some(by) = &f.by {
        let _ = write!(text, " (By={by})");
    }
    push_frame_suffix(&mut text, f.frame);
    if f.identities > 1 {
        let _ = write!(
            text,
            "; {} requests name {} different identities",
            f.requests, f.identities
        );
    }
    text
}

/// How the server turned down a cleartext request, as a reason sentence.
fn rejection(server: &Direction) -> Option<String> {
    let bytes = run(server);
    if let [0x15, 0x03, 0..=4, ..] = bytes {
        let frame = frame_suffix(server.frame_at(0));
        return Some(format!(
            "server answered with a TLS alert{frame}: it expects TLS, the cleartext request was rejected"
        ));
    }
    if server.payload_bytes != 0 {
        return None;
    }
    if let Some(f) = server.rst_frame {
        return Some(format!(
            "server reset the connection (frame {f}) without answering: the cleartext request was rejected"
        ));
    }
    server.fin_frame.map(|f| {
        format!("server closed the connection (frame {f}) without answering: the cleartext request was rejected")
    })
}

fn frame_suffix(frame: Option<u64>) -> String {
    let mut text = String::new();
    push_frame_suffix(&mut text, frame);
    text
}

/// The longest ` (frame N)` suffix: `N` is a `u64`.
const FRAME_SUFFIX_MAX: usize = " (frame )".len() + 20;

/// A reason sentence made of `pieces`, with room left for the frame suffix that [`examine`]
/// appends: the same text as `format!` would build, in one exact allocation.
fn sentence(pieces: &[&str]) -> String {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut text = String::with_capacity(len + FRAME_SUFFIX_MAX);
    for piece in pieces {
        text.push_str(piece);
    }
    text
}

/// Appends ` (frame N)` to `text` when the frame is known.
fn push_frame_suffix(text: &mut String, frame: Option<u64>) {
    if let Some(f) = frame {
        // Writing to a String cannot fail.
        let _ = write!(text, " (frame {f})");
    }
}

/// The bytes of a direction that are read: from the start up to the first hole.
fn run(dir: &Direction) -> &[u8] {
    let end = dir
        .holes
        .iter()
        .map(|&h| h as usize)
        .find(|&h| h > 0)
        .unwrap_or(dir.stream.len())
        .min(dir.stream.len());
    dir.stream.get(..end).unwrap_or_default()
}

/// The bytes start with a TLS record header (handshake, alert, application data, ...) or an
/// SSLv2-compatible ClientHello (2-byte header with the high bit set, message type 1, version 2 or
/// 3.x).
fn starts_tls(bytes: &[u8]) -> bool {
    crate::classify::tls::looks_like_tls(bytes)
        || matches!(bytes, [0x80..=0xff, _, 1, 0 | 3, 0..=4, ..])
}

/// Reads one direction.
fn examine(dir: &Direction, side: Side) -> Option<Finding> {
    let bytes = run(dir);
    if bytes.is_empty() || starts_tls(bytes) || bytes.starts_with(b"SSH-") {
        return None;
    }
    let mut finding = examine_bytes(bytes, side)?;
    finding.frame = dir.frame_at(finding.offset);
    // Each reason names the frame that carried the bytes it speaks of.
    for (reason, at) in &mut finding.reasons {
        if let Some(at) = *at {
            push_frame_suffix(&mut reason.text, dir.frame_at(at));
        }
    }
    Some(finding)
}

fn examine_bytes(bytes: &[u8], side: Side) -> Option<Finding> {
    let who = side.name();
    if bytes.starts_with(h2::PREFACE) || (h2::PREFACE.starts_with(bytes) && bytes.len() >= 16) {
        let walk = h2::walk(bytes, h2::PREFACE.len().min(bytes.len()), 0);
        let facts = h2::facts(&walk);
        let mut f = h2_finding(side, &facts, "PRI * HTTP/2.0".to_string(), 0);
        f.reasons.insert(
            0,
            (
                said(
                    Code::CleartextSeen,
                    format!("{who} sent the HTTP/2 cleartext connection preface"),
                ),
                Some(0),
            ),
        );
        return Some(f);
    }
    if side == Side::Server {
        if let Some(walk) = h2::starts_with_server_preface(bytes) {
            let facts = h2::facts(&walk);
            let mut f = h2_finding(side, &facts, "HTTP/2 SETTINGS".to_string(), 0);
            let text = format!("{who} sent the HTTP/2 connection preface (SETTINGS) in cleartext");
            f.reasons
                .insert(0, (said(Code::CleartextSeen, text), Some(0)));
            return Some(f);
        }
    }
    if let Some(head) = http1::parse(bytes) {
        return Some(http1_finding(bytes, side, head));
    }
    if let Some(walk) = h2::find_midstream(bytes, 0) {
        let facts = h2::facts(&walk);
        let offset = facts.first_offset.unwrap_or(0);
        let kinds: Vec<&str> = walk
            .frames
            .iter()
            .take(4)
            .map(|f| h2::kind_name(f.header.kind))
            .collect();
        let quote = format!("HTTP/2 frames: {}", kinds.join(", "));
        let mut f = h2_finding(side, &facts, quote, offset);
        let text = format!(
            "{who} sent {} HTTP/2 frames in cleartext without a preface (capture starts mid-connection)",
            facts.frames
        );
        f.reasons
            .insert(0, (said(Code::CleartextSeen, text), Some(offset)));
        return Some(f);
    }
    let o = other::recognise(bytes, side)?;
    let rank = match (o.protocol, o.what.as_str()) {
        ("unknown", "printable text") => Rank::Text,
        ("unknown", _) => Rank::Binary,
        _ => Rank::Named,
    };
    let mut f = Finding::new(side, rank, o.protocol, o.evidence.clone(), o.offset);
    let text = format!("{who} sent {} in cleartext: `{}`", o.what, o.evidence);
    f.reasons
        .push((said(Code::CleartextSeen, text), Some(o.offset)));
    f.upgrades_to_tls = o.starttls;
    f.weak = o.weak;
    if o.starttls {
        f.reasons.push((
            said(
                Code::CleartextUpgrade,
                format!("{who} asked to switch to TLS"),
            ),
            None,
        ));
    }
    Some(f)
}

fn http1_finding(bytes: &[u8], side: Side, head: http1::Head) -> Finding {
    let who = side.name();
    let what = match head.start {
        http1::StartLine::Request { .. } => "request",
        http1::StartLine::Status { .. } => "response",
    };
    let version = if head.protocol == "http/1.0" {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let text = sentence(&[
        who,
        " sent an ",
        version,
        " ",
        what,
        " in cleartext: `",
        &head.line,
        "`",
    ]);
    // The head is consumed: its quoted line, credential names and sample headers move here.
    let request = matches!(head.start, http1::StartLine::Request { .. });
    let mut f = Finding::new(side, Rank::Http1, head.protocol, head.line, 0);
    f.reasons.push((said(Code::CleartextSeen, text), Some(0)));
    if side == Side::Client && request {
        f.forwarded = forwarded::http1_requests(bytes);
    }
    f.credentials = head.credentials;
    f.headers = head.headers;
    if let http1::StartLine::Status { code } = head.start {
        f.status = Some(code);
    }
    let after = head.end.and_then(|e| bytes.get(e..)).unwrap_or_default();
    let connect =
        matches!(&head.start, http1::StartLine::Request { method, .. } if method == "CONNECT");
    let tunnelled = after
        .iter()
        .position(|b| !b"\r\n".contains(b))
        .and_then(|i| after.get(i..));
    if connect && tunnelled.is_some_and(starts_tls) {
        f.upgrades_to_tls = true;
        let text = format!("{who} tunnels TLS through the CONNECT");
        f.reasons
            .push((said(Code::CleartextUpgrade, text), head.end));
    }
    // h2c upgrade: the request offers it; the client then sends the preface, or the server
    // answers 101 and continues in HTTP/2 frames.
    let switched = matches!(head.start, http1::StartLine::Status { code: 101 });
    if head.upgrade_h2c {
        let base = head.end.unwrap_or(bytes.len());
        let walk = if after.starts_with(h2::PREFACE) {
            Some(h2::walk(bytes, base + h2::PREFACE.len(), 0))
        } else if switched {
            Some(h2::walk(bytes, base, 0))
        } else {
            None
        };
        match walk {
            Some(w) if !w.frames.is_empty() || after.starts_with(h2::PREFACE) => {
                let facts = h2::facts(&w);
                let mut h = h2_finding(side, &facts, f.evidence.clone(), 0);
                let mut reasons = std::mem::take(&mut f.reasons);
                let text = format!("{who} upgraded the connection to HTTP/2 cleartext (h2c)");
                reasons.push((said(Code::CleartextUpgrade, text), None));
                reasons.append(&mut h.reasons);
                h.reasons = reasons;
                h.evidence = std::mem::take(&mut f.evidence);
                h.offset = 0;
                h.credentials.append(&mut f.credentials);
                h.headers.splice(0..0, f.headers);
                h.status = f.status;
                return h;
            }
            _ if switched => {
                f.rank = Rank::H2c;
                f.protocol = "h2c";
                let text = format!("{who} accepted the upgrade to HTTP/2 cleartext (h2c)");
                f.reasons
                    .push((said(Code::CleartextUpgrade, text), Some(0)));
            }
            _ => {
                let text = format!("{who} offered an upgrade to HTTP/2 cleartext (h2c)");
                f.reasons.push((said(Code::CleartextUpgrade, text), None));
            }
        }
    }
    f
}

/// A finding from HTTP/2 facts: `grpc` when the headers or DATA framing say so, else `h2c`.
/// `fallback` is quoted when no request or status was decoded.
fn h2_finding(side: Side, facts: &h2::H2Facts, fallback: String, offset: usize) -> Finding {
    let who = side.name();
    let (evidence, at) = match (&facts.request, &facts.status) {
        (Some((at, method, path)), _) if !path.is_empty() => {
            (format!("{method} {path} HTTP/2"), *at)
        }
        (Some((at, method, _)), _) => (format!("{method} HTTP/2"), *at),
        (None, Some((at, status))) => (format!("HTTP/2 {status}"), *at),
        _ => (fallback, offset),
    };
    let grpc = facts.is_grpc();
    let (rank, protocol) = if grpc {
        (Rank::Grpc, "grpc")
    } else {
        (Rank::H2c, "h2c")
    };
    let evidence = escape::truncate(&evidence, http1::MAX_LINE_CHARS);
    let mut f = Finding::new(side, rank, protocol, evidence, at);
    if facts.request.is_some() || facts.status.is_some() {
        let text = format!("{who} sent HTTP/2 HEADERS in cleartext: `{}`", f.evidence);
        f.reasons.push((said(Code::CleartextSeen, text), Some(at)));
    }
    if let Some(ct) = &facts.content_type {
        if grpc {
            let text = format!("content-type {ct}: a gRPC call without TLS");
            f.reasons.push((said(Code::CleartextSeen, text), None));
        }
    } else if let Some(at) = facts.grpc_data {
        let text = format!(
            "{who} sent DATA framed as gRPC messages (flag and 4-byte length): a gRPC call without TLS"
        );
        f.reasons.push((said(Code::CleartextSeen, text), Some(at)));
    }
    f.credentials = facts.credentials.clone();
    f.headers = facts.headers.clone();
    if side == Side::Client {
        f.forwarded = facts.forwarded.clone();
    }
    f
}

/// The bytes start like a client's cleartext opening: an HTTP/1.x request line, the HTTP/2
/// preface, or a client opener of another protocol (SMTP `EHLO`, PostgreSQL startup, Redis
/// command, ...). Used to orient a flow whose SYN was not captured.
pub fn looks_like_request(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"PRI * HTTP/2.0") || http1::starts_with_method(bytes) {
        return true;
    }
    if bytes.is_empty() || starts_tls(bytes) || http1::starts_with_status(bytes) {
        return false;
    }
    other::recognise(bytes, Side::Client).is_some_and(|o| o.protocol != "unknown")
        && other::recognise(bytes, Side::Server).is_none_or(|o| o.protocol == "unknown")
}

/// The bytes start like a server's cleartext answer (an HTTP/1.x status line or a protocol
/// banner such as SMTP `220 ... ESMTP`, `+OK`, `* OK`, a MySQL greeting).
pub fn looks_like_response(bytes: &[u8]) -> bool {
    if http1::starts_with_status(bytes) {
        return true;
    }
    other::recognise(bytes, Side::Server).is_some_and(|o| o.protocol != "unknown")
        && !looks_like_request(bytes)
}

/// A non-TLS protocol that encrypts its payload: SSH (after a cleartext banner and key exchange)
/// or OpenVPN over TCP (TLS inside its own control-channel framing). Returns the protocol, a
/// quote and the frame that carried it; such a flow is neither plaintext nor plain TLS records.
pub fn encrypted_non_tls(flow: &Flow) -> Option<(&'static str, String, Option<u64>)> {
    for dir in &flow.dir {
        let bytes = run(dir);
        if bytes.starts_with(b"SSH-") {
            let line = escape::escape(escape::first_line(bytes), other::MAX_QUOTE_CHARS);
            return Some(("ssh", line, dir.frame_at(0)));
        }
        if let Some(opcode) = openvpn_opening(bytes) {
            return Some(("openvpn", opcode.to_string(), dir.frame_at(0)));
        }
    }
    None
}

/// OpenVPN over TCP opens with a hard-reset control packet: a 2-byte length, then opcode (high 5
/// bits) and key id 0, then an 8-byte session id; the packet after it must look the same.
fn openvpn_opening(bytes: &[u8]) -> Option<&'static str> {
    let packet = |at: usize| -> Option<(u8, usize)> {
        let len = usize::from(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
        let op = *bytes.get(at + 2)?;
        ((10..=2048).contains(&len) && op & 0x07 == 0).then_some((op >> 3, at + 2 + len))
    };
    let (op, next) = packet(0)?;
    let name = match op {
        1 => "P_CONTROL_HARD_RESET_CLIENT_V1",
        2 => "P_CONTROL_HARD_RESET_SERVER_V1",
        7 => "P_CONTROL_HARD_RESET_CLIENT_V2",
        8 => "P_CONTROL_HARD_RESET_SERVER_V2",
        10 => "P_CONTROL_HARD_RESET_CLIENT_V3",
        _ => return None,
    };
    if next == bytes.len() {
        return Some(name);
    }
    // Later packets may carry key ids other than 0 only after a soft reset: accept any opcode of
    // the control or data channel (1..=11) with a sane length.
    let len2 = usize::from(u16::from_be_bytes(
        bytes.get(next..next + 2)?.try_into().ok()?,
    ));
    let op2 = *bytes.get(next + 2)? >> 3;
    ((10..=2048).contains(&len2) && (1..=11).contains(&op2)).then_some(name)
}

#[cfg(test)]
mod tests;
