//! The human report: a header per capture, one line per flow, a summary line, the policy outcome.

use std::io::{self, Write};

use super::document::{Document, FlowDoc};
use crate::model::{Evidence, Verdict};

const WIDTH: usize = 100;

/// Terminal colours for verdicts; empty strings when colour is off.
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

/// The last two path segments of a SPIFFE ID (`ns/NS/sa/SA` → `NS/sa/SA`).
fn short_identity(uri: &str) -> String {
    match uri.split_once("/ns/") {
        Some((_, rest)) => rest.to_string(),
        None => uri.trim_start_matches("spiffe://").to_string(),
    }
}

/// What the detail column says about a flow.
fn detail(flow: &FlowDoc<'_>) -> String {
    if let Some(p) = flow.plaintext {
        let mut s = format!("{} {}", p.protocol, p.evidence);
        if p.rejected {
            s = format!("rejected: {s}");
        }
        return s;
    }
    if let Some(tls) = flow.tls {
        let identity = |side: &crate::model::CertificateSide| {
            side.chain
                .first()
                .and_then(|c| c.san_uris.first().map(|u| short_identity(u)))
        };
        let client_id = identity(&tls.client_certificate);
        let server_id = identity(&tls.server_certificate);
        let mut s = match (client_id, server_id) {
            (Some(c), Some(s)) => format!("{c} → {s}"),
            (Some(c), None) => format!("client {c}"),
            _ => tls
                .sni
                .as_deref()
                .map(|sni| sni.trim_end_matches(".svc.cluster.local").to_string())
                .unwrap_or_else(|| "(no SNI)".to_string()),
        };
        let cert = &tls.client_certificate;
        let how = match (cert.presented, cert.evidence) {
            (Some(true), Some(Evidence::Inferred)) => " [client cert inferred]",
            (Some(true), Some(Evidence::Decrypted)) => " [client cert decrypted]",
            (Some(true), _) => " [client cert]",
            (Some(false), _) if tls.certificate_requested == Some(true) => " [cert requested, none sent]",
            (Some(false), _) => " [no client cert]",
            (None, _) if tls.resumed == Some(true) => " [resumed: client cert unknown]",
            (None, _) => " [client cert unknown]",
        };
        s.push_str(how);
        return s;
    }
    flow.reasons.first().cloned().unwrap_or_default()
}

/// Writes the table report.
pub fn write(doc: &Document<'_>, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let pal = Palette { on: color };
    for c in &doc.captures {
        let mut line = format!(
            "{}: {}{}, {}, {} packets",
            c.path,
            c.format,
            c.compression.map(|z| format!(" ({z})")).unwrap_or_default(),
            if c.link_types.is_empty() { "no interfaces".to_string() } else { c.link_types.join("+") },
            c.packets,
        );
        if c.truncated {
            line.push_str(", TRUNCATED");
        }
        writeln!(out, "{}", pal.bold(&line))?;
        writeln!(out, "  sha256 {}", c.sha256)?;
        for w in &c.warnings {
            writeln!(out, "  warning: {w}")?;
        }
    }
    writeln!(out)?;
    if doc.flows.is_empty() {
        writeln!(out, "no TCP flows in the capture")?;
    } else {
        writeln!(
            out,
            "{}",
            pal.bold(&format!(
                "{:>4}  {:<44} {:<9} {:<4} {:>5} {:>6}  {}",
                "#", "CLIENT → SERVER", "VERDICT", "TLS", "PKTS", "BYTES", "DETAIL"
            ))
        )?;
    }
    for flow in &doc.flows {
        let ends = format!(
            "{} → {}",
            endpoint(&flow.client.ip, flow.client.port, flow.client.name.as_deref()),
            endpoint(&flow.server.ip, flow.server.port, flow.server.name.as_deref())
        );
        let version = flow
            .tls
            .and_then(|t| t.version.as_deref())
            .unwrap_or("-");
        let mark = match flow.policy {
            Some("exempt") => '~',
            Some(_) => '!',
            None => ' ',
        };
        let verdict = format!("{:<9}", flow.verdict.name());
        let head = format!(
            "{:>3}{mark}  {:<44} {} {:<4} {:>5} {:>6}  ",
            flow.id,
            fit(&ends, 44),
            pal.paint(flow.verdict, &verdict),
            fit(version, 4),
            flow.packets.client + flow.packets.server,
            human_bytes(flow.bytes.client + flow.bytes.server),
        );
        let used = 4 + 2 + 44 + 1 + 9 + 1 + 4 + 1 + 5 + 1 + 6 + 2;
        let mut det = detail(flow);
        if flow.leg == "loopback" {
            det = format!("(loopback) {det}");
        }
        writeln!(out, "{head}{}", fit(&det, WIDTH.saturating_sub(used)))?;
    }
    let counts: Vec<String> = doc
        .summary
        .by_verdict
        .entries()
        .iter()
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    writeln!(out)?;
    writeln!(out, "{} flows: {}", doc.summary.flows, counts.join(", "))?;
    if let Some(p) = &doc.summary.policy {
        let list = |ids: &[u64]| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let exempt = if p.exempted.is_empty() {
            String::new()
        } else {
            format!("; exempted by --allow: {} (~)", list(&p.exempted))
        };
        if p.pass {
            writeln!(out, "policy --require {}: {}{exempt}", p.require, pal.paint(Verdict::Mtls, "PASS"))?;
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
        assert_eq!(short_identity("spiffe://cluster.local/ns/bookinfo/sa/details"), "bookinfo/sa/details");
        assert_eq!(endpoint("::1", 80, None), "[::1]:80");
    }
}
