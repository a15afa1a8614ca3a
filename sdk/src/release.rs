//! Releases: the only way data leaves a module, as per-entity contributions to the guard.
//!
//! A [`Release`] encodes contribution rows as they are pushed and hands them to the host as chunks
//! of contribution rows (`release_append_rows`, docs/abi.md "Contribution rows") every
//! [`Release::DEFAULT_FLUSH_ROWS`] rows, so a module can contribute millions of rows in bounded
//! memory, and without Arrow: a module that also reads its queries in place
//! ([`query_table`](crate::query_table)) links no Arrow code at all. The guard, not the module,
//! aggregates, bounds, thresholds and scans them (docs/abi.md, "Contributions").

use crate::abi;
use crate::error::{Error, Result};
#[cfg(feature = "arrow")]
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use shuyu_abi::rows::Encoder;
#[cfg(feature = "arrow")]
use std::cell::OnceCell;
#[cfg(feature = "arrow")]
use std::sync::Arc;

/// What the guard decided about a finished release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The guard accepted the release; it becomes a product.
    Released,
    /// The guard blocked the release; the rule is in the audit log and the job report.
    Blocked,
}

impl Outcome {
    /// The answer of a host function that decides a release (`release_finish`,
    /// `release_vector`, `release_entities`): `0` released, `1` blocked, or an error code.
    pub(crate) fn from_host(function: &str, rc: i32) -> Result<Outcome> {
        match rc {
            shuyu_abi::RELEASED => Ok(Outcome::Released),
            shuyu_abi::BLOCKED => Ok(Outcome::Blocked),
            rc if rc < 0 => Err(Error::from_host(rc)),
            other => Err(Error::Host {
                code: abi::INVALID_ARGUMENT,
                message: format!("{function} returned {other}, which ABI v1 does not define"),
            }),
        }
    }
}

/// An open release of one contract entry, collecting contributions.
///
/// The contribution schema is `entity` (`Utf8`, not null), then one `Utf8` column per dimension,
/// then one `Float64` column per measure, named and ordered as in the scenario's contract; the host
/// checks the names against the contract.
///
/// A release that is dropped without [`Release::finish`] (e.g. when the module returns an error
/// half-way) is never finished, so the guard never decides on partial contributions.
#[derive(Debug)]
pub struct Release {
    name: String,
    handle: i32,
    dimensions: Vec<String>,
    measures: Vec<String>,
    /// Built when first asked for: the rows do not need it.
    #[cfg(feature = "arrow")]
    schema: OnceCell<SchemaRef>,
    /// The rows not yet handed over, `entity` first.
    rows: Encoder,
    flush_rows: usize,
    pushed: u64,
    /// Set when a flush failed: the rows of that chunk are lost, so finishing would release an
    /// incomplete set of contributions.
    failed: bool,
}

impl Release {
    /// Rows buffered before a chunk is handed to the host.
    pub const DEFAULT_FLUSH_ROWS: usize = 4096;

    /// Opens the release of contract entry `name` with these dimension and measure names, in
    /// contract order.
    ///
    /// Fails with [`abi::UNKNOWN_RELEASE`] if the contract has no such release or it was already
    /// released in this job, and with [`Error::Usage`] if the names cannot form a schema
    /// (duplicates, or a column named `entity`).
    pub fn begin(name: &str, dimensions: &[&str], measures: &[&str]) -> Result<Release> {
        check_names(dimensions, measures)?;
        let mut columns = Vec::with_capacity(1 + dimensions.len());
        columns.push("entity");
        columns.extend_from_slice(dimensions);
        let rows = Encoder::new(&columns, measures).ok_or_else(|| {
            Error::Usage("more than 65,535 columns, or a name longer than 65,535 bytes".into())
        })?;
        // SAFETY: the pointer and length describe `name`, which lives across the call.
        let handle = unsafe { abi::release_begin(name.as_ptr(), name.len()) };
        if handle < 0 {
            return Err(Error::from_host(handle));
        }
        Ok(Release {
            name: name.to_string(),
            handle,
            dimensions: dimensions.iter().map(|d| d.to_string()).collect(),
            measures: measures.iter().map(|m| m.to_string()).collect(),
            #[cfg(feature = "arrow")]
            schema: OnceCell::new(),
            rows,
            flush_rows: Self::DEFAULT_FLUSH_ROWS,
            pushed: 0,
            failed: false,
        })
    }

    /// Changes how many rows are buffered before a chunk is handed over (at least 1). Fewer rows
    /// use less memory; more rows make fewer, larger host calls.
    pub fn set_flush_rows(&mut self, rows: usize) {
        self.flush_rows = rows.max(1);
    }

    /// The contract entry this release belongs to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contributions' schema as Arrow sees it (what the guard checks them against). Feature
    /// `arrow`.
    #[cfg(feature = "arrow")]
    pub fn schema(&self) -> &SchemaRef {
        self.schema.get_or_init(|| {
            let dimensions: Vec<&str> = self.dimensions.iter().map(String::as_str).collect();
            let measures: Vec<&str> = self.measures.iter().map(String::as_str).collect();
            schema_of(&dimensions, &measures, true)
        })
    }

    /// Rows pushed so far.
    pub fn rows_pushed(&self) -> u64 {
        self.pushed
    }

    /// Adds one contribution: `entity` is the pseudonym as it came out of a query, `dimensions`
    /// and `measures` are the values in the order given to [`Release::begin`].
    pub fn push(&mut self, entity: &str, dimensions: &[&str], measures: &[f64]) -> Result<()> {
        self.check_usable()?;
        let expected = (self.dimensions.len(), self.measures.len());
        let found = (dimensions.len(), measures.len());
        if expected != found {
            return check_arity(&format!("release `{}`", self.name), expected, found);
        }
        if !self.rows.push_values(entity, dimensions, measures) {
            return Err(Error::Usage(format!(
                "release `{}`: a value is longer than 4 GiB, or a chunk has 2^32 rows",
                self.name
            )));
        }
        self.pushed += 1;
        if self.rows.rows() as usize >= self.flush_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the buffered rows to the host now (a no-op when none are buffered).
    pub fn flush(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.rows.rows() == 0 {
            return Ok(());
        }
        let chunk = self.rows.bytes();
        // SAFETY: the pointer and length describe `chunk`, alive across the call.
        let rc = unsafe { abi::release_append_rows(self.handle, chunk.as_ptr(), chunk.len()) };
        self.rows.clear();
        if rc < 0 {
            self.failed = true;
            return Err(Error::from_host(rc));
        }
        Ok(())
    }

    /// Hands over what is buffered and asks the guard to decide.
    ///
    /// A release with no rows at all is finished without any chunk: the guard then has nothing
    /// to aggregate, and says so.
    pub fn finish(mut self) -> Result<Outcome> {
        self.flush()?;
        // SAFETY: no pointers cross.
        Outcome::from_host("release_finish", unsafe {
            abi::release_finish(self.handle)
        })
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Usage(format!(
                "release `{}` lost a chunk in an earlier error and cannot go on",
                self.name
            )));
        }
        Ok(())
    }
}

/// Refuses a row of `found` (dimensions, measures) values where the schema has `expected`,
/// naming `what` (the release or the contributions) in the message.
pub(crate) fn check_arity(
    what: &str,
    expected: (usize, usize),
    found: (usize, usize),
) -> Result<()> {
    if expected != found {
        return Err(Error::Usage(format!(
            "{what} takes {} dimension(s) and {} measure(s), got {} and {}",
            expected.0, expected.1, found.0, found.1
        )));
    }
    Ok(())
}

/// Refuses names that cannot form a contribution schema: empty, used twice, or `entity` and
/// `entities`, which the contract reserves whatever the schema (`entity` is the contribution
/// key, `entities` the released count).
pub(crate) fn check_names(dimensions: &[&str], measures: &[&str]) -> Result<()> {
    let mut names: Vec<&str> = vec!["entity", "entities"];
    for name in dimensions.iter().chain(measures) {
        if name.is_empty() {
            return Err(Error::Usage("a dimension or measure name is empty".into()));
        }
        if names.contains(name) {
            return Err(Error::Usage(format!(
                "column name `{name}` is used twice in the release (`entity` and `entities` are \
                 reserved)"
            )));
        }
        names.push(name);
    }
    Ok(())
}

/// The contribution schema for names [`check_names`] accepted: an `entity` column first when
/// `with_entity` (a [`Release`]), then the dimensions (`Utf8`) and measures (`Float64`).
#[cfg(feature = "arrow")]
pub(crate) fn schema_of(dimensions: &[&str], measures: &[&str], with_entity: bool) -> SchemaRef {
    let mut fields = Vec::with_capacity(1 + dimensions.len() + measures.len());
    if with_entity {
        fields.push(Field::new("entity", DataType::Utf8, false));
    }
    fields.extend(
        dimensions
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true)),
    );
    fields.extend(
        measures
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true)),
    );
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{decode_rows, Fake};

    #[test]
    fn schema_follows_the_abi() {
        let _fake = Fake::install();
        let release =
            Release::begin("r", &["district", "industry"], &["capital", "tax"]).expect("begun");
        let schema = release.schema();
        let described: Vec<(String, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(
            described,
            vec![
                ("entity".into(), DataType::Utf8, false),
                ("district".into(), DataType::Utf8, true),
                ("industry".into(), DataType::Utf8, true),
                ("capital".into(), DataType::Float64, true),
                ("tax".into(), DataType::Float64, true),
            ]
        );
    }

    #[test]
    fn bad_names_are_refused_before_the_host_is_asked() {
        let fake = Fake::install();
        for (dims, measures) in [
            (&["district", "district"][..], &["x"][..]),
            (&["entity"][..], &["x"][..]),
            (&["d"][..], &["entities"][..]),
            (&["district"][..], &["district"][..]),
            (&[""][..], &["x"][..]),
        ] {
            let err = Release::begin("r", dims, measures).expect_err("refused");
            assert!(matches!(err, Error::Usage(_)), "{err:?}");
        }
        assert!(fake.releases_begun().is_empty());
    }

    #[test]
    fn contributions_round_trip_as_contribution_rows() {
        let fake = Fake::install();
        let mut release = Release::begin("district_stats", &["district", "industry"], &["capital"])
            .expect("begun");
        release
            .push("a1", &["东城区", "制造业"], &[100.0])
            .expect("pushed");
        release
            .push("b2", &["西城区", "零售业"], &[f64::NAN])
            .expect("pushed");
        assert_eq!(release.finish().expect("finished"), Outcome::Released);

        assert_eq!(fake.releases_begun(), vec!["district_stats".to_string()]);
        let chunks = fake.chunks("district_stats");
        assert_eq!(chunks.len(), 1);
        let rows = decode_rows(
            &chunks[0],
            &["entity", "district", "industry"],
            &["capital"],
        );
        let text = |row: usize, column: usize| rows[row].0[column].as_deref();
        assert_eq!(rows.len(), 2);
        assert_eq!(text(1, 0), Some("b2"));
        assert_eq!(text(0, 1), Some("东城区"));
        assert_eq!(text(1, 2), Some("零售业"));
        assert_eq!(rows[0].1, vec![Some(100.0)]);
        assert!(rows[1].1[0].is_some_and(f64::is_nan));
        assert_eq!(fake.finished(), vec!["district_stats".to_string()]);
    }

    #[test]
    fn flushes_every_n_rows_and_the_rest_at_finish() {
        let fake = Fake::install();
        let mut release =
            Release::begin("income_by_age", &["district", "age_band"], &["income"]).expect("begun");
        release.set_flush_rows(3);
        for i in 0..7 {
            let entity = format!("e{i}");
            release
                .push(&entity, &["d", "18-29"], &[f64::from(i)])
                .expect("pushed");
        }
        assert_eq!(
            fake.chunks("income_by_age").len(),
            2,
            "two full chunks so far"
        );
        assert_eq!(release.rows_pushed(), 7);
        release.finish().expect("finished");
        let chunks = fake.chunks("income_by_age");
        let decode =
            |chunk: &[u8]| decode_rows(chunk, &["entity", "district", "age_band"], &["income"]);
        let sizes: Vec<usize> = chunks.iter().map(|c| decode(c).len()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        let last = decode(&chunks[2]);
        assert_eq!(last[0].0[0].as_deref(), Some("e6"));
        assert_eq!(last[0].1, vec![Some(6.0)]);
    }

    #[test]
    fn empty_release_sends_no_chunk() {
        let fake = Fake::install();
        let release = Release::begin("r", &["d"], &["m"]).expect("begun");
        release.finish().expect("finished");
        assert!(fake.chunks("r").is_empty());
        assert_eq!(fake.finished(), vec!["r".to_string()]);
    }

    #[test]
    fn wrong_arity_is_a_usage_error() {
        let _fake = Fake::install();
        let mut release = Release::begin("r", &["d1", "d2"], &["m"]).expect("begun");
        let err = release
            .push("e", &["x"], &[1.0])
            .expect_err("one dim short");
        assert_eq!(err.code(), crate::error::CODE_USAGE);
        assert!(err.to_string().contains("2 dimension(s)"), "{err}");
        assert_eq!(release.rows_pushed(), 0);
    }

    #[test]
    fn blocked_and_host_errors_are_reported() {
        let fake = Fake::install();
        fake.set_finish_answer(1);
        let release = Release::begin("r", &["d"], &["m"]).expect("begun");
        assert_eq!(release.finish().expect("decided"), Outcome::Blocked);

        fake.refuse_releases(abi::UNKNOWN_RELEASE, "no release named `nope`");
        let err = Release::begin("nope", &["d"], &["m"]).expect_err("unknown");
        assert_eq!(err.host_code(), Some(abi::UNKNOWN_RELEASE));
        assert_eq!(err.code(), 107);
    }

    #[test]
    fn a_failed_chunk_poisons_the_release() {
        let fake = Fake::install();
        let mut release = Release::begin("r", &["d"], &["m"]).expect("begun");
        release.set_flush_rows(1);
        fake.fail_appends(abi::INVALID_CONTRIBUTIONS, "schema mismatch");
        let err = release
            .push("e", &["x"], &[1.0])
            .expect_err("append refused");
        assert_eq!(err.host_code(), Some(abi::INVALID_CONTRIBUTIONS));
        let err = release.push("e", &["x"], &[1.0]).expect_err("poisoned");
        assert!(matches!(err, Error::Usage(_)));
        assert!(
            release.finish().is_err(),
            "never finishes a partial release"
        );
        assert!(fake.finished().is_empty());
    }
}
