//! The `[[vector]]` contract: one sample-and-aggregate release a module may ask for.
//!
//! ```toml
//! [[vector]]
//! name = "credit_model"
//! partitions = 16                       # m, default 16
//! coords = ["intercept", "log_tax"]     # one name per coordinate, in emit order
//! bounds = [[-4.0, 4.0], [-4.0, 4.0]]   # [lo, hi] per coordinate
//! privacy = { epsilon = 1.0 }           # delta > 0 selects the Gaussian mechanism
//! ```
//!
//! Like `[[release]]`, a contract is reviewed before any job runs and is trusted; unknown fields
//! are refused so a misspelt field never falls back to something laxer.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::mean::VectorMechanism;
use crate::noise::{Mechanism, NoiseError};
use crate::PrivacySpec;

/// Longest vector or coordinate name accepted (names become Arrow values and file names).
const MAX_NAME_LEN: usize = 64;
/// Most coordinates a vector may have.
pub const MAX_COORDS: usize = shuyu_abi::limits::MAX_VECTOR_COORDS;
/// Largest magnitude of a bound: keeps every quantized sum far inside `i64`.
pub const MAX_BOUND: f64 = 1e12;
/// Fewest partitions: with one, the "mean" is one partition's output and sample-and-aggregate
/// gains nothing over a plain noisy release.
pub const MIN_PARTITIONS: u32 = 2;
/// Most partitions a vector release may ask for: each is a run of the module and a copy of its
/// share of the granted rows.
pub const MAX_PARTITIONS: u32 = 1024;

/// The refusal when a granted table cannot be partitioned by entity (the scenario check, the
/// job and the engine's split all say it the same way).
pub fn entity_column_missing(dataset: &str, entity_column: &str) -> String {
    format!(
        "release_vector needs every granted table to carry its entity column; {dataset} does not grant {entity_column}"
    )
}

fn default_partitions() -> u32 {
    16
}

/// One `[[vector]]` of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VectorContract {
    /// Release name, `[a-z0-9_]+`; the module names it at `release_vector`. Shares one namespace
    /// with the `[[release]]` names of the scenario.
    pub name: String,
    /// m: the number of disjoint entity partitions the module runs on. Default 16.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Coordinate names, in the order the module emits them.
    pub coords: Vec<String>,
    /// `[lo, hi]` for each coordinate: every partition's output is clamped into it.
    pub bounds: Vec<[f64; 2]>,
    /// The differential-privacy parameters of the release, as for `[[release]]`: without
    /// `delta`, the discrete Laplace mechanism (pure ε-DP); with it, the discrete Gaussian
    /// ((ε, δ)-DP).
    pub privacy: PrivacySpec,
}

/// Why a vector contract cannot be enforced. Names the field, never data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("vector '{vector}': {field}: {problem}")]
pub struct VectorContractError {
    /// The vector's name as written.
    pub vector: String,
    /// The field at fault, e.g. `bounds[2]`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl VectorContract {
    /// The vector's dimension d.
    pub fn dimension(&self) -> usize {
        self.coords.len()
    }

    /// The calibrated noise for the vector of sums (see `mean.rs`): the contract's ε (and δ)
    /// at the L1 (Laplace) or L2 (Gaussian) sensitivity of its d coordinates, in steps.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] when ε or δ is out of the mechanism's range or the noise
    /// would be too large to sample exactly.
    pub fn mechanism(&self) -> Result<Mechanism, NoiseError> {
        let kind = VectorMechanism::of(self);
        let sensitivity = kind.sensitivity_steps(self.dimension());
        match (kind, self.privacy.delta) {
            (VectorMechanism::DiscreteGaussian, Some(delta)) => {
                Mechanism::gaussian(self.privacy.epsilon, delta, sensitivity)
            }
            _ => Mechanism::laplace(self.privacy.epsilon, sensitivity),
        }
    }

    /// The data-independent vector a failed partition contributes: the midpoint of the bounds.
    pub fn default_vector(&self) -> Vec<f64> {
        self.bounds
            .iter()
            .map(|[lo, hi]| lo / 2.0 + hi / 2.0)
            .collect()
    }

    /// Checks that the guard can enforce the contract, naming the first field that does not fit.
    pub fn validate(&self) -> Result<(), VectorContractError> {
        let fail = |field: &str, problem: String| VectorContractError {
            vector: self.name.clone(),
            field: field.to_owned(),
            problem,
        };
        if !is_name(&self.name) {
            return Err(fail(
                "name",
                format!("must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '_'"),
            ));
        }
        if !(MIN_PARTITIONS..=MAX_PARTITIONS).contains(&self.partitions) {
            return Err(fail(
                "partitions",
                format!(
                    "must be between {MIN_PARTITIONS} and {MAX_PARTITIONS}, not {}",
                    self.partitions
                ),
            ));
        }
        if self.coords.is_empty() || self.coords.len() > MAX_COORDS {
            return Err(fail(
                "coords",
                format!("must name 1 to {MAX_COORDS} coordinates"),
            ));
        }
        let mut seen = HashSet::new();
        for (i, coord) in self.coords.iter().enumerate() {
            if !is_name(coord) {
                return Err(fail(
                    &format!("coords[{i}]"),
                    format!("must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '_'"),
                ));
            }
            if !seen.insert(coord.as_str()) {
                return Err(fail(
                    &format!("coords[{i}]"),
                    format!("'{coord}' is listed twice"),
                ));
            }
        }
        if self.bounds.len() != self.coords.len() {
            return Err(fail(
                "bounds",
                format!(
                    "has {} [lo, hi] pairs but coords names {} coordinates",
                    self.bounds.len(),
                    self.coords.len()
                ),
            ));
        }
        for (i, [lo, hi]) in self.bounds.iter().enumerate() {
            let finite = lo.is_finite() && hi.is_finite();
            if !finite || lo.abs() > MAX_BOUND || hi.abs() > MAX_BOUND {
                return Err(fail(
                    &format!("bounds[{i}]"),
                    format!("must be finite and within ±{MAX_BOUND:e}"),
                ));
            }
            if lo >= hi {
                return Err(fail(
                    &format!("bounds[{i}]"),
                    "lo must be below hi".to_owned(),
                ));
            }
        }
        self.mechanism().map_err(|e| {
            let field = match &e {
                NoiseError::InvalidParameter { parameter, .. } if *parameter == "delta" => {
                    "privacy.delta"
                }
                _ => "privacy.epsilon",
            };
            fail(field, e.to_string())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> VectorContract {
        toml::from_str(
            r#"
            name = "credit_model"
            coords = ["a", "b"]
            bounds = [[-4.0, 4.0], [0.0, 1.0]]
            privacy = { epsilon = 1.0 }
            "#,
        )
        .expect("parses")
    }

    #[test]
    fn defaults_and_midpoint() {
        let c = contract();
        assert_eq!(c.partitions, 16);
        assert_eq!(c.privacy.delta, None);
        assert!(c.validate().is_ok());
        assert_eq!(c.default_vector(), vec![0.0, 0.5]);
    }

    #[test]
    fn errors_name_the_field() {
        let check = |edit: &dyn Fn(&mut VectorContract), field: &str| {
            let mut c = contract();
            edit(&mut c);
            let e = c.validate().expect_err("invalid");
            assert_eq!(e.field, field, "{e}");
        };
        check(&|c| c.name = "Bad Name".into(), "name");
        check(&|c| c.partitions = 1, "partitions");
        check(&|c| c.partitions = 5000, "partitions");
        check(&|c| c.coords.clear(), "coords");
        check(&|c| c.coords[1] = "a".into(), "coords[1]");
        check(&|c| c.bounds.pop().map(|_| ()).unwrap_or(()), "bounds");
        check(&|c| c.bounds[1] = [1.0, 1.0], "bounds[1]");
        check(&|c| c.bounds[0] = [f64::NEG_INFINITY, 1.0], "bounds[0]");
        check(&|c| c.privacy.epsilon = 0.0, "privacy.epsilon");
        check(&|c| c.privacy.delta = Some(0.5), "privacy.delta");
        check(&|c| c.privacy.epsilon = 1e9, "privacy.epsilon");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"
            name = "v"
            coords = ["a"]
            bounds = [[0.0, 1.0]]
            privacy = { epsilon = 1.0, epsilone = 2.0 }
        "#;
        assert!(toml::from_str::<VectorContract>(text).is_err());
    }
}

/// The accuracy table of docs/privacy.md ("Sample and aggregate"):
/// `cargo test -p shuyu-guard --lib accuracy_table -- --ignored --nocapture`.
#[cfg(test)]
mod accuracy {
    use super::*;

    #[test]
    #[ignore = "prints the documentation's accuracy table"]
    fn accuracy_table() {
        println!("| d | m | bounds | ε | δ | mechanism | noise std-dev per coordinate | 95 % half-width |");
        for (d, m, epsilon, delta) in [
            (1, 16, 1.0, None),
            (4, 16, 1.0, None),
            (4, 32, 1.0, None),
            (4, 64, 1.0, None),
            (4, 16, 4.0, None),
            (4, 16, 1.0, Some(1e-5)),
            (16, 16, 1.0, None),
            (16, 16, 1.0, Some(1e-5)),
        ] {
            let contract = VectorContract {
                name: "v".into(),
                partitions: m,
                coords: (0..d).map(|i| format!("c{i}")).collect(),
                bounds: vec![[-4.0, 4.0]; d],
                privacy: PrivacySpec { epsilon, delta },
            };
            let mechanism = contract.mechanism().expect("valid");
            let step = 8.0 / crate::vector::RESOLUTION_STEPS as f64;
            let scale = step / f64::from(m);
            println!(
                "| {d} | {m} | [-4, 4] | {epsilon} | {} | {} | {:.3} | {:.3} |",
                delta.map_or("0".to_string(), |d| format!("{d:e}")),
                mechanism.describe().name,
                mechanism.std_dev() * scale,
                mechanism.interval95_half_width() * scale,
            );
        }
    }
}
