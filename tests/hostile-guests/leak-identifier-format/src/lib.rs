//! Hostile module `leak-identifier-format`: tries to get something that looks like a real
//! citizen ID number out as a group label. Runs under the `income-by-age` scenario.
//!
//! It fabricates a syntactically valid 18-character resident ID (GB 11643: region, birth date,
//! sequence and a correct check character) and uses it as the `district` dimension of
//! `income_by_age` for every resident, so the single group has far more than `k` entities and
//! thresholding alone would let it through.
//!
//! Must happen: the guard's output scan recognizes the identifier format and blocks the whole
//! release (`release_finish` returns 1), naming the rule in the audit log.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{log, query, BatchExt, Release, Result};

shuyu_sdk::entry!(run);

/// Region 110101, born 1990-03-07, sequence 123: the check character is computed.
const BODY: &str = "11010119900307123";

/// The GB 11643 check character for the first 17 digits of a citizen ID; `None` if `body` is not
/// 17 ASCII digits.
fn check_char(body: &str) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    if body.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in body.chars().zip(WEIGHTS) {
        sum += c.to_digit(10)? * w;
    }
    Some(CHECK[(sum % 11) as usize])
}

fn run() -> Result<()> {
    let check = check_char(BODY).ok_or_else(|| shuyu_sdk::Error::guest(1, "bad ID body"))?;
    let fake_id = format!("{BODY}{check}");
    let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
    for batch in query("SELECT citizen_id, income FROM residents")? {
        let batch = batch?;
        let ids = batch.utf8("citizen_id")?;
        let incomes = batch.f64_lossy("income")?;
        for i in 0..batch.num_rows() {
            if !ids.is_null(i) {
                release.push(ids.value(i), &[&fake_id, "all"], &[incomes.value(i)])?;
            }
        }
    }
    let pushed = release.rows_pushed();
    let outcome = release.finish()?;
    log!("leak-identifier-format: {pushed} rows under one ID-shaped label, outcome {outcome:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_char;

    #[test]
    fn check_character_matches_the_standard_example() {
        // The example number published with GB 11643-1999.
        assert_eq!(check_char("11010519491231002"), Some('X'));
        assert_eq!(check_char("1101051949123100"), None);
        assert_eq!(check_char("1101051949123100a"), None);
    }
}
