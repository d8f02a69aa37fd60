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
//!   or a close right after the client's flight), where no CertificateRequest is proven absent
//!   and any alert the server sent in the clear names a certificate problem (handshake_failure,
//!   bad_certificate, unsupported_certificate, certificate_unknown, certificate_required), rule
//!   `rejected-without-certificate`; or else
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
    said, Code, DemandBasis, DemandRule, Evidence, HandshakeState, TlsSummary, Verdict,
    MAX_CITED_FLOWS,
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

/// What the full handshakes of a group (one endpoint, one SNI or none) show, counted once so
/// that each target is judged in constant time.
#[derive(Debug, Clone, Default)]
struct Tally {
    handshakes: u64,
    rejected: u64,
    with_certificate: u64,
    with_certificate_requested: u64,
    unknown: u64,
    /// The first flow that completed without a client certificate.
    lets_in: Option<u64>,
    /// The first rejections, and the first completed handshakes (at most
    /// [`MAX_CITED_FLOWS`] each), to cite.
    rejected_ids: Vec<u64>,
    completed_ids: Vec<u64>,
}

impl Tally {
    fn add(&mut self, id: u64, shows: Shows) {
        self.handshakes += 1;
        let cite = |ids: &mut Vec<u64>| {
            if ids.len() < MAX_CITED_FLOWS {
                ids.push(id);
            }
        };
        match shows {
            Shows::WithCertificate { requested } => {
                self.with_certificate += 1;
                self.with_certificate_requested += u64::from(requested);
                cite(&mut self.completed_ids);
            }
            Shows::Unknown => {
                self.unknown += 1;
                cite(&mut self.completed_ids);
            }
            Shows::WithoutCertificate => {
                self.lets_in.get_or_insert(id);
            }
            Shows::Rejected => {
                self.rejected += 1;
                cite(&mut self.rejected_ids);
            }
        }
    }

    /// This tally and `other`'s together.
    fn with(&self, other: &Tally) -> Tally {
        let merge = |a: &[u64], b: &[u64]| {
            let mut ids: Vec<u64> = a.iter().chain(b).copied().collect();
            ids.sort_unstable();
            ids.truncate(MAX_CITED_FLOWS);
            ids
        };
        Tally {
            handshakes: self.handshakes + other.handshakes,
            rejected: self.rejected + other.rejected,
            with_certificate: self.with_certificate + other.with_certificate,
            with_certificate_requested: self.with_certificate_requested
                + other.with_certificate_requested,
            unknown: self.unknown + other.unknown,
            lets_in: match (self.lets_in, other.lets_in) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            rejected_ids: merge(&self.rejected_ids, &other.rejected_ids),
            completed_ids: merge(&self.completed_ids, &other.completed_ids),
        }
    }
}

/// The full handshakes to one endpoint: all of them, those without SNI, and those of each SNI.
#[derive(Debug, Default)]
struct Handshakes {
    all: Tally,
    no_sni: Tally,
    by_sni: HashMap<Arc<str>, Tally>,
}

impl Handshakes {
    /// What a flow with `sni` considers: a flow without one, seen mid-stream, considers every
    /// handshake; a flow with one, those of the same name or none.
    fn considered(&self, sni: Option<&Arc<str>>) -> Tally {
        match sni {
            None => self.all.clone(),
            Some(name) => match self.by_sni.get(name) {
                Some(named) => self.no_sni.with(named),
                None => self.no_sni.clone(),
            },
        }
    }
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
        (HandshakeState::Failed, Some(false)) if rejected_for_want_of_certificate(tls) => {
            Shows::Rejected
        }
        _ => return None,
    })
}

/// Alert descriptions a server sends when a client certificate is missing or refused:
/// handshake_failure, bad_certificate, unsupported_certificate, certificate_unknown,
/// certificate_required.
const CERTIFICATE_ALERTS: [u8; 5] = [40, 42, 43, 46, 116];

/// The server ended the handshake of a client that sent no certificate, and nothing says it
/// was for another reason: a CertificateRequest was not proven absent, and every alert the
/// server sent in the clear names a certificate problem (an encrypted one, or a close, names
/// none).
fn rejected_for_want_of_certificate(tls: &TlsSummary) -> bool {
    tls.server_rejected
        && tls.certificate_requested != Some(false)
        && tls
            .alerts
            .iter()
            .filter(|a| a.from_server)
            .filter_map(|a| a.codes)
            .all(|(_, code)| CERTIFICATE_ALERTS.contains(&code))
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
    let mut by_server: HashMap<Endpoint, Handshakes> = HashMap::new();
    let mut targets = Vec::new();
    for (i, flow) in flows.iter().enumerate() {
        let Some(tls) = flow.class.tls.as_deref() else {
            continue;
        };
        if let Some(shown) = shows(tls) {
            let e = by_server.entry(flow.facts.server).or_default();
            e.all.add(flow.id, shown);
            match &tls.hello.sni {
                None => e.no_sni.add(flow.id, shown),
                Some(name) => e
                    .by_sni
                    .entry(Arc::clone(name))
                    .or_default()
                    .add(flow.id, shown),
            }
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
                let tally = by_server
                    .get(&server)
                    .map(|e| e.considered(sni.as_ref()))
                    .unwrap_or_default();
                judge(server, sni.as_ref(), &tally)
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
        conclude(flow, vec![said(Code::ServerDemand, reason)]);
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

/// Judges what the considered handshakes to `server` prove, for a flow with `sni`.
fn judge(server: Endpoint, sni: Option<&Arc<str>>, t: &Tally) -> Outcome {
    if let Some(id) = t.lets_in {
        return Outcome::LetsIn(id);
    }
    let completed = t.with_certificate + t.unknown;
    let requested_in_all = completed > 0 && completed == t.with_certificate_requested;
    let (rule, decisive, rest) = if t.rejected > 0 {
        (
            DemandRule::RejectedWithoutCertificate,
            &t.rejected_ids,
            &t.completed_ids,
        )
    } else if requested_in_all {
        (
            DemandRule::CertificateRequestedInEveryFullHandshake,
            &t.completed_ids,
            &t.rejected_ids,
        )
    } else {
        return Outcome::Unproven {
            considered: t.handshakes,
        };
    };
    // The decisive flows first: the rejections, or the completed handshakes.
    let mut cited: Vec<u64> = decisive
        .iter()
        .chain(rest)
        .copied()
        .take(MAX_CITED_FLOWS)
        .collect();
    cited.sort_unstable();
    Outcome::Demands(Arc::new(DemandBasis {
        rule,
        server_ip: server.ip,
        server_port: server.port,
        sni: sni.cloned(),
        full_handshakes: t.handshakes,
        with_certificate: t.with_certificate,
        rejected_without_certificate: t.rejected,
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
    fn a_rejection_for_another_reason_proves_no_demand() {
        use crate::model::AlertInfo;
        let alert = |code: u8| AlertInfo {
            frame: Some(9),
            from_server: true,
            codes: Some((2, code)),
        };
        let with = |mut f: FlowResult, requested: Option<bool>, alert: Option<AlertInfo>| {
            let tls = f.class.tls.as_mut().unwrap();
            tls.certificate_requested = requested;
            tls.alerts = alert.into_iter().collect();
            f
        };
        // no CertificateRequest: the client was not asked for a certificate
        let not_asked = with(rejected(2, SERVER), Some(false), None);
        // protocol_version: turned down for its TLS version
        let version = with(rejected(2, SERVER), Some(true), Some(alert(70)));
        for f in [not_asked, version] {
            let mut flows = vec![resumed(1, SERVER), f];
            assert_eq!(infer(&mut flows), 0);
        }
        // certificate_required, or an encrypted alert, or a close: a demand
        for a in [Some(alert(116)), Some(alert(40)), None] {
            let mut flows = vec![resumed(1, SERVER), with(rejected(2, SERVER), Some(true), a)];
            assert_eq!(infer(&mut flows), 1);
        }
        let encrypted = AlertInfo {
            codes: None,
            ..alert(0)
        };
        let mut flows = vec![
            resumed(1, SERVER),
            with(rejected(2, SERVER), None, Some(encrypted)),
        ];
        assert_eq!(infer(&mut flows), 1);
    }

    #[test]
    fn many_names_on_one_server_are_judged_apart() {
        // every name's own handshakes and the nameless ones: a name that let a client in
        // without a certificate does not spoil another's
        let mut flows = Vec::new();
        for i in 0..200u64 {
            let name = format!("n{i}.example");
            flows.push(sni(full(2 * i + 1, SERVER, Some(i % 2 == 0)), &name));
            flows.push(sni(resumed(2 * i + 2, SERVER), &name));
        }
        assert_eq!(infer(&mut flows), 100);
        for pair in flows.chunks(2) {
            let full = pair[0].class.tls.as_deref().unwrap();
            let resumed = pair[1].class.tls.as_deref().unwrap();
            assert_eq!(
                resumed.client_certificate.presented,
                full.client_certificate.presented.filter(|&p| p)
            );
        }
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
