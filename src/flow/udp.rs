//! UDP flows: the datagrams between two endpoints, from the first until the pair falls silent
//! for [`IDLE_NANOS`]. Nothing is reassembled; the first datagrams of each direction are kept
//! whole (bounded in number and bytes) for classification, the rest are counted.
//!
//! The client is the endpoint that sent the first datagram, unless that datagram comes from a
//! well-known service port to a higher one (the capture began with a reply).

use std::collections::HashMap;

use crate::decode::{Endpoint, Segment};
use crate::hash::FxBuildHasher;

use super::key::FlowKey;

/// A pair silent this long ends its flow; the next datagram starts a new one (60 s: what
/// conntrack keeps an unreplied UDP entry for is 30 s, a replied one 120 s).
pub const IDLE_NANOS: i64 = 60 * 1_000_000_000;
/// Datagrams kept whole per direction (a DTLS handshake with fragmented certificates takes a
/// dozen before it encrypts).
pub const KEPT_DATAGRAMS: usize = 16;
/// Bytes kept per datagram (the rest of a larger one is counted).
pub const KEPT_BYTES: usize = 2048;

/// One datagram as kept: the frame that carried it and its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub frame: u64,
    pub bytes: Vec<u8>,
    /// Bytes of the datagram beyond `bytes` (not kept, or not captured).
    pub cut: u32,
}

/// A UDP flow: both endpoints (client first), when it was seen, and what each side sent.
#[derive(Debug, Clone)]
pub struct UdpFlow {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The client was told by the server's well-known port, not by who spoke first.
    pub client_by_port: bool,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Some datagram was captured on a loopback interface.
    pub loopback_if: bool,
    /// `[client, server]` datagrams and payload bytes.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// `[client, server]`: the first [`KEPT_DATAGRAMS`] datagrams of each side.
    pub datagrams: [Vec<Datagram>; 2],
}

impl UdpFlow {
    fn new(frame: u64, ts: i64, seg: &Segment<'_>) -> UdpFlow {
        let reply = is_service_port(seg.src.port) && seg.dst.port > seg.src.port;
        let (client, server) = match reply {
            true => (seg.dst, seg.src),
            false => (seg.src, seg.dst),
        };
        UdpFlow {
            client,
            server,
            client_by_port: reply,
            first_frame: frame,
            last_frame: frame,
            first_ts: ts,
            last_ts: ts,
            loopback_if: false,
            packets: [0; 2],
            bytes: [0; 2],
            datagrams: [Vec::new(), Vec::new()],
        }
    }

    fn add(&mut self, frame: u64, ts: i64, seg: &Segment<'_>) {
        let side = usize::from(seg.src != self.client);
        self.last_frame = frame;
        self.last_ts = self.last_ts.max(ts);
        self.loopback_if |= seg.loopback_if;
        let size = seg.payload.len() as u64 + u64::from(seg.payload_missing);
        if let (Some(n), Some(b)) = (self.packets.get_mut(side), self.bytes.get_mut(side)) {
            *n += 1;
            *b += size;
        }
        if let Some(kept) = self.datagrams.get_mut(side) {
            if kept.len() < KEPT_DATAGRAMS {
                let bytes = seg.payload.get(..KEPT_BYTES).unwrap_or(seg.payload);
                let cut = size.saturating_sub(bytes.len() as u64);
                kept.push(Datagram {
                    frame,
                    bytes: bytes.to_vec(),
                    cut: u32::try_from(cut).unwrap_or(u32::MAX),
                });
            }
        }
    }

    /// Bytes held for the flow.
    fn held(&self) -> usize {
        self.datagrams.iter().flatten().map(|d| d.bytes.len()).sum()
    }
}

/// A port below 1024, or one of the services that run above it and answer from it.
fn is_service_port(port: u16) -> bool {
    port < 1024 || matches!(port, 4500 | 4789 | 6081 | 8125 | 8472 | 51820 | 51871)
}

/// The open UDP flows, bounded in number and in bytes held.
#[derive(Debug)]
pub struct UdpTable {
    open: HashMap<FlowKey, UdpFlow, FxBuildHasher>,
    max_flows: usize,
    max_bytes: usize,
    held: usize,
    /// Flows that ended (idle, or pushed out when the table was full), not yet taken.
    ended: Vec<UdpFlow>,
    /// Times the table was full and every open flow was ended early.
    pub flushes: u64,
}

impl UdpTable {
    pub fn new(max_flows: usize, max_bytes: usize) -> UdpTable {
        UdpTable {
            open: HashMap::default(),
            max_flows: max_flows.max(1),
            max_bytes,
            held: 0,
            ended: Vec::new(),
            flushes: 0,
        }
    }

    /// Adds a UDP datagram (a segment whose transport is UDP) seen in `frame` at `ts`.
    pub fn push(&mut self, frame: u64, ts: i64, seg: &Segment<'_>) {
        let (key, _) = FlowKey::new(&seg.src, &seg.dst);
        if let Some(flow) = self.open.get(&key) {
            if ts.saturating_sub(flow.last_ts) > IDLE_NANOS {
                if let Some(done) = self.open.remove(&key) {
                    self.held = self.held.saturating_sub(done.held());
                    self.ended.push(done);
                }
            }
        }
        if !self.open.contains_key(&key) && self.open.len() >= self.max_flows {
            self.flush();
        }
        let flow = self
            .open
            .entry(key)
            .or_insert_with(|| UdpFlow::new(frame, ts, seg));
        let before = flow.held();
        flow.add(frame, ts, seg);
        self.held = self.held + flow.held() - before;
        if self.held > self.max_bytes {
            self.flush();
        }
    }

    /// Ends every open flow: the table is full.
    fn flush(&mut self) {
        self.flushes += 1;
        self.held = 0;
        self.ended.extend(self.open.drain().map(|(_, flow)| flow));
    }

    /// The flows that ended since the last call.
    pub fn drain_ended(&mut self) -> Vec<UdpFlow> {
        std::mem::take(&mut self.ended)
    }

    /// Every flow, ended or open: the input is over.
    pub fn finish(mut self) -> Vec<UdpFlow> {
        let mut all = std::mem::take(&mut self.ended);
        all.extend(self.open.into_values());
        all
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::decode::{TcpFlags, Transport};

    fn datagram(src: u16, dst: u16, payload: &[u8]) -> Segment<'_> {
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        Segment {
            transport: Transport::Udp,
            src: Endpoint {
                ip: ip(u8::from(src != 53) + 1),
                port: src,
            },
            dst: Endpoint {
                ip: ip(u8::from(dst != 53) + 1),
                port: dst,
            },
            seq: 0,
            ack: 0,
            flags: TcpFlags::default(),
            payload,
            payload_missing: 0,
            loopback_if: false,
            if_index: None,
            ttl: Some(64),
            tcp: &[],
        }
    }

    #[test]
    fn a_query_and_its_answer_are_one_flow_and_silence_ends_it() {
        let mut t = UdpTable::new(10, 1 << 20);
        t.push(1, 0, &datagram(40000, 53, b"query"));
        t.push(2, 1_000, &datagram(53, 40000, b"answer"));
        t.push(3, IDLE_NANOS + 10_000, &datagram(40000, 53, b"later"));
        let mut flows = t.finish();
        flows.sort_by_key(|f| f.first_frame);
        assert_eq!(flows.len(), 2);
        let f = &flows[0];
        assert_eq!((f.client.port, f.server.port), (40000, 53));
        assert_eq!((f.packets, f.bytes), ([1, 1], [5, 6]));
        assert_eq!(f.datagrams[1][0].bytes, b"answer");
        assert_eq!(flows[1].first_frame, 3);
    }

    #[test]
    fn a_capture_that_begins_with_a_reply_names_the_client_by_port() {
        let mut t = UdpTable::new(10, 1 << 20);
        t.push(1, 0, &datagram(53, 40000, b"answer"));
        let f = &t.finish()[0];
        assert_eq!((f.client.port, f.client_by_port), (40000, true));
        assert_eq!(f.packets, [0, 1]);
    }

    #[test]
    fn kept_bytes_and_flows_are_bounded() {
        let big = vec![7u8; 9000];
        let mut t = UdpTable::new(3, 1 << 20);
        for i in 0..20u16 {
            t.push(u64::from(i), 0, &datagram(40000 + i, 9999, &big));
        }
        for _ in 0..20 {
            t.push(100, 0, &datagram(40000, 9999, &big));
        }
        assert!(t.flushes > 0);
        let flows = t.finish();
        let packets: u64 = flows.iter().map(|f| f.packets[0]).sum();
        assert_eq!(packets, 40, "every datagram is counted");
        for f in &flows {
            assert!(f.datagrams[0].len() <= KEPT_DATAGRAMS);
            assert!(f.datagrams[0].iter().all(|d| d.bytes.len() == KEPT_BYTES));
            assert!(f.datagrams[0]
                .iter()
                .all(|d| d.cut == 9000 - KEPT_BYTES as u32));
        }
    }
}
