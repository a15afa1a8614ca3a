//! The enterprises of the synthetic city. Enterprise `i` is a pure function of the seed and `i`,
//! so the registry, the tax and social-insurance tables and the residents' employers all see the
//! same enterprise without any of them holding the whole population in memory.

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::Rng;

use super::dates::{ymd, ACTIVITY_YEAR};
use super::dist::{log_normal, normal, Weighted};
use super::geo::{District, DISTRICTS};
use super::sectors::{Sector, SECTORS};
use super::seed;
use shuyu_datasets::ids::{self, IdError, USCI_ALPHABET};

/// First founding year in the registry.
const FIRST_YEAR: i32 = 1990;

/// Codes issued from 2016 carry a new-style organization code starting with "MA".
const NEW_CODE_YEAR: i32 = 2016;

/// Multiplier and offset of the permutation that spreads enterprise indices over numeric
/// organization codes; the multiplier is coprime to 10^8, so the map is one-to-one below 10^8.
const NUMERIC_MUL: u64 = 73_939_133;
const NUMERIC_ADD: u64 = 10_485_761;
const NUMERIC_SPACE: u64 = 100_000_000;

/// The same for "MA" codes: six characters of the 31-letter alphabet (31^6 codes), multiplier
/// coprime to 31.
const NEW_MUL: u64 = 387_420_489;
const NEW_ADD: u64 = 21_474_836;
const NEW_SPACE: u64 = 887_503_681;

/// The most enterprises the code space above can number without two sharing a code.
pub(super) const MAX_FIRMS: u64 = NUMERIC_SPACE;

/// Registration status, as in the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// 存续: operating.
    Active,
    /// 注销: deregistered by the owners.
    Deregistered,
    /// 吊销: licence revoked.
    Revoked,
}

impl Status {
    /// The value written to the registry.
    pub(super) fn label(self) -> &'static str {
        match self {
            Status::Active => "存续",
            Status::Deregistered => "注销",
            Status::Revoked => "吊销",
        }
    }
}

/// One enterprise as the whole city sees it; some fields drive other tables and never appear in
/// the registry (closing date, employees, revenue).
#[derive(Debug, Clone)]
pub(super) struct Firm {
    pub usci: String,
    pub district: &'static District,
    pub sector: &'static Sector,
    pub founded: NaiveDate,
    pub status: Status,
    /// When a deregistered or revoked enterprise stopped operating.
    pub closed: Option<NaiveDate>,
    /// Registered capital, 万元.
    pub capital: f64,
    /// Employees covered by social insurance (0 for many sole-owner shells).
    pub employees: u32,
    /// Typical monthly revenue, yuan.
    pub revenue: f64,
}

impl Firm {
    /// Whether the enterprise operated during `month` (1..=12) of the activity year.
    pub(super) fn active_in(&self, month: u32) -> bool {
        let start = (self.founded.year(), self.founded.month());
        let started = start <= (ACTIVITY_YEAR, month);
        let ended = self
            .closed
            .is_some_and(|c| (c.year(), c.month()) < (ACTIVITY_YEAR, month));
        started && !ended
    }
}

/// Draws enterprise `i` on demand.
#[derive(Debug)]
pub(super) struct FirmModel {
    seed: u64,
    count: u64,
    districts: Weighted,
    /// Per district, the sector mix adjusted to its settlement kind.
    sectors: Vec<Weighted>,
    years: Weighted,
}

impl FirmModel {
    /// The model of `count` enterprises under the user's seed.
    pub(super) fn new(seed: u64, count: u64) -> Self {
        FirmModel {
            seed: seed::sub_seed(seed, "firms"),
            count,
            districts: Weighted::new(DISTRICTS.iter().map(|d| d.firms)),
            sectors: DISTRICTS
                .iter()
                .map(|d| Weighted::new(SECTORS.iter().map(|s| s.weight_in(d.settlement))))
                .collect(),
            // Registrations grew about 11 % a year.
            years: Weighted::new(
                (FIRST_YEAR..=ACTIVITY_YEAR).map(|y| 1.11f64.powi(y - FIRST_YEAR)),
            ),
        }
    }

    /// How many enterprises the city has.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// Enterprise `index` (< `count`).
    pub(super) fn firm(&self, index: u64) -> Result<Firm, IdError> {
        let mut rng = seed::item(self.seed, index);
        let d = self.districts.sample(&mut rng);
        let district = &DISTRICTS[d];
        let sector = &SECTORS[self.sectors[d].sample(&mut rng)];

        let year = FIRST_YEAR + self.years.sample(&mut rng) as i32;
        let founded = ymd(year, 1, 1) + Duration::days(rng.random_range(0..365));
        let (status, closed) = status(&mut rng, founded);

        let capital = capital(&mut rng, sector);
        let employees = employees(&mut rng, capital);
        let revenue =
            f64::from(employees.max(1)) * log_normal(&mut rng, sector.revenue_per_head, 0.6);

        let body = org_body(index, year >= NEW_CODE_YEAR);
        let usci = ids::make_usci(district.code, &body)?;
        Ok(Firm {
            usci,
            district,
            sector,
            founded,
            status,
            closed,
            capital,
            employees,
            revenue,
        })
    }
}

/// Older enterprises are more likely to have closed; the closing date falls after the founding.
fn status(rng: &mut StdRng, founded: NaiveDate) -> (Status, Option<NaiveDate>) {
    let end = ymd(ACTIVITY_YEAR, 12, 31);
    let age_years = (end - founded).num_days() as f64 / 365.25;
    let deregister = (0.02 + 0.012 * age_years).min(0.35);
    let revoke = (0.004 + 0.0015 * age_years).min(0.06);
    let u: f64 = rng.random();
    let status = if u < revoke {
        Status::Revoked
    } else if u < revoke + deregister {
        Status::Deregistered
    } else {
        Status::Active
    };
    let open_from = founded + Duration::days(180);
    let closed = (status != Status::Active).then(|| {
        let span = (end - open_from).num_days().max(1);
        (open_from + Duration::days(rng.random_range(0..span))).min(end)
    });
    (status, closed)
}

/// Registered capital in 万元: log-normal around the sector's median, often a round figure, as
/// founders choose them.
fn capital(rng: &mut StdRng, sector: &Sector) -> f64 {
    let raw = log_normal(rng, sector.capital_median, 1.3).clamp(1.0, 1_000_000.0);
    if rng.random_bool(0.7) {
        round_figure(raw)
    } else {
        (raw * 100.0).round() / 100.0
    }
}

/// The nearest of 1, 2, 3, 5 times a power of ten.
fn round_figure(x: f64) -> f64 {
    let magnitude = 10f64.powi(x.log10().floor() as i32);
    [1.0, 2.0, 3.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .min_by(|a, b| (a.ln() - x.ln()).abs().total_cmp(&(b.ln() - x.ln()).abs()))
        .unwrap_or(x)
}

/// Insured employees: none for about one in eight enterprises, otherwise growing with capital,
/// mostly 1–20, and a few large employers with thousands.
fn employees(rng: &mut StdRng, capital: f64) -> u32 {
    let shell = rng.random_bool(0.12);
    let z = normal(rng);
    let large = rng.random_bool(0.01);
    if shell {
        return 0;
    }
    let mut n = (0.4 * capital.ln() + 0.5 + 0.95 * z).exp();
    if large {
        n *= log_normal(rng, 40.0, 0.8);
    }
    n.round().clamp(1.0, 20_000.0) as u32
}

/// An 8-character organization-code body unique to `index`: eight digits for older
/// registrations, "MA" and six alphabet characters for new ones. Both maps are one-to-one and the
/// two ranges cannot overlap (digits only vs. letters), so codes never repeat.
fn org_body(index: u64, new_style: bool) -> String {
    if new_style {
        let mut n = (index.wrapping_mul(NEW_MUL).wrapping_add(NEW_ADD)) % NEW_SPACE;
        let mut tail = [b'0'; 6];
        for slot in tail.iter_mut().rev() {
            *slot = USCI_ALPHABET[(n % 31) as usize];
            n /= 31;
        }
        let mut body = String::from("MA");
        body.extend(tail.iter().map(|&b| char::from(b)));
        body
    } else {
        let n = (index.wrapping_mul(NUMERIC_MUL).wrapping_add(NUMERIC_ADD)) % NUMERIC_SPACE;
        format!("{n:08}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn firms_are_reproducible_valid_and_unique() {
        let model = FirmModel::new(42, 5000);
        let mut codes = BTreeSet::new();
        for i in 0..model.count() {
            let f = model.firm(i).unwrap();
            assert!(ids::usci_is_valid(&f.usci), "{}", f.usci);
            assert_eq!(&f.usci[2..8], f.district.code);
            assert!(codes.insert(f.usci.clone()), "duplicate {}", f.usci);
            assert!((1.0..=1_000_000.0).contains(&f.capital));
            if let Some(c) = f.closed {
                assert!(c > f.founded && f.status != Status::Active);
            }
        }
        assert_eq!(model.firm(17).unwrap().usci, model.firm(17).unwrap().usci);
    }

    #[test]
    fn org_bodies_do_not_repeat() {
        let mut seen = BTreeSet::new();
        for i in 0..200_000 {
            assert!(seen.insert(org_body(i, i % 3 == 0)));
        }
        assert!(org_body(5, true).starts_with("MA"));
    }

    #[test]
    fn round_figures() {
        assert_eq!(round_figure(96.0), 100.0);
        assert_eq!(round_figure(2.4), 2.0);
        assert_eq!(round_figure(4.2), 5.0);
    }

    #[test]
    fn activity_months() {
        let model = FirmModel::new(1, 1);
        let mut f = model.firm(0).unwrap();
        f.founded = ymd(2025, 3, 15);
        f.closed = Some(ymd(2025, 9, 2));
        assert!(!f.active_in(2));
        assert!(f.active_in(3));
        assert!(f.active_in(9));
        assert!(!f.active_in(10));
    }
}
