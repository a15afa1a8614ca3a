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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch, StringArray};
use futures::StreamExt;
use serde_json::json;

use super::host::{cancelled, JobContext};
use super::vector::RunAudit;
use crate::engine::ipc;
use crate::governance::ResolvedRelease;
use crate::guard::{
    Decision, EntityBatches, EntityChunkCheck, EntityDrops, EntityRow, IdentifierOracle,
    ReleaseBuilder,
};
use crate::sandbox::{
    Batch, CallError, EntityRunner, ErrorCode, Fault, Host, LimitKind, ReleaseStatus, RunOutcome,
};

/// Bytes of granted rows a per-entity release may hold in host memory while it runs (the
/// grouped copy of every granted view). Past it the job ends with `limit:memory`.
pub(crate) const MAX_GROUPED_BYTES: usize = 1 << 30;

/// One granted view, its rows ordered by entity.
struct EntityTable {
    name: String,
    rows: RecordBatch,
    /// Encodes slices of `rows` with the schema message made once.
    encoder: ipc::StreamEncoder,
    /// Entity `e`'s rows are `offsets[e]..offsets[e + 1]`.
    offsets: Vec<u32>,
}

/// Every granted view's rows, grouped by entity.
pub(super) struct EntityTables {
    tables: Vec<EntityTable>,
    /// Each entity's pseudonym, by entity index.
    keys: Vec<Arc<str>>,
}

impl EntityTables {
    /// Number of entities.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Rows entity `e` has over all tables.
    fn rows_of(&self, entity: usize) -> u64 {
        self.tables
            .iter()
            .map(|t| u64::from(t.offsets[entity + 1] - t.offsets[entity]))
            .sum()
    }

    /// Entity `e`'s rows of table `t` (zero-copy).
    fn slice(&self, table: usize, entity: usize) -> RecordBatch {
        let t = &self.tables[table];
        let start = t.offsets[entity] as usize;
        let end = t.offsets[entity + 1] as usize;
        t.rows.slice(start, end - start)
    }
}

/// Reads every granted view once and groups its rows by the pseudonym in its entity column.
///
/// # Errors
/// A message for the audit log (engine failures can quote data), or the fault to end the job
/// with (`limit:memory` past [`MAX_GROUPED_BYTES`]).
pub(super) async fn group(ctx: &JobContext) -> Result<EntityTables, Result<String, Fault>> {
    let mut index: HashMap<Arc<str>, u32> = HashMap::new();
    let mut keys: Vec<Arc<str>> = Vec::new();
    let mut raw: Vec<(String, Vec<RecordBatch>, Vec<u32>)> = Vec::new();
    let mut bytes = 0usize;
    for dataset in &ctx.scenario.datasets {
        let entity_column = dataset.manifest.dataset.entity_column.as_str();
        let mut stream = ctx
            .session
            .scan_view(dataset.name())
            .await
            .map_err(|e| Ok(e.to_string()))?;
        let mut batches = Vec::new();
        let mut owners = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Ok(format!("{}: {e}", dataset.name())))?;
            bytes = bytes.saturating_add(batch.get_array_memory_size());
            if bytes > MAX_GROUPED_BYTES {
                return Err(Err(Fault::Limit(LimitKind::Memory)));
            }
            let Some(entities) = batch
                .column_by_name(entity_column)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            else {
                return Err(Ok(format!(
                    "{}: the entity column {entity_column} is not a granted Utf8 column",
                    dataset.name()
                )));
            };
            for row in 0..entities.len() {
                // A row without an entity belongs to no entity, hence to no run.
                if entities.is_null(row) {
                    owners.push(u32::MAX);
                    continue;
                }
                let key = entities.value(row);
                let owner = match index.get(key) {
                    Some(&owner) => owner,
                    None => {
                        let owner = u32::try_from(keys.len())
                            .ok()
                            .filter(|&o| o < u32::MAX)
                            .ok_or(Err(Fault::Limit(LimitKind::Entities)))?;
                        let key: Arc<str> = Arc::from(key);
                        index.insert(key.clone(), owner);
                        keys.push(key);
                        owner
                    }
                };
                owners.push(owner);
            }
            batches.push(batch);
        }
        raw.push((dataset.name().to_string(), batches, owners));
    }
    drop(index);
    let entities = keys.len();
    let mut tables = Vec::with_capacity(raw.len());
    for (name, batches, owners) in raw {
        tables.push(sort_by_owner(name, &batches, &owners, entities).map_err(Ok)?);
    }
    Ok(EntityTables { tables, keys })
}

/// Orders a table's rows by owning entity (a counting sort, stable within an entity) and
/// records where each entity's rows start.
fn sort_by_owner(
    name: String,
    batches: &[RecordBatch],
    owners: &[u32],
    entities: usize,
) -> Result<EntityTable, String> {
    let mut offsets = vec![0u32; entities + 1];
    for &owner in owners.iter().filter(|&&o| o != u32::MAX) {
        offsets[owner as usize + 1] += 1;
    }
    for e in 0..entities {
        offsets[e + 1] += offsets[e];
    }
    let mut next: Vec<u32> = offsets[..entities].to_vec();
    let mut order = vec![(0usize, 0usize); offsets[entities] as usize];
    let mut owner_of = owners.iter();
    for (b, batch) in batches.iter().enumerate() {
        for row in 0..batch.num_rows() {
            let Some(&owner) = owner_of.next() else {
                return Err(format!("{name}: rows and owners disagree"));
            };
            if owner == u32::MAX {
                continue;
            }
            let slot = &mut next[owner as usize];
            order[*slot as usize] = (b, row);
            *slot += 1;
        }
    }
    let schema = match batches.first() {
        Some(batch) => batch.schema(),
        None => {
            let empty = Arc::new(arrow::datatypes::Schema::empty());
            return Ok(EntityTable {
                name,
                encoder: ipc::StreamEncoder::new(&empty).map_err(|e| e.to_string())?,
                rows: RecordBatch::new_empty(empty),
                offsets,
            });
        }
    };
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let rows = if order.is_empty() {
        RecordBatch::new_empty(schema)
    } else {
        arrow::compute::interleave_record_batch(&refs, &order)
            .map_err(|e| format!("{name}: cannot order rows by entity: {e}"))?
    };
    // Once for the table, not once per entity: every slice is then already in the ABI's types.
    let rows = ipc::normalize(&rows).map_err(|e| format!("{name}: {e}"))?;
    let encoder = ipc::StreamEncoder::new(&rows.schema()).map_err(|e| format!("{name}: {e}"))?;
    Ok(EntityTable {
        name,
        rows,
        encoder,
        offsets,
    })
}

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
    /// Open `entity_rows` queries: the table whose rows are not yet handed out, if any.
    open: BTreeMap<i32, Option<usize>>,
}

impl EntityHost {
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
        let pending = slot
            .take()
            .map(|t| (t, tables.slice(t, self.entity)))
            .filter(|(_, rows)| rows.num_rows() > 0);
        match pending {
            Some((table, rows)) => {
                // The table was normalized to the ABI's types when it was grouped.
                let ipc = tables.tables[table]
                    .encoder
                    .encode(&rows)
                    .map_err(|e| Fault::Internal(format!("cannot encode a batch: {e}")))?;
                Ok(Some(Batch {
                    ipc,
                    rows: rows.num_rows() as u64,
                }))
            }
            None => {
                self.open.remove(&handle);
                Ok(None)
            }
        }
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
        let tables = &self.release.tables;
        let Some(t) = tables.tables.iter().position(|t| t.name == table) else {
            return Err(CallError::code(
                ErrorCode::QueryRejected,
                format!("entity_rows: the scenario grants no table named '{table}'"),
            ));
        };
        let handle = self.next_handle;
        self.next_handle = self.next_handle.saturating_add(1);
        self.open.insert(handle, Some(t));
        Ok(handle)
    }

    fn contribute(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| Fault::Internal("an entity's contributions are poisoned".into()))?;
        let EntityYield {
            rows,
            drops,
            chunks_refused,
        } = &mut *out;
        self.release
            .check
            .append(chunk, rows, drops)
            .map_err(|message| {
                *chunks_refused += 1;
                CallError::code(
                    ErrorCode::InvalidContributions,
                    format!("contribute: {message}"),
                )
            })
    }
}

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

/// Runs `release` per entity and returns the guard's decision. `Err` ends the main run: a
/// cancelled job, a limit of the release (`entities`, `release_time`, `memory`), or a host
/// failure. `oracle` is asked for only once the runs are done, so that the caller can build the
/// identifier universe while rows are grouped and run.
pub(super) fn release(
    ctx: &JobContext,
    release: &ResolvedRelease,
    runner: &EntityRunner,
    oracle: impl FnOnce() -> Result<Arc<dyn IdentifierOracle>, CallError>,
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
                grouped = group(ctx) => Some(grouped),
                () = cancelled(&cancel) => None,
            }
        })
        .await
    });
    let tables = match grouped {
        Err(_elapsed) => return Err(Fault::Limit(LimitKind::ReleaseTime).into()),
        Ok(None) => return Err(Fault::Cancelled.into()),
        Ok(Some(Err(Err(fault)))) => return Err(fault.into()),
        Ok(Some(Err(Ok(message)))) => {
            return Err(Fault::Internal(format!("cannot group rows by entity: {message}")).into())
        }
        Ok(Some(Ok(tables))) => tables,
    };
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

    let mut builder = ReleaseBuilder::new(release.contract.clone(), release.effective_k, oracle()?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))])
            .expect("batch")
    }

    fn values(batch: &RecordBatch) -> Vec<i64> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        column.values().to_vec()
    }

    #[test]
    fn rows_are_ordered_by_owner_across_batches_and_ownerless_rows_dropped() {
        let batches = [batch(&[10, 11, 12]), batch(&[13, 14])];
        // Row values tell where they came from; owners 0..3, u32::MAX for "no entity".
        let owners = [2, 0, u32::MAX, 2, 0];
        let table = sort_by_owner("t".into(), &batches, &owners, 3).expect("sorted");
        assert_eq!(table.offsets, vec![0, 2, 2, 4]);
        assert_eq!(values(&table.rows), vec![11, 14, 10, 13]);
        let tables = EntityTables {
            tables: vec![table],
            keys: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(values(&tables.slice(0, 0)), vec![11, 14]);
        assert_eq!(
            tables.slice(0, 1).num_rows(),
            0,
            "an entity without rows here"
        );
        assert_eq!(values(&tables.slice(0, 2)), vec![10, 13]);
        assert_eq!(
            (tables.rows_of(0), tables.rows_of(1), tables.rows_of(2)),
            (2, 0, 2)
        );
    }

    #[test]
    fn an_empty_table_gives_every_entity_no_rows() {
        let table = sort_by_owner("t".into(), &[], &[], 2).expect("sorted");
        assert_eq!(table.offsets, vec![0, 0, 0]);
        assert_eq!(table.rows.num_rows(), 0);
        let mismatched = sort_by_owner("t".into(), &[batch(&[1, 2])], &[0], 1);
        assert!(
            mismatched.is_err(),
            "more rows than owners is a bug, not a panic"
        );
    }
}
