//! Tests of the governance state against an in-memory database, the bundled datasets and a
//! temporary data directory. Every test ends by verifying the audit log.

mod applications;
mod channels;
mod gate;
mod identities;
mod objections;
mod refusals;
mod registry;
mod states;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, Utc};

use super::model::*;
use super::{GovError, Governance, ScenarioFile};
use crate::audit::{AuditFilter, AuditLog};
use crate::keys::DomainKeys;
use crate::store::Store;

/// Department of the bundled `enterprise_registry`.
const MARKET: &str = "市场监督管理局";
/// Department of the bundled `tax_payments`.
const TAX: &str = "税务局";

/// A governance state with its audit log, keys and data directory.
struct Fixture {
    _dir: tempfile::TempDir,
    keys: Arc<DomainKeys>,
    audit: Arc<AuditLog>,
    gov: Governance,
}

/// The usual cast: the bureau, two providers, an operator and a reviewer.
struct World {
    fx: Fixture,
    bureau: Caller,
    market: Caller,
    tax: Caller,
    op: Caller,
    reviewer: Caller,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Arc::new(DomainKeys::load_or_create(dir.path()).expect("keys"));
        let store = Arc::new(Store::open_in_memory().expect("store"));
        let audit = Arc::new(AuditLog::new(store.clone(), keys.clone()));
        let gov = Governance::new(store, audit.clone(), dir.path());
        Self {
            _dir: dir,
            keys,
            audit,
            gov,
        }
    }

    /// Adds an identity and returns it as a caller.
    fn add(&self, id: &str, role: Role, usci: Option<&str>, department: Option<&str>) -> Caller {
        self.gov
            .admin_add_identity(NewIdentity {
                id: id.into(),
                role,
                name: format!("{id} name"),
                usci: usci.map(Into::into),
                department: department.map(Into::into),
            })
            .expect("add identity");
        Caller {
            id: id.into(),
            role,
        }
    }

    /// The audit log verifies and holds an entry with `action` (and `subject`, if given).
    #[track_caller]
    fn assert_audited(&self, action: &str, subject: Option<&str>) {
        self.audit
            .verify(&self.keys.public_key())
            .expect("audit log verifies");
        let entries = self.audit.search(&AuditFilter::default()).expect("search");
        assert!(
            entries
                .iter()
                .any(|e| e.action == action && subject.is_none_or(|s| e.subject == s)),
            "no {action} entry for {subject:?} in {:?}",
            entries
                .iter()
                .map(|e| (&e.action, &e.subject))
                .collect::<Vec<_>>()
        );
    }

    /// Runs SQL directly on the store (to move deadlines into the past, read raw rows).
    fn sql(&self, sql: &str) {
        self.gov
            .store
            .write(|tx| {
                tx.execute_batch(sql)?;
                Ok(())
            })
            .expect("sql");
    }
}

/// A valid unified social credit code, different for each `n` < 10.
fn usci(n: u8) -> String {
    shuyu_datasets::make_usci("110105", &format!("MA0{n}BCDE")).expect("usci")
}

/// The bundled dataset folder.
fn bundled(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("datasets")
        .join(name)
}

/// The bundled manifest text and Parquet bytes.
fn bundled_files(name: &str) -> (String, Vec<u8>) {
    let dir = bundled(name);
    (
        std::fs::read_to_string(dir.join("dataset.toml")).expect("manifest"),
        std::fs::read(dir.join("data.parquet")).expect("parquet"),
    )
}

/// The bundled dataset's data without its first `drop` rows: a treatment, as new bytes.
fn treated_parquet(name: &str, drop: usize) -> Vec<u8> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    let file = std::fs::File::open(bundled(name).join("data.parquet")).expect("parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .expect("reader");
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).expect("writer");
    let mut left = drop;
    for batch in reader {
        let batch = batch.expect("batch");
        let skip = left.min(batch.num_rows());
        left -= skip;
        writer
            .write(&batch.slice(skip, batch.num_rows() - skip))
            .expect("write");
    }
    writer.close().expect("close");
    out
}

impl World {
    /// Publishes `name`'s bundled manifest with [`treated_parquet`] data as `by`.
    fn publish_treated(
        &self,
        by: &Caller,
        name: &str,
        drop: usize,
    ) -> Result<DatasetRecord, GovError> {
        let (manifest, _) = bundled_files(name);
        self.gov()
            .publish_dataset(by, name, &manifest, &treated_parquet(name, drop))
    }

    fn new() -> Self {
        let fx = Fixture::new();
        let bureau = fx.add("bureau-1", Role::Bureau, None, None);
        let market = fx.add("p-market", Role::Provider, None, Some(MARKET));
        let tax = fx.add("p-tax", Role::Provider, None, Some(TAX));
        let op = fx.add("op-1", Role::Operator, Some(&usci(1)), None);
        let reviewer = fx.add("rev-1", Role::Reviewer, None, None);
        Self {
            fx,
            bureau,
            market,
            tax,
            op,
            reviewer,
        }
    }

    fn gov(&self) -> &Governance {
        &self.fx.gov
    }

    /// Publishes a bundled dataset as `by`.
    fn publish(&self, by: &Caller, name: &str) -> Result<DatasetRecord, GovError> {
        let (manifest, parquet) = bundled_files(name);
        self.gov().publish_dataset(by, name, &manifest, &parquet)
    }

    /// Publishes `enterprise_registry` and `tax_payments`.
    fn publish_both(&self) {
        self.publish(&self.market, "enterprise_registry")
            .expect("publish registry");
        self.publish(&self.tax, "tax_payments")
            .expect("publish tax");
    }

    /// A comprehensive agreement for `op-1` up to `max_level`, in force for a year.
    fn agreement(&self, mode: AgreementMode, scope: AgreementScope) -> Agreement {
        let now = Utc::now();
        self.gov()
            .create_agreement(
                &self.bureau,
                NewAgreement {
                    operator: self.op.id.clone(),
                    mode,
                    scope,
                    term_start: now - Duration::days(1),
                    term_end: now + Duration::days(365),
                    security_requirements: "level 3 protection".into(),
                    exit_conditions: "delete all derived data".into(),
                },
            )
            .expect("agreement")
    }

    fn comprehensive(&self, max_level: u8) -> Agreement {
        self.agreement(
            AgreementMode::Comprehensive,
            AgreementScope {
                datasets: vec![],
                domains: vec![],
                max_level,
            },
        )
    }

    /// Uploads a minimal module as `op-1` and returns its hash.
    fn module(&self, tag: u8) -> String {
        self.gov()
            .upload_module(&self.op, &[0, b'a', b's', b'm', 1, 0, 0, 0, tag])
            .expect("upload")
    }

    /// An application for the district-stats scenario.
    fn new_application(
        &self,
        agreement: &str,
        module: &str,
        amends: Option<&str>,
    ) -> NewApplication {
        NewApplication {
            agreement: agreement.into(),
            scenario: scenario("district-stats", &self.op.id, module),
            valid_until: Utc::now() + Duration::days(90),
            amends: amends.map(Into::into),
        }
    }

    /// Every party approves `id`.
    fn approve_all(&self, id: &str) -> Application {
        let mut last = None;
        for who in [&self.bureau, &self.market, &self.tax] {
            last = Some(
                self.gov()
                    .review_application(who, id, approve())
                    .expect("approve"),
            );
        }
        last.expect("three reviews")
    }

    /// Everything up to an approved application: datasets, agreement, module, application.
    fn approved(&self) -> (Agreement, String, Application) {
        self.publish_both();
        let agreement = self.comprehensive(4);
        let module = self.module(1);
        let app = self
            .gov()
            .submit_application(&self.op, self.new_application(&agreement.id, &module, None))
            .expect("submit");
        let app = self.approve_all(&app.id);
        assert_eq!(app.status, ApplicationStatus::Approved);
        (agreement, module, app)
    }
}

fn approve() -> ReviewInput {
    ReviewInput {
        decision: Decision::Approve,
        reason: "meets the rules".into(),
    }
}

/// The district-stats scenario over `enterprise_registry` and `tax_payments`.
fn scenario(id: &str, operator: &str, module: &str) -> ScenarioFile {
    ScenarioFile::from_toml_str(&format!(
        r#"
[scenario]
id = "{id}"
title = "district statistics"
operator = "{operator}"
purpose = "enterprise count and tax by district"
module_sha256 = "{module}"

[[grant]]
dataset = "enterprise_registry"
columns = ["usci", "district", "industry", "registered_capital"]
[[grant]]
dataset = "tax_payments"
columns = ["usci", "amount"]

[[release]]
name = "district_stats"
k = 5
max_rows_per_entity = 1
  [[release.dimension]]
  name = "district"
  from = ["enterprise_registry.district"]
  [[release.measure]]
  name = "capital"
  from = ["enterprise_registry.registered_capital"]
  clamp = [0.0, 100000.0]
  aggregations = ["count", "mean"]
  [[release.measure]]
  name = "tax"
  from = ["tax_payments.amount"]
  clamp = [0.0, 10000000.0]
  aggregations = ["sum"]
"#
    ))
    .expect("scenario TOML")
}

/// The message of a `Forbidden`, failing otherwise.
#[track_caller]
fn forbidden<T: std::fmt::Debug>(result: Result<T, GovError>) -> String {
    match result {
        Err(GovError::Forbidden(message)) => message,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

/// The message of a `NotFound`, failing otherwise.
#[track_caller]
fn not_found<T: std::fmt::Debug>(result: Result<T, GovError>) -> String {
    match result {
        Err(GovError::NotFound(message)) => message,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Asserts that probing `real` (someone else's id) answers exactly what probing `missing` (an
/// id that exists nowhere) answers: `NotFound`, and the same message but for the id.
#[track_caller]
fn looks_missing<T: std::fmt::Debug>(
    real: &str,
    probe_real: Result<T, GovError>,
    missing: &str,
    probe_missing: Result<T, GovError>,
) {
    let real_message = not_found(probe_real);
    let missing_message = not_found(probe_missing);
    assert_eq!(
        real_message.replace(real, missing),
        missing_message,
        "another's object must look exactly like a missing one"
    );
}

/// The message of a `Conflict`, failing otherwise.
#[track_caller]
fn conflict<T: std::fmt::Debug>(result: Result<T, GovError>) -> String {
    match result {
        Err(GovError::Conflict(message)) => message,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// The message of an `Invalid`, failing otherwise.
#[track_caller]
fn invalid<T: std::fmt::Debug>(result: Result<T, GovError>) -> String {
    match result {
        Err(GovError::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}
