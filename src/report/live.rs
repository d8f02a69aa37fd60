//! The table of a live run (`--follow`), whose rows appear as flows settle; every row is flushed
//! when written. JSON Lines of a live run are [`JsonlExporter::live`](super::JsonlExporter::live).

use std::io;

use super::export::Exporter;
use super::file::Complete;
use super::table::{self, TableStyle, View};
use super::{Document, FlowDoc, Format};
use crate::live::FlowEnd;

/// The table, row by row, then the summary.
#[derive(Debug)]
pub struct LiveTable<W> {
    out: W,
    style: TableStyle,
    /// Rows are written (not only the summary).
    rows: bool,
    header: bool,
}

impl<W> LiveTable<W> {
    /// A table with a row per flow, or (`rows` false) only the summary at the end.
    pub fn new(out: W, style: TableStyle, rows: bool) -> LiveTable<W> {
        LiveTable {
            out,
            style,
            rows,
            header: false,
        }
    }
}

impl<W: Complete> Exporter for LiveTable<W> {
    fn begin(&mut self, _doc: Option<&Document<'_>>) -> io::Result<()> {
        Ok(())
    }

    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()> {
        if !self.rows || flows.is_empty() {
            return Ok(());
        }
        if !self.header {
            self.header = true;
            writeln!(self.out, "{}", table::live_header(self.style))?;
        }
        for flow in flows {
            writeln!(self.out, "{}", table::live_row(flow, self.style))?;
        }
        self.out.flush()
    }

    fn flow_end(&mut self, end: &FlowEnd) -> io::Result<()> {
        let Some(was) = end.settled_verdict.filter(|_| self.rows) else {
            return Ok(());
        };
        writeln!(
            self.out,
            "{:>3}   now {}, was {}: the flow's later bytes changed its verdict",
            end.id,
            end.verdict.name(),
            was.name()
        )?;
        self.out.flush()
    }

    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()> {
        if self.rows && !self.header {
            writeln!(self.out, "no flows so far")?;
        }
        writeln!(self.out)?;
        let style = TableStyle {
            view: View::Summary,
            ..self.style
        };
        super::write(doc, Format::Table, &mut self.out, style)?;
        self.out.complete()
    }
}
