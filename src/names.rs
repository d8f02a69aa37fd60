//! Names for addresses, from the JSON that `kubectl` prints: `namespace/pod` from
//! `kubectl get pods -A -o json`, `namespace/service` from `kubectl get svc -A -o json` (cluster,
//! external and load-balancer addresses), and the services whose selector picks each pod.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

/// A pod or service file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamesError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        /// `pods` or `svc`: which file.
        kind: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: not the JSON of `kubectl get {kind} -A -o json`: {why}")]
    Format {
        path: String,
        /// `pods` or `svc`: which file.
        kind: &'static str,
        why: String,
    },
}

impl NamesError {
    /// The command-line option that named the file: `--pods` or `--services`.
    pub fn option(&self) -> &'static str {
        let (NamesError::Io { kind, .. } | NamesError::Format { kind, .. }) = self;
        if *kind == "svc" {
            "--services"
        } else {
            "--pods"
        }
    }
}

/// What an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Pod,
    Service,
}

impl NameKind {
    /// `pod` or `service`.
    pub fn name(self) -> &'static str {
        match self {
            NameKind::Pod => "pod",
            NameKind::Service => "service",
        }
    }
}

/// The name of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    /// `namespace/name`.
    pub name: String,
    pub kind: NameKind,
    /// For a pod: the services (`namespace/name`) whose selector matches its labels, sorted.
    pub services: Vec<String>,
}

/// Address → name map.
#[derive(Debug, Clone, Default)]
pub struct Names {
    by_ip: HashMap<IpAddr, NameEntry>,
}

/// A pod as read from the JSON, before services are matched to it.
struct Pod {
    namespace: String,
    full: String,
    labels: BTreeMap<String, String>,
    ips: Vec<IpAddr>,
}

/// A service as read from the JSON.
struct Service {
    namespace: String,
    full: String,
    selector: BTreeMap<String, String>,
    ips: Vec<IpAddr>,
}

fn read(path: &Path, kind: &'static str) -> Result<Vec<u8>, NamesError> {
    std::fs::read(path).map_err(|source| NamesError::Io {
        path: path.display().to_string(),
        kind,
        source,
    })
}

/// The objects of a `kubectl get KIND -o json` answer: the `items` of a `List`, or one object.
fn items<'v>(value: &'v Value, kind: &str) -> Result<Vec<&'v Value>, String> {
    match value.get("items") {
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        _ if value.get("kind").and_then(Value::as_str) == Some(kind) => Ok(vec![value]),
        _ => Err(format!(
            "expected an object with an \"items\" array of {kind}s"
        )),
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `namespace/name` (or `name` without a namespace) and the namespace.
fn full_name(obj: &Value) -> Option<(String, String)> {
    let meta = obj.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
    let full = if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    };
    Some((full, ns.to_string()))
}

fn parse_ips<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = texts.filter_map(|t| t.parse().ok()).collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

fn parse_pods(text: &[u8]) -> Result<Vec<Pod>, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let mut pods = Vec::new();
    for pod in items(&value, "Pod")? {
        let Some((full, namespace)) = full_name(pod) else {
            continue;
        };
        // Pods on the host network share their node's address.
        if pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let status = pod.get("status");
        let listed = status
            .and_then(|s| s.get("podIPs"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("ip")?.as_str());
        let single = status.and_then(|s| s.get("podIP")).and_then(Value::as_str);
        pods.push(Pod {
            namespace,
            full,
            labels: string_map(pod.pointer("/metadata/labels")),
            ips: parse_ips(listed.chain(single)),
        });
    }
    Ok(pods)
}

fn parse_services(text: &[u8]) -> Result<Vec<Service>, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let mut services = Vec::new();
    for svc in items(&value, "Service")? {
        let Some((full, namespace)) = full_name(svc) else {
            continue;
        };
        let strings = |ptr: &str| -> Vec<&str> {
            svc.pointer(ptr)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        };
        let mut texts = strings("/spec/clusterIPs");
        texts.extend(strings("/spec/externalIPs"));
        texts.extend(svc.pointer("/spec/clusterIP").and_then(Value::as_str));
        texts.extend(
            svc.pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| i.get("ip")?.as_str()),
        );
        services.push(Service {
            namespace,
            full,
            selector: string_map(svc.pointer("/spec/selector")),
            ips: parse_ips(texts.into_iter()),
        });
    }
    Ok(services)
}

impl Names {
    /// The name of an address, if known.
    pub fn name_of(&self, ip: IpAddr) -> Option<&str> {
        self.by_ip.get(&ip).map(|e| e.name.as_str())
    }

    /// Everything known about an address.
    pub fn lookup(&self, ip: IpAddr) -> Option<&NameEntry> {
        self.by_ip.get(&ip)
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Number of named addresses.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Reads a `kubectl get pods -A -o json` file (a `List` of pods, or a single pod).
    /// Pods on the host network share their node's address and are left out.
    pub fn from_pods_file(path: &Path) -> Result<Names, NamesError> {
        Names::from_files(Some(path), None)
    }

    /// Reads the pod and service files given (either may be absent).
    pub fn from_files(pods: Option<&Path>, services: Option<&Path>) -> Result<Names, NamesError> {
        let format = |path: &Path, kind: &'static str| {
            let path = path.display().to_string();
            move |why| NamesError::Format { path, kind, why }
        };
        let pods = match pods {
            Some(p) => parse_pods(&read(p, "pods")?).map_err(format(p, "pods"))?,
            None => Vec::new(),
        };
        let services = match services {
            Some(p) => parse_services(&read(p, "svc")?).map_err(format(p, "svc"))?,
            None => Vec::new(),
        };
        Ok(Names::link(pods, services))
    }

    /// Parses the JSON of `kubectl get pods -o json`.
    pub fn from_pods_json(text: &[u8]) -> Result<Names, String> {
        Ok(Names::link(parse_pods(text)?, Vec::new()))
    }

    /// Parses the JSON of `kubectl get pods -o json` and `kubectl get svc -o json`.
    pub fn from_json(pods: &[u8], services: &[u8]) -> Result<Names, String> {
        Ok(Names::link(parse_pods(pods)?, parse_services(services)?))
    }

    /// Puts pods and services in one map; a pod's address wins over a service's (they never
    /// overlap in a real cluster), and each pod lists the services that select it.
    fn link(pods: Vec<Pod>, services: Vec<Service>) -> Names {
        let mut names = Names::default();
        for svc in &services {
            for &ip in &svc.ips {
                names.by_ip.insert(
                    ip,
                    NameEntry {
                        name: svc.full.clone(),
                        kind: NameKind::Service,
                        services: Vec::new(),
                    },
                );
            }
        }
        for pod in pods {
            let mut selected_by: Vec<String> = services
                .iter()
                .filter(|s| {
                    s.namespace == pod.namespace
                        && !s.selector.is_empty()
                        && s.selector
                            .iter()
                            .all(|(k, v)| pod.labels.get(k).is_some_and(|l| l == v))
                })
                .map(|s| s.full.clone())
                .collect();
            selected_by.sort();
            for &ip in &pod.ips {
                names.by_ip.insert(
                    ip,
                    NameEntry {
                        name: pod.full.clone(),
                        kind: NameKind::Pod,
                        services: selected_by.clone(),
                    },
                );
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODS: &[u8] = br#"{"kind":"List","items":[
      {"metadata":{"name":"details-v1-abc","namespace":"bookinfo","labels":{"app":"details","version":"v1"}},
       "status":{"podIP":"10.131.1.100","podIPs":[{"ip":"10.131.1.100"},{"ip":"fd00::5"}]}},
      {"metadata":{"name":"node-exporter","namespace":"mon"},"spec":{"hostNetwork":true},
       "status":{"podIP":"192.168.1.10"}},
      {"metadata":{"name":"pending"},"status":{}},
      {"metadata":{"namespace":"x"},"status":{"podIP":"10.0.0.9"}},
      {"metadata":{"name":"bad-ip","namespace":"x"},"status":{"podIP":"not-an-ip"}}
    ]}"#;

    const SERVICES: &[u8] = br#"{"kind":"List","items":[
      {"metadata":{"name":"details","namespace":"bookinfo"},
       "spec":{"clusterIP":"10.96.0.20","clusterIPs":["10.96.0.20"],"selector":{"app":"details"}}},
      {"metadata":{"name":"other-ns","namespace":"default"},
       "spec":{"clusterIP":"10.96.0.30","selector":{"app":"details"}}},
      {"metadata":{"name":"headless","namespace":"bookinfo"},
       "spec":{"clusterIP":"None","selector":{"version":"v1"}}},
      {"metadata":{"name":"lb","namespace":"bookinfo"},
       "spec":{"clusterIP":"10.96.0.40","externalIPs":["203.0.113.7"]},
       "status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.4"}]}}}
    ]}"#;

    #[test]
    fn reads_pod_list() {
        let names = Names::from_pods_json(PODS).unwrap();
        assert_eq!(
            names.name_of("10.131.1.100".parse().unwrap()),
            Some("bookinfo/details-v1-abc")
        );
        assert_eq!(
            names.name_of("fd00::5".parse().unwrap()),
            Some("bookinfo/details-v1-abc")
        );
        assert_eq!(names.name_of("192.168.1.10".parse().unwrap()), None);
        assert_eq!(names.name_of("10.0.0.9".parse().unwrap()), None);
        assert_eq!(names.len(), 2);
        assert!(Names::from_pods_json(b"[1,2]").is_err());
        assert!(Names::from_pods_json(b"not json").is_err());
        let single = br#"{"kind":"Pod","metadata":{"name":"a"},"status":{"podIP":"10.1.1.1"}}"#;
        let names = Names::from_pods_json(single).unwrap();
        assert_eq!(names.name_of("10.1.1.1".parse().unwrap()), Some("a"));
    }

    #[test]
    fn services_name_their_addresses_and_the_pods_they_select() {
        let names = Names::from_json(PODS, SERVICES).unwrap();
        let svc = names.lookup("10.96.0.20".parse().unwrap()).unwrap();
        assert_eq!(
            (svc.name.as_str(), svc.kind),
            ("bookinfo/details", NameKind::Service)
        );
        let pod = names.lookup("10.131.1.100".parse().unwrap()).unwrap();
        assert_eq!(pod.kind, NameKind::Pod);
        // same-namespace selectors only; a headless service selects but has no address
        assert_eq!(
            pod.services,
            vec![
                "bookinfo/details".to_string(),
                "bookinfo/headless".to_string()
            ]
        );
        for ip in ["10.96.0.40", "203.0.113.7", "198.51.100.4"] {
            assert_eq!(names.name_of(ip.parse().unwrap()), Some("bookinfo/lb"));
        }
        assert!(Names::from_json(PODS, b"{}").is_err());
        assert!(Names::from_json(PODS, br#"{"kind":"Service","metadata":{"name":"s"}}"#).is_ok());
    }
}
