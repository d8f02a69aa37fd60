//! Which sequence numbers of one direction have been seen, over the whole stream (not only the
//! buffered prefix), in bounded space: a seen range `[low, high)` with at most [`MAX_GAPS`] open
//! gaps inside it. Used to count each payload byte once and to tell retransmissions from
//! out-of-order arrivals.
//!
//! All comparisons use wrapping 32-bit arithmetic; positions are kept relative to `low`, which
//! slides forward on long streams so that `high - low` stays far below 2^31.

/// Open gaps tracked at once. When a further gap opens, the lowest one is forgotten (its bytes
/// then count as already seen if they arrive later).
pub(crate) const MAX_GAPS: usize = 256;

/// `high - low` is kept at most this far apart (a quarter of the sequence space).
const MAX_SPAN: u32 = 1 << 30;

/// What one segment added to the seen range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Added {
    /// Bytes never seen before.
    pub new: u32,
    /// The segment started below the highest sequence number seen so far.
    pub before_high: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SeqTracker {
    /// Sequence numbers below `low` are not counted as new (set when the SYN fixed the start,
    /// or once `low` has slid forward).
    fixed_low: bool,
    low: u32,
    high: u32,
    /// Open gaps as `[start, end)` offsets relative to `low`, sorted, non-empty, inside
    /// `[0, high - low)`. Empty (no allocation) unless segments arrived out of order.
    gaps: Vec<(u32, u32)>,
}

impl SeqTracker {
    /// Starts the range at `seq`; `fixed` forbids extending it downwards (a SYN was seen).
    pub(crate) fn start(&mut self, seq: u32, fixed: bool) {
        *self = SeqTracker {
            fixed_low: fixed,
            low: seq,
            high: seq,
            ..SeqTracker::default()
        };
    }

    /// The sequence number just past the highest byte seen.
    pub(crate) fn high(&self) -> u32 {
        self.high
    }

    /// Records `len` bytes from `seq` (after [`SeqTracker::start`]).
    pub(crate) fn add(&mut self, seq: u32, len: u32) -> Added {
        if len == 0 {
            return Added {
                new: 0,
                before_high: false,
            };
        }
        // Hot path: the next in-order segment.
        if seq == self.high {
            self.high = seq.wrapping_add(len);
            self.slide();
            return Added {
                new: len,
                before_high: false,
            };
        }
        let span = i64::from(self.high.wrapping_sub(self.low));
        let s = i64::from(seq.wrapping_sub(self.low) as i32);
        let e = s + i64::from(len);
        let mut new = 0i64;
        let before_high = s < span;

        // Middle part first (offsets are still relative to the current low).
        let mid_s = s.max(0);
        let mid_e = e.min(span);
        if mid_s < mid_e {
            new += self.fill(mid_s as u32, mid_e as u32);
        }
        // Above the high mark.
        if e > span {
            new += e - s.max(span);
            if s > span {
                self.open_gap(span as u32, s as u32);
            }
            self.high = seq.wrapping_add(len);
        }
        // Below the low mark.
        if s < 0 && !self.fixed_low {
            new += e.min(0) - s;
            let shift = (-s) as u32;
            self.shift_gaps(shift);
            self.low = seq;
            if e < 0 {
                self.open_gap(len, shift);
            }
        }
        self.slide();
        Added {
            new: new.clamp(0, i64::from(u32::MAX)) as u32,
            before_high,
        }
    }

    /// Open gaps with their absolute `[start, end)` sequence numbers.
    pub(crate) fn open_gaps(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.gaps
            .iter()
            .map(|&(s, e)| (self.low.wrapping_add(s), self.low.wrapping_add(e)))
    }

    /// Removes `[s, e)` (relative) from the gaps; returns how many bytes that filled.
    fn fill(&mut self, s: u32, e: u32) -> i64 {
        let mut filled = 0i64;
        let mut i = self.gaps.partition_point(|g| g.1 <= s);
        while let Some(&(gs, ge)) = self.gaps.get(i) {
            if gs >= e {
                break;
            }
            let lo = gs.max(s);
            let hi = ge.min(e);
            filled += i64::from(hi - lo);
            match (lo > gs, hi < ge) {
                (false, false) => {
                    self.gaps.remove(i);
                    continue;
                }
                (true, false) => {
                    if let Some(gap) = self.gaps.get_mut(i) {
                        gap.1 = lo;
                    }
                }
                (false, true) => {
                    if let Some(gap) = self.gaps.get_mut(i) {
                        gap.0 = hi;
                    }
                }
                (true, true) => {
                    // The range lies strictly inside this gap: no other gap is touched.
                    if let Some(gap) = self.gaps.get_mut(i) {
                        gap.1 = lo;
                    }
                    self.insert_gap((hi, ge));
                    return filled;
                }
            }
            i += 1;
        }
        filled
    }

    fn open_gap(&mut self, s: u32, e: u32) {
        if s < e {
            self.insert_gap((s, e));
        }
    }

    /// Inserts a gap in order, forgetting the lowest one when full.
    fn insert_gap(&mut self, gap: (u32, u32)) {
        if self.gaps.len() >= MAX_GAPS {
            self.gaps.remove(0);
        }
        let at = self.gaps.partition_point(|g| g.0 < gap.0);
        self.gaps.insert(at, gap);
    }

    fn shift_gaps(&mut self, by: u32) {
        for g in &mut self.gaps {
            g.0 = g.0.wrapping_add(by);
            g.1 = g.1.wrapping_add(by);
        }
    }

    /// Keeps `high - low` within [`MAX_SPAN`], forgetting gaps that fall below the new low.
    fn slide(&mut self) {
        let span = self.high.wrapping_sub(self.low);
        if span <= MAX_SPAN {
            return;
        }
        let by = span - MAX_SPAN;
        self.low = self.low.wrapping_add(by);
        self.fixed_low = true;
        self.gaps.retain(|g| g.1 > by);
        for g in &mut self.gaps {
            *g = (g.0.saturating_sub(by), g.1 - by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(new: u32, before_high: bool) -> Added {
        Added { new, before_high }
    }

    fn tracker(seq: u32, fixed: bool) -> SeqTracker {
        let mut t = SeqTracker::default();
        t.start(seq, fixed);
        t
    }

    #[test]
    fn in_order_counts_everything() {
        let mut t = tracker(1000, true);
        assert_eq!(t.add(1000, 100), added(100, false));
        assert_eq!(t.add(1100, 50), added(50, false));
        assert_eq!(t.high(), 1150);
        assert_eq!(t.open_gaps().count(), 0);
    }

    #[test]
    fn retransmission_counts_nothing() {
        let mut t = tracker(0, true);
        t.add(0, 100);
        assert_eq!(t.add(0, 100), added(0, true));
        assert_eq!(t.add(50, 100), added(50, true));
    }

    #[test]
    fn gap_then_fill() {
        let mut t = tracker(0, true);
        t.add(0, 10);
        assert_eq!(t.add(20, 10), added(10, false));
        assert_eq!(t.open_gaps().collect::<Vec<_>>(), vec![(10, 20)]);
        assert_eq!(t.add(12, 4), added(4, true));
        assert_eq!(t.open_gaps().collect::<Vec<_>>(), vec![(10, 12), (16, 20)]);
        assert_eq!(t.add(5, 20), added(6, true));
        assert_eq!(t.open_gaps().count(), 0);
    }

    #[test]
    fn wraps_across_zero() {
        let mut t = tracker(u32::MAX - 9, true);
        assert_eq!(t.add(u32::MAX - 9, 20), added(20, false));
        assert_eq!(t.high(), 10);
        assert_eq!(t.add(u32::MAX - 4, 10), added(0, true));
        assert_eq!(t.add(20, 5), added(5, false));
        assert_eq!(t.open_gaps().collect::<Vec<_>>(), vec![(10, 20)]);
        assert_eq!(t.add(8, 4), added(2, true));
    }

    #[test]
    fn extends_below_unless_fixed() {
        let mut t = tracker(100, false);
        t.add(100, 10);
        assert_eq!(t.add(90, 15), added(10, true));
        assert_eq!(t.add(70, 10), added(10, true));
        assert_eq!(t.open_gaps().collect::<Vec<_>>(), vec![(80, 90)]);
        let mut f = tracker(100, true);
        f.add(100, 10);
        assert_eq!(f.add(90, 15), added(0, true));
    }

    #[test]
    fn too_many_gaps_forget_the_lowest() {
        let mut t = tracker(0, true);
        for i in 0..MAX_GAPS as u32 + 3 {
            t.add(i * 20, 10);
        }
        assert_eq!(t.open_gaps().count(), MAX_GAPS);
        assert_eq!(t.open_gaps().next(), Some((50, 60)));
        assert_eq!(t.add(10, 10), added(0, true));
        assert_eq!(t.add(50, 10), added(10, true));
        assert_eq!(t.open_gaps().next(), Some((70, 80)));
    }

    #[test]
    fn long_stream_slides() {
        let mut t = tracker(0, false);
        let mut seq = 0u32;
        for _ in 0..5 {
            t.add(seq, 1 << 29);
            seq = seq.wrapping_add(1 << 29);
        }
        assert_eq!(t.high(), seq);
        // Old bytes are far below: never new again, and low no longer moves down.
        assert_eq!(t.add(0, 100), added(0, true));
        assert_eq!(t.add(seq, 7), added(7, false));
    }
}
