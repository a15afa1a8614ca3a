//! Mock runs on the governance side (docs/operator.md, "Mock runs"): who may start one, under
//! which contract, against which mock twins, and the record of each.
//!
//! No approval is needed: a mock twin holds no real row. What is still checked is who the caller
//! is (an operator in good standing, so a suspended operator cannot keep working through mocks),
//! that the module is one it uploaded, and that its scenario parses and names registered
//! datasets. The run itself is `crate::mock`'s.

use std::path::PathBuf;

use chrono::Utc;
use serde_json::json;
use shuyu_model::mock_runs::{MockReport, MockRun, MockRunStatus, NewMockRun, MOCK_MARK};

use super::access::{self, require, IdentityRules};
use super::applications::application;
use super::identities::random_hex;
use super::model::{Caller, Page, PageRequest, Role};
use super::modules::uploaded_by;
use super::{GovError, Governance, ScenarioFile};
use crate::catalog::{mock::twin_of, Catalog};
use crate::store::mock_runs as db;

/// Mock runs one operator may have running at once.
pub const MOCK_RUNS_PER_OPERATOR: u64 = 1;
/// The detail of a run the server stopped before it ended.
pub const DETAIL_INTERRUPTED: &str = "the server stopped before the mock run ended";

/// Everything needed to carry out a mock run that governance admitted.
#[derive(Debug, Clone)]
pub struct MockPlan {
    /// The run as recorded.
    pub run: MockRun,
    /// The scenario it runs under: the operator's, with the caller as its operator and the
    /// module that runs as its pinned module.
    pub scenario: ScenarioFile,
    /// Whether the scenario as written pinned this module.
    pub module_matches_scenario: bool,
    /// The mock twins of the scenario's datasets.
    pub catalog: Catalog,
    /// The stored module's file.
    pub module_path: PathBuf,
}

impl Governance {
    /// Admits and records a mock run of `caller` (see the module's comment for the checks).
    pub fn start_mock_run(&self, caller: &Caller, new: NewMockRun) -> Result<MockPlan, GovError> {
        require(caller, Role::Operator, "run modules against mock twins")?;
        let text = match (&new.scenario, &new.application) {
            (Some(text), None) => text.clone(),
            (None, Some(id)) => {
                let stored = self.store.read_with(|conn| application(conn, id))?;
                if stored.application.operator != caller.id {
                    return Err(GovError::NotFound(format!("application '{id}'")));
                }
                toml::to_string(&stored.application.scenario).map_err(|e| {
                    GovError::internal(format!("application {id}: cannot write its scenario: {e}"))
                })?
            }
            _ => {
                return Err(GovError::Invalid(
                    "give exactly one of `scenario` (a scenario file) and `application` (one of \
                     your applications)"
                        .into(),
                ))
            }
        };
        let mut scenario = ScenarioFile::from_toml_str(&text)
            .map_err(|e| GovError::Invalid(format!("scenario: {e}")))?;
        let sha = new.module_sha256.trim().to_ascii_lowercase();
        self.store.read_with(|conn| {
            let me = access::identity(conn, &caller.id)?;
            if let Some(reason) = me.operator_refusal() {
                return Err(GovError::Conflict(reason));
            }
            if !uploaded_by(conn, &sha, &caller.id)? {
                return Err(GovError::NotFound(format!(
                    "module {sha} (upload it first with `shuyu module upload`)"
                )));
            }
            let running = db::running_of(conn, &caller.id)?;
            if running >= MOCK_RUNS_PER_OPERATOR {
                return Err(GovError::Conflict(format!(
                    "you have {running} mock run(s) still running; wait for it to end"
                )));
            }
            Ok(())
        })?;
        let module_matches_scenario = scenario.scenario.module_sha256 == sha;
        scenario.scenario.module_sha256 = sha.clone();
        scenario.scenario.operator = caller.id.clone();
        let mut datasets: Vec<String> = scenario.grants.iter().map(|g| g.dataset.clone()).collect();
        datasets.sort();
        datasets.dedup();
        let catalog = self.mock_catalog(&datasets)?;
        let run = MockRun {
            // Time first, so that ids sort in the order runs started (pages are newest first).
            id: format!(
                "mock-{}-{}",
                Utc::now().format("%Y%m%d%H%M%S"),
                random_hex(6)?
            ),
            mark: MOCK_MARK.to_string(),
            operator: caller.id.clone(),
            scenario_id: scenario.scenario.id.clone(),
            module_sha256: sha.clone(),
            datasets: datasets.clone(),
            status: MockRunStatus::Running,
            started_at: Utc::now(),
            finished_at: None,
            report: None,
        };
        self.store.write_with(|tx| {
            // Checked again under the write lock: two starts at once cannot both pass.
            if db::running_of(tx, &caller.id)? >= MOCK_RUNS_PER_OPERATOR {
                return Err(GovError::Conflict(
                    "you have a mock run still running; wait for it to end".into(),
                ));
            }
            db::insert(tx, &run)?;
            self.record(
                tx,
                &caller.id,
                "mock.run.start",
                &run.scenario_id,
                None,
                json!({
                    "mock_run": run.id,
                    "module_sha256": sha,
                    "datasets": catalog.datasets().map(|d| json!({
                        "name": d.name(), "mock_content_sha256": d.content_sha256,
                    })).collect::<Vec<_>>(),
                }),
            )
        })?;
        Ok(MockPlan {
            run,
            scenario,
            module_matches_scenario,
            catalog,
            module_path: self.modules_dir.join(format!("{sha}.wasm")),
        })
    }

    /// Records how mock run `id` ended.
    pub fn finish_mock_run(
        &self,
        id: &str,
        status: MockRunStatus,
        report: &MockReport,
    ) -> Result<(), GovError> {
        self.store.write_with(|tx| {
            let Some(run) = db::find(tx, id)? else {
                return Err(GovError::NotFound(format!("mock run '{id}'")));
            };
            db::finish(tx, id, status, Utc::now(), report)?;
            self.record(
                tx,
                &run.operator,
                "mock.run.end",
                &run.scenario_id,
                None,
                json!({
                    "mock_run": id,
                    "status": status.as_str(),
                    "outcome": report.outcome,
                    "releases": report.releases.iter().map(|r| json!({
                        "release": r.release, "outcome": r.outcome, "rule": r.rule,
                    })).collect::<Vec<_>>(),
                }),
            )
        })
    }

    /// Marks the runs a stopped server left running as failed (at start-up).
    pub fn fail_interrupted_mock_runs(&self) -> Result<usize, GovError> {
        let ids = self
            .store
            .read_with(|conn| Ok::<_, GovError>(db::running(conn)?))?;
        for id in &ids {
            let report = MockReport {
                outcome: "failed".into(),
                detail: DETAIL_INTERRUPTED.into(),
                module_matches_scenario: false,
                fuel_used: 0,
                rows_read: 0,
                queries: 0,
                elapsed_ms: 0,
                events: Vec::new(),
                releases: Vec::new(),
                events_omitted: 0,
            };
            self.finish_mock_run(id, MockRunStatus::Failed, &report)?;
        }
        Ok(ids.len())
    }

    /// One of the caller's mock runs; another operator's is not found.
    pub fn get_mock_run(&self, caller: &Caller, id: &str) -> Result<MockRun, GovError> {
        require(caller, Role::Operator, "read mock runs")?;
        let found = self
            .store
            .read_with(|conn| Ok::<_, GovError>(db::find(conn, id)?))?;
        match found {
            Some(run) if run.operator == caller.id => Ok(run),
            _ => Err(GovError::NotFound(format!("mock run '{id}'"))),
        }
    }

    /// The caller's mock runs, newest first; `after` is the last id of the previous page.
    pub fn list_mock_runs(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<MockRun>, GovError> {
        require(caller, Role::Operator, "list mock runs")?;
        let limit = usize::try_from(page.limit.unwrap_or(50).clamp(1, 500)).unwrap_or(50);
        let before = page.after.clone().unwrap_or_default();
        let mut runs = self
            .store
            .read_with(|conn| Ok::<_, GovError>(db::page(conn, &caller.id, &before, limit + 1)?))?;
        let next = if runs.len() > limit {
            runs.truncate(limit);
            runs.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(Page { items: runs, next })
    }

    /// The mock twins of the current versions of `datasets` (written on first use for versions
    /// published before twins existed).
    pub fn mock_catalog(&self, datasets: &[String]) -> Result<Catalog, GovError> {
        let real = self.registered_catalog(datasets)?;
        let mut twins = Vec::new();
        for dataset in real.datasets() {
            twins.push(twin_of(dataset).map_err(|e| {
                GovError::internal_from(format!("mock twin of '{}'", dataset.name()), e)
            })?);
        }
        Catalog::from_datasets(real.root(), twins).map_err(|e| GovError::Invalid(e.to_string()))
    }

    /// The mock twin of one registered dataset's current version, for download: its manifest
    /// and Parquet file. Any identity may have it (a twin holds no real row).
    pub fn mock_twin_files(&self, name: &str) -> Result<(String, PathBuf), GovError> {
        let catalog = self.mock_catalog(&[name.to_string()])?;
        let twin = catalog
            .get(name)
            .ok_or_else(|| GovError::NotFound(format!("dataset '{name}'")))?;
        let manifest = twin.manifest.to_toml_string().map_err(|e| {
            GovError::internal(format!(
                "mock twin of '{name}': cannot write its manifest: {e}"
            ))
        })?;
        Ok((manifest, twin.data_path.clone()))
    }
}
