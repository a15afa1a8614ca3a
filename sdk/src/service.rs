//! Verification and data services: one answer about one consenting subject, per call.
//!
//! A scenario may declare `[[service]]` entries. A bank calls a service about **one subject** that
//! has consented (an enterprise by its unified social credit code, a person by citizen id), with
//! the parameters the service declares; it gets back one answer whose fields the scenario's
//! contract fixes (an enumeration, or a number the host puts into a declared bucket), never rows.
//! The host runs the module's answer entry ([`answer!`](crate::answer)) once per call:
//!
//! - Each call runs in a **fresh instance**: new memory, globals and tables, nothing left from an
//!   earlier call. Statics, caches and counters start from their initial values in every run, so
//!   nothing learnt about one subject can reach another's answer.
//! - The run sees **only the subject's rows**: [`Subject::table`] reads them from one granted
//!   table in place (identifiers as pseudonyms), `Subject::rows` as record batches (feature
//!   `arrow`); `query` and [`query_table`](crate::query_table) are not available.
//! - [`Subject::request`] holds the call's parameters: one row of the reserved table `request`
//!   ([`shuyu_abi::REQUEST_TABLE`]), one column per declared parameter (`Int64`, `Float64` or
//!   `Utf8`, never null).
//! - The function returns an [`Answer`]: one row whose fields are the contract's answer fields,
//!   matched by name in any order. An enumeration field is text (null only where the contract
//!   declares the field nullable); a bucketed field is a number the host maps into its bucket.
//! - A run that fails (an error, a panic, a limit), or returns an answer that does not fit the
//!   contract, answers nothing: the bank's call gets the outcome `failed` with `no_answer`,
//!   whatever went wrong (the reason is in the audit log, for reviewers). So does an empty
//!   [`Answer`], which hands nothing over.
//!
//! [`Subject::service`] names the service being called, so one module can serve several.
//!
//! ```no_run
//! use shuyu_sdk::service::{Answer, Subject};
//! use shuyu_sdk::Result;
//!
//! shuyu_sdk::answer!(tax_check);
//!
//! /// Whether the enterprise paid at least `threshold` yuan of tax, and its total in buckets.
//! fn tax_check(subject: &Subject) -> Result<Answer> {
//!     let threshold = subject.request()?.f64("threshold")?;
//!     let taxes = subject.table("tax_payments")?;
//!     let paid: f64 = taxes.f64_lossy("amount")?.iter().flatten().sum();
//!     Ok(Answer::new()
//!         .text("paid_enough", if paid >= threshold { "yes" } else { "no" })
//!         .number("paid", paid))
//! }
//! ```
//!
//! A service-only module exports `shuyu_answer` and no `shuyu_main`: it has no main run.

use crate::abi;
use crate::error::{Error, Result};
#[cfg(feature = "arrow")]
use crate::query::Rows;
use crate::view::Table;
#[cfg(feature = "arrow")]
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
#[cfg(feature = "arrow")]
use arrow_schema::{DataType, Field, Schema};
use shuyu_abi::REQUEST_TABLE;
use std::cell::OnceCell;
use std::rc::Rc;
#[cfg(feature = "arrow")]
use std::sync::Arc;

/// The subject an answer run is about, as [`answer!`](crate::answer) hands it to the operator's
/// function. It has no name: the run never learns whose rows it reads, beyond the pseudonyms in
/// them.
#[derive(Debug, Default)]
pub struct Subject {
    service: OnceCell<String>,
    request: OnceCell<Rc<Table>>,
}

impl Subject {
    /// Made by [`answer!`](crate::answer); a module has no reason to make one itself.
    #[doc(hidden)]
    pub fn new() -> Subject {
        Subject::default()
    }

    /// The name of the service being called (asked of the host once, then remembered).
    ///
    /// Fails with [`abi::NOT_AVAILABLE`] outside an answer or entity run.
    pub fn service(&self) -> Result<&str> {
        if let Some(name) = self.service.get() {
            return Ok(name);
        }
        // In an answer run the host's `entity_release` names the service.
        let name = crate::entity::release_name()?;
        Ok(self.service.get_or_init(|| name))
    }

    /// The subject's rows of the granted table `table`, one batch at a time, with every granted
    /// column (identifiers as pseudonyms). A subject without rows there gets no batch. Feature
    /// `arrow`; [`Subject::table`] reads the same rows in place.
    ///
    /// Fails with [`abi::QUERY_REJECTED`] for a table the scenario does not grant.
    #[cfg(feature = "arrow")]
    pub fn rows(&self, table: &str) -> Result<Rows> {
        crate::entity::rows(table)
    }

    /// The subject's rows of the granted table `table`, read in place: typed columns by name
    /// ([`Table::utf8`], [`Table::f64_lossy`], ...) straight from the bytes the host staged (an
    /// empty table when the subject has no rows there).
    ///
    /// Fails with [`abi::QUERY_REJECTED`] for a table the scenario does not grant, and with
    /// [`abi::NOT_AVAILABLE`] for one with a column of a type the table encoding does not carry.
    pub fn table(&self, table: &str) -> Result<Table> {
        // SAFETY: the pointer and length describe `table`, which lives across the call.
        let handle = unsafe { abi::entity_table(table.as_ptr(), table.len()) };
        crate::entity::one_table(handle, &format!("the subject's rows of '{table}'"))
    }

    /// The call's parameters (read from the host once, then remembered).
    ///
    /// Fails with [`abi::INVALID_ARGUMENT`] when the host's `request` table does not hold exactly
    /// one row, which ABI v1 promises.
    pub fn request(&self) -> Result<Request> {
        if let Some(table) = self.request.get() {
            return Ok(Request {
                table: Rc::clone(table),
            });
        }
        let table = Rc::new(read_request()?);
        Ok(Request {
            table: Rc::clone(self.request.get_or_init(|| table)),
        })
    }
}

/// Reads the one row of the reserved `request` table, in place.
fn read_request() -> Result<Table> {
    // SAFETY: the pointer and length describe the name, a constant.
    let handle = unsafe { abi::entity_table(REQUEST_TABLE.as_ptr(), REQUEST_TABLE.len()) };
    let table = crate::entity::one_table(handle, "the request")?;
    if table.num_rows() != 1 {
        return Err(Error::Host {
            code: abi::INVALID_ARGUMENT,
            message: format!(
                "the `{REQUEST_TABLE}` table holds {} rows; ABI v1 promises exactly one",
                table.num_rows()
            ),
        });
    }
    Ok(table)
}

/// The parameters of one service call: the service's declared parameters by name.
///
/// A parameter that is missing, or of another type than the getter's, is an [`Error::Column`]
/// naming `request.<parameter>` (usually a module and a contract that disagree).
#[derive(Debug, Clone)]
pub struct Request {
    table: Rc<Table>,
}

impl Request {
    /// An `int64` parameter.
    pub fn i64(&self, name: &str) -> Result<i64> {
        let column = self.parameter(name, |t, n| t.i64(n))?;
        non_null(name, column.get(0))
    }

    /// An `int64` or `float64` parameter as `f64` (integers converted, exactly up to 2^53).
    pub fn f64(&self, name: &str) -> Result<f64> {
        let column = self.parameter(name, |t, n| t.f64_lossy(n))?;
        non_null(name, column.get(0))
    }

    /// A `utf8` parameter.
    pub fn text(&self, name: &str) -> Result<String> {
        let column = self.parameter(name, |t, n| t.utf8(n))?;
        non_null(name, column.get(0)).map(str::to_string)
    }

    /// The request as the host sent it: one row, one column per parameter, read in place.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A typed column of the request, its errors naming the parameter as `request.<name>`.
    fn parameter<'a, T>(
        &'a self,
        name: &str,
        get: impl FnOnce(&'a Table, &str) -> Result<T>,
    ) -> Result<T> {
        get(&self.table, name).map_err(|e| match e {
            Error::Column {
                expected, found, ..
            } => Error::Column {
                name: format!("{REQUEST_TABLE}.{name}"),
                expected,
                found,
            },
            other => other,
        })
    }
}

/// Refuses a null parameter: ABI v1 promises none, and a default in its place would answer a
/// question nobody asked.
fn non_null<T>(name: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::Host {
        code: abi::INVALID_ARGUMENT,
        message: format!("request parameter `{name}` is null; ABI v1 promises non-null parameters"),
    })
}

/// One answer field's value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(Option<String>),
    Number(f64),
}

/// The answer to one service call: one value per contract answer field, by name.
///
/// Text goes to enumeration fields, numbers to bucketed fields (the host maps them into the
/// contract's buckets). Fields may be set in any order; the host matches them by name. Setting a
/// field twice is an error when the answer is handed over.
///
/// ```
/// use shuyu_sdk::service::Answer;
///
/// let answer = Answer::new().text("band", "B").number("tax", 12_345.0).null_text("reason");
/// assert_eq!(answer.len(), 3);
/// assert!(Answer::new().text("band", "A").text("band", "B").check().is_err());
/// # Ok::<(), shuyu_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    fields: Vec<(String, Value)>,
}

impl Answer {
    /// An answer without fields yet.
    pub fn new() -> Answer {
        Answer::default()
    }

    /// Sets an enumeration field to `value`, one of the values the contract lists for it.
    pub fn text(mut self, field: &str, value: impl Into<String>) -> Self {
        self.fields
            .push((field.to_string(), Value::Text(Some(value.into()))));
        self
    }

    /// Sets an enumeration field to null, which the contract must declare nullable.
    pub fn null_text(mut self, field: &str) -> Self {
        self.fields.push((field.to_string(), Value::Text(None)));
        self
    }

    /// Sets a bucketed field to `value` (finite); the host answers with its bucket.
    pub fn number(mut self, field: &str, value: f64) -> Self {
        self.fields.push((field.to_string(), Value::Number(value)));
        self
    }

    /// Fields set so far.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field was set: such an answer hands nothing over.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Checks what the SDK can check without the contract.
    ///
    /// Fails with [`Error::Usage`] when there is no field, a field name is empty or set twice,
    /// or a number is NaN or infinite (no bucket holds it).
    pub fn check(&self) -> Result<()> {
        if self.fields.is_empty() {
            return Err(Error::Usage("an answer needs at least one field".into()));
        }
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if name.is_empty() {
                return Err(Error::Usage("an answer field name is empty".into()));
            }
            if self.fields[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::Usage(format!("answer field `{name}` is set twice")));
            }
            if let Value::Number(number) = value {
                if !number.is_finite() {
                    return Err(Error::Usage(format!(
                        "answer field `{name}` is {number}, which no bucket holds"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The answer as a one-row batch: a `Utf8` column per text field, a `Float64` column per
    /// number, in the order they were set. Feature `arrow`; the host is handed the same row as
    /// contribution rows.
    ///
    /// Fails as [`Answer::check`] does.
    #[cfg(feature = "arrow")]
    pub fn build(&self) -> Result<RecordBatch> {
        self.check()?;
        let mut fields = Vec::with_capacity(self.fields.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.fields.len());
        for (name, value) in &self.fields {
            match value {
                Value::Text(text) => {
                    fields.push(Field::new(name, DataType::Utf8, text.is_none()));
                    columns.push(Arc::new(StringArray::from(vec![text.as_deref()])));
                }
                Value::Number(number) => {
                    fields.push(Field::new(name, DataType::Float64, false));
                    columns.push(Arc::new(Float64Array::from(vec![*number])));
                }
            }
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// The answer as one chunk of contribution rows (docs/abi.md, "Answer runs"): the text
    /// fields as its dimensions and the numbers as its measures, each in the order they were
    /// set, and one row.
    fn rows(&self) -> Result<Vec<u8>> {
        self.check()?;
        let (mut text_names, mut texts, mut number_names, mut numbers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (name, value) in &self.fields {
            match value {
                Value::Text(text) => {
                    text_names.push(name.as_str());
                    texts.push(text.as_deref());
                }
                Value::Number(number) => {
                    number_names.push(name.as_str());
                    numbers.push(Some(*number));
                }
            }
        }
        let too_large = || Error::Usage("an answer field or value is too large to encode".into());
        let mut encoder =
            shuyu_abi::rows::Encoder::new(&text_names, &number_names).ok_or_else(too_large)?;
        if !encoder.push(&texts, &numbers) {
            return Err(too_large());
        }
        Ok(encoder.bytes().to_vec())
    }

    /// Answer run: hands the answer to the host as one chunk of contribution rows
    /// (`contribute_rows`). An empty answer hands nothing over, and the call then has no
    /// answer. ABI v1 takes one answer per run: call this once.
    ///
    /// The host checks the answer against the contract after the run: one that does not fit
    /// is not returned to the caller (the run is not told). Fails with [`Error::Usage`] as
    /// [`Answer::check`] does, with [`abi::INVALID_CONTRIBUTIONS`] when an answer was already
    /// handed over, and with [`abi::NOT_AVAILABLE`] outside an answer or entity run.
    pub fn answer(&self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let chunk = self.rows()?;
        // SAFETY: the pointer and length describe `chunk`, which lives across the call.
        let rc = unsafe { abi::contribute_rows(chunk.as_ptr(), chunk.len()) };
        if rc < 0 {
            return Err(Error::from_host(rc));
        }
        Ok(())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::fake::{decode_rows, ipc_stream, table_of, Fake};
    use crate::BatchExt;
    use arrow_array::{Array, Int64Array};

    fn request(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).expect("valid request")
    }

    fn loan_request() -> RecordBatch {
        request(vec![
            ("amount", Arc::new(Int64Array::from(vec![500_000]))),
            ("rate", Arc::new(Float64Array::from(vec![0.035]))),
            ("purpose", Arc::new(StringArray::from(vec!["设备采购"]))),
        ])
    }

    #[test]
    fn request_getters_read_the_one_row() {
        let fake = Fake::install();
        fake.enter_answer_run("loan_prescreen", &loan_request());
        let subject = Subject::new();
        let request = subject.request().expect("answer run");
        assert_eq!(request.i64("amount").expect("int64"), 500_000);
        assert_eq!(request.f64("amount").expect("int64 as f64"), 500_000.0);
        assert_eq!(request.f64("rate").expect("float64"), 0.035);
        assert_eq!(request.text("purpose").expect("utf8"), "设备采购");
        assert_eq!(request.table().num_rows(), 1);
        subject.request().expect("remembered");
        assert_eq!(
            fake.entity_rows_opened(),
            vec!["request".to_string()],
            "the host is asked once"
        );
    }

    #[test]
    fn request_errors_name_the_parameter() {
        let fake = Fake::install();
        fake.enter_answer_run("s", &loan_request());
        let request = Subject::new().request().expect("answer run");
        let err = request.i64("term").expect_err("missing");
        assert_eq!(err.to_string(), "no column `request.term` (expected Int64)");
        assert_eq!(err.code(), crate::CODE_COLUMN);
        let err = request.i64("rate").expect_err("float64 is not int64");
        assert_eq!(
            err.to_string(),
            "column `request.rate` is Float64, expected Int64"
        );
        let err = request.f64("purpose").expect_err("utf8 is no number");
        assert_eq!(
            err.to_string(),
            "column `request.purpose` is Utf8, expected Float64 or Int64"
        );
        let err = request.text("amount").expect_err("int64 is not utf8");
        assert!(err.to_string().contains("`request.amount`"), "{err}");
    }

    #[test]
    fn a_request_not_of_one_non_null_row_is_refused() {
        let fake = Fake::install();
        let two = request(vec![("amount", Arc::new(Int64Array::from(vec![1, 2])))]);
        fake.enter_answer_run("s", &two);
        let err = Subject::new().request().expect_err("two rows");
        assert_eq!(err.host_code(), Some(abi::INVALID_ARGUMENT));
        assert!(err.to_string().contains("holds 2 rows"), "{err}");

        let null = request(vec![(
            "amount",
            Arc::new(Int64Array::from(vec![None::<i64>])),
        )]);
        fake.enter_answer_run("s", &null);
        let request = Subject::new().request().expect("one row");
        let err = request.i64("amount").expect_err("null");
        assert_eq!(err.host_code(), Some(abi::INVALID_ARGUMENT));
        assert!(err.to_string().contains("`amount` is null"), "{err}");
    }

    #[test]
    fn service_name_and_rows_come_from_the_host() {
        let fake = Fake::install();
        fake.enter_answer_run("sme_prescreen", &loan_request());
        let taxes = request(vec![(
            "amount",
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        )]);
        fake.grant_entity_rows("tax_payments", vec![ipc_stream(&taxes)]);
        let subject = Subject::new();
        assert_eq!(subject.service().expect("answer run"), "sme_prescreen");
        let rows: usize = subject
            .rows("tax_payments")
            .expect("granted")
            .map(|b| b.expect("decodes").num_rows())
            .sum();
        assert_eq!(rows, 2);
        let err = subject.rows("residents").expect_err("not granted");
        assert_eq!(err.host_code(), Some(abi::QUERY_REJECTED));
        fake.grant_entity_table("tax_payments", vec![table_of(&taxes)]);
        let table = subject.table("tax_payments").expect("granted");
        let amounts: Vec<Option<f64>> = table.f64("amount").expect("f64").iter().collect();
        assert_eq!(amounts, [Some(1.0), Some(2.0)]);
        let err = subject.table("residents").expect_err("not granted");
        assert_eq!(err.host_code(), Some(abi::QUERY_REJECTED));
        let err = crate::query("SELECT * FROM tax_payments").expect_err("no SQL");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
    }

    #[test]
    fn outside_an_answer_run_the_host_says_not_available() {
        let fake = Fake::install();
        let subject = Subject::new();
        let err = subject.service().expect_err("main run");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
        let err = subject.request().expect_err("main run");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
        let err = Answer::new()
            .text("band", "A")
            .answer()
            .expect_err("main run");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
        assert!(fake.contributed().is_empty());
    }

    #[test]
    fn answers_build_one_row_with_typed_columns() {
        let batch = Answer::new()
            .number("capital", 50.0)
            .text("band", "C")
            .null_text("reason_1")
            .build()
            .expect("valid");
        assert_eq!(batch.num_rows(), 1);
        let fields: Vec<(String, DataType, bool)> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("capital".into(), DataType::Float64, false),
                ("band".into(), DataType::Utf8, false),
                ("reason_1".into(), DataType::Utf8, true),
            ]
        );
        assert_eq!(batch.f64("capital").expect("number").value(0), 50.0);
        assert_eq!(batch.utf8("band").expect("text").value(0), "C");
        assert!(batch.utf8("reason_1").expect("text").is_null(0));
    }

    #[test]
    fn bad_answers_are_usage_errors() {
        for (answer, message) in [
            (Answer::new(), "at least one field"),
            (Answer::new().text("", "A"), "name is empty"),
            (
                Answer::new().text("band", "A").number("band", 1.0),
                "`band` is set twice",
            ),
            (Answer::new().number("tax", f64::NAN), "no bucket"),
            (Answer::new().number("tax", f64::INFINITY), "no bucket"),
        ] {
            let err = answer.build().expect_err("refused");
            assert!(matches!(err, Error::Usage(_)), "{err:?}");
            assert!(err.to_string().contains(message), "{err}");
        }
    }

    #[test]
    fn an_answer_is_one_row_of_contribution_rows() {
        let fake = Fake::install();
        fake.enter_answer_run("s", &loan_request());
        Answer::new()
            .text("band", "B")
            .number("rows", 3.0)
            .null_text("reason")
            .answer()
            .expect("handed over");
        let sent = fake.contributed_rows();
        assert_eq!(sent.len(), 1);
        let rows = decode_rows(&sent[0], &["band", "reason"], &["rows"]);
        assert_eq!(
            rows,
            vec![(vec![Some("B".to_string()), None], vec![Some(3.0)])]
        );
        assert!(fake.contributed().is_empty(), "no Arrow IPC");

        Answer::new().answer().expect("nothing to hand over");
        assert_eq!(
            fake.contributed_rows().len(),
            1,
            "an empty answer sends nothing"
        );
        let err = Answer::new()
            .text("band", "A")
            .number("band", 1.0)
            .answer()
            .expect_err("twice");
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        assert_eq!(
            fake.contributed_rows().len(),
            1,
            "a bad answer sends nothing"
        );
    }

    #[test]
    fn a_refused_answer_reports_the_host_code() {
        let fake = Fake::install();
        fake.enter_answer_run("s", &loan_request());
        fake.refuse_contributions(
            abi::INVALID_CONTRIBUTIONS,
            "`band` is not in the enumeration",
        );
        let err = Answer::new()
            .text("band", "Z")
            .answer()
            .expect_err("refused");
        assert_eq!(err.host_code(), Some(abi::INVALID_CONTRIBUTIONS));
        assert!(err.to_string().contains("enumeration"), "{err}");
    }
}
