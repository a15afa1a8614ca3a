//! Dates and times on the command line, in the domain's time zone (`--time-zone`, default
//! Asia/Shanghai).
//!
//! A full RFC 3339 time (`2026-01-01T08:00:00+08:00`) is taken as it is. A bare date
//! `YYYY-MM-DD` means a whole day in the domain's zone: as the start of something (`--from`) it
//! is that day's first instant, as the end of something (`--until`) its last millisecond
//! (23:59:59.999+08:00 in Jinan), so a term "until 2026-12-31" includes the whole local 31st.
//! Times are shown in the domain's zone with their offset.

use std::sync::OnceLock;

use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, Utc};
use shuyu::time_zone::DomainZone;

/// The zone of this command, set once from `--time-zone` before any command runs.
static ZONE: OnceLock<DomainZone> = OnceLock::new();

/// Sets the zone dates are read and shown in (once; later calls are ignored).
pub(crate) fn set_zone(zone: DomainZone) {
    let _ = ZONE.set(zone);
}

/// The zone dates are read and shown in.
pub(crate) fn zone() -> DomainZone {
    ZONE.get().copied().unwrap_or_default()
}

/// Which end of a bare date is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayEdge {
    /// The day's first instant in the domain's zone.
    Start,
    /// The day's last millisecond in the domain's zone.
    End,
}

/// Parses `--from` / `--until` style values; `option` names the option in the error.
pub(crate) fn parse_time(option: &str, text: &str, edge: DayEdge) -> anyhow::Result<DateTime<Utc>> {
    parse_time_in(zone(), option, text, edge)
}

fn parse_time_in(
    zone: DomainZone,
    option: &str,
    text: &str,
    edge: DayEdge,
) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(match edge {
            DayEdge::Start => zone.start_of_day(date),
            DayEdge::End => zone.end_of_day(date),
        });
    }
    Err(anyhow!(
        "{option} '{text}' is not a date (YYYY-MM-DD, a whole day in {zone}) or an RFC 3339 \
         time (e.g. 2026-01-01T00:00:00+08:00)"
    ))
}

/// A search bound as the server takes it: a bare date becomes the start of that day in the
/// domain's zone (RFC 3339 with its offset); anything else is passed on for the server to judge.
pub(crate) fn local_bound(text: &str) -> String {
    match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(date) => zone().rfc3339(&zone().start_of_day(date)),
        Err(_) => text.to_string(),
    }
}

/// A time for people: in the domain's zone with its offset, to the second
/// (`2026-12-17 23:59:59+08:00`).
pub(crate) fn show(time: &DateTime<Utc>) -> String {
    zone().show(time)
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

    fn shanghai() -> DomainZone {
        DomainZone::default()
    }

    #[test]
    fn bare_dates_cover_the_whole_local_day() {
        let start = parse_time_in(shanghai(), "--from", "2026-01-01", DayEdge::Start).unwrap();
        assert_eq!(start.to_rfc3339(), "2025-12-31T16:00:00+00:00");
        let end = parse_time_in(shanghai(), "--until", "2026-12-17", DayEdge::End).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-12-17T15:59:59.999+00:00");
        assert_eq!(shanghai().show(&end), "2026-12-17 23:59:59+08:00");
        let utc: DomainZone = "UTC".parse().unwrap();
        let end = parse_time_in(utc, "--until", "2026-12-31", DayEdge::End).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-12-31T23:59:59.999+00:00");
    }

    #[test]
    fn search_bounds_start_the_local_day() {
        set_zone(shanghai());
        assert_eq!(local_bound("2026-12-18"), "2026-12-18T00:00:00.000+08:00");
        assert_eq!(local_bound("2026-12-18T01:00:00Z"), "2026-12-18T01:00:00Z");
        assert_eq!(local_bound("yesterday"), "yesterday");
    }

    #[test]
    fn rfc3339_is_taken_as_is() {
        let time = parse_time_in(
            shanghai(),
            "--from",
            "2026-01-01T08:00:00+08:00",
            DayEdge::End,
        )
        .unwrap();
        assert_eq!(time.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        let time = parse_time_in(
            shanghai(),
            "--until",
            "2026-03-01T12:30:00Z",
            DayEdge::Start,
        )
        .unwrap();
        assert_eq!(shanghai().show(&time), "2026-03-01 20:30:00+08:00");
    }

    #[test]
    fn bad_dates_name_the_option() {
        for bad in ["2026-13-01", "01/02/2026", "tomorrow", "", "2026-02-30"] {
            let error = parse_time_in(shanghai(), "--until", bad, DayEdge::End)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("--until"), "{error}");
            assert!(error.contains("Asia/Shanghai"), "{error}");
        }
    }
}
