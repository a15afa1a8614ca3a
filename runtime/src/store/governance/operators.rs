//! Statements of `crate::governance::operators` on tables `identities` (status) and `jobs`.

use rusqlite::params;

use super::{texts, Stamp, LIVE_JOB_STATES};
use crate::governance::model::IdentityStatus;
use crate::store::codec::{enum_text, ts};
use crate::store::{Connection, StoreError, Transaction};

/// Ids of an operator's queued or running jobs, in id order: the ones to stop when it loses
/// the right to run them.
pub(crate) fn live_jobs_of_operator(
    conn: &Connection,
    operator: &str,
) -> Result<Vec<String>, StoreError> {
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
pub(crate) fn set_identity_status(
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
