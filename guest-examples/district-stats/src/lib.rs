//! `district-stats`: enterprise count, mean registered capital and total tax by district and
//! industry.
//!
//! Joins the enterprise registry with each enterprise's total tax and contributes one row per
//! enterprise (its pseudonymized `usci` as the entity) to the release `district_stats`, grouped by
//! district and industry. The guard does the counting and averaging, so the module never sees or
//! produces a group total itself.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{log, query, BatchExt, Release, Result};

shuyu_sdk::entry!(run);

/// Every enterprise with its registered capital and total tax (0 when it paid none).
const SQL: &str = "SELECT r.usci AS entity, r.district, r.industry, \
    r.registered_capital AS capital, COALESCE(t.total, 0.0) AS tax \
    FROM enterprise_registry r \
    LEFT JOIN (SELECT usci, SUM(amount) AS total FROM tax_payments GROUP BY usci) t \
    ON r.usci = t.usci";

fn run() -> Result<()> {
    let mut release = Release::begin(
        "district_stats",
        &["district", "industry"],
        &["capital", "tax"],
    )?;
    let mut rows = 0u64;
    let mut skipped = 0u64;
    for batch in query(SQL)? {
        let batch = batch?;
        let entity = batch.utf8("entity")?;
        let district = batch.utf8("district")?;
        let industry = batch.utf8("industry")?;
        // Capital and tax are Float64 for decimals and floats, Int64 for integer columns.
        let capital = batch.f64_lossy("capital")?;
        let tax = batch.f64_lossy("tax")?;
        for i in 0..batch.num_rows() {
            rows += 1;
            // A missing value would otherwise count as 0 and skew the mean.
            if entity.is_null(i) || district.is_null(i) || industry.is_null(i) || capital.is_null(i)
            {
                skipped += 1;
                continue;
            }
            release.push(
                entity.value(i),
                &[district.value(i), industry.value(i)],
                &[capital.value(i), tax.value(i)],
            )?;
        }
    }
    let contributed = release.rows_pushed();
    let outcome = release.finish()?;
    log!("district_stats: {rows} rows read, {contributed} contributed, {skipped} skipped for missing values, outcome {outcome:?}");
    Ok(())
}
