//! The arithmetic of sample-and-aggregate: clamp, quantize, sum, noise, mean.
//!
//! Each coordinate `c` with bounds `[lo, hi]` is quantized to integer *steps* of
//! `q = (hi − lo) / R` with `R =` [`RESOLUTION_STEPS`]: a partition's value `v` becomes
//! `u = round((clamp(v) − lo) / q) ∈ [0, R]`. The host sums the `u` of the m partitions into an
//! integer `S ∈ [0, m·R]`, adds integer noise `Z` from an exact discrete mechanism, and releases
//! `lo + (S + Z)·q / m`, clamped into `[lo, hi]` (post-processing, which never moves the value
//! away from the true mean, since that lies in the bounds).
//!
//! **Sensitivity.** Adding or removing one entity changes the rows of exactly one partition, so it
//! can change that partition's output arbitrarily, and after clamping each `u` by at most `R`: the
//! sum `S` of one coordinate changes by at most `R` steps. Over `d` coordinates that is an L1
//! sensitivity of `d·R` (the Laplace mechanism's) and an L2 sensitivity of `√d·R` (the Gaussian's,
//! rounded up to whole steps). In value units the mean's sensitivity per coordinate is
//! `(hi − lo)/m`, as the textbook states; quantization only makes it exact in integers.
//!
//! Resolution: `R = 65,536` steps per range, so quantization moves a partition's value by at most
//! `(hi − lo)/131,072`, far below the noise for any useful ε.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::Serialize;

use super::VectorContract;

/// Steps each coordinate's range `[lo, hi]` is quantized into (R).
pub const RESOLUTION_STEPS: i64 = 1 << 16;

/// Output columns of a vector product, in order.
pub const OUTPUT_COLUMNS: [&str; 4] = ["coordinate", "value", "noise_std_dev", "ci95_half_width"];

/// Which discrete mechanism a contract's privacy parameters select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorMechanism {
    /// δ = 0: discrete Laplace on every coordinate, calibrated to the L1 sensitivity.
    DiscreteLaplace,
    /// δ > 0: discrete Gaussian on every coordinate, calibrated to the L2 sensitivity.
    DiscreteGaussian,
}

impl VectorMechanism {
    /// The mechanism `contract` asks for.
    pub fn of(contract: &VectorContract) -> Self {
        if contract.privacy.delta.is_some_and(|d| d > 0.0) {
            Self::DiscreteGaussian
        } else {
            Self::DiscreteLaplace
        }
    }

    /// The sensitivity of the vector of sums, in steps: L1 (`d·R`) for Laplace, L2 (`⌈√d·R⌉`)
    /// for Gaussian.
    pub fn sensitivity_steps(self, dimension: usize) -> u64 {
        let d = dimension.max(1) as u64;
        let r = RESOLUTION_STEPS as u64;
        match self {
            Self::DiscreteLaplace => d.saturating_mul(r),
            Self::DiscreteGaussian => ceil_sqrt(d.saturating_mul(r * r)),
        }
    }
}

/// The smallest `s` with `s² ≥ n`.
fn ceil_sqrt(n: u64) -> u64 {
    let mut s = (n as f64).sqrt() as u64;
    while s.saturating_mul(s) > n {
        s -= 1;
    }
    while s.saturating_mul(s) < n {
        s += 1;
    }
    s
}

/// The vectors of the m partition runs, summed in steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VectorSums {
    /// Per coordinate, the sum of the m quantized, clamped values.
    #[serde(skip)]
    pub sums: Vec<i64>,
    /// m.
    pub partitions: u32,
    /// Partitions that contributed the default vector (failed, or emitted nothing usable).
    pub partitions_defaulted: u32,
    /// Coordinates moved into their bounds, over all partitions.
    pub values_clamped: u64,
}

/// One coordinate's value in steps, clamped: `(steps, moved)`. The caller has checked `v` is
/// finite and `lo < hi`.
fn quantize(v: f64, [lo, hi]: [f64; 2]) -> (i64, bool) {
    let moved = v < lo || v > hi;
    let clamped = v.clamp(lo, hi);
    let steps = ((clamped - lo) / (hi - lo) * RESOLUTION_STEPS as f64).round() as i64;
    (steps.clamp(0, RESOLUTION_STEPS), moved)
}

/// Sums the partitions' outputs. `outputs[i]` is partition i's vector, or `None` when the run
/// failed; a vector of the wrong length or with a non-finite value counts as `None`. Missing
/// partitions (fewer outputs than m) contribute the default too, so the sum always has m terms.
pub fn sum(contract: &VectorContract, outputs: &[Option<Vec<f64>>]) -> VectorSums {
    let d = contract.dimension();
    let m = contract.partitions;
    // The midpoint is R/2 steps exactly (R is even): the default vector of the contract.
    let midpoint = RESOLUTION_STEPS / 2;
    let mut sums = vec![0i64; d];
    let mut defaulted = 0u32;
    let mut clamped = 0u64;
    for i in 0..m as usize {
        let usable = outputs
            .get(i)
            .and_then(Option::as_ref)
            .filter(|v| v.len() == d && v.iter().all(|x| x.is_finite()));
        match usable {
            Some(vector) => {
                for ((sum, &v), &bounds) in sums.iter_mut().zip(vector).zip(&contract.bounds) {
                    let (steps, moved) = quantize(v, bounds);
                    *sum += steps;
                    clamped += u64::from(moved);
                }
            }
            None => {
                defaulted += 1;
                for sum in &mut sums {
                    *sum += midpoint;
                }
            }
        }
    }
    VectorSums {
        sums,
        partitions: m,
        partitions_defaulted: defaulted,
        values_clamped: clamped,
    }
}

/// Integer noise for the sums, calibrated by the caller to the sensitivity in steps.
pub trait SumNoise {
    /// `sum` plus one independent noise draw.
    ///
    /// # Errors
    /// A message when the random source fails; nothing may be released then.
    fn add(&mut self, sum: i64) -> Result<i64, String>;
    /// The noise's standard deviation, in steps.
    fn std_dev_steps(&self) -> f64;
    /// Half the width of the interval that holds the noise with 95 % probability, in steps.
    fn half_width95_steps(&self) -> f64;
}

/// No noise: for tests of the arithmetic, and the exact mean.
#[derive(Debug, Default)]
pub struct NoNoise;

impl SumNoise for NoNoise {
    fn add(&mut self, sum: i64) -> Result<i64, String> {
        Ok(sum)
    }
    fn std_dev_steps(&self) -> f64 {
        0.0
    }
    fn half_width95_steps(&self) -> f64 {
        0.0
    }
}

/// One released coordinate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoisyCoordinate {
    /// The coordinate's name from the contract.
    pub coordinate: String,
    /// The noisy mean, clamped into the bounds.
    pub value: f64,
    /// The noise's standard deviation, in the coordinate's units.
    pub noise_std_dev: f64,
    /// Half-width of the 95 % interval of the noise, in the coordinate's units.
    pub ci95_half_width: f64,
}

/// Adds noise to every sum and turns it into the released mean.
///
/// # Errors
/// The noise source's message; then nothing is released.
pub fn noisy_mean(
    contract: &VectorContract,
    sums: &VectorSums,
    noise: &mut dyn SumNoise,
) -> Result<Vec<NoisyCoordinate>, String> {
    let m = f64::from(sums.partitions.max(1));
    let mut out = Vec::with_capacity(sums.sums.len());
    for ((name, &[lo, hi]), &sum) in contract.coords.iter().zip(&contract.bounds).zip(&sums.sums) {
        let step = (hi - lo) / RESOLUTION_STEPS as f64;
        let noisy = noise.add(sum)?;
        let value = (lo + noisy as f64 / m * step).clamp(lo, hi);
        out.push(NoisyCoordinate {
            coordinate: name.clone(),
            value,
            noise_std_dev: noise.std_dev_steps() * step / m,
            ci95_half_width: noise.half_width95_steps() * step / m,
        });
    }
    Ok(out)
}

/// The product table: one row per coordinate ([`OUTPUT_COLUMNS`]).
///
/// # Errors
/// Arrow's message if the batch cannot be built (a bug).
pub fn table(coordinates: &[NoisyCoordinate]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new(OUTPUT_COLUMNS[0], DataType::Utf8, false),
        Field::new(OUTPUT_COLUMNS[1], DataType::Float64, false),
        Field::new(OUTPUT_COLUMNS[2], DataType::Float64, false),
        Field::new(OUTPUT_COLUMNS[3], DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            coordinates.iter().map(|c| c.coordinate.as_str()),
        )),
        Arc::new(Float64Array::from_iter_values(
            coordinates.iter().map(|c| c.value),
        )),
        Arc::new(Float64Array::from_iter_values(
            coordinates.iter().map(|c| c.noise_std_dev),
        )),
        Arc::new(Float64Array::from_iter_values(
            coordinates.iter().map(|c| c.ci95_half_width),
        )),
    ];
    RecordBatch::try_new(schema, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivacySpec;

    fn contract(m: u32, bounds: Vec<[f64; 2]>) -> VectorContract {
        VectorContract {
            name: "v".into(),
            partitions: m,
            coords: (0..bounds.len()).map(|i| format!("c{i}")).collect(),
            bounds,
            privacy: PrivacySpec {
                epsilon: 1.0,
                delta: None,
            },
        }
    }

    #[test]
    fn clamps_and_averages_exactly() {
        let c = contract(4, vec![[-4.0, 4.0], [0.0, 1.0]]);
        let outputs = vec![
            Some(vec![1.0, 0.25]),
            Some(vec![3.0, 0.75]),
            Some(vec![100.0, -5.0]), // clamped to (4, 0)
            Some(vec![-2.0, 0.5]),
        ];
        let sums = sum(&c, &outputs);
        assert_eq!(sums.partitions_defaulted, 0);
        assert_eq!(sums.values_clamped, 2);
        let released = noisy_mean(&c, &sums, &mut NoNoise).expect("no noise");
        // (1 + 3 + 4 − 2) / 4 = 1.5 and (0.25 + 0.75 + 0 + 0.5) / 4 = 0.375.
        assert!((released[0].value - 1.5).abs() < 1e-4, "{released:?}");
        assert!((released[1].value - 0.375).abs() < 1e-4, "{released:?}");
        assert_eq!(released[0].noise_std_dev, 0.0);
    }

    #[test]
    fn failed_wrong_length_and_non_finite_partitions_contribute_the_midpoint() {
        let c = contract(4, vec![[-4.0, 4.0], [10.0, 20.0]]);
        let outputs = vec![
            None,
            Some(vec![1.0]),            // wrong length
            Some(vec![f64::NAN, 12.0]), // non-finite
        ]; // and the fourth is missing altogether
        let sums = sum(&c, &outputs);
        assert_eq!(sums.partitions_defaulted, 4);
        let released = noisy_mean(&c, &sums, &mut NoNoise).expect("no noise");
        assert_eq!(released[0].value, 0.0);
        assert_eq!(released[1].value, 15.0);
        assert_eq!(c.default_vector(), vec![0.0, 15.0]);
    }

    #[test]
    fn one_partition_moves_each_sum_by_at_most_r_steps() {
        let c = contract(16, vec![[-4.0, 4.0], [0.0, 1.0]]);
        let base: Vec<Option<Vec<f64>>> = (0..16)
            .map(|i| Some(vec![f64::from(i) / 8.0, 0.5]))
            .collect();
        for replacement in [
            None,
            Some(vec![1e9, -1e9]),
            Some(vec![-4.0, 1.0]),
            Some(vec![f64::INFINITY, 0.0]),
        ] {
            let mut changed = base.clone();
            changed[7] = replacement;
            let (a, b) = (sum(&c, &base), sum(&c, &changed));
            for (x, y) in a.sums.iter().zip(&b.sums) {
                assert!((x - y).abs() <= RESOLUTION_STEPS, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn sensitivity_in_steps_and_in_value_units() {
        assert_eq!(
            VectorMechanism::DiscreteLaplace.sensitivity_steps(4),
            4 * 65_536
        );
        assert_eq!(
            VectorMechanism::DiscreteGaussian.sensitivity_steps(4),
            2 * 65_536
        );
        assert_eq!(
            VectorMechanism::DiscreteGaussian.sensitivity_steps(2),
            92_682
        ); // ⌈√2·R⌉
           // (hi − lo)/m per coordinate: R steps of (hi − lo)/R, divided by m.
        let (lo, hi, m) = (-4.0f64, 4.0f64, 16.0f64);
        let step = (hi - lo) / RESOLUTION_STEPS as f64;
        assert!((RESOLUTION_STEPS as f64 * step / m - (hi - lo) / m).abs() < 1e-12);
        assert_eq!(ceil_sqrt(0), 0);
        assert_eq!(ceil_sqrt(16), 4);
        assert_eq!(ceil_sqrt(17), 5);
    }

    #[test]
    fn noise_scales_with_the_step_and_m() {
        struct Fixed;
        impl SumNoise for Fixed {
            fn add(&mut self, sum: i64) -> Result<i64, String> {
                Ok(sum + 65_536)
            }
            fn std_dev_steps(&self) -> f64 {
                65_536.0
            }
            fn half_width95_steps(&self) -> f64 {
                131_072.0
            }
        }
        let c = contract(16, vec![[-4.0, 4.0]]);
        let sums = sum(&c, &vec![Some(vec![0.0]); 16]);
        let released = noisy_mean(&c, &sums, &mut Fixed).expect("fixed");
        // One unit of sensitivity (R steps) of noise moves the mean by (hi − lo)/m = 0.5.
        assert!((released[0].value - 0.5).abs() < 1e-9);
        assert!((released[0].noise_std_dev - 0.5).abs() < 1e-9);
        assert!((released[0].ci95_half_width - 1.0).abs() < 1e-9);
        let table = table(&released).expect("table");
        assert_eq!(table.num_rows(), 1);
        assert_eq!(table.num_columns(), 4);
    }
}
