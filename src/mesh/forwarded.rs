//! The client identity the server's sidecar forwarded, applied to the network flow it came in
//! on.
//!
//! Inside the server pod (`-i any`), Istio's sidecar adds `x-forwarded-client-cert` to each
//! request it hands to the application on the loopback leg, and Linkerd's proxy adds
//! `l5d-client-id`; both do so only for a client that proved its identity with a certificate
//! (Envoy removes the header otherwise). So when a loopback flow with such a header is the
//! other leg of a network TLS flow, that network flow is mutual TLS (`evidence: "forwarded"`),
//! even when its own bytes cannot say (TLS 1.3 without keys, a pooled connection whose
//! handshake predates the capture, a resumed session).
//!
//! The pairing must be an inbound one: the network flow reached this pod first, and the
//! loopback leg goes to the same server address and port, or to the same port on loopback
//! (Linkerd); a pairing by time alone proves nothing. A loopback flow whose requests name
//! several identities (a pooled connection to the application) proves none of them. A network
//! flow proven to have sent no certificate is never changed: the conflict is reported.

use super::leg::Leg;
use super::pair::Link;
use super::FlowMesh;
use crate::analyze::FlowResult;
use crate::model::{said, CertificateSide, Code, Evidence, Forwarded, ForwardedClient, Verdict};
use crate::proof::conclude;

/// Applies the forwarded identities of loopback flows to the network flows they are paired
/// with; returns the indexes of the flows that became `mtls`.
pub fn apply(flows: &mut [FlowResult], mesh: &[FlowMesh]) -> Vec<usize> {
    let mut upgraded = Vec::new();
    for (li, m) in mesh.iter().enumerate() {
        let Some(pair) = m.pair.filter(|_| m.leg == Leg::Loopback) else {
            continue;
        };
        let ni = pair.other as usize;
        let inbound = matches!(pair.link, Link::SameServer | Link::SamePort)
            && pair.delay_nanos <= 0
            && mesh.get(ni).is_some_and(|n| n.leg == Leg::Network);
        if !inbound {
            continue;
        }
        let Some(loopback) = flows.get(li) else {
            continue;
        };
        let Some(fc) = loopback
            .class
            .plaintext
            .as_ref()
            .and_then(|p| p.forwarded_client.as_deref())
            .cloned()
        else {
            continue;
        };
        let from = loopback.id;
        let Some(network) = flows.get_mut(ni) else {
            continue;
        };
        if give(network, &fc, from) {
            upgraded.push(ni);
        }
    }
    upgraded
}

/// Gives `network` the identity `fc` forwarded in loopback flow `from`; `true` when it made the
/// flow `mtls`.
fn give(network: &mut FlowResult, fc: &ForwardedClient, from: u64) -> bool {
    let Some(tls) = network.class.tls.as_deref_mut() else {
        return false;
    };
    let at = fc
        .frame
        .map_or_else(String::new, |f| format!(", frame {f}"));
    let by = fc
        .by
        .as_deref()
        .map_or_else(String::new, |b| format!(" by {b}"));
    let header = fc.header.name();
    if fc.identities > 1 {
        let reason = format!(
            "the requests of its loopback leg (flow {from}) carry {header} with {} different \
             identities: the application connection is shared, so none is attributed to this \
             connection",
            fc.identities
        );
        conclude(network, vec![said(Code::ForwardedProof, reason)]);
        return false;
    }
    let cert = &mut tls.client_certificate;
    let forwarded = Forwarded {
        header: fc.header,
        identity: fc.identity.clone(),
        by: fc.by.clone(),
        flow: from,
        frame: fc.frame,
    };
    let reason = match cert.presented {
        Some(false) => {
            let reason = format!(
                "its loopback leg (flow {from}{at}) carries {header} naming {}{by}, but this \
                 connection is proven to have sent no client certificate: the forwarded \
                 identity is not taken (check the pairing)",
                fc.identity
            );
            conclude(network, vec![said(Code::ForwardedProof, reason)]);
            return false;
        }
        Some(true) => {
            let strong = matches!(
                cert.evidence,
                Some(Evidence::Observed | Evidence::Decrypted | Evidence::Resumed)
            ) || (cert.evidence == Some(Evidence::Inferred)
                && cert.cross.as_ref().is_none_or(|c| c.demand.is_none()));
            if !strong {
                // Inferred from the server's demands: the forwarded identity is direct proof.
                cert.evidence = Some(Evidence::Forwarded);
            }
            format!(
                "the server's sidecar forwarded the client identity {} in {header} on the \
                 loopback leg (flow {from}{at}{by})",
                fc.identity
            )
        }
        None => {
            *cert = CertificateSide {
                presented: Some(true),
                evidence: Some(Evidence::Forwarded),
                frame: None,
                chain: Box::default(),
                cross: cert.cross.take(),
            };
            format!(
                "the server's sidecar forwarded the client identity {} in {header} on the \
                 loopback leg (flow {from}{at}{by}); it does so only for a client that \
                 presented a certificate: mTLS",
                fc.identity
            )
        }
    };
    let was = network.class.verdict;
    let cert = match network.class.tls.as_deref_mut() {
        Some(tls) => &mut tls.client_certificate,
        None => return false,
    };
    cert.cross.get_or_insert_with(Box::default).forwarded = Some(forwarded);
    conclude(network, vec![said(Code::ForwardedProof, reason)]);
    was != Verdict::Mtls && network.class.verdict == Verdict::Mtls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::leg::LegWhy;
    use crate::mesh::pair::Pair;
    use crate::model::{Classification, PlaintextSummary, Reasons};
    use crate::proof::testkit::{answers, full, mid_stream};

    const XFCC_ID: &str = "spiffe://cluster.local/ns/bookinfo/sa/productpage";

    /// A loopback flow whose requests carry `identities` distinct identities (0: no header).
    fn loopback(id: u64, identities: u32) -> FlowResult {
        let mut f = full(id, "10.0.0.9:9080", None);
        f.class = Classification {
            verdict: Verdict::Plaintext,
            reasons: Reasons::new([said(Code::CleartextSeen, "GET / HTTP/1.1")]),
            tls: None,
            plaintext: Some(Box::new(PlaintextSummary {
                protocol: "http/1.1",
                evidence: "GET / HTTP/1.1".into(),
                frame: Some(5),
                direction: "client",
                rejected: false,
                forwarded_client: (identities > 0).then(|| {
                    Box::new(ForwardedClient {
                        header: crate::model::ForwardHeader::Xfcc,
                        identity: XFCC_ID.into(),
                        by: Some("spiffe://cluster.local/ns/bookinfo/sa/details".into()),
                        frame: Some(5),
                        requests: identities,
                        identities,
                    })
                }),
            })),
            session: None,
            ambiguity: None,
            encryption: None,
        };
        f
    }

    fn mesh(leg: Leg, pair: Option<(u32, i64, Link)>) -> FlowMesh {
        FlowMesh {
            leg,
            leg_why: LegWhy::Network,
            istio_sni: None,
            markers: Vec::new().into(),
            expected: None,
            pair: pair.map(|(other, delay_nanos, link)| Pair {
                other,
                delay_nanos,
                link,
            }),
            reply_half_of: None,
            reply_half: None,
        }
    }

    /// Network flow 1 (index 0) and loopback flow 2 (index 1), paired by `link`, the loopback
    /// leg starting `delay` ns after the network one.
    fn run(
        network: FlowResult,
        identities: u32,
        link: Link,
        delay: i64,
    ) -> (Vec<FlowResult>, Vec<usize>) {
        let mut flows = vec![network, loopback(2, identities)];
        let view = [
            mesh(Leg::Network, Some((1, delay, link))),
            mesh(Leg::Loopback, Some((0, -delay, link))),
        ];
        let up = apply(&mut flows, &view);
        (flows, up)
    }

    #[test]
    fn an_inbound_forwarded_identity_proves_the_network_flow() {
        let (flows, up) = run(mid_stream(1, "10.0.0.9:9080"), 1, Link::SameServer, 1_000);
        assert_eq!(up, [0]);
        assert_eq!(
            answers(&flows)[0],
            (Verdict::Mtls, Some(true), Some(Evidence::Forwarded))
        );
        let cert = &flows[0].class.tls.as_ref().unwrap().client_certificate;
        let f = cert.cross.as_ref().unwrap().forwarded.as_ref().unwrap();
        assert_eq!(
            (f.identity.as_ref(), f.flow, f.frame),
            (XFCC_ID, 2, Some(5))
        );
        assert!(flows[0].class.reasons.to_vec()[1]
            .contains("does so only for a client that presented a certificate"));
        // Linkerd hands the request to the application on 127.0.0.1 at the same port
        let (_, up) = run(mid_stream(1, "10.0.0.9:9080"), 1, Link::SamePort, 1_000);
        assert_eq!(up, [0]);
    }

    #[test]
    fn only_an_inbound_pair_with_one_identity_counts() {
        for (identities, link, delay) in [
            (0, Link::SameServer, 1_000),
            // several clients share the application connection
            (2, Link::SameServer, 1_000),
            // paired by time alone, or by the pod's own address (outbound)
            (1, Link::Time, 1_000),
            (1, Link::SameClientAddress, 1_000),
            (1, Link::ProxyPort, 1_000),
            // the loopback leg started first: outbound
            (1, Link::SameServer, -1_000),
        ] {
            let (flows, up) = run(mid_stream(1, "10.0.0.9:9080"), identities, link, delay);
            assert!(up.is_empty(), "{identities} {link:?} {delay}");
            assert_eq!(answers(&flows)[0], (Verdict::Tls, None, None));
        }
    }

    #[test]
    fn a_proven_answer_is_kept() {
        // no certificate proven: the identity is not taken, the conflict is said
        let (flows, up) = run(
            full(1, "10.0.0.9:9080", Some(false)),
            1,
            Link::SameServer,
            1,
        );
        assert!(up.is_empty());
        assert_eq!(
            answers(&flows)[0],
            (Verdict::Tls, Some(false), Some(Evidence::Observed))
        );
        assert!(flows[0].class.reasons.to_vec()[1].contains("not taken"));
        // a certificate already seen keeps its evidence and gains the identity
        let (flows, up) = run(full(1, "10.0.0.9:9080", Some(true)), 1, Link::SameServer, 1);
        assert!(up.is_empty());
        assert_eq!(
            answers(&flows)[0],
            (Verdict::Mtls, Some(true), Some(Evidence::Observed))
        );
        let cert = &flows[0].class.tls.as_ref().unwrap().client_certificate;
        assert!(cert.cross.as_ref().unwrap().forwarded.is_some());
    }
}
