//! Serves one answer run: the subject's rows, the request row, and the one answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;

use super::prepared::Prepared;
use crate::engine::ipc;
use crate::guard::service::REQUEST_TABLE;
use crate::sandbox::{Batch, CallError, ErrorCode, Fault, Host, ReleaseStatus};

/// Most log lines one answer run keeps (for the call's audit entry); the rest are counted.
const MAX_LOG_LINES: usize = 4;

/// What one run leaves for the call: the answer chunk it handed over and its log lines.
#[derive(Debug, Default)]
pub(crate) struct RunYield {
    pub(crate) answer: Option<Vec<u8>>,
    pub(crate) answers_refused: u32,
    pub(crate) log: Vec<String>,
    pub(crate) log_dropped: u64,
}

/// Where an open `entity_rows` handle reads from.
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
    /// Open handles and what they have not yet handed out.
    open: BTreeMap<i32, Option<Source>>,
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
        let pending = match slot.take() {
            Some(Source::Table(t)) => {
                let rows = self
                    .prepared
                    .tables
                    .slice(t, self.entity)
                    .map_err(Fault::Internal)?;
                (rows.num_rows() > 0).then_some((rows, Some(t)))
            }
            Some(Source::Request) => Some((self.request.clone(), None)),
            None => None,
        };
        let Some((rows, table)) = pending else {
            self.open.remove(&handle);
            return Ok(None);
        };
        let encoded = match table {
            // Tables were normalized to the ABI's types when they were grouped.
            Some(t) => self.prepared.tables.tables[t].encoder.encode(&rows),
            None => ipc::encode_stream(&rows),
        };
        let ipc = encoded.map_err(|e| Fault::Internal(format!("cannot encode a batch: {e}")))?;
        Ok(Some(Batch {
            ipc,
            rows: rows.num_rows() as u64,
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
        let source = if table == REQUEST_TABLE {
            Source::Request
        } else {
            let tables = &self.prepared.tables.tables;
            let Some(t) = tables.iter().position(|t| t.name == table) else {
                return Err(CallError::code(
                    ErrorCode::QueryRejected,
                    format!(
                        "entity_rows: the scenario grants no table named '{table}' (the request \
                         parameters are '{REQUEST_TABLE}')"
                    ),
                ));
            };
            Source::Table(t)
        };
        let handle = self.next_handle;
        self.next_handle = self.next_handle.saturating_add(1);
        self.open.insert(handle, Some(source));
        Ok(handle)
    }

    fn contribute(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        let mut out = self.yielded()?;
        if out.answer.is_some() {
            out.answers_refused += 1;
            return Err(CallError::code(
                ErrorCode::InvalidContributions,
                "contribute: an answer run hands over one answer, and it already did",
            ));
        }
        // Checked against the contract once the run has ended, whatever it does after this.
        out.answer = Some(chunk.to_vec());
        Ok(())
    }
}
