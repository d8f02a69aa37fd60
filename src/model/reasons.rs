//! The sentences that justify a verdict, each with a stable code ([`Code`]), kept compactly
//! until the report is written.
//!
//! Every flow of a capture keeps its reasons, and the reasons of two flows of one kind differ
//! only in their numbers (frames, byte counts). So a reason is kept as its shape, the sentence
//! with each number taken out and its code in front, shared between the flows that have the
//! same shapes, and the numbers themselves, packed in a few bytes per flow.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::ser::{Serialize, Serializer};

use crate::intern;

pub use super::codes::Code;

/// One reason as it is made: what it says, and its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub code: Code,
    pub text: String,
}

/// A reason with its code.
pub fn said(code: Code, text: impl Into<String>) -> Said {
    Said {
        code,
        text: text.into(),
    }
}

impl std::ops::Deref for Said {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::borrow::Borrow<str> for Said {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl Serialize for Said {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl PartialEq<str> for Said {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Said {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for Said {
    fn eq(&self, other: &String) -> bool {
        &self.text == other
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Stands for one packed number in a shape. Packed value 0 stands for the character itself,
/// so a sentence that contains it is kept exactly too.
const SLOT: char = '\0';
/// Longest digit run taken out as a number: 19 digits always fit a `u64` with room for `+ 1`.
const MAX_DIGITS: usize = 19;

/// The reasons of one flow, in order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Reasons {
    /// One shape per reason: its text with [`SLOT`] where a number was.
    shapes: Arc<[Arc<str>]>,
    /// The numbers of all shapes in order, each as LEB128 of `value + 1` (0: a literal `SLOT`).
    numbers: Box<[u8]>,
}

impl Reasons {
    /// Packs the reasons `said`, in order.
    pub fn new(said: impl IntoIterator<Item = Said>) -> Reasons {
        let mut shapes = Vec::new();
        let mut numbers = Vec::new();
        for Said { code, text } in said {
            shapes.push(shape_of(code, &text, &mut numbers));
        }
        Reasons {
            shapes: intern::list(shapes),
            numbers: numbers.into_boxed_slice(),
        }
    }

    /// These reasons, then `more`.
    pub fn with(&self, more: impl IntoIterator<Item = Said>) -> Reasons {
        let kept = self.iter().map(|r| said(r.code(), r.to_string()));
        Reasons::new(kept.chain(more))
    }

    /// Each reason's code, in order.
    pub fn codes(&self) -> impl Iterator<Item = Code> + '_ {
        self.shapes.iter().map(|shape| code_of(shape))
    }

    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Each reason, to display or serialize without building its text.
    pub fn iter(&self) -> impl Iterator<Item = Reason<'_>> + '_ {
        let mut numbers = Numbers(&self.numbers);
        self.shapes.iter().map(move |shape| {
            let start = numbers.0;
            numbers.skip(slots(shape));
            Reason {
                shape,
                numbers: start
                    .get(..start.len() - numbers.0.len())
                    .unwrap_or_default(),
            }
        })
    }

    /// The first reason's text.
    pub fn first(&self) -> Option<String> {
        self.iter().next().map(|r| r.to_string())
    }

    /// Every reason's text.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(|r| r.to_string()).collect()
    }

    /// The reasons' texts separated by `sep`.
    pub fn join(&self, sep: &str) -> String {
        let mut out = String::new();
        for (i, reason) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{reason}");
        }
        out
    }
}

/// How many numbers `shape` holds: its [`SLOT`] bytes, counted without decoding characters.
fn slots(shape: &str) -> usize {
    shape.bytes().filter(|&b| b == SLOT as u8).count()
}

/// The code a shape starts with (one character: see [`shape_of`]).
fn code_of(shape: &str) -> Code {
    shape
        .chars()
        .next()
        .and_then(|c| Code::from_index(u32::from(c).saturating_sub(1)))
        .unwrap_or_default()
}

/// The sentence of a shape, without its code.
fn sentence_of(shape: &str) -> &str {
    let mut chars = shape.chars();
    chars.next();
    chars.as_str()
}

/// `text` with its numbers replaced by [`SLOT`] (and appended to `numbers`), behind the
/// character that stands for `code` (its index + 1: never a digit nor [`SLOT`]), shared.
///
/// Digits and [`SLOT`] are ASCII, so the text is scanned as bytes: the runs between them are
/// copied whole, and every cut falls on a character boundary.
fn shape_of(code: Code, text: &str, numbers: &mut Vec<u8>) -> Arc<str> {
    let mut shape = String::with_capacity(text.len() + 1);
    shape.push(code.mark());
    let mut rest = text;
    loop {
        let plain = rest
            .bytes()
            .position(|b| b.is_ascii_digit() || b == SLOT as u8)
            .unwrap_or(rest.len());
        let (head, tail) = rest.split_at(plain);
        shape.push_str(head);
        rest = tail;
        if rest.is_empty() {
            break;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            // A literal SLOT: packed as 0 so that it comes back as itself.
            push_number(numbers, 0);
            shape.push(SLOT);
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let (run, tail) = rest.split_at(digits);
        let value = if digits > MAX_DIGITS || (digits > 1 && run.starts_with('0')) {
            None
        } else {
            run.parse::<u64>().ok()
        };
        match value {
            Some(value) => {
                shape.push(SLOT);
                push_number(numbers, value + 1);
            }
            None => shape.push_str(run),
        }
        rest = tail;
    }
    intern::str(&shape)
}

fn push_number(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Packed numbers being read.
struct Numbers<'a>(&'a [u8]);

impl Numbers<'_> {
    /// The next number (0 once they run out, which a packed `Reasons` never does).
    fn next(&mut self) -> u64 {
        let mut value = 0u64;
        for (i, &byte) in self.0.iter().enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i).min(63);
            if byte & 0x80 == 0 {
                self.0 = self.0.get(i + 1..).unwrap_or_default();
                return value;
            }
        }
        self.0 = &[];
        value
    }

    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.next();
        }
    }
}

/// One reason: its shape and its numbers.
#[derive(Clone, Copy)]
pub struct Reason<'a> {
    shape: &'a str,
    numbers: &'a [u8],
}

impl<'a> Reason<'a> {
    /// The sentence with a NUL character where each number goes (see [`Reason::numbers`]).
    pub fn shape(&self) -> &'a str {
        sentence_of(self.shape)
    }

    /// What kind of reason it is.
    pub fn code(&self) -> Code {
        code_of(self.shape)
    }

    /// The numbers of the sentence, in order; `None` where the sentence held a NUL character
    /// itself.
    pub fn numbers(&self) -> impl Iterator<Item = Option<u64>> + 'a {
        let mut numbers = Numbers(self.numbers);
        (0..slots(self.shape)).map(move |_| numbers.next().checked_sub(1))
    }

    /// Writes the text: the shape's runs between slots as they are, each number in decimal.
    fn write_to<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let mut numbers = Numbers(self.numbers);
        let mut rest = sentence_of(self.shape);
        while let Some(at) = memchr::memchr(SLOT as u8, rest.as_bytes()) {
            let (run, tail) = rest.split_at(at);
            out.write_str(run)?;
            match numbers.next() {
                0 => out.write_char(SLOT)?,
                n => out.write_str(itoa::Buffer::new().format(n - 1))?,
            }
            rest = tail.get(1..).unwrap_or_default();
        }
        out.write_str(rest)
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl fmt::Debug for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

impl Serialize for Reason<'_> {
    /// The text as [`fmt::Display`] writes it: serde_json escapes each run and number as it
    /// comes, without the text being built first.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Debug for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Reasons {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// The codes of a flow's reasons, as the report writes them (`reason_codes`).
#[derive(Debug, Clone, Copy)]
pub struct ReasonCodes<'a>(pub &'a Reasons);

impl Serialize for ReasonCodes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.codes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(texts: &[&str]) -> Reasons {
        Reasons::new(texts.iter().map(|t| said(Code::Other, *t)))
    }

    fn round_trip(texts: &[&str]) {
        let r = of(texts);
        assert_eq!(r.to_vec(), texts, "{:?}", r.shapes);
        assert_eq!(r.len(), texts.len());
        assert_eq!(r.join("\n"), texts.join("\n"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            serde_json::to_string(texts).unwrap()
        );
    }

    #[test]
    fn texts_come_back_exactly() {
        round_trip(&[]);
        round_trip(&[""]);
        round_trip(&["no payload in either direction: the connection carried no data"]);
        round_trip(&[
            "full TLS 1.3 handshake: certificate in its encrypted flight (from frame 131)",
            "first client handshake record 1733 bytes > Finished-only 69 bytes (frame 386)",
        ]);
        // leading zeros, long runs, the slot character itself, digits at both ends, non-ASCII
        round_trip(&[
            "0x0304 007 0 00 10",
            "18446744073709551615 99999999999999999999 12345678901234567890123",
            "a\0b\u{0}0\0",
            "7 bytes é 8",
            "`GET /login?u=191 HTTP/1.1` (frame 17) \"quoted\" \\ ",
        ]);
        // what JSON escapes, next to numbers: quotes, backslashes, control characters
        round_trip(&[
            "\"1\"\\2\\\u{1}3\u{1f}\t4\n\r5\u{8}\u{c}\u{7f}",
            "\u{0}1\"\u{0}",
            "é12ü3 → 4 \u{2028}5\u{10ffff}6 🦀",
            "0",
            "18446744073709551614 9999999999999999999 1000000000000000000 10",
        ]);
    }

    #[test]
    fn flows_of_one_kind_share_their_shapes() {
        let a = of(&["server sent 1200 bytes (frame 4)", "then 3 more"]);
        let b = of(&["server sent 77 bytes (frame 91011)", "then 5 more"]);
        assert!(Arc::ptr_eq(&a.shapes, &b.shapes));
        assert_eq!(
            b.to_vec(),
            ["server sent 77 bytes (frame 91011)", "then 5 more"]
        );
        assert_eq!(
            a.first().as_deref(),
            Some("server sent 1200 bytes (frame 4)")
        );
        assert!(a.numbers.len() <= 5);
    }

    #[test]
    fn numbers_past_the_end_read_as_zero() {
        let mut n = Numbers(&[0x81]);
        assert_eq!(n.next(), 1);
        assert_eq!(n.next(), 0);
    }
}
