//! Session credentials: what a handshake shows that ties a later resumed connection to it.
//!
//! - TLS <= 1.2: the session ID a ServerHello assigns, and the ticket of a NewSessionTicket,
//!   sent in the clear before the server's ChangeCipherSpec (RFC 5077). A resumed handshake
//!   offers the ticket in its ClientHello's SessionTicket extension, or the session ID that the
//!   server then echoes.
//! - TLS 1.3: the tickets travel in NewSessionTicket messages encrypted with the server's
//!   application traffic secret; with `SERVER_TRAFFIC_SECRET_0` in the key log they are read.
//!   A resumed ClientHello offers them as PSK identities, and the ServerHello says which one it
//!   selected.
//!
//! Credentials are kept as digests ([`Credential`]): equality is all the linking needs.

use super::cursor::Cursor;
use super::decrypt_suite::RecordKeys;
use super::hello::{ClientHello, ServerHello};
use super::records::{HandshakeMsg, Record, APPLICATION_DATA};
use crate::model::{Credential, CredentialKind, LinkedBy, SessionTokens};

/// Handshake message type of NewSessionTicket.
const NEW_SESSION_TICKET: u8 = 4;
/// Extension types read here.
const SESSION_TICKET: u16 = 35;
const PRE_SHARED_KEY: u16 = 41;
/// Record content type of handshake messages (inside a TLS 1.3 record).
const HANDSHAKE: u8 = 22;

/// Most tickets kept per flow (servers send one or two).
const MAX_TICKETS: usize = 8;
/// Server records tried with the application keys: past the encrypted handshake flight (a few
/// records), tickets come first.
const MAX_APPLICATION_RECORDS: usize = 24;

/// The credentials of a TLS <= 1.2 handshake: issued (the session ID of a full handshake's
/// ServerHello, the tickets of the server's NewSessionTicket messages) and, when the server
/// `resumed` the session, the one the client offered: its ticket, or else its session ID if the
/// server echoed it. With a ticket, the session ID is the client's choice (RFC 5077 §3.4) and
/// proves nothing.
pub(crate) fn tls12(
    ch: Option<&ClientHello>,
    sh: &ServerHello,
    sh_frame: Option<u64>,
    server_msgs: &[HandshakeMsg<'_>],
    resumed: bool,
) -> SessionTokens {
    let mut tokens = SessionTokens::default();
    if !resumed && !sh.session_id.is_empty() {
        tokens.issued.push((
            Credential::new(CredentialKind::SessionId, &sh.session_id),
            sh_frame,
        ));
    }
    for m in server_msgs
        .iter()
        .filter(|m| m.msg_type == NEW_SESSION_TICKET && m.complete)
        .take(MAX_TICKETS)
    {
        // lifetime_hint (4), ticket<0..2^16-1>
        let mut c = Cursor::new(&m.body);
        if let Some(ticket) = c.take(4).and_then(|_| c.vec16()).filter(|t| !t.is_empty()) {
            tokens
                .issued
                .push((Credential::new(CredentialKind::Ticket, ticket), m.frame));
        }
    }
    if resumed {
        if let Some(ch) = ch {
            if let Some(ticket) = extension(ch, SESSION_TICKET).filter(|t| !t.is_empty()) {
                tokens.offered.push((
                    Credential::new(CredentialKind::Ticket, ticket),
                    LinkedBy::SessionTicket,
                ));
            } else if !ch.session_id.is_empty() && ch.session_id == sh.session_id {
                tokens.offered.push((
                    Credential::new(CredentialKind::SessionId, &ch.session_id),
                    LinkedBy::SessionId,
                ));
            }
        }
    }
    tokens
}

/// The data of the client's extension of type `ext_type`.
fn extension(ch: &ClientHello, ext_type: u16) -> Option<&[u8]> {
    ch.extensions
        .iter()
        .find(|e| e.ext_type == ext_type)
        .map(|e| e.data)
}

/// The PSK identity a TLS 1.3 server selected: entry `selected_identity` of the client's
/// `pre_shared_key` identities.
pub(crate) fn selected_psk_identity<'a>(ch: &'a ClientHello, sh: &ServerHello) -> Option<&'a [u8]> {
    let selected = sh
        .extensions
        .iter()
        .find(|e| e.ext_type == PRE_SHARED_KEY)
        .and_then(|e| Cursor::new(e.data).u16())?;
    // identities<7..2^16-1>: {identity<1..2^16-1>, obfuscated_ticket_age (4)}; binders follow.
    let mut list = Cursor::new(Cursor::new(extension(ch, PRE_SHARED_KEY)?).vec16()?);
    let mut index = 0u16;
    while !list.is_empty() {
        let identity = list.vec16()?;
        list.take(4)?;
        if index == selected {
            return Some(identity).filter(|i| !i.is_empty());
        }
        index = index.checked_add(1)?;
    }
    None
}

/// The tickets of the NewSessionTicket messages among a TLS 1.3 server's records (those after
/// its ServerHello), decrypted with its application traffic secret, each with its frame.
///
/// The handshake flight is under other keys: the application records start at the first record
/// that opens with sequence number 0, and run while each next one opens.
pub(crate) fn tls13_tickets(
    suite: u16,
    secret: &[u8],
    server_records: &[Record<'_>],
) -> Vec<(Credential, Option<u64>)> {
    let Ok(keys) = RecordKeys::from_secret(suite, secret) else {
        return Vec::new();
    };
    let mut protected = server_records
        .iter()
        .filter(|r| r.content_type == APPLICATION_DATA && !r.after_hole)
        .take(MAX_APPLICATION_RECORDS);
    let mut tickets = Vec::new();
    let mut seq: Option<u64> = None;
    for record in protected.by_ref() {
        let n = seq.unwrap_or(0);
        let Some(inner) = keys.open(n, record.header, record.body) else {
            if seq.is_some() {
                break; // keys updated, or a record not captured whole
            }
            continue; // still the handshake flight
        };
        seq = n.checked_add(1);
        if seq.is_none() {
            break;
        }
        let Some(end) = inner.iter().rposition(|b| *b != 0) else {
            continue;
        };
        if inner.get(end) != Some(&HANDSHAKE) {
            continue;
        }
        let mut messages = Cursor::new(inner.get(..end).unwrap_or_default());
        while let (Some(msg_type), Some(body)) = (messages.u8(), messages.vec24()) {
            if msg_type != NEW_SESSION_TICKET || tickets.len() >= MAX_TICKETS {
                continue;
            }
            if let Some(ticket) = tls13_ticket(body) {
                tickets.push((
                    Credential::new(CredentialKind::Ticket, ticket),
                    record.frame,
                ));
            }
        }
    }
    tickets
}

/// The ticket of a TLS 1.3 NewSessionTicket body: lifetime (4), age_add (4),
/// nonce<0..255>, ticket<1..2^16-1>, extensions.
fn tls13_ticket(body: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(body);
    c.take(8)?;
    c.vec8()?;
    c.vec16().filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tls::hello::Extensions;

    fn nst12(ticket: &[u8], frame: u64) -> HandshakeMsg<'static> {
        let mut body = vec![0, 0, 0x1c, 0x20];
        body.extend_from_slice(&(ticket.len() as u16).to_be_bytes());
        body.extend_from_slice(ticket);
        HandshakeMsg {
            msg_type: NEW_SESSION_TICKET,
            declared_len: body.len(),
            body: body.into(),
            complete: true,
            frame: Some(frame),
            record: 0,
        }
    }

    #[test]
    fn tls12_full_handshake_issues_its_session_id_and_ticket() {
        let sh = ServerHello {
            session_id: vec![7; 32],
            ..ServerHello::default()
        };
        let t = tls12(None, &sh, Some(4), &[nst12(b"ticket-1", 9)], false);
        assert_eq!(
            t.issued,
            vec![
                (
                    Credential::new(CredentialKind::SessionId, &[7; 32]),
                    Some(4)
                ),
                (
                    Credential::new(CredentialKind::Ticket, b"ticket-1"),
                    Some(9)
                ),
            ]
        );
        assert!(t.offered.is_empty());
        // an empty ticket (the server will not issue one after all) and a cut message name
        // nothing
        let mut cut = nst12(b"ticket-2", 10);
        cut.complete = false;
        let empty = tls12(
            None,
            &ServerHello::default(),
            None,
            &[nst12(b"", 9), cut],
            false,
        );
        assert!(empty.is_empty());
    }

    #[test]
    fn tls12_resumption_offers_its_ticket_alone_or_else_the_echoed_id() {
        let ch = ClientHello {
            session_id: vec![3; 32],
            extensions: [(SESSION_TICKET, &b"old-ticket"[..])].into_iter().collect(),
            ..ClientHello::default()
        };
        let echoed = ServerHello {
            session_id: vec![3; 32],
            ..ServerHello::default()
        };
        // with a ticket, the session ID is the client's choice: only the ticket links, and
        // the resumed handshake issues no session ID
        let t = tls12(Some(&ch), &echoed, Some(4), &[], true);
        assert_eq!(
            t.offered,
            vec![(
                Credential::new(CredentialKind::Ticket, b"old-ticket"),
                LinkedBy::SessionTicket
            )]
        );
        assert!(t.issued.is_empty());
        // without a ticket, the echoed session ID
        let by_id = ClientHello {
            session_id: vec![3; 32],
            ..ClientHello::default()
        };
        let t = tls12(Some(&by_id), &echoed, Some(4), &[], true);
        assert_eq!(
            t.offered,
            vec![(
                Credential::new(CredentialKind::SessionId, &[3; 32]),
                LinkedBy::SessionId
            )]
        );
        // not resumed: nothing offered counts, the session ID is issued
        let full = tls12(Some(&ch), &echoed, Some(4), &[], false);
        assert!(full.offered.is_empty());
        assert_eq!(full.issued.len(), 1);
        // a session ID the server did not echo is not a link
        let other = ServerHello {
            session_id: vec![4; 32],
            ..ServerHello::default()
        };
        assert!(tls12(Some(&by_id), &other, None, &[], true)
            .offered
            .is_empty());
    }

    fn psk_hello(identities: &[&[u8]]) -> ClientHello {
        let mut list = Vec::new();
        for id in identities {
            list.extend_from_slice(&(id.len() as u16).to_be_bytes());
            list.extend_from_slice(id);
            list.extend_from_slice(&[0, 0, 0, 1]);
        }
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend(list);
        data.extend_from_slice(&[0, 33, 32]);
        data.extend_from_slice(&[0; 32]);
        ClientHello {
            extensions: [(PRE_SHARED_KEY, &data[..])].into_iter().collect(),
            ..ClientHello::default()
        }
    }

    fn psk_server(selected: u16) -> ServerHello {
        ServerHello {
            extensions: Extensions::from_iter([(PRE_SHARED_KEY, &selected.to_be_bytes()[..])]),
            psk_accepted: true,
            ..ServerHello::default()
        }
    }

    #[test]
    fn selected_psk_identity_is_read_by_index() {
        let ch = psk_hello(&[b"first", b"second"]);
        assert_eq!(
            selected_psk_identity(&ch, &psk_server(1)),
            Some(&b"second"[..])
        );
        assert_eq!(
            selected_psk_identity(&ch, &psk_server(0)),
            Some(&b"first"[..])
        );
        assert_eq!(selected_psk_identity(&ch, &psk_server(2)), None);
        assert_eq!(
            selected_psk_identity(&ClientHello::default(), &psk_server(0)),
            None
        );
        assert_eq!(selected_psk_identity(&ch, &ServerHello::default()), None);
        // a list cut short
        let mut cut = psk_hello(&[b"first"]);
        cut.extensions = [(PRE_SHARED_KEY, &[0u8, 20, 0, 5, b'f'][..])]
            .into_iter()
            .collect();
        assert_eq!(selected_psk_identity(&cut, &psk_server(0)), None);
    }

    #[test]
    fn tls13_ticket_body() {
        let mut body = vec![0, 0, 1, 0, 1, 2, 3, 4, 2, 0, 1, 0, 3];
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&[0, 0]);
        assert_eq!(tls13_ticket(&body), Some(&b"abc"[..]));
        assert_eq!(tls13_ticket(&body[..10]), None);
        assert_eq!(tls13_ticket(&[0; 11]), None);
    }
}
