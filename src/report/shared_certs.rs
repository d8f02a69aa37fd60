//! Certificates that many flows present (every connection to the same workload shows the same
//! chain), rendered to JSON once and copied into the entry of each flow that presents them.
//!
//! A rendering is kept per render task, keyed by the certificate's shared allocation, which the
//! entry holds so that the key stays its own. Pretty renderings are made at depth zero:
//! [`NestedPretty`](super::indent::NestedPretty) indents each of their lines as it writes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::hash::FxBuildHasher;
use crate::model::{CertInfo, WriteCert};

/// Certificates remembered by one task; past this, it starts over.
const MAX_REMEMBERED: usize = 256;
/// Bytes of JSON remembered by one task; past this, it starts over.
const MAX_REMEMBERED_BYTES: usize = 256 << 10;
/// A rendering larger than this (a certificate with very many names) is written, not kept.
const MAX_KEPT_RENDERING: usize = 16 << 10;

/// How the report lays out its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `serde_json::to_writer`: one line.
    Compact,
    /// Two spaces a level, written through `NestedPretty`.
    Pretty,
}

/// The certificates one render task has written, as it wrote them.
#[derive(Debug)]
pub(super) struct SharedCerts {
    layout: Layout,
    /// Only its own render task uses it: the lock is never contended, and it lets the flows
    /// that refer to it move between threads.
    rendered: Mutex<Remembered>,
}

/// What one task remembers.
#[derive(Debug, Default)]
struct Remembered {
    /// Keyed by the address of the certificate's allocation, which the entry keeps alive.
    by_address: HashMap<usize, Rendered, FxBuildHasher>,
    /// Bytes of JSON held.
    bytes: usize,
}

/// A certificate and its JSON.
#[derive(Debug)]
struct Rendered {
    /// Keeps the allocation whose address is the key.
    cert: Arc<CertInfo>,
    json: Box<RawValue>,
}

impl SharedCerts {
    pub(super) fn new(layout: Layout) -> SharedCerts {
        SharedCerts {
            layout,
            rendered: Mutex::new(Remembered::default()),
        }
    }

    fn render(&self, cert: &CertInfo) -> Option<Box<RawValue>> {
        let text = match self.layout {
            Layout::Compact => serde_json::to_string(cert),
            Layout::Pretty => serde_json::to_string_pretty(cert),
        };
        RawValue::from_string(text.ok()?).ok()
    }
}

impl WriteCert for SharedCerts {
    fn write_cert<S: Serializer>(
        &self,
        cert: &Arc<CertInfo>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        // Held by this flow alone (and not remembered): nothing to share.
        if Arc::strong_count(cert) < 2 {
            return cert.serialize(serializer);
        }
        let key = Arc::as_ptr(cert) as usize;
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = rendered.by_address.get(&key) {
            debug_assert!(Arc::ptr_eq(&r.cert, cert), "keyed by its own address");
            return r.json.serialize(serializer);
        }
        let Some(json) = self.render(cert) else {
            return cert.serialize(serializer);
        };
        let written = json.serialize(serializer);
        let size = json.get().len();
        if size > MAX_KEPT_RENDERING {
            return written;
        }
        if rendered.by_address.len() >= MAX_REMEMBERED
            || rendered.bytes + size > MAX_REMEMBERED_BYTES
        {
            *rendered = Remembered::default();
        }
        rendered.bytes += size;
        let cert = Arc::clone(cert);
        rendered.by_address.insert(key, Rendered { cert, json });
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CertificateSide, TlsSummary};
    use crate::report::indent::NestedPretty;

    fn cert(n: usize) -> Arc<CertInfo> {
        Arc::new(CertInfo {
            subject: format!("CN=w{n}, O=\"quoted\"\\x"),
            issuer: "O=cluster.local".into(),
            serial: format!("{n:02x}"),
            sha256: format!("{n:064x}"),
            key: "EC P-256".into(),
            san_uris: vec![format!("spiffe://cluster.local/ns/a/sa/w{n}")],
            ..CertInfo::default()
        })
    }

    fn tls_with(chain: &[Arc<CertInfo>]) -> TlsSummary {
        TlsSummary {
            client_certificate: CertificateSide {
                presented: Some(true),
                chain: chain.into(),
                ..CertificateSide::default()
            },
            server_certificate: CertificateSide {
                frame: Some(7),
                chain: chain.iter().rev().cloned().collect(),
                ..CertificateSide::default()
            },
            ..TlsSummary::default()
        }
    }

    fn pretty(tls: &TlsSummary, certs: Option<&SharedCerts>) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, NestedPretty::at(3));
        match certs {
            Some(certs) => tls.serialize_using(&mut ser, certs).unwrap(),
            None => tls.serialize(&mut ser).unwrap(),
        }
        String::from_utf8(out).unwrap()
    }

    /// More shared certificates than a task remembers, written again and again: always what
    /// serializing them field by field writes, and never more remembered than the bound.
    #[test]
    fn shared_renderings_are_what_serde_json_writes() {
        let all: Vec<Arc<CertInfo>> = (0..MAX_REMEMBERED + 40).map(cert).collect();
        // A certificate that only one flow holds.
        let lone = TlsSummary {
            client_certificate: CertificateSide {
                chain: vec![cert(9999)].into(),
                ..CertificateSide::default()
            },
            ..TlsSummary::default()
        };
        let (pretty_certs, compact_certs) = (
            SharedCerts::new(Layout::Pretty),
            SharedCerts::new(Layout::Compact),
        );
        let check = |tls: &TlsSummary| {
            assert_eq!(pretty(tls, Some(&pretty_certs)), pretty(tls, None));
            let mut compact = serde_json::Serializer::new(Vec::new());
            tls.serialize_using(&mut compact, &compact_certs).unwrap();
            let want = serde_json::to_string(tls).unwrap();
            assert_eq!(String::from_utf8(compact.into_inner()).unwrap(), want);
        };
        for _round in 0..3 {
            all.chunks(3)
                .chain([&[][..]])
                .map(tls_with)
                .for_each(|tls| check(&tls));
            check(&lone);
        }
        for certs in [&pretty_certs, &compact_certs] {
            let rendered = certs.rendered.lock().unwrap();
            let held = &rendered.by_address;
            assert!(!held.is_empty() && held.len() <= MAX_REMEMBERED);
            let bytes: usize = held.values().map(|r| r.json.get().len()).sum();
            assert_eq!(bytes, rendered.bytes);
            assert!(bytes <= MAX_REMEMBERED_BYTES);
            // The certificate that only one flow held was never remembered.
            assert!(held.values().all(|r| r.cert.serial != "270f"));
        }
    }

    fn cert_with_names(n: usize, names: usize) -> Arc<CertInfo> {
        let mut c = (*cert(n)).clone();
        c.san_dns = (0..names)
            .map(|i| format!("host-{i}.example.test"))
            .collect();
        Arc::new(c)
    }

    /// Renderings are bounded in bytes too: one too large to keep is written and not kept, and
    /// many large ones make the task start over.
    #[test]
    fn large_renderings_are_bounded_in_bytes() {
        let huge = cert_with_names(1, 2000);
        let large: Vec<Arc<CertInfo>> = (0..60).map(|n| cert_with_names(n + 2, 200)).collect();
        let certs = SharedCerts::new(Layout::Pretty);
        for tls in [&[Arc::clone(&huge)][..], &large].map(tls_with) {
            assert_eq!(pretty(&tls, Some(&certs)), pretty(&tls, None));
            let rendered = certs.rendered.lock().unwrap();
            assert!(rendered.bytes <= MAX_REMEMBERED_BYTES);
            assert!(rendered
                .by_address
                .values()
                .all(|r| !Arc::ptr_eq(&r.cert, &huge)));
        }
        let rendered = certs.rendered.lock().unwrap();
        assert!(!rendered.by_address.is_empty());
        assert!(
            rendered.by_address.len() < large.len(),
            "started over at the byte bound"
        );
    }
}
