//! What ends a run early.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The limit a guest hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Out of fuel (CPU).
    Fuel,
    /// Linear memory or table growth beyond the limit.
    Memory,
    /// More queries than `max_queries`.
    Queries,
    /// More queries open at once than `max_open_queries`.
    OpenQueries,
    /// More rows than `max_rows_read`.
    RowsRead,
    /// More releases than `max_releases`.
    Releases,
    /// A `next_batch` call that took longer than `query_timeout_secs`.
    QueryTime,
    /// A per-entity release over more entities than `max_entities`.
    Entities,
    /// A per-entity release that ran longer than `entity_release_secs`.
    ReleaseTime,
    /// An answer run that ran longer than its service's `timeout_ms`.
    AnswerTime,
}

impl LimitKind {
    /// The name used in fault codes and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fuel => "fuel",
            Self::Memory => "memory",
            Self::Queries => "queries",
            Self::OpenQueries => "open_queries",
            Self::RowsRead => "rows_read",
            Self::Releases => "releases",
            Self::QueryTime => "query_time",
            Self::Entities => "entities",
            Self::ReleaseTime => "release_time",
            Self::AnswerTime => "answer_time",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fault that ended a run. Its [`Fault::code`] is what the operator sees.
/// Serialized (tagged by kind) only to cross from a job's worker process to the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Fault {
    /// A pointer and length outside guest memory.
    #[error("out_of_bounds: {0}")]
    OutOfBounds(String),
    /// A scenario limit.
    #[error("limit:{0}")]
    Limit(LimitKind),
    /// The module trapped (the kind, e.g. `unreachable` for a Rust panic).
    #[error("trap:{0}")]
    Trap(String),
    /// Not a valid ABI v1 module.
    #[error("invalid_module: {0}")]
    InvalidModule(String),
    /// The host failed (a bug, or I/O such as a full disk); the guest is not to blame.
    #[error("internal: {0}")]
    Internal(String),
    /// The run was stopped from outside: cancelled by its operator, or stopped by a suspension,
    /// an objection or the server shutting down.
    #[error("cancelled")]
    Cancelled,
}

impl Fault {
    /// The short code shown to operators: `limit:fuel`, `trap:unreachable`, ...
    pub fn code(&self) -> String {
        match self {
            Self::OutOfBounds(_) => "out_of_bounds".into(),
            Self::Limit(kind) => format!("limit:{kind}"),
            Self::Trap(kind) => format!("trap:{kind}"),
            Self::InvalidModule(_) => "invalid_module".into(),
            Self::Internal(_) => "internal".into(),
            Self::Cancelled => "cancelled".into(),
        }
    }
}
