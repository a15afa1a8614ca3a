//! Statements of `shuyu::governance::operators` on tables `identities` (status) and `jobs`.

use rusqlite::params;

use super::{texts, Stamp, LIVE_JOB_STATES};
use crate::codec::{enum_text, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::IdentityStatus;

/// Ids of an operator's queued or running jobs, in id order: the ones to stop when it loses
/// the right to run them.
pub fn live_jobs_of_operator(conn: &Connection, operator: &str) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        &format!(
            "SELECT id FROM jobs WHERE operator = ?1 AND state IN {LIVE_JOB_STATES} ORDER BY id"
        ),
        params![operator],
    )
}

/// Sets an identity's status with its reason (refusals quote a suspension's) and who changed
/// it when.
pub fn set_identity_status(
    tx: &Transaction<'_>,
    id: &str,
    status: IdentityStatus,
    reason: &str,
    stamp: Stamp<'_>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE identities SET status = ?2, status_reason = ?3, status_changed_by = ?4, \
         status_changed_at = ?5 WHERE id = ?1",
        params![id, enum_text(&status), reason, stamp.by, ts(&stamp.at)],
    )?;
    Ok(())
}
