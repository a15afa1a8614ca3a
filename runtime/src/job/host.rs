//! The job's implementation of the sandbox [`Host`]: queries through the engine, releases
//! through the guard into product packages, everything into the audit log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use serde_json::json;

use super::timings::Phase;
use super::universe::{UniverseBuild, UniverseOrigin, UniverseSource};
use super::{JobId, ReleaseOutcome};
use crate::audit::AuditLog;
use crate::budget::BudgetLedger;
use crate::engine::{
    ipc, table, EngineError, EngineSession, EntityValues, IdentifierUniverse, Pseudonymizer,
    UniverseCache,
};
use crate::governance::ApprovedScenario;
use crate::guard::{Decision, IdentifierOracle, ReleaseBuilder};
use crate::keys::DomainKeys;
use crate::sandbox::cancel::EPOCH_TICK;
use crate::sandbox::{
    Batch, CallError, CancelToken, ErrorCode, Fault, Host, LimitKind, PartitionRunner,
    ReleaseStatus,
};

/// Everything a job's host calls need. Cloned for each partition run of `release_vector`, with
/// the session replaced by that partition's.
#[derive(Clone)]
pub(super) struct JobContext {
    pub runtime: tokio::runtime::Handle,
    pub session: EngineSession,
    pub scenario: Arc<ApprovedScenario>,
    pub pseudonymizer: Pseudonymizer,
    pub audit: Arc<AuditLog>,
    pub keys: Arc<DomainKeys>,
    pub products_dir: PathBuf,
    pub job_id: JobId,
    pub job_started: chrono::DateTime<chrono::Utc>,
    pub module_sha256: String,
    pub outcomes: Arc<Mutex<Vec<ReleaseOutcome>>>,
    /// Stops a query that is still running when the job is cancelled.
    pub cancel: CancelToken,
    /// The privacy budget ledger (`release_vector` charges it before drawing noise).
    pub ledger: Arc<BudgetLedger>,
    /// Fuel used by partition runs, added to the job's own in its report.
    pub partition_fuel: Arc<AtomicU64>,
    /// Audit entries the job's partition runs may still write (shared by all of them).
    pub partition_audit: Arc<super::vector::PartitionAudit>,
    /// In a partition run: that run's share of `partition_audit`. `None` in the main run, whose
    /// entries its own limits bound (`max_queries`, `max_log_lines`).
    pub run_audit: Option<super::vector::RunAudit>,
    /// The scenario id's domain-assigned identity: its ledger scope (`governance::bindings`).
    pub scenario_key_id: String,
    /// Host time per phase, shared by every run of the job.
    pub timings: Arc<super::timings::Timings>,
    /// Where identifier universes are kept between jobs (`None`: built for every job).
    pub universe_cache: Option<UniverseCache>,
    /// Rows of each query's result copied into its audit entry: 0 in every real job, whose
    /// results never go to the log. Only a mock run over mock twins sets it
    /// ([`super::JobEnvironment::mock`]), and its log is the operator's to read.
    pub preview_rows: usize,
}

struct OpenQuery {
    sql: String,
    stream: SendableRecordBatchStream,
    rows: u64,
    batches: u64,
    /// What is left of the query's `query_timeout_secs`: planning and every `next_batch` call
    /// draw on it, so the limit is the query's total engine time, not one call's.
    remaining: Duration,
    /// The first rows of the result, kept only in a mock run (`JobContext::preview_rows`).
    preview: Vec<RecordBatch>,
}

/// Serves one guest.
pub(super) struct JobHost {
    ctx: JobContext,
    next_handle: i32,
    queries: BTreeMap<i32, OpenQuery>,
    releases: BTreeMap<i32, (String, ReleaseBuilder)>,
    /// Release names begun in this job: each contract entry is released at most once per job,
    /// so a module cannot difference two releases of the same contract.
    released_names: BTreeSet<String>,
    universe: Option<Arc<IdentifierUniverse>>,
    /// The universe's build, started with the job ([`JobHost::start_universe`]) so that it
    /// overlaps the guest's queries and compute instead of waiting for its first release.
    building: Option<UniverseBuild>,
    /// Set in a partition run of `release_vector`: which vector, and where its output goes.
    partition: Option<super::vector::PartitionSlot>,
}

impl JobHost {
    pub(super) fn new(ctx: JobContext) -> Self {
        Self {
            ctx,
            next_handle: 1,
            queries: BTreeMap::new(),
            releases: BTreeMap::new(),
            released_names: BTreeSet::new(),
            universe: None,
            building: None,
            partition: None,
        }
    }

    /// Starts building the identifier universe now, for a job whose scenario can release: the
    /// guard needs it at the first release, and its scans and HMACs would otherwise wait until
    /// then. A job that ends without releasing stops the build when its host drops. A scenario
    /// with a release made per entity builds it without the entity columns, which that
    /// release's grouping hands over (`job::universe`).
    pub(super) fn start_universe(&mut self) {
        if self.universe.is_none() && self.building.is_none() {
            let per_entity = self
                .ctx
                .scenario
                .releases
                .iter()
                .any(|r| r.contract.privacy.is_some());
            self.building =
                Some(self.spawn_universe(per_entity && self.entity_grant_problem().is_none()));
        }
    }

    /// The host of one partition run: `ctx` holds that partition's session.
    pub(super) fn for_partition(ctx: JobContext, slot: super::vector::PartitionSlot) -> Self {
        let mut host = Self::new(ctx);
        host.partition = Some(slot);
        host
    }

    fn handle(&mut self) -> i32 {
        let handle = self.next_handle;
        self.next_handle = self.next_handle.saturating_add(1);
        handle
    }

    /// Appends to the audit log; a job that cannot be audited must stop. In a partition run
    /// past its quota the entry is counted instead (see `vector::PartitionAudit`).
    fn audit(&self, action: &str, details: serde_json::Value) -> Result<(), CallError> {
        if let Some(run) = &self.ctx.run_audit {
            if !run.admit(&self.ctx.partition_audit) {
                return Ok(());
            }
        }
        self.ctx.audit(action, details).map(|_| ())
    }

    /// Records a finished (or abandoned) query with the rows it returned.
    fn audit_query(
        &self,
        handle: i32,
        query: &OpenQuery,
        status: &str,
        error: Option<String>,
    ) -> Result<(), CallError> {
        let mut details = json!({
            "handle": handle,
            "sql": query.sql,
            "rows": query.rows,
            "batches": query.batches,
            "status": status,
            "error": error,
        });
        if !query.preview.is_empty() {
            if let Ok(text) = arrow::util::pretty::pretty_format_batches(&query.preview) {
                details["preview"] = json!(text.to_string());
            }
        }
        self.audit("query", details)
    }

    /// What the job's universe is built from.
    fn universe_source(&self) -> UniverseSource {
        UniverseSource {
            datasets: self.ctx.scenario.datasets.clone(),
            pseudonymizer: self.ctx.pseudonymizer.clone(),
            cache: self.ctx.universe_cache.clone(),
        }
    }

    /// Starts building the identifier universe on the job's runtime (or loading it from the
    /// domain's cache); `without_entities` for a per-entity release's grouping to complete.
    /// Dropping the result stops it.
    fn spawn_universe(&self, without_entities: bool) -> UniverseBuild {
        UniverseBuild::start(&self.ctx.runtime, self.universe_source(), without_entities)
    }

    /// Waits for a universe [`JobHost::spawn_universe`] started and keeps it for the job. A
    /// cached universe whose file did not hold is an event for the reviewers' log.
    fn finish_universe(
        &mut self,
        building: UniverseBuild,
    ) -> Result<Arc<IdentifierUniverse>, CallError> {
        let (built, origin) = building
            .finish(&self.ctx.runtime, self.universe_source())
            .map_err(|e| Fault::Internal(format!("cannot build the identifier universe: {e}")))?;
        match origin {
            UniverseOrigin::Cache => self.ctx.timings.set_universe_cached(),
            UniverseOrigin::Built { rejected } => {
                if let Some(reason) = rejected {
                    self.audit("universe.rejected", json!({ "reason": reason }))?;
                }
            }
        }
        let built = Arc::new(built);
        self.universe = Some(built.clone());
        Ok(built)
    }

    fn universe(&mut self) -> Result<Arc<IdentifierUniverse>, CallError> {
        if let Some(universe) = &self.universe {
            return Ok(universe.clone());
        }
        let building = match self.building.take() {
            Some(building) => building,
            None => self.spawn_universe(false),
        };
        self.finish_universe(building)
    }

    fn publish(&mut self, name: &str, decision: Decision) -> Result<ReleaseStatus, CallError> {
        let outcome = match decision {
            Decision::Released(released) => {
                let shown = serde_json::to_value(super::view::shown_report(&released.report))
                    .unwrap_or_default();
                let details = json!({ "kind": "table", "report": released.report,
                                      "policy": released.policy, "steps": released.steps });
                self.ctx.released(
                    name,
                    released.table,
                    released.policy,
                    shown,
                    released.report,
                    details,
                )?
            }
            Decision::Blocked(block) => self.ctx.blocked(name, "table", block)?,
        };
        let status = match outcome {
            ReleaseOutcome::Released { .. } => ReleaseStatus::Released,
            ReleaseOutcome::Blocked { .. } => ReleaseStatus::Blocked,
        };
        self.push(outcome);
        Ok(status)
    }

    /// Why the granted tables cannot be split by entity, if they cannot: every grant must carry
    /// its dataset's entity column, or a run would see rows it cannot be given by owner.
    fn entity_grant_problem(&self) -> Option<String> {
        let scenario = &self.ctx.scenario;
        scenario
            .file
            .ungranted_entity_column(&scenario.datasets)
            .map(|(dataset, entity)| {
                format!(
                    "a per-entity release needs every granted table to carry its entity column; {dataset} does not grant {entity}"
                )
            })
    }

    /// `next_batch` and `next_table`: the query's next non-empty batch, staged as `staging` says.
    fn next_staged(&mut self, handle: i32, staging: Staging) -> Result<Option<Batch>, CallError> {
        let Some(query) = self.queries.get_mut(&handle) else {
            return Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            ));
        };
        let cancel = self.ctx.cancel.clone();
        loop {
            // A query can run for up to its remaining time inside one host call, where no epoch
            // check reaches: watch the cancel token here too. Dropping the stream cancels the
            // query. An exhausted budget ends the query without polling it again: a stream
            // that is ready at once would otherwise still hand out a batch.
            let started = Instant::now();
            let next = if query.remaining.is_zero() {
                Err(())
            } else {
                self.ctx
                    .runtime
                    .block_on(async {
                        tokio::time::timeout(query.remaining, async {
                            tokio::select! {
                                item = query.stream.next() => Some(item),
                                () = cancelled(&cancel) => None,
                            }
                        })
                        .await
                    })
                    .map_err(|_elapsed| ())
            };
            query.remaining = query.remaining.saturating_sub(started.elapsed());
            self.ctx.timings.add(Phase::Execution, started.elapsed());
            match next {
                Ok(None) => {
                    if let Some(query) = self.queries.remove(&handle) {
                        self.audit_query(handle, &query, "cancelled", None)?;
                    }
                    return Err(Fault::Cancelled.into());
                }
                Err(()) => {
                    if let Some(query) = self.queries.remove(&handle) {
                        self.audit_query(handle, &query, "timeout", None)?;
                    }
                    return Err(Fault::Limit(LimitKind::QueryTime).into());
                }
                Ok(Some(None)) => {
                    if let Some(query) = self.queries.remove(&handle) {
                        self.audit_query(handle, &query, "completed", None)?;
                    }
                    return Ok(None);
                }
                Ok(Some(Some(Err(e)))) => {
                    if let Some(query) = self.queries.remove(&handle) {
                        self.audit_query(handle, &query, "failed", Some(e.to_string()))?;
                    }
                    // Execution errors can quote data: the guest gets a generic message.
                    return Err(CallError::code(
                        ErrorCode::QueryFailed,
                        "the query failed while running",
                    ));
                }
                Ok(Some(Some(Ok(batch)))) => {
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let staged = self
                        .ctx
                        .timings
                        .time(Phase::IpcEncode, || staging.encode(&batch));
                    let ipc = match staged {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            if let Some(query) = self.queries.remove(&handle) {
                                let reason = match &e {
                                    CallError::Code(_, message) => message.clone(),
                                    CallError::Fault(fault) => fault.to_string(),
                                };
                                self.audit_query(handle, &query, "failed", Some(reason))?;
                            }
                            return Err(e);
                        }
                    };
                    let kept: usize = query.preview.iter().map(|b| b.num_rows()).sum();
                    if kept < self.ctx.preview_rows {
                        let take = (self.ctx.preview_rows - kept).min(batch.num_rows());
                        query.preview.push(batch.slice(0, take));
                    }
                    query.rows += batch.num_rows() as u64;
                    query.batches += 1;
                    return Ok(Some(Batch {
                        ipc,
                        rows: batch.num_rows() as u64,
                    }));
                }
            }
        }
    }

    /// `release_append` and `release_append_rows`: one chunk to the open release `handle`.
    fn append_to(
        &mut self,
        handle: i32,
        append: impl FnOnce(&mut ReleaseBuilder) -> Result<(), crate::guard::AppendError>,
    ) -> Result<(), CallError> {
        let Some((_, builder)) = self.releases.get_mut(&handle) else {
            return Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open release has handle {handle}"),
            ));
        };
        self.ctx
            .timings
            .time(Phase::Guard, || append(builder))
            .map_err(|e| CallError::code(ErrorCode::InvalidContributions, e.to_string()))
    }

    fn push(&self, outcome: ReleaseOutcome) {
        if let Ok(mut outcomes) = self.ctx.outcomes.lock() {
            outcomes.push(outcome);
        }
    }
}

impl Host for JobHost {
    fn query(&mut self, sql: &str) -> Result<i32, CallError> {
        let budget = Duration::from_secs(self.ctx.scenario.file.limits.query_timeout_secs);
        let started = Instant::now();
        let cancel = self.ctx.cancel.clone();
        // Planning draws on the query's time too. Its size limits keep it short; the deadline
        // is for what they miss. Dropping the future on timeout drops whatever planning holds.
        let planned = self.ctx.runtime.block_on(async {
            tokio::time::timeout(budget, async {
                tokio::select! {
                    planned = self.ctx.session.execute(sql) => Some(planned),
                    () = cancelled(&cancel) => None,
                }
            })
            .await
        });
        self.ctx.timings.add(Phase::Planning, started.elapsed());
        let stream = match planned {
            Ok(Some(Ok(stream))) => stream,
            Ok(Some(Err(e))) => {
                self.audit(
                    "query.refused",
                    json!({ "sql": sql, "reason": e.to_string() }),
                )?;
                return Err(match e {
                    EngineError::Rejected(message) => {
                        CallError::code(ErrorCode::QueryRejected, message)
                    }
                    _ => CallError::code(ErrorCode::QueryFailed, "the query failed while starting"),
                });
            }
            Ok(None) => return Err(Fault::Cancelled.into()),
            Err(_elapsed) => {
                self.audit(
                    "query.refused",
                    json!({ "sql": sql, "reason": "timeout while planning" }),
                )?;
                return Err(Fault::Limit(LimitKind::QueryTime).into());
            }
        };
        let handle = self.handle();
        self.queries.insert(
            handle,
            OpenQuery {
                sql: sql.to_string(),
                stream,
                rows: 0,
                batches: 0,
                remaining: budget.saturating_sub(started.elapsed()),
                preview: Vec::new(),
            },
        );
        Ok(handle)
    }

    fn next_batch(&mut self, handle: i32) -> Result<Option<Batch>, CallError> {
        self.next_staged(handle, Staging::Ipc)
    }

    fn next_table(&mut self, handle: i32) -> Result<Option<Batch>, CallError> {
        self.next_staged(handle, Staging::Table)
    }

    fn close(&mut self, handle: i32) -> Result<(), CallError> {
        match self.queries.remove(&handle) {
            Some(query) => self.audit_query(handle, &query, "closed", None),
            None => Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            )),
        }
    }

    fn release_begin(&mut self, name: &str) -> Result<i32, CallError> {
        if self.partition.is_some() {
            return Err(CallError::code(
                ErrorCode::NotAvailable,
                "release_begin is not available in a partition run",
            ));
        }
        let Some(release) = self.ctx.scenario.release(name).cloned() else {
            return Err(CallError::code(
                ErrorCode::UnknownRelease,
                format!("the scenario's contract has no release named '{name}'"),
            ));
        };
        // A main run reads every entity's rows, so contributions it makes could carry anyone's
        // data past noise calibrated for one entity: releases with privacy are made per entity.
        if release.contract.privacy.is_some() {
            return Err(CallError::code(
                ErrorCode::NotAvailable,
                format!(
                    "release '{name}' has privacy: its contributions come from entity runs; call release_entities(\"{name}\")"
                ),
            ));
        }
        if !self.released_names.insert(name.to_string()) {
            return Err(CallError::code(
                ErrorCode::UnknownRelease,
                format!("release '{name}' was already made in this job"),
            ));
        }
        let timings = self.ctx.timings.clone();
        let oracle: Arc<dyn IdentifierOracle> =
            timings.time(Phase::Universe, || self.universe())?;
        let builder = ReleaseBuilder::new(release.contract.clone(), release.effective_k, oracle)
            .with_second_thread(super::second_core());
        let handle = self.handle();
        self.releases.insert(handle, (name.to_string(), builder));
        Ok(handle)
    }

    fn release_append(&mut self, handle: i32, chunk: &[u8]) -> Result<(), CallError> {
        self.append_to(handle, |builder| builder.append_ipc(chunk))
    }

    fn release_append_rows(&mut self, handle: i32, chunk: &[u8]) -> Result<(), CallError> {
        self.append_to(handle, |builder| builder.append_rows(chunk))
    }

    fn release_finish(&mut self, handle: i32) -> Result<ReleaseStatus, CallError> {
        let Some((name, builder)) = self.releases.remove(&handle) else {
            return Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open release has handle {handle}"),
            ));
        };
        let deciding = Instant::now();
        let decision = if builder.is_private() {
            // The gate charges the scenario and every granted dataset before the guard draws
            // noise from the system CSPRNG, and refunds if the release is blocked afterwards.
            let mut gate = super::privacy::LedgerGate::new(&self.ctx);
            let mut rng = crate::guard::noise::SecureRng::new();
            builder.finish_private(&mut gate, &mut rng)
        } else {
            builder.finish()
        };
        self.ctx.timings.add(Phase::Guard, deciding.elapsed());
        self.publish(&name, decision)
    }

    fn release_vector(
        &mut self,
        name: &str,
        runner: &PartitionRunner,
    ) -> Result<ReleaseStatus, CallError> {
        let Some(contract) = self.ctx.scenario.vector(name).cloned() else {
            return Err(CallError::code(
                ErrorCode::UnknownRelease,
                format!("the scenario's contract has no vector named '{name}'"),
            ));
        };
        if !self.released_names.insert(name.to_string()) {
            return Err(CallError::code(
                ErrorCode::UnknownRelease,
                format!("release '{name}' was already made in this job"),
            ));
        }
        let outcome = super::vector::release(&self.ctx, &contract, runner)?;
        let status = match outcome {
            ReleaseOutcome::Released { .. } => ReleaseStatus::Released,
            ReleaseOutcome::Blocked { .. } => ReleaseStatus::Blocked,
        };
        self.push(outcome);
        Ok(status)
    }

    fn release_entities(
        &mut self,
        name: &str,
        runner: &PartitionRunner,
    ) -> Result<ReleaseStatus, CallError> {
        let Some(release) = self.ctx.scenario.release(name).cloned() else {
            return Err(CallError::code(
                ErrorCode::UnknownRelease,
                format!("the scenario's contract has no release named '{name}'"),
            ));
        };
        if !self.released_names.insert(name.to_string()) {
            return Err(CallError::code(
                ErrorCode::UnknownRelease,
                format!("release '{name}' was already made in this job"),
            ));
        }
        if let Some(problem) = self.entity_grant_problem() {
            return self.publish(name, schema_block(name, &problem));
        }
        let entity_runner = match runner.entity_runner() {
            Ok(entity_runner) => entity_runner,
            // Depends on the module alone: the release is blocked, the job goes on.
            Err(Fault::InvalidModule(problem)) => {
                return self.publish(name, schema_block(name, &problem))
            }
            Err(fault) => return Err(fault.into()),
        };
        // The universe is the guard's, needed only after the runs: built beside the grouping and
        // the runs (on a runtime worker, so its own hashing loop gets a core), not before them,
        // and completed with the entity values the grouping reads.
        let entities = Instant::now();
        let building = match self.building.take() {
            Some(building) => Some(building),
            None => self.universe.is_none().then(|| self.spawn_universe(true)),
        };
        let ctx = self.ctx.clone();
        let mut universe = EntityUniverse {
            host: self,
            building,
        };
        let decision = super::entities::release(&ctx, &release, &entity_runner, &mut universe);
        ctx.timings.add(Phase::Entities, entities.elapsed());
        self.publish(name, decision?)
    }

    fn vector_name(&mut self) -> Result<String, CallError> {
        match &self.partition {
            Some(slot) => Ok(slot.name().to_string()),
            None => Err(CallError::code(
                ErrorCode::NotAvailable,
                "vector_name is available only in a partition run",
            )),
        }
    }

    fn vector_emit(&mut self, values: Vec<f64>) -> Result<(), CallError> {
        match &mut self.partition {
            Some(slot) => slot.emit(values),
            None => Err(CallError::code(
                ErrorCode::NotAvailable,
                "vector_emit is available only in a partition run",
            )),
        }
    }

    fn log(&mut self, line: &str) {
        // A failed log write is reported by the next audited call; a log line alone is not
        // worth ending the job for.
        let _ = self.audit("guest.log", json!({ "line": line }));
    }

    fn end(&mut self) {
        for (handle, query) in std::mem::take(&mut self.queries) {
            let _ = self.audit_query(handle, &query, "abandoned", None);
        }
        for (_, (name, _)) in std::mem::take(&mut self.releases) {
            let _ = self.audit("release.abandoned", json!({ "release": name }));
        }
    }
}

/// The universe of a per-entity release: completed with the entity values its grouping read,
/// waited for once the runs are done.
struct EntityUniverse<'a> {
    host: &'a mut JobHost,
    /// `None` when the job already holds its universe.
    building: Option<UniverseBuild>,
}

impl super::entities::OracleSource for EntityUniverse<'_> {
    fn grouped(&mut self, values: EntityValues) {
        if let Some(building) = self.building.take() {
            let host = &self.host;
            self.building = Some(building.with_entities(
                &host.ctx.runtime,
                host.universe_source(),
                values,
                crate::sandbox::entity_workers(),
            ));
        }
    }

    fn oracle(&mut self) -> Result<Arc<dyn IdentifierOracle>, CallError> {
        let universe = match self.building.take() {
            Some(building) => self.host.finish_universe(building)?,
            None => self.host.universe()?,
        };
        Ok(universe)
    }
}

/// A block of release `name` by `contract.schema`, for a problem of the scenario or the module
/// (never of the data).
fn schema_block(name: &str, problem: &str) -> Decision {
    Decision::Blocked(crate::guard::Block {
        step: "contract",
        rule: crate::guard::Rule::ContractSchema,
        message: format!("release '{name}': {problem}"),
        report: crate::guard::ReleaseReport::withheld_empty(),
    })
}

/// Resolves once `cancel` is set, looking every epoch tick (the sandbox's own granularity).
pub(super) async fn cancelled(cancel: &CancelToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(EPOCH_TICK).await;
    }
}

/// How a query's batches are staged for the guest: `next_batch` or `next_table`.
#[derive(Debug, Clone, Copy)]
enum Staging {
    /// An Arrow IPC stream of one batch.
    Ipc,
    /// The table encoding (`shuyu_abi::table`), which a module reads in place.
    Table,
}

impl Staging {
    /// The batch in the ABI's types, encoded. A batch the table encoding cannot carry is the
    /// module's `NOT_AVAILABLE`, naming the columns in question (names the module's own SQL
    /// gave them, never a value).
    fn encode(self, batch: &RecordBatch) -> Result<Vec<u8>, CallError> {
        let internal = |e: &dyn std::fmt::Display| -> CallError {
            Fault::Internal(format!("cannot encode a batch: {e}")).into()
        };
        let batch = ipc::normalize(batch).map_err(|e| internal(&e))?;
        match self {
            Staging::Ipc => ipc::encode_stream(&batch).map_err(|e| internal(&e)),
            Staging::Table => table::encode(&batch).ok_or_else(|| {
                let schema = batch.schema();
                let message = if schema.fields().iter().all(|f| table::carries(f.data_type())) {
                    "next_table: the batch is too large for the table encoding; read this query with next_batch".to_string()
                } else {
                    let columns: Vec<String> = schema
                        .fields()
                        .iter()
                        .filter(|f| !table::carries(f.data_type()))
                        .map(|f| format!("`{}` ({})", f.name(), f.data_type()))
                        .collect();
                    format!(
                        "next_table: the table encoding carries Utf8, Int64, Float64, Date32 and Boolean columns, not {}; read this query with next_batch",
                        columns.join(", ")
                    )
                };
                CallError::code(ErrorCode::NotAvailable, message)
            }),
        }
    }
}
