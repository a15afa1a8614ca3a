//! Batches across the sandbox boundary: normalized to the ABI's types and encoded as Arrow IPC.
//!
//! The ABI promises `Utf8` strings, `Int64` integers, `Float64` for floats and decimals, and
//! `Date32` dates, so guest code handles a handful of types whatever DataFusion chose internally.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;

/// The ABI type a column of type `t` is delivered as.
fn abi_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::Dictionary(_, value) if value.is_string() => DataType::Utf8,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DataType::Int64,
        DataType::Float16
        | DataType::Float32
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => DataType::Float64,
        DataType::Date64 => DataType::Date32,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    }
}

/// Casts every column to its ABI type.
pub fn normalize(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let target = abi_type(field.data_type());
        if &target == field.data_type() {
            columns.push(column.clone());
            fields.push(field.as_ref().clone());
        } else {
            columns.push(cast(column, &target)?);
            fields.push(Field::new(field.name(), target, true));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Encodes one batch as a complete IPC stream: schema, the batch, end-of-stream.
pub fn encode_stream(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    writer.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringViewArray};
    use arrow::ipc::reader::StreamReader;

    #[test]
    fn views_and_small_ints_become_abi_types_and_round_trip() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8View, true),
            Field::new("n", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringViewArray::from(vec!["a", "b"])),
                Arc::new(Int32Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let normalized = normalize(&batch).unwrap();
        assert_eq!(normalized.schema().field(0).data_type(), &DataType::Utf8);
        assert_eq!(normalized.schema().field(1).data_type(), &DataType::Int64);
        let bytes = encode_stream(&normalized).unwrap();
        let decoded: Vec<_> = StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(decoded, vec![normalized]);
    }
}
