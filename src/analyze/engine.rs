//! One flow table and what happens to its flows: every closed flow is oriented, classified and
//! reduced to its counters as soon as the table hands it out, so memory follows the flows that
//! are open, not the size of the capture.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::classify::{self, Context, KeyLog};
use crate::decode::{Segment, Transport};
use crate::flow::udp::{UdpFlow, UdpTable};
use crate::flow::{Flow, FlowLimits, FlowTable, FlowTail, Leftover, TableCounters};
use crate::hash::FxBuildHasher;
use crate::model::Verdict;

use super::{FlowFacts, FlowResult};

/// Segments pushed between two looks for closed flows.
const DRAIN_EVERY: u32 = 4096;

/// A flow table with its classifier. Results carry `id` 0 until the caller numbers them.
#[derive(Debug)]
pub(super) struct Engine {
    table: FlowTable,
    /// The UDP flows, bounded by the same limits as the TCP ones.
    udp: UdpTable,
    ctx: Context,
    capture: usize,
    /// Flows with payload.
    results: Vec<FlowResult>,
    /// Indexes into `results`, found by the result's first frame: for the segments that arrive
    /// after a flow closed. Only the 4-byte index is stored (the key is read from the result),
    /// a quarter of what a map from frame to index takes for every flow of the capture.
    by_first_frame: HashTable<u32>,
    /// Flows without payload, by first frame: the `max_empty` first-seen ones.
    empties: BTreeMap<u64, FlowResult>,
    max_empty: usize,
    /// Flows without payload dropped from `empties` (seen after the ones kept).
    unlisted_empty: u64,
    since_drain: u32,
}

/// What an engine produced.
#[derive(Debug)]
pub(super) struct Finished {
    /// Every kept result, in no particular order.
    pub results: Vec<FlowResult>,
    /// Flows without payload counted but not kept (see [`super::AnalysisOptions::max_empty_flows`]).
    pub unlisted_empty: u64,
    pub counters: TableCounters,
}

impl Engine {
    /// An engine that keeps at most `max_empty` flows without payload (the first seen).
    pub(super) fn new(
        limits: FlowLimits,
        keylog: KeyLog,
        capture: usize,
        max_empty: usize,
    ) -> Engine {
        Engine {
            udp: UdpTable::new(limits.max_flows, limits.max_buffered_bytes),
            table: FlowTable::new(limits),
            ctx: Context { keylog },
            capture,
            results: Vec::new(),
            by_first_frame: HashTable::new(),
            empties: BTreeMap::new(),
            max_empty,
            unlisted_empty: 0,
            since_drain: 0,
        }
    }

    /// Adds key log secrets met in the capture. They apply to the flows that end after them:
    /// the flows that ended before are classified first, so that which flows see the secrets
    /// does not depend on when the engine drains (nor, then, on the number of shards).
    pub(super) fn add_secrets(&mut self, keylog: KeyLog) {
        self.drain();
        self.ctx.keylog.merge(keylog);
    }

    #[inline]
    pub(super) fn push(&mut self, frame: u64, ts_nanos: i64, seg: &Segment<'_>) {
        if seg.transport == Transport::Udp {
            self.udp.push(frame, ts_nanos, seg);
        } else {
            self.table.push(frame, ts_nanos, seg);
        }
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
        for flow in self.udp.drain_ended() {
            self.settle_udp(&flow);
        }
        for tail in self.table.drain_tails() {
            self.apply_tail(&tail);
        }
    }

    /// Classifies a flow whose bytes are final and keeps only its result. Of the flows without
    /// payload only the `max_empty` first seen are kept: which ones does not depend on the order
    /// flows end in, so neither does the report.
    fn settle(&mut self, mut flow: Flow) {
        classify::orient(&mut flow);
        let class = classify::classify(&flow, &self.ctx);
        let result = FlowResult {
            id: 0,
            capture: self.capture,
            facts: FlowFacts::of(&flow),
            class,
        };
        self.keep(result);
    }

    /// Classifies a UDP flow that ended and keeps its result.
    fn settle_udp(&mut self, flow: &UdpFlow) {
        let result = FlowResult {
            id: 0,
            capture: self.capture,
            facts: FlowFacts::of_udp(flow),
            class: classify::udp::classify(flow),
        };
        self.keep(result);
    }

    /// Keeps a flow's result (see [`Engine::settle`]).
    fn keep(&mut self, result: FlowResult) {
        let first_frame = result.facts.first_frame;
        if result.class.verdict == Verdict::Empty {
            self.empties.insert(first_frame, result);
            if self.empties.len() > self.max_empty {
                self.empties.pop_last();
                self.unlisted_empty += 1;
            }
            return;
        }
        let results = &self.results;
        let Ok(index) = u32::try_from(results.len()) else {
            // Past 4 G flows late segments are no longer matched: the flow is kept all the same.
            self.results.push(result);
            return;
        };
        self.by_first_frame
            .insert_unique(frame_hash(first_frame), index, |&i| {
                frame_hash(first_frame_of(results, i))
            });
        self.results.push(result);
    }

    fn apply_tail(&mut self, tail: &FlowTail) {
        let results = &self.results;
        let found = self
            .by_first_frame
            .find(frame_hash(tail.first_frame), |&i| {
                first_frame_of(results, i) == tail.first_frame
            })
            .copied();
        let result = match found {
            Some(i) => self.results.get_mut(i as usize),
            None => self.empties.get_mut(&tail.first_frame),
        };
        if let Some(result) = result {
            result.facts.apply_tail(tail);
        }
    }

    /// Classifies the flows still open and returns every kept result with the table's limit
    /// counters.
    pub(super) fn finish(mut self) -> Finished {
        self.drain();
        let table = std::mem::replace(&mut self.table, FlowTable::new(FlowLimits::default()));
        let mut counters = table.counters();
        table.finish_each(|left| match left {
            Leftover::Flow(flow) => self.settle(flow),
            Leftover::Tail(tail) => self.apply_tail(&tail),
        });
        let udp = std::mem::replace(&mut self.udp, UdpTable::new(1, 0));
        counters.udp_tables_full = udp.flushes;
        for flow in udp.finish() {
            self.settle_udp(&flow);
        }
        let mut results = self.results;
        results.reserve_exact(self.empties.len());
        results.extend(self.empties.into_values());
        Finished {
            results,
            unlisted_empty: self.unlisted_empty,
            counters,
        }
    }
}

fn frame_hash(first_frame: u64) -> u64 {
    FxBuildHasher::default().hash_one(first_frame)
}

/// The first frame of result `i` (`u64::MAX`, never a frame number, if there is none).
fn first_frame_of(results: &[FlowResult], i: u32) -> u64 {
    results
        .get(i as usize)
        .map_or(u64::MAX, |r| r.facts.first_frame)
}
