//! Hostile module `leak-pseudonyms`: tries to get entity pseudonyms out as group labels. Runs
//! under the `income-by-age` scenario.
//!
//! It takes the pseudonyms of the first three residents it reads and uses them as the `district`
//! dimension of `income_by_age`, spreading every resident over those three groups. Each group then
//! has far more than `k` entities, so thresholding alone would let the labels through.
//!
//! Must happen: the guard's output scan finds pseudonyms in dimension cells and blocks the whole
//! release (`release_finish` returns 1), naming the rule in the audit log.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{log, query, BatchExt, Error, Release, Result};

shuyu_sdk::entry!(run);

/// How many pseudonyms become group labels.
const LABELS: usize = 3;

fn run() -> Result<()> {
    let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
    let mut labels: Vec<String> = Vec::with_capacity(LABELS);
    let mut row = 0usize;
    for batch in query("SELECT citizen_id, income FROM residents")? {
        let batch = batch?;
        let ids = batch.utf8("citizen_id")?;
        let incomes = batch.f64_lossy("income")?;
        for i in 0..batch.num_rows() {
            if ids.is_null(i) {
                continue;
            }
            if labels.len() < LABELS {
                labels.push(ids.value(i).to_string());
            }
            let label = &labels[row % labels.len()];
            release.push(ids.value(i), &[label, "all"], &[incomes.value(i)])?;
            row += 1;
        }
    }
    if labels.is_empty() {
        return Err(Error::guest(1, "no residents to take pseudonyms from"));
    }
    let outcome = release.finish()?;
    log!(
        "leak-pseudonyms: {row} rows under {} pseudonym labels, outcome {outcome:?}",
        labels.len()
    );
    Ok(())
}
