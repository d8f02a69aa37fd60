//! The JSON document and JSON Lines, as exporters.
//!
//! The document is pretty-printed exactly as `serde_json::to_writer_pretty` would write it, its
//! flows rendered in parallel: each is a self-contained object, and JSON strings never hold a
//! raw newline, so indenting a rendered flow is a matter of prefixing its lines.

use std::io::{self, Write};

use serde::Serialize;

use super::document::{self, Document, FlowDoc};
use super::export::{needs_whole_capture, Exporter, Pieces, Split, SPLIT};
use super::file::Complete;
use super::indent::NestedPretty;
use super::shared_certs::{Layout, SharedCerts};
use crate::live::FlowEnd;

/// A JSON Lines record: the document's parts tagged with their `type`.
#[derive(Serialize)]
pub(super) struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    #[serde(flatten)]
    pub(super) inner: &'a T,
}

/// The document without its flows: what the `summary` record of JSON Lines holds, and the head
/// of the JSON document.
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool: &'a document::Tool,
    captures: &'a [document::CaptureDoc],
    summary: &'a document::SummaryDoc,
}

impl<'a> Head<'a> {
    fn of(doc: &'a Document<'_>) -> Head<'a> {
        Head {
            schema_version: doc.schema_version,
            tool: &doc.tool,
            captures: &doc.captures,
            summary: &doc.summary,
        }
    }
}

pub(super) fn json_err(e: serde_json::Error) -> io::Error {
    io::Error::other(e)
}

/// The JSON document: the head, then the flows, rendered in parallel as they come.
#[derive(Debug)]
pub struct JsonExporter<W> {
    out: W,
    pieces: Pieces<SharedCerts>,
    /// No flow was written yet: the next one has no separator.
    first: bool,
}

impl<W: Complete> JsonExporter<W> {
    pub fn new(out: W) -> JsonExporter<W> {
        JsonExporter::split(out, SPLIT)
    }

    pub(super) fn split(out: W, split: Split) -> JsonExporter<W> {
        JsonExporter {
            out,
            pieces: Pieces::new(split.piece),
            first: true,
        }
    }
}

impl<W: Complete> Exporter for JsonExporter<W> {
    fn begin(&mut self, doc: Option<&Document<'_>>) -> io::Result<()> {
        let doc = doc.ok_or_else(|| needs_whole_capture("a JSON document"))?;
        if doc.is_empty() {
            // written whole at the end, `"flows": []` included
            return Ok(());
        }
        let head = serde_json::to_vec_pretty(&Head::of(doc)).map_err(json_err)?;
        // `{ ... \n}` without its closing brace: the flows come last in the document
        let open = head.strip_suffix(b"\n}").unwrap_or(&head);
        self.out.write_all(open)?;
        self.out.write_all(b",\n  \"flows\": [")
    }

    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()> {
        let (out, first) = (&mut self.out, &mut self.first);
        self.pieces.render(
            flows,
            || SharedCerts::new(Layout::Pretty),
            |flow, piece, certs| {
                // Every flow is rendered after a separator; the first one written drops it.
                piece.extend_from_slice(b",\n    ");
                let mut ser = serde_json::Serializer::with_formatter(piece, NestedPretty::at(2));
                flow.sharing_certs(certs)
                    .serialize(&mut ser)
                    .map_err(json_err)
            },
            |piece| {
                if *first && !piece.is_empty() {
                    *first = false;
                    return out.write_all(piece.strip_prefix(b",").unwrap_or(piece));
                }
                out.write_all(piece)
            },
        )
    }

    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()> {
        if doc.is_empty() {
            serde_json::to_writer_pretty(&mut self.out, doc).map_err(json_err)?;
            writeln!(self.out)?;
        } else {
            self.out.write_all(b"\n  ]\n}\n")?;
        }
        self.out.complete()
    }
}

/// JSON Lines: a `flow` record a line as flows come (rendered in parallel), `flow-end` records
/// in a live run, then the `summary` record. A live one flushes every record.
#[derive(Debug)]
pub struct JsonlExporter<W> {
    out: W,
    pieces: Pieces<SharedCerts>,
    live: bool,
}

impl<W: Complete> JsonlExporter<W> {
    /// JSON Lines of a batch run.
    pub fn new(out: W) -> JsonlExporter<W> {
        JsonlExporter::split(out, SPLIT)
    }

    /// JSON Lines of a live run: each record flushed as it is written.
    pub fn live(out: W) -> JsonlExporter<W> {
        JsonlExporter {
            live: true,
            ..JsonlExporter::new(out)
        }
    }

    pub(super) fn split(out: W, split: Split) -> JsonlExporter<W> {
        JsonlExporter {
            out,
            pieces: Pieces::new(split.piece),
            live: false,
        }
    }

    fn flushed(&mut self) -> io::Result<()> {
        match self.live {
            true => self.out.flush(),
            false => Ok(()),
        }
    }
}

impl<W: Complete> Exporter for JsonlExporter<W> {
    fn begin(&mut self, _doc: Option<&Document<'_>>) -> io::Result<()> {
        Ok(())
    }

    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()> {
        let out = &mut self.out;
        self.pieces.render(
            flows,
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
        self.flushed()
    }

    fn flow_end(&mut self, end: &FlowEnd) -> io::Result<()> {
        write_record("flow-end", end, &mut self.out)?;
        self.flushed()
    }

    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()> {
        write_record("summary", &Head::of(doc), &mut self.out)?;
        self.out.complete()
    }
}

/// One JSON Lines record: `value` tagged with its `type`.
fn write_record<T: Serialize>(kind: &str, value: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Tagged { kind, inner: value }).map_err(json_err)?;
    writeln!(out)
}
