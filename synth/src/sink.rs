//! Writing a dataset's files: Parquet in record batches of bounded size, and any file by
//! write-to-temporary-then-rename, so a reader never sees half a file and a failed run leaves the
//! previous version in place.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::array::ArrayRef;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::GenerateError;

/// Most rows held in memory before they are handed to the Parquet writer.
pub(super) const BATCH_ROWS: usize = 65_536;

/// A dataset's column builders. Implemented once per dataset with named Arrow builders, so a row
/// is appended with the types the manifest promises.
pub(super) trait Columns {
    /// Rows appended since the last [`finish`](Columns::finish).
    fn len(&self) -> usize;
    /// The built arrays in manifest column order; resets the builders.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

/// A file being written under a temporary name beside its final path.
struct TempFile {
    temp: PathBuf,
    path: PathBuf,
    done: bool,
}

impl TempFile {
    /// A placeholder that owns nothing (what a finished sink keeps).
    fn done() -> Self {
        TempFile {
            temp: PathBuf::new(),
            path: PathBuf::new(),
            done: true,
        }
    }

    fn new(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        TempFile {
            temp: path.with_file_name(format!(".{name}.tmp")),
            path: path.to_path_buf(),
            done: false,
        }
    }

    fn create(&self) -> Result<File, GenerateError> {
        File::create(&self.temp).map_err(|e| GenerateError::io(&self.temp, e))
    }

    fn commit(mut self, file: File) -> Result<(), GenerateError> {
        file.sync_all()
            .map_err(|e| GenerateError::io(&self.temp, e))?;
        drop(file);
        fs::rename(&self.temp, &self.path).map_err(|e| GenerateError::io(&self.path, e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a leftover temporary is harmless and the error that got us here
            // matters more.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `contents` to `path` atomically.
pub(super) fn write_file(path: &Path, contents: &[u8]) -> Result<(), GenerateError> {
    let temp = TempFile::new(path);
    let mut file = temp.create()?;
    file.write_all(contents)
        .map_err(|e| GenerateError::io(&temp.temp, e))?;
    temp.commit(file)
}

/// Batches waiting for the writer thread: enough to keep it busy while the next one is built,
/// few enough that memory stays a few batches deep.
const QUEUED_BATCHES: usize = 2;

/// A Parquet file being written batch by batch. Rows are generated on the caller's thread and
/// encoded and compressed on a writer thread of the sink's own, so the two halves of the work
/// use two cores; the file's bytes are the same as with one thread.
pub(super) struct ParquetSink<C: Columns> {
    temp: TempFile,
    batches: Option<SyncSender<RecordBatch>>,
    writer: Option<JoinHandle<Result<File, GenerateError>>>,
    schema: SchemaRef,
    /// The current batch.
    pub cols: C,
    rows: u64,
}

impl<C: Columns> ParquetSink<C> {
    /// Starts writing `path` with `schema`; `cols` must build arrays of exactly that schema.
    pub(super) fn create(path: &Path, schema: Schema, cols: C) -> Result<Self, GenerateError> {
        let temp = TempFile::new(path);
        let file = temp.create()?;
        let schema = Arc::new(schema);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut writer =
            ArrowWriter::try_new(BufWriter::new(file), Arc::clone(&schema), Some(props))
                .map_err(|e| GenerateError::parquet(path, e))?;
        let (batches, queue) = sync_channel::<RecordBatch>(QUEUED_BATCHES);
        let at = temp.temp.clone();
        let writer = std::thread::Builder::new()
            .name("parquet-writer".into())
            .spawn(move || {
                for batch in queue {
                    writer
                        .write(&batch)
                        .map_err(|e| GenerateError::parquet(&at, e))?;
                }
                let buffered = writer
                    .into_inner()
                    .map_err(|e| GenerateError::parquet(&at, e))?;
                buffered
                    .into_inner()
                    .map_err(|e| GenerateError::io(&at, e.into_error()))
            })
            .map_err(|e| GenerateError::io(path, e))?;
        Ok(ParquetSink {
            temp,
            batches: Some(batches),
            writer: Some(writer),
            schema,
            cols,
            rows: 0,
        })
    }

    /// Call after appending each row: hands a full batch to the writer.
    pub(super) fn row_done(&mut self) -> Result<(), GenerateError> {
        if self.cols.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), GenerateError> {
        let n = self.cols.len();
        if n == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), self.cols.finish())?;
        let sent = self.batches.as_ref().map(|b| b.send(batch));
        if !matches!(sent, Some(Ok(()))) {
            // The writer stopped: its own error says why.
            return Err(match self.join_writer() {
                Err(e) => e,
                Ok(_) => self.writer_gone(),
            });
        }
        self.rows += n as u64;
        Ok(())
    }

    /// Closes the queue and waits for the writer thread: the file, or why it failed.
    fn join_writer(&mut self) -> Result<File, GenerateError> {
        self.batches = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(self.writer_gone()),
        }
    }

    fn writer_gone(&self) -> GenerateError {
        GenerateError::io(
            &self.temp.path,
            std::io::Error::other("the Parquet writer thread stopped"),
        )
    }

    /// Writes the last batch and the footer, then moves the file into place. Returns the number
    /// of rows written.
    pub(super) fn finish(mut self) -> Result<u64, GenerateError> {
        self.flush()?;
        let file = self.join_writer()?;
        let temp = std::mem::replace(&mut self.temp, TempFile::done());
        temp.commit(file)?;
        Ok(self.rows)
    }
}

impl<C: Columns> Drop for ParquetSink<C> {
    fn drop(&mut self) {
        // An abandoned sink: let the writer end and close the file before the temporary is
        // removed.
        let _ = self.join_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayBuilder, Int64Builder};
    use arrow::datatypes::{DataType, Field};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    struct Ints(Int64Builder);

    impl Columns for Ints {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn finish(&mut self) -> Vec<ArrayRef> {
            vec![Arc::new(self.0.finish())]
        }
    }

    #[test]
    fn writes_batches_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        fs::write(&path, b"old").unwrap();
        let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let mut sink = ParquetSink::create(&path, schema, Ints(Int64Builder::new())).unwrap();
        let total = BATCH_ROWS as i64 * 2 + 7;
        for i in 0..total {
            sink.cols.0.append_value(i);
            sink.row_done().unwrap();
        }
        assert_eq!(
            fs::read(&path).unwrap(),
            b"old",
            "replaced before finishing"
        );
        assert_eq!(sink.finish().unwrap(), total as u64);

        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows as i64, total);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn abandoned_sink_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.parquet");
        let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let sink = ParquetSink::create(&path, schema, Ints(Int64Builder::new())).unwrap();
        drop(sink);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
