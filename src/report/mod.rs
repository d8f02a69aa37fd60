//! Report formats (`table`, `json`, `jsonl`, `junit`, `html`) and the CI policy.

pub mod document;
pub mod export;
mod file;
pub mod html;
mod indent;
pub mod json;
pub mod junit;
pub mod live;
pub mod pods;
pub mod policy;
mod shared_certs;
pub mod table;
pub mod time;

use std::io::{self, Write};

pub use document::{Document, FlowBrief, FlowDoc, TlsDoc};
pub use export::{export, ExportError, Exporter};
pub use file::{write_atomically, Complete, PendingFile};
pub use json::{JsonExporter, JsonlExporter};
pub use policy::{
    AllowRule, MarkKind, Policy, PolicyMark, PolicyOutcome, Requirement, Shortfall, Waiver,
    UNPROVEN_ADVICE,
};
pub use table::{TableStyle, View};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Jsonl,
    /// JUnit XML: one test case per flow, policy violations as failures.
    Junit,
    /// One self-contained HTML page: graph, flow table, each flow's evidence.
    Html,
}

impl Format {
    /// The format's name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Junit => "junit",
            Format::Html => "html",
        }
    }
}

/// The exporter of `format` writing to `out`. `style` applies to the table only.
pub fn exporter<'w, W: Complete + 'w>(
    format: Format,
    out: W,
    style: TableStyle,
) -> Box<dyn Exporter + 'w> {
    match format {
        Format::Table => Box::new(table::TableExporter::new(out, style)),
        Format::Json => Box::new(JsonExporter::new(out)),
        Format::Jsonl => Box::new(JsonlExporter::new(out)),
        Format::Junit => Box::new(junit::JunitExporter::new(out)),
        Format::Html => Box::new(html::HtmlExporter::new(out)),
    }
}

/// Writes `doc` in `format`. `style` applies to the table only.
pub fn write(
    doc: &Document<'_>,
    format: Format,
    out: &mut dyn Write,
    style: TableStyle,
) -> io::Result<()> {
    let mut exporter = exporter(format, out, style);
    export(doc, &mut [&mut *exporter]).map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capture::Input;
    use crate::mesh::MeshRequest;
    use crate::names::Names;
    use crate::{analyze, AnalysisOptions};

    /// Every way of splitting the flows into chunks and pieces writes what serde_json writes for
    /// the whole document (JSON) and for each record (JSON Lines), certificates shared between
    /// flows included.
    #[test]
    fn flows_written_in_pieces_are_what_serde_json_writes() {
        for (sample, shares_certs) in [
            ("mesh-istio-leak.pcap", false),
            ("tls13-suites-keylog.pcapng", true),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(sample);
            let analysis = analyze(&[Input::Path(path)], &AnalysisOptions::default()).unwrap();
            let shared = analysis
                .flows
                .iter()
                .filter_map(|f| f.class.tls.as_deref())
                .flat_map(|t| [&t.client_certificate.chain, &t.server_certificate.chain])
                .flat_map(|chain| chain.iter())
                .any(|cert| std::sync::Arc::strong_count(cert) > 1);
            assert_eq!(shared, shares_certs, "{sample}");
            let mesh = crate::mesh::Meshed::new(analysis, Some(MeshRequest::Auto));
            let (policy, names) = (Policy::default(), Names::default());
            let doc = Document::build(&mesh, &policy, &names);
            assert!(doc.len() > 3, "{sample}");
            written_in_pieces_as_serde_json_writes(&doc);
        }
    }

    fn written_in_pieces_as_serde_json_writes(doc: &Document<'_>) {
        let json = serde_json::to_string_pretty(doc).unwrap() + "\n";
        let mut jsonl = String::new();
        for flow in doc.flow_docs() {
            let tagged = json::Tagged {
                kind: "flow",
                inner: &flow,
            };
            jsonl += &(serde_json::to_string(&tagged).unwrap() + "\n");
        }
        assert_eq!(jsonl.lines().count(), doc.len());

        for (chunk, piece) in [(2048, 64), (3, 2), (2, 1), (5, 5), (1, 3), (0, 0)] {
            let split = export::Split { chunk, piece };
            let mut out = Vec::new();
            let mut e = JsonExporter::split(&mut out as &mut dyn Write, split);
            export::export_split(doc, &mut [&mut e], chunk).unwrap();
            drop(e);
            assert_eq!(String::from_utf8(out).unwrap(), json, "{split:?}");
            let mut out = Vec::new();
            let mut e = JsonlExporter::split(&mut out as &mut dyn Write, split);
            export::export_split(doc, &mut [&mut e], chunk).unwrap();
            drop(e);
            let out = String::from_utf8(out).unwrap();
            assert!(out.starts_with(&jsonl), "{split:?}");
            assert_eq!(out.lines().count(), doc.len() + 1);
        }
    }
}
