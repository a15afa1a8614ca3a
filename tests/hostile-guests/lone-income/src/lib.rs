//! Hostile module `lone-income`: tries to read one resident's income through aggregates that
//! are differentially private. Runs under a scenario derived from `income-by-age` (see
//! `tests/e2e/privacy.rs`), whose contract names some of these releases, each with no dimension
//! and one measure `income` (aggregation `sum`):
//!
//! - `lone_income`: every resident contributes 0 except the target (the first resident in
//!   pseudonym order), who contributes their income, so the exact sum would *be* that income.
//! - `everyone` and `all_but_one`: the sum of all incomes, then the same without the target;
//!   the difference of the exact sums would again be the target's income.
//!
//! Releases the scenario does not name are skipped. Must happen: under privacy the released sum
//! carries noise of the calibrated scale, and the second release of a differencing pair is
//! blocked by the privacy budget when the budget pays for only one.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{log, query, BatchExt, Release, Result};

shuyu_sdk::entry!(run);

fn run() -> Result<()> {
    let mut residents: Vec<(String, f64)> = Vec::new();
    for batch in query("SELECT citizen_id, income FROM residents ORDER BY citizen_id")? {
        let batch = batch?;
        let ids = batch.utf8("citizen_id")?;
        let incomes = batch.f64_lossy("income")?;
        for i in 0..batch.num_rows() {
            if !ids.is_null(i) && !incomes.is_null(i) {
                residents.push((ids.value(i).to_string(), incomes.value(i)));
            }
        }
    }
    for name in ["lone_income", "everyone", "all_but_one"] {
        let Ok(mut release) = Release::begin(name, &[], &["income"]) else {
            continue;
        };
        for (position, (id, income)) in residents.iter().enumerate() {
            let target = position == 0;
            let value = match name {
                "lone_income" if target => *income,
                "lone_income" => 0.0,
                "all_but_one" if target => continue,
                _ => *income,
            };
            release.push(id, &[], &[value])?;
        }
        let outcome = release.finish()?;
        log!("lone-income: {name} {outcome:?}");
    }
    Ok(())
}
