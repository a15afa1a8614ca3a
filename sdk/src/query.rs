//! Read-only SQL: [`query_table`] with [`Tables`], which reads each batch in place, and (feature
//! `arrow`) `query` with the lazy record-batch iterator `Rows`.
//!
//! The host stages one batch at a time and the module copies it in only when asked, so a module
//! can scan tables much larger than its memory: [`Tables`] holds one batch's bytes and the views
//! over them, `Rows` at most one batch's bytes and the batch decoded from them.

use crate::abi;
use crate::error::{Error, Result};
use crate::view::Table;
#[cfg(feature = "arrow")]
use arrow_array::RecordBatch;
#[cfg(feature = "arrow")]
use arrow_ipc::reader::StreamReader;
#[cfg(feature = "arrow")]
use std::io::Cursor;

/// Plans a read-only SQL query (one `SELECT`/`WITH` statement) over the scenario's granted tables.
///
/// Nothing runs until the returned [`Rows`] is iterated. A query the host refuses to plan (a
/// table or column not granted, a syntax error, DDL) fails here with [`abi::QUERY_REJECTED`].
///
/// ```no_run
/// use shuyu_sdk::{query, BatchExt};
/// # fn main() -> shuyu_sdk::Result<()> {
/// let mut total = 0.0;
/// for batch in query("SELECT income FROM residents")? {
///     let batch = batch?;
///     total += batch.f64("income")?.iter().flatten().sum::<f64>();
/// }
/// # Ok(()) }
/// ```
#[cfg(feature = "arrow")]
pub fn query(sql: &str) -> Result<Rows> {
    // SAFETY: the pointer and length describe `sql`, which lives across the call.
    let handle = unsafe { abi::query(sql.as_ptr(), sql.len()) };
    Rows::from_handle(handle, Staging::Ipc)
}

/// Plans a read-only SQL query as `query` does, whose batches are read in place: each is a
/// [`Table`] of typed column views over the bytes the host staged (`next_table`, docs/abi.md
/// "Entity tables"), with no Arrow arrays built. A module that reads its queries this way and
/// contributes through [`Release`](crate::Release) links no Arrow code, which makes it smaller,
/// quicker to compile and quicker to instantiate (its function table is a fraction of the size).
///
/// The encoding carries `Utf8`, `Int64`, `Float64`, `Date32` and `Boolean` columns; a batch with
/// a column of another type ends the query with [`abi::NOT_AVAILABLE`] (read it with `query`,
/// feature `arrow`).
///
/// ```no_run
/// use shuyu_sdk::query_table;
/// # fn main() -> shuyu_sdk::Result<()> {
/// let mut total = 0.0;
/// for table in query_table("SELECT income FROM residents")? {
///     total += table?.f64("income")?.iter().flatten().sum::<f64>();
/// }
/// # Ok(()) }
/// ```
pub fn query_table(sql: &str) -> Result<Tables> {
    // SAFETY: the pointer and length describe `sql`, which lives across the call.
    let handle = unsafe { abi::query(sql.as_ptr(), sql.len()) };
    Ok(Tables {
        query: Query::new(handle, Staging::QueryTable)?,
    })
}

/// The result of a [`query_table`]: an iterator of [`Table`]s, fetched from the host lazily.
///
/// The iterator ends after the first `Err`, and dropping it before the end closes the host's
/// query.
#[derive(Debug)]
pub struct Tables {
    query: Query,
}

impl Tables {
    /// Rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.query.rows_read
    }

    /// Closes the query before its end and reports whether the host agreed.
    pub fn close(mut self) -> Result<()> {
        self.query.close()
    }
}

impl Iterator for Tables {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self
            .query
            .next_staged()
            .and_then(|bytes| bytes.map(Table::from_bytes).transpose());
        match next {
            Ok(table) => {
                let table = table?;
                self.query.rows_read += table.num_rows() as u64;
                Some(Ok(table))
            }
            Err(e) => {
                self.query.abandon();
                Some(Err(e))
            }
        }
    }
}

/// How a query's batches are staged, and so fetched and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Staging {
    /// `query` or `entity_rows`: Arrow IPC, fetched with `next_batch`.
    #[cfg(feature = "arrow")]
    Ipc,
    /// `entity_table`: the table encoding, fetched with `next_batch`.
    EntityTable,
    /// [`query_table`]: the table encoding, fetched with `next_table`.
    QueryTable,
}

/// A query handle the host gave (`query`, `entity_rows`, `entity_table`), and what has been read
/// through it. Dropping it closes the host's query if the host has not already.
#[derive(Debug)]
pub(crate) struct Query {
    handle: i32,
    /// Whether the host still holds the handle (it closes it itself when the result ends).
    open: bool,
    /// How the host stages this query's batches.
    staging: Staging,
    rows_read: u64,
}

impl Query {
    /// The query of a handle a host function returned, staged as `staging` says, or the host's
    /// error when it returned a code instead.
    pub(crate) fn new(handle: i32, staging: Staging) -> Result<Query> {
        if handle < 0 {
            return Err(Error::from_host(handle));
        }
        if handle == 0 {
            // The ABI promises positive handles; 0 would be mistaken for "no query" everywhere.
            return Err(Error::Host {
                code: abi::INVALID_ARGUMENT,
                message: "host returned query handle 0".to_string(),
            });
        }
        Ok(Query {
            handle,
            open: true,
            staging,
            rows_read: 0,
        })
    }

    /// Closes the query before its end and reports whether the host agreed.
    fn close(&mut self) -> Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        // SAFETY: no pointers cross.
        let rc = unsafe { abi::close(self.handle) };
        if rc < 0 {
            return Err(Error::from_host(rc));
        }
        Ok(())
    }

    /// Ends the iteration after an error: the host's handle would otherwise stay open and count
    /// against the scenario's `max_open_queries`.
    fn abandon(&mut self) {
        if self.open {
            self.open = false;
            // SAFETY: no pointers cross. The answer is ignored: the handle may already be gone
            // (the host may close it on failure), and the error being reported matters more.
            unsafe { abi::close(self.handle) };
        }
    }

    /// The next batch's bytes as the host staged them, or `None` once the host has closed the
    /// handle (the result's end).
    pub(crate) fn next_staged(&mut self) -> Result<Option<Vec<u8>>> {
        if !self.open {
            return Ok(None);
        }
        // SAFETY: no pointers cross.
        let size = unsafe {
            match self.staging {
                Staging::QueryTable => abi::next_table(self.handle),
                #[cfg(feature = "arrow")]
                Staging::Ipc => abi::next_batch(self.handle),
                Staging::EntityTable => abi::next_batch(self.handle),
            }
        };
        if size == 0 {
            // The host has closed the handle itself.
            self.open = false;
            return Ok(None);
        }
        if size < 0 {
            return Err(Error::from_host(
                i32::try_from(size).unwrap_or(abi::INVALID_ARGUMENT),
            ));
        }
        let Ok(len) = usize::try_from(size) else {
            return Err(Error::Usage(format!(
                "staged batch of {size} bytes does not fit in this module's address space"
            )));
        };
        let mut buf = Vec::new();
        // Fallible so a batch beyond the memory limit is an error, not an abort.
        if buf.try_reserve_exact(len).is_err() {
            return Err(Error::Usage(format!(
                "cannot allocate {len} bytes for a staged batch"
            )));
        }
        buf.resize(len, 0);
        // SAFETY: the pointer and length describe `buf`, which lives across the call.
        let rc = unsafe { abi::read_batch(self.handle, buf.as_mut_ptr(), buf.len()) };
        if rc != 0 {
            return Err(Error::from_host(rc));
        }
        Ok(Some(buf))
    }
}

impl Drop for Query {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The result of a [`query`] (or of [`entity::rows`](crate::entity::rows)): an iterator of
/// record batches, fetched from the host lazily (feature `arrow`).
///
/// After the first `Err` the iterator ends and the host's query is closed. Dropping `Rows` before
/// the end closes (cancels) the query on the host, so an early `break` costs nothing more.
#[cfg(feature = "arrow")]
#[derive(Debug)]
pub struct Rows {
    query: Query,
    /// The staged stream being decoded; the ABI puts one batch in each, but decoding whatever a
    /// stream holds costs nothing extra.
    current: Option<StreamReader<Cursor<Vec<u8>>>>,
}

#[cfg(feature = "arrow")]
impl Rows {
    /// The batches of the query handle a host function returned (`query`, `entity_rows`,
    /// `entity_table`), or the host's error when it returned a code instead.
    pub(crate) fn from_handle(handle: i32, staging: Staging) -> Result<Rows> {
        Ok(Rows {
            query: Query::new(handle, staging)?,
            current: None,
        })
    }

    /// Rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.query.rows_read
    }

    /// Closes the query before its end and reports whether the host agreed. Dropping `Rows` does
    /// the same but ignores the answer.
    pub fn close(mut self) -> Result<()> {
        self.current = None;
        self.query.close()
    }

    fn fetch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(reader) = &mut self.current {
                match reader.next() {
                    Some(Ok(batch)) => {
                        self.query.rows_read += batch.num_rows() as u64;
                        return Ok(Some(batch));
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => self.current = None,
                }
            }
            let Some(buf) = self.query.next_staged()? else {
                return Ok(None);
            };
            if self.query.staging != Staging::Ipc {
                let batch = crate::table::decode(&buf)?;
                self.query.rows_read += batch.num_rows() as u64;
                return Ok(Some(batch));
            }
            let reader = StreamReader::try_new(Cursor::new(buf), None)?;
            // SAFETY: the host encodes every staged batch with Arrow's writer from arrays the
            // query engine built, which are valid by construction. Validating them again costs
            // a tenth of a small decode, paid once per table in every per-entity run. Arrays
            // that were not valid could only corrupt this module's own sandboxed memory.
            self.current = Some(unsafe { reader.with_skip_validation(true) });
        }
    }
}

#[cfg(feature = "arrow")]
impl Iterator for Rows {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.fetch() {
            Ok(batch) => batch.map(Ok),
            Err(e) => {
                self.current = None;
                self.query.abandon();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{ipc_stream, Fake};
    use crate::BatchExt;
    use arrow_array::{ArrayRef, Float64Array, StringArray};
    use std::sync::Arc;

    fn batch(names: &[&str], incomes: &[f64]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "district",
                Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
            ),
            (
                "income",
                Arc::new(Float64Array::from(incomes.to_vec())) as ArrayRef,
            ),
        ])
        .expect("valid batch")
    }

    #[test]
    fn iterates_batches_lazily_and_in_order() {
        let fake = Fake::install();
        fake.queue_result(vec![
            ipc_stream(&batch(&["a", "b"], &[1.0, 2.0])),
            ipc_stream(&batch(&["c"], &[3.0])),
        ]);
        let mut rows = query("SELECT district, income FROM residents").expect("planned");
        assert_eq!(fake.next_batch_calls(), 0, "nothing runs before iteration");
        let first = rows.next().expect("a batch").expect("decodes");
        assert_eq!(fake.next_batch_calls(), 1, "one batch at a time");
        assert_eq!(first.utf8("district").expect("utf8").value(1), "b");
        let second = rows.next().expect("a batch").expect("decodes");
        assert_eq!(second.f64("income").expect("f64").value(0), 3.0);
        assert!(rows.next().is_none());
        assert_eq!(rows.rows_read(), 3);
        drop(rows);
        assert_eq!(
            fake.closed(),
            Vec::<i32>::new(),
            "the host closed it at the end"
        );
        assert_eq!(fake.sql(), vec!["SELECT district, income FROM residents"]);
    }

    #[test]
    fn query_table_reads_each_staged_batch_in_place() {
        let fake = Fake::install();
        let staged = crate::table::tests::staged_sample();
        fake.queue_result(vec![staged.clone(), staged]);
        let mut tables = query_table("SELECT usci, amount FROM tax_payments").expect("planned");
        assert_eq!(fake.next_batch_calls(), 0, "nothing runs before iteration");
        let first = tables.next().expect("a table").expect("parses");
        assert_eq!(first.num_rows(), 3);
        let usci = first.utf8("usci").expect("utf8");
        assert_eq!(
            usci.iter().collect::<Vec<_>>(),
            [Some("a"), None, Some("西湖")]
        );
        let amounts = first.f64("amount").expect("f64");
        assert_eq!(
            amounts.iter().collect::<Vec<_>>(),
            [None, Some(1.5), Some(-2.0)]
        );
        assert!(tables.next().expect("a second table").is_ok());
        assert!(tables.next().is_none());
        assert_eq!(tables.rows_read(), 6);
        assert_eq!(fake.next_batch_calls(), 3, "two batches, then the end");
    }

    #[test]
    fn query_table_ends_at_the_first_bad_batch_and_closes_the_query() {
        let fake = Fake::install();
        fake.queue_result(vec![
            b"SYT1\x01".to_vec(),
            crate::table::tests::staged_sample(),
        ]);
        let mut tables = query_table("SELECT 1").expect("planned");
        let handle = tables.query.handle;
        let err = tables.next().expect("an item").expect_err("truncated");
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        assert!(tables.next().is_none(), "nothing after the error");
        assert_eq!(fake.closed(), vec![handle]);
    }

    #[test]
    fn dropping_early_closes_the_query() {
        let fake = Fake::install();
        fake.queue_result(vec![
            ipc_stream(&batch(&["a"], &[1.0])),
            ipc_stream(&batch(&["b"], &[2.0])),
        ]);
        let mut rows = query("SELECT 1").expect("planned");
        let handle = rows.query.handle;
        assert!(rows.next().is_some());
        drop(rows);
        assert_eq!(fake.closed(), vec![handle]);
    }

    #[test]
    fn rejected_query_carries_code_and_message() {
        let fake = Fake::install();
        fake.reject_next_query(abi::QUERY_REJECTED, "column legal_rep_id is not granted");
        let err = query("SELECT legal_rep_id FROM enterprise_registry").expect_err("rejected");
        assert_eq!(err.host_code(), Some(abi::QUERY_REJECTED));
        assert_eq!(err.code(), 102);
        assert!(err.to_string().contains("legal_rep_id"), "{err}");
    }

    #[test]
    fn undecodable_batch_ends_iteration_and_closes() {
        let fake = Fake::install();
        fake.queue_result(vec![b"not arrow at all".to_vec()]);
        let mut rows = query("SELECT 1").expect("planned");
        let handle = rows.query.handle;
        let err = rows.next().expect("an item").expect_err("garbage");
        assert!(matches!(err, Error::Arrow(_)), "{err:?}");
        assert!(rows.next().is_none(), "iteration ends after an error");
        assert_eq!(fake.closed(), vec![handle]);
    }

    #[test]
    fn outside_the_sandbox_queries_fail_cleanly() {
        let err = query("SELECT 1").expect_err("no host");
        assert_eq!(err.host_code(), Some(abi::NOT_IN_SANDBOX));
    }
}
