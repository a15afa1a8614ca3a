//! The governance tables' statements (docs/concepts.md, "Roles and rules"): one file per governance module, holding the
//! queries of its namesake in `shuyu::governance`. Each function runs on the caller's connection
//! or transaction, so a check and the write it guards share one snapshot; the rules (who may,
//! when, with which message) stay in `shuyu::governance`.

use chrono::{DateTime, Utc};
use rusqlite::Params;

use super::codec::parse_opt_ts;
use super::{Connection, StoreError};

use shuyu_model::records::StatusChange;

pub mod access;
pub mod agreements;
pub mod applications;
pub mod bindings;
pub mod budgets;
pub mod expiry;
pub mod identities;
pub mod jobs;
pub mod modules;
pub mod objections;
pub mod operators;
pub mod quality;
pub mod quotas;
pub mod registry;
pub mod reviews;

/// Who changes a status and when; every status update stores it with the new status.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The identity acting (`system`, `admin` included).
    pub by: &'a str,
    /// When.
    pub at: DateTime<Utc>,
}

/// The stored `status_changed_by`, `status_changed_at` and reason columns as a
/// [`StatusChange`]; `None` when the status was never changed (or changed before version 7
/// without an audit entry to say by whom).
pub fn status_change(
    by: Option<String>,
    at: Option<String>,
    reason: Option<String>,
) -> Result<Option<StatusChange>, StoreError> {
    Ok(match (by, parse_opt_ts(at)?) {
        (Some(by), Some(at)) => Some(StatusChange { by, at, reason }),
        _ => None,
    })
}

/// Job states that still need stopping, as an SQL list (a constant, never input).
pub(crate) const LIVE_JOB_STATES: &str = "('queued', 'running')";

/// The first column of every row `sql` selects (a text key such as an id), in the statement's
/// order: the shape of every "which ids" question governance asks before acting on each.
pub fn texts(conn: &Connection, sql: &str, params: impl Params) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare(sql)?;
    let rows = statement
        .query_map(params, |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}
