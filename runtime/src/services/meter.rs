//! Rate limits and daily quotas of service calls, per operator and per service.
//!
//! Rates are token buckets in the server's memory (a burst of one second's worth). Daily counts
//! start from the database's count of the day's calls the first time a key is seen on a day
//! (so a restart does not reset a quota) and are then kept in memory; a call reserves its unit
//! before it runs, so concurrent calls never exceed a quota.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::NaiveDate;

/// Limits the bureau sets for every operator, beside each service's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLimits {
    /// Calls per second one operator may make over all its services (default 200).
    pub operator_rate_per_second: u32,
    /// Calls per day one operator may make over all its services (default 1,000,000).
    pub operator_daily_quota: u64,
    /// Memory one scenario's subject index may take while it is built, in MiB (default
    /// 4,096): its granted rows are kept in memory, grouped by subject, for as long as the
    /// service is in force.
    pub index_memory_mib: u32,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            operator_rate_per_second: 200,
            operator_daily_quota: 1_000_000,
            index_memory_mib: 4_096,
        }
    }
}

/// Which limit refused a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverLimit {
    /// The rule: `rate_limited` or `daily_quota`.
    pub(crate) rule: &'static str,
    /// What was exceeded, in words.
    pub(crate) message: String,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The meters of one server.
#[derive(Default)]
pub(crate) struct Meter {
    buckets: Mutex<HashMap<String, Bucket>>,
    days: Mutex<HashMap<String, (NaiveDate, u64)>>,
}

impl Meter {
    /// Takes one token from `key`'s bucket of `rate` per second.
    pub(crate) fn take(&self, key: &str, rate: u32, what: &str) -> Result<(), OverLimit> {
        let now = Instant::now();
        let rate = f64::from(rate.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(rate);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(OverLimit {
                rule: "rate_limited",
                message: format!(
                    "{what} takes at most {rate} calls per second; try again in a moment"
                ),
            });
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// Reserves one call of `key`'s `quota` for `day` (`NaiveDate::MIN`: for the key's whole
    /// life); `recorded` counts the calls already in the database (asked only when the key is
    /// first seen that day).
    pub(crate) fn reserve(
        &self,
        key: &str,
        day: NaiveDate,
        quota: u64,
        what: &str,
        recorded: &dyn Fn() -> u64,
    ) -> Result<(), OverLimit> {
        let mut days = self.days.lock().unwrap_or_else(|p| p.into_inner());
        let entry = days.entry(key.to_string()).or_insert((day, u64::MAX));
        if entry.0 != day || entry.1 == u64::MAX {
            *entry = (day, recorded());
        }
        if entry.1 >= quota {
            return Err(if day == NaiveDate::MIN {
                OverLimit {
                    rule: "consent_calls_used",
                    message: format!("{what} allows at most {quota} calls and has had them all"),
                }
            } else {
                OverLimit {
                    rule: "daily_quota",
                    message: format!(
                        "{what} takes at most {quota} calls a day and has used them all on {day}"
                    ),
                }
            });
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back a unit `reserve` took from `key` (a later quota refused the call).
    pub(crate) fn give_back(&self, key: &str) {
        let mut days = self.days.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = days.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_of_its_rate_then_refuses() {
        let meter = Meter::default();
        for _ in 0..5 {
            meter
                .take("op", 5, "operator op")
                .expect("within the burst");
        }
        let over = meter.take("op", 5, "operator op").expect_err("sixth");
        assert_eq!(over.rule, "rate_limited");
        // Another key has its own bucket.
        meter
            .take("other", 5, "operator other")
            .expect("own bucket");
    }

    #[test]
    fn a_quota_counts_recorded_calls_and_resets_each_day() {
        let meter = Meter::default();
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
        meter
            .reserve("svc", day, 3, "service svc", &|| 2)
            .expect("third");
        let over = meter
            .reserve("svc", day, 3, "service svc", &|| 0)
            .expect_err("fourth");
        assert_eq!(over.rule, "daily_quota");
        meter.give_back("svc");
        meter
            .reserve("svc", day, 3, "service svc", &|| 0)
            .expect("given back");
        let next = day.succ_opt().expect("date");
        meter
            .reserve("svc", next, 3, "service svc", &|| 0)
            .expect("a new day");
        // A lifetime quota (a consent's) never resets and says so.
        meter
            .reserve("cs", NaiveDate::MIN, 1, "consent cs", &|| 0)
            .expect("first");
        let over = meter
            .reserve("cs", NaiveDate::MIN, 1, "consent cs", &|| 0)
            .expect_err("second");
        assert_eq!(over.rule, "consent_calls_used");
    }
}
