//! One flow table and what happens to its flows: every closed flow is oriented, classified and
//! reduced to its counters as soon as the table hands it out, so memory follows the flows that
//! are open, not the size of the capture.

use std::collections::HashMap;

use crate::classify::{self, Context, KeyLog};
use crate::decode::Segment;
use crate::flow::{Flow, FlowLimits, FlowTable, FlowTail, TableCounters};

use super::{FlowFacts, FlowResult};

/// Segments pushed between two looks for closed flows.
const DRAIN_EVERY: u32 = 4096;

/// A flow table with its classifier. Results carry `id` 0 until the caller numbers them.
#[derive(Debug)]
pub(super) struct Engine {
    table: FlowTable,
    ctx: Context,
    capture: usize,
    results: Vec<FlowResult>,
    /// Index into `results` by first frame, for the segments that arrive after a flow closed.
    by_first_frame: HashMap<u64, usize>,
    since_drain: u32,
}

impl Engine {
    pub(super) fn new(limits: FlowLimits, keylog: KeyLog, capture: usize) -> Engine {
        Engine {
            table: FlowTable::new(limits),
            ctx: Context { keylog },
            capture,
            results: Vec::new(),
            by_first_frame: HashMap::new(),
            since_drain: 0,
        }
    }

    /// Adds key log secrets met in the capture (they apply to the flows classified from now on).
    pub(super) fn add_secrets(&mut self, keylog: KeyLog) {
        self.ctx.keylog.merge(keylog);
    }

    #[inline]
    pub(super) fn push(&mut self, frame: u64, ts_nanos: i64, seg: &Segment<'_>) {
        self.table.push(frame, ts_nanos, seg);
        self.since_drain += 1;
        if self.since_drain >= DRAIN_EVERY {
            self.drain();
        }
    }

    fn drain(&mut self) {
        self.since_drain = 0;
        for flow in self.table.drain_closed() {
            self.settle(flow);
        }
        for tail in self.table.drain_tails() {
            self.apply_tail(&tail);
        }
    }

    /// Classifies a flow whose bytes are final and keeps only its result.
    fn settle(&mut self, mut flow: Flow) {
        classify::orient(&mut flow);
        let class = classify::classify(&flow, &self.ctx);
        self.by_first_frame
            .insert(flow.first_frame, self.results.len());
        self.results.push(FlowResult {
            id: 0,
            capture: self.capture,
            facts: FlowFacts::of(&flow),
            class,
        });
    }

    fn apply_tail(&mut self, tail: &FlowTail) {
        if let Some(result) = self
            .by_first_frame
            .get(&tail.first_frame)
            .and_then(|&i| self.results.get_mut(i))
        {
            result.facts.apply_tail(tail);
        }
    }

    /// Classifies the flows still open and returns every result, in no particular order, with
    /// the table's limit counters.
    pub(super) fn finish(mut self) -> (Vec<FlowResult>, TableCounters) {
        self.drain();
        let table = std::mem::replace(&mut self.table, FlowTable::new(FlowLimits::default()));
        let counters = table.counters();
        let (flows, tails) = table.finish_with_tails();
        for flow in flows {
            self.settle(flow);
        }
        for tail in &tails {
            self.apply_tail(tail);
        }
        (self.results, counters)
    }
}
