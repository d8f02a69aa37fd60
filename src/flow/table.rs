//! The flow table: flows by key, each with its two directions' reassembly state.
//!
//! Determinism: every decision about a flow depends only on that connection's own segments,
//! never on other flows, on when the caller drains, or on how segments are spread over several
//! tables. The one assumption is that capture timestamps do not go backwards by more than the
//! close linger.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

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

/// What a segment does to the flow on its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Join,
    Stray,
    /// The flow on the key is over: the segment starts a new one.
    Restart,
}

/// What the table holds for a key.
#[derive(Debug)]
enum Slot {
    Live(Box<FlowState>),
    /// A closed flow already handed out.
    Tomb(Tomb),
}

/// What remains of a closed flow once handed out: enough to judge later segments on its key.
#[derive(Debug, Clone, Copy)]
struct Tomb {
    closed_at: i64,
    /// Initial sequence numbers sent by the key's lower and higher endpoint.
    isn: [Option<u32>; 2],
}

impl Tomb {
    fn fate(&self, seg: &Segment<'_>, ts: i64, src_is_lo: bool, limits: &FlowLimits) -> Fate {
        let isn = self.isn[usize::from(!src_is_lo)];
        closed_fate(self.closed_at, isn, seg, ts, limits)
    }
}

/// Fate of a segment on the key of a flow closed at `closed_at` whose sender's ISN was `isn`.
fn closed_fate(
    closed_at: i64,
    isn: Option<u32>,
    seg: &Segment<'_>,
    ts: i64,
    limits: &FlowLimits,
) -> Fate {
    let new_syn = seg.flags.syn() && !seg.flags.ack() && isn != Some(seg.seq);
    if new_syn || ts.saturating_sub(closed_at) > limits.close_linger_nanos {
        Fate::Restart
    } else {
        Fate::Stray
    }
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
    /// Sequence number just after each direction's FIN (what acknowledges it).
    fin_ack: [Option<u32>; 2],
    /// Direction of the FIN that came second.
    second_fin: Option<usize>,
    /// Capture time the flow closed (RST, or the later FIN acknowledged).
    closed_at: Option<i64>,
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
            fin_ack: [None, None],
            second_fin: None,
            closed_at: None,
        }
    }

    /// Index into `flow.dir` of a segment sent by the key's lower endpoint or not.
    fn dir_index(&self, src_is_lo: bool) -> usize {
        usize::from(src_is_lo != self.a_is_lo)
    }

    /// Both FINs seen (closed or not).
    fn half_closed(&self) -> bool {
        self.second_fin.is_some()
    }

    /// What `seg` at `ts` does to this flow.
    fn fate(&self, seg: &Segment<'_>, ts: i64, src_is_lo: bool, limits: &FlowLimits) -> Fate {
        let sender_isn = || self.rx[self.dir_index(src_is_lo)].isn();
        if let Some(closed_at) = self.closed_at {
            return closed_fate(closed_at, sender_isn(), seg, ts, limits);
        }
        let silence = ts.saturating_sub(self.flow.last_ts);
        if limits.idle_timeout_nanos.is_some_and(|t| silence > t) {
            return Fate::Restart;
        }
        if self.half_closed()
            && (silence > limits.close_linger_nanos
                || (seg.flags.syn() && !seg.flags.ack() && sender_isn() != Some(seg.seq)))
        {
            return Fate::Restart;
        }
        Fate::Join
    }

    /// An open flow that no later segment can join, at capture time `now`.
    fn expired(&self, now: i64, limits: &FlowLimits) -> bool {
        let silence = now.saturating_sub(self.flow.last_ts);
        (self.half_closed() && silence > limits.close_linger_nanos)
            || limits.idle_timeout_nanos.is_some_and(|t| silence > t)
    }

    fn tomb(&self) -> Option<Tomb> {
        let lo = self.dir_index(true);
        let hi = self.dir_index(false);
        Some(Tomb {
            closed_at: self.closed_at?,
            isn: [self.rx[lo].isn(), self.rx[hi].isn()],
        })
    }

    fn swap(&mut self) {
        self.flow.swap();
        self.rx.swap(0, 1);
        self.fin_ack.swap(0, 1);
        self.second_fin = self.second_fin.map(|d| 1 - d);
        self.a_is_lo = !self.a_is_lo;
    }

    /// Makes the lower or the higher endpoint the client.
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
        if flags.fin() && dir.fin_frame.is_none() {
            dir.fin_frame = Some(frame);
            let len = u32::try_from(seg.payload.len())
                .unwrap_or(u32::MAX)
                .wrapping_add(seg.payload_missing);
            if let Some(slot) = self.fin_ack.get_mut(d) {
                *slot = Some(seq.wrapping_add(len).wrapping_add(1));
            }
            if self.fin_ack.iter().all(Option::is_some) {
                self.second_fin = Some(d);
            }
        }
        if flags.rst() {
            self.closed_at = Some(ts);
        } else if flags.ack() {
            if let Some(last) = self.second_fin.filter(|&s| s != d) {
                if self.fin_ack.get(last).copied().flatten() == Some(seg.ack) {
                    self.closed_at = Some(ts);
                }
            }
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
/// Memory grows with the number of open flows, not with the capture: call
/// [`FlowTable::drain_closed`] now and then to take the flows that are over.
///
/// Life of a flow on a key:
/// - **open**: segments join it.
/// - **closed** (a RST, or both FINs with the later one acknowledged): the flow is complete and
///   frozen. [`FlowTable::drain_closed`] hands it out at once and leaves a tombstone. For
///   `close_linger` of capture time after the close, further segments on the key (retransmitted
///   FIN, RST answers) are strays: counted by the table, part of no flow. A SYN with a new initial
///   sequence number starts a new flow at once (port reuse); after the linger any segment does.
/// - **half-closed** (both FINs, the last ACK never captured): still open, and over once silent
///   for `close_linger`; then a segment on the key starts a new flow.
/// - any flow silent for `idle_timeout` is over; a segment after that starts a new flow.
#[derive(Debug)]
pub struct FlowTable {
    limits: FlowLimits,
    /// Prefix bytes per direction (the limit, bounded by [`MAX_PREFIX`]).
    cap: usize,
    slots: HashMap<FlowKey, Slot, KeyBuildHasher>,
    /// Flows already over (replaced on their key), not yet handed out.
    done: Vec<Flow>,
    /// Flows that closed, by key and first frame, not yet handed out.
    closed: Vec<(FlowKey, u64)>,
    /// Tombstones by key and close time, roughly in time order.
    tombs: VecDeque<(FlowKey, i64)>,
    /// Half-closed flows: key, first frame, and last capture time when queued.
    half_closed: VecDeque<(FlowKey, u64, i64)>,
    /// Latest capture time seen.
    clock: i64,
    /// Capture time of the last idle sweep.
    last_sweep: i64,
    strays: u64,
}

impl FlowTable {
    /// An empty table.
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            cap: limits.prefix_bytes.min(MAX_PREFIX),
            limits,
            slots: HashMap::default(),
            done: Vec::new(),
            closed: Vec::new(),
            tombs: VecDeque::new(),
            half_closed: VecDeque::new(),
            clock: i64::MIN,
            last_sweep: i64::MIN,
            strays: 0,
        }
    }

    /// Which of `n` tables should receive `seg`: the same for both directions of a connection and
    /// on every run. Returns 0 when `n` is 0.
    pub fn shard_of(seg: &Segment<'_>, n: usize) -> usize {
        let (key, _) = FlowKey::new(&seg.src, &seg.dst);
        let h = fmix64(key.hash64() ^ SHARD_SALT);
        ((u128::from(h) * n as u128) >> 64) as usize
    }

    /// Keys held: open flows, closed flows not yet drained, and tombstones.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Segments that arrived on the key of a closed flow during its linger: part of no flow.
    pub fn stray_packets(&self) -> u64 {
        self.strays
    }

    /// Adds one segment captured in frame `frame` at `ts_nanos`.
    pub fn push(&mut self, frame: u64, ts_nanos: i64, seg: &Segment<'_>) {
        let (key, src_is_lo) = FlowKey::new(&seg.src, &seg.dst);
        self.clock = self.clock.max(ts_nanos);
        let cap = self.cap;
        let slot = match self.slots.entry(key) {
            Entry::Vacant(entry) => entry.insert(Slot::Live(Box::new(FlowState::new(
                seg, frame, ts_nanos, src_is_lo,
            )))),
            Entry::Occupied(entry) => {
                let slot = entry.into_mut();
                let fate = match slot {
                    Slot::Live(state) => state.fate(seg, ts_nanos, src_is_lo, &self.limits),
                    Slot::Tomb(tomb) => tomb.fate(seg, ts_nanos, src_is_lo, &self.limits),
                };
                match fate {
                    Fate::Join => {}
                    Fate::Stray => {
                        self.strays += 1;
                        return;
                    }
                    Fate::Restart => {
                        let new = FlowState::new(seg, frame, ts_nanos, src_is_lo);
                        if let Slot::Live(old) = std::mem::replace(slot, Slot::Live(Box::new(new)))
                        {
                            self.done.push(old.finish(cap));
                        }
                    }
                }
                slot
            }
        };
        let Slot::Live(state) = slot else {
            return;
        };
        let (was_half, was_closed) = (state.half_closed(), state.closed_at.is_some());
        state.update(seg, frame, ts_nanos, src_is_lo, cap);
        if state.closed_at.is_some() && !was_closed {
            self.closed.push((key, state.flow.first_frame));
        } else if state.half_closed() && !was_half {
            self.half_closed
                .push_back((key, state.flow.first_frame, state.flow.last_ts));
        }
    }

    /// Takes the flows that are over: closed (RST, or both FINs acknowledged), replaced on their
    /// key by a new connection, half-closed and silent for the close linger, or silent longer
    /// than the idle timeout, by the latest capture time pushed. They are finished as by
    /// [`FlowTable::finish`] and ordered by first frame.
    ///
    /// Draining never changes the flows produced: a flow is only taken once no later segment
    /// can join it, so draining only bounds memory. It is cheap (amortised constant time per
    /// flow, plus a sweep of all keys every half idle timeout of capture time); calling it every
    /// few thousand segments is plenty.
    pub fn drain_closed(&mut self) -> Vec<Flow> {
        let mut out = std::mem::take(&mut self.done);
        let now = self.clock;
        let cap = self.cap;
        for (key, first_frame) in std::mem::take(&mut self.closed) {
            let Some(slot) = self.slots.get_mut(&key) else {
                continue;
            };
            let tomb = match slot {
                Slot::Live(state) if state.flow.first_frame == first_frame => state.tomb(),
                _ => None,
            };
            if let Some(tomb) = tomb {
                if let Slot::Live(state) = std::mem::replace(slot, Slot::Tomb(tomb)) {
                    out.push(state.finish(cap));
                }
                self.tombs.push_back((key, tomb.closed_at));
            }
        }
        self.drop_old_tombs(now);
        self.take_silent_half_closed(now, &mut out);
        if let Some(idle) = self.limits.idle_timeout_nanos {
            if now.saturating_sub(self.last_sweep) > idle / 2 {
                self.last_sweep = now;
                self.sweep(now, &mut out);
            }
        }
        out.sort_unstable_by_key(|f| f.first_frame);
        out
    }

    /// Forgets tombstones whose linger has passed (a segment on their key starts a new flow
    /// either way).
    fn drop_old_tombs(&mut self, now: i64) {
        while let Some(&(key, closed_at)) = self.tombs.front() {
            if now.saturating_sub(closed_at) <= self.limits.close_linger_nanos {
                break;
            }
            self.tombs.pop_front();
            if matches!(self.slots.get(&key), Some(Slot::Tomb(t)) if t.closed_at == closed_at) {
                self.slots.remove(&key);
            }
        }
    }

    /// Takes half-closed flows silent for the close linger. Stops at the first one still
    /// lingering, unless it got segments since it was queued (then it is queued again).
    fn take_silent_half_closed(&mut self, now: i64, out: &mut Vec<Flow>) {
        let mut budget = self.half_closed.len();
        while let Some(&(key, first_frame, queued_ts)) = self.half_closed.front() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let state = match self.slots.get(&key) {
                Some(Slot::Live(s))
                    if s.flow.first_frame == first_frame && s.closed_at.is_none() =>
                {
                    s
                }
                _ => {
                    self.half_closed.pop_front();
                    continue;
                }
            };
            if state.expired(now, &self.limits) {
                self.half_closed.pop_front();
                if let Some(Slot::Live(state)) = self.slots.remove(&key) {
                    out.push(state.finish(self.cap));
                }
            } else if state.flow.last_ts > queued_ts {
                let last_ts = state.flow.last_ts;
                self.half_closed.pop_front();
                self.half_closed.push_back((key, first_frame, last_ts));
            } else {
                break;
            }
        }
    }

    /// Takes every open flow silent longer than the idle timeout, and forgets old tombstones.
    fn sweep(&mut self, now: i64, out: &mut Vec<Flow>) {
        let limits = &self.limits;
        let over: Vec<FlowKey> = self
            .slots
            .iter()
            .filter(|(_, slot)| match slot {
                Slot::Live(s) => s.closed_at.is_none() && s.expired(now, limits),
                Slot::Tomb(t) => now.saturating_sub(t.closed_at) > limits.close_linger_nanos,
            })
            .map(|(k, _)| *k)
            .collect();
        for key in over {
            if let Some(Slot::Live(state)) = self.slots.remove(&key) {
                out.push(state.finish(self.cap));
            }
        }
    }

    /// Ends reassembly (pending out-of-order data is placed after a hole) and returns every flow
    /// not yet drained, ordered by first frame.
    pub fn finish(self) -> Vec<Flow> {
        let cap = self.cap;
        let mut out = self.done;
        out.extend(self.slots.into_values().filter_map(|slot| match slot {
            Slot::Live(state) => Some(state.finish(cap)),
            Slot::Tomb(_) => None,
        }));
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
