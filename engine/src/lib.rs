//! The engine: one DataFusion session per job, holding only what the scenario grants.
//!
//! **Architecture invariant:** the guest's session never registers a raw table. Each granted
//! dataset is an unnamed Parquet scan wrapped in a view that selects the granted columns, with
//! identifier columns replaced by pseudonyms ([`pseudonym`]); a partition run of `release_vector`
//! gets in-memory tables holding its partition's rows of those same views, read once for all
//! partitions ([`partition`]). The host alone can scan a view with its entity column raw
//! (`EngineSession::scan_by_entity`, for grouping rows by entity), from a frame that is never
//! registered, so no query reaches it. A query must fit the guest's SQL
//! surface ([`surface`]): bounded in size and nesting, one read-only query (no DDL, DML, COPY,
//! statements, `EXPLAIN` or `DESCRIBE`), only allowlisted functions (no clock, no randomness, no
//! function whose output an argument sizes), and every function call and `||` refuses inputs over
//! 64 MiB per batch (`bounded.rs`); recursive CTEs are off and nothing spills to disk.
//! Results are normalized to the ABI's types ([`ipc`]).

mod bounded;
mod entity_keys;
pub mod ipc;
pub mod partition;
pub mod pseudonym;
mod session;
pub mod surface;
pub mod table;
mod threads;
pub mod universe;

pub use entity_keys::{EntityKeys, EntityValues};
pub use partition::{PartitionKey, PartitionedTables, SplitError, MAX_PARTITIONED_BYTES};
pub use pseudonym::Pseudonymizer;
pub use session::{EngineSession, EntityScan, GrantedColumns, SessionOptions};
pub use universe::{IdentifierUniverse, PartialUniverse, UniverseCache};

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The query failed to plan: syntax, a table or column not granted, a write. The message is
    /// about the SQL text, never about data, so it may be shown to the operator.
    #[error("query rejected: {0}")]
    Rejected(String),
    /// The query failed while running. The message can quote data: for the audit log only.
    #[error("query failed: {message}")]
    Failed {
        /// What failed, the cause's text included.
        message: String,
        /// The DataFusion or arrow error that caused it.
        #[source]
        source: Option<Cause>,
    },
    /// A query ran out of its time.
    #[error("query timed out after {0} s")]
    Timeout(u64),
    /// The session could not be set up (a dataset file unreadable, a bad configuration).
    #[error("engine setup failed: {message}")]
    Setup {
        /// What failed, the cause's text included.
        message: String,
        /// The error that caused it, when there is one.
        #[source]
        source: Option<Cause>,
    },
}

/// The underlying error of an [`EngineError`], kept for whoever walks the chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl EngineError {
    /// A query that failed while running, doing `context` (empty: the cause says it all).
    pub(crate) fn failed(
        context: impl std::fmt::Display,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let (message, source) = with_cause(context, cause);
        Self::Failed { message, source }
    }

    /// A session that could not be set up because of `cause`, doing `context`.
    pub(crate) fn setup(
        context: impl std::fmt::Display,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let (message, source) = with_cause(context, cause);
        Self::Setup { message, source }
    }

    /// A session that could not be set up, with no underlying error.
    pub(crate) fn setup_message(message: String) -> Self {
        Self::Setup {
            message,
            source: None,
        }
    }
}

/// The message "context: cause" (or the cause's alone) and the cause kept as a source.
fn with_cause(
    context: impl std::fmt::Display,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> (String, Option<Cause>) {
    let context = context.to_string();
    let message = if context.is_empty() {
        cause.to_string()
    } else {
        format!("{context}: {cause}")
    };
    (message, Some(Box::new(cause)))
}

#[cfg(test)]
mod error_tests {
    use std::error::Error as _;

    use super::EngineError;

    #[test]
    fn an_engine_error_reads_as_before_and_keeps_its_cause() {
        let failed = EngineError::failed("taxes", std::io::Error::other("disk gone"));
        assert_eq!(failed.to_string(), "query failed: taxes: disk gone");
        let source = failed.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk gone"));

        let setup = EngineError::setup("", std::io::Error::other("no memory pool"));
        assert_eq!(setup.to_string(), "engine setup failed: no memory pool");
        assert!(setup.source().is_some());

        let plain = EngineError::setup_message("x: path is not UTF-8".into());
        assert!(plain.source().is_none());
    }
}
