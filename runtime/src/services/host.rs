//! Serves one answer run: the subject's rows, the request row, and the one answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;

use super::prepared::Prepared;
use crate::engine::{ipc, table};
use crate::grouping::Staging;
use crate::guard::service::REQUEST_TABLE;
use crate::sandbox::{Batch, CallError, ErrorCode, Fault, Host, ReleaseStatus};

/// Most log lines one answer run keeps (for the call's audit entry); the rest are counted.
const MAX_LOG_LINES: usize = 4;

/// The answer a run handed over, in the encoding it chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnswerChunk {
    /// An Arrow IPC stream (`contribute`).
    Ipc(Vec<u8>),
    /// Contribution rows (`contribute_rows`).
    Rows(Vec<u8>),
}

/// What one run leaves for the call: the answer chunk it handed over and its log lines.
#[derive(Debug, Default)]
pub(crate) struct RunYield {
    pub(crate) answer: Option<AnswerChunk>,
    pub(crate) answers_refused: u32,
    pub(crate) log: Vec<String>,
    pub(crate) log_dropped: u64,
}

/// Where an open `entity_rows` or `entity_table` handle reads from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Table(usize),
    Request,
}

/// The host of one answer run.
pub(crate) struct AnswerHost {
    pub(crate) prepared: Arc<Prepared>,
    pub(crate) service: String,
    pub(crate) entity: usize,
    pub(crate) request: RecordBatch,
    pub(crate) out: Arc<Mutex<RunYield>>,
    next_handle: i32,
    /// Open handles, what they have not yet handed out, and how they stage it.
    open: BTreeMap<i32, (Option<Source>, Staging)>,
}

impl AnswerHost {
    pub(crate) fn new(
        prepared: Arc<Prepared>,
        service: String,
        entity: usize,
        request: RecordBatch,
        out: Arc<Mutex<RunYield>>,
    ) -> Self {
        Self {
            prepared,
            service,
            entity,
            request,
            out,
            next_handle: 1,
            open: BTreeMap::new(),
        }
    }

    fn not_here(what: &str) -> CallError {
        CallError::code(
            ErrorCode::NotAvailable,
            format!("{what} is not available in an answer run"),
        )
    }

    fn yielded(&self) -> Result<std::sync::MutexGuard<'_, RunYield>, CallError> {
        self.out
            .lock()
            .map_err(|_| Fault::Internal("an answer run's output is poisoned".into()).into())
    }

    /// Opens the subject's rows of `table` (or the request row), staged as `staging` says.
    fn open_table(&mut self, call: &str, table: &str, staging: Staging) -> Result<i32, CallError> {
        let source = if table == REQUEST_TABLE {
            // Request parameters are Int64, Float64 or Utf8: the table encoding carries them.
            Source::Request
        } else {
            let hint = format!(" (the request parameters are '{REQUEST_TABLE}')");
            Source::Table(self.prepared.tables.find(call, table, staging, &hint)?)
        };
        let handle = self.next_handle;
        self.next_handle = self.next_handle.saturating_add(1);
        self.open.insert(handle, (Some(source), staging));
        Ok(handle)
    }

    /// Keeps the run's one answer; a second is refused and counted.
    fn take_answer(&mut self, call: &str, answer: AnswerChunk) -> Result<(), CallError> {
        let mut out = self.yielded()?;
        if out.answer.is_some() {
            out.answers_refused += 1;
            return Err(CallError::code(
                ErrorCode::InvalidContributions,
                format!("{call}: an answer run hands over one answer, and it already did"),
            ));
        }
        // Checked against the contract once the run has ended, whatever it does after this.
        out.answer = Some(answer);
        Ok(())
    }
}

impl Host for AnswerHost {
    fn query(&mut self, _sql: &str) -> Result<i32, CallError> {
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "query is not available in an answer run: read the subject's rows with entity_rows",
        ))
    }

    fn next_batch(&mut self, handle: i32) -> Result<Option<Batch>, CallError> {
        let Some(slot) = self.open.get_mut(&handle) else {
            return Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            ));
        };
        let staging = slot.1;
        let tables = &self.prepared.tables;
        let pending = match slot.0.take() {
            Some(Source::Table(t)) => {
                let rows = tables.rows_in(t, self.entity);
                (rows > 0).then_some((Some(t), rows))
            }
            Some(Source::Request) => Some((None, self.request.num_rows())),
            None => None,
        };
        let Some((table, rows)) = pending else {
            self.open.remove(&handle);
            return Ok(None);
        };
        let encoded = match (table, staging) {
            // Tables were normalized to the ABI's types when they were grouped.
            (Some(t), staging) => tables.stage(t, self.entity, staging),
            (None, Staging::Ipc) => ipc::encode_stream(&self.request)
                .map_err(|e| format!("cannot encode the request: {e}")),
            (None, Staging::Table) => table::encode(&self.request)
                .ok_or_else(|| "cannot encode the request as a table".to_string()),
        };
        Ok(Some(Batch {
            ipc: encoded.map_err(Fault::Internal)?,
            rows: rows as u64,
        }))
    }

    fn close(&mut self, handle: i32) -> Result<(), CallError> {
        match self.open.remove(&handle) {
            Some(_) => Ok(()),
            None => Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            )),
        }
    }

    fn release_begin(&mut self, _name: &str) -> Result<i32, CallError> {
        Err(Self::not_here("release_begin"))
    }

    fn release_append(&mut self, _handle: i32, _ipc: &[u8]) -> Result<(), CallError> {
        Err(Self::not_here("release_append"))
    }

    fn release_finish(&mut self, _handle: i32) -> Result<ReleaseStatus, CallError> {
        Err(Self::not_here("release_finish"))
    }

    fn log(&mut self, line: &str) {
        if let Ok(mut out) = self.out.lock() {
            if out.log.len() < MAX_LOG_LINES {
                out.log.push(line.to_string());
            } else {
                out.log_dropped += 1;
            }
        }
    }

    fn entity_release(&mut self) -> Result<String, CallError> {
        Ok(self.service.clone())
    }

    fn entity_rows(&mut self, table: &str) -> Result<i32, CallError> {
        self.open_table("entity_rows", table, Staging::Ipc)
    }

    fn entity_table(&mut self, table: &str) -> Result<i32, CallError> {
        self.open_table("entity_table", table, Staging::Table)
    }

    fn contribute(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        self.take_answer("contribute", AnswerChunk::Ipc(chunk.to_vec()))
    }

    fn contribute_rows(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        self.take_answer("contribute_rows", AnswerChunk::Rows(chunk.to_vec()))
    }
}
