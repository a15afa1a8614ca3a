//! The engine: one DataFusion session per job, holding only what the scenario grants.
//!
//! **Architecture invariant:** the guest's session never registers a raw table. Each granted
//! dataset is an unnamed Parquet scan wrapped in a view that selects the granted columns, with
//! identifier columns replaced by pseudonyms ([`pseudonym`]); a partition run of `release_vector`
//! gets in-memory tables holding its partition's rows of those same views, read once for all
//! partitions ([`partition`]). A query must fit the guest's SQL
//! surface ([`surface`]): bounded in size and nesting, one read-only query (no DDL, DML, COPY,
//! statements, `EXPLAIN` or `DESCRIBE`), only allowlisted functions (no clock, no randomness, no
//! function whose output an argument sizes), and every function call and `||` refuses inputs over
//! 64 MiB per batch (`bounded.rs`); recursive CTEs are off and nothing spills to disk.
//! Results are normalized to the ABI's types ([`ipc`]).

mod bounded;
pub mod ipc;
pub mod partition;
pub mod pseudonym;
mod session;
pub mod surface;
pub mod universe;

pub use partition::{PartitionKey, PartitionedTables, SplitError, MAX_PARTITIONED_BYTES};
pub use pseudonym::Pseudonymizer;
pub use session::{EngineSession, GrantedColumns, SessionOptions};
pub use universe::IdentifierUniverse;

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The query failed to plan: syntax, a table or column not granted, a write. The message is
    /// about the SQL text, never about data, so it may be shown to the operator.
    #[error("query rejected: {0}")]
    Rejected(String),
    /// The query failed while running. The message can quote data: for the audit log only.
    #[error("query failed: {0}")]
    Failed(String),
    /// A query ran out of its time.
    #[error("query timed out after {0} s")]
    Timeout(u64),
    /// The session could not be set up (a dataset file unreadable, a bad configuration).
    #[error("engine setup failed: {0}")]
    Setup(String),
}
