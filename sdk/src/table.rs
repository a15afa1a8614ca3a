//! Entity tables: an entity's rows staged by `entity_table` in the compact table encoding
//! (`shuyu_abi::table`, docs/abi.md "Entity tables"), turned into a record batch by copying
//! each column's buffers, without the schema and flatbuffers an Arrow IPC stream needs.

use std::sync::Arc;

use arrow_array::types::{ArrowPrimitiveType, Date32Type, Float64Type, Int64Type};
use arrow_array::{
    ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use shuyu_abi::table::{parse, Column, ColumnType, Values};

use crate::error::Result;

/// The batch a staged table holds.
pub(crate) fn decode(bytes: &[u8]) -> Result<RecordBatch> {
    let table = parse(bytes).map_err(|e| ArrowError::ParseError(format!("staged table: {e}")))?;
    let rows = table.rows;
    let mut fields = Vec::with_capacity(table.columns.len());
    let mut columns = Vec::with_capacity(table.columns.len());
    for column in &table.columns {
        let (data_type, array) = array(column, rows)?;
        fields.push(Field::new(column.name, data_type, column.nullable));
        columns.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}

/// A fixed-width column of `rows` values (`bytes` is exactly that long: checked by `parse`).
fn primitive<T: ArrowPrimitiveType>(
    bytes: &[u8],
    rows: usize,
    nulls: Option<NullBuffer>,
) -> Result<(DataType, ArrayRef)> {
    let values = ScalarBuffer::new(Buffer::from(bytes), 0, rows);
    Ok((
        T::DATA_TYPE,
        Arc::new(PrimitiveArray::<T>::try_new(values, nulls)?),
    ))
}

/// One column as an array of `rows` values. `parse` has checked every length and offset, so
/// the buffers below are as long as the arrays need.
fn array(column: &Column<'_>, rows: usize) -> Result<(DataType, ArrayRef)> {
    let nulls = column
        .validity
        .map(|bits| NullBuffer::new(BooleanBuffer::new(Buffer::from(bits), 0, rows)));
    let mismatch = || ArrowError::ParseError(format!("staged table: column {}", column.name));
    Ok(match (column.ty, column.values) {
        (ColumnType::Utf8, Values::Utf8 { offsets, bytes }) => {
            let offsets = offsets
                .chunks_exact(4)
                .map(|b| i32::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect::<std::result::Result<Vec<i32>, _>>()
                .map_err(|_| mismatch())?;
            // From 0 and never decreasing (checked by `parse`), so `OffsetBuffer::new` holds.
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            let strings = StringArray::try_new(offsets, Buffer::from(bytes), nulls)?;
            (DataType::Utf8, Arc::new(strings))
        }
        (ColumnType::Int64, Values::Fixed(bytes)) => primitive::<Int64Type>(bytes, rows, nulls)?,
        (ColumnType::Float64, Values::Fixed(bytes)) => {
            primitive::<Float64Type>(bytes, rows, nulls)?
        }
        (ColumnType::Date32, Values::Fixed(bytes)) => primitive::<Date32Type>(bytes, rows, nulls)?,
        (ColumnType::Boolean, Values::Bits(bits)) => {
            let values = BooleanBuffer::new(Buffer::from(bits), 0, rows);
            (
                DataType::Boolean,
                Arc::new(BooleanArray::new(values, nulls)),
            )
        }
        _ => return Err(mismatch().into()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow_array::{Array, Date32Array, Float64Array, Int64Array};
    use shuyu_abi::table::Writer;

    /// Three rows of every type the encoding carries, with nulls in the nullable columns: the
    /// SDK's tests read it as a batch (here) and in place (`view.rs`).
    pub(crate) fn staged_sample() -> Vec<u8> {
        let mut w = Writer::new(
            3,
            &[
                ("usci", ColumnType::Utf8, true),
                ("amount", ColumnType::Float64, true),
                ("n", ColumnType::Int64, false),
                ("day", ColumnType::Date32, false),
                ("ok", ColumnType::Boolean, true),
            ],
        )
        .expect("fits");
        w.validity(Some(&|i| i != 1));
        let strings: [&[u8]; 3] = [b"a", b"", "西湖".as_bytes()];
        w.utf8(strings.iter().copied());
        w.validity(Some(&|i| i != 0));
        let amounts: Vec<u8> = [0.0f64, 1.5, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        w.fixed(&amounts);
        w.validity(None);
        let ints: Vec<u8> = [7i64, -8, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        w.fixed(&ints);
        w.validity(None);
        let days: Vec<u8> = [1i32, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        w.fixed(&days);
        w.validity(Some(&|i| i != 2));
        w.booleans(&|i| i == 1);
        w.finish()
    }

    #[test]
    fn a_staged_table_becomes_the_batch_it_was_made_from() {
        let batch = decode(&staged_sample()).expect("decodes");

        let expected = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("usci", DataType::Utf8, true),
                Field::new("amount", DataType::Float64, true),
                Field::new("n", DataType::Int64, false),
                Field::new("day", DataType::Date32, false),
                Field::new("ok", DataType::Boolean, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("西湖")])),
                Arc::new(Float64Array::from(vec![None, Some(1.5), Some(-2.0)])),
                Arc::new(Int64Array::from(vec![7, -8, 9])),
                Arc::new(Date32Array::from(vec![1, 2, 3])),
                Arc::new(BooleanArray::from(vec![Some(false), Some(true), None])),
            ],
        )
        .expect("batch");
        assert_eq!(batch, expected);
        assert_eq!(batch.column(0).null_count(), 1);
    }

    #[test]
    fn bytes_that_are_not_a_table_are_an_arrow_error() {
        let err = decode(b"SYT1\x01").expect_err("truncated");
        assert!(matches!(err, crate::Error::Arrow(_)), "{err:?}");
        // Offsets that split a character: refused by the array, not a panic.
        let mut w = Writer::new(1, &[("s", ColumnType::Utf8, false)]).expect("fits");
        w.validity(None);
        let split: [&[u8]; 1] = [&"西".as_bytes()[..2]];
        w.utf8(split.iter().copied());
        assert!(decode(&w.finish()).is_err());
    }
}
