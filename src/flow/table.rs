//! The flow table: live flows by key, each with its two directions' reassembly state.
//!
//! Determinism: every decision about a flow (which flow a segment joins, when a flow ends, what
//! its bytes are) depends only on that connection's own segments, never on other flows, on when
//! the caller drains, or on how segments are spread over several tables. The one assumption is
//! that capture timestamps do not go backwards by more than the close linger or idle timeout.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::key::{fmix64, FlowKey, KeyBuildHasher};
use super::reassembly::Reassembler;
use super::{ClientBy, Direction, Flow, FlowLimits};
use crate::decode::Segment;

/// Largest prefix the table buffers per direction, whatever the limits say (offsets are `u32`).
const MAX_PREFIX: usize = 1 << 30;

/// Salt that decorrelates shard routing from the map's own use of the key hash.
const SHARD_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// How the client of a live flow was decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Orient {
    FirstSeen,
    SynAck,
    Syn,
}

/// A live flow: the public record plus what reassembly and bookkeeping need.
#[derive(Debug, Clone)]
struct FlowState {
    flow: Flow,
    /// Reassembly of `flow.dir[0]` and `flow.dir[1]`.
    rx: [Reassembler; 2],
    /// `flow.a` is the canonical key's lower endpoint.
    a_is_lo: bool,
    orient: Orient,
    /// FIN seen both ways, or a RST.
    ended: bool,
}

impl FlowState {
    fn new(seg: &Segment<'_>, frame: u64, ts: i64, src_is_lo: bool) -> FlowState {
        let syn = seg.flags.syn();
        let syn_ack = syn && seg.flags.ack();
        // The receiver of a SYN-ACK is the client; otherwise the sender of the first packet.
        let (a, b, a_is_lo) = if syn_ack {
            (seg.dst, seg.src, !src_is_lo)
        } else {
            (seg.src, seg.dst, src_is_lo)
        };
        let orient = match (syn, syn_ack) {
            (true, false) => Orient::Syn,
            (true, true) => Orient::SynAck,
            _ => Orient::FirstSeen,
        };
        FlowState {
            flow: Flow {
                a,
                b,
                client_by: if syn {
                    ClientBy::Syn
                } else {
                    ClientBy::FirstSeen
                },
                dir: [Direction::default(), Direction::default()],
                first_frame: frame,
                last_frame: frame,
                first_ts: ts,
                last_ts: ts,
                syn_seen: false,
                loopback_if: false,
            },
            rx: [Reassembler::default(), Reassembler::default()],
            a_is_lo,
            orient,
            ended: false,
        }
    }

    /// Index into `flow.dir` of a segment sent by the key's lower endpoint or not.
    fn dir_index(&self, src_is_lo: bool) -> usize {
        usize::from(src_is_lo != self.a_is_lo)
    }

    /// Whether `seg` at `ts` belongs to a new connection on this key rather than to this flow.
    fn is_superseded_by(
        &self,
        seg: &Segment<'_>,
        ts: i64,
        src_is_lo: bool,
        limits: &FlowLimits,
    ) -> bool {
        let silence = ts.saturating_sub(self.flow.last_ts);
        if limits.idle_timeout_nanos.is_some_and(|t| silence > t) {
            return true;
        }
        if !self.ended {
            return false;
        }
        if silence > limits.close_linger_nanos {
            return true;
        }
        // Port reuse: a fresh SYN with another initial sequence number.
        seg.flags.syn()
            && !seg.flags.ack()
            && self.rx[self.dir_index(src_is_lo)].isn() != Some(seg.seq)
    }

    /// Whether the flow is over at capture time `now`: no later packet can join it.
    fn expired(&self, now: i64, limits: &FlowLimits) -> bool {
        let silence = now.saturating_sub(self.flow.last_ts);
        (self.ended && silence > limits.close_linger_nanos)
            || limits.idle_timeout_nanos.is_some_and(|t| silence > t)
    }

    fn swap(&mut self) {
        self.flow.swap();
        self.rx.swap(0, 1);
        self.a_is_lo = !self.a_is_lo;
    }

    /// Makes the sender (`sender_is_lo`) or the receiver the client.
    fn orient(&mut self, client_is_lo: bool, by: Orient) {
        if self.a_is_lo != client_is_lo {
            self.swap();
        }
        self.orient = by;
        self.flow.client_by = ClientBy::Syn;
    }

    fn update(&mut self, seg: &Segment<'_>, frame: u64, ts: i64, src_is_lo: bool, cap: usize) {
        let flags = seg.flags;
        self.flow.last_frame = self.flow.last_frame.max(frame);
        self.flow.last_ts = self.flow.last_ts.max(ts);
        self.flow.loopback_if |= seg.loopback_if;
        if flags.syn() {
            self.flow.syn_seen = true;
            if !flags.ack() && self.orient != Orient::Syn {
                self.orient(src_is_lo, Orient::Syn);
            } else if flags.ack() && self.orient == Orient::FirstSeen {
                self.orient(!src_is_lo, Orient::SynAck);
            }
        }
        let d = self.dir_index(src_is_lo);
        let (Some(dir), Some(rx)) = (self.flow.dir.get_mut(d), self.rx.get_mut(d)) else {
            return;
        };
        dir.packets += 1;
        if flags.fin() && dir.fin_frame.is_none() {
            dir.fin_frame = Some(frame);
        }
        if flags.rst() && dir.rst_frame.is_none() {
            dir.rst_frame = Some(frame);
        }
        let mut seq = seg.seq;
        if flags.syn() {
            dir.syn = true;
            rx.syn(seq, cap);
            seq = seq.wrapping_add(1);
        }
        // Data on a RST is a diagnostic for the peer's stack, not part of the stream.
        if !flags.rst() && (!seg.payload.is_empty() || seg.payload_missing > 0) {
            if dir.first_payload_frame.is_none() {
                dir.first_payload_frame = Some(frame);
            }
            rx.data(seq, seg.payload, seg.payload_missing, frame, dir, cap);
        }
        if flags.fin() || flags.rst() {
            let [x, y] = &self.flow.dir;
            self.ended = x.rst_frame.is_some()
                || y.rst_frame.is_some()
                || (x.fin_frame.is_some() && y.fin_frame.is_some());
        }
    }

    /// Ends reassembly and returns the flow.
    fn finish(mut self, cap: usize) -> Flow {
        for (rx, dir) in self.rx.iter_mut().zip(self.flow.dir.iter_mut()) {
            rx.finish(dir, cap);
        }
        self.flow
    }
}

/// Groups segments into flows and reassembles each direction's prefix.
///
/// Memory grows with the number of live flows, not with the capture: call
/// [`FlowTable::drain_closed`] now and then to take the flows that are over.
#[derive(Debug)]
pub struct FlowTable {
    limits: FlowLimits,
    /// Prefix bytes per direction (the limit, bounded by [`MAX_PREFIX`]).
    cap: usize,
    live: HashMap<FlowKey, FlowState, KeyBuildHasher>,
    /// Flows already over (replaced on their key), not yet handed out.
    done: Vec<Flow>,
    /// Live flows that have ended (FIN both ways or RST), by key and first frame, waiting for
    /// their linger to pass.
    ended: Vec<(FlowKey, u64)>,
    /// Latest capture time seen.
    clock: i64,
    /// Capture time of the last idle sweep.
    last_sweep: i64,
}

impl FlowTable {
    /// An empty table.
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            cap: limits.prefix_bytes.min(MAX_PREFIX),
            limits,
            live: HashMap::default(),
            done: Vec::new(),
            ended: Vec::new(),
            clock: i64::MIN,
            last_sweep: i64::MIN,
        }
    }

    /// Which of `n` tables should receive `seg`: the same for both directions of a connection and
    /// on every run. Returns 0 when `n` is 0.
    pub fn shard_of(seg: &Segment<'_>, n: usize) -> usize {
        let (key, _) = FlowKey::new(&seg.src, &seg.dst);
        let h = fmix64(key.hash64() ^ SHARD_SALT);
        ((u128::from(h) * n as u128) >> 64) as usize
    }

    /// Live flows (including ended ones still lingering).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// No live flow.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Adds one segment captured in frame `frame` at `ts_nanos`.
    pub fn push(&mut self, frame: u64, ts_nanos: i64, seg: &Segment<'_>) {
        let (key, src_is_lo) = FlowKey::new(&seg.src, &seg.dst);
        self.clock = self.clock.max(ts_nanos);
        let cap = self.cap;
        let state = match self.live.entry(key) {
            Entry::Occupied(entry) => {
                let state = entry.into_mut();
                if state.is_superseded_by(seg, ts_nanos, src_is_lo, &self.limits) {
                    let old =
                        std::mem::replace(state, FlowState::new(seg, frame, ts_nanos, src_is_lo));
                    self.done.push(old.finish(cap));
                }
                state
            }
            Entry::Vacant(entry) => entry.insert(FlowState::new(seg, frame, ts_nanos, src_is_lo)),
        };
        let was_ended = state.ended;
        state.update(seg, frame, ts_nanos, src_is_lo, cap);
        if state.ended && !was_ended {
            self.ended.push((key, state.flow.first_frame));
        }
    }

    /// Takes the flows that are over: replaced on their key by a new connection, ended (FIN both
    /// ways or RST) more than the close linger ago, or silent longer than the idle timeout, by
    /// the latest capture time pushed. They are finished as by [`FlowTable::finish`] and ordered
    /// by first frame.
    ///
    /// Draining never changes the flows produced: a flow is only taken once no later segment
    /// could join it (a later segment on its key would have started a new flow anyway, as with
    /// port reuse), so draining often only bounds memory.
    pub fn drain_closed(&mut self) -> Vec<Flow> {
        let mut out = std::mem::take(&mut self.done);
        let now = self.clock;
        let cap = self.cap;
        let limits = &self.limits;
        let live = &mut self.live;
        self.ended.retain(|(key, first_frame)| {
            let Some(state) = live.get(key) else {
                return false;
            };
            if state.flow.first_frame != *first_frame {
                return false;
            }
            if !state.expired(now, limits) {
                return true;
            }
            if let Some(state) = live.remove(key) {
                out.push(state.finish(cap));
            }
            false
        });
        if let Some(idle) = self.limits.idle_timeout_nanos {
            if now.saturating_sub(self.last_sweep) > idle / 2 {
                self.last_sweep = now;
                let silent: Vec<FlowKey> = self
                    .live
                    .iter()
                    .filter(|(_, s)| s.expired(now, &self.limits))
                    .map(|(k, _)| *k)
                    .collect();
                for key in silent {
                    if let Some(state) = self.live.remove(&key) {
                        out.push(state.finish(cap));
                    }
                }
            }
        }
        out.sort_unstable_by_key(|f| f.first_frame);
        out
    }

    /// Ends reassembly (pending out-of-order data is placed after a hole) and returns every flow
    /// not yet drained, ordered by first frame.
    pub fn finish(self) -> Vec<Flow> {
        let cap = self.cap;
        let mut out = self.done;
        out.extend(self.live.into_values().map(|s| s.finish(cap)));
        out.sort_unstable_by_key(|f| f.first_frame);
        out
    }
}

/// Merges the outputs of several tables (or several drains), each ordered by first frame and
/// covering disjoint flows, into one list ordered by first frame.
pub fn merge_flows(parts: impl IntoIterator<Item = Vec<Flow>>) -> Vec<Flow> {
    let mut all: Vec<Flow> = parts.into_iter().flatten().collect();
    // Stable sort: cheap on concatenated sorted runs; first frames are unique within a capture.
    all.sort_by_key(|f| f.first_frame);
    all
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
