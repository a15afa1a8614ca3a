//! Reading the compact encodings (`rows`, `table`) from the front of a slice, never past its end.

/// The unread rest of the bytes; running short is the error `short`.
pub(crate) struct Reader<'a, E> {
    pub(crate) rest: &'a [u8],
    short: E,
}

impl<'a, E: Copy> Reader<'a, E> {
    pub(crate) fn new(bytes: &'a [u8], short: E) -> Self {
        Reader { rest: bytes, short }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], E> {
        if n > self.rest.len() {
            return Err(self.short);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, E> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, E> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, E> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}
