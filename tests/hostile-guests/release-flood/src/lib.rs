//! Hostile module `release-flood`: opens and finishes releases of `income_by_age` in a loop, far
//! more often than any scenario allows. Runs under the `income-by-age` scenario.
//!
//! Must happen: at most one release of `income_by_age` is made (a second `release_begin` of a name
//! already released fails with `UNKNOWN_RELEASE`), and the job ends with `limit:releases` once
//! the module passes the scenario's `max_releases`; the host stays up.

use shuyu_sdk::{log, Release, Result};

shuyu_sdk::entry!(run);

/// Far above any sensible `max_releases`.
const ATTEMPTS: u32 = 10_000;

fn run() -> Result<()> {
    let (mut opened, mut refused) = (0u32, 0u32);
    for _ in 0..ATTEMPTS {
        // Errors are ignored on purpose: the point is to keep asking.
        match Release::begin("income_by_age", &["district", "age_band"], &["income"]) {
            Ok(release) => {
                opened += 1;
                let _ = release.finish();
            }
            Err(_) => refused += 1,
        }
    }
    log!("release-flood: {opened} releases opened, {refused} refused, out of {ATTEMPTS}");
    Ok(())
}
