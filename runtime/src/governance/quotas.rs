//! Quotas: what one operator can make the domain hold or do, each bounded, with defaults a
//! bureau changes with `shuyu admin quotas` (setting `quotas`, JSON of [`QuotaSettings`]).
//!
//! - `queued_jobs_per_operator`: jobs queued or running at once (429 until one ends);
//! - `jobs_per_scenario_per_day`: jobs recorded per scenario per day of the domain, a calendar
//!   day at `day_utc_offset_minutes` from UTC (UTC+8 by default; 429 until the next day);
//! - `module_bytes`: the size of one module (409: that module will never be accepted);
//! - `modules_per_operator`: distinct modules uploaded in all (409).
//!
//! Each is checked inside the write transaction that would exceed it, so two requests at once
//! cannot both slip under the limit.

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Offset, Utc};
use serde_json::json;

use super::access::ADMIN;
use super::identities::{get_setting, put_setting};
use super::model::QuotaSettings;
use super::{GovError, Governance};
use crate::store::codec::{from_json, to_json, ts};
use crate::store::governance::quotas as db;
use crate::store::Connection;

/// The most `module_bytes` may be set to: the upload route's body limit, which refuses larger
/// bodies before they are read.
pub const MAX_MODULE_BYTES: u64 = 64 << 20;
/// Settings key of the quotas.
const QUOTAS_KEY: &str = "quotas";
/// Largest count quota accepted: far beyond any sensible limit, small enough for any counter.
const MAX_COUNT: u32 = 1_000_000;
/// Offsets of real time zones lie within ±14 hours.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// Reads the quotas (the defaults when none were set).
pub(crate) fn load_quotas(conn: &Connection) -> Result<QuotaSettings, GovError> {
    match get_setting(conn, QUOTAS_KEY)? {
        Some(text) => Ok(from_json(&text)?),
        None => Ok(QuotaSettings::default()),
    }
}

/// The domain day containing `now` under `quotas`, as `[start, end)` in UTC.
pub(crate) fn domain_day(
    quotas: &QuotaSettings,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let offset =
        FixedOffset::east_opt(quotas.day_utc_offset_minutes * 60).unwrap_or_else(|| Utc.fix());
    let local = now.with_timezone(&offset);
    let start = local
        .date_naive()
        .and_time(NaiveTime::MIN)
        .and_local_timezone(offset)
        .single()
        .map(|t| t.with_timezone(&Utc))
        // A fixed offset has no gaps or folds; keep `now` as a start if chrono ever disagrees.
        .unwrap_or(now);
    (start, start + Duration::days(1))
}

/// Refuses a new job of `operator` under `scenario_id` if it would exceed a job quota.
pub(crate) fn check_job_quotas(
    conn: &Connection,
    operator: &str,
    scenario_id: &str,
    now: DateTime<Utc>,
) -> Result<(), GovError> {
    let quotas = load_quotas(conn)?;
    let live = db::live_jobs_of_operator(conn, operator)?;
    if live >= u64::from(quotas.queued_jobs_per_operator) {
        return Err(GovError::Quota(format!(
            "quota queued_jobs_per_operator: you have {live} job(s) queued or running and the \
             domain allows {} at once; submit again when one has ended",
            quotas.queued_jobs_per_operator
        )));
    }
    let (start, end) = domain_day(&quotas, now);
    let today = db::jobs_of_scenario_between(conn, scenario_id, &start, &end)?;
    if today >= u64::from(quotas.jobs_per_scenario_per_day) {
        return Err(GovError::Quota(format!(
            "quota jobs_per_scenario_per_day: scenario '{scenario_id}' has {today} job(s) \
             today and the domain allows {} per day; the next day starts at {}",
            quotas.jobs_per_scenario_per_day,
            ts(&end)
        )));
    }
    Ok(())
}

/// Refuses a module of `size` bytes (by size alone; before anything is written).
pub(crate) fn check_module_size(quotas: &QuotaSettings, size: usize) -> Result<(), GovError> {
    if u64::try_from(size).unwrap_or(u64::MAX) > quotas.module_bytes {
        return Err(GovError::Conflict(format!(
            "quota module_bytes: the module is {size} bytes and the domain accepts modules of \
             at most {} bytes",
            quotas.module_bytes
        )));
    }
    Ok(())
}

/// Refuses a new (not yet uploaded) module of `operator` over its module count.
pub(crate) fn check_module_count(
    conn: &Connection,
    quotas: &QuotaSettings,
    operator: &str,
) -> Result<(), GovError> {
    let count = db::modules_of_operator(conn, operator)?;
    if count >= u64::from(quotas.modules_per_operator) {
        return Err(GovError::Conflict(format!(
            "quota modules_per_operator: you have uploaded {count} module(s) and the domain \
             allows {} per operator; the bureau can raise it",
            quotas.modules_per_operator
        )));
    }
    Ok(())
}

impl Governance {
    /// Reads the quotas.
    ///
    /// # Errors
    ///
    /// [`GovError::Internal`] for the database.
    pub fn quotas(&self) -> Result<QuotaSettings, GovError> {
        self.store.read_with(load_quotas)
    }

    /// Replaces the quotas (local administration, audited).
    ///
    /// # Errors
    ///
    /// [`GovError::Invalid`] naming a value out of range; [`GovError::Internal`] for the
    /// database.
    pub fn admin_set_quotas(&self, quotas: QuotaSettings) -> Result<(), GovError> {
        for (name, value) in [
            ("queued_jobs_per_operator", quotas.queued_jobs_per_operator),
            (
                "jobs_per_scenario_per_day",
                quotas.jobs_per_scenario_per_day,
            ),
            ("modules_per_operator", quotas.modules_per_operator),
        ] {
            if !(1..=MAX_COUNT).contains(&value) {
                return Err(GovError::Invalid(format!(
                    "{name} must be between 1 and {MAX_COUNT}, not {value}"
                )));
            }
        }
        let max_bytes = MAX_MODULE_BYTES;
        if !(1..=max_bytes).contains(&quotas.module_bytes) {
            return Err(GovError::Invalid(format!(
                "module_bytes must be between 1 and {max_bytes} (the upload route's body \
                 limit), not {}",
                quotas.module_bytes
            )));
        }
        if quotas.day_utc_offset_minutes.abs() > MAX_OFFSET_MINUTES {
            return Err(GovError::Invalid(format!(
                "day_utc_offset_minutes must be between -{MAX_OFFSET_MINUTES} and \
                 {MAX_OFFSET_MINUTES}, not {}",
                quotas.day_utc_offset_minutes
            )));
        }
        let text = to_json(&quotas)?;
        self.store.write_with(|tx| {
            put_setting(tx, QUOTAS_KEY, &text)?;
            self.record(
                tx,
                ADMIN,
                "gov.quotas.set",
                QUOTAS_KEY,
                None,
                serde_json::to_value(&quotas).unwrap_or_else(|_| json!({})),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_day_is_a_calendar_day_at_its_offset() {
        let quotas = QuotaSettings::default();
        // 2026-03-01 23:30 UTC is 07:30 on 2 March in UTC+8: that day runs 1 March 16:00 UTC
        // to 2 March 16:00 UTC.
        let now = DateTime::parse_from_rfc3339("2026-03-01T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = domain_day(&quotas, now);
        assert_eq!(ts(&start), "2026-03-01T16:00:00.000Z");
        assert_eq!(ts(&end), "2026-03-02T16:00:00.000Z");
        let utc = QuotaSettings {
            day_utc_offset_minutes: 0,
            ..QuotaSettings::default()
        };
        let (start, _) = domain_day(&utc, now);
        assert_eq!(ts(&start), "2026-03-01T00:00:00.000Z");
    }
}
