//! `sme-prescreen`: a credit pre-screen service for small and medium enterprises.
//!
//! A bank asks about one enterprise that has consented, with the amount it wants to lend; the
//! answer is a band from `A` (no concern) to `E` (decline) and up to three reason codes, never a
//! figure from the enterprise's records. A service-only module: it exports `shuyu_answer`
//! ([`shuyu_sdk::answer!`]) and no `shuyu_main`, and serves every service name it is called
//! under the same way.
//!
//! # What the scenario declares
//!
//! - Grants: `enterprise_registry` (`usci`, `registered_capital`, `founded`, `status`),
//!   `tax_payments` (`usci`, `month`, `amount`), `social_insurance` (`usci`, `month`,
//!   `headcount`). Nothing else is read.
//! - Parameter: `amount`, `int64`, the loan asked for in yuan (positive).
//! - Answer fields: `band`, an enumeration of `A`–`E`, not nullable; `reason_1`, `reason_2`,
//!   `reason_3`, enumerations of [`REASONS`], nullable (null when fewer reasons apply).
//!
//! # Scoring
//!
//! The **reference month** is the latest month in the enterprise's tax and social-insurance rows
//! (the module has no clock); the **window** is the 12 months ending there.
//!
//! | code | applies when | points |
//! | --- | --- | --- |
//! | `R01_YOUNG_ENTERPRISE` | founded less than [`YOUNG_MONTHS`] months before the reference month | 2 |
//! | `R02_LOW_TAX` | `amount` above [`TAX_MULTIPLE`] times the tax paid in the window | 3 |
//! | `R03_TAX_GAPS` | a quarter (3-month span from the reference month back) of the window, wholly after the founding month, without any tax payment | 2 |
//! | `R04_FEW_EMPLOYEES` | fewer than [`FEW_EMPLOYEES`] insured employees in the latest month | 1 |
//! | `R05_HEADCOUNT_FALLING` | the latest head count at most [`FALLING_SHARE`] of the window's first, and at least [`FALLING_MIN`] fewer | 2 |
//! | `R06_NOT_OPERATING` | `status` is not [`OPERATING`] (注销 deregistered, 吊销 revoked) | band `E` |
//! | `R07_SMALL_CAPITAL` | registered capital (万元 × 10,000) below `amount` | 1 |
//! | `R08_NO_SOCIAL_INSURANCE` | no social-insurance row in the window | 2 |
//!
//! Bands by points: 0 `A`, 1–2 `B`, 3–4 `C`, 5–6 `D`, 7 or more `E`; `R06` is `E` whatever the
//! points. The reasons are listed `R06` first, then by points (most first), then by code.
//! Quarters rather than months for `R03`: small-scale VAT payers file once a quarter, and a
//! steady quarterly payer is not a gap.
//!
//! An enterprise without a registry row, or a request without a positive `amount`, gets no
//! answer (the call's outcome is `failed`, `no_answer`).
//!
//! It reads the subject's rows in place ([`Subject::table`]) and links no Arrow code.

use shuyu_sdk::service::{Answer, Subject};
use shuyu_sdk::{Error, Result};

shuyu_sdk::answer!(prescreen);

/// Every reason code the answer can carry, in code order. The scenario's contract must list the
/// same values for `reason_1`, `reason_2` and `reason_3`: a code it lacks makes the answer
/// refused.
pub const REASONS: [&str; 8] = [
    "R01_YOUNG_ENTERPRISE",
    "R02_LOW_TAX",
    "R03_TAX_GAPS",
    "R04_FEW_EMPLOYEES",
    "R05_HEADCOUNT_FALLING",
    "R06_NOT_OPERATING",
    "R07_SMALL_CAPITAL",
    "R08_NO_SOCIAL_INSURANCE",
];

/// Points of each reason of [`REASONS`]; `R06` decides the band alone.
const POINTS: [u32; 8] = [2, 3, 2, 1, 2, 0, 1, 2];
/// The index of `R06_NOT_OPERATING` in [`REASONS`].
const NOT_OPERATING: usize = 5;

/// The registry's `status` of an operating enterprise (存续); the others are 注销 and 吊销.
pub const OPERATING: &str = "存续";
/// An enterprise younger than this many months has no track record through a business cycle.
pub const YOUNG_MONTHS: i64 = 24;
/// Tax-based lending (银税互动) commonly caps a credit line at a multiple of a year's tax.
pub const TAX_MULTIPLE: f64 = 10.0;
/// Fewer insured employees than this is a micro enterprise whose fortunes hang on few people.
pub const FEW_EMPLOYEES: i64 = 3;
/// The share of the window's first head count at or below which the head count is falling.
pub const FALLING_SHARE: f64 = 0.8;
/// The fewest employees lost for a fall to count, so that 3 → 2 is not a 33 % collapse.
pub const FALLING_MIN: i64 = 2;

/// What the scoring reads of one enterprise. Months are counted as `year * 12 + month - 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Whether `status` is [`OPERATING`].
    pub operating: bool,
    /// The month of `founded`.
    pub founded: i64,
    /// Registered capital in yuan.
    pub capital: f64,
    /// (month, amount in yuan) of each tax payment.
    pub tax: Vec<(i64, f64)>,
    /// (month, insured head count) of each social-insurance row.
    pub headcount: Vec<(i64, i64)>,
}

/// The outcome of [`assess`]: the band and the reasons that apply, most important first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// `A` to `E`.
    pub band: &'static str,
    /// Codes of [`REASONS`].
    pub reasons: Vec<&'static str>,
}

fn prescreen(subject: &Subject) -> Result<Answer> {
    let amount = subject.request()?.i64("amount")?;
    if amount <= 0 {
        return Err(Error::guest(10, "the amount asked for is not positive"));
    }
    let assessment = assess(&read_facts(subject)?, amount as f64);
    let mut answer = Answer::new().text("band", assessment.band);
    for (i, field) in ["reason_1", "reason_2", "reason_3"].into_iter().enumerate() {
        answer = match assessment.reasons.get(i) {
            Some(reason) => answer.text(field, *reason),
            None => answer.null_text(field),
        };
    }
    Ok(answer)
}

/// Reads the subject's registry row, tax payments and head counts.
fn read_facts(subject: &Subject) -> Result<Facts> {
    let registry = subject.table("enterprise_registry")?;
    let status = registry.utf8("status")?;
    let founded = registry.date32("founded")?;
    let capital = registry.f64_lossy("registered_capital")?;
    // The first complete row.
    let Some((operating, founded, capital)) = (0..registry.num_rows()).find_map(|i| {
        Some((
            status.get(i)? == OPERATING,
            month_of(founded.get(i)?),
            capital.get(i)? * 10_000.0,
        ))
    }) else {
        return Err(Error::guest(11, "no complete registry row"));
    };
    let taxes = subject.table("tax_payments")?;
    let (month, amount) = (taxes.date32("month")?, taxes.f64_lossy("amount")?);
    let tax = (0..taxes.num_rows())
        .filter_map(|i| Some((month_of(month.get(i)?), amount.get(i)?)))
        .collect();
    let insured = subject.table("social_insurance")?;
    let (month, heads) = (insured.date32("month")?, insured.i64("headcount")?);
    let headcount = (0..insured.num_rows())
        .filter_map(|i| Some((month_of(month.get(i)?), heads.get(i)?)))
        .collect();
    Ok(Facts {
        operating,
        founded,
        capital,
        tax,
        headcount,
    })
}

/// The band and reasons of one enterprise asking for `amount` yuan (see the crate docs).
pub fn assess(facts: &Facts, amount: f64) -> Assessment {
    let reference = facts
        .tax
        .iter()
        .map(|&(m, _)| m)
        .chain(facts.headcount.iter().map(|&(m, _)| m))
        .max();
    let in_window = |m: i64| reference.is_some_and(|r| m <= r && m > r - 12);
    let annual_tax: f64 = facts
        .tax
        .iter()
        .filter(|&&(m, _)| in_window(m))
        .map(|&(_, a)| a)
        .sum();
    let mut heads: Vec<(i64, i64)> = facts
        .headcount
        .iter()
        .copied()
        .filter(|&(m, _)| in_window(m))
        .collect();
    heads.sort_unstable();
    let (first, latest) = (heads.first().map(|h| h.1), heads.last().map(|h| h.1));
    let falling = match (first, latest) {
        (Some(first), Some(latest)) => {
            latest as f64 <= FALLING_SHARE * first as f64 && first - latest >= FALLING_MIN
        }
        _ => false,
    };
    let fired = [
        reference.is_some_and(|r| r - facts.founded < YOUNG_MONTHS),
        amount > TAX_MULTIPLE * annual_tax,
        tax_gap(facts, reference),
        latest.is_some_and(|h| h < FEW_EMPLOYEES),
        falling,
        !facts.operating,
        facts.capital < amount,
        heads.is_empty(),
    ];
    let points: u32 = (0..REASONS.len())
        .filter(|&i| fired[i])
        .map(|i| POINTS[i])
        .sum();
    let band = match points {
        _ if fired[NOT_OPERATING] => "E",
        0 => "A",
        1..=2 => "B",
        3..=4 => "C",
        5..=6 => "D",
        _ => "E",
    };
    let mut order: Vec<usize> = (0..REASONS.len()).filter(|&i| fired[i]).collect();
    // Stable: equal points keep code order.
    order.sort_by_key(|&i| (i != NOT_OPERATING, std::cmp::Reverse(POINTS[i])));
    Assessment {
        band,
        reasons: order.into_iter().map(|i| REASONS[i]).collect(),
    }
}

/// Whether a quarter of the window that lies wholly after the founding month has no payment;
/// with no reference month at all there is no payment to find either.
fn tax_gap(facts: &Facts, reference: Option<i64>) -> bool {
    let Some(reference) = reference else {
        return true;
    };
    (0..4).any(|quarter| {
        let last = reference - 3 * quarter;
        let first = last - 2;
        first >= facts.founded
            && !facts
                .tax
                .iter()
                .any(|&(m, a)| a > 0.0 && (first..=last).contains(&m))
    })
}

/// The month (`year * 12 + month - 1`) of an Arrow `Date32` day (days since 1970-01-01).
pub fn month_of(days: i32) -> i64 {
    // Howard Hinnant's civil_from_days, proleptic Gregorian: eras of 400 years from 0000-03-01.
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    year * 12 + month - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(year: i64, month: i64) -> i64 {
        year * 12 + month - 1
    }

    /// An operating enterprise founded in 2015 with 10 employees all year and monthly taxes of
    /// 10,000 yuan in 2025, registered capital 500 万元.
    fn healthy() -> Facts {
        Facts {
            operating: true,
            founded: month(2015, 6),
            capital: 5_000_000.0,
            tax: (1..=12).map(|m| (month(2025, m), 10_000.0)).collect(),
            headcount: (1..=12).map(|m| (month(2025, m), 10)).collect(),
        }
    }

    #[test]
    fn months_of_date32_days() {
        assert_eq!(month_of(0), month(1970, 1));
        assert_eq!(month_of(-1), month(1969, 12));
        assert_eq!(month_of(20_089), month(2025, 1));
        assert_eq!(month_of(19_782), month(2024, 2));
        assert_eq!(month_of(11_017), month(2000, 3));
        assert_eq!(month_of(19_722), month(2023, 12));
        assert_eq!(month_of(20_423), month(2025, 12));
    }

    #[test]
    fn a_healthy_enterprise_is_band_a() {
        let a = assess(&healthy(), 1_000_000.0);
        assert_eq!((a.band, a.reasons.len()), ("A", 0), "{a:?}");
    }

    #[test]
    fn tax_thresholds() {
        // 120,000 yuan of tax a year carries up to 1,200,000 yuan.
        assert!(assess(&healthy(), 1_200_000.0).reasons.is_empty());
        let a = assess(&healthy(), 1_200_001.0);
        assert_eq!((a.band, a.reasons), ("C", vec!["R02_LOW_TAX"]));
        // A quarterly payer has no gap; one quarter without payment is one.
        let mut quarterly = healthy();
        quarterly.tax = [1, 4, 7, 10]
            .iter()
            .map(|&m| (month(2025, m), 30_000.0))
            .collect();
        assert!(assess(&quarterly, 1_000_000.0).reasons.is_empty());
        quarterly.tax.remove(2);
        let a = assess(&quarterly, 900_000.0);
        assert_eq!((a.band, a.reasons), ("B", vec!["R03_TAX_GAPS"]));
    }

    #[test]
    fn a_young_enterprise_is_judged_on_its_own_quarters() {
        let mut young = healthy();
        young.founded = month(2025, 4);
        young.tax.retain(|&(m, _)| m >= month(2025, 4));
        young.headcount.retain(|&(m, _)| m >= month(2025, 4));
        let a = assess(&young, 100_000.0);
        assert_eq!((a.band, a.reasons), ("B", vec!["R01_YOUNG_ENTERPRISE"]));
        let mut older = healthy();
        older.founded = month(2023, 12);
        assert!(assess(&older, 100_000.0).reasons.is_empty(), "24 months");
    }

    #[test]
    fn employees() {
        let mut few = healthy();
        few.headcount = (1..=12).map(|m| (month(2025, m), 2)).collect();
        let a = assess(&few, 100_000.0);
        assert_eq!((a.band, a.reasons), ("B", vec!["R04_FEW_EMPLOYEES"]));
        let mut falling = healthy();
        falling.headcount = (1..=12).map(|m| (month(2025, m), 21 - m)).collect();
        let a = assess(&falling, 100_000.0);
        assert_eq!((a.band, a.reasons), ("B", vec!["R05_HEADCOUNT_FALLING"]));
        let mut small = healthy();
        small.headcount = vec![(month(2025, 1), 4), (month(2025, 12), 3)];
        assert!(assess(&small, 100_000.0).reasons.is_empty(), "4 → 3 is one");
        let mut none = healthy();
        none.headcount.clear();
        let a = assess(&none, 100_000.0);
        assert_eq!((a.band, a.reasons), ("B", vec!["R08_NO_SOCIAL_INSURANCE"]));
    }

    #[test]
    fn a_closed_enterprise_is_band_e_with_r06_first() {
        let mut closed = healthy();
        closed.operating = false;
        closed.capital = 10_000.0;
        let a = assess(&closed, 2_000_000.0);
        assert_eq!(a.band, "E");
        assert_eq!(
            a.reasons,
            vec!["R06_NOT_OPERATING", "R02_LOW_TAX", "R07_SMALL_CAPITAL"]
        );
    }

    #[test]
    fn an_enterprise_without_any_activity_is_band_e() {
        let mut shell = healthy();
        shell.tax.clear();
        shell.headcount.clear();
        let a = assess(&shell, 50_000.0);
        assert_eq!(a.band, "E");
        assert_eq!(
            a.reasons,
            vec!["R02_LOW_TAX", "R03_TAX_GAPS", "R08_NO_SOCIAL_INSURANCE"]
        );
    }

    #[test]
    fn reason_codes_are_the_declared_list() {
        let mut worst = healthy();
        worst.operating = false;
        worst.founded = month(2025, 1);
        worst.capital = 0.0;
        worst.tax.clear();
        worst.headcount = vec![(month(2025, 1), 10), (month(2025, 12), 1)];
        let a = assess(&worst, 1.0);
        assert_eq!(a.band, "E");
        assert_eq!(a.reasons.len(), 7, "all but R08: {a:?}");
        assert!(a.reasons.iter().all(|r| REASONS.contains(r)));
    }
}
