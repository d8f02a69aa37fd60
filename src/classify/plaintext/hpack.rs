//! A minimal, bounded HPACK decoder (RFC 7541): enough to read `:method`, `:path`, `:status`,
//! `content-type` and header names from cleartext HTTP/2 HEADERS.
//!
//! The dynamic table is kept (bounded to [`MAX_TABLE_SIZE`]), so later requests that reuse an
//! entry still decode. A capture that starts mid-connection misses earlier insertions: a
//! reference to an unknown entry stops the decoding of that block, keeping the fields before it.

use std::collections::VecDeque;

use super::huffman;

/// Largest dynamic table kept, in RFC 7541 size units (entry bytes + 32 each).
pub const MAX_TABLE_SIZE: usize = 64 * 1024;
/// Longest string decoded (longer literals are cut, the decoding goes on).
const MAX_STRING: usize = 8 * 1024;
/// Most fields decoded from one header block.
const MAX_FIELDS: usize = 256;

/// RFC 7541 Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// One decoded header field (bytes that are not UTF-8 are replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// Why a header block could not be decoded to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("header block ends inside a field")]
    Truncated,
    #[error("integer too large")]
    Overflow,
    #[error("index {0} not in the static or known dynamic table")]
    UnknownIndex(usize),
    #[error("bad Huffman string: {0}")]
    Huffman(#[from] huffman::HuffmanError),
    #[error("too many fields in one block")]
    TooManyFields,
}

/// Decoding state of one direction of a connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: VecDeque<(String, String)>,
    size: usize,
    max_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: 4096,
        }
    }
}

/// A byte cursor over a header block.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.first().copied()
    }

    fn byte(&mut self) -> Result<u8, HpackError> {
        let (&b, rest) = self.bytes.split_first().ok_or(HpackError::Truncated)?;
        self.bytes = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HpackError> {
        if n > self.bytes.len() {
            return Err(HpackError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// An integer with an `n`-bit prefix (RFC 7541 5.1).
    fn integer(&mut self, prefix_bits: u32) -> Result<usize, HpackError> {
        let mask = (1u8 << prefix_bits) - 1;
        let mut value = usize::from(self.byte()? & mask);
        if value < usize::from(mask) {
            return Ok(value);
        }
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            let part = usize::from(b & 0x7f)
                .checked_shl(shift)
                .filter(|_| shift <= 28)
                .ok_or(HpackError::Overflow)?;
            value = value.checked_add(part).ok_or(HpackError::Overflow)?;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// A string literal (RFC 7541 5.2), Huffman-decoded when flagged.
    fn string(&mut self) -> Result<String, HpackError> {
        let huffman = self.peek().ok_or(HpackError::Truncated)? & 0x80 != 0;
        let len = self.integer(7)?;
        let raw = self.take(len)?;
        let bytes = if huffman {
            huffman::decode(raw, MAX_STRING)?
        } else {
            raw.get(..MAX_STRING).unwrap_or(raw).to_vec()
        };
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Decoder {
    /// Decodes one complete header block, appending its fields to `out`. On error the fields
    /// decoded before it stay in `out`.
    pub fn decode(&mut self, block: &[u8], out: &mut Vec<Field>) -> Result<(), HpackError> {
        let mut cur = Cursor { bytes: block };
        let mut count = 0usize;
        while let Some(first) = cur.peek() {
            if first & 0x80 != 0 {
                // Indexed field.
                let index = cur.integer(7)?;
                let (name, value) = self.lookup(index)?;
                out.push(Field { name, value });
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update.
                let size = cur.integer(5)?;
                self.max_size = size.min(MAX_TABLE_SIZE);
                self.evict(0);
                continue;
            } else {
                // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
                let (prefix, index_it) = if first & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let index = cur.integer(prefix)?;
                let name = if index == 0 {
                    cur.string()?
                } else {
                    self.lookup(index)?.0
                };
                let value = cur.string()?;
                if index_it {
                    self.insert(&name, &value);
                }
                out.push(Field { name, value });
            }
            count += 1;
            if count >= MAX_FIELDS {
                return Err(HpackError::TooManyFields);
            }
        }
        Ok(())
    }

    fn lookup(&self, index: usize) -> Result<(String, String), HpackError> {
        if let Some(&(n, v)) = index.checked_sub(1).and_then(|i| STATIC_TABLE.get(i)) {
            return Ok((n.to_string(), v.to_string()));
        }
        index
            .checked_sub(STATIC_TABLE.len() + 1)
            .and_then(|i| self.table.get(i))
            .cloned()
            .ok_or(HpackError::UnknownIndex(index))
    }

    fn insert(&mut self, name: &str, value: &str) {
        let size = name.len() + value.len() + 32;
        if size > self.max_size {
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.table.push_front((name.to_string(), value.to_string()));
        self.size += size;
    }

    /// Evicts the oldest entries until `room` more fits.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => self.size = self.size.saturating_sub(n.len() + v.len() + 32),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(d: &mut Decoder, hex_block: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        d.decode(&hex::decode(hex_block).unwrap(), &mut out)
            .unwrap();
        out.into_iter().map(|f| (f.name, f.value)).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rfc_c4_requests_with_huffman_and_dynamic_table() {
        let mut d = Decoder::default();
        assert_eq!(
            decode(&mut d, "828684418cf1e3c2e5f23a6ba0ab90f4ff"),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        assert_eq!(
            decode(&mut d, "828684be5886a8eb10649cbf"),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache")
            ])
        );
        assert_eq!(
            decode(&mut d, "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value")
            ])
        );
    }

    #[test]
    fn grpc_go_request_headers() {
        // As captured from a grpc-go client (HEADERS payload, stream 1).
        let mut d = Decoder::default();
        let fields = decode(
            &mut d,
            "83864592626b0a54af8ac2953b8b677310ac62b0a54f418ba0e41d139d09b8d800d87f5f8b1d75d0620d263d4c4d6564",
        );
        assert_eq!(
            fields,
            pairs(&[
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/greet.GreetService/Greet"),
                (":authority", "localhost:50051"),
                ("content-type", "application/grpc")
            ])
        );
    }

    #[test]
    fn unknown_dynamic_index_keeps_earlier_fields() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        assert_eq!(
            d.decode(&[0x82, 0xc0], &mut out),
            Err(HpackError::UnknownIndex(64))
        );
        assert_eq!(
            out,
            [Field {
                name: ":method".into(),
                value: "GET".into()
            }]
        );
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        assert_eq!(
            d.decode(&[0x80], &mut out),
            Err(HpackError::UnknownIndex(0))
        );
        assert_eq!(
            d.decode(&[0x40, 0x05, b'a'], &mut out),
            Err(HpackError::Truncated)
        );
        assert_eq!(
            d.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut out),
            Err(HpackError::Overflow)
        );
        assert_eq!(d.decode(&[0x7f], &mut out), Err(HpackError::Truncated));
        // Huge literal length with few bytes.
        assert_eq!(
            d.decode(&[0x00, 0x7f, 0xff, 0xff, 0x03], &mut out),
            Err(HpackError::Truncated)
        );
    }

    #[test]
    fn table_size_is_bounded() {
        let mut d = Decoder::default();
        // Size update to 2^24: clamped.
        let mut out = Vec::new();
        d.decode(&[0x3f, 0xe1, 0xff, 0xff, 0x07], &mut out).unwrap();
        assert_eq!(d.max_size, MAX_TABLE_SIZE);
        // Fill with 100-byte entries: the table never exceeds its size.
        for _ in 0..8 {
            let mut block = Vec::new();
            for _ in 0..250 {
                block.extend_from_slice(&[0x40, 0x01, b'x', 0x63]);
                block.extend_from_slice(&[b'v'; 99]);
            }
            out.clear();
            d.decode(&block, &mut out).unwrap();
        }
        assert!(d.size <= MAX_TABLE_SIZE);
        assert_eq!(d.table.len(), MAX_TABLE_SIZE / (1 + 99 + 32));
    }
}
