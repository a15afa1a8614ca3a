//! Statements of `shuyu::governance::agreements` on table `agreements` (and `jobs` with
//! `applications`, to find the jobs working under an agreement).

use rusqlite::{params, OptionalExtension, Row};

use super::{texts, Stamp, LIVE_JOB_STATES};
use crate::codec::{enum_text, from_json, next_id, parse_enum, parse_ts, to_json, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::{Agreement, AgreementStatus};

/// Columns of `agreements`, in the order [`StoredAgreement::from_row`] expects; the insert
/// names them too, so that reading and writing cannot drift apart.
const AGREEMENT_COLUMNS: &str = "id, authorizer, operator, mode, scope, term_start, term_end, \
     security_requirements, exit_conditions, status, status_reason, created_at, \
     status_changed_by, status_changed_at";

/// An agreement as stored, with the reason of its status, which the public [`Agreement`]
/// leaves out but refusals quote. Its status is the stored one: an expired term is only
/// recorded later, so readers judge it at their own time.
#[derive(Debug, Clone)]
pub struct StoredAgreement {
    /// The agreement, with its status as stored.
    pub agreement: Agreement,
    /// Why it was terminated.
    pub status_reason: Option<String>,
}

impl StoredAgreement {
    /// Decodes a row selected with [`AGREEMENT_COLUMNS`].
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let mode: String = row.get(3)?;
        let scope: String = row.get(4)?;
        let term_start: String = row.get(5)?;
        let term_end: String = row.get(6)?;
        let status: String = row.get(9)?;
        let created_at: String = row.get(11)?;
        Ok(Self {
            agreement: Agreement {
                id: row.get(0)?,
                authorizer: row.get(1)?,
                operator: row.get(2)?,
                mode: parse_enum(&mode)?,
                scope: from_json(&scope)?,
                term_start: parse_ts(&term_start)?,
                term_end: parse_ts(&term_end)?,
                security_requirements: row.get(7)?,
                exit_conditions: row.get(8)?,
                status: parse_enum(&status)?,
                status_change: super::status_change(row.get(12)?, row.get(13)?, row.get(10)?)?,
                created_at: parse_ts(&created_at)?,
            },
            status_reason: row.get(10)?,
        })
    }
}

/// Loads one agreement, `None` if unknown.
pub fn find_agreement(conn: &Connection, id: &str) -> Result<Option<StoredAgreement>, StoreError> {
    conn.query_row(
        &format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = ?1"),
        params![id],
        |row| Ok(StoredAgreement::from_row(row)),
    )
    .optional()?
    .transpose()
}

/// The id the next agreement gets; call it in the transaction that inserts the agreement, so
/// that no other writer takes the same number.
pub fn next_agreement_id(tx: &Transaction<'_>) -> Result<String, StoreError> {
    next_id(tx, "agreements", "agr")
}

/// Stores a new agreement; a new agreement has no status reason yet.
pub fn insert_agreement(tx: &Transaction<'_>, agreement: &Agreement) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO agreements ({AGREEMENT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, NULL, NULL)"
        ),
        params![
            agreement.id,
            agreement.authorizer,
            agreement.operator,
            enum_text(&agreement.mode),
            to_json(&agreement.scope)?,
            ts(&agreement.term_start),
            ts(&agreement.term_end),
            agreement.security_requirements,
            agreement.exit_conditions,
            enum_text(&agreement.status),
            ts(&agreement.created_at)
        ],
    )?;
    Ok(())
}

/// Sets an agreement's status with the reason refusals will quote (a termination's, the end
/// of its term) and who changed it when.
pub fn set_agreement_status(
    tx: &Transaction<'_>,
    id: &str,
    status: AgreementStatus,
    reason: &str,
    stamp: Stamp<'_>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE agreements SET status = ?2, status_reason = ?3, status_changed_by = ?4, \
         status_changed_at = ?5 WHERE id = ?1",
        params![id, enum_text(&status), reason, stamp.by, ts(&stamp.at)],
    )?;
    Ok(())
}

/// Ids of an agreement's applications that still hold their scenario (pending, approved or
/// suspended), in id order: the ones a termination ends.
pub fn live_applications_of_agreement(
    conn: &Connection,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        "SELECT id FROM applications WHERE agreement = ?1 \
         AND status IN ('pending', 'approved', 'suspended') ORDER BY id",
        params![id],
    )
}

/// Ids of the queued or running jobs working under an agreement (through its applications),
/// in id order.
pub fn live_jobs_of_agreement(conn: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        &format!(
            "SELECT j.id FROM jobs j JOIN applications a ON j.application = a.id \
         WHERE a.agreement = ?1 AND j.state IN {} ORDER BY j.id",
            LIVE_JOB_STATES
        ),
        params![id],
    )
}

/// One page of agreements in id order: ids after `after` (`""` for the first page), of
/// operator `only` (`""` for every operator), at most `fetch` of them.
pub fn list_agreements(
    conn: &Connection,
    after: &str,
    only: &str,
    fetch: i64,
) -> Result<Vec<StoredAgreement>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {AGREEMENT_COLUMNS} FROM agreements \
         WHERE id > ?1 AND (?2 = '' OR operator = ?2) ORDER BY id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![after, only, fetch], |row| {
        Ok(StoredAgreement::from_row(row))
    })?;
    let mut agreements = Vec::new();
    for row in rows {
        agreements.push(row??);
    }
    Ok(agreements)
}
