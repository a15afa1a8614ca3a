//! The governance tables' statements (docs/concepts.md, "Roles and rules"): one file per governance module, holding the
//! queries of its namesake in `crate::governance`. Each function runs on the caller's connection
//! or transaction, so a check and the write it guards share one snapshot; the rules (who may,
//! when, with which message) stay in `crate::governance`.

use rusqlite::Params;

use super::{Connection, StoreError};

pub(crate) mod access;
pub(crate) mod agreements;
pub(crate) mod applications;
pub(crate) mod bindings;
pub(crate) mod budgets;
pub(crate) mod expiry;
pub(crate) mod identities;
pub(crate) mod jobs;
pub(crate) mod modules;
pub(crate) mod objections;
pub(crate) mod operators;
pub(crate) mod quality;
pub(crate) mod quotas;
pub(crate) mod registry;
pub(crate) mod reviews;

/// Job states that still need stopping, as an SQL list (a constant, never input).
pub(crate) const LIVE_JOB_STATES: &str = "('queued', 'running')";

/// The first column of every row `sql` selects (a text key such as an id), in the statement's
/// order: the shape of every "which ids" question governance asks before acting on each.
pub(crate) fn texts(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare(sql)?;
    let rows = statement
        .query_map(params, |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}
