//! Statements of `shuyu::governance::registry` on tables `datasets` and `dataset_versions` (and
//! `objections`, to name the one suspending a dataset).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{texts, Stamp};
use crate::codec::{enum_text, parse_enum, parse_ts, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::{DatasetRecord, DatasetStatus, DatasetVersion};

/// A dataset as stored, with the department of its provider (the `domain` of agreements),
/// which the public [`DatasetRecord`] leaves out.
#[derive(Debug, Clone)]
pub struct StoredDataset {
    /// The public record.
    pub record: DatasetRecord,
    /// The providing department, from the manifest of its newest version.
    pub department: String,
}

/// A version about to be recorded: what its validated manifest and data say.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// Its number, one above the last one.
    pub version: u32,
    /// Title from the manifest.
    pub title: &'a str,
    /// Providing department from the manifest.
    pub department: &'a str,
    /// Open attribute's wire name from the manifest.
    pub open: &'a str,
    /// Security level from the manifest.
    pub level: u8,
    /// SHA-256 of the Parquet file.
    pub content_sha256: &'a str,
    /// Rows in the Parquet file.
    pub rows: u64,
}

/// Loads one dataset and its versions, `None` if unregistered. The title, department, open
/// attribute and level are those of its current version (of its newest one when none is
/// current), since a later version may change them.
pub fn find_dataset(conn: &Connection, name: &str) -> Result<Option<StoredDataset>, StoreError> {
    type Head = (
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let head: Option<Head> = conn
        .query_row(
            "SELECT provider, status, current_version, status_reason, status_changed_by, \
             status_changed_at FROM datasets WHERE name = ?1",
            params![name],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((provider, status, current, reason, changed_by, changed_at)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT version, title, department, open, level, content_sha256, row_count, active, \
         published_at FROM dataset_versions WHERE dataset = ?1 ORDER BY version",
    )?;
    let mut rows = stmt.query(params![name])?;
    let mut versions = Vec::new();
    // (version, title, department, open, level) of each version, to describe the dataset by
    // its current version.
    let mut described = Vec::new();
    while let Some(row) = rows.next()? {
        let version: i64 = row.get(0)?;
        let version = u32::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("dataset '{name}': bad version {version}")))?;
        let level: i64 = row.get(4)?;
        let row_count: i64 = row.get(6)?;
        let active: i64 = row.get(7)?;
        let published_at: String = row.get(8)?;
        described.push((
            version,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            u8::try_from(level).unwrap_or(u8::MAX),
        ));
        versions.push(DatasetVersion {
            version,
            content_sha256: row.get(5)?,
            rows: u64::try_from(row_count).unwrap_or(0),
            active: active != 0,
            published_at: parse_ts(&published_at)?,
        });
    }
    let current_version = current.and_then(|v| u32::try_from(v).ok());
    let describing = described
        .iter()
        .find(|d| Some(d.0) == current_version)
        .or(described.last())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("dataset '{name}' has no version")))?;
    let (_, title, department, open, level) = describing;
    Ok(Some(StoredDataset {
        record: DatasetRecord {
            name: name.to_string(),
            provider,
            title,
            open,
            level,
            status: parse_enum(&status)?,
            status_change: super::status_change(changed_by, changed_at, reason)?,
            current_version,
            versions,
        },
        department,
    }))
}

/// One page of dataset names in name order: names after `after` (`""` for the first page), at
/// most `fetch` of them.
pub fn dataset_names(
    conn: &Connection,
    after: &str,
    fetch: i64,
) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        "SELECT name FROM datasets WHERE name > ?1 ORDER BY name LIMIT ?2",
        params![after, fetch],
    )
}

/// The oldest open objection against a dataset, the one refusals name.
pub fn open_objection(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM objections WHERE dataset = ?1 AND status = 'open' ORDER BY id LIMIT 1",
            params![name],
            |row| row.get(0),
        )
        .optional()?)
}

/// The newest active version of a dataset, `None` when every version is withdrawn.
pub fn newest_active_version(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row(
        "SELECT MAX(version) FROM dataset_versions WHERE dataset = ?1 AND active = 1",
        params![name],
        |row| row.get(0),
    )?)
}

/// Sets the version jobs use, `None` for none.
pub fn set_current_version(
    conn: &Connection,
    name: &str,
    current: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE datasets SET current_version = ?2 WHERE name = ?1",
        params![name, current],
    )?;
    Ok(())
}

/// Sets a dataset's status with why, and who changed it when.
pub fn set_dataset_status(
    conn: &Connection,
    name: &str,
    status: DatasetStatus,
    reason: &str,
    stamp: Stamp<'_>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE datasets SET status = ?2, status_reason = ?3, status_changed_by = ?4, \
         status_changed_at = ?5 WHERE name = ?1",
        params![name, enum_text(&status), reason, stamp.by, ts(&stamp.at)],
    )?;
    Ok(())
}

/// The highest version number a dataset ever had (withdrawn ones included, so numbers are
/// never reused), 0 for none.
pub fn last_version(conn: &Connection, name: &str) -> Result<i64, StoreError> {
    let last: Option<i64> = conn.query_row(
        "SELECT MAX(version) FROM dataset_versions WHERE dataset = ?1",
        params![name],
        |row| row.get(0),
    )?;
    Ok(last.unwrap_or(0))
}

/// Registers a dataset with no current version yet (its first version follows in the same
/// transaction).
pub fn insert_dataset(
    tx: &Transaction<'_>,
    name: &str,
    provider: &str,
    status: DatasetStatus,
    created_at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO datasets (name, provider, status, current_version, created_at) \
         VALUES (?1, ?2, ?3, NULL, ?4)",
        params![name, provider, enum_text(&status), ts(created_at)],
    )?;
    Ok(())
}

/// Records a published, active version of dataset `name`.
pub fn insert_version(
    tx: &Transaction<'_>,
    name: &str,
    new: &NewVersion<'_>,
    published_at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO dataset_versions (dataset, version, title, department, open, level, \
         content_sha256, row_count, active, published_at, withdrawn_reason) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, NULL)",
        params![
            name,
            i64::from(new.version),
            new.title,
            new.department,
            new.open,
            i64::from(new.level),
            new.content_sha256,
            i64::try_from(new.rows).unwrap_or(i64::MAX),
            ts(published_at)
        ],
    )?;
    Ok(())
}

/// Marks one version withdrawn, keeping the reason with it.
pub fn withdraw_version(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE dataset_versions SET active = 0, withdrawn_reason = ?3 \
         WHERE dataset = ?1 AND version = ?2",
        params![name, i64::from(version), reason],
    )?;
    Ok(())
}
