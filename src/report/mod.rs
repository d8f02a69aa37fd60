//! Report formats (`table`, `json`, `jsonl`, `junit`) and the CI policy.

pub mod document;
mod indent;
pub mod junit;
pub mod pods;
pub mod policy;
pub mod table;
pub mod time;

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;

use indent::NestedPretty;

pub use document::{Document, FlowBrief, FlowDoc};
pub use policy::{AllowRule, Policy, PolicyOutcome, Requirement, Waiver};
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
/// Room reserved for one flow's JSON: most render in one allocation.
const FLOW_JSON_BYTES: usize = 4096;

/// Builds the [`FlowDoc`]s of the flows at `indices` a chunk of [`RENDER_CHUNK`] at a time,
/// renders each chunk in parallel with `render`, and hands the renderings to `emit` in order.
/// A chunk's entries are dropped as soon as they are rendered.
fn render_flows<R, F, E>(
    doc: &Document<'_>,
    mut indices: impl Iterator<Item = usize>,
    render: F,
    mut emit: E,
) -> io::Result<()>
where
    R: Send,
    F: Fn(&FlowDoc<'_>) -> R + Sync,
    E: FnMut(R) -> io::Result<()>,
{
    let mut chunk: Vec<usize> = Vec::with_capacity(RENDER_CHUNK);
    loop {
        chunk.clear();
        chunk.extend(indices.by_ref().take(RENDER_CHUNK));
        if chunk.is_empty() {
            return Ok(());
        }
        let rendered: Vec<R> = chunk
            .par_iter()
            .filter_map(|&i| doc.flow_doc(i))
            .map(|flow| render(&flow))
            .collect();
        for r in rendered {
            emit(r)?;
        }
    }
}

/// The JSON document, pretty-printed exactly as `serde_json::to_writer_pretty` would write it,
/// with the flows rendered in parallel (each is a self-contained object; JSON strings never hold
/// a raw newline, so indenting a rendered flow is a matter of prefixing its lines).
fn write_json(doc: &Document<'_>, out: &mut dyn Write) -> io::Result<()> {
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
    let mut first = true;
    render_flows(
        doc,
        0..doc.len(),
        |flow| {
            let mut rendered = Vec::with_capacity(FLOW_JSON_BYTES);
            rendered.extend_from_slice(b"\n    ");
            let mut ser =
                serde_json::Serializer::with_formatter(&mut rendered, NestedPretty::at(2));
            flow.serialize(&mut ser).map_err(json_err)?;
            Ok(rendered)
        },
        |flow: io::Result<Vec<u8>>| {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            out.write_all(&flow?)
        },
    )?;
    out.write_all(b"\n  ]\n}\n")
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
        Format::Json => write_json(doc, out),
        Format::Jsonl => {
            render_flows(
                doc,
                0..doc.len(),
                |flow| {
                    let mut line = serde_json::to_vec(&Tagged {
                        kind: "flow",
                        inner: flow,
                    })
                    .map_err(json_err)?;
                    line.push(b'\n');
                    Ok(line)
                },
                |line: io::Result<Vec<u8>>| out.write_all(&line?),
            )?;
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
    }
}
