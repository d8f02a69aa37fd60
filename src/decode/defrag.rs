//! Reassembly of fragmented IP datagrams, so that a TCP segment split into IP fragments (an
//! overlay whose encapsulated packets outgrow the underlay's MTU, a host without path MTU
//! discovery, or a sender hiding its bytes from monitors) still reaches its flow.
//!
//! The rules follow what a Linux receiver does (`net/ipv4/ip_fragment.c`,
//! `net/ipv6/reassembly.c`), so that the bytes reassembled are the bytes the receiving host saw:
//! - a datagram is the fragments with the same addresses, identification and protocol, seen on
//!   the same interface; it is whole once the last fragment and every byte before it are held;
//! - a fragment wholly inside bytes already held is a duplicate and changes nothing (the first
//!   bytes win, as in TCP reassembly; a duplicate whose bytes differ is counted, since showing a
//!   monitor other bytes than the receiver keeps is a way to hide traffic); a fragment that
//!   overlaps held bytes only in part voids the whole datagram (RFC 5722, and Linux for IPv4
//!   too), as do an empty fragment, two different ends and a datagram past 65,535 bytes;
//! - a non-final fragment whose length is not a multiple of 8 is cut to one (IPv4) or dropped
//!   alone (IPv6);
//! - an IPv4 datagram that more than 64 other fragments from its source passed since its last
//!   fragment is stale (net.ipv4.ipfrag_max_dist): a fragment that comes for it then starts the
//!   datagram anew, so that a reused identification never joins two datagrams;
//! - a datagram not whole 30 s of capture time after its first fragment is given up
//!   (net.ipv4.ipfrag_time).
//!
//! Only datagrams that may hold TCP are kept: TCP, and UDP on a tunnel's port (seen in the
//! first fragment; fragments of other UDP are tracked, not kept, and counted as `not-tcp`).
//!
//! A capture is untrusted, so everything held is bounded: [`MAX_PENDING`] datagrams,
//! [`MAX_BUFFERED`] bytes (Linux's default ipfrag_high_thresh) and [`MAX_PIECES`] fragments per
//! datagram; past a bound the oldest datagrams are given up. A fragment costs an allocation of
//! its own length, wherever it lies in its datagram. Every fragment is counted once in
//! [`FragmentLosses`]: in a datagram made whole, given up, repeated, or holding no TCP.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::ip::Payload;
use super::{decode_datagram, decode_frame, tunnel, Decoded, Fragment, FragmentKey, LinkFacts};
use super::{Segment, Skip};
use crate::capture::Frame;

/// Capture time a datagram has to become whole, from its first fragment.
pub const TIMEOUT_NANOS: i64 = 30_000_000_000;
/// Largest payload of an IPv4 datagram: 65,535 bytes less the smallest header.
const MAX_PAYLOAD_V4: u32 = 65_515;
/// Largest payload of an IPv6 datagram after its fragment header.
const MAX_PAYLOAD_V6: u32 = 65_535;
/// Datagrams being reassembled at once.
pub const MAX_PENDING: usize = 1024;
/// Bytes the datagrams being reassembled may hold in all.
pub const MAX_BUFFERED: usize = 4 << 20;
/// Fragments one datagram may hold (a 64 KiB datagram over a 576-byte path is 120).
pub const MAX_PIECES: usize = 256;
/// Fragments from one IPv4 source after which a datagram still waiting is stale.
const MAX_DISTANCE: u64 = 64;
/// Sources whose fragments are counted for [`MAX_DISTANCE`]; the counts start over past this.
const MAX_PEERS: usize = 4096;
/// Datagrams made whole remembered (their slot, length and time), to tell a late duplicate of
/// one of their fragments from a datagram that never became whole.
const MAX_RECENT: usize = 1024;
/// IP protocol numbers.
const UDP: u8 = 17;

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

/// How many frames a [`Defragmenter::decode`] call accounts for that gave no TCP segment, and
/// why: one frame, or all the fragments of a datagram made whole that holds no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub skip: Skip,
    pub frames: u64,
}

impl From<Skip> for Skipped {
    fn from(skip: Skip) -> Skipped {
        Skipped { skip, frames: 1 }
    }
}

/// What a [`Defragmenter`] made whole and what it had to give up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragmentLosses {
    /// Datagrams made whole whose TCP segment went to its flow.
    pub reassembled: u64,
    /// Fragments those datagrams were made of.
    pub reassembled_fragments: u64,
    /// Fragments of the datagrams given up (and IPv6 fragments dropped alone): their bytes
    /// reach no flow.
    pub lost_fragments: u64,
    /// Fragments that came again after their datagram was made whole (a retransmission by
    /// the link, or a capture on two interfaces): their bytes had reached the flow already.
    pub duplicate_fragments: u64,
    /// Fragments of datagrams of UDP that carry no tunnel, whole or not.
    pub not_tcp_fragments: u64,
    /// Fragments that repeated bytes already held with other bytes (the first were kept).
    pub rewriting_fragments: u64,
    /// Datagrams given up because their fragments disagree: a partial overlap, two different
    /// ends, an empty fragment, a payload past 65,535 bytes.
    pub conflicting: u64,
    /// Datagrams still missing fragments when their time ran out, their source had moved on,
    /// or the capture ended.
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

    /// The report's warnings: about the datagrams given up, and about fragments that rewrote
    /// bytes already held.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.lost_fragments > 0 || self.lost_datagrams() > 0 {
            out.push(format!(
                "{} IP fragments could not be reassembled ({} datagrams: {} incomplete at the \
                 end of the capture, after 30 s or after their source moved on, {} with \
                 fragments that overlap or disagree, {} given up past the reassembly bounds); \
                 the TCP bytes they carried (directly or in a tunnel) are missing from their \
                 flows; overlapping fragments are a known way to hide traffic from monitors",
                self.lost_fragments,
                self.lost_datagrams(),
                self.incomplete,
                self.conflicting,
                self.evicted
            ));
        }
        if self.rewriting_fragments > 0 {
            out.push(format!(
                "{} IP fragments repeated bytes already held with other bytes: the first bytes \
                 were kept, as a Linux receiver keeps them, but a receiver that keeps the last \
                 would see other bytes; showing a monitor other bytes than the receiver is a \
                 known way to hide traffic",
                self.rewriting_fragments
            ));
        }
        out
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
    /// pcapng interface of the frames.
    interface: u32,
}

/// The bytes of one fragment.
#[derive(Debug)]
struct Piece {
    start: u32,
    end: u32,
    /// The bytes, unless the datagram holds no TCP.
    data: Vec<u8>,
}

/// What placing a fragment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    Held,
    /// All of its bytes were held already; `differs`: with other bytes.
    Duplicate {
        differs: bool,
    },
    /// Dropped alone (an IPv6 non-final fragment whose length is not a multiple of 8).
    Dropped,
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Pending {
    /// Tells this datagram from an earlier one on the same slot in the age queue.
    serial: u64,
    /// The defragmenter's clock when its first fragment came.
    first_ts: i64,
    /// Sorted by `start`, never overlapping.
    pieces: Vec<Piece>,
    /// Bytes held (the pieces' lengths).
    held: u32,
    /// Length of the payload, once the last fragment came.
    end: Option<u32>,
    fragments: u64,
    /// UDP that carries no tunnel: its pieces are tracked without their bytes.
    not_tcp: bool,
    /// Length of a datagram made whole on this slot shortly before it began: its fragments may
    /// be repeats of that one's.
    repeat_of: Option<u32>,
    /// Fragments counted from its source when its last fragment came (IPv4).
    source_mark: u64,
}

impl Pending {
    /// Places a fragment of `data` at `start`.
    fn place(
        &mut self,
        key: &FragmentKey,
        start: u32,
        data: &[u8],
        more: bool,
    ) -> Result<Placed, GiveUp> {
        let v4 = matches!(key.src, IpAddr::V4(_));
        let mut len = u32::try_from(data.len()).map_err(|_| GiveUp::Conflict)?;
        if more && len % 8 != 0 {
            if !v4 {
                return Ok(Placed::Dropped);
            }
            len &= !7;
        }
        let data = data.get(..len as usize).unwrap_or_default();
        let end = start.checked_add(len).ok_or(GiveUp::Conflict)?;
        let max = if v4 { MAX_PAYLOAD_V4 } else { MAX_PAYLOAD_V6 };
        if len == 0 || end > max {
            return Err(GiveUp::Conflict);
        }
        match (self.end, more) {
            (Some(known), true) if end > known => return Err(GiveUp::Conflict),
            (Some(known), false) if end != known => return Err(GiveUp::Conflict),
            (None, false) if self.pieces.last().is_some_and(|p| p.end > end) => {
                return Err(GiveUp::Conflict)
            }
            _ => {}
        }
        // The pieces that reach past `start`, up to the first that starts at or after `end`.
        let first = self.pieces.partition_point(|p| p.end <= start);
        let mut covered = start;
        let mut touched = false;
        let mut differs = false;
        for p in self.pieces.get(first..).unwrap_or_default() {
            if p.start >= end {
                break;
            }
            if p.start > covered {
                return Err(GiveUp::Conflict); // partly new, partly held
            }
            touched = true;
            let (from, to) = (covered.max(p.start), p.end.min(end));
            if !self.not_tcp {
                let within = |base: u32| {
                    from.saturating_sub(base) as usize..to.saturating_sub(base) as usize
                };
                differs |= p.data.get(within(p.start)) != data.get(within(start));
            }
            covered = p.end;
        }
        if touched {
            if covered < end {
                return Err(GiveUp::Conflict);
            }
            return Ok(Placed::Duplicate { differs });
        }
        if !more {
            self.end = Some(end);
        }
        if start == 0 && key.protocol == UDP && !self.not_tcp {
            // The UDP header says whether a tunnel (and so maybe TCP) is inside.
            let udp = Payload { data, missing: 0 };
            if matches!(tunnel::open(udp), Err(Skip::NotTcp)) {
                self.not_tcp = true;
                for p in &mut self.pieces {
                    p.data = Vec::new();
                }
            }
        }
        let kept = if self.not_tcp {
            Vec::new()
        } else {
            data.to_vec()
        };
        self.pieces.insert(
            first,
            Piece {
                start,
                end,
                data: kept,
            },
        );
        self.held = self.held.saturating_add(len);
        if self.pieces.len() > MAX_PIECES {
            return Err(GiveUp::Evicted);
        }
        Ok(Placed::Held)
    }

    fn is_whole(&self) -> bool {
        self.end == Some(self.held)
    }

    /// Bytes held, as counted against [`MAX_BUFFERED`].
    fn footprint(&self) -> usize {
        let bytes = self.pieces.iter().map(|p| p.data.capacity());
        bytes.fold(
            self.pieces
                .capacity()
                .saturating_mul(std::mem::size_of::<Piece>()),
            usize::saturating_add,
        )
    }

    /// The payload, the pieces joined.
    fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.held as usize);
        for p in &self.pieces {
            out.extend_from_slice(&p.data);
        }
        out
    }

    /// Holds nothing but repeats of the datagram made whole before it on its slot.
    fn only_repeats(&self) -> bool {
        self.repeat_of.is_some_and(|done| {
            self.end.is_none_or(|e| e == done) && self.pieces.last().is_none_or(|p| p.end <= done)
        })
    }
}

/// Reassembles IP datagrams from their fragments, bounded (see the module documentation).
///
/// Feed it every frame of a capture in file order with [`Defragmenter::decode`], and call
/// [`Defragmenter::finish`] at the end. Two defragmenters fed the same frames give the same
/// segments and the same counts.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: HashMap<Slot, Pending>,
    /// Slots by age of their datagram (entries whose serial no longer matches are stale).
    ages: VecDeque<(Slot, u64)>,
    buffered: usize,
    /// Latest capture time seen (set to the frame's time when nothing is pending).
    clock: i64,
    serials: u64,
    losses: FragmentLosses,
    /// Fragments seen per IPv4 source.
    sources: HashMap<IpAddr, u64>,
    /// The datagrams made whole lately: payload length and capture time, by slot.
    recent: HashMap<Slot, (u32, i64)>,
    /// The entries of `recent` as made, oldest first (a slot made whole again is listed again).
    recent_order: VecDeque<(Slot, i64)>,
}

impl Defragmenter {
    pub fn new() -> Defragmenter {
        Defragmenter::default()
    }

    /// Decodes one frame as [`decode`](super::decode) does, reassembling IP fragments: `keep`
    /// gets the TCP segment the frame carries, or the one in the datagram the frame's fragment
    /// completes (as if that frame had carried it whole). `Err` says why the frame, or the
    /// fragments of the datagram it completed, gave no segment; a fragment held for later, and
    /// one whose datagram is given up later (counted in [`FragmentLosses`]), is `Ok`.
    #[inline]
    pub fn decode<F: FnOnce(&Segment<'_>)>(
        &mut self,
        frame: &Frame<'_>,
        keep: F,
    ) -> Result<(), Skipped> {
        match decode_frame(frame.link, frame.data)? {
            Decoded::Segment(seg) => {
                keep(&seg);
                Ok(())
            }
            Decoded::Fragment(fragment, facts) => self.reassemble(frame, fragment, facts, keep),
        }
    }

    #[cold]
    #[inline(never)]
    fn reassemble<F: FnOnce(&Segment<'_>)>(
        &mut self,
        frame: &Frame<'_>,
        fragment: Fragment<'_>,
        facts: LinkFacts,
        keep: F,
    ) -> Result<(), Skipped> {
        if !fragment.is_whole() {
            return Err(Skip::Truncated.into());
        }
        let Some(datagram) = self.offer(&fragment, facts, frame.interface, frame.ts_nanos) else {
            return Ok(());
        };
        let frames = datagram.fragments;
        let skipped = |skip| Skipped { skip, frames };
        match decode_datagram(&datagram).map_err(skipped)? {
            Decoded::Segment(seg) => {
                let l = &mut self.losses;
                l.reassembled = l.reassembled.saturating_add(1);
                l.reassembled_fragments = l.reassembled_fragments.saturating_add(frames);
                keep(&seg);
                Ok(())
            }
            // A fragment inside a datagram made whole from fragments: not taken further.
            Decoded::Fragment(..) => Err(skipped(Skip::IpFragment)),
        }
    }

    /// Adds a fragment seen at `ts_nanos` on pcapng interface `interface`, whose link layer
    /// `facts` describes; returns its datagram when this fragment made it whole. A fragment the
    /// snaplen cut short can never complete its datagram: the caller counts it and does not
    /// offer it.
    pub fn offer(
        &mut self,
        fragment: &Fragment<'_>,
        facts: LinkFacts,
        interface: u32,
        ts_nanos: i64,
    ) -> Option<Datagram> {
        self.clock = if self.pending.is_empty() {
            ts_nanos
        } else {
            self.clock.max(ts_nanos)
        };
        self.expire();
        let slot = Slot {
            key: fragment.key,
            facts,
            interface,
        };
        let mark = self.count_source(&fragment.key);
        if let Some(p) = self.pending.get(&slot) {
            if mark.saturating_sub(p.source_mark) > MAX_DISTANCE {
                self.give_up(&slot, GiveUp::Incomplete);
            }
        }
        if !self.pending.contains_key(&slot) {
            while self.pending.len() >= MAX_PENDING {
                if !self.give_up_oldest(GiveUp::Evicted) {
                    break;
                }
            }
            self.compact_ages();
        }
        let pending = match self.pending.entry(slot) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let repeat_of = self
                    .recent
                    .get(&slot)
                    .filter(|&&(_, done)| self.clock.saturating_sub(done) <= TIMEOUT_NANOS)
                    .map(|&(end, _)| end);
                self.serials = self.serials.wrapping_add(1);
                self.ages.push_back((slot, self.serials));
                e.insert(Pending {
                    serial: self.serials,
                    first_ts: self.clock,
                    pieces: Vec::new(),
                    held: 0,
                    end: None,
                    fragments: 0,
                    not_tcp: false,
                    repeat_of,
                    source_mark: mark,
                })
            }
        };
        pending.source_mark = mark;
        let before = pending.footprint();
        let placed = pending.place(
            &fragment.key,
            fragment.offset,
            fragment.data(),
            fragment.more,
        );
        if !matches!(placed, Ok(Placed::Dropped)) {
            pending.fragments = pending.fragments.saturating_add(1);
        }
        let after = pending.footprint();
        let whole = pending.is_whole();
        self.buffered = self.buffered.saturating_sub(before).saturating_add(after);
        let l = &mut self.losses;
        match placed {
            Err(why) => {
                self.give_up(&slot, why);
                return None;
            }
            Ok(Placed::Dropped) => {
                l.lost_fragments = l.lost_fragments.saturating_add(1);
            }
            Ok(Placed::Duplicate { differs: true }) => {
                l.rewriting_fragments = l.rewriting_fragments.saturating_add(1);
            }
            Ok(_) => {}
        }
        if whole {
            let done = self.pending.remove(&slot)?;
            self.buffered = self.buffered.saturating_sub(done.footprint());
            if done.not_tcp {
                let l = &mut self.losses;
                l.not_tcp_fragments = l.not_tcp_fragments.saturating_add(done.fragments);
                return None;
            }
            self.remember(slot, done.held);
            return Some(Datagram {
                key: slot.key,
                facts,
                payload: done.payload(),
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

    /// Entries of the bookkeeping queues (ages, recent datagrams, sources), for tests of the
    /// bounds.
    pub fn tracked(&self) -> usize {
        self.ages
            .len()
            .saturating_add(self.recent_order.len())
            .saturating_add(self.sources.len())
    }

    /// The capture has ended: gives up the datagrams still incomplete and returns the tally.
    pub fn finish(&mut self) -> FragmentLosses {
        while self.give_up_oldest(GiveUp::Incomplete) {}
        self.ages.clear();
        self.losses
    }

    /// Counts a fragment from the key's source (IPv4 only); returns the count so far.
    fn count_source(&mut self, key: &FragmentKey) -> u64 {
        if !matches!(key.src, IpAddr::V4(_)) {
            return 0;
        }
        if self.sources.len() >= MAX_PEERS && !self.sources.contains_key(&key.src) {
            self.sources.clear();
        }
        let n = self.sources.entry(key.src).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// Remembers a datagram made whole, forgetting the oldest past [`MAX_RECENT`].
    fn remember(&mut self, slot: Slot, end: u32) {
        self.recent.insert(slot, (end, self.clock));
        self.recent_order.push_back((slot, self.clock));
        while self.recent_order.len() > MAX_RECENT {
            if let Some((old, at)) = self.recent_order.pop_front() {
                if self.recent.get(&old).is_some_and(|&(_, t)| t == at) {
                    self.recent.remove(&old);
                }
            }
        }
    }

    /// Drops the entries of `ages` whose datagram is gone, once they outnumber the live ones.
    fn compact_ages(&mut self) {
        if self.ages.len()
            > self
                .pending
                .len()
                .saturating_mul(2)
                .saturating_add(MAX_PENDING)
        {
            let pending = &self.pending;
            self.ages
                .retain(|(slot, serial)| pending.get(slot).is_some_and(|p| p.serial == *serial));
        }
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

    fn give_up(&mut self, slot: &Slot, why: GiveUp) {
        let Some(gone) = self.pending.remove(slot) else {
            return;
        };
        self.buffered = self.buffered.saturating_sub(gone.footprint());
        let l = &mut self.losses;
        if gone.not_tcp {
            l.not_tcp_fragments = l.not_tcp_fragments.saturating_add(gone.fragments);
            return;
        }
        if !matches!(why, GiveUp::Conflict) && gone.only_repeats() {
            l.duplicate_fragments = l.duplicate_fragments.saturating_add(gone.fragments);
            return;
        }
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
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        Fragment::new(key(id), offset, more, data)
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    /// Offers `frag` on the default interface at `ts` seconds.
    fn offer(d: &mut Defragmenter, f: &Fragment<'_>, ts: i64) -> Option<Datagram> {
        d.offer(f, LinkFacts::default(), 0, ts * SEC)
    }

    /// Offers the `(from, to, more)` ranges of `whole` in the order given, at time 0; returns
    /// the datagram.
    fn run(
        d: &mut Defragmenter,
        id: u32,
        whole: &[u8],
        order: &[(usize, usize, bool)],
    ) -> Option<Datagram> {
        let mut out = None;
        for &(from, to, more) in order {
            let got = offer(d, &frag(id, from as u32, more, &whole[from..to]), 0);
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
        // A repeated fragment changes nothing: the first bytes win; other bytes are counted.
        let mut d = Defragmenter::new();
        assert!(offer(&mut d, &frag(1, 0, true, &whole[..1480]), 0).is_none());
        assert!(offer(&mut d, &frag(1, 0, true, &whole[..1480]), 0).is_none());
        let other = bytes(1480, 99);
        assert!(offer(&mut d, &frag(1, 0, true, &other), 0).is_none());
        // A fragment over two held ones, all of it held: a duplicate too.
        assert!(offer(&mut d, &frag(1, 1480, true, &whole[1480..2960]), 0).is_none());
        assert!(offer(&mut d, &frag(1, 1472, true, &whole[1472..1488]), 0).is_none());
        let got = offer(&mut d, &frag(1, 2960, false, &whole[2960..]), 0).unwrap();
        assert_eq!(got.payload, whole);
        assert_eq!(got.fragments, 6);
        assert_eq!(d.losses().rewriting_fragments, 1);
        assert_eq!(d.losses().warnings().len(), 1);
    }

    #[test]
    fn a_fragment_repeated_after_its_datagram_was_whole_is_a_duplicate() {
        let whole = bytes(1600, 2);
        let mut d = Defragmenter::new();
        let cuts = [(0, 1480, true), (1480, 1600, false)];
        assert!(run(&mut d, 7, &whole, &cuts).is_some());
        // Both fragments again (the link repeated them): made whole again.
        assert!(run(&mut d, 7, &whole, &cuts).is_some());
        // The first fragment alone once more: a duplicate when given up, however many other
        // datagrams were made whole in between.
        assert!(run(&mut d, 7, &whole, &cuts[..1]).is_none());
        for id in 100..(100 + 2 * MAX_RECENT as u32) {
            assert!(run(&mut d, id, &whole, &cuts).is_some());
        }
        // A new datagram on another identification that never completes is a loss.
        assert!(run(&mut d, 8, &whole, &cuts[..1]).is_none());
        let l = d.finish();
        assert_eq!(
            l.reassembled_fragments, 0,
            "counted by decode, not by offer"
        );
        assert_eq!(l.duplicate_fragments, 1);
        assert_eq!((l.lost_fragments, l.incomplete), (1, 1));
        assert!(d.tracked() <= MAX_RECENT + 1);
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
        assert!(l.warnings()[0].contains("3 IP fragments"));
    }

    #[test]
    fn malformed_fragments_void_the_datagram() {
        let data = bytes(16, 0);
        let cases: [&[(u32, bool, usize)]; 4] = [
            &[(8, false, 8), (16, false, 8)], // two ends
            &[(16, false, 8), (32, true, 8)], // data past the end
            &[(65_512, false, 8)],            // past 65,535 bytes with the header
            &[(8, true, 0)],                  // empty
        ];
        for frags in cases {
            let mut d = Defragmenter::new();
            for &(offset, more, len) in frags {
                assert!(offer(&mut d, &frag(9, offset, more, &data[..len]), 0).is_none());
            }
            assert_eq!(d.losses().conflicting, 1, "{frags:?}");
        }
    }

    #[test]
    fn unaligned_fragments_are_cut_in_ipv4_and_dropped_in_ipv6() {
        let whole = bytes(40, 4);
        // IPv4: 12 bytes at 0 become 8; the datagram completes from 8 on.
        let mut d = Defragmenter::new();
        assert!(offer(&mut d, &frag(1, 0, true, &whole[..12]), 0).is_none());
        let got = offer(&mut d, &frag(1, 8, false, &whole[8..]), 0).unwrap();
        assert_eq!(got.payload, whole);
        // IPv6: the unaligned fragment alone is dropped.
        let v6 = FragmentKey {
            src: IpAddr::V6(Ipv6Addr::LOCALHOST),
            dst: IpAddr::V6(Ipv6Addr::LOCALHOST),
            ..key(1)
        };
        let mut d = Defragmenter::new();
        let f = |offset: u32, more, data| Fragment::new(v6, offset, more, data);
        assert!(offer(&mut d, &f(0, true, &whole[..12]), 0).is_none());
        assert!(offer(&mut d, &f(0, true, &whole[..8]), 0).is_none());
        let got = offer(&mut d, &f(8, false, &whole[8..]), 0).unwrap();
        assert_eq!((got.payload.as_slice(), got.fragments), (&whole[..], 2));
        assert_eq!(d.finish().lost_fragments, 1);
    }

    #[test]
    fn keys_and_interfaces_keep_datagrams_apart() {
        let whole = bytes(16, 3);
        let mut d = Defragmenter::new();
        let loopback = LinkFacts {
            loopback_if: true,
            if_index: Some(1),
        };
        assert!(offer(&mut d, &frag(1, 0, true, &whole[..8]), 0).is_none());
        assert!(offer(&mut d, &frag(2, 8, false, &whole[8..]), 0).is_none());
        assert!(d
            .offer(&frag(1, 8, false, &whole[8..]), loopback, 0, 0)
            .is_none());
        assert!(d
            .offer(&frag(1, 8, false, &whole[8..]), LinkFacts::default(), 3, 0)
            .is_none());
        let got = offer(&mut d, &frag(1, 8, false, &whole[8..]), 0).unwrap();
        assert_eq!((got.key.id, got.payload.as_slice()), (1, &whole[..]));
        assert_eq!(d.pending(), 3);
    }

    #[test]
    fn time_runs_out_after_thirty_seconds() {
        let whole = bytes(16, 3);
        let mut d = Defragmenter::new();
        // Datagram, seconds of its first and of its last fragment, made whole.
        for (id, first, last, made) in [(1, 1, 31, true), (2, 40, 71, false)] {
            let head = offer(&mut d, &frag(id, 0, true, &whole[..8]), first);
            assert!(head.is_none());
            let tail = offer(&mut d, &frag(id, 8, false, &whole[8..]), last);
            assert_eq!(tail.is_some(), made, "datagram {id}");
        }
        let l = d.finish();
        assert_eq!((l.incomplete, l.lost_fragments), (2, 2));
    }

    #[test]
    fn a_timestamp_far_ahead_does_not_stop_reassembly() {
        let whole = bytes(16, 3);
        let mut d = Defragmenter::new();
        assert!(d
            .offer(
                &frag(1, 0, true, &whole[..8]),
                LinkFacts::default(),
                0,
                i64::MAX / 2
            )
            .is_none());
        // Time goes back an hour, and on from there.
        for id in 2..200 {
            let ts = 3600 + i64::from(id);
            assert!(offer(&mut d, &frag(id, 0, true, &whole[..8]), ts).is_none());
            assert!(
                offer(&mut d, &frag(id, 8, false, &whole[8..]), ts).is_some(),
                "datagram {id}"
            );
        }
    }

    #[test]
    fn a_reused_identification_starts_anew_once_its_source_moved_on() {
        let old = bytes(16, 1);
        let new = bytes(16, 2);
        let mut d = Defragmenter::new();
        // Datagram 1 loses its last fragment.
        assert!(offer(&mut d, &frag(1, 0, true, &old[..8]), 0).is_none());
        // Its source sends 100 other datagrams, then reuses identification 1.
        for id in 2..102 {
            assert!(run(&mut d, id, &new, &[(0, 8, true), (8, 16, false)]).is_some());
        }
        assert!(offer(&mut d, &frag(1, 0, true, &new[..8]), 1).is_none());
        let got = offer(&mut d, &frag(1, 8, false, &new[8..]), 1).unwrap();
        assert_eq!(got.payload, new, "the old bytes stay out");
        assert_eq!(d.finish().lost_fragments, 1);
    }

    #[test]
    fn udp_without_a_tunnel_is_tracked_not_kept() {
        let dns = |port: u16| {
            let mut udp = vec![0xc0, 0x00];
            udp.extend_from_slice(&port.to_be_bytes());
            udp.extend_from_slice(&[0x05, 0xdc, 0, 0]);
            udp.resize(1500, 7);
            udp
        };
        let udp_key = |id| FragmentKey {
            protocol: UDP,
            ..key(id)
        };
        let mut d = Defragmenter::new();
        let data = dns(53);
        for (from, to, more) in [(0, 1480, true), (1480, 1500, false)] {
            let f = Fragment::new(udp_key(1), from as u32, more, &data[from..to]);
            assert!(offer(&mut d, &f, 0).is_none());
            assert!(d.buffered_bytes() < 1000);
        }
        // A lone first fragment of DNS: not TCP either.
        let f = Fragment::new(udp_key(2), 0, true, &data[..1480]);
        assert!(offer(&mut d, &f, 0).is_none());
        // VXLAN (its I flag set): kept.
        let mut data = dns(4789);
        data[8] = 0x08;
        let f = Fragment::new(udp_key(3), 0, true, &data[..1480]);
        assert!(offer(&mut d, &f, 0).is_none());
        assert!(d.buffered_bytes() >= 1480);
        let l = d.finish();
        assert_eq!((l.not_tcp_fragments, l.lost_fragments), (3, 1));
    }

    #[test]
    fn bounds_hold_against_a_flood() {
        let data = [0u8; 1480];
        let mut d = Defragmenter::new();
        // Many datagrams that never complete.
        for id in 0..(MAX_PENDING as u32 * 3) {
            assert!(offer(&mut d, &frag(id, 0, true, &data), 0).is_none());
            assert!(d.pending() <= MAX_PENDING);
            assert!(d.buffered_bytes() <= MAX_BUFFERED);
        }
        // One datagram of many tiny separate pieces.
        let mut d = Defragmenter::new();
        for i in 0..1000u32 {
            offer(&mut d, &frag(1, i * 16, true, &data[..8]), 0);
            assert!(d.pending() <= 1);
        }
        assert!(d.losses().evicted >= 1);
        // Tiny fragments far into their datagrams cost what they hold, not 64 KiB each.
        let mut d = Defragmenter::new();
        for id in 0..MAX_PENDING as u32 {
            offer(&mut d, &frag(id, 65_000, true, &data[..8]), 0);
        }
        assert!(
            d.buffered_bytes() < 256 * MAX_PENDING,
            "{}",
            d.buffered_bytes()
        );
        // One lost fragment, then many datagrams made whole: the queues stay bounded.
        let mut d = Defragmenter::new();
        assert!(offer(&mut d, &frag(0, 0, true, &data[..8]), 0).is_none());
        for id in 1..20_000u32 {
            run(&mut d, id, &data, &[(0, 8, true), (8, 16, false)]);
        }
        assert!(
            d.tracked() <= 3 * MAX_PENDING + MAX_RECENT,
            "{}",
            d.tracked()
        );
        let l = d.finish();
        assert_eq!(l.lost_fragments, 1);
        assert_eq!(d.buffered_bytes(), 0);
    }
}
