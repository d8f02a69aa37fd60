//! The human report: a header per capture, one line per flow, a legend, a summary line and the
//! policy outcome.
//!
//! Columns: flow id (with `!` for a policy violation, `~` for an exemption), client → server,
//! leg (`lo` inside a pod, `net` between pods), verdict, TLS version, how the client certificate
//! is known, packets, bytes, and a detail: identities, SNI, or the redacted cleartext evidence.

use std::io::{self, Write};

use super::document::{Document, FlowDoc};
use crate::model::{CertificateSide, Evidence, TlsSummary, Verdict};

/// What the LEG and CERT columns mean, printed under the flows.
const LEGEND: [&str; 2] = [
    "LEG  lo: inside a pod (app <-> sidecar over loopback)   net: between pods or hosts",
    "CERT client certificate seen in the clear, infer(red) from encrypted record sizes, decr(ypted) with a key log, none, ? unknown",
];

/// The endpoints column never takes more than this.
const MAX_ENDS: usize = 44;

/// How the table is laid out.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    /// ANSI colours for verdicts.
    pub color: bool,
    /// Cut each line to this many columns (a terminal's width); `None` writes whole lines.
    pub width: Option<usize>,
}

struct Palette {
    on: bool,
}

impl Palette {
    fn paint(&self, verdict: Verdict, text: &str) -> String {
        if !self.on {
            return text.to_string();
        }
        let code = match verdict {
            Verdict::Mtls => "32",
            Verdict::Tls => "33",
            Verdict::Plaintext => "1;31",
            Verdict::Opaque => "35",
            Verdict::Empty => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn bold(&self, text: &str) -> String {
        if self.on {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Shortens `s` to at most `max` characters, marking the cut with `…`.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}…")
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["k", "M", "G", "T"];
    if n < 1000 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1000.0;
        unit = u;
        if v < 1000.0 {
            break;
        }
    }
    if v < 10.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

fn endpoint(ip: &str, port: u16, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name}:{port}"),
        None if ip.contains(':') => format!("[{ip}]:{port}"),
        None => format!("{ip}:{port}"),
    }
}

/// A SPIFFE ID without its trust domain (`spiffe://td/ns/NS/sa/SA` → `NS/sa/SA`).
fn short_identity(uri: &str) -> String {
    match uri.split_once("/ns/") {
        Some((_, rest)) => rest.to_string(),
        None => uri.trim_start_matches("spiffe://").to_string(),
    }
}

/// The identity a certificate side shows: its first URI SAN, else its first DNS SAN.
fn identity(side: &CertificateSide) -> Option<String> {
    let leaf = side.chain.first()?;
    leaf.san_uris
        .first()
        .map(|u| short_identity(u))
        .or_else(|| leaf.san_dns.first().cloned())
}

/// Istio's SNI `outbound_.PORT_.SUBSET_.HOST` as `HOST:PORT`, other names as they are, without
/// the cluster's DNS suffix.
fn short_sni(sni: &str) -> String {
    let parts: Vec<&str> = sni.splitn(4, "_.").collect();
    let host_port = match parts.as_slice() {
        ["outbound", port, subset, host] => {
            let subset = if subset.is_empty() {
                String::new()
            } else {
                format!(" ({subset})")
            };
            format!(
                "{}:{port}{subset}",
                host.trim_end_matches(".svc.cluster.local")
            )
        }
        _ => sni.trim_end_matches(".svc.cluster.local").to_string(),
    };
    host_port
}

/// The CERT column: how the client certificate is known.
fn cert_column(tls: &TlsSummary) -> &'static str {
    let cert = &tls.client_certificate;
    match (cert.presented, cert.evidence) {
        (Some(true), Some(Evidence::Observed)) => "seen",
        (Some(true), Some(Evidence::Inferred)) => "infer",
        (Some(true), Some(Evidence::Decrypted)) => "decr",
        (Some(true), None) => "yes",
        (Some(false), _) => "none",
        (None, _) => "?",
    }
}

/// What the detail column says about a flow.
fn detail(flow: &FlowDoc<'_>) -> String {
    if let Some(p) = flow.plaintext {
        let proto = if p.evidence.contains("HTTP/1.") {
            String::new()
        } else {
            format!("{}: ", p.protocol)
        };
        let rejected = if p.rejected {
            " (rejected by the server)"
        } else {
            ""
        };
        return format!("{proto}{}{rejected}", p.evidence);
    }
    if let Some(tls) = flow.tls {
        let mut parts = Vec::new();
        match (
            identity(&tls.client_certificate),
            identity(&tls.server_certificate),
        ) {
            (Some(c), Some(s)) => parts.push(format!("{c} → {s}")),
            (Some(c), None) => parts.push(format!("{c} →")),
            (None, Some(s)) if tls.sni.is_none() => parts.push(format!("→ {s}")),
            _ => {}
        }
        if parts.is_empty() {
            parts.push(
                tls.sni
                    .as_deref()
                    .map_or_else(|| "no SNI".to_string(), short_sni),
            );
        }
        if tls.client_certificate.presented == Some(false)
            && tls.certificate_requested == Some(true)
        {
            parts.push("cert requested, none sent".to_string());
        }
        if tls.client_certificate.presented.is_none() && tls.resumed == Some(true) {
            parts.push("resumed".to_string());
        }
        if tls.handshake == Some(crate::model::HandshakeState::Failed) {
            parts.push("handshake failed".to_string());
        }
        return parts.join(", ");
    }
    flow.reasons.first().cloned().unwrap_or_default()
}

fn cut(line: String, width: Option<usize>) -> String {
    match width {
        Some(w) => fit(&line, w),
        None => line,
    }
}

/// Writes the table report.
pub fn write(doc: &Document<'_>, out: &mut dyn Write, style: TableStyle) -> io::Result<()> {
    let pal = Palette { on: style.color };
    for c in &doc.captures {
        let mut line = format!(
            "{}: {}{}, {}, {} packets",
            c.path,
            c.format,
            c.compression.map(|z| format!(" ({z})")).unwrap_or_default(),
            if c.link_types.is_empty() {
                "no interfaces".to_string()
            } else {
                c.link_types.join("+")
            },
            c.packets,
        );
        if c.truncated {
            line.push_str(", TRUNCATED");
        }
        writeln!(out, "{}", pal.bold(&line))?;
        writeln!(out, "  sha256 {}", c.sha256)?;
        for w in &c.warnings {
            writeln!(out, "{}", cut(format!("  warning: {w}"), style.width))?;
        }
    }
    writeln!(out)?;
    let ends: Vec<String> = doc
        .flows
        .iter()
        .map(|flow| {
            let text = format!(
                "{} → {}",
                endpoint(
                    &flow.client.ip,
                    flow.client.port,
                    flow.client.name.as_deref()
                ),
                endpoint(
                    &flow.server.ip,
                    flow.server.port,
                    flow.server.name.as_deref()
                )
            );
            fit(&text, MAX_ENDS)
        })
        .collect();
    let ends_width = ends
        .iter()
        .map(|e| e.chars().count())
        .max()
        .unwrap_or(0)
        .max("CLIENT → SERVER".chars().count());
    if doc.flows.is_empty() {
        writeln!(out, "no TCP flows in the capture")?;
    } else {
        let head = format!(
            "{:>4}  {:<ends_width$}  {:<3}  {:<9}  {:<3}  {:<5}  {:>5} {:>6}  {}",
            "#", "CLIENT → SERVER", "LEG", "VERDICT", "TLS", "CERT", "PKTS", "BYTES", "DETAIL"
        );
        writeln!(out, "{}", pal.bold(&head))?;
    }
    for (flow, ends) in doc.flows.iter().zip(&ends) {
        let version = flow.tls.and_then(|t| t.version.as_deref()).unwrap_or("-");
        let cert = flow.tls.map_or("-", cert_column);
        let mark = match flow.policy {
            Some("exempt") => '~',
            Some(_) => '!',
            None => ' ',
        };
        let leg = if flow.leg == "loopback" { "lo" } else { "net" };
        let line = format!(
            "{:>3}{mark}  {ends:<ends_width$}  {leg:<3}  {:<9}  {:<3}  {cert:<5}  {:>5} {:>6}  {}",
            flow.id,
            flow.verdict.name(),
            fit(version, 3),
            flow.packets.client + flow.packets.server,
            human_bytes(flow.bytes.client + flow.bytes.server),
            detail(flow),
        );
        let line = cut(line, style.width);
        // colour the verdict after cutting, so escape codes never count as columns
        let name = flow.verdict.name();
        let line = match line.find(&format!("  {name} ")) {
            Some(at) if style.color => {
                let start = at + 2;
                format!(
                    "{}{}{}",
                    &line[..start],
                    pal.paint(flow.verdict, name),
                    &line[start + name.len()..]
                )
            }
            _ => line,
        };
        writeln!(out, "{line}")?;
    }
    if !doc.flows.is_empty() {
        writeln!(out)?;
        for legend in LEGEND {
            writeln!(out, "{}", cut(legend.to_string(), style.width))?;
        }
    }
    let counts: Vec<String> = doc
        .summary
        .by_verdict
        .entries()
        .iter()
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    writeln!(out, "{} flows: {}", doc.summary.flows, counts.join(", "))?;
    if let Some(p) = &doc.summary.policy {
        let list = |ids: &[u64]| {
            ids.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let exempt = if p.exempted.is_empty() {
            String::new()
        } else {
            format!("; exempted by --allow: {} (~)", list(&p.exempted))
        };
        if p.pass {
            writeln!(
                out,
                "policy --require {}: {}{exempt}",
                p.require,
                pal.paint(Verdict::Mtls, "PASS")
            )?;
        } else {
            writeln!(
                out,
                "policy --require {}: {}: flows {} violate it (!){exempt}",
                p.require,
                pal.paint(Verdict::Plaintext, "FAIL"),
                list(&p.violations)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(human_bytes(999), "999");
        assert_eq!(human_bytes(5_100), "5.1k");
        assert_eq!(human_bytes(2_000_000_000), "2.0G");
        assert_eq!(
            short_identity("spiffe://cluster.local/ns/bookinfo/sa/details"),
            "bookinfo/sa/details"
        );
        assert_eq!(endpoint("::1", 80, None), "[::1]:80");
        assert_eq!(
            short_sni("outbound_.9080_._.details.bookinfo.svc.cluster.local"),
            "details.bookinfo:9080"
        );
        assert_eq!(
            short_sni("outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local"),
            "reviews.bookinfo:9080 (v1)"
        );
        assert_eq!(short_sni("api.example.internal"), "api.example.internal");
    }
}
