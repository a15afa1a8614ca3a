//! Carrying out a mock run (docs/operator.md, "Mock runs"): the job path, unchanged, in a data
//! directory of the run's own, over mock twins.
//!
//! ```text
//! governance::start_mock_run ─▶ MockPlan (scenario, mock catalog, module file)
//!   ─▶ <data>/mock-runs/<id>/   fresh keys, database, audit log, products (nothing shared)
//!   ─▶ run_job_in, mock = true (in a worker process when the server runs jobs in them)
//!   ─▶ MockReport: that directory's whole audit log (queries with previews, log lines, errors,
//!      releases, blocks) and each released table's first rows
//!   ─▶ the directory is removed; governance::finish_mock_run records the report
//! ```
//!
//! Because the run's directory has keys of its own, its "products" are signed by no domain's
//! key and are deleted with it: a mock result can never pass for a product. Its budget ledger is
//! fresh too, so a mock run spends nothing of a real budget.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
pub use shuyu_model::mock_runs::{
    MockEvent, MockRelease, MockReport, MockRun, MockRunStatus, NewMockRun, MOCK_MARK,
};

use crate::audit::{AuditFilter, AuditLog};
use crate::catalog::Catalog;
use crate::domain::Domain;
use crate::governance::{MockPlan, ScenarioFile};
use crate::job::worker::{run_isolated, Isolated, WorkerConfig, WorkerRequest};
use crate::job::{
    run_job_in, JobEnvironment, JobError, JobId, JobReport, JobRequest, JobStatus, Progress,
    ReleaseOutcome,
};
use crate::keys::DomainKeys;
use crate::product::PARQUET_FILE;
use crate::sandbox::CancelToken;
use crate::store::Store;

/// Entries of a run's trail a report keeps.
pub const MAX_EVENTS: usize = 1000;
/// Bytes of trail details a report keeps (the JSON of its events).
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// Rows of each released table a report shows.
pub const RELEASE_PREVIEW_ROWS: usize = 100;
/// The folder under the data directory where runs have their directories.
pub const MOCK_RUNS_DIR: &str = "mock-runs";

/// Where a mock run's job runs.
#[derive(Debug, Clone, Copy)]
pub enum MockIsolation<'a> {
    /// In this process (tests, `shuyu mock run` on an operator's machine).
    InProcess,
    /// In a worker process, as the server's jobs are.
    Worker(&'a WorkerConfig),
}

/// Carries out an admitted mock run in `<data_dir>/mock-runs/<id>/` and says how it ended.
/// Blocking.
pub fn carry_out(
    data_dir: &Path,
    isolation: MockIsolation<'_>,
    plan: &MockPlan,
    cancel: &CancelToken,
) -> (MockRunStatus, MockReport) {
    let run_dir = data_dir.join(MOCK_RUNS_DIR).join(&plan.run.id);
    let ended = run_in(
        &run_dir,
        isolation,
        &plan.scenario,
        &plan.module_path,
        &plan.run.module_sha256,
        &plan.catalog,
        cancel,
    );
    // Best effort: a leftover directory holds mock data only, and the next run of the same id
    // cannot happen (ids are unique).
    let _ = std::fs::remove_dir_all(&run_dir);
    match ended {
        Ok(mut report) => {
            report.module_matches_scenario = plan.module_matches_scenario;
            (MockRunStatus::Finished, report)
        }
        Err(detail) => (MockRunStatus::Failed, failed("failed", detail)),
    }
}

/// Runs `module` under `scenario` over the twins in `catalog` in a fresh `work_dir` (removed
/// first if it exists; left for the caller to remove) and reports everything it did. For
/// `shuyu mock run` on an operator's own machine, with twins it downloaded.
pub fn run_local(
    work_dir: &Path,
    scenario: ScenarioFile,
    module: &Path,
    catalog: &Catalog,
) -> Result<MockReport, String> {
    let bytes = std::fs::read(module).map_err(|e| format!("{}: {e}", module.display()))?;
    let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    let matches = scenario.scenario.module_sha256 == sha;
    let mut scenario = scenario;
    scenario.scenario.module_sha256 = sha.clone();
    let mut report = run_in(
        work_dir,
        MockIsolation::InProcess,
        &scenario,
        module,
        &sha,
        catalog,
        &CancelToken::new(),
    )?;
    report.module_matches_scenario = matches;
    Ok(report)
}

/// The run itself; `Err` when it could not be carried out at all.
fn run_in(
    run_dir: &Path,
    isolation: MockIsolation<'_>,
    scenario: &ScenarioFile,
    module_path: &Path,
    module_sha256: &str,
    catalog: &Catalog,
    cancel: &CancelToken,
) -> Result<MockReport, String> {
    if run_dir.exists() {
        std::fs::remove_dir_all(run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
    }
    std::fs::create_dir_all(run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
    let job_id = JobId::new();
    match isolation {
        MockIsolation::InProcess => {
            let domain = Domain::open(run_dir).map_err(|e| e.to_string())?;
            let module = std::fs::read(module_path)
                .map_err(|e| format!("{}: {e}", module_path.display()))?;
            let environment = JobEnvironment {
                catalog: catalog.clone(),
                job_id,
                cancel: cancel.clone(),
                progress: Progress::default(),
                mock: true,
            };
            let request = JobRequest {
                scenario: scenario.clone(),
                module,
            };
            match run_job_in(&domain, request, environment) {
                Ok(job) => Ok(report_of(&domain.audit, &job)),
                Err(JobError::Scenario(e)) => Ok(failed("scenario_invalid", e.to_string())),
                Err(e) => Err(e.to_string()),
            }
        }
        MockIsolation::Worker(config) => {
            let mut request = WorkerRequest::new(&job_id, scenario.clone(), module_sha256, catalog);
            request.mock = true;
            request.module_path = Some(module_path.to_path_buf());
            match run_isolated(config, run_dir, &request, cancel, &Progress::default()) {
                Isolated::Ended(job) => {
                    let audit = open_audit(run_dir)?;
                    Ok(report_of(&audit, &job))
                }
                Isolated::Scenario(message) => Ok(failed("scenario_invalid", message)),
                Isolated::Internal(message) => Err(message),
                // A mock run hides nothing: the exit status is the operator's to read.
                Isolated::Crashed { exit, cancelled } => Ok(failed(
                    "worker_crashed",
                    format!(
                        "the worker process ended without a report ({exit}{})",
                        if cancelled { ", after a cancel" } else { "" }
                    ),
                )),
            }
        }
    }
}

/// The audit log a worker wrote in `run_dir`.
fn open_audit(run_dir: &Path) -> Result<AuditLog, String> {
    let keys = DomainKeys::load_or_create(run_dir).map_err(|e| e.to_string())?;
    let store = Store::open(run_dir).map_err(|e| e.to_string())?;
    Ok(AuditLog::new(Arc::new(store), Arc::new(keys)))
}

/// A report of a run that did not get to run its module.
fn failed(outcome: &str, detail: String) -> MockReport {
    MockReport {
        outcome: outcome.to_string(),
        detail,
        module_matches_scenario: false,
        fuel_used: 0,
        rows_read: 0,
        queries: 0,
        elapsed_ms: 0,
        events: Vec::new(),
        releases: Vec::new(),
        events_omitted: 0,
    }
}

/// Everything the run did: its status, its whole trail, its released rows.
fn report_of(audit: &AuditLog, job: &JobReport) -> MockReport {
    let (outcome, detail) = match &job.status {
        JobStatus::Completed => ("completed".to_string(), String::new()),
        JobStatus::GuestError(code) => (format!("guest_error:{code}"), String::new()),
        JobStatus::Failed(fault) => (fault.code(), fault.to_string()),
        JobStatus::Refused(reason) => ("refused".to_string(), reason.clone()),
    };
    let detail = match &job.module_problem {
        Some(problem) if detail.is_empty() => problem.clone(),
        _ => detail,
    };
    let (events, events_omitted) = trail(audit);
    MockReport {
        outcome,
        detail,
        module_matches_scenario: false,
        fuel_used: job.fuel_used,
        rows_read: job.rows_read,
        queries: job.queries,
        elapsed_ms: u64::try_from(job.elapsed.as_millis()).unwrap_or(u64::MAX),
        events,
        releases: job.releases.iter().map(release_of).collect(),
        events_omitted,
    }
}

/// The run directory's audit log as events, within [`MAX_EVENTS`] and [`MAX_EVENT_BYTES`].
fn trail(audit: &AuditLog) -> (Vec<MockEvent>, u64) {
    let filter = AuditFilter {
        limit: Some(MAX_EVENTS + 1),
        ..AuditFilter::default()
    };
    let entries = match audit.search(&filter) {
        Ok(entries) => entries,
        Err(e) => {
            return (
                vec![MockEvent {
                    action: "mock.trail_unreadable".into(),
                    details: serde_json::json!({ "error": e.to_string() }),
                }],
                0,
            )
        }
    };
    let mut events = Vec::new();
    let mut bytes = 0usize;
    let mut omitted = 0u64;
    for entry in entries {
        let size = entry.details.to_string().len() + entry.action.len();
        if events.len() >= MAX_EVENTS || bytes.saturating_add(size) > MAX_EVENT_BYTES {
            omitted += 1;
            continue;
        }
        bytes += size;
        events.push(MockEvent {
            action: entry.action,
            details: entry.details,
        });
    }
    (events, omitted)
}

fn release_of(outcome: &ReleaseOutcome) -> MockRelease {
    match outcome {
        ReleaseOutcome::Released {
            release,
            product_dir,
            table,
            ..
        } => {
            // In a worker the table stayed there; the package in the run directory has it.
            let read = if table.num_columns() > 0 {
                Ok(table.clone())
            } else {
                read_table(&product_dir.join(PARQUET_FILE))
            };
            let (columns, rows, total_rows, message) = match read {
                Ok(table) => {
                    let (columns, rows) = preview(&table, RELEASE_PREVIEW_ROWS);
                    (columns, rows, table.num_rows() as u64, None)
                }
                Err(e) => (Vec::new(), Vec::new(), 0, Some(e)),
            };
            MockRelease {
                release: release.clone(),
                outcome: "released".into(),
                rule: None,
                message,
                columns,
                rows,
                total_rows,
            }
        }
        ReleaseOutcome::Blocked {
            release,
            rule,
            message,
            ..
        } => MockRelease {
            release: release.clone(),
            outcome: "blocked".into(),
            rule: Some(rule.as_str().to_string()),
            message: Some(message.clone()),
            columns: Vec::new(),
            rows: Vec::new(),
            total_rows: 0,
        },
    }
}

fn read_table(path: &PathBuf) -> Result<RecordBatch, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let batches: Vec<RecordBatch> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(first) = batches.first() else {
        return Err(format!("{}: no rows", path.display()));
    };
    arrow::compute::concat_batches(&first.schema(), &batches).map_err(|e| e.to_string())
}

/// A table's column names and its first `limit` rows as text.
fn preview(table: &RecordBatch, limit: usize) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let columns = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let options = FormatOptions::default();
    let formatters: Vec<Option<ArrayFormatter<'_>>> = table
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).ok())
        .collect();
    let rows = (0..table.num_rows().min(limit))
        .map(|row| {
            table
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, formatter)| {
                    if column.is_null(row) {
                        None
                    } else {
                        formatter.as_ref().map(|f| f.value(row).to_string())
                    }
                })
                .collect()
        })
        .collect();
    (columns, rows)
}
