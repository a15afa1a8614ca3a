//! The server's job queue: jobs submitted through the API run here, at most `workers` at a time.
//!
//! ```text
//! submit: authorize_job ─▶ new JobId ─▶ record_job_queued ─▶ pending
//! worker: authorize_job again ─▶ refused | running ─▶ module bytes, job catalog
//!         ─▶ worker process (`shuyu worker`, see `job::worker`) or, in process, run_job_in
//!         ─▶ completed | failed | cancelled (+ releases)
//!         ─▶ the worker process died: failed "worker_crashed" (+ audit job.end, exit status)
//! stop:   queued  ─▶ recorded `cancelled` at once ("<cause> before it started"), never starts
//!         running ─▶ cancel token ─▶ the guest stops at its next ABI call or epoch tick
//!                    ─▶ `cancelled` ("<cause> while it ran")
//!                    (a worker process: stdin closed, then SIGTERM, then SIGKILL)
//! ```
//!
//! With [`JobIsolation::Workers`] (what `shuyu serve` uses) a job that aborts its process, runs
//! it out of memory or out of CPU time ends that process only; the server records the job as
//! failed and goes on with the next.
//!
//! The database is the queue's memory: every state change is a [`JobRecord`] update through
//! [`Governance::record_job_state`]. Only what cannot be stored lives here (the pending order and
//! the cancel tokens), so after a crash [`JobQueue::fail_interrupted`] marks what was left running
//! as failed and what was left queued, which never ran, as cancelled.
//!
//! Workers are plain threads, not async tasks: a job blocks its thread for its whole run, and the
//! engine blocks on the domain's own runtime from inside guest calls.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use chrono::Utc;

use shuyu::audit::{AuditFilter, NewEntry};
use shuyu::domain::Domain;
use shuyu::governance::model::{
    Caller, JobPhase, JobRecord, JobRelease, JobState, PageRequest, Role,
};
use shuyu::governance::ScenarioFile;
use shuyu::governance::{GovError, Governance};
use shuyu::job::view::{self, ReleaseView};
use shuyu::job::worker::{
    precompile, prewarm, run_isolated, Isolated, WorkerConfig, WorkerRequest, DETAIL_WORKER_CRASHED,
};
use shuyu::job::{
    run_job_in, JobEnvironment, JobError, JobId, JobReport, JobRequest, JobStatus, Progress,
    ReleaseOutcome,
};
use shuyu::sandbox::{CancelToken, Fault};

/// Detail recorded for jobs a crash left running (`failed`: they ran and did not finish).
pub const DETAIL_RESTARTED: &str = "server restarted while it ran";
/// Detail recorded for jobs a crash left queued (`cancelled`: they never ran).
pub const DETAIL_RESTARTED_QUEUED: &str = "server restarted before it started";
/// The cause recorded for jobs still queued or running when the server stops.
pub const CAUSE_SHUT_DOWN: &str = "server shut down";

/// The detail of a job cancelled for `cause`: whether it ever ran is part of what happened.
pub fn cancelled_detail(cause: &str, ran: bool) -> String {
    if ran {
        format!("{cause} while it ran")
    } else {
        format!("{cause} before it started")
    }
}

/// Who the queue acts as when it lists jobs on its own behalf (crash recovery): all jobs are
/// visible to the bureau role.
const SYSTEM_ID: &str = "system";

/// Where the queue runs jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum JobIsolation {
    /// On the worker thread itself, in the server's process. An abort in a job (a host stack
    /// overflow, an impossible allocation) then ends the server: for tests and embedding only.
    #[default]
    InProcess,
    /// Each job in a worker process of its own (see [`shuyu::job::worker`]); `shuyu serve` always
    /// runs jobs this way.
    Workers(WorkerConfig),
}

/// A job waiting for a worker.
struct Pending {
    id: JobId,
    caller: Caller,
    application: String,
    module_sha256: String,
}

/// A job this queue knows: queued or running.
struct Live {
    cancel: CancelToken,
    running: bool,
    /// Where it is; only ever moves forward.
    phase: JobPhase,
    /// Set when the job was stopped from outside: the state and detail to record.
    stop: Option<(JobState, String)>,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Pending>,
    live: HashMap<String, Live>,
    closed: bool,
}

/// Owns the domain and drops it off any async runtime: a [`Domain`] holds a tokio runtime of its
/// own, and dropping a runtime from inside an async context panics.
struct OwnedDomain(Option<Domain>);

impl std::ops::Deref for OwnedDomain {
    type Target = Domain;
    // The host's one `expect`: only `Drop` takes the domain out, so no caller can see `None`.
    #[allow(clippy::expect_used)]
    fn deref(&self) -> &Domain {
        self.0
            .as_ref()
            .expect("the domain is present until the queue is dropped")
    }
}

impl Drop for OwnedDomain {
    fn drop(&mut self) {
        if let Some(domain) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Joined so that the database is closed when the queue is gone.
                let _ = std::thread::spawn(move || drop(domain)).join();
            }
        }
    }
}

struct Inner {
    domain: OwnedDomain,
    isolation: JobIsolation,
    governance: Governance,
    state: Mutex<QueueState>,
    /// Wakes workers when a job is pending or the queue closes.
    wake: Condvar,
    /// Counts jobs that left the queue (ended or were stopped before starting), so async callers
    /// can wait for one job to end.
    ended: tokio::sync::watch::Sender<u64>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Work done ahead of a first job (worker processes only): modules to compile, universes to
    /// build. A full queue drops the request and the job does the work itself.
    precompile: Option<std::sync::mpsc::SyncSender<Ahead>>,
    /// The module being compiled ahead, so that its job waits instead of compiling it twice.
    compiling: Arc<Compiling>,
    /// Applications whose universe waits to be built ahead or is being built, so that a job
    /// submitted right after an approval or a publication waits for it instead of building it
    /// at the same moment.
    warming: Arc<Warming>,
}

/// Applications whose identifier universe is queued or being built ahead.
#[derive(Default)]
struct Warming {
    applications: Mutex<std::collections::BTreeSet<String>>,
    done: Condvar,
}

impl Warming {
    fn add(&self, application: &str) {
        lock(&self.applications).insert(application.to_string());
    }

    fn remove(&self, application: &str) {
        lock(&self.applications).remove(application);
        self.done.notify_all();
    }

    /// Waits (at most `limit`) until `application`'s universe is not queued or being built
    /// ahead: its job then loads it from the cache.
    fn wait_for(&self, application: &str, limit: std::time::Duration) {
        wait_while(&self.applications, &self.done, limit, |queued| {
            queued.contains(application)
        });
    }
}

/// The module the precompile thread is compiling, if any.
#[derive(Default)]
struct Compiling {
    module: Mutex<Option<String>>,
    done: Condvar,
}

impl Compiling {
    fn set(&self, module: Option<String>) {
        *lock(&self.module) = module;
        self.done.notify_all();
    }

    /// Waits (at most `limit`) until `module` is not being compiled ahead: its job then loads
    /// it from the cache rather than compile it a second time at the same moment.
    fn wait_for(&self, module: &str, limit: std::time::Duration) {
        wait_while(&self.module, &self.done, limit, |current| {
            current.as_deref() == Some(module)
        });
    }
}

/// Waits on `done` while `busy` holds for what `state` guards, for at most `limit`.
fn wait_while<T>(
    state: &Mutex<T>,
    done: &Condvar,
    limit: std::time::Duration,
    busy: impl Fn(&T) -> bool,
) {
    let deadline = std::time::Instant::now() + limit;
    let mut current = lock(state);
    while busy(&current) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        current = done
            .wait_timeout(current, left)
            .map(|(guard, _)| guard)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

impl Inner {
    /// Closes the queue: no job is taken any more, running ones are stopped (their workers record
    /// them as failed, "server shut down"). Pending jobs are moved into `pending_out` for the
    /// caller to record; left out, they stay `queued` in the database until the next start.
    fn close(&self, pending_out: &mut Vec<String>) {
        let mut state = lock(&self.state);
        state.closed = true;
        let pending: Vec<String> = state.pending.drain(..).map(|p| p.id.to_string()).collect();
        for id in &pending {
            state.live.remove(id);
        }
        for live in state.live.values_mut() {
            if live.stop.is_none() {
                live.stop = Some((
                    JobState::Cancelled,
                    cancelled_detail(CAUSE_SHUT_DOWN, live.running),
                ));
            }
            live.cancel.cancel();
        }
        drop(state);
        pending_out.extend(pending);
        self.wake.notify_all();
        self.ended.send_modify(|n| *n += 1);
    }
}

/// The job queue of a server. Cheap to clone; clones share the queue. When the last clone is
/// dropped the queue closes: running jobs are stopped and the workers end (jobs left queued are
/// marked failed at the next start).
#[derive(Clone)]
pub struct JobQueue {
    handle: Arc<Handle>,
}

/// Shared by the clones of a [`JobQueue`]. Workers hold [`Inner`] only, so dropping the last
/// handle is what tells them to end.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.close(&mut Vec::new());
    }
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue").finish_non_exhaustive()
    }
}

impl JobQueue {
    /// Starts `workers` worker threads (at least one) running jobs in `domain`, authorized by
    /// `governance`, in the server's own process ([`JobIsolation::InProcess`]).
    pub fn start(domain: Domain, governance: Governance, workers: usize) -> std::io::Result<Self> {
        Self::start_with(domain, governance, workers, JobIsolation::InProcess)
    }

    /// [`JobQueue::start`] running each job as `isolation` says.
    pub fn start_with(
        domain: Domain,
        governance: Governance,
        workers: usize,
        isolation: JobIsolation,
    ) -> std::io::Result<Self> {
        let compiling = Arc::new(Compiling::default());
        let warming = Arc::new(Warming::default());
        let precompile = match &isolation {
            JobIsolation::Workers(config) => Some(start_precompiler(
                config.clone(),
                domain.data_dir(),
                governance.clone(),
                compiling.clone(),
                warming.clone(),
            )?),
            JobIsolation::InProcess => None,
        };
        let inner = Arc::new(Inner {
            domain: OwnedDomain(Some(domain)),
            precompile,
            compiling,
            warming,
            isolation,
            governance,
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            ended: tokio::sync::watch::Sender::new(0),
            workers: Mutex::new(Vec::new()),
        });
        let mut handles = Vec::new();
        for n in 0..workers.max(1) {
            let worker_inner = inner.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("shuyu-worker-{n}"))
                .spawn(move || worker(&worker_inner));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    inner.close(&mut Vec::new());
                    for handle in handles {
                        let _ = handle.join();
                    }
                    return Err(e);
                }
            }
        }
        *lock(&inner.workers) = handles;
        Ok(Self {
            handle: Arc::new(Handle { inner }),
        })
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    /// The domain jobs run in.
    pub fn domain(&self) -> &Domain {
        &self.inner().domain
    }

    /// Where jobs run (mock runs run the same way).
    pub fn isolation(&self) -> &JobIsolation {
        &self.inner().isolation
    }

    /// The governance the queue authorizes with.
    pub fn governance(&self) -> &Governance {
        &self.inner().governance
    }

    /// Submits a job: the governance gate, a new id, the queued record, then a place in the queue.
    /// `Err(Conflict)` carries the gate's reason. Every refusal (the gate's, a quota, a server
    /// shutting down) is audited (`refused.submitJob`) before it is returned; an internal error
    /// is not a refusal. Blocking (database).
    pub fn submit(
        &self,
        caller: &Caller,
        application: &str,
        module_sha256: &str,
    ) -> Result<JobRecord, GovError> {
        let inner = self.inner();
        let gov = &inner.governance;
        if lock(&inner.state).closed {
            let refusal = GovError::Conflict("the server is shutting down".into());
            gov.refuse_submission(caller, application, "server_shutting_down", &refusal, None)?;
            return Err(refusal);
        }
        let auth = gov.authorize_submission(caller, application, module_sha256, Utc::now())?;
        let id = JobId::new();
        let record = match gov.record_job_queued(caller, id.as_str(), &auth, module_sha256) {
            Ok(record) => record,
            Err(refusal @ GovError::Quota(_)) => {
                gov.refuse_submission(caller, application, "quota", &refusal, None)?;
                return Err(refusal);
            }
            Err(e) => return Err(e),
        };
        // Before a worker can take it, so that the log has the transitions in order.
        tracing::info!(job = %record.id, operator = %record.operator, phase = "queued", "job");
        let mut state = lock(&inner.state);
        if state.closed {
            drop(state);
            let _ = gov.record_job_state(
                id.as_str(),
                JobState::Cancelled,
                Some(cancelled_detail(CAUSE_SHUT_DOWN, false)),
                Vec::new(),
            );
            return Err(GovError::Conflict("the server is shutting down".into()));
        }
        state.live.insert(
            id.to_string(),
            Live {
                cancel: CancelToken::new(),
                running: false,
                phase: JobPhase::Queued,
                stop: None,
            },
        );
        state.pending.push_back(Pending {
            id,
            caller: caller.clone(),
            application: application.to_string(),
            module_sha256: module_sha256.to_string(),
        });
        drop(state);
        inner.wake.notify_one();
        Ok(record)
    }

    /// Asks for module `sha256` (just uploaded) to be compiled into the domain's cache in a
    /// worker process, in the background, so that its first job starts without compiling.
    /// Nothing happens with in-process jobs, or when [`PRECOMPILE_BACKLOG`] modules wait already.
    pub fn precompile(&self, sha256: &str) {
        if let Some(queue) = &self.inner().precompile {
            if queue.try_send(Ahead::Compile(sha256.to_string())).is_err() {
                tracing::info!(module = %sha256, "module left for its first job to compile");
            }
        }
    }

    /// Asks for the identifier universe of application `id` (just approved, or one of its
    /// datasets just published) to be built into the domain's cache in a worker process, in the
    /// background, so that its next job loads it instead of building it. Nothing happens with
    /// in-process jobs, for an application that is not approved or cannot release, or when
    /// [`PRECOMPILE_BACKLOG`] tasks wait already.
    pub fn warm_universe(&self, id: &str) {
        let inner = self.inner();
        if let Some(queue) = &inner.precompile {
            // Marked before it is queued, so that a job submitted as soon as the approval or
            // publication returns waits for it.
            inner.warming.add(id);
            if queue.try_send(Ahead::Warm(id.to_string())).is_err() {
                inner.warming.remove(id);
                tracing::info!(application = %id, "universe left for the next job to build");
            }
        }
    }

    /// [`JobQueue::warm_universe`] for every approved application that grants `dataset` (a
    /// version of it was just published).
    pub fn warm_universes_of(&self, dataset: &str) {
        if self.inner().precompile.is_none() {
            return;
        }
        match self
            .inner()
            .governance
            .approved_applications_granting(dataset)
        {
            Ok(ids) => ids.iter().for_each(|id| self.warm_universe(id)),
            Err(e) => tracing::warn!(dataset, error = %e, "cannot list the applications to warm"),
        }
    }

    /// The job's phase as this queue knows it (`None` when it is not queued or running here).
    pub fn phase(&self, job_id: &str) -> Option<JobPhase> {
        lock(&self.inner().state).live.get(job_id).map(|l| l.phase)
    }

    /// `job` with its phase as this queue knows it: the live phase while the job is queued or
    /// running here, otherwise the one its stored state implies.
    pub fn with_phase(&self, mut job: JobRecord) -> JobRecord {
        job.phase = self
            .phase(&job.id)
            .filter(|_| matches!(job.state, JobState::Queued | JobState::Running))
            .unwrap_or_else(|| JobPhase::of_state(job.state));
        job
    }

    /// Cancels a queued or running job for `cause` ("cancelled by its operator", "operator
    /// suspended"), recorded as `cancelled` with the cause and whether it had started
    /// ([`cancelled_detail`]). A queued job is recorded at once and never starts; a running
    /// job's guest is stopped and its worker records the end. Returns false when this queue is
    /// not holding the job (it has ended, or it is unknown). Blocking (database).
    pub fn stop(&self, job_id: &str, cause: &str) -> Result<bool, GovError> {
        let inner = self.inner();
        let mut queue = lock(&inner.state);
        let Some(live) = queue.live.get_mut(job_id) else {
            return Ok(false);
        };
        if live.running {
            if live.stop.is_none() {
                live.stop = Some((JobState::Cancelled, cancelled_detail(cause, true)));
            }
            live.cancel.cancel();
            return Ok(true);
        }
        queue.live.remove(job_id);
        queue.pending.retain(|p| p.id.as_str() != job_id);
        drop(queue);
        inner.ended.send_modify(|n| *n += 1);
        let detail = cancelled_detail(cause, false);
        inner.governance.record_job_state(
            job_id,
            JobState::Cancelled,
            Some(detail.clone()),
            Vec::new(),
        )?;
        tracing::info!(
            job = %job_id,
            phase = "done",
            state = state_name(JobState::Cancelled),
            detail = %detail,
            "job"
        );
        Ok(true)
    }

    /// Cancels each of `job_ids` for `cause` (the ids a suspension, revocation or objection
    /// returned). Failures are logged, not returned: the governance action they follow is done,
    /// and the gate refuses those jobs anyway.
    pub fn stop_all(&self, job_ids: &[String], cause: &str) {
        for id in job_ids {
            if let Err(e) = self.stop(id, cause) {
                tracing::error!(job = %id, error = %e, "cannot stop the job");
            }
        }
    }

    /// Whether the job is queued or running in this queue.
    pub fn is_live(&self, job_id: &str) -> bool {
        lock(&self.inner().state).live.contains_key(job_id)
    }

    /// Waits until the job is no longer queued or running here, or `timeout` passes. Returns
    /// whether it ended.
    pub async fn wait_ended(&self, job_id: &str, timeout: std::time::Duration) -> bool {
        let mut ended = self.inner().ended.subscribe();
        let wait = async {
            while self.is_live(job_id) {
                if ended.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok() && !self.is_live(job_id)
    }

    /// Records jobs that a previous server process left `running` as `failed` ("server
    /// restarted while it ran") and those it left `queued`, which never ran, as `cancelled`
    /// ("server restarted before it started"); returns how many. Call once at start, before
    /// serving. Blocking (database).
    pub fn fail_interrupted(governance: &Governance) -> Result<u32, GovError> {
        let system = Caller {
            id: SYSTEM_ID.into(),
            role: Role::Bureau,
        };
        let mut interrupted = Vec::new();
        let mut page = PageRequest {
            limit: Some(500),
            after: None,
        };
        loop {
            let listed = governance.list_jobs(&system, &page)?;
            interrupted.extend(
                listed
                    .items
                    .into_iter()
                    .filter(|job| matches!(job.state, JobState::Queued | JobState::Running))
                    .map(|job| (job.id, job.state)),
            );
            match listed.next {
                Some(next) if page.after.as_ref() != Some(&next) => page.after = Some(next),
                _ => break,
            }
        }
        for (id, state) in &interrupted {
            let (state, detail) = match state {
                JobState::Running => (JobState::Failed, DETAIL_RESTARTED),
                _ => (JobState::Cancelled, DETAIL_RESTARTED_QUEUED),
            };
            governance.record_job_state(id, state, Some(detail.into()), Vec::new())?;
        }
        Ok(u32::try_from(interrupted.len()).unwrap_or(u32::MAX))
    }

    /// Stops taking jobs, records queued ones as cancelled ("server shut down before it
    /// started"), stops running ones ("... while it ran") and waits for the workers to record
    /// their ends. Blocking: call from a blocking thread.
    pub fn shutdown(&self) {
        let inner = self.inner();
        let mut stopped = Vec::new();
        inner.close(&mut stopped);
        for id in &stopped {
            if let Err(e) = inner.governance.record_job_state(
                id,
                JobState::Cancelled,
                Some(cancelled_detail(CAUSE_SHUT_DOWN, false)),
                Vec::new(),
            ) {
                tracing::error!(job = %id, error = %e, "cannot record the job as cancelled");
            }
        }
        let handles = std::mem::take(&mut *lock(&inner.workers));
        for handle in handles {
            let _ = handle.join();
        }
    }
}

/// Tasks that may wait to be done ahead of their first job; more are left to their jobs.
pub const PRECOMPILE_BACKLOG: usize = 16;

/// Work done ahead of a first job.
enum Ahead {
    /// Compile this uploaded module (SHA-256).
    Compile(String),
    /// Build this application's identifier universe.
    Warm(String),
}

/// Starts the thread that does work ahead of first jobs one task at a time, each in a worker
/// process (`job::worker::precompile`, `job::worker::prewarm`). It ends when the queue is
/// dropped.
fn start_precompiler(
    config: WorkerConfig,
    data_dir: &std::path::Path,
    governance: Governance,
    compiling: Arc<Compiling>,
    warming: Arc<Warming>,
) -> std::io::Result<std::sync::mpsc::SyncSender<Ahead>> {
    let (send, receive) = std::sync::mpsc::sync_channel::<Ahead>(PRECOMPILE_BACKLOG);
    let data_dir = data_dir.to_path_buf();
    std::thread::Builder::new()
        .name("shuyu-precompile".into())
        .spawn(move || {
            for task in receive {
                match task {
                    Ahead::Compile(sha256) => {
                        compiling.set(Some(sha256.clone()));
                        let compiled = precompile(&config, &data_dir, &sha256);
                        compiling.set(None);
                        if let Err(e) = compiled {
                            tracing::warn!(module = %sha256, error = %e, "module not compiled ahead");
                        }
                    }
                    Ahead::Warm(id) => {
                        warm_ahead(&config, &data_dir, &governance, &id);
                        warming.remove(&id);
                    }
                }
            }
        })?;
    Ok(send)
}

/// Builds application `id`'s universe ahead, under the limits of its scenario's jobs.
fn warm_ahead(
    config: &WorkerConfig,
    data_dir: &std::path::Path,
    governance: &Governance,
    id: &str,
) {
    let scenario = match governance.universe_target(id) {
        Ok(Some((scenario, _))) => scenario,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(application = %id, error = %e, "universe not built ahead");
            return;
        }
    };
    if let Err(e) = prewarm(config, data_dir, id, &scenario) {
        tracing::warn!(application = %id, error = %e, "universe not built ahead");
    }
}

/// A poisoned lock only means another thread panicked while holding it; the queue's state is
/// still consistent (every change is a single insert or remove), so keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Moves a live job to `phase` (never backwards) and logs the move.
fn enter(inner: &Inner, job_id: &str, phase: JobPhase) {
    let mut state = lock(&inner.state);
    if let Some(live) = state.live.get_mut(job_id) {
        if phase > live.phase {
            live.phase = phase;
            drop(state);
            tracing::info!(job = %job_id, phase = phase_name(phase), "job");
        }
    }
}

/// A phase's name as on the wire.
fn phase_name(phase: JobPhase) -> &'static str {
    match phase {
        JobPhase::Queued => "queued",
        JobPhase::Planning => "planning",
        JobPhase::Running => "running",
        JobPhase::Releasing => "releasing",
        JobPhase::Done => "done",
    }
}

/// A worker thread: takes pending jobs until the queue closes.
fn worker(inner: &Arc<Inner>) {
    loop {
        let next = {
            let mut state = lock(&inner.state);
            loop {
                if state.closed {
                    break None;
                }
                if let Some(job) = state.pending.pop_front() {
                    match state.live.get_mut(job.id.as_str()) {
                        Some(live) => {
                            live.running = true;
                            live.phase = JobPhase::Planning;
                            break Some((job, live.cancel.clone()));
                        }
                        // Stopped while queued; already recorded.
                        None => continue,
                    }
                }
                state = inner
                    .wake
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let Some((job, cancel)) = next else { return };
        let id = job.id.to_string();
        tracing::info!(job = %id, phase = "planning", "job");
        let ended =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_one(inner, job, cancel)));
        let stop = lock(&inner.state).live.remove(&id).and_then(|l| l.stop);
        let (state, detail, releases) = match ended {
            Ok(End::Recorded) => (None, None, Vec::new()),
            Ok(End::Record(state, detail, releases)) => (Some(state), detail, releases),
            Err(_panic) => (
                Some(JobState::Failed),
                Some("internal".to_string()),
                Vec::new(),
            ),
        };
        if let Some(state) = state {
            // A stopped job ends as its stopper said, with whatever it released before.
            let (state, detail) = match (state, stop) {
                (JobState::Cancelled, Some(stop)) => (stop.0, Some(stop.1)),
                (state, _) => (state, detail),
            };
            let shown = detail.clone().unwrap_or_default();
            match inner
                .governance
                .record_job_state(&id, state, detail, releases)
            {
                Ok(_) => tracing::info!(
                    job = %id,
                    phase = "done",
                    state = state_name(state),
                    detail = %shown,
                    "job"
                ),
                Err(e) => {
                    tracing::error!(job = %id, error = %e, "cannot record the end of the job")
                }
            }
        }
        inner.ended.send_modify(|n| *n += 1);
    }
}

/// What is left to record when a job leaves its worker.
enum End {
    /// Its end is recorded already.
    Recorded,
    /// Record this state, detail and releases.
    Record(JobState, Option<String>, Vec<JobRelease>),
}

/// A state's name as on the wire.
fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Completed => "completed",
        JobState::Failed => "failed",
        JobState::Refused => "refused",
        JobState::Cancelled => "cancelled",
    }
}

/// Runs one job from the second gate check to its end.
fn run_one(inner: &Arc<Inner>, job: Pending, cancel: CancelToken) -> End {
    let gov = &inner.governance;
    let id = job.id.to_string();
    let failed = |detail: &str| End::Record(JobState::Failed, Some(detail.to_string()), Vec::new());
    // The gate again: the operator, agreement, application or dataset may have changed since
    // the job was queued.
    let auth = match gov.authorize_job(
        &job.caller,
        &job.application,
        &job.module_sha256,
        Utc::now(),
    ) {
        Ok(auth) => auth,
        Err(GovError::Internal { message, .. }) => {
            tracing::error!(job = %id, error = %message, "gate check failed");
            return failed("internal");
        }
        Err(refusal) => {
            return End::Record(
                JobState::Refused,
                Some(refusal_reason(&refusal)),
                Vec::new(),
            )
        }
    };
    // Stopped while the gate was checked: end it before anything is audited as started.
    if cancel.is_cancelled() {
        return End::Record(
            JobState::Cancelled,
            Some(cancelled_detail("cancel requested", false)),
            Vec::new(),
        );
    }
    if let Err(e) = gov.record_job_state(&id, JobState::Running, None, Vec::new()) {
        // Most likely stopped between the two records; either way it must not run unrecorded.
        tracing::error!(job = %id, error = %e, "cannot record the job as running");
        return End::Recorded;
    }
    let module = match gov.module_bytes(&job.module_sha256) {
        Ok(module) => module,
        Err(e) => {
            tracing::error!(job = %id, module = %job.module_sha256, error = %e, "module unavailable");
            return failed("module_unavailable");
        }
    };
    let datasets: Vec<String> = auth
        .scenario
        .grants
        .iter()
        .map(|grant| grant.dataset.clone())
        .collect();
    let catalog = match gov.job_catalog(&datasets) {
        Ok(catalog) => catalog,
        Err(GovError::Internal { message, .. }) => {
            tracing::error!(job = %id, error = %message, "job catalog");
            return failed("internal");
        }
        Err(refusal) => {
            return End::Record(
                JobState::Refused,
                Some(refusal_reason(&refusal)),
                Vec::new(),
            )
        }
    };
    let progress = {
        let inner = Arc::downgrade(inner);
        let id = id.clone();
        Progress::new(move |phase| {
            if let Some(inner) = inner.upgrade() {
                enter(&inner, &id, phase);
            }
        })
    };
    if let JobIsolation::Workers(config) = &inner.isolation {
        // A module compiled ahead right now is in the cache as soon as that ends; compiling it
        // here too would only halve the speed of both. The wait is bounded by the compiling
        // worker's CPU limit.
        let limit = config
            .cpu_secs
            .unwrap_or(shuyu::job::worker::WORKER_BASE_CPU_SECS);
        inner.compiling.wait_for(
            &job.module_sha256,
            std::time::Duration::from_secs(limit + 10),
        );
        // Likewise the application's universe, just queued or being built ahead (after an
        // approval or a publication): bounded by that worker's CPU limit, the job's own.
        let limit = config.limits_for(&auth.scenario).cpu_secs;
        inner.warming.wait_for(
            &job.application,
            std::time::Duration::from_secs(limit.saturating_add(10)),
        );
        // The server read the module to check it is there and intact; the worker reads it
        // again from the module store (and checks its hash) rather than through the pipe.
        drop(module);
        let scenario = auth.scenario;
        let request = WorkerRequest::new(&job.id, scenario.clone(), &job.module_sha256, &catalog);
        return match run_isolated(
            config,
            inner.domain.data_dir(),
            &request,
            &cancel,
            &progress,
        ) {
            Isolated::Ended(report) => ended(&report),
            Isolated::Scenario(message) => failed(&format!("scenario: {message}")),
            Isolated::Internal(message) => {
                tracing::error!(job = %id, error = %message, "worker failed");
                failed("internal")
            }
            Isolated::Crashed { exit, cancelled } => {
                worker_crashed(inner, &scenario, &id, &exit, cancelled)
            }
        };
    }
    let request = JobRequest {
        scenario: auth.scenario,
        module,
    };
    let environment = JobEnvironment {
        catalog,
        job_id: job.id,
        cancel,
        progress,
        mock: false,
    };
    match run_job_in(&inner.domain, request, environment) {
        Ok(report) => ended(&report),
        Err(JobError::Scenario(e)) => failed(&format!("scenario: {e}")),
        Err(e) => {
            tracing::error!(job = %id, error = %e, "job failed to run");
            failed("internal")
        }
    }
}

/// The end of a job whose worker process died without reporting: `failed` with the fixed
/// detail [`DETAIL_WORKER_CRASHED`] (or the stop the server asked for), and, unless the worker
/// audited the job's end before it died, a `job.end` entry saying so, with the exit status for
/// reviewers. The log is then sealed with a checkpoint, as after any job.
fn worker_crashed(
    inner: &Inner,
    scenario: &ScenarioFile,
    id: &str,
    exit: &str,
    cancelled: bool,
) -> End {
    tracing::error!(job = %id, exit = %exit, "the worker process died");
    let audit = &inner.domain.audit;
    let audited = audit
        .search(&AuditFilter {
            job_id: Some(id.to_string()),
            action: Some("job.end".into()),
            limit: Some(1),
            ..AuditFilter::default()
        })
        .map(|found| !found.is_empty())
        .unwrap_or(false);
    let status = if cancelled { "cancelled" } else { "failed" };
    let action = if audited {
        "job.worker_exit"
    } else {
        "job.end"
    };
    let appended = audit.append(NewEntry {
        actor: scenario.scenario.operator.clone(),
        action: action.into(),
        subject: scenario.scenario.id.clone(),
        job_id: Some(id.to_string()),
        details: serde_json::json!({
            "status": status,
            "detail": DETAIL_WORKER_CRASHED,
            "worker_exit": exit,
        }),
    });
    if let Err(e) = appended.and_then(|_| audit.checkpoint()) {
        tracing::error!(job = %id, error = %e, "cannot audit the worker's end");
    }
    if cancelled {
        // Stopped from outside: the worker loop records the stopper's state and detail.
        return End::Record(
            JobState::Cancelled,
            Some(cancelled_detail("cancel requested", true)),
            Vec::new(),
        );
    }
    End::Record(
        JobState::Failed,
        Some(DETAIL_WORKER_CRASHED.into()),
        Vec::new(),
    )
}

/// A refusal's message without the error kind's prefix (the state already says "refused").
fn refusal_reason(error: &GovError) -> String {
    match error {
        GovError::Unauthenticated(m)
        | GovError::Forbidden(m)
        | GovError::NotFound(m)
        | GovError::Conflict(m)
        | GovError::Quota(m)
        | GovError::Invalid(m)
        | GovError::Internal { message: m, .. } => m.clone(),
    }
}

/// The record of a job that ran: state, operator-visible detail and releases, all through
/// [`view`](shuyu::job::view) (fixed codes, never a guest's number or data).
fn ended(report: &JobReport) -> End {
    let releases = report.releases.iter().map(job_release).collect();
    let (state, detail) = match &report.status {
        JobStatus::Completed => match report
            .releases
            .iter()
            .map(ReleaseView::of)
            .find(|r| r.blocked)
        {
            None => (JobState::Completed, None),
            Some(blocked) => (
                JobState::Failed,
                Some(format!(
                    "release '{}' {}",
                    blocked.release,
                    blocked.block_text()
                )),
            ),
        },
        JobStatus::Failed(Fault::Cancelled) => (
            JobState::Cancelled,
            Some(cancelled_detail("cancel requested", true)),
        ),
        JobStatus::GuestError(_) | JobStatus::Failed(_) => {
            (JobState::Failed, Some(view::status_code(report)))
        }
        JobStatus::Refused(reason) => (JobState::Refused, Some(reason.clone())),
    };
    End::Record(state, detail, releases)
}

/// One release as the operator sees it: the product id (the package's folder name) and the
/// report its manifest shows; nothing of a block but its visible rule.
fn job_release(outcome: &ReleaseOutcome) -> JobRelease {
    let shown = ReleaseView::of(outcome);
    let report = match outcome {
        ReleaseOutcome::Released { report, .. } => Some(view::shown_report(report)),
        ReleaseOutcome::Blocked { .. } => None,
    };
    JobRelease {
        release: shown.release.clone(),
        outcome: if shown.blocked { "blocked" } else { "released" }.into(),
        product: shown.product.clone(),
        rule: shown.rule.map(str::to_string),
        message: None,
        groups_released: report.as_ref().map_or(0, |r| r.groups_released),
        suppressed: report.and_then(|r| r.suppressed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_job_waits_for_its_module_compiled_ahead_and_only_for_it() {
        let compiling = Arc::new(Compiling::default());
        // Nothing compiling: no wait.
        let started = Instant::now();
        compiling.wait_for("a", Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(5));

        compiling.set(Some("a".into()));
        // Another module: no wait.
        let started = Instant::now();
        compiling.wait_for("b", Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(5));
        // The same module: until it is done.
        let finisher = compiling.clone();
        let done = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            finisher.set(None);
        });
        let started = Instant::now();
        compiling.wait_for("a", Duration::from_secs(30));
        assert!(started.elapsed() >= Duration::from_millis(150));
        done.join().unwrap();
        // A compile that never ends is waited for no longer than the limit.
        compiling.set(Some("a".into()));
        let started = Instant::now();
        compiling.wait_for("a", Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_job_waits_for_its_applications_universe_and_only_for_it() {
        let warming = Arc::new(Warming::default());
        let started = Instant::now();
        warming.wait_for("app-1", Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(5), "nothing queued");

        warming.add("app-1");
        warming.add("app-2");
        let started = Instant::now();
        warming.wait_for("app-3", Duration::from_secs(30));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "another application"
        );
        // Another application's build ending does not end the wait; its own does.
        let finisher = warming.clone();
        let done = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            finisher.remove("app-2");
            std::thread::sleep(Duration::from_millis(200));
            finisher.remove("app-1");
        });
        let started = Instant::now();
        warming.wait_for("app-1", Duration::from_secs(30));
        assert!(started.elapsed() >= Duration::from_millis(250));
        done.join().unwrap();
        // A build that never ends is waited for no longer than the limit.
        warming.add("app-1");
        let started = Instant::now();
        warming.wait_for("app-1", Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
