//! One entity's rows in the compact table encoding of `entity_table` (`shuyu_abi::table`,
//! docs/abi.md "Entity tables"), from a batch already in the ABI's types.
//!
//! The encoding covers the types the granted views give modules: `Utf8`, `Int64`, `Float64`,
//! `Date32` and `Boolean`. A table with a column of another type (a binary or timestamp column,
//! say) is not encoded; the module then reads it as Arrow IPC (`entity_rows`).

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Date32Type, Float64Type, Int64Type};
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

/// A fixed-width column's values as they lie in memory (a slice's own, not its parent's).
fn little_endian<T: ArrowPrimitiveType>(column: &ArrayRef) -> Option<&[u8]> {
    // A slice's `ScalarBuffer` holds only the slice's bytes.
    Some(column.as_primitive_opt::<T>()?.values().inner().as_slice())
}

/// Whether every column of a batch with this schema can be encoded.
pub fn encodable(schema: &arrow::datatypes::Schema) -> bool {
    schema
        .fields()
        .iter()
        .all(|f| column_type(f.data_type()).is_some())
}

/// Encodes `batch` (a slice is fine: offsets are rebased), or `None` when a column's type has no
/// place in the encoding (see [`encodable`]) or the batch is too large for it.
pub fn encode(batch: &RecordBatch) -> Option<Vec<u8>> {
    let schema = batch.schema();
    let heads: Vec<(&str, ColumnType, bool)> = schema
        .fields()
        .iter()
        .map(|f| {
            Some((
                f.name().as_str(),
                column_type(f.data_type())?,
                f.is_nullable(),
            ))
        })
        .collect::<Option<_>>()?;
    let rows = batch.num_rows();
    let mut w = Writer::new(rows, &heads)?;
    for (column, (_, ty, _)) in batch.columns().iter().zip(&heads) {
        match column.nulls().filter(|n| n.null_count() > 0) {
            Some(nulls) => w.validity(Some(&|i| nulls.is_valid(i))),
            None => w.validity(None),
        }
        match ty {
            ColumnType::Utf8 => {
                let strings = column.as_string_opt::<i32>()?;
                w.utf8((0..rows).map(|i| strings.value(i).as_bytes()));
            }
            ColumnType::Int64 => w.fixed(little_endian::<Int64Type>(column)?),
            ColumnType::Float64 => w.fixed(little_endian::<Float64Type>(column)?),
            ColumnType::Date32 => w.fixed(little_endian::<Date32Type>(column)?),
            ColumnType::Boolean => {
                let values = column.as_any().downcast_ref::<BooleanArray>()?.values();
                w.booleans(&|i| values.value(i));
            }
        }
    }
    Some(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, Int64Array, StringArray};
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
    fn other_types_are_left_to_ipc() {
        let batch = RecordBatch::try_from_iter([(
            "blob",
            Arc::new(BinaryArray::from(vec![&b"x"[..]])) as ArrayRef,
        )])
        .expect("batch");
        assert!(!encodable(&batch.schema()));
        assert!(encode(&batch).is_none());
    }
}
