//! JUnit XML for CI dashboards: one test suite per capture, one test case per flow. A flow that
//! violates `--require` is a failure whose message is the evidence (its `type` says why); a flow
//! that is unproven under it is a failure of type `unproven` whose message says how to get
//! proof; a flow that the mesh profile expects in plaintext, or that `--allow` exempts, is
//! skipped with the reason; every other flow passes. Without `--require` nothing fails.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::net::IpAddr;

use super::document::{Document, FlowBrief, FlowDoc};
use super::export::{needs_whole_capture, Exporter, Pieces, SPLIT};
use super::file::Complete;
use super::policy::{PolicyMark, UNPROVEN_ADVICE};

/// Escapes text for XML attributes and content; characters XML 1.0 cannot carry become `?`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn end(ip: IpAddr, port: u16, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{n}:{port}"),
        None if ip.is_ipv6() => format!("[{ip}]:{port}"),
        None => format!("{ip}:{port}"),
    }
}

/// The test case name: `flow 3: a → b:9080 (network leg)`, `b:53/udp` for a UDP flow.
fn case_name(f: &FlowDoc<'_>) -> String {
    let udp = match f.transport {
        crate::decode::Transport::Udp => "/udp",
        crate::decode::Transport::Tcp => "",
    };
    format!(
        "flow {}: {} → {}{udp} ({} leg)",
        f.id,
        end(f.client.ip, f.client.port, f.client.name),
        end(f.server.ip, f.server.port, f.server.name),
        f.leg
    )
}

/// The evidence of a violation: the cleartext quote, or the TLS facts, then the first reason.
fn evidence(f: &FlowDoc<'_>) -> String {
    let what = f.policy.map_or(f.verdict.name(), PolicyMark::text);
    let detail = if let Some(p) = f.plaintext {
        let frame = p.frame.map(|n| format!(" (frame {n})")).unwrap_or_default();
        format!(
            "{} from the {}{frame}: {}",
            p.protocol, p.direction, p.evidence
        )
    } else {
        f.reasons.first().unwrap_or_default()
    };
    format!("{what} on the {} leg: {detail}", f.leg)
}

/// The test case of a flow, on one line; `classname` is the escaped `mtlscan.` + capture path.
fn testcase(f: &FlowDoc<'_>, classname: &str) -> String {
    let head = format!(
        r#"    <testcase classname="{classname}" name="{}" time="{:.6}""#,
        escape(&case_name(f)),
        f.duration_nanos.max(0) as f64 / 1e9
    );
    let body = match f.policy {
        Some(PolicyMark::Exempt) => {
            let why = f
                .expected_reason
                .map(str::to_string)
                .or_else(|| f.exempt_by.clone())
                .unwrap_or_default();
            format!(
                r#"><skipped message="{}"/></testcase>"#,
                escape(&format!(
                    "{} on the {} leg, not counted: {why}",
                    f.verdict.name(),
                    f.leg
                ))
            )
        }
        Some(PolicyMark::Violation(why)) => format!(
            r#"><failure message="{}" type="{}">{}</failure></testcase>"#,
            escape(&evidence(f)),
            escape(why),
            escape(&f.reasons.join("\n"))
        ),
        Some(PolicyMark::Unproven(_)) => format!(
            r#"><failure message="{}" type="unproven">{}</failure></testcase>"#,
            escape(&format!("unproven: {}; {UNPROVEN_ADVICE}", evidence(f))),
            escape(&f.reasons.join("\n"))
        ),
        None if f.expected => format!(
            r#"><skipped message="{}"/></testcase>"#,
            escape(&format!(
                "{} on the {} leg: {}",
                f.verdict.name(),
                f.leg,
                f.expected_reason.unwrap_or_default()
            ))
        ),
        None => format!(
            r#"><system-out>{}</system-out></testcase>"#,
            escape(&format!("{}: {}", f.verdict.name(), f.reasons.join("\n")))
        ),
    };
    head + &body
}

/// The JUnit report as an exporter: a test suite per capture, a test case per flow (rendered in
/// parallel as flows come). The suites' counts come from the summary, so it begins only with
/// the whole run's document.
#[derive(Debug)]
pub struct JunitExporter<W> {
    out: W,
    pieces: Pieces<()>,
    /// Each capture's suite head (its `<testsuite>` line and properties) and class name.
    suites: Vec<(String, String)>,
    /// Suites opened so far; the last one is open.
    opened: usize,
}

impl<W: Complete> JunitExporter<W> {
    pub fn new(out: W) -> JunitExporter<W> {
        JunitExporter {
            out,
            pieces: Pieces::new(SPLIT.piece),
            suites: Vec::new(),
            opened: 0,
        }
    }

    /// Closes the open suite and opens the others up to and including suite `index`.
    fn open_through(&mut self, index: usize) -> io::Result<()> {
        while self.opened <= index && self.opened < self.suites.len() {
            if self.opened > 0 {
                writeln!(self.out, "  </testsuite>")?;
            }
            let (head, _) = &self.suites[self.opened];
            self.out.write_all(head.as_bytes())?;
            self.opened += 1;
        }
        Ok(())
    }
}

impl<W: Complete> Exporter for JunitExporter<W> {
    fn begin(&mut self, doc: Option<&Document<'_>>) -> io::Result<()> {
        let doc = doc.ok_or_else(|| needs_whole_capture("a JUnit report"))?;
        let failures_total = doc.briefs().filter(FlowBrief::fails).count();
        writeln!(self.out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            self.out,
            r#"<testsuites name="mtlscan" tests="{}" failures="{failures_total}" errors="0">"#,
            doc.len()
        )?;
        self.suites = (0..doc.captures.len())
            .map(|index| suite_head(doc, index))
            .collect::<Result<_, _>>()
            .map_err(io::Error::other)?;
        Ok(())
    }

    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()> {
        // The flows come capture by capture: each run of one capture's flows goes in its suite.
        for run in flows.chunk_by(|a, b| a.capture == b.capture) {
            let Some(first) = run.first() else {
                continue;
            };
            self.open_through(first.capture)?;
            let Some((_, classname)) = self.suites.get(first.capture) else {
                continue;
            };
            let out = &mut self.out;
            self.pieces.render(
                run,
                || (),
                |f, piece, ()| writeln!(piece, "{}", testcase(f, classname)),
                |piece| out.write_all(piece),
            )?;
        }
        Ok(())
    }

    fn finish(&mut self, _doc: &Document<'_>) -> io::Result<()> {
        self.open_through(self.suites.len())?;
        if self.opened > 0 {
            writeln!(self.out, "  </testsuite>")?;
        }
        writeln!(self.out, "</testsuites>")?;
        self.out.complete()
    }
}

/// The `<testsuite>` line and properties of capture `index`, and its test cases' class name.
fn suite_head(doc: &Document<'_>, index: usize) -> Result<(String, String), fmt::Error> {
    let mut xml = String::new();
    let capture = &doc.captures[index];
    let in_capture = || doc.briefs().filter(move |b| b.capture == index);
    let tests = in_capture().count();
    let failures = in_capture().filter(FlowBrief::fails).count();
    let skipped = in_capture()
        .filter(|f| f.policy == Some(PolicyMark::Exempt) || (f.expected && f.policy.is_none()))
        .count();
    writeln!(
        xml,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}">"#,
        escape(&capture.path),
    )?;
    writeln!(xml, "    <properties>")?;
    // Without the hash (`--no-hash`) there is no sha256 property.
    let mut props: Vec<(&str, String)> = capture
        .sha256
        .iter()
        .map(|sha| ("sha256", sha.clone()))
        .collect();
    props.push(("format", capture.format.to_string()));
    props.push(("truncated", capture.truncated.to_string()));
    if let Some(p) = &doc.summary.policy {
        props.push(("require", p.require.to_string()));
        let violations = in_capture().filter(FlowBrief::violates).count();
        let unproven = in_capture().filter(FlowBrief::unproven).count();
        props.push(("violations", violations.to_string()));
        props.push(("unproven", unproven.to_string()));
    }
    if let Some(profile) = doc.summary.mesh.profile {
        props.push(("mesh", profile.to_string()));
    }
    for (name, value) in props {
        writeln!(
            xml,
            r#"      <property name="{name}" value="{}"/>"#,
            escape(&value)
        )?;
    }
    writeln!(xml, "    </properties>")?;
    Ok((xml, format!("mtlscan.{}", escape(&capture.path))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;&#10;?"
        );
        assert_eq!(escape("→ ok"), "→ ok");
        assert_eq!(
            end(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 80, None),
            "[::1]:80"
        );
        assert_eq!(
            end(IpAddr::from([10u8, 0, 0, 1]), 80, Some("ns/pod")),
            "ns/pod:80"
        );
    }
}
