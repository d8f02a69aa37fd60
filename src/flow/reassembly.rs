//! Reassembly of one direction's byte stream into a bounded prefix ([`Direction::stream`]).
//!
//! Positions are sequence offsets from `base` (the sequence number of stream byte 0: the SYN's
//! sequence number + 1, or the first data segment's sequence number when no SYN was seen), as
//! `u64`, computed from the 32-bit sequence numbers with wrapping arithmetic relative to the next
//! expected byte, so the stream may cross 2^32 freely.
//!
//! Rules, all chosen so that the result depends only on the segments, never on the caller:
//! - In-order data is appended; the first-received bytes win everywhere: bytes below the next
//!   expected position are dropped, and out-of-order data is clipped against what is already held.
//! - Out-of-order data is held (sorted, non-overlapping) until the missing bytes arrive. Only data
//!   that could still land in the prefix is held: at most the room left in the prefix, counted
//!   from the next expected position, and at most [`MAX_HELD_SEGMENTS`] pieces. Data beyond that
//!   window is only counted (and marks the prefix as overflowing).
//! - A missing segment becomes a hole when the held data cannot wait any longer: when the piece
//!   limit is reached, and when the flow is finished. The hole's stream offset goes to `holes`,
//!   `gaps` is incremented, and the stream continues with the held bytes after it.
//! - Bytes the snaplen cut off (`payload_missing`) are a hole as soon as they are reached (they
//!   will never be captured), counted in `bytes_not_captured` but not in `gaps`.
//! - A direction without SYN starts at its first data segment. A later segment that ends at or
//!   after that start but begins before it is *prepended* (the stream, frames and holes shift),
//!   within the prefix budget and never before a SYN's sequence number; bytes wholly before the
//!   start are dropped (counted as out of order).
//! - Once the prefix is full only counters change.

use super::framing::Framing;
use super::seq::SeqTracker;
use super::{Alternate, Direction, MAX_ALTERNATES, MAX_ALTERNATE_BYTES};

/// Out-of-order pieces held per direction before the earliest missing segment is given up.
pub(crate) const MAX_HELD_SEGMENTS: usize = 256;

/// Longest segment accepted (larger lengths from hostile headers are clamped).
const MAX_SEGMENT: usize = 1 << 24;

/// Smallest first allocation of a stream buffer.
const MIN_RESERVE: usize = 4096;

/// Out-of-order data waiting for the bytes before it.
#[derive(Debug, Clone)]
struct Held {
    pos: u64,
    frame: u64,
    data: Vec<u8>,
    /// Bytes after `data` that were on the wire but not captured.
    missing: u64,
    /// Later segments' other bytes for parts of `data`: `(pos, bytes, frame)`.
    alternates: Vec<(u64, Vec<u8>, u64)>,
    /// Later segments' other bytes that the alternate budget could not keep.
    unread: u32,
}

impl Held {
    fn end(&self) -> u64 {
        self.pos + self.data.len() as u64 + self.missing
    }
}

/// A piece of a segment: `data` at `pos`, followed by `missing` uncaptured bytes.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    pos: u64,
    data: &'a [u8],
    missing: u64,
}

impl<'a> Piece<'a> {
    fn end(&self) -> u64 {
        self.pos + self.data.len() as u64 + self.missing
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.missing == 0
    }

    /// The part at or after `from`.
    fn after(self, from: u64) -> Piece<'a> {
        if from <= self.pos {
            return self;
        }
        let cut = from - self.pos;
        let len = self.data.len() as u64;
        if cut <= len {
            Piece {
                pos: from,
                data: self.data.get(cut as usize..).unwrap_or_default(),
                missing: self.missing,
            }
        } else {
            Piece {
                pos: from,
                data: &[],
                missing: self.missing.saturating_sub(cut - len),
            }
        }
    }

    /// The part before `to`.
    fn before(self, to: u64) -> Piece<'a> {
        if to >= self.end() {
            return self;
        }
        let keep = to.saturating_sub(self.pos);
        let len = self.data.len() as u64;
        if keep <= len {
            Piece {
                pos: self.pos,
                data: self.data.get(..keep as usize).unwrap_or_default(),
                missing: 0,
            }
        } else {
            Piece {
                pos: self.pos,
                data: self.data,
                missing: keep - len,
            }
        }
    }
}

/// Reassembly state of one direction (the public results live in [`Direction`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reassembler {
    started: bool,
    /// Sequence number of this direction's first SYN.
    isn: Option<u32>,
    /// Sequence number of stream position 0.
    base: u32,
    /// Position of the next byte to append.
    exp_pos: u64,
    /// The prefix is complete: only counters change from now on.
    full: bool,
    /// Data beyond the holding window was dropped.
    overflow: bool,
    held: Vec<Held>,
    seen: SeqTracker,
    /// Where the stream went on after each hole, as `(position, stream offset)` (the first run
    /// starts at `(0, 0)`). A position maps to an offset in the run it falls in, up to where
    /// the next run's offset begins.
    jumps: Vec<(u64, u32)>,
    /// Alternate copies kept so far (held with out-of-order data, or recorded): at most
    /// [`MAX_ALTERNATES`] per direction.
    alternates_kept: usize,
    /// TLS record framing over the stream's bytes, past the prefix too.
    framing: Framing,
}

impl Reassembler {
    /// The prefix is complete: only counters change.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Run `i` of the stream held in order, as `(position, stream offset)`: the stream's start,
    /// then where it went on after each hole.
    fn run(&self, i: usize) -> Option<(u64, u32)> {
        match i.checked_sub(1) {
            None => Some((0, 0)),
            Some(j) => self.jumps.get(j).copied(),
        }
    }

    /// The runs of the stream held in order that overlap positions `from..to`, each as
    /// `(first position, stream offset of it, positions in the run from there)`.
    fn runs(
        &self,
        from: u64,
        to: u64,
        stream_len: usize,
    ) -> impl Iterator<Item = (u64, usize, u64)> + '_ {
        let first = self.jumps.partition_point(|&(p, _)| p <= from);
        let to = to.min(self.exp_pos);
        (first..=self.jumps.len())
            .map_while(move |i| {
                let (pos, off) = self.run(i)?;
                let end_off = self
                    .run(i + 1)
                    .map_or(stream_len, |(_, next)| next as usize);
                let len = end_off.saturating_sub(off as usize) as u64;
                (pos < to).then_some((pos, off as usize, len))
            })
            .filter_map(move |(pos, off, len)| {
                let start = from.max(pos);
                let end = to.min(pos + len);
                let skip = usize::try_from(start - pos).ok()?;
                (start < end).then(|| (start, off + skip, end - start))
            })
    }

    /// Compares the part of `piece` below the next expected position with the bytes the stream
    /// kept there, and records a conflict where they differ.
    fn compare_kept(&mut self, piece: Piece<'_>, frame: u64, dir: &mut Direction) {
        let data_end = piece.pos + piece.data.len() as u64;
        let differing: Vec<(usize, &[u8])> = self
            .runs(piece.pos, data_end, dir.stream.len())
            .filter_map(|(pos, off, n)| {
                let skip = usize::try_from(pos - piece.pos).ok()?;
                let n = usize::try_from(n).ok()?;
                let theirs = piece.data.get(skip..)?.get(..n)?;
                let ours = dir.stream.get(off..)?.get(..n)?;
                (theirs != ours).then_some((off, theirs))
            })
            .collect();
        for (off, theirs) in differing {
            let kept_frame = dir.frame_at(off);
            self.record_conflict(dir, off, theirs, frame, kept_frame);
        }
    }

    /// Records a later segment's other `bytes` for the stream at `offset`, within the budget of
    /// kept alternates; what it cannot keep is counted as unread.
    fn record_conflict(
        &mut self,
        dir: &mut Direction,
        offset: usize,
        bytes: &[u8],
        frame: u64,
        kept: Option<u64>,
    ) {
        let anomalies = dir.anomalies.get_or_insert_with(Box::default);
        anomalies.conflicts = anomalies.conflicts.saturating_add(1);
        match u32::try_from(offset) {
            Ok(offset) if self.alternates_kept < MAX_ALTERNATES => {
                self.alternates_kept += 1;
                if bytes.len() > MAX_ALTERNATE_BYTES {
                    anomalies.unread = anomalies.unread.saturating_add(1);
                }
                anomalies.alternates.push(Alternate {
                    offset,
                    bytes: bytes.get(..MAX_ALTERNATE_BYTES).unwrap_or(bytes).into(),
                    frame,
                    kept_frame: kept,
                });
            }
            _ => anomalies.unread = anomalies.unread.saturating_add(1),
        }
    }

    /// Sequence number of this direction's first SYN (or SYN-ACK).
    pub(crate) fn isn(&self) -> Option<u32> {
        self.isn
    }

    /// Bytes of out-of-order data held (allocated), for the table's memory accounting.
    pub(crate) fn held_bytes(&self) -> usize {
        let alternates = |h: &Held| {
            h.alternates
                .iter()
                .map(|a| a.1.capacity())
                .fold(h.alternates.capacity() * 40, usize::saturating_add)
        };
        self.held
            .iter()
            .map(|h| h.data.capacity().saturating_add(alternates(h)))
            .fold(
                (self.held.capacity() * std::mem::size_of::<Held>())
                    .saturating_add(self.jumps.capacity() * 16),
                usize::saturating_add,
            )
    }

    fn exp_seq(&self) -> u32 {
        self.base.wrapping_add(self.exp_pos as u32)
    }

    /// Position of `seq`, relative to the next expected byte (may be negative: before the base).
    fn pos_of(&self, seq: u32) -> i64 {
        self.exp_pos as i64 + i64::from(seq.wrapping_sub(self.exp_seq()) as i32)
    }

    fn start(&mut self, base: u32, fixed: bool, cap: usize) {
        self.started = true;
        self.base = base;
        self.exp_pos = 0;
        self.jumps.clear();
        self.seen.start(base, fixed);
        self.full = cap == 0;
    }

    /// A SYN (or SYN-ACK) with sequence number `seq` was sent in this direction.
    pub(crate) fn syn(&mut self, seq: u32, cap: usize) {
        if self.isn.is_none() {
            self.isn = Some(seq);
        }
        if !self.started {
            self.start(seq.wrapping_add(1), true, cap);
            self.framing.start();
        }
    }

    /// A segment with `payload` captured at `seq` (the SYN's sequence number already skipped),
    /// followed by `missing` bytes the snaplen cut off, from frame `frame`.
    pub(crate) fn data(
        &mut self,
        seq: u32,
        payload: &[u8],
        missing: u32,
        frame: u64,
        dir: &mut Direction,
        cap: usize,
    ) {
        let payload = payload.get(..MAX_SEGMENT).unwrap_or(payload);
        let p_len = payload.len() as u32;
        let missing = missing.min(MAX_SEGMENT as u32 - p_len);
        if !self.started {
            self.start(seq, false, cap);
        }
        let got = self.seen.add(seq, p_len);
        let mut new = got.new;
        let mut before_high = got.before_high;
        if missing > 0 {
            let lost = self.seen.add(seq.wrapping_add(p_len), missing);
            new += lost.new;
            dir.bytes_not_captured += u64::from(lost.new);
            if p_len == 0 {
                before_high = lost.before_high;
            }
        }
        dir.payload_bytes += u64::from(new);
        if new < p_len + missing {
            dir.retransmitted += 1;
        }
        if new > 0 && before_high {
            dir.out_of_order += 1;
        }
        if new < p_len {
            // Some of these bytes were seen before: they must be the same.
            let pos = self.pos_of(seq);
            if let Ok(pos) = u64::try_from(pos) {
                let piece = Piece {
                    pos,
                    data: payload,
                    missing: 0,
                };
                self.compare_kept(piece, frame, dir);
            }
        }
        if self.full {
            if new > 0 {
                dir.prefix_full = true;
            }
            self.follow_tail(seq, payload, frame, dir, cap);
            return;
        }
        self.place(seq, payload, u64::from(missing), frame, dir, cap);
    }

    fn place(
        &mut self,
        seq: u32,
        payload: &[u8],
        missing: u64,
        frame: u64,
        dir: &mut Direction,
        cap: usize,
    ) {
        let mut pos = self.pos_of(seq);
        let (mut data, mut missing) = (payload, missing);
        if pos < 0 {
            // Bytes before a SYN's first byte never belong to the stream.
            let floor = self.prepend_floor();
            if pos < floor {
                (data, missing) = cut_front(data, missing, floor.abs_diff(pos));
                pos = floor;
            }
        }
        if pos < 0 {
            let before = pos.unsigned_abs();
            match usize::try_from(before).ok().filter(|&b| b <= data.len()) {
                Some(before) => {
                    let (head, rest) = data.split_at(before);
                    self.prepend(head, frame, dir, cap);
                    if self.full {
                        return;
                    }
                    // Positions moved: the rest now starts right after the prepended head.
                    (data, pos) = (rest, before as i64);
                }
                None => {
                    (data, missing) = cut_front(data, missing, before);
                    pos = 0;
                }
            }
        }
        let mut piece = Piece {
            pos: pos.unsigned_abs(),
            data,
            missing,
        };
        loop {
            piece = piece.after(self.exp_pos);
            if piece.is_empty() {
                return;
            }
            if piece.pos == self.exp_pos {
                self.append_piece(piece, frame, dir, cap);
                self.drain_held(dir, cap);
                return;
            }
            let room = cap.saturating_sub(dir.stream.len()) as u64;
            let limit = self.exp_pos + room;
            if piece.end() > limit {
                self.overflow = true;
                piece = piece.before(limit);
                if piece.is_empty() {
                    return;
                }
            }
            if self.hold(piece, frame) {
                return;
            }
            // Too many pieces held: give up the earliest missing bytes and try again.
            let target = self
                .held
                .first()
                .map_or(piece.pos, |h| h.pos.min(piece.pos));
            self.skip_to(target, dir, cap);
            if self.full {
                return;
            }
        }
    }

    /// The lowest position a segment may be prepended from: the SYN's first byte if a SYN
    /// was seen (never above 0), unbounded otherwise.
    fn prepend_floor(&self) -> i64 {
        match self.isn {
            None => i64::MIN,
            Some(isn) => self.pos_of(isn.wrapping_add(1)).min(0),
        }
    }

    /// Puts `head` (the bytes just before the stream's start) in front of the stream.
    fn prepend(&mut self, head: &[u8], frame: u64, dir: &mut Direction, cap: usize) {
        let k = head.len();
        if k == 0 {
            return;
        }
        self.framing.stop();
        let used = k.min(cap);
        let keep_old = dir.stream.len().min(cap - used);
        let truncated = keep_old < dir.stream.len() || used < k;
        dir.stream.truncate(keep_old);
        dir.stream.splice(0..0, head.iter().take(used).copied());
        let shift = used as u32;
        let new_len = dir.stream.len() as u32;
        dir.frames.retain(|&(o, _)| (o as usize) < keep_old);
        for f in &mut dir.frames {
            f.0 += shift;
        }
        dir.frames.insert(0, (0, frame));
        for h in &mut dir.holes {
            *h += shift;
        }
        dir.holes
            .retain(|&h| if truncated { h < new_len } else { h <= new_len });
        self.base = self.base.wrapping_sub(used as u32);
        self.exp_pos += used as u64;
        for h in &mut self.held {
            h.pos += used as u64;
            for a in &mut h.alternates {
                a.0 += used as u64;
            }
        }
        // The head joins the first run; the later runs move.
        for j in &mut self.jumps {
            j.0 += used as u64;
            j.1 = j.1.saturating_add(shift);
        }
        self.jumps.retain(|&(_, off)| off < new_len);
        if let Some(anomalies) = dir.anomalies.as_deref_mut() {
            for a in &mut anomalies.alternates {
                a.offset = a.offset.saturating_add(shift);
            }
        }
        if truncated {
            self.set_full(dir, true);
        } else if dir.stream.len() >= cap {
            self.set_full(dir, false);
        }
    }

    /// Appends an in-order piece (its `pos` is the next expected position).
    fn append_piece(&mut self, piece: Piece<'_>, frame: u64, dir: &mut Direction, cap: usize) {
        let room = cap.saturating_sub(dir.stream.len());
        let n = piece.data.len().min(room);
        if n > 0 {
            let need = dir.stream.len() + n;
            if need > dir.stream.capacity() {
                let target = need
                    .max(dir.stream.capacity().saturating_mul(2))
                    .max(MIN_RESERVE)
                    .min(cap.max(need));
                dir.stream.reserve_exact(target - dir.stream.len());
            }
            if dir.frames.last().map(|&(_, f)| f) != Some(frame) {
                dir.frames.push((dir.stream.len() as u32, frame));
            }
            dir.stream
                .extend_from_slice(piece.data.get(..n).unwrap_or_default());
            self.exp_pos += n as u64;
        }
        // The whole piece is in order: its framing is followed, past the prefix too.
        self.feed_framing(piece.pos, piece.data, frame, dir, cap);
        if n < piece.data.len() {
            self.set_full(dir, true);
            return;
        }
        if piece.missing > 0 {
            push_hole(dir);
            self.exp_pos += piece.missing;
            self.jump_to(dir);
        }
        if dir.stream.len() >= cap {
            self.set_full(dir, false);
        }
    }

    /// Feeds the bytes at `pos` to the framing follower. What ends it where the classifier
    /// does not read (past the prefix, or past its first hole) is kept.
    fn feed_framing(
        &mut self,
        pos: u64,
        bytes: &[u8],
        frame: u64,
        dir: &mut Direction,
        cap: usize,
    ) {
        let unread_from = self
            .jumps
            .first()
            .map_or(cap as u64, |&(_, off)| u64::from(off).min(cap as u64));
        self.framing
            .feed(pos, bytes, frame, unread_from, &mut dir.framing_end);
    }

    /// A segment past the full prefix: its bytes go on feeding the framing follower.
    fn follow_tail(
        &mut self,
        seq: u32,
        payload: &[u8],
        frame: u64,
        dir: &mut Direction,
        cap: usize,
    ) {
        if let Ok(pos) = u64::try_from(self.pos_of(seq)) {
            self.feed_framing(pos, payload, frame, dir, cap);
        }
    }

    /// The stream goes on after a hole: positions from here map to offsets from here.
    fn jump_to(&mut self, dir: &Direction) {
        let off = u32::try_from(dir.stream.len()).unwrap_or(u32::MAX);
        match self.jumps.last_mut() {
            // Nothing was appended since the last jump: it moves.
            Some(last) if last.1 == off => last.0 = self.exp_pos,
            _ => self.jumps.push((self.exp_pos, off)),
        }
    }

    /// Appends the held pieces that have become contiguous.
    fn drain_held(&mut self, dir: &mut Direction, cap: usize) {
        while !self.full {
            match self.held.first() {
                Some(h) if h.pos <= self.exp_pos => {}
                _ => return,
            }
            let h = self.held.remove(0);
            let whole = Piece {
                pos: h.pos,
                data: &h.data,
                missing: h.missing,
            };
            // In-order data that came later covered the start of this piece: compare.
            self.compare_kept(whole, h.frame, dir);
            let piece = whole.after(self.exp_pos);
            if !piece.is_empty() {
                let at = dir.stream.len();
                self.append_piece(piece, h.frame, dir, cap);
                // Their budget was taken when they were held.
                self.alternates_kept = self.alternates_kept.saturating_sub(h.alternates.len());
                for (pos, bytes, frame) in &h.alternates {
                    if let Some(off) = pos
                        .checked_sub(piece.pos)
                        .and_then(|rel| usize::try_from(rel).ok())
                        .map(|rel| at + rel)
                        .filter(|&off| off < dir.stream.len())
                    {
                        self.record_conflict(dir, off, bytes, *frame, Some(h.frame));
                    }
                }
                if h.unread > 0 {
                    let a = dir.anomalies.get_or_insert_with(Box::default);
                    a.conflicts = a.conflicts.saturating_add(h.unread);
                    a.unread = a.unread.saturating_add(h.unread);
                }
            }
        }
    }

    /// Inserts `piece` (after the next expected position, inside the window) into the held
    /// pieces, keeping the bytes already held where they overlap. Returns `false`, holding
    /// nothing, when that would exceed [`MAX_HELD_SEGMENTS`].
    fn hold(&mut self, piece: Piece<'_>, frame: u64) -> bool {
        let first = self.held.partition_point(|h| h.end() <= piece.pos);
        let mut uncovered: Vec<(usize, Piece<'_>)> = Vec::new();
        let mut cursor = piece.pos;
        let mut idx = first;
        while let Some(h) = self.held.get_mut(idx) {
            if h.pos >= piece.end() {
                break;
            }
            note_held_conflict(h, piece, frame, &mut self.alternates_kept);
            let h = &*h;
            if h.pos > cursor {
                uncovered.push((idx, piece.after(cursor).before(h.pos)));
            }
            cursor = cursor.max(h.end());
            idx += 1;
        }
        if cursor < piece.end() {
            uncovered.push((idx, piece.after(cursor)));
        }
        uncovered.retain(|(_, p)| !p.is_empty());
        if self.held.len() + uncovered.len() > MAX_HELD_SEGMENTS {
            return false;
        }
        for (at, p) in uncovered.into_iter().rev() {
            self.held.insert(
                at,
                Held {
                    pos: p.pos,
                    frame,
                    data: p.data.to_vec(),
                    missing: p.missing,
                    alternates: Vec::new(),
                    unread: 0,
                },
            );
        }
        true
    }

    /// Gives up the bytes missing before position `target`: records a hole and continues the
    /// stream with the held data from there.
    fn skip_to(&mut self, target: u64, dir: &mut Direction, cap: usize) {
        if target > self.exp_pos {
            push_hole(dir);
            dir.gaps = dir.gaps.saturating_add(1);
            self.exp_pos = target;
            self.jump_to(dir);
        }
        self.drain_held(dir, cap);
    }

    /// Marks the prefix complete and frees the held data. `beyond` says bytes past the prefix
    /// are already known to exist.
    fn set_full(&mut self, dir: &mut Direction, beyond: bool) {
        let more_seen = self.seen.high().wrapping_sub(self.exp_seq()) as i32 > 0;
        if beyond || more_seen || self.overflow || !self.held.is_empty() {
            dir.prefix_full = true;
        }
        self.full = true;
        self.drop_held();
    }

    /// Frees the held data, and the alternate budget its copies took.
    fn drop_held(&mut self) {
        let copies: usize = self.held.iter().map(|h| h.alternates.len()).sum();
        self.alternates_kept = self.alternates_kept.saturating_sub(copies);
        self.held = Vec::new();
    }

    /// Ends reassembly: held data is placed after holes, and gaps past the prefix are counted.
    pub(crate) fn finish(&mut self, dir: &mut Direction, cap: usize) {
        while let (false, Some(first)) = (self.full, self.held.first()) {
            self.skip_to(first.pos, dir, cap);
        }
        self.drop_held();
        if self.overflow {
            dir.prefix_full = true;
        }
        if self.started {
            let exp = self.exp_seq();
            let beyond = self
                .seen
                .open_gaps()
                .filter(|&(s, _)| s.wrapping_sub(exp) as i32 >= 0)
                .count();
            dir.gaps = dir.gaps.saturating_add(beyond as u32);
        }
    }
}

/// Keeps, with held piece `h`, the bytes of `piece` that overlap it with other values, within
/// the direction's budget of `kept` alternates; what it cannot keep is counted as unread.
fn note_held_conflict(h: &mut Held, piece: Piece<'_>, frame: u64, kept: &mut usize) {
    let from = piece.pos.max(h.pos);
    let to = (piece.pos + piece.data.len() as u64).min(h.pos + h.data.len() as u64);
    if from >= to {
        return;
    }
    let (Ok(a), Ok(b), Ok(n)) = (
        usize::try_from(from - piece.pos),
        usize::try_from(from - h.pos),
        usize::try_from(to - from),
    ) else {
        return;
    };
    let theirs = piece.data.get(a..).and_then(|d| d.get(..n));
    let ours = h.data.get(b..).and_then(|d| d.get(..n));
    if let (Some(theirs), Some(ours)) = (theirs, ours) {
        if theirs == ours {
            return;
        }
        if *kept >= MAX_ALTERNATES {
            h.unread = h.unread.saturating_add(1);
            return;
        }
        *kept += 1;
        if theirs.len() > MAX_ALTERNATE_BYTES {
            h.unread = h.unread.saturating_add(1);
        }
        let cut = theirs.get(..MAX_ALTERNATE_BYTES).unwrap_or(theirs);
        h.alternates.push((from, cut.to_vec(), frame));
    }
}

/// `data` followed by `missing` uncaptured bytes, without their first `n` bytes.
fn cut_front(data: &[u8], missing: u64, n: u64) -> (&[u8], u64) {
    match usize::try_from(n).ok().and_then(|n| data.get(n..)) {
        Some(rest) => (rest, missing),
        None => (
            &[],
            missing.saturating_sub(n.saturating_sub(data.len() as u64)),
        ),
    }
}

/// Records a hole at the current end of the stream (once per offset).
fn push_hole(dir: &mut Direction) {
    let at = dir.stream.len() as u32;
    if dir.holes.last() != Some(&at) {
        dir.holes.push(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FramingEnd;

    /// A direction fed segment by segment, as frames 1, 2, …
    struct Feed {
        rx: Reassembler,
        dir: Direction,
        cap: usize,
        frame: u64,
    }

    impl Feed {
        fn new(cap: usize) -> Feed {
            Feed {
                rx: Reassembler::default(),
                dir: Direction::default(),
                cap,
                frame: 0,
            }
        }

        fn syn(&mut self, seq: u32) -> &mut Feed {
            self.frame += 1;
            self.rx.syn(seq, self.cap);
            self
        }

        fn data(&mut self, seq: u32, bytes: &[u8]) -> &mut Feed {
            self.cut(seq, bytes, 0)
        }

        fn cut(&mut self, seq: u32, bytes: &[u8], missing: u32) -> &mut Feed {
            self.frame += 1;
            self.rx
                .data(seq, bytes, missing, self.frame, &mut self.dir, self.cap);
            self
        }

        fn finish(&mut self) -> &Direction {
            self.rx.finish(&mut self.dir, self.cap);
            &self.dir
        }
    }

    #[test]
    fn too_many_held_pieces_give_up_the_first_gap() {
        let mut f = Feed::new(10_000);
        f.syn(0);
        // Pieces at positions 2, 4, 6, …: each waits for the byte before it.
        for i in 0..=MAX_HELD_SEGMENTS as u32 {
            f.data(3 + 2 * i, &[i as u8]);
        }
        assert_eq!(f.dir.stream, vec![0u8]);
        assert_eq!(f.dir.holes, vec![0]);
        assert_eq!(f.dir.gaps, 1);
        assert_eq!(f.rx.held.len(), MAX_HELD_SEGMENTS);
        // The byte before the next piece arrives: the two are appended.
        f.data(4, b"X");
        assert_eq!(f.dir.stream, b"\x00X\x01");
        let d = f.finish();
        assert_eq!(d.gaps, 1 + MAX_HELD_SEGMENTS as u32 - 1);
        assert_eq!(d.stream.len(), 2 + MAX_HELD_SEGMENTS);
    }

    #[test]
    fn data_beyond_the_window_is_counted_not_held() {
        let mut f = Feed::new(10);
        f.syn(0);
        f.data(21, b"abc");
        assert!(f.rx.held.is_empty());
        f.data(1, b"0123");
        let d = f.finish();
        assert_eq!(d.stream, b"0123");
        assert!(d.prefix_full);
        assert!(d.holes.is_empty());
        assert_eq!(d.gaps, 1);
        assert_eq!(d.payload_bytes, 7);
    }

    #[test]
    fn window_clips_a_piece_that_straddles_it() {
        let mut f = Feed::new(6);
        f.syn(0);
        f.data(4, b"defgh");
        assert_eq!(
            f.rx.held.first().map(|h| h.data.clone()),
            Some(b"def".to_vec())
        );
        f.data(1, b"abc");
        assert_eq!(f.dir.stream, b"abcdef");
        assert!(f.dir.prefix_full);
        assert!(f.rx.full);
    }

    #[test]
    fn prepend_past_the_budget_truncates_the_tail() {
        let mut f = Feed::new(8);
        f.data(100, b"ghij");
        f.data(94, b"abcdefgh");
        let d = f.finish();
        assert_eq!(d.stream, b"abcdefgh");
        assert!(d.prefix_full);
        assert_eq!(d.frames, vec![(0, 2), (6, 1)]);
        assert_eq!((d.out_of_order, d.retransmitted), (1, 1));
        assert_eq!(d.payload_bytes, 10);
    }

    #[test]
    fn prepend_within_budget_shifts_frames_and_holes() {
        let mut f = Feed::new(100);
        f.data(100, b"gh");
        f.cut(102, b"i", 2);
        f.data(105, b"l");
        f.data(96, b"cdef");
        let d = f.finish();
        assert_eq!(d.stream, b"cdefghil");
        assert_eq!(d.holes, vec![7]);
        assert_eq!(d.frames, vec![(0, 4), (4, 1), (6, 2), (7, 3)]);
        assert_eq!(d.bytes_not_captured, 2);
        assert!(!d.prefix_full);
    }

    #[test]
    fn late_syn_bounds_prepending() {
        let mut f = Feed::new(100);
        f.data(100, b"cd");
        f.syn(97);
        f.data(96, b"xyab");
        let d = f.finish();
        assert_eq!(d.stream, b"abcd");
        assert_eq!(d.frames, vec![(0, 3), (2, 1)]);
    }

    #[test]
    fn nothing_prepends_before_a_syn() {
        let mut f = Feed::new(100);
        f.syn(99);
        f.data(100, b"cd");
        f.data(98, b"ab");
        assert_eq!(f.finish().stream, b"cd");
    }

    #[test]
    fn held_piece_with_cut_tail_leaves_a_hole() {
        let mut f = Feed::new(100);
        f.syn(0);
        f.cut(5, b"ef", 2);
        f.data(1, b"abcd");
        f.data(9, b"ij");
        let d = f.finish();
        assert_eq!(d.stream, b"abcdefij");
        assert_eq!(d.holes, vec![6]);
        assert_eq!(d.gaps, 0);
        assert_eq!(d.bytes_not_captured, 2);
        assert_eq!(d.payload_bytes, 10);
    }

    #[test]
    fn fully_cut_segments_record_one_hole_per_offset() {
        let mut f = Feed::new(100);
        f.syn(0);
        f.cut(1, b"", 10);
        f.cut(11, b"", 10);
        f.data(21, b"z");
        let d = f.finish();
        assert_eq!(d.stream, b"z");
        assert_eq!(d.holes, vec![0]);
        assert_eq!(d.frames, vec![(0, 4)]);
        assert!(d.contiguous().is_empty());
        assert_eq!(d.bytes_not_captured, 20);
    }

    #[test]
    fn syn_retransmission_does_not_move_the_start() {
        let mut f = Feed::new(100);
        f.syn(10);
        f.data(11, b"ab");
        f.syn(500);
        f.data(13, b"c");
        assert_eq!(f.rx.isn(), Some(10));
        assert_eq!(f.finish().stream, b"abc");
    }

    #[test]
    fn bytes_before_a_hole_are_compared_too() {
        let mut f = Feed::new(10_000);
        f.syn(0);
        f.data(1, b"hello");
        f.cut(6, b"", 4); // 4 bytes the snaplen cut off: a hole
        f.data(10, b"world");
        assert_eq!(f.dir.holes, vec![5]);
        // a copy of the first bytes with others, and one across the hole
        f.data(1, b"HELLO");
        f.data(8, b"xxWORLD");
        let a = f.dir.anomalies.as_deref().expect("conflicts");
        assert_eq!(a.conflicts, 2);
        let got: Vec<(u32, &[u8])> = a
            .alternates
            .iter()
            .map(|x| (x.offset, &x.bytes[..]))
            .collect();
        assert_eq!(got, vec![(0, &b"HELLO"[..]), (5, &b"WORLD"[..])]);
        assert_eq!(a.unread, 0);
        // the same bytes again: nothing new
        f.data(1, b"hello");
        f.data(10, b"world");
        assert_eq!(f.dir.anomalies.as_deref().unwrap().conflicts, 2);
    }

    #[test]
    fn conflicting_copies_beyond_the_budget_are_counted_unread() {
        let mut f = Feed::new(100_000);
        f.syn(0);
        // held out of order: each copy conflicts with a held piece
        f.data(101, &[b'a'; 100]);
        for i in 0..(MAX_ALTERNATES as u8) {
            f.data(101, &[i; 100]);
        }
        // and recorded ones once in order, and one longer than an alternate keeps
        f.data(1, &[b'b'; 100]);
        f.data(1, &[b'c'; 100]);
        let long = vec![b'z'; MAX_ALTERNATE_BYTES + 1];
        f.data(201, &long);
        f.data(201, &vec![b'y'; MAX_ALTERNATE_BYTES + 1]);
        let a = f.dir.anomalies.as_deref().expect("conflicts");
        assert_eq!(a.alternates.len(), MAX_ALTERNATES);
        assert_eq!(a.conflicts, MAX_ALTERNATES as u32 + 2);
        assert_eq!(a.unread, 2);
        assert!(f.rx.held_bytes() < 16 * 1024);
    }

    fn record(body: usize) -> Vec<u8> {
        let mut r = vec![23, 3, 3];
        r.extend_from_slice(&(body as u16).to_be_bytes());
        r.extend(std::iter::repeat_n(0xab, body));
        r
    }

    #[test]
    fn records_are_followed_past_a_prefix_filled_exactly_and_past_holes() {
        // the prefix (1000 bytes) fills at a segment's end; cleartext comes later
        let mut f = Feed::new(1000);
        f.syn(0);
        f.data(1, &record(995));
        f.data(1001, &record(100));
        f.data(1106, b"GET /secret HTTP/1.1\r\n\r\n");
        assert!(f.rx.is_full());
        let Some(FramingEnd::Break {
            position,
            sample,
            frame,
        }) = f.dir.framing_end.as_deref()
        else {
            panic!("{:?}", f.dir.framing_end);
        };
        assert_eq!((*position, *frame), (1105, 4));
        assert!(sample.starts_with(b"GET /secret"));

        // a hole inside the prefix (a record body the snaplen cut): followed on, and the break
        // after it is reported, for the classifier reads only up to the hole
        let mut f = Feed::new(10_000);
        f.syn(0);
        f.cut(1, &record(200)[..100], 105);
        f.data(206, b"GET /secret HTTP/1.1\r\n\r\n");
        assert!(!f.rx.is_full());
        assert!(matches!(
            f.dir.framing_end.as_deref(),
            Some(FramingEnd::Break { position: 205, .. })
        ));

        // a record header the capture lost, past the prefix: said, not guessed
        let mut f = Feed::new(1000);
        f.syn(0);
        f.data(1, &record(995));
        f.data(1001 + 100, b"GET /secret HTTP/1.1\r\n\r\n");
        assert_eq!(
            f.dir.framing_end.as_deref(),
            Some(&FramingEnd::Lost {
                position: 1000,
                frame: 3
            })
        );
    }
}
