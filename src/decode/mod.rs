//! Link, IP and TCP decoding: a captured frame becomes a TCP [`Segment`] borrowing its payload,
//! or a [`Skip`] reason the report can tally.

use std::net::IpAddr;

use crate::capture::LinkType;

/// One end of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A decoded TCP segment. `payload` borrows the frame's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// The captured part of the TCP payload.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen cut the packet).
    pub payload_missing: u32,
    /// The link layer says the packet was seen on a loopback interface
    /// (Linux cooked capture with ARPHRD_LOOPBACK, 772).
    pub loopback_if: bool,
}

/// Why a frame did not yield a TCP segment. Counted per capture, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Skip {
    /// The frame ends before the headers do (cut by the snaplen, or corrupt).
    Truncated,
    /// The interface's link type is not one the decoder knows.
    UnsupportedLink(LinkType),
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// An IP fragment (not reassembled).
    IpFragment,
    /// An IP header that is malformed (bad version, header length, total length).
    BadIpHeader,
    /// A TCP header that is malformed (data offset too small or beyond the packet).
    BadTcpHeader,
}

impl Skip {
    /// A stable name for report tallies.
    pub fn name(self) -> &'static str {
        match self {
            Skip::Truncated => "truncated",
            Skip::UnsupportedLink(_) => "unsupported-link-type",
            Skip::NotIp => "not-ip",
            Skip::NotTcp => "not-tcp",
            Skip::IpFragment => "ip-fragment",
            Skip::BadIpHeader => "bad-ip-header",
            Skip::BadTcpHeader => "bad-tcp-header",
        }
    }
}

/// Decodes one frame of the given link type down to its TCP segment.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let _ = data;
    Err(Skip::UnsupportedLink(link))
}
