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
//! A scan catches values copied into cells, not values encoded some other way; threshold-only
//! policies rely on the reviewed module for the rest (DESIGN.md §2.4). One hit blocks the whole
//! release; the finding counts cells and names the first column hit, never the value.

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

fn carries_pseudonym(cell: &str, oracle: &dyn IdentifierOracle) -> bool {
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
    if oracle.is_raw_identifier(cell) || oracle.is_raw_identifier(cell.trim()) {
        return Some("an identifier value of the granted datasets");
    }
    find_identifiers(cell).map(describe)
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

    #[test]
    fn unknown_column_types_are_refused() {
        let schema = Schema::new(vec![Field::new("b", DataType::Boolean, false)]);
        let columns: Vec<ArrayRef> = vec![Arc::new(BooleanArray::from(vec![true]))];
        let table = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
        assert_eq!(scan(&table, &oracle()), Err(UnreadableColumn("b".into())));
    }
}
