//! Dates and times on the command line.
//!
//! A full RFC 3339 time (`2026-01-01T08:00:00+08:00`) is taken as it is. A bare date
//! `YYYY-MM-DD` means a whole day in UTC: as the start of something (`--from`) it is that day's
//! 00:00:00.000Z, as the end of something (`--until`) that day's 23:59:59.999Z, so a term
//! "until 2026-12-31" includes the 31st.

use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// Which end of a bare date is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayEdge {
    /// 00:00:00.000 UTC.
    Start,
    /// 23:59:59.999 UTC.
    End,
}

/// Parses `--from` / `--until` style values; `option` names the option in the error.
pub(crate) fn parse_time(option: &str, text: &str, edge: DayEdge) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = match edge {
            DayEdge::Start => NaiveTime::MIN,
            DayEdge::End => {
                NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or(NaiveTime::MIN)
            }
        };
        return Ok(date.and_time(time).and_utc());
    }
    Err(anyhow!(
        "{option} '{text}' is not a date (YYYY-MM-DD, a whole day in UTC) or an RFC 3339 time \
         (e.g. 2026-01-01T00:00:00+08:00)"
    ))
}

/// A time for people: RFC 3339 in UTC to the second.
pub(crate) fn show(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The `changed` line of an object whose status was changed: who, when, why.
pub(crate) fn changed_line(
    change: Option<&shuyu::governance::model::StatusChange>,
) -> Option<String> {
    let change = change?;
    let mut line = format!("by {} at {}", change.by, show(&change.at));
    if let Some(reason) = &change.reason {
        line.push_str(": ");
        line.push_str(reason);
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_dates_cover_the_whole_day() {
        let start = parse_time("--from", "2026-01-01", DayEdge::Start).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        let end = parse_time("--until", "2026-12-31", DayEdge::End).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-12-31T23:59:59.999+00:00");
    }

    #[test]
    fn rfc3339_is_taken_as_is() {
        let time = parse_time("--from", "2026-01-01T08:00:00+08:00", DayEdge::End).unwrap();
        assert_eq!(time.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        let time = parse_time("--until", "2026-03-01T12:30:00Z", DayEdge::Start).unwrap();
        assert_eq!(show(&time), "2026-03-01 12:30:00Z");
    }

    #[test]
    fn bad_dates_name_the_option() {
        for bad in ["2026-13-01", "01/02/2026", "tomorrow", "", "2026-02-30"] {
            let error = parse_time("--until", bad, DayEdge::End)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("--until"), "{error}");
        }
    }
}
