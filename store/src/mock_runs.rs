//! Table `mock_runs`: the statements of `shuyu::mock`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use crate::codec::{enum_text, from_json, parse_enum, parse_opt_ts, parse_ts, to_json, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::mock_runs::{MockReport, MockRun, MockRunStatus, MOCK_MARK};

/// Columns of `mock_runs`, in the order [`from_row`] expects.
const COLUMNS: &str =
    "id, operator, scenario_id, module_sha256, datasets, status, started_at, finished_at, report";

fn from_row(row: &Row<'_>) -> Result<MockRun, StoreError> {
    let datasets: String = row.get(4)?;
    let report: Option<String> = row.get(8)?;
    Ok(MockRun {
        id: row.get(0)?,
        mark: MOCK_MARK.to_string(),
        operator: row.get(1)?,
        scenario_id: row.get(2)?,
        module_sha256: row.get(3)?,
        datasets: from_json(&datasets)?,
        status: parse_enum(&row.get::<_, String>(5)?)?,
        started_at: parse_ts(&row.get::<_, String>(6)?)?,
        finished_at: parse_opt_ts(row.get(7)?)?,
        report: report.map(|r| from_json(&r)).transpose()?,
    })
}

/// Records a run that has started.
pub fn insert(tx: &Transaction<'_>, run: &MockRun) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO mock_runs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL)"
        ),
        params![
            run.id,
            run.operator,
            run.scenario_id,
            run.module_sha256,
            to_json(&run.datasets)?,
            enum_text(&run.status),
            ts(&run.started_at),
        ],
    )?;
    Ok(())
}

/// Records how run `id` ended.
pub fn finish(
    tx: &Transaction<'_>,
    id: &str,
    status: MockRunStatus,
    at: DateTime<Utc>,
    report: &MockReport,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE mock_runs SET status = ?2, finished_at = ?3, report = ?4 WHERE id = ?1",
        params![id, enum_text(&status), ts(&at), to_json(report)?],
    )?;
    Ok(())
}

/// Loads one run, `None` if unknown.
pub fn find(conn: &Connection, id: &str) -> Result<Option<MockRun>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM mock_runs WHERE id = ?1"),
            params![id],
            |row| Ok(from_row(row)),
        )
        .optional()?
        .transpose()?;
    Ok(found)
}

/// Up to `limit` of an operator's runs, newest first, before id `before` (empty: from the newest).
pub fn page(
    conn: &Connection,
    operator: &str,
    before: &str,
    limit: usize,
) -> Result<Vec<MockRun>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM mock_runs WHERE operator = ?1 AND (?2 = '' OR id < ?2) \
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = statement.query_map(
        params![operator, before, i64::try_from(limit).unwrap_or(i64::MAX)],
        |row| Ok(from_row(row)),
    )?;
    let mut runs = Vec::new();
    for row in rows {
        runs.push(row??);
    }
    Ok(runs)
}

/// Ids of the runs still marked running (at start-up: left by a server that stopped).
pub fn running(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn.prepare("SELECT id FROM mock_runs WHERE status = 'running'")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    let mut ids = Vec::new();
    for row in rows {
        ids.push(row?);
    }
    Ok(ids)
}

/// How many runs an operator has running now.
pub fn running_of(conn: &Connection, operator: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM mock_runs WHERE operator = ?1 AND status = 'running'",
        params![operator],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}
