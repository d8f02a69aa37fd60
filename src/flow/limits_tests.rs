//! The table's bounds: flow count and buffered bytes, and what it counts when one is hit.

use super::*;
use crate::flow::testkit::{client, ep, server, Seg};

fn limits(max_flows: usize, max_buffered_bytes: usize) -> FlowLimits {
    FlowLimits {
        max_flows,
        max_buffered_bytes,
        ..FlowLimits::default()
    }
}

fn syn_from(port: u16) -> Seg {
    Seg::new(ep([10, 0, 0, 9], port), server(), 7).syn()
}

#[test]
fn a_syn_flood_keeps_the_table_at_its_flow_limit() {
    let mut table = FlowTable::new(limits(3, usize::MAX));
    for (i, port) in (1000..1010).enumerate() {
        table.push(i as u64 + 1, i as i64, &syn_from(port).get());
        assert!(
            table.len() <= 3,
            "{} keys after {} SYNs",
            table.len(),
            i + 1
        );
    }
    let counters = table.counters();
    assert_eq!(counters.flows_evicted_for_count, 7);
    assert_eq!(counters.flows_evicted_for_bytes, 0);
    assert_eq!(counters.peak_flows, 3);
    assert!(counters.limit_hit());
    let warnings = counters.warnings(&limits(3, usize::MAX));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("flow table full (3 concurrent connections"));
    let flows = table.finish();
    // Every SYN is still reported, each as its own flow, in first-seen order.
    let ports: Vec<u16> = flows.iter().map(|f| f.a.port).collect();
    assert_eq!(ports, (1000..1010).collect::<Vec<_>>());
}

#[test]
fn drained_flood_holds_only_the_limit() {
    let mut table = FlowTable::new(limits(100, usize::MAX));
    let mut out = 0;
    for i in 0..10_000u64 {
        let port = 1024 + (i % 60_000) as u16;
        table.push(i + 1, i as i64, &syn_from(port).get());
        if i % 500 == 0 {
            out += table.drain_closed().len();
        }
        assert!(table.len() <= 100);
    }
    out += table.finish().len();
    assert_eq!(out, 10_000);
}

#[test]
fn ended_flows_make_room_before_open_ones() {
    let mut table = FlowTable::new(limits(2, usize::MAX));
    let segs = [
        Seg::c2s(100).syn(),
        Seg::c2s(101).data(b"hi"),
        Seg::c2s(103).fin(),
        Seg::s2c(500).fin(),
        syn_from(2000),
        syn_from(2001),
    ];
    for (i, s) in segs.iter().enumerate() {
        table.push(i as u64 + 1, i as i64, &s.get());
    }
    let c = table.counters();
    // The ended flow gave way (its tombstone then dropped); no open flow was cut.
    assert_eq!(c.flows_evicted_for_count, 0);
    assert_eq!(c.tombstones_dropped, 1);
    let flows = table.finish();
    assert_eq!(flows.len(), 3);
    assert_eq!(flows[0].a, client());
    assert_eq!(flows[0].dir[0].stream, b"hi");
}

#[test]
fn buffered_bytes_over_the_limit_hand_out_the_oldest_flow() {
    let other = ep([10, 0, 0, 3], 5555);
    let chunk = vec![b'x'; 6000];
    let mut table = FlowTable::new(limits(1000, 10_000));
    table.push(1, 1, &Seg::c2s(1).data(&chunk).get());
    table.push(2, 2, &Seg::new(other, server(), 1).data(&chunk).get());
    let c = table.counters();
    assert_eq!(c.flows_evicted_for_bytes, 1);
    assert!(
        table.buffered_bytes() <= 10_000,
        "{}",
        table.buffered_bytes()
    );
    assert_eq!(
        c.warnings(&limits(1000, 10_000)),
        [
            "buffered stream bytes reached the limit of 0 MiB: 1 open flows were reported before \
          their end with the bytes they had; a flow split this way shows up as two; raise the \
          buffer limit to avoid it"
        ]
    );
    // The first flow's next segment starts a new flow.
    table.push(3, 3, &Seg::c2s(6001).data(b"more").get());
    let flows = table.finish();
    assert_eq!(flows.len(), 3);
    assert_eq!(flows[0].dir[0].stream.len(), 6000);
    assert_eq!(flows[2].dir[0].stream, b"more");
}

#[test]
fn a_single_flow_larger_than_the_budget_is_kept() {
    let mut table = FlowTable::new(limits(10, 100));
    table.push(1, 1, &Seg::c2s(1).data(&[1; 500]).get());
    table.push(2, 2, &Seg::c2s(501).data(&[2; 500]).get());
    assert_eq!(table.counters().flows_evicted_for_bytes, 0);
    let flows = table.finish();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].dir[0].stream.len(), 1000);
}

#[test]
fn default_limits_are_not_hit_by_ordinary_traffic() {
    let mut table = FlowTable::new(FlowLimits::default());
    for i in 0..100u64 {
        table.push(i + 1, i as i64, &syn_from(3000 + i as u16).get());
    }
    assert!(!table.counters().limit_hit());
    assert!(table.counters().warnings(&FlowLimits::default()).is_empty());
}

#[test]
fn buffered_bytes_return_to_zero_when_flows_are_drained() {
    let mut table = FlowTable::new(FlowLimits::default());
    table.push(1, 1, &Seg::c2s(1).data(b"abc").get());
    assert!(table.buffered_bytes() >= 3);
    table.push(2, 2, &Seg::c2s(4).rst().get());
    assert_eq!(table.drain_closed().len(), 1);
    assert_eq!(table.buffered_bytes(), 0);
}

/// Regression (found by the reassembly fuzz target): when every open flow had been active since
/// it was queued, eviction gave up after one pass and the table grew past its limit.
#[test]
fn eviction_finds_a_flow_when_all_were_active_since_queued() {
    let mut table = FlowTable::new(limits(2, usize::MAX));
    let (a, b, c) = (syn_from(1), syn_from(2), syn_from(3));
    for (i, s) in [&a, &b, &a, &b, &c].iter().enumerate() {
        table.push(i as u64 + 1, i as i64, &s.get());
    }
    assert_eq!(table.len(), 2);
    assert_eq!(table.counters().flows_evicted_for_count, 1);
}
