//! Service-mesh awareness: which leg each flow is on (loopback inside a pod, or network between
//! pods), which mesh the traffic belongs to (Istio sidecars, Istio ambient, Linkerd), what its
//! Istio SNI says, which loopback and network flows carry the same request, and which flows are
//! plaintext by design under a mesh profile.
//!
//! ```no_run
//! use mtlscan::{analyze, AnalysisOptions};
//! use mtlscan::capture::Input;
//! use mtlscan::mesh::{self, MeshRequest};
//!
//! let analysis = analyze(&[Input::Path("sidecar.pcap".into())], &AnalysisOptions::default())?;
//! let meshed = mesh::Meshed::new(analysis, Some(MeshRequest::Auto));
//! for (flow, m) in meshed.analysis.flows.iter().zip(&meshed.view.flows) {
//!     println!("{} {} expected={}", flow.id, m.leg.name(), m.expected.is_some());
//! }
//! # Ok::<(), mtlscan::AnalyzeError>(())
//! ```

pub mod forwarded;
pub mod leg;
pub mod pair;
pub mod profile;
pub mod redirect;
pub mod sni;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub use leg::{Leg, LegWhy};
pub use pair::{Link, Pair};
pub use profile::{Expected, Marker, Profile, Rule};
pub use sni::IstioSni;

use crate::analyze::Analysis;
use crate::model::Verdict;

/// What `--mesh` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshRequest {
    /// This profile, whatever the capture shows.
    Profile(Profile),
    /// The profile the capture's markers point to, if any.
    Auto,
}

impl serde::Serialize for MeshRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl MeshRequest {
    /// `istio`, `linkerd`, `ambient` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            MeshRequest::Profile(p) => p.name(),
            MeshRequest::Auto => "auto",
        }
    }
}

/// The mesh facts of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowMesh {
    pub leg: Leg,
    pub leg_why: LegWhy,
    /// The flow's SNI decoded as Istio's `outbound_.PORT_.SUBSET_.FQDN` (shared between the
    /// flows with the same SNI).
    pub istio_sni: Option<Arc<IstioSni>>,
    /// Signs of a mesh in this flow (shared between the flows that show the same ones).
    pub markers: Arc<[Marker]>,
    /// Plaintext by design under the active profile (`None` without a profile).
    pub expected: Option<Expected>,
    /// The other leg of the same request.
    pub pair: Option<Pair>,
    /// This flow holds the replies of the flow at this index, whose requests iptables
    /// `REDIRECT` sent to a loopback proxy (one connection seen under two address pairs).
    pub reply_half_of: Option<u32>,
    /// The flow at this index holds the replies of this one (see `reply_half_of`).
    pub reply_half: Option<u32>,
}

/// Where a profile was recognised: a marker and the first flow that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    pub what: String,
    pub flow: u64,
    /// Flows that show it.
    pub flows: u64,
}

/// The mesh view of an analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshView {
    pub requested: Option<MeshRequest>,
    /// The profile in force: the one asked for, or the one recognised under `auto`.
    pub profile: Option<Profile>,
    /// The profile the capture's markers point to, whatever was asked.
    pub recognised: Option<Profile>,
    /// The markers of the profile in force (else of the recognised one, else of any mesh),
    /// strongest first.
    pub recognised_by: Vec<Recognition>,
    /// Parallel to `Analysis::flows`.
    pub flows: Vec<FlowMesh>,
}

impl MeshView {
    /// Flows per expectation rule, in rule order.
    pub fn expected_counts(&self) -> BTreeMap<Rule, u64> {
        let mut counts = BTreeMap::new();
        for f in &self.flows {
            if let Some(e) = &f.expected {
                *counts.entry(e.rule).or_insert(0u64) += 1;
            }
        }
        counts
    }

    /// Number of flows on each leg: `(loopback, network)`.
    pub fn leg_counts(&self) -> (u64, u64) {
        let lo = self.flows.iter().filter(|f| f.leg == Leg::Loopback).count() as u64;
        (lo, self.flows.len() as u64 - lo)
    }

    /// Number of requests seen on both legs.
    pub fn pairs(&self) -> u64 {
        self.flows
            .iter()
            .filter(|f| f.leg == Leg::Loopback && f.pair.is_some())
            .count() as u64
    }
}

/// An analysis with its mesh view: what every report is built from.
#[derive(Debug)]
pub struct Meshed {
    pub analysis: Analysis,
    pub view: MeshView,
}

impl Meshed {
    /// The mesh view of `analysis` under the profile `requested` (see [`analyze`]).
    pub fn new(mut analysis: Analysis, requested: Option<MeshRequest>) -> Meshed {
        let view = analyze(&mut analysis, requested);
        Meshed { analysis, view }
    }
}

/// Computes the mesh view of an analysis, and gives each network flow the client identity the
/// server's sidecar forwarded on its paired loopback leg ([`forwarded`]).
fn analyze(analysis: &mut Analysis, requested: Option<MeshRequest>) -> MeshView {
    // A capture's flows name a few services and show a few sets of markers: each is decoded
    // once and shared.
    let mut decoded: HashMap<&str, Option<Arc<IstioSni>>> = HashMap::new();
    let mut marker_sets: HashSet<Arc<[Marker]>> = HashSet::new();
    let mut flows: Vec<FlowMesh> = analysis
        .flows
        .iter()
        .map(|flow| {
            let (leg, leg_why) = leg::leg_of(&flow.facts);
            let istio_sni = flow
                .class
                .tls
                .as_ref()
                .and_then(|t| t.hello.sni.as_deref())
                .and_then(|name| {
                    decoded
                        .entry(name)
                        .or_insert_with(|| sni::decode(name).map(Arc::new))
                        .clone()
                });
            let markers = profile::markers(flow, leg, istio_sni.as_deref());
            let markers = match marker_sets.get(markers.as_slice()) {
                Some(shared) => Arc::clone(shared),
                None => {
                    let shared: Arc<[Marker]> = markers.into();
                    marker_sets.insert(Arc::clone(&shared));
                    shared
                }
            };
            FlowMesh {
                leg,
                leg_why,
                istio_sni,
                markers,
                expected: None,
                pair: None,
                reply_half_of: None,
                reply_half: None,
            }
        })
        .collect();
    let facts: Vec<&crate::analyze::FlowFacts> = analysis.flows.iter().map(|f| &f.facts).collect();
    for (b, a) in redirect::reply_halves(&facts).into_iter().enumerate() {
        let Some(a) = a else { continue };
        let (Ok(a32), Ok(b32)) = (u32::try_from(a), u32::try_from(b)) else {
            continue;
        };
        if let Some(fb) = flows.get_mut(b) {
            fb.reply_half_of = Some(a32);
            if fb.leg == Leg::Network {
                fb.leg = Leg::Loopback;
                fb.leg_why = LegWhy::RedirectReply;
            }
        }
        if let Some(fa) = flows.get_mut(a) {
            fa.reply_half = Some(b32);
        }
    }
    let recognised = profile::recognise(flows.iter().flat_map(|f| f.markers.iter()));
    let profile = match requested {
        Some(MeshRequest::Profile(p)) => Some(p),
        Some(MeshRequest::Auto) => recognised,
        None => None,
    };
    let recognised_by = recognitions(analysis, &flows, profile.or(recognised));
    if let Some(p) = profile {
        for (m, flow) in flows.iter_mut().zip(&analysis.flows) {
            // a flow proven mTLS needs no exemption
            if flow.class.verdict != Verdict::Mtls {
                m.expected = profile::expected(p, flow, m.leg);
            }
        }
    }
    let inputs: Vec<pair::PairInput<'_>> = analysis
        .flows
        .iter()
        .zip(&flows)
        .map(|(flow, m)| pair::PairInput {
            facts: &flow.facts,
            leg: m.leg,
            // the reply half of a redirected connection pairs through its request half
            pairable: m.reply_half_of.is_none(),
            sni_port: m.istio_sni.as_ref().map(|s| s.port),
            tls: flow.class.tls.is_some(),
        })
        .collect();
    let pairs = pair::pair(&inputs);
    for (m, p) in flows.iter_mut().zip(pairs) {
        m.pair = p;
    }
    for i in forwarded::apply(&mut analysis.flows, &flows) {
        // proven mTLS needs no exemption
        if let Some(m) = flows.get_mut(i) {
            m.expected = None;
        }
    }
    MeshView {
        requested,
        profile,
        recognised,
        recognised_by,
        flows,
    }
}

/// Up to five markers of `profile` (of any profile without one), strongest and most frequent
/// first, each with the first flow that shows it.
fn recognitions(
    analysis: &Analysis,
    flows: &[FlowMesh],
    profile: Option<Profile>,
) -> Vec<Recognition> {
    // key: marker text → (weight, first flow id, count)
    let mut seen: BTreeMap<&str, (u32, u64, u64)> = BTreeMap::new();
    for (m, flow) in flows.iter().zip(&analysis.flows) {
        for marker in m.markers.iter() {
            if profile.is_some_and(|p| p != marker.profile) {
                continue;
            }
            let e = seen
                .entry(marker.what.as_str())
                .or_insert((marker.weight, flow.id, 0));
            e.2 += 1;
        }
    }
    let mut list: Vec<(&str, (u32, u64, u64))> = seen.into_iter().collect();
    list.sort_by(|a, b| {
        (b.1 .0, b.1 .2)
            .cmp(&(a.1 .0, a.1 .2))
            .then(a.1 .1.cmp(&b.1 .1))
    });
    list.into_iter()
        .take(5)
        .map(|(what, (_, flow, flows))| Recognition {
            what: what.to_string(),
            flow,
            flows,
        })
        .collect()
}
