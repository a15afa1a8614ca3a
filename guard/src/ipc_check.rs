//! A structural check of a contribution chunk's Arrow IPC stream, run before arrow decodes it.
//!
//! arrow's decoder trusts the lengths a stream declares. Most lie harmlessly (the decoder reads
//! out of the body it was given and fails), but a compressed buffer starts with its
//! *uncompressed* length, and arrow reserves that much memory before decompressing: a chunk
//! claiming 2^62 bytes makes the allocator abort the whole process, which no `catch_unwind`
//! catches. So the guard reads the stream's flatbuffer message headers itself first and refuses,
//! before anything allocates:
//!
//! - compressed record batches (LZ4 or ZSTD): contributions are small and travel through guest
//!   memory, so compression buys nothing and only adds a decompressor to the attack surface;
//! - dictionary batches, dictionary-encoded or nested fields and variadic buffers (views): no
//!   contract column uses them;
//! - message types other than schema and record batch, anything after the end-of-stream marker,
//!   and a record batch before the schema;
//! - every declared length that does not fit the chunk: each message's metadata and body must lie
//!   inside the chunk, each buffer inside its body, the number of columns must match the schema
//!   (at most [`MAX_FIELDS`]), a batch has at most as many buffers as its columns can use, and at
//!   most one row per 4 body bytes (every contract column has an offsets or values buffer of at
//!   least 4 bytes per row).
//!
//! After this check every allocation arrow makes is bounded by the chunk's own size, which the
//! ABI already bounds. Messages name the problem, never a value from the chunk.

use arrow::ipc::{self, MessageHeader};

/// Most columns a contribution stream's schema may declare; contracts have far fewer (one entity,
/// the dimensions and the measures), and the exact count is checked by `contract.schema`.
pub(crate) const MAX_FIELDS: usize = 1024;

/// Buffers one flat column may use: validity, offsets and values (`Utf8`).
const BUFFERS_PER_COLUMN: usize = 3;

/// The Arrow IPC continuation marker that precedes each message's length.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// Why a chunk was refused before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpcRefusal {
    /// A record batch declares a compression codec.
    Compressed,
    /// A length or count the stream declares does not fit the chunk.
    Bounds(&'static str),
    /// The stream uses a feature contributions never need.
    Unsupported(&'static str),
    /// The framing or a message header is not valid Arrow IPC.
    Malformed(&'static str),
}

impl std::fmt::Display for IpcRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Compressed => f.write_str(
                "a record batch is compressed (LZ4 or ZSTD); contributions must be uncompressed",
            ),
            Self::Bounds(what) => write!(f, "{what} exceeds the chunk's size"),
            Self::Unsupported(what) => write!(f, "{what} is not accepted in contributions"),
            Self::Malformed(what) => write!(f, "{what}"),
        }
    }
}

/// Checks the whole stream in `chunk`; `Ok` means arrow may decode it.
pub(crate) fn check(chunk: &[u8]) -> Result<(), IpcRefusal> {
    let mut pos = 0usize;
    let mut fields: Option<usize> = None;
    loop {
        let Some(mut word) = read_u32(chunk, pos) else {
            if pos == chunk.len() {
                // A stream may end without the end-of-stream marker (arrow accepts both).
                return Ok(());
            }
            return Err(IpcRefusal::Malformed(
                "the stream ends inside a message length",
            ));
        };
        pos += 4;
        if word == u32::from_le_bytes(CONTINUATION) {
            word = read_u32(chunk, pos).ok_or(IpcRefusal::Malformed(
                "the stream ends inside a message length",
            ))?;
            pos += 4;
        }
        if word == 0 {
            // End of stream: arrow refuses anything after it, and so does the guard.
            if pos != chunk.len() {
                return Err(IpcRefusal::Malformed(
                    "bytes follow the end-of-stream marker",
                ));
            }
            return Ok(());
        }
        let size = usize::try_from(word).map_err(|_| IpcRefusal::Bounds("a message length"))?;
        let end = pos
            .checked_add(size)
            .filter(|&end| end <= chunk.len())
            .ok_or(IpcRefusal::Bounds("a message's metadata length"))?;
        let message = ipc::root_as_message(&chunk[pos..end])
            .map_err(|_| IpcRefusal::Malformed("a message header is not a valid flatbuffer"))?;
        pos = end;
        let body = usize::try_from(message.bodyLength())
            .map_err(|_| IpcRefusal::Bounds("a message's body length"))?;
        pos = pos
            .checked_add(body)
            .filter(|&end| end <= chunk.len())
            .ok_or(IpcRefusal::Bounds("a message's body length"))?;
        match message.header_type() {
            MessageHeader::Schema => {
                if fields.is_some() {
                    return Err(IpcRefusal::Malformed("the stream has two schemas"));
                }
                let schema = message
                    .header_as_schema()
                    .ok_or(IpcRefusal::Malformed("a schema message has no schema"))?;
                fields = Some(check_schema(&schema)?);
            }
            MessageHeader::RecordBatch => {
                let columns = fields.ok_or(IpcRefusal::Malformed(
                    "a record batch comes before the schema",
                ))?;
                let batch = message
                    .header_as_record_batch()
                    .ok_or(IpcRefusal::Malformed("a record batch message has no batch"))?;
                check_batch(&batch, columns, body)?;
            }
            MessageHeader::DictionaryBatch => {
                return Err(IpcRefusal::Unsupported("a dictionary batch"))
            }
            _ => {
                return Err(IpcRefusal::Unsupported(
                    "a message that is not a schema or a record batch",
                ))
            }
        }
    }
}

fn read_u32(chunk: &[u8], pos: usize) -> Option<u32> {
    let bytes = chunk.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The number of top-level columns, once the schema is known to be flat and dictionary-free.
fn check_schema(schema: &ipc::Schema<'_>) -> Result<usize, IpcRefusal> {
    let Some(fields) = schema.fields() else {
        return Ok(0);
    };
    if fields.len() > MAX_FIELDS {
        return Err(IpcRefusal::Bounds("the schema's number of columns"));
    }
    for field in fields.iter() {
        if field.dictionary().is_some() {
            return Err(IpcRefusal::Unsupported("a dictionary-encoded column"));
        }
        if field.children().is_some_and(|c| !c.is_empty()) {
            return Err(IpcRefusal::Unsupported("a nested column"));
        }
    }
    Ok(fields.len())
}

fn check_batch(
    batch: &ipc::RecordBatch<'_>,
    columns: usize,
    body: usize,
) -> Result<(), IpcRefusal> {
    if batch.compression().is_some() {
        return Err(IpcRefusal::Compressed);
    }
    if batch.variadicBufferCounts().is_some_and(|v| !v.is_empty()) {
        return Err(IpcRefusal::Unsupported("a view column (variadic buffers)"));
    }
    let rows = u64::try_from(batch.length())
        .map_err(|_| IpcRefusal::Malformed("a record batch has a negative length"))?;
    // Every contract column has an offsets (Utf8, 4 bytes a row) or values (8 bytes a row)
    // buffer, so a body of B bytes can hold at most B / 4 rows.
    if rows > body as u64 / 4 {
        return Err(IpcRefusal::Bounds("a record batch's number of rows"));
    }
    let nodes = batch.nodes().map_or(0, |n| n.len());
    if nodes != columns {
        return Err(IpcRefusal::Malformed(
            "a record batch's number of columns differs from its schema",
        ));
    }
    for node in batch.nodes().iter().flat_map(|n| n.iter()) {
        let length = u64::try_from(node.length()).ok();
        let nulls = u64::try_from(node.null_count()).ok();
        match (length, nulls) {
            (Some(length), Some(nulls)) if length == rows && nulls <= length => {}
            _ => {
                return Err(IpcRefusal::Bounds(
                    "a column's declared length or null count",
                ))
            }
        }
    }
    let buffers = batch.buffers();
    if buffers.map_or(0, |b| b.len()) > columns.saturating_mul(BUFFERS_PER_COLUMN) {
        return Err(IpcRefusal::Bounds("a record batch's number of buffers"));
    }
    for buffer in buffers.iter().flat_map(|b| b.iter()) {
        let offset = u64::try_from(buffer.offset()).ok();
        let length = u64::try_from(buffer.length()).ok();
        let end = offset.zip(length).and_then(|(o, l)| o.checked_add(l));
        if end.is_none_or(|end| end > body as u64) {
            return Err(IpcRefusal::Bounds("a buffer's offset and length"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
    use arrow::record_batch::RecordBatch;

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("entity", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch")
    }

    fn stream(options: IpcWriteOptions) -> Vec<u8> {
        let b = batch();
        let mut out = Vec::new();
        let mut writer =
            StreamWriter::try_new_with_options(&mut out, &b.schema(), options).expect("writer");
        writer.write(&b).expect("write");
        writer.finish().expect("finish");
        drop(writer);
        out
    }

    #[test]
    fn accepts_plain_streams_with_or_without_the_end_marker() {
        let bytes = stream(IpcWriteOptions::default());
        assert_eq!(check(&bytes), Ok(()));
        // Without the 8-byte end-of-stream marker.
        assert_eq!(check(&bytes[..bytes.len() - 8]), Ok(()));
        assert_eq!(check(&[]), Ok(()));
    }

    #[test]
    fn refuses_truncation_and_trailing_bytes() {
        let bytes = stream(IpcWriteOptions::default());
        for cut in [3, 7, 20, bytes.len() - 9] {
            assert!(check(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(check(&trailing).is_err());
    }
}
