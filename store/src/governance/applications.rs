//! Tables `applications`, `application_datasets`, `reviews` (and `jobs`, read only): the
//! statements of `shuyu::governance::applications`.
//!
//! The status updates here are shared by `reviews` and `expiry`, which move applications through
//! the same columns.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{texts, Stamp, LIVE_JOB_STATES};
use crate::codec::{enum_text, from_json, parse_enum, parse_opt_ts, parse_ts, to_json, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::{Application, ApplicationStatus, NewApplication, Review, ReviewKind};

/// Columns of `applications`, in the order [`StoredApplication::from_row`] expects.
const APPLICATION_COLUMNS: &str = "id, scenario_id, operator, agreement, scenario, module_sha256, \
     valid_until, amends, status, status_reason, submitted_at, status_changed_by, \
     status_changed_at";

/// An application as stored, with the reason of its status. Its rules (the status at a given
/// time, why jobs may not run) live with `shuyu::governance::applications`.
#[derive(Debug, Clone)]
pub struct StoredApplication {
    /// The application, with its status as stored and `overdue` unset.
    pub application: Application,
    /// Why it was suspended or revoked, or what superseded it.
    pub status_reason: Option<String>,
}

impl StoredApplication {
    /// Decodes a row selected with [`APPLICATION_COLUMNS`] (reviews are loaded separately).
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let scenario: String = row.get(4)?;
        let valid_until: String = row.get(6)?;
        let status: String = row.get(8)?;
        let submitted_at: String = row.get(10)?;
        Ok(Self {
            application: Application {
                id: row.get(0)?,
                scenario_id: row.get(1)?,
                operator: row.get(2)?,
                agreement: row.get(3)?,
                scenario: from_json(&scenario)?,
                valid_until: parse_ts(&valid_until)?,
                amends: row.get(7)?,
                status: parse_enum(&status)?,
                status_change: super::status_change(row.get(11)?, row.get(12)?, row.get(9)?)?,
                reviews: Vec::new(),
                submitted_at: parse_ts(&submitted_at)?,
            },
            status_reason: row.get(9)?,
        })
    }
}

/// A review's `position` column; positions are small, the saturation only keeps this total.
pub(super) fn position_key(position: usize) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

/// The reviews of one application, bureau first.
fn reviews_of(conn: &Connection, id: &str) -> Result<Vec<Review>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT kind, party, decision, reason, deadline, decided_at FROM reviews \
         WHERE application = ?1 ORDER BY position",
    )?;
    let mut rows = stmt.query(params![id])?;
    let mut reviews = Vec::new();
    while let Some(row) = rows.next()? {
        let kind: String = row.get(0)?;
        let decision: Option<String> = row.get(2)?;
        let deadline: String = row.get(4)?;
        reviews.push(Review {
            kind: parse_enum(&kind)?,
            party: row.get(1)?,
            decision: decision.as_deref().map(parse_enum).transpose()?,
            reason: row.get(3)?,
            deadline: parse_ts(&deadline)?,
            decided_at: parse_opt_ts(row.get(5)?)?,
            overdue: false,
        });
    }
    Ok(reviews)
}

/// Loads one application with its reviews, `None` if unknown (the caller decides whether that
/// is an error, and with which message).
pub fn find_application(
    conn: &Connection,
    id: &str,
) -> Result<Option<StoredApplication>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = ?1"),
            params![id],
            |row| Ok(StoredApplication::from_row(row)),
        )
        .optional()?
        .transpose()?;
    let Some(mut stored) = found else {
        return Ok(None);
    };
    stored.application.reviews = reviews_of(conn, id)?;
    Ok(Some(stored))
}

/// Ids of an application's queued or running jobs: the ones a suspension or revocation must
/// stop.
pub fn live_jobs_of_application(conn: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        &format!(
            "SELECT id FROM jobs WHERE application = ?1 AND state IN {LIVE_JOB_STATES} ORDER BY id"
        ),
        params![id],
    )
}

/// Ids of every application of a scenario, in id order, whatever their status: whether one is
/// live depends on the clock, which the caller applies.
pub fn application_ids_of_scenario(
    conn: &Connection,
    scenario_id: &str,
) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        "SELECT id FROM applications WHERE scenario_id = ?1 ORDER BY id",
        params![scenario_id],
    )
}

/// Ids of every application that grants `dataset`, in id order, whatever their status.
pub fn application_ids_granting(
    conn: &Connection,
    dataset: &str,
) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        "SELECT application FROM application_datasets WHERE dataset = ?1 ORDER BY application",
        params![dataset],
    )
}

/// One page of application ids after `after`, up to `fetch`, in id order. An empty `operator`
/// or `provider` does not filter; otherwise only that operator's applications, or those that
/// provider reviews, are listed.
pub fn application_ids_page(
    conn: &Connection,
    after: &str,
    operator: &str,
    provider: &str,
    fetch: i64,
) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        "SELECT id FROM applications WHERE id > ?1 \
         AND (?2 = '' OR operator = ?2) \
         AND (?3 = '' OR id IN \
              (SELECT application FROM reviews WHERE kind = 'provider' AND party = ?3)) \
         ORDER BY id LIMIT ?4",
        params![after, operator, provider, fetch],
    )
}

/// Inserts a submitted application under `id`, filed by `operator` at `submitted_at`, with no
/// status reason yet. Its datasets and reviews are inserted separately.
pub fn insert_application(
    tx: &Transaction<'_>,
    id: &str,
    operator: &str,
    new: &NewApplication,
    status: ApplicationStatus,
    submitted_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let info = &new.scenario.scenario;
    tx.execute(
        &format!(
            "INSERT INTO applications ({APPLICATION_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, NULL, NULL)"
        ),
        params![
            id,
            info.id,
            operator,
            new.agreement,
            to_json(&new.scenario)?,
            info.module_sha256,
            ts(&new.valid_until),
            new.amends,
            enum_text(&status),
            ts(&submitted_at)
        ],
    )?;
    Ok(())
}

/// Records which datasets an application grants, so that objections find the jobs using a
/// dataset without decoding every scenario.
pub fn insert_application_datasets(
    tx: &Transaction<'_>,
    id: &str,
    datasets: &[String],
) -> Result<(), StoreError> {
    for name in datasets {
        tx.execute(
            "INSERT INTO application_datasets (application, dataset) VALUES (?1, ?2)",
            params![id, name],
        )?;
    }
    Ok(())
}

/// Inserts an undecided review of application `id` at `position` (the order reviews are
/// listed in), due by `deadline`.
pub fn insert_review(
    tx: &Transaction<'_>,
    id: &str,
    position: usize,
    kind: ReviewKind,
    party: &str,
    deadline: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO reviews (application, position, kind, party, decision, reason, \
         deadline, decided_at) VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5, NULL)",
        params![
            id,
            position_key(position),
            enum_text(&kind),
            party,
            ts(&deadline)
        ],
    )?;
    Ok(())
}

/// Sets an application's status and its reason together (`None` clears the reason), for the
/// changes whose reason replaces the previous one, and who changed it when.
pub fn set_status_and_reason(
    tx: &Transaction<'_>,
    id: &str,
    status: ApplicationStatus,
    reason: Option<&str>,
    stamp: Stamp<'_>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE applications SET status = ?2, status_reason = ?3, status_changed_by = ?4, \
         status_changed_at = ?5 WHERE id = ?1",
        params![id, enum_text(&status), reason, stamp.by, ts(&stamp.at)],
    )?;
    Ok(())
}
