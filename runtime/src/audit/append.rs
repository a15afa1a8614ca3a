//! Appending: read the head and insert the next entry in one IMMEDIATE transaction.
//!
//! The write lock is taken at `BEGIN`, so between reading the head and inserting after it no
//! other writer (thread or process) can append; two appends can never claim the same seq or
//! chain to the same predecessor. `seq` is the primary key as a second line of defence.

use rusqlite::{params, OptionalExtension, Transaction};

use super::canonical::canonical_json;
use super::chain::{entry_hash, HashInput, GENESIS_HASH};
use super::{AuditError, Entry, NewEntry};

/// Appends `new` after the current head inside `tx`, stamped with `now`.
pub(super) fn append_entry(
    tx: &Transaction<'_>,
    new: NewEntry,
    now: String,
) -> Result<Entry, AuditError> {
    let head: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match head {
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
    tx.execute(
        "INSERT INTO audit_entries (seq, time, actor, action, subject, job_id, details, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            i64::try_from(seq).unwrap_or(i64::MAX),
            now,
            new.actor,
            new.action,
            new.subject,
            new.job_id,
            details,
            prev_hash,
            hash
        ],
    )?;
    Ok(Entry {
        seq,
        time: now,
        actor: new.actor,
        action: new.action,
        subject: new.subject,
        job_id: new.job_id,
        details: new.details,
        prev_hash,
        hash,
    })
}
