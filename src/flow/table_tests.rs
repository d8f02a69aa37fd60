use super::*;
use crate::flow::testkit::{client, ep, server, Seg};

fn limits(prefix_bytes: usize) -> FlowLimits {
    FlowLimits {
        prefix_bytes,
        ..FlowLimits::default()
    }
}

/// Pushes `segs` as frames 1, 2, … one microsecond apart and finishes.
fn run_with(limits: FlowLimits, segs: &[Seg]) -> Vec<Flow> {
    let mut table = FlowTable::new(limits);
    for (i, s) in segs.iter().enumerate() {
        table.push(i as u64 + 1, i as i64 * 1000, &s.get());
    }
    table.finish()
}

fn run(segs: &[Seg]) -> Vec<Flow> {
    run_with(FlowLimits::default(), segs)
}

fn only(flows: Vec<Flow>) -> Flow {
    assert_eq!(flows.len(), 1, "{flows:#?}");
    flows.into_iter().next().unwrap()
}

fn handshake(isn_c: u32, isn_s: u32) -> Vec<Seg> {
    vec![
        Seg::c2s(isn_c).syn(),
        Seg::s2c(isn_s).syn_ack(),
        Seg::c2s(isn_c.wrapping_add(1)),
    ]
}

#[test]
fn in_order_stream_and_counters() {
    let mut segs = handshake(1000, 5000);
    segs.push(Seg::c2s(1001).data(b"hello "));
    segs.push(Seg::c2s(1007).data(b"world"));
    segs.push(Seg::s2c(5001).data(b"HTTP"));
    let f = only(run(&segs));
    assert_eq!((f.a, f.b), (client(), server()));
    assert_eq!(f.client_by, ClientBy::Syn);
    assert!(f.syn_seen);
    assert_eq!((f.first_frame, f.last_frame), (1, 6));
    assert_eq!((f.first_ts, f.last_ts), (0, 5000));
    let c = &f.dir[0];
    assert_eq!(c.stream, b"hello world");
    assert_eq!(c.frames, vec![(0, 4), (6, 5)]);
    assert_eq!((c.packets, c.payload_bytes), (4, 11));
    assert!(c.syn);
    assert_eq!(c.first_payload_frame, Some(4));
    assert_eq!((c.gaps, c.out_of_order, c.retransmitted), (0, 0, 0));
    assert!(c.holes.is_empty());
    assert!(!c.prefix_full);
    let s = &f.dir[1];
    assert_eq!(s.stream, b"HTTP");
    assert_eq!(s.frames, vec![(0, 6)]);
    assert_eq!((s.packets, s.payload_bytes), (2, 4));
    assert!(s.syn);
    assert!(!f.is_empty());
}

#[test]
fn frame_at_maps_offsets_to_frames() {
    let mut segs = handshake(1000, 5000);
    segs.push(Seg::c2s(1001).data(b"hello "));
    segs.push(Seg::c2s(1007).data(b"world"));
    let f = only(run(&segs));
    let c = &f.dir[0];
    assert_eq!(c.frame_at(0), Some(4));
    assert_eq!(c.frame_at(5), Some(4));
    assert_eq!(c.frame_at(6), Some(5));
    assert_eq!(c.frame_at(10), Some(5));
    assert_eq!(c.frame_at(11), None);
    assert_eq!(f.dir[1].frame_at(0), None);
}

#[test]
fn out_of_order_is_reordered() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1007).data(b"world"),
        Seg::c2s(1001).data(b"hello "),
    ];
    let f = only(run(&segs));
    let c = &f.dir[0];
    assert_eq!(c.stream, b"hello world");
    assert_eq!(c.frames, vec![(0, 3), (6, 2)]);
    assert_eq!((c.gaps, c.out_of_order, c.retransmitted), (0, 1, 0));
    assert_eq!(c.payload_bytes, 11);
    assert!(c.holes.is_empty());
}

#[test]
fn retransmission_counted_once() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"hello "),
        Seg::c2s(1001).data(b"hello "),
        Seg::c2s(1007).data(b"world"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"hello world");
    assert_eq!(c.frames, vec![(0, 2), (6, 4)]);
    assert_eq!((c.packets, c.payload_bytes), (4, 11));
    assert_eq!((c.out_of_order, c.retransmitted), (0, 1));
}

#[test]
fn overlap_with_stream_keeps_first_bytes() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"abcdef"),
        Seg::c2s(1004).data(b"XYZghi"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"abcdefghi");
    assert_eq!(c.frames, vec![(0, 2), (6, 3)]);
    assert_eq!(
        (c.payload_bytes, c.retransmitted, c.out_of_order),
        (9, 1, 1)
    );
}

#[test]
fn overlap_with_held_data_keeps_first_bytes() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1005).data(b"efgh"),
        Seg::c2s(1003).data(b"cdXYZij"),
        Seg::c2s(1001).data(b"ab"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"abcdefghj");
    assert_eq!(c.frames, vec![(0, 4), (2, 3), (4, 2), (8, 3)]);
    assert_eq!(c.payload_bytes, 9);
    assert_eq!((c.out_of_order, c.retransmitted, c.gaps), (2, 1, 0));
}

#[test]
fn sequence_wraps_across_zero() {
    let isn = u32::MAX - 2;
    let segs = [
        Seg::c2s(isn).syn(),
        Seg::c2s(u32::MAX - 1).data(b"abcd"),
        Seg::c2s(6).data(b"ijkl"),
        Seg::c2s(2).data(b"efgh"),
        Seg::c2s(2).data(b"efgh"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"abcdefghijkl");
    assert_eq!(c.frames, vec![(0, 2), (4, 4), (8, 3)]);
    assert_eq!(
        (c.payload_bytes, c.out_of_order, c.retransmitted),
        (12, 1, 1)
    );
    assert!(c.holes.is_empty());
}

#[test]
fn missing_segment_becomes_a_hole_with_bytes_after_it() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"abc"),
        Seg::c2s(1007).data(b"ghi"),
        Seg::c2s(1010).data(b"jkl"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"abcghijkl");
    assert_eq!(c.holes, vec![3]);
    assert_eq!(c.gaps, 1);
    assert_eq!(c.contiguous(), b"abc");
    assert_eq!(c.stream.get(3..), Some(&b"ghijkl"[..]));
    assert_eq!(c.frames, vec![(0, 2), (3, 3), (6, 4)]);
    assert_eq!(c.frame_at(3), Some(3));
    assert_eq!((c.payload_bytes, c.out_of_order), (9, 0));
}

#[test]
fn snaplen_cut_is_a_hole_not_a_gap() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"abc").missing(3),
        Seg::c2s(1007).data(b"ghi"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"abcghi");
    assert_eq!(c.holes, vec![3]);
    assert_eq!(c.gaps, 0);
    assert_eq!(c.bytes_not_captured, 3);
    assert_eq!(c.payload_bytes, 9);
    assert_eq!(c.frames, vec![(0, 2), (3, 3)]);
}

#[test]
fn prefix_cap_then_counters_only() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"0123456"),
        Seg::c2s(1008).data(b"789AB"),
        Seg::c2s(1013).data(b"CDEF"),
        Seg::c2s(1001).data(b"0123456"),
        Seg::c2s(1020).data(b"xy"),
        Seg::c2s(1017).data(b"GHI"),
    ];
    let c = &only(run_with(limits(10), &segs)).dir[0];
    assert_eq!(c.stream, b"0123456789");
    assert!(c.prefix_full);
    assert_eq!(c.frames, vec![(0, 2), (7, 3)]);
    assert_eq!(c.packets, 7);
    assert_eq!(c.payload_bytes, 21);
    assert_eq!((c.retransmitted, c.out_of_order, c.gaps), (1, 1, 0));
}

#[test]
fn prefix_exactly_filled_is_not_full_until_more_comes() {
    let first = [Seg::c2s(1000).syn(), Seg::c2s(1001).data(b"01234")];
    let c = &only(run_with(limits(5), &first)).dir[0];
    assert_eq!(c.stream, b"01234");
    assert!(!c.prefix_full);
    let mut more = first.to_vec();
    more.push(Seg::c2s(1006).data(b"5"));
    let c = &only(run_with(limits(5), &more)).dir[0];
    assert!(c.prefix_full);
    assert_eq!(c.payload_bytes, 6);
}

#[test]
fn gap_past_the_prefix_is_counted() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"0123"),
        Seg::c2s(1005).data(b"4567"),
        Seg::c2s(1020).data(b"zz"),
    ];
    let c = &only(run_with(limits(6), &segs)).dir[0];
    assert_eq!(c.stream, b"012345");
    assert!(c.prefix_full);
    assert!(c.holes.is_empty());
    assert_eq!(c.gaps, 1);
    assert_eq!(c.payload_bytes, 10);
}

#[test]
fn zero_prefix_counts_only() {
    let segs = [Seg::c2s(1000).syn(), Seg::c2s(1001).data(b"abc")];
    let c = &only(run_with(limits(0), &segs)).dir[0];
    assert!(c.stream.is_empty());
    assert!(c.frames.is_empty());
    assert!(c.prefix_full);
    assert_eq!(c.payload_bytes, 3);
}

#[test]
fn synless_flow_starts_mid_stream_and_prepends() {
    let segs = [
        Seg::c2s(7000).data(b"world"),
        Seg::c2s(6994).data(b"hello "),
        Seg::s2c(9000).data(b"ok"),
        Seg::c2s(6000).data(b"zz"),
    ];
    let f = only(run(&segs));
    assert_eq!(f.client_by, ClientBy::FirstSeen);
    assert_eq!(f.a, client());
    assert!(!f.syn_seen);
    let c = &f.dir[0];
    assert_eq!(c.stream, b"hello world");
    assert_eq!(c.frames, vec![(0, 2), (6, 1)]);
    assert_eq!(c.frame_at(7), Some(1));
    assert_eq!((c.out_of_order, c.retransmitted), (2, 0));
    assert_eq!(c.payload_bytes, 13);
    assert!(c.holes.is_empty());
    assert_eq!(f.dir[1].stream, b"ok");
}

#[test]
fn synless_first_sender_is_a_even_if_server() {
    let segs = [Seg::s2c(9000).data(b"220 ready"), Seg::c2s(7000)];
    let f = only(run(&segs));
    assert_eq!((f.a, f.b), (server(), client()));
    assert_eq!(f.client_by, ClientBy::FirstSeen);
    assert_eq!(f.dir[0].stream, b"220 ready");
}

#[test]
fn synack_only_makes_its_receiver_the_client() {
    let segs = [
        Seg::s2c(5000).syn_ack(),
        Seg::c2s(1001).data(b"GET /"),
        Seg::s2c(5001).data(b"HTTP/1.1 200"),
    ];
    let f = only(run(&segs));
    assert_eq!((f.a, f.b), (client(), server()));
    assert_eq!(f.client_by, ClientBy::Syn);
    assert!(f.syn_seen);
    assert!(!f.dir[0].syn);
    assert!(f.dir[1].syn);
    assert_eq!(f.dir[0].stream, b"GET /");
    assert_eq!(f.dir[1].stream, b"HTTP/1.1 200");
}

#[test]
fn late_syn_reorients_a_first_seen_flow() {
    let segs = [
        Seg::s2c(5001).data(b"resp"),
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"req"),
    ];
    let f = only(run(&segs));
    assert_eq!((f.a, f.b), (client(), server()));
    assert_eq!(f.client_by, ClientBy::Syn);
    assert_eq!(f.dir[0].stream, b"req");
    assert_eq!(f.dir[1].stream, b"resp");
    assert_eq!((f.dir[0].packets, f.dir[1].packets), (2, 1));
}

#[test]
fn data_on_the_syn_starts_the_stream() {
    let segs = [
        Seg::c2s(1000).syn().data(b"early"),
        Seg::c2s(1006).data(b"-more"),
    ];
    let c = &only(run(&segs)).dir[0];
    assert_eq!(c.stream, b"early-more");
    assert_eq!(c.first_payload_frame, Some(1));
}

#[test]
fn rst_payload_is_not_stream_data() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"hi"),
        Seg::s2c(5001).rst_ack(1001).data(b"diagnostic"),
    ];
    let f = only(run(&segs));
    assert_eq!(f.dir[1].rst_frame, Some(3));
    assert!(f.dir[1].stream.is_empty());
    assert_eq!(f.dir[1].payload_bytes, 0);
    assert_eq!(f.dir[1].first_payload_frame, None);
}

#[test]
fn fin_rst_loopback_recorded() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).fin().loopback(),
        Seg::s2c(5000).fin(),
        Seg::s2c(5000).fin(),
    ];
    let f = only(run(&segs));
    assert!(f.loopback_if);
    assert_eq!(f.dir[0].fin_frame, Some(2));
    assert_eq!(f.dir[1].fin_frame, Some(3));
    assert_eq!(f.dir[1].rst_frame, None);
    assert!(f.is_empty());
}

#[test]
fn port_reuse_after_close_starts_a_new_flow() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::s2c(5000).syn_ack(),
        Seg::c2s(1001).data(b"one"),
        Seg::c2s(1004).fin(),
        Seg::s2c(5001).fin(),
        Seg::c2s(1005),
        Seg::c2s(90000).syn(),
        Seg::s2c(70000).syn_ack(),
        Seg::c2s(90001).data(b"two"),
    ];
    let flows = run(&segs);
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0].first_frame, flows[0].last_frame), (1, 6));
    assert_eq!(flows[0].dir[0].stream, b"one");
    assert_eq!(flows[0].dir[0].packets, 4);
    assert_eq!((flows[1].first_frame, flows[1].last_frame), (7, 9));
    assert_eq!(flows[1].dir[0].stream, b"two");
    assert_eq!(flows[1].client_by, ClientBy::Syn);
    assert_eq!(flows[1].a, client());
}

#[test]
fn segments_after_a_rst_join_during_the_linger() {
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::s2c(0).rst_ack(1001),
        Seg::c2s(1000).syn(),
        Seg::s2c(0).rst_ack(1001),
    ];
    let f = only(run(&segs));
    assert_eq!((f.dir[0].packets, f.dir[1].packets), (2, 2));
    assert_eq!(f.dir[1].rst_frame, Some(2));
    assert_eq!(f.last_frame, 4);
}

/// A full connection with an orderly close: SYN, SYN-ACK, ACK, request, FIN, FIN-ACK, last ACK.
fn closed_connection(isn: u32) -> Vec<Seg> {
    let mut segs = handshake(isn, 5000);
    segs.push(Seg::c2s(isn + 1).data(b"q"));
    segs.push(Seg::c2s(isn + 2).fin().ack(5001));
    segs.push(Seg::s2c(5001).fin().ack(isn + 3));
    segs.push(Seg::c2s(isn + 3).ack(5002));
    segs
}

#[test]
fn late_segments_join_then_a_new_syn_starts_a_flow() {
    let mut segs = closed_connection(1000);
    segs.push(Seg::s2c(5001).fin().ack(1003));
    segs.push(Seg::c2s(77_000).syn());
    let flows = run(&segs);
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0].dir[0].packets, flows[0].dir[1].packets), (5, 3));
    assert_eq!(flows[0].last_frame, 8);
    assert_eq!(flows[1].first_frame, 9);
    assert_eq!(flows[1].client_by, ClientBy::Syn);
}

#[test]
fn after_the_linger_any_segment_starts_a_new_flow() {
    let lim = FlowLimits {
        close_linger_nanos: 1000,
        ..FlowLimits::default()
    };
    let mut t = FlowTable::new(lim);
    for (i, s) in closed_connection(1000).iter().enumerate() {
        t.push(i as u64 + 1, i as i64, &s.get());
    }
    t.push(8, 500, &Seg::c2s(1003).ack(5002).get());
    t.push(9, 5000, &Seg::c2s(1003).ack(5002).get());
    let flows = t.finish();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].dir[0].packets, 6);
    assert_eq!(flows[1].first_frame, 9);
    assert_eq!(flows[1].client_by, ClientBy::FirstSeen);
    assert!(flows[1].is_empty());
}

#[test]
fn a_fresh_syn_on_an_open_flow_starts_a_new_one() {
    // The old connection's end was not captured: a SYN with another initial sequence number is
    // a new connection, whose bytes (in another sequence space) must not vanish into the old.
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"x"),
        Seg::c2s(777).syn(),
        Seg::c2s(778).data(b"GET /secret HTTP/1.1"),
    ];
    let flows = run(&segs);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].dir[0].stream, b"x");
    assert_eq!(flows[1].dir[0].stream, b"GET /secret HTTP/1.1");
    assert_eq!(flows[1].reopens, None);
    // a retransmitted SYN (same number) stays in its flow
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::c2s(1000).syn(),
        Seg::c2s(1001).data(b"x"),
    ];
    assert_eq!(only(run(&segs)).dir[0].packets, 3);
}

#[test]
fn drain_hands_out_ended_flows_and_tails_follow() {
    let lim = FlowLimits {
        close_linger_nanos: 1000,
        ..FlowLimits::default()
    };
    let mut t = FlowTable::new(lim);
    let other = Seg::new(ep([10, 0, 0, 3], 5555), server(), 1);
    let steps = [
        (Seg::c2s(1000).syn(), 0),
        (Seg::s2c(5000).syn_ack(), 10),
        (Seg::c2s(1001).data(b"q"), 20),
        (Seg::c2s(1002).fin(), 30),
    ];
    for (i, (s, ts)) in steps.iter().enumerate() {
        t.push(i as u64 + 1, *ts, &s.get());
    }
    assert!(t.drain_closed().is_empty());
    t.push(5, 40, &Seg::s2c(5001).fin().get());
    let drained = t.drain_closed();
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0].dir[0].stream, b"q");
    assert_eq!(
        (drained[0].dir[0].packets, drained[0].dir[1].packets),
        (3, 2)
    );
    assert_eq!(t.len(), 1, "a tombstone counts late segments");
    // The last ACK and a late RST are counted on the tombstone.
    t.push(6, 500, &Seg::c2s(1003).ack(5002).get());
    t.push(7, 600, &Seg::c2s(1003).rst().get());
    assert!(t.drain_tails().is_empty(), "still lingering");
    t.push(8, 2000, &other.get());
    let tails = t.drain_tails();
    assert_eq!(tails.len(), 1);
    let tail = &tails[0];
    assert_eq!((tail.first_frame, tail.a), (1, client()));
    assert_eq!(tail.packets, [2, 0]);
    assert_eq!((tail.last_frame, tail.last_ts), (7, 600));
    assert_eq!(tail.rst_frame, [Some(7), None]);
    assert_eq!(t.len(), 1);
    let mut flows = drained;
    apply_tails(&mut flows, &tails);
    assert_eq!(
        (flows[0].dir[0].packets, flows[0].dir[0].rst_frame),
        (5, Some(7))
    );
    assert_eq!(flows[0].last_frame, 7);
    // A segment on the key after the linger is a flow of its own.
    t.push(9, 2700, &Seg::c2s(1003).get());
    let (rest, tails) = t.finish_with_tails();
    assert!(tails.is_empty());
    assert_eq!(
        rest.iter().map(|f| f.first_frame).collect::<Vec<_>>(),
        vec![8, 9]
    );
    assert_eq!(rest[1].client_by, ClientBy::FirstSeen);
}

#[test]
fn tail_applies_to_a_swapped_flow() {
    let mut t = FlowTable::new(FlowLimits::default());
    for (i, s) in closed_connection(1000).iter().enumerate() {
        t.push(i as u64 + 1, i as i64, &s.get());
    }
    let mut flows = t.drain_closed();
    t.push(8, 10, &Seg::s2c(5001).fin().ack(1003).get());
    let (_, tails) = t.finish_with_tails();
    assert_eq!(tails.len(), 1);
    flows[0].swap();
    tails[0].apply(&mut flows[0]);
    assert_eq!((flows[0].dir[0].packets, flows[0].dir[1].packets), (3, 5));
}

#[test]
fn new_bytes_after_the_end_start_a_flow_that_reopens_it() {
    let mut segs = handshake(1000, 5000);
    segs.push(Seg::c2s(1001).data(b"req"));
    segs.push(Seg::s2c(5001).rst());
    // a retransmission of what was sent is only counted; new bytes are never dropped
    segs.push(Seg::c2s(1001).data(b"req"));
    segs.push(Seg::c2s(1004).data(b"more"));
    let flows = run(&segs);
    assert_eq!(flows.len(), 2, "{flows:#?}");
    assert_eq!(flows[0].dir[0].stream, b"req");
    assert_eq!(flows[0].dir[0].packets, 4);
    assert_eq!(flows[0].dir[1].rst_frame, Some(5));
    assert_eq!(flows[1].dir[0].stream, b"more");
    assert_eq!(
        flows[1].reopens,
        Some(Reopened {
            after: 1,
            rst_frame: Some(5)
        })
    );
}

#[test]
fn a_rst_out_of_sequence_is_ignored_and_the_flow_goes_on() {
    let mut segs = handshake(1000, 5000);
    segs.push(Seg::s2c(5001 + 100_000).rst());
    segs.push(Seg::c2s(1001).data(b"GET / HTTP/1.1\r\n\r\n"));
    segs.push(Seg::s2c(5001).data(b"HTTP/1.1 200 OK\r\n\r\n"));
    let f = only(run(&segs));
    assert_eq!(f.dir[1].rst_frame, None);
    assert_eq!(f.dir[0].stream, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(f.dir[1].stream, b"HTTP/1.1 200 OK\r\n\r\n");
    let a = f.dir[1].anomalies.as_deref().unwrap();
    assert_eq!(a.ignored_rst, 1);
    assert_eq!(
        a.first_ignored,
        Some((4, Ignored::RstOutOfSequence { expected: 5001 }))
    );
}

#[test]
fn a_forged_reset_before_the_handshake_does_not_hide_what_follows() {
    // SYN, a RST+ACK "from the server" that acknowledges it, the real SYN-ACK, then data
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::s2c(0).rst_ack(1001),
        Seg::s2c(5000).syn_ack().ack(1001),
        Seg::c2s(1001).ack(5001),
        Seg::c2s(1001).data(b"GET /secret HTTP/1.1\r\n\r\n"),
        Seg::s2c(5001).data(b"HTTP/1.1 200 OK\r\n\r\n"),
    ];
    let flows = run(&segs);
    assert_eq!(flows.len(), 2, "{flows:#?}");
    assert!(flows[0].is_empty());
    let f = &flows[1];
    assert_eq!(f.reopens.map(|r| r.after), Some(1));
    assert_eq!(f.a, client());
    assert_eq!(f.dir[0].stream, b"GET /secret HTTP/1.1\r\n\r\n");
    // a RST that does not acknowledge the SYN is ignored: one flow
    let segs = [
        Seg::c2s(1000).syn(),
        Seg::s2c(0).rst_ack(4242),
        Seg::s2c(5000).syn_ack().ack(1001),
        Seg::c2s(1001).data(b"GET /secret HTTP/1.1\r\n\r\n"),
    ];
    let f = only(run(&segs));
    assert_eq!(f.dir[0].stream, b"GET /secret HTTP/1.1\r\n\r\n");
    assert_eq!(f.dir[1].anomalies.as_deref().unwrap().ignored_rst, 1);
}

#[test]
fn overlapping_bytes_that_differ_are_kept_first_and_recorded() {
    let mut segs = handshake(1000, 5000);
    // in order first, then a copy with other bytes
    segs.push(Seg::c2s(1001).data(b"\x16\x03\x01fake"));
    segs.push(Seg::c2s(1001).data(b"GET /x HTTP"));
    // held out of order, then overlapped by other bytes
    segs.push(Seg::c2s(1020).data(b"later"));
    segs.push(Seg::c2s(1020).data(b"LATER"));
    segs.push(Seg::c2s(1012).data(b"/1.1\r\n\r\n"));
    let f = only(run(&segs));
    let d = &f.dir[0];
    assert_eq!(&d.stream[..7], b"\x16\x03\x01fake");
    let a = d.anomalies.as_deref().unwrap();
    assert_eq!(a.conflicts, 2);
    assert_eq!(a.alternates[0].offset, 0);
    assert_eq!(&a.alternates[0].bytes[..], b"GET /x ");
    assert_eq!(
        (a.alternates[0].frame, a.alternates[0].kept_frame),
        (5, Some(4))
    );
    assert_eq!(&a.alternates[1].bytes[..], b"LATER");
    assert_eq!(a.alternates[1].offset, 19);
    assert_eq!(&d.stream[19..24], b"later");
    // a faithful retransmission is no conflict
    let mut segs = handshake(1000, 5000);
    segs.push(Seg::c2s(1001).data(b"same"));
    segs.push(Seg::c2s(1001).data(b"same"));
    assert!(only(run(&segs)).dir[0].anomalies.is_none());
}

#[test]
fn idle_timeout_splits_a_silent_flow() {
    let lim = FlowLimits {
        idle_timeout_nanos: Some(1000),
        ..FlowLimits::default()
    };
    let mut t = FlowTable::new(lim);
    t.push(1, 0, &Seg::c2s(1).data(b"a").get());
    t.push(2, 500, &Seg::c2s(2).data(b"b").get());
    t.push(3, 5000, &Seg::c2s(3).data(b"c").get());
    let flows = t.finish();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].dir[0].stream, b"ab");
    assert_eq!(flows[1].dir[0].stream, b"c");
}

/// Many interleaved connections, some reusing ports, some out of order.
fn traffic() -> Vec<(i64, Seg)> {
    let mut out = Vec::new();
    let mut ts = 0i64;
    for round in 0..3u32 {
        for i in 0..40u16 {
            let c = ep([10, 1, (i % 7) as u8, 1], 40000 + i);
            let s = ep([10, 2, 0, (i % 3) as u8], 443);
            let isn = round * 100_000 + u32::from(i) * 7;
            let body = format!("round {round} flow {i}");
            ts += 1;
            out.push((ts, Seg::new(c, s, isn).syn()));
            out.push((ts, Seg::new(s, c, 9).syn_ack()));
            let half = body.len() / 2;
            let (x, y) = body.as_bytes().split_at(half);
            if i % 2 == 0 {
                out.push((ts, Seg::new(c, s, isn + 1 + half as u32).data(y)));
                out.push((ts, Seg::new(c, s, isn + 1).data(x)));
            } else {
                out.push((ts, Seg::new(c, s, isn + 1).data(x)));
                out.push((ts, Seg::new(c, s, isn + 1 + half as u32).data(y)));
            }
            if i % 5 != 0 {
                let fin = isn + 1 + body.len() as u32;
                out.push((ts, Seg::new(c, s, fin).fin().ack(10)));
                out.push((ts, Seg::new(s, c, 10).fin().ack(fin + 1)));
                if i % 5 == 1 {
                    out.push((ts, Seg::new(c, s, fin + 1).ack(11)));
                }
                if i % 5 == 2 {
                    ts += 2;
                    out.push((ts, Seg::new(s, c, 10).fin().ack(fin + 1)));
                    out.push((ts, Seg::new(c, s, fin + 1).rst()));
                }
            }
        }
    }
    out
}

#[test]
fn finish_is_ordered_and_sharding_and_draining_change_nothing() {
    let traffic = traffic();
    let mut single = FlowTable::new(FlowLimits::default());
    for (i, (ts, s)) in traffic.iter().enumerate() {
        single.push(i as u64 + 1, *ts, &s.get());
    }
    let reference = single.finish();
    assert!(reference
        .windows(2)
        .all(|w| w[0].first_frame < w[1].first_frame));
    // 3 rounds of 40 connections on 40 keys: the SYNs of later rounds reuse the keys, ended
    // or not (a fresh SYN with a new initial sequence number is a new connection).
    assert_eq!(reference.len(), 3 * 40);

    for linger in [0, 3, 1_000_000] {
        let lim = FlowLimits {
            close_linger_nanos: linger,
            ..FlowLimits::default()
        };
        let mut same = FlowTable::new(lim.clone());
        for (i, (ts, s)) in traffic.iter().enumerate() {
            same.push(i as u64 + 1, *ts, &s.get());
        }
        let want = format!("{:?}", same.finish());
        for (n, every) in [(1usize, 1usize), (2, 1), (3, 1), (3, 5)] {
            let mut tables: Vec<FlowTable> = (0..n).map(|_| FlowTable::new(lim.clone())).collect();
            let mut parts = Vec::new();
            let mut tails = Vec::new();
            for (i, (ts, s)) in traffic.iter().enumerate() {
                let seg = s.get();
                let t = &mut tables[FlowTable::shard_of(&seg, n)];
                t.push(i as u64 + 1, *ts, &seg);
                if i % every == 0 {
                    parts.push(t.drain_closed());
                    tails.extend(t.drain_tails());
                }
            }
            for t in tables {
                let (flows, rest) = t.finish_with_tails();
                parts.push(flows);
                tails.extend(rest);
            }
            let mut merged = merge_flows(parts);
            apply_tails(&mut merged, &tails);
            assert_eq!(
                format!("{merged:?}"),
                want,
                "{n} shards, drain every {every}, linger {linger}"
            );
        }
    }
}

#[test]
fn shard_of_is_symmetric_and_spread() {
    let n = 4;
    let mut counts = [0usize; 4];
    for i in 0..1000u16 {
        let c = ep([10, 0, (i >> 8) as u8, i as u8], 30000 + i);
        let s = ep([10, 9, 9, 9], 8080);
        let fwd = FlowTable::shard_of(&Seg::new(c, s, 1).get(), n);
        let back = FlowTable::shard_of(&Seg::new(s, c, 1).get(), n);
        assert_eq!(fwd, back);
        counts[fwd] += 1;
    }
    assert!(counts.iter().all(|&c| c > 180), "{counts:?}");
    assert_eq!(FlowTable::shard_of(&Seg::c2s(1).get(), 0), 0);
    assert_eq!(FlowTable::shard_of(&Seg::c2s(1).get(), 1), 0);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// A stream, cut into segments, delivered in a scrambled order with duplicates and
    /// re-cut retransmissions.
    #[derive(Debug, Clone)]
    struct Delivery {
        data: Vec<u8>,
        isn: u32,
        /// `(start, end)` byte ranges, in arrival order.
        order: Vec<(usize, usize)>,
    }

    fn delivery(synless_descending: bool) -> impl Strategy<Value = Delivery> {
        (
            proptest::collection::vec(any::<u8>(), 1..1500),
            any::<u32>(),
            proptest::collection::vec(1usize..200, 1..40),
            proptest::collection::vec((any::<prop::sample::Index>(), 1usize..300), 0..8),
            any::<u64>(),
        )
            .prop_map(move |(data, isn, cuts, extra, shuffle_seed)| {
                // At most 40 segments (well under the held-piece limit): the last one takes
                // whatever the cuts left.
                let mut ranges = Vec::new();
                let mut at = 0;
                let mut cut = cuts.iter();
                while at < data.len() {
                    let size = cut.next().copied().unwrap_or(data.len());
                    let end = (at + size).min(data.len());
                    ranges.push((at, end));
                    at = end;
                }
                let mut order = ranges.clone();
                if synless_descending {
                    order.reverse();
                } else {
                    // Deterministic shuffle from the seed.
                    let mut x = shuffle_seed | 1;
                    for i in (1..order.len()).rev() {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        order.swap(i, (x % (i as u64 + 1)) as usize);
                    }
                }
                // Retransmissions with other boundaries, inserted anywhere after the start.
                for (idx, len) in extra {
                    let start = idx.index(data.len());
                    let end = (start + len).min(data.len());
                    let at = 1 + idx.index(order.len());
                    order.insert(at.min(order.len()), (start, end));
                }
                Delivery { data, isn, order }
            })
    }

    fn reassemble(d: &Delivery, syn: bool, cap: usize) -> Flow {
        let base = d.isn.wrapping_add(1);
        let mut segs = Vec::new();
        if syn {
            segs.push(Seg::c2s(d.isn).syn());
        }
        for &(s, e) in &d.order {
            segs.push(Seg::c2s(base.wrapping_add(s as u32)).data(&d.data[s..e]));
        }
        only(run_with(limits(cap), &segs))
    }

    fn check(d: &Delivery, f: &Flow, cap: usize) {
        let c = &f.dir[0];
        let want = &d.data[..d.data.len().min(cap)];
        assert_eq!(c.stream, want);
        assert!(c.holes.is_empty());
        assert_eq!(c.gaps, 0);
        assert_eq!(c.payload_bytes, d.data.len() as u64);
        assert_eq!(c.prefix_full, d.data.len() > cap);
        assert!(c.frames.windows(2).all(|w| w[0].0 < w[1].0));
        for off in 0..c.stream.len() {
            let frame = c.frame_at(off).unwrap();
            let (s, e) = d.order[frame as usize - 2];
            assert!((s..e).contains(&off), "offset {off} frame {frame}");
        }
    }

    proptest! {
        #[test]
        fn any_delivery_reassembles_exactly(d in delivery(false), cap in 1usize..2000) {
            let f = reassemble(&d, true, cap);
            check(&d, &f, cap);
        }

        #[test]
        fn synless_backwards_delivery_reassembles_exactly(
            d in delivery(true),
            cap in 1usize..2000,
        ) {
            let f = reassemble(&d, false, cap);
            let c = &f.dir[0];
            prop_assert_eq!(c.payload_bytes, d.data.len() as u64);
            prop_assert!(c.holes.is_empty());
            if d.data.len() <= cap {
                prop_assert_eq!(&c.stream, &d.data);
                prop_assert!(!c.prefix_full);
            } else {
                // Prepending stops when the prefix is full: the stream is then a window of it.
                prop_assert_eq!(c.stream.len(), cap);
                prop_assert!(c.prefix_full);
                prop_assert!(d.data.windows(cap).any(|w| w == &c.stream[..]));
            }
        }

        #[test]
        fn hostile_segments_keep_invariants(
            segs in proptest::collection::vec(
                (any::<bool>(), any::<u32>(), 0u8..64, proptest::collection::vec(any::<u8>(), 0..100), 0u32..5000),
                1..60,
            ),
            cap in 0usize..300,
        ) {
            let segs: Vec<Seg> = segs
                .into_iter()
                .map(|(fwd, seq, flags, data, missing)| {
                    let s = if fwd { Seg::c2s(seq) } else { Seg::s2c(seq) };
                    s.flags(flags).data(&data).missing(if missing % 3 == 0 { missing } else { 0 })
                })
                .collect();
            for f in run_with(limits(cap), &segs) {
                for d in &f.dir {
                    prop_assert!(d.stream.len() <= cap);
                    prop_assert!(d.frames.windows(2).all(|w| w[0].0 < w[1].0));
                    prop_assert!(d.frames.iter().all(|&(o, _)| (o as usize) < d.stream.len()));
                    prop_assert!(d.holes.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(d.holes.iter().all(|&h| h as usize <= d.stream.len()));
                }
            }
        }
    }
}

/// Rough throughput on synthetic traffic shaped like the reference workload (about 19 packets
/// of about 420 payload bytes per flow, 1000 flows open at once). Run with
/// `cargo test --release --lib flow::table::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_synthetic() {
    use crate::decode::{Segment, TcpFlags};
    let payload = vec![0x17u8; 1460];
    let flows = 50_000u32;
    let concurrent = 1000u32;
    let s = server();
    // Per flow: handshake, a request, a multi-segment response, more exchanges, close.
    let script: Vec<(bool, u8, usize)> = {
        let mut v = vec![
            (true, TcpFlags::SYN, 0),
            (false, TcpFlags::SYN | TcpFlags::ACK, 0),
            (true, TcpFlags::ACK, 0),
            (true, TcpFlags::ACK | TcpFlags::PSH, 517),
        ];
        for _ in 0..3 {
            v.push((false, TcpFlags::ACK, 1400));
        }
        for _ in 0..4 {
            v.push((true, TcpFlags::ACK, 300));
            v.push((false, TcpFlags::ACK, 600));
        }
        v.push((true, TcpFlags::ACK, 0));
        v.push((true, TcpFlags::FIN | TcpFlags::ACK, 0));
        v.push((false, TcpFlags::FIN | TcpFlags::ACK, 0));
        v.push((true, TcpFlags::ACK, 0));
        v
    };
    let mut table = FlowTable::new(FlowLimits::default());
    let mut seqs = vec![[0u32; 2]; concurrent as usize];
    let mut frame = 0u64;
    let mut bytes = 0u64;
    let mut finished = 0usize;
    let mut peak_keys = 0usize;
    let start = std::time::Instant::now();
    for batch in 0..flows / concurrent {
        for step in &script {
            for slot in 0..concurrent {
                let id = batch * concurrent + slot;
                let c = ep(
                    [10, 1, (id >> 8) as u8, id as u8],
                    10_000 + (id % 50_000) as u16,
                );
                let (fwd, flags, len) = *step;
                let d = usize::from(!fwd);
                let ack = seqs[slot as usize][1 - d];
                let seq = &mut seqs[slot as usize][d];
                if flags & TcpFlags::SYN != 0 {
                    *seq = id.wrapping_mul(2_654_435_761) ^ d as u32;
                }
                let (src, dst) = if fwd { (c, s) } else { (s, c) };
                frame += 1;
                let seg = Segment {
                    transport: crate::decode::Transport::Tcp,
                    src,
                    dst,
                    seq: *seq,
                    ack,
                    flags: TcpFlags(flags),
                    payload: &payload[..len],
                    payload_missing: 0,
                    loopback_if: false,
                    if_index: None,
                    ttl: None,
                    tcp: &[],
                };
                table.push(frame, frame as i64 * 1000, &seg);
                *seq = seq.wrapping_add(
                    len as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0),
                );
                bytes += len as u64 + 66;
                if frame % 4096 == 0 {
                    finished += table.drain_closed().len();
                    table.drain_tails();
                    peak_keys = peak_keys.max(table.len());
                }
            }
        }
    }
    finished += table.finish().len();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{frame} packets, {finished} flows, {:.1} Mpkt/s, {:.2} GB/s of frames, FlowState {} bytes, peak {peak_keys} keys",
        frame as f64 / secs / 1e6,
        bytes as f64 / secs / 1e9,
        std::mem::size_of::<FlowState>()
    );
    assert_eq!(finished, flows as usize);
}

#[test]
fn a_tombstone_stays_small() {
    // one per connection closed within the linger: a capture holds many
    assert!(
        std::mem::size_of::<Tomb>() <= 96,
        "{}",
        std::mem::size_of::<Tomb>()
    );
}

#[test]
fn bytes_injected_far_ahead_neither_shield_a_reset_nor_swallow_a_new_connection() {
    // An injected segment far beyond the client's bytes does not move what the receiver
    // expects: the client's RST at the end of its in-order bytes still ends the flow, and the
    // new connection on the same ports (another ISN) is a flow of its own, its bytes read.
    for with_rst in [true, false] {
        let mut segs = handshake(1000, 5000);
        segs.push(Seg::c2s(1001).data(b"hello"));
        segs.push(Seg::c2s(1006 + 1_000_000).data(b"\x16\x03\x01\x00\x05hello"));
        if with_rst {
            segs.push(Seg::c2s(1006).rst());
        }
        segs.push(Seg::c2s(9000).syn());
        segs.push(Seg::s2c(7000).syn_ack().ack(9001));
        segs.push(Seg::c2s(9001).data(b"GET /secret HTTP/1.1\r\n\r\n"));
        let flows = run(&segs);
        assert_eq!(flows.len(), 2, "{flows:#?}");
        assert_eq!(flows[0].dir[0].stream, b"hello");
        assert_eq!(flows[0].dir[0].rst_frame.is_some(), with_rst);
        assert_eq!(flows[1].dir[0].stream, b"GET /secret HTTP/1.1\r\n\r\n");
    }
}
