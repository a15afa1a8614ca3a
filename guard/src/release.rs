//! The streaming release: contributions go in chunk by chunk, a [`Decision`] comes out.
//!
//! [`ReleaseBuilder`] applies the per-row rules while chunks stream in (schema, entity, bound,
//! clamp, aggregation), so memory grows with distinct entities and groups, never with rows. The
//! per-release rules (domain, threshold, scan, output shape) run once, in [`ReleaseBuilder::finish`].
//!
//! A bad chunk **poisons** the builder: `append_*` returns an [`AppendError`] (the module learns its
//! chunk was refused) and `finish` blocks with `contract.schema` whatever comes after, so a module
//! cannot drop a chunk it got wrong and still release the rest. Chunks after the poison are still
//! schema-checked, but their rows are not read.
//!
//! # Limitations with malicious guests
//! The Arrow IPC decoder trusts the lengths a stream declares, and an allocation failure aborts
//! the process (no unwinding). `ipc_check` therefore reads the message headers first and refuses
//! compressed batches, dictionaries, nested columns and any length beyond the chunk, so that
//! arrow allocates at most about the chunk's size. It also panics on some malformed input:
//! decoding and row processing therefore run under `catch_unwind`, and a panic poisons the
//! builder like any bad chunk (this relies on the default `panic = "unwind"`). The panic hook
//! still prints arrow's message to the host's stderr; those messages describe the malformed
//! structure, not cell values.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int64Array, StringArray, StringBuilder,
};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::reader::StreamDecoder;
use arrow::record_batch::RecordBatch;

use super::aggregate::GroupAccumulator;
use super::bound::{Admission, EntityLedger};
use super::clamp::{clamp, Clamped};
use super::contract::{ContractError, ReleaseContract, ENTITY_COLUMN};
use super::decision::Decision;
use super::noise::RandomSource;
use super::oracle::parse_pseudonym;
use super::privacy::{BudgetGate, PrivacyPlan};
use super::report::ReleaseReport;
use super::schema::{self, MeasureType};
use super::shard::{per_shard, shard_of, PARALLEL_MIN_ROWS, SHARDS};
use super::steps::{self, Pending, Step, PRIVATE_STEPS, THRESHOLD_STEPS};
use super::{ipc_check, threshold, IdentifierOracle};

/// Why a contribution chunk was refused. Every refusal also blocks the release (`contract.schema`).
/// Messages name the contract's columns and positions, never anything the module sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The bytes are not a complete Arrow IPC stream with a schema.
    #[error("the contributions are not a readable Arrow IPC stream")]
    Decode,
    /// The stream was refused before decoding: compressed, using a feature contributions never
    /// need, or declaring a length beyond the chunk's size (see `ipc_check.rs`).
    #[error("the contributions were refused before decoding: {0}")]
    Refused(String),
    /// A chunk of contribution rows is malformed or names other columns than the contract's
    /// (the message names the place, never a value).
    #[error("the contribution rows were refused: {0}")]
    Rows(String),
    /// The chunk's columns are not the contract's.
    #[error("the contributions do not match the contract of release '{release}': {detail}")]
    Schema {
        /// The release's name.
        release: String,
        /// Which column was expected where.
        detail: String,
    },
    /// The release's contract is invalid, so no contribution can be accepted.
    #[error("the contract of release '{release}' is invalid")]
    Contract {
        /// The release's name.
        release: String,
    },
    /// Processing the chunk failed inside the guard (a caught panic).
    #[error("the contributions could not be processed")]
    Internal,
}

/// Collects one release's contributions and decides whether the aggregate may leave.
///
/// The per-row rules apply while chunks stream in; [`ReleaseBuilder::finish`] then runs the
/// ordered, named steps of `steps.rs` ([`THRESHOLD_STEPS`], or [`PRIVATE_STEPS`] with privacy),
/// and the first step that blocks names its rule.
pub struct ReleaseBuilder {
    contract: Arc<ReleaseContract>,
    /// The calibrated noise, for a valid contract with privacy.
    plan: Option<Arc<PrivacyPlan>>,
    k: u32,
    oracle: Arc<dyn IdentifierOracle>,
    contract_fault: Option<ContractError>,
    poison: Option<AppendError>,
    measure_types: Option<Vec<MeasureType>>,
    /// The bound's ledger of each entity shard.
    ledgers: [EntityLedger; SHARDS],
    /// Whether the shards of a large chunk may run on a second thread.
    second_thread: bool,
    groups: GroupAccumulator,
    report: ReleaseReport,
}

impl std::fmt::Debug for ReleaseBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseBuilder")
            .field("release", &self.contract.name)
            .field("k", &self.k)
            .field("poisoned", &self.poison.is_some())
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl ReleaseBuilder {
    /// A builder for one release of `contract`.
    ///
    /// `effective_k` is computed by the caller (the largest of the contract's k and every involved
    /// dataset's minimum k); clamps may likewise have been narrowed by the caller. The guard never
    /// loosens: it uses `max(effective_k, contract.k)`. An invalid contract makes every append fail
    /// and `finish` block with `contract.schema`.
    pub fn new(
        contract: Arc<ReleaseContract>,
        effective_k: u32,
        oracle: Arc<dyn IdentifierOracle>,
    ) -> Self {
        let k = effective_k.max(contract.k);
        let contract_fault = contract.validate().err();
        let plan = match (&contract_fault, contract.privacy) {
            (None, Some(_)) => PrivacyPlan::new(&contract).ok().map(Arc::new),
            _ => None,
        };
        let resolutions = plan.as_ref().map(|p| p.resolutions()).unwrap_or_default();
        // Dominance applies to threshold releases only; under privacy the noise bounds what one
        // contributor's value can show, so the largest contributors need not be tracked.
        let top_n = match contract.privacy {
            Some(_) => 0,
            None => usize::try_from(contract.dominance.n).unwrap_or(usize::MAX),
        };
        let entities = oracle.entity_count();
        let mut report = ReleaseReport::new(k, contract.max_rows_per_entity);
        report.suppression_rule = threshold::describe(k, &contract.dominance);
        Self {
            plan,
            k,
            oracle,
            contract_fault,
            poison: None,
            measure_types: None,
            ledgers: std::array::from_fn(|_| {
                EntityLedger::new(contract.max_rows_per_entity).expecting(entities)
            }),
            second_thread: false,
            groups: GroupAccumulator::new(contract.max_groups, contract.measures.len())
                .with_resolutions(resolutions)
                .with_top_n(top_n)
                .expecting(entities),
            report,
            contract,
        }
    }

    /// Lets the per-entity work of a large chunk (the bound's ledger, the entity check, each
    /// entity's totals per group) run on a second thread, split by entity (`shard.rs`). Only
    /// the time changes, never a decision or a figure. The guard reads nothing of the machine,
    /// so the caller says whether a second core is there. Off by default.
    pub fn with_second_thread(mut self, allowed: bool) -> Self {
        self.second_thread = allowed;
        self.groups = self.groups.with_second_thread(allowed);
        self
    }

    /// Decodes one Arrow IPC stream (schema + batches, as handed over by `release_append`) and
    /// appends its batches.
    ///
    /// # Errors
    /// [`AppendError`] if the bytes do not decode or the schema is not the contract's; the
    /// release is then blocked. Batches before the fault in the same stream stay counted.
    pub fn append_ipc(&mut self, ipc: &[u8]) -> Result<(), AppendError> {
        self.guarded(|builder| {
            // Before arrow sees a byte: a declared length it trusts could make it allocate
            // enough to abort the process, which the panic guard cannot catch.
            ipc_check::check(ipc).map_err(|r| AppendError::Refused(r.to_string()))?;
            let mut decoder = StreamDecoder::new();
            let mut buffer = Buffer::from(ipc);
            let mut schema_checked = false;
            while !buffer.is_empty() {
                let batch = decoder
                    .decode(&mut buffer)
                    .map_err(|_| AppendError::Decode)?;
                if !schema_checked {
                    if let Some(schema) = decoder.schema() {
                        builder.check_schema(&schema)?;
                        schema_checked = true;
                    }
                }
                if let Some(batch) = batch {
                    builder.accept(&batch)?;
                }
            }
            decoder.finish().map_err(|_| AppendError::Decode)?;
            if !schema_checked {
                return Err(AppendError::Decode);
            }
            Ok(())
        })
    }

    /// Decodes one chunk of contribution rows (`release_append_rows`, `shuyu_abi::rows`: the
    /// entity first, named `entity`, then the contract's dimensions and measures) and appends
    /// them: the rows of [`ReleaseBuilder::append_ipc`] without Arrow IPC around them. Measures
    /// arrive as `Float64`.
    ///
    /// # Errors
    /// [`AppendError::Rows`] if the chunk is malformed or its columns are not the contract's;
    /// the release is then blocked.
    pub fn append_rows(&mut self, chunk: &[u8]) -> Result<(), AppendError> {
        self.guarded(|builder| {
            let batch = rows_batch(&builder.contract, chunk)?;
            builder.check_schema(batch.schema_ref())?;
            builder.accept(&batch)
        })
    }

    /// Appends one batch of contributions.
    ///
    /// # Errors
    /// [`AppendError::Schema`] if its schema is not the contract's; the release is then blocked.
    pub fn append_batch(&mut self, batch: &RecordBatch) -> Result<(), AppendError> {
        self.guarded(|builder| {
            builder.check_schema(batch.schema_ref())?;
            builder.accept(batch)
        })
    }

    /// Whether the contract asks for privacy: finish with [`ReleaseBuilder::finish_private`].
    pub fn is_private(&self) -> bool {
        self.contract.privacy.is_some()
    }

    /// Decides: release or block. Consumes the builder. A contract with privacy is blocked with
    /// `privacy.budget` here: it needs [`ReleaseBuilder::finish_private`].
    pub fn finish(self) -> Decision {
        self.finish_inner(None)
    }

    /// Decides a release with privacy: `budget` is charged before any noise is drawn from `rng`
    /// (production passes [`super::noise::SecureRng`]), and refunded if the release is then
    /// blocked. For a contract without privacy this is [`ReleaseBuilder::finish`] and neither is
    /// used.
    pub fn finish_private(
        self,
        budget: &mut dyn BudgetGate,
        rng: &mut dyn RandomSource,
    ) -> Decision {
        self.finish_inner(Some((budget, rng)))
    }

    fn finish_inner<'a>(
        self,
        privacy: Option<(&'a mut dyn BudgetGate, &'a mut dyn RandomSource)>,
    ) -> Decision {
        let Self {
            contract,
            plan,
            k,
            oracle,
            contract_fault,
            poison,
            ledgers,
            groups,
            mut report,
            ..
        } = self;
        // Known before any step runs, so every block's report has them.
        report.entities = ledgers.iter().map(EntityLedger::entities).sum();
        report.groups_total = groups.len() as u64;
        let steps: &[Step] = if contract.privacy.is_some() {
            &PRIVATE_STEPS
        } else {
            &THRESHOLD_STEPS
        };
        steps::run(
            steps,
            Pending {
                contract,
                plan,
                k,
                oracle,
                contract_fault,
                poison,
                groups: Some(groups),
                aggregates: None,
                kept: None,
                report,
                privacy,
            },
        )
    }

    /// Runs `step` under the panic guard; any failure poisons the builder.
    fn guarded(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<(), AppendError>,
    ) -> Result<(), AppendError> {
        if self.contract_fault.is_some() {
            return Err(AppendError::Contract {
                release: self.contract.name.clone(),
            });
        }
        let result = catch_unwind(AssertUnwindSafe(|| step(&mut *self)))
            .unwrap_or(Err(AppendError::Internal));
        if let Err(error) = &result {
            if self.poison.is_none() {
                self.poison = Some(error.clone());
            }
        }
        result
    }

    fn check_schema(&mut self, schema: &Schema) -> Result<(), AppendError> {
        let types = schema::check(&self.contract, schema, self.measure_types.as_deref()).map_err(
            |detail| AppendError::Schema {
                release: self.contract.name.clone(),
                detail,
            },
        )?;
        if self.measure_types.is_none() {
            self.measure_types = Some(types);
        }
        Ok(())
    }

    /// Applies the row rules to a batch whose schema has been checked.
    ///
    /// In four passes, so that the per-entity work (the bound's ledger, the universe lookup of
    /// a new entity, the entity's totals per group: the hash-table misses that are most of the
    /// guard's time) runs per entity shard, on two threads for a large batch. The passes that
    /// touch shared state (groups opened, group sums, the report) go row by row in stream order,
    /// so the result is the same either way.
    fn accept(&mut self, batch: &RecordBatch) -> Result<(), AppendError> {
        if self.poison.is_some() {
            // The release is blocked already; reading more rows would only cost time.
            return Ok(());
        }
        let rows = batch.num_rows();
        if batch.columns().iter().any(|c| c.len() != rows) {
            return Err(AppendError::Internal);
        }
        let mut columns = batch.columns().iter();
        let entity = utf8(columns.next()).ok_or(AppendError::Internal)?;
        let dimensions = (0..self.contract.dimensions.len())
            .map(|_| utf8(columns.next()))
            .collect::<Option<Vec<_>>>()
            .ok_or(AppendError::Internal)?;
        let measures = columns
            .map(MeasureColumn::new)
            .collect::<Option<Vec<_>>>()
            .ok_or(AppendError::Internal)?;
        if measures.len() != self.contract.measures.len() {
            return Err(AppendError::Internal);
        }
        let parallel = self.second_thread && rows >= PARALLEL_MIN_ROWS;

        // 1. Each row's entity decoded once (`None`: null, or not 32 lowercase hex characters,
        //    so no entity at all), and the rows of each shard in stream order.
        let mut keys: Vec<Option<[u8; 16]>> = Vec::with_capacity(rows);
        let mut shard_keys: [Vec<[u8; 16]>; SHARDS] = Default::default();
        for row in 0..rows {
            let key = entity
                .is_valid(row)
                .then(|| parse_pseudonym(entity.value(row)))
                .flatten();
            if let Some(key) = key {
                if let Some(list) = shard_keys.get_mut(shard_of(&key)) {
                    list.push(key);
                }
            }
            keys.push(key);
        }

        // 2. Per shard: real or not, within the bound or not.
        let oracle = self.oracle.as_ref();
        let verdicts = per_shard(parallel, &mut self.ledgers, |shard, ledger| {
            shard_keys
                .get(shard)
                .map(|keys| {
                    keys.iter()
                        .map(|key| ledger.admit_key(*key, oracle))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });

        // 3. Row by row: the report, the group, the clamps, the group's sums; each kept row's
        //    entity, group and values set aside for its shard.
        let mut next = [0usize; SHARDS];
        let mut kept: [Vec<(usize, [u8; 16], usize)>; SHARDS] = Default::default();
        let mut kept_values: Vec<Option<f64>> = Vec::new();
        let mut key: Vec<Option<&str>> = Vec::with_capacity(dimensions.len());
        let mut values: Vec<Option<f64>> = Vec::with_capacity(measures.len());
        let report = &mut self.report;
        for (row, parsed) in keys.iter().enumerate() {
            report.contribution_rows += 1;
            let admission = match parsed {
                None if !entity.is_valid(row) => Admission::Null,
                None => Admission::Unknown,
                Some(parsed) => {
                    let shard = shard_of(parsed);
                    let at = next.get_mut(shard).ok_or(AppendError::Internal)?;
                    let verdict = verdicts
                        .get(shard)
                        .and_then(|v| v.get(*at))
                        .copied()
                        .ok_or(AppendError::Internal)?;
                    *at += 1;
                    verdict
                }
            };
            let entity = match admission {
                Admission::Kept(entity) => entity,
                Admission::Dropped => {
                    report.rows_dropped_by_bound += 1;
                    continue;
                }
                Admission::Null => {
                    report.rows_null_entity += 1;
                    continue;
                }
                Admission::Unknown => {
                    report.rows_unknown_entity += 1;
                    continue;
                }
            };
            key.clear();
            key.extend(
                dimensions
                    .iter()
                    .map(|d| d.is_valid(row).then(|| d.value(row))),
            );
            let Some(group) = self.groups.group(&key) else {
                // The group table overflowed: the release is blocked, stop accumulating.
                continue;
            };
            values.clear();
            for (column, spec) in measures.iter().zip(&self.contract.measures) {
                values.push(match clamp(column.get(row), spec.clamp) {
                    Clamped::Value { value, moved } => {
                        report.values_clamped += u64::from(moved);
                        Some(value)
                    }
                    Clamped::Null => {
                        report.null_values += 1;
                        None
                    }
                    Clamped::NonFinite => {
                        report.non_finite_values += 1;
                        None
                    }
                });
            }
            if self.groups.add_totals(group, &values) {
                if let Some(list) = kept.get_mut(shard_of(&entity)) {
                    list.push((group, entity, kept_values.len()));
                }
                kept_values.extend_from_slice(&values);
            }
        }

        // 4. Per shard: each kept row into its entity's totals in its group.
        let width = measures.len();
        per_shard(parallel, self.groups.members_mut(), |shard, members| {
            for &(group, entity, at) in kept.get(shard).into_iter().flatten() {
                let values = kept_values.get(at..at + width).unwrap_or_default();
                members.add(group, entity, values);
            }
        });
        Ok(())
    }
}

/// The batch a chunk of contribution rows holds, with the contract's contribution schema
/// (`entity`, the dimensions as `Utf8`, the measures as `Float64`). The parser checks every
/// length against the chunk first, so the builders grow with the chunk's size at most.
fn rows_batch(contract: &ReleaseContract, chunk: &[u8]) -> Result<RecordBatch, AppendError> {
    let refused = |e: shuyu_abi::rows::RowsError| AppendError::Rows(e.to_string());
    let mut names: Vec<&str> = Vec::with_capacity(1 + contract.dimensions.len());
    names.push(ENTITY_COLUMN);
    names.extend(contract.dimensions.iter().map(|d| d.name.as_str()));
    let measures: Vec<&str> = contract.measures.iter().map(|m| m.name.as_str()).collect();
    let rows = shuyu_abi::rows::parse(chunk, &names, &measures).map_err(refused)?;
    let mut text: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
    let mut numbers: Vec<Float64Builder> = measures.iter().map(|_| Float64Builder::new()).collect();
    for row in rows {
        let row = row.map_err(refused)?;
        for (builder, value) in text.iter_mut().zip(&row.dimensions) {
            builder.append_option(*value);
        }
        for (builder, value) in numbers.iter_mut().zip(&row.measures) {
            builder.append_option(*value);
        }
    }
    let mut fields = Vec::with_capacity(names.len() + measures.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len() + measures.len());
    for (name, mut builder) in names.iter().zip(text) {
        fields.push(Field::new(*name, DataType::Utf8, true));
        columns.push(Arc::new(builder.finish()));
    }
    for (name, mut builder) in measures.iter().zip(numbers) {
        fields.push(Field::new(*name, DataType::Float64, true));
        columns.push(Arc::new(builder.finish()));
    }
    // Columns of equal length and the schema's types, by construction.
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|_| AppendError::Internal)
}

fn utf8(column: Option<&ArrayRef>) -> Option<&StringArray> {
    column.and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

/// A measure column of either accepted type, read as f64.
enum MeasureColumn<'a> {
    Float64(&'a Float64Array),
    Int64(&'a Int64Array),
}

impl<'a> MeasureColumn<'a> {
    fn new(column: &'a ArrayRef) -> Option<Self> {
        let any = column.as_any();
        any.downcast_ref::<Float64Array>()
            .map(Self::Float64)
            .or_else(|| any.downcast_ref::<Int64Array>().map(Self::Int64))
    }

    /// The value at `row` (which the caller has checked is in range), `None` if null.
    fn get(&self, row: usize) -> Option<f64> {
        match self {
            Self::Float64(values) => values.is_valid(row).then(|| values.value(row)),
            // Widening may round beyond 2^53; clamping follows, so only precision is lost.
            Self::Int64(values) => values.is_valid(row).then(|| values.value(row) as f64),
        }
    }
}
