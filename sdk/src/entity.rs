//! Per-entity releases: differential privacy that holds whatever the module computes.
//!
//! A `[[release]]` whose contract has `privacy` cannot be made by the main run
//! ([`Release::begin`](crate::Release::begin) returns [`abi::NOT_AVAILABLE`]): a run that sees
//! every row could credit one person's value to everyone, and no noise calibrated for one entity
//! would hide that. Such a release is made **per entity** instead (docs/abi.md, "Entity
//! contributions"):
//!
//! - The main run ([`entry!`](crate::entry)) asks for it with [`release_entities`].
//! - The host then runs the module's contribution entry ([`contribute!`](crate::contribute)) once
//!   for every entity (every pseudonym in the entity column of a granted table), each time in a
//!   **fresh instance**: new memory, globals and tables, nothing left from the main run or from
//!   another entity. Statics, caches and counters start from their initial values in every run.
//! - An entity run sees **only its own rows**: [`Entity::table`] reads this entity's rows of one
//!   granted table in place, `Entity::rows` (or `rows`) as record batches (feature `arrow`);
//!   `query` and [`query_table`](crate::query_table) are not available.
//! - It returns [`Contributions`]: rows of the contract's dimensions and measures, with **no
//!   entity column** (the host knows whose they are). The guard keeps the first `L` rows
//!   (`max_rows_per_entity`) of each entity, clamps, aggregates and adds the noise.
//! - A run that fails (an error, a panic, a limit such as `entity_fuel`) or hands over rows that
//!   do not fit the contract contributes **nothing**, and is counted in the audit log. It never
//!   blocks the release or ends the job. An entity whose run returns no rows (say, a value it
//!   needs is missing) contributes nothing either.
//!
//! Because each run can only see and return one entity's data, each entity's contributions depend
//! on its own rows only, which is what the noise is calibrated for.
//!
//! ```no_run
//! use shuyu_sdk::entity::{self, Contributions, Entity};
//! use shuyu_sdk::{log, Result};
//!
//! shuyu_sdk::entry!(main_run);
//! shuyu_sdk::contribute!(one_resident);
//!
//! fn main_run() -> Result<()> {
//!     let outcome = entity::release_entities("income_by_age")?;
//!     log!("income_by_age: {outcome:?}");
//!     Ok(())
//! }
//!
//! /// One resident's rows in, at most one contribution row out.
//! fn one_resident(entity: &Entity) -> Result<Contributions> {
//!     let mut out = Contributions::new(&["age_band"], &["income"])?;
//!     // Read in place; `entity.rows` gives the same rows as Arrow record batches.
//!     let rows = entity.table("residents")?;
//!     let (age, income) = (rows.i64("age")?, rows.f64_lossy("income")?);
//!     for i in 0..rows.num_rows() {
//!         // `None` for a null: skip the row.
//!         let (Some(age), Some(income)) = (age.get(i), income.get(i)) else {
//!             continue;
//!         };
//!         let band = if age < 18 { "0-17" } else { "18+" };
//!         out.push(&[band], &[income])?;
//!     }
//!     Ok(out)
//! }
//! ```

use crate::abi;
use crate::error::{Error, Result};
#[cfg(feature = "arrow")]
use crate::query::Rows;
use crate::query::{Query, Staging};
#[cfg(feature = "arrow")]
use crate::release::schema_of;
use crate::release::{check_arity, check_names, Outcome};
#[cfg(feature = "arrow")]
use arrow_array::RecordBatch;
#[cfg(feature = "arrow")]
use arrow_schema::SchemaRef;
use std::cell::OnceCell;

pub use crate::view::{Booleans, Number, Numbers, Table, Utf8Column};

/// Main run: makes the `[[release]]` `name` per entity. Returns once every entity run has
/// finished and the guard has decided.
///
/// Fails with [`abi::UNKNOWN_RELEASE`] for a name the contract does not have or one already
/// released in this job, and with [`abi::NOT_AVAILABLE`] inside a partition or entity run.
pub fn release_entities(name: &str) -> Result<Outcome> {
    // SAFETY: the pointer and length describe `name`, which lives across the call.
    Outcome::from_host("release_entities", unsafe {
        abi::release_entities(name.as_ptr(), name.len())
    })
}

/// Entity run: the name of the release being computed, so one module can serve several
/// per-entity releases. Fails with [`abi::NOT_AVAILABLE`] outside an entity run.
pub fn release_name() -> Result<String> {
    crate::read_host_name("entity_release", |dst, cap| {
        // SAFETY: `read_host_name` passes a buffer it owns, of `cap` writable bytes.
        unsafe { abi::entity_release(dst, cap) }
    })
}

/// Entity run: this entity's rows of the granted table `table`, one batch at a time, with every
/// granted column (identifiers as pseudonyms). An entity without rows in the table gets no batch.
///
/// Fails with [`abi::QUERY_REJECTED`] for a table the scenario does not grant, and with
/// [`abi::NOT_AVAILABLE`] outside an entity run.
#[cfg(feature = "arrow")]
pub fn rows(table: &str) -> Result<Rows> {
    // SAFETY: the pointer and length describe `table`, which lives across the call.
    let handle = unsafe { abi::entity_rows(table.as_ptr(), table.len()) };
    Rows::from_handle(handle, Staging::Ipc)
}

/// Reads the one staged batch of an `entity_table` handle in place (an empty table when there
/// are no rows). `what` names the rows in errors.
pub(crate) fn one_table(handle: i32, what: &str) -> Result<Table> {
    let mut query = Query::new(handle, Staging::EntityTable)?;
    let Some(bytes) = query.next_staged()? else {
        return Ok(Table::default());
    };
    if query.next_staged()?.is_some() {
        // The host stages an entity's rows of a table as one batch (docs/abi.md); a view over
        // one buffer cannot hold two.
        return Err(Error::Usage(format!(
            "the host staged {what} in more than one batch: read them as record batches"
        )));
    }
    Table::from_bytes(bytes)
}

/// The entity an entity run computes for, as [`contribute!`](crate::contribute) hands it to the
/// operator's function. It has no name: the run never learns whose rows it reads, beyond the
/// pseudonyms in them.
#[derive(Debug, Default)]
pub struct Entity {
    release: OnceCell<String>,
}

impl Entity {
    /// Made by [`contribute!`](crate::contribute); a module has no reason to make one itself.
    #[doc(hidden)]
    pub fn new() -> Entity {
        Entity::default()
    }

    /// The name of the release being computed (asked of the host once, then remembered).
    pub fn release(&self) -> Result<&str> {
        if let Some(name) = self.release.get() {
            return Ok(name);
        }
        let name = release_name()?;
        Ok(self.release.get_or_init(|| name))
    }

    /// Every batch of this entity's rows of the granted table `table` (none when it has no rows
    /// there). An entity's rows are few, so they are read at once; [`rows`] reads them lazily.
    ///
    /// They are asked for in the compact table encoding (`entity_table`, docs/abi.md "Entity
    /// tables"), which costs a run a fraction of decoding Arrow IPC; a table with a column of a
    /// type that encoding does not carry, or a host without it, is read as IPC instead. The
    /// batches are the same either way. Feature `arrow`.
    #[cfg(feature = "arrow")]
    pub fn rows(&self, table: &str) -> Result<Vec<RecordBatch>> {
        // SAFETY: the pointer and length describe `table`, which lives across the call.
        let handle = unsafe { abi::entity_table(table.as_ptr(), table.len()) };
        if handle == abi::NOT_AVAILABLE {
            return rows(table)?.collect();
        }
        Rows::from_handle(handle, Staging::EntityTable)?.collect()
    }

    /// This entity's rows of the granted table `table`, read in place: typed columns by name
    /// ([`Table::utf8`], [`Table::f64_lossy`], ...) straight from the bytes the host
    /// staged, without building Arrow arrays. What `Entity::rows` gives as record batches, at
    /// a fraction of the cost per run; an entity without rows there gets an empty table.
    ///
    /// Fails with [`abi::NOT_AVAILABLE`] for a table with a column of a type the table encoding
    /// does not carry (binary, timestamps: read it with `Entity::rows`), and with
    /// [`abi::QUERY_REJECTED`] for a table the scenario does not grant.
    pub fn table(&self, table: &str) -> Result<Table> {
        // SAFETY: the pointer and length describe `table`, which lives across the call.
        let handle = unsafe { abi::entity_table(table.as_ptr(), table.len()) };
        one_table(handle, &format!("this entity's rows of '{table}'"))
    }
}

/// The contribution rows of one entity for a per-entity release: one `Utf8` column per contract
/// dimension, then one `Float64` column per contract measure, named and ordered as in the
/// contract, and no `entity` column.
///
/// Returned from the function given to [`contribute!`](crate::contribute), which hands the rows
/// over; [`Contributions::contribute`] does the same by hand. The guard keeps the first `L`
/// (`max_rows_per_entity`) rows of the entity and drops the rest.
///
/// The rows travel as contribution rows (docs/abi.md, "Contribution rows"), not as Arrow IPC:
/// an entity run is short, and building and checking an IPC stream's schema and flatbuffers was
/// most of what handing over one row cost.
#[derive(Debug)]
pub struct Contributions {
    dimensions: Vec<String>,
    measures: Vec<String>,
    /// Built when first asked for: the rows do not need it.
    #[cfg(feature = "arrow")]
    schema: OnceCell<SchemaRef>,
    rows: shuyu_abi::rows::Encoder,
}

impl Contributions {
    /// No rows yet, for these dimension and measure names in contract order.
    ///
    /// Fails with [`Error::Usage`] if the names cannot form a schema (empty, duplicated, or
    /// `entity`/`entities`, which the contract reserves).
    pub fn new(dimensions: &[&str], measures: &[&str]) -> Result<Contributions> {
        check_names(dimensions, measures)?;
        let rows = shuyu_abi::rows::Encoder::new(dimensions, measures).ok_or_else(|| {
            Error::Usage("more than 65,535 columns, or a name longer than 65,535 bytes".into())
        })?;
        Ok(Contributions {
            dimensions: dimensions.iter().map(|d| d.to_string()).collect(),
            measures: measures.iter().map(|m| m.to_string()).collect(),
            #[cfg(feature = "arrow")]
            schema: OnceCell::new(),
            rows,
        })
    }

    /// Adds one row: `dimensions` and `measures` in the order given to [`Contributions::new`].
    pub fn push(&mut self, dimensions: &[&str], measures: &[f64]) -> Result<()> {
        let dimensions: Vec<Option<&str>> = dimensions.iter().copied().map(Some).collect();
        let measures: Vec<Option<f64>> = measures.iter().copied().map(Some).collect();
        self.push_opt(&dimensions, &measures)
    }

    /// Adds one row with nulls where a value is `None`. A null measure is left out of count, sum
    /// and mean; a null dimension is outside any declared domain, so the guard drops that row.
    pub fn push_opt(
        &mut self,
        dimensions: &[Option<&str>],
        measures: &[Option<f64>],
    ) -> Result<()> {
        check_arity(
            "the contributions",
            (self.dimensions.len(), self.measures.len()),
            (dimensions.len(), measures.len()),
        )?;
        if !self.rows.push(dimensions, measures) {
            return Err(Error::Usage(
                "a dimension value is longer than 4 GiB, or there are 2^32 rows".into(),
            ));
        }
        Ok(())
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows.rows() as usize
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.rows() == 0
    }

    /// The rows' schema as Arrow sees it (what the guard checks them against). Feature `arrow`.
    #[cfg(feature = "arrow")]
    pub fn schema(&self) -> &SchemaRef {
        self.schema.get_or_init(|| {
            let dimensions: Vec<&str> = self.dimensions.iter().map(String::as_str).collect();
            let measures: Vec<&str> = self.measures.iter().map(String::as_str).collect();
            schema_of(&dimensions, &measures, false)
        })
    }

    /// Entity run: hands the rows to the host as one chunk of contribution rows. Without rows
    /// nothing is sent, and the entity contributes nothing.
    ///
    /// Fails with [`abi::INVALID_CONTRIBUTIONS`] when the names are not the contract's (the run
    /// then contributes nothing at all), and with [`abi::NOT_AVAILABLE`] outside an entity run.
    pub fn contribute(self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let chunk = self.rows.bytes();
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
    use crate::fake::{decode_rows, ipc_stream, Fake};
    use crate::BatchExt;
    use arrow_array::{ArrayRef, Float64Array, StringArray};
    use arrow_schema::DataType;
    use std::sync::Arc;

    fn resident(ids: &[&str], incomes: &[f64]) -> Vec<u8> {
        let batch = RecordBatch::try_from_iter([
            (
                "citizen_id",
                Arc::new(StringArray::from(ids.to_vec())) as ArrayRef,
            ),
            (
                "income",
                Arc::new(Float64Array::from(incomes.to_vec())) as ArrayRef,
            ),
        ])
        .expect("valid batch");
        ipc_stream(&batch)
    }

    #[test]
    fn contributions_go_as_rows_without_an_entity_column() {
        let fake = Fake::install();
        fake.enter_entity_run("district_stats");
        let (dims, measures) = (["district", "industry"], ["capital", "tax"]);
        let mut out = Contributions::new(&dims, &measures).expect("names");
        out.push(&["西湖区", "制造业"], &[500.0, 12.5])
            .expect("pushed");
        out.push_opt(&[Some("滨江区"), None], &[None, Some(3.0)])
            .expect("pushed");
        assert_eq!(out.len(), 2);
        let fields: Vec<(String, DataType)> = out
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("district".into(), DataType::Utf8),
                ("industry".into(), DataType::Utf8),
                ("capital".into(), DataType::Float64),
                ("tax".into(), DataType::Float64),
            ]
        );
        out.contribute().expect("contributed");

        assert!(fake.contributed().is_empty(), "no IPC stream");
        let sent = fake.contributed_rows();
        assert_eq!(sent.len(), 1, "one chunk per contribute");
        assert_eq!(
            decode_rows(&sent[0], &dims, &measures),
            vec![
                (
                    vec![Some("西湖区".to_string()), Some("制造业".to_string())],
                    vec![Some(500.0), Some(12.5)]
                ),
                (
                    vec![Some("滨江区".to_string()), None],
                    vec![None, Some(3.0)]
                ),
            ]
        );
    }

    #[test]
    fn no_rows_sends_nothing() {
        let fake = Fake::install();
        fake.enter_entity_run("r");
        let out = Contributions::new(&["d"], &["m"]).expect("names");
        assert!(out.is_empty());
        out.contribute().expect("nothing to send");
        assert!(fake.contributed_rows().is_empty());
    }

    #[test]
    fn bad_names_and_arity_are_usage_errors() {
        let _fake = Fake::install();
        for (dims, measures) in [
            (&["entity"][..], &["m"][..]),
            (&["d"][..], &["entities"][..]),
            (&["d", "d"][..], &["m"][..]),
            (&[""][..], &["m"][..]),
        ] {
            let err = Contributions::new(dims, measures).expect_err("refused");
            assert!(matches!(err, Error::Usage(_)), "{err:?}");
        }
        let mut out = Contributions::new(&["d1", "d2"], &["m"]).expect("names");
        let err = out.push(&["x"], &[1.0]).expect_err("one dimension short");
        assert!(err.to_string().contains("2 dimension(s)"), "{err}");
        let err = out
            .push_opt(&[Some("x"), None], &[])
            .expect_err("no measure");
        assert!(err.to_string().contains("1 measure(s)"), "{err}");
        assert!(out.is_empty(), "a refused row is not kept");
    }

    #[test]
    fn refused_contributions_report_the_host_code() {
        let fake = Fake::install();
        fake.enter_entity_run("r");
        fake.refuse_contributions(abi::INVALID_CONTRIBUTIONS, "schema is not the contract's");
        let mut out = Contributions::new(&["d"], &["m"]).expect("names");
        out.push(&["x"], &[1.0]).expect("pushed");
        let err = out.contribute().expect_err("refused");
        assert_eq!(err.host_code(), Some(abi::INVALID_CONTRIBUTIONS));
        assert!(
            err.to_string().contains("schema is not the contract's"),
            "{err}"
        );
    }

    #[test]
    fn an_entity_table_is_read_in_place() {
        use shuyu_abi::table::{ColumnType, Writer};
        let staged = |amounts: &[f64]| {
            let mut w = Writer::new(amounts.len(), &[("amount", ColumnType::Float64, false)])
                .expect("fits");
            w.validity(None);
            let bytes: Vec<u8> = amounts.iter().flat_map(|a| a.to_le_bytes()).collect();
            w.fixed(&bytes);
            w.finish()
        };
        let fake = Fake::install();
        fake.enter_entity_run("district_stats");
        fake.grant_entity_table("tax_payments", vec![staged(&[1.5, 2.5])]);
        fake.grant_entity_table("clinic_visits", vec![]);
        fake.grant_entity_table("twice", vec![staged(&[1.0]), staged(&[2.0])]);
        fake.grant_entity_rows("residents", vec![resident(&["p1"], &[10.0])]);
        let entity = Entity::new();

        let tax = entity.table("tax_payments").expect("staged");
        let amounts: Vec<Option<f64>> = tax.f64_lossy("amount").expect("amount").iter().collect();
        assert_eq!(amounts, [Some(1.5), Some(2.5)]);
        assert_eq!(
            entity.table("clinic_visits").expect("no rows").num_rows(),
            0
        );
        let err = entity.table("twice").expect_err("two batches");
        assert!(err.to_string().contains("more than one batch"), "{err}");
        // A table the host cannot stage this way is refused, not read as IPC behind the
        // caller's back: `Entity::rows` is for that.
        let err = entity.table("residents").expect_err("IPC only");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
        // The host closed the handles of the tables read to their end; the module closed the
        // one it gave up on.
        assert_eq!(fake.closed().len(), 1);
    }

    #[test]
    fn entity_rows_read_only_the_granted_tables() {
        let fake = Fake::install();
        fake.enter_entity_run("income_by_age");
        fake.grant_entity_rows(
            "residents",
            vec![resident(&["p1"], &[10.0]), resident(&["p1"], &[20.0])],
        );
        fake.grant_entity_rows("clinic_visits", vec![]);
        let entity = Entity::new();
        let batches = entity.rows("residents").expect("granted");
        let incomes: Vec<f64> = batches
            .iter()
            .flat_map(|b| b.f64("income").expect("income").values().to_vec())
            .collect();
        assert_eq!(incomes, vec![10.0, 20.0]);
        assert!(entity.rows("clinic_visits").expect("granted").is_empty());
        let err = entity.rows("tax_payments").expect_err("not granted");
        assert_eq!(err.host_code(), Some(abi::QUERY_REJECTED));
        assert_eq!(
            fake.entity_rows_opened(),
            vec!["residents".to_string(), "clinic_visits".to_string()]
        );

        let mut lazy = rows("residents").expect("granted");
        assert_eq!(
            lazy.next().expect("a batch").expect("decodes").num_rows(),
            1
        );
        drop(lazy);
        assert_eq!(fake.closed().len(), 1, "an early drop closes the query");
    }

    #[test]
    fn release_name_round_trips_and_is_remembered() {
        let fake = Fake::install();
        let long = "a_per_entity_release_whose_name_is_longer_than_the_first_buffer_of_the_sdk";
        fake.enter_entity_run(long);
        assert_eq!(release_name().expect("entity run"), long);
        let entity = Entity::new();
        assert_eq!(entity.release().expect("entity run"), long);
        fake.enter_entity_run("changed");
        assert_eq!(entity.release().expect("remembered"), long);
    }

    #[test]
    fn outside_an_entity_run_the_host_says_not_available() {
        let fake = Fake::install();
        let err = release_name().expect_err("main run");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
        let err = rows("residents").expect_err("main run");
        assert_eq!(err.host_code(), Some(abi::NOT_AVAILABLE));
        let mut out = Contributions::new(&["d"], &["m"]).expect("names");
        out.push(&["x"], &[1.0]).expect("pushed");
        let err = out.contribute().expect_err("main run");
        assert_eq!(err.code(), crate::CODE_HOST_BASE + 8);
        assert!(fake.contributed_rows().is_empty());
    }

    #[test]
    fn release_entities_maps_the_host_answers() {
        let fake = Fake::install();
        assert_eq!(release_entities("r").expect("released"), Outcome::Released);
        let err = release_entities("r").expect_err("second time");
        assert_eq!(err.host_code(), Some(abi::UNKNOWN_RELEASE));
        fake.set_entities_answer(1);
        assert_eq!(release_entities("s").expect("decided"), Outcome::Blocked);
        fake.set_entities_answer(7);
        let err = release_entities("t").expect_err("undefined answer");
        assert!(
            err.to_string()
                .contains("returned 7, which ABI v1 does not define"),
            "{err}"
        );
        assert_eq!(
            fake.released_entities(),
            vec!["r".to_string(), "s".to_string(), "t".to_string()]
        );
    }

    #[test]
    fn outside_the_sandbox_every_call_fails() {
        assert!(release_entities("r").is_err());
        assert!(release_name().is_err());
        assert!(rows("residents").is_err());
    }
}
