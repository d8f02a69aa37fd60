//! The CI policy: `--require encrypted|mtls` with `--allow` exemptions.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::analyze::FlowResult;
use crate::mesh::{FlowMesh, MeshView};
use crate::model::Verdict;

/// What every flow with payload must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// TLS (with or without client certificate).
    Encrypted,
    /// TLS with a client certificate proven (observed, decrypted or inferred).
    Mtls,
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl Requirement {
    pub fn name(self) -> &'static str {
        match self {
            Requirement::Encrypted => "encrypted",
            Requirement::Mtls => "mtls",
        }
    }
}

/// One `--allow` rule: flows it matches are exempt from the requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// `port=N`: the flow's server port is N.
    Port(u16),
    /// `net=CIDR`: either endpoint lies in the network.
    Net { addr: IpAddr, prefix: u8 },
    /// `host=IP` or `host=IP:PORT`: either endpoint is that address (and port).
    Host { ip: IpAddr, port: Option<u16> },
}

/// An `--allow` rule that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --allow rule '{rule}': {why}; use port=15021, net=127.0.0.0/8, host=10.1.2.3 or host=10.1.2.3:9080")]
pub struct AllowRuleError {
    pub rule: String,
    pub why: String,
}

impl FromStr for AllowRule {
    type Err = AllowRuleError;

    fn from_str(rule: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| AllowRuleError {
            rule: rule.to_string(),
            why: why.to_string(),
        };
        let (kind, value) = rule
            .split_once('=')
            .ok_or_else(|| err("expected KIND=VALUE"))?;
        match kind.trim() {
            "port" => value
                .trim()
                .parse::<u16>()
                .map(AllowRule::Port)
                .map_err(|_| err("port must be a number from 0 to 65535")),
            "net" => {
                let (addr, prefix) = value
                    .trim()
                    .split_once('/')
                    .ok_or_else(|| err("net needs ADDRESS/PREFIX"))?;
                let addr: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix
                    .parse()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| err("prefix length out of range"))?;
                Ok(AllowRule::Net { addr, prefix })
            }
            "host" => {
                parse_host(value.trim()).ok_or_else(|| err("expected IP or IP:PORT ([v6]:PORT)"))
            }
            _ => Err(err("unknown kind (port, net or host)")),
        }
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Port(p) => write!(f, "port={p}"),
            AllowRule::Net { addr, prefix } => write!(f, "net={addr}/{prefix}"),
            AllowRule::Host { ip, port: None } => write!(f, "host={ip}"),
            AllowRule::Host {
                ip: IpAddr::V6(ip),
                port: Some(p),
            } => write!(f, "host=[{ip}]:{p}"),
            AllowRule::Host { ip, port: Some(p) } => write!(f, "host={ip}:{p}"),
        }
    }
}

fn parse_host(value: &str) -> Option<AllowRule> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(AllowRule::Host { ip, port: None });
    }
    let sock: std::net::SocketAddr = value.parse().ok()?;
    Some(AllowRule::Host {
        ip: sock.ip(),
        port: Some(sock.port()),
    })
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

impl AllowRule {
    /// The rule matches the flow.
    pub fn matches(&self, flow: &FlowResult) -> bool {
        let ends = [flow.facts.client, flow.facts.server];
        match *self {
            AllowRule::Port(port) => flow.facts.server.port == port,
            AllowRule::Net { addr, prefix } => ends.iter().any(|e| in_net(e.ip, addr, prefix)),
            AllowRule::Host { ip, port } => ends
                .iter()
                .any(|e| e.ip == ip && port.is_none_or(|p| p == e.port)),
        }
    }
}

/// The policy given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub require: Option<Requirement>,
    pub allow: Vec<AllowRule>,
}

/// Flows that an exemption took out of the policy's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// What exempted them: `istio loopback-leg` (a mesh profile's rule) or `--allow port=15021`.
    pub by: String,
    /// Ids of the flows that would have violated the requirement without it.
    pub flows: Vec<u64>,
}

/// The policy's judgement of an analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    pub require: Requirement,
    /// No flow violates the requirement and none is unproven.
    pub pass: bool,
    /// Ids of the flows proven not to meet the requirement.
    pub violations: Vec<u64>,
    /// Ids of the flows whose compliance the capture cannot prove either way (`--require
    /// mtls`: TLS whose client certificate is unknown). They fail the gate too.
    pub unproven: Vec<u64>,
    /// Ids of the flows exempted (mesh profile or `--allow`) that would otherwise violate it or
    /// be unproven.
    pub exempted: Vec<u64>,
    /// The exempted flows by exemption, in first-use order.
    pub waivers: Vec<Waiver>,
}

/// How one flow stands against the requirement, when it does not meet it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Proven not to meet it: the words say why (`plaintext`, `no client certificate`, ...).
    Violation(&'static str),
    /// Not provable from the capture either way: the words say what is unknown.
    Unproven(&'static str),
}

impl Shortfall {
    /// Why, in a few words.
    pub fn why(self) -> &'static str {
        match self {
            Shortfall::Violation(why) | Shortfall::Unproven(why) => why,
        }
    }
}

/// A flow's mark in the report: it violates the requirement, is unproven, or would have done
/// either but an exemption took it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMark {
    Violation(&'static str),
    Unproven(&'static str),
    Exempt,
}

/// The kind of a [`PolicyMark`], as the report's `policy_mark` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkKind {
    Violation,
    Unproven,
    Exempt,
}

impl PolicyMark {
    /// Violation, unproven or exempt.
    pub fn kind(self) -> MarkKind {
        match self {
            PolicyMark::Violation(_) => MarkKind::Violation,
            PolicyMark::Unproven(_) => MarkKind::Unproven,
            PolicyMark::Exempt => MarkKind::Exempt,
        }
    }

    /// The words of the report's `policy` field: why, or `exempt`.
    pub fn text(self) -> &'static str {
        match self {
            PolicyMark::Violation(why) | PolicyMark::Unproven(why) => why,
            PolicyMark::Exempt => "exempt",
        }
    }

    /// The flow fails the gate (violation or unproven, not exempted).
    pub fn fails(self) -> bool {
        self != PolicyMark::Exempt
    }
}

impl From<Shortfall> for PolicyMark {
    fn from(s: Shortfall) -> Self {
        match s {
            Shortfall::Violation(why) => PolicyMark::Violation(why),
            Shortfall::Unproven(why) => PolicyMark::Unproven(why),
        }
    }
}

/// How a verdict (with its client certificate answer) falls short of the requirement.
fn judge(require: Requirement, verdict: Verdict, presented: Option<bool>) -> Option<Shortfall> {
    match (require, verdict) {
        (_, Verdict::Empty) => None,
        (_, Verdict::Plaintext) => Some(Shortfall::Violation("plaintext")),
        (_, Verdict::Opaque) => Some(Shortfall::Violation("not proven encrypted")),
        (Requirement::Encrypted, Verdict::Tls | Verdict::Mtls | Verdict::Encrypted) => None,
        (Requirement::Mtls, Verdict::Encrypted) => Some(Shortfall::Violation("not TLS")),
        (Requirement::Mtls, Verdict::Mtls) => None,
        (Requirement::Mtls, Verdict::Tls) => match presented {
            Some(_) => Some(Shortfall::Violation("no client certificate")),
            None => Some(Shortfall::Unproven("client certificate unknown")),
        },
    }
}

/// What the report tells the user about unproven flows: how to get proof.
pub const UNPROVEN_ADVICE: &str = "the capture cannot show whether these clients presented a \
    certificate (sessions resumed without one, or connections opened before the capture). To \
    prove it: start the capture before the connections open (or make the clients reconnect), \
    capture the server pod with -i any so that its sidecar's forwarded client identity is seen, \
    or give the TLS key log (--keylog). --require encrypted checks encryption alone";

impl Policy {
    /// How a flow falls short of the requirement, or `None` when it meets it. A flow whose
    /// overlapping bytes read two ways ([`crate::model::Ambiguity`]) is judged by the worse
    /// reading.
    pub fn shortfall(require: Requirement, flow: &FlowResult) -> Option<Shortfall> {
        let presented = flow
            .class
            .tls
            .as_deref()
            .and_then(|t| t.client_certificate.presented);
        let kept = judge(require, flow.class.verdict, presented);
        let Some(a) = flow.class.ambiguity.as_deref() else {
            return kept;
        };
        if a.unread > 0 {
            return match kept {
                Some(Shortfall::Violation(why)) => Some(Shortfall::Violation(why)),
                _ => Some(Shortfall::Violation(
                    "ambiguous: conflicting copies too many to read",
                )),
            };
        }
        let other = judge(require, a.other_verdict, a.other_client_certificate).map(|s| match s {
            Shortfall::Violation(_) => Shortfall::Violation(a.cause.violation()),
            Shortfall::Unproven(_) => Shortfall::Unproven("ambiguous: unproven read the other way"),
        });
        match (kept, other) {
            (Some(Shortfall::Violation(why)), _) => Some(Shortfall::Violation(why)),
            (_, Some(Shortfall::Violation(why))) => Some(Shortfall::Violation(why)),
            (Some(kept), _) => Some(kept),
            (None, other) => other,
        }
    }

    /// What exempts a flow from the requirement: the mesh profile's expectation first, then the
    /// first `--allow` rule that matches.
    pub fn exemption(&self, flow: &FlowResult, mesh: Option<&FlowMesh>) -> Option<String> {
        if let Some(e) = mesh.and_then(|m| m.expected.as_ref()) {
            return Some(format!("{} {}", e.profile.name(), e.rule.name()));
        }
        self.allow
            .iter()
            .find(|rule| rule.matches(flow))
            .map(|rule| format!("--allow {rule}"))
    }

    /// Judges every flow; `None` when no requirement was given.
    pub fn evaluate(&self, flows: &[FlowResult], mesh: &MeshView) -> Option<PolicyOutcome> {
        let require = self.require?;
        let mut violations = Vec::new();
        let mut unproven = Vec::new();
        let mut exempted = Vec::new();
        let mut order: Vec<String> = Vec::new();
        let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (i, flow) in flows.iter().enumerate() {
            let Some(shortfall) = Self::shortfall(require, flow) else {
                continue;
            };
            match self.exemption(flow, mesh.flows.get(i)) {
                Some(what) => {
                    exempted.push(flow.id);
                    if !by.contains_key(&what) {
                        order.push(what.clone());
                    }
                    by.entry(what).or_default().push(flow.id);
                }
                None => match shortfall {
                    Shortfall::Violation(_) => violations.push(flow.id),
                    Shortfall::Unproven(_) => unproven.push(flow.id),
                },
            }
        }
        let waivers = order
            .into_iter()
            .map(|what| Waiver {
                flows: by.remove(&what).unwrap_or_default(),
                by: what,
            })
            .collect();
        Some(PolicyOutcome {
            require,
            pass: violations.is_empty() && unproven.is_empty(),
            violations,
            unproven,
            exempted,
            waivers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        assert_eq!("port=15021".parse(), Ok(AllowRule::Port(15021)));
        assert_eq!(
            "net=127.0.0.0/8".parse(),
            Ok(AllowRule::Net {
                addr: "127.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert_eq!(
            "host=10.1.2.3:9080".parse(),
            Ok(AllowRule::Host {
                ip: "10.1.2.3".parse().unwrap(),
                port: Some(9080)
            })
        );
        assert_eq!(
            "host=[::1]:80".parse(),
            Ok(AllowRule::Host {
                ip: "::1".parse().unwrap(),
                port: Some(80)
            })
        );
        assert!("port=70000".parse::<AllowRule>().is_err());
        assert!("net=10.0.0.0/33".parse::<AllowRule>().is_err());
        assert!("nets=10.0.0.0/8".parse::<AllowRule>().is_err());
        assert!("host=pod-a".parse::<AllowRule>().is_err());
        for rule in [
            "port=15021",
            "net=127.0.0.0/8",
            "host=10.1.2.3",
            "host=10.1.2.3:9080",
            "host=[::1]:80",
            "net=fd00::/8",
        ] {
            assert_eq!(rule.parse::<AllowRule>().unwrap().to_string(), rule);
        }
    }

    #[test]
    fn net_matching() {
        let net: IpAddr = "10.128.0.0".parse().unwrap();
        assert!(in_net("10.131.1.100".parse().unwrap(), net, 9));
        assert!(!in_net("10.0.0.1".parse().unwrap(), net, 9));
        assert!(in_net("1.2.3.4".parse().unwrap(), net, 0));
        let v6: IpAddr = "fd00::".parse().unwrap();
        assert!(in_net("fd00::1".parse().unwrap(), v6, 64));
        assert!(!in_net("fd01::1".parse().unwrap(), v6, 64));
        assert!(!in_net("10.0.0.1".parse().unwrap(), v6, 0));
    }
}
