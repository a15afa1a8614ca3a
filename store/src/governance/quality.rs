//! Table `quality_requests` (and `datasets`, read to find a provider's): the statements of
//! `shuyu::governance::quality`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use crate::codec::{parse_opt_ts, parse_ts, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::QualityRequest;

/// Columns of `quality_requests`, in the order [`request_from_row`] expects.
const REQUEST_COLUMNS: &str = "id, dataset, operator, description, answer, filed_at, answered_at";

fn request_from_row(row: &Row<'_>) -> Result<QualityRequest, StoreError> {
    let filed_at: String = row.get(5)?;
    Ok(QualityRequest {
        id: row.get(0)?,
        dataset: row.get(1)?,
        operator: row.get(2)?,
        description: row.get(3)?,
        answer: row.get(4)?,
        filed_at: parse_ts(&filed_at)?,
        answered_at: parse_opt_ts(row.get(6)?)?,
    })
}

/// Loads one quality request, `None` if unknown (the caller words the refusal).
pub fn find_request(conn: &Connection, id: &str) -> Result<Option<QualityRequest>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {REQUEST_COLUMNS} FROM quality_requests WHERE id = ?1"),
            params![id],
            |row| Ok(request_from_row(row)),
        )
        .optional()?
        .transpose()?;
    Ok(found)
}

/// Inserts a quality request under `id`, filed by `operator` at `filed_at`, not yet answered.
pub fn insert_request(
    tx: &Transaction<'_>,
    id: &str,
    dataset: &str,
    operator: &str,
    description: &str,
    filed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO quality_requests ({REQUEST_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL)"
        ),
        params![id, dataset, operator, description, ts(&filed_at)],
    )?;
    Ok(())
}

/// Records the provider's answer to request `id`, given at `answered_at`.
pub fn answer_request(
    tx: &Transaction<'_>,
    id: &str,
    answer: &str,
    answered_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE quality_requests SET answer = ?2, answered_at = ?3 WHERE id = ?1",
        params![id, answer, ts(&answered_at)],
    )?;
    Ok(())
}

/// One page of quality requests after `after`, up to `fetch`, in id order. An empty `operator`
/// or `provider` does not filter; otherwise only that operator's requests, or those about that
/// provider's datasets, are listed.
pub fn requests_page(
    conn: &Connection,
    after: &str,
    operator: &str,
    provider: &str,
    fetch: i64,
) -> Result<Vec<QualityRequest>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {REQUEST_COLUMNS} FROM quality_requests WHERE id > ?1 \
         AND (?2 = '' OR operator = ?2) \
         AND (?3 = '' OR dataset IN (SELECT name FROM datasets WHERE provider = ?3)) \
         ORDER BY id LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![after, operator, provider, fetch], |row| {
        Ok(request_from_row(row))
    })?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row??);
    }
    Ok(items)
}
