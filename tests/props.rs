//! Property tests: TCP reassembly is independent of how a stream was cut and delivered, and the
//! parsers never panic on arbitrary bytes.

use std::net::{IpAddr, Ipv4Addr};

use mtlscan::decode::{
    Defragmenter, Endpoint, Fragment, FragmentKey, LinkFacts, Segment, TcpFlags,
};
use mtlscan::flow::{FlowLimits, FlowTable};
use proptest::prelude::*;

fn ep(host: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        port,
    }
}

fn seg<'a>(seq: u32, flags: u8, payload: &'a [u8]) -> Segment<'a> {
    Segment {
        transport: mtlscan::decode::Transport::Tcp,
        src: ep(1, 40000),
        dst: ep(2, 443),
        seq,
        ack: 0,
        flags: TcpFlags(flags),
        payload,
        payload_missing: 0,
        loopback_if: false,
        if_index: None,
        ttl: None,
        tcp: &[],
    }
}

/// A segment from `src` to `dst` whose captured TCP header shows window 1000 (and no options):
/// enough for the receiver's window, not for a checksum.
fn seg_with_window<'a>(
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    flags: u8,
    payload: &'a [u8],
    header: &'a mut Vec<u8>,
) -> Segment<'a> {
    header.clear();
    header.extend_from_slice(&[0, 0, 0, 0]);
    header.extend_from_slice(&seq.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0, 5 << 4, flags]);
    header.extend_from_slice(&1000u16.to_be_bytes());
    Segment {
        transport: mtlscan::decode::Transport::Tcp,
        src,
        dst,
        seq,
        ack: 0,
        flags: TcpFlags(flags),
        payload,
        payload_missing: 0,
        loopback_if: false,
        if_index: None,
        ttl: Some(64),
        tcp: header,
    }
}

/// Stream, cut points, overlapping extra pieces, shuffle plan, initial sequence number, prefix.
type Plan = (
    Vec<u8>,
    Vec<usize>,
    Vec<(usize, usize)>,
    Vec<usize>,
    u32,
    usize,
);

fn plan() -> impl Strategy<Value = Plan> {
    (1usize..3000).prop_flat_map(|len| {
        (
            proptest::collection::vec(any::<u8>(), len),
            proptest::collection::vec(0..len, 0..40),
            proptest::collection::vec((0..len, 1usize..400), 0..20),
            proptest::collection::vec(any::<usize>(), 0..60),
            any::<u32>(),
            prop_oneof![Just(64usize), Just(1000), Just(65536)],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Any segmentation, reordering, duplication and overlap of a stream (all bytes delivered at
    /// least once, consistent content) reassembles to the same prefix.
    #[test]
    fn any_delivery_reassembles_the_same_prefix(
        (stream, cuts, extra, order, isn, prefix) in plan()
    ) {
        let mut bounds = cuts.clone();
        bounds.push(0);
        bounds.push(stream.len());
        bounds.sort_unstable();
        bounds.dedup();
        // A partition of the stream, plus overlapping duplicates.
        let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        for (start, len) in extra {
            pieces.push((start, (start + len).min(stream.len())));
        }
        // Shuffle by the plan (swap-based, deterministic for a given plan).
        for (i, &o) in order.iter().enumerate() {
            let n = pieces.len();
            pieces.swap(i % n, o % n);
        }
        // Few enough pieces ahead of a gap to be held (the reassembler holds at most 256).
        prop_assume!(pieces.len() <= 200);
        let limits = FlowLimits { prefix_bytes: prefix, ..FlowLimits::default() };
        let mut table = FlowTable::new(limits);
        table.push(1, 0, &seg(isn, TcpFlags::SYN, &[]));
        for (i, &(a, b)) in pieces.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(a as u32);
            table.push(i as u64 + 2, i as i64 + 1, &seg(seq, TcpFlags::ACK, &stream[a..b]));
        }
        let flows = table.finish();
        prop_assert_eq!(flows.len(), 1);
        let dir = &flows[0].dir[0];
        let want = &stream[..stream.len().min(prefix)];
        prop_assert_eq!(&dir.stream[..], want);
        prop_assert!(dir.holes.is_empty(), "holes {:?}", dir.holes);
        prop_assert_eq!(dir.payload_bytes, stream.len() as u64);
        prop_assert_eq!(dir.gaps, 0);
    }

    /// RST and FIN segments that a Linux receiver drops (a RST off the exact next sequence
    /// number, a FIN beyond the receiver's window) never end the flow nor change its bytes,
    /// wherever they are injected.
    #[test]
    fn injected_control_segments_a_receiver_drops_change_nothing(
        stream in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        injections in proptest::collection::vec((any::<usize>(), 0u8..4, 1u32..1 << 30), 1..12),
        isns in any::<(u32, u32)>(),
    ) {
        let (c, s) = (ep(1, 40000), ep(2, 443));
        let (isn_c, isn_s) = isns;
        let mut bounds: Vec<usize> = cuts.iter().map(|&x| x % stream.len()).collect();
        bounds.push(0);
        bounds.push(stream.len());
        bounds.sort_unstable();
        bounds.dedup();
        let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let mut injected = vec![Vec::new(); pieces.len() + 1];
        for &(at, kind, off) in &injections {
            injected[at % (pieces.len() + 1)].push((kind, off));
        }
        let mut table = FlowTable::new(FlowLimits::default());
        let mut frame = 0u64;
        let mut header = Vec::new();
        let mut push = |table: &mut FlowTable, seg: Segment<'_>| {
            frame += 1;
            table.push(frame, frame as i64, &seg);
        };
        push(&mut table, seg_with_window(c, s, isn_c, TcpFlags::SYN, &[], &mut header));
        push(&mut table, seg_with_window(s, c, isn_s, TcpFlags::SYN | TcpFlags::ACK, &[], &mut header));
        let mut sent = 0usize;
        let (mut rsts, mut fins) = (0u32, 0u32);
        for (i, slot) in injected.iter().enumerate() {
            for &(kind, off) in slot {
                // the client's and the server's next sequence numbers now
                let next_c = isn_c.wrapping_add(1).wrapping_add(sent as u32);
                let next_s = isn_s.wrapping_add(1);
                let (from, to, seq, flags) = match kind {
                    0 => (s, c, next_s.wrapping_add(off), TcpFlags::RST),
                    1 => (c, s, next_c.wrapping_sub(off), TcpFlags::RST | TcpFlags::ACK),
                    2 => (c, s, next_c.wrapping_add(1001 + off % (1 << 29)), TcpFlags::FIN | TcpFlags::ACK),
                    _ => (s, c, next_s.wrapping_add(1001 + off % (1 << 29)), TcpFlags::FIN | TcpFlags::ACK),
                };
                if flags & TcpFlags::RST != 0 { rsts += 1 } else { fins += 1 }
                push(&mut table, seg_with_window(from, to, seq, flags, &[], &mut header));
            }
            if let Some(&(a, b)) = pieces.get(i) {
                let seq = isn_c.wrapping_add(1).wrapping_add(a as u32);
                push(&mut table, seg_with_window(c, s, seq, TcpFlags::ACK, &stream[a..b], &mut header));
                sent = b;
            }
        }
        let flows = table.finish();
        prop_assert_eq!(flows.len(), 1);
        let f = &flows[0];
        prop_assert_eq!(&f.dir[0].stream[..], &stream[..stream.len().min(64 * 1024)]);
        prop_assert!(f.dir.iter().all(|d| d.rst_frame.is_none() && d.fin_frame.is_none()));
        let ignored = |d: &mtlscan::flow::Direction| {
            d.anomalies.as_deref().map_or((0, 0), |a| (a.ignored_rst, a.ignored_fin))
        };
        let (r0, f0) = ignored(&f.dir[0]);
        let (r1, f1) = ignored(&f.dir[1]);
        prop_assert_eq!((r0 + r1, f0 + f1), (rsts, fins));
    }

    #[test]
    fn capture_readers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        mtlscan::fuzzing::capture(&data);
    }

    #[test]
    fn capture_readers_never_panic_on_a_valid_header(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        ng in any::<bool>(),
    ) {
        let mut data = if ng {
            vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0]
        } else {
            vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                 0xff, 0xff, 0, 0, 1, 0, 0, 0]
        };
        data.extend(body);
        mtlscan::fuzzing::capture(&data);
        mtlscan::fuzzing::pipeline(&data);
    }

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        mtlscan::fuzzing::decode(&data);
    }

    #[test]
    fn reassembly_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        mtlscan::fuzzing::reassembly(&data);
    }

    #[test]
    fn tls_and_plaintext_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        mtlscan::fuzzing::tls(&data);
        mtlscan::fuzzing::plaintext(&data);
        mtlscan::fuzzing::certificates(&data);
    }

    #[test]
    fn tls_records_never_panic(
        kind in 20u8..25,
        version in prop_oneof![Just(0x0301u16), Just(0x0303), any::<u16>()],
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        declared in any::<u16>(),
        split in any::<u16>(),
    ) {
        // Well-formed record headers over arbitrary bodies, with lengths that lie.
        let mut data = split.to_be_bytes().to_vec();
        data.push(kind);
        data.extend_from_slice(&version.to_be_bytes());
        data.extend_from_slice(&declared.to_be_bytes());
        data.extend_from_slice(&body);
        mtlscan::fuzzing::tls(&data);
    }

    #[test]
    fn keylog_never_panics(text in "[A-Z_ 0-9a-f\n#\r]{0,600}") {
        mtlscan::fuzzing::keylog(text.as_bytes());
    }

    /// Any cutting of a datagram into fragments (multiples of 8 but the last), delivered in any
    /// order with exact repeats, makes the datagram whole once, with its bytes; without one of
    /// its fragments it never becomes whole and its fragments count as lost.
    #[test]
    fn any_fragmentation_reassembles_the_datagram(
        datagram in proptest::collection::vec(any::<u8>(), 1..4000),
        cuts in proptest::collection::vec(1usize..500, 0..40),
        repeats in proptest::collection::vec(any::<usize>(), 0..6),
        order in proptest::collection::vec(any::<usize>(), 0..60),
        leave_out in proptest::option::of(any::<usize>()),
    ) {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c * 8).filter(|&c| c < datagram.len()).collect();
        bounds.push(0);
        bounds.push(datagram.len());
        bounds.sort_unstable();
        bounds.dedup();
        let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let lost = leave_out.filter(|_| pieces.len() > 1).map(|i| pieces.remove(i % pieces.len()));
        for r in &repeats {
            if !pieces.is_empty() {
                pieces.push(pieces[r % pieces.len()]);
            }
        }
        for (i, &o) in order.iter().enumerate() {
            let n = pieces.len();
            pieces.swap(i % n, o % n);
        }
        let key = FragmentKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id: 7,
            protocol: 6,
        };
        let mut d = Defragmenter::new();
        let mut whole = Vec::new();
        for &(a, b) in &pieces {
            let f = Fragment::new(key, a as u32, b < datagram.len(), &datagram[a..b]);
            if let Some(got) = d.offer(&f, LinkFacts::default(), 0, 0) {
                whole.push(got.payload);
            }
        }
        let losses = d.finish();
        match lost {
            None => {
                // Repeats that come after the datagram is whole may make it whole again.
                prop_assert!(!whole.is_empty());
                for w in &whole {
                    prop_assert_eq!(w, &datagram);
                }
                prop_assert_eq!(losses.lost_fragments, 0);
            }
            Some(_) => {
                prop_assert!(whole.is_empty());
                prop_assert_eq!(losses.lost_fragments, pieces.len() as u64);
            }
        }
        prop_assert_eq!(d.buffered_bytes(), 0);
    }
}
