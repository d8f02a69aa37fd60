//! A small reader over untrusted bytes: every read is bounds-checked and returns `None` when the
//! input is too short, so parsers built on it cannot panic.

/// A forward-only view over a byte slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { rest: bytes }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        match self.take(2)? {
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    pub(crate) fn u24(&mut self) -> Option<usize> {
        match self.take(3)? {
            [a, b, c] => Some(usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
            _ => None,
        }
    }

    /// Takes a block whose length is given by a 1-byte prefix.
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// Takes a block whose length is given by a 2-byte prefix.
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// Takes a block whose length is given by a 3-byte prefix.
    pub(crate) fn vec24(&mut self) -> Option<&'a [u8]> {
        let n = self.u24()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers_and_blocks() {
        let mut c = Cursor::new(&[1, 0, 2, 0, 0, 3, 2, 9, 9, 7]);
        assert_eq!(c.u8(), Some(1));
        assert_eq!(c.u16(), Some(2));
        assert_eq!(c.u24(), Some(3));
        assert_eq!(c.vec8(), Some(&[9u8, 9][..]));
        assert_eq!(c.rest(), &[7]);
        assert!(!c.is_empty());
    }

    #[test]
    fn short_input_is_none_and_does_not_advance() {
        let mut c = Cursor::new(&[0, 5, 1]);
        assert_eq!(c.vec16(), None);
        let mut c = Cursor::new(&[0, 0]);
        assert_eq!(c.u24(), None);
        assert_eq!(c.take(3), None);
        assert_eq!(c.take(2), Some(&[0u8, 0][..]));
        assert!(c.is_empty());
        assert_eq!(c.vec24(), None);
    }
}
