//! Tables `objections`, `objection_joins` and `dataset_versions` (withdrawal), and `jobs` with
//! `application_datasets` (read): the statements of `shuyu::governance::objections`. A dataset's
//! status changes through `super::registry`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{texts, LIVE_JOB_STATES};
use crate::codec::{enum_text, parse_enum, parse_opt_ts, parse_ts, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::{Objection, ObjectionJoin, ObjectionStatus, Resolution};

/// Columns of `objections`, in the order [`objection_from_row`] expects.
const OBJECTION_COLUMNS: &str =
    "id, dataset, filed_by, reason, status, resolution, note, filed_at, resolved_at";

fn objection_from_row(row: &Row<'_>) -> Result<Objection, StoreError> {
    let status: String = row.get(4)?;
    let resolution: Option<String> = row.get(5)?;
    let filed_at: String = row.get(7)?;
    Ok(Objection {
        id: row.get(0)?,
        dataset: row.get(1)?,
        filed_by: row.get(2)?,
        reason: row.get(3)?,
        status: parse_enum(&status)?,
        resolution: resolution.as_deref().map(parse_enum).transpose()?,
        note: row.get(6)?,
        filed_at: parse_ts(&filed_at)?,
        resolved_at: parse_opt_ts(row.get(8)?)?,
        joined: Vec::new(),
    })
}

/// The claims joined to `objection`, in filing order.
fn joins_of(conn: &Connection, objection: &str) -> Result<Vec<ObjectionJoin>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT filed_by, reason, filed_at FROM objection_joins WHERE objection = ?1 \
         ORDER BY position",
    )?;
    let rows = stmt.query_map(params![objection], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut joins = Vec::new();
    for row in rows {
        let (filed_by, reason, filed_at) = row?;
        joins.push(ObjectionJoin {
            filed_by,
            reason,
            filed_at: parse_ts(&filed_at)?,
        });
    }
    Ok(joins)
}

/// `objection` with its joined claims filled in.
fn with_joins(conn: &Connection, mut objection: Objection) -> Result<Objection, StoreError> {
    objection.joined = joins_of(conn, &objection.id)?;
    Ok(objection)
}

/// Joins a claim to the open objection `objection`, after the ones already joined.
pub fn insert_join(
    tx: &Transaction<'_>,
    objection: &str,
    filed_by: &str,
    reason: &str,
    filed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO objection_joins (objection, position, filed_by, reason, filed_at) \
         SELECT ?1, COUNT(*), ?2, ?3, ?4 FROM objection_joins WHERE objection = ?1",
        params![objection, filed_by, reason, ts(&filed_at)],
    )?;
    Ok(())
}

/// The resolved objections against `dataset`, in id order.
pub fn resolved_objections_of(
    conn: &Connection,
    dataset: &str,
) -> Result<Vec<Objection>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {OBJECTION_COLUMNS} FROM objections WHERE dataset = ?1 AND status = ?2 \
         ORDER BY id"
    ))?;
    let resolved = enum_text(&ObjectionStatus::Resolved);
    let rows = stmt.query_map(params![dataset, resolved], |row| {
        Ok(objection_from_row(row))
    })?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row??);
    }
    Ok(items)
}

/// Loads one objection, `None` if unknown (the caller words the refusal).
pub fn find_objection(conn: &Connection, id: &str) -> Result<Option<Objection>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {OBJECTION_COLUMNS} FROM objections WHERE id = ?1"),
            params![id],
            |row| Ok(objection_from_row(row)),
        )
        .optional()?
        .transpose()?;
    found.map(|o| with_joins(conn, o)).transpose()
}

/// Ids of queued or running jobs whose application grants `dataset`: the jobs an objection
/// must stop.
pub fn live_jobs_using(conn: &Connection, dataset: &str) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        &format!(
            "SELECT j.id FROM jobs j JOIN application_datasets d ON d.application = j.application \
         WHERE d.dataset = ?1 AND j.state IN {LIVE_JOB_STATES} ORDER BY j.id"
        ),
        params![dataset],
    )
}

/// Inserts an objection under `id`, filed by `filed_by` at `filed_at`, not yet resolved.
pub fn insert_objection(
    tx: &Transaction<'_>,
    id: &str,
    dataset: &str,
    filed_by: &str,
    reason: &str,
    status: ObjectionStatus,
    filed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO objections ({OBJECTION_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, NULL)"
        ),
        params![
            id,
            dataset,
            filed_by,
            reason,
            enum_text(&status),
            ts(&filed_at)
        ],
    )?;
    Ok(())
}

/// Deactivates every active version of `dataset`, keeping `reason` as why it was withdrawn.
pub fn withdraw_active_versions(
    tx: &Transaction<'_>,
    dataset: &str,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE dataset_versions SET active = 0, withdrawn_reason = ?2 \
         WHERE dataset = ?1 AND active = 1",
        params![dataset, reason],
    )?;
    Ok(())
}

/// Deactivates the active versions of `dataset` published at or before `published_by` (the
/// untreated ones), keeping `reason` as why they were withdrawn.
pub fn withdraw_versions_published_by(
    tx: &Transaction<'_>,
    dataset: &str,
    published_by: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE dataset_versions SET active = 0, withdrawn_reason = ?3 \
         WHERE dataset = ?1 AND active = 1 AND published_at <= ?2",
        params![dataset, ts(&published_by), reason],
    )?;
    Ok(())
}

/// Records how objection `id` was resolved, with the provider's note, at `resolved_at`.
pub fn resolve_objection(
    tx: &Transaction<'_>,
    id: &str,
    status: ObjectionStatus,
    resolution: Resolution,
    note: &str,
    resolved_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE objections SET status = ?2, resolution = ?3, note = ?4, resolved_at = ?5 \
         WHERE id = ?1",
        params![
            id,
            enum_text(&status),
            enum_text(&resolution),
            note,
            ts(&resolved_at)
        ],
    )?;
    Ok(())
}

/// One page of objections after `after`, up to `fetch`, in id order.
pub fn objections_page(
    conn: &Connection,
    after: &str,
    fetch: i64,
) -> Result<Vec<Objection>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {OBJECTION_COLUMNS} FROM objections WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after, fetch], |row| Ok(objection_from_row(row)))?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row??);
    }
    items.into_iter().map(|o| with_joins(conn, o)).collect()
}
