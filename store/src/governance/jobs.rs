//! Tables `jobs` and `job_products`: the statements of `shuyu::governance::jobs`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use crate::codec::{enum_text, from_json, parse_enum, parse_opt_ts, parse_ts, to_json, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::{Application, JobPhase, JobRecord, JobRelease, JobState};

/// Columns of `jobs`, in the order [`job_from_row`] expects.
const JOB_COLUMNS: &str = "id, application, scenario_id, operator, module_sha256, state, detail, \
     releases, submitted_at, started_at, ended_at";

fn job_from_row(row: &Row<'_>) -> Result<JobRecord, StoreError> {
    let state: String = row.get(5)?;
    let releases: String = row.get(7)?;
    let submitted_at: String = row.get(8)?;
    let state: JobState = parse_enum(&state)?;
    Ok(JobRecord {
        id: row.get(0)?,
        application: row.get(1)?,
        scenario_id: row.get(2)?,
        operator: row.get(3)?,
        module_sha256: row.get(4)?,
        state,
        phase: JobPhase::of_state(state),
        detail: row.get(6)?,
        releases: from_json(&releases)?,
        submitted_at: parse_ts(&submitted_at)?,
        started_at: parse_opt_ts(row.get(9)?)?,
        ended_at: parse_opt_ts(row.get(10)?)?,
    })
}

/// Loads one job, `None` if unknown (a new job id must be unknown; a looked-up one known).
pub fn find_job(conn: &Connection, id: &str) -> Result<Option<JobRecord>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
            params![id],
            |row| Ok(job_from_row(row)),
        )
        .optional()?
        .transpose()?;
    Ok(found)
}

/// Inserts a job under `id`, run under `application` by that application's operator, with no
/// detail, releases or run times yet.
pub fn insert_job(
    tx: &Transaction<'_>,
    id: &str,
    application: &Application,
    module_sha256: &str,
    state: JobState,
    submitted_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, '[]', ?7, NULL, NULL)"
        ),
        params![
            id,
            application.id,
            application.scenario_id,
            application.operator,
            module_sha256,
            enum_text(&state),
            ts(&submitted_at)
        ],
    )?;
    Ok(())
}

/// The job a product was recorded for, `None` if none: a product id belongs to one job only.
pub fn product_owner(conn: &Connection, product: &str) -> Result<Option<String>, StoreError> {
    let owner = conn
        .query_row(
            "SELECT job_id FROM job_products WHERE product_id = ?1",
            params![product],
            |row| row.get(0),
        )
        .optional()?;
    Ok(owner)
}

/// Records that `product` was released by job `job_id`, which decides who may download it.
pub fn insert_product(tx: &Transaction<'_>, product: &str, job_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO job_products (product_id, job_id) VALUES (?1, ?2)",
        params![product, job_id],
    )?;
    Ok(())
}

/// Overwrites a job's state, detail, releases and run times with the values the caller merged.
pub fn update_job(
    tx: &Transaction<'_>,
    id: &str,
    state: JobState,
    detail: Option<&str>,
    releases: &[JobRelease],
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE jobs SET state = ?2, detail = ?3, releases = ?4, started_at = ?5, \
         ended_at = ?6 WHERE id = ?1",
        params![
            id,
            enum_text(&state),
            detail,
            to_json(&releases)?,
            started_at.as_ref().map(ts),
            ended_at.as_ref().map(ts)
        ],
    )?;
    Ok(())
}

/// One page of jobs after `after`, up to `fetch`, in id order; an empty `operator` does not
/// filter, otherwise only that operator's jobs are listed.
pub fn jobs_page(
    conn: &Connection,
    after: &str,
    operator: &str,
    fetch: i64,
) -> Result<Vec<JobRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id > ?1 AND (?2 = '' OR operator = ?2) \
         ORDER BY id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![after, operator, fetch], |row| Ok(job_from_row(row)))?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row??);
    }
    Ok(items)
}

/// The job that released `product` and that job's operator, `None` for an unknown product.
pub fn product_job(
    conn: &Connection,
    product: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let found = conn
        .query_row(
            "SELECT j.id, j.operator FROM job_products p JOIN jobs j ON j.id = p.job_id \
             WHERE p.product_id = ?1",
            params![product],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(found)
}

/// Every job's id and state, in id order: what `audit verify` checks against the log.
pub fn job_states(conn: &Connection) -> Result<Vec<(String, JobState)>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, state FROM jobs ORDER BY id")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (id, state) = row?;
        items.push((id, parse_enum(&state)?));
    }
    Ok(items)
}

/// Every recorded product with the job that released it, in product order.
pub fn recorded_products(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT product_id, job_id FROM job_products ORDER BY product_id")?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row?);
    }
    Ok(items)
}
