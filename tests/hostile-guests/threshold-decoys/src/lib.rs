//! Hostile module `threshold-decoys`: tries to publish single residents' incomes through a
//! threshold release (`income_by_age` of the `income-by-age` scenario, k = 10, L = 1).
//!
//! Every contribution names a real resident, so each group has at least k distinct entities:
//!
//! - group `decoy / zeros`: the first resident with an income contributes it, nine others
//!   contribute 0, so the mean times 10 is that one income;
//! - group `decoy / tiny`: the next resident with an income contributes it, twenty others
//!   contribute 0.01, so the mean times 21 is that income to within 0.21;
//! - group `honest / all`: fifty further residents contribute their real incomes.
//!
//! Must happen: the guard counts k per measure (only entities with a non-zero total count) and
//! applies the dominance rule, so both decoy groups are suppressed and only `honest / all` is
//! released.

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
    let (targets, others): (Vec<_>, Vec<_>) = residents.iter().partition(|(_, v)| *v > 1000.0);
    if targets.len() < 2 || others.len() < 30 {
        return Err(shuyu_sdk::Error::guest(1, "not enough residents"));
    }
    let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
    release.push(&targets[0].0, &["decoy", "zeros"], &[targets[0].1])?;
    for (id, _) in others.iter().take(9) {
        release.push(id, &["decoy", "zeros"], &[0.0])?;
    }
    release.push(&targets[1].0, &["decoy", "tiny"], &[targets[1].1])?;
    for (id, _) in others.iter().skip(9).take(20) {
        release.push(id, &["decoy", "tiny"], &[0.01])?;
    }
    for (id, income) in targets.iter().skip(2).take(50) {
        release.push(id, &["honest", "all"], &[*income])?;
    }
    let outcome = release.finish()?;
    log!("threshold-decoys: outcome {outcome:?}");
    Ok(())
}
