//! Report formats (`table`, `json`, `jsonl`, `junit`) and the CI policy.

pub mod document;
pub mod junit;
pub mod pods;
pub mod policy;
pub mod table;
pub mod time;

use std::io::{self, Write};

use serde::Serialize;

pub use document::Document;
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
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, doc).map_err(json_err)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for flow in &doc.flows {
                serde_json::to_writer(
                    &mut *out,
                    &Tagged {
                        kind: "flow",
                        inner: flow,
                    },
                )
                .map_err(json_err)?;
                writeln!(out)?;
            }
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
