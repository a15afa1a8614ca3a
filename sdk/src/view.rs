//! [`Table`]: rows of one table read in place from the bytes the host staged in the table
//! encoding (docs/abi.md, "Entity tables"), without building Arrow arrays: an entity's rows
//! ([`Entity::table`](crate::entity::Entity::table)) or a batch of a query
//! ([`query_table`](crate::query_table)).
//!
//! An entity run reads a dozen rows and is over. Building a `RecordBatch` from them (a schema,
//! an `Arc` and a copied buffer per column, offsets converted to `i32`) was a good part of what a
//! run cost; the columns are already laid out as Arrow lays them out, so a view over the bytes
//! answers the same questions. [`Entity::rows`](crate::entity::Entity::rows) still gives record
//! batches for code that wants Arrow.

use std::ops::Range;

use shuyu_abi::table::{parse, ColumnType, Values as Staged};

use crate::error::{Error, Result};

/// Rows of one table as the host staged them, an entity's
/// ([`Entity::table`](crate::entity::Entity::table)) or a query batch's
/// ([`query_table`](crate::query_table)): typed column views by name, borrowing the bytes.
///
/// A table in which the entity has no rows has no columns either: every accessor then gives an
/// empty column whatever the name (there is nothing to check the name against).
///
/// ```
/// # use shuyu_sdk::Table;
/// # fn total(tax: &Table) -> shuyu_sdk::Result<f64> {
/// // The sum of an enterprise's tax payments, nulls left out as SQL's SUM does.
/// let total = tax.f64_lossy("amount")?.iter().flatten().sum::<f64>();
/// # Ok(total) }
/// ```
#[derive(Debug, Default)]
pub struct Table {
    bytes: Vec<u8>,
    rows: usize,
    columns: Vec<ColumnAt>,
}

/// Where a column lies in the staged bytes.
#[derive(Debug, Clone)]
struct ColumnAt {
    name: Range<usize>,
    ty: ColumnType,
    validity: Option<Range<usize>>,
    values: Range<usize>,
    /// For `Utf8`: where the strings' bytes are (`values` then holds the offsets).
    text: Range<usize>,
}

impl Table {
    /// Reads a staged table, checking every length and offset (`shuyu_abi::table::parse`).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<Table> {
        let table = parse(&bytes).map_err(|e| Error::Usage(format!("staged table: {e}")))?;
        let base = bytes.as_ptr().addr();
        // Every slice `parse` returns borrows `bytes`, so its place is its distance from the
        // start (and `part` reads nothing for a range that is not in the bytes).
        let at = |part: &[u8]| {
            let start = part.as_ptr().addr().saturating_sub(base);
            start..start.saturating_add(part.len())
        };
        let columns = table
            .columns
            .iter()
            .map(|c| {
                let (values, text) = match c.values {
                    Staged::Utf8 { offsets, bytes } => (at(offsets), at(bytes)),
                    Staged::Fixed(values) | Staged::Bits(values) => (at(values), 0..0),
                };
                ColumnAt {
                    name: at(c.name.as_bytes()),
                    ty: c.ty,
                    validity: c.validity.map(at),
                    values,
                    text,
                }
            })
            .collect();
        let rows = table.rows;
        Ok(Table {
            bytes,
            rows,
            columns,
        })
    }

    /// Rows in every column.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// The columns' names, in the view's order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.columns.iter().map(|c| self.name_of(c))
    }

    /// A `Utf8` column.
    pub fn utf8(&self, name: &str) -> Result<Utf8Column<'_>> {
        let Some(column) = self.find(name, "Utf8", &[ColumnType::Utf8])? else {
            return Ok(Utf8Column::default());
        };
        let text = std::str::from_utf8(self.part(&column.text))
            .map_err(|_| Error::Usage(format!("staged table: column `{name}` is not UTF-8")))?;
        let offsets = self.part(&column.values);
        // `parse` checked that the offsets start at 0, never decrease and end at the bytes'
        // length; a string must also start and end on a character.
        let splits = offsets
            .chunks_exact(4)
            .all(|o| text.is_char_boundary(u32_at(o) as usize));
        if !splits {
            return Err(Error::Usage(format!(
                "staged table: column `{name}` splits a character"
            )));
        }
        Ok(Utf8Column {
            rows: self.rows,
            validity: self.validity(column),
            offsets,
            text,
        })
    }

    /// A `Float64` column.
    pub fn f64(&self, name: &str) -> Result<Numbers<'_, f64>> {
        self.numbers(name, "Float64", &[ColumnType::Float64])
    }

    /// An `Int64` column.
    pub fn i64(&self, name: &str) -> Result<Numbers<'_, i64>> {
        self.numbers(name, "Int64", &[ColumnType::Int64])
    }

    /// A `Date32` column (days since 1970-01-01).
    pub fn date32(&self, name: &str) -> Result<Numbers<'_, i32>> {
        self.numbers(name, "Date32", &[ColumnType::Date32])
    }

    /// A `Float64` or `Int64` column as `f64` (integers converted, which is exact up to 2^53):
    /// for measures whose type depends on the dataset.
    pub fn f64_lossy(&self, name: &str) -> Result<Numbers<'_, f64>> {
        self.numbers(
            name,
            "Float64 or Int64",
            &[ColumnType::Float64, ColumnType::Int64],
        )
    }

    /// A `Boolean` column.
    pub fn boolean(&self, name: &str) -> Result<Booleans<'_>> {
        let Some(column) = self.find(name, "Boolean", &[ColumnType::Boolean])? else {
            return Ok(Booleans::default());
        };
        Ok(Booleans {
            rows: self.rows,
            validity: self.validity(column),
            bits: self.part(&column.values),
        })
    }

    fn numbers<T: Number>(
        &self,
        name: &str,
        expected: &'static str,
        types: &[ColumnType],
    ) -> Result<Numbers<'_, T>> {
        let Some(column) = self.find(name, expected, types)? else {
            return Ok(Numbers::empty());
        };
        Ok(Numbers {
            rows: self.rows,
            validity: self.validity(column),
            values: self.part(&column.values),
            read: T::reader(column.ty),
        })
    }

    /// The column of that name if it has one of `types`; `None` in a table without columns.
    fn find(
        &self,
        name: &str,
        expected: &'static str,
        types: &[ColumnType],
    ) -> Result<Option<&ColumnAt>> {
        if self.columns.is_empty() {
            return Ok(None);
        }
        let Some(column) = self.columns.iter().find(|c| self.name_of(c) == name) else {
            return Err(Error::Column {
                name: name.to_string(),
                expected,
                found: None,
            });
        };
        if !types.contains(&column.ty) {
            return Err(Error::Column {
                name: name.to_string(),
                expected,
                found: Some(type_name(column.ty).to_string()),
            });
        }
        Ok(Some(column))
    }

    /// The bytes of a part of the table.
    fn part(&self, range: &Range<usize>) -> &[u8] {
        self.bytes.get(range.clone()).unwrap_or_default()
    }

    fn name_of(&self, column: &ColumnAt) -> &str {
        // `parse` checked that names are UTF-8.
        std::str::from_utf8(self.part(&column.name)).unwrap_or_default()
    }

    fn validity(&self, column: &ColumnAt) -> Option<&[u8]> {
        column.validity.as_ref().map(|v| self.part(v))
    }
}

/// The name of the Arrow type a staged column stands for, for error messages.
fn type_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Utf8 => "Utf8",
        ColumnType::Int64 => "Int64",
        ColumnType::Float64 => "Float64",
        ColumnType::Date32 => "Date32",
        ColumnType::Boolean => "Boolean",
    }
}

fn u32_at(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Bit `i` of a bitmap (least significant first), `false` past its end.
fn bit(bits: &[u8], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// Whether row `i` has a value under this validity bitmap.
fn valid(validity: Option<&[u8]>, i: usize) -> bool {
    validity.is_none_or(|bits| bit(bits, i))
}

/// A `Utf8` column of an [`Table`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8Column<'a> {
    rows: usize,
    validity: Option<&'a [u8]>,
    offsets: &'a [u8],
    text: &'a str,
}

impl<'a> Utf8Column<'a> {
    /// Values, nulls included.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i`'s value: `None` when it is null or there is no row `i`.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        if i >= self.rows || !valid(self.validity, i) {
            return None;
        }
        let start = u32_at(self.offsets.get(4 * i..4 * i + 4)?) as usize;
        let end = u32_at(self.offsets.get(4 * i + 4..4 * i + 8)?) as usize;
        self.text.get(start..end)
    }

    /// Every row's value, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (0..self.rows).map(|i| self.get(i))
    }
}

/// A type a fixed-width column is read as.
pub trait Number: Copy + Default + sealed::Sealed {
    /// How to read one value of a column of type `ty` (checked by the caller).
    #[doc(hidden)]
    fn reader(ty: ColumnType) -> (usize, fn(&[u8]) -> Self);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
    impl Sealed for i32 {}
}

fn le8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

impl Number for f64 {
    fn reader(ty: ColumnType) -> (usize, fn(&[u8]) -> f64) {
        match ty {
            // Exact up to 2^53, as `f64_lossy` says.
            ColumnType::Int64 => (8, |b| i64::from_le_bytes(le8(b)) as f64),
            _ => (8, |b| f64::from_le_bytes(le8(b))),
        }
    }
}

impl Number for i64 {
    fn reader(_: ColumnType) -> (usize, fn(&[u8]) -> i64) {
        (8, |b| i64::from_le_bytes(le8(b)))
    }
}

impl Number for i32 {
    fn reader(_: ColumnType) -> (usize, fn(&[u8]) -> i32) {
        (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A fixed-width column of an [`Table`], read as `T`.
#[derive(Debug, Clone, Copy)]
pub struct Numbers<'a, T> {
    rows: usize,
    validity: Option<&'a [u8]>,
    values: &'a [u8],
    /// Bytes per value and how to read one.
    read: (usize, fn(&[u8]) -> T),
}

impl<'a, T: Number> Numbers<'a, T> {
    fn empty() -> Self {
        Numbers {
            rows: 0,
            validity: None,
            values: &[],
            read: T::reader(ColumnType::Float64),
        }
    }

    /// Values, nulls included.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i`'s value: `None` when it is null or there is no row `i`.
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.rows || !valid(self.validity, i) {
            return None;
        }
        let (width, read) = self.read;
        self.values.get(i * width..(i + 1) * width).map(read)
    }

    /// Every row's value, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<T>> + '_ {
        (0..self.rows).map(|i| self.get(i))
    }
}

/// A `Boolean` column of an [`Table`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Booleans<'a> {
    rows: usize,
    validity: Option<&'a [u8]>,
    bits: &'a [u8],
}

impl Booleans<'_> {
    /// Values, nulls included.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i`'s value: `None` when it is null or there is no row `i`.
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.rows && valid(self.validity, i)).then(|| bit(self.bits, i))
    }

    /// Every row's value, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<bool>> + '_ {
        (0..self.rows).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::staged_sample;
    use crate::BatchExt;
    use arrow_array::Array;
    use shuyu_abi::table::Writer;

    #[test]
    fn a_view_reads_what_the_record_batch_holds() {
        let bytes = staged_sample();
        let view = Table::from_bytes(bytes.clone()).expect("parses");
        let batch = crate::table::decode(&bytes).expect("decodes");
        assert_eq!(view.num_rows(), batch.num_rows());
        assert_eq!(
            view.column_names().collect::<Vec<_>>(),
            ["usci", "amount", "n", "day", "ok"]
        );
        let (usci, want) = (
            view.utf8("usci").expect("utf8"),
            batch.utf8("usci").expect("utf8"),
        );
        let want: Vec<Option<&str>> = want.iter().collect();
        assert_eq!(usci.iter().collect::<Vec<_>>(), want);
        let amount: Vec<Option<f64>> = batch.f64("amount").expect("f64").iter().collect();
        assert_eq!(
            view.f64("amount").expect("f64").iter().collect::<Vec<_>>(),
            amount
        );
        let n: Vec<Option<i64>> = batch.i64("n").expect("i64").iter().collect();
        assert_eq!(view.i64("n").expect("i64").iter().collect::<Vec<_>>(), n);
        let days: Vec<Option<i32>> = batch.date32("day").expect("date32").iter().collect();
        assert_eq!(
            view.date32("day")
                .expect("date32")
                .iter()
                .collect::<Vec<_>>(),
            days
        );
        let ok = view.boolean("ok").expect("bool");
        assert_eq!(
            ok.iter().collect::<Vec<_>>(),
            [Some(false), Some(true), None]
        );
        // Int64 as f64, nulls kept, as `BatchExt::f64_lossy` does.
        let lossy: Vec<Option<f64>> = batch.f64_lossy("n").expect("lossy").iter().collect();
        assert_eq!(
            view.f64_lossy("n")
                .expect("lossy")
                .iter()
                .collect::<Vec<_>>(),
            lossy
        );
        assert_eq!(view.f64_lossy("amount").expect("lossy").get(2), Some(-2.0));
        // Past the end is `None`, not a panic.
        assert_eq!(usci.get(3), None);
        assert_eq!(view.i64("n").expect("i64").get(usize::MAX), None);
        assert!(batch.column(0).is_null(1) && usci.get(1).is_none());
    }

    #[test]
    fn wrong_names_and_types_are_named_as_for_batches() {
        let view = Table::from_bytes(staged_sample()).expect("parses");
        let err = view.f64("usci").expect_err("utf8 is not f64");
        assert_eq!(err.to_string(), "column `usci` is Utf8, expected Float64");
        let err = view.f64_lossy("day").expect_err("a date is not a number");
        assert_eq!(
            err.to_string(),
            "column `day` is Date32, expected Float64 or Int64"
        );
        let err = view.utf8("district").expect_err("missing");
        assert!(matches!(&err, Error::Column { name, found: None, .. } if name == "district"));
    }

    #[test]
    fn a_table_without_rows_gives_empty_columns() {
        let view = Table::default();
        assert_eq!(view.num_rows(), 0);
        assert!(view.utf8("anything").expect("empty").is_empty());
        assert_eq!(view.f64_lossy("amount").expect("empty").iter().count(), 0);
        assert!(view.boolean("ok").expect("empty").get(0).is_none());
    }

    #[test]
    fn bytes_that_are_not_a_table_or_not_text_are_errors() {
        let err = Table::from_bytes(b"SYT1\x01".to_vec()).expect_err("truncated");
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        // Offsets that split a character of valid text, and bytes that are not UTF-8.
        let west = "西".as_bytes();
        let split: [&[u8]; 2] = [&west[..1], &west[1..]];
        let invalid: [&[u8]; 2] = [&[0xff], &[0xfe]];
        for values in [split, invalid] {
            let mut w = Writer::new(2, &[("s", ColumnType::Utf8, false)]).expect("fits");
            w.validity(None);
            w.utf8(values.iter().copied());
            let view = Table::from_bytes(w.finish()).expect("parses");
            let err = view.utf8("s").expect_err("not text");
            assert!(err.to_string().contains("column `s`"), "{err}");
        }
    }
}
