//! Hostile module `leak-identifier-spellings`: like `leak-identifier-format`, puts a valid
//! citizen ID number into a group label of `income_by_age` for every resident, but spelled so
//! that a scan reading only the plain spelling misses it: full-width digits, cut by an
//! ideographic space, a dash and a zero-width space.
//!
//! Must happen: the scan folds each cell (full-width to ASCII, separators removed) and blocks
//! the whole release with `scan.identifier`.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::{log, query, BatchExt, Release, Result};

shuyu_sdk::entry!(run);

/// Region 110101, born 1990-03-07, sequence 123: the check character is computed.
const BODY: &str = "11010119900307123";

/// The GB 11643 check character for the first 17 digits of a citizen ID.
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

/// `id` in full-width forms, with separators between its region, birth date and sequence.
fn disguise(id: &str) -> String {
    let wide: String = id
        .chars()
        .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c))
        .collect();
    let chars: Vec<char> = wide.chars().collect();
    let part = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    format!(
        "{}\u{3000}{}-{}\u{200B}{}",
        part(0, 6),
        part(6, 14),
        part(14, 16),
        part(16, 18)
    )
}

fn run() -> Result<()> {
    let check = check_char(BODY).ok_or_else(|| shuyu_sdk::Error::guest(1, "bad ID body"))?;
    let label = disguise(&format!("{BODY}{check}"));
    let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
    for batch in query("SELECT citizen_id, income FROM residents")? {
        let batch = batch?;
        let ids = batch.utf8("citizen_id")?;
        let incomes = batch.f64_lossy("income")?;
        for i in 0..batch.num_rows() {
            if !ids.is_null(i) {
                release.push(ids.value(i), &[&label, "all"], &[incomes.value(i)])?;
            }
        }
    }
    let outcome = release.finish()?;
    log!("leak-identifier-spellings: outcome {outcome:?}");
    Ok(())
}
