//! Batches across the sandbox boundary: normalized to the ABI's types and encoded as Arrow IPC.
//!
//! The ABI promises `Utf8` strings, `Int64` integers, `Float64` for floats and decimals, and
//! `Date32` dates, so guest code handles a handful of types whatever DataFusion chose internally.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::ipc::writer::{
    write_message, DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions,
    StreamWriter,
};

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

/// The end-of-stream marker of an IPC stream: continuation, then a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// Encodes many small batches of one schema as complete IPC streams (what [`encode_stream`]
/// makes), encoding the schema message once: entity runs get one stream per entity and table,
/// where the schema would otherwise cost more than the rows.
#[derive(Debug)]
pub struct StreamEncoder {
    schema_message: Vec<u8>,
    options: IpcWriteOptions,
}

impl StreamEncoder {
    /// An encoder for batches of `schema`.
    pub fn new(schema: &Schema) -> Result<Self, ArrowError> {
        // A stream writer writes the schema message as soon as it exists (`into_inner` would
        // also end the stream).
        let schema_message = StreamWriter::try_new(Vec::new(), schema)?.get_ref().clone();
        Ok(Self {
            schema_message,
            options: IpcWriteOptions::default(),
        })
    }

    /// `batch` (of the encoder's schema) as a complete stream: schema, the batch, end-of-stream.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
        let (dictionaries, encoded) = IpcDataGenerator::default().encode(
            batch,
            &mut DictionaryTracker::new(false),
            &self.options,
            &mut IpcWriteContext::default(),
        )?;
        if !dictionaries.is_empty() {
            return Err(ArrowError::InvalidArgumentError(
                "dictionary columns are not delivered to guests".into(),
            ));
        }
        let mut out = Vec::with_capacity(
            self.schema_message.len() + encoded.arrow_data.len() + encoded.ipc_message.len() + 32,
        );
        out.extend_from_slice(&self.schema_message);
        write_message(&mut out, encoded, &self.options)?;
        out.extend_from_slice(&END_OF_STREAM);
        Ok(out)
    }
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

    #[test]
    fn the_stream_encoder_makes_the_bytes_of_encode_stream() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow::array::StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("ccc"),
                ])),
                Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        let encoder = StreamEncoder::new(&schema).unwrap();
        for slice in [batch.clone(), batch.slice(1, 2), batch.slice(3, 0)] {
            assert_eq!(
                encoder.encode(&slice).unwrap(),
                encode_stream(&slice).unwrap()
            );
        }
    }
}
