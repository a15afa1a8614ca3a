//! Releases with privacy: calibrated noise on counts and sums, group keys that do not leak.
//!
//! A contract with `privacy = { epsilon, delta? }` is released differentially private, whatever
//! the module does. [`PrivacyPlan::new`] turns the contract into mechanisms once (and refuses a
//! contract it cannot calibrate, naming the field); [`release`] then runs, in
//! `ReleaseBuilder::finish`, after the domain check and the scan:
//!
//! ```text
//! charge (BudgetGate, before any draw) ─▶ keys ─▶ noise ─▶ post-processing ─▶ table ─▶ output shape
//!   └─ refused ─▶ block privacy.budget          └─ any later block ─▶ refund
//! ```
//!
//! **Neighbouring datasets** differ by one entity, with all its contribution rows (at most `L`
//! kept, each clamped). **Sensitivities** (L1, also used as the Gaussian's L2 bound, which they
//! dominate): distinct entities `L` (an entity counts once in each of at most `L` groups; 1 when
//! `L = 1`), a measure's count of values `L`, a measure's sum `L·⌈max(|lo|, |hi|)/resolution⌉`
//! resolution units (each value is rounded to whole units before the exact integer sum).
//!
//! **Group keys.** When every dimension declares `values`, the keys are their cartesian product
//! (public, so choosing them costs nothing) and every key is released, empty ones too, noised.
//! Otherwise keys come from the data through **partition selection**: a group is kept only if its
//! noisy distinct-entity count (discrete Laplace, scale `t = L/ε_sel`) reaches
//! `τ = 2 + ⌈t·ln(L/δ_sel)⌉`. A group present in only one of two neighbours holds only the
//! differing entity (count 1), and appears with probability `P(Z ≥ τ - 1) ≤ e^{-(τ-1)/t} ≤
//! δ_sel/L`; the entity is in at most `L` groups, so the keys cost (ε_sel, δ_sel). The kept
//! groups' noisy counts are the released `entities` column (post-processing). This needs δ > 0.
//!
//! **Split of (ε, δ)** by basic composition over the noisy quantities `n`: the entity count (or
//! the selection count) and, per measure, its count (when `count` or `mean` is released) and its
//! sum (when `sum` or `mean` is). Each gets `ε/n`. Without δ all are discrete Laplace (pure ε).
//! With δ and public keys each discrete Gaussian gets `δ/n`; with partition selection the
//! selection gets `δ/2` and the `n - 1` Gaussians `δ/(2(n - 1))` each.
//!
//! **Post-processing** (costs nothing): counts are released as `max(0, noisy)`, sums as
//! `noisy units × resolution`, a mean as noisy sum / noisy count clamped to `[lo, hi]` (null
//! when the noisy count is 0). Nothing is computed from raw values after the noise.
//!
//! **The k threshold does not apply**: DP bounds what any output reveals about one entity, so
//! suppressing small groups adds nothing, and counting suppressed groups would leak exact
//! counts. The report's data-dependent counts are withheld for the same reason.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::aggregate::{Aggregates, Group, MeasureTotal};
use super::contract::{Aggregation, ContractError, ReleaseContract, ENTITIES_COLUMN};
use super::decision::{Block, Decision, ReleasedTable, Rule};
use super::noise::{Mechanism, MechanismInfo, MechanismKind, NoiseError, RandomSource};
use super::report::ReleaseReport;
use super::Charge;
use super::{output, table};

/// A measure's default resolution spans `max(|lo|, |hi|)` in at most this many units.
pub const DEFAULT_RESOLUTION_SPAN: f64 = 1e6;

/// Largest number of resolution units `max(|lo|, |hi|)` may span (2^40): finer resolutions
/// only add digits the noise drowns, and overflow exact arithmetic sooner.
pub(crate) const MAX_UNITS_SPAN: f64 = 1_099_511_627_776.0;

/// A dataset's privacy budget when its manifest sets none: ε = 10, δ = 10^-5 across every
/// scenario, created in the ledger on the dataset's first charge.
pub const DEFAULT_DATASET_BUDGET: Charge = Charge {
    epsilon: 10.0,
    delta: 1e-5,
};

/// Charges a release's privacy cost to the budget ledger, before any noise is drawn.
///
/// The job implements it over [`crate::budget::BudgetLedger`] (the scenario and every granted
/// dataset at once); tests use a counter.
pub trait BudgetGate {
    /// Charges `cost` for release `release`. `Err` holds the operator's message (spent, left and
    /// asked, for an insufficient budget) and means nothing was charged.
    fn charge(&mut self, release: &str, cost: Charge) -> Result<(), String>;
    /// Refunds the charge just made: the release was blocked before any noisy value left.
    fn refund(&mut self, reason: &str);
}

/// Where a release's group keys come from.
#[derive(Debug, Clone)]
enum Keys {
    /// The cartesian product of the declared domains, sorted.
    Public(Vec<Vec<String>>),
    /// DP partition selection: keep a group when its noisy entity count is at least `threshold`.
    Selection {
        threshold: i64,
        epsilon: f64,
        delta: f64,
    },
}

/// The noise of one measure.
#[derive(Debug, Clone)]
struct MeasureNoise {
    resolution: f64,
    count: Option<Mechanism>,
    sum: Option<Mechanism>,
}

/// A contract's privacy, calibrated: the keys' source and one mechanism per noisy quantity.
#[derive(Debug, Clone)]
pub struct PrivacyPlan {
    epsilon: f64,
    delta: Option<f64>,
    keys: Keys,
    entities: Mechanism,
    measures: Vec<MeasureNoise>,
    quantities: usize,
}

/// What a product's manifest says about its privacy (`policy.privacy`): the release's (ε, δ),
/// where the keys came from, and each noisy column's mechanism and accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyInfo {
    /// ε of the whole release.
    pub epsilon: f64,
    /// δ of the whole release (0: pure ε-DP).
    pub delta: f64,
    /// How (ε, δ) was divided, in words.
    pub composition: String,
    /// `public_domain` or `partition_selection`.
    pub keys: String,
    /// Partition selection: the ε and δ it used and its threshold on noisy entity counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionInfo>,
    /// One entry per noisy or derived column (and per noisy part used only for a mean).
    pub columns: Vec<ColumnNoise>,
}

/// The partition selection of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionInfo {
    /// ε spent on selection (its noisy counts are also the released `entities`).
    pub epsilon: f64,
    /// δ spent on selection.
    pub delta: f64,
    /// A group is released when its noisy distinct-entity count is at least this.
    pub threshold: i64,
}

/// The noise of one column, in the column's own units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnNoise {
    /// The output column, e.g. `income_sum`.
    pub column: String,
    /// False for a noisy part computed only to derive a mean (not in the table).
    pub released: bool,
    /// The mechanism in resolution units; `None` for a derived column (a mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<MechanismInfo>,
    /// The value of one unit (1 for counts).
    pub resolution: f64,
    /// ε of this column's noise (0 for a derived column).
    pub epsilon: f64,
    /// δ of this column's noise.
    pub delta: f64,
    /// Sensitivity in the column's units.
    pub sensitivity: f64,
    /// Standard deviation of the noise in the column's units (0 for a derived column).
    pub std_dev: f64,
    /// Half-width of the interval around the released value holding the noise with
    /// probability 0.95, in the column's units (0 for a derived column).
    pub interval95: f64,
    /// For a derived column: the noisy columns it is computed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<String>,
}

/// The default resolution for a clamp: the smallest power of ten for which `max(|lo|, |hi|)` is
/// at most [`DEFAULT_RESOLUTION_SPAN`] units (1 for a clamp of `[0, 0]`).
pub fn default_resolution(clamp: [f64; 2]) -> f64 {
    let magnitude = clamp[0].abs().max(clamp[1].abs());
    if magnitude.is_nan() || magnitude <= 0.0 || !magnitude.is_finite() {
        return 1.0;
    }
    let mut exponent = (magnitude / DEFAULT_RESOLUTION_SPAN).log10().ceil() as i32;
    // log10 can be off by one ulp at exact powers of ten: settle on the smallest that fits.
    while magnitude / 10f64.powi(exponent - 1) <= DEFAULT_RESOLUTION_SPAN {
        exponent -= 1;
    }
    while magnitude / 10f64.powi(exponent) > DEFAULT_RESOLUTION_SPAN {
        exponent += 1;
    }
    10f64.powi(exponent)
}

impl PrivacyPlan {
    /// Calibrates `contract`'s privacy. The contract's other fields must already be valid.
    ///
    /// # Errors
    /// A [`ContractError`] naming the field: `privacy` (absent), `privacy.epsilon`,
    /// `privacy.delta` (out of range, or absent while a dimension has no declared domain),
    /// `dimension.<name>.values` (a repeated value), `dimension` (more keys than `max_groups`),
    /// `measure.<name>.resolution` (not positive, or too fine for the clamp and ε).
    pub fn new(contract: &ReleaseContract) -> Result<Self, ContractError> {
        let fail = |field: String, problem: String| ContractError {
            release: contract.name.clone(),
            field,
            problem,
        };
        let Some(spec) = contract.privacy else {
            return Err(fail("privacy".into(), "is not set".into()));
        };
        let epsilon = spec.epsilon;
        if !epsilon.is_finite() || epsilon <= 0.0 || epsilon > super::MAX_RELEASE_EPSILON {
            return Err(fail(
                "privacy.epsilon".into(),
                format!(
                    "must be greater than 0 and at most {}",
                    super::MAX_RELEASE_EPSILON
                ),
            ));
        }
        if let Some(delta) = spec.delta {
            if !delta.is_finite() || delta <= 0.0 || delta > super::MAX_RELEASE_DELTA {
                return Err(fail(
                    "privacy.delta".into(),
                    format!(
                        "must be greater than 0 and at most {} (omit it for pure ε-DP)",
                        super::MAX_RELEASE_DELTA
                    ),
                ));
            }
        }
        let bound = u64::from(contract.max_rows_per_entity);

        // Keys.
        let undeclared = contract.dimensions.iter().find(|d| d.values.is_none());
        let public = match undeclared {
            None => Some(public_keys(contract).map_err(|(f, p)| fail(f, p))?),
            Some(dimension) => {
                if spec.delta.is_none() {
                    return Err(fail(
                        "privacy.delta".into(),
                        format!(
                            "dimension '{}' declares no `values`, so its group keys must come from \
                             DP partition selection, which needs delta > 0: give privacy.delta or \
                             declare every dimension's values",
                            dimension.name
                        ),
                    ));
                }
                None
            }
        };

        // Quantities and the split of (ε, δ).
        let measure_parts: Vec<(bool, bool)> = contract
            .measures
            .iter()
            .map(|m| {
                let has = |a: Aggregation| m.aggregations.contains(&a);
                (
                    has(Aggregation::Count) || has(Aggregation::Mean),
                    has(Aggregation::Sum) || has(Aggregation::Mean),
                )
            })
            .collect();
        let quantities = 1 + measure_parts
            .iter()
            .map(|(c, s)| usize::from(*c) + usize::from(*s))
            .sum::<usize>();
        let share = epsilon / quantities as f64;
        let others = quantities.saturating_sub(1).max(1) as f64;
        let (selection_delta, gaussian_delta) = match (spec.delta, &public) {
            (None, _) => (0.0, None),
            (Some(delta), Some(_)) => (0.0, Some(delta / quantities as f64)),
            (Some(delta), None) => (delta / 2.0, Some(delta / 2.0 / others)),
        };
        let mechanism = |sensitivity: u64, field: &str| {
            match gaussian_delta {
                Some(delta) => Mechanism::gaussian(share, delta, sensitivity),
                None => Mechanism::laplace(share, sensitivity),
            }
            .map_err(|e| fail(field.to_owned(), noise_problem(&e)))
        };

        let (keys, entities) = match public {
            Some(keys) => (Keys::Public(keys), mechanism(bound, "privacy.epsilon")?),
            None => {
                let selection = Mechanism::laplace(share, bound)
                    .map_err(|e| fail("privacy.epsilon".into(), noise_problem(&e)))?;
                let scale = match selection.kind() {
                    MechanismKind::Laplace(noise) => noise.scale(),
                    MechanismKind::Gaussian { .. } => f64::INFINITY,
                };
                // P(Z ≥ m) ≤ e^{-m/t} ≤ δ_sel/L for m ≥ t·ln(L/δ_sel); one more unit covers
                // the float rounding of the logarithm.
                let m = (scale * (bound as f64 / selection_delta).ln()).ceil() + 1.0;
                if !m.is_finite() || m >= i64::MAX as f64 / 2.0 {
                    return Err(fail(
                        "privacy.epsilon".into(),
                        "the partition-selection threshold is too large to compute".into(),
                    ));
                }
                let keys = Keys::Selection {
                    threshold: 1 + m as i64,
                    epsilon: share,
                    delta: selection_delta,
                };
                (keys, selection)
            }
        };

        let mut measures = Vec::with_capacity(contract.measures.len());
        for (measure, (count, sum)) in contract.measures.iter().zip(measure_parts) {
            let field = format!("measure.{}.resolution", measure.name);
            let resolution = match measure.resolution {
                Some(r) if r.is_finite() && r > 0.0 => r,
                Some(_) => return Err(fail(field, "must be a finite number above 0".into())),
                None => default_resolution(measure.clamp),
            };
            let magnitude = measure.clamp[0].abs().max(measure.clamp[1].abs());
            let span = (magnitude / resolution).ceil();
            // NaN cannot occur (finite clamp, positive resolution), but must fail if it did.
            if span.is_nan() || span > MAX_UNITS_SPAN {
                return Err(fail(
                    field,
                    format!(
                        "is too fine: max(|lo|, |hi|) would span more than 2^40 units of {resolution}"
                    ),
                ));
            }
            // A clamp of [0, 0] makes every sum 0; a sensitivity of 1 keeps the mechanism valid.
            let sensitivity = (span as u64).max(1).saturating_mul(bound);
            measures.push(MeasureNoise {
                resolution,
                count: if count {
                    Some(mechanism(bound, &field)?)
                } else {
                    None
                },
                sum: if sum {
                    Some(mechanism(sensitivity, &field)?)
                } else {
                    None
                },
            });
        }
        Ok(Self {
            epsilon,
            delta: spec.delta,
            keys,
            entities,
            measures,
            quantities,
        })
    }

    /// What the release costs the budget: its (ε, δ), δ = 0 for pure ε-DP.
    pub fn cost(&self) -> Charge {
        Charge::new(self.epsilon, self.delta.unwrap_or(0.0))
    }

    /// Per measure, the resolution its values are summed in (for the accumulator).
    pub(crate) fn resolutions(&self) -> Vec<Option<f64>> {
        self.measures.iter().map(|m| Some(m.resolution)).collect()
    }

    /// The suppression rule in words, for the report.
    pub(crate) fn key_rule(&self) -> String {
        match &self.keys {
            Keys::Public(keys) => format!(
                "none: every one of the {} keys of the declared domains is released, noised",
                keys.len()
            ),
            Keys::Selection { threshold, .. } => format!(
                "DP partition selection: groups whose noisy distinct-entity count is below \
                 {threshold} are not released"
            ),
        }
    }

    /// The manifest's account of this plan for `contract`.
    pub fn describe(&self, contract: &ReleaseContract) -> PrivacyInfo {
        let mut columns = Vec::new();
        let info = |column: String, released: bool, m: &Mechanism, resolution: f64| ColumnNoise {
            column,
            released,
            mechanism: Some(m.describe()),
            resolution,
            epsilon: m.epsilon(),
            delta: m.delta(),
            sensitivity: m.sensitivity() as f64 * resolution,
            std_dev: m.std_dev() * resolution,
            interval95: m.interval95_half_width() * resolution,
            derived_from: Vec::new(),
        };
        columns.push(info(ENTITIES_COLUMN.to_owned(), true, &self.entities, 1.0));
        for (measure, noise) in contract.measures.iter().zip(&self.measures) {
            let has = |a: Aggregation| measure.aggregations.contains(&a);
            let count = format!("{}_count", measure.name);
            let sum = format!("{}_sum", measure.name);
            if let Some(m) = &noise.count {
                columns.push(info(count.clone(), has(Aggregation::Count), m, 1.0));
            }
            if let Some(m) = &noise.sum {
                columns.push(info(
                    sum.clone(),
                    has(Aggregation::Sum),
                    m,
                    noise.resolution,
                ));
            }
            if has(Aggregation::Mean) {
                columns.push(ColumnNoise {
                    column: format!("{}_mean", measure.name),
                    released: true,
                    mechanism: None,
                    resolution: noise.resolution,
                    epsilon: 0.0,
                    delta: 0.0,
                    sensitivity: 0.0,
                    std_dev: 0.0,
                    interval95: 0.0,
                    derived_from: vec![sum, count],
                });
            }
        }
        let (keys, selection) = match &self.keys {
            Keys::Public(_) => ("public_domain", None),
            Keys::Selection {
                threshold,
                epsilon,
                delta,
            } => (
                "partition_selection",
                Some(SelectionInfo {
                    epsilon: *epsilon,
                    delta: *delta,
                    threshold: *threshold,
                }),
            ),
        };
        PrivacyInfo {
            epsilon: self.epsilon,
            delta: self.delta.unwrap_or(0.0),
            composition: format!(
                "basic composition: ε split equally over {} noisy quantities{}",
                self.quantities,
                match (&self.keys, self.delta) {
                    (_, None) => String::new(),
                    (Keys::Public(_), Some(_)) => ", δ likewise".to_owned(),
                    (Keys::Selection { .. }, Some(_)) =>
                        ", δ half to partition selection and half over the others".to_owned(),
                }
            ),
            keys: keys.to_owned(),
            selection,
            columns,
        }
    }
}

/// The cartesian product of the declared domains, sorted; refuses repeats and too many keys.
fn public_keys(contract: &ReleaseContract) -> Result<Vec<Vec<String>>, (String, String)> {
    let mut total: usize = 1;
    for dimension in &contract.dimensions {
        let values = dimension.values.as_deref().unwrap_or_default();
        let mut sorted: Vec<&String> = values.iter().collect();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err((
                format!("dimension.{}.values", dimension.name),
                "lists a value twice".into(),
            ));
        }
        total = total
            .checked_mul(values.len())
            .filter(|&n| n <= contract.max_groups)
            .ok_or_else(|| {
                (
                    "dimension".to_owned(),
                    format!(
                        "the declared domains give more keys than max_groups={}",
                        contract.max_groups
                    ),
                )
            })?;
    }
    let mut keys: Vec<Vec<String>> = vec![Vec::new()];
    for dimension in &contract.dimensions {
        let values = dimension.values.as_deref().unwrap_or_default();
        keys = keys
            .iter()
            .flat_map(|key| {
                values.iter().map(move |v| {
                    let mut key = key.clone();
                    key.push(v.clone());
                    key
                })
            })
            .collect();
    }
    keys.sort();
    debug_assert_eq!(keys.len(), total);
    Ok(keys)
}

fn noise_problem(error: &NoiseError) -> String {
    format!("the noise cannot be calibrated: {error}")
}

/// Finishes a release with privacy: charge, keys, noise, table. `report` is the exact report so
/// far; every block and the release carry it withheld.
pub(crate) fn release(
    contract: &ReleaseContract,
    plan: &PrivacyPlan,
    aggregates: Aggregates,
    report: ReleaseReport,
    gate: &mut dyn BudgetGate,
    rng: &mut dyn RandomSource,
) -> Decision {
    let name = contract.name.as_str();
    let rule_text = plan.key_rule();
    let block = |rule: Rule, detail: String, report: &ReleaseReport| {
        Decision::Blocked(Block {
            step: "privacy",
            rule,
            message: format!("release '{name}': {detail}"),
            report: report.withheld(&rule_text),
        })
    };

    // Charged before the first draw (docs/concepts.md, "Policies that compose").
    if let Err(message) = gate.charge(name, plan.cost()) {
        return block(Rule::PrivacyBudget, message, &report);
    }

    let mut report = report;
    let groups = match noised(plan, aggregates, rng) {
        Ok(groups) => groups,
        Err(error) => {
            gate.refund("the noise could not be drawn; nothing was released");
            return block(
                Rule::PrivacyNoise,
                format!("the noise could not be drawn: {error}; the charge was refunded"),
                &report,
            );
        }
    };
    report.groups_released = groups.len() as u64;
    let table = match table::build(contract, &groups) {
        Ok(table) => table,
        Err(_) => {
            gate.refund("the output table could not be built; nothing was released");
            return block(
                Rule::ContractOutput,
                "the output table could not be built; the charge was refunded".into(),
                &report,
            );
        }
    };
    if let Err(detail) = output::check(contract, &table) {
        gate.refund("the output table failed its shape check; nothing was released");
        return block(
            Rule::ContractOutput,
            format!("{detail}; the charge was refunded"),
            &report,
        );
    }

    let policy = serde_json::json!({
        "contract": serde_json::to_value(contract).unwrap_or(serde_json::Value::Null),
        "effective_k": serde_json::Value::Null,
        "threshold_rule": "not applied: the release is differentially private",
        "key_rule": rule_text,
        "bound_rule": format!(
            "the first {} contribution rows of each entity, in stream order",
            contract.max_rows_per_entity
        ),
        "missing_value_rule": "null, NaN and infinite measure values are left out of count, sum and mean",
        "privacy": plan.describe(contract),
    });
    Decision::Released(ReleasedTable {
        table,
        report: report.withheld(&rule_text),
        policy,
        steps: Vec::new(),
    })
}

/// The released groups: keys chosen, every count and sum noised, then post-processed.
fn noised(
    plan: &PrivacyPlan,
    aggregates: Aggregates,
    rng: &mut dyn RandomSource,
) -> Result<Vec<Group>, NoiseError> {
    let width = plan.measures.len();
    let candidates: Vec<Group> = match &plan.keys {
        Keys::Public(keys) => {
            let mut found: HashMap<Vec<Option<String>>, Group> = aggregates
                .groups
                .into_iter()
                .map(|g| (g.key.clone(), g))
                .collect();
            keys.iter()
                .map(|key| {
                    let key: Vec<Option<String>> = key.iter().cloned().map(Some).collect();
                    found.remove(&key).unwrap_or(Group {
                        key,
                        entities: 0,
                        rows: 0,
                        measures: vec![MeasureTotal::default(); width],
                    })
                })
                .collect()
        }
        Keys::Selection { .. } => aggregates.groups,
    };
    let threshold = match &plan.keys {
        Keys::Selection { threshold, .. } => Some(*threshold),
        Keys::Public(_) => None,
    };
    let mut released = Vec::with_capacity(candidates.len());
    for group in candidates {
        let entities = plan
            .entities
            .add_noise(exact(i128::from(group.entities))?, rng)?;
        if threshold.is_some_and(|t| entities < t) {
            continue;
        }
        let mut measures = Vec::with_capacity(width);
        for (total, noise) in group.measures.iter().zip(&plan.measures) {
            let count = match &noise.count {
                Some(m) => non_negative(m.add_noise(exact(i128::from(total.count))?, rng)?),
                None => 0,
            };
            let sum = match &noise.sum {
                Some(m) => m.add_noise(exact(total.units)?, rng)? as f64 * noise.resolution,
                None => 0.0,
            };
            measures.push(MeasureTotal {
                count,
                sum,
                units: 0,
                ..MeasureTotal::default()
            });
        }
        released.push(Group {
            key: group.key,
            entities: non_negative(entities),
            rows: 0,
            measures,
        });
    }
    Ok(released)
}

fn exact(value: i128) -> Result<i64, NoiseError> {
    i64::try_from(value).map_err(|_| NoiseError::Overflow("an exact count or sum"))
}

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::contract::tests::sample;
    use super::super::contract::PrivacySpec;
    use super::*;

    #[test]
    fn default_resolution_is_a_power_of_ten_spanning_at_most_a_million_units() {
        assert_eq!(default_resolution([0.0, 1_000_000.0]), 1.0);
        assert_eq!(default_resolution([0.0, 1_000_001.0]), 10.0);
        assert_eq!(default_resolution([-5.0, 100.0]), 1e-4);
        assert_eq!(default_resolution([0.0, 0.0]), 1.0);
        let r = default_resolution([0.0, 10_000_000.0]);
        assert!((r - 10.0).abs() < 1e-9, "{r}");
    }

    fn private(delta: Option<f64>) -> ReleaseContract {
        let mut contract = sample();
        contract.privacy = Some(PrivacySpec {
            epsilon: 1.0,
            delta,
        });
        contract
    }

    #[test]
    fn validation_names_the_privacy_fields() {
        let cases: Vec<(ReleaseContract, &str)> = vec![
            (
                {
                    let mut c = private(None);
                    c.privacy = Some(PrivacySpec {
                        epsilon: 0.0,
                        delta: None,
                    });
                    c
                },
                "privacy.epsilon",
            ),
            (private(Some(0.5)), "privacy.delta"),
            // No declared domain and no delta: partition selection is impossible.
            (private(None), "privacy.delta"),
            (
                {
                    let mut c = private(Some(1e-6));
                    c.measures[0].resolution = Some(-1.0);
                    c
                },
                "measure.capital.resolution",
            ),
            (
                {
                    let mut c = private(Some(1e-6));
                    c.measures[0].resolution = Some(1e-12);
                    c
                },
                "measure.capital.resolution",
            ),
            (
                {
                    let mut c = sample();
                    c.measures[0].resolution = Some(1.0);
                    c
                },
                "measure.capital.resolution",
            ),
            (
                {
                    let mut c = private(None);
                    c.dimensions[0].values = Some(vec!["a".into(), "a".into()]);
                    c
                },
                "dimension.district.values",
            ),
            (
                {
                    let mut c = private(None);
                    c.max_groups = 2;
                    c.dimensions[0].values = Some(vec!["a".into(), "b".into(), "c".into()]);
                    c
                },
                "dimension",
            ),
        ];
        for (contract, field) in cases {
            let err = contract.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
        let mut ok = private(None);
        ok.dimensions[0].values = Some(vec!["a".into(), "b".into()]);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(private(Some(1e-6)).validate(), Ok(()));
    }

    #[test]
    fn epsilon_is_split_over_the_noisy_quantities() {
        let mut contract = private(None);
        contract.dimensions[0].values = Some(vec!["a".into()]);
        let plan = PrivacyPlan::new(&contract).expect("plan");
        // entities + capital (count, sum for count/sum/mean) + staff (sum) = 4.
        assert_eq!(plan.quantities, 4);
        assert_eq!(plan.entities.epsilon(), 0.25);
        let info = plan.describe(&contract);
        let eps: f64 = info.columns.iter().map(|c| c.epsilon).sum();
        assert!((eps - 1.0).abs() < 1e-12, "{eps}");
        let capital_sum = info
            .columns
            .iter()
            .find(|c| c.column == "capital_sum")
            .expect("capital_sum");
        // clamp [0, 100] → resolution 1e-4, 10^6 units; L = 1.
        assert_eq!(
            capital_sum.mechanism.as_ref().map(|m| m.sensitivity),
            Some(1_000_000)
        );
        assert!((capital_sum.sensitivity - 100.0).abs() < 1e-6);
    }
}
