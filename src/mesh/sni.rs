//! Istio's SNI for mesh traffic: `outbound_.PORT_.SUBSET_.FQDN`, e.g.
//! `outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local` (subset empty when no
//! DestinationRule subset applies: `outbound_.9080_._.details.bookinfo.svc.cluster.local`).

use serde::Serialize;

/// A decoded Istio SNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IstioSni {
    /// `outbound` (the usual) or `inbound`.
    pub direction: String,
    /// The service port the client asked for.
    pub port: u16,
    /// The DestinationRule subset, if any.
    pub subset: Option<String>,
    /// The destination host, e.g. `details.bookinfo.svc.cluster.local`.
    pub fqdn: String,
    /// `namespace/name` of a Kubernetes service (`NAME.NS.svc.…`); `None` for other hosts
    /// (ServiceEntry names).
    pub service: Option<String>,
}

/// Decodes an Istio SNI; `None` for any other name.
pub fn decode(sni: &str) -> Option<IstioSni> {
    let mut parts = sni.splitn(4, "_.");
    let direction = parts.next()?;
    if direction != "outbound" && direction != "inbound" {
        return None;
    }
    let port: u16 = parts.next()?.parse().ok()?;
    let subset = parts.next()?;
    let fqdn = parts.next()?;
    if fqdn.is_empty() {
        return None;
    }
    let labels: Vec<&str> = fqdn.split('.').collect();
    let service = match labels.as_slice() {
        [name, ns, "svc", ..] if !name.is_empty() && !ns.is_empty() => Some(format!("{ns}/{name}")),
        _ => None,
    };
    Some(IstioSni {
        direction: direction.to_string(),
        port,
        subset: (!subset.is_empty()).then(|| subset.to_string()),
        fqdn: fqdn.to_string(),
        service,
    })
}

impl IstioSni {
    /// `bookinfo/details:9080 (subset v1)` for people.
    pub fn short(&self) -> String {
        let host = self.service.clone().unwrap_or_else(|| self.fqdn.clone());
        match &self.subset {
            Some(s) => format!("{host}:{} (subset {s})", self.port),
            None => format!("{host}:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_istio_names() {
        let d = decode("outbound_.9080_._.details.bookinfo.svc.cluster.local").unwrap();
        assert_eq!(d.direction, "outbound");
        assert_eq!(d.port, 9080);
        assert_eq!(d.subset, None);
        assert_eq!(d.fqdn, "details.bookinfo.svc.cluster.local");
        assert_eq!(d.service.as_deref(), Some("bookinfo/details"));
        assert_eq!(d.short(), "bookinfo/details:9080");
        let d = decode("outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local").unwrap();
        assert_eq!(d.subset.as_deref(), Some("v1"));
        assert_eq!(d.short(), "bookinfo/reviews:9080 (subset v1)");
        let d = decode("outbound_.443_._.api.example.com").unwrap();
        assert_eq!((d.service, d.port), (None, 443));
        assert!(decode("inbound_.15443_._.x.y.svc.cluster.local").is_some());
    }

    #[test]
    fn other_names_are_not_istio() {
        for sni in [
            "details.bookinfo.svc.cluster.local",
            "outbound_.x_._.details",
            "outbound_.70000_._.details",
            "outbound_.9080_._.",
            "outbound_.9080",
            "sideways_.9080_._.details",
            "",
        ] {
            assert_eq!(decode(sni), None, "{sni}");
        }
    }
}
