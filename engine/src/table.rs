//! One entity's rows in the compact table encoding of `entity_table` (`shuyu_abi::table`,
//! docs/abi.md "Entity tables"), from a batch already in the ABI's types.
//!
//! The encoding covers the types the granted views give modules: `Utf8`, `Int64`, `Float64`,
//! `Date32` and `Boolean`. A table with a column of another type (a binary or timestamp column,
//! say) is not encoded; the module then reads it as Arrow IPC (`entity_rows`).

use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Date32Type, Float64Type, Int64Type, Schema};
use shuyu_abi::table::{ColumnType, Writer};

// The encoding is little-endian, and the values below are copied as they lie in memory.
#[cfg(not(target_endian = "little"))]
compile_error!("the table encoding copies values as they lie in memory: little-endian hosts only");

/// The encoding's type for an ABI type, if it has one.
fn column_type(t: &DataType) -> Option<ColumnType> {
    match t {
        DataType::Utf8 => Some(ColumnType::Utf8),
        DataType::Int64 => Some(ColumnType::Int64),
        DataType::Float64 => Some(ColumnType::Float64),
        DataType::Date32 => Some(ColumnType::Date32),
        DataType::Boolean => Some(ColumnType::Boolean),
        _ => None,
    }
}

/// Whether the encoding carries columns of type `t`.
pub fn carries(t: &DataType) -> bool {
    column_type(t).is_some()
}

/// A table's column headers in the encoding (name, type, nullable), worked out once for every
/// range of its rows that is encoded.
#[derive(Debug, Clone)]
pub struct Heads {
    columns: Vec<(String, ColumnType, bool)>,
    /// Bytes of the table's header: magic, counts and the columns' headers.
    header_bytes: usize,
}

impl Heads {
    /// The headers of a table with this schema, or `None` when a column's type has no place in
    /// the encoding.
    pub fn of(schema: &Schema) -> Option<Heads> {
        let columns: Vec<(String, ColumnType, bool)> = schema
            .fields()
            .iter()
            .map(|f| {
                Some((
                    f.name().clone(),
                    column_type(f.data_type())?,
                    f.is_nullable(),
                ))
            })
            .collect::<Option<_>>()?;
        let header_bytes = 10 + columns.iter().map(|(n, _, _)| 4 + n.len()).sum::<usize>();
        Some(Heads {
            columns,
            header_bytes,
        })
    }
}

/// Encodes `batch` (a slice is fine: offsets are rebased), or `None` when a column's type has no
/// place in the encoding (see [`Heads::of`]) or the batch is too large for it.
pub fn encode(batch: &RecordBatch) -> Option<Vec<u8>> {
    encode_rows(
        &Heads::of(&batch.schema())?,
        batch.columns(),
        None,
        0..batch.num_rows(),
    )
}

/// Encodes rows `range` of a table with these `heads`, straight from its columns: no slice or
/// array is built, and the bytes are allocated once.
///
/// `columns` hold one array per head, in order, except for the head at `keyed.0`, which is not
/// among them and holds the string `keyed.1` in every row (an entity's rows of a table grouped
/// by entity, whose entity column is not kept). `None` when the columns do not match the heads
/// in number or type, the range is past their end, or the table is too large for the encoding.
pub fn encode_rows(
    heads: &Heads,
    columns: &[ArrayRef],
    keyed: Option<(usize, &str)>,
    range: Range<usize>,
) -> Option<Vec<u8>> {
    let rows = range.len();
    let expected = heads
        .columns
        .len()
        .checked_sub(usize::from(keyed.is_some()))?;
    if columns.len() != expected || keyed.is_some_and(|(at, _)| at >= heads.columns.len()) {
        return None;
    }
    let bitmap = rows.div_ceil(8);
    // Head `c`'s values: the key, or the array after leaving out the key's place.
    let source = |c: usize| match keyed {
        Some((at, key)) if at == c => Some(Source::Repeated(key)),
        Some((at, _)) if c > at => columns.get(c - 1).map(Source::Array),
        _ => columns.get(c).map(Source::Array),
    };
    let mut capacity = heads.header_bytes;
    for (c, (_, ty, _)) in heads.columns.iter().enumerate() {
        capacity += 1 + bitmap;
        capacity += match (source(c)?, ty.width()) {
            (Source::Repeated(key), _) => 4 * (rows + 1) + key.len() * rows,
            (Source::Array(_), Some(width)) => width * rows,
            (Source::Array(_), None) if *ty == ColumnType::Boolean => bitmap,
            (Source::Array(array), None) => {
                let offsets = array.as_string_opt::<i32>()?.value_offsets();
                let span = offsets.get(range.end)? - offsets.get(range.start)?;
                4 * (rows + 1) + usize::try_from(span).ok()?
            }
        };
    }
    let mut w = Writer::with_capacity(rows, &heads.columns, capacity)?;
    for (c, (_, ty, _)) in heads.columns.iter().enumerate() {
        let array = match source(c)? {
            Source::Repeated(key) => {
                if *ty != ColumnType::Utf8 {
                    return None;
                }
                w.validity(None);
                w.utf8(std::iter::repeat_n(key.as_bytes(), rows));
                continue;
            }
            Source::Array(array) => array,
        };
        if array.len() < range.end {
            return None;
        }
        let start = range.start;
        match array
            .nulls()
            .filter(|n| n.slice(start, rows).null_count() > 0)
        {
            Some(nulls) => w.validity(Some(&|i| nulls.is_valid(start + i))),
            None => w.validity(None),
        }
        match ty {
            ColumnType::Utf8 => {
                let strings = array.as_string_opt::<i32>()?;
                w.utf8_spans(
                    strings.value_offsets().get(start..=range.end)?,
                    strings.value_data(),
                )?;
            }
            ColumnType::Int64 => w.fixed(little_endian::<Int64Type>(array, &range)?),
            ColumnType::Float64 => w.fixed(little_endian::<Float64Type>(array, &range)?),
            ColumnType::Date32 => w.fixed(little_endian::<Date32Type>(array, &range)?),
            ColumnType::Boolean => {
                let values = array.as_boolean_opt()?.values();
                w.booleans(&|i| values.value(start + i));
            }
        }
    }
    Some(w.finish())
}

/// Where a column of [`encode_rows`] takes its values from.
enum Source<'a> {
    Array(&'a ArrayRef),
    /// One string in every row.
    Repeated(&'a str),
}

/// Rows `range` of a fixed-width column, as they lie in memory.
fn little_endian<'a, T: ArrowPrimitiveType>(
    column: &'a ArrayRef,
    range: &Range<usize>,
) -> Option<&'a [u8]> {
    let width = std::mem::size_of::<T::Native>();
    // A slice's `ScalarBuffer` holds only the slice's bytes, so row 0 is the slice's first.
    column
        .as_primitive_opt::<T>()?
        .values()
        .inner()
        .as_slice()
        .get(range.start * width..range.end * width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, BooleanArray, Int64Array, StringArray};
    use shuyu_abi::table::{parse, Values};
    use std::sync::Arc;

    #[test]
    fn a_slice_is_encoded_from_its_own_first_row() {
        let batch = RecordBatch::try_from_iter([
            (
                "usci",
                Arc::new(StringArray::from(vec![
                    Some("skip"),
                    Some("a"),
                    None,
                    Some("西湖"),
                ])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![9, 1, 2, 3])) as ArrayRef,
            ),
            (
                "ok",
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    Some(true),
                    None,
                ])) as ArrayRef,
            ),
        ])
        .expect("batch");
        let bytes = encode(&batch.slice(1, 3)).expect("encodable");
        let table = parse(&bytes).expect("valid");
        assert_eq!(table.rows, 3);
        let usci = &table.columns[0];
        assert_eq!(usci.validity, Some(&[0b101][..]));
        assert_eq!(
            usci.values,
            Values::Utf8 {
                offsets: &[0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0],
                bytes: "a西湖".as_bytes()
            }
        );
        let n: Vec<u8> = [1i64, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(table.columns[1].values, Values::Fixed(&n));
        assert_eq!(table.columns[2].validity, Some(&[0b011][..]));
        assert_eq!(table.columns[2].values, Values::Bits(&[0b010]));
    }

    #[test]
    fn a_range_with_a_keyed_column_is_encoded_as_the_same_rows_with_the_key_in_place() {
        let nums = Arc::new(Int64Array::from(vec![Some(9), Some(1), None, Some(3)])) as ArrayRef;
        let names = Arc::new(StringArray::from(vec!["skip", "a", "西湖", ""])) as ArrayRef;
        let keyed = RecordBatch::try_from_iter_with_nullable([
            ("n", nums.clone(), true),
            (
                "entity",
                Arc::new(StringArray::from(vec!["k"; 4])) as ArrayRef,
                true,
            ),
            ("name", names.clone(), false),
        ])
        .expect("batch");
        let heads = Heads::of(&keyed.schema()).expect("encodable");
        let columns = [nums, names];
        for range in [0..4, 1..4, 1..2, 3..3] {
            assert_eq!(
                encode_rows(&heads, &columns, Some((1, "k")), range.clone()),
                encode(&keyed.slice(range.start, range.len())),
                "{range:?}"
            );
        }
        assert_eq!(encode_rows(&heads, &columns, Some((1, "k")), 2..5), None);
        assert_eq!(
            encode_rows(&heads, &columns, None, 0..1),
            None,
            "a column short"
        );
        assert_eq!(encode_rows(&heads, &columns, Some((3, "k")), 0..1), None);
        let no_columns = Heads::of(&Schema::empty()).expect("encodable");
        assert_eq!(encode_rows(&no_columns, &[], Some((0, "k")), 0..0), None);
        assert_eq!(
            encode_rows(
                &heads,
                &[columns[1].clone(), columns[0].clone()],
                Some((1, "k")),
                0..1
            ),
            None,
            "columns of the wrong types"
        );
    }

    #[test]
    fn other_types_are_left_to_ipc() {
        let batch = RecordBatch::try_from_iter([(
            "blob",
            Arc::new(BinaryArray::from(vec![&b"x"[..]])) as ArrayRef,
        )])
        .expect("batch");
        assert!(Heads::of(&batch.schema()).is_none());
        assert!(encode(&batch).is_none());
    }
}
