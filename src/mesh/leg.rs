//! Which leg of a meshed request a flow is on: the **loopback** leg inside a pod (application ↔
//! sidecar, never on the wire) or the **network** leg between pods or hosts.
//!
//! A flow is on the loopback leg when the capture's link header says a packet was captured on a
//! loopback interface (Linux cooked capture, `ARPHRD_LOOPBACK` = 772), or when an end is a
//! loopback address (127.0.0.0/8, `::1`; 127.0.0.6 is the source Istio's sidecar uses to hand
//! inbound requests to the application). Loopback addresses cannot leave a host, so one loopback
//! end is enough.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::analyze::FlowFacts;

/// Istio's inbound passthrough source address.
pub const ISTIO_INBOUND_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 6));

/// The leg of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    /// Inside one pod or host: application ↔ sidecar over the loopback interface.
    Loopback,
    /// Between pods or hosts: on the wire.
    Network,
}

impl std::fmt::Display for Leg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl Leg {
    /// `loopback` or `network`.
    pub fn name(self) -> &'static str {
        match self {
            Leg::Loopback => "loopback",
            Leg::Network => "network",
        }
    }
}

/// Why a flow is on its leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegWhy {
    /// An end is 127.0.0.6.
    IstioInbound,
    /// The link header marks the interface as a loopback.
    LoopbackInterface,
    /// Both ends are loopback addresses.
    LoopbackAddresses,
    /// One end is a loopback address.
    OneLoopbackEnd(IpAddr),
    /// The replies of a connection that iptables `REDIRECT` sent to a loopback proxy.
    RedirectReply,
    /// No sign of loopback.
    Network,
}

impl LegWhy {
    /// The reason in words, for the report.
    pub fn text(self) -> Cow<'static, str> {
        match self {
            LegWhy::IstioInbound => "127.0.0.6 is the source address Istio's sidecar uses to \
                hand inbound requests to the application: inside the pod"
                .into(),
            LegWhy::LoopbackInterface => "captured on a loopback interface (the Linux cooked \
                capture header says ARPHRD_LOOPBACK, 772): inside the pod or host"
                .into(),
            LegWhy::LoopbackAddresses => "both ends are loopback addresses (127.0.0.0/8, ::1): \
                the traffic never left the pod or host"
                .into(),
            LegWhy::OneLoopbackEnd(ip) => {
                format!("{ip} is a loopback address: the traffic never left the pod or host").into()
            }
            LegWhy::RedirectReply => "the replies of a connection that iptables REDIRECT sent \
                to a proxy on the loopback interface (they carry the original destination): \
                inside the pod"
                .into(),
            LegWhy::Network => "neither end is a loopback address and no packet was captured \
                on a loopback interface: on the wire between pods or hosts"
                .into(),
        }
    }
}

/// A loopback address (IPv4-mapped IPv6 included).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The leg of a flow, and why.
pub fn leg_of(facts: &FlowFacts) -> (Leg, LegWhy) {
    let (c, s) = (
        facts.client.ip.to_canonical(),
        facts.server.ip.to_canonical(),
    );
    let why = if c == ISTIO_INBOUND_SOURCE || s == ISTIO_INBOUND_SOURCE {
        LegWhy::IstioInbound
    } else if facts.loopback_if {
        LegWhy::LoopbackInterface
    } else if is_loopback(c) && is_loopback(s) {
        LegWhy::LoopbackAddresses
    } else if is_loopback(c) {
        LegWhy::OneLoopbackEnd(c)
    } else if is_loopback(s) {
        LegWhy::OneLoopbackEnd(s)
    } else {
        LegWhy::Network
    };
    let leg = if why == LegWhy::Network {
        Leg::Network
    } else {
        Leg::Loopback
    };
    (leg, why)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use crate::flow::ClientBy;

    /// Facts of a flow `client` → `server` starting at `start_ms` and lasting `len_ms`.
    pub(crate) fn facts(client: &str, server: &str, start_ms: i64, len_ms: i64) -> FlowFacts {
        let ep = |s: &str| {
            let sa: std::net::SocketAddr = s.parse().unwrap();
            Endpoint {
                ip: sa.ip(),
                port: sa.port(),
            }
        };
        FlowFacts {
            transport: crate::decode::Transport::Tcp,
            client: ep(client),
            server: ep(server),
            client_by: ClientBy::Syn,
            first_frame: 1,
            last_frame: 2,
            first_ts: start_ms * 1_000_000,
            last_ts: (start_ms + len_ms) * 1_000_000,
            syn_seen: true,
            loopback_if: false,
            packets: [5, 5],
            bytes: [100, 100],
            close: crate::analyze::Close::Fin,
            gaps: 0,
            out_of_order: 0,
            retransmitted: 0,
            odd: None,
        }
    }

    #[test]
    fn legs_by_address_and_interface() {
        let leg = |c: &str, s: &str| leg_of(&facts(c, s, 0, 1));
        assert_eq!(
            leg("127.0.0.1:40000", "127.0.0.1:15001"),
            (Leg::Loopback, LegWhy::LoopbackAddresses)
        );
        assert_eq!(
            leg("127.0.0.6:40000", "10.44.0.10:9080"),
            (Leg::Loopback, LegWhy::IstioInbound)
        );
        assert_eq!(
            leg("10.44.0.10:40000", "127.0.0.1:15001"),
            (
                Leg::Loopback,
                LegWhy::OneLoopbackEnd("127.0.0.1".parse().unwrap())
            )
        );
        assert_eq!(
            leg("[::1]:40000", "[::1]:80"),
            (Leg::Loopback, LegWhy::LoopbackAddresses)
        );
        assert_eq!(
            leg("[::ffff:127.0.0.1]:40000", "[::ffff:127.0.0.1]:80").0,
            Leg::Loopback
        );
        assert_eq!(
            leg("10.44.0.10:40000", "10.44.0.20:9080"),
            (Leg::Network, LegWhy::Network)
        );
        let mut f = facts("10.44.0.10:40000", "10.44.0.10:9080", 0, 1);
        f.loopback_if = true;
        assert_eq!(leg_of(&f), (Leg::Loopback, LegWhy::LoopbackInterface));
        assert!(LegWhy::LoopbackInterface.text().contains("772"));
        assert!(LegWhy::IstioInbound.text().contains("127.0.0.6"));
    }
}
