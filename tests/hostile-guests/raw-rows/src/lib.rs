//! Hostile module `raw-rows`: tries to get row-level data out by making every row its own group.
//! Runs under the `income-by-age` scenario.
//!
//! It reads `residents(citizen_id, age, district, income)` and releases each resident through
//! `income_by_age` with the dimensions `[district, "<income>|<age>"]`, so (almost) every group
//! holds a single entity and its "mean" would be that person's income.
//!
//! Must happen: every group with fewer than `k` distinct entities is suppressed and the
//! suppression is counted in the job report; no single person's income comes out.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{log, query, BatchExt, Release, Result};

shuyu_sdk::entry!(run);

fn run() -> Result<()> {
    let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
    for batch in query("SELECT citizen_id, age, district, income FROM residents")? {
        let batch = batch?;
        let ids = batch.utf8("citizen_id")?;
        let ages = batch.i64("age")?;
        let districts = batch.utf8("district")?;
        let incomes = batch.f64_lossy("income")?;
        for i in 0..batch.num_rows() {
            if ids.is_null(i) {
                continue;
            }
            let unique = format!("{}|{}", incomes.value(i), ages.value(i));
            release.push(
                ids.value(i),
                &[districts.value(i), &unique],
                &[incomes.value(i)],
            )?;
        }
    }
    let pushed = release.rows_pushed();
    let outcome = release.finish()?;
    log!("raw-rows: pushed {pushed} one-person groups, outcome {outcome:?}");
    Ok(())
}
