//! The flow table: flows by key, each with its two directions' reassembly state.
//!
//! Determinism: every decision about a flow depends only on that connection's own segments,
//! never on other flows, on when the caller drains, or on how segments are spread over several
//! tables. The one assumption is that capture timestamps do not go backwards by more than the
//! close linger.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU64;

use super::key::{fmix64, FlowKey, KeyBuildHasher};
use super::reassembly::Reassembler;
use super::receiver::{self, Ignored, Sender};
use super::{
    Anomalies, ClientBy, Direction, Flow, FlowLimits, FlowTail, Mark, Reopened, MAX_MARKS,
};
use crate::decode::{Checksum, Endpoint, Segment, TcpFlags};

/// Largest prefix the table buffers per direction, whatever the limits say (offsets are `u32`).
const MAX_PREFIX: usize = 1 << 30;

/// Salt that decorrelates shard routing from the map's own use of the key hash.
const SHARD_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// How the client of a flow was decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Orient {
    FirstSeen,
    SynAck,
    Syn,
}

/// Which limit made the table hand a flow out early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eviction {
    Count,
    Bytes,
}

/// What a segment does on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Joins the open flow.
    Join,
    /// Counted on the ended flow (packets, last frame, FIN/RST), nothing else.
    Late,
    /// The flow on the key is over: the segment starts a new one.
    Restart,
}

/// What an ended flow remembers of one direction, to tell late segments from new ones.
#[derive(Debug, Clone, Copy, Default)]
struct Ending {
    /// The sender's initial sequence number.
    isn: Option<u32>,
    /// The sequence number just past the last byte (or FIN) it had sent.
    next: Option<u32>,
}

/// The fate of a segment on a key whose flow ended (unless `ended` is false), with the flow's
/// last segment at `last_ts`, what its sender had sent (`sender`) and whether both SYNs had
/// been seen (`established`).
///
/// A segment that would carry new bytes, or complete a handshake that had not been, starts a
/// new flow: whatever a receiver made of the close (an injected RST or FIN, one it ignored),
/// bytes that cross the wire are never left out of a flow.
fn fate_of(
    ended: bool,
    last_ts: i64,
    sender: Ending,
    established: bool,
    seg: &Segment<'_>,
    ts: i64,
    limits: &FlowLimits,
) -> Fate {
    let silence = ts.saturating_sub(last_ts);
    if limits.idle_timeout_nanos.is_some_and(|t| silence > t) {
        return Fate::Restart;
    }
    // Port reuse: a fresh SYN with another initial sequence number is a new connection, whether
    // or not the capture showed the old one's end.
    let new_syn = seg.flags.syn() && !seg.flags.ack() && sender.isn != Some(seg.seq);
    if !ended {
        return if new_syn && sender.isn.is_some() {
            Fate::Restart
        } else {
            Fate::Join
        };
    }
    // The handshake goes on after a close that came before it was complete.
    let late_handshake = seg.flags.syn() && seg.flags.ack() && !established;
    if new_syn || late_handshake || silence > limits.close_linger_nanos || new_bytes(sender, seg) {
        Fate::Restart
    } else {
        Fate::Late
    }
}

/// The segment carries payload past what its sender had sent when the flow ended.
fn new_bytes(sender: Ending, seg: &Segment<'_>) -> bool {
    if seg.flags.rst() {
        return false;
    }
    let len = u32::try_from(seg.payload.len())
        .unwrap_or(u32::MAX)
        .saturating_add(seg.payload_missing);
    if len == 0 {
        return false;
    }
    let start = seg.seq.wrapping_add(u32::from(seg.flags.syn()));
    match sender.next {
        Some(next) => (start.wrapping_add(len).wrapping_sub(next) as i32) > 0,
        None => true,
    }
}

/// A segment that restarts a key goes on where the ended flow left off: neither a fresh SYN
/// (port reuse) nor after the linger or an idle timeout.
fn continues(last_ts: i64, seg: &Segment<'_>, ts: i64, limits: &FlowLimits) -> bool {
    let silence = ts.saturating_sub(last_ts);
    let fresh_syn = seg.flags.syn() && !seg.flags.ack();
    !fresh_syn
        && silence <= limits.close_linger_nanos
        && limits.idle_timeout_nanos.is_none_or(|t| silence <= t)
}

/// Counts what the receiver was handed in a direction: the checksum, the TTL, and a mark for a
/// segment with bytes that it may not have taken (a wrong checksum, or another TTL than the
/// direction's usual one).
/// Data segments of a direction whose checksum is read in any case: enough to tell checksum
/// offload (nearly all wrong) from injections.
const CHECKED_DATA_SEGMENTS: u32 = 2;

/// Whether a segment's checksum matters: a control segment (a receiver drops a RST or FIN with
/// a wrong one); and, of the data segments whose bytes the prefix keeps (`kept`), the first few
/// of the direction, those that reach back over bytes already sent (a copy that may differ
/// from the first), and every one once the direction had a wrong checksum. A segment that is
/// not read counts in neither `checksums_checked` nor `checksums_bad`.
fn must_check(seg: &Segment<'_>, dir: &Direction, from: &Sender, kept: bool) -> bool {
    let flags = seg.flags;
    if flags.syn() || flags.fin() || flags.rst() {
        return true;
    }
    let reaches_back = from
        .next()
        .is_some_and(|high| (seg.seq.wrapping_sub(high) as i32) < 0);
    kept && (dir.checksums_checked < CHECKED_DATA_SEGMENTS || dir.checksums_bad > 0 || reaches_back)
}

fn note_delivery(
    dir: &mut Direction,
    seg: &Segment<'_>,
    checksum: Checksum,
    frame: u64,
    carries: bool,
) {
    match checksum {
        Checksum::Good | Checksum::Offloaded => {
            dir.checksums_checked = dir.checksums_checked.saturating_add(1);
        }
        Checksum::Bad => {
            dir.checksums_checked = dir.checksums_checked.saturating_add(1);
            dir.checksums_bad = dir.checksums_bad.saturating_add(1);
        }
        Checksum::Unknown => {}
    }
    let mut odd_ttl = false;
    if let Some(ttl) = seg.ttl {
        let [first, second] = &mut dir.ttls;
        if first.1 == 0 || first.0 == ttl {
            *first = (ttl, first.1.saturating_add(1));
        } else if second.1 == 0 || second.0 == ttl {
            *second = (ttl, second.1.saturating_add(1));
            odd_ttl = true;
        } else {
            dir.ttls_other = dir.ttls_other.saturating_add(1);
            odd_ttl = true;
        }
        if second.1 > first.1 {
            std::mem::swap(first, second);
        }
    }
    if carries && (checksum == Checksum::Bad || odd_ttl) {
        let anomalies = dir.anomalies.get_or_insert_with(Box::default);
        if anomalies.marks.len() < MAX_MARKS {
            anomalies.marks.push(Mark {
                frame,
                bad_checksum: checksum == Checksum::Bad,
                ttl: seg.ttl,
            });
        }
    }
}

/// Counts a RST or FIN that the receiver would not have taken.
fn note_ignored(dir: &mut Direction, flags: TcpFlags, frame: u64, why: Ignored) {
    let anomalies = dir.anomalies.get_or_insert_with(Box::default);
    if flags.rst() {
        anomalies.ignored_rst = anomalies.ignored_rst.saturating_add(1);
    } else {
        anomalies.ignored_fin = anomalies.ignored_fin.saturating_add(1);
    }
    anomalies.first_ignored.get_or_insert((frame, why));
}

/// Whether a flow whose last segment was at `last_ts` is over at capture time `now`.
fn expired(ended: bool, last_ts: i64, now: i64, limits: &FlowLimits) -> bool {
    let silence = now.saturating_sub(last_ts);
    (ended && silence > limits.close_linger_nanos)
        || limits.idle_timeout_nanos.is_some_and(|t| silence > t)
}

/// Counts a late segment in direction counters.
fn count_late(
    packets: &mut u64,
    fin_frame: &mut Option<u64>,
    rst_frame: &mut Option<u64>,
    flags: TcpFlags,
    frame: u64,
) {
    *packets += 1;
    if flags.fin() && fin_frame.is_none() {
        *fin_frame = Some(frame);
    }
    if flags.rst() && rst_frame.is_none() {
        *rst_frame = Some(frame);
    }
}

/// What [`FlowTable::finish_each`] hands out.
// Handed to a callback one at a time and never stored, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Leftover {
    /// A flow not yet handed out.
    Flow(Flow),
    /// Late segments of a flow handed out earlier.
    Tail(FlowTail),
}

/// How adding a segment changed an open flow.
#[derive(Debug, Clone, Copy)]
struct Absorbed {
    /// The flow's first frame, if this segment ended it.
    just_ended: Option<u64>,
    /// Bytes the flow buffered before and after.
    footprint_before: usize,
    footprint: usize,
}

/// An ended flow already handed out: what counting its late segments needs, and the counts.
/// A capture holds one per connection that closed within the last linger, so it is kept
/// small (at most 96 bytes); the public [`FlowTail`] is built when the counts are handed out.
#[derive(Debug)]
struct Tomb {
    first_frame: u64,
    last_frame: u64,
    last_ts: i64,
    /// The handed-out flow's `a`: index 0 of the arrays is `a` → `b`.
    a: Endpoint,
    /// Late segments per direction.
    packets: [u64; 2],
    /// Initial sequence numbers sent by `a` and `b`, and the sequence numbers just past what
    /// each had sent (where [`Tomb::HAS_ISN`] and [`Tomb::HAS_NEXT`] say so).
    isn: [u32; 2],
    next: [u32; 2],
    /// Frame of the RST that ended it, if one did (frame numbers start at 1).
    rst_frame: Option<NonZeroU64>,
    /// [`Tomb::A_IS_LO`], [`Tomb::ESTABLISHED`], [`Tomb::HAS_ISN`], [`Tomb::HAS_NEXT`],
    /// [`Tomb::TOUCHED`], [`Tomb::LOOPBACK`] bits.
    bits: u8,
    /// First late FIN and RST frame per direction, once a late FIN or RST came: most
    /// tombstones only ever count a last ACK.
    closes: Option<Box<LateCloses>>,
}

/// First late FIN and RST frame per direction (`a` → `b` first).
#[derive(Debug, Default, Clone, Copy)]
struct LateCloses {
    fin_frame: [Option<u64>; 2],
    rst_frame: [Option<u64>; 2],
}

impl Tomb {
    /// The handed-out flow's `a` is the key's lower endpoint.
    const A_IS_LO: u8 = 1;
    /// Both SYNs were seen.
    const ESTABLISHED: u8 = 2;
    /// `isn[0]` and `isn[1]` are known.
    const HAS_ISN: [u8; 2] = [4, 32];
    /// `next[0]` and `next[1]` are known.
    const HAS_NEXT: [u8; 2] = [64, 128];
    /// Some late segment was counted.
    const TOUCHED: u8 = 8;
    /// A late segment came from the loopback interface.
    const LOOPBACK: u8 = 16;

    fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    fn a_is_lo(&self) -> bool {
        self.has(Tomb::A_IS_LO)
    }

    fn touched(&self) -> bool {
        self.has(Tomb::TOUCHED)
    }

    fn fate(&self, seg: &Segment<'_>, ts: i64, src_is_lo: bool, limits: &FlowLimits) -> Fate {
        let d = usize::from(src_is_lo != self.a_is_lo());
        let known = |bits: [u8; 2], values: [u32; 2]| {
            bits.get(d)
                .filter(|&&bit| self.has(bit))
                .and_then(|_| values.get(d).copied())
        };
        let sender = Ending {
            isn: known(Tomb::HAS_ISN, self.isn),
            next: known(Tomb::HAS_NEXT, self.next),
        };
        let established = self.has(Tomb::ESTABLISHED);
        fate_of(true, self.last_ts, sender, established, seg, ts, limits)
    }

    /// What a flow that starts on this key after it carries over.
    fn reopened(&self) -> Reopened {
        Reopened {
            after: self.first_frame,
            rst_frame: self.rst_frame.map(NonZeroU64::get),
        }
    }

    fn count(&mut self, seg: &Segment<'_>, frame: u64, ts: i64, src_is_lo: bool) {
        let d = usize::from(src_is_lo != self.a_is_lo());
        // The FIN and RST frames are only stored once a late FIN or RST comes.
        let mut none = LateCloses::default();
        let closes = if seg.flags.fin() || seg.flags.rst() {
            self.closes.get_or_insert_with(Box::default)
        } else {
            &mut none
        };
        if let (Some(p), Some(f), Some(r)) = (
            self.packets.get_mut(d),
            closes.fin_frame.get_mut(d),
            closes.rst_frame.get_mut(d),
        ) {
            count_late(p, f, r, seg.flags, frame);
        }
        self.last_frame = self.last_frame.max(frame);
        self.last_ts = self.last_ts.max(ts);
        if seg.loopback_if {
            self.bits |= Tomb::LOOPBACK;
        }
        self.bits |= Tomb::TOUCHED;
    }

    /// The late segments counted, as handed out.
    fn tail(&self) -> FlowTail {
        let c = self.closes.as_deref().copied().unwrap_or_default();
        FlowTail {
            first_frame: self.first_frame,
            a: self.a,
            packets: self.packets,
            last_frame: self.last_frame,
            last_ts: self.last_ts,
            fin_frame: c.fin_frame,
            rst_frame: c.rst_frame,
            loopback_if: self.has(Tomb::LOOPBACK),
        }
    }
}

/// What a table did to stay within its [`FlowLimits`], and how close it came. Read it with
/// [`FlowTable::counters`]; [`TableCounters::warnings`] words it for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Open flows handed out before their end because the table held `max_flows` keys. A later
    /// segment of such a connection starts a new flow.
    pub flows_evicted_for_count: u64,
    /// Open flows handed out before their end because the open flows buffered more than
    /// `max_buffered_bytes`.
    pub flows_evicted_for_bytes: u64,
    /// Tombstones of ended flows dropped early to make room: a late segment on such a key then
    /// starts a new (empty) flow instead of being counted on the old one.
    pub tombstones_dropped: u64,
    /// Most keys held at once.
    pub peak_flows: usize,
    /// Most bytes the open flows buffered at once.
    pub peak_buffered_bytes: usize,
    /// Times the UDP flows filled their table and were all reported before their end.
    pub udp_tables_full: u64,
}

impl TableCounters {
    /// Some limit was hit: the flows may be split or cut where a larger limit would not.
    pub fn limit_hit(&self) -> bool {
        self.flows_evicted_for_count > 0
            || self.flows_evicted_for_bytes > 0
            || self.tombstones_dropped > 0
            || self.udp_tables_full > 0
    }

    /// Adds the counters of another table (a shard of the same capture). Peaks are summed: an
    /// upper bound of the peak over all tables at once.
    pub fn merge(&mut self, other: &TableCounters) {
        self.flows_evicted_for_count = self
            .flows_evicted_for_count
            .saturating_add(other.flows_evicted_for_count);
        self.flows_evicted_for_bytes = self
            .flows_evicted_for_bytes
            .saturating_add(other.flows_evicted_for_bytes);
        self.tombstones_dropped = self
            .tombstones_dropped
            .saturating_add(other.tombstones_dropped);
        self.udp_tables_full = self.udp_tables_full.saturating_add(other.udp_tables_full);
        self.peak_flows = self.peak_flows.saturating_add(other.peak_flows);
        self.peak_buffered_bytes = self
            .peak_buffered_bytes
            .saturating_add(other.peak_buffered_bytes);
    }

    /// One line per limit hit, for the capture's warnings (none when no limit was hit).
    pub fn warnings(&self, limits: &FlowLimits) -> Vec<String> {
        let mut out = Vec::new();
        if self.flows_evicted_for_count > 0 || self.tombstones_dropped > 0 {
            out.push(format!(
                "flow table full ({} concurrent connections, the limit): {} open flows were \
                 reported before their end and {} ended flows stopped counting late packets; \
                 a flow split this way shows up as two; raise the flow limit to avoid it",
                limits.max_flows, self.flows_evicted_for_count, self.tombstones_dropped
            ));
        }
        if self.flows_evicted_for_bytes > 0 {
            out.push(format!(
                "buffered stream bytes reached the limit of {} MiB: {} open flows were reported \
                 before their end with the bytes they had; a flow split this way shows up as \
                 two; raise the buffer limit to avoid it",
                limits.max_buffered_bytes >> 20,
                self.flows_evicted_for_bytes
            ));
        }
        if self.udp_tables_full > 0 {
            out.push(format!(
                "UDP flows filled their table {} times (the flow limit, or the buffer limit): \
                 every open UDP flow was reported then, and a flow split this way shows up as \
                 two; raise the limits to avoid it",
                self.udp_tables_full
            ));
        }
        out
    }
}

/// An open flow: the public record plus what reassembly and bookkeeping need.
#[derive(Debug, Clone)]
struct FlowState {
    flow: Flow,
    /// Reassembly of `flow.dir[0]` and `flow.dir[1]`.
    rx: [Reassembler; 2],
    /// `flow.a` is the canonical key's lower endpoint.
    a_is_lo: bool,
    orient: Orient,
    /// What each direction's sender sent, as the receiver judges it (same order as `rx`).
    senders: [Sender; 2],
    /// FIN seen both ways, or a RST: the bytes are final, later segments are only counted.
    ended: bool,
    /// Bytes buffered, as last counted in the table's total.
    footprint: usize,
    /// Payload arrived since [`FlowTable::visit_touched`] last looked (when tracked).
    touched: bool,
}

impl FlowState {
    fn new(
        seg: &Segment<'_>,
        frame: u64,
        ts: i64,
        src_is_lo: bool,
        reopens: Option<Reopened>,
    ) -> FlowState {
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
                reopens,
            },
            rx: [Reassembler::default(), Reassembler::default()],
            a_is_lo,
            orient,
            senders: [Sender::default(); 2],
            ended: false,
            footprint: 0,
            touched: false,
        }
    }

    /// Bytes this flow buffers: stream prefixes, frame maps, holes and held out-of-order data.
    fn measure(&self) -> usize {
        let dirs = self.flow.dir.iter().map(|d| {
            d.stream
                .capacity()
                .saturating_add(d.frames.capacity().saturating_mul(16))
                .saturating_add(d.holes.capacity().saturating_mul(4))
                .saturating_add(d.anomalies.as_deref().map_or(0, Anomalies::heap_bytes))
        });
        let held = self.rx.iter().map(Reassembler::held_bytes);
        dirs.chain(held).fold(0, usize::saturating_add)
    }

    /// Index into `flow.dir` of a segment sent by the key's lower endpoint or not.
    fn dir_index(&self, src_is_lo: bool) -> usize {
        usize::from(src_is_lo != self.a_is_lo)
    }

    /// Adds a segment that belongs to this flow, and tells how the flow changed.
    fn absorb(
        &mut self,
        seg: &Segment<'_>,
        frame: u64,
        ts: i64,
        src_is_lo: bool,
        cap: usize,
    ) -> Absorbed {
        let was_ended = self.ended;
        self.update(seg, frame, ts, src_is_lo, cap);
        let footprint = self.measure();
        Absorbed {
            just_ended: (self.ended && !was_ended).then_some(self.flow.first_frame),
            footprint_before: std::mem::replace(&mut self.footprint, footprint),
            footprint,
        }
    }

    fn fate(&self, seg: &Segment<'_>, ts: i64, src_is_lo: bool, limits: &FlowLimits) -> Fate {
        let d = self.dir_index(src_is_lo);
        let sender = self.ending(d);
        fate_of(
            self.ended,
            self.flow.last_ts,
            sender,
            self.established(),
            seg,
            ts,
            limits,
        )
    }

    /// What direction `d`'s sender had sent.
    fn ending(&self, d: usize) -> Ending {
        Ending {
            isn: self.rx.get(d).and_then(Reassembler::isn),
            next: self.senders.get(d).and_then(Sender::next),
        }
    }

    /// Both SYNs were seen.
    fn established(&self) -> bool {
        self.rx.iter().all(|rx| rx.isn().is_some())
    }

    fn swap(&mut self) {
        self.flow.swap();
        self.rx.swap(0, 1);
        self.senders.swap(0, 1);
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
        let carries = !seg.payload.is_empty() || seg.payload_missing > 0;
        let [first, second] = &mut self.senders;
        let (from, to) = if d == 0 {
            (first, &*second)
        } else {
            (second, &*first)
        };
        let checksum = if must_check(seg, dir, from, carries && !rx.is_full()) {
            seg.checksum()
        } else {
            Checksum::Unknown
        };
        note_delivery(dir, seg, checksum, frame, carries);
        match receiver::judge(seg, checksum, from, to) {
            Ok(()) => {
                from.sent(seg, checksum);
                if flags.fin() && dir.fin_frame.is_none() {
                    dir.fin_frame = Some(frame);
                }
                if flags.rst() && dir.rst_frame.is_none() {
                    dir.rst_frame = Some(frame);
                }
            }
            Err(why) => note_ignored(dir, flags, frame, why),
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

    /// What a flow that restarts this key with `seg` carries over: the ended flow it continues,
    /// when it does.
    fn reopened_by(&self, seg: &Segment<'_>, ts: i64, limits: &FlowLimits) -> Option<Reopened> {
        let [x, y] = &self.flow.dir;
        (self.ended && continues(self.flow.last_ts, seg, ts, limits)).then_some(Reopened {
            after: self.flow.first_frame,
            rst_frame: x.rst_frame.or(y.rst_frame),
        })
    }

    /// Counts a segment that came after the flow ended.
    fn count_late(&mut self, seg: &Segment<'_>, frame: u64, ts: i64, src_is_lo: bool) {
        let d = self.dir_index(src_is_lo);
        let f = &mut self.flow;
        if let Some(dir) = f.dir.get_mut(d) {
            count_late(
                &mut dir.packets,
                &mut dir.fin_frame,
                &mut dir.rst_frame,
                seg.flags,
                frame,
            );
        }
        f.last_frame = f.last_frame.max(frame);
        f.last_ts = f.last_ts.max(ts);
        f.loopback_if |= seg.loopback_if;
    }

    /// What stays on the key once the ended flow is handed out.
    fn tomb(&self) -> Tomb {
        let f = &self.flow;
        let mut bits = if self.a_is_lo { Tomb::A_IS_LO } else { 0 };
        if self.established() {
            bits |= Tomb::ESTABLISHED;
        }
        let [x, y] = &f.dir;
        let (mut isn, mut next) = ([0; 2], [0; 2]);
        for d in 0..2 {
            let ending = self.ending(d);
            if let (Some(n), Some(slot), Some(bit)) =
                (ending.isn, isn.get_mut(d), Tomb::HAS_ISN.get(d))
            {
                *slot = n;
                bits |= bit;
            }
            if let (Some(n), Some(slot), Some(bit)) =
                (ending.next, next.get_mut(d), Tomb::HAS_NEXT.get(d))
            {
                *slot = n;
                bits |= bit;
            }
        }
        Tomb {
            first_frame: f.first_frame,
            last_frame: f.last_frame,
            last_ts: f.last_ts,
            a: f.a,
            packets: [0, 0],
            isn,
            next,
            rst_frame: x.rst_frame.or(y.rst_frame).and_then(NonZeroU64::new),
            bits,
            closes: None,
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
/// Life of a flow on a key: segments join it until it has **ended** (FIN both ways, or a RST).
/// From then on its bytes are final and later segments (the last ACK, a retransmitted FIN, RST
/// answers) only add to its packet counts, last frame and FIN/RST frames, until it has been
/// silent for `close_linger` of capture time: a segment after that starts a new flow, and so
/// does at once a SYN with a new initial sequence number (port reuse). With an `idle_timeout`,
/// a segment after that much silence also starts a new flow.
///
/// Memory grows with the number of open flows, not with the capture: call
/// [`FlowTable::drain_closed`] now and then. It hands out ended flows at once, leaving a small
/// tombstone that counts late segments; [`FlowTable::drain_tails`] then returns those counts
/// ([`FlowTail`]) once the linger has passed, to be applied to the flows already handed out.
/// A caller that never drains gets the same counts directly in the flows from
/// [`FlowTable::finish`].
#[derive(Debug)]
pub struct FlowTable {
    limits: FlowLimits,
    /// Prefix bytes per direction (the limit, bounded by [`MAX_PREFIX`]).
    cap: usize,
    /// Open flows. A key is in `open` or in `closed`, never in both.
    open: HashMap<FlowKey, Box<FlowState>, KeyBuildHasher>,
    /// Ended flows already handed out, counting late segments until their linger passes. Kept
    /// apart from the open flows, which are far fewer, so that finding the flow of a segment
    /// probes a table that stays in the cache.
    closed: HashMap<FlowKey, Box<Tomb>, KeyBuildHasher>,
    /// Flows already over (replaced on their key), not yet handed out.
    done: Vec<Flow>,
    /// Tails of tombstones replaced on their key, not yet handed out.
    done_tails: Vec<FlowTail>,
    /// Tombstones: key, first frame, and last capture time when queued. Roughly in time order.
    tombs: VecDeque<(FlowKey, u64, i64)>,
    /// Latest capture time seen.
    clock: i64,
    /// Capture time of the last idle sweep.
    last_sweep: i64,
    /// Open flows, least recently active first: key, first frame, and last frame when queued
    /// (entries of flows gone from the table are skipped when met).
    lru: VecDeque<(FlowKey, u64, u64)>,
    /// Entries `lru` kept at its last pruning (all of them open flows then): the queue is pruned
    /// again once it holds twice that many plus a margin, so stale entries follow the open
    /// flows, not the tombstones.
    lru_kept: usize,
    /// Bytes buffered by the open flows.
    buffered: usize,
    counters: TableCounters,
    /// With [`FlowTable::track_touched`]: the open flows that got payload since the last visit.
    touched: Option<Vec<FlowKey>>,
}

impl FlowTable {
    /// An empty table.
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            cap: limits.prefix_bytes.min(MAX_PREFIX),
            limits,
            open: HashMap::default(),
            closed: HashMap::default(),
            done: Vec::new(),
            done_tails: Vec::new(),
            tombs: VecDeque::new(),
            clock: i64::MIN,
            last_sweep: i64::MIN,
            lru: VecDeque::new(),
            lru_kept: 0,
            buffered: 0,
            counters: TableCounters::default(),
            touched: None,
        }
    }

    /// Remembers which open flows get payload, for [`FlowTable::visit_touched`] (a reader that
    /// reports verdicts while the capture is still being written).
    pub fn track_touched(&mut self) {
        self.touched.get_or_insert_with(Vec::new);
    }

    /// Shows `visit` each open flow that got payload since the last visit (with
    /// [`FlowTable::track_touched`]; nothing otherwise), in the order they first got it.
    pub fn visit_touched(&mut self, mut visit: impl FnMut(&Flow)) {
        let Some(keys) = self.touched.as_mut() else {
            return;
        };
        for key in keys.drain(..) {
            if let Some(state) = self.open.get_mut(&key).filter(|s| s.touched) {
                state.touched = false;
                visit(&state.flow);
            }
        }
    }

    /// Which of `n` tables should receive `seg`: the same for both directions of a connection and
    /// on every run. Returns 0 when `n` is 0.
    pub fn shard_of(seg: &Segment<'_>, n: usize) -> usize {
        let (key, _) = FlowKey::new(&seg.src, &seg.dst);
        let h = fmix64(key.hash64() ^ SHARD_SALT);
        ((u128::from(h) * n as u128) >> 64) as usize
    }

    /// Keys held: open flows and tombstones.
    pub fn len(&self) -> usize {
        self.open.len() + self.closed.len()
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.closed.is_empty()
    }

    /// What the table did to stay within its limits so far (see [`TableCounters::warnings`]).
    pub fn counters(&self) -> TableCounters {
        self.counters
    }

    /// Bytes the open flows buffer now.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Adds one segment captured in frame `frame` at `ts_nanos`.
    pub fn push(&mut self, frame: u64, ts_nanos: i64, seg: &Segment<'_>) {
        // UDP datagrams have flows of their own (see `flow::udp`).
        if seg.transport != crate::decode::Transport::Tcp {
            return;
        }
        let (key, src_is_lo) = FlowKey::new(&seg.src, &seg.dst);
        self.clock = self.clock.max(ts_nanos);
        let cap = self.cap;
        let update = match self.open.get_mut(&key) {
            Some(state) => {
                match state.fate(seg, ts_nanos, src_is_lo, &self.limits) {
                    Fate::Join => {}
                    Fate::Late => {
                        state.count_late(seg, frame, ts_nanos, src_is_lo);
                        return;
                    }
                    Fate::Restart => {
                        let reopens = state.reopened_by(seg, ts_nanos, &self.limits);
                        let new =
                            Box::new(FlowState::new(seg, frame, ts_nanos, src_is_lo, reopens));
                        let old = std::mem::replace(state, new);
                        self.buffered = self.buffered.saturating_sub(old.footprint);
                        self.done.push(old.finish(cap));
                        self.lru.push_back((key, frame, frame));
                    }
                }
                state.absorb(seg, frame, ts_nanos, src_is_lo, cap)
            }
            None => {
                if !self.open_new(key, frame, ts_nanos, seg, src_is_lo) {
                    return;
                }
                match self.open.get_mut(&key) {
                    Some(state) => state.absorb(seg, frame, ts_nanos, src_is_lo, cap),
                    None => return,
                }
            }
        };
        self.buffered = self
            .buffered
            .saturating_sub(update.footprint_before)
            .saturating_add(update.footprint);
        self.note_peaks();
        if let Some(touched) = self.touched.as_mut().filter(|_| !seg.payload.is_empty()) {
            if let Some(state) = self.open.get_mut(&key).filter(|s| !s.touched) {
                state.touched = true;
                touched.push(key);
            }
        }
        if let Some(first_frame) = update.just_ended {
            // Handed out the moment it ends: what classification sees is the flow as it was at
            // its end, whenever the caller drains; later segments go to its tail.
            self.retire(key, first_frame);
        }
        while self.buffered > self.limits.max_buffered_bytes {
            if !self.evict_lru(Some(key), Eviction::Bytes) {
                break;
            }
        }
        if self.lru.len() > self.lru_kept.saturating_mul(2).saturating_add(1024) {
            self.prune_lru();
        }
    }

    /// A segment on `key`, which no open flow holds: counted by the key's tombstone if it is
    /// late for it (`false`), else the start of a new open flow (`true`), made room for.
    fn open_new(
        &mut self,
        key: FlowKey,
        frame: u64,
        ts_nanos: i64,
        seg: &Segment<'_>,
        src_is_lo: bool,
    ) -> bool {
        let mut reopens = None;
        if let Some(tomb) = self.closed.get_mut(&key) {
            match tomb.fate(seg, ts_nanos, src_is_lo, &self.limits) {
                Fate::Late => {
                    tomb.count(seg, frame, ts_nanos, src_is_lo);
                    return false;
                }
                // A tombstone's flow has ended: nothing joins it.
                Fate::Join => return false,
                Fate::Restart => {
                    if continues(tomb.last_ts, seg, ts_nanos, &self.limits) {
                        reopens = Some(tomb.reopened());
                    }
                    if let Some(tomb) = self.closed.remove(&key).filter(|t| t.touched()) {
                        self.done_tails.push(tomb.tail());
                    }
                }
            }
        } else {
            self.make_room();
        }
        self.lru.push_back((key, frame, frame));
        let state = Box::new(FlowState::new(seg, frame, ts_nanos, src_is_lo, reopens));
        self.open.insert(key, state);
        true
    }

    fn note_peaks(&mut self) {
        let len = self.len();
        let c = &mut self.counters;
        c.peak_flows = c.peak_flows.max(len);
        c.peak_buffered_bytes = c.peak_buffered_bytes.max(self.buffered);
    }

    /// Frees keys until a new one fits under `max_flows`: oldest tombstones first, then the least
    /// recently active open flows.
    fn make_room(&mut self) {
        while self.len() >= self.limits.max_flows && !self.is_empty() {
            if !self.drop_oldest_tomb() && !self.evict_lru(None, Eviction::Count) {
                break;
            }
        }
    }

    /// Replaces the ended flow on `key` by its tombstone and queues the flow for
    /// [`FlowTable::drain_closed`].
    fn retire(&mut self, key: FlowKey, first_frame: u64) {
        if !matches!(self.open.get(&key), Some(s) if s.flow.first_frame == first_frame) {
            return;
        }
        let Some(state) = self.open.remove(&key) else {
            return;
        };
        let tomb = state.tomb();
        self.tombs.push_back((key, first_frame, tomb.last_ts));
        self.closed.insert(key, Box::new(tomb));
        self.buffered = self.buffered.saturating_sub(state.footprint);
        self.done.push(state.finish(self.cap));
    }

    /// Drops the oldest tombstone, keeping its late segments as a tail. `false` if there is none.
    fn drop_oldest_tomb(&mut self) -> bool {
        while let Some((key, first_frame, _)) = self.tombs.pop_front() {
            let live = matches!(self.closed.get(&key), Some(t) if t.first_frame == first_frame);
            if !live {
                continue;
            }
            if let Some(tomb) = self.closed.remove(&key) {
                if tomb.touched() {
                    self.done_tails.push(tomb.tail());
                }
            }
            self.counters.tombstones_dropped = self.counters.tombstones_dropped.saturating_add(1);
            return true;
        }
        false
    }

    /// Hands out the least recently active open flow (never the one on `keep`): an ended flow
    /// leaves a tombstone as [`FlowTable::drain_closed`] does; an open one leaves nothing, and is
    /// counted. `false` if no flow could be taken.
    fn evict_lru(&mut self, keep: Option<FlowKey>, why: Eviction) -> bool {
        // Two passes at most: the first may only refresh the entries of flows active since they
        // were queued.
        let mut budget = self.lru.len().saturating_mul(2).saturating_add(1);
        while let Some((key, first_frame, queued)) = self.lru.pop_front() {
            if budget == 0 {
                self.lru.push_front((key, first_frame, queued));
                return false;
            }
            budget -= 1;
            let last_frame = match self.open.get(&key) {
                Some(s) if s.flow.first_frame == first_frame => s.flow.last_frame,
                _ => continue,
            };
            if Some(key) == keep || last_frame > queued {
                self.lru.push_back((key, first_frame, last_frame));
                continue;
            }
            let Some(state) = self.open.remove(&key) else {
                continue;
            };
            self.buffered = self.buffered.saturating_sub(state.footprint);
            if state.ended {
                let tomb = state.tomb();
                self.tombs.push_back((key, first_frame, tomb.last_ts));
                self.closed.insert(key, Box::new(tomb));
            } else {
                let c = &mut self.counters;
                match why {
                    Eviction::Count => {
                        c.flows_evicted_for_count = c.flows_evicted_for_count.saturating_add(1)
                    }
                    Eviction::Bytes => {
                        c.flows_evicted_for_bytes = c.flows_evicted_for_bytes.saturating_add(1)
                    }
                }
            }
            self.done.push(state.finish(self.cap));
            return true;
        }
        false
    }

    /// Forgets the queue entries of flows no longer open.
    fn prune_lru(&mut self) {
        let open = &self.open;
        self.lru.retain(|(key, first_frame, _)| {
            matches!(open.get(key), Some(s) if s.flow.first_frame == *first_frame)
        });
        self.lru_kept = self.lru.len();
    }

    /// Takes the flows that are over: ended (FIN both ways, or RST; a tombstone stays to count
    /// late segments, see [`FlowTable::drain_tails`]), replaced on their key by a new
    /// connection, or (with an idle timeout) silent too long by the latest capture time pushed.
    /// They are finished as by [`FlowTable::finish`] and ordered by first frame.
    ///
    /// Draining never changes the results: a flow is only taken once its bytes are final, and
    /// its late segments come back as tails. It is cheap (amortised constant time per flow, plus
    /// a sweep of all keys every half idle timeout of capture time); calling it every few
    /// thousand segments is plenty.
    pub fn drain_closed(&mut self) -> Vec<Flow> {
        let mut out = std::mem::take(&mut self.done);
        if let Some(idle) = self.limits.idle_timeout_nanos {
            let now = self.clock;
            if now.saturating_sub(self.last_sweep) > idle / 2 {
                self.last_sweep = now;
                let limits = &self.limits;
                let silent: Vec<FlowKey> = self
                    .open
                    .iter()
                    .filter(|(_, s)| expired(s.ended, s.flow.last_ts, now, limits))
                    .map(|(k, _)| *k)
                    .collect();
                for key in silent {
                    if let Some(state) = self.open.remove(&key) {
                        self.buffered = self.buffered.saturating_sub(state.footprint);
                        out.push(state.finish(self.cap));
                    }
                }
            }
        }
        out.sort_unstable_by_key(|f| f.first_frame);
        out
    }

    /// Late segments of drained flows whose linger has passed (by the latest capture time
    /// pushed), for flows that had any, ordered by first frame. Their tombstones are dropped.
    pub fn drain_tails(&mut self) -> Vec<FlowTail> {
        let mut out = std::mem::take(&mut self.done_tails);
        let now = self.clock;
        // Stop at the first tombstone still lingering, unless it counted segments since it was
        // queued (then it is queued again with its new time).
        let mut budget = self.tombs.len();
        while let Some(&(key, first_frame, queued_ts)) = self.tombs.front() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let last_ts = match self.closed.get(&key) {
                Some(t) if t.first_frame == first_frame => t.last_ts,
                _ => {
                    self.tombs.pop_front();
                    continue;
                }
            };
            if expired(true, last_ts, now, &self.limits) {
                self.tombs.pop_front();
                if let Some(tomb) = self.closed.remove(&key).filter(|t| t.touched()) {
                    out.push(tomb.tail());
                }
            } else if last_ts > queued_ts {
                self.tombs.pop_front();
                self.tombs.push_back((key, first_frame, last_ts));
            } else {
                break;
            }
        }
        out.sort_unstable_by_key(|t| t.first_frame);
        out
    }

    /// Ends reassembly (pending out-of-order data is placed after a hole) and returns every flow
    /// not yet drained, ordered by first frame, and the tails of drained flows not yet returned.
    pub fn finish_with_tails(self) -> (Vec<Flow>, Vec<FlowTail>) {
        let mut flows = Vec::with_capacity(self.done.len() + self.open.len());
        let mut tails = Vec::new();
        self.finish_each(|end| match end {
            Leftover::Flow(flow) => flows.push(flow),
            Leftover::Tail(tail) => tails.push(tail),
        });
        flows.sort_unstable_by_key(|f| f.first_frame);
        tails.sort_unstable_by_key(|t| t.first_frame);
        (flows, tails)
    }

    /// [`FlowTable::finish_with_tails`] one item at a time, in no particular order except that a
    /// tail comes after its flow: each flow's buffers are freed as soon as `each` is done with
    /// it, and nothing is gathered, so finishing a full table needs no second copy of it.
    pub fn finish_each(self, mut each: impl FnMut(Leftover)) {
        let cap = self.cap;
        // A tombstone's flow was handed out before it was made: either already, or in `done`.
        for flow in self.done {
            each(Leftover::Flow(flow));
        }
        for tail in self.done_tails {
            each(Leftover::Tail(tail));
        }
        for state in self.open.into_values() {
            each(Leftover::Flow(state.finish(cap)));
        }
        for tomb in self.closed.into_values().filter(|t| t.touched()) {
            each(Leftover::Tail(tomb.tail()));
        }
    }

    /// [`FlowTable::finish_with_tails`] with the tails applied: for a caller that never drained
    /// (tails then only come from limits hit; after draining, use `finish_with_tails` so that no
    /// late segment is lost).
    pub fn finish(self) -> Vec<Flow> {
        let (mut flows, tails) = self.finish_with_tails();
        apply_tails(&mut flows, &tails);
        flows
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

/// Applies `tails` to `flows` (both as returned by the tables, flows ordered by first frame).
pub fn apply_tails(flows: &mut [Flow], tails: &[FlowTail]) {
    for tail in tails {
        if let Ok(i) = flows.binary_search_by_key(&tail.first_frame, |f| f.first_frame) {
            if let Some(flow) = flows.get_mut(i) {
                tail.apply(flow);
            }
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "limits_tests.rs"]
mod limits_tests;
