//! Quoting captured bytes: printable text kept, everything else escaped, length bounded.

use std::borrow::Cow;
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

/// `bytes` as text when escaping would leave them unchanged: printable ASCII (space to `~`)
/// without a backslash. Each byte is then one character, so the byte length is the length in
/// characters.
pub fn plain_ascii(bytes: &[u8]) -> Option<&str> {
    // A fold without an early exit, so that the compiler can test many bytes at once.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b' '..=b'~').contains(&b) & (b != b'\\')
    });
    if plain {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// `bytes` escaped (see [`escape_into`]), borrowed when escaping changes nothing and the text fits
/// in `max_chars`; the same text as [`escape`] either way.
pub fn escape_cow(bytes: &[u8], max_chars: usize) -> Cow<'_, str> {
    match plain_ascii(bytes) {
        Some(text) if text.len() <= max_chars => Cow::Borrowed(text),
        _ => Cow::Owned(escaped(bytes, max_chars)),
    }
}

/// `bytes` escaped, cut to `max_chars` characters with a trailing `…` when longer.
pub fn escape(bytes: &[u8], max_chars: usize) -> String {
    escape_cow(bytes, max_chars).into_owned()
}

/// [`escape`] the general way, character by character.
fn escaped(bytes: &[u8], max_chars: usize) -> String {
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
    fn plain_text_is_borrowed_and_reads_as_escaped() {
        assert!(matches!(
            escape_cow(b"Host: a", 80),
            Cow::Borrowed("Host: a")
        ));
        assert!(matches!(escape_cow(b"a\\b", 80), Cow::Owned(_)));
        assert!(matches!(escape_cow(b"abcdef", 4), Cow::Owned(_)));
        for bytes in [
            &b"GET / HTTP/1.1"[..],
            b"~ !",
            b"a\\b",
            b"tab\there",
            b"\x7f",
            b"\x1f",
            b"caf\xc3\xa9",
            b"\xc2\x85",
            b"\xff",
            b"abcdef",
            b"",
        ] {
            for max in [0, 1, 3, 4, 6, 80] {
                assert_eq!(escape(bytes, max), escaped(bytes, max), "{bytes:?} {max}");
                assert_eq!(
                    escape_cow(bytes, max),
                    escaped(bytes, max),
                    "{bytes:?} {max}"
                );
            }
        }
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
