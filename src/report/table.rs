//! The human report: a header per capture, then (when pod names are known) flows grouped by pod
//! pair, one line per flow, a legend, and the summary: verdicts, legs, the mesh profile and what
//! it expected, and the policy outcome naming the flows that violate it.
//!
//! Flow columns: id (`!` violates `--require`, `?` unproven under it, `~` exempt), client →
//! server, leg (`loopback`
//! inside a pod, `network` between pods), the other leg of the same request, verdict, TLS
//! version, how the client certificate is known, packets, bytes, and a detail: identities,
//! service, or the redacted cleartext evidence.

use std::io::{self, Write};
use std::net::IpAddr;

use super::document::{Document, EndpointDoc, FlowDoc};
use super::export::{needs_whole_capture, Exporter, Pieces, SPLIT};
use super::file::Complete;
use super::pods::{identity, PodPairDoc};
use super::policy::{PolicyMark, Requirement, UNPROVEN_ADVICE};
use crate::decode::Transport;
use crate::mesh::{Leg, MeshRequest};
use crate::model::{Evidence, TlsSummary, Verdict};

/// The endpoints column never takes more than this.
const MAX_ENDS: usize = 80;
/// A pod or service name in the flow table is cut (in the middle) to this many characters.
const MAX_NAME: usize = 30;
/// Violations listed by name in the summary.
const MAX_LISTED: usize = 10;

/// Which tables the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// One line per flow.
    #[default]
    Flows,
    /// Flows grouped by pod pair.
    Pods,
    /// Pod pairs, then flows.
    Both,
    /// Only the one-screen summary.
    Summary,
}

/// How the table is laid out.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStyle {
    /// ANSI colours for verdicts.
    pub color: bool,
    /// Cut each line to this many columns (a terminal's width); `None` writes whole lines.
    pub width: Option<usize>,
    pub view: View,
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
            Verdict::Encrypted => "36",
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

/// Shortens `s` to at most `max` characters by cutting out its middle (`ns/productpa…-x2k4p`),
/// so that both the namespace and the pod's unique suffix stay readable.
fn elide(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 3 {
        return s.to_string();
    }
    let tail = (max - 1) / 3;
    let head = max - 1 - tail;
    let first: String = s.chars().take(head).collect();
    let last: String = s.chars().skip(n - tail).collect();
    format!("{first}…{last}")
}

/// Pads `s` with spaces to `width` characters (by characters, not bytes).
fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
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

/// `name:port` (the name cut to [`MAX_NAME`]), else `ip:port`.
pub(crate) fn endpoint(ip: IpAddr, port: u16, name: Option<&str>) -> String {
    full_endpoint(ip, port, name.map(|n| elide(n, MAX_NAME)).as_deref())
}

/// `name:port`, else `ip:port` (`[ip]:port` for IPv6).
fn full_endpoint(ip: IpAddr, port: u16, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name}:{port}"),
        None if ip.is_ipv6() => format!("[{ip}]:{port}"),
        None => format!("{ip}:{port}"),
    }
}

/// Linkerd identities are DNS names under this suffix.
const LINKERD_IDENTITY: &str = ".serviceaccount.identity.linkerd.cluster.local";

/// A SPIFFE ID without its trust domain (`spiffe://td/ns/NS/sa/SA` → `NS/sa/SA`); a Linkerd
/// identity likewise (`SA.NS.serviceaccount.identity.linkerd.cluster.local` → `NS/sa/SA`).
fn short_identity(uri: &str) -> String {
    if let Some((sa, ns)) = uri
        .strip_suffix(LINKERD_IDENTITY)
        .and_then(|name| name.split_once('.'))
    {
        return format!("{ns}/sa/{sa}");
    }
    match uri.split_once("/ns/") {
        Some((_, rest)) => rest.to_string(),
        None => uri.trim_start_matches("spiffe://").to_string(),
    }
}

/// The CERT column: how the client certificate is known.
pub(crate) fn cert_column(tls: &TlsSummary) -> &'static str {
    let cert = &tls.client_certificate;
    match (cert.presented, cert.evidence) {
        (Some(true), Some(Evidence::Observed)) => "seen",
        (Some(true), Some(Evidence::Inferred)) => "infer",
        (Some(true), Some(Evidence::Decrypted)) => "decr",
        (Some(true), Some(Evidence::Resumed)) => "resum",
        (Some(true), Some(Evidence::Forwarded)) => "fwd",
        (Some(true), None) => "yes",
        (Some(false), _) => "none",
        (None, _) => "?",
    }
}

/// What the detail column says about a flow.
pub(crate) fn detail(flow: &FlowDoc<'_>) -> String {
    let mut text = base_detail(flow);
    if let Some(a) = flow.ambiguity {
        text = if a.unread > 0 {
            format!("ambiguous, conflicting copies not all read: {text}")
        } else {
            format!(
                "ambiguous, {} read the other way: {text}",
                a.other_verdict.name()
            )
        };
    }
    if let Some(rule) = flow.expected_rule {
        text = format!("expected ({}): {text}", rule.words());
    } else if let Some(by) = flow.exempt_by.as_deref() {
        text = format!("exempt ({by}): {text}");
    }
    text
}

fn base_detail(flow: &FlowDoc<'_>) -> String {
    let mut text = verdict_detail(flow);
    if let Some(id) = flow.reply_half_of {
        text = format!("replies of #{id} (iptables REDIRECT): {text}");
    }
    if let Some(to) = &flow.original_destination {
        text = format!(
            "{text} (meant for {}, redirected to the sidecar)",
            endpoint(to.ip, to.port, to.name)
        );
    }
    text
}

fn verdict_detail(flow: &FlowDoc<'_>) -> String {
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
    if let Some(tls) = flow.tls.map(|t| t.summary) {
        let mut parts = Vec::new();
        let who = (
            identity(&tls.client_certificate).map(short_identity),
            identity(&tls.server_certificate).map(short_identity),
        );
        match who {
            (Some(c), Some(s)) => parts.push(format!("{c} → {s}")),
            (Some(c), None) => parts.push(format!("{c} →")),
            (None, Some(s)) if tls.hello.sni.is_none() => parts.push(format!("→ {s}")),
            _ => {}
        }
        if let Some(sni) = flow.mesh.istio_sni {
            parts.push(sni.short());
        } else if parts.is_empty() {
            parts.push(tls.hello.sni.as_deref().unwrap_or("no SNI").to_string());
        }
        if tls.client_certificate.presented == Some(false)
            && tls.certificate_requested == Some(true)
        {
            parts.push("cert requested, none sent".to_string());
        }
        let cross = tls.client_certificate.cross.as_deref();
        if let Some(r) = cross.and_then(|c| c.resumption.as_ref()) {
            parts.push(format!("resumes #{}", r.root));
        } else if tls.resumed == Some(true) {
            parts.push("resumed".to_string());
        } else if tls.handshake == Some(crate::model::HandshakeState::NotCaptured) {
            parts.push("handshake not captured".to_string());
        }
        if let Some(basis) = cross.and_then(|c| c.demand.as_deref()) {
            parts.push(format!(
                "server demands client certs ({})",
                ids(&basis.flows)
            ));
        }
        if tls.handshake == Some(crate::model::HandshakeState::Failed) {
            parts.push("handshake failed".to_string());
        }
        return parts.join(", ");
    }
    if let Some(e) = flow.encryption {
        let software = |banner: &str| {
            let rest = banner.strip_prefix("SSH-").unwrap_or(banner);
            rest.split_once('-').map_or(rest, |(_, s)| s).to_string()
        };
        let mut parts = vec![match (&e.version, &e.client_software, &e.server_software) {
            (Some(v), Some(c), Some(s)) => {
                format!("{} {v}: {} → {}", e.protocol, software(c), software(s))
            }
            _ => e.protocol.to_string(),
        }];
        parts.extend(e.key_exchange.clone());
        parts.extend(e.cipher_client_to_server.clone());
        return parts.join(", ");
    }
    flow.reasons.first().unwrap_or_default()
}

fn cut(line: String, width: Option<usize>) -> String {
    match width {
        Some(w) => fit(&line, w),
        None => line,
    }
}

/// Colours the first ` name ` after `from` in an already cut line; a flow that is not counted
/// (expected or exempt) is dimmed instead of coloured by its verdict.
fn paint_verdict(
    line: String,
    verdict: Verdict,
    counted: bool,
    pal: &Palette,
    from: usize,
) -> String {
    if !pal.on {
        return line;
    }
    let name = verdict.name();
    let colour = if counted { verdict } else { Verdict::Empty };
    let needle = format!(" {name} ");
    let found = line
        .get(from..)
        .and_then(|rest| rest.find(&needle))
        .map(|at| from + at + 1);
    match found {
        Some(start) => format!(
            "{}{}{}",
            &line[..start],
            pal.paint(colour, name),
            &line[start + name.len()..]
        ),
        None => line,
    }
}

/// The table report as an exporter: the captures, pod pairs and the flows' header when it
/// begins, a row per flow as flows come (rendered in parallel), the legend and the summary when
/// it finishes.
#[derive(Debug)]
pub struct TableExporter<W> {
    out: W,
    style: TableStyle,
    pieces: Pieces<()>,
    /// What the flow rows need, known when the table begins: `None` when no row is written.
    rows: Option<RowsLayout>,
}

/// The layout of the flow rows: the endpoints column's width, and whether PAIR is shown.
#[derive(Debug, Clone, Copy)]
struct RowsLayout {
    ends_width: usize,
    pairs: bool,
}

impl<W: Complete> TableExporter<W> {
    pub fn new(out: W, style: TableStyle) -> TableExporter<W> {
        TableExporter {
            out,
            style,
            pieces: Pieces::new(SPLIT.piece),
            rows: None,
        }
    }
}

impl<W: Complete> Exporter for TableExporter<W> {
    fn begin(&mut self, doc: Option<&Document<'_>>) -> io::Result<()> {
        let doc = doc.ok_or_else(|| needs_whole_capture("the batch table"))?;
        let (style, out) = (self.style, &mut self.out);
        let pal = Palette { on: style.color };
        write_captures(doc, out, style, &pal)?;
        let pods = doc.summary.pod_pairs.as_deref().unwrap_or(&[]);
        let show_pods = matches!(style.view, View::Pods | View::Both) && !pods.is_empty();
        let show_flows = match style.view {
            View::Flows | View::Both => true,
            View::Pods => pods.is_empty(),
            View::Summary => false,
        };
        if show_pods {
            writeln!(out)?;
            write_pods(pods, out, style, &pal)?;
        }
        if show_flows {
            writeln!(out)?;
            if doc.is_empty() {
                writeln!(out, "no flows in the capture")?;
            } else {
                let rows = rows_layout(doc);
                writeln!(out, "{}", pal.bold(&header(rows.ends_width, rows.pairs)))?;
                self.rows = Some(rows);
            }
        }
        Ok(())
    }

    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()> {
        let Some(rows) = self.rows else {
            return Ok(());
        };
        let pal = Palette {
            on: self.style.color,
        };
        let layout = FlowLayout {
            style: self.style,
            pal: &pal,
            ends_width: rows.ends_width,
            pairs: rows.pairs,
        };
        let out = &mut self.out;
        self.pieces.render(
            flows,
            || (),
            |flow, piece, ()| writeln!(piece, "{}", flow_row(flow, &layout)),
            |piece| out.write_all(piece),
        )
    }

    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()> {
        let (style, out) = (self.style, &mut self.out);
        let pal = Palette { on: style.color };
        if let Some(rows) = self.rows {
            writeln!(out)?;
            for legend in legend(doc, rows.pairs) {
                writeln!(out, "{}", cut(legend, style.width))?;
            }
        }
        writeln!(out)?;
        write_summary(doc, out, style, &pal)?;
        out.complete()
    }
}

fn write_captures(
    doc: &Document<'_>,
    out: &mut dyn Write,
    style: TableStyle,
    pal: &Palette,
) -> io::Result<()> {
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
        if let Some(r) = &c.ip_reassembly {
            line.push_str(&format!(
                ", {} IP datagrams reassembled from {} fragments",
                r.datagrams, r.fragments
            ));
        }
        if c.truncated {
            line.push_str(", TRUNCATED");
        }
        writeln!(out, "{}", pal.bold(&line))?;
        if let Some(sha256) = &c.sha256 {
            writeln!(out, "  sha256 {sha256}")?;
        }
        for w in &c.warnings {
            writeln!(out, "{}", cut(format!("  warning: {w}"), style.width))?;
        }
    }
    Ok(())
}

fn write_pods(
    pods: &[PodPairDoc],
    out: &mut dyn Write,
    style: TableStyle,
    pal: &Palette,
) -> io::Result<()> {
    let ends: Vec<String> = pods
        .iter()
        .map(|g| {
            let text = if g.leg == Leg::Loopback && g.client == g.server {
                format!("{} (inside the pod)", g.client)
            } else {
                format!("{} → {}", g.client, g.server)
            };
            fit(&text, MAX_ENDS + 8)
        })
        .collect();
    let width = ends
        .iter()
        .map(|e| e.chars().count())
        .max()
        .unwrap_or(0)
        .max("CLIENT POD → SERVER POD".chars().count());
    let head = format!(
        "{}  {:<8}  {:>5}  {:<24}  {:<11}  IDENTITIES (client → server) / SERVICE (Istio SNI)",
        pad("CLIENT POD → SERVER POD", width),
        "LEG",
        "FLOWS",
        "VERDICTS",
        "PORTS"
    );
    writeln!(out, "{}", pal.bold(&head))?;
    for (g, ends) in pods.iter().zip(&ends) {
        let mut verdicts = g.by_verdict.short();
        if g.expected > 0 {
            verdicts.push_str(&format!(" ({} expected)", g.expected));
        }
        let mark = if g.violations > 0 { "!" } else { "" };
        let ids: Vec<String> = g
            .identities
            .iter()
            .map(|i| match i.split_once(" → ") {
                Some((c, s)) => format!("{} → {}", short_identity(c), short_identity(s)),
                None => i.clone(),
            })
            .collect();
        let ports: Vec<String> = g.server_ports.iter().map(u16::to_string).collect();
        let line = format!(
            "{}  {:<8}  {:>5}  {:<24}  {:<11}  {}",
            pad(ends, width),
            g.leg,
            format!("{}{mark}", g.flows),
            verdicts,
            fit(&ports.join(","), 11),
            match (ids.is_empty(), g.sni_services.is_empty()) {
                (false, _) => ids.join("; "),
                (true, false) => format!("SNI {}", g.sni_services.join(", ")),
                (true, true) => "-".to_string(),
            }
        );
        writeln!(out, "{}", cut(line, style.width))?;
    }
    Ok(())
}

/// The endpoints column of a flow.
/// `client → server`, the server's port followed by `/udp` for a UDP flow.
pub(crate) fn ends_column(
    client: &EndpointDoc<'_>,
    server: &EndpointDoc<'_>,
    transport: Transport,
) -> String {
    let udp = match transport {
        Transport::Udp => "/udp",
        Transport::Tcp => "",
    };
    let text = format!(
        "{} → {}{udp}",
        endpoint(client.ip, client.port, client.name),
        endpoint(server.ip, server.port, server.name)
    );
    fit(&text, MAX_ENDS)
}

/// How the flow lines are laid out.
struct FlowLayout<'p> {
    style: TableStyle,
    pal: &'p Palette,
    ends_width: usize,
    /// The PAIR column is shown.
    pairs: bool,
}

/// One line of the flow table.
fn flow_row(flow: &FlowDoc<'_>, layout: &FlowLayout<'_>) -> String {
    let version = flow
        .tls
        .and_then(|t| t.summary.hello.version.as_deref())
        .unwrap_or("-");
    // DTLS 1.2 as `1.2`: the server's `/udp` says it is DTLS
    let version = version.strip_prefix("dtls").unwrap_or(version);
    let cert = flow.tls.map_or("-", |t| cert_column(t.summary));
    let mark = match flow.policy {
        Some(PolicyMark::Exempt) => '~',
        Some(PolicyMark::Violation(_)) => '!',
        Some(PolicyMark::Unproven(_)) => '?',
        None if flow.expected => '~',
        None => ' ',
    };
    let pair = if layout.pairs {
        let p = flow
            .paired_with
            .map(|id| format!("↔{id}"))
            .unwrap_or_else(|| "-".to_string());
        format!("  {p:<4}")
    } else {
        String::new()
    };
    let ends = ends_column(&flow.client, &flow.server, flow.transport);
    let prefix = format!(
        "{:>3}{mark}  {}  {:<8}{pair}",
        flow.id,
        pad(&ends, layout.ends_width),
        flow.leg
    );
    let line = format!(
        "{prefix}  {:<9}  {:<3}  {cert:<5}  {:>5} {:>6}  {}",
        flow.verdict.name(),
        fit(version, 3),
        flow.packets.client + flow.packets.server,
        human_bytes(flow.bytes.client + flow.bytes.server),
        detail(flow),
    );
    let line = cut(line, layout.style.width);
    // colour the verdict after cutting, so escape codes never count as columns
    let counted = mark != '~';
    paint_verdict(
        line,
        flow.verdict,
        counted,
        layout.pal,
        prefix.len().saturating_sub(1),
    )
}

/// The endpoints column as wide as the widest flow's (within bounds), and whether any flow
/// is paired.
fn rows_layout(doc: &Document<'_>) -> RowsLayout {
    let ends_width = doc
        .briefs()
        .map(|b| {
            ends_column(
                &doc.endpoint(b.client),
                &doc.endpoint(b.server),
                b.transport,
            )
            .chars()
            .count()
        })
        .max()
        .unwrap_or(0)
        .max("CLIENT → SERVER".chars().count());
    RowsLayout {
        ends_width,
        pairs: doc.briefs().any(|b| b.paired),
    }
}

/// Width of the endpoints column of a live table, whose rows are written before the later flows
/// are seen.
const LIVE_ENDS: usize = 47;

/// The header of a live table (`--follow`).
pub fn live_header(style: TableStyle) -> String {
    let pal = Palette { on: style.color };
    pal.bold(&header(LIVE_ENDS, false))
}

/// The column heads of the flow table, the endpoints column `ends_width` wide.
fn header(ends_width: usize, pairs: bool) -> String {
    let pair_head = if pairs { "  PAIR" } else { "" };
    format!(
        "{:>4}  {}  {:<8}{pair_head}  {:<9}  {:<3}  {:<5}  {:>5} {:>6}  DETAIL",
        "#",
        pad("CLIENT → SERVER", ends_width),
        "LEG",
        "VERDICT",
        "TLS",
        "CERT",
        "PKTS",
        "BYTES"
    )
}

/// The row of one flow in a live table, counters as of when its verdict settled.
pub fn live_row(flow: &FlowDoc<'_>, style: TableStyle) -> String {
    let pal = Palette { on: style.color };
    let layout = FlowLayout {
        style,
        pal: &pal,
        ends_width: LIVE_ENDS,
        pairs: false,
    };
    flow_row(flow, &layout)
}

/// What the columns mean, printed under the flows.
fn legend(doc: &Document<'_>, pairs: bool) -> Vec<String> {
    let mut lines = vec![
        "LEG   loopback: inside one pod or host (application ↔ sidecar; plaintext there never \
         crosses the wire)   network: between pods or hosts, on the wire"
            .to_string(),
    ];
    if pairs {
        lines.push(
            "PAIR  ↔N: flow N is the other leg of the same request (loopback ↔ network), seen \
             close in time"
                .to_string(),
        );
    }
    let marks = doc.summary.policy.is_some() || doc.briefs().any(|b| b.expected);
    if marks {
        lines.push(
            "MARK  !: violates --require   ?: unproven under --require (the capture cannot tell)   \
             ~: expected by the --mesh profile or exempt by --allow (not counted)"
                .to_string(),
        );
    }
    lines.push(
        "CERT  client certificate seen in the clear, infer(red) from encrypted record sizes or \
         from what the server demands, decr(ypted) with a key log, resum(ed): the session's full \
         handshake showed it, fwd: the server's sidecar forwarded the client identity, none, ? \
         unknown"
            .to_string(),
    );
    lines
}

/// `#1, #2, #3` (at most five, then `…`).
fn ids(list: &[u64]) -> String {
    let mut shown: Vec<String> = list.iter().take(5).map(|id| format!("#{id}")).collect();
    if list.len() > 5 {
        shown.push("…".to_string());
    }
    shown.join(", ")
}

/// How a flow is named in the summary: `#6 a → b:9080 (network, plaintext: GET / HTTP/1.1)`.
fn flow_line(flow: &FlowDoc<'_>) -> String {
    let why = flow.policy.map_or(flow.verdict.name(), PolicyMark::text);
    format!(
        "#{} {} → {} ({} leg, {}): {}",
        flow.id,
        full_endpoint(flow.client.ip, flow.client.port, flow.client.name),
        full_endpoint(flow.server.ip, flow.server.port, flow.server.name),
        flow.leg,
        why,
        base_detail(flow)
    )
}

fn write_summary(
    doc: &Document<'_>,
    out: &mut dyn Write,
    style: TableStyle,
    pal: &Palette,
) -> io::Result<()> {
    let s = &doc.summary;
    let counts: Vec<String> = s
        .by_verdict
        .entries()
        .iter()
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    writeln!(out, "{} flows: {}", s.flows, counts.join(", "))?;
    let paired = if s.legs.paired > 0 {
        format!("; {} requests seen on both legs (PAIR)", s.legs.paired)
    } else {
        String::new()
    };
    writeln!(
        out,
        "legs: {} network (between pods), {} loopback (inside a pod){paired}",
        s.legs.network, s.legs.loopback
    )?;
    if let Some(pods) = &s.pod_pairs {
        writeln!(out, "pods: {} client → server pairs", pods.len())?;
    }
    let m = &s.mesh;
    let by: Vec<String> = m
        .recognised_by
        .iter()
        .take(3)
        .map(|r| format!("{} (flow {})", r.what, r.flow))
        .collect();
    match (m.profile, m.requested) {
        (Some(profile), Some(requested)) => {
            let how = if requested == MeshRequest::Auto {
                format!("recognised by {}", by.join(", "))
            } else if by.is_empty() {
                "as asked; no marker of it in the capture".to_string()
            } else {
                format!("as asked; seen: {}", by.join(", "))
            };
            writeln!(
                out,
                "{}",
                cut(format!("mesh: {profile} ({how})"), style.width)
            )?;
            let expected: Vec<String> = m
                .expected
                .iter()
                .map(|e| format!("{} {}", e.description, e.flows))
                .collect();
            if expected.is_empty() {
                writeln!(out, "expected plaintext under {profile}: no flow")?;
            } else {
                writeln!(
                    out,
                    "{}",
                    cut(
                        format!(
                            "expected plaintext under {profile} (~): {}",
                            expected.join(", ")
                        ),
                        style.width
                    )
                )?;
            }
        }
        (None, Some(_)) => writeln!(
            out,
            "mesh: none recognised (no Istio, ambient or Linkerd marker): nothing is expected \
             plaintext"
        )?,
        (_, None) => {
            if let Some(recognised) = m.recognised {
                writeln!(
                    out,
                    "{}",
                    cut(
                        format!(
                            "mesh: {recognised} traffic seen ({}); add --mesh {recognised} to \
                             judge the network leg only",
                            by.join(", ")
                        ),
                        style.width
                    )
                )?;
            }
        }
    }
    let Some(p) = &s.policy else {
        return Ok(());
    };
    let exempt: Vec<String> = p
        .exemptions
        .iter()
        .map(|e| format!("{} {} ({})", e.by, e.count, ids(&e.flows)))
        .collect();
    if p.pass {
        let judged = p.met;
        let what = if p.require == Requirement::Mtls {
            "proven mTLS"
        } else {
            "encrypted"
        };
        writeln!(
            out,
            "policy --require {}: {}: the {judged} flows with payload it counts are all {what}",
            p.require,
            pal.paint(Verdict::Mtls, "PASS")
        )?;
    } else {
        let (n, u) = (p.violation_count(), p.unproven_count());
        let mut counts = Vec::new();
        if n > 0 {
            counts.push(format!(
                "{n} flow{} violate{} it (!)",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
            ));
        }
        if u > 0 {
            counts.push(format!(
                "{u} flow{} unproven (?)",
                if u == 1 { " is" } else { "s are" }
            ));
        }
        writeln!(
            out,
            "policy --require {}: {}: {}",
            p.require,
            pal.paint(Verdict::Plaintext, "FAIL"),
            counts.join(", ")
        )?;
        list_flows(doc, &p.violations, n, out, style)?;
        if u > 0 {
            if n > 0 {
                writeln!(out, "unproven (?): {u}")?;
            }
            list_flows(doc, &p.unproven, u, out, style)?;
            writeln!(out, "  {}", unproven_advice())?;
        }
    }
    if !exempt.is_empty() {
        writeln!(
            out,
            "{}",
            cut(
                format!("not counted (~): {}", exempt.join("; ")),
                style.width
            )
        )?;
    }
    Ok(())
}

/// The flows of `list` (of `total` in all) named one per line, at most [`MAX_LISTED`].
fn list_flows(
    doc: &Document<'_>,
    list: &[u64],
    total: u64,
    out: &mut dyn Write,
    style: TableStyle,
) -> io::Result<()> {
    for id in list.iter().take(MAX_LISTED) {
        let at = doc.briefs().find(|b| b.id == *id).map(|b| b.index);
        if let Some(flow) = at.and_then(|i| doc.flow_doc(i)) {
            writeln!(
                out,
                "{}",
                cut(format!("  {}", flow_line(&flow)), style.width)
            )?;
        }
    }
    if total > MAX_LISTED as u64 {
        writeln!(
            out,
            "  … and {} more (see --format json)",
            total - MAX_LISTED as u64
        )?;
    }
    Ok(())
}

/// The advice for unproven flows, as the table says it.
fn unproven_advice() -> String {
    let mut text = String::from("Unproven: ");
    text.push_str(UNPROVEN_ADVICE);
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::Rule;

    #[test]
    fn helpers() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(pad("→a", 4), "→a  ");
        assert_eq!(human_bytes(999), "999");
        assert_eq!(human_bytes(5_100), "5.1k");
        assert_eq!(human_bytes(2_000_000_000), "2.0G");
        assert_eq!(
            short_identity("spiffe://cluster.local/ns/bookinfo/sa/details"),
            "bookinfo/sa/details"
        );
        assert_eq!(
            short_identity("productpage.bookinfo.serviceaccount.identity.linkerd.cluster.local"),
            "bookinfo/sa/productpage"
        );
        assert_eq!(
            short_identity("api.example.internal"),
            "api.example.internal"
        );
        assert_eq!(
            endpoint(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 80, None),
            "[::1]:80"
        );
        assert_eq!(
            elide("bookinfo/productpage-v1-7f9d5b8c6d-x2k4p", 20),
            "bookinfo/prod…-x2k4p"
        );
        assert_eq!(elide("short", 20), "short");
        assert_eq!(ids(&[1, 2, 3, 4, 5, 6]), "#1, #2, #3, #4, #5, …");
        assert_eq!(Rule::LoopbackLeg.words(), "app ↔ proxy");
        let pal = Palette { on: true };
        assert_eq!(
            paint_verdict("  1  a  mtls  x".to_string(), Verdict::Mtls, true, &pal, 0),
            "  1  a  \x1b[32mmtls\x1b[0m  x"
        );
        assert_eq!(
            paint_verdict(
                "1 plaintext x".to_string(),
                Verdict::Plaintext,
                false,
                &pal,
                0
            ),
            "1 \x1b[2mplaintext\x1b[0m x"
        );
        let off = Palette { on: false };
        assert_eq!(
            paint_verdict("a mtls b".to_string(), Verdict::Mtls, true, &off, 0),
            "a mtls b"
        );
    }
}
