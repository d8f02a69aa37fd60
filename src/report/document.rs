//! The serialized report: schema version 1 of the product contract, built once from an
//! [`Analysis`] and shared by every format.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::policy::{Policy, PolicyOutcome};
use super::time::rfc3339_micros;
use crate::analyze::{Analysis, FlowResult};
use crate::decode::Endpoint;
use crate::flow::ClientBy;
use crate::model::{PlaintextSummary, TlsSummary, Verdict, SCHEMA_VERSION};
use crate::names::Names;

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

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ByVerdict {
    pub mtls: u64,
    pub tls: u64,
    pub plaintext: u64,
    pub opaque: u64,
    pub empty: u64,
}

impl ByVerdict {
    fn add(&mut self, verdict: Verdict) {
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
}

#[derive(Debug, Serialize)]
pub struct PolicyDoc {
    pub require: &'static str,
    pub pass: bool,
    pub violations: Vec<u64>,
    pub exempted: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct SummaryDoc {
    pub flows: u64,
    pub by_verdict: ByVerdict,
    pub policy: Option<PolicyDoc>,
}

#[derive(Debug, Serialize)]
pub struct EndpointDoc {
    pub ip: String,
    pub port: u16,
    pub name: Option<String>,
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
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub packets: PerSide,
    pub bytes: PerSide,
    pub tcp: TcpDoc,
    pub verdict: Verdict,
    pub reasons: &'a [String],
    /// Why the flow violates `--require`, `exempt` when an `--allow` rule exempted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'static str>,
    pub tls: Option<&'a TlsSummary>,
    pub plaintext: Option<&'a PlaintextSummary>,
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

/// The flow is on a pod's loopback leg (application ↔ sidecar) rather than between pods.
pub fn is_loopback_leg(flow: &FlowResult) -> bool {
    let lo = |ip: IpAddr| ip.is_loopback();
    flow.facts.loopback_if || (lo(flow.facts.client.ip) && lo(flow.facts.server.ip))
}

fn endpoint(e: Endpoint, names: &Names) -> EndpointDoc {
    EndpointDoc {
        ip: e.ip.to_string(),
        port: e.port,
        name: names.name_of(e.ip).map(str::to_string),
    }
}

impl<'a> Document<'a> {
    /// Builds the report of `analysis` judged by `policy`.
    pub fn build(
        analysis: &'a Analysis,
        policy: &Policy,
        names: &Names,
    ) -> (Document<'a>, Option<PolicyOutcome>) {
        let outcome = policy.evaluate(&analysis.flows);
        let mut by_verdict = ByVerdict::default();
        let flows = analysis
            .flows
            .iter()
            .map(|flow| {
                by_verdict.add(flow.class.verdict);
                let f = &flow.facts;
                let policy_note = outcome.as_ref().and_then(|o| {
                    if o.exempted.binary_search(&flow.id).is_ok() {
                        Some("exempt")
                    } else {
                        Policy::violation(o.require, flow)
                    }
                });
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
                    leg: if is_loopback_leg(flow) {
                        "loopback"
                    } else {
                        "network"
                    },
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
                        close: f.close,
                        gaps: f.gaps,
                        out_of_order: f.out_of_order,
                        retransmitted: f.retransmitted,
                    },
                    verdict: flow.class.verdict,
                    reasons: &flow.class.reasons,
                    policy: policy_note,
                    tls: flow.class.tls.as_deref(),
                    plaintext: flow.class.plaintext.as_deref(),
                }
            })
            .collect();
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
        let summary = SummaryDoc {
            flows: analysis.flows.len() as u64,
            by_verdict,
            policy: outcome.as_ref().map(|o| PolicyDoc {
                require: o.require.name(),
                pass: o.pass,
                violations: o.violations.clone(),
                exempted: o.exempted.clone(),
            }),
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
