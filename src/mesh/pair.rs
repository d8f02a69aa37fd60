//! Pairs the two legs of one meshed request: a loopback flow (application ↔ proxy) and the
//! network flow the proxy opened for it (outbound) or received it on (inbound), close in time.
//!
//! A pair needs both flows to carry payload, to start within [`WINDOW_NANOS`] of each other and
//! to overlap in time, and one of these links, strongest first:
//!
//! - **same server**: both flows go to the same address and port (Istio inbound: the peer's
//!   sidecar reaches `POD_IP:9080`, the local sidecar hands the request to the application at
//!   `POD_IP:9080` from 127.0.0.6);
//! - **same client address**: the pod's own address opened both (Istio outbound: the
//!   application's connection is redirected to the sidecar on loopback and keeps its source);
//! - **proxy port**: the loopback flow goes to a proxy port (15001, 15006, 4140, 4143) and the
//!   network flow is TLS;
//! - **same port**: the loopback flow's server port is the network flow's server port or the
//!   port its Istio SNI names;
//! - **time**: nothing but time, within [`TIME_ONLY_NANOS`].
//!
//! Candidates are taken strongest link first, then smallest delay; each flow pairs at most once.

use serde::Serialize;

use super::leg::{is_loopback, Leg};
use super::profile::ports;
use crate::analyze::FlowFacts;

/// The two legs of a request start at most this far apart.
pub const WINDOW_NANOS: i64 = 1_000_000_000;
/// Without any other link, the two legs must start at most this far apart.
pub const TIME_ONLY_NANOS: i64 = 100_000_000;
/// Tolerance when checking that two flows overlap in time.
const OVERLAP_SLACK_NANOS: i64 = 250_000_000;
/// At most this many network flows are considered for one loopback flow.
const MAX_CANDIDATES: usize = 256;

/// What links two legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// Only the time.
    Time,
    /// The loopback leg's server port is the network leg's (or its SNI's) port.
    SamePort,
    /// The loopback leg goes to a proxy port.
    ProxyPort,
    /// The pod's own address opened both flows.
    SameClientAddress,
    /// Both flows go to the same address and port.
    SameServer,
}

impl Link {
    /// The link in words.
    pub fn text(self) -> &'static str {
        match self {
            Link::Time => "close in time",
            Link::SamePort => "same service port",
            Link::ProxyPort => "loopback leg to a proxy port",
            Link::SameClientAddress => "opened from the same pod address",
            Link::SameServer => "same server address and port",
        }
    }
}

/// One flow's view of its pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// Index of the other flow (in the analysis' flow list; 32 bits keep the mesh view small,
    /// one per flow).
    pub other: u32,
    /// The other flow's start minus this flow's start.
    pub delay_nanos: i64,
    pub link: Link,
}

/// What pairing needs of one flow.
#[derive(Debug, Clone, Copy)]
pub struct PairInput<'a> {
    pub facts: &'a FlowFacts,
    pub leg: Leg,
    /// The port an Istio SNI names.
    pub sni_port: Option<u16>,
    /// The flow is TLS (what a proxy sends on the network leg).
    pub tls: bool,
    /// The flow may be paired at all.
    pub pairable: bool,
}

fn candidate(f: &PairInput<'_>) -> bool {
    f.pairable && f.facts.bytes.iter().any(|&b| b > 0)
}

fn overlaps(a: &FlowFacts, b: &FlowFacts) -> bool {
    a.first_ts <= b.last_ts.saturating_add(OVERLAP_SLACK_NANOS)
        && b.first_ts <= a.last_ts.saturating_add(OVERLAP_SLACK_NANOS)
}

fn link(lo: &PairInput<'_>, net: &PairInput<'_>) -> Link {
    let (l, n) = (lo.facts, net.facts);
    if l.server == n.server {
        Link::SameServer
    } else if l.client.ip == n.client.ip && !is_loopback(l.client.ip) {
        Link::SameClientAddress
    } else if net.tls
        && matches!(
            l.server.port,
            ports::ISTIO_OUTBOUND
                | ports::ISTIO_INBOUND
                | ports::LINKERD_OUTBOUND
                | ports::LINKERD_INBOUND
        )
    {
        Link::ProxyPort
    } else if l.server.port == n.server.port || net.sni_port == Some(l.server.port) {
        Link::SamePort
    } else {
        Link::Time
    }
}

/// Pairs loopback and network legs; the result is parallel to `flows`.
pub fn pair(flows: &[PairInput<'_>]) -> Vec<Option<Pair>> {
    let mut net: Vec<usize> = (0..flows.len())
        .filter(|&i| {
            flows
                .get(i)
                .is_some_and(|f| f.leg == Leg::Network && candidate(f))
        })
        .collect();
    net.sort_by_key(|&i| flows.get(i).map_or(0, |f| f.facts.first_ts));
    let starts: Vec<i64> = net
        .iter()
        .map(|&i| flows.get(i).map_or(0, |f| f.facts.first_ts))
        .collect();
    // (link, |delay|, loopback index, network index)
    let mut candidates: Vec<(Link, i64, usize, usize)> = Vec::new();
    for (li, lo) in flows.iter().enumerate() {
        if lo.leg != Leg::Loopback || !candidate(lo) {
            continue;
        }
        let from = starts.partition_point(|&t| t < lo.facts.first_ts.saturating_sub(WINDOW_NANOS));
        let to = starts.partition_point(|&t| t <= lo.facts.first_ts.saturating_add(WINDOW_NANOS));
        let window = net.get(from..to).unwrap_or(&[]);
        for &ni in window.iter().take(MAX_CANDIDATES) {
            let Some(nf) = flows.get(ni) else { continue };
            if !overlaps(lo.facts, nf.facts) {
                continue;
            }
            let delay = nf
                .facts
                .first_ts
                .saturating_sub(lo.facts.first_ts)
                .saturating_abs();
            let link = link(lo, nf);
            if link == Link::Time && delay > TIME_ONLY_NANOS {
                continue;
            }
            candidates.push((link, delay, li, ni));
        }
    }
    candidates.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let mut out: Vec<Option<Pair>> = vec![None; flows.len()];
    for (link, _, li, ni) in candidates {
        let free = |i: usize, out: &[Option<Pair>]| out.get(i).is_some_and(Option::is_none);
        if !free(li, &out) || !free(ni, &out) {
            continue;
        }
        let (Some(l), Some(n)) = (flows.get(li), flows.get(ni)) else {
            continue;
        };
        let (Ok(l32), Ok(n32)) = (u32::try_from(li), u32::try_from(ni)) else {
            continue;
        };
        let delay = n.facts.first_ts.saturating_sub(l.facts.first_ts);
        if let Some(slot) = out.get_mut(li) {
            *slot = Some(Pair {
                other: n32,
                delay_nanos: delay,
                link,
            });
        }
        if let Some(slot) = out.get_mut(ni) {
            *slot = Some(Pair {
                other: l32,
                delay_nanos: delay.saturating_neg(),
                link,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::leg::leg_of;
    use crate::mesh::leg::tests::facts;

    /// Pairs the flows; those to port 9080 are TLS.
    fn run(list: &[FlowFacts]) -> Vec<Option<(usize, Link, i64)>> {
        let inputs: Vec<PairInput<'_>> = list
            .iter()
            .map(|f| PairInput {
                facts: f,
                leg: leg_of(f).0,
                sni_port: None,
                tls: f.server.port == 9080,
                pairable: true,
            })
            .collect();
        pair(&inputs)
            .into_iter()
            .map(|p| p.map(|p| (p.other as usize, p.link, p.delay_nanos / 1_000_000)))
            .collect()
    }

    #[test]
    fn istio_outbound_and_inbound() {
        let flows = [
            // outbound: app → sidecar (redirected), then sidecar → details
            facts("10.44.0.10:40000", "127.0.0.1:15001", 0, 50),
            facts("10.44.0.10:40002", "10.44.0.20:9080", 3, 40),
            // inbound: gateway → pod, then sidecar → app from 127.0.0.6
            facts("10.44.0.40:50000", "10.44.0.10:9080", 500, 50),
            facts("127.0.0.6:41000", "10.44.0.10:9080", 502, 40),
        ];
        assert_eq!(
            run(&flows),
            vec![
                Some((1, Link::SameClientAddress, 3)),
                Some((0, Link::SameClientAddress, -3)),
                Some((3, Link::SameServer, 2)),
                Some((2, Link::SameServer, -2)),
            ]
        );
    }

    #[test]
    fn stronger_links_win_and_each_flow_pairs_once() {
        let flows = [
            facts("127.0.0.1:40000", "127.0.0.1:15001", 0, 50),
            // closer in time but plaintext: only a time link
            facts("10.0.0.9:1000", "10.0.0.8:5432", 1, 40),
            // farther, TLS: the proxy-port link wins over time
            facts("10.44.0.10:40002", "10.44.0.20:9080", 20, 40),
            // a second loopback flow competing for the same network flows
            facts("127.0.0.1:40001", "127.0.0.1:8080", 2, 50),
        ];
        let got = run(&flows);
        assert_eq!(got[0], Some((2, Link::ProxyPort, 20)));
        assert_eq!(got[3], Some((1, Link::Time, -1)));
    }

    #[test]
    fn no_pair_when_far_apart_empty_or_not_overlapping() {
        let mut empty = facts("10.44.0.10:40002", "10.44.0.20:9080", 3, 40);
        empty.bytes = [0, 0];
        let flows = [
            facts("127.0.0.1:40000", "127.0.0.1:9080", 0, 50),
            empty,
            // same port but 2 s later
            facts("10.44.0.10:40004", "10.44.0.20:9080", 2_000, 40),
            // 150 ms later, time only: too far for a time-only pair
            facts("10.9.9.9:1", "10.9.9.8:2", 150, 40),
        ];
        assert_eq!(run(&flows), vec![None, None, None, None]);
        // ends before the loopback flow starts (beyond the slack)
        let flows = [
            facts("127.0.0.1:40000", "127.0.0.1:15001", 900, 50),
            facts("10.44.0.10:40002", "10.44.0.20:9080", 0, 10),
        ];
        assert_eq!(run(&flows), vec![None, None]);
        assert!(pair(&[]).is_empty());
    }
}
