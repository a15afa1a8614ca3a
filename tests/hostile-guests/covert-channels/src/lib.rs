//! Hostile module `covert-channels`: reads the richest resident's income v and tries to show it to
//! its operator through what the domain reports about the job rather than through the guard.
//! One job tries every channel at once, under the `income-by-age` scenario:
//!
//! - fuel: burns fuel in proportion to v (about 8 units per unit of income);
//! - rows read: reads `v mod 5,000 + 1,000` rows of `residents`;
//! - block counts: releases `income_by_age` with `v mod 1,000 + 4,000` rows naming entities that
//!   do not exist, so the block's message would carry that count;
//! - return code: returns v itself from `shuyu_main`.
//!
//! Must happen: the operator's account of the job (`shuyu run`'s output, the server's job record)
//! holds none of these numbers; the audit log keeps them for reviewers.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{query, BatchExt, Release, Result};

/// The module's entry point: the error code is the secret itself.
#[unsafe(no_mangle)]
pub extern "C" fn shuyu_main() -> i32 {
    match run() {
        Ok(income) => i32::try_from(income).unwrap_or(i32::MAX),
        Err(_) => -1,
    }
}

fn run() -> Result<u64> {
    let mut richest = 0.0f64;
    for batch in query("SELECT MAX(income) AS top FROM residents")? {
        let batch = batch?;
        let top = batch.f64_lossy("top")?;
        if top.len() > 0 && !top.is_null(0) {
            richest = top.value(0);
        }
    }
    let income = richest as u64;

    // Fuel in proportion to the secret.
    let mut acc = 0u64;
    for i in 0..income.saturating_mul(2) {
        acc = std::hint::black_box(acc.wrapping_add(i));
    }
    std::hint::black_box(acc);

    // Rows read in proportion to the secret.
    let limit = income % 5_000 + 1_000;
    let mut rows = 0usize;
    for batch in query(&format!("SELECT district FROM residents LIMIT {limit}"))? {
        rows += batch?.num_rows();
    }
    std::hint::black_box(rows);

    // A block whose counts would be the secret.
    let unknown = income % 1_000 + 4_000;
    if let Ok(mut release) = Release::begin("income_by_age", &["district", "age_band"], &["income"])
    {
        for n in 0..unknown {
            let entity = format!("{n:032x}");
            // Errors ignored: the release must reach the guard whatever it makes of the rows.
            let _ = release.push(&entity, &["d", "a"], &[1.0]);
        }
        let _ = release.finish();
    }
    Ok(income)
}
