//! Audit entries: what callers hand in ([`NewEntry`]), what the log holds ([`Entry`]), and the
//! raw row as stored, decoded defensively because verification must report a tampered row, not
//! trip over it.

use rusqlite::types::FromSql;
use rusqlite::Row;
use serde::Serialize;

use super::chain::HashInput;
use super::AuditError;

/// Columns of `audit_entries`, in the order [`RawEntry::from_row`] expects.
pub(crate) const ENTRY_COLUMNS: &str =
    "seq, time, actor, action, subject, job_id, details, prev_hash, hash";

/// An entry to append. The log adds the seq, the time and the hashes.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Who acted: an operator, a provider, the bureau, `system`.
    pub actor: String,
    /// What happened, e.g. `job.start`, `query`, `release.blocked`, `guest.log`.
    pub action: String,
    /// What it happened to, usually a scenario id.
    pub subject: String,
    /// The job, for entries written during one.
    pub job_id: Option<String>,
    /// Anything else worth keeping, as JSON (stored with its object keys sorted).
    pub details: serde_json::Value,
}

/// One entry of the log.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was appended: RFC 3339, UTC, milliseconds (`2025-01-31T08:00:00.000Z`).
    pub time: String,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub subject: String,
    /// The job, if any.
    pub job_id: Option<String>,
    /// Details as JSON.
    pub details: serde_json::Value,
    /// Hash of the previous entry (64 zeros for entry 1).
    pub prev_hash: String,
    /// This entry's hash (see `chain`).
    pub hash: String,
}

/// A row of `audit_entries` exactly as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub job_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl RawEntry {
    /// Decodes a row selected with [`ENTRY_COLUMNS`]; `Err` says which column is malformed.
    pub fn from_row(row: &Row<'_>) -> Result<Self, String> {
        Ok(Self {
            seq: column(row, 0, "seq")?,
            time: column(row, 1, "time")?,
            actor: column(row, 2, "actor")?,
            action: column(row, 3, "action")?,
            subject: column(row, 4, "subject")?,
            job_id: column(row, 5, "job_id")?,
            details: column(row, 6, "details")?,
            prev_hash: column(row, 7, "prev_hash")?,
            hash: column(row, 8, "hash")?,
        })
    }

    /// The fields the hash covers, for an entry at `seq`.
    pub fn hash_input(&self, seq: u64) -> HashInput<'_> {
        HashInput {
            seq,
            time: &self.time,
            actor: &self.actor,
            action: &self.action,
            subject: &self.subject,
            job_id: self.job_id.as_deref(),
            details: &self.details,
            prev_hash: &self.prev_hash,
        }
    }

    /// Converts to an [`Entry`], parsing the details.
    pub fn into_entry(self) -> Result<Entry, AuditError> {
        let seq = u64::try_from(self.seq).map_err(|_| AuditError::Unreadable {
            seq: 0,
            problem: format!("invalid seq {}", self.seq),
        })?;
        let details = serde_json::from_str(&self.details).map_err(|e| AuditError::Unreadable {
            seq,
            problem: format!("details are not JSON ({e})"),
        })?;
        Ok(Entry {
            seq,
            time: self.time,
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            job_id: self.job_id,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Reads one column, describing a type mismatch instead of failing with SQLite's wording.
pub(crate) fn column<T: FromSql>(row: &Row<'_>, index: usize, name: &str) -> Result<T, String> {
    row.get(index).map_err(|e| match e {
        rusqlite::Error::InvalidColumnType(_, _, found) => {
            format!("column {name} holds a value of the wrong type ({found})")
        }
        rusqlite::Error::FromSqlConversionFailure(_, _, source) => {
            format!("column {name} cannot be read ({source})")
        }
        rusqlite::Error::IntegralValueOutOfRange(_, value) => {
            format!("column {name} holds an out-of-range number ({value})")
        }
        other => format!("column {name} cannot be read ({other})"),
    })
}
