//! Appending: read the head and insert the next entry in one IMMEDIATE transaction.
//!
//! The write lock is taken at `BEGIN`, so between reading the head and inserting after it no
//! other writer (thread or process) can append; two appends can never claim the same seq or
//! chain to the same predecessor. `seq` is the primary key as a second line of defence.

use super::canonical::canonical_json;
use super::chain::{entry_hash, HashInput, GENESIS_HASH};
use super::{AuditError, Entry, NewEntry};
use crate::store::audit::{self as rows, RawEntry};
use crate::store::Transaction;

/// Appends `new` after the current head inside `tx`, stamped with `now`.
pub(super) fn append_entry(
    tx: &Transaction<'_>,
    new: NewEntry,
    now: String,
) -> Result<Entry, AuditError> {
    let (seq, prev_hash) = match rows::head(tx)? {
        None => (1u64, GENESIS_HASH.to_string()),
        Some((last, hash)) => {
            let next = u64::try_from(last)
                .ok()
                .and_then(|s| s.checked_add(1))
                .filter(|s| i64::try_from(*s).is_ok())
                .ok_or_else(|| AuditError::Unreadable {
                    seq: 0,
                    problem: format!("the head has seq {last}; no entry can follow it"),
                })?;
            (next, hash)
        }
    };
    let details = canonical_json(&new.details);
    let hash = entry_hash(&HashInput {
        seq,
        time: &now,
        actor: &new.actor,
        action: &new.action,
        subject: &new.subject,
        job_id: new.job_id.as_deref(),
        details: &details,
        prev_hash: &prev_hash,
    });
    let row = RawEntry {
        // The head check above keeps `seq` within i64.
        seq: i64::try_from(seq).unwrap_or(i64::MAX),
        time: now,
        actor: new.actor,
        action: new.action,
        subject: new.subject,
        job_id: new.job_id,
        details,
        prev_hash,
        hash,
    };
    rows::insert_entry(tx, &row)?;
    Ok(Entry {
        seq,
        time: row.time,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        job_id: row.job_id,
        details: new.details,
        prev_hash: row.prev_hash,
        hash: row.hash,
    })
}
