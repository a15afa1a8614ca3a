//! Statements of `shuyu::governance::modules` on table `modules`: who uploaded which module.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::codec::ts;
use crate::{Connection, StoreError, Transaction};

/// Whether `operator` uploaded the module `sha`: an operator may only use its own modules,
/// even when another operator uploaded the same bytes.
pub fn uploaded_by(conn: &Connection, sha: &str, operator: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM modules WHERE sha256 = ?1 AND operator = ?2",
            params![sha, operator],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Whether any operator uploaded the module `sha` (the job runner's question).
pub fn module_known(conn: &Connection, sha: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM modules WHERE sha256 = ?1 LIMIT 1",
            params![sha],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Records that `operator` uploaded module `sha` of `size` bytes (a size beyond `i64` is
/// stored as `i64::MAX`; no module comes near it).
pub fn insert_module(
    tx: &Transaction<'_>,
    sha: &str,
    operator: &str,
    size: usize,
    uploaded_at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO modules (sha256, operator, size, uploaded_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            sha,
            operator,
            i64::try_from(size).unwrap_or(i64::MAX),
            ts(uploaded_at)
        ],
    )?;
    Ok(())
}
