//! TLS <= 1.2: the handshake is in the clear. The client's Certificate message proves (or
//! disproves) a client certificate, the server's CertificateRequest shows that one was asked for.

use super::certs::{parse_tls12_chain, tls12_list_len};
use super::frame_text;
use super::hello::{ClientHello, ServerHello};
use super::records::HandshakeMsg;
use crate::model::{said, CertificateSide, Code, Evidence, Said};

/// Handshake message types read here.
pub(crate) const CERTIFICATE: u8 = 11;
pub(crate) const SERVER_KEY_EXCHANGE: u8 = 12;
pub(crate) const CERTIFICATE_REQUEST: u8 = 13;
pub(crate) const SERVER_HELLO_DONE: u8 = 14;
pub(crate) const CLIENT_KEY_EXCHANGE: u8 = 16;

/// What the cleartext handshake says about certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls12Facts {
    pub client: CertificateSide,
    pub server: CertificateSide,
    pub certificate_requested: Option<bool>,
    pub resumed: Option<bool>,
    pub reasons: Vec<Said>,
}

/// Where the ChangeCipherSpec of each side was seen (the server's only when no bytes are missing
/// before it).
#[derive(Debug, Clone, Copy, Default)]
pub struct CcsFrames {
    pub client: Option<Option<u64>>,
    pub server: Option<Option<u64>>,
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Reads a Certificate message into a side, with the number of entries in its list and whether
/// the list is cut short (the chain is read once).
fn certificate_side(msg: &HandshakeMsg<'_>) -> (CertificateSide, usize, bool) {
    let chain = parse_tls12_chain(&msg.body);
    let declared = tls12_list_len(&msg.body);
    let side = CertificateSide {
        presented: declared.map(|n| n > 0),
        evidence: declared.map(|_| Evidence::Observed),
        frame: msg.frame,
        chain: chain.certs.into(),
        cross: None,
    };
    (side, chain.entries, chain.cut)
}

/// Derives the certificate facts of a TLS <= 1.2 handshake from the cleartext messages of each
/// direction (those before its ChangeCipherSpec).
pub fn analyze(
    client_msgs: &[HandshakeMsg<'_>],
    server_msgs: &[HandshakeMsg<'_>],
    ch: Option<&ClientHello>,
    sh: Option<&ServerHello>,
    ccs: CcsFrames,
) -> Tls12Facts {
    let mut f = Tls12Facts::default();
    // Messages after the ServerHello.
    let after_sh: Vec<&HandshakeMsg<'_>> = server_msgs
        .iter()
        .skip_while(|m| m.msg_type != super::hello::SERVER_HELLO)
        .skip(1)
        .collect();
    let full_handshake = after_sh.iter().any(|m| {
        matches!(
            m.msg_type,
            CERTIFICATE | SERVER_KEY_EXCHANGE | SERVER_HELLO_DONE
        )
    });

    if let Some(m) = after_sh.iter().find(|m| m.msg_type == CERTIFICATE) {
        f.server = certificate_side(m).0;
    }
    if let Some(m) = after_sh.iter().find(|m| m.msg_type == CERTIFICATE_REQUEST) {
        f.certificate_requested = Some(true);
        f.reasons.push(said(
            Code::TlsCertificateRequest,
            format!("server sent a CertificateRequest ({})", frame_text(m.frame)),
        ));
    } else if after_sh.iter().any(|m| m.msg_type == SERVER_HELLO_DONE) {
        f.certificate_requested = Some(false);
    }

    // Resumption: session id echoed, or the server went straight to ChangeCipherSpec.
    if let (Some(ch), Some(sh)) = (ch, sh) {
        let echoed = !sh.session_id.is_empty() && sh.session_id == ch.session_id;
        let abbreviated = !full_handshake && ccs.server.is_some();
        if echoed || abbreviated {
            f.resumed = Some(true);
            f.certificate_requested = None;
            let how = if echoed {
                "session id echoed in the ServerHello"
            } else if ch.session_ticket {
                "session ticket accepted, the server skipped its Certificate"
            } else {
                "the server skipped its Certificate"
            };
            f.reasons.push(said(
                Code::TlsHandshake,
                format!("resumed session ({how}): no certificates exchanged"),
            ));
            return f;
        }
        if full_handshake {
            f.resumed = Some(false);
        }
    }

    if let Some(m) = client_msgs.iter().find(|m| m.msg_type == CERTIFICATE) {
        let (side, entries, cut) = certificate_side(m);
        f.client = side;
        let at = frame_text(m.frame);
        match f.client.presented {
            Some(true) => {
                let cut = if cut {
                    ", cut short in the capture"
                } else {
                    ""
                };
                f.reasons.push(said(
                    Code::TlsClientCertificateSeen,
                    format!(
                    "client sent a Certificate message with {entries} certificate{s}{cut} ({at})",
                    s = plural(entries)
                ),
                ));
                if f.certificate_requested.is_none() {
                    // A client only sends a Certificate when the server asked for one.
                    f.certificate_requested = Some(true);
                    f.reasons.push(said(Code::TlsCertificateRequest,
                        "the server must have requested it (its CertificateRequest is not in the capture)"
                            .to_string()));
                }
            }
            Some(false) => f.reasons.push(said(
                Code::TlsClientCertificateNone,
                format!("client sent an empty Certificate message ({at}): no client certificate"),
            )),
            None => f.reasons.push(said(
                Code::TlsClientCertificateUnknown,
                format!("client Certificate message too short to read ({at})"),
            )),
        }
    } else if let Some(m) = client_msgs
        .iter()
        .find(|m| m.msg_type == CLIENT_KEY_EXCHANGE)
    {
        f.client = CertificateSide {
            presented: Some(false),
            evidence: Some(Evidence::Observed),
            frame: m.frame,
            chain: Box::default(),
            cross: None,
        };
        f.reasons.push(said(
            Code::TlsClientCertificateNone,
            format!(
                "client sent its ClientKeyExchange without a Certificate message before it ({})",
                frame_text(m.frame)
            ),
        ));
    } else if let (Some(frame), Some(_)) = (ccs.client, sh) {
        // Only with a TLS <= 1.2 ServerHello: a TLS 1.3 client also sends ChangeCipherSpec.
        f.client = CertificateSide {
            presented: Some(false),
            evidence: Some(Evidence::Observed),
            frame,
            chain: Box::default(),
            cross: None,
        };
        f.reasons.push(said(
            Code::TlsClientCertificateNone,
            format!(
            "client finished its handshake without a Certificate message (ChangeCipherSpec, {})",
            frame_text(frame)
        ),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tls::certs::tests::spiffe_der;

    fn msg(msg_type: u8, body: Vec<u8>, frame: u64) -> HandshakeMsg<'static> {
        HandshakeMsg {
            msg_type,
            declared_len: body.len(),
            body: body.into(),
            complete: true,
            frame: Some(frame),
            record: 0,
        }
    }

    fn u24(n: usize) -> [u8; 3] {
        let b = (n as u32).to_be_bytes();
        [b[1], b[2], b[3]]
    }

    fn cert_body(n: usize) -> Vec<u8> {
        let der = spiffe_der();
        let mut list = Vec::new();
        for _ in 0..n {
            list.extend_from_slice(&u24(der.len()));
            list.extend_from_slice(&der);
        }
        let mut body = u24(list.len()).to_vec();
        body.extend(list);
        body
    }

    fn hellos(echo: bool) -> (ClientHello, ServerHello) {
        let ch = ClientHello {
            session_id: vec![1; 32],
            ..ClientHello::default()
        };
        let sh = ServerHello {
            session_id: if echo { vec![1; 32] } else { vec![2; 32] },
            version: 0x0303,
            ..ServerHello::default()
        };
        (ch, sh)
    }

    fn server_full(request: bool) -> Vec<HandshakeMsg<'static>> {
        let mut m = vec![
            msg(2, vec![], 4),
            msg(11, cert_body(1), 4),
            msg(12, vec![], 4),
        ];
        if request {
            m.push(msg(13, vec![], 4));
        }
        m.push(msg(14, vec![], 4));
        m
    }

    #[test]
    fn client_chain_observed() {
        let (ch, sh) = hellos(false);
        let client = [
            msg(1, vec![], 1),
            msg(11, cert_body(2), 8),
            msg(16, vec![], 8),
        ];
        let f = analyze(
            &client,
            &server_full(true),
            Some(&ch),
            Some(&sh),
            CcsFrames::default(),
        );
        assert_eq!(f.client.presented, Some(true));
        assert_eq!(f.client.evidence, Some(Evidence::Observed));
        assert_eq!(f.client.frame, Some(8));
        assert_eq!(f.client.chain.len(), 2);
        assert_eq!(f.server.chain.len(), 1);
        assert_eq!(f.certificate_requested, Some(true));
        assert_eq!(f.resumed, Some(false));
        assert_eq!(
            f.reasons,
            vec![
                "server sent a CertificateRequest (frame 4)".to_string(),
                "client sent a Certificate message with 2 certificates (frame 8)".to_string()
            ]
        );
    }

    #[test]
    fn empty_client_certificate() {
        let (ch, sh) = hellos(false);
        let client = [msg(1, vec![], 1), msg(11, vec![0, 0, 0], 6)];
        let f = analyze(
            &client,
            &server_full(true),
            Some(&ch),
            Some(&sh),
            CcsFrames::default(),
        );
        assert_eq!(
            (f.client.presented, f.certificate_requested),
            (Some(false), Some(true))
        );
        assert!(f.reasons[1].contains("empty Certificate message (frame 6)"));
    }

    #[test]
    fn no_request_no_certificate() {
        let (ch, sh) = hellos(false);
        let ccs = CcsFrames {
            client: Some(Some(7)),
            server: Some(Some(9)),
        };
        let client = [msg(1, vec![], 1), msg(16, vec![], 7)];
        let f = analyze(&client, &server_full(false), Some(&ch), Some(&sh), ccs);
        assert_eq!(
            (f.client.presented, f.certificate_requested),
            (Some(false), Some(false))
        );
        assert!(f.reasons[0].contains("without a Certificate message"));
    }

    #[test]
    fn client_flight_without_server_hello() {
        // Only the client's side is captured: its messages still tell.
        let client = [
            msg(1, vec![], 1),
            msg(11, cert_body(1), 3),
            msg(16, vec![], 3),
        ];
        let f = analyze(&client, &[], None, None, CcsFrames::default());
        assert_eq!(f.client.presented, Some(true));
        assert_eq!(f.certificate_requested, Some(true));
        let client = [msg(1, vec![], 1), msg(16, vec![], 3)];
        let f = analyze(&client, &[], None, None, CcsFrames::default());
        assert_eq!(f.client.presented, Some(false));
        assert!(f.reasons[0]
            .contains("ClientKeyExchange without a Certificate message before it (frame 3)"));
        // A ChangeCipherSpec alone proves nothing without a TLS <= 1.2 ServerHello.
        let ccs = CcsFrames {
            client: Some(Some(3)),
            server: None,
        };
        let f = analyze(&client[..1], &[], None, None, ccs);
        assert_eq!(f.client.presented, None);
    }

    #[test]
    fn partial_handshake_is_unknown() {
        let (ch, sh) = hellos(false);
        let f = analyze(
            &[msg(1, vec![], 1)],
            &[msg(2, vec![], 2)],
            Some(&ch),
            Some(&sh),
            CcsFrames::default(),
        );
        assert_eq!((f.client.presented, f.certificate_requested), (None, None));
    }

    #[test]
    fn resumption_by_session_id_and_ticket() {
        let (ch, sh) = hellos(true);
        let ccs = CcsFrames {
            client: Some(Some(5)),
            server: Some(Some(4)),
        };
        let f = analyze(
            &[msg(1, vec![], 1)],
            &[msg(2, vec![], 2)],
            Some(&ch),
            Some(&sh),
            ccs,
        );
        assert_eq!(f.resumed, Some(true));
        assert_eq!(f.client.presented, None);
        assert!(f.reasons[0].contains("session id echoed"));
        let (mut ch, sh) = hellos(false);
        ch.session_ticket = true;
        let f = analyze(
            &[msg(1, vec![], 1)],
            &[msg(2, vec![], 2)],
            Some(&ch),
            Some(&sh),
            ccs,
        );
        assert_eq!(f.resumed, Some(true));
        assert!(f.reasons[0].contains("session ticket"));
    }

    #[test]
    fn cut_certificate_still_counts() {
        let (ch, sh) = hellos(false);
        let mut body = cert_body(1);
        body.truncate(50);
        let client = [HandshakeMsg {
            complete: false,
            declared_len: 600,
            ..msg(11, body, 8)
        }];
        let f = analyze(
            &client,
            &server_full(true),
            Some(&ch),
            Some(&sh),
            CcsFrames::default(),
        );
        assert_eq!(f.client.presented, Some(true));
        assert!(f.reasons[1].contains("1 certificate, cut short in the capture"));
    }
}
