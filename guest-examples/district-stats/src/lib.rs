//! `district-stats`: enterprise count, mean registered capital and total tax by district and
//! industry.
//!
//! One module, two contracts. Under `scenario.toml` (a threshold release) the main run joins the
//! enterprise registry with each enterprise's total tax and contributes one row per enterprise
//! (its pseudonymized `usci` as the entity) to the release `district_stats`. Under
//! `scenario-dp.toml` the same release has `privacy`, so it is made per entity: the host runs
//! [`one_enterprise`] once per enterprise, in a fresh instance that sees only that enterprise's
//! rows. Either way the guard does the counting and averaging, so the module never sees or
//! produces a group total itself.

use shuyu_sdk::abi::NOT_AVAILABLE;
use shuyu_sdk::entity::{self, Contributions, Entity};
use shuyu_sdk::{log, query_table, Release, Result};

shuyu_sdk::entry!(run);
shuyu_sdk::contribute!(one_enterprise);

const RELEASE: &str = "district_stats";
const DIMENSIONS: [&str; 2] = ["district", "industry"];
const MEASURES: [&str; 2] = ["capital", "tax"];

/// Every enterprise with its registered capital and total tax (0 when it paid none).
const SQL: &str = "SELECT r.usci AS entity, r.district, r.industry, \
    r.registered_capital AS capital, COALESCE(t.total, 0.0) AS tax \
    FROM enterprise_registry r \
    LEFT JOIN (SELECT usci, SUM(amount) AS total FROM tax_payments GROUP BY usci) t \
    ON r.usci = t.usci";

fn run() -> Result<()> {
    let release = match Release::begin(RELEASE, &DIMENSIONS, &MEASURES) {
        Ok(release) => release,
        // The host refuses `release_begin` exactly when the contract has `privacy`: a main run
        // sees every enterprise, so its contributions could carry anyone's data. Such a release
        // is made per entity, by `one_enterprise`. Any other error is a real failure.
        Err(e) if e.host_code() == Some(NOT_AVAILABLE) => {
            let outcome = entity::release_entities(RELEASE)?;
            log!("{RELEASE}: made per entity, outcome {outcome:?}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    threshold_release(release)
}

/// The main run's release: one row per enterprise from one SQL join.
///
/// Read in place (`query_table`) and contributed as contribution rows (`Release`), so this module
/// links no Arrow code: its entity runs instantiate a function table of a few dozen entries
/// instead of several hundred.
fn threshold_release(mut release: Release) -> Result<()> {
    let mut rows = 0u64;
    let mut skipped = 0u64;
    for table in query_table(SQL)? {
        let table = table?;
        let entity = table.utf8("entity")?;
        let district = table.utf8("district")?;
        let industry = table.utf8("industry")?;
        // Capital and tax are Float64 for decimals and floats, Int64 for integer columns.
        let capital = table.f64_lossy("capital")?;
        let tax = table.f64_lossy("tax")?;
        for i in 0..table.num_rows() {
            rows += 1;
            // A missing value would otherwise count as 0 and skew the mean; a missing tax is
            // impossible (COALESCE), so it is taken as 0 like the SQL's.
            let (Some(entity), Some(district), Some(industry), Some(capital)) =
                (entity.get(i), district.get(i), industry.get(i), capital.get(i))
            else {
                skipped += 1;
                continue;
            };
            release.push(
                entity,
                &[district, industry],
                &[capital, tax.get(i).unwrap_or(0.0)],
            )?;
        }
    }
    let contributed = release.rows_pushed();
    let outcome = release.finish()?;
    log!("{RELEASE}: {rows} rows read, {contributed} contributed, {skipped} skipped for missing values, outcome {outcome:?}");
    Ok(())
}

/// One enterprise's contribution to the per-entity release: its (district, industry), its
/// registered capital and the sum of its tax payments (0 when it paid none), as the SQL of the
/// main run computes it. An enterprise with no registry row, or a missing district, industry or
/// capital, contributes nothing, as the main run skips it.
fn one_enterprise(entity: &Entity) -> Result<Contributions> {
    let mut out = Contributions::new(&DIMENSIONS, &MEASURES)?;
    // Read in place (`Entity::table`): an entity run reads a dozen rows, and building Arrow
    // arrays for them would cost more than using them.
    let registry = entity.table("enterprise_registry")?;
    let district = registry.utf8("district")?;
    let industry = registry.utf8("industry")?;
    let capital = registry.f64_lossy("registered_capital")?;
    // The registry has one row per enterprise; the first usable one is it.
    let found = (0..registry.num_rows())
        .find_map(|i| Some((district.get(i)?, industry.get(i)?, capital.get(i)?)));
    let Some((district, industry, capital)) = found else {
        return Ok(out);
    };
    // SQL's SUM leaves out null amounts; so does this.
    let tax = entity
        .table("tax_payments")?
        .f64_lossy("amount")?
        .iter()
        .flatten()
        .sum::<f64>();
    out.push(&[district, industry], &[capital, tax])?;
    Ok(out)
}
