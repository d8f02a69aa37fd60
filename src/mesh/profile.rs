//! Mesh profiles: what each mesh's traffic looks like (markers that recognise it) and which
//! traffic is plaintext by design under it (rules that mark flows as expected).

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use super::leg::Leg;
use super::sni::IstioSni;
use crate::analyze::FlowResult;

/// A service mesh whose conventions are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Istio with sidecars.
    Istio,
    /// Linkerd.
    Linkerd,
    /// Istio ambient mode (ztunnel, HBONE).
    Ambient,
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Istio, Profile::Linkerd, Profile::Ambient];

    /// `istio`, `linkerd` or `ambient`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Istio => "istio",
            Profile::Linkerd => "linkerd",
            Profile::Ambient => "ambient",
        }
    }
}

/// Istio's ALPN values: the client sidecar offers them in front of the application's protocol.
const ISTIO_ALPN: [&str; 5] = [
    "istio-peer-exchange",
    "istio",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

/// Linkerd's ALPN for its opaque transport.
const LINKERD_ALPN: &str = "transport.l5d.io/v1";
/// Linkerd identities are DNS names under this suffix.
const LINKERD_IDENTITY_SUFFIX: &str = ".serviceaccount.identity.linkerd.cluster.local";

/// Ports with a fixed meaning.
pub mod ports {
    /// DNS.
    pub const DNS: u16 = 53;
    /// Istio sidecar: outbound capture port.
    pub const ISTIO_OUTBOUND: u16 = 15001;
    /// Istio sidecar: inbound capture port.
    pub const ISTIO_INBOUND: u16 = 15006;
    /// Istio ambient: HBONE (HTTP/2 CONNECT inside mTLS).
    pub const HBONE: u16 = 15008;
    /// Istio: merged Prometheus metrics and health.
    pub const ISTIO_METRICS: u16 = 15020;
    /// Istio: health checks (kubelet readiness probes).
    pub const ISTIO_HEALTH: u16 = 15021;
    /// Envoy: Prometheus stats.
    pub const ENVOY_STATS: u16 = 15090;
    /// Linkerd proxy: outbound port.
    pub const LINKERD_OUTBOUND: u16 = 4140;
    /// Linkerd proxy: inbound port.
    pub const LINKERD_INBOUND: u16 = 4143;
    /// Linkerd proxy: admin port (metrics, readiness and liveness).
    pub const LINKERD_ADMIN: u16 = 4191;
}

/// Source address ambient mode gives kubelet health probes (they stay plaintext).
pub const AMBIENT_PROBE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 7, 127));

/// A sign of a mesh in one flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Marker {
    pub profile: Profile,
    /// What was seen, e.g. `ALPN istio-peer-exchange`.
    pub what: String,
    /// How telling the sign is: 3 protocol markers (ALPN, SNI, identities), 2 port + protocol,
    /// 1 a port alone.
    #[serde(skip)]
    pub weight: u32,
}

fn marker(profile: Profile, what: String, weight: u32) -> Marker {
    Marker {
        profile,
        what,
        weight,
    }
}

/// The mesh markers of one flow.
pub fn markers(flow: &FlowResult, leg: Leg, istio_sni: Option<&IstioSni>) -> Vec<Marker> {
    let mut out = Vec::new();
    let server_port = flow.facts.server.port;
    if let Some(tls) = &flow.class.tls {
        if let Some(alpn) = tls
            .hello
            .alpn_offered
            .iter()
            .map(|a| &**a)
            .find(|a| ISTIO_ALPN.contains(a))
        {
            out.push(marker(Profile::Istio, format!("ALPN {alpn}"), 3));
        }
        if let (Some(sni), Some(_)) = (&tls.hello.sni, istio_sni) {
            out.push(marker(Profile::Istio, format!("SNI {sni}"), 3));
        }
        if tls.hello.alpn_offered.iter().any(|a| &**a == LINKERD_ALPN) {
            out.push(marker(Profile::Linkerd, format!("ALPN {LINKERD_ALPN}"), 3));
        }
        let sans = [&tls.client_certificate, &tls.server_certificate]
            .into_iter()
            .filter_map(|side| side.chain.first())
            .flat_map(|leaf| leaf.san_dns.iter().map(String::as_str));
        if let Some(id) = tls
            .hello
            .sni
            .as_deref()
            .into_iter()
            .chain(sans)
            .find(|n| n.ends_with(LINKERD_IDENTITY_SUFFIX))
        {
            out.push(marker(Profile::Linkerd, format!("identity {id}"), 3));
        }
        if server_port == ports::LINKERD_INBOUND {
            out.push(marker(
                Profile::Linkerd,
                "TLS to the Linkerd inbound port 4143".to_string(),
                2,
            ));
        }
        if server_port == ports::HBONE {
            if tls.hello.sni.is_none() && tls.hello.alpn_offered.iter().any(|a| &**a == "h2") {
                out.push(marker(
                    Profile::Ambient,
                    "HBONE: TLS to port 15008, ALPN h2, no SNI".to_string(),
                    3,
                ));
            } else {
                out.push(marker(Profile::Ambient, "TLS to port 15008".to_string(), 1));
            }
        }
    }
    let port_marker = match (server_port, leg) {
        (ports::ISTIO_OUTBOUND | ports::ISTIO_INBOUND, Leg::Loopback) => Some(Profile::Istio),
        (ports::ISTIO_HEALTH | ports::ISTIO_METRICS | ports::ENVOY_STATS, _) => {
            Some(Profile::Istio)
        }
        (ports::LINKERD_OUTBOUND, Leg::Loopback) | (ports::LINKERD_ADMIN, _) => {
            Some(Profile::Linkerd)
        }
        _ => None,
    };
    if let Some(profile) = port_marker {
        out.push(marker(profile, format!("port {server_port}"), 1));
    }
    out
}

/// Why a flow is plaintext by design under a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The loopback leg between the application and its proxy.
    LoopbackLeg,
    /// Health checks (Istio 15021).
    HealthCheck,
    /// Metrics scrapes (Istio 15020, Envoy 15090).
    Metrics,
    /// Linkerd's proxy admin port 4191 (metrics and probes).
    ProxyAdmin,
    /// Kubelet probes that ambient mode leaves in plaintext (source 169.254.7.127).
    KubeletProbe,
    /// Cleartext DNS on port 53: meshes do not carry DNS.
    ClusterDns,
}

impl Rule {
    /// `loopback-leg`, `health-check`, `metrics`, `proxy-admin`, `kubelet-probe`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::LoopbackLeg => "loopback-leg",
            Rule::HealthCheck => "health-check",
            Rule::Metrics => "metrics",
            Rule::ProxyAdmin => "proxy-admin",
            Rule::KubeletProbe => "kubelet-probe",
            Rule::ClusterDns => "cluster-dns",
        }
    }

    /// A few words for a table's detail column: `app ↔ proxy`.
    pub fn words(self) -> &'static str {
        match self {
            Rule::LoopbackLeg => "app ↔ proxy",
            Rule::HealthCheck => "health check",
            Rule::Metrics => "metrics scrape",
            Rule::ProxyAdmin => "proxy admin",
            Rule::KubeletProbe => "kubelet probe",
            Rule::ClusterDns => "cluster DNS",
        }
    }

    /// A short description for summaries: `loopback leg (application ↔ proxy)`.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::LoopbackLeg => "loopback leg (application ↔ proxy)",
            Rule::HealthCheck => "health check (15021)",
            Rule::Metrics => "metrics scrape (15020, 15090)",
            Rule::ProxyAdmin => "proxy admin (4191: metrics, probes)",
            Rule::KubeletProbe => "kubelet probe (from 169.254.7.127)",
            Rule::ClusterDns => "DNS on port 53 (no mesh carries it)",
        }
    }
}

/// A flow that is plaintext by design under the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub profile: Profile,
    pub rule: Rule,
    /// The reason in words, starting with the profile's name.
    pub reason: &'static str,
}

/// Whether the profile expects this flow to be plaintext, and why.
pub fn expected(profile: Profile, flow: &FlowResult, leg: Leg) -> Option<Expected> {
    let port = flow.facts.server.port;
    let found = |rule: Rule, reason: &'static str| {
        Some(Expected {
            profile,
            rule,
            reason,
        })
    };
    let dns = flow
        .class
        .plaintext
        .as_deref()
        .is_some_and(|p| p.protocol == "dns");
    if dns && port == ports::DNS {
        return found(
            Rule::ClusterDns,
            match profile {
                Profile::Istio => {
                    "istio: a DNS lookup on port 53; the mesh does not carry DNS \
                     (istio/istio#1430), plaintext by design"
                }
                Profile::Linkerd => {
                    "linkerd: a DNS lookup on port 53; the mesh does not carry DNS, plaintext by \
                     design"
                }
                Profile::Ambient => {
                    "ambient: a DNS lookup on port 53; the mesh does not carry DNS, plaintext by \
                     design"
                }
            },
        );
    }
    if leg == Leg::Loopback {
        return match profile {
            Profile::Istio => found(
                Rule::LoopbackLeg,
                "istio: loopback leg between the application and its sidecar, plaintext by design \
                 (the sidecar encrypts the network leg)",
            ),
            Profile::Linkerd => found(
                Rule::LoopbackLeg,
                "linkerd: loopback leg between the application and its proxy, plaintext by design \
                 (the proxy encrypts the network leg)",
            ),
            Profile::Ambient => found(
                Rule::LoopbackLeg,
                "ambient: loopback traffic inside the pod never leaves it (ztunnel encrypts what does)",
            ),
        };
    }
    let istio = profile == Profile::Istio;
    match (profile, port) {
        (Profile::Istio | Profile::Ambient, ports::ISTIO_HEALTH) => found(
            Rule::HealthCheck,
            if istio {
                "istio: health check on port 15021 (kubelet readiness probe), plaintext by design"
            } else {
                "ambient: health check on port 15021 (kubelet readiness probe), plaintext by design"
            },
        ),
        (Profile::Istio | Profile::Ambient, ports::ISTIO_METRICS) => found(
            Rule::Metrics,
            if istio {
                "istio: merged metrics and health on port 15020 (Prometheus scrape), plaintext by \
                 design"
            } else {
                "ambient: merged metrics and health on port 15020 (Prometheus scrape), plaintext \
                 by design"
            },
        ),
        (Profile::Istio | Profile::Ambient, ports::ENVOY_STATS) => found(
            Rule::Metrics,
            if istio {
                "istio: Envoy statistics on port 15090 (Prometheus scrape), plaintext by design"
            } else {
                "ambient: Envoy statistics on port 15090 (Prometheus scrape), plaintext by design"
            },
        ),
        (Profile::Linkerd, ports::LINKERD_ADMIN) => found(
            Rule::ProxyAdmin,
            "linkerd: proxy admin port 4191 (metrics and probes), plaintext by design",
        ),
        (Profile::Ambient, _) if flow.facts.client.ip == AMBIENT_PROBE_SOURCE => found(
            Rule::KubeletProbe,
            "ambient: kubelet probe; ambient mode gives probes the source 169.254.7.127 and \
             leaves them plaintext",
        ),
        _ => None,
    }
}

/// The profile the markers point to: the highest total weight, if any profile has at least one
/// protocol marker (a port alone never decides).
pub fn recognise<'m>(markers: impl Iterator<Item = &'m Marker>) -> Option<Profile> {
    let mut score = [0u64; 3];
    let mut strong = [false; 3];
    for m in markers {
        let i = Profile::ALL.iter().position(|p| *p == m.profile)?;
        if let (Some(s), Some(st)) = (score.get_mut(i), strong.get_mut(i)) {
            *s = s.saturating_add(u64::from(m.weight));
            *st |= m.weight >= 2;
        }
    }
    Profile::ALL
        .iter()
        .zip(score.iter().zip(strong))
        .filter(|(_, (_, strong))| *strong)
        .max_by_key(|(p, (s, _))| (**s, std::cmp::Reverse(**p)))
        .map(|(p, _)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::leg::tests::facts;
    use crate::mesh::sni;
    use crate::model::{CertInfo, Classification, HelloSummary, TlsSummary, Verdict};

    pub(crate) fn result(
        id: u64,
        client: &str,
        server: &str,
        tls: Option<TlsSummary>,
    ) -> FlowResult {
        FlowResult {
            id,
            capture: 0,
            facts: facts(client, server, 0, 1),
            class: Classification {
                verdict: if tls.is_some() {
                    Verdict::Mtls
                } else {
                    Verdict::Plaintext
                },
                reasons: Default::default(),
                tls: tls.map(Box::new),
                plaintext: None,
                session: None,
                ambiguity: None,
                encryption: None,
            },
        }
    }

    fn tls(sni: Option<&str>, alpn: &[&str]) -> TlsSummary {
        TlsSummary {
            hello: std::sync::Arc::new(HelloSummary {
                sni: sni.map(Into::into),
                alpn_offered: alpn.iter().map(|&a| a.into()).collect(),
                ..HelloSummary::default()
            }),
            ..TlsSummary::default()
        }
    }

    fn whats(m: &[Marker]) -> Vec<(Profile, &str, u32)> {
        m.iter()
            .map(|m| (m.profile, m.what.as_str(), m.weight))
            .collect()
    }

    #[test]
    fn istio_markers() {
        let sni_text = "outbound_.9080_._.details.bookinfo.svc.cluster.local";
        let f = result(
            1,
            "10.0.0.1:40000",
            "10.0.0.2:9080",
            Some(tls(
                Some(sni_text),
                &["istio-http/1.1", "istio", "http/1.1"],
            )),
        );
        let decoded = sni::decode(sni_text);
        let m = markers(&f, Leg::Network, decoded.as_ref());
        assert_eq!(
            whats(&m),
            vec![
                (Profile::Istio, "ALPN istio-http/1.1", 3),
                (
                    Profile::Istio,
                    "SNI outbound_.9080_._.details.bookinfo.svc.cluster.local",
                    3
                ),
            ]
        );
        assert_eq!(recognise(m.iter()), Some(Profile::Istio));
    }

    #[test]
    fn ambient_and_linkerd_markers() {
        let f = result(
            1,
            "10.0.0.1:40000",
            "10.0.0.2:15008",
            Some(tls(None, &["h2"])),
        );
        let m = markers(&f, Leg::Network, None);
        assert_eq!(
            whats(&m),
            vec![(
                Profile::Ambient,
                "HBONE: TLS to port 15008, ALPN h2, no SNI",
                3
            )]
        );
        assert_eq!(recognise(m.iter()), Some(Profile::Ambient));
        let mut t = tls(
            Some("web.emojivoto.serviceaccount.identity.linkerd.cluster.local"),
            &["transport.l5d.io/v1"],
        );
        t.server_certificate.chain = Box::new([std::sync::Arc::new(CertInfo {
            san_dns: vec!["web.emojivoto.serviceaccount.identity.linkerd.cluster.local".into()],
            ..CertInfo::default()
        })]);
        let f = result(1, "10.0.0.1:40000", "10.0.0.2:4143", Some(t));
        let m = markers(&f, Leg::Network, None);
        assert_eq!(
            whats(&m),
            vec![
                (Profile::Linkerd, "ALPN transport.l5d.io/v1", 3),
                (
                    Profile::Linkerd,
                    "identity web.emojivoto.serviceaccount.identity.linkerd.cluster.local",
                    3
                ),
                (Profile::Linkerd, "TLS to the Linkerd inbound port 4143", 2),
            ]
        );
        assert_eq!(recognise(m.iter()), Some(Profile::Linkerd));
    }

    #[test]
    fn ports_alone_never_decide() {
        let f = result(1, "10.0.0.1:40000", "10.0.0.2:15021", None);
        let m = markers(&f, Leg::Network, None);
        assert_eq!(whats(&m), vec![(Profile::Istio, "port 15021", 1)]);
        assert_eq!(recognise(m.iter()), None);
        let lo = result(1, "127.0.0.1:40000", "127.0.0.1:15001", None);
        assert_eq!(markers(&lo, Leg::Loopback, None).len(), 1);
        assert_eq!(markers(&lo, Leg::Network, None).len(), 0);
        assert_eq!(recognise([].iter()), None);
    }

    #[test]
    fn rules_per_profile() {
        let rule = |p: Profile, client: &str, server: &str, leg: Leg| {
            expected(p, &result(1, client, server, None), leg).map(|e| e.rule)
        };
        for p in Profile::ALL {
            assert_eq!(
                rule(p, "127.0.0.1:1", "127.0.0.1:15001", Leg::Loopback),
                Some(Rule::LoopbackLeg)
            );
            assert_eq!(rule(p, "10.0.0.1:1", "10.0.0.2:9080", Leg::Network), None);
        }
        assert_eq!(
            rule(Profile::Istio, "10.0.0.1:1", "10.0.0.2:15021", Leg::Network),
            Some(Rule::HealthCheck)
        );
        assert_eq!(
            rule(Profile::Istio, "10.0.0.1:1", "10.0.0.2:15020", Leg::Network),
            Some(Rule::Metrics)
        );
        assert_eq!(
            rule(Profile::Istio, "10.0.0.1:1", "10.0.0.2:15090", Leg::Network),
            Some(Rule::Metrics)
        );
        assert_eq!(
            rule(
                Profile::Linkerd,
                "10.0.0.1:1",
                "10.0.0.2:15021",
                Leg::Network
            ),
            None
        );
        assert_eq!(
            rule(
                Profile::Linkerd,
                "10.0.0.1:1",
                "10.0.0.2:4191",
                Leg::Network
            ),
            Some(Rule::ProxyAdmin)
        );
        assert_eq!(
            rule(Profile::Istio, "10.0.0.1:1", "10.0.0.2:4191", Leg::Network),
            None
        );
        assert_eq!(
            rule(
                Profile::Ambient,
                "169.254.7.127:1",
                "10.0.0.2:8080",
                Leg::Network
            ),
            Some(Rule::KubeletProbe)
        );
        assert_eq!(
            rule(
                Profile::Istio,
                "169.254.7.127:1",
                "10.0.0.2:8080",
                Leg::Network
            ),
            None
        );
        let e = expected(
            Profile::Istio,
            &result(1, "127.0.0.1:1", "127.0.0.1:2", None),
            Leg::Loopback,
        )
        .unwrap();
        assert!(e.reason.starts_with("istio: loopback leg"), "{}", e.reason);
    }
}
