//! Statements of `crate::governance::operators` on tables `identities` (status) and `jobs`.

use rusqlite::params;

use super::{texts, LIVE_JOB_STATES};
use crate::governance::model::IdentityStatus;
use crate::store::codec::enum_text;
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

/// Sets an identity's status and the reason refusals will quote: a suspension's, or `None` for
/// a restoration, which leaves no reason to quote.
pub(crate) fn set_identity_status(
    tx: &Transaction<'_>,
    id: &str,
    status: IdentityStatus,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE identities SET status = ?2, status_reason = ?3 WHERE id = ?1",
        params![id, enum_text(&status), reason],
    )?;
    Ok(())
}
