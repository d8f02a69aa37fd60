//! Names for addresses: `namespace/pod` from the output of `kubectl get pods -A -o json`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// A pod file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamesError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not the JSON of `kubectl get pods -A -o json`: {why}")]
    Format { path: String, why: String },
}

/// Address → name map.
#[derive(Debug, Clone, Default)]
pub struct Names {
    by_ip: HashMap<IpAddr, String>,
}

impl Names {
    /// The name of an address, if known.
    pub fn name_of(&self, ip: IpAddr) -> Option<&str> {
        self.by_ip.get(&ip).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Reads a `kubectl get pods -A -o json` file (a `List` of pods, or a single pod).
    /// Pods on the host network share their node's address and are left out.
    pub fn from_pods_file(path: &Path) -> Result<Names, NamesError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| NamesError::Io {
            path: shown.clone(),
            source,
        })?;
        Names::from_pods_json(&text).map_err(|why| NamesError::Format { path: shown, why })
    }

    /// Parses the JSON of `kubectl get pods -o json`.
    pub fn from_pods_json(text: &[u8]) -> Result<Names, String> {
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let items: Vec<&serde_json::Value> = match value.get("items") {
            Some(serde_json::Value::Array(items)) => items.iter().collect(),
            _ if value.get("kind").and_then(|k| k.as_str()) == Some("Pod") => vec![&value],
            _ => return Err("expected an object with an \"items\" array of pods".to_string()),
        };
        let mut names = Names::default();
        for pod in items {
            let meta = pod.get("metadata");
            let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(|v| v.as_str());
            let Some(name) = field("name") else { continue };
            let full = match field("namespace") {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            let host_network = pod
                .pointer("/spec/hostNetwork")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if host_network {
                continue;
            }
            let status = pod.get("status");
            let mut ips: Vec<&str> = status
                .and_then(|s| s.get("podIPs"))
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|e| e.get("ip")?.as_str()).collect())
                .unwrap_or_default();
            if let Some(ip) = status.and_then(|s| s.get("podIP")).and_then(|v| v.as_str()) {
                ips.push(ip);
            }
            for ip in ips {
                if let Ok(ip) = ip.parse::<IpAddr>() {
                    names.by_ip.insert(ip, full.clone());
                }
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pod_list() {
        let json = br#"{"kind":"List","items":[
          {"metadata":{"name":"details-v1-abc","namespace":"bookinfo"},
           "status":{"podIP":"10.131.1.100","podIPs":[{"ip":"10.131.1.100"},{"ip":"fd00::5"}]}},
          {"metadata":{"name":"node-exporter","namespace":"mon"},"spec":{"hostNetwork":true},
           "status":{"podIP":"192.168.1.10"}},
          {"metadata":{"name":"pending"},"status":{}}
        ]}"#;
        let names = Names::from_pods_json(json).unwrap();
        assert_eq!(
            names.name_of("10.131.1.100".parse().unwrap()),
            Some("bookinfo/details-v1-abc")
        );
        assert_eq!(
            names.name_of("fd00::5".parse().unwrap()),
            Some("bookinfo/details-v1-abc")
        );
        assert_eq!(names.name_of("192.168.1.10".parse().unwrap()), None);
        assert!(Names::from_pods_json(b"[1,2]").is_err());
        assert!(Names::from_pods_json(b"not json").is_err());
    }
}
