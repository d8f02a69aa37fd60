//! Reports written as the flows come. Every format is an [`Exporter`]: `begin` once, `flows` with
//! each run of flows in order, `flow_end` (live runs) as flows end, `finish` once. A batch run
//! builds each flow's entry once and hands it to every report of the run ([`export`]); a live run
//! hands each flow over as its verdict settles.

use std::io;

use rayon::prelude::*;

use super::document::{Document, FlowDoc};
use crate::live::FlowEnd;

/// One report, written flow by flow.
pub trait Exporter {
    /// Before the first flow. A batch run gives its whole document, whose captures and summary
    /// are final; a live run gives none, and the formats that write the summary before the
    /// flows (a JSON document, JUnit, HTML, the batch table) refuse to start.
    fn begin(&mut self, doc: Option<&Document<'_>>) -> io::Result<()>;

    /// The next flows, in order.
    fn flows(&mut self, flows: &[FlowDoc<'_>]) -> io::Result<()>;

    /// A live run: a flow whose entry was written ended.
    fn flow_end(&mut self, _end: &FlowEnd) -> io::Result<()> {
        Ok(())
    }

    /// The run is over: `doc` holds the captures and the summary. The report is complete (a
    /// report file takes its name).
    fn finish(&mut self, doc: &Document<'_>) -> io::Result<()>;
}

/// The error of a format that writes the summary before the flows, started without it.
pub(crate) fn needs_whole_capture(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} needs the whole capture: run without --follow"),
    )
}

/// Flows whose entries are built at a time: bounds the entries and rendered bytes held.
const RENDER_CHUNK: usize = 2048;
/// Flows that one task renders, one after the other, into one buffer: few enough that a chunk
/// splits into pieces for every thread, enough that a piece is written out in one call (larger
/// than the output's buffer, so it goes straight through without being copied there).
const PIECE_FLOWS: usize = 64;

/// How flows are batched: entries built `chunk` at a time, rendered `piece` at a time per task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub(crate) chunk: usize,
    pub(crate) piece: usize,
}

pub(crate) const SPLIT: Split = Split {
    chunk: RENDER_CHUNK,
    piece: PIECE_FLOWS,
};

/// Which report failed, and why.
#[derive(Debug)]
pub struct ExportError {
    /// Index of the exporter in the slice given to [`export`].
    pub index: usize,
    pub error: io::Error,
}

/// Writes the report of `doc` to every exporter in one pass: the flows' entries are built a
/// chunk at a time, in parallel, and each chunk is handed to each exporter in turn. The first
/// error stops the pass.
pub fn export(doc: &Document<'_>, exporters: &mut [&mut dyn Exporter]) -> Result<(), ExportError> {
    export_split(doc, exporters, SPLIT.chunk)
}

pub(crate) fn export_split(
    doc: &Document<'_>,
    exporters: &mut [&mut dyn Exporter],
    chunk: usize,
) -> Result<(), ExportError> {
    let each = |exporters: &mut [&mut dyn Exporter],
                f: &mut dyn FnMut(&mut dyn Exporter) -> io::Result<()>| {
        exporters
            .iter_mut()
            .enumerate()
            .try_for_each(|(index, e)| f(&mut **e).map_err(|error| ExportError { index, error }))
    };
    each(exporters, &mut |e| e.begin(Some(doc)))?;
    let chunk = chunk.max(1);
    let mut flows: Vec<FlowDoc<'_>> = Vec::with_capacity(chunk.min(doc.len()));
    let mut start = 0;
    while start < doc.len() {
        let end = doc.len().min(start.saturating_add(chunk));
        flows.clear();
        flows.par_extend((start..end).into_par_iter().filter_map(|i| doc.flow_doc(i)));
        each(exporters, &mut |e| e.flows(&flows))?;
        start = end;
    }
    each(exporters, &mut |e| e.finish(doc))
}

/// Buffers that flows are rendered into in parallel, `piece` flows each, with what each
/// renderer keeps from flow to flow (`T`). Kept from chunk to chunk, so rendering allocates only
/// while they grow.
#[derive(Debug)]
pub(crate) struct Pieces<T> {
    bufs: Vec<(Vec<u8>, T)>,
    piece: usize,
}

impl<T: Send> Pieces<T> {
    pub(crate) fn new(piece: usize) -> Pieces<T> {
        Pieces {
            bufs: Vec::new(),
            piece: piece.max(1),
        }
    }

    /// Renders `flows` in parallel (`render` appends a flow to its piece's buffer), then hands
    /// the buffers to `emit` in order; `keep` makes the state of a new buffer.
    pub(crate) fn render<K, R, E>(
        &mut self,
        flows: &[FlowDoc<'_>],
        keep: K,
        render: R,
        mut emit: E,
    ) -> io::Result<()>
    where
        K: Fn() -> T,
        R: Fn(&FlowDoc<'_>, &mut Vec<u8>, &T) -> io::Result<()> + Sync,
        E: FnMut(&[u8]) -> io::Result<()>,
    {
        let used = flows.len().div_ceil(self.piece);
        if self.bufs.len() < used {
            self.bufs.resize_with(used, || (Vec::new(), keep()));
        }
        let filled = self.bufs.get_mut(..used).unwrap_or_default();
        flows
            .par_chunks(self.piece)
            .zip(filled.par_iter_mut())
            .try_for_each(|(flows, (buf, kept))| {
                buf.clear();
                flows.iter().try_for_each(|flow| render(flow, buf, kept))
            })?;
        filled.iter().try_for_each(|(buf, _)| emit(buf))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use super::*;
    use crate::capture::Input;
    use crate::mesh::{MeshRequest, Meshed};
    use crate::names::Names;
    use crate::report::{exporter, Format, Policy, Requirement, TableStyle, View};
    use crate::{analyze, AnalysisOptions};

    const FORMATS: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::Jsonl,
        Format::Junit,
        Format::Html,
    ];

    /// Two captures in one run: the JUnit suites and the table's captures both come in order.
    fn meshed() -> Meshed {
        let inputs = ["mesh-istio-leak.pcap", "tls13-suites-keylog.pcapng"].map(|name| {
            Input::Path(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("samples")
                    .join(name),
            )
        });
        let analysis = analyze(&inputs, &AnalysisOptions::default()).unwrap();
        Meshed::new(analysis, Some(MeshRequest::Auto))
    }

    /// Whatever the chunks the flows come in, and however many reports share the pass, each
    /// report is the one it is alone.
    #[test]
    fn every_report_of_one_pass_is_the_report_alone_whatever_the_chunks() {
        let meshed = meshed();
        let policy = Policy {
            require: Some(Requirement::Mtls),
            allow: Vec::new(),
        };
        let names = Names::default();
        let doc = Document::build(&meshed, &policy, &names);
        assert!(doc.len() > 10 && doc.captures.len() == 2);
        let style = TableStyle {
            view: View::Both,
            ..TableStyle::default()
        };
        let alone: Vec<Vec<u8>> = FORMATS
            .iter()
            .map(|&format| {
                let mut out = Vec::new();
                crate::report::write(&doc, format, &mut out, style).unwrap();
                out
            })
            .collect();
        for chunk in [1, 2, 7, 2048] {
            let mut outs: Vec<Vec<u8>> = vec![Vec::new(); FORMATS.len()];
            {
                let mut exporters: Vec<Box<dyn Exporter + '_>> = outs
                    .iter_mut()
                    .zip(FORMATS)
                    .map(|(out, format)| exporter(format, out as &mut dyn Write, style))
                    .collect();
                let mut each: Vec<&mut dyn Exporter> =
                    exporters.iter_mut().map(|e| &mut **e as _).collect();
                export_split(&doc, &mut each, chunk).unwrap();
            }
            for ((out, alone), format) in outs.iter().zip(&alone).zip(FORMATS) {
                assert!(out == alone, "{format:?} in chunks of {chunk}");
            }
        }
        let junit = String::from_utf8(alone[3].clone()).unwrap();
        assert_eq!(junit.matches("<testsuite ").count(), 2);
        assert_eq!(junit.matches("</testsuite>").count(), 2);
    }

    /// A live run has no document to begin with: the formats that write the summary first say
    /// they need the whole capture; JSON Lines starts.
    #[test]
    fn summary_first_formats_refuse_to_begin_without_the_run() {
        for format in FORMATS {
            let mut out = Vec::new();
            let mut e = exporter(format, &mut out as &mut dyn Write, TableStyle::default());
            let begun = e.begin(None);
            match format {
                Format::Jsonl => assert!(begun.is_ok()),
                _ => {
                    let err = begun.unwrap_err();
                    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{format:?}");
                    assert!(err.to_string().contains("whole capture"), "{err}");
                }
            }
        }
    }

    /// A report that fails stops the pass and is named by its place.
    #[test]
    fn the_failing_report_is_named() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl crate::report::Complete for Full {}
        let meshed = meshed();
        let (policy, names) = (Policy::default(), Names::default());
        let doc = Document::build(&meshed, &policy, &names);
        let mut fine = exporter(Format::Jsonl, io::sink(), TableStyle::default());
        let mut full = exporter(Format::Json, Full, TableStyle::default());
        let err = export(&doc, &mut [&mut *fine, &mut *full]).unwrap_err();
        assert_eq!((err.index, err.error.to_string()), (1, "disk full".into()));
    }
}
