//! Jobs in worker processes: nothing one job does can end the server or another job.
//!
//! ```text
//! server (queue worker thread)                      worker process (`shuyu worker`)
//!   gate, `running`, module + catalog checked
//!   spawn current_exe --data-dir D worker ──────────▶ setrlimit DATA + CPU (before exec)
//!   stdin: one JSON line (WorkerRequest)  ──────────▶ open D (keys, SQLite WAL, sandbox)
//!   stdin kept open; closing it = cancel  ──────────▶ run_job_in (audit job.start … job.end)
//!   stdout: one JSON line (WorkerEnd)     ◀────────── the JobReport summary, then exit 0
//!   record the end (`ended()`), or on a crash:
//!   `failed` / `worker_crashed` + audit job.end with the exit status
//! ```
//!
//! Some inputs do not panic but abort the whole process (a stack overflow in the host, an
//! allocation that cannot be satisfied, memory growing past the machine); `catch_unwind` cannot
//! stop those. A worker process is the unit that dies instead of the server. The server keeps
//! the queue, the database records and the HTTP API; the worker opens the same data directory
//! (SQLite in WAL with a busy timeout is safe across processes, audit appends read the head
//! inside their IMMEDIATE transaction, checkpoints sign the head inside one too) and holds no
//! state the server caches.
//!
//! Cancelling: the server closes the worker's stdin, which the worker turns into its own
//! cancel token (so the job ends as `cancelled` and audits its end); after [`WorkerConfig::grace`]
//! it sends `SIGTERM`, after another grace period `SIGKILL`. A server that dies takes its workers
//! with it (`PR_SET_PDEATHSIG`, `process.rs`); where there is no such signal, the pipe it closes
//! makes them cancel themselves.
//!
//! Limits ([`WorkerConfig::limits_for`]): `RLIMIT_DATA` and `RLIMIT_CPU`, derived from the
//! scenario's limits with headroom unless `shuyu serve` fixes them
//! (`--worker-memory-mib`, `--worker-cpu-secs`). They are a backstop: the sandbox's own limits
//! (fuel, linear memory, host memory budget) end a job with a precise fault long before.
//!
//! Operators see a worker that died only as `failed` with the fixed detail
//! [`DETAIL_WORKER_CRASHED`], never its stderr or exit status (those can depend on data); the
//! exit status goes to the audit log for reviewers.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::process;
pub use super::process::ChildLimits;
use super::{
    run_job_in, warm_universe, JobEnvironment, JobError, JobId, JobReport, JobRequest, JobStatus,
    Progress, ReleaseOutcome, Warmed,
};
use crate::catalog::{Catalog, Dataset};
use crate::domain::Domain;
use crate::engine::MAX_PARTITIONED_BYTES;
use crate::governance::model::JobPhase;
use crate::governance::{Governance, ScenarioFile};
use crate::grouping::MAX_GROUPED_BYTES;
use crate::guard::{ReleaseReport, Rule};
use crate::sandbox::{entity_workers, ENTITY_THREAD_STACK_BYTES};
use crate::sandbox::{CancelToken, Fault};

/// The environment variable that carries the server's log level to its workers.
pub const LOG_LEVEL_ENV: &str = "SHUYU_LOG";
/// The flag of `shuyu worker` that compiles an uploaded module into the domain's cache instead of
/// running a job: `shuyu --data-dir D worker --compile SHA256`.
pub(crate) const COMPILE_FLAG: &str = "--compile";
/// The flag of `shuyu worker` that builds an approved application's identifier universe into
/// the domain's cache instead of running a job: `shuyu --data-dir D worker --warm-universe APP`.
pub(crate) const WARM_FLAG: &str = "--warm-universe";
/// The hidden subcommand that runs one job: `shuyu --data-dir D worker`.
pub(crate) const WORKER_COMMAND: &str = "worker";
/// The detail recorded for a job whose worker process died (signal, non-zero exit, unreadable
/// report): a fault class, never the worker's output.
pub const DETAIL_WORKER_CRASHED: &str = "worker_crashed";
/// How long a cancelled worker gets to end on its own before `SIGTERM`, and again before
/// `SIGKILL`.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Memory a worker needs besides what the scenario's limits account for: the runtime, SQLite,
/// wasmtime's compiler, the universe of identifiers and slack.
pub(crate) const WORKER_BASE_MEMORY_MIB: u64 = 512;
/// The memory limit of a worker that only compiles a module (`precompile`): Cranelift's own
/// memory on a large module, with room to spare.
const COMPILE_MEMORY_MIB: u64 = 2560;
/// Runs of a job alive at once: the main run and one partition run of `release_vector`; each
/// holds its linear memory (`memory_mib`), its host buffers (`host_memory_mib`) and its
/// DataFusion session's memory pool (`query_memory_mib`).
const RUNS_AT_ONCE: u64 = 2;
/// CPU seconds a worker gets besides its runs: start-up, compiling, writing products.
pub const WORKER_BASE_CPU_SECS: u64 = 60;
/// Fuel per second of CPU assumed when deriving the CPU limit (host time is charged at one fuel
/// per nanosecond; guest instructions cost about that), times [`WORKER_CPU_FACTOR`] for the
/// query runtime's threads.
const FUEL_PER_SEC: u64 = 1_000_000_000;
/// A run's CPU may exceed its wall time: DataFusion runs on the domain's query threads.
const WORKER_CPU_FACTOR: u64 = 3;
/// The longest report line read from a worker; a longer one is garbage.
const MAX_REPORT_BYTES: u64 = 4 << 20;
/// How often the server looks at a running worker (exit, cancel token).
const POLL: Duration = Duration::from_millis(20);

/// How the server runs worker processes. [`WorkerConfig::current_exe`] is what `shuyu serve`
/// uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The program to run as `PROGRAM --data-dir D worker` (normally this very binary).
    pub program: PathBuf,
    /// A fixed `RLIMIT_DATA` in MiB instead of the one derived from the scenario's limits.
    pub memory_mib: Option<u64>,
    /// A fixed `RLIMIT_CPU` in seconds instead of the one derived from the scenario's limits.
    pub cpu_secs: Option<u64>,
    /// How long a cancelled worker may take to end after its stdin is closed, and again after
    /// `SIGTERM`.
    pub grace: Duration,
}

/// Whether a scenario makes a release per entity (every release with privacy is).
fn releases_per_entity(scenario: &ScenarioFile) -> bool {
    scenario.releases.iter().any(|r| r.privacy.is_some())
}

/// Memory a per-entity release adds to a worker, in MiB: the grouped rows and every entity
/// worker's instance memory, host memory and stack.
fn entity_memory_mib(scenario: &ScenarioFile) -> u64 {
    if !releases_per_entity(scenario) {
        return 0;
    }
    let run = scenario.limits.for_entity_run();
    let per_worker = u64::from(run.memory_mib)
        .saturating_add(u64::from(run.host_memory_mib))
        .saturating_add((ENTITY_THREAD_STACK_BYTES >> 20) as u64);
    ((MAX_GROUPED_BYTES >> 20) as u64)
        .saturating_add((entity_workers() as u64).saturating_mul(per_worker))
}

/// CPU seconds a per-entity release adds to a worker: its wall-time limit on every thread.
fn entity_cpu_secs(scenario: &ScenarioFile) -> u64 {
    if !releases_per_entity(scenario) {
        return 0;
    }
    scenario
        .limits
        .entity_release_secs
        .saturating_mul(entity_workers() as u64)
}

impl WorkerConfig {
    /// Workers running the current executable, with derived limits.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::program(std::env::current_exe()?))
    }

    /// Workers running `program`, with derived limits.
    pub fn program(program: PathBuf) -> Self {
        Self {
            program,
            memory_mib: None,
            cpu_secs: None,
            grace: DEFAULT_GRACE,
        }
    }

    /// The limits of a worker running a job of `scenario`:
    /// - memory: [`WORKER_BASE_MEMORY_MIB`] + 2 × (`memory_mib` + `host_memory_mib` +
    ///   `query_memory_mib`): the main run and one partition run at a time (3,200 MiB with the
    ///   defaults), plus
    ///   [`MAX_PARTITIONED_BYTES`] for a scenario with a vector release (its granted rows split
    ///   into partitions, held in memory while the partition runs go), plus, for a scenario with
    ///   a release with privacy (made per entity), [`MAX_GROUPED_BYTES`] for the grouped rows
    ///   and, per entity worker, `entity_memory_mib`, its host memory and its thread's stack;
    /// - CPU: [`WORKER_BASE_CPU_SECS`] + 3 × (1 + partitions of every vector release) ×
    ///   (`fuel` / 10⁹ + `query_timeout_secs`) seconds: each run's fuel (which includes host
    ///   time) plus one query call that may overrun it, on up to three threads (1,020 s with
    ///   the defaults); plus `entity_release_secs` × entity workers for a release made per
    ///   entity (its wall-time limit on every worker thread).
    pub fn limits_for(&self, scenario: &ScenarioFile) -> ChildLimits {
        let limits = &scenario.limits;
        let memory_mib = self.memory_mib.unwrap_or_else(|| {
            let per_run = u64::from(limits.memory_mib)
                + u64::from(limits.host_memory_mib)
                + u64::from(limits.query_memory_mib);
            let split = if scenario.vectors.is_empty() {
                0
            } else {
                (MAX_PARTITIONED_BYTES >> 20) as u64
            };
            WORKER_BASE_MEMORY_MIB
                .saturating_add(RUNS_AT_ONCE.saturating_mul(per_run))
                .saturating_add(split)
                .saturating_add(entity_memory_mib(scenario))
        });
        let cpu_secs = self.cpu_secs.unwrap_or_else(|| {
            let runs = scenario
                .vectors
                .iter()
                .fold(1u64, |n, v| n.saturating_add(u64::from(v.partitions)));
            let per_run = limits
                .fuel
                .div_ceil(FUEL_PER_SEC)
                .saturating_add(limits.query_timeout_secs);
            WORKER_BASE_CPU_SECS
                .saturating_add(
                    WORKER_CPU_FACTOR
                        .saturating_mul(runs)
                        .saturating_mul(per_run),
                )
                .saturating_add(entity_cpu_secs(scenario))
        });
        ChildLimits {
            data_bytes: memory_mib.saturating_mul(1 << 20),
            cpu_secs: cpu_secs.max(1),
        }
    }
}

/// What the server sends a worker: everything to run one job it has already authorized and
/// recorded as running.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRequest {
    /// The job's id, as recorded.
    pub job_id: String,
    /// The approved application's scenario.
    pub scenario: ScenarioFile,
    /// The module to run (read from the module store and checked against this hash again).
    pub module_sha256: String,
    /// The catalog root the datasets were resolved under.
    pub catalog_root: PathBuf,
    /// The dataset versions the server resolved for the job, so the worker runs exactly those.
    pub datasets: Vec<WorkerDataset>,
    /// A mock run (`crate::mock`): the data directory is the run's own and the datasets are
    /// mock twins; query previews go to that directory's log.
    #[serde(default)]
    pub mock: bool,
    /// Where the module's file is when the data directory's module store does not have it (a
    /// mock run reads the domain's stored module); its hash is checked against `module_sha256`.
    #[serde(default)]
    pub module_path: Option<PathBuf>,
}

/// One dataset version of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerDataset {
    /// The dataset's name.
    pub name: String,
    /// Its version folder.
    pub dir: PathBuf,
}

impl WorkerRequest {
    /// The request for job `job_id` of `scenario`, over `catalog`.
    pub fn new(
        job_id: &JobId,
        scenario: ScenarioFile,
        module_sha256: &str,
        catalog: &Catalog,
    ) -> Self {
        Self {
            job_id: job_id.to_string(),
            scenario,
            module_sha256: module_sha256.to_string(),
            catalog_root: catalog.root().to_path_buf(),
            datasets: catalog
                .datasets()
                .map(|d| WorkerDataset {
                    name: d.name().to_string(),
                    dir: d.dir.clone(),
                })
                .collect(),
            mock: false,
            module_path: None,
        }
    }
}

/// The one line a worker writes: how the job ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub(crate) enum WorkerEnd {
    /// The job ran (or was refused by the module pin) and audited its end.
    Report(ReportSummary),
    /// The scenario did not check against the catalog ([`JobError::Scenario`]).
    Scenario {
        /// The checker's message.
        message: String,
    },
    /// The job could not be run at all (catalog, audit, engine, module store).
    Internal {
        /// What failed (server-side only; the operator sees `internal`).
        message: String,
    },
}

/// A [`JobReport`] as it crosses the process boundary: everything but the released tables, which
/// the product packages hold and the server never shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReportSummary {
    /// The scenario id.
    pub scenario_id: String,
    /// [`JobReport::scenario_key_id`].
    #[serde(default)]
    pub scenario_key_id: String,
    /// SHA-256 of the module that ran.
    pub module_sha256: String,
    /// How it ended.
    pub status: StatusSummary,
    /// [`JobReport::module_problem`].
    pub module_problem: Option<String>,
    /// Releases in the order they were finished.
    pub releases: Vec<ReleaseSummary>,
    /// Fuel consumed (guest instructions and host time).
    pub fuel_used: u64,
    /// Rows delivered to the guest.
    pub rows_read: u64,
    /// Queries started.
    pub queries: u32,
    /// Wall time of the guest run, in microseconds.
    pub elapsed_us: u64,
}

/// [`JobStatus`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum StatusSummary {
    /// [`JobStatus::Completed`].
    Completed,
    /// [`JobStatus::GuestError`].
    GuestError {
        /// The module's code.
        code: i32,
    },
    /// [`JobStatus::Failed`].
    Failed {
        /// The fault.
        fault: Fault,
    },
    /// [`JobStatus::Refused`].
    Refused {
        /// Why.
        reason: String,
    },
}

/// [`ReleaseOutcome`] on the wire, without the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum ReleaseSummary {
    /// Released as a product package.
    Released {
        /// Contract entry name.
        release: String,
        /// The product package folder.
        product_dir: PathBuf,
        /// The guard's counts.
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
        /// The guard's counts up to the block.
        report: ReleaseReport,
    },
}

impl ReportSummary {
    /// The summary of `report`.
    pub(crate) fn of(report: &JobReport) -> Self {
        Self {
            scenario_id: report.scenario_id.clone(),
            scenario_key_id: report.scenario_key_id.clone(),
            module_sha256: report.module_sha256.clone(),
            status: match &report.status {
                JobStatus::Completed => StatusSummary::Completed,
                JobStatus::GuestError(code) => StatusSummary::GuestError { code: *code },
                JobStatus::Failed(fault) => StatusSummary::Failed {
                    fault: fault.clone(),
                },
                JobStatus::Refused(reason) => StatusSummary::Refused {
                    reason: reason.clone(),
                },
            },
            module_problem: report.module_problem.clone(),
            releases: report
                .releases
                .iter()
                .map(|r| match r {
                    ReleaseOutcome::Released {
                        release,
                        product_dir,
                        report,
                        ..
                    } => ReleaseSummary::Released {
                        release: release.clone(),
                        product_dir: product_dir.clone(),
                        report: report.clone(),
                    },
                    ReleaseOutcome::Blocked {
                        release,
                        rule,
                        message,
                        report,
                    } => ReleaseSummary::Blocked {
                        release: release.clone(),
                        rule: *rule,
                        message: message.clone(),
                        report: report.clone(),
                    },
                })
                .collect(),
            fuel_used: report.fuel_used,
            rows_read: report.rows_read,
            queries: report.queries,
            elapsed_us: u64::try_from(report.elapsed.as_micros()).unwrap_or(u64::MAX),
        }
    }

    /// The report of job `job_id` this summarizes. Released tables are empty (zero columns):
    /// the server records ends and shows products from their packages, never from the report.
    pub(crate) fn into_report(self, job_id: JobId) -> JobReport {
        JobReport {
            job_id,
            scenario_id: self.scenario_id,
            scenario_key_id: self.scenario_key_id,
            module_sha256: self.module_sha256,
            status: match self.status {
                StatusSummary::Completed => JobStatus::Completed,
                StatusSummary::GuestError { code } => JobStatus::GuestError(code),
                StatusSummary::Failed { fault } => JobStatus::Failed(fault),
                StatusSummary::Refused { reason } => JobStatus::Refused(reason),
            },
            module_problem: self.module_problem,
            releases: self
                .releases
                .into_iter()
                .map(|r| match r {
                    ReleaseSummary::Released {
                        release,
                        product_dir,
                        report,
                    } => ReleaseOutcome::Released {
                        release,
                        product_dir,
                        table: RecordBatch::new_empty(Arc::new(Schema::empty())),
                        report,
                    },
                    ReleaseSummary::Blocked {
                        release,
                        rule,
                        message,
                        report,
                    } => ReleaseOutcome::Blocked {
                        release,
                        rule,
                        message,
                        report,
                    },
                })
                .collect(),
            fuel_used: self.fuel_used,
            rows_read: self.rows_read,
            queries: self.queries,
            elapsed: Duration::from_micros(self.elapsed_us),
            // The worker's audit entry has them; the server does not need them.
            timings: super::PhaseTimes::default(),
        }
    }
}

/// How a job run in a worker process ended, as the server sees it.
#[derive(Debug)]
// One per job, moved once: boxing the report would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Isolated {
    /// The worker reported the job's end (it audited `job.end` itself).
    Ended(JobReport),
    /// The scenario did not check against the catalog.
    Scenario(String),
    /// The job could not be run (the worker said why, or it could not be started).
    Internal(String),
    /// The worker died without a readable report: a signal, a non-zero exit or garbage on
    /// stdout. `exit` describes the status for the audit log; `cancelled` says whether the
    /// server had asked it to stop first.
    Crashed {
        /// The exit status, e.g. `signal 9` or `exit 134`.
        exit: String,
        /// Whether the server had asked the worker to stop (cancel token set).
        cancelled: bool,
    },
}

/// Runs `request` in a worker process under `config` and waits for its end, stopping it when
/// `cancel` is set and passing the phases the worker reports to `progress`. Blocking: the
/// queue's worker thread calls it.
pub fn run_isolated(
    config: &WorkerConfig,
    data_dir: &Path,
    request: &WorkerRequest,
    cancel: &CancelToken,
    progress: &Progress,
) -> Isolated {
    let mut line = match serde_json::to_vec(request) {
        Ok(line) => line,
        Err(e) => return Isolated::Internal(format!("cannot encode the worker request: {e}")),
    };
    line.push(b'\n');
    let mut command = Command::new(&config.program);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg(WORKER_COMMAND)
        // The worker acts on the data directory only; it must not inherit a client's identity.
        .env_remove("SHUYU_TOKEN")
        .env_remove("SHUYU_SERVER")
        // The worker logs at the server's level, to the server's stderr.
        .env(
            LOG_LEVEL_ENV,
            tracing::level_filters::LevelFilter::current().to_string(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Diagnostics go where the server's go (the domain's log), never to operators.
        .stderr(Stdio::inherit());
    process::limit_child(&mut command, config.limits_for(&request.scenario));
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Isolated::Internal(format!(
                "cannot start the worker {}: {e}",
                config.program.display()
            ))
        }
    };
    let mut stdin = child.stdin.take();
    // A worker that died at once (limits too small) closes its end: the write fails, and the
    // exit status below says why.
    if let Some(pipe) = stdin.as_mut() {
        let _ = pipe.write_all(&line).and_then(|()| pipe.flush());
    }
    let reader = child.stdout.take().map(|stdout| {
        let progress = progress.clone();
        std::thread::spawn(move || read_worker_output(stdout, &progress))
    });

    let mut asked: Option<Instant> = None;
    let mut terminated: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                break child.wait().map_err(|_| e);
            }
        }
        if cancel.is_cancelled() {
            match (asked, terminated) {
                (None, _) => {
                    // Closing stdin is the worker's cancel signal.
                    drop(stdin.take());
                    asked = Some(Instant::now());
                }
                (Some(at), None) if at.elapsed() >= config.grace => {
                    let _ = process::terminate(&child);
                    terminated = Some(Instant::now());
                }
                (_, Some(at)) if at.elapsed() >= config.grace => {
                    let _ = child.kill();
                }
                _ => {}
            }
        }
        std::thread::sleep(POLL);
    };
    drop(stdin);
    let output = reader
        .and_then(|handle| handle.join().ok())
        .and_then(Result::ok)
        .unwrap_or_default();
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            return Isolated::Crashed {
                exit: format!("unknown ({e})"),
                cancelled: cancel.is_cancelled(),
            }
        }
    };
    // The report is the last line; a worker that wrote it has audited the job's end, whatever
    // happened after (it is only the exit left).
    let end = output
        .split(|b| *b == b'\n')
        .rev()
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .and_then(|l| serde_json::from_slice::<WorkerEnd>(l).ok());
    match end {
        Some(WorkerEnd::Report(summary)) => {
            let job_id = JobId::parse(&request.job_id).unwrap_or_default();
            Isolated::Ended(summary.into_report(job_id))
        }
        Some(WorkerEnd::Scenario { message }) => Isolated::Scenario(message),
        Some(WorkerEnd::Internal { message }) => Isolated::Internal(message),
        None => Isolated::Crashed {
            exit: describe(status),
            cancelled: cancel.is_cancelled(),
        },
    }
}

/// A phase line a worker writes before its report: `{"phase":"running"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseLine {
    phase: JobPhase,
}

/// Reads a worker's stdout to its end: phase lines go to `progress` (only `running` and
/// `releasing`, each once and in order, whatever the worker writes), everything else is kept
/// for the report. Bounded, so a worker writing without end cannot exhaust the server's
/// memory; read to the end, so it never blocks on a full pipe.
fn read_worker_output(stdout: impl Read, progress: &Progress) -> std::io::Result<Vec<u8>> {
    let mut input = BufReader::new(stdout.take(MAX_REPORT_BYTES));
    let mut out = Vec::new();
    let mut reached = JobPhase::Planning;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(out);
        }
        match serde_json::from_slice::<PhaseLine>(&line) {
            Ok(PhaseLine { phase })
                if phase > reached && matches!(phase, JobPhase::Running | JobPhase::Releasing) =>
            {
                reached = phase;
                progress.enter(phase);
            }
            Ok(_) => {}
            Err(_) => out.extend_from_slice(&line),
        }
    }
}

/// An exit status for the audit log: `exit N` or `signal N`.
pub fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => "unknown".into(),
    }
}

/// Compiles uploaded module `sha256` into the domain's module cache (`cache/modules/`) in a
/// worker process of its own, under the base limits of a job's worker (or those `shuyu serve`
/// fixes): a module's first job then loads compiled code instead of spending seconds in the
/// compiler before its first instruction. The compiler sees untrusted bytes, so it runs where a
/// job would. Blocking. `Err` describes a worker that could not be started or did not succeed.
pub fn precompile(config: &WorkerConfig, data_dir: &Path, sha256: &str) -> Result<(), String> {
    let limits = ChildLimits {
        data_bytes: config
            .memory_mib
            .unwrap_or(COMPILE_MEMORY_MIB)
            .saturating_mul(1 << 20),
        cpu_secs: config.cpu_secs.unwrap_or(WORKER_BASE_CPU_SECS).max(1),
    };
    run_ahead(config, data_dir, [COMPILE_FLAG, sha256], limits)
}

/// Builds the identifier universe of approved application `application` (whose scenario is
/// `scenario`) into the domain's universe cache in a worker process of its own, under the
/// limits a job of that scenario would get: it reads and hashes what the job would, and a
/// build that fails or runs out of memory costs only the warm-up (the job builds it then).
/// Blocking. `Err` describes a worker that could not be started or did not succeed.
pub fn prewarm(
    config: &WorkerConfig,
    data_dir: &Path,
    application: &str,
    scenario: &ScenarioFile,
) -> Result<(), String> {
    let limits = config.limits_for(scenario);
    run_ahead(config, data_dir, [WARM_FLAG, application], limits)
}

/// Runs `shuyu worker FLAG VALUE` (work done ahead of a job) to its end under `limits`.
fn run_ahead(
    config: &WorkerConfig,
    data_dir: &Path,
    flag_and_value: [&str; 2],
    limits: ChildLimits,
) -> Result<(), String> {
    let mut command = Command::new(&config.program);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg(WORKER_COMMAND)
        .args(flag_and_value)
        .env_remove("SHUYU_TOKEN")
        .env_remove("SHUYU_SERVER")
        .env(
            LOG_LEVEL_ENV,
            tracing::level_filters::LevelFilter::current().to_string(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    process::limit_child(&mut command, limits);
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(describe(status)),
        Err(e) => Err(format!(
            "cannot start the worker {}: {e}",
            config.program.display()
        )),
    }
}

/// The domain of a worker doing work ahead of a job, with its governance state.
fn open_domain(data_dir: &Path) -> Result<(Domain, Governance), String> {
    let domain =
        Domain::open(data_dir).map_err(|e| format!("cannot open {}: {e}", data_dir.display()))?;
    let governance = Governance::new(domain.store.clone(), domain.audit.clone(), data_dir);
    Ok((domain, governance))
}

/// The worker's side of [`precompile`] (`shuyu worker --compile SHA256`): compiles the module
/// into the domain's cache. A module that is not valid WebAssembly or not ABI v1 is left for
/// its job to refuse. Returns how long it took. Blocking.
pub fn compile_one(data_dir: &Path, sha256: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let (domain, governance) = open_domain(data_dir)?;
    let module = governance
        .module_bytes(sha256)
        .map_err(|e| format!("module {sha256}: {e}"))?;
    match domain.sandbox.compile(&module) {
        Ok(_) => tracing::info!(
            module = %sha256,
            ms = started.elapsed().as_millis() as u64,
            "module compiled into the domain's cache"
        ),
        Err(fault) => tracing::info!(
            module = %sha256,
            fault = %fault.code(),
            "module not compiled; its jobs will be refused"
        ),
    }
    Ok(started.elapsed())
}

/// The worker's side of [`prewarm`] (`shuyu worker --warm-universe APPLICATION`): builds the
/// universe the application's next job would use, if it is still approved and can release, and
/// stores it in the domain's cache (`job::warm`). Blocking.
pub fn warm_one(data_dir: &Path, application: &str) -> Result<Warmed, String> {
    let (domain, governance) = open_domain(data_dir)?;
    let target = governance
        .universe_target(application)
        .map_err(|e| format!("application {application}: {e}"))?;
    let Some((scenario, catalog)) = target else {
        return Ok(Warmed::NotNeeded);
    };
    let warmed = warm_universe(&domain, scenario, &catalog)
        .map_err(|e| format!("application {application}: {e}"))?;
    match &warmed {
        Warmed::Built { entities, elapsed } => tracing::info!(
            application,
            entities,
            ms = elapsed.as_millis() as u64,
            "identifier universe built into the domain's cache"
        ),
        Warmed::Cached => tracing::info!(application, "identifier universe already cached"),
        Warmed::NotNeeded => {}
    }
    Ok(warmed)
}

/// Why `shuyu worker` could not even report.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading the request or writing the report failed.
    #[error("worker I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The request is not a [`WorkerRequest`].
    #[error("worker request: {0}")]
    Request(#[from] serde_json::Error),
}

/// The worker's side (`shuyu worker`): reads one [`WorkerRequest`] line from `input`, runs the
/// job in `data_dir`, writes a line per phase (`{"phase":"running"}`, `{"phase":"releasing"}`)
/// and then one [`WorkerEnd`] line to `output`. Anything `input` carries after the request, or
/// its end, cancels the job. Blocking.
pub fn serve_one<R, W>(data_dir: &Path, input: R, output: W) -> Result<(), WorkerError>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let output = Arc::new(std::sync::Mutex::new(output));
    let mut input = BufReader::new(input);
    let mut line = String::new();
    input.read_line(&mut line)?;
    let request: WorkerRequest = serde_json::from_str(&line)?;
    let cancel = CancelToken::new();
    let watcher = cancel.clone();
    // Detached: it blocks on the pipe until the server closes it or the process exits.
    std::thread::Builder::new()
        .name("shuyu-worker-stdin".into())
        .spawn(move || {
            let mut rest = [0u8; 64];
            // EOF, an error or any byte: the server wants the job stopped.
            let _ = input.read(&mut rest);
            watcher.cancel();
        })?;
    let phases = output.clone();
    let progress = Progress::new(move |phase| {
        // A lost phase line only makes the server show an earlier phase; the report matters.
        if let (Ok(mut text), Ok(mut out)) =
            (serde_json::to_vec(&PhaseLine { phase }), phases.lock())
        {
            text.push(b'\n');
            let _ = out.write_all(&text).and_then(|()| out.flush());
        }
    });
    let end = run_request(data_dir, request, cancel, progress);
    let mut text = serde_json::to_vec(&end)?;
    text.push(b'\n');
    let mut output = output
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    output.write_all(&text)?;
    output.flush()?;
    Ok(())
}

/// Runs the job of `request` in this process.
fn run_request(
    data_dir: &Path,
    request: WorkerRequest,
    cancel: CancelToken,
    progress: Progress,
) -> WorkerEnd {
    let internal = |message: String| WorkerEnd::Internal { message };
    let Some(job_id) = JobId::parse(&request.job_id) else {
        return internal(format!("'{}' is not a job id", request.job_id));
    };
    let opening = Instant::now();
    let domain = match Domain::open(data_dir) {
        Ok(domain) => domain,
        Err(e) => return internal(format!("cannot open {}: {e}", data_dir.display())),
    };
    tracing::info!(
        job = %job_id,
        ms = opening.elapsed().as_millis() as u64,
        "worker opened the domain"
    );
    let governance = Governance::new(domain.store.clone(), domain.audit.clone(), data_dir);
    let module = match &request.module_path {
        None => match governance.module_bytes(&request.module_sha256) {
            Ok(module) => module,
            Err(e) => return internal(format!("module {}: {e}", request.module_sha256)),
        },
        Some(path) => match std::fs::read(path) {
            Ok(bytes)
                if hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
                    == request.module_sha256 =>
            {
                bytes
            }
            Ok(_) => {
                return internal(format!(
                    "{}: the file no longer has hash {}",
                    path.display(),
                    request.module_sha256
                ))
            }
            Err(e) => return internal(format!("{}: {e}", path.display())),
        },
    };
    let mut datasets = Vec::new();
    for dataset in &request.datasets {
        match Dataset::load_as(&dataset.dir, &dataset.name) {
            Ok(loaded) => datasets.push(loaded),
            Err(e) => return internal(format!("dataset '{}': {e}", dataset.name)),
        }
    }
    let catalog = match Catalog::from_datasets(&request.catalog_root, datasets) {
        Ok(catalog) => catalog,
        Err(e) => return internal(format!("job catalog: {e}")),
    };
    let environment = JobEnvironment {
        catalog,
        job_id: job_id.clone(),
        cancel,
        progress,
        mock: request.mock,
    };
    let job = JobRequest {
        scenario: request.scenario,
        module,
    };
    match run_job_in(&domain, job, environment) {
        Ok(report) => WorkerEnd::Report(ReportSummary::of(&report)),
        Err(JobError::Scenario(e)) => WorkerEnd::Scenario {
            message: e.to_string(),
        },
        Err(e) => internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::LimitKind;

    #[test]
    fn phase_lines_reach_progress_once_each_in_order_and_the_rest_is_the_report() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let progress = Progress::new(move |phase| sink.lock().unwrap().push(phase));
        let output = concat!(
            "{\"phase\":\"running\"}\n",
            "{\"phase\":\"running\"}\n",
            "{\"phase\":\"done\"}\n",
            "{\"phase\":\"queued\"}\n",
            "{\"phase\":\"releasing\"}\n",
            "{\"phase\":\"running\"}\n",
            "{\"end\":\"internal\",\"message\":\"m\"}\n",
        );
        let rest = read_worker_output(output.as_bytes(), &progress).unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![JobPhase::Running, JobPhase::Releasing]
        );
        assert_eq!(rest, b"{\"end\":\"internal\",\"message\":\"m\"}\n");
    }

    #[test]
    fn a_summary_carries_everything_the_server_records() {
        let mut report = ReleaseReport::new(5, 3);
        report.groups_released = 7;
        report.groups_suppressed = 2;
        report.rows_suppressed = 11;
        let original = JobReport {
            job_id: JobId::new(),
            scenario_id: "s".into(),
            scenario_key_id: "s~00".into(),
            module_sha256: "ab".into(),
            status: JobStatus::Failed(Fault::Limit(LimitKind::Fuel)),
            module_problem: Some("the module imports `env::clock`".into()),
            releases: vec![
                ReleaseOutcome::Released {
                    release: "a".into(),
                    product_dir: PathBuf::from("products/j-a"),
                    table: RecordBatch::new_empty(Arc::new(Schema::empty())),
                    report: report.clone(),
                },
                ReleaseOutcome::Blocked {
                    release: "b".into(),
                    rule: Rule::ScanIdentifier,
                    message: "m".into(),
                    report: report.clone(),
                },
            ],
            fuel_used: 9,
            rows_read: 8,
            queries: 3,
            elapsed: Duration::from_millis(12),
            timings: crate::job::PhaseTimes::default(),
        };
        let line = serde_json::to_string(&WorkerEnd::Report(ReportSummary::of(&original)))
            .expect("encode");
        let Ok(WorkerEnd::Report(summary)) = serde_json::from_str::<WorkerEnd>(&line) else {
            panic!("decodes: {line}");
        };
        let back = summary.into_report(original.job_id.clone());
        assert_eq!(back.status, original.status);
        assert_eq!(back.module_problem, original.module_problem);
        assert_eq!((back.fuel_used, back.rows_read, back.queries), (9, 8, 3));
        assert_eq!(back.elapsed, original.elapsed);
        match (&back.releases[0], &back.releases[1]) {
            (
                ReleaseOutcome::Released {
                    product_dir,
                    report: r1,
                    ..
                },
                ReleaseOutcome::Blocked {
                    rule, report: r2, ..
                },
            ) => {
                assert_eq!(product_dir, &PathBuf::from("products/j-a"));
                assert_eq!(r1, &report);
                assert_eq!(r2, &report);
                assert_eq!(*rule, Rule::ScanIdentifier);
            }
            other => panic!("releases kept their order and kind: {other:?}"),
        }
    }

    const SCENARIO: &str = r#"
[scenario]
id = "s"
title = "t"
operator = "o"
module_sha256 = "00"
[[grant]]
dataset = "d"
columns = ["a"]
"#;

    #[test]
    fn derived_limits_grow_with_the_scenario() {
        let config = WorkerConfig::program(PathBuf::from("shuyu"));
        let mut scenario: ScenarioFile = toml::from_str(SCENARIO).expect("scenario");
        let base = config.limits_for(&scenario);
        assert_eq!(base.data_bytes, (512 + 2 * (64 + 256 + 1024)) << 20);
        assert_eq!(
            base.data_bytes,
            3200 << 20,
            "the defaults' limit, as the docs say"
        );
        assert_eq!(base.cpu_secs, 60 + 3 * (20 + 300));
        // A scenario approved for larger joins gets room for both runs' memory pools.
        let mut big_queries = scenario.clone();
        big_queries.limits.query_memory_mib = 4096;
        assert_eq!(
            config.limits_for(&big_queries).data_bytes,
            base.data_bytes + ((2 * (4096 - 1024)) << 20)
        );
        scenario.limits.memory_mib = 128;
        assert!(config.limits_for(&scenario).data_bytes > base.data_bytes);
        // A vector release holds its split of the granted rows besides both runs.
        let grown = config.limits_for(&scenario).data_bytes;
        let with_vector: ScenarioFile = toml::from_str(&format!(
            "{SCENARIO}\n[[vector]]\nname = \"v\"\ncoords = [\"x\"]\nbounds = [[0.0, 1.0]]\nprivacy = {{ epsilon = 1.0 }}\n[limits]\nmemory_mib = 128\n"
        ))
        .expect("scenario");
        assert_eq!(
            config.limits_for(&with_vector).data_bytes,
            grown + MAX_PARTITIONED_BYTES as u64
        );
        // A release with privacy is made per entity: the grouped rows, every entity worker and
        // its time limit on every thread.
        let private: ScenarioFile = toml::from_str(&format!(
            "{SCENARIO}\n[[release]]\nname = \"r\"\nk = 5\nmax_rows_per_entity = 1\nprivacy = {{ epsilon = 1.0 }}\n[[release.measure]]\nname = \"m\"\nclamp = [0.0, 1.0]\naggregations = [\"sum\"]\n"
        ))
        .expect("scenario");
        let workers = entity_workers() as u64;
        assert_eq!(
            config.limits_for(&private).data_bytes,
            base.data_bytes + ((1024 + workers * (16 + 16 + 4)) << 20)
        );
        assert_eq!(
            config.limits_for(&private).cpu_secs,
            base.cpu_secs + 3600 * workers
        );
        let fixed = WorkerConfig {
            memory_mib: Some(64),
            cpu_secs: Some(7),
            ..config
        };
        assert_eq!(
            fixed.limits_for(&scenario),
            ChildLimits {
                data_bytes: 64 << 20,
                cpu_secs: 7
            }
        );
    }

    /// A stand-in worker: a shell script (the program path is what tests may override).
    #[cfg(unix)]
    fn fake_worker(dir: &Path, script: &str) -> WorkerConfig {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-worker");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        WorkerConfig {
            grace: Duration::from_millis(200),
            ..WorkerConfig::program(path)
        }
    }

    #[cfg(unix)]
    fn request() -> WorkerRequest {
        WorkerRequest {
            job_id: JobId::new().to_string(),
            scenario: toml::from_str(SCENARIO).expect("scenario"),
            module_sha256: "00".into(),
            catalog_root: PathBuf::from("registry"),
            datasets: Vec::new(),
            mock: false,
            module_path: None,
        }
    }

    #[cfg(unix)]
    #[test]
    fn garbage_or_a_silent_exit_is_a_crash_never_a_report() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (script, exit) in [
            ("read req; echo '{\"end\":\"nonsense\"}'; exit 0", "exit 0"),
            ("read req; echo 'not json at all'", "exit 0"),
            ("read req; exit 3", "exit 3"),
            ("read req; kill -SEGV $$", "signal 11"),
        ] {
            let config = fake_worker(dir.path(), script);
            match run_isolated(
                &config,
                dir.path(),
                &request(),
                &CancelToken::new(),
                &Progress::default(),
            ) {
                Isolated::Crashed {
                    exit: seen,
                    cancelled: false,
                } => assert_eq!(seen, exit, "{script}"),
                other => panic!("{script}: {other:?}"),
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn cancelling_closes_stdin_then_escalates_to_sigkill() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Ends as soon as its stdin is closed, without a report.
        let polite = fake_worker(dir.path(), "read req; cat >/dev/null; exit 0");
        let cancel = CancelToken::new();
        cancel.cancel();
        match run_isolated(
            &polite,
            dir.path(),
            &request(),
            &cancel,
            &Progress::default(),
        ) {
            Isolated::Crashed {
                exit,
                cancelled: true,
            } => assert_eq!(exit, "exit 0"),
            other => panic!("{other:?}"),
        }
        // Ignores stdin and SIGTERM: killed once both grace periods are over.
        let stubborn = fake_worker(dir.path(), "trap '' TERM; while :; do sleep 1; done");
        let started = Instant::now();
        match run_isolated(
            &stubborn,
            dir.path(),
            &request(),
            &cancel,
            &Progress::default(),
        ) {
            Isolated::Crashed {
                exit,
                cancelled: true,
            } => assert_eq!(exit, "signal 9"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
