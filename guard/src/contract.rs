//! The release contract: what one named release may contain, as approved in `scenario.toml`.
//!
//! A contract is read from a `[[release]]` table and reviewed by people before any job runs, so it
//! is trusted; the contributions checked against it are not. [`ReleaseContract::validate`] refuses
//! contracts the guard could not enforce (no threshold, no bound, infinite clamps, ambiguous column
//! names), so every later rule can rely on a well-formed contract. Unknown fields are refused
//! everywhere: a misspelt `max_rows_per_entity` must not silently fall back to something laxer.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The output column holding each group's number of distinct entities.
pub const ENTITIES_COLUMN: &str = "entities";
/// The input column holding each contribution's entity pseudonym.
pub const ENTITY_COLUMN: &str = "entity";

/// Longest release or column name accepted; names become Arrow field names and file names.
const MAX_NAME_LEN: usize = 64;

fn default_max_groups() -> usize {
    10_000
}

/// How a measure is aggregated per group: `count` (kept values), `sum` and `mean` (of the kept,
/// clamped values). The same type as the providers' manifests, so a contract can be checked
/// against what a dataset allows.
pub use shuyu_datasets::Aggregation;

/// One `[[release]]` of a scenario: the shape of the table that may leave, and the rules applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseContract {
    /// Release name, `[a-z0-9_]+`; the module names it at `release_begin`.
    pub name: String,
    /// Minimum number of distinct entities in a released group (the caller may raise it).
    pub k: u32,
    /// `L`: contribution rows kept per entity; later rows of that entity are dropped and counted.
    pub max_rows_per_entity: u32,
    /// More groups than this blocks the release (`size.groups`). Default 10,000.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// Group-by columns, in output order.
    #[serde(default, rename = "dimension")]
    pub dimensions: Vec<DimensionSpec>,
    /// Aggregated columns, in output order.
    #[serde(rename = "measure")]
    pub measures: Vec<MeasureSpec>,
    /// Differential privacy for this release (`privacy = { epsilon = 1.0, delta = 1e-6 }`):
    /// counts and sums are noised, group keys come from public domains or DP partition
    /// selection, and the k threshold no longer applies (see `privacy.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacySpec>,
    /// The (n, k) dominance rule of a threshold release (`dominance = { n = 2, percent = 85.0 }`,
    /// the default when absent). Not applied under `privacy`, whose noise already bounds what
    /// one entity's value can show.
    #[serde(default)]
    pub dominance: DominanceSpec,
}

/// The (n, k) dominance rule, as statistical offices apply it to magnitude tables: a group is
/// suppressed when, for a measure released as `sum` or `mean`, its `n` largest contributors hold
/// more than `percent` % of the total of the absolute values of all contributions. A
/// contributor's value is the total of its kept values of that measure in the group.
///
/// With n = 2 the second-largest contributor, who knows its own value, cannot subtract it from
/// the sum and learn the largest one to within `100 − percent` % of the total.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DominanceSpec {
    /// How many of the largest contributors are added up, at least 1. Default 2.
    #[serde(default = "default_dominance_n")]
    pub n: u32,
    /// The share (in %) those contributors may hold, in (0, 100). Default 85.
    #[serde(default = "default_dominance_percent")]
    pub percent: f64,
}

/// The dominance rule applied when a contract does not set one: (2, 85 %).
pub const DEFAULT_DOMINANCE: DominanceSpec = DominanceSpec {
    n: 2,
    percent: 85.0,
};

/// Largest `n` of the dominance rule accepted: beyond it the rule suppresses nearly every group
/// a contract's k lets through, which is a misconfiguration rather than a policy.
pub const MAX_DOMINANCE_N: u32 = 100;

fn default_dominance_n() -> u32 {
    DEFAULT_DOMINANCE.n
}

fn default_dominance_percent() -> f64 {
    DEFAULT_DOMINANCE.percent
}

impl Default for DominanceSpec {
    fn default() -> Self {
        DEFAULT_DOMINANCE
    }
}

impl DominanceSpec {
    /// Whether `top` (the n largest absolute contributions) exceeds the share of `total` (all
    /// absolute contributions). An empty total is never dominated (it has no contributor, which
    /// the contributor threshold suppresses).
    pub fn dominates(&self, top: f64, total: f64) -> bool {
        total > 0.0 && top * 100.0 > self.percent * total
    }
}

/// The privacy parameters of one release: `privacy = { epsilon = .., delta = .. }`.
///
/// Without `delta` the release is pure ε-differentially private (discrete Laplace noise); with
/// it, (ε, δ)-differentially private (discrete Gaussian noise, and partition selection when a
/// dimension has no declared domain).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrivacySpec {
    /// ε of the whole release, in (0, [`MAX_RELEASE_EPSILON`]].
    pub epsilon: f64,
    /// δ of the whole release, in (0, [`MAX_RELEASE_DELTA`]]; absent for pure ε-DP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

/// Largest ε one release may ask for: beyond it the noise no longer protects anyone.
pub const MAX_RELEASE_EPSILON: f64 = 100.0;
/// Largest δ one release may ask for: δ is a probability of total failure, so it must be tiny.
pub const MAX_RELEASE_DELTA: f64 = 0.01;

/// A group-by column of a release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DimensionSpec {
    /// Column name, `[a-z0-9_]+`.
    pub name: String,
    /// Source columns (`dataset.column`), for review and policy checks by the caller.
    #[serde(default)]
    pub from: Vec<String>,
    /// The public domain of the dimension; a group key outside it blocks the release.
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

/// An aggregated column of a release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    /// Column name, `[a-z0-9_]+`; output columns are `<name>_<aggregation>`.
    pub name: String,
    /// Source columns (`dataset.column`), for review and policy checks by the caller.
    #[serde(default)]
    pub from: Vec<String>,
    /// `[lo, hi]`: every contributed value is clamped into this range before aggregation.
    pub clamp: [f64; 2],
    /// The aggregations released for this measure, in output order.
    pub aggregations: Vec<Aggregation>,
    /// Under privacy only: the unit values are rounded to before summing and noising (e.g.
    /// `0.01` for cents). Default: the smallest power of ten for which `max(|lo|, |hi|)` spans
    /// at most 10^6 units (see `privacy::default_resolution`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<f64>,
}

/// Why a contract cannot be enforced. Names the release and the field, never data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release contract '{release}': {field}: {problem}")]
pub struct ContractError {
    /// The release's name as written in the contract.
    pub release: String,
    /// The offending field, e.g. `measure.capital.clamp`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ReleaseContract {
    /// Checks that the guard can enforce this contract.
    ///
    /// # Errors
    /// The first problem found, naming the release and the field: a name outside `[a-z0-9_]+`,
    /// `k < 2`, `max_rows_per_entity < 1`, `max_groups < 1`, no measure, a measure without
    /// aggregations or with one repeated, a clamp that is not finite or has `lo > hi`, an empty
    /// declared domain, a column named `entity` or `entities`, or two columns (input or output)
    /// with the same name; under `privacy`, an ε, δ or resolution out of range, or a plan the
    /// noise cannot be calibrated for (see [`super::privacy::PrivacyPlan::new`]).
    pub fn validate(&self) -> Result<(), ContractError> {
        let fail = |field: String, problem: &str| ContractError {
            release: self.name.clone(),
            field,
            problem: problem.to_owned(),
        };
        if !is_valid_name(&self.name) {
            return Err(fail(
                "name".into(),
                "must match [a-z0-9_]+ (at most 64 characters)",
            ));
        }
        if self.k < 2 {
            return Err(fail("k".into(), "must be at least 2"));
        }
        if self.max_rows_per_entity < 1 {
            return Err(fail("max_rows_per_entity".into(), "must be at least 1"));
        }
        if self.max_groups < 1 {
            return Err(fail("max_groups".into(), "must be at least 1"));
        }
        if self.measures.is_empty() {
            return Err(fail("measure".into(), "at least one measure is required"));
        }
        for dimension in &self.dimensions {
            let field = format!("dimension.{}", dimension.name);
            check_column_name(&dimension.name).map_err(|p| fail(field.clone(), p))?;
            if dimension.values.as_ref().is_some_and(Vec::is_empty) {
                return Err(fail(
                    format!("{field}.values"),
                    "a declared domain cannot be empty",
                ));
            }
        }
        for measure in &self.measures {
            let field = format!("measure.{}", measure.name);
            check_column_name(&measure.name).map_err(|p| fail(field.clone(), p))?;
            let [lo, hi] = measure.clamp;
            if !lo.is_finite() || !hi.is_finite() || lo > hi {
                return Err(fail(
                    format!("{field}.clamp"),
                    "must be two finite numbers [lo, hi] with lo <= hi",
                ));
            }
            if measure.aggregations.is_empty() {
                return Err(fail(format!("{field}.aggregations"), "cannot be empty"));
            }
            for (i, aggregation) in measure.aggregations.iter().enumerate() {
                if measure
                    .aggregations
                    .iter()
                    .take(i)
                    .any(|a| a == aggregation)
                {
                    return Err(fail(
                        format!("{field}.aggregations"),
                        "lists an aggregation twice",
                    ));
                }
            }
        }
        let DominanceSpec { n, percent } = self.dominance;
        if !(1..=MAX_DOMINANCE_N).contains(&n) {
            return Err(fail(
                "dominance.n".into(),
                "must be between 1 and 100 (the number of largest contributors added up)",
            ));
        }
        if !(percent > 0.0 && percent < 100.0) {
            return Err(fail(
                "dominance.percent".into(),
                "must be a share in (0, 100): the rule suppresses a group whose n largest \
                 contributors hold more than this percentage of its total",
            ));
        }
        let mut seen = HashSet::new();
        let inputs = self
            .dimensions
            .iter()
            .map(|d| &d.name)
            .chain(self.measures.iter().map(|m| &m.name));
        for name in inputs {
            if !seen.insert(name.as_str()) {
                return Err(fail(format!("column {name}"), "two columns have this name"));
            }
        }
        let mut seen = HashSet::new();
        for name in self.output_columns() {
            if !seen.insert(name.clone()) {
                return Err(fail(
                    format!("output column {name}"),
                    "two output columns would have this name",
                ));
            }
        }
        match &self.privacy {
            Some(_) => super::privacy::PrivacyPlan::new(self).map(|_| ()),
            None => match self.measures.iter().find(|m| m.resolution.is_some()) {
                Some(m) => Err(fail(
                    format!("measure.{}.resolution", m.name),
                    "applies only to releases with privacy",
                )),
                None => Ok(()),
            },
        }
    }

    /// The released table's columns, in order: the dimensions, `entities`, then for each measure
    /// in order and each of its aggregations in order, `<measure>_<aggregation>`.
    pub fn output_columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = self.dimensions.iter().map(|d| d.name.clone()).collect();
        columns.push(ENTITIES_COLUMN.to_owned());
        for measure in &self.measures {
            for aggregation in &measure.aggregations {
                columns.push(format!("{}_{}", measure.name, aggregation.as_str()));
            }
        }
        columns
    }

    /// The contribution columns a chunk must carry, in order: `entity`, dimensions, measures.
    pub fn input_columns(&self) -> Vec<String> {
        std::iter::once(ENTITY_COLUMN.to_owned())
            .chain(self.dimensions.iter().map(|d| d.name.clone()))
            .chain(self.measures.iter().map(|m| m.name.clone()))
            .collect()
    }
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_column_name(name: &str) -> Result<(), &'static str> {
    if !is_valid_name(name) {
        return Err("the name must match [a-z0-9_]+ (at most 64 characters)");
    }
    // `entity` is the contribution key and `entities` the released count: a column of either name
    // would make the output ambiguous.
    if name == ENTITY_COLUMN || name == ENTITIES_COLUMN {
        return Err("the names `entity` and `entities` are reserved");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The contract used across the guard's tests: one dimension with a domain, two measures.
    ///
    /// Its dominance rule is (1, 99 %), laxer than the default: with k = 2 and the default
    /// n = 2, every two-entity group would be dominated (its 2 largest contributors hold 100 %),
    /// and the tests of the other rules use such groups. The threshold's own tests set
    /// [`DEFAULT_DOMINANCE`].
    pub(crate) fn sample() -> ReleaseContract {
        ReleaseContract {
            name: "district_stats".into(),
            k: 2,
            max_rows_per_entity: 1,
            max_groups: 100,
            dimensions: vec![DimensionSpec {
                name: "district".into(),
                from: vec!["enterprise_registry.district".into()],
                values: None,
            }],
            measures: vec![
                MeasureSpec {
                    name: "capital".into(),
                    from: vec![],
                    clamp: [0.0, 100.0],
                    aggregations: vec![Aggregation::Count, Aggregation::Sum, Aggregation::Mean],
                    resolution: None,
                },
                MeasureSpec {
                    name: "staff".into(),
                    from: vec![],
                    clamp: [0.0, 10.0],
                    aggregations: vec![Aggregation::Sum],
                    resolution: None,
                },
            ],
            privacy: None,
            dominance: DominanceSpec {
                n: 1,
                percent: 99.0,
            },
        }
    }

    #[test]
    fn sample_is_valid_and_names_outputs_in_order() {
        let contract = sample();
        assert_eq!(contract.validate(), Ok(()));
        assert_eq!(
            contract.output_columns(),
            [
                "district",
                "entities",
                "capital_count",
                "capital_sum",
                "capital_mean",
                "staff_sum"
            ]
        );
        assert_eq!(
            contract.input_columns(),
            ["entity", "district", "capital", "staff"]
        );
    }

    #[test]
    fn deserializes_the_documented_toml_shape() {
        let json = serde_json::json!({
            "name": "district_stats", "k": 5, "max_rows_per_entity": 1,
            "dimension": [{"name": "district", "from": ["enterprise_registry.district"],
                           "values": ["上城区", "西湖区"]}],
            "measure": [{"name": "capital", "clamp": [0.0, 100000.0],
                         "aggregations": ["count", "mean"]}]
        });
        let contract: ReleaseContract = serde_json::from_value(json).expect("valid contract");
        assert_eq!(contract.max_groups, 10_000);
        assert_eq!(contract.dominance, DEFAULT_DOMINANCE);
        assert_eq!(
            contract.measures[0].aggregations,
            [Aggregation::Count, Aggregation::Mean]
        );
        assert_eq!(contract.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = serde_json::json!({
            "name": "x", "k": 5, "max_rows_per_entity": 1, "max_row_per_entity": 9,
            "measure": [{"name": "m", "clamp": [0.0, 1.0], "aggregations": ["sum"]}]
        });
        assert!(serde_json::from_value::<ReleaseContract>(json).is_err());
    }

    type Mutation = fn(&mut ReleaseContract);

    #[test]
    fn validation_names_release_and_field() {
        let cases: Vec<(Mutation, &str)> = vec![
            (|c| c.name = "Bad-Name".into(), "name"),
            (|c| c.k = 1, "k"),
            (|c| c.max_rows_per_entity = 0, "max_rows_per_entity"),
            (|c| c.max_groups = 0, "max_groups"),
            (|c| c.measures.clear(), "measure"),
            (
                |c| c.measures[0].clamp = [1.0, 0.0],
                "measure.capital.clamp",
            ),
            (
                |c| c.measures[0].clamp = [0.0, f64::INFINITY],
                "measure.capital.clamp",
            ),
            (
                |c| c.measures[0].clamp = [f64::NAN, 1.0],
                "measure.capital.clamp",
            ),
            (
                |c| c.measures[0].aggregations.clear(),
                "measure.capital.aggregations",
            ),
            (
                |c| c.measures[0].aggregations = vec![Aggregation::Sum, Aggregation::Sum],
                "measure.capital.aggregations",
            ),
            (
                |c| c.dimensions[0].name = "entities".into(),
                "dimension.entities",
            ),
            (|c| c.measures[1].name = "entity".into(), "measure.entity"),
            (
                |c| c.measures[1].name = "district".into(),
                "column district",
            ),
            (
                |c| c.dimensions[0].name = "capital_sum".into(),
                "output column capital_sum",
            ),
            (
                |c| c.dimensions[0].values = Some(vec![]),
                "dimension.district.values",
            ),
            (|c| c.dominance.n = 0, "dominance.n"),
            (|c| c.dominance.n = 101, "dominance.n"),
            (|c| c.dominance.percent = 100.0, "dominance.percent"),
            (|c| c.dominance.percent = 0.0, "dominance.percent"),
            (|c| c.dominance.percent = f64::NAN, "dominance.percent"),
        ];
        for (mutate, field) in cases {
            let mut contract = sample();
            mutate(&mut contract);
            let err = contract.validate().expect_err(field);
            assert_eq!(err.field, field);
            assert!(err.to_string().contains(&contract.name), "{err}");
        }
    }
}
