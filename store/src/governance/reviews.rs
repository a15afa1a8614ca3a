//! Tables `reviews` and `applications` (an amended application superseded): the statements of
//! `shuyu::governance::reviews`.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::applications::position_key;
use super::Stamp;
use crate::codec::{enum_text, ts};
use crate::{StoreError, Transaction};
use shuyu_model::records::{ApplicationStatus, Decision};

/// Records the decision of the review at `position` of application `id`. `party` replaces the
/// stored party, because the bureau review is decided by whichever bureau identity takes it.
pub fn decide_review(
    tx: &Transaction<'_>,
    id: &str,
    position: usize,
    party: &str,
    decision: Decision,
    reason: &str,
    decided_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE reviews SET party = ?3, decision = ?4, reason = ?5, decided_at = ?6 \
         WHERE application = ?1 AND position = ?2",
        params![
            id,
            position_key(position),
            party,
            enum_text(&decision),
            reason,
            ts(&decided_at)
        ],
    )?;
    Ok(())
}

/// Marks application `id` superseded with `reason` if it is still in force (approved or
/// suspended); returns whether it was. The condition is part of the statement so that an
/// application that ended meanwhile keeps the status that ended it.
pub fn supersede_in_force(
    tx: &Transaction<'_>,
    id: &str,
    reason: &str,
    stamp: Stamp<'_>,
) -> Result<bool, StoreError> {
    let changed = tx.execute(
        "UPDATE applications SET status = ?2, status_reason = ?3, status_changed_by = ?4, \
         status_changed_at = ?5 WHERE id = ?1 AND status IN ('approved', 'suspended')",
        params![
            id,
            enum_text(&ApplicationStatus::Superseded),
            reason,
            stamp.by,
            ts(&stamp.at)
        ],
    )?;
    Ok(changed > 0)
}
