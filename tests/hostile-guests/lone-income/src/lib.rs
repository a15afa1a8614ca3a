//! Hostile module `lone-income`: tries to read residents' incomes through aggregates that are
//! differentially private. Runs under a scenario derived from `income-by-age` (see
//! `tests/e2e/privacy.rs`), whose contract names some of these releases, each with no dimension
//! and one measure `income` (aggregation `sum`), made per entity:
//!
//! - `lone_income`: every resident contributes 0 except the targets, who contribute their
//!   income, so the exact sum would *be* the targets' income. An entity run sees only its own
//!   rows, so it cannot pick "the first resident"; the targets are the residents whose
//!   pseudonym starts with `000` (about one in 4,096).
//! - `everyone` and `all_but_one`: the sum of all incomes, then the same without the targets;
//!   the difference of the exact sums would again be the targets' income.
//!
//! Releases the scenario does not name are skipped. Must happen: under privacy the released sum
//! carries noise of the calibrated scale, and the second release of a differencing pair is
//! blocked by the privacy budget when the budget pays for only one.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::entity::{self, Contributions, Entity};
use shuyu_sdk::{log, BatchExt, Result};

shuyu_sdk::entry!(run);
shuyu_sdk::contribute!(one_resident);

fn run() -> Result<()> {
    for name in ["lone_income", "everyone", "all_but_one"] {
        match entity::release_entities(name) {
            Ok(outcome) => log!("lone-income: {name} {outcome:?}"),
            Err(e) => log!("lone-income: {name} skipped: {e}"),
        }
    }
    Ok(())
}

fn one_resident(entity: &Entity) -> Result<Contributions> {
    let release = entity.release()?.to_string();
    let mut out = Contributions::new(&[], &["income"])?;
    for batch in entity.rows("residents")? {
        let ids = batch.utf8("citizen_id")?;
        let incomes = batch.f64_lossy("income")?;
        for i in 0..batch.num_rows() {
            if ids.is_null(i) || incomes.is_null(i) {
                continue;
            }
            let target = ids.value(i).starts_with("000");
            let value = match release.as_str() {
                "lone_income" if target => incomes.value(i),
                "lone_income" => 0.0,
                "all_but_one" if target => continue,
                _ => incomes.value(i),
            };
            out.push(&[], &[value])?;
        }
    }
    Ok(out)
}
