//! Calendar helpers for Arrow's `Date32` (days since 1970-01-01) and the year the activity
//! tables cover.

use chrono::NaiveDate;

/// The year covered by tax, social-insurance and clinic records.
pub(super) const ACTIVITY_YEAR: i32 = 2025;

/// The reference day for residents' ages.
pub(super) fn age_reference() -> NaiveDate {
    ymd(2026, 1, 1)
}

/// A date known to exist; falls back to the Unix epoch rather than panicking if a caller ever
/// passes an impossible one.
pub(super) fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
}

/// Arrow `Date32` value of a date.
pub(super) fn date32(date: NaiveDate) -> i32 {
    // Dates handled here lie within a few centuries of 1970, far inside i32.
    (date - NaiveDate::default()).num_days() as i32
}

/// The first day of `month` (1..=12) of the activity year.
pub(super) fn activity_month(month: u32) -> NaiveDate {
    ymd(ACTIVITY_YEAR, month, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date32_counts_from_the_epoch() {
        assert_eq!(NaiveDate::default(), ymd(1970, 1, 1));
        assert_eq!(date32(ymd(1970, 1, 2)), 1);
        assert_eq!(date32(ymd(1969, 12, 31)), -1);
        assert_eq!(date32(ymd(2025, 1, 1)), 20089);
    }
}
