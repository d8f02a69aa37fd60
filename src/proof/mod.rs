//! What flows prove about each other's client certificate, once every flow is classified.
//!
//! A warm mesh mostly shows connections whose own bytes cannot tell whether the client sent a
//! certificate: sessions resumed without certificates, and pooled connections whose handshake
//! predates the capture. Two stages answer for them, strongest proof first:
//!
//! 1. [`resumption`]: a resumed session is tied, by the session ID, ticket or (with a key log)
//!    PSK identity it offered, to the earlier flow whose server issued it; it inherits that
//!    handshake's answer (`evidence: "resumed"`).
//! 2. [`demand`]: a resumed or mid-stream flow whose answer is still unknown is `mtls` by
//!    inference when the capture proves that its server endpoint demands client certificates
//!    (`evidence: "inferred"`, with the basis).
//!
//! The identity a sidecar forwards on the loopback leg needs the mesh pairing, and is applied
//! with it ([`crate::mesh::forwarded`]).

pub mod demand;
pub mod resumption;

use crate::analyze::FlowResult;
use crate::model::{Said, Verdict};

/// Runs both stages over the flows of an analysis (in first-seen order, ids assigned), and
/// drops the session credentials they used.
pub fn apply(flows: &mut [FlowResult]) {
    resumption::link(flows);
    demand::infer(flows);
    for flow in flows.iter_mut() {
        flow.class.session = None;
    }
}

/// Adds `more` to a flow's reasons and sets its verdict from its client certificate.
pub(crate) fn conclude(flow: &mut FlowResult, more: Vec<Said>) {
    if !more.is_empty() {
        flow.class.reasons = flow.class.reasons.with(more);
    }
    if let Some(tls) = &flow.class.tls {
        if matches!(flow.class.verdict, Verdict::Tls | Verdict::Mtls) {
            flow.class.verdict = if tls.client_certificate.presented == Some(true) {
                Verdict::Mtls
            } else {
                Verdict::Tls
            };
        }
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Flows as the proof stages see them: TLS facts and session credentials, nothing else.

    use std::sync::Arc;

    use crate::analyze::FlowResult;
    use crate::mesh::leg::tests::facts;
    use crate::model::{
        said, CertificateSide, Classification, Code, Credential, CredentialKind, Evidence,
        HandshakeState, HelloSummary, LinkedBy, Reasons, SessionTokens, TlsSummary, Verdict,
    };

    /// A full handshake to `server` in which the client `presented` a certificate (or not).
    pub fn full(id: u64, server: &str, presented: Option<bool>) -> FlowResult {
        let mut tls = TlsSummary {
            handshake: Some(HandshakeState::Complete),
            resumed: Some(false),
            certificate_requested: presented.filter(|p| *p),
            client_hello_frame: Some(id * 10),
            ..TlsSummary::default()
        };
        tls.client_certificate = CertificateSide {
            presented,
            evidence: presented.map(|_| Evidence::Observed),
            ..CertificateSide::default()
        };
        flow(id, server, tls)
    }

    /// A resumed session to `server`, client certificate unknown.
    pub fn resumed(id: u64, server: &str) -> FlowResult {
        flow(
            id,
            server,
            TlsSummary {
                handshake: Some(HandshakeState::Complete),
                resumed: Some(true),
                client_hello_frame: Some(id * 10),
                ..TlsSummary::default()
            },
        )
    }

    /// A connection seen mid-stream to `server`.
    pub fn mid_stream(id: u64, server: &str) -> FlowResult {
        flow(
            id,
            server,
            TlsSummary {
                handshake: Some(HandshakeState::NotCaptured),
                ..TlsSummary::default()
            },
        )
    }

    fn flow(id: u64, server: &str, tls: TlsSummary) -> FlowResult {
        let mut facts = facts(&format!("10.0.0.1:{}", 40000 + id), server, 0, 1);
        facts.first_frame = id * 10;
        let verdict = match tls.client_certificate.presented {
            Some(true) => Verdict::Mtls,
            _ => Verdict::Tls,
        };
        FlowResult {
            id,
            capture: 0,
            facts,
            class: Classification {
                verdict,
                reasons: Reasons::new([said(Code::TlsHandshake, "own handshake")]),
                tls: Some(Box::new(tls)),
                plaintext: None,
                session: None,
                ambiguity: None,
                encryption: None,
            },
        }
    }

    /// The flow, whether its server sent a CertificateRequest not being known.
    pub fn request_unknown(mut f: FlowResult) -> FlowResult {
        if let Some(tls) = f.class.tls.as_mut() {
            tls.certificate_requested = None;
        }
        f
    }

    /// The flow with SNI `sni`.
    pub fn sni(mut f: FlowResult, sni: &str) -> FlowResult {
        if let Some(tls) = f.class.tls.as_mut() {
            tls.hello = Arc::new(HelloSummary {
                sni: Some(sni.into()),
                ..HelloSummary::default()
            });
        }
        f
    }

    /// The flow, its server having issued `ticket` (at its frame + 5).
    pub fn issues(mut f: FlowResult, ticket: &[u8]) -> FlowResult {
        let frame = f.facts.first_frame + 5;
        f.class
            .session
            .get_or_insert_with(Box::default)
            .issued
            .push((Credential::new(CredentialKind::Ticket, ticket), Some(frame)));
        f
    }

    /// The flow, its client having offered `ticket`.
    pub fn offers(mut f: FlowResult, ticket: &[u8]) -> FlowResult {
        f.class
            .session
            .get_or_insert_with(Box::default)
            .offered
            .push((
                Credential::new(CredentialKind::Ticket, ticket),
                LinkedBy::SessionTicket,
            ));
        f
    }

    /// The flow with no session credential at all.
    pub fn tokens(f: &FlowResult) -> Option<&SessionTokens> {
        f.class.session.as_deref()
    }

    /// `(verdict, presented, evidence)` of each flow.
    pub fn answers(flows: &[FlowResult]) -> Vec<(Verdict, Option<bool>, Option<Evidence>)> {
        flows
            .iter()
            .map(|f| match &f.class.tls {
                Some(tls) => {
                    let c = &tls.client_certificate;
                    (f.class.verdict, c.presented, c.evidence)
                }
                None => (f.class.verdict, None, None),
            })
            .collect()
    }
}
