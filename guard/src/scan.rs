//! Rules `scan.pseudonym` and `scan.identifier`: no output cell may carry an identifier.
//!
//! Every cell of the table about to leave is read as text (numbers in their shortest round-trip
//! decimal form, as they would appear in CSV) and checked:
//!
//! - **pseudonym**: the cell, or any 32-character window of a run of hex digits inside it (either
//!   case), is a pseudonym the oracle knows. Pseudonyms are only meaningful inside the scenario, but
//!   they link rows back to entities, so none may leave.
//! - **identifier**: the cell (as is, or trimmed) is a raw identifier value of the granted datasets,
//!   or it contains any syntactically valid citizen ID number or unified social credit code, even
//!   one that is not in the data.
//!
//! Each cell is checked twice: as it is, and **folded** ([`fold`]): full-width forms (U+FF01 to
//! U+FF5E) and the ideographic space mapped to ASCII, separators (white space, dashes, dots,
//! underscores, slashes, commas, colons, middle dots) and invisible characters (zero-width,
//! bidirectional marks, soft hyphen) removed, and letters lowercased. So `3301 0619-8001.0112 34`,
//! a full-width `３３０１０６…` or a pseudonym cut by dashes are found like the plain spelling;
//! raw identifier values are compared folded on both sides
//! ([`IdentifierOracle::is_raw_identifier_folded`]).
//!
//! A scan catches values copied into one cell, in any of those spellings, not values encoded
//! some other way: split across cells or rows, base64 or any other encoding, arithmetic on
//! digits, or numbers released as measures (docs/privacy.md, "What the scan cannot see");
//! threshold-only policies rely on the reviewed module for the rest (docs/concepts.md, "The path of a job"). One hit
//! blocks the whole release; the finding counts cells and names the first column hit, never the
//! value.

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use shuyu_datasets::{find_identifiers, IdentifierKind};

use super::decision::Rule;
use super::oracle::{IdentifierOracle, PSEUDONYM_HEX_LEN};

/// Cells that failed the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanFinding {
    /// `scan.pseudonym` if any cell carried a pseudonym, else `scan.identifier`.
    pub rule: Rule,
    /// The first column with a cell failing that rule.
    pub column: String,
    /// How many cells failed that rule.
    pub cells: u64,
    /// For identifier findings, what was found (e.g. "a citizen ID number"); never the value.
    pub what: &'static str,
}

/// A column the scanner cannot read as text: the guard built something it did not expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnreadableColumn(pub String);

#[derive(Default)]
struct Tally {
    cells: u64,
    first_column: Option<String>,
    what: &'static str,
}

impl Tally {
    fn hit(&mut self, column: &str, what: &'static str) {
        self.cells += 1;
        if self.first_column.is_none() {
            self.first_column = Some(column.to_owned());
            self.what = what;
        }
    }
}

/// Scans every cell of `table`.
pub(crate) fn scan(
    table: &RecordBatch,
    oracle: &dyn IdentifierOracle,
) -> Result<Option<ScanFinding>, UnreadableColumn> {
    let mut pseudonyms = Tally::default();
    let mut identifiers = Tally::default();
    let schema = table.schema();
    let mut check = |column: &str, cell: &str| {
        if carries_pseudonym(cell, oracle) {
            pseudonyms.hit(column, "a pseudonym");
        } else if let Some(what) = carries_identifier(cell, oracle) {
            identifiers.hit(column, what);
        }
    };
    for (field, column) in schema.fields().iter().zip(table.columns()) {
        let name = field.name().as_str();
        let any = column.as_any();
        if let Some(texts) = any.downcast_ref::<StringArray>() {
            texts.iter().flatten().for_each(|cell| check(name, cell));
        } else if let Some(numbers) = any.downcast_ref::<Int64Array>() {
            numbers
                .iter()
                .flatten()
                .for_each(|n| check(name, &n.to_string()));
        } else if let Some(numbers) = any.downcast_ref::<Float64Array>() {
            numbers
                .iter()
                .flatten()
                .for_each(|x| check(name, &x.to_string()));
        } else {
            return Err(UnreadableColumn(name.to_owned()));
        }
    }
    let finding = |rule, tally: Tally| {
        tally.first_column.map(|column| ScanFinding {
            rule,
            column,
            cells: tally.cells,
            what: tally.what,
        })
    };
    Ok(finding(Rule::ScanPseudonym, pseudonyms)
        .or_else(|| finding(Rule::ScanIdentifier, identifiers)))
}

/// The spelling the scan also reads a cell in: full-width ASCII forms and the ideographic space
/// folded to ASCII, separators and invisible characters removed, letters lowercased. The same
/// fold is applied to raw identifier values by the oracle, so both sides compare alike.
pub fn fold(cell: &str) -> String {
    // Identifiers are mostly plain ASCII letters and digits, which fold by lowercasing alone;
    // the identifier universe folds every one of them, millions for a large dataset.
    if cell.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return cell.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(cell.len());
    for c in cell.chars() {
        let c = match c {
            // Full-width forms of ASCII '!'..'~' sit at a fixed offset from them.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        if !is_separator(c) {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Characters a module could put between an identifier's digits without hiding it from a reader.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '_' | '/' | '\\' | ',' | ':' | '|' | '\u{00B7}' // middle dot
                | '\u{00AD}' // soft hyphen
                | '\u{180E}' // Mongolian vowel separator
                | '\u{2010}'..='\u{2015}' // hyphens and dashes
                | '\u{2212}' // minus sign
                | '\u{2027}' // hyphenation point
                | '\u{30FB}' // katakana middle dot
                | '\u{3001}' | '\u{3002}' // ideographic comma and full stop
                | '\u{FE58}' | '\u{FE63}' // small em dash, small hyphen-minus
                | '\u{FF61}' | '\u{FF64}' // half-width ideographic full stop and comma
                | '\u{200B}'..='\u{200F}' // zero-width space, joiners, direction marks
                | '\u{202A}'..='\u{202E}' // bidirectional embeddings
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // bidirectional isolates
                | '\u{FEFF}' // zero-width no-break space
        )
}

fn carries_pseudonym(cell: &str, oracle: &dyn IdentifierOracle) -> bool {
    hex_runs_hold_pseudonym(cell, oracle) || hex_runs_hold_pseudonym(&fold(cell), oracle)
}

fn hex_runs_hold_pseudonym(cell: &str, oracle: &dyn IdentifierOracle) -> bool {
    if oracle.is_pseudonym(cell) {
        return true;
    }
    let mut window = [0u8; PSEUDONYM_HEX_LEN];
    for run in cell.as_bytes().split(|b| !b.is_ascii_hexdigit()) {
        for candidate in run.windows(PSEUDONYM_HEX_LEN) {
            for (slot, byte) in window.iter_mut().zip(candidate) {
                *slot = byte.to_ascii_lowercase();
            }
            // The window holds ASCII hex digits only, so it is valid UTF-8.
            if std::str::from_utf8(&window).is_ok_and(|w| oracle.is_pseudonym(w)) {
                return true;
            }
        }
    }
    false
}

fn carries_identifier(cell: &str, oracle: &dyn IdentifierOracle) -> Option<&'static str> {
    let folded = fold(cell);
    if oracle.is_raw_identifier(cell)
        || oracle.is_raw_identifier(cell.trim())
        || oracle.is_raw_identifier_folded(&folded)
    {
        return Some("an identifier value of the granted datasets");
    }
    find_identifiers(cell)
        .or_else(|| find_identifiers(&folded))
        .map(describe)
}

/// A name for messages; never the value.
fn describe(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::CitizenId => "a citizen ID number",
        IdentifierKind::Usci => "a unified social credit code",
        IdentifierKind::Other => "an identifier",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::super::oracle::SetOracle;
    use super::*;

    /// A valid citizen ID number, made up for the test.
    pub(crate) fn citizen_id() -> String {
        let birth = chrono::NaiveDate::from_ymd_opt(1980, 1, 1).expect("valid date");
        shuyu_datasets::make_citizen_id("330106", birth, 123).expect("valid parts")
    }

    const P: &str = "0123456789abcdef0123456789abcdef";

    fn oracle() -> SetOracle {
        SetOracle::from_parts(Vec::<&str>::new(), [P], ["EMP-0042"]).expect("valid")
    }

    fn table(cells: &[&str]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new("x", DataType::Float64, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(cells.to_vec())),
            Arc::new(Int64Array::from(vec![7; cells.len()])),
            Arc::new(Float64Array::from(vec![1.5; cells.len()])),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch")
    }

    fn rule_of(cells: &[&str]) -> Option<Rule> {
        scan(&table(cells), &oracle())
            .expect("readable")
            .map(|f| f.rule)
    }

    #[test]
    fn clean_cells_pass() {
        assert_eq!(rule_of(&["上城区", "西湖区", "", "deadbeef"]), None);
    }

    #[test]
    fn finds_pseudonyms_whole_embedded_and_uppercased() {
        assert_eq!(rule_of(&["a", P]), Some(Rule::ScanPseudonym));
        assert_eq!(rule_of(&[&format!("区-{P}-区")]), Some(Rule::ScanPseudonym));
        assert_eq!(rule_of(&[&format!("ff{P}00")]), Some(Rule::ScanPseudonym));
        assert_eq!(rule_of(&[&P.to_uppercase()]), Some(Rule::ScanPseudonym));
        // A 32-hex string the oracle does not know is not a pseudonym.
        assert_eq!(rule_of(&["ffffffffffffffffffffffffffffffff"]), None);
    }

    #[test]
    fn finds_identifiers() {
        let id = citizen_id();
        assert_eq!(rule_of(&[&id]), Some(Rule::ScanIdentifier));
        assert_eq!(rule_of(&[&format!("王{id}")]), Some(Rule::ScanIdentifier));
        assert_eq!(rule_of(&["EMP-0042"]), Some(Rule::ScanIdentifier));
        assert_eq!(rule_of(&[" EMP-0042 "]), Some(Rule::ScanIdentifier));
    }

    #[test]
    fn finds_credit_codes_and_lowercase_identifiers() {
        let code = shuyu_datasets::make_usci("330106", "12345678").expect("valid parts");
        assert_eq!(rule_of(&[&code]), Some(Rule::ScanIdentifier));
        assert_eq!(
            rule_of(&[&format!("x{}y", code.to_lowercase())]),
            Some(Rule::ScanIdentifier)
        );
        let x_id = (0..1000u16)
            .filter_map(|seq| {
                let birth = chrono::NaiveDate::from_ymd_opt(1990, 3, 7)?;
                shuyu_datasets::make_citizen_id("110101", birth, seq).ok()
            })
            .find(|id| id.ends_with('X'))
            .expect("some sequence has check character X");
        assert_eq!(rule_of(&[&x_id.to_lowercase()]), Some(Rule::ScanIdentifier));
    }

    #[test]
    fn finding_counts_cells_and_names_the_column_only() {
        let id = citizen_id();
        let finding = scan(&table(&[&id, "ok", &id]), &oracle())
            .expect("readable")
            .expect("finding");
        assert_eq!(finding.rule, Rule::ScanIdentifier);
        assert_eq!(finding.column, "name");
        assert_eq!(finding.cells, 2);
        assert_eq!(finding.what, "a citizen ID number");
    }

    #[test]
    fn numbers_are_scanned_too() {
        let id = citizen_id();
        let number: i64 = id.parse().expect("this body's check character is a digit");
        let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![number]))];
        let table = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
        let finding = scan(&table, &oracle()).expect("readable");
        assert_eq!(finding.map(|f| f.rule), Some(Rule::ScanIdentifier));
    }

    /// `text` with every ASCII character '!'..'~' in its full-width form.
    fn full_width(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect()
    }

    /// `text` cut into groups of `every` characters joined by `separator`.
    fn spaced(text: &str, every: usize, separator: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        chars
            .chunks(every)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// Hostile: each of these spellings of a citizen ID number passed the scan before folding.
    #[test]
    fn finds_citizen_ids_in_other_spellings() {
        let id = citizen_id();
        let spellings = [
            spaced(&id, 4, " "),
            spaced(&id, 6, "-"),
            spaced(&id, 3, "."),
            spaced(&id, 2, "_"),
            spaced(&id, 6, "/"),
            spaced(&id, 1, "\u{200B}"),
            spaced(&id, 5, "\u{3000}"),
            spaced(&id, 4, "\u{2014}"),
            full_width(&id),
            format!("身份证：{}", full_width(&spaced(&id, 6, "-"))),
            spaced(&full_width(&id), 1, "\u{FEFF}"),
        ];
        for cell in &spellings {
            assert_eq!(rule_of(&[cell]), Some(Rule::ScanIdentifier), "{cell:?}");
        }
    }

    /// Hostile: a credit code and a raw identifier value, spelled differently.
    #[test]
    fn finds_credit_codes_and_raw_values_in_other_spellings() {
        let code = shuyu_datasets::make_usci("330106", "12345678").expect("valid parts");
        for cell in [
            spaced(&code, 4, " "),
            full_width(&code.to_lowercase()),
            spaced(&code, 3, "-"),
        ] {
            assert_eq!(rule_of(&[&cell]), Some(Rule::ScanIdentifier), "{cell:?}");
        }
        for cell in [
            "emp 0042",
            "EMP_0042",
            "E.M.P.0.0.4.2",
            "ＥＭＰ－００４２",
            "EMP\u{200D}-0042",
        ] {
            assert_eq!(rule_of(&[cell]), Some(Rule::ScanIdentifier), "{cell:?}");
        }
    }

    /// Hostile: a pseudonym cut by separators, in capitals or full width.
    #[test]
    fn finds_pseudonyms_in_other_spellings() {
        for cell in [
            spaced(P, 8, "-"),
            spaced(P, 4, " "),
            spaced(&P.to_uppercase(), 2, ":"),
            full_width(P),
            spaced(P, 1, "\u{200B}"),
            format!("区/{}/区", spaced(P, 16, "_")),
        ] {
            assert_eq!(rule_of(&[&cell]), Some(Rule::ScanPseudonym), "{cell:?}");
        }
    }

    #[test]
    fn folding_keeps_ordinary_values_clean() {
        assert_eq!(fold("Ｈｅｌｌｏ　Ｗｏｒｌｄ－１"), "helloworld1");
        assert_eq!(fold("上城区 / 西湖区"), "上城区西湖区");
        assert_eq!(
            rule_of(&[
                "上城区",
                "信息传输、软件和信息技术服务业",
                "2024-01",
                "12.5",
                "a-b c"
            ]),
            None
        );
    }

    #[test]
    fn unknown_column_types_are_refused() {
        let schema = Schema::new(vec![Field::new("b", DataType::Boolean, false)]);
        let columns: Vec<ArrayRef> = vec![Arc::new(BooleanArray::from(vec![true]))];
        let table = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
        assert_eq!(scan(&table, &oracle()), Err(UnreadableColumn("b".into())));
    }
}
