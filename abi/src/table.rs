//! Entity tables: the compact encoding in which `entity_table` stages one entity's rows of a
//! granted table (docs/abi.md, "Entity tables").
//!
//! An entity has a row or a dozen in a table. As an Arrow IPC stream they come with a schema
//! message and a record batch message whose flatbuffers the module verifies and decodes in
//! every run; this encoding is the same columns with their names and types and nothing else,
//! laid out as Arrow lays out its buffers, so that a module builds its arrays by copying:
//!
//! ```text
//! magic     "SYT1"
//! u16       C columns, u32 N rows
//! C times   u8 type (ColumnType), u8 nullable (0 or 1), u16 name length, UTF-8 name
//! C times   u8 0 (no nulls) or 1 followed by a validity bitmap of ceil(N / 8) bytes
//!           (bit i of byte i / 8, least significant first: 1 = a value, 0 = null), then
//!           Utf8:             N + 1 u32 offsets (from 0, never decreasing), then the bytes
//!           Int64, Float64:   N 8-byte values
//!           Date32:           N 4-byte values (days since 1970-01-01)
//!           Boolean:          ceil(N / 8) bytes of bits, as the validity bitmap
//! ```
//!
//! Integers and floats are little-endian; nothing follows the last column. [`Writer`] writes it
//! (the host); [`parse`] reads it (the SDK), checking every length before it is used.

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

use crate::reader::Reader;

/// The first four bytes of a staged table.
pub const MAGIC: [u8; 4] = *b"SYT1";

/// A column's type, as the granted views give it to modules (docs/abi.md, "Batches").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 strings.
    Utf8,
    /// 64-bit signed integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// Days since 1970-01-01, 32-bit.
    Date32,
    /// Booleans, one bit each.
    Boolean,
}

impl ColumnType {
    /// The type's byte in the encoding.
    pub const fn code(self) -> u8 {
        match self {
            ColumnType::Utf8 => 1,
            ColumnType::Int64 => 2,
            ColumnType::Float64 => 3,
            ColumnType::Date32 => 4,
            ColumnType::Boolean => 5,
        }
    }

    /// The type of that byte, if any.
    pub const fn from_code(code: u8) -> Option<ColumnType> {
        match code {
            1 => Some(ColumnType::Utf8),
            2 => Some(ColumnType::Int64),
            3 => Some(ColumnType::Float64),
            4 => Some(ColumnType::Date32),
            5 => Some(ColumnType::Boolean),
            _ => None,
        }
    }

    /// Bytes per value of a fixed-width type (`None` for `Utf8` and `Boolean`).
    pub const fn width(self) -> Option<usize> {
        match self {
            ColumnType::Int64 | ColumnType::Float64 => Some(8),
            ColumnType::Date32 => Some(4),
            ColumnType::Utf8 | ColumnType::Boolean => None,
        }
    }
}

/// Why a staged table could not be read. The host writes valid tables; this is for a module
/// that reads bytes it did not expect, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// The bytes do not start with [`MAGIC`].
    Magic,
    /// The bytes end inside a header or a column.
    Truncated,
    /// Column `column` has an unknown type byte or a nullable byte other than 0 or 1.
    Header {
        /// The column, from 0.
        column: usize,
    },
    /// Column `column`'s name is not UTF-8.
    Name {
        /// The column, from 0.
        column: usize,
    },
    /// Column `column`'s validity flag is neither 0 nor 1.
    Validity {
        /// The column, from 0.
        column: usize,
    },
    /// Column `column`'s offsets do not start at 0 or decrease.
    Offsets {
        /// The column, from 0.
        column: usize,
    },
    /// Bytes follow the last column.
    Trailing,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Magic => write!(f, "the staged table does not start with SYT1"),
            TableError::Truncated => write!(f, "the staged table ends inside a header or column"),
            TableError::Header { column } => {
                write!(f, "column {column}: unknown type or nullable flag")
            }
            TableError::Name { column } => write!(f, "column {column}: the name is not UTF-8"),
            TableError::Validity { column } => {
                write!(f, "column {column}: the validity flag is neither 0 nor 1")
            }
            TableError::Offsets { column } => {
                write!(
                    f,
                    "column {column}: offsets do not start at 0 or they decrease"
                )
            }
            TableError::Trailing => write!(f, "bytes follow the last column"),
        }
    }
}

/// A column's values as they lie in the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values<'a> {
    /// `Utf8`: N + 1 little-endian u32 offsets (checked: from 0, never decreasing, the last
    /// equal to `bytes.len()`) and the bytes they point into (not checked for UTF-8).
    Utf8 {
        /// The raw offsets, 4 bytes each.
        offsets: &'a [u8],
        /// The strings' bytes.
        bytes: &'a [u8],
    },
    /// A fixed-width type: N values of its width, little-endian.
    Fixed(&'a [u8]),
    /// `Boolean`: ceil(N / 8) bytes of bits.
    Bits(&'a [u8]),
}

/// One column of a parsed table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether the view declares it nullable.
    pub nullable: bool,
    /// Its validity bitmap, when it has nulls.
    pub validity: Option<&'a [u8]>,
    /// Its values.
    pub values: Values<'a>,
}

/// A parsed table: its row count and columns, borrowing the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<'a> {
    /// Rows in every column.
    pub rows: usize,
    /// The columns, in order.
    pub columns: Vec<Column<'a>>,
}

/// Reads a staged table, checking every length and offset against the bytes there are.
pub fn parse(bytes: &[u8]) -> Result<Table<'_>, TableError> {
    let mut r = Reader::new(bytes, TableError::Truncated);
    if r.take(4)? != MAGIC {
        return Err(TableError::Magic);
    }
    let count = usize::from(r.u16()?);
    let rows = r.u32()? as usize;
    let bitmap = rows.div_ceil(8);
    let mut heads = Vec::with_capacity(count);
    for column in 0..count {
        let ty = ColumnType::from_code(r.u8()?).ok_or(TableError::Header { column })?;
        let nullable = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(TableError::Header { column }),
        };
        let len = usize::from(r.u16()?);
        let name = core::str::from_utf8(r.take(len)?).map_err(|_| TableError::Name { column })?;
        heads.push((name, ty, nullable));
    }
    let mut columns = Vec::with_capacity(count);
    for (column, (name, ty, nullable)) in heads.into_iter().enumerate() {
        let validity = match r.u8()? {
            0 => None,
            1 => Some(r.take(bitmap)?),
            _ => return Err(TableError::Validity { column }),
        };
        let values = match ty {
            ColumnType::Utf8 => {
                let offsets = r.take(
                    rows.checked_add(1)
                        .ok_or(TableError::Truncated)?
                        .saturating_mul(4),
                )?;
                let mut last = 0u32;
                for (i, raw) in offsets.chunks_exact(4).enumerate() {
                    let offset = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
                    if (i == 0 && offset != 0) || offset < last {
                        return Err(TableError::Offsets { column });
                    }
                    last = offset;
                }
                Values::Utf8 {
                    offsets,
                    bytes: r.take(last as usize)?,
                }
            }
            ColumnType::Boolean => Values::Bits(r.take(bitmap)?),
            fixed => {
                let width = fixed.width().unwrap_or(8);
                Values::Fixed(r.take(rows.saturating_mul(width))?)
            }
        };
        columns.push(Column {
            name,
            ty,
            nullable,
            validity,
            values,
        });
    }
    if !r.rest.is_empty() {
        return Err(TableError::Trailing);
    }
    Ok(Table { rows, columns })
}

/// Writes a table: [`Writer::new`] with the row count and the columns' headers, then each
/// column's validity and values, in header order.
#[derive(Debug, Clone)]
pub struct Writer {
    bytes: Vec<u8>,
    rows: usize,
}

impl Writer {
    /// A table of `rows` rows with these columns (name, type, nullable). `None` when there are
    /// more than 65,535 columns or rows than `u32::MAX`, or a name is longer than 65,535 bytes.
    pub fn new<S: AsRef<str>>(rows: usize, columns: &[(S, ColumnType, bool)]) -> Option<Writer> {
        Writer::with_capacity(rows, columns, 0)
    }

    /// [`Writer::new`] with room for `capacity` bytes, so that a writer told the table's size
    /// allocates once.
    pub fn with_capacity<S: AsRef<str>>(
        rows: usize,
        columns: &[(S, ColumnType, bool)],
        capacity: usize,
    ) -> Option<Writer> {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&u16::try_from(columns.len()).ok()?.to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(rows).ok()?.to_le_bytes());
        for (name, ty, nullable) in columns {
            let name = name.as_ref();
            bytes.push(ty.code());
            bytes.push(u8::from(*nullable));
            bytes.extend_from_slice(&u16::try_from(name.len()).ok()?.to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
        }
        Some(Writer { bytes, rows })
    }

    /// The next column's validity: `None` without nulls, otherwise whether each of the table's
    /// rows has a value (`valid(i)` for row `i`).
    pub fn validity(&mut self, valid: Option<&dyn Fn(usize) -> bool>) {
        match valid {
            None => self.bytes.push(0),
            Some(valid) => {
                self.bytes.push(1);
                self.bits(valid);
            }
        }
    }

    /// The next `Utf8` column's values, one per row.
    pub fn utf8<'s>(&mut self, values: impl Iterator<Item = &'s [u8]> + Clone) {
        let mut end = 0u32;
        self.bytes.extend_from_slice(&end.to_le_bytes());
        for value in values.clone() {
            // A staged table is at most a few MiB (the host's staging limit).
            end = end.saturating_add(u32::try_from(value.len()).unwrap_or(u32::MAX));
            self.bytes.extend_from_slice(&end.to_le_bytes());
        }
        for value in values {
            self.bytes.extend_from_slice(value);
        }
    }

    /// The next `Utf8` column's values as Arrow lays them out: `offsets` (one per row and one
    /// more, never decreasing) into `bytes`. They need not start at 0: a slice of a larger
    /// column is rebased. `None`, writing nothing, when an offset is negative, decreases or
    /// points past `bytes`, or the strings exceed `u32::MAX` bytes.
    pub fn utf8_spans(&mut self, offsets: &[i32], bytes: &[u8]) -> Option<()> {
        let (&first, &last) = (offsets.first()?, offsets.last()?);
        let first = usize::try_from(first).ok()?;
        let strings = bytes.get(first..usize::try_from(last).ok()?)?;
        u32::try_from(strings.len()).ok()?;
        if offsets.windows(2).any(|pair| pair[1] < pair[0]) {
            return None;
        }
        for &offset in offsets {
            // In range: between `first` and `last`, checked above.
            let rebased = offset as usize - first;
            self.bytes
                .extend_from_slice(&(rebased as u32).to_le_bytes());
        }
        self.bytes.extend_from_slice(strings);
        Some(())
    }

    /// The next fixed-width column's values, each already in little-endian bytes.
    pub fn fixed(&mut self, little_endian: &[u8]) {
        self.bytes.extend_from_slice(little_endian);
    }

    /// The next `Boolean` column's values (`value(i)` for row `i`).
    pub fn booleans(&mut self, value: &dyn Fn(usize) -> bool) {
        self.bits(value);
    }

    fn bits(&mut self, bit: &dyn Fn(usize) -> bool) {
        for byte in 0..self.rows.div_ceil(8) {
            let mut packed = 0u8;
            for i in 0..8 {
                let row = byte * 8 + i;
                if row < self.rows && bit(row) {
                    packed |= 1 << i;
                }
            }
            self.bytes.push(packed);
        }
    }

    /// The table's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three rows: a nullable Utf8 with a null, an Int64, a Date32, a Boolean with a null.
    fn sample() -> Vec<u8> {
        let mut w = Writer::new(
            3,
            &[
                ("usci", ColumnType::Utf8, true),
                ("n", ColumnType::Int64, false),
                ("day", ColumnType::Date32, false),
                ("ok", ColumnType::Boolean, true),
            ],
        )
        .expect("fits");
        w.validity(Some(&|i| i != 1));
        let strings: [&[u8]; 3] = [b"ab", b"", "西湖".as_bytes()];
        w.utf8(strings.iter().copied());
        w.validity(None);
        let ints: Vec<u8> = [1i64, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        w.fixed(&ints);
        w.validity(None);
        let days: Vec<u8> = [0i32, 19_000, -1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        w.fixed(&days);
        w.validity(Some(&|i| i != 2));
        w.booleans(&|i| i == 0);
        w.finish()
    }

    #[test]
    fn a_written_table_parses_to_its_columns() {
        let bytes = sample();
        let table = parse(&bytes).expect("valid");
        assert_eq!(table.rows, 3);
        let names: Vec<_> = table
            .columns
            .iter()
            .map(|c| (c.name, c.ty, c.nullable))
            .collect();
        assert_eq!(
            names,
            [
                ("usci", ColumnType::Utf8, true),
                ("n", ColumnType::Int64, false),
                ("day", ColumnType::Date32, false),
                ("ok", ColumnType::Boolean, true),
            ]
        );
        let usci = &table.columns[0];
        assert_eq!(usci.validity, Some(&[0b101][..]));
        let Values::Utf8 { offsets, bytes } = usci.values else {
            panic!("{usci:?}");
        };
        let offsets: Vec<u32> = offsets
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(offsets, [0, 2, 2, 8]);
        assert_eq!(bytes, "ab西湖".as_bytes());
        assert_eq!(table.columns[1].validity, None);
        assert_eq!(
            table.columns[1].values,
            Values::Fixed(&[
                1, 0, 0, 0, 0, 0, 0, 0, 254, 255, 255, 255, 255, 255, 255, 255, 3, 0, 0, 0, 0, 0,
                0, 0
            ])
        );
        assert!(matches!(table.columns[2].values, Values::Fixed(b) if b.len() == 12));
        assert_eq!(table.columns[3].validity, Some(&[0b011][..]));
        assert_eq!(table.columns[3].values, Values::Bits(&[0b001]));
        let empty = Writer::new(0, &[("usci", ColumnType::Utf8, false)]).expect("fits");
        let mut empty = empty;
        empty.validity(None);
        empty.utf8(core::iter::empty());
        let bytes = empty.finish();
        let table = parse(&bytes).expect("valid");
        assert_eq!(table.rows, 0);
        assert_eq!(
            table.columns[0].values,
            Values::Utf8 {
                offsets: &[0, 0, 0, 0],
                bytes: &[]
            }
        );
    }

    #[test]
    fn arrow_spans_are_rebased_and_bad_spans_write_nothing() {
        let data = "xxab西湖".as_bytes();
        let columns = [("usci", ColumnType::Utf8, false)];
        let mut spans = Writer::with_capacity(2, &columns, 64).expect("fits");
        spans.validity(None);
        // Rows 1..3 of a column whose first value is "xx".
        assert_eq!(spans.utf8_spans(&[2, 4, 10], data), Some(()));
        let mut strings = Writer::new(2, &columns).expect("fits");
        strings.validity(None);
        strings.utf8([&b"ab"[..], "西湖".as_bytes()].into_iter());
        assert_eq!(spans.finish(), strings.finish());
        let mut bad = Writer::new(1, &columns).expect("fits");
        let before = bad.bytes.len();
        for offsets in [&[-1, 2][..], &[4, 2], &[0, 11], &[]] {
            assert_eq!(bad.utf8_spans(offsets, data), None, "{offsets:?}");
            assert_eq!(bad.bytes.len(), before, "{offsets:?} wrote bytes");
        }
    }

    #[test]
    fn every_cut_and_any_trailing_byte_is_refused() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(parse(&longer).err(), Some(TableError::Trailing));
    }

    #[test]
    fn bad_headers_flags_and_offsets_are_refused() {
        let good = sample();
        let mut magic = good.clone();
        magic[3] = b'2';
        assert_eq!(parse(&magic).err(), Some(TableError::Magic));
        // The first column's type byte sits right after magic, count and rows.
        let mut ty = good.clone();
        ty[10] = 9;
        assert_eq!(parse(&ty).err(), Some(TableError::Header { column: 0 }));
        let mut nullable = good.clone();
        nullable[11] = 2;
        assert_eq!(
            parse(&nullable).err(),
            Some(TableError::Header { column: 0 })
        );
        // Rows claiming more than the bytes hold.
        let mut rows = good.clone();
        rows[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&rows).is_err());
        // Decreasing offsets: a one-column table whose second offset is below the first.
        let mut w = Writer::new(2, &[("s", ColumnType::Utf8, false)]).expect("fits");
        w.validity(None);
        let strings: [&[u8]; 2] = [b"abc", b"d"];
        w.utf8(strings.iter().copied());
        let mut bytes = w.finish();
        let first = 4 + 2 + 4 + 1 + 1 + 2 + 1 + 1 + 4;
        bytes[first..first + 4].copy_from_slice(&5u32.to_le_bytes());
        assert_eq!(parse(&bytes).err(), Some(TableError::Offsets { column: 0 }));
        let mut flag = good;
        let validity_at = 10 + (4 + 4) + (4 + 1) + (4 + 3) + (4 + 2);
        flag[validity_at] = 7;
        assert_eq!(parse(&flag).err(), Some(TableError::Validity { column: 0 }));
    }
}
