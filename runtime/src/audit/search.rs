//! Searching the log for reviewers: by job, action, subject, actor and time, oldest first.
//!
//! Filters combine with AND. An action filter matches the action itself and its sub-actions
//! (`release` matches `release` and `release.blocked`, not `released`), compared exactly
//! (case-sensitive, no wildcards), so a reviewer's filter never matches more than it says.
//! Times are compared as text: entries store one fixed format (`YYYY-MM-DDTHH:MM:SS.mmmZ`) whose
//! text order is time order, and the filter's bounds are converted to that format first.
//!
//! Search reads entries as stored; it does not verify them (that is [`super::AuditLog::verify`]).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::types::Value;
use rusqlite::Connection;

use super::entry::{RawEntry, ENTRY_COLUMNS};
use super::{AuditError, Entry};

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
    /// At most this many entries (the oldest matching ones).
    pub limit: Option<usize>,
}

/// Runs `filter` against the log visible through `conn`.
pub(super) fn search(conn: &Connection, filter: &AuditFilter) -> Result<Vec<Entry>, AuditError> {
    let mut conditions: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(job) = &filter.job_id {
        conditions.push("job_id = ?");
        args.push(Value::Text(job.clone()));
    }
    if let Some(action) = &filter.action {
        // substr + equality rather than LIKE: LIKE is case-insensitive in SQLite and treats
        // `_` and `%` in the filter as wildcards.
        let prefix = format!("{action}.");
        conditions.push("(action = ? OR substr(action, 1, ?) = ?)");
        args.push(Value::Text(action.clone()));
        args.push(Value::Integer(count_chars(&prefix)));
        args.push(Value::Text(prefix));
    }
    if let Some(subject) = &filter.subject {
        conditions.push("subject = ?");
        args.push(Value::Text(subject.clone()));
    }
    if let Some(actor) = &filter.actor {
        conditions.push("actor = ?");
        args.push(Value::Text(actor.clone()));
    }
    if let Some(since) = &filter.since {
        conditions.push("time >= ?");
        args.push(Value::Text(normalize_time("since", since)?));
    }
    if let Some(until) = &filter.until {
        conditions.push("time < ?");
        args.push(Value::Text(normalize_time("until", until)?));
    }

    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_entries");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY seq");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    }

    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0).unwrap_or(0);
        let raw = RawEntry::from_row(row).map_err(|problem| AuditError::Unreadable {
            seq: u64::try_from(seq).unwrap_or(0),
            problem,
        })?;
        entries.push(raw.into_entry()?);
    }
    Ok(entries)
}

fn count_chars(s: &str) -> i64 {
    i64::try_from(s.chars().count()).unwrap_or(i64::MAX)
}

/// Converts an RFC 3339 time or a date to the stored format, so text order is time order.
pub(super) fn normalize_time(field: &'static str, value: &str) -> Result<String, AuditError> {
    let value = value.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(midnight
                .and_utc()
                .to_rfc3339_opts(SecondsFormat::Millis, true));
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
