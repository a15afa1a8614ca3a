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

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::buffer::Buffer;
use arrow::datatypes::Schema;
use arrow::ipc::reader::StreamDecoder;
use arrow::record_batch::RecordBatch;

use super::aggregate::{GroupAccumulator, SizeFault, MAX_KEY_VALUE_BYTES};
use super::bound::{Admission, EntityLedger};
use super::clamp::{clamp, Clamped};
use super::contract::{ContractError, ReleaseContract};
use super::decision::{Block, Decision, ReleasedTable, Rule};
use super::noise::RandomSource;
use super::privacy::{self, BudgetGate, PrivacyPlan};
use super::report::ReleaseReport;
use super::schema::{self, MeasureType};
use super::{domain, ipc_check, output, scan, table, threshold, IdentifierOracle};

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
/// Rules, in the order they are checked (the first violated one blocks the release):
/// `contract.schema`, `entity.null`, `entity.unknown`, `size.groups`, `dimension.domain`,
/// `scan.pseudonym` / `scan.identifier`, `threshold.all_suppressed` (k per measure and
/// dominance, see `threshold.rs`), `contract.output`. With
/// privacy, `privacy.budget` and `privacy.noise` take the place of the threshold.
pub struct ReleaseBuilder {
    contract: Arc<ReleaseContract>,
    /// The calibrated noise, for a valid contract with privacy.
    plan: Option<Arc<PrivacyPlan>>,
    k: u32,
    oracle: Arc<dyn IdentifierOracle>,
    contract_fault: Option<ContractError>,
    poison: Option<AppendError>,
    measure_types: Option<Vec<MeasureType>>,
    ledger: EntityLedger,
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
        let mut report = ReleaseReport::new(k, contract.max_rows_per_entity);
        report.suppression_rule = threshold::describe(k, &contract.dominance);
        Self {
            plan,
            k,
            oracle,
            contract_fault,
            poison: None,
            measure_types: None,
            ledger: EntityLedger::new(contract.max_rows_per_entity),
            groups: GroupAccumulator::new(contract.max_groups, contract.measures.len())
                .with_resolutions(resolutions)
                .with_top_n(top_n),
            report,
            contract,
        }
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

    fn finish_inner(
        self,
        privacy: Option<(&mut dyn BudgetGate, &mut dyn RandomSource)>,
    ) -> Decision {
        let private = self.contract.privacy.is_some();
        let mut fallback = ReleaseReport::new(self.k, self.contract.max_rows_per_entity);
        fallback.suppression_rule = self.report.suppression_rule.clone();
        if private {
            fallback = fallback.withheld("differential privacy");
        }
        let name = self.contract.name.clone();
        match catch_unwind(AssertUnwindSafe(|| self.decide(privacy))) {
            Ok(decision) => decision,
            Err(_) => Decision::Blocked(Block {
                rule: Rule::ContractOutput,
                message: format!("release '{name}': the guard failed while deciding"),
                report: fallback,
            }),
        }
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

        let mut key: Vec<Option<&str>> = Vec::with_capacity(dimensions.len());
        let mut values: Vec<Option<f64>> = Vec::with_capacity(measures.len());
        let report = &mut self.report;
        for row in 0..rows {
            report.contribution_rows += 1;
            let entity = entity.is_valid(row).then(|| entity.value(row));
            let entity = match self.ledger.admit(entity, self.oracle.as_ref()) {
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
            self.groups.add(group, entity, &values);
        }
        Ok(())
    }

    /// Applies the per-release rules in order.
    fn decide(self, privacy: Option<(&mut dyn BudgetGate, &mut dyn RandomSource)>) -> Decision {
        let Self {
            contract,
            plan,
            k,
            oracle,
            contract_fault,
            poison,
            ledger,
            groups,
            mut report,
            ..
        } = self;
        report.entities = ledger.entities();
        report.groups_total = groups.len() as u64;
        let name = contract.name.as_str();
        let private = contract.privacy.is_some();
        let block = |rule: Rule, detail: String, report: ReleaseReport| {
            Decision::Blocked(Block {
                rule,
                message: format!("release '{name}': {detail}"),
                // Under privacy exact counts would bypass the noise: the operator gets none.
                report: if private {
                    report.withheld("differential privacy")
                } else {
                    report
                },
            })
        };
        // Under privacy a block message states the rule but no count: the module chooses how
        // many rows break a rule, so a count could carry a value past the noise.
        let count = |n: u64| {
            if private {
                "some".to_owned()
            } else {
                n.to_string()
            }
        };

        if let Some(fault) = contract_fault {
            return block(
                Rule::ContractSchema,
                format!(
                    "the contract is invalid: {}: {}",
                    fault.field, fault.problem
                ),
                report,
            );
        }
        if let Some(fault) = poison {
            return block(
                Rule::ContractSchema,
                format!("a contribution chunk was refused: {fault}"),
                report,
            );
        }
        if report.rows_null_entity > 0 {
            let n = report.rows_null_entity;
            return block(
                Rule::EntityNull,
                format!("{} contribution rows have no entity", count(n)),
                report,
            );
        }
        if report.rows_unknown_entity > 0 {
            let n = report.rows_unknown_entity;
            return block(
                Rule::EntityUnknown,
                format!(
                    "{} contribution rows name an entity that is not in the granted datasets",
                    count(n)
                ),
                report,
            );
        }
        match groups.fault() {
            Some(SizeFault::TooManyGroups) => {
                let detail = format!(
                    "the contributions form more than max_groups={} groups",
                    contract.max_groups
                );
                return block(Rule::SizeGroups, detail, report);
            }
            Some(SizeFault::ValueTooLong { dimension }) => {
                let column = contract
                    .dimensions
                    .get(dimension)
                    .map_or("?", |d| d.name.as_str());
                let detail = format!(
                    "a value of dimension '{column}' is longer than {MAX_KEY_VALUE_BYTES} bytes"
                );
                return block(Rule::SizeGroups, detail, report);
            }
            None => {}
        }
        let aggregates = groups.finish();
        if let Err(violation) = domain::check(&contract, &aggregates) {
            let detail = format!(
                "{} groups have a value of dimension '{}' outside its declared domain",
                count(violation.groups),
                violation.dimension
            );
            return block(Rule::DimensionDomain, detail, report);
        }

        // Scan every candidate group, suppressed ones too: an identifier smuggled into a small
        // group would never leave, but the attempt is blocked and recorded under its own rule
        // instead of vanishing into the suppression count.
        let candidates = match table::build(&contract, &aggregates.groups) {
            Ok(table) => table,
            Err(_) => {
                return block(
                    Rule::ContractOutput,
                    "the candidate table could not be built".into(),
                    report,
                )
            }
        };
        match scan::scan(&candidates, oracle.as_ref()) {
            Err(scan::UnreadableColumn(column)) => {
                let detail = format!("output column '{column}' has a type the scan cannot read");
                return block(Rule::ContractOutput, detail, report);
            }
            Ok(Some(finding)) => {
                let detail = format!(
                    "{} candidate output cells contain {}, first in column '{}'",
                    count(finding.cells),
                    finding.what,
                    finding.column
                );
                return block(finding.rule, detail, report);
            }
            Ok(None) => {}
        }
        drop(candidates);

        if private {
            // The scan has passed on exact values; from here on only noisy values are used.
            return match (plan, privacy) {
                (Some(plan), Some((budget, rng))) => {
                    privacy::release(&contract, &plan, aggregates, report, budget, rng)
                }
                (None, _) => block(
                    Rule::ContractSchema,
                    "the contract's privacy cannot be calibrated".into(),
                    report,
                ),
                (Some(_), None) => block(
                    Rule::PrivacyBudget,
                    "the release asks for privacy but no privacy budget is available".into(),
                    report,
                ),
            };
        }

        let kept = threshold::apply(aggregates, k, &contract);
        report.groups_suppressed = kept.groups_suppressed;
        report.rows_suppressed = kept.rows_suppressed;
        report.groups_released = kept.released.len() as u64;
        if kept.released.is_empty() {
            let detail = if report.groups_total == 0 {
                "no contribution row was kept, so there is nothing to release".to_owned()
            } else {
                format!(
                    "all {} groups were suppressed: {}",
                    report.groups_total, report.suppression_rule
                )
            };
            return block(Rule::ThresholdAllSuppressed, detail, report);
        }

        let table = match table::build(&contract, &kept.released) {
            Ok(table) => table,
            Err(_) => {
                return block(
                    Rule::ContractOutput,
                    "the output table could not be built".into(),
                    report,
                )
            }
        };
        if let Err(detail) = output::check(&contract, &table) {
            return block(Rule::ContractOutput, detail, report);
        }

        let policy = serde_json::json!({
            "contract": serde_json::to_value(contract.as_ref()).unwrap_or(serde_json::Value::Null),
            "effective_k": k,
            "suppression_rule": report.suppression_rule,
            "bound_rule": format!(
                "the first {} contribution rows of each entity, in stream order",
                contract.max_rows_per_entity
            ),
            "missing_value_rule": "null, NaN and infinite measure values are left out of count, sum and mean",
        });
        Decision::Released(ReleasedTable {
            table,
            report,
            policy,
        })
    }
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
