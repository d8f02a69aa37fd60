//! The HPACK static Huffman code (RFC 7541, Appendix B), decode only.
//!
//! The code is canonical: within one code length, codes are consecutive in symbol order, and each
//! length starts right after the previous one. So the 257 code lengths are the whole table; the
//! decoder rebuilds first codes and symbol order from them at compile time.

/// Code length in bits of each symbol 0..=255 and of EOS (256), from RFC 7541 Appendix B.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, // 0x00..=0x1f
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15,
    6, 12, 10, // ' '..='?'
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13,
    14, 6, // '@'..='_'
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14,
    13, 28, // '`'..=0x7f
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23,
    23, 21, 22, 23, 22, 23, 23, 24, // 0x80..=0x9f
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23,
    20, 22, 22, 22, 23, 22, 22, 23, // 0xa0..=0xbf
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24,
    21, 21, 26, 26, 28, 27, 27, 27, // 0xc0..=0xdf
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27,
    27, 28, 27, 27, 27, 27, 27, 26, // 0xe0..=0xff
    30, // EOS
];

const MAX_LEN: usize = 30;
const EOS: u16 = 256;

/// Canonical decoding tables, indexed by code length.
struct Tables {
    /// First code of each length.
    first: [u32; MAX_LEN + 1],
    /// Number of codes of each length.
    count: [u32; MAX_LEN + 1],
    /// Index in `symbols` of the first symbol of each length.
    offset: [u32; MAX_LEN + 1],
    /// Symbols ordered by (length, symbol).
    symbols: [u16; 257],
}

const TABLES: Tables = build();

// Evaluated at compile time: an index out of range fails the build, never a run.
#[allow(clippy::indexing_slicing)]
const fn build() -> Tables {
    let mut count = [0u32; MAX_LEN + 1];
    let mut s = 0;
    while s < LENGTHS.len() {
        count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut first = [0u32; MAX_LEN + 1];
    let mut offset = [0u32; MAX_LEN + 1];
    let mut code = 0u32;
    let mut index = 0u32;
    let mut len = 1;
    while len <= MAX_LEN {
        first[len] = code;
        offset[len] = index;
        code = (code + count[len]) << 1;
        index += count[len];
        len += 1;
    }
    let mut symbols = [0u16; 257];
    let mut next = offset;
    let mut s = 0;
    while s < LENGTHS.len() {
        let l = LENGTHS[s] as usize;
        symbols[next[l] as usize] = s as u16;
        next[l] += 1;
        s += 1;
    }
    Tables {
        first,
        count,
        offset,
        symbols,
    }
}

/// Why a Huffman string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    #[error("invalid Huffman code")]
    InvalidCode,
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    #[error("Huffman padding longer than 7 bits or not all ones")]
    BadPadding,
    #[error("decoded string longer than the limit")]
    TooLong,
}

/// Decodes a Huffman-coded HPACK string, producing at most `max_out` bytes.
pub fn decode(input: &[u8], max_out: usize) -> Result<Vec<u8>, HuffmanError> {
    let t = &TABLES;
    let mut out = Vec::with_capacity(input.len().saturating_mul(8) / 5 + 1);
    let mut code = 0u32;
    let mut len = 0usize;
    for &byte in input {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            if len > MAX_LEN {
                return Err(HuffmanError::InvalidCode);
            }
            let (Some(&first), Some(&count), Some(&offset)) =
                (t.first.get(len), t.count.get(len), t.offset.get(len))
            else {
                return Err(HuffmanError::InvalidCode);
            };
            if code >= first && code - first < count {
                let index = (offset + (code - first)) as usize;
                let symbol = t
                    .symbols
                    .get(index)
                    .copied()
                    .ok_or(HuffmanError::InvalidCode)?;
                if symbol == EOS {
                    return Err(HuffmanError::Eos);
                }
                if out.len() >= max_out {
                    return Err(HuffmanError::TooLong);
                }
                out.push(symbol as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // Padding: the most significant bits of EOS (all ones), shorter than a byte.
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilt_codes_match_the_rfc() {
        let t = &TABLES;
        // Code of symbol s: first code of its length plus its rank among that length.
        let code_of = |s: usize| {
            let l = LENGTHS[s] as usize;
            let rank = t.symbols[t.offset[l] as usize..]
                .iter()
                .position(|&x| x as usize == s)
                .unwrap() as u32;
            t.first[l] + rank
        };
        // Spot values from RFC 7541 Appendix B.
        assert_eq!(code_of(0), 0x1ff8);
        assert_eq!(code_of(b' ' as usize), 0x14);
        assert_eq!(code_of(b'0' as usize), 0x0);
        assert_eq!(code_of(b'a' as usize), 0x3);
        assert_eq!(code_of(b'~' as usize), 0x1ffd);
        assert_eq!(code_of(0x80), 0xfffe6);
        assert_eq!(code_of(0xff), 0x3ffffee);
        assert_eq!(code_of(256), 0x3fff_ffff);
    }

    #[test]
    fn decodes_rfc_examples() {
        // RFC 7541 C.4.1 and C.6.1.
        assert_eq!(
            decode(&hex::decode("f1e3c2e5f23a6ba0ab90f4ff").unwrap(), 64).unwrap(),
            b"www.example.com"
        );
        assert_eq!(
            decode(&hex::decode("aec3771a4b").unwrap(), 64).unwrap(),
            b"private"
        );
        assert_eq!(decode(&hex::decode("6402").unwrap(), 64).unwrap(), b"302");
        // grpc-go's content-type, as captured.
        assert_eq!(
            decode(&hex::decode("1d75d0620d263d4c4d6564").unwrap(), 64).unwrap(),
            b"application/grpc"
        );
        assert_eq!(decode(&[], 4).unwrap(), b"");
    }

    #[test]
    fn rejects_bad_input() {
        // 30 ones is EOS.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xfc], 64),
            Err(HuffmanError::Eos)
        );
        // Padding of zeros.
        assert_eq!(decode(&[0x00], 64), Err(HuffmanError::BadPadding));
        // A full byte of ones is more than 7 bits of padding.
        assert_eq!(decode(&[0x1f, 0xff], 64), Err(HuffmanError::BadPadding));
        assert_eq!(
            decode(&hex::decode("f1e3c2e5f23a6ba0ab90f4ff").unwrap(), 3),
            Err(HuffmanError::TooLong)
        );
    }
}
