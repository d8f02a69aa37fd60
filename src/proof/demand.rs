//! What a server endpoint demands of its clients, learned from its full handshakes in the
//! capture, and the client certificates it proves for the connections that do not show theirs.
//!
//! A flow whose client certificate is unknown because its session was resumed (and not linked)
//! or its handshake predates the capture is `mtls`, `evidence: "inferred"`, when the capture
//! proves that its server endpoint (address and port) demands a client certificate:
//!
//! - **considered**: the full handshakes (not resumed) to the same address and port that
//!   completed, or that the server ended; when the flow has an SNI, only those with the same
//!   SNI or none (a flow without one, seen mid-stream, considers them all);
//! - **never inferred** when any considered handshake completed without a client certificate
//!   (an empty Certificate, or none): the server lets such clients in;
//! - **inferred** when the server rejected a client that sent no certificate (a fatal alert,
//!   or a close right after the client's flight), rule `rejected-without-certificate`; or else
//!   when at least one considered handshake completed and every one that completed carried a
//!   CertificateRequest and a client certificate, rule
//!   `certificate-requested-in-every-full-handshake`;
//! - otherwise the answer stays unknown, and the reasons say why.
//!
//! The basis (rule, endpoint, SNI, counts and the flows it rests on) is in the report.

use std::collections::HashMap;
use std::sync::Arc;

use super::conclude;
use crate::analyze::FlowResult;
use crate::decode::Endpoint;
use crate::model::{
    DemandBasis, DemandRule, Evidence, HandshakeState, TlsSummary, Verdict, MAX_CITED_FLOWS,
};

/// What one full handshake shows about its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shows {
    /// Completed with a client certificate; `requested`: a CertificateRequest was seen (or
    /// implied by the certificate).
    WithCertificate { requested: bool },
    /// Completed without a client certificate.
    WithoutCertificate,
    /// Completed, client certificate unknown.
    Unknown,
    /// The server ended the handshake of a client that sent no certificate.
    Rejected,
}

/// A full handshake to an endpoint.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    sni: Option<Arc<str>>,
    shows: Shows,
}

fn shows(tls: &TlsSummary) -> Option<Shows> {
    if tls.resumed != Some(false) {
        return None;
    }
    let presented = tls.client_certificate.presented;
    Some(match (tls.handshake?, presented) {
        (HandshakeState::Complete, Some(true)) => Shows::WithCertificate {
            requested: tls.certificate_requested == Some(true),
        },
        (HandshakeState::Complete, Some(false)) => Shows::WithoutCertificate,
        (HandshakeState::Complete, None) => Shows::Unknown,
        (HandshakeState::Failed, Some(false)) if tls.server_rejected => Shows::Rejected,
        _ => return None,
    })
}

/// What the considered handshakes of an endpoint say.
#[derive(Debug, Clone)]
enum Outcome {
    Demands(Arc<DemandBasis>),
    /// This flow completed without a client certificate.
    LetsIn(u64),
    /// Nothing proves a demand: `considered` handshakes, none decisive.
    Unproven {
        considered: u64,
    },
}

/// Infers the client certificate of every resumed or mid-stream TLS flow whose answer is still
/// unknown; returns how many it inferred.
pub fn infer(flows: &mut [FlowResult]) -> usize {
    let mut by_server: HashMap<Endpoint, Vec<Seen>> = HashMap::new();
    let mut targets = Vec::new();
    for (i, flow) in flows.iter().enumerate() {
        let Some(tls) = flow.class.tls.as_deref() else {
            continue;
        };
        if let Some(s) = shows(tls) {
            by_server.entry(flow.facts.server).or_default().push(Seen {
                id: flow.id,
                sni: tls.hello.sni.clone(),
                shows: s,
            });
        }
        if is_target(flow, tls) {
            targets.push(i);
        }
    }
    let mut outcomes: HashMap<(Endpoint, Option<Arc<str>>), Outcome> = HashMap::new();
    let mut inferred = 0;
    for i in targets {
        let Some(flow) = flows.get_mut(i) else {
            continue;
        };
        let server = flow.facts.server;
        let Some(tls) = flow.class.tls.as_deref_mut() else {
            continue;
        };
        let sni = tls.hello.sni.clone();
        let outcome = outcomes
            .entry((server, sni.clone()))
            .or_insert_with(|| {
                let seen = by_server.get(&server).map_or(&[][..], Vec::as_slice);
                judge(server, sni.as_ref(), seen)
            })
            .clone();
        let what = if tls.resumed == Some(true) {
            "this resumed session's"
        } else {
            "the handshake of this connection is not in the capture: its"
        };
        let to = server_words(server, sni.as_deref());
        let reason = match outcome {
            Outcome::Demands(basis) => {
                let reason = format!(
                    "{what} client certificate is inferred from what its server demands: {}",
                    basis_words(&basis, &to)
                );
                tls.client_certificate.presented = Some(true);
                tls.client_certificate.evidence = Some(Evidence::Inferred);
                tls.client_certificate
                    .cross
                    .get_or_insert_with(Box::default)
                    .demand = Some(basis);
                inferred += 1;
                reason
            }
            Outcome::LetsIn(id) => format!(
                "{what} client certificate is not inferred from its server's other handshakes: \
                 flow {id}, a full handshake to {to}, completed without a client certificate"
            ),
            Outcome::Unproven { considered: 0 } => format!(
                "{what} client certificate stays unknown: no full handshake to {to} in the \
                 capture shows whether it demands one"
            ),
            Outcome::Unproven { considered } => format!(
                "{what} client certificate stays unknown: the {considered} full handshake{} to \
                 {to} in the capture neither show a CertificateRequest in each one that \
                 completed nor a client without a certificate turned down",
                plural(considered)
            ),
        };
        conclude(flow, &[reason]);
    }
    inferred
}

/// A TLS flow whose client certificate is unknown because it was resumed or its handshake is
/// not in the capture.
fn is_target(flow: &FlowResult, tls: &TlsSummary) -> bool {
    flow.class.verdict == Verdict::Tls
        && tls.client_certificate.presented.is_none()
        && (tls.resumed == Some(true) || tls.handshake == Some(HandshakeState::NotCaptured))
}

/// Judges what the handshakes `seen` to `server` prove, for a flow with `sni`.
fn judge(server: Endpoint, sni: Option<&Arc<str>>, seen: &[Seen]) -> Outcome {
    let considered: Vec<&Seen> = seen
        .iter()
        .filter(|h| sni.is_none() || h.sni.is_none() || h.sni.as_ref() == sni)
        .collect();
    if let Some(h) = considered
        .iter()
        .find(|h| h.shows == Shows::WithoutCertificate)
    {
        return Outcome::LetsIn(h.id);
    }
    let count = |f: &dyn Fn(Shows) -> bool| considered.iter().filter(|h| f(h.shows)).count() as u64;
    let rejected = count(&|s| s == Shows::Rejected);
    let with_certificate = count(&|s| matches!(s, Shows::WithCertificate { .. }));
    let completed = with_certificate + count(&|s| s == Shows::Unknown);
    let requested_in_all =
        completed > 0 && completed == count(&|s| s == Shows::WithCertificate { requested: true });
    let rule = if rejected > 0 {
        DemandRule::RejectedWithoutCertificate
    } else if requested_in_all {
        DemandRule::CertificateRequestedInEveryFullHandshake
    } else {
        return Outcome::Unproven {
            considered: considered.len() as u64,
        };
    };
    // The decisive flows first: the rejections, or the completed handshakes.
    let mut cited: Vec<u64> = considered
        .iter()
        .filter(|h| {
            (h.shows == Shows::Rejected) == (rule == DemandRule::RejectedWithoutCertificate)
        })
        .chain(considered.iter().filter(|h| {
            (h.shows == Shows::Rejected) != (rule == DemandRule::RejectedWithoutCertificate)
        }))
        .map(|h| h.id)
        .take(MAX_CITED_FLOWS)
        .collect();
    cited.sort_unstable();
    Outcome::Demands(Arc::new(DemandBasis {
        rule,
        server_ip: server.ip,
        server_port: server.port,
        sni: sni.cloned(),
        full_handshakes: considered.len() as u64,
        with_certificate,
        rejected_without_certificate: rejected,
        flows: cited.into(),
    }))
}

/// `10.0.0.5:9080` with ` (SNI x)` when there is one.
fn server_words(server: Endpoint, sni: Option<&str>) -> String {
    match sni {
        Some(sni) => format!("{server} (SNI {sni})"),
        None => server.to_string(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The basis in words: which handshakes prove the demand.
fn basis_words(b: &DemandBasis, to: &str) -> String {
    let flows: Vec<String> = b.flows.iter().map(|id| id.to_string()).collect();
    let more = if (b.flows.len() as u64) < b.full_handshakes {
        ", …"
    } else {
        ""
    };
    let list = format!("{}{more}", flows.join(", "));
    match b.rule {
        DemandRule::RejectedWithoutCertificate => format!(
            "{to} turned down {} client{} that sent no certificate, and no full handshake to it \
             completed without one (flows {list})",
            b.rejected_without_certificate,
            plural(b.rejected_without_certificate),
        ),
        DemandRule::CertificateRequestedInEveryFullHandshake if b.full_handshakes == 1 => {
            format!(
                "the one full handshake to {to} in the capture carried a CertificateRequest and \
                 a client certificate (flow {list})"
            )
        }
        DemandRule::CertificateRequestedInEveryFullHandshake => format!(
            "each of the {} full handshakes to {to} that completed carried a CertificateRequest \
             and a client certificate, and none completed without one (flows {list})",
            b.full_handshakes,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DemandRule, Evidence, Verdict};
    use crate::proof::testkit::*;

    const SERVER: &str = "10.0.0.9:9080";
    const OTHER: &str = "10.0.0.8:9080";

    fn rejected(id: u64, server: &str) -> FlowResult {
        let mut f = full(id, server, Some(false));
        let tls = f.class.tls.as_mut().unwrap();
        tls.handshake = Some(HandshakeState::Failed);
        tls.server_rejected = true;
        f
    }

    fn basis(f: &FlowResult) -> Option<&DemandBasis> {
        let cert = &f.class.tls.as_ref()?.client_certificate;
        cert.cross.as_ref()?.demand.as_deref()
    }

    #[test]
    fn a_server_that_rejected_a_client_without_certificate_demands_one() {
        let mut flows = vec![
            mid_stream(1, SERVER),
            rejected(2, SERVER),
            resumed(3, SERVER),
            // another server proves nothing about this one
            mid_stream(4, OTHER),
        ];
        assert_eq!(infer(&mut flows), 2);
        assert_eq!(
            answers(&flows),
            [
                (Verdict::Mtls, Some(true), Some(Evidence::Inferred)),
                (Verdict::Tls, Some(false), Some(Evidence::Observed)),
                (Verdict::Mtls, Some(true), Some(Evidence::Inferred)),
                (Verdict::Tls, None, None),
            ]
        );
        let b = basis(&flows[0]).unwrap();
        assert_eq!(b.rule, DemandRule::RejectedWithoutCertificate);
        assert_eq!((b.full_handshakes, b.rejected_without_certificate), (1, 1));
        assert_eq!(&b.flows[..], [2]);
        assert!(flows[3].class.reasons.to_vec()[1].contains("no full handshake to 10.0.0.8:9080"));
    }

    #[test]
    fn every_completed_handshake_must_show_a_request_and_a_certificate() {
        let mut flows = vec![
            resumed(1, SERVER),
            full(2, SERVER, Some(true)),
            full(4, SERVER, Some(true)),
        ];
        assert_eq!(infer(&mut flows), 1);
        let b = basis(&flows[0]).unwrap();
        assert_eq!(b.rule, DemandRule::CertificateRequestedInEveryFullHandshake);
        assert_eq!((b.full_handshakes, b.with_certificate), (2, 2));
        // one completed handshake whose CertificateRequest is not known: nothing is inferred
        let mut flows = vec![
            resumed(1, SERVER),
            full(2, SERVER, Some(true)),
            request_unknown(full(3, SERVER, Some(true))),
        ];
        assert_eq!(infer(&mut flows), 0);
        assert_eq!(answers(&flows)[0], (Verdict::Tls, None, None));
        // one completed with an unknown answer breaks "every" as well
        let mut flows = vec![
            resumed(1, SERVER),
            full(2, SERVER, Some(true)),
            full(4, SERVER, None),
        ];
        assert_eq!(infer(&mut flows), 0);
    }

    #[test]
    fn a_server_that_let_a_client_in_without_certificate_proves_nothing() {
        let mut flows = vec![
            rejected(1, SERVER),
            full(2, SERVER, Some(true)),
            full(3, SERVER, Some(false)),
            resumed(4, SERVER),
            mid_stream(5, SERVER),
        ];
        assert_eq!(infer(&mut flows), 0);
        assert_eq!(
            answers(&flows)[3..],
            [(Verdict::Tls, None, None), (Verdict::Tls, None, None)]
        );
        let reason = flows[4].class.reasons.to_vec().pop().unwrap();
        assert!(
            reason.contains("flow 3, a full handshake to 10.0.0.9:9080, completed without"),
            "{reason}"
        );
    }

    #[test]
    fn the_sni_must_agree() {
        // the server lets clients of another name in without a certificate: a flow with the
        // demanding name is still inferred, one without a name (mid-stream) is not
        let mut flows = vec![
            sni(full(2, SERVER, Some(true)), "a.example"),
            sni(full(3, SERVER, Some(false)), "b.example"),
            sni(resumed(4, SERVER), "a.example"),
            mid_stream(5, SERVER),
            sni(resumed(6, SERVER), "b.example"),
        ];
        assert_eq!(infer(&mut flows), 1);
        assert_eq!(
            answers(&flows)[2..],
            [
                (Verdict::Mtls, Some(true), Some(Evidence::Inferred)),
                (Verdict::Tls, None, None),
                (Verdict::Tls, None, None),
            ]
        );
        assert_eq!(basis(&flows[2]).unwrap().sni.as_deref(), Some("a.example"));
    }

    #[test]
    fn known_answers_are_never_changed() {
        let mut flows = vec![rejected(1, SERVER), full(2, SERVER, Some(false))];
        flows[1].class.tls.as_mut().unwrap().resumed = Some(true);
        assert_eq!(infer(&mut flows), 0);
        assert_eq!(
            answers(&flows)[1],
            (Verdict::Tls, Some(false), Some(Evidence::Observed))
        );
    }
}
