//! The working-day calendar and review deadlines.
//!
//! A review may take N working days after the day of submission (N = `review_working_days`);
//! the deadline is the end of the Nth working day in the domain's time zone (23:59:59.999
//! local, stored as UTC). Days are the domain's days: an application filed at 01:00 in Jinan
//! was filed on that local date, though it is still the day before in UTC. Saturdays, Sundays
//! and public holidays are not working days; make-up days (调休) are, even on a weekend.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde_json::json;

use super::access::ADMIN;
use super::identities::{get_setting, put_setting};
use super::model::CalendarSettings;
use super::{GovError, Governance};
use crate::store::codec::{from_json, to_json};
use crate::store::Connection;
use crate::time_zone::DomainZone;

/// Settings key of the calendar (JSON of [`CalendarSettings`]).
const CALENDAR_KEY: &str = "calendar";
/// Most working days a review may be given: a year's worth is already far beyond any rule.
const MAX_REVIEW_DAYS: u32 = 366;

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The weekday's English name, as errors show it.
fn weekday_name(day: NaiveDate) -> &'static str {
    match day.weekday() {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Refuses a make-up working day that is not on a weekend and a holiday that is not on a
/// weekday: either would change nothing, so it is a date typed wrong (a make-up Saturday
/// entered as the Friday before, say), and the calendar would silently differ from the
/// official one.
fn check_weekdays(calendar: &CalendarSettings) -> Result<(), GovError> {
    if let Some(day) = calendar
        .extra_working_days
        .iter()
        .find(|d| !is_weekend(**d))
    {
        return Err(GovError::Invalid(format!(
            "make-up working day {day} is a {}; a make-up day (调休) is a Saturday or Sunday \
             that is worked",
            weekday_name(*day)
        )));
    }
    if let Some(day) = calendar.holidays.iter().find(|d| is_weekend(**d)) {
        return Err(GovError::Invalid(format!(
            "holiday {day} is a {}; weekends are never working days, so list only holidays \
             that fall on a weekday (Monday to Friday)",
            weekday_name(*day)
        )));
    }
    Ok(())
}

/// Whether `day` is a working day under `calendar`.
pub(crate) fn is_working_day(calendar: &CalendarSettings, day: NaiveDate) -> bool {
    if calendar.extra_working_days.contains(&day) {
        return true;
    }
    if calendar.holidays.contains(&day) {
        return false;
    }
    !is_weekend(day)
}

/// The review deadline of an application submitted at `submitted`: the end, in `zone`, of the
/// Nth working day after its local date.
pub(crate) fn review_deadline(
    calendar: &CalendarSettings,
    zone: DomainZone,
    submitted: DateTime<Utc>,
) -> DateTime<Utc> {
    let mut day = zone.date_of(&submitted);
    let mut counted = 0;
    // Terminates: holidays are a finite list, so working days keep coming.
    while counted < calendar.review_working_days {
        day = day.succ_opt().unwrap_or(day);
        if is_working_day(calendar, day) {
            counted += 1;
        }
    }
    zone.end_of_day(day)
}

/// Reads the calendar (the default when none was set).
pub(crate) fn load_calendar(conn: &Connection) -> Result<CalendarSettings, GovError> {
    match get_setting(conn, CALENDAR_KEY)? {
        Some(text) => Ok(from_json(&text)?),
        None => Ok(CalendarSettings::default()),
    }
}

impl Governance {
    /// Reads the calendar.
    pub fn calendar(&self) -> Result<CalendarSettings, GovError> {
        self.store.read_with(load_calendar)
    }

    /// Replaces the calendar (working days per review, holidays, make-up days).
    pub fn admin_set_calendar(&self, calendar: CalendarSettings) -> Result<(), GovError> {
        if !(1..=MAX_REVIEW_DAYS).contains(&calendar.review_working_days) {
            return Err(GovError::Invalid(format!(
                "review_working_days must be between 1 and {MAX_REVIEW_DAYS}, not {}",
                calendar.review_working_days
            )));
        }
        if let Some(day) = calendar
            .holidays
            .iter()
            .find(|d| calendar.extra_working_days.contains(d))
        {
            return Err(GovError::Invalid(format!(
                "{day} is listed both as a holiday and as a make-up working day"
            )));
        }
        check_weekdays(&calendar)?;
        let mut calendar = calendar;
        calendar.holidays.sort();
        calendar.holidays.dedup();
        calendar.extra_working_days.sort();
        calendar.extra_working_days.dedup();
        let text = to_json(&calendar)?;
        self.store.write_with(|tx| {
            put_setting(tx, CALENDAR_KEY, &text)?;
            self.record(
                tx,
                ADMIN,
                "gov.calendar.set",
                CALENDAR_KEY,
                None,
                json!({
                    "review_working_days": calendar.review_working_days,
                    "holidays": calendar.holidays.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "extra_working_days": calendar
                        .extra_working_days
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                }),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The local date of the deadline of an application filed at noon in Jinan on `day`.
    fn due(cal: &CalendarSettings, day: &str) -> NaiveDate {
        let zone = DomainZone::default();
        let deadline = review_deadline(cal, zone, at(&format!("{day}T12:00:00+08:00")));
        zone.date_of(&deadline)
    }

    #[test]
    fn deadline_skips_weekends_and_holidays_and_counts_make_up_days() {
        let mut cal = CalendarSettings {
            review_working_days: 3,
            holidays: vec![],
            extra_working_days: vec![],
        };
        // Thursday 2026-01-08: Fri 9, (Sat 10, Sun 11), Mon 12, Tue 13.
        assert_eq!(due(&cal, "2026-01-08"), date("2026-01-13"));
        // Monday 12 a holiday: Fri 9, Tue 13, Wed 14.
        cal.holidays.push(date("2026-01-12"));
        assert_eq!(due(&cal, "2026-01-08"), date("2026-01-14"));
        // Saturday 10 a make-up day: Fri 9, Sat 10, Tue 13.
        cal.extra_working_days.push(date("2026-01-10"));
        assert_eq!(due(&cal, "2026-01-08"), date("2026-01-13"));
        // Submitted on a Saturday: the day itself never counts.
        cal = CalendarSettings {
            review_working_days: 1,
            ..CalendarSettings::default()
        };
        assert_eq!(due(&cal, "2026-01-10"), date("2026-01-12"));
        assert!(is_working_day(&cal, date("2026-01-09")));
        assert!(!is_working_day(&cal, date("2026-01-11")));
    }

    #[test]
    fn make_up_days_fall_on_weekends_and_holidays_on_weekdays() {
        let calendar = |holidays: &[&str], extra: &[&str]| CalendarSettings {
            review_working_days: 10,
            holidays: holidays.iter().map(|d| date(d)).collect(),
            extra_working_days: extra.iter().map(|d| date(d)).collect(),
        };
        // National Day 2026: Thu 1 to Wed 7 October; make-up days Sun 27 September, Sat 10 October.
        let national_day = calendar(
            &[
                "2026-10-01",
                "2026-10-02",
                "2026-10-05",
                "2026-10-06",
                "2026-10-07",
            ],
            &["2026-09-27", "2026-10-10"],
        );
        check_weekdays(&national_day).expect("the official calendar");
        let message = match check_weekdays(&calendar(&[], &["2026-10-09"])) {
            Err(GovError::Invalid(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(
            message.starts_with("make-up working day 2026-10-09 is a Friday"),
            "{message}"
        );
        let message = match check_weekdays(&calendar(&["2026-10-03"], &[])) {
            Err(GovError::Invalid(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(
            message.starts_with("holiday 2026-10-03 is a Saturday"),
            "{message}"
        );
    }

    #[test]
    fn the_deadline_is_the_end_of_the_local_day() {
        let cal = CalendarSettings {
            review_working_days: 1,
            ..CalendarSettings::default()
        };
        let zone = DomainZone::default();
        // Wednesday 2026-12-16, 20:00 in Jinan (12:00Z): due the end of Thursday the 17th in
        // Jinan, which is 15:59:59.999Z, not 23:59:59.999Z.
        let deadline = review_deadline(&cal, zone, at("2026-12-16T20:00:00+08:00"));
        assert_eq!(zone.rfc3339(&deadline), "2026-12-17T23:59:59.999+08:00");
        assert_eq!(deadline, at("2026-12-17T15:59:59.999Z"));
    }

    #[test]
    fn the_submission_day_is_the_local_day() {
        let cal = CalendarSettings {
            review_working_days: 1,
            ..CalendarSettings::default()
        };
        let zone = DomainZone::default();
        // 2026-12-17T20:00+08:00 = 12:00Z: filed on Thursday the 17th, due Friday the 18th.
        let evening = review_deadline(&cal, zone, at("2026-12-17T12:00:00Z"));
        assert_eq!(evening, at("2026-12-18T15:59:59.999Z"));
        // 2026-12-18T01:00+08:00 = 17:00Z on the 17th: filed on Friday the 18th in Jinan, so
        // due Monday the 21st; counted in UTC it would have been Friday the 18th.
        let night = review_deadline(&cal, zone, at("2026-12-17T17:00:00Z"));
        assert_eq!(zone.rfc3339(&night), "2026-12-21T23:59:59.999+08:00");
        let utc: DomainZone = "UTC".parse().unwrap();
        let in_utc = review_deadline(&cal, utc, at("2026-12-17T17:00:00Z"));
        assert_eq!(in_utc, at("2026-12-18T23:59:59.999Z"));
    }
}
