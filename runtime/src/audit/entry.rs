//! Audit entries: what callers hand in ([`NewEntry`]), what the log holds ([`Entry`]), and how
//! a raw row as stored (decoded defensively by `store::audit`) becomes one.

use schemars::JsonSchema;
use serde::Serialize;

use super::chain::HashInput;
use super::AuditError;

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

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "AuditEntry")]
pub struct Entry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was appended: RFC 3339, UTC, milliseconds (`2025-01-31T08:00:00.000Z`).
    pub time: String,
    /// Who acted.
    pub actor: String,
    /// What happened (`job.start`, `query`, `release.blocked`, `guest.log`, ...).
    pub action: String,
    /// What it happened to, usually a scenario id.
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

pub(crate) use crate::store::audit::RawEntry;

/// What the log makes of a stored row: the hash input and the parsed entry.
pub(crate) trait RawEntryRules {
    /// The fields the hash covers, for an entry at `seq`.
    fn hash_input(&self, seq: u64) -> HashInput<'_>;

    /// Converts to an [`Entry`], parsing the details.
    fn into_entry(self) -> Result<Entry, AuditError>;
}

impl RawEntryRules for RawEntry {
    fn hash_input(&self, seq: u64) -> HashInput<'_> {
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

    fn into_entry(self) -> Result<Entry, AuditError> {
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
