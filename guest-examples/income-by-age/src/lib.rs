//! `income-by-age`: resident count and mean income by district and age band.
//!
//! The bands are computed here, in the module, so the raw age never leaves it: each resident (its
//! pseudonymized `citizen_id` as the entity) contributes its income to the group (district, band)
//! of the release `income_by_age`, and the guard counts and averages. It reads its query in
//! place (`query_table`) and links no Arrow code.

use shuyu_sdk::{log, query_table, Release, Result};

shuyu_sdk::entry!(run);

const SQL: &str = "SELECT citizen_id, district, age, income FROM residents";

/// The age band of an age in whole years; `None` for an impossible (negative) age.
fn age_band(age: i64) -> Option<&'static str> {
    Some(match age {
        i64::MIN..=-1 => return None,
        0..=17 => "0-17",
        18..=29 => "18-29",
        30..=44 => "30-44",
        45..=59 => "45-59",
        _ => "60+",
    })
}

fn run() -> Result<()> {
    let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
    let mut rows = 0u64;
    let mut skipped = 0u64;
    for table in query_table(SQL)? {
        let table = table?;
        let citizen = table.utf8("citizen_id")?;
        let district = table.utf8("district")?;
        let age = table.i64("age")?;
        let income = table.f64_lossy("income")?;
        for i in 0..table.num_rows() {
            rows += 1;
            // Missing values would otherwise land in a wrong group or count as 0 income.
            let (Some(band), Some(citizen), Some(district), Some(income)) = (
                age.get(i).and_then(age_band),
                citizen.get(i),
                district.get(i),
                income.get(i),
            ) else {
                skipped += 1;
                continue;
            };
            release.push(citizen, &[district, band], &[income])?;
        }
    }
    let contributed = release.rows_pushed();
    let outcome = release.finish()?;
    log!(
        "income_by_age: {rows} rows read, {contributed} contributed, {skipped} skipped for missing values, outcome {outcome:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::age_band;

    #[test]
    fn bands_cover_every_age_at_their_edges() {
        let cases = [
            (0, "0-17"),
            (17, "0-17"),
            (18, "18-29"),
            (29, "18-29"),
            (30, "30-44"),
            (44, "30-44"),
            (45, "45-59"),
            (59, "45-59"),
            (60, "60+"),
            (120, "60+"),
        ];
        for (age, band) in cases {
            assert_eq!(age_band(age), Some(band), "age {age}");
        }
        assert_eq!(age_band(-1), None);
    }
}
