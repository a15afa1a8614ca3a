//! `release_vector` in a job: sample-and-aggregate (docs/concepts.md, "The path of a job", `guard::vector`).
//!
//! ```text
//! release_vector(name) ─▶ fresh partition key
//!   ─▶ one pass over every granted view: each row to its entity's partition  (audit: vector.split)
//!   ─▶ for each of m partitions: session over that partition's in-memory tables
//!     ─▶ fresh instance runs shuyu_partition ─▶ vector_emit   (audit: vector.partition)
//!   ─▶ guard: default for failed runs, clamp, quantize, sum
//!   ─▶ budget charge (scenario + every granted dataset)    ─ refused ─▶ block privacy.budget
//!   ─▶ discrete noise per coordinate ─▶ mean ─▶ product      (audit: release)
//! ```
//!
//! The split holds the granted rows in host memory until each partition's run has ended, bounded
//! by [`MAX_PARTITIONED_BYTES`]: a release whose granted tables need more ends the job
//! (`internal`, with the bound named in the `job.end` entry) before any partition runs, never
//! with a partial split.
//!
//! The audit entry of a partition run holds its counters and its fault code, never the vector
//! it emitted: that is a function of one partition's rows, and only the noisy mean may leave.
//!
//! Audit volume: up to 1,024 partitions each running queries and writing log lines would write
//! a million entries per release. A partition run's own entries (its queries and log lines) are
//! bounded by [`MAX_PARTITION_AUDIT_PER_RUN`] and, over all partition runs of a job, by
//! [`MAX_PARTITION_AUDIT_PER_JOB`]; what is left out is counted, and each vector release
//! writes one `vector.audit_suppressed` entry with the count. The `vector.partition` entry of
//! every run (fixed-size counters) is always written.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;

use super::host::{JobContext, JobHost};
use super::ReleaseOutcome;
use crate::budget::Charge;
use crate::engine::{
    EngineSession, PartitionKey, PartitionedTables, SplitError, MAX_PARTITIONED_BYTES,
};
use crate::guard::noise::{Mechanism, SecureRng};
use crate::guard::vector::{self, SumNoise, VectorContract, VectorMechanism, RESOLUTION_STEPS};
use crate::guard::{Block, BudgetGate, ReleaseReport, Rule};
use crate::sandbox::{CallError, ErrorCode, Fault, PartitionRunner};

/// Audit entries (queries, log lines) one partition run may write.
pub(super) const MAX_PARTITION_AUDIT_PER_RUN: u32 = 16;
/// Audit entries all partition runs of one job may write together.
pub(super) const MAX_PARTITION_AUDIT_PER_JOB: u64 = 1_024;

/// The audit quota of a job's partition runs, shared by all of them.
#[derive(Debug)]
pub(super) struct PartitionAudit {
    per_run: u32,
    left: AtomicU64,
    suppressed: AtomicU64,
}

impl PartitionAudit {
    pub(super) fn new(per_run: u32, per_job: u64) -> Self {
        Self {
            per_run,
            left: AtomicU64::new(per_job),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Entries left out since the last call, and resets the count.
    fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

/// One partition run's share of [`PartitionAudit`].
#[derive(Debug, Clone, Default)]
pub(super) struct RunAudit {
    written: Arc<AtomicU32>,
}

impl RunAudit {
    /// Whether the run may write one more entry; if not, it is counted as suppressed.
    pub(super) fn admit(&self, job: &PartitionAudit) -> bool {
        let run_ok = self
            .written
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < job.per_run).then_some(n + 1)
            })
            .is_ok();
        let job_ok = run_ok
            && job
                .left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok();
        if !job_ok {
            job.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        job_ok
    }
}

/// Where a partition run's vector goes: the vector's name and dimension, and the one vector the
/// run emitted.
pub(super) struct PartitionSlot {
    name: String,
    dimension: usize,
    emitted: Option<Vec<f64>>,
    /// Shared with the orchestrating call, which reads it after the run.
    out: Arc<std::sync::Mutex<Option<Vec<f64>>>>,
}

impl PartitionSlot {
    /// The vector's name (what `vector_name` returns).
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Accepts the run's vector: exactly d finite values, once.
    pub(super) fn emit(&mut self, values: Vec<f64>) -> Result<(), CallError> {
        if self.emitted.is_some() {
            return Err(CallError::code(
                ErrorCode::InvalidArgument,
                "vector_emit: this partition run has emitted its vector already",
            ));
        }
        if values.len() != self.dimension {
            return Err(CallError::code(
                ErrorCode::InvalidArgument,
                format!(
                    "vector_emit: vector '{}' has {} coordinates, not {}",
                    self.name,
                    self.dimension,
                    values.len()
                ),
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(CallError::code(
                ErrorCode::InvalidArgument,
                "vector_emit: values must be finite (no NaN or infinity)",
            ));
        }
        if let Ok(mut out) = self.out.lock() {
            *out = Some(values.clone());
        }
        self.emitted = Some(values);
        Ok(())
    }
}

/// Appends to the job's audit log; a job that cannot be audited must stop.
fn audit(ctx: &JobContext, action: &str, details: serde_json::Value) -> Result<(), CallError> {
    ctx.audit(action, details).map(|_| ())
}

/// Writes the one summary of the partition runs' audit entries that were left out, if any.
pub(super) fn audit_suppressed(ctx: &JobContext, name: &str) -> Result<(), CallError> {
    let suppressed = ctx.partition_audit.take_suppressed();
    if suppressed == 0 {
        return Ok(());
    }
    audit(
        ctx,
        "vector.audit_suppressed",
        json!({
            "release": name,
            "entries_suppressed": suppressed,
            "max_per_partition_run": ctx.partition_audit.per_run,
            "max_per_job": MAX_PARTITION_AUDIT_PER_JOB,
        }),
    )
}

/// Records and returns a blocked vector release: `contract` for a problem of the scenario or
/// the module, `privacy` for the charge and the noise (docs/privacy.md, "The guard's steps").
fn blocked(
    ctx: &JobContext,
    name: &str,
    step: &'static str,
    rule: Rule,
    message: String,
) -> Result<ReleaseOutcome, CallError> {
    let block = Block {
        step,
        rule,
        message,
        report: ReleaseReport::withheld_empty(),
    };
    ctx.blocked(name, "vector", block)
}

/// Runs the whole vector release of `contract` and returns what the guard decided. `Err` ends
/// the main run: a cancelled job, or a host failure (audit, engine, product writing).
pub(super) fn release(
    ctx: &JobContext,
    contract: &VectorContract,
    runner: &PartitionRunner,
) -> Result<ReleaseOutcome, CallError> {
    let name = contract.name.as_str();
    if !runner.has_partition_export() {
        return blocked(
            ctx,
            name,
            "contract",
            Rule::ContractSchema,
            format!("release '{name}': the module does not export `shuyu_partition`, so it has no partition runs"),
        );
    }
    // The scenario check refuses this already; checked again because a partition run over an
    // unfiltered table would see every entity.
    let grants: Vec<_> = ctx
        .scenario
        .datasets
        .iter()
        .cloned()
        .zip(ctx.scenario.file.grants.iter().cloned())
        .collect();
    if let Some((dataset, entity)) = ctx
        .scenario
        .file
        .ungranted_entity_column(&ctx.scenario.datasets)
    {
        let message = format!(
            "release '{name}': {}",
            crate::guard::vector::entity_column_missing(dataset, entity)
        );
        return blocked(ctx, name, "contract", Rule::ContractSchema, message);
    }
    let mechanism = match contract.mechanism() {
        Ok(mechanism) => mechanism,
        Err(e) => {
            return blocked(
                ctx,
                name,
                "privacy",
                Rule::PrivacyNoise,
                format!("release '{name}': the noise cannot be calibrated: {e}"),
            )
        }
    };
    let key = PartitionKey::random()
        .map_err(|_| Fault::Internal("the system random generator failed".into()))?;

    let m = contract.partitions;
    let mut split = split_granted_rows(ctx, name, &grants, &key, m)?;
    let mut outputs: Vec<Option<Vec<f64>>> = Vec::with_capacity(m as usize);
    for index in 0..m {
        let output = run_partition(ctx, contract, runner, &mut split, index);
        if output.is_err() {
            audit_suppressed(ctx, name)?;
        }
        outputs.push(output?);
    }
    drop(split);
    audit_suppressed(ctx, name)?;
    let sums = vector::sum(contract, &outputs);
    drop(outputs);

    // Charge before any noise is drawn (docs/concepts.md, "Policies that compose").
    let cost = Charge::new(
        contract.privacy.epsilon,
        contract.privacy.delta.unwrap_or(0.0),
    );
    // The same gate as `release_table` with privacy (`job/privacy.rs`): the scenario and every
    // granted dataset at once, budgets created from their declarations on first use.
    let mut gate = super::privacy::LedgerGate::new(ctx);
    match gate.charge(name, cost) {
        Ok(()) => {}
        Err(e) => {
            return blocked(
                ctx,
                name,
                "privacy",
                Rule::PrivacyBudget,
                format!("release '{name}': {e}"),
            )
        }
    };
    let mut noise = MechanismNoise {
        mechanism: &mechanism,
        rng: SecureRng::new(),
    };
    let coordinates = match vector::noisy_mean(contract, &sums, &mut noise) {
        Ok(coordinates) => coordinates,
        Err(e) => {
            // Nothing noisy left the guard: the charge is returned.
            gate.refund("the noise could not be drawn");
            return blocked(
                ctx,
                name,
                "privacy",
                Rule::PrivacyNoise,
                format!("release '{name}': the noise could not be drawn: {e}"),
            );
        }
    };
    let table = vector::table(&coordinates)
        .map_err(|e| Fault::Internal(format!("cannot build vector table: {e}")))?;

    let info = mechanism.describe();
    let kind = VectorMechanism::of(contract);
    let policy = json!({
        "kind": "vector",
        "contract": serde_json::to_value(contract).unwrap_or_default(),
        "privacy": {
            "mechanism": info.name,
            "epsilon": contract.privacy.epsilon,
            "delta": contract.privacy.delta.unwrap_or(0.0),
            "partitions": m,
            "sensitivity_norm": match kind {
                VectorMechanism::DiscreteLaplace => "l1",
                VectorMechanism::DiscreteGaussian => "l2",
            },
            "sensitivity_steps": mechanism.sensitivity(),
            "resolution_steps": RESOLUTION_STEPS,
            "mean_sensitivity_per_coordinate": contract
                .bounds
                .iter()
                .map(|[lo, hi]| (hi - lo) / f64::from(m))
                .collect::<Vec<_>>(),
            "noise": info,
        },
        "default_vector": contract.default_vector(),
        "default_rule": "a partition run that faults, returns non-zero or emits no valid vector contributes the midpoint of the bounds",
        "post_processing": "each noisy mean is clamped into its bounds",
    });
    // The product's report holds only data-independent facts. How many partitions failed or were
    // clamped depends on the data and carries no noise: a hostile module could fail exactly when
    // one entity is present. Those counts go to the audit log, for reviewers only.
    let report = json!({
        "partitions": sums.partitions,
        "accuracy": coordinates.iter().map(|c| json!({
            "coordinate": c.coordinate,
            "noise_std_dev": c.noise_std_dev,
            "ci95_half_width": c.ci95_half_width,
        })).collect::<Vec<_>>(),
    });
    let details = json!({
        "kind": "vector",
        "report": report,
        "partitions_defaulted": sums.partitions_defaulted,
        "values_clamped": sums.values_clamped,
        "policy": policy,
        "steps": ["contract", "privacy"],
    });
    ctx.released(
        name,
        table,
        policy,
        report,
        ReleaseReport::withheld_empty(),
        details,
    )
}

/// Reads every granted view once and routes its rows into the m partitions of `key`
/// (`engine::partition`). `Err` ends the job: cancelled, over [`MAX_PARTITIONED_BYTES`], or an
/// engine failure.
fn split_granted_rows(
    ctx: &JobContext,
    name: &str,
    grants: &[(crate::catalog::Dataset, crate::governance::Grant)],
    key: &PartitionKey,
    partitions: u32,
) -> Result<PartitionedTables, CallError> {
    let started = std::time::Instant::now();
    let tables: Vec<(&str, &str)> = grants
        .iter()
        .map(|(dataset, _)| {
            (
                dataset.name(),
                dataset.manifest.dataset.entity_column.as_str(),
            )
        })
        .collect();
    let stop = || ctx.cancel.is_cancelled();
    let split = ctx.runtime.block_on(ctx.session.split(
        &tables,
        key,
        partitions,
        MAX_PARTITIONED_BYTES,
        &stop,
    ));
    let split = match split {
        Ok(split) => split,
        Err(SplitError::Cancelled) => return Err(Fault::Cancelled.into()),
        Err(e) => {
            return Err(Fault::Internal(format!(
                "release_vector '{name}': cannot split the granted rows into {partitions} partitions: {e}"
            ))
            .into())
        }
    };
    audit(
        ctx,
        "vector.split",
        json!({
            "release": name,
            "partitions": partitions,
            "tables": split.tables().iter().map(|t| json!({
                "table": t.name(),
                "rows": t.rows(),
                "rows_without_entity": t.rows_without_entity(),
            })).collect::<Vec<_>>(),
            "peak_bytes": split.peak_bytes(),
            "max_bytes": MAX_PARTITIONED_BYTES,
            "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
    )?;
    Ok(split)
}

/// Runs the partition export on partition `index` and returns its vector, or `None` when the
/// run failed in a way the guest controls (it then contributes the default vector). The run's
/// session holds that partition's tables, taken out of `split`: they are freed when it ends.
fn run_partition(
    ctx: &JobContext,
    contract: &VectorContract,
    runner: &PartitionRunner,
    split: &mut PartitionedTables,
    index: u32,
) -> Result<Option<Vec<f64>>, CallError> {
    if ctx.cancel.is_cancelled() {
        return Err(Fault::Cancelled.into());
    }
    let options = super::session_options(runner.limits());
    let session = EngineSession::open_partition(split.take(index), &options)
        .map_err(|e| Fault::Internal(format!("cannot open partition session: {e}")))?;
    let out = Arc::new(std::sync::Mutex::new(None));
    let slot = PartitionSlot {
        name: contract.name.clone(),
        dimension: contract.dimension(),
        emitted: None,
        out: out.clone(),
    };
    let mut partition_ctx = ctx.clone();
    partition_ctx.session = session;
    partition_ctx.run_audit = Some(RunAudit::default());
    let run = runner.run(Box::new(JobHost::for_partition(partition_ctx, slot)));
    ctx.partition_fuel
        .fetch_add(run.fuel_used, Ordering::Relaxed);
    let emitted = out.lock().ok().and_then(|mut o| o.take());
    let (status, vector) = match run.result {
        Ok(0) if emitted.is_some() => ("ok".to_string(), emitted),
        Ok(0) => ("no_vector".to_string(), None),
        Ok(code) => (format!("guest_error:{code}"), None),
        // The job is stopping, or the host failed: no release can be trusted to be complete.
        Err(Fault::Cancelled) => return Err(Fault::Cancelled.into()),
        Err(Fault::Internal(e)) => return Err(Fault::Internal(e).into()),
        Err(fault) => (fault.code(), None),
    };
    audit(
        ctx,
        "vector.partition",
        json!({
            "release": contract.name,
            "partition": index,
            "partitions": contract.partitions,
            "status": status,
            "contributed": if vector.is_some() { "vector" } else { "default" },
            "rows_read": run.rows_read,
            "queries": run.queries,
            "fuel_used": run.fuel_used,
            "elapsed_ms": u64::try_from(run.elapsed.as_millis()).unwrap_or(u64::MAX),
        }),
    )?;
    Ok(vector)
}

/// The contract's mechanism with the domain's CSPRNG, as [`SumNoise`] for the guard.
struct MechanismNoise<'a> {
    mechanism: &'a Mechanism,
    rng: SecureRng,
}

impl SumNoise for MechanismNoise<'_> {
    fn add(&mut self, sum: i64) -> Result<i64, String> {
        self.mechanism
            .add_noise(sum, &mut self.rng)
            .map_err(|e| e.to_string())
    }

    fn std_dev_steps(&self) -> f64 {
        self.mechanism.std_dev()
    }

    fn half_width95_steps(&self) -> f64 {
        self.mechanism.interval95_half_width()
    }
}
