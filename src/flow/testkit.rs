//! Hand-made segments for the flow tests.

use std::net::{IpAddr, Ipv4Addr};

use crate::decode::{Endpoint, Segment, TcpFlags};

/// An IPv4 endpoint.
pub(crate) fn ep(ip: [u8; 4], port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::from(ip)),
        port,
    }
}

/// The client and server endpoints most tests use.
pub(crate) fn client() -> Endpoint {
    ep([10, 0, 0, 1], 43512)
}

pub(crate) fn server() -> Endpoint {
    ep([10, 0, 0, 2], 443)
}

/// An owned segment, turned into a [`Segment`] with [`Seg::get`].
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    missing: u32,
    loopback: bool,
}

impl Seg {
    /// A bare ACK from `src` to `dst` with sequence number `seq`.
    pub(crate) fn new(src: Endpoint, dst: Endpoint, seq: u32) -> Seg {
        Seg {
            src,
            dst,
            seq,
            ack: 0,
            flags: TcpFlags::ACK,
            payload: Vec::new(),
            missing: 0,
            loopback: false,
        }
    }

    /// Client to server.
    pub(crate) fn c2s(seq: u32) -> Seg {
        Seg::new(client(), server(), seq)
    }

    /// Server to client.
    pub(crate) fn s2c(seq: u32) -> Seg {
        Seg::new(server(), client(), seq)
    }

    pub(crate) fn flags(mut self, flags: u8) -> Seg {
        self.flags = flags;
        self
    }

    /// A SYN (no ACK).
    pub(crate) fn syn(self) -> Seg {
        self.flags(TcpFlags::SYN)
    }

    /// A SYN-ACK.
    pub(crate) fn syn_ack(self) -> Seg {
        self.flags(TcpFlags::SYN | TcpFlags::ACK)
    }

    pub(crate) fn fin(self) -> Seg {
        self.flags(TcpFlags::FIN | TcpFlags::ACK)
    }

    pub(crate) fn rst(self) -> Seg {
        self.flags(TcpFlags::RST)
    }

    /// A RST+ACK acknowledging `ack`.
    pub(crate) fn rst_ack(self, ack: u32) -> Seg {
        self.flags(TcpFlags::RST | TcpFlags::ACK).ack(ack)
    }

    /// Sets the acknowledgment number.
    pub(crate) fn ack(mut self, ack: u32) -> Seg {
        self.ack = ack;
        self
    }

    pub(crate) fn data(mut self, bytes: &[u8]) -> Seg {
        self.payload = bytes.to_vec();
        self
    }

    /// `n` payload bytes cut off by the snaplen.
    pub(crate) fn missing(mut self, n: u32) -> Seg {
        self.missing = n;
        self
    }

    pub(crate) fn loopback(mut self) -> Seg {
        self.loopback = true;
        self
    }

    pub(crate) fn get(&self) -> Segment<'_> {
        Segment {
            transport: crate::decode::Transport::Tcp,
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags),
            payload: &self.payload,
            payload_missing: self.missing,
            loopback_if: self.loopback,
            if_index: None,
            ttl: None,
            tcp: &[],
        }
    }
}
