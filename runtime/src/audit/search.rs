//! Searching the log for reviewers: by job, action, subject, actor and time, oldest first.
//!
//! Filters combine with AND. An action filter matches the action itself and its sub-actions
//! (`release` matches `release` and `release.blocked`, not `released`), compared exactly
//! (case-sensitive, no wildcards), so a reviewer's filter never matches more than it says.
//! Times are compared as text: entries store one fixed format (`YYYY-MM-DDTHH:MM:SS.mmmZ`) whose
//! text order is time order, and the filter's bounds are converted to that format first.
//!
//! Search reads entries as stored; it does not verify them (that is [`super::AuditLog::verify`]).

use chrono::{DateTime, NaiveDate, Utc};

use super::entry::RawEntryRules;
use super::{AuditError, Entry};
use crate::store::audit::{self as rows, EntryQuery};
use crate::store::codec::ts;
use crate::store::Connection;

/// Which entries to return. Every field left `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this job's entries.
    pub job_id: Option<String>,
    /// Only this action or its sub-actions (`release` matches `release.blocked`).
    pub action: Option<String>,
    /// Only entries about this subject (usually a scenario id).
    pub subject: Option<String>,
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only entries at or after this time: RFC 3339, or a date `YYYY-MM-DD` (midnight UTC).
    pub since: Option<String>,
    /// Only entries before this time: RFC 3339, or a date `YYYY-MM-DD` (midnight UTC).
    pub until: Option<String>,
    /// Only entries after this seq: the cursor of a paged search, so a page costs its own
    /// entries however deep into the log it starts.
    pub after: Option<u64>,
    /// At most this many entries (the oldest matching ones).
    pub limit: Option<usize>,
}

/// Runs `filter` against the log visible through `conn`.
pub(super) fn search(conn: &Connection, filter: &AuditFilter) -> Result<Vec<Entry>, AuditError> {
    let since = filter
        .since
        .as_deref()
        .map(|t| normalize_time("since", t))
        .transpose()?;
    let until = filter
        .until
        .as_deref()
        .map(|t| normalize_time("until", t))
        .transpose()?;
    let query = EntryQuery {
        job_id: filter.job_id.as_deref(),
        action: filter.action.as_deref(),
        subject: filter.subject.as_deref(),
        actor: filter.actor.as_deref(),
        since: since.as_deref(),
        until: until.as_deref(),
        // Seqs beyond i64 cannot be stored, so a cursor past them matches nothing, as would
        // the largest stored seq.
        after: filter
            .after
            .map(|seq| i64::try_from(seq).unwrap_or(i64::MAX)),
        limit: filter.limit,
    };
    let mut entries = Vec::new();
    rows::search(conn, &query, |seq, raw| {
        let raw = raw.map_err(|problem| AuditError::Unreadable {
            seq: u64::try_from(seq).unwrap_or(0),
            problem,
        })?;
        entries.push(raw.into_entry()?);
        Ok::<_, AuditError>(())
    })?;
    Ok(entries)
}

/// Converts an RFC 3339 time or a date to the stored format, so text order is time order.
pub(super) fn normalize_time(field: &'static str, value: &str) -> Result<String, AuditError> {
    let value = value.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(ts(&time.with_timezone(&Utc)));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(ts(&midnight.and_utc()));
        }
    }
    Err(AuditError::InvalidFilter {
        field,
        value: value.to_string(),
        reason: "expected an RFC 3339 time (2025-01-31T08:00:00Z) or a date (2025-01-31)"
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_normalize_to_the_stored_format() {
        assert_eq!(
            normalize_time("since", "2025-01-31").unwrap(),
            "2025-01-31T00:00:00.000Z"
        );
        assert_eq!(
            normalize_time("since", "2025-01-31T10:00:00+02:00").unwrap(),
            "2025-01-31T08:00:00.000Z"
        );
        assert_eq!(
            normalize_time("until", "2025-01-31T08:00:00.123456Z").unwrap(),
            "2025-01-31T08:00:00.123Z"
        );
        let err = normalize_time("until", "yesterday")
            .unwrap_err()
            .to_string();
        assert!(err.contains("until") && err.contains("yesterday"), "{err}");
    }
}
