//! How values are written to and read from columns, the same way for every table: times as
//! RFC 3339 text, enums as their wire names, JSON columns, and sequential ids.
//!
//! Reading a value that does not parse means the database was altered behind shuyu's back:
//! [`StoreError::Corrupt`], an internal error, never the caller's fault.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// A time as stored: UTC, milliseconds, `Z`, so that text order is time order.
pub fn ts(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a stored time.
pub(crate) fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("stored time '{text}' is not RFC 3339: {e}")))
}

/// Parses an optional stored time.
pub(crate) fn parse_opt_ts(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_ts).transpose()
}

/// An enum's wire name (its serde name), as stored.
pub fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // Only unit enums are passed here; anything else would be a programming error, and the
        // JSON text still round-trips through `parse_enum`.
        Ok(other) => other.to_string(),
        Err(e) => format!("unserializable: {e}"),
    }
}

/// Parses an enum stored by [`enum_text`].
pub(crate) fn parse_enum<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| StoreError::Corrupt(format!("stored value '{text}' is not recognised: {e}")))
}

/// A JSON column's text.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::Encode)
}

/// Parses a JSON column.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored JSON cannot be read: {e}")))
}

/// The next id of a table whose ids are `<prefix>-<number>`: rows are never deleted, so the row
/// count plus one is unused. Called inside the write transaction that inserts the row, whose
/// lock keeps two writers from taking the same number. Six digits keep text order equal to
/// creation order up to a million rows (pagination stays complete beyond that).
///
/// `table` is always a constant of the caller, never input.
pub fn next_id(conn: &Connection, table: &str, prefix: &str) -> Result<String, StoreError> {
    let count: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
        row.get(0)
    })?;
    Ok(format!("{prefix}-{:06}", count + 1))
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
        assert!(matches!(parse_ts("yesterday"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn enums_and_json_round_trip_and_bad_values_are_corrupt() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Colour {
            Red,
        }
        assert_eq!(enum_text(&Colour::Red), "red");
        assert_eq!(parse_enum::<Colour>("red").unwrap(), Colour::Red);
        assert!(matches!(
            parse_enum::<Colour>("blue"),
            Err(StoreError::Corrupt(_))
        ));
        let text = to_json(&vec![1, 2]).unwrap();
        assert_eq!(from_json::<Vec<i32>>(&text).unwrap(), vec![1, 2]);
        assert!(matches!(
            from_json::<Vec<i32>>("[1,"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
