//! The serialized report: schema version 1 of the product contract, built once from an
//! [`Analysis`] and its [`MeshView`] and shared by every format.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::pods::{self, PodPairDoc};
use super::policy::{Policy, PolicyOutcome};
use super::time::rfc3339_micros;
use crate::analyze::{Analysis, FlowResult};
use crate::decode::Endpoint;
use crate::flow::ClientBy;
use crate::mesh::{IstioSni, Leg, MeshView, Pair};
use crate::model::{PlaintextSummary, TlsSummary, Verdict, SCHEMA_VERSION};
use crate::names::{NameKind, Names};

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CaptureDoc {
    pub path: String,
    pub sha256: String,
    pub format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    pub link_types: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub truncated: bool,
    pub warnings: Vec<String>,
    /// Frames that yielded no TCP segment, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ByVerdict {
    pub mtls: u64,
    pub tls: u64,
    pub plaintext: u64,
    pub opaque: u64,
    pub empty: u64,
}

impl ByVerdict {
    pub(crate) fn add(&mut self, verdict: Verdict) {
        let slot = match verdict {
            Verdict::Mtls => &mut self.mtls,
            Verdict::Tls => &mut self.tls,
            Verdict::Plaintext => &mut self.plaintext,
            Verdict::Opaque => &mut self.opaque,
            Verdict::Empty => &mut self.empty,
        };
        *slot += 1;
    }

    /// `(verdict name, count)` in the contract's order.
    pub fn entries(&self) -> [(&'static str, u64); 5] {
        [
            ("mtls", self.mtls),
            ("tls", self.tls),
            ("plaintext", self.plaintext),
            ("opaque", self.opaque),
            ("empty", self.empty),
        ]
    }

    /// `2 mtls, 1 plaintext`: the verdicts that occur, or `none`.
    pub fn short(&self) -> String {
        let parts: Vec<String> = self
            .entries()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Flows exempted from the policy by one exemption.
#[derive(Debug, Serialize)]
pub struct ExemptionDoc {
    /// `istio loopback-leg` or `--allow port=15021`.
    pub by: String,
    pub count: u64,
    pub flows: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct PolicyDoc {
    pub require: &'static str,
    pub pass: bool,
    pub violations: Vec<u64>,
    pub exempted: Vec<u64>,
    /// The exempted flows, by what exempted them.
    pub exemptions: Vec<ExemptionDoc>,
}

/// Flows on each leg.
#[derive(Debug, Serialize)]
pub struct LegsDoc {
    pub loopback: u64,
    pub network: u64,
    /// Requests seen on both legs (loopback flows paired with a network flow).
    pub paired: u64,
}

/// A marker that recognised a mesh.
#[derive(Debug, Serialize)]
pub struct RecognitionDoc {
    pub what: String,
    /// The first flow that shows it.
    pub flow: u64,
    /// How many flows show it.
    pub flows: u64,
}

/// Flows a profile rule marked as expected plaintext.
#[derive(Debug, Serialize)]
pub struct ExpectedCountDoc {
    pub rule: &'static str,
    pub description: &'static str,
    pub flows: u64,
}

/// The mesh profile in force and what it covered.
#[derive(Debug, Serialize)]
pub struct MeshSummaryDoc {
    /// What `--mesh` asked for (`null` without the option).
    pub requested: Option<&'static str>,
    /// The profile in force.
    pub profile: Option<&'static str>,
    /// The profile the capture's markers point to.
    pub recognised: Option<&'static str>,
    pub recognised_by: Vec<RecognitionDoc>,
    /// Flows marked `expected` by each rule of the profile.
    pub expected: Vec<ExpectedCountDoc>,
}

#[derive(Debug, Serialize)]
pub struct SummaryDoc {
    pub flows: u64,
    pub by_verdict: ByVerdict,
    pub policy: Option<PolicyDoc>,
    pub legs: LegsDoc,
    pub mesh: MeshSummaryDoc,
    /// Flows grouped by client and server pod (only when `--pods`/`--services` named some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_pairs: Option<Vec<PodPairDoc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointDoc {
    pub ip: String,
    pub port: u16,
    /// `namespace/name` of the pod or service at this address.
    pub name: Option<String>,
    /// `pod` or `service`.
    pub kind: Option<&'static str>,
    /// The services that select this pod.
    pub services: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PerSide {
    pub client: u64,
    pub server: u64,
}

#[derive(Debug, Serialize)]
pub struct TcpDoc {
    pub syn_seen: bool,
    pub close: &'static str,
    pub gaps: u32,
    pub out_of_order: u32,
    pub retransmitted: u32,
}

/// The mesh facts of a flow.
#[derive(Debug, Serialize)]
pub struct FlowMeshDoc<'a> {
    /// Signs of a mesh: `istio: ALPN istio-peer-exchange`.
    pub markers: Vec<String>,
    /// The SNI decoded as Istio's `outbound_.PORT_.SUBSET_.FQDN`.
    pub istio_sni: Option<&'a IstioSni>,
    /// On the loopback leg: the pod it runs in, when known.
    pub pod: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FlowDoc<'a> {
    pub id: u64,
    /// Index into `captures`.
    pub capture: usize,
    pub client: EndpointDoc,
    pub server: EndpointDoc,
    /// How the client was told from the server: `syn`, `bytes` or `port`.
    pub client_by: &'static str,
    /// `loopback` (inside a pod: application and sidecar) or `network` (between pods).
    pub leg: &'static str,
    /// Why the flow is on that leg.
    pub leg_reason: Cow<'static, str>,
    /// The other leg of the same request (a flow id), seen close in time.
    pub paired_with: Option<u64>,
    /// How the pair was found, in words.
    pub pairing: Option<String>,
    /// This flow holds the replies of that flow (a flow id): iptables `REDIRECT` sent the
    /// requests to a loopback proxy, so one connection shows under two address pairs.
    pub reply_half_of: Option<u64>,
    /// That flow (an id) holds this flow's replies, see `reply_half_of`.
    pub reply_half: Option<u64>,
    /// Where the client meant to connect before iptables `REDIRECT` (from the replies).
    pub original_destination: Option<EndpointDoc>,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub packets: PerSide,
    pub bytes: PerSide,
    pub tcp: TcpDoc,
    pub verdict: Verdict,
    pub reasons: &'a [Box<str>],
    /// Plaintext by design under the mesh profile (`--mesh`).
    pub expected: bool,
    /// The profile rule that expects it: `loopback-leg`, `health-check`, `metrics`, ...
    pub expected_rule: Option<&'static str>,
    pub expected_reason: Option<&'static str>,
    /// Why the flow violates `--require`, `exempt` when an exemption took it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'static str>,
    /// What exempted the flow: `istio loopback-leg` or `--allow port=15021`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_by: Option<String>,
    pub tls: Option<&'a TlsSummary>,
    pub plaintext: Option<&'a PlaintextSummary>,
    pub mesh: FlowMeshDoc<'a>,
    /// Last packet time minus first packet time.
    #[serde(skip)]
    pub duration_nanos: i64,
}

impl FlowDoc<'_> {
    /// The flow is on the loopback leg.
    pub fn is_loopback(&self) -> bool {
        self.leg == Leg::Loopback.name()
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub schema_version: u32,
    pub tool: Tool,
    pub captures: Vec<CaptureDoc>,
    pub summary: SummaryDoc,
    pub flows: Vec<FlowDoc<'a>>,
}

fn endpoint(e: Endpoint, names: &Names) -> EndpointDoc {
    let entry = names.lookup(e.ip);
    EndpointDoc {
        ip: e.ip.to_string(),
        port: e.port,
        name: entry.map(|n| n.name.clone()),
        kind: entry.map(|n| n.kind.name()),
        services: entry.map(|n| n.services.clone()).unwrap_or_default(),
    }
}

/// The pod named at either end of a loopback flow (the server first: Istio's inbound leg goes
/// from 127.0.0.6 to the pod's address).
fn named_pod(client: &EndpointDoc, server: &EndpointDoc) -> Option<String> {
    [server, client]
        .into_iter()
        .find(|e| e.kind == Some(NameKind::Pod.name()))
        .and_then(|e| e.name.clone())
}

/// The one pod that takes part in every named network flow: the pod the capture was taken in.
fn captured_pod(docs: &[FlowDoc<'_>]) -> Option<String> {
    let mut common: Option<Vec<String>> = None;
    for f in docs.iter().filter(|f| !f.is_loopback()) {
        let here: Vec<String> = [&f.client, &f.server]
            .into_iter()
            .filter(|e| e.kind == Some(NameKind::Pod.name()))
            .filter_map(|e| e.name.clone())
            .collect();
        if here.is_empty() {
            continue;
        }
        common = Some(match common {
            None => here,
            Some(c) => c.into_iter().filter(|n| here.contains(n)).collect(),
        });
    }
    match common?.as_slice() {
        [one] => Some(one.clone()),
        [one, two] if one == two => Some(one.clone()),
        _ => None,
    }
}

/// Words for a pair, from the point of view of `this` flow.
fn pairing_text(other: &FlowResult, loopback: bool, pair: &Pair) -> String {
    let ms = pair.delay_nanos.unsigned_abs() as f64 / 1e6;
    let when = if pair.delay_nanos >= 0 {
        format!("{ms:.1} ms later")
    } else {
        format!("{ms:.1} ms earlier")
    };
    if loopback {
        format!(
            "same request as flow {} on the network leg ({}), which started {when} (link: {})",
            other.id,
            other.class.verdict.name(),
            pair.link.text()
        )
    } else {
        format!(
            "same request as flow {} on the loopback leg ({}, application ↔ proxy), which \
             started {when} (link: {})",
            other.id,
            other.class.verdict.name(),
            pair.link.text()
        )
    }
}

impl<'a> Document<'a> {
    /// Builds the report of `analysis`, with its mesh view, judged by `policy`.
    pub fn build(
        analysis: &'a Analysis,
        mesh: &'a MeshView,
        policy: &Policy,
        names: &Names,
    ) -> (Document<'a>, Option<PolicyOutcome>) {
        let outcome = policy.evaluate(&analysis.flows, mesh);
        let mut by_verdict = ByVerdict::default();
        let mut flows: Vec<FlowDoc<'a>> = analysis
            .flows
            .iter()
            .enumerate()
            .map(|(i, flow)| {
                by_verdict.add(flow.class.verdict);
                let m = mesh.flows.get(i);
                let f = &flow.facts;
                let exempt_by = outcome.as_ref().and_then(|o| {
                    o.exempted
                        .binary_search(&flow.id)
                        .ok()
                        .and_then(|_| policy.exemption(flow, m))
                });
                let policy_note = match (&outcome, &exempt_by) {
                    (Some(_), Some(_)) => Some("exempt"),
                    (Some(o), None) => Policy::violation(o.require, flow),
                    (None, _) => None,
                };
                let leg = m.map_or(Leg::Network, |m| m.leg);
                let pair = m.and_then(|m| m.pair);
                let other = pair.and_then(|p| analysis.flows.get(p.other));
                let expected = m.and_then(|m| m.expected.as_ref());
                let id_at = |i: Option<usize>| i.and_then(|i| analysis.flows.get(i)).map(|f| f.id);
                let reply_half = m.and_then(|m| m.reply_half);
                FlowDoc {
                    id: flow.id,
                    capture: flow.capture,
                    client: endpoint(f.client, names),
                    server: endpoint(f.server, names),
                    client_by: match f.client_by {
                        ClientBy::Syn => "syn",
                        ClientBy::Bytes => "bytes",
                        ClientBy::Port | ClientBy::FirstSeen => "port",
                    },
                    leg: leg.name(),
                    leg_reason: m.map(|m| m.leg_why.text()).unwrap_or_default(),
                    paired_with: other.map(|o| o.id),
                    pairing: match (pair, other) {
                        (Some(p), Some(o)) => Some(pairing_text(o, leg == Leg::Loopback, &p)),
                        _ => None,
                    },
                    reply_half_of: id_at(m.and_then(|m| m.reply_half_of)),
                    reply_half: id_at(reply_half),
                    original_destination: reply_half
                        .and_then(|i| analysis.flows.get(i))
                        .map(|b| endpoint(b.facts.server, names)),
                    first_frame: f.first_frame,
                    last_frame: f.last_frame,
                    first_seen: rfc3339_micros(f.first_ts),
                    last_seen: rfc3339_micros(f.last_ts),
                    packets: PerSide {
                        client: f.packets[0],
                        server: f.packets[1],
                    },
                    bytes: PerSide {
                        client: f.bytes[0],
                        server: f.bytes[1],
                    },
                    tcp: TcpDoc {
                        syn_seen: f.syn_seen,
                        close: f.close.name(),
                        gaps: f.gaps,
                        out_of_order: f.out_of_order,
                        retransmitted: f.retransmitted,
                    },
                    verdict: flow.class.verdict,
                    reasons: &flow.class.reasons,
                    expected: expected.is_some(),
                    expected_rule: expected.map(|e| e.rule.name()),
                    expected_reason: expected.map(|e| e.reason),
                    policy: policy_note,
                    exempt_by,
                    tls: flow.class.tls.as_deref(),
                    plaintext: flow.class.plaintext.as_deref(),
                    mesh: FlowMeshDoc {
                        markers: m
                            .map(|m| {
                                m.markers
                                    .iter()
                                    .map(|k| format!("{}: {}", k.profile.name(), k.what))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        istio_sni: m.and_then(|m| m.istio_sni.as_deref()),
                        pod: None,
                    },
                    duration_nanos: f.last_ts.saturating_sub(f.first_ts),
                }
            })
            .collect();
        attribute_loopback_pods(&mut flows, mesh);
        let captures = analysis
            .captures
            .iter()
            .map(|c| CaptureDoc {
                path: c.name.clone(),
                sha256: c.info.sha256.clone(),
                format: c.info.format.name(),
                compression: c.info.compression,
                link_types: c.info.link_types.iter().map(|l| l.name()).collect(),
                packets: c.info.packets,
                bytes: c.info.bytes,
                truncated: c.info.truncated,
                warnings: c.info.warnings.clone(),
                skipped: c.skipped.clone(),
            })
            .collect();
        let (loopback, network) = mesh.leg_counts();
        let any_named = flows
            .iter()
            .any(|f| f.client.name.is_some() || f.server.name.is_some());
        let summary = SummaryDoc {
            flows: analysis.flows.len() as u64,
            by_verdict,
            policy: outcome.as_ref().map(|o| PolicyDoc {
                require: o.require.name(),
                pass: o.pass,
                violations: o.violations.clone(),
                exempted: o.exempted.clone(),
                exemptions: o
                    .waivers
                    .iter()
                    .map(|w| ExemptionDoc {
                        by: w.by.clone(),
                        count: w.flows.len() as u64,
                        flows: w.flows.clone(),
                    })
                    .collect(),
            }),
            legs: LegsDoc {
                loopback,
                network,
                paired: mesh.pairs(),
            },
            mesh: MeshSummaryDoc {
                requested: mesh.requested.map(|r| r.name()),
                profile: mesh.profile.map(|p| p.name()),
                recognised: mesh.recognised.map(|p| p.name()),
                recognised_by: mesh
                    .recognised_by
                    .iter()
                    .map(|r| RecognitionDoc {
                        what: r.what.clone(),
                        flow: r.flow,
                        flows: r.flows,
                    })
                    .collect(),
                expected: mesh
                    .expected_counts()
                    .into_iter()
                    .map(|(rule, flows)| ExpectedCountDoc {
                        rule: rule.name(),
                        description: rule.summary(),
                        flows,
                    })
                    .collect(),
            },
            pod_pairs: any_named.then(|| pods::group(&flows)),
        };
        let doc = Document {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            captures,
            summary,
            flows,
        };
        (doc, outcome)
    }
}

/// Names the pod each loopback flow runs in: a pod named at one of its ends, else the pod at
/// the local end of its paired network flow, else the pod the capture was taken in.
fn attribute_loopback_pods(flows: &mut [FlowDoc<'_>], mesh: &MeshView) {
    let captured = captured_pod(flows);
    let mut found: Vec<Option<String>> = Vec::with_capacity(flows.len());
    for (i, f) in flows.iter().enumerate() {
        if !f.is_loopback() {
            found.push(None);
            continue;
        }
        let from_pair = || {
            let pair = mesh.flows.get(i)?.pair?;
            let other = flows.get(pair.other)?;
            // outbound: the application spoke first, the proxy then opened the network leg from
            // this pod; inbound: the network leg came first, to this pod.
            let local = if pair.delay_nanos >= 0 {
                &other.client
            } else {
                &other.server
            };
            (local.kind == Some(NameKind::Pod.name()))
                .then(|| local.name.clone())
                .flatten()
        };
        found.push(
            named_pod(&f.client, &f.server)
                .or_else(from_pair)
                .or_else(|| captured.clone()),
        );
    }
    for (f, pod) in flows.iter_mut().zip(found) {
        f.mesh.pod = pod;
    }
}
