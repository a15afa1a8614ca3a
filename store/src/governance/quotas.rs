//! Counts behind `shuyu::governance::quotas`, each an index range (migration 6).

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::LIVE_JOB_STATES;
use crate::codec::ts;
use crate::{Connection, StoreError};

/// Jobs of `operator` not yet ended (queued or running).
pub fn live_jobs_of_operator(conn: &Connection, operator: &str) -> Result<u64, StoreError> {
    let count: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM jobs WHERE operator = ?1 AND state IN {LIVE_JOB_STATES}"),
        params![operator],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Jobs of scenario `scenario_id` submitted in `[from, until)`, whatever their state.
pub fn jobs_of_scenario_between(
    conn: &Connection,
    scenario_id: &str,
    from: &DateTime<Utc>,
    until: &DateTime<Utc>,
) -> Result<u64, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE scenario_id = ?1 \
         AND submitted_at >= ?2 AND submitted_at < ?3",
        params![scenario_id, ts(from), ts(until)],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Distinct modules `operator` has uploaded.
pub fn modules_of_operator(conn: &Connection, operator: &str) -> Result<u64, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM modules WHERE operator = ?1",
        params![operator],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}
