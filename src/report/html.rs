//! The evidence report as one self-contained HTML page (`--format html`, `--export-html`): the
//! captures and the policy outcome, a graph of who talks to whom with a lock per edge, a flow
//! table to sort and filter, and each flow's proof on demand.
//!
//! The page makes no request of any kind: the script, the style and the data are inline, and its
//! Content-Security-Policy allows nothing else (the two scripts by their SHA-256). Its graph is
//! laid out by dagre (`vendor/dagre`, MIT), rendered as SVG.
//!
//! The data is what the JSON report holds, packed so that a capture of a quarter of a million
//! flows makes a page that opens in seconds:
//! - the table's columns, one array per column, strings by index into a shared table;
//! - each flow's entry of the JSON report, one compact line each, parsed only when the flow is
//!   opened. In a line, an object is an array that starts with its key list's index + 1 (an
//!   array starts with 0), a string of four or more characters is `~` and its index (base 36)
//!   in the shared table (a string that starts with `~` or `^` is written `~=` and itself), and
//!   a reason is `^` and the index of its sentence with NUL characters for the numbers, then
//!   the numbers (`.` for a NUL that was in the sentence).
//!
//! Graph nodes are the ends of flows: a pod or service by its `--pods`/`--services` name, else
//! an address. Edges join a client to a server on a leg, with the flows they carry. When the
//! unnamed addresses are too many to draw, they are grouped by network (/24, /16, /8).

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{Document, EndpointDoc, FlowDoc};
use super::export::{needs_whole_capture, Exporter};
use super::file::Complete;
use super::policy::PolicyMark;
use super::table;
use crate::mesh::Leg;
use crate::model::Verdict;

/// The page's script.
const APP_JS: &str = include_str!("html/app.js");
/// The page's style.
const APP_CSS: &str = include_str!("html/app.css");
/// dagre, the graph layout (see vendor/dagre/VERSION).
const DAGRE_JS: &str = include_str!("../../vendor/dagre/dagre.min.js");

/// Most graph nodes drawn before unnamed addresses are grouped by network.
const MAX_NODES: usize = 150;
/// Strings shorter than this stay inline in the flows' lines.
const SHARED_MIN: usize = 4;

/// The verdicts in the order of the table's `v` column: the vocabulary's own order, which the
/// page's `VERDICTS` repeats.
const VERDICTS: [Verdict; 6] = Verdict::ALL;

/// Strings shared by index.
#[derive(Debug, Default)]
struct Strings {
    index: HashMap<String, u32>,
    list: Vec<String>,
}

impl Strings {
    fn of(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.index.insert(s.to_string(), i);
        self.list.push(s.to_string());
        i
    }
}

/// A graph node: a named pod or service, an address, or a network of addresses.
#[derive(Debug, Serialize)]
struct Node {
    label: String,
    /// `pod`, `service`, `address` or `network`.
    kind: &'static str,
    /// The namespace of a named node.
    ns: Option<String>,
}

/// The flows from one node to another on one leg.
#[derive(Debug, Default, Serialize)]
struct Edge {
    from: u32,
    to: u32,
    /// 0 loopback, 1 network.
    leg: u8,
    flows: u64,
    /// Flows per verdict, in [`VERDICTS`] order.
    verdicts: [u64; 5],
    violations: u64,
    unproven: u64,
    /// Flows the mesh profile expects in plaintext, or exempt from the policy.
    expected: u64,
}

/// The table's columns: one entry per flow, in report order.
#[derive(Debug, Default, Serialize)]
struct Columns {
    id: Vec<u64>,
    /// `CLIENT → SERVER` text.
    ends: Vec<u32>,
    /// Client and server namespaces (string index; the empty string when none).
    cns: Vec<u32>,
    sns: Vec<u32>,
    leg: Vec<u8>,
    /// Verdict index ([`VERDICTS`]).
    v: Vec<u8>,
    tls: Vec<u32>,
    cert: Vec<u32>,
    pkts: Vec<u64>,
    bytes: Vec<u64>,
    detail: Vec<u32>,
    /// 0 none, 1 violation, 2 unproven, 3 exempt, 4 expected by the mesh profile.
    mark: Vec<u8>,
    edge: Vec<u32>,
    first_seen: Vec<i64>,
}

/// The data block of the page.
#[derive(Serialize)]
struct Data<'a> {
    schema_version: u32,
    tool: String,
    captures: &'a [super::document::CaptureDoc],
    /// First and last packet time (Unix nanoseconds) per capture, from its flows.
    spans: Vec<Option<(i64, i64)>>,
    summary: &'a super::document::SummaryDoc,
    strings: Vec<String>,
    /// Key lists of the packed objects.
    shapes: Vec<Vec<String>>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// Unnamed addresses were grouped by this network prefix length to fit the graph.
    grouped_by: Option<u8>,
    cols: Columns,
    /// Offset (in UTF-16 units, as the page's script counts) of each flow's line in the
    /// evidence block, and its end.
    offsets: Vec<u64>,
}

/// Packs JSON values as the module documentation says.
#[derive(Debug, Default)]
struct Packer {
    strings: Strings,
    shapes: HashMap<Vec<String>, u32>,
    shape_list: Vec<Vec<String>>,
}

impl Packer {
    fn string(&mut self, s: &str) -> Value {
        if s.len() >= SHARED_MIN {
            let i = self.strings.of(s);
            return Value::String(format!("~{}", base36(i)));
        }
        if s.starts_with('~') || s.starts_with('^') {
            return Value::String(format!("~={s}"));
        }
        Value::String(s.to_string())
    }

    fn value(&mut self, v: Value) -> Value {
        match v {
            Value::String(s) => self.string(&s),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len() + 1);
                out.push(Value::from(0u32));
                out.extend(items.into_iter().map(|x| self.value(x)));
                Value::Array(out)
            }
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let shape = match self.shapes.get(&keys) {
                    Some(&i) => i,
                    None => {
                        let i = u32::try_from(self.shape_list.len()).unwrap_or(u32::MAX);
                        self.shapes.insert(keys.clone(), i);
                        self.shape_list.push(keys);
                        i
                    }
                };
                let mut out = Vec::with_capacity(map.len() + 1);
                out.push(Value::from(u64::from(shape) + 1));
                out.extend(map.into_iter().map(|(_, x)| self.value(x)));
                Value::Array(out)
            }
            other => other,
        }
    }

    /// A flow's report entry, its reasons as sentence shapes and numbers.
    fn flow(&mut self, flow: &FlowDoc<'_>) -> io::Result<Value> {
        let mut value = serde_json::to_value(flow).map_err(io::Error::other)?;
        let reasons: Vec<Value> = flow
            .reasons
            .iter()
            .map(|r| {
                let mut text = format!("^{}", base36(self.strings.of(r.shape())));
                for n in r.numbers() {
                    text.push(',');
                    match n {
                        Some(n) => text.push_str(&n.to_string()),
                        None => text.push('.'),
                    }
                }
                Value::String(text)
            })
            .collect();
        if let Some(obj) = value.as_object_mut() {
            obj.remove("reasons");
        }
        let mut packed = self.value(value);
        // Reasons go last, packed already: their key is added to the object's shape.
        if let Value::Array(items) = &mut packed {
            if let Some(shape) = items.first().and_then(Value::as_u64) {
                let mut keys = self
                    .shape_list
                    .get(usize::try_from(shape.saturating_sub(1)).unwrap_or(usize::MAX))
                    .cloned()
                    .unwrap_or_default();
                keys.push("reasons".to_string());
                let with = self.shape_of(keys);
                if let Some(first) = items.first_mut() {
                    *first = Value::from(u64::from(with) + 1);
                }
                let mut list = vec![Value::from(0u32)];
                list.extend(reasons);
                items.push(Value::Array(list));
            }
        }
        Ok(packed)
    }

    fn shape_of(&mut self, keys: Vec<String>) -> u32 {
        if let Some(&i) = self.shapes.get(&keys) {
            return i;
        }
        let i = u32::try_from(self.shape_list.len()).unwrap_or(u32::MAX);
        self.shapes.insert(keys.clone(), i);
        self.shape_list.push(keys);
        i
    }
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The graph label of a flow's end: its name, else its address (grouped to `/bits` when given).
fn label_of(end: &EndpointDoc<'_>, group: Option<u8>) -> (String, &'static str, Option<String>) {
    if let Some(name) = end.name {
        let ns = name.split_once('/').map(|(ns, _)| ns.to_string());
        return (name.to_string(), end.kind.unwrap_or("pod"), ns);
    }
    match group {
        None => (end.ip.to_string(), "address", None),
        Some(bits) => (network(end.ip, bits), "network", None),
    }
}

/// `10.1.2.0/24` for `10.1.2.3` and 24 bits (IPv6 keeps four times as many).
fn network(ip: std::net::IpAddr, bits: u8) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            let net = std::net::Ipv4Addr::from(u32::from(v4) & mask);
            format!("{net}/{bits}")
        }
        std::net::IpAddr::V6(v6) => {
            let bits6 = (u32::from(bits) * 4).min(128);
            let mask = u128::MAX.checked_shl(128 - bits6).unwrap_or(0);
            let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            format!("{net}/{bits6}")
        }
    }
}

/// The grouping that keeps the graph within [`MAX_NODES`]: none, else the widest prefix that
/// does (down to /8).
fn grouping(doc: &Document<'_>) -> Option<u8> {
    let mut best = None;
    for group in [None, Some(24), Some(16), Some(8)] {
        best = group;
        let mut labels = std::collections::HashSet::new();
        for f in doc.flow_docs() {
            labels.insert(label_of(&f.client, group).0);
            labels.insert(label_of(&f.server, group).0);
            if labels.len() > MAX_NODES {
                break;
            }
        }
        if labels.len() <= MAX_NODES {
            return group;
        }
    }
    best
}

/// The namespace of a named end (`bookinfo` of `bookinfo/details`).
fn namespace<'a>(end: &EndpointDoc<'a>) -> Option<&'a str> {
    end.name.and_then(|n| n.split_once('/')).map(|(ns, _)| ns)
}

fn mark_of(flow: &FlowDoc<'_>) -> u8 {
    match flow.policy {
        Some(PolicyMark::Violation(_)) => 1,
        Some(PolicyMark::Unproven(_)) => 2,
        Some(PolicyMark::Exempt) => 3,
        None if flow.expected => 4,
        None => 0,
    }
}

/// The HTML report as an exporter: each flow goes into the graph, the table's columns and the
/// evidence block as it comes; the page is written when the run finishes. The namespaces that
/// group the graph come from the whole run, so it begins only with the run's document.
#[derive(Debug)]
pub struct HtmlExporter<W> {
    out: W,
    group: Option<u8>,
    packer: Packer,
    nodes: Vec<Node>,
    node_index: HashMap<String, u32>,
    edges: Vec<Edge>,
    edge_index: HashMap<(u32, u32, u8), u32>,
    cols: Columns,
    spans: Vec<Option<(i64, i64)>>,
    evidence: Vec<u8>,
    line: Vec<u8>,
    units: u64,
    offsets: Vec<u64>,
}

impl<W: Complete> HtmlExporter<W> {
    pub fn new(out: W) -> HtmlExporter<W> {
        HtmlExporter {
            out,
            group: None,
            packer: Packer::default(),
            nodes: Vec::new(),
            node_index: HashMap::new(),
            edges: Vec::new(),
            edge_index: HashMap::new(),
            cols: Columns::default(),
            spans: Vec::new(),
            evidence: Vec::new(),
            line: Vec::new(),
            units: 0,
            offsets: Vec::new(),
        }
    }

    /// The graph node of `end`, added when new.
    fn node_of(&mut self, end: &EndpointDoc<'_>) -> u32 {
        let (label, kind, ns) = label_of(end, self.group);
        if let Some(&i) = self.node_index.get(&label) {
            return i;
        }
        let i = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.node_index.insert(label.clone(), i);
        self.nodes.push(Node { label, kind, ns });
        i
    }

    fn flow(&mut self, flow: &FlowDoc<'_>) -> io::Result<()> {
        let (from, to) = (self.node_of(&flow.client), self.node_of(&flow.server));
        let leg = u8::from(flow.leg == Leg::Network);
        let edges = &mut self.edges;
        let e = *self.edge_index.entry((from, to, leg)).or_insert_with(|| {
            edges.push(Edge {
                from,
                to,
                leg,
                ..Edge::default()
            });
            u32::try_from(edges.len() - 1).unwrap_or(u32::MAX)
        });
        let v = VERDICTS
            .iter()
            .position(|&x| x == flow.verdict)
            .unwrap_or(0);
        let mark = mark_of(flow);
        if let Some(edge) = edges.get_mut(e as usize) {
            edge.flows += 1;
            if let Some(n) = edge.verdicts.get_mut(v) {
                *n += 1;
            }
            match mark {
                1 => edge.violations += 1,
                2 => edge.unproven += 1,
                3 | 4 => edge.expected += 1,
                _ => {}
            }
        }
        let (cns, sns) = (namespace(&flow.client), namespace(&flow.server));
        let (cols, strings) = (&mut self.cols, &mut self.packer.strings);
        cols.id.push(flow.id);
        cols.ends.push(strings.of(&table::ends_column(
            &flow.client,
            &flow.server,
            flow.transport,
        )));
        cols.cns.push(strings.of(cns.unwrap_or_default()));
        cols.sns.push(strings.of(sns.unwrap_or_default()));
        cols.leg.push(leg);
        cols.v.push(u8::try_from(v).unwrap_or(0));
        let tls = flow.tls.map(|t| t.summary);
        cols.tls
            .push(strings.of(tls.and_then(|t| t.hello.version.as_deref()).unwrap_or("-")));
        cols.cert
            .push(strings.of(tls.map_or("-", table::cert_column)));
        cols.pkts.push(flow.packets.client + flow.packets.server);
        cols.bytes.push(flow.bytes.client + flow.bytes.server);
        cols.detail.push(strings.of(&table::detail(flow)));
        cols.mark.push(mark);
        cols.edge.push(e);
        cols.first_seen.push(flow.first_seen.0);
        if let Some(span) = self.spans.get_mut(flow.capture) {
            let (a, b) = (flow.first_seen.0, flow.last_seen.0);
            *span = Some(span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
        self.offsets.push(self.units);
        let packed = self.packer.flow(flow)?;
        let line = &mut self.line;
        line.clear();
        let json = serde_json::to_vec(&packed).map_err(io::Error::other)?;
        script_safe(&json, line)?;
        line.push(b'\n');
        // The page reads the block as a JavaScript string: offsets count UTF-16 units.
        self.units +=
            std::str::from_utf8(line).map_or(line.len(), |t| t.encode_utf16().count()) as u64;
        self.evidence.extend_from_slice(line);
        Ok(())
    }
}

impl<W: Complete> Exporter for HtmlExporter<W> {
    fn begin(&mut self, doc: Option<&Document<'_>>) -> io::Result<()> {
        let doc = doc.ok_or_else(|| needs_whole_capture("an HTML report"))?;
        self.group = grouping(doc);
        self.packer.strings.of("");
        self.spans = vec![None; doc.captures.len()];
        self.offsets.reserve(doc.len() + 1);
        Ok(())
    }

    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()> {
        flows.iter().try_for_each(|flow| self.flow(flow))
    }

    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()> {
        self.offsets.push(self.units);
        let data = Data {
            schema_version: doc.schema_version,
            tool: format!("{} {}", doc.tool.name, doc.tool.version),
            captures: &doc.captures,
            spans: std::mem::take(&mut self.spans),
            summary: &doc.summary,
            strings: std::mem::take(&mut self.packer.strings.list),
            shapes: std::mem::take(&mut self.packer.shape_list),
            nodes: std::mem::take(&mut self.nodes),
            edges: std::mem::take(&mut self.edges),
            grouped_by: self.group,
            cols: std::mem::take(&mut self.cols),
            offsets: std::mem::take(&mut self.offsets),
        };
        let data = serde_json::to_vec(&data).map_err(io::Error::other)?;
        page(&mut self.out, &data, &self.evidence)?;
        self.out.complete()
    }
}

/// `'sha256-…'` of an inline script or style, for the Content-Security-Policy.
fn csp_hash(text: &str) -> String {
    use base64::Engine as _;
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Bytes safe inside a `<script>` element: `</` becomes `<\/`, which JSON reads the same.
fn script_safe(bytes: &[u8], out: &mut dyn Write) -> io::Result<()> {
    let mut start = 0;
    for at in memchr::memmem::find_iter(bytes, b"</") {
        out.write_all(bytes.get(start..at).unwrap_or_default())?;
        out.write_all(b"<\\/")?;
        start = at + 2;
    }
    out.write_all(bytes.get(start..).unwrap_or_default())
}

fn page(out: &mut dyn Write, data: &[u8], evidence: &[u8]) -> io::Result<()> {
    let csp = format!(
        "default-src 'none'; script-src {} {}; style-src {}; img-src data:; base-uri 'none'; \
         form-action 'none'",
        csp_hash(DAGRE_JS),
        csp_hash(APP_JS),
        csp_hash(APP_CSS)
    );
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>mtlscan evidence report</title>\n<style>{APP_CSS}</style>\n</head>\n<body>\n\
         <noscript>This report needs JavaScript; the same facts are in mtlscan --format json.</noscript>\n\
         <script type=\"application/json\" id=\"mtlscan-data\">"
    )?;
    script_safe(data, out)?;
    out.write_all(b"</script>\n<script type=\"text/plain\" id=\"mtlscan-evidence\">")?;
    // Each line is made script-safe as it is packed.
    out.write_all(evidence)?;
    write!(
        out,
        "</script>\n<script>{DAGRE_JS}</script>\n<script>{APP_JS}</script>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_indices_are_what_browsers_and_the_page_read() {
        // the CSP hash of an empty script, as browsers compute it
        assert_eq!(
            csp_hash(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }

    #[test]
    fn script_text_cannot_close_its_element() {
        let mut out = Vec::new();
        script_safe(br#"{"a":"</script><b>"}"#, &mut out).unwrap();
        assert_eq!(out, br#"{"a":"<\/script><b>"}"#);
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["a"], "</script><b>");
    }

    #[test]
    fn packing_keeps_every_value() {
        let mut p = Packer::default();
        let v: Value = serde_json::json!({
            "a": "short", "b": "~tilde", "c": [1, "^x", null, true], "d": {"e": "abc"}
        });
        let packed = p.value(v);
        let s = &p.strings.list;
        assert_eq!(s, &["short".to_string(), "~tilde".to_string()]);
        assert_eq!(
            packed,
            serde_json::json!([1, "~0", "~1", [0, 1, "~=^x", null, true], [2, "abc"]])
        );
        assert_eq!(p.shape_list[0], ["a", "b", "c", "d"]);
        assert_eq!(p.shape_list[1], ["e"]);
    }
}
