//! Flows grouped by pod pair (client pod → server pod, per leg): what a reviewer reads first
//! when pod names are known.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::document::{ByVerdict, Document};
use crate::decode::Endpoint;
use crate::mesh::Leg;
use crate::model::CertificateSide;

/// The flows between one client and one server on one leg.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PodPairDoc {
    /// `namespace/pod` (or service) of the client, else its address.
    pub client: String,
    /// `namespace/pod` (or service) of the server, else its address. On the loopback leg, the
    /// pod the flows run inside.
    pub server: String,
    pub leg: Leg,
    pub flows: u64,
    /// The flow ids, in order.
    pub ids: Vec<u64>,
    pub by_verdict: ByVerdict,
    /// Flows marked expected by the mesh profile.
    pub expected: u64,
    /// Flows that violate `--require`.
    pub violations: u64,
    /// Distinct `client identity → server identity` pairs from the certificates (URI SAN, else
    /// DNS SAN; `?` when a side's certificate was not seen).
    pub identities: Vec<String>,
    /// Distinct server ports.
    pub server_ports: Vec<u16>,
    /// Distinct services the clients asked for in an Istio SNI (`namespace/name:port`).
    pub sni_services: Vec<String>,
}

/// `namespace/pod` (or service) at an address, else the address.
fn label(doc: &Document<'_>, e: Endpoint) -> String {
    let e = doc.endpoint(e);
    e.name.map_or_else(|| e.ip.to_string(), str::to_string)
}

/// The identity a certificate shows: its first URI SAN, else its first DNS SAN.
pub fn identity(side: &CertificateSide) -> Option<&str> {
    let forwarded = || {
        side.cross
            .as_ref()
            .and_then(|c| c.forwarded.as_ref())
            .map(|f| f.identity.as_ref())
    };
    let Some(leaf) = side.chain.first() else {
        return forwarded();
    };
    leaf.san_uris
        .first()
        .or_else(|| leaf.san_dns.first())
        .map(|s| s.as_ref())
        .or_else(forwarded)
}

/// Groups flows by (client, server, leg), in order of first appearance. On the loopback leg, a
/// flow's client and server are the pod it runs in, when known.
pub fn group(doc: &Document<'_>) -> Vec<PodPairDoc> {
    let mut out: Vec<PodPairDoc> = Vec::new();
    let mut ports: Vec<BTreeSet<u16>> = Vec::new();
    let mut ids: Vec<BTreeSet<String>> = Vec::new();
    let mut snis: Vec<BTreeSet<String>> = Vec::new();
    let mut index: HashMap<(String, String, Leg), usize> = HashMap::new();
    for f in doc.briefs() {
        let (client, server) = match doc.loopback_pod(&f) {
            Some(pod) => (pod.to_string(), pod.to_string()),
            None => (label(doc, f.client), label(doc, f.server)),
        };
        let leg = f.leg;
        let key = (client, server, leg);
        let at = match index.get(&key) {
            Some(&at) => at,
            None => {
                let (client, server, _) = key.clone();
                index.insert(key, out.len());
                out.push(PodPairDoc {
                    client,
                    server,
                    leg,
                    flows: 0,
                    ids: Vec::new(),
                    by_verdict: ByVerdict::default(),
                    expected: 0,
                    violations: 0,
                    identities: Vec::new(),
                    server_ports: Vec::new(),
                    sni_services: Vec::new(),
                });
                ports.push(BTreeSet::new());
                ids.push(BTreeSet::new());
                snis.push(BTreeSet::new());
                out.len() - 1
            }
        };
        let (Some(g), Some(p), Some(idset), Some(sniset)) = (
            out.get_mut(at),
            ports.get_mut(at),
            ids.get_mut(at),
            snis.get_mut(at),
        ) else {
            continue;
        };
        if let Some(sni) = f.istio_sni {
            sniset.insert(sni.short());
        }
        g.flows += 1;
        g.ids.push(f.id);
        g.by_verdict.add(f.verdict);
        g.expected += u64::from(f.expected);
        g.violations += u64::from(f.violates());
        p.insert(f.server.port);
        if let Some(tls) = f.tls {
            let c = identity(&tls.client_certificate);
            let s = identity(&tls.server_certificate);
            if c.is_some() || s.is_some() {
                idset.insert(format!("{} → {}", c.unwrap_or("?"), s.unwrap_or("?")));
            }
        }
    }
    for (((g, p), i), n) in out.iter_mut().zip(ports).zip(ids).zip(snis) {
        g.server_ports = p.into_iter().collect();
        g.identities = i.into_iter().collect();
        g.sni_services = n.into_iter().collect();
    }
    out
}
