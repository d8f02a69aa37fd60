//! The outputs of a live run (`--follow`): a table whose rows appear as flows settle, and JSON
//! Lines with `flow` records as flows settle, `flow-end` records as they end, and the `summary`
//! record. Every record is flushed when written.

use std::io;

use super::file::Complete;
use super::table::{self, TableStyle, View};
use super::{write_jsonl_record, write_jsonl_summary, Document, FlowDoc};
use crate::live::{FlowEnd, LiveSink};

/// JSON Lines, record by record.
#[derive(Debug)]
pub struct LiveJsonl<W> {
    out: W,
}

impl<W> LiveJsonl<W> {
    pub fn new(out: W) -> LiveJsonl<W> {
        LiveJsonl { out }
    }
}

impl<W: Complete + Send> LiveSink for LiveJsonl<W> {
    fn flow(&mut self, flow: &FlowDoc<'_>) -> io::Result<()> {
        write_jsonl_record("flow", flow, &mut self.out)?;
        self.out.flush()
    }

    fn flow_end(&mut self, end: &FlowEnd) -> io::Result<()> {
        write_jsonl_record("flow-end", end, &mut self.out)?;
        self.out.flush()
    }

    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()> {
        write_jsonl_summary(doc, &mut self.out)?;
        self.out.complete()
    }
}

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

impl<W: Complete + Send> LiveSink for LiveTable<W> {
    fn flow(&mut self, flow: &FlowDoc<'_>) -> io::Result<()> {
        if !self.rows {
            return Ok(());
        }
        if !self.header {
            self.header = true;
            writeln!(self.out, "{}", table::live_header(self.style))?;
        }
        writeln!(self.out, "{}", table::live_row(flow, self.style))?;
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
            writeln!(self.out, "no TCP flows so far")?;
        }
        writeln!(self.out)?;
        let style = TableStyle {
            view: View::Summary,
            ..self.style
        };
        table::write(doc, &mut self.out, style)?;
        self.out.complete()
    }
}
