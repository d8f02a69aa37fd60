//! Where TLS starts in each direction of a flow, found by the bytes and never by the port: at the
//! first byte, after a cleartext upgrade (SMTP/FTP/XMPP STARTTLS, PostgreSQL SSLRequest, MySQL,
//! RDP, SOCKS, HTTP CONNECT), as an SSLv2-compatible ClientHello, or mid-stream.

use super::hello::{self, ClientHello, CLIENT_HELLO, SERVER_HELLO};
use super::records::{
    find_chain, first_chain, header_candidates, plausible_header, sslv2_client_hello_len,
    sslv2_server_hello_len, WalkEnd, ALERT, HANDSHAKE, HEADER_LEN,
};
use crate::flow::Direction;

/// How far into a stream cleartext may precede the TLS handshake.
const MAX_PLAINTEXT_PREFIX: usize = 16 * 1024;
/// How far into a stream a mid-stream capture may cut the first record.
const MID_STREAM_WINDOW: usize = (1 << 14) + 2048 + HEADER_LEN;

/// Where a flow's TLS starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// A ClientHello was found.
    Handshake(Box<HandshakeStart>),
    /// No ClientHello, but TLS records (offsets of their first record per direction).
    MidStream {
        client: Option<usize>,
        server: Option<usize>,
    },
}

/// Offsets of a flow's TLS handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HandshakeStart {
    /// Offset of the client's first TLS record (after an SSLv2 ClientHello, when there is one).
    pub client: usize,
    /// Offset of the server's first TLS record.
    pub server: Option<usize>,
    /// Cleartext bytes before the client's ClientHello.
    pub plaintext_prefix: usize,
    /// The ClientHello was in SSLv2 format, at `sslv2_offset`.
    pub sslv2_client_hello: Option<ClientHello>,
    pub sslv2_offset: usize,
    /// The server answered in SSLv2.
    pub sslv2_server_hello: bool,
    /// The server's stream does not start with a record (its start is missing): its records
    /// were found further on, and what precedes them is unknown.
    pub server_resynced: bool,
}

/// A ClientHello record starts at the front of `bytes` and its hello parses.
fn client_hello_at(bytes: &[u8]) -> bool {
    let Some((HANDSHAKE, _, len)) = plausible_header(bytes) else {
        return false;
    };
    let body = bytes.get(HEADER_LEN..).unwrap_or(&[]);
    let body = body.get(..len).unwrap_or(body);
    match body {
        [CLIENT_HELLO, _, _, _, rest @ ..] => hello::is_client_hello(rest),
        _ => false,
    }
}

/// A ServerHello record or an alert record starts at the front of `bytes`.
fn server_tls_at(bytes: &[u8]) -> bool {
    match plausible_header(bytes) {
        Some((HANDSHAKE, _, _)) => bytes.get(HEADER_LEN) == Some(&SERVER_HELLO),
        Some((ALERT, _, 2)) => true,
        _ => false,
    }
}

/// The first offset within [`MAX_PLAINTEXT_PREFIX`] where `pred` holds; `pred` only ever holds
/// where a record header starts, so only [`header_candidates`] are tried.
fn search(bytes: &[u8], pred: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let last = bytes.len().min(MAX_PLAINTEXT_PREFIX);
    let region = bytes.get(..last.saturating_add(1).min(bytes.len()))?;
    header_candidates(region)
        .take_while(|&p| p < last)
        .find(|&p| bytes.get(p..).is_some_and(&pred))
}

/// Finds where TLS starts in the flow. `None` when neither direction carries TLS.
pub(crate) fn locate(client: &Direction, server: &Direction) -> Option<Start> {
    let c = client.contiguous();
    let s = server.contiguous();
    let mut start = HandshakeStart::default();
    if c.first() == Some(&HANDSHAKE) && client_hello_at(c) {
        start.client = 0;
    } else if let Some(ch) = sslv2_client_hello_len(c)
        .and_then(|n| c.get(..n))
        .and_then(|r| hello::parse_sslv2_client_hello(r).ok())
    {
        start.client = sslv2_client_hello_len(c).unwrap_or(0);
        start.sslv2_client_hello = Some(ch);
    } else if let Some(p) = search(c, client_hello_at) {
        start.client = p;
        start.plaintext_prefix = p;
    } else {
        return mid_stream(client, server);
    }
    if plausible_header(s).is_some() {
        start.server = Some(0);
    } else if sslv2_server_hello_len(s).is_some() {
        start.sslv2_server_hello = true;
    } else if start.plaintext_prefix > 0 {
        start.server = search(s, server_tls_at);
    }
    if start.server.is_none() && !start.sslv2_server_hello {
        start.server = first_chain(server, 0);
        start.server_resynced = start.server.is_some();
    }
    Some(Start::Handshake(Box::new(start)))
}

/// Offset of the first chain of records in a direction's first contiguous bytes, the number of
/// records it holds, and whether they are the whole stream exactly (from its first byte, no hole).
fn chain(dir: &Direction) -> Option<(usize, usize, bool)> {
    let c = dir.contiguous();
    let at = find_chain(c, 0, c.len(), MID_STREAM_WINDOW)?;
    let walk = super::records::walk(dir, at);
    let whole = walk.records.iter().take_while(|r| !r.after_hole).count();
    // A last record cut by the end of the captured bytes counts too.
    let cut = matches!(walk.end, Some(WalkEnd::Truncated { .. })) && whole == walk.records.len();
    let exact = at == 0 && dir.holes.is_empty() && walk.end == Some(WalkEnd::Clean);
    Some((at, whole.saturating_add(usize::from(cut)), exact))
}

/// A capture that starts after the handshake: at least two records in all, or one record that
/// is exactly the whole stream of its direction (e.g. a lone encrypted alert before the close).
fn mid_stream(client: &Direction, server: &Direction) -> Option<Start> {
    let c = chain(client);
    let s = chain(server);
    let total = c
        .map_or(0, |(_, n, _)| n)
        .saturating_add(s.map_or(0, |(_, n, _)| n));
    let exact = c.is_some_and(|(_, _, e)| e) || s.is_some_and(|(_, _, e)| e);
    (total >= 2 || exact).then_some(Start::MidStream {
        client: c.map(|(o, _, _)| o),
        server: s.map(|(o, _, _)| o),
    })
}
