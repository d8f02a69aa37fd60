//! Resumed sessions linked by proof to the handshake that created them.
//!
//! Every credential a server issued (a TLS <= 1.2 session ID or ticket, a TLS 1.3 ticket read
//! with the key log) is remembered in capture order with the flow that issued it. A resumed
//! flow looks up the credential it offered (ticket first, then session ID): when it was issued
//! before the flow's ClientHello, the flow inherits the client-certificate answer of the
//! session's full handshake, with its chain.
//!
//! The rules that keep this a proof:
//! - only a credential issued earlier in the capture links (its ServerHello or NewSessionTicket
//!   frame precedes the ClientHello that offers it), and only a resumed handshake that
//!   completed is linked;
//! - a session ID is issued by a full handshake only, and a client that offers a ticket is
//!   linked by its ticket alone (its session ID is then its own choice);
//! - the most recent issue counts; if flows that issued the same credential disagree about the
//!   client certificate, nothing is linked;
//! - a session whose full handshake left the client certificate unknown passes on nothing;
//! - a session issued by a resumed flow (a renewed ticket) resolves to that flow's own origin.

use std::collections::HashMap;

use super::conclude;
use crate::analyze::FlowResult;
use crate::model::{
    said, CertificateSide, Code, Credential, CrossFlow, Evidence, HandshakeState, LinkedBy,
    Resumption, Said,
};

/// Where the client-certificate answer of a session comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin {
    /// Index of the flow with the full handshake.
    root: usize,
    presented: Option<bool>,
}

/// The latest issue of a credential.
#[derive(Debug, Clone, Copy)]
struct Issue {
    flow: usize,
    frame: Option<u64>,
    origin: Option<Origin>,
    /// Flows issued it with different answers: it proves nothing.
    conflicting: bool,
}

/// One step of the sweep, in capture order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct At {
    capture: usize,
    frame: u64,
    /// A flow's ClientHello (0) comes before what its server issues (1) in the same frame.
    step: u8,
    flow: usize,
}

/// Links every resumed flow it can; returns how many it linked.
pub fn link(flows: &mut [FlowResult]) -> usize {
    let mut steps: Vec<At> = Vec::new();
    for (i, flow) in flows.iter().enumerate() {
        let Some(tokens) = flow.class.session.as_deref() else {
            continue;
        };
        let at = |frame: Option<u64>, step: u8| At {
            capture: flow.capture,
            frame: frame.unwrap_or(flow.facts.first_frame),
            step,
            flow: i,
        };
        if !tokens.offered.is_empty() {
            let hello = flow.class.tls.as_ref().and_then(|t| t.client_hello_frame);
            steps.push(at(hello, 0));
        }
        if !tokens.issued.is_empty() {
            // Every credential of a flow is issued at its first frame of issue: a flow's
            // tickets all follow its ServerHello.
            let first = tokens.issued.iter().filter_map(|(_, f)| *f).min();
            steps.push(at(first, 1));
        }
    }
    steps.sort_unstable();
    let mut issued: HashMap<Credential, Issue> = HashMap::new();
    let mut linked = 0;
    for step in steps {
        let i = step.flow;
        if step.step == 0 {
            linked += usize::from(resolve(flows, i, &issued));
            continue;
        }
        let origin = origin_of(flows, i);
        let Some(tokens) = flows.get(i).and_then(|f| f.class.session.as_deref()) else {
            continue;
        };
        for &(credential, frame) in &tokens.issued {
            let fresh = Issue {
                flow: i,
                frame,
                origin,
                conflicting: false,
            };
            issued
                .entry(credential)
                .and_modify(|old| {
                    let conflicting = old.conflicting
                        || old.origin.map(|o| o.presented) != origin.map(|o| o.presented);
                    *old = Issue {
                        conflicting,
                        ..fresh
                    };
                })
                .or_insert(fresh);
        }
    }
    linked
}

/// Where the answer of the session a flow's server issued comes from: the flow itself after a
/// full handshake, the session it resumed when that was linked, else nowhere.
fn origin_of(flows: &[FlowResult], i: usize) -> Option<Origin> {
    let tls = flows.get(i)?.class.tls.as_deref()?;
    let cert = &tls.client_certificate;
    if let Some(r) = cert.cross.as_ref().and_then(|c| c.resumption.as_ref()) {
        // Ids are assigned in order: the root is found by its id.
        let root = flows.binary_search_by_key(&r.root, |f| f.id).ok()?;
        return Some(Origin {
            root,
            presented: cert.presented,
        });
    }
    (tls.resumed != Some(true)).then_some(Origin {
        root: i,
        presented: cert.presented,
    })
}

/// Links resumed flow `i` by the first credential it offered that was issued before; `true`
/// when it was linked. Every outcome is said in its reasons.
fn resolve(flows: &mut [FlowResult], i: usize, issued: &HashMap<Credential, Issue>) -> bool {
    let Some(flow) = flows.get(i) else {
        return false;
    };
    let Some(tokens) = flow.class.session.as_deref() else {
        return false;
    };
    let offered_frame = flow.class.tls.as_ref().and_then(|t| t.client_hello_frame);
    let completed = flow
        .class
        .tls
        .as_ref()
        .is_some_and(|t| t.handshake == Some(HandshakeState::Complete));
    if !completed {
        let reason = "the resumed handshake did not complete in the capture: it is not linked \
                      to the session it offered"
            .to_string();
        conclude_with(flows, i, None, vec![said(Code::ResumedNotLinked, reason)]);
        return false;
    }
    let found = tokens
        .offered
        .iter()
        .find_map(|&(credential, by)| issued.get(&credential).map(|issue| (by, *issue)));
    let ids = |j: usize| flows.get(j).map_or(0, |f| f.id);
    let Some((by, issue)) = found else {
        let what: Vec<&str> = tokens.offered.iter().map(|(_, by)| by.text()).collect();
        let reason = format!(
            "the {} it offered {} not issued earlier in the capture: the session was created \
             before the capture began, or in a connection it does not hold",
            what.join(" and "),
            if what.len() == 1 { "was" } else { "were" }
        );
        conclude_with(flows, i, None, vec![said(Code::ResumedNotLinked, reason)]);
        return false;
    };
    let issuer = ids(issue.flow);
    let at = frame_words(issue.frame);
    if issue.conflicting {
        let reason = format!(
            "the {} it offered was issued by several flows (last by flow {issuer}{at}) that \
             disagree about the client certificate: not linked",
            by.text()
        );
        conclude_with(flows, i, None, vec![said(Code::ResumedNotLinked, reason)]);
        return false;
    }
    let Some(origin) = issue.origin.filter(|o| o.presented.is_some()) else {
        let reason = format!(
            "resumes the session that flow {issuer} was issued{at} (matching {}), but that \
             session's client certificate is not known either",
            by.text()
        );
        conclude_with(flows, i, None, vec![said(Code::ResumedNotLinked, reason)]);
        return false;
    };
    let root = ids(origin.root);
    let (chain, root_evidence) = flows
        .get(origin.root)
        .and_then(|f| f.class.tls.as_deref())
        .map(|t| {
            (
                t.client_certificate.chain.clone(),
                t.client_certificate.evidence,
            )
        })
        .unwrap_or_default();
    let link = link_sentence(by, offered_frame, issuer, issue.frame, root);
    let how = root_evidence.map_or("", Evidence::name);
    let answer = match origin.presented {
        Some(true) => format!(
            "the session was created by flow {root}'s full handshake, in which the client \
             presented a certificate ({how}): resumed mTLS"
        ),
        _ => format!(
            "the session was created by flow {root}'s full handshake, in which the client \
             presented no certificate ({how}): resumed without client authentication"
        ),
    };
    let reasons = vec![
        said(Code::ResumedLinked, link),
        said(Code::ResumedLinked, answer),
    ];
    let side = CertificateSide {
        presented: origin.presented,
        evidence: Some(Evidence::Resumed),
        frame: None,
        chain,
        cross: Some(Box::new(CrossFlow {
            resumption: Some(Resumption {
                root,
                by,
                issued_by: issuer,
                issued_frame: issue.frame,
                offered_frame,
            }),
            ..CrossFlow::default()
        })),
    };
    conclude_with(flows, i, Some(side), reasons);
    true
}

/// `… its ClientHello (frame 40) offered the session ticket that flow 12's server issued
/// (frame 20)`.
fn link_sentence(
    by: LinkedBy,
    offered: Option<u64>,
    issuer: u64,
    issued: Option<u64>,
    root: u64,
) -> String {
    let (issued_in, message) = match by {
        LinkedBy::SessionId => ("ServerHello", "assigned"),
        LinkedBy::SessionTicket => ("NewSessionTicket", "issued"),
        LinkedBy::PskIdentity => ("NewSessionTicket, decrypted with the key log", "issued"),
    };
    let via = if issuer == root {
        String::new()
    } else {
        format!(" (flow {issuer} had resumed the session of flow {root} and was given it anew)")
    };
    format!(
        "resumes the session of flow {root}: the {} its ClientHello offered{} is the one flow \
         {issuer}'s server {message} in its {issued_in}{}{via}",
        by.text(),
        frame_words(offered),
        frame_words(issued),
    )
}

/// ` (frame N)`, or nothing.
fn frame_words(frame: Option<u64>) -> String {
    frame.map_or_else(String::new, |f| format!(" (frame {f})"))
}

/// Sets flow `i`'s client certificate (when given) and adds the reasons.
fn conclude_with(
    flows: &mut [FlowResult],
    i: usize,
    side: Option<CertificateSide>,
    reasons: Vec<Said>,
) {
    let Some(flow) = flows.get_mut(i) else {
        return;
    };
    if let (Some(side), Some(tls)) = (side, flow.class.tls.as_mut()) {
        tls.client_certificate = side;
    }
    conclude(flow, reasons);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Verdict;
    use crate::proof::testkit::*;

    const SERVER: &str = "10.0.0.9:9080";

    #[test]
    fn a_resumed_session_inherits_its_full_handshake() {
        let mut flows = vec![
            issues(full(1, SERVER, Some(true)), b"t1"),
            issues(full(2, SERVER, Some(false)), b"t2"),
            offers(resumed(3, SERVER), b"t1"),
            offers(resumed(4, SERVER), b"t2"),
        ];
        assert_eq!(link(&mut flows), 2);
        assert_eq!(
            answers(&flows)[2..],
            [
                (Verdict::Mtls, Some(true), Some(Evidence::Resumed)),
                // server-only TLS resumed stays server-only: proven, never mTLS
                (Verdict::Tls, Some(false), Some(Evidence::Resumed)),
            ]
        );
        let cert = &flows[2].class.tls.as_ref().unwrap().client_certificate;
        let r = cert.cross.as_ref().unwrap().resumption.as_ref().unwrap();
        assert_eq!((r.root, r.issued_by, r.by), (1, 1, LinkedBy::SessionTicket));
        assert_eq!((r.issued_frame, r.offered_frame), (Some(15), Some(30)));
        let reasons = flows[2].class.reasons.to_vec();
        assert!(reasons[1].starts_with("resumes the session of flow 1: the session ticket"));
        assert!(reasons[2].contains("presented a certificate (observed): resumed mTLS"));
    }

    #[test]
    fn a_renewed_ticket_leads_back_to_the_full_handshake() {
        let mut flows = vec![
            issues(full(1, SERVER, Some(true)), b"t1"),
            issues(offers(resumed(2, SERVER), b"t1"), b"t2"),
            offers(resumed(3, SERVER), b"t2"),
        ];
        assert_eq!(link(&mut flows), 2);
        let cert = &flows[2].class.tls.as_ref().unwrap().client_certificate;
        let r = cert.cross.as_ref().unwrap().resumption.as_ref().unwrap();
        assert_eq!((r.root, r.issued_by), (1, 2));
        assert_eq!(cert.presented, Some(true));
        assert!(
            flows[2].class.reasons.to_vec()[1].contains("flow 2 had resumed the session of flow 1")
        );
    }

    #[test]
    fn no_link_without_an_earlier_agreeing_issue() {
        // issued only after it was offered
        let mut later = vec![
            offers(resumed(1, SERVER), b"t"),
            issues(full(2, SERVER, Some(true)), b"t"),
        ];
        assert_eq!(link(&mut later), 0);
        assert_eq!(answers(&later)[0], (Verdict::Tls, None, None));
        assert!(later[0].class.reasons.to_vec()[1].contains("not issued earlier in the capture"));
        // two issuers disagree about the client certificate
        let mut conflict = vec![
            issues(full(1, SERVER, Some(true)), b"t"),
            issues(full(2, SERVER, Some(false)), b"t"),
            offers(resumed(3, SERVER), b"t"),
        ];
        assert_eq!(link(&mut conflict), 0);
        assert_eq!(answers(&conflict)[2], (Verdict::Tls, None, None));
        assert!(conflict[2].class.reasons.to_vec()[1].contains("disagree"));
        // the resumed handshake did not complete
        let mut failed = offers(resumed(2, SERVER), b"t");
        failed.class.tls.as_mut().unwrap().handshake = Some(HandshakeState::Failed);
        let mut cut = vec![issues(full(1, SERVER, Some(true)), b"t"), failed];
        assert_eq!(link(&mut cut), 0);
        assert_eq!(answers(&cut)[1], (Verdict::Tls, None, None));
        assert!(cut[1].class.reasons.to_vec()[1].contains("did not complete"));
        // the original's answer is unknown itself
        let mut unknown = vec![
            issues(full(1, SERVER, None), b"t"),
            offers(resumed(2, SERVER), b"t"),
        ];
        assert_eq!(link(&mut unknown), 0);
        assert_eq!(answers(&unknown)[1], (Verdict::Tls, None, None));
        // copies of one issue that agree still link (the latest before the use)
        let mut copies = vec![
            issues(full(1, SERVER, Some(true)), b"t"),
            issues(full(2, SERVER, Some(true)), b"t"),
            offers(resumed(3, SERVER), b"t"),
        ];
        assert_eq!(link(&mut copies), 1);
        let cert = &copies[2].class.tls.as_ref().unwrap().client_certificate;
        assert_eq!(
            cert.cross
                .as_ref()
                .unwrap()
                .resumption
                .as_ref()
                .unwrap()
                .root,
            2
        );
        assert!(tokens(&copies[2]).is_some());
    }
}
