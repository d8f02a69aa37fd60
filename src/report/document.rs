//! The serialized report: schema version 1 of the product contract, shared by every format. The
//! captures and the summary are computed once from an [`Analysis`] and its [`MeshView`]; the
//! entry of each flow ([`FlowDoc`]) is built only when a writer renders it, so the report never
//! holds one per flow.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

use super::pods::{self, PodPairDoc};
use super::policy::{MarkKind, Policy, PolicyMark, PolicyOutcome, Requirement, UNPROVEN_ADVICE};
use super::shared_certs::SharedCerts;
use super::time::Rfc3339Micros;
use crate::analyze::{Analysis, Close, FlowResult, TcpOddities};
use crate::decode::Endpoint;
use crate::flow::ClientBy;
use crate::mesh::{IstioSni, Leg, Marker, MeshRequest, MeshView, Meshed, Pair, Profile, Rule};
use crate::model::{
    Ambiguity, EncryptionSummary, PlaintextSummary, ReasonCodes, Reasons, TlsSummary, Transport,
    Verdict, SCHEMA_VERSION,
};
use crate::names::{NameKind, Names};

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CaptureDoc {
    pub path: String,
    /// `None` under `--no-hash`.
    pub sha256: Option<String>,
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
    /// IP datagrams made whole from their fragments (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_reassembly: Option<IpReassemblyDoc>,
}

/// IP datagrams made whole from fragments: the TCP segments they held went to their flows, at
/// the frame of the fragment that completed each.
#[derive(Debug, Serialize)]
pub struct IpReassemblyDoc {
    pub datagrams: u64,
    pub fragments: u64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ByVerdict {
    pub mtls: u64,
    pub tls: u64,
    pub encrypted: u64,
    pub plaintext: u64,
    pub opaque: u64,
    pub empty: u64,
}

impl ByVerdict {
    pub(crate) fn add(&mut self, verdict: Verdict) {
        let slot = match verdict {
            Verdict::Mtls => &mut self.mtls,
            Verdict::Tls => &mut self.tls,
            Verdict::Encrypted => &mut self.encrypted,
            Verdict::Plaintext => &mut self.plaintext,
            Verdict::Opaque => &mut self.opaque,
            Verdict::Empty => &mut self.empty,
        };
        *slot += 1;
    }

    /// Adds `other`'s counts.
    pub(crate) fn merge(&mut self, other: &ByVerdict) {
        self.mtls += other.mtls;
        self.tls += other.tls;
        self.encrypted += other.encrypted;
        self.plaintext += other.plaintext;
        self.opaque += other.opaque;
        self.empty += other.empty;
    }

    /// `(verdict name, count)` in the contract's order.
    pub fn entries(&self) -> [(&'static str, u64); 6] {
        [
            ("mtls", self.mtls),
            ("tls", self.tls),
            ("encrypted", self.encrypted),
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
    pub require: Requirement,
    pub pass: bool,
    /// Flows proven not to meet the requirement.
    pub violations: Vec<u64>,
    /// Flows whose compliance the capture cannot prove (`--require mtls`: client certificate
    /// unknown); they fail the gate too.
    pub unproven: Vec<u64>,
    /// How to get proof for the unproven flows (`null` when there are none).
    pub advice: Option<&'static str>,
    pub exempted: Vec<u64>,
    /// The exempted flows, by what exempted them.
    pub exemptions: Vec<ExemptionDoc>,
    /// How many flows of each list, when the lists hold only their first ids (a live run keeps
    /// [`PolicyTotals::KEPT`] of each); absent when the lists are whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<PolicyTotals>,
    /// Flows with payload that the requirement counts and that meet it.
    #[serde(skip)]
    pub met: u64,
}

/// The sizes of a policy's lists, when they were cut.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PolicyTotals {
    pub violations: u64,
    pub unproven: u64,
    pub exempted: u64,
}

impl PolicyTotals {
    /// Ids a live run keeps in each list.
    pub const KEPT: usize = 100_000;
}

impl PolicyDoc {
    /// Flows that violate the requirement.
    pub fn violation_count(&self) -> u64 {
        self.totals
            .map_or(self.violations.len() as u64, |t| t.violations)
    }

    /// Flows unproven under it.
    pub fn unproven_count(&self) -> u64 {
        self.totals
            .map_or(self.unproven.len() as u64, |t| t.unproven)
    }
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
    pub rule: Rule,
    pub description: &'static str,
    pub flows: u64,
}

/// The mesh profile in force and what it covered.
#[derive(Debug, Serialize)]
pub struct MeshSummaryDoc {
    /// What `--mesh` asked for (`null` without the option).
    pub requested: Option<MeshRequest>,
    /// The profile in force.
    pub profile: Option<Profile>,
    /// The profile the capture's markers point to.
    pub recognised: Option<Profile>,
    pub recognised_by: Vec<RecognitionDoc>,
    /// Flows marked `expected` by each rule of the profile.
    pub expected: Vec<ExpectedCountDoc>,
}

#[derive(Debug, Serialize)]
pub struct SummaryDoc {
    /// Every flow, listed or not.
    pub flows: u64,
    pub by_verdict: ByVerdict,
    /// Flows without payload counted here and in `by_verdict.empty` but not listed in `flows`
    /// (past `--max-empty-flows`).
    #[serde(skip_serializing_if = "is_zero")]
    pub unlisted_empty: u64,
    pub policy: Option<PolicyDoc>,
    pub legs: LegsDoc,
    pub mesh: MeshSummaryDoc,
    /// Flows grouped by client and server pod (only when `--pods`/`--services` named some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_pairs: Option<Vec<PodPairDoc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointDoc<'a> {
    /// Written as its text (serde writes it from a buffer on the stack).
    pub ip: IpAddr,
    pub port: u16,
    /// `namespace/name` of the pod or service at this address.
    pub name: Option<&'a str>,
    /// `pod` or `service`.
    pub kind: Option<&'static str>,
    /// The services that select this pod.
    pub services: &'a [String],
}

#[derive(Debug, Clone, Serialize)]
pub struct PerSide {
    pub client: u64,
    pub server: u64,
}

impl PerSide {
    /// From `[client, server]`.
    pub fn of([client, server]: [u64; 2]) -> PerSide {
        PerSide { client, server }
    }
}

#[derive(Debug, Clone)]
pub struct TcpDoc<'a> {
    pub syn_seen: bool,
    pub close: Close,
    pub gaps: u32,
    pub out_of_order: u32,
    pub retransmitted: u32,
    /// What a receiver would not have taken as captured, when anything.
    pub odd: Option<&'a TcpOddities>,
    /// The flow (id) after whose end this flow's bytes came on the same addresses and ports.
    pub reopens: Option<u64>,
}

impl Serialize for TcpDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("TcpDoc", 13)?;
        s.serialize_field("syn_seen", &self.syn_seen)?;
        s.serialize_field("close", &self.close)?;
        s.serialize_field("gaps", &self.gaps)?;
        s.serialize_field("out_of_order", &self.out_of_order)?;
        s.serialize_field("retransmitted", &self.retransmitted)?;
        let Some(odd) = self.odd else {
            return s.end();
        };
        let counts = [
            ("ignored_rst", odd.ignored_rst),
            ("ignored_fin", odd.ignored_fin),
            ("overlap_conflicts", odd.overlap_conflicts),
            ("bad_checksums", odd.bad_checksums),
            ("odd_ttl", odd.odd_ttl),
        ];
        for (name, n) in counts {
            if n > 0 {
                s.serialize_field(name, &n)?;
            }
        }
        if odd.bad_checksums > 0 {
            s.serialize_field("checksums_checked", &odd.checksums_checked)?;
            s.serialize_field("checksum_offload", &odd.checksum_offload)?;
        }
        if let (Some(flow), Some(r)) = (self.reopens, odd.reopens) {
            s.serialize_field(
                "reopens",
                &ReopensDoc {
                    flow,
                    rst_frame: r.rst_frame,
                },
            )?;
        }
        s.end()
    }
}

/// The earlier flow this one's bytes came after.
#[derive(Debug, Serialize)]
struct ReopensDoc {
    flow: u64,
    /// The RST that ended it (`null`: FINs both ways).
    rst_frame: Option<u64>,
}

/// The mesh markers of a flow, each written as `profile: what` without building its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkersDoc<'a>(pub &'a [Marker]);

impl Serialize for MarkersDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(MarkerText))
    }
}

/// One marker as `istio: ALPN istio-peer-exchange`.
struct MarkerText<'a>(&'a Marker);

impl fmt::Display for MarkerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.profile.name())?;
        f.write_str(": ")?;
        f.write_str(&self.0.what)
    }
}

impl Serialize for MarkerText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The mesh facts of a flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowMeshDoc<'a> {
    /// Signs of a mesh: `istio: ALPN istio-peer-exchange`.
    pub markers: MarkersDoc<'a>,
    /// The SNI decoded as Istio's `outbound_.PORT_.SUBSET_.FQDN`.
    pub istio_sni: Option<&'a IstioSni>,
    /// On the loopback leg: the pod it runs in, when known.
    pub pod: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowDoc<'a> {
    pub id: u64,
    /// Index into `captures`.
    pub capture: usize,
    pub client: EndpointDoc<'a>,
    pub server: EndpointDoc<'a>,
    /// How the client was told from the server: `syn`, `bytes` or `port`.
    pub client_by: ClientBy,
    /// `loopback` (inside a pod: application and sidecar) or `network` (between pods).
    pub leg: Leg,
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
    pub original_destination: Option<EndpointDoc<'a>>,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_seen: Rfc3339Micros,
    pub last_seen: Rfc3339Micros,
    pub packets: PerSide,
    pub bytes: PerSide,
    /// `tcp` or `udp`.
    pub transport: Transport,
    /// The TCP facts; `None` for UDP.
    pub tcp: Option<TcpDoc<'a>>,
    pub verdict: Verdict,
    /// Two readings of overlapping bytes give different verdicts (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambiguity: Option<&'a Ambiguity>,
    pub reasons: &'a Reasons,
    /// The code of each reason, in order (docs/reason-codes.md).
    pub reason_codes: ReasonCodes<'a>,
    /// Plaintext by design under the mesh profile (`--mesh`).
    pub expected: bool,
    /// The profile rule that expects it: `loopback-leg`, `health-check`, `metrics`, ...
    pub expected_rule: Option<Rule>,
    pub expected_reason: Option<&'static str>,
    /// Why the flow violates `--require` or is unproven under it, `exempt` when an exemption
    /// took it out.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "mark_text")]
    pub policy: Option<PolicyMark>,
    /// `violation`, `unproven` or `exempt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_mark: Option<MarkKind>,
    /// What exempted the flow: `istio loopback-leg` or `--allow port=15021`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_by: Option<String>,
    pub tls: Option<TlsDoc<'a>>,
    pub plaintext: Option<&'a PlaintextSummary>,
    /// The protocol other than TLS that encrypts the flow (verdict `encrypted`), else null.
    pub encryption: Option<&'a EncryptionSummary>,
    pub mesh: FlowMeshDoc<'a>,
    /// Last packet time minus first packet time.
    #[serde(skip)]
    pub duration_nanos: i64,
}

impl<'a> FlowDoc<'a> {
    /// The flow is on the loopback leg.
    pub fn is_loopback(&self) -> bool {
        self.leg == Leg::Loopback
    }

    /// The same entry, its certificates written from the renderings in `certs` (a copy only
    /// when it has certificates to write).
    pub(super) fn sharing_certs<'b>(&'b self, certs: &'b SharedCerts) -> Cow<'b, FlowDoc<'b>>
    where
        'a: 'b,
    {
        if self.tls.is_none() {
            return Cow::Borrowed(self);
        }
        let mut doc: FlowDoc<'b> = self.clone();
        doc.tls = doc.tls.map(|tls| TlsDoc {
            certs: Some(certs),
            ..tls
        });
        Cow::Owned(doc)
    }
}

/// A policy mark as the words of the `policy` field.
fn mark_text<S: Serializer>(mark: &Option<PolicyMark>, serializer: S) -> Result<S::Ok, S::Error> {
    match mark {
        Some(m) => serializer.serialize_str(m.text()),
        None => serializer.serialize_none(),
    }
}

/// A flow's TLS facts in its report entry.
#[derive(Debug, Clone, Copy)]
pub struct TlsDoc<'a> {
    pub summary: &'a TlsSummary,
    /// Renderings of the certificates that other flows present too, when the renderer keeps
    /// them.
    certs: Option<&'a SharedCerts>,
}

impl<'a> TlsDoc<'a> {
    fn new(summary: &'a TlsSummary) -> TlsDoc<'a> {
        TlsDoc {
            summary,
            certs: None,
        }
    }
}

impl Serialize for TlsDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.certs {
            Some(certs) => self.summary.serialize_using(serializer, certs),
            None => self.summary.serialize(serializer),
        }
    }
}

/// The facts of a flow that counting and grouping need, read straight from the analysis and its
/// mesh view: no text is formatted and nothing is allocated.
#[derive(Debug, Clone, Copy)]
pub struct FlowBrief<'a> {
    /// Index of the flow in the analysis (and in the report's `flows`).
    pub index: usize,
    pub id: u64,
    /// Index into `captures`.
    pub capture: usize,
    pub transport: Transport,
    pub client: Endpoint,
    pub server: Endpoint,
    pub leg: Leg,
    pub verdict: Verdict,
    /// Plaintext by design under the mesh profile.
    pub expected: bool,
    /// As [`FlowDoc::policy`]: how the flow falls short of `--require`, or that it is exempt.
    pub policy: Option<PolicyMark>,
    /// The flow has a partner on the other leg ([`FlowDoc::paired_with`] is set).
    pub paired: bool,
    pub tls: Option<&'a TlsSummary>,
    pub istio_sni: Option<&'a IstioSni>,
}

impl FlowBrief<'_> {
    /// The flow violates `--require` (and no exemption took it out).
    pub fn violates(&self) -> bool {
        matches!(self.policy, Some(PolicyMark::Violation(_)))
    }

    /// The flow is unproven under `--require` (and no exemption took it out).
    pub fn unproven(&self) -> bool {
        matches!(self.policy, Some(PolicyMark::Unproven(_)))
    }

    /// The flow fails `--require`: violated or unproven, not exempted.
    pub fn fails(&self) -> bool {
        self.policy.is_some_and(PolicyMark::fails)
    }
}

/// The whole report: the captures and the summary, computed once, and the flows, whose
/// [`FlowDoc`]s are built on demand from the analysis ([`Document::flow_doc`],
/// [`Document::flow_docs`]) so that a report never holds one per flow. Serializing the document
/// writes schema version 1 of the contract, flows included.
#[derive(Debug)]
pub struct Document<'a> {
    pub schema_version: u32,
    pub tool: Tool,
    pub captures: Vec<CaptureDoc>,
    pub summary: SummaryDoc,
    analysis: &'a Analysis,
    mesh: &'a MeshView,
    policy: &'a Policy,
    names: &'a Names,
    /// The one pod that takes part in every named network flow: the pod the capture was taken in.
    captured_pod: Option<&'a str>,
    /// Some flow has an end named by `--pods`/`--services`.
    any_named: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The flows of a document as a JSON array, built one at a time.
struct FlowsSeq<'d, 'a>(&'d Document<'a>);

impl Serialize for FlowsSeq<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.flow_docs())
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut doc = serializer.serialize_struct("Document", 5)?;
        doc.serialize_field("schema_version", &self.schema_version)?;
        doc.serialize_field("tool", &self.tool)?;
        doc.serialize_field("captures", &self.captures)?;
        doc.serialize_field("summary", &self.summary)?;
        doc.serialize_field("flows", &FlowsSeq(self))?;
        doc.end()
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

fn capture_doc(c: &crate::analyze::CaptureReport) -> CaptureDoc {
    CaptureDoc {
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
        ip_reassembly: (c.fragments.reassembled > 0).then_some(IpReassemblyDoc {
            datagrams: c.fragments.reassembled,
            fragments: c.fragments.reassembled_fragments,
        }),
    }
}

fn policy_doc(o: PolicyOutcome) -> PolicyDoc {
    PolicyDoc {
        require: o.require,
        pass: o.pass,
        violations: o.violations,
        advice: (!o.unproven.is_empty()).then_some(UNPROVEN_ADVICE),
        unproven: o.unproven,
        exempted: o.exempted,
        exemptions: o
            .waivers
            .into_iter()
            .map(|w| ExemptionDoc {
                by: w.by,
                count: w.flows.len() as u64,
                flows: w.flows,
            })
            .collect(),
        totals: None,
        met: 0,
    }
}

fn mesh_summary(mesh: &MeshView) -> MeshSummaryDoc {
    MeshSummaryDoc {
        requested: mesh.requested,
        profile: mesh.profile,
        recognised: mesh.recognised,
        recognised_by: mesh
            .recognised_by
            .iter()
            .map(|r| RecognitionDoc {
                what: r.what.to_string(),
                flow: r.flow,
                flows: r.flows,
            })
            .collect(),
        expected: mesh
            .expected_counts()
            .into_iter()
            .map(|(rule, flows)| ExpectedCountDoc {
                rule,
                description: rule.summary(),
                flows,
            })
            .collect(),
    }
}

impl<'a> Document<'a> {
    /// Builds the report of an analysis with its mesh view, judged by `policy`: the captures
    /// and the summary (verdicts, legs, mesh, policy outcome, pod pairs). The flows stay in the
    /// analysis until a [`FlowDoc`] is asked for.
    pub fn build(meshed: &'a Meshed, policy: &'a Policy, names: &'a Names) -> Document<'a> {
        let Meshed {
            analysis,
            view: mesh,
        } = meshed;
        let outcome = policy.evaluate(&analysis.flows, mesh);
        let mut by_verdict = ByVerdict::default();
        for flow in &analysis.flows {
            by_verdict.add(flow.class.verdict);
        }
        let (loopback, network) = mesh.leg_counts();
        let unlisted_empty: u64 = analysis.captures.iter().map(|c| c.unlisted_empty).sum();
        by_verdict.empty += unlisted_empty;
        let mut doc = Document {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            captures: analysis.captures.iter().map(capture_doc).collect(),
            summary: SummaryDoc {
                flows: analysis.flows.len() as u64 + unlisted_empty,
                by_verdict,
                unlisted_empty,
                policy: outcome.map(policy_doc),
                legs: LegsDoc {
                    loopback,
                    network,
                    paired: mesh.pairs(),
                },
                mesh: mesh_summary(mesh),
                pod_pairs: None,
            },
            analysis,
            mesh,
            policy,
            names,
            captured_pod: None,
            any_named: false,
        };
        doc.captured_pod = doc.find_captured_pod();
        let met = doc
            .briefs()
            .filter(|b| b.verdict != Verdict::Empty && b.policy.is_none() && !b.expected)
            .count() as u64;
        if let Some(p) = doc.summary.policy.as_mut() {
            p.met = met;
        }
        let any_named = doc
            .briefs()
            .any(|b| names.lookup(b.client.ip).is_some() || names.lookup(b.server.ip).is_some());
        doc.any_named = any_named;
        if any_named {
            doc.summary.pod_pairs = Some(pods::group(&doc));
        }
        doc
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.analysis.flows.len()
    }

    /// The report has no flow.
    pub fn is_empty(&self) -> bool {
        self.analysis.flows.is_empty()
    }

    /// The policy holds: no `--require`, or no flow violates it.
    pub fn pass(&self) -> bool {
        self.summary.policy.as_ref().is_none_or(|p| p.pass)
    }

    /// Some flow has an end named by `--pods`/`--services`.
    pub fn any_named(&self) -> bool {
        self.any_named
    }

    /// The brief of the flow at `index`.
    pub fn brief(&self, index: usize) -> Option<FlowBrief<'a>> {
        self.analysis
            .flows
            .get(index)
            .map(|flow| self.brief_of(index, flow))
    }

    /// The briefs of all flows, in order.
    pub fn briefs(&self) -> impl ExactSizeIterator<Item = FlowBrief<'a>> + '_ {
        self.analysis
            .flows
            .iter()
            .enumerate()
            .map(|(i, flow)| self.brief_of(i, flow))
    }

    /// The report entry of the flow at `index`, built now.
    pub fn flow_doc(&self, index: usize) -> Option<FlowDoc<'a>> {
        let flow = self.analysis.flows.get(index)?;
        Some(self.doc_of(&self.brief_of(index, flow), flow))
    }

    /// The report entries of all flows, in order, each built when the iterator reaches it.
    pub fn flow_docs(&self) -> impl ExactSizeIterator<Item = FlowDoc<'a>> + '_ {
        self.analysis
            .flows
            .iter()
            .enumerate()
            .map(|(i, flow)| self.doc_of(&self.brief_of(i, flow), flow))
    }

    /// The id of the flow of capture `capture` that began at `first_frame`.
    fn id_of(&self, capture: usize, first_frame: u64) -> Option<u64> {
        let flows = &self.analysis.flows;
        let i = flows
            .binary_search_by_key(&(capture, first_frame), |f| {
                (f.capture, f.facts.first_frame)
            })
            .ok()?;
        flows.get(i).map(|f| f.id)
    }

    /// An address and port with what `--pods`/`--services` call it.
    pub fn endpoint(&self, e: Endpoint) -> EndpointDoc<'a> {
        let entry = self.names.lookup(e.ip);
        EndpointDoc {
            ip: e.ip,
            port: e.port,
            name: entry.map(|n| n.name.as_str()),
            kind: entry.map(|n| n.kind.name()),
            services: entry.map_or(&[], |n| n.services.as_slice()),
        }
    }

    /// The pod a loopback flow runs in: a pod named at one of its ends (the server first:
    /// Istio's inbound leg goes from 127.0.0.6 to the pod's address), else the pod at the local
    /// end of its paired network flow, else the pod the capture was taken in. `None` for a
    /// network flow.
    pub fn loopback_pod(&self, flow: &FlowBrief<'_>) -> Option<&'a str> {
        if flow.leg != Leg::Loopback {
            return None;
        }
        let from_pair = || {
            let pair = self.mesh.flows.get(flow.index)?.pair?;
            let other = self.analysis.flows.get(pair.other as usize)?;
            // outbound: the application spoke first, the proxy then opened the network leg from
            // this pod; inbound: the network leg came first, to this pod.
            let local = if pair.delay_nanos >= 0 {
                other.facts.client
            } else {
                other.facts.server
            };
            self.pod_at(local)
        };
        self.pod_at(flow.server)
            .or_else(|| self.pod_at(flow.client))
            .or_else(from_pair)
            .or(self.captured_pod)
    }

    /// The pod named at an address.
    fn pod_at(&self, e: Endpoint) -> Option<&'a str> {
        self.names
            .lookup(e.ip)
            .filter(|n| n.kind == NameKind::Pod)
            .map(|n| n.name.as_str())
    }

    /// The one pod that takes part in every named network flow.
    fn find_captured_pod(&self) -> Option<&'a str> {
        let mut common: Option<Vec<&'a str>> = None;
        for b in self.briefs().filter(|b| b.leg != Leg::Loopback) {
            let here: Vec<&'a str> = [b.client, b.server]
                .into_iter()
                .filter_map(|e| self.pod_at(e))
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
            [one] => Some(*one),
            [one, two] if one == two => Some(*one),
            _ => None,
        }
    }

    /// How a flow falls short of the requirement, or that an exemption took it out.
    fn policy_note(&self, flow: &FlowResult) -> Option<PolicyMark> {
        let outcome = self.summary.policy.as_ref()?;
        let require = self.policy.require?;
        if outcome.exempted.binary_search(&flow.id).is_ok() {
            Some(PolicyMark::Exempt)
        } else {
            Policy::shortfall(require, flow).map(PolicyMark::from)
        }
    }

    fn brief_of(&self, index: usize, flow: &'a FlowResult) -> FlowBrief<'a> {
        let m = self.mesh.flows.get(index);
        FlowBrief {
            index,
            id: flow.id,
            capture: flow.capture,
            transport: flow.facts.transport,
            client: flow.facts.client,
            server: flow.facts.server,
            leg: m.map_or(Leg::Network, |m| m.leg),
            verdict: flow.class.verdict,
            expected: m.is_some_and(|m| m.expected.is_some()),
            policy: self.policy_note(flow),
            paired: m
                .and_then(|m| m.pair)
                .is_some_and(|p| (p.other as usize) < self.analysis.flows.len()),
            tls: flow.class.tls.as_deref(),
            istio_sni: m.and_then(|m| m.istio_sni.as_deref()),
        }
    }

    /// The report entry of `flow`, whose brief is `b`.
    fn doc_of(&self, b: &FlowBrief<'a>, flow: &'a FlowResult) -> FlowDoc<'a> {
        let flows = &self.analysis.flows;
        let m = self.mesh.flows.get(b.index);
        let f = &flow.facts;
        let pair = m.and_then(|m| m.pair);
        let other = pair.and_then(|p| flows.get(p.other as usize));
        let expected = m.and_then(|m| m.expected.as_ref());
        let id_at = |i: Option<u32>| i.and_then(|i| flows.get(i as usize)).map(|f| f.id);
        let reply_half = m.and_then(|m| m.reply_half);
        FlowDoc {
            id: flow.id,
            capture: flow.capture,
            client: self.endpoint(f.client),
            server: self.endpoint(f.server),
            client_by: f.client_by,
            leg: b.leg,
            leg_reason: m.map(|m| m.leg_why.text()).unwrap_or_default(),
            paired_with: other.map(|o| o.id),
            pairing: match (pair, other) {
                (Some(p), Some(o)) => Some(pairing_text(o, b.leg == Leg::Loopback, &p)),
                _ => None,
            },
            reply_half_of: id_at(m.and_then(|m| m.reply_half_of)),
            reply_half: id_at(reply_half),
            original_destination: reply_half
                .and_then(|i| flows.get(i as usize))
                .map(|r| self.endpoint(r.facts.server)),
            first_frame: f.first_frame,
            last_frame: f.last_frame,
            first_seen: Rfc3339Micros(f.first_ts),
            last_seen: Rfc3339Micros(f.last_ts),
            packets: PerSide::of(f.packets),
            bytes: PerSide::of(f.bytes),
            transport: f.transport,
            tcp: (f.transport == Transport::Tcp).then(|| TcpDoc {
                syn_seen: f.syn_seen,
                close: f.close,
                gaps: f.gaps,
                out_of_order: f.out_of_order,
                retransmitted: f.retransmitted,
                odd: f.odd.as_deref(),
                reopens: f
                    .odd
                    .as_ref()
                    .and_then(|o| o.reopens)
                    .and_then(|r| self.id_of(flow.capture, r.after)),
            }),
            verdict: flow.class.verdict,
            ambiguity: flow.class.ambiguity.as_deref(),
            reasons: &flow.class.reasons,
            reason_codes: ReasonCodes(&flow.class.reasons),
            expected: expected.is_some(),
            expected_rule: expected.map(|e| e.rule),
            expected_reason: expected.map(|e| e.reason),
            policy: b.policy,
            policy_mark: b.policy.map(PolicyMark::kind),
            exempt_by: (b.policy == Some(PolicyMark::Exempt))
                .then(|| self.policy.exemption(flow, m))
                .flatten(),
            tls: b.tls.map(TlsDoc::new),
            plaintext: flow.class.plaintext.as_deref(),
            encryption: flow.class.encryption.as_deref(),
            mesh: FlowMeshDoc {
                markers: MarkersDoc(m.map_or(&[], |m| &m.markers[..])),
                istio_sni: b.istio_sni,
                pod: self.loopback_pod(b),
            },
            duration_nanos: f.last_ts.saturating_sub(f.first_ts),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capture::Input;
    use crate::mesh::MeshRequest;
    use crate::report::Requirement;
    use crate::{analyze, AnalysisOptions};

    const PRODUCTPAGE: &str = "bookinfo/productpage-v1-7f9d5b8c6d-x2k4p";

    fn sample(name: &str) -> Analysis {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name);
        analyze(&[Input::Path(path)], &AnalysisOptions::default()).expect("sample analyses")
    }

    fn pods() -> Names {
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        Names::from_files(
            Some(&samples.join("pods.json")),
            Some(&samples.join("services.json")),
        )
        .expect("sample names read")
    }

    #[test]
    fn flows_are_built_on_demand_and_serialized_in_order() {
        let mesh = Meshed::new(sample("mesh-istio-leak.pcap"), Some(MeshRequest::Auto));
        let names = pods();
        let policy = Policy {
            require: Some(Requirement::Mtls),
            allow: Vec::new(),
        };
        let doc = Document::build(&mesh, &policy, &names);
        assert_eq!(doc.len(), 8);
        assert!(!doc.pass());
        assert!(doc.any_named());
        assert!(doc.flow_doc(8).is_none());
        assert!(doc.brief(8).is_none());

        let whole = serde_json::to_value(&doc).expect("document serializes");
        let one_by_one: Vec<serde_json::Value> = (0..doc.len())
            .filter_map(|i| doc.flow_doc(i))
            .map(|f| serde_json::to_value(&f).expect("flow serializes"))
            .collect();
        assert_eq!(whole["flows"], serde_json::Value::Array(one_by_one));
        assert_eq!(whole["summary"]["flows"], 8);

        let violating: Vec<u64> = doc
            .briefs()
            .filter(|b| b.violates())
            .map(|b| b.id)
            .collect();
        assert_eq!(violating, [8]);
        let pods: Vec<(u64, Option<&str>)> =
            doc.briefs().map(|b| (b.id, doc.loopback_pod(&b))).collect();
        assert_eq!(
            pods,
            [
                (1, None),
                (2, Some(PRODUCTPAGE)),
                (3, Some(PRODUCTPAGE)),
                (4, None),
                (5, None),
                (6, Some(PRODUCTPAGE)),
                (7, None),
                (8, None),
            ]
        );
        let exempt = doc.flow_doc(1).expect("flow 2");
        assert_eq!(exempt.policy, Some(PolicyMark::Exempt));
        assert_eq!(exempt.exempt_by.as_deref(), Some("istio loopback-leg"));
        assert_eq!(exempt.mesh.pod, Some(PRODUCTPAGE));
        assert_eq!(exempt.paired_with, Some(4));
    }

    #[test]
    fn addresses_and_markers_serialize_as_their_text() {
        for ip in [
            "10.244.14.175",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1:2ff:fe03:405",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert_eq!(
                serde_json::to_string(&ip).unwrap(),
                serde_json::to_string(&ip.to_string()).unwrap()
            );
        }
        let markers = [
            Marker {
                profile: crate::mesh::Profile::Istio,
                what: "ALPN istio-peer-exchange".to_string(),
                weight: 3,
            },
            Marker {
                profile: crate::mesh::Profile::Linkerd,
                what: "SNI \"x\\y\"\u{1} é".to_string(),
                weight: 1,
            },
        ];
        let texts: Vec<String> = markers
            .iter()
            .map(|k| format!("{}: {}", k.profile.name(), k.what))
            .collect();
        assert_eq!(
            serde_json::to_string(&MarkersDoc(&markers)).unwrap(),
            serde_json::to_string(&texts).unwrap()
        );
        assert_eq!(serde_json::to_string(&MarkersDoc(&[])).unwrap(), "[]");
    }

    #[test]
    fn without_names_no_pod_is_attributed() {
        let mesh = Meshed::new(sample("mesh-istio.pcap"), None);
        let (policy, names) = (Policy::default(), Names::default());
        let doc = Document::build(&mesh, &policy, &names);
        assert!(doc.pass());
        assert!(!doc.any_named());
        assert!(doc.summary.pod_pairs.is_none());
        assert!(doc
            .flow_docs()
            .all(|f| f.mesh.pod.is_none() && f.policy.is_none()));
        assert_eq!(doc.flow_docs().len(), doc.len());
    }
}
