//! Reassembly of fragmented IP datagrams, so that a TCP segment split into IP fragments (an
//! overlay whose encapsulated packets outgrow the underlay's MTU, a host without path MTU
//! discovery, or a sender hiding its bytes from monitors) still reaches its flow.
//!
//! The rules follow what a Linux receiver does, so that the bytes reassembled are the bytes the
//! receiving host saw:
//! - a datagram is the fragments with the same addresses, identification and protocol, seen on
//!   the same interface; it is whole once the last fragment and every byte before it are held;
//! - a fragment wholly inside bytes already held is a duplicate and changes nothing (the first
//!   bytes win, as in TCP reassembly); a fragment that overlaps held bytes only in part makes
//!   the whole datagram void (RFC 5722, and Linux for IPv4 too), as do a payload past 65,535
//!   bytes, a non-final fragment whose length is not a multiple of 8, and two different ends;
//! - a datagram not whole 30 s of capture time after its first fragment is given up
//!   (net.ipv4.ipfrag_time).
//!
//! A capture is untrusted, so everything held is bounded: [`MAX_PENDING`] datagrams,
//! [`MAX_BUFFERED`] bytes (Linux's default ipfrag_high_thresh) and [`MAX_PIECES`] separate
//! pieces per datagram; past a bound the oldest datagrams are given up. Every fragment of a
//! datagram given up is counted in [`FragmentLosses`], which the report turns into skipped
//! frames and a warning.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use super::{
    decode_datagram, decode_frame, Decoded, Fragment, FragmentKey, LinkFacts, Segment, Skip,
};
use crate::capture::LinkType;

/// Capture time a datagram has to become whole, from its first fragment.
pub const TIMEOUT_NANOS: i64 = 30_000_000_000;
/// Largest datagram payload: the IP length fields allow no more.
const MAX_PAYLOAD: u32 = 65_535;
/// Datagrams being reassembled at once.
pub const MAX_PENDING: usize = 1024;
/// Bytes the datagrams being reassembled may hold in all.
pub const MAX_BUFFERED: usize = 4 << 20;
/// Separate pieces (runs of bytes with holes between them) one datagram may hold.
pub const MAX_PIECES: usize = 64;
/// Datagrams made whole remembered (their slot, length and time), to tell a late duplicate of
/// one of their fragments from a datagram that never became whole.
const MAX_RECENT: usize = 1024;
/// Datagrams made whole from fragments found inside a datagram just made whole, at most, for
/// one frame (each level a tunnel whose packet was fragmented again).
const MAX_NESTED: usize = 4;

/// A datagram made whole: its payload follows the IP header (and, for IPv6, the fragment
/// header) of its first fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub key: FragmentKey,
    /// The interface its fragments were seen on.
    pub facts: LinkFacts,
    pub payload: Vec<u8>,
    /// Fragments it was made of (duplicates included).
    pub fragments: u64,
}

/// What a [`Defragmenter`] made whole and what it had to give up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragmentLosses {
    /// Datagrams made whole.
    pub reassembled: u64,
    /// Fragments those datagrams were made of.
    pub reassembled_fragments: u64,
    /// Fragments of the datagrams given up: their bytes reach no flow.
    pub lost_fragments: u64,
    /// Fragments that came again after their datagram was made whole (a retransmission by
    /// the link, or a capture on two interfaces): their bytes had reached the flow already.
    pub duplicate_fragments: u64,
    /// Datagrams given up because their fragments disagree: a partial overlap, two different
    /// ends, a payload past 65,535 bytes, a non-final fragment not a multiple of 8 long.
    pub conflicting: u64,
    /// Datagrams still missing fragments when their time ran out or the capture ended.
    pub incomplete: u64,
    /// Datagrams given up to stay within the bounds on what reassembly holds.
    pub evicted: u64,
}

impl FragmentLosses {
    /// Datagrams given up, for any reason.
    pub fn lost_datagrams(&self) -> u64 {
        self.conflicting
            .saturating_add(self.incomplete)
            .saturating_add(self.evicted)
    }

    /// The report's warning about the datagrams given up, if any were.
    pub fn warning(&self) -> Option<String> {
        if self.lost_fragments == 0 && self.lost_datagrams() == 0 {
            return None;
        }
        Some(format!(
            "{} IP fragments could not be reassembled ({} datagrams: {} incomplete at the end of \
             the capture or after 30 s, {} with fragments that overlap or disagree, {} given up \
             past the reassembly bounds); the TCP bytes they carried are missing from their \
             flows; overlapping fragments are a known way to hide traffic from monitors",
            self.lost_fragments,
            self.lost_datagrams(),
            self.incomplete,
            self.conflicting,
            self.evicted
        ))
    }
}

/// Why a datagram was given up.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    Conflict,
    Incomplete,
    Evicted,
}

/// Identity of a datagram being reassembled: its fragments' key and interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    key: FragmentKey,
    facts: LinkFacts,
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Pending {
    /// Tells this datagram from an earlier one on the same slot in the age queue.
    serial: u64,
    first_ts: i64,
    /// The payload so far; bytes outside `pieces` are not yet known.
    payload: Vec<u8>,
    /// The byte ranges held, sorted, neither overlapping nor touching.
    pieces: Vec<(u32, u32)>,
    /// Length of the payload, once the last fragment came.
    end: Option<u32>,
    fragments: u64,
}

impl Pending {
    /// Places a fragment of `data` at `start`; `Err` when it conflicts with what is held.
    fn place(&mut self, start: u32, data: &[u8], more: bool) -> Result<(), GiveUp> {
        let len = u32::try_from(data.len()).map_err(|_| GiveUp::Conflict)?;
        let end = start.checked_add(len).ok_or(GiveUp::Conflict)?;
        if end > MAX_PAYLOAD || (more && len % 8 != 0) {
            return Err(GiveUp::Conflict);
        }
        match (self.end, more) {
            (Some(known), true) if end > known => return Err(GiveUp::Conflict),
            (Some(known), false) if end != known => return Err(GiveUp::Conflict),
            (None, false) => {
                if self.pieces.last().is_some_and(|&(_, e)| e > end) {
                    return Err(GiveUp::Conflict);
                }
                self.end = Some(end);
            }
            _ => {}
        }
        if start == end {
            return Ok(());
        }
        // The first piece that ends at or after `start`: every earlier one lies wholly before.
        let at = self.pieces.partition_point(|&(_, e)| e < start);
        if let Some(&(s, e)) = self.pieces.get(at) {
            if s <= start && end <= e {
                return Ok(()); // a duplicate: the bytes held stay
            }
            if s < end && start < e {
                return Err(GiveUp::Conflict);
            }
        }
        if let Some(&(s, e)) = self.pieces.get(at.saturating_add(1)) {
            if s < end && start < e {
                return Err(GiveUp::Conflict);
            }
        }
        let (from, to) = (start as usize, end as usize);
        if self.payload.len() < to {
            self.payload.resize(to, 0);
        }
        if let Some(dst) = self.payload.get_mut(from..to) {
            dst.copy_from_slice(data);
        }
        // Join the pieces this one touches: the one at `at` (ending at `start`) and the next
        // (starting at `end`).
        let mut merged = (start, end);
        let mut remove = at..at;
        if let Some(&(s, e)) = self.pieces.get(at) {
            if e == start {
                merged.0 = s;
                remove.end = remove.end.saturating_add(1);
            }
        }
        if let Some(&(s, e)) = self.pieces.get(remove.end) {
            if s == end {
                merged.1 = e;
                remove.end = remove.end.saturating_add(1);
            }
        }
        self.pieces.splice(remove, [merged]);
        if self.pieces.len() > MAX_PIECES {
            return Err(GiveUp::Evicted);
        }
        Ok(())
    }

    fn is_whole(&self) -> bool {
        match (self.end, self.pieces.as_slice()) {
            (Some(0), []) => true,
            (Some(end), [(0, e)]) => *e == end,
            _ => false,
        }
    }

    /// Bytes held, as counted against [`MAX_BUFFERED`].
    fn footprint(&self) -> usize {
        self.payload
            .capacity()
            .saturating_add(self.pieces.capacity().saturating_mul(8))
    }
}

/// Reassembles IP datagrams from their fragments, bounded (see the module documentation).
///
/// Feed it the fragments of a capture in file order with [`Defragmenter::offer`]; what it
/// makes whole goes through [`decode_datagram`](super::decode_datagram). Two defragmenters
/// fed the same fragments give the same datagrams.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: HashMap<Slot, Pending>,
    /// Slots by age of their datagram (entries whose serial no longer matches are stale).
    ages: VecDeque<(Slot, u64)>,
    buffered: usize,
    /// Latest capture time seen.
    clock: i64,
    serials: u64,
    losses: FragmentLosses,
    /// The datagrams made whole lately: payload length and capture time, by slot.
    recent: HashMap<Slot, (u32, i64)>,
    /// The slots of `recent`, oldest first.
    recent_order: VecDeque<Slot>,
}

impl Defragmenter {
    pub fn new() -> Defragmenter {
        Defragmenter::default()
    }

    /// Decodes one frame as [`decode`](super::decode) does, reassembling IP fragments: `keep`
    /// gets the TCP segment the frame carries, or the one held in the datagram the frame's
    /// fragment completes (as if that frame had carried it whole). `Err` says why the frame
    /// gives no segment; a fragment held for later is `Ok`.
    #[inline]
    pub fn decode<F: FnOnce(&Segment<'_>)>(
        &mut self,
        link: LinkType,
        data: &[u8],
        ts_nanos: i64,
        keep: F,
    ) -> Result<(), Skip> {
        match decode_frame(link, data)? {
            Decoded::Segment(seg) => {
                keep(&seg);
                Ok(())
            }
            Decoded::Fragment(fragment, facts) => self.reassemble(fragment, facts, ts_nanos, keep),
        }
    }

    #[cold]
    #[inline(never)]
    fn reassemble<F: FnOnce(&Segment<'_>)>(
        &mut self,
        fragment: Fragment<'_>,
        facts: LinkFacts,
        ts_nanos: i64,
        keep: F,
    ) -> Result<(), Skip> {
        if !fragment.is_whole() {
            return Err(Skip::Truncated);
        }
        let mut whole = self.offer(&fragment, facts, ts_nanos);
        for _ in 0..MAX_NESTED {
            let Some(datagram) = whole.take() else {
                return Ok(());
            };
            match decode_datagram(&datagram)? {
                Decoded::Segment(seg) => {
                    keep(&seg);
                    return Ok(());
                }
                Decoded::Fragment(inner, facts) if inner.is_whole() => {
                    whole = self.offer(&inner, facts, ts_nanos);
                }
                Decoded::Fragment(..) => return Err(Skip::Truncated),
            }
        }
        match whole {
            Some(_) => Err(Skip::IpFragment),
            None => Ok(()),
        }
    }

    /// Adds a fragment seen at `ts_nanos` on the interface `facts` describes; returns its
    /// datagram when this fragment made it whole. A fragment the snaplen cut short can never
    /// complete its datagram: the caller counts it and does not offer it.
    pub fn offer(
        &mut self,
        fragment: &Fragment<'_>,
        facts: LinkFacts,
        ts_nanos: i64,
    ) -> Option<Datagram> {
        if self.pending.is_empty() {
            self.clock = ts_nanos;
        } else {
            self.clock = self.clock.max(ts_nanos);
        }
        self.expire();
        let slot = Slot {
            key: fragment.key,
            facts,
        };
        if !self.pending.contains_key(&slot) {
            while self.pending.len() >= MAX_PENDING {
                if !self.give_up_oldest(GiveUp::Evicted) {
                    break;
                }
            }
        }
        let pending = match self.pending.entry(slot) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.serials = self.serials.wrapping_add(1);
                self.ages.push_back((slot, self.serials));
                e.insert(Pending {
                    serial: self.serials,
                    first_ts: ts_nanos,
                    payload: Vec::new(),
                    pieces: Vec::new(),
                    end: None,
                    fragments: 0,
                })
            }
        };
        pending.fragments = pending.fragments.saturating_add(1);
        let before = pending.footprint();
        let placed = pending.place(fragment.offset, fragment.data(), fragment.more);
        let after = pending.footprint();
        let whole = pending.is_whole();
        self.buffered = self.buffered.saturating_sub(before).saturating_add(after);
        if let Err(why) = placed {
            self.give_up(&slot, why);
            return None;
        }
        if whole {
            let done = self.pending.remove(&slot)?;
            self.buffered = self.buffered.saturating_sub(done.footprint());
            self.losses.reassembled = self.losses.reassembled.saturating_add(1);
            self.losses.reassembled_fragments = self
                .losses
                .reassembled_fragments
                .saturating_add(done.fragments);
            let end = done.end.unwrap_or_default();
            self.remember(slot, end, ts_nanos);
            let mut payload = done.payload;
            payload.truncate(end as usize);
            return Some(Datagram {
                key: slot.key,
                facts,
                payload,
                fragments: done.fragments,
            });
        }
        while self.buffered > MAX_BUFFERED {
            if !self.give_up_oldest(GiveUp::Evicted) {
                break;
            }
        }
        None
    }

    /// What was made whole and given up so far.
    pub fn losses(&self) -> FragmentLosses {
        self.losses
    }

    /// Bytes held by the datagrams being reassembled.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Datagrams being reassembled.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The capture has ended: gives up the datagrams still incomplete and returns the tally.
    pub fn finish(&mut self) -> FragmentLosses {
        while self.give_up_oldest(GiveUp::Incomplete) {}
        self.losses
    }

    /// Gives up the datagrams whose time ran out.
    fn expire(&mut self) {
        while let Some(&(slot, serial)) = self.ages.front() {
            match self.pending.get(&slot) {
                Some(p) if p.serial == serial => {
                    if self.clock.saturating_sub(p.first_ts) <= TIMEOUT_NANOS {
                        return;
                    }
                    self.give_up(&slot, GiveUp::Incomplete);
                }
                _ => {}
            }
            self.ages.pop_front();
        }
    }

    /// Gives up the oldest datagram; `false` when none is held.
    fn give_up_oldest(&mut self, why: GiveUp) -> bool {
        while let Some((slot, serial)) = self.ages.pop_front() {
            if self.pending.get(&slot).is_some_and(|p| p.serial == serial) {
                self.give_up(&slot, why);
                return true;
            }
        }
        false
    }

    /// Remembers a datagram made whole, forgetting the oldest past [`MAX_RECENT`].
    fn remember(&mut self, slot: Slot, end: u32, ts: i64) {
        if self.recent.insert(slot, (end, ts)).is_none() {
            self.recent_order.push_back(slot);
        }
        while self.recent_order.len() > MAX_RECENT {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent.remove(&old);
            }
        }
    }

    /// `p` holds nothing but repeats of a datagram made whole on its slot shortly before.
    fn repeats_done(&self, slot: &Slot, p: &Pending) -> bool {
        let Some(&(end, done_ts)) = self.recent.get(slot) else {
            return false;
        };
        p.first_ts.saturating_sub(done_ts) <= TIMEOUT_NANOS
            && p.end.is_none_or(|e| e == end)
            && p.pieces.last().is_none_or(|&(_, e)| e <= end)
    }

    fn give_up(&mut self, slot: &Slot, why: GiveUp) {
        let Some(gone) = self.pending.remove(slot) else {
            return;
        };
        self.buffered = self.buffered.saturating_sub(gone.footprint());
        if !matches!(why, GiveUp::Conflict) && self.repeats_done(slot, &gone) {
            let l = &mut self.losses;
            l.duplicate_fragments = l.duplicate_fragments.saturating_add(gone.fragments);
            return;
        }
        let l = &mut self.losses;
        l.lost_fragments = l.lost_fragments.saturating_add(gone.fragments);
        let count = match why {
            GiveUp::Conflict => &mut l.conflicting,
            GiveUp::Incomplete => &mut l.incomplete,
            GiveUp::Evicted => &mut l.evicted,
        };
        *count = count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::ip::Payload;
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            protocol: 6,
        }
    }

    fn frag(id: u32, offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            key: key(id),
            offset,
            more,
            payload: Payload { data, missing: 0 },
        }
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    /// Offers `(offset, more, range of `whole`)` in the order given; returns the datagram.
    fn run(
        d: &mut Defragmenter,
        id: u32,
        whole: &[u8],
        order: &[(usize, usize, bool)],
    ) -> Option<Datagram> {
        let mut out = None;
        for &(from, to, more) in order {
            let got = d.offer(
                &frag(id, from as u32, more, &whole[from..to]),
                LinkFacts::default(),
                0,
            );
            assert!(out.is_none() || got.is_none(), "completed twice");
            out = out.or(got);
        }
        out
    }

    #[test]
    fn in_order_out_of_order_and_duplicates() {
        let whole = bytes(3000, 7);
        let cuts = [(0, 1480, true), (1480, 2960, true), (2960, 3000, false)];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1]] {
            let mut d = Defragmenter::new();
            let seq: Vec<_> = order.iter().map(|&i| cuts[i]).collect();
            let got = run(&mut d, 1, &whole, &seq).expect("whole");
            assert_eq!(got.payload, whole, "{order:?}");
            assert_eq!(got.fragments, 3);
            assert_eq!(d.pending(), 0);
            assert_eq!(d.buffered_bytes(), 0);
            assert_eq!(d.finish().lost_fragments, 0);
        }
        // A repeated fragment, even with other bytes, changes nothing: the first bytes win.
        let mut d = Defragmenter::new();
        assert!(d
            .offer(&frag(1, 0, true, &whole[..1480]), LinkFacts::default(), 0)
            .is_none());
        let other = bytes(1480, 99);
        assert!(d
            .offer(&frag(1, 0, true, &other), LinkFacts::default(), 0)
            .is_none());
        let got = d
            .offer(
                &frag(1, 1480, false, &whole[1480..]),
                LinkFacts::default(),
                0,
            )
            .unwrap();
        assert_eq!(got.payload, whole);
        assert_eq!(got.fragments, 3);
    }

    #[test]
    fn a_fragment_repeated_after_its_datagram_was_whole_is_a_duplicate() {
        let whole = bytes(1600, 2);
        let mut d = Defragmenter::new();
        let cuts = [(0, 1480, true), (1480, 1600, false)];
        assert!(run(&mut d, 7, &whole, &cuts).is_some());
        // Both fragments again (the link repeated them): nothing new, nothing lost.
        assert!(run(&mut d, 7, &whole, &cuts).is_some());
        // The first fragment alone once more: a duplicate when given up.
        assert!(run(&mut d, 7, &whole, &cuts[..1]).is_none());
        // A new datagram on another identification that never completes is a loss.
        assert!(run(&mut d, 8, &whole, &cuts[..1]).is_none());
        let l = d.finish();
        assert_eq!((l.reassembled, l.duplicate_fragments), (2, 1));
        assert_eq!((l.lost_fragments, l.incomplete), (1, 1));
    }

    #[test]
    fn partial_overlap_voids_the_datagram() {
        let whole = bytes(64, 1);
        let mut d = Defragmenter::new();
        let got = run(
            &mut d,
            5,
            &whole,
            &[(0, 32, true), (24, 48, true), (48, 64, false)],
        );
        // The overlap voided the datagram; the last fragment starts a new one that never
        // completes.
        assert_eq!(got, None);
        let l = d.finish();
        assert_eq!((l.conflicting, l.incomplete, l.lost_fragments), (1, 1, 3));
        assert!(l.warning().unwrap().contains("3 IP fragments"));
    }

    #[test]
    fn malformed_fragments_void_the_datagram() {
        let data = bytes(16, 0);
        let cases: [&[(u32, bool, usize)]; 4] = [
            &[(0, true, 12)],                 // not a multiple of 8 and not the last
            &[(8, false, 8), (16, false, 8)], // two ends
            &[(16, false, 8), (32, true, 8)], // data past the end
            &[(65_528, false, 16)],           // past 65,535 bytes
        ];
        for frags in cases {
            let mut d = Defragmenter::new();
            for &(offset, more, len) in frags {
                assert!(d
                    .offer(
                        &frag(9, offset, more, &data[..len]),
                        LinkFacts::default(),
                        0
                    )
                    .is_none());
            }
            assert_eq!(d.losses().conflicting, 1, "{frags:?}");
        }
    }

    #[test]
    fn keys_and_interfaces_keep_datagrams_apart() {
        let whole = bytes(16, 3);
        let mut d = Defragmenter::new();
        let loopback = LinkFacts {
            loopback_if: true,
            if_index: Some(1),
        };
        assert!(d
            .offer(&frag(1, 0, true, &whole[..8]), LinkFacts::default(), 0)
            .is_none());
        assert!(d
            .offer(&frag(2, 8, false, &whole[8..]), LinkFacts::default(), 0)
            .is_none());
        assert!(d
            .offer(&frag(1, 8, false, &whole[8..]), loopback, 0)
            .is_none());
        let got = d
            .offer(&frag(1, 8, false, &whole[8..]), LinkFacts::default(), 0)
            .unwrap();
        assert_eq!((got.key.id, got.payload.as_slice()), (1, &whole[..]));
        assert_eq!(d.pending(), 2);
    }

    #[test]
    fn time_runs_out_after_thirty_seconds() {
        let whole = bytes(16, 3);
        let mut d = Defragmenter::new();
        // Datagram, seconds of its first and of its last fragment, made whole.
        for (id, first, last, made) in [(1, 1, 31, true), (2, 40, 71, false)] {
            let facts = LinkFacts::default();
            let head = d.offer(&frag(id, 0, true, &whole[..8]), facts, first * SEC);
            assert!(head.is_none());
            let tail = d.offer(&frag(id, 8, false, &whole[8..]), facts, last * SEC);
            assert_eq!(tail.is_some(), made, "datagram {id}");
        }
        let l = d.finish();
        assert_eq!((l.reassembled, l.incomplete, l.lost_fragments), (1, 2, 2));
    }

    #[test]
    fn bounds_hold_against_a_flood() {
        let data = [0u8; 1480];
        let mut d = Defragmenter::new();
        // Many datagrams that never complete.
        for id in 0..(MAX_PENDING as u32 * 3) {
            assert!(d
                .offer(&frag(id, 0, true, &data), LinkFacts::default(), 0)
                .is_none());
            assert!(d.pending() <= MAX_PENDING);
            assert!(d.buffered_bytes() <= MAX_BUFFERED);
        }
        // One datagram of many tiny separate pieces.
        let mut d = Defragmenter::new();
        for i in 0..1000u32 {
            d.offer(&frag(1, i * 16, true, &data[..8]), LinkFacts::default(), 0);
            assert!(d.pending() <= 1);
        }
        assert!(d.losses().evicted >= 1);
        // Large datagrams: the byte bound gives the oldest up.
        let mut d = Defragmenter::new();
        for id in 0..200u32 {
            d.offer(&frag(id, 65_000, true, &data[..8]), LinkFacts::default(), 0);
            assert!(d.buffered_bytes() <= MAX_BUFFERED);
        }
        assert!(d.losses().evicted > 0);
        let l = d.finish();
        assert_eq!(l.lost_fragments, 200);
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn zero_length_pieces() {
        let mut d = Defragmenter::new();
        assert!(d
            .offer(&frag(1, 0, true, &[]), LinkFacts::default(), 0)
            .is_none());
        let got = d
            .offer(&frag(1, 0, false, &[]), LinkFacts::default(), 0)
            .unwrap();
        assert!(got.payload.is_empty());
    }
}
