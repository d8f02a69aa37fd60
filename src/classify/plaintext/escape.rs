//! Quoting captured bytes: printable text kept, everything else escaped, length bounded.

use std::fmt::Write;

/// Appends `bytes` to `out` with control characters, backslashes and invalid UTF-8 escaped
/// (`\r`, `\n`, `\t`, `\\`, `\xNN`), stopping before `out` would exceed `max_chars` characters.
/// Returns `false` when it had to stop early.
pub fn escape_into(out: &mut String, bytes: &[u8], max_chars: usize) -> bool {
    let mut chars = out.chars().count();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let piece_len = match c {
                '\\' | '\r' | '\n' | '\t' => 2,
                c if c.is_control() => 4,
                _ => 1,
            };
            if chars + piece_len > max_chars {
                return false;
            }
            chars += piece_len;
            match c {
                '\\' => out.push_str("\\\\"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c) & 0xff);
                }
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            if chars + 4 > max_chars {
                return false;
            }
            chars += 4;
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    true
}

/// `bytes` escaped, cut to `max_chars` characters with a trailing `…` when longer.
pub fn escape(bytes: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    if escape_into(&mut out, bytes, max_chars) {
        return out;
    }
    out.clear();
    escape_into(&mut out, bytes, max_chars.saturating_sub(1));
    out.push('…');
    out
}

/// Cuts `text` to at most `max_chars` characters, ending with `…` when it was longer.
pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The first line of `bytes` (up to `\n`, without the line ending).
pub fn first_line(bytes: &[u8]) -> &[u8] {
    let line = match bytes.iter().position(|&b| b == b'\n') {
        Some(end) => bytes.get(..end).unwrap_or(bytes),
        None => bytes,
    };
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_invalid_utf8() {
        assert_eq!(escape(b"GET / HTTP/1.1", 120), "GET / HTTP/1.1");
        assert_eq!(
            escape(b"a\r\n\t\\b\x00\x7f\xff", 120),
            "a\\r\\n\\t\\\\b\\x00\\x7f\\xff"
        );
        assert_eq!(escape("héllo ✓".as_bytes(), 120), "héllo ✓");
    }

    #[test]
    fn bounds_the_length() {
        assert_eq!(escape(b"abcdef", 4), "abc…");
        assert_eq!(escape(b"abc", 4), "abc");
        assert_eq!(escape(b"abcd", 4), "abcd");
        assert_eq!(escape(b"\x00\x00", 6), "\\x00…");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
    }

    #[test]
    fn first_line_strips_endings() {
        assert_eq!(first_line(b"220 ready\r\nEHLO"), b"220 ready");
        assert_eq!(first_line(b"no newline"), b"no newline");
        assert_eq!(first_line(b"\n"), b"");
    }
}
