//! The domain's time zone: where a day begins and ends for deadlines, terms and displayed times.
//!
//! A data bureau works in local days: "due 2026-12-17" means the end of the 17th in Jinan
//! (2026-12-17T23:59:59.999+08:00), not in UTC, eight hours later. Stored times stay UTC; only
//! the edges of days and what people read are local. The zone is a name of the tz database
//! (`Asia/Shanghai` by default; `shuyu --time-zone` or `SHUYU_TIME_ZONE` change it), so that
//! a zone with daylight saving time gets its days right too.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone a domain uses unless told otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// A tz database zone in which the domain's days are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainZone(Tz);

/// A zone name the tz database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a time zone of the tz database (e.g. Asia/Shanghai, UTC)")]
pub struct UnknownZone(pub String);

impl Default for DomainZone {
    fn default() -> Self {
        Self(Tz::Asia__Shanghai)
    }
}

impl FromStr for DomainZone {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        name.trim()
            .parse::<Tz>()
            .map(Self)
            .map_err(|_| UnknownZone(name.to_string()))
    }
}

impl fmt::Display for DomainZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl DomainZone {
    /// The zone's name, e.g. `Asia/Shanghai`.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The local date of `time`.
    pub fn date_of(&self, time: &DateTime<Utc>) -> NaiveDate {
        time.with_timezone(&self.0).date_naive()
    }

    /// The first instant of local day `day`. A day whose midnight falls in a daylight-saving
    /// gap starts at the first local time that exists.
    pub fn start_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        let mut local = day.and_time(NaiveTime::MIN);
        // Gaps are at most a few hours; a day always has an hour that exists.
        for _ in 0..24 {
            if let Some(time) = self.0.from_local_datetime(&local).earliest() {
                return time.with_timezone(&Utc);
            }
            local += Duration::minutes(30);
        }
        day.and_time(NaiveTime::MIN).and_utc()
    }

    /// The last millisecond of local day `day` (23:59:59.999 local on an ordinary day): a
    /// deadline or term "until `day`" includes the whole day.
    pub fn end_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        match day.succ_opt() {
            Some(next) => self.start_of_day(next) - Duration::milliseconds(1),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// `time` in this zone with its offset, to the second: `2026-12-17 23:59:59+08:00`.
    pub fn show(&self, time: &DateTime<Utc>) -> String {
        let local = time.with_timezone(&self.0);
        let offset = local.offset().fix();
        format!("{}{offset}", local.format("%Y-%m-%d %H:%M:%S"))
    }

    /// `time` as RFC 3339 in this zone, to the millisecond.
    pub fn rfc3339(&self, time: &DateTime<Utc>) -> String {
        time.with_timezone(&self.0)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_day_in_shanghai_ends_eight_hours_before_it_ends_in_utc() {
        let zone = DomainZone::default();
        assert_eq!(zone.name(), "Asia/Shanghai");
        let end = zone.end_of_day(date("2026-12-17"));
        assert_eq!(
            end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2026-12-17T15:59:59.999Z"
        );
        assert_eq!(zone.rfc3339(&end), "2026-12-17T23:59:59.999+08:00");
        assert_eq!(
            zone.start_of_day(date("2026-12-17")),
            utc("2026-12-16T16:00:00Z")
        );
    }

    #[test]
    fn the_local_date_is_not_the_utc_date_after_local_midnight() {
        let zone = DomainZone::default();
        // 20:00 in Jinan is 12:00Z: the 17th either way.
        let evening = utc("2026-12-17T20:00:00+08:00");
        assert_eq!(evening, utc("2026-12-17T12:00:00Z"));
        assert_eq!(zone.date_of(&evening), date("2026-12-17"));
        // 01:00 on the 18th in Jinan is 17:00Z on the 17th.
        let night = utc("2026-12-18T01:00:00+08:00");
        assert_eq!(night.date_naive(), date("2026-12-17"));
        assert_eq!(zone.date_of(&night), date("2026-12-18"));
    }

    #[test]
    fn times_are_shown_locally_with_their_offset() {
        let zone = DomainZone::default();
        assert_eq!(
            zone.show(&utc("2026-12-17T17:00:00Z")),
            "2026-12-18 01:00:00+08:00"
        );
        let utc_zone: DomainZone = "UTC".parse().unwrap();
        assert_eq!(
            utc_zone.show(&utc("2026-12-17T17:00:00Z")),
            "2026-12-17 17:00:00+00:00"
        );
    }

    #[test]
    fn zones_with_daylight_saving_get_whole_days() {
        let berlin: DomainZone = "Europe/Berlin".parse().unwrap();
        // Summer: UTC+2.
        assert_eq!(
            berlin.end_of_day(date("2026-07-01")),
            utc("2026-07-01T21:59:59.999Z")
        );
        // 2026-03-29 has 23 hours in Berlin.
        let start = berlin.start_of_day(date("2026-03-29"));
        let end = berlin.end_of_day(date("2026-03-29"));
        assert_eq!((end - start).num_milliseconds(), 23 * 3_600_000 - 1);
        // Santiago skips midnight at the start of summer time: the day starts at 01:00.
        let santiago: DomainZone = "America/Santiago".parse().unwrap();
        assert_eq!(
            santiago.start_of_day(date("2026-09-06")),
            utc("2026-09-06T01:00:00-03:00")
        );
    }

    #[test]
    fn unknown_zones_are_refused_by_name() {
        let error = "Asia/Jinan".parse::<DomainZone>().unwrap_err();
        assert!(error.to_string().contains("'Asia/Jinan'"), "{error}");
        assert!("".parse::<DomainZone>().is_err());
    }
}
