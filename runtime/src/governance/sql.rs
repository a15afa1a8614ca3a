//! How governance values are written to and read from the database: times as RFC 3339 text,
//! enums as their wire names, JSON columns, sequential ids, and pagination.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::model::{Page, PageRequest};
use super::GovError;

/// Default page size.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
const MAX_LIMIT: u32 = 500;

/// A time as stored: UTC, milliseconds, `Z`, so that text order is time order.
pub(crate) fn ts(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a stored time. A malformed value means the database was altered: an internal error.
pub(crate) fn parse_ts(text: &str) -> Result<DateTime<Utc>, GovError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| GovError::Internal(format!("stored time '{text}' is not RFC 3339: {e}")))
}

/// Parses an optional stored time.
pub(crate) fn parse_opt_ts(text: Option<String>) -> Result<Option<DateTime<Utc>>, GovError> {
    text.as_deref().map(parse_ts).transpose()
}

/// An enum's wire name (its serde name), as stored.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // Only unit enums are passed here; anything else would be a programming error, and the
        // JSON text still round-trips through `parse_enum`.
        Ok(other) => other.to_string(),
        Err(e) => format!("unserializable: {e}"),
    }
}

/// Parses an enum stored by [`enum_text`].
pub(crate) fn parse_enum<T: DeserializeOwned>(text: &str) -> Result<T, GovError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| GovError::Internal(format!("stored value '{text}' is not recognised: {e}")))
}

/// A JSON column's text.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, GovError> {
    serde_json::to_string(value).map_err(|e| GovError::Internal(format!("cannot encode: {e}")))
}

/// Parses a JSON column.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, GovError> {
    serde_json::from_str(text)
        .map_err(|e| GovError::Internal(format!("stored JSON cannot be read: {e}")))
}

/// The next id of a table whose ids are `<prefix>-<number>`: rows are never deleted, so the row
/// count plus one is unused. Called inside the write transaction that inserts the row, whose
/// lock keeps two writers from taking the same number. Six digits keep text order equal to
/// creation order up to a million rows (pagination stays complete beyond that).
pub(crate) fn next_id(conn: &Connection, table: &str, prefix: &str) -> Result<String, GovError> {
    let count: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
        row.get(0)
    })?;
    Ok(format!("{prefix}-{:06}", count + 1))
}

/// A validated page request: the page size and the cursor.
#[derive(Debug, Clone)]
pub(crate) struct PageSpec {
    /// Items per page.
    pub limit: u32,
    /// Items with a key greater than this one.
    pub after: Option<String>,
}

impl PageSpec {
    /// Checks the requested limit (1..=500, default 50).
    pub fn new(page: &PageRequest) -> Result<Self, GovError> {
        let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(GovError::Invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {limit}"
            )));
        }
        Ok(Self {
            limit,
            after: page.after.clone(),
        })
    }

    /// The cursor to compare keys with (the empty string sorts before every key).
    pub fn after(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    /// The SQL `LIMIT`: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts `keys` (fetched in key order, up to [`PageSpec::fetch`]) into a page.
    pub fn finish<T>(&self, mut items: Vec<(String, T)>) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Page {
            items: items.into_iter().map(|(_, item)| item).collect(),
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678+08:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(&a), "2026-01-01T19:04:05.678Z");
        assert_eq!(parse_ts(&ts(&a)).unwrap(), a);
        let b = a + chrono::Duration::milliseconds(1);
        assert!(ts(&a) < ts(&b));
        assert!(parse_ts("yesterday").is_err());
    }

    #[test]
    fn page_limits_are_checked() {
        let spec = |limit| PageSpec::new(&PageRequest { limit, after: None });
        assert_eq!(spec(None).unwrap().limit, 50);
        assert!(spec(Some(500)).is_ok());
        assert!(matches!(spec(Some(0)), Err(GovError::Invalid(_))));
        assert!(matches!(spec(Some(501)), Err(GovError::Invalid(_))));
        let page = spec(Some(2)).unwrap().finish(vec![
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 3),
        ]);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next.as_deref(), Some("b"));
    }
}
