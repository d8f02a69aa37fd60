//! serde_json's pretty printing (two spaces a level) starting at a given depth, so that a flow
//! rendered on its own slots into the document exactly where `to_writer_pretty` would put it.

use std::io::{self, Write};

use serde_json::ser::Formatter;

/// A comma, a line break and 32 levels of indentation: every line break the formatter writes is
/// a slice of it.
const BREAK: &[u8; 66] = b",\n                                                                ";

/// A [`Formatter`] that writes what [`serde_json::ser::PrettyFormatter`] writes, as if the value
/// were nested `depth` levels deep.
#[derive(Debug)]
pub(super) struct NestedPretty {
    depth: usize,
    has_value: bool,
}

impl NestedPretty {
    pub(super) fn at(depth: usize) -> NestedPretty {
        NestedPretty {
            depth,
            has_value: false,
        }
    }

    /// Writes a line break (after a comma if `comma`) and the indentation of the current depth:
    /// one write when the nesting is at most 32 levels deep.
    fn line<W: ?Sized + Write>(&self, writer: &mut W, comma: bool) -> io::Result<()> {
        let lead = usize::from(!comma);
        let mut width = self.depth.saturating_mul(2);
        let head = width.min(BREAK.len() - 2);
        writer.write_all(&BREAK[lead..2 + head])?;
        width -= head;
        while width > 0 {
            let step = width.min(BREAK.len() - 2);
            writer.write_all(&BREAK[2..2 + step])?;
            width -= step;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.line(writer, false)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.line(writer, !first)
    }
}

impl Formatter for NestedPretty {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    /// A value pretty-printed at depth zero (a shared certificate), indented to this depth: its
    /// line breaks are the layout's, as JSON strings never hold a raw one.
    fn write_raw_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut lines = fragment.split('\n');
        if let Some(first) = lines.next() {
            writer.write_all(first.as_bytes())?;
        }
        for line in lines {
            self.line(writer, false)?;
            writer.write_all(line.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `value` as `to_string_pretty` writes it inside two levels (the document, its `flows`).
    fn nested_by_hand(value: &serde_json::Value) -> String {
        let doc = json!({ "flows": [value] });
        let pretty = serde_json::to_string_pretty(&doc).unwrap();
        let start = pretty.find("[\n    ").unwrap() + "[\n    ".len();
        let end = pretty.rfind("\n  ]").unwrap();
        pretty[start..end].to_string()
    }

    fn nested(value: &serde_json::Value) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, NestedPretty::at(2));
        serde::Serialize::serialize(value, &mut ser).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_pretty_printing_writes_at_that_depth() {
        for value in [
            json!({"id": 1, "reasons": ["a", "b"], "tls": null, "empty": [], "obj": {},
                   "deep": {"chain": [{"subject": "O=x", "san": []}], "n": 2.5}}),
            json!({"only": {"inner": [[1, 2], [], [{"k": "v\nw"}]]}}),
            json!([]),
            json!({}),
            json!("text"),
            deeper_than_one_break(),
        ] {
            assert_eq!(nested(&value), nested_by_hand(&value), "{value}");
        }
    }

    /// Nesting deeper than one slice of `BREAK` indents: 40 levels inside the two of the flows.
    fn deeper_than_one_break() -> serde_json::Value {
        let mut value = json!({"leaf": [1, "x"], "also": {}});
        for level in 0..40 {
            value = if level % 2 == 0 {
                json!({"level": level, "inner": value})
            } else {
                json!([level, value, []])
            };
        }
        value
    }
}
