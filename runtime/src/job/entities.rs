//! `release_entities` in a job: a `[[release]]` made per entity (docs/abi.md, "Entity
//! contributions"; docs/privacy.md, "Releases with privacy").
//!
//! ```text
//! release_entities(name) ─▶ read every granted view once, group its rows by entity pseudonym
//!   ─▶ for each entity (in parallel, each in a fresh instance, see `sandbox::entity`):
//!        shuyu_contribute ─▶ entity_rows(table): that entity's rows only
//!                         ─▶ contribute(ipc): checked, at most L rows, inside declared domains
//!        faulted / non-zero ─▶ contributes nothing (counted; audit entity.fault, under quota)
//!   ─▶ guard: rows with their entity's pseudonym ─▶ ReleaseBuilder ─▶ budget, noise | threshold
//!   ─▶ product (audit: release.entities, then release / release.blocked)
//! ```
//!
//! **Why this holds for any module:** a run sees only its entity's rows, starts from the
//! module's initial state, and pays a fixed fuel price per host call; so its contributions are a
//! function of its entity's rows alone. Adding or removing one entity adds or removes one run's
//! rows, at most `L`, each clamped: the sensitivity the guard's noise is calibrated to. Nothing a
//! run does can block the release (refused chunks and faults only drop its own rows), and every
//! data-dependent count stays in the audit log.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::host::{cancelled, JobContext};
use super::vector::RunAudit;
use crate::engine::EntityValues;
use crate::governance::ResolvedRelease;
use crate::grouping::{group, EntityTables, Staging, MAX_GROUPED_BYTES};
use crate::guard::{
    Decision, EntityBatches, EntityChunkCheck, EntityDrops, EntityRow, IdentifierOracle,
    ReleaseBuilder,
};
use crate::sandbox::{
    Batch, CallError, EntityRunner, ErrorCode, Fault, Host, LimitKind, ReleaseStatus, RunOutcome,
};

/// What one entity run leaves behind for its worker: its checked rows and what was dropped.
#[derive(Default)]
struct EntityYield {
    rows: Vec<EntityRow>,
    drops: EntityDrops,
    chunks_refused: u64,
}

/// What all entity runs of one release share.
struct EntityRelease {
    ctx: JobContext,
    name: String,
    tables: EntityTables,
    check: EntityChunkCheck,
}

/// Serves one entity run: that entity's rows, its contributions, its log lines.
struct EntityHost {
    release: Arc<EntityRelease>,
    entity: usize,
    out: Arc<Mutex<EntityYield>>,
    audit: RunAudit,
    next_handle: i32,
    /// Open `entity_rows` and `entity_table` queries: the table whose rows are not yet handed
    /// out, if any, and how they are staged.
    open: BTreeMap<i32, (Option<usize>, Staging)>,
}

impl EntityHost {
    /// Adds a chunk of this entity's contributions, or counts it refused.
    fn take(&mut self, call: &str, chunk: &[u8], append: Append) -> Result<(), CallError> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| Fault::Internal("an entity's contributions are poisoned".into()))?;
        let EntityYield {
            rows,
            drops,
            chunks_refused,
        } = &mut *out;
        append(&self.release.check, chunk, rows, drops).map_err(|message| {
            *chunks_refused += 1;
            CallError::code(
                ErrorCode::InvalidContributions,
                format!("{call}: {message}"),
            )
        })
    }

    /// Opens a query over this entity's rows of `table`, staged as `staging` says.
    fn open_table(&mut self, call: &str, table: &str, staging: Staging) -> Result<i32, CallError> {
        let t = self.release.tables.find(call, table, staging, "")?;
        let handle = self.next_handle;
        self.next_handle = self.next_handle.saturating_add(1);
        self.open.insert(handle, (Some(t), staging));
        Ok(handle)
    }

    fn not_here(what: &str) -> CallError {
        CallError::code(
            ErrorCode::NotAvailable,
            format!("{what} is not available in an entity run"),
        )
    }
}

impl Host for EntityHost {
    fn query(&mut self, _sql: &str) -> Result<i32, CallError> {
        Err(CallError::code(
            ErrorCode::NotAvailable,
            "query is not available in an entity run: read this entity's rows with entity_rows",
        ))
    }

    fn next_batch(&mut self, handle: i32) -> Result<Option<Batch>, CallError> {
        let Some(slot) = self.open.get_mut(&handle) else {
            return Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            ));
        };
        let tables = &self.release.tables;
        let staging = slot.1;
        let pending = slot
            .0
            .take()
            .map(|t| (t, tables.rows_in(t, self.entity)))
            .filter(|&(_, rows)| rows > 0);
        let Some((table, rows)) = pending else {
            self.open.remove(&handle);
            return Ok(None);
        };
        // The table was normalized to the ABI's types when it was grouped.
        let ipc = tables
            .stage(table, self.entity, staging)
            .map_err(Fault::Internal)?;
        Ok(Some(Batch {
            ipc,
            rows: rows as u64,
        }))
    }

    fn close(&mut self, handle: i32) -> Result<(), CallError> {
        match self.open.remove(&handle) {
            Some(_) => Ok(()),
            None => Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            )),
        }
    }

    fn release_begin(&mut self, _name: &str) -> Result<i32, CallError> {
        Err(Self::not_here("release_begin"))
    }

    fn release_append(&mut self, _handle: i32, _ipc: &[u8]) -> Result<(), CallError> {
        Err(Self::not_here("release_append"))
    }

    fn release_finish(&mut self, _handle: i32) -> Result<ReleaseStatus, CallError> {
        Err(Self::not_here("release_finish"))
    }

    fn log(&mut self, line: &str) {
        let ctx = &self.release.ctx;
        if self.audit.admit(&ctx.partition_audit) {
            // A failed log write is reported by the release's own audit entries.
            let _ = ctx.audit(
                "guest.log",
                json!({ "line": line, "release": self.release.name, "entity": &*self.release.tables.keys[self.entity] }),
            );
        }
    }

    fn entity_release(&mut self) -> Result<String, CallError> {
        Ok(self.release.name.clone())
    }

    fn entity_rows(&mut self, table: &str) -> Result<i32, CallError> {
        self.open_table("entity_rows", table, Staging::Ipc)
    }

    fn entity_table(&mut self, table: &str) -> Result<i32, CallError> {
        self.open_table("entity_table", table, Staging::Table)
    }

    fn contribute(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        self.take("contribute", chunk, EntityChunkCheck::append)
    }

    fn contribute_rows(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        self.take("contribute_rows", chunk, EntityChunkCheck::append_rows)
    }
}

/// How a chunk's rows are checked and added: [`EntityChunkCheck::append`] (Arrow IPC) or
/// [`EntityChunkCheck::append_rows`] (contribution rows).
type Append =
    fn(&EntityChunkCheck, &[u8], &mut Vec<EntityRow>, &mut EntityDrops) -> Result<(), String>;

/// Counts over all entity runs of a release, for the audit log.
#[derive(Default)]
struct Tally {
    completed: u64,
    contributed_rows: u64,
    guest_errors: u64,
    faults: BTreeMap<String, u64>,
    drops: EntityDrops,
    chunks_refused: u64,
    fuel_used: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.completed += other.completed;
        self.contributed_rows += other.contributed_rows;
        self.guest_errors += other.guest_errors;
        for (code, n) in other.faults {
            *self.faults.entry(code).or_default() += n;
        }
        self.drops.beyond_bound += other.drops.beyond_bound;
        self.drops.outside_domain += other.drops.outside_domain;
        self.chunks_refused += other.chunks_refused;
        self.fuel_used += other.fuel_used;
    }
}

/// One worker thread's share of a release.
struct Worker {
    out: Arc<Mutex<EntityYield>>,
    batches: EntityBatches,
    tally: Tally,
    failure: Option<String>,
}

/// Where a per-entity release's guard gets its identifier oracle, so that the caller can
/// build the identifier universe while rows are grouped and run.
pub(super) trait OracleSource {
    /// Takes the entity values the grouping read (every raw value of every entity column with
    /// its pseudonym), before the runs start.
    fn grouped(&mut self, values: EntityValues);

    /// The oracle, asked for once the runs are done.
    fn oracle(&mut self) -> Result<Arc<dyn IdentifierOracle>, CallError>;
}

/// Runs `release` per entity and returns the guard's decision. `Err` ends the main run: a
/// cancelled job, a limit of the release (`entities`, `release_time`, `memory`), or a host
/// failure.
pub(super) fn release(
    ctx: &JobContext,
    release: &ResolvedRelease,
    runner: &EntityRunner,
    oracle: &mut dyn OracleSource,
) -> Result<Decision, CallError> {
    let name = release.contract.name.clone();
    let limits = &ctx.scenario.file.limits;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(limits.entity_release_secs);
    let cancel = ctx.cancel.clone();
    let grouped = ctx.runtime.block_on(async {
        let budget = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(budget, async {
            tokio::select! {
                grouped = group(&ctx.scenario, &ctx.session, MAX_GROUPED_BYTES) => Some(grouped),
                () = cancelled(&cancel) => None,
            }
        })
        .await
    });
    let mut tables = match grouped {
        Err(_elapsed) => return Err(Fault::Limit(LimitKind::ReleaseTime).into()),
        Ok(None) => return Err(Fault::Cancelled.into()),
        Ok(Some(Err(Err(fault)))) => return Err(fault.into()),
        Ok(Some(Err(Ok(message)))) => {
            return Err(Fault::Internal(format!("cannot group rows by entity: {message}")).into())
        }
        Ok(Some(Ok(tables))) => tables,
    };
    if let Some(values) = tables.values.take() {
        oracle.grouped(values);
    }
    let entities = tables.len();
    if entities as u64 > limits.max_entities {
        ctx.audit(
            "release.entities",
            json!({ "release": name, "entities": entities, "outcome": "limit:entities",
                    "max_entities": limits.max_entities }),
        )?;
        return Err(Fault::Limit(LimitKind::Entities).into());
    }
    let runnable: Vec<usize> = (0..entities)
        .filter(|&e| tables.rows_of(e) <= runner.limits().max_rows_read)
        .collect();
    let over_row_limit = entities - runnable.len();
    let grouping = started.elapsed();

    let shared = Arc::new(EntityRelease {
        ctx: ctx.clone(),
        name: name.clone(),
        tables,
        check: EntityChunkCheck::new(release.contract.clone()),
    });
    let ran = runner.run_each(
        runnable.len(),
        crate::sandbox::entity_workers(),
        deadline,
        || Worker {
            out: Arc::new(Mutex::new(EntityYield::default())),
            batches: EntityBatches::new(&release.contract),
            tally: Tally::default(),
            failure: None,
        },
        |worker, i| {
            if let Ok(mut out) = worker.out.lock() {
                *out = EntityYield::default();
            }
            Box::new(EntityHost {
                release: shared.clone(),
                entity: runnable[i],
                out: worker.out.clone(),
                audit: RunAudit::default(),
                next_handle: 1,
                open: BTreeMap::new(),
            })
        },
        |worker, i, outcome| settle(&shared, worker, runnable[i], outcome),
    );
    super::vector::audit_suppressed(ctx, &name)?;
    let workers_done = ran.map_err(CallError::from)?;
    let runs = started.elapsed();

    let mut builder = ReleaseBuilder::new(
        release.contract.clone(),
        release.effective_k,
        oracle.oracle()?,
    )
    .with_second_thread(super::second_core());
    let mut tally = Tally::default();
    for worker in workers_done {
        if let Some(failure) = worker.failure {
            return Err(Fault::Internal(failure).into());
        }
        tally.add(worker.tally);
        for batch in worker.batches.finish().map_err(Fault::Internal)? {
            builder
                .append_batch(&batch)
                .map_err(|e| Fault::Internal(format!("checked contributions refused: {e}")))?;
        }
    }
    ctx.partition_fuel
        .fetch_add(tally.fuel_used, Ordering::Relaxed);
    ctx.audit(
        "release.entities",
        json!({
            "release": name,
            "entities": entities,
            "over_row_limit": over_row_limit,
            "completed": tally.completed,
            "guest_errors": tally.guest_errors,
            "faults": tally.faults,
            "rows_contributed": tally.contributed_rows,
            "rows_beyond_bound": tally.drops.beyond_bound,
            "rows_outside_domain": tally.drops.outside_domain,
            "chunks_refused": tally.chunks_refused,
            "fuel_used": tally.fuel_used,
            "grouping_ms": u64::try_from(grouping.as_millis()).unwrap_or(u64::MAX),
            "runs_done_ms": u64::try_from(runs.as_millis()).unwrap_or(u64::MAX),
            "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
    )?;
    drop(shared);
    Ok(if builder.is_private() {
        // The same gate and source as `release_finish`: charged before any noise is drawn.
        let mut gate = super::privacy::LedgerGate::new(ctx);
        let mut rng = crate::guard::noise::SecureRng::new();
        builder.finish_private(&mut gate, &mut rng)
    } else {
        builder.finish()
    })
}

/// Takes an ended run's contributions into its worker's batches, or drops them when the run
/// did not complete.
fn settle(shared: &EntityRelease, worker: &mut Worker, entity: usize, outcome: RunOutcome) {
    worker.tally.fuel_used = worker.tally.fuel_used.saturating_add(outcome.fuel_used);
    let taken = worker
        .out
        .lock()
        .map(|mut out| std::mem::take(&mut *out))
        .unwrap_or_default();
    worker.tally.chunks_refused += taken.chunks_refused;
    let key = &shared.tables.keys[entity];
    let failed = match &outcome.result {
        Ok(0) => None,
        Ok(code) => {
            worker.tally.guest_errors += 1;
            Some(format!("guest_error:{code}"))
        }
        Err(fault) => {
            *worker.tally.faults.entry(fault.code()).or_default() += 1;
            Some(fault.to_string())
        }
    };
    if let Some(status) = failed {
        let ctx = &shared.ctx;
        if RunAudit::default().admit(&ctx.partition_audit) {
            let _ = ctx.audit(
                "entity.fault",
                json!({ "release": shared.name, "entity": &**key, "status": status,
                        "fuel_used": outcome.fuel_used }),
            );
        }
        return;
    }
    worker.tally.completed += 1;
    worker.tally.contributed_rows += taken.rows.len() as u64;
    worker.tally.drops.beyond_bound += taken.drops.beyond_bound;
    worker.tally.drops.outside_domain += taken.drops.outside_domain;
    if let Err(e) = worker.batches.push(key, &taken.rows) {
        worker.failure.get_or_insert(e);
    }
}
