//! Tables `agreements`, `applications` and `reviews`, searched for what time has ended: the
//! statements of `shuyu::governance::expiry`. Agreements and applications change status through
//! `super::agreements` and `super::applications`.

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::codec::ts;
use crate::{StoreError, Transaction};

/// Ids and the stored time that ended them, selected by `sql` with `?1` = `now`. Stored times
/// share one fixed format, so comparing the text compares the times.
fn due(
    tx: &Transaction<'_>,
    sql: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt
        .query_map(params![ts(&now)], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Active agreements whose term ended by `now`, with their `term_end` as stored, in id order.
pub fn agreements_due(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    due(
        tx,
        "SELECT id, term_end FROM agreements WHERE status = 'active' AND term_end <= ?1 \
         ORDER BY id",
        now,
    )
}

/// Live (pending, approved, suspended) applications whose validity ended before `now`, with
/// their `valid_until` as stored, in id order.
pub fn applications_due(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    due(
        tx,
        "SELECT id, valid_until FROM applications \
         WHERE status IN ('pending', 'approved', 'suspended') AND valid_until < ?1 \
         ORDER BY id",
        now,
    )
}

/// Pending applications with an undecided review past its deadline before `now`, with the
/// earliest such deadline as stored, in id order.
pub fn reviews_overdue(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    due(
        tx,
        "SELECT a.id, MIN(r.deadline) FROM applications a \
         JOIN reviews r ON r.application = a.id \
         WHERE a.status = 'pending' AND r.decision IS NULL AND r.deadline < ?1 \
         GROUP BY a.id ORDER BY a.id",
        now,
    )
}
