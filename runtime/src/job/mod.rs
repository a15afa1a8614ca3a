//! A job: one run of one module under one scenario, from the governance gate to the products.
//!
//! ```text
//! gate (scenario valid, module hash pinned) ─▶ audit job.start
//!   ─▶ engine session over granted views ─▶ sandbox runs the guest, [`host::JobHost`] serves it:
//!        query ─▶ engine ─▶ Arrow IPC ─▶ guest          (audit: query / query.refused)
//!        release ─▶ guard ─▶ product package | block    (audit: release / release.blocked)
//!        log ─▶ audit only                              (audit: guest.log)
//!   ─▶ audit job.end ─▶ signed checkpoint
//! ```
//!
//! **Architecture invariant:** no byte reaches the operator except through the guard. The
//! [`JobReport`] carries released tables, block rules and fault codes; never query results, guest
//! log lines or execution error text (those can quote data; they go to the audit log).
//!
//! `shuyu run` calls [`run_job`] on the local catalog; the server runs jobs through
//! its queue (`shuyu_server::queue::JobQueue`), which calls [`run_job_in`] with the governance catalog, the job id it
//! recorded and a [`CancelToken`] that stops the guest.

mod entities;
mod host;
mod privacy;
mod process;
pub mod progress;
mod publish;
mod record;
mod timings;
mod universe;
mod vector;
pub mod view;
mod warm;
pub mod worker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use serde_json::json;

use crate::audit::NewEntry;
use crate::catalog::Catalog;
use crate::domain::Domain;
use crate::engine::{EngineSession, Pseudonymizer, SessionOptions};
use crate::governance::model::JobPhase;
use crate::governance::ScenarioFile;
use crate::guard::{ReleaseReport, Rule};
use crate::sandbox::{CancelToken, Fault};

pub use privacy::budget_scopes;
pub use progress::Progress;
pub use record::JobId;
pub use timings::PhaseTimes;
pub use warm::{warm_universe, Warmed};

/// Why a job could not be started at all (as opposed to refused or failed, which a
/// [`JobReport`] describes).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The catalog is broken.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    /// The scenario is not valid against the catalog.
    #[error(transparent)]
    Scenario(#[from] crate::governance::ScenarioError),
    /// The audit log could not be written: no job runs unaudited.
    #[error("audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// The engine could not open the granted datasets.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// The scenario id's binding could not be read or written (the database failed).
    #[error("scenario binding: {0}")]
    Binding(String),
}

/// A job to run.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The scenario authorizing it.
    pub scenario: ScenarioFile,
    /// The module's bytes.
    pub module: Vec<u8>,
}

/// What a job runs against besides its request. [`run_job`] fills it from the local data
/// directory; the server's queue brings the governance catalog, the id it already recorded and
/// the token it stops the job with.
#[derive(Debug, Clone)]
pub struct JobEnvironment {
    /// The datasets the scenario is checked against and reads.
    pub catalog: Catalog,
    /// The job's id, as audited.
    pub job_id: JobId,
    /// Stops the guest when set (the job ends with [`Fault::Cancelled`]).
    pub cancel: CancelToken,
    /// Told when the module starts and when it ended.
    pub progress: Progress,
    /// A mock run over mock twins (`crate::mock`): each query's audit entry carries the first
    /// [`MOCK_PREVIEW_ROWS`] rows of its result. Never set for real data.
    pub mock: bool,
}

/// Rows of a query's result a mock run's trail shows.
pub const MOCK_PREVIEW_ROWS: usize = 20;

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    /// The module ran to its end and returned 0.
    Completed,
    /// The module returned a non-zero code of its own.
    GuestError(i32),
    /// A trap, a limit, an invalid module or a host failure ended the job.
    Failed(Fault),
    /// The governance gate refused the job; nothing ran.
    Refused(String),
}

/// What the guard decided about one release.
#[derive(Debug, Clone)]
pub enum ReleaseOutcome {
    /// Released as a signed product.
    Released {
        /// Contract entry name.
        release: String,
        /// The product package folder.
        product_dir: std::path::PathBuf,
        /// The released table.
        table: RecordBatch,
        /// Counts: suppression, bounding, clamping.
        report: ReleaseReport,
    },
    /// Blocked.
    Blocked {
        /// Contract entry name.
        release: String,
        /// The rule that blocked it.
        rule: Rule,
        /// The rule's explanation (never data).
        message: String,
        /// Counts up to the block.
        report: ReleaseReport,
    },
}

/// The full account of a job, exact counters included: for the audit log and the domain's own
/// use. What the operator may see of it is [`view`].
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The job's id (searchable in the audit log).
    pub job_id: JobId,
    /// The scenario id.
    pub scenario_id: String,
    /// The domain-assigned identity the scenario's pseudonym key and ledger scope derive from
    /// (`governance::ScenarioBinding::key_id`); empty when the job was refused before it was
    /// looked up.
    pub scenario_key_id: String,
    /// SHA-256 of the module that was presented.
    pub module_sha256: String,
    /// How it ended.
    pub status: JobStatus,
    /// Why the module was refused before it ran (an import or export outside ABI v1, not valid
    /// WebAssembly). It depends on the module's bytes alone, so the operator may read it.
    pub module_problem: Option<String>,
    /// Releases in the order they were finished.
    pub releases: Vec<ReleaseOutcome>,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Rows delivered to the guest.
    pub rows_read: u64,
    /// Queries the guest started.
    pub queries: u32,
    /// Wall time of the guest run.
    pub elapsed: Duration,
    /// Host time per phase (for the domain: never shown to the operator).
    pub timings: PhaseTimes,
}

impl JobReport {
    /// True when the job completed and every release was released.
    pub fn succeeded(&self) -> bool {
        self.status == JobStatus::Completed
            && self
                .releases
                .iter()
                .all(|r| matches!(r, ReleaseOutcome::Released { .. }))
    }
}

/// Whether this process has a second core for the guard's entity shards (as for entity
/// runs). The guard reads nothing of the machine itself (its decisions never depend on it), so
/// the job says.
fn second_core() -> bool {
    crate::sandbox::entity_workers() > 1
}

/// The DataFusion session of one run of a job: the engine's defaults with the scenario's query
/// memory, so the approved `[limits]` bound the hash tables of its joins and aggregates.
fn session_options(limits: &crate::sandbox::Limits) -> SessionOptions {
    SessionOptions {
        memory_limit: limits.query_memory_bytes(),
        ..SessionOptions::default()
    }
}

/// Runs one job to its end. Refusals and guest failures are reported in the [`JobReport`] (and
/// audited); `Err` means the job could not be judged at all (bad scenario, broken catalog).
pub fn run_job(domain: &Domain, request: JobRequest) -> Result<JobReport, JobError> {
    let environment = JobEnvironment {
        catalog: domain.catalog()?,
        job_id: JobId::new(),
        cancel: CancelToken::new(),
        progress: Progress::default(),
        mock: false,
    };
    run_job_in(domain, request, environment)
}

/// [`run_job`] against an explicit catalog, under a given id, stoppable with a cancel token.
/// Blocks the calling thread for the whole run: never call it from an async task.
pub fn run_job_in(
    domain: &Domain,
    request: JobRequest,
    environment: JobEnvironment,
) -> Result<JobReport, JobError> {
    let JobEnvironment {
        catalog,
        job_id,
        cancel,
        progress,
        mock,
    } = environment;
    let scenario = Arc::new(request.scenario.check(&catalog)?);
    let started = chrono::Utc::now();
    let module_sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &request.module));
    let operator = scenario.file.scenario.operator.clone();
    let audit = |action: &str, details: serde_json::Value| {
        domain.audit.append(NewEntry {
            actor: operator.clone(),
            action: action.to_string(),
            subject: scenario.id().to_string(),
            job_id: Some(job_id.to_string()),
            details,
        })
    };
    let mut report = JobReport {
        job_id: job_id.clone(),
        scenario_id: scenario.id().to_string(),
        scenario_key_id: String::new(),
        module_sha256: module_sha256.clone(),
        status: JobStatus::Completed,
        module_problem: None,
        releases: Vec::new(),
        fuel_used: 0,
        rows_read: 0,
        queries: 0,
        elapsed: Duration::ZERO,
        timings: PhaseTimes::default(),
    };

    if module_sha256 != scenario.file.scenario.module_sha256 {
        let reason = format!(
            "module {module_sha256} is not the module pinned by scenario '{}' ({})",
            scenario.id(),
            scenario.file.scenario.module_sha256
        );
        audit(
            "job.refused",
            json!({ "reason": reason, "module_sha256": module_sha256 }),
        )?;
        domain.audit.checkpoint()?;
        report.status = JobStatus::Refused(reason);
        return Ok(report);
    }

    // The scenario id's binding: its owner and the identity its pseudonyms and budget belong
    // to. A server job's id was bound when its application was filed; a local run binds it to
    // the file's operator on first use. An id held by another operator is refused, so no one
    // inherits another operator's pseudonyms or ledger by reusing its scenario id.
    let binding = match crate::governance::bind_scenario(
        &domain.store,
        &domain.audit,
        scenario.id(),
        &operator,
    ) {
        Ok(binding) => binding,
        Err(crate::governance::GovError::Conflict(reason)) => {
            audit("job.refused", json!({ "reason": reason }))?;
            domain.audit.checkpoint()?;
            report.status = JobStatus::Refused(reason);
            return Ok(report);
        }
        Err(e) => return Err(JobError::Binding(e.to_string())),
    };
    report.scenario_key_id = binding.key_id.clone();

    let mut start = json!({
        "module_sha256": module_sha256,
        "datasets": scenario.datasets.iter().map(|d| json!({
            "name": d.name(), "content_sha256": d.content_sha256, "rows": d.rows,
        })).collect::<Vec<_>>(),
        "limits": scenario.file.limits,
    });
    // A manifest tightened since the scenario was approved: the guard applies the manifest, and
    // the log says where, so that nothing is tightened silently.
    if !scenario.looser.is_empty() {
        start["manifest_applies"] = json!(scenario.looser);
    }
    audit("job.start", start)?;

    let compiling = std::time::Instant::now();
    let compiled = domain.sandbox.compile(&request.module);
    tracing::info!(
        job = %job_id,
        ms = compiling.elapsed().as_millis() as u64,
        "module compiled or loaded from the domain's cache"
    );
    let module = match compiled {
        Ok(module) => module,
        Err(fault) => {
            if let Fault::InvalidModule(problem) = &fault {
                report.module_problem = Some(problem.clone());
            }
            return end_job(domain, report, &audit, Err(fault));
        }
    };

    let pseudonymizer = Pseudonymizer::new(&domain.keys.pseudonym_key(&binding.key_id));
    let grants: Vec<_> = scenario
        .datasets
        .iter()
        .cloned()
        .zip(scenario.file.grants.iter().cloned())
        .collect();
    let runtime = domain.runtime();
    let opening = std::time::Instant::now();
    let opened = runtime.block_on(EngineSession::open(
        &grants,
        &pseudonymizer,
        &session_options(&scenario.file.limits),
    ));
    tracing::info!(
        job = %job_id,
        ms = opening.elapsed().as_millis() as u64,
        "granted datasets opened"
    );
    let session = match opened {
        Ok(session) => session,
        Err(e) => {
            audit(
                "job.end",
                json!({ "status": "failed", "error": e.to_string() }),
            )?;
            domain.audit.checkpoint()?;
            return Err(e.into());
        }
    };

    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let timings = Arc::new(timings::Timings::default());
    let pseudonyms = pseudonymizer.clone();
    let partition_fuel = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut host = host::JobHost::new(host::JobContext {
        runtime,
        session,
        scenario: scenario.clone(),
        pseudonymizer,
        audit: domain.audit.clone(),
        keys: domain.keys.clone(),
        products_dir: domain.products_dir(),
        job_id: job_id.clone(),
        job_started: started,
        module_sha256: module_sha256.clone(),
        outcomes: outcomes.clone(),
        cancel: cancel.clone(),
        ledger: Arc::new(crate::budget::BudgetLedger::new(
            domain.store.clone(),
            domain.audit.clone(),
        )),
        partition_fuel: partition_fuel.clone(),
        partition_audit: Arc::new(vector::PartitionAudit::new(
            vector::MAX_PARTITION_AUDIT_PER_RUN,
            vector::MAX_PARTITION_AUDIT_PER_JOB,
        )),
        run_audit: None,
        scenario_key_id: binding.key_id.clone(),
        preview_rows: if mock { MOCK_PREVIEW_ROWS } else { 0 },
        timings: timings.clone(),
        universe_cache: Some(domain.universe_cache()),
    });
    if !scenario.releases.is_empty() {
        host.start_universe();
    }
    progress.enter(JobPhase::Running);
    let run =
        domain
            .sandbox
            .run_cancellable(&module, &scenario.file.limits, Box::new(host), &cancel);
    progress.enter(JobPhase::Releasing);
    // Partition runs of `release_vector` burn fuel of their own; the job accounts for all of it.
    report.fuel_used = run
        .fuel_used
        .saturating_add(partition_fuel.load(std::sync::atomic::Ordering::Relaxed));
    report.rows_read = run.rows_read;
    report.queries = run.queries;
    report.elapsed = run.elapsed;
    report.timings = timings.snapshot(pseudonyms.spent());
    report.releases = outcomes
        .lock()
        .map(|mut o| std::mem::take(&mut *o))
        .unwrap_or_default();
    end_job(domain, report, &audit, run.result)
}

/// Records the end of a job and seals the log with a checkpoint.
fn end_job(
    domain: &Domain,
    mut report: JobReport,
    audit: &dyn Fn(
        &str,
        serde_json::Value,
    ) -> Result<crate::audit::Entry, crate::audit::AuditError>,
    result: Result<i32, Fault>,
) -> Result<JobReport, JobError> {
    report.status = match result {
        Ok(0) => JobStatus::Completed,
        Ok(code) => JobStatus::GuestError(code),
        Err(fault) => JobStatus::Failed(fault),
    };
    let (status, detail) = match &report.status {
        JobStatus::Completed => ("completed".to_string(), String::new()),
        JobStatus::GuestError(code) => (format!("guest_error:{code}"), String::new()),
        JobStatus::Failed(fault) => (fault.code(), fault.to_string()),
        JobStatus::Refused(reason) => ("refused".to_string(), reason.clone()),
    };
    audit(
        "job.end",
        json!({
            "status": status,
            "detail": detail,
            "fuel_used": report.fuel_used,
            "rows_read": report.rows_read,
            "queries": report.queries,
            "releases": report.releases.iter().map(|r| match r {
                ReleaseOutcome::Released { release, product_dir, .. } => json!({
                    "release": release, "outcome": "released",
                    "product": product_dir.file_name().map(|n| n.to_string_lossy().into_owned()),
                }),
                ReleaseOutcome::Blocked { release, rule, .. } => json!({
                    "release": release, "outcome": "blocked", "rule": rule.as_str(),
                }),
            }).collect::<Vec<_>>(),
            "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "phases_ms": report.timings.as_millis(),
            "universe_cached": report.timings.universe_cached,
        }),
    )?;
    domain.audit.checkpoint()?;
    Ok(report)
}
