//! Report formats (`table`, `json`, `jsonl`, `junit`, `html`) and the CI policy.

pub mod document;
mod file;
pub mod html;
mod indent;
pub mod junit;
pub mod live;
pub mod pods;
pub mod policy;
mod shared_certs;
pub mod table;
pub mod time;

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;

use indent::NestedPretty;
use shared_certs::{Layout, SharedCerts};

pub use document::{Document, FlowBrief, FlowDoc, TlsDoc};
pub use file::{write_atomically, Complete, PendingFile};
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

/// A JSON Lines record: the document's parts tagged with their `type`.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    inner: &'a T,
}

#[derive(Serialize)]
struct JsonlSummary<'a> {
    schema_version: u32,
    tool: &'a document::Tool,
    captures: &'a [document::CaptureDoc],
    summary: &'a document::SummaryDoc,
}

/// Flows built and rendered in parallel at a time: bounds the report entries and the rendered
/// bytes held before writing.
const RENDER_CHUNK: usize = 2048;
/// Flows that one task renders, one after the other, into one buffer: few enough that a chunk
/// splits into pieces for every thread, enough that a piece is written out in one call (larger
/// than the output's buffer, so it goes straight through without being copied there).
const PIECE_FLOWS: usize = 64;

/// How [`render_flows`] batches flows: [`RENDER_CHUNK`] and [`PIECE_FLOWS`], except in tests.
#[derive(Debug, Clone, Copy)]
struct Split {
    chunk: usize,
    piece: usize,
}

const SPLIT: Split = Split {
    chunk: RENDER_CHUNK,
    piece: PIECE_FLOWS,
};

/// Builds the [`FlowDoc`]s of the flows at `indices` a chunk (of `split.chunk` flows) at a time
/// and renders each chunk in parallel, `split.piece` flows at a time: `render` appends a flow
/// to its piece's buffer, and the pieces are handed to `emit` in order. A chunk's entries are
/// dropped as soon as they are rendered; the buffers are kept for the next chunk, so rendering
/// allocates only while they grow.
fn render_flows<F, E>(
    doc: &Document<'_>,
    indices: impl Iterator<Item = usize>,
    split: Split,
    render: F,
    emit: E,
) -> io::Result<()>
where
    F: Fn(&FlowDoc<'_>, &mut Vec<u8>) -> io::Result<()> + Sync,
    E: FnMut(&[u8]) -> io::Result<()>,
{
    render_flows_keeping(
        doc,
        indices,
        split,
        || (),
        |flow, piece, ()| render(&flow, piece),
        emit,
    )
}

/// [`render_flows`], with a `T` made by `keep` for each piece buffer and kept with it (what the
/// renderer remembers from flow to flow).
fn render_flows_keeping<T, K, F, E>(
    doc: &Document<'_>,
    mut indices: impl Iterator<Item = usize>,
    split: Split,
    keep: K,
    render: F,
    mut emit: E,
) -> io::Result<()>
where
    T: Send,
    K: Fn() -> T,
    F: Fn(FlowDoc<'_>, &mut Vec<u8>, &T) -> io::Result<()> + Sync,
    E: FnMut(&[u8]) -> io::Result<()>,
{
    let (chunk_flows, piece_flows) = (split.chunk.max(1), split.piece.max(1));
    let mut chunk: Vec<usize> = Vec::with_capacity(chunk_flows);
    let mut pieces: Vec<(Vec<u8>, T)> = Vec::new();
    loop {
        chunk.clear();
        chunk.extend(indices.by_ref().take(chunk_flows));
        if chunk.is_empty() {
            return Ok(());
        }
        let used = chunk.len().div_ceil(piece_flows);
        if pieces.len() < used {
            pieces.resize_with(used, || (Vec::new(), keep()));
        }
        let filled = pieces.get_mut(..used).unwrap_or_default();
        chunk
            .par_chunks(piece_flows)
            .zip(filled.par_iter_mut())
            .try_for_each(|(flows, (piece, kept))| {
                piece.clear();
                for flow in flows.iter().filter_map(|&i| doc.flow_doc(i)) {
                    render(flow, piece, kept)?;
                }
                Ok::<(), io::Error>(())
            })?;
        for (piece, _) in filled.iter() {
            emit(piece)?;
        }
    }
}

/// The JSON document, pretty-printed exactly as `serde_json::to_writer_pretty` would write it,
/// with the flows rendered in parallel (each is a self-contained object; JSON strings never hold
/// a raw newline, so indenting a rendered flow is a matter of prefixing its lines).
fn write_json(doc: &Document<'_>, out: &mut dyn Write, split: Split) -> io::Result<()> {
    if doc.is_empty() {
        serde_json::to_writer_pretty(&mut *out, doc).map_err(json_err)?;
        return writeln!(out);
    }
    let head = JsonlSummary {
        schema_version: doc.schema_version,
        tool: &doc.tool,
        captures: &doc.captures,
        summary: &doc.summary,
    };
    let head = serde_json::to_vec_pretty(&head).map_err(json_err)?;
    // `{ ... \n}` without its closing brace: the flows come last in the document
    let open = head.strip_suffix(b"\n}").unwrap_or(&head);
    out.write_all(open)?;
    out.write_all(b",\n  \"flows\": [")?;
    // Every flow is rendered after a separator; the first one written drops its comma.
    let mut first = true;
    render_flows_keeping(
        doc,
        0..doc.len(),
        split,
        || SharedCerts::new(Layout::Pretty),
        |flow, piece, certs| {
            piece.extend_from_slice(b",\n    ");
            let mut ser = serde_json::Serializer::with_formatter(piece, NestedPretty::at(2));
            flow.sharing_certs(certs)
                .serialize(&mut ser)
                .map_err(json_err)
        },
        |piece| {
            if first && !piece.is_empty() {
                first = false;
                return out.write_all(piece.strip_prefix(b",").unwrap_or(piece));
            }
            out.write_all(piece)
        },
    )?;
    out.write_all(b"\n  ]\n}\n")
}

/// JSON Lines: one `flow` record a line, rendered in parallel, then the `summary` record.
fn write_jsonl(doc: &Document<'_>, out: &mut dyn Write, split: Split) -> io::Result<()> {
    render_flows_keeping(
        doc,
        0..doc.len(),
        split,
        || SharedCerts::new(Layout::Compact),
        |flow, piece, certs| {
            let tagged = Tagged {
                kind: "flow",
                inner: &flow.sharing_certs(certs),
            };
            serde_json::to_writer(&mut *piece, &tagged).map_err(json_err)?;
            piece.push(b'\n');
            Ok(())
        },
        |piece| out.write_all(piece),
    )?;
    write_jsonl_summary(doc, out)
}

/// The `summary` record of JSON Lines: the tool, the captures and the summary of `doc`.
pub(crate) fn write_jsonl_summary(doc: &Document<'_>, out: &mut dyn Write) -> io::Result<()> {
    let summary = JsonlSummary {
        schema_version: doc.schema_version,
        tool: &doc.tool,
        captures: &doc.captures,
        summary: &doc.summary,
    };
    serde_json::to_writer(
        &mut *out,
        &Tagged {
            kind: "summary",
            inner: &summary,
        },
    )
    .map_err(json_err)?;
    writeln!(out)
}

/// One JSON Lines record: `value` tagged with its `type`.
pub(crate) fn write_jsonl_record<T: Serialize>(
    kind: &str,
    value: &T,
    out: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Tagged { kind, inner: value }).map_err(json_err)?;
    writeln!(out)
}

fn json_err(e: serde_json::Error) -> io::Error {
    io::Error::other(e)
}

/// Writes `doc` in `format`. `style` applies to the table only.
pub fn write(
    doc: &Document<'_>,
    format: Format,
    out: &mut dyn Write,
    style: TableStyle,
) -> io::Result<()> {
    match format {
        Format::Table => table::write(doc, out, style),
        Format::Junit => junit::write(doc, out),
        Format::Json => write_json(doc, out, SPLIT),
        Format::Jsonl => write_jsonl(doc, out, SPLIT),
        Format::Html => html::write(doc, out),
    }
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
            let tagged = Tagged {
                kind: "flow",
                inner: &flow,
            };
            jsonl += &(serde_json::to_string(&tagged).unwrap() + "\n");
        }
        assert_eq!(jsonl.lines().count(), doc.len());

        for (chunk, piece) in [(2048, 64), (3, 2), (2, 1), (5, 5), (1, 3), (0, 0)] {
            let split = Split { chunk, piece };
            let mut out = Vec::new();
            write_json(doc, &mut out, split).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), json, "{split:?}");
            let mut out = Vec::new();
            write_jsonl(doc, &mut out, split).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(out.starts_with(&jsonl), "{split:?}");
            assert_eq!(out.lines().count(), doc.len() + 1);
        }
    }
}
