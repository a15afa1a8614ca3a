//! `health-by-age`: resident count, mean income, mean number of clinic visits and mean clinic
//! cost per resident, by age band, under differential privacy.
//!
//! The release `health_by_age` has `privacy`, so it is made per entity: the main run only asks
//! for it, and the host runs [`one_resident`] once per resident (its pseudonymized `citizen_id`
//! is the entity), each time in a fresh instance that sees only that resident's `residents` row
//! and `clinic_visits` rows. Whatever this code did, a resident's contribution could depend on
//! nothing but that resident's data, which is what the noise is calibrated for.

use shuyu_sdk::entity::{self, Contributions, Entity};
use shuyu_sdk::{log, Result};

shuyu_sdk::entry!(run);
shuyu_sdk::contribute!(one_resident);

const RELEASE: &str = "health_by_age";

fn run() -> Result<()> {
    let outcome = entity::release_entities(RELEASE)?;
    log!("{RELEASE}: made per entity, outcome {outcome:?}");
    Ok(())
}

/// The age bands, each from its first age in whole years: the contract's declared domain, in
/// order (`scenario.toml`, `values` of `age_band`).
const BANDS: [(i64, &str); 5] = [
    (0, "0-17"),
    (18, "18-29"),
    (30, "30-44"),
    (45, "45-59"),
    (60, "60+"),
];

/// The band of an age; `None` for an impossible (negative) age.
fn age_band(age: i64) -> Option<&'static str> {
    BANDS
        .iter()
        .rev()
        .find(|(from, _)| age >= *from)
        .map(|(_, band)| *band)
}

/// What one resident's visits add up to: how many, and their total cost.
#[derive(Debug, Default, PartialEq)]
struct Visits {
    count: f64,
    cost: f64,
}

impl Visits {
    /// Adds a visit; a visit whose cost is missing still counts as a visit.
    fn add(&mut self, cost: Option<f64>) {
        self.count += 1.0;
        self.cost += cost.unwrap_or(0.0);
    }
}

/// One resident's contribution: its age band, its income, its number of clinic visits and their
/// total cost (0 and 0 without visits). A resident without a `residents` row (only visits), or
/// whose age or income is missing, contributes nothing: a guess would bias the means.
fn one_resident(entity: &Entity) -> Result<Contributions> {
    let mut out = Contributions::new(&["age_band"], &["income", "visits", "cost"])?;
    // Read in place (`Entity::table`): a resident has one row and a few visits, fewer values
    // than building Arrow arrays for them would touch.
    let residents = entity.table("residents")?;
    let (age, income) = (residents.i64("age")?, residents.f64_lossy("income")?);
    // One row per resident; the first usable one is it.
    let resident = (0..residents.num_rows())
        .find_map(|i| Some((age_band(age.get(i)?)?, income.get(i)?)));
    let Some((band, income)) = resident else {
        return Ok(out);
    };
    let mut visits = Visits::default();
    for cost in entity.table("clinic_visits")?.f64_lossy("cost")?.iter() {
        visits.add(cost);
    }
    out.push(&[band], &[income, visits.count, visits.cost])?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_band_starts_at_its_first_age() {
        assert_eq!(age_band(-1), None);
        for (i, (from, band)) in BANDS.iter().enumerate() {
            assert_eq!(age_band(*from), Some(*band), "age {from}");
            let before = i.checked_sub(1).map(|j| BANDS[j].1);
            assert_eq!(age_band(from - 1), before, "age {}", from - 1);
        }
        assert_eq!(age_band(120), Some("60+"));
    }

    #[test]
    fn bands_are_the_declared_domain() {
        let names: Vec<String> = BANDS.iter().map(|(_, b)| format!("\"{b}\"")).collect();
        let values = format!("values = [{}]", names.join(", "));
        assert!(
            include_str!("../scenario.toml").contains(&values),
            "scenario.toml does not declare {values}"
        );
    }

    #[test]
    fn visits_count_every_row_and_sum_known_costs() {
        let mut visits = Visits::default();
        for cost in [Some(120.5), None, Some(30.0)] {
            visits.add(cost);
        }
        assert_eq!(
            visits,
            Visits {
                count: 3.0,
                cost: 150.5
            }
        );
    }
}
