//! What the receiving TCP stack would accept of a control segment, so that a RST or FIN an
//! attacker injected (or a stale one) does not end a flow whose bytes then keep flowing.
//!
//! The rules follow Linux:
//! - a RST ends the connection only when its sequence number is exactly the next one expected
//!   from its sender (RFC 5961 §3.2: one merely inside the window draws a challenge ACK and is
//!   dropped): the end of the sender's bytes received in order, or, as the capture may miss
//!   some, the end of the highest ones; a RST answering a SYN must acknowledge that SYN
//!   (`ack = ISN + 1`);
//! - a FIN counts only when it lies inside the receiver's advertised window (the window field
//!   scaled as the SYNs agreed, RFC 7323);
//! - a segment with a wrong TCP checksum is dropped by the receiver, unless its sender's
//!   checksums look offloaded (no correct one seen from it so far).
//!
//! Where the capture does not show what a rule needs (no SYN, no window), the segment is taken:
//! a flow then ends as it did before these rules, and later data still reaches a flow (see the
//! flow table).

use crate::decode::{Checksum, Segment};

/// Why a control segment was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// A RST whose sequence number is not the next one expected (`expected`).
    RstOutOfSequence { expected: u32 },
    /// A RST answering a SYN that does not acknowledge it.
    RstUnacknowledged,
    /// A FIN outside the receiver's window (`expected`: the window's start).
    FinOutOfWindow { expected: u32 },
    /// A wrong TCP checksum from a sender whose other segments had correct ones.
    BadChecksum,
}

/// What one side sent, as far as acceptance needs it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sender {
    /// Sequence number of its SYN.
    isn: Option<u32>,
    /// The sequence number just past its bytes (SYN and FIN included) received in order from
    /// the first: what the receiver expects next.
    contiguous: Option<u32>,
    /// The sequence number just past the highest byte it sent.
    high: Option<u32>,
    /// Window scale its SYN offered.
    scale: Option<u8>,
    /// The last window it advertised (unscaled), and whether that segment was a SYN (whose
    /// window is never scaled).
    window: Option<(u16, bool)>,
    /// Segments with a correct checksum.
    good_checksums: u32,
}

impl Sender {
    /// Records a segment this side sent (after it was judged, see [`judge`]). A segment the
    /// receiver drops for its checksum moves nothing.
    pub(super) fn sent(&mut self, seg: &Segment<'_>, checksum: Checksum) {
        let flags = seg.flags;
        match checksum {
            Checksum::Good => self.good_checksums = self.good_checksums.saturating_add(1),
            Checksum::Bad if self.good_checksums > 0 => return,
            _ => {}
        }
        let mut end = seg.seq;
        if flags.syn() {
            self.isn.get_or_insert(seg.seq);
            self.scale = seg.window_scale();
            end = end.wrapping_add(1);
        }
        if flags.rst() {
            return;
        }
        let len = u32::try_from(seg.payload.len())
            .unwrap_or(u32::MAX)
            .saturating_add(seg.payload_missing);
        end = end.wrapping_add(len);
        if flags.fin() {
            end = end.wrapping_add(1);
        }
        if let Some(w) = seg.window() {
            self.window = Some((w, flags.syn()));
        }
        let after = |a: u32, b: u32| (a.wrapping_sub(b) as i32) > 0;
        self.high = Some(match self.high {
            Some(high) if !after(end, high) => high,
            _ => end,
        });
        // In order: the segment starts at or before what was received in order.
        self.contiguous = match self.contiguous {
            None => Some(end),
            Some(c) if !after(seg.seq, c) && after(end, c) => Some(end),
            keep => keep,
        };
    }

    /// The sequence number just past the highest byte it sent.
    pub(super) fn next(&self) -> Option<u32> {
        self.high
    }
}

/// Whether the receiver takes a RST or FIN `seg` from `from` (to `to`): `Err` says why not.
/// Other segments are always taken.
pub(super) fn judge(
    seg: &Segment<'_>,
    checksum: Checksum,
    from: &Sender,
    to: &Sender,
) -> Result<(), Ignored> {
    let flags = seg.flags;
    if !flags.rst() && !flags.fin() {
        return Ok(());
    }
    if checksum == Checksum::Bad && from.good_checksums > 0 {
        return Err(Ignored::BadChecksum);
    }
    if flags.rst() {
        return judge_rst(seg, from, to);
    }
    judge_fin(seg, from, to)
}

fn judge_rst(seg: &Segment<'_>, from: &Sender, to: &Sender) -> Result<(), Ignored> {
    // The receiver sent a SYN that its peer never answered at all: it is in SYN-SENT.
    if let (Some(isn), None, None) = (to.isn, from.isn, from.high) {
        let acknowledges = seg.flags.ack() && seg.ack == isn.wrapping_add(1);
        return if acknowledges {
            Ok(())
        } else {
            Err(Ignored::RstUnacknowledged)
        };
    }
    match (from.contiguous, from.high) {
        (Some(expected), high) if seg.seq != expected && Some(seg.seq) != high => {
            Err(Ignored::RstOutOfSequence { expected })
        }
        _ => Ok(()),
    }
}

fn judge_fin(seg: &Segment<'_>, from: &Sender, to: &Sender) -> Result<(), Ignored> {
    let (Some(expected), Some(window)) = (from.contiguous, receive_window(from, to)) else {
        return Ok(());
    };
    let len = u32::try_from(seg.payload.len())
        .unwrap_or(u32::MAX)
        .saturating_add(seg.payload_missing);
    let fin_seq = seg.seq.wrapping_add(len);
    // Old FINs (retransmissions) are harmless; a FIN beyond the window is not taken.
    let ahead = fin_seq.wrapping_sub(expected) as i32;
    if ahead > 0 && ahead.unsigned_abs() > window {
        return Err(Ignored::FinOutOfWindow { expected });
    }
    Ok(())
}

/// The window `to` advertised for the bytes `from` sends, scaled when both SYNs offered a
/// scale; `None` when not known.
fn receive_window(from: &Sender, to: &Sender) -> Option<u32> {
    let (window, in_syn) = to.window?;
    let shift = match (from.scale, to.scale) {
        (Some(_), Some(s)) if !in_syn => s,
        // Scaling is in force but the SYNs were not captured: the scale is unknown.
        _ if from.isn.is_none() || to.isn.is_none() => return None,
        _ => 0,
    };
    Some(u32::from(window) << shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Endpoint, TcpFlags};

    /// A TCP header with `flags`, `seq`, `ack`, window 1000, and a window scale option of 2 on
    /// a SYN.
    fn header(flags: u8, seq: u32, ack: u32) -> Vec<u8> {
        let syn = flags & TcpFlags::SYN != 0;
        let mut h = vec![0, 1, 0, 2];
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&ack.to_be_bytes());
        h.push(if syn { 6 << 4 } else { 5 << 4 });
        h.push(flags);
        h.extend_from_slice(&1000u16.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        if syn {
            h.extend_from_slice(&[1, 3, 3, 2]);
        }
        h
    }

    fn seg<'a>(h: &'a [u8], payload: &'a [u8]) -> Segment<'a> {
        let ep = Endpoint {
            ip: [10, 0, 0, 1].into(),
            port: 1,
        };
        Segment {
            transport: crate::decode::Transport::Tcp,
            src: ep,
            dst: ep,
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            flags: TcpFlags(h[13]),
            payload,
            payload_missing: 0,
            loopback_if: false,
            if_index: None,
            ttl: None,
            tcp: h,
        }
    }

    const SYN: u8 = TcpFlags::SYN;
    const SYN_ACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const ACK: u8 = TcpFlags::ACK;
    const RST: u8 = TcpFlags::RST;
    const RST_ACK: u8 = TcpFlags::RST | TcpFlags::ACK;
    const FIN_ACK: u8 = TcpFlags::FIN | TcpFlags::ACK;

    /// Client (ISN 100) and server (ISN 5000) after a handshake; the server advertised window
    /// 1000 << 2.
    fn established() -> (Sender, Sender) {
        let (mut c, mut s) = (Sender::default(), Sender::default());
        c.sent(&seg(&header(SYN, 100, 0), b""), Checksum::Good);
        s.sent(&seg(&header(SYN_ACK, 5000, 101), b""), Checksum::Good);
        c.sent(&seg(&header(ACK, 101, 5001), b"GET /"), Checksum::Good);
        s.sent(&seg(&header(ACK, 5001, 106), b""), Checksum::Good);
        (c, s)
    }

    #[test]
    fn a_rst_needs_the_exact_next_sequence_number() {
        let (c, s) = established();
        assert_eq!(c.next(), Some(106));
        let rst = |seq| seg_judge(RST_ACK, seq, 0, &s, &c);
        assert_eq!(rst(5001), Ok(()));
        assert_eq!(rst(5002), Err(Ignored::RstOutOfSequence { expected: 5001 }));
        assert_eq!(
            rst(5001 + 100_000),
            Err(Ignored::RstOutOfSequence { expected: 5001 })
        );
        // nothing known of either side (seen mid-stream): taken
        assert_eq!(
            seg_judge(RST, 7, 0, &Sender::default(), &Sender::default()),
            Ok(())
        );
    }

    fn seg_judge(flags: u8, seq: u32, ack: u32, from: &Sender, to: &Sender) -> Result<(), Ignored> {
        judge(
            &seg(&header(flags, seq, ack), b""),
            Checksum::Unknown,
            from,
            to,
        )
    }

    #[test]
    fn a_rst_answering_a_syn_must_acknowledge_it() {
        let mut c = Sender::default();
        c.sent(&seg(&header(SYN, 100, 0), b""), Checksum::Good);
        let server = Sender::default();
        assert_eq!(seg_judge(RST_ACK, 0, 101, &server, &c), Ok(()));
        assert_eq!(
            seg_judge(RST_ACK, 0, 102, &server, &c),
            Err(Ignored::RstUnacknowledged)
        );
        assert_eq!(
            seg_judge(RST, 0, 101, &server, &c),
            Err(Ignored::RstUnacknowledged)
        );
    }

    #[test]
    fn a_fin_must_lie_in_the_scaled_window() {
        let (c, s) = established();
        // the server's window is 1000 << 2 = 4000 bytes from the client's next byte (106)
        assert_eq!(seg_judge(FIN_ACK, 106, 0, &c, &s), Ok(()));
        assert_eq!(seg_judge(FIN_ACK, 106 + 4000, 0, &c, &s), Ok(()));
        assert_eq!(
            seg_judge(FIN_ACK, 106 + 4001, 0, &c, &s),
            Err(Ignored::FinOutOfWindow { expected: 106 })
        );
        // an old FIN is harmless
        assert_eq!(seg_judge(FIN_ACK, 50, 0, &c, &s), Ok(()));
        // without the handshake, the scale is unknown: taken
        let (mut c2, mut s2) = (Sender::default(), Sender::default());
        c2.sent(&seg(&header(ACK, 101, 5001), b"x"), Checksum::Good);
        s2.sent(&seg(&header(ACK, 5001, 102), b""), Checksum::Good);
        assert_eq!(seg_judge(FIN_ACK, 9_000_000, 0, &c2, &s2), Ok(()));
    }

    #[test]
    fn bad_checksums_are_dropped_unless_offloaded() {
        let (c, s) = established();
        let h = header(RST_ACK, 5001, 0);
        assert_eq!(
            judge(&seg(&h, b""), Checksum::Bad, &s, &c),
            Err(Ignored::BadChecksum)
        );
        // a sender never seen with a correct checksum: offload, taken
        let mut offloaded = s;
        offloaded.good_checksums = 0;
        assert_eq!(judge(&seg(&h, b""), Checksum::Bad, &offloaded, &c), Ok(()));
        // data segments are never judged here
        let data = header(ACK, 5001, 0);
        assert_eq!(judge(&seg(&data, b"x"), Checksum::Bad, &s, &c), Ok(()));
    }
}
