//! The guest ABI of shuyu, version 1, as data: the import module's name, the table of its
//! functions with their WebAssembly signatures, the exports a module provides, the error codes
//! and the limits a call checks. `docs/abi.md` explains each; this crate is the one definition
//! the host (which links exactly [`FUNCTIONS`] and checks modules against them) and the SDK
//! (whose imports a test compares with [`FUNCTIONS`]) both build from.
//!
//! `no_std` and without dependencies, so that the SDK can use it inside a guest module.

#![no_std]

mod reader;
pub mod rows;
pub mod table;

/// The import module every host function lives in.
pub const MODULE: &str = "shuyu_v1";

/// The exported memory the host reads and writes.
pub const MEMORY_EXPORT: &str = "memory";
/// The entry point of a job's main run: `() -> i32`, `0` for success.
pub const MAIN_EXPORT: &str = "shuyu_main";
/// The entry point of partition runs (sample-and-aggregate vectors): `() -> i32`.
pub const PARTITION_EXPORT: &str = "shuyu_partition";
/// The entry point of entity runs (per-entity releases): `() -> i32`.
pub const CONTRIBUTE_EXPORT: &str = "shuyu_contribute";
/// The entry point of answer runs (verification and data services): `() -> i32`.
pub const ANSWER_EXPORT: &str = "shuyu_answer";
/// In an answer run, the table name `entity_rows` serves the call's request parameters under:
/// one row, the service's declared parameters as columns.
pub const REQUEST_TABLE: &str = "request";

/// A WebAssembly value type of the ABI. Pointers and lengths are `i32`, read as unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValType {
    /// 32-bit integer: handles, pointers, lengths, codes.
    I32,
    /// 64-bit integer: a staged batch's size.
    I64,
}

impl ValType {
    /// The type's name in WebAssembly text (`i32`, `i64`).
    pub const fn name(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
        }
    }
}

/// One host function of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Its name in [`MODULE`].
    pub name: &'static str,
    /// Its parameters' names (as docs/abi.md names them) and types.
    pub params: &'static [(&'static str, ValType)],
    /// Its one result.
    pub result: ValType,
}

use ValType::{I32, I64};

const fn f(
    name: &'static str,
    params: &'static [(&'static str, ValType)],
    result: ValType,
) -> Function {
    Function {
        name,
        params,
        result,
    }
}

/// Every function of ABI v1, in the order docs/abi.md lists them.
pub const FUNCTIONS: [Function; 20] = [
    f("query", &[("sql_ptr", I32), ("sql_len", I32)], I32),
    f("next_batch", &[("query", I32)], I64),
    f(
        "read_batch",
        &[("query", I32), ("dst_ptr", I32), ("dst_len", I32)],
        I32,
    ),
    f("close", &[("query", I32)], I32),
    f(
        "release_begin",
        &[("name_ptr", I32), ("name_len", I32)],
        I32,
    ),
    f(
        "release_append",
        &[("release", I32), ("ipc_ptr", I32), ("ipc_len", I32)],
        I32,
    ),
    f("release_finish", &[("release", I32)], I32),
    f("log", &[("ptr", I32), ("len", I32)], I32),
    f("last_error", &[("dst_ptr", I32), ("dst_cap", I32)], I32),
    f(
        "release_vector",
        &[("name_ptr", I32), ("name_len", I32)],
        I32,
    ),
    f("vector_name", &[("dst_ptr", I32), ("dst_cap", I32)], I32),
    f("vector_emit", &[("ptr", I32), ("len", I32)], I32),
    f("next_table", &[("query", I32)], I64),
    f(
        "release_append_rows",
        &[("release", I32), ("rows_ptr", I32), ("rows_len", I32)],
        I32,
    ),
    f(
        "release_entities",
        &[("name_ptr", I32), ("name_len", I32)],
        I32,
    ),
    f("entity_release", &[("dst_ptr", I32), ("dst_cap", I32)], I32),
    f(
        "entity_rows",
        &[("table_ptr", I32), ("table_len", I32)],
        I32,
    ),
    f("contribute", &[("ipc_ptr", I32), ("ipc_len", I32)], I32),
    f(
        "contribute_rows",
        &[("rows_ptr", I32), ("rows_len", I32)],
        I32,
    ),
    f(
        "entity_table",
        &[("table_ptr", I32), ("table_len", I32)],
        I32,
    ),
];

/// The function of that name, if the ABI has one.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// What `release_finish`, `release_vector` and `release_entities` return when the guard
/// released the product.
pub const RELEASED: i32 = 0;
/// What they return when the guard blocked it.
pub const BLOCKED: i32 = 1;

/// The error codes a host function returns; the guest may go on after any of them, and
/// `last_error` holds the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Text that is not UTF-8, an empty or oversized argument, a wrong length.
    InvalidArgument = -1,
    /// The query failed to plan: syntax, a table or column not granted, DDL/DML/COPY, several
    /// statements. The message names the problem.
    QueryRejected = -2,
    /// The query failed while running. The message is generic (execution errors can quote
    /// data).
    QueryFailed = -3,
    /// No open query or release has that handle.
    UnknownHandle = -4,
    /// `read_batch` without a successful `next_batch` before it.
    NoStagedBatch = -5,
    /// Contributions that do not decode or whose schema is not the contract's; the release is
    /// then blocked.
    InvalidContributions = -6,
    /// A release name the contract does not have, or one already released in this job.
    UnknownRelease = -7,
    /// A function that does not belong to this kind of run (docs/abi.md says which runs may
    /// call what), or `release_begin` of a contract entry with privacy (made per entity).
    NotAvailable = -8,
}

impl ErrorCode {
    /// Every code, in the order of their values (-1 first).
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::InvalidArgument,
        ErrorCode::QueryRejected,
        ErrorCode::QueryFailed,
        ErrorCode::UnknownHandle,
        ErrorCode::NoStagedBatch,
        ErrorCode::InvalidContributions,
        ErrorCode::UnknownRelease,
        ErrorCode::NotAvailable,
    ];

    /// The value a function returns.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The code's name as docs/abi.md writes it (`INVALID_ARGUMENT`).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::QueryRejected => "QUERY_REJECTED",
            ErrorCode::QueryFailed => "QUERY_FAILED",
            ErrorCode::UnknownHandle => "UNKNOWN_HANDLE",
            ErrorCode::NoStagedBatch => "NO_STAGED_BATCH",
            ErrorCode::InvalidContributions => "INVALID_CONTRIBUTIONS",
            ErrorCode::UnknownRelease => "UNKNOWN_RELEASE",
            ErrorCode::NotAvailable => "NOT_AVAILABLE",
        }
    }

    /// The code with that value, if any.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// The limits a host call checks on its arguments, whatever the scenario (a scenario's own
/// limits, such as fuel and rows read, are in its contract).
pub mod limits {
    /// Longest SQL text `query` accepts, in bytes.
    pub const MAX_SQL_BYTES: usize = 64 << 10;
    /// Longest release, vector or table name accepted, in bytes.
    pub const MAX_NAME_BYTES: usize = 256;
    /// Largest contributions chunk one `release_append`, `contribute` or `contribute_rows`
    /// accepts, in bytes.
    pub const MAX_CHUNK_BYTES: usize = 16 << 20;
    /// Longest log line kept, in bytes; longer lines are cut.
    pub const MAX_LOG_BYTES: usize = 4 << 10;
    /// Most coordinates a vector may have (a contract's `coords`; `vector_emit` takes that many
    /// `f64` values).
    pub const MAX_VECTOR_COORDS: usize = 256;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_codes_round_trip() {
        for (i, a) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert_eq!(function(a.name), Some(a));
        }
        assert_eq!(function("fd_write"), None);
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(code.code(), -(i as i32) - 1);
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
        }
        assert_eq!(ErrorCode::from_code(0), None);
    }
}
