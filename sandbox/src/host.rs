//! The boundary between the sandbox and the rest of the host.

use super::{Fault, PartitionRunner};

/// Error codes a host function returns to the guest: ABI v1's, from its one definition.
pub use shuyu_abi::ErrorCode;

/// Why a host call did not succeed.
#[derive(Debug)]
pub enum CallError {
    /// The guest gets the code and may go on; the message is readable through `last_error`.
    Code(ErrorCode, String),
    /// The run ends.
    Fault(Fault),
}

impl CallError {
    /// A code with its message.
    pub fn code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Code(code, message.into())
    }
}

impl From<Fault> for CallError {
    fn from(fault: Fault) -> Self {
        Self::Fault(fault)
    }
}

/// One result batch, encoded for the guest.
#[derive(Debug)]
pub struct Batch {
    /// The staged bytes: a complete Arrow IPC stream holding one record batch, or for
    /// `next_table` and `entity_table` the batch in the table encoding.
    pub ipc: Vec<u8>,
    /// Rows in the batch (counted against `max_rows_read`).
    pub rows: u64,
}

/// What the guard decided about a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// Released as a product.
    Released,
    /// Blocked; the rule is recorded by the host.
    Blocked,
}

impl ReleaseStatus {
    /// The value `release_finish` and `release_vector` return to the guest (docs/abi.md).
    pub fn abi_code(self) -> i32 {
        match self {
            ReleaseStatus::Released => shuyu_abi::RELEASED,
            ReleaseStatus::Blocked => shuyu_abi::BLOCKED,
        }
    }
}

/// The services behind ABI v1, implemented by the job. The sandbox has already checked pointers
/// and counted limits it can see (queries, open queries, rows, releases, log lines) before it calls
/// these; the host enforces what only it can see (the query timeout, the contract).
pub trait Host: Send {
    /// Plans a query; returns a positive handle.
    fn query(&mut self, sql: &str) -> Result<i32, CallError>;
    /// The next batch of a query, or `None` at its end (the host then forgets the handle).
    fn next_batch(&mut self, handle: i32) -> Result<Option<Batch>, CallError>;
    /// [`Host::next_batch`] with the batch in the table encoding (`shuyu_abi::table`) instead
    /// of Arrow IPC, for a main or partition run's query.
    fn next_table(&mut self, handle: i32) -> Result<Option<Batch>, CallError> {
        let _ = handle;
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "next_table is available only for the queries of a main or partition run",
        ))
    }
    /// Drops a query early.
    fn close(&mut self, handle: i32) -> Result<(), CallError>;
    /// Opens a release of the contract entry `name`; returns a positive handle.
    fn release_begin(&mut self, name: &str) -> Result<i32, CallError>;
    /// Hands over one IPC chunk of contributions.
    fn release_append(&mut self, handle: i32, ipc: &[u8]) -> Result<(), CallError>;
    /// Hands over one chunk of contributions as contribution rows (`shuyu_abi::rows`) whose
    /// first column is the entity.
    fn release_append_rows(&mut self, handle: i32, chunk: &[u8]) -> Result<(), CallError> {
        let _ = (handle, chunk);
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "release_append_rows is available only in a main run",
        ))
    }
    /// Closes a release and lets the guard decide.
    fn release_finish(&mut self, handle: i32) -> Result<ReleaseStatus, CallError>;
    /// One guest log line (already cut to the maximum length).
    fn log(&mut self, line: &str);
    /// Releases the `[[vector]]` contract entry `name` by sample-and-aggregate: runs the module's
    /// partition export through `runner` once per partition and lets the guard decide. Only the
    /// main run gets here (the sandbox refuses the call in partition runs).
    fn release_vector(
        &mut self,
        name: &str,
        runner: &PartitionRunner,
    ) -> Result<ReleaseStatus, CallError> {
        let _ = (name, runner);
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "release_vector is not available to this module",
        ))
    }
    /// In a partition run: the name of the vector being computed.
    fn vector_name(&mut self) -> Result<String, CallError> {
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "vector_name is available only in a partition run",
        ))
    }
    /// In a partition run: the partition's vector (the sandbox has decoded the f64 values).
    fn vector_emit(&mut self, values: Vec<f64>) -> Result<(), CallError> {
        let _ = values;
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "vector_emit is available only in a partition run",
        ))
    }
    /// Makes the `[[release]]` contract entry `name` per entity: builds the module's entity
    /// runner from `runner` and runs `shuyu_contribute` once per entity. Only the main run gets
    /// here.
    fn release_entities(
        &mut self,
        name: &str,
        runner: &PartitionRunner,
    ) -> Result<ReleaseStatus, CallError> {
        let _ = (name, runner);
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "release_entities is available only in the main run",
        ))
    }
    /// In an entity run: the name of the release being computed.
    fn entity_release(&mut self) -> Result<String, CallError> {
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "entity_release is available only in an entity run",
        ))
    }
    /// In an entity run: opens a query over this entity's rows of granted table `table`.
    fn entity_rows(&mut self, table: &str) -> Result<i32, CallError> {
        let _ = table;
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "entity_rows is available only in an entity run",
        ))
    }
    /// In an entity run: opens this entity's rows of granted table `table`, staged in the
    /// table encoding (`shuyu_abi::table`) instead of Arrow IPC.
    fn entity_table(&mut self, table: &str) -> Result<i32, CallError> {
        let _ = table;
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "entity_table is available only in an entity run",
        ))
    }
    /// In an entity run: one IPC chunk of this entity's contributions (no entity column).
    fn contribute(&mut self, ipc: &[u8]) -> Result<(), CallError> {
        let _ = ipc;
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "contribute is available only in an entity run",
        ))
    }
    /// In an entity run: one chunk of this entity's contributions as contribution rows
    /// (`shuyu_abi::rows`).
    fn contribute_rows(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        let _ = chunk;
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "contribute_rows is available only in an entity run",
        ))
    }
    /// Called once after the guest returned or faulted: flush what is still open.
    fn end(&mut self) {}
}
