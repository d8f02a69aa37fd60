//! Builders of hand-made pcap and pcapng files for the tests of this module.

use std::io::{self, Read};

/// A reader handing out at most `step` bytes per call, like a pipe.
#[derive(Debug)]
pub(crate) struct Trickle<'a> {
    pub data: &'a [u8],
    pub step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Header fields of a classic pcap file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PcapOpts {
    pub big: bool,
    pub nanos: bool,
    pub link: u32,
}

impl Default for PcapOpts {
    fn default() -> Self {
        PcapOpts {
            big: false,
            nanos: false,
            link: 1,
        }
    }
}

/// A classic pcap file with records `(seconds, fraction, data, original length)`.
pub(crate) fn pcap_file(opts: PcapOpts, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let u32b = |v: u32| {
        if opts.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if opts.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic: u32 = if opts.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut out = Vec::new();
    out.extend(u32b(magic));
    out.extend(u16b(2));
    out.extend(u16b(4));
    out.extend(u32b(0));
    out.extend(u32b(0));
    out.extend(u32b(262_144));
    out.extend(u32b(opts.link));
    for &(sec, frac, data, orig) in records {
        out.extend(u32b(sec));
        out.extend(u32b(frac));
        out.extend(u32b(data.len() as u32));
        out.extend(u32b(orig));
        out.extend_from_slice(data);
    }
    out
}

/// A pcapng file built block by block, in one byte order.
#[derive(Debug, Clone)]
pub(crate) struct Ng {
    big: bool,
    out: Vec<u8>,
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

impl Ng {
    pub fn new(big: bool) -> Ng {
        Ng {
            big,
            out: Vec::new(),
        }
    }

    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A block with a consistent length around `body` (padded to 4 bytes).
    fn block(mut self, block_type: u32, body: &[u8]) -> Ng {
        let mut body = body.to_vec();
        pad4(&mut body);
        let len = body.len() as u32 + 12;
        let (t, l) = (self.u32b(block_type), self.u32b(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.extend(l);
        self
    }

    /// A block whose two length fields say `len`, whatever the body.
    pub fn raw_block(mut self, block_type: u32, len: u32, body: &[u8]) -> Ng {
        let (t, l) = (self.u32b(block_type), self.u32b(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend_from_slice(body);
        self.out.extend(l);
        self
    }

    /// An Interface Statistics Block of 16 bytes whose trailing length says 20.
    pub fn trailer_mismatch(mut self) -> Ng {
        let (t, l, l2) = (self.u32b(5), self.u32b(16), self.u32b(20));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend([0; 4]);
        self.out.extend(l2);
        self
    }

    fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend(self.u16b(code));
        body.extend(self.u16b(value.len() as u16));
        body.extend_from_slice(value);
        pad4(body);
    }

    pub fn shb(mut self) -> Ng {
        let mut body = Vec::new();
        body.extend(self.u32b(0x1a2b_3c4d));
        body.extend(self.u16b(1));
        body.extend(self.u16b(0));
        body.extend([0xff; 8]);
        let (t, l) = (0x0a0d_0d0au32.to_le_bytes(), self.u32b(28));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.extend(l);
        self
    }

    pub fn idb(self, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) -> Ng {
        let mut body = Vec::new();
        body.extend(self.u16b(link));
        body.extend(self.u16b(0));
        body.extend(self.u32b(snaplen));
        if tsresol.is_some() || tsoffset.is_some() {
            if let Some(r) = tsresol {
                self.option(&mut body, 9, &[r]);
            }
            if let Some(o) = tsoffset {
                let v = if self.big {
                    o.to_be_bytes()
                } else {
                    o.to_le_bytes()
                };
                self.option(&mut body, 14, &v);
            }
            self.option(&mut body, 0, &[]);
        }
        self.block(1, &body)
    }

    pub fn epb(self, if_id: u32, ts: u64, data: &[u8], orig_len: u32) -> Ng {
        self.epb_caplen(if_id, ts, data, data.len() as u32)
            .fix_orig(orig_len)
    }

    /// Rewrites the original length of the last Enhanced Packet Block.
    fn fix_orig(mut self, orig_len: u32) -> Ng {
        let at = self.last_block_start() + 24;
        let b = self.u32b(orig_len);
        self.out[at..at + 4].copy_from_slice(&b);
        self
    }

    fn last_block_start(&self) -> usize {
        let n = self.out.len();
        let b: [u8; 4] = self.out[n - 4..].try_into().unwrap();
        let len = if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        };
        n - len as usize
    }

    /// An Enhanced Packet Block whose captured length field says `caplen`.
    pub fn epb_caplen(self, if_id: u32, ts: u64, data: &[u8], caplen: u32) -> Ng {
        let mut body = Vec::new();
        body.extend(self.u32b(if_id));
        body.extend(self.u32b((ts >> 32) as u32));
        body.extend(self.u32b(ts as u32));
        body.extend(self.u32b(caplen));
        body.extend(self.u32b(data.len() as u32));
        body.extend_from_slice(data);
        self.block(6, &body)
    }

    pub fn pb(self, if_id: u16, ts: u64, data: &[u8], orig_len: u32) -> Ng {
        let mut body = Vec::new();
        body.extend(self.u16b(if_id));
        body.extend(self.u16b(0));
        body.extend(self.u32b((ts >> 32) as u32));
        body.extend(self.u32b(ts as u32));
        body.extend(self.u32b(data.len() as u32));
        body.extend(self.u32b(orig_len));
        body.extend_from_slice(data);
        self.block(2, &body)
    }

    pub fn spb(self, data: &[u8], orig_len: u32) -> Ng {
        let mut body = Vec::new();
        body.extend(self.u32b(orig_len));
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    pub fn dsb(self, secrets_type: u32, data: &[u8]) -> Ng {
        let mut body = Vec::new();
        body.extend(self.u32b(secrets_type));
        body.extend(self.u32b(data.len() as u32));
        body.extend_from_slice(data);
        self.block(10, &body)
    }

    pub fn custom(self, block_type: u32, data: &[u8]) -> Ng {
        self.block(block_type, data)
    }

    pub fn bytes(self) -> Vec<u8> {
        self.out
    }
}
