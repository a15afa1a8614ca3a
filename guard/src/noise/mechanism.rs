//! The mechanisms the guard calls: a privacy target (ε, or ε and δ) and a sensitivity in, a
//! calibrated exact sampler out.
//!
//! Values are integers in units of a fixed resolution chosen by the caller (counts have
//! resolution 1; the guard quantizes clamped measures), so the sensitivity, the noise, its
//! standard deviation and its interval are all in those units.

use serde::{Deserialize, Serialize};

use super::conversion::{
    delta_upper_bound, exact_sigma, zcdp_sigma2, GaussianConversion, DELTA_MARGIN,
};
use super::{DiscreteGaussian, DiscreteLaplace, NoiseError, RandomSource};

/// Denominator of every discrete Laplace scale: scales are multiples of 2^-20 units, rounded up.
pub const SCALE_DENOMINATOR: u64 = 1 << 20;

/// The largest ε accepted. Beyond it the noise protects nothing worth stating.
pub const MAX_EPSILON: f64 = 100.0;

/// The largest δ accepted: δ is a probability of failure and must stay far below 1/n.
pub const MAX_DELTA: f64 = 1e-3;

/// The largest sensitivity accepted, in units: 2^53, so that it converts to `f64` exactly.
pub const MAX_SENSITIVITY: u64 = 1 << 53;

/// The largest discrete Laplace scale, in units (2^42, about 4.4·10^12): keeps every exact
/// integer step of the sampler, and its output, far inside 64 bits.
pub const MAX_LAPLACE_SCALE: u64 = 1 << 42;

/// The largest discrete Gaussian σ², in units² (2^52, σ up to 2^26 ≈ 6.7·10^7): keeps the
/// sampler's 128-bit acceptance test exact for every draw of probability above e^-300.
pub const MAX_GAUSSIAN_SIGMA2: u64 = 1 << 52;

/// The finest denominator of σ²; coarser (still a power of two) when σ² is large, so that the
/// numerator stays within [`MAX_GAUSSIAN_SIGMA2`]. Rounding up then adds at most 2^-20 units²,
/// or 2^-51 relative, to σ²: negligible extra noise.
const SIGMA2_DENOMINATOR: u64 = 1 << 20;

/// Relative margin added to a computed σ² before rounding up, so that float rounding in the
/// calibration (about 1e-15 relative) can only add noise.
const SIGMA2_MARGIN: f64 = 1e-9;

/// Which distribution a [`Mechanism`] adds, with its exact parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum MechanismKind {
    /// Discrete Laplace: pure ε-DP for L1 sensitivity Δ, scale `t ≥ Δ/ε`.
    Laplace(DiscreteLaplace),
    /// Discrete Gaussian: `Δ²/(2σ²)`-zCDP and (ε, δ)-DP for sensitivity Δ.
    Gaussian {
        /// The calibrated distribution.
        noise: DiscreteGaussian,
        /// How σ was derived from (ε, δ).
        conversion: GaussianConversion,
    },
}

/// A calibrated noise mechanism for one integer-valued query.
///
/// **What it guarantees:** for any query whose value changes by at most `sensitivity` units
/// between neighbouring datasets, `query + sample()` is ε-DP ([`Mechanism::laplace`]) or
/// (ε, δ)-DP and `Δ²/(2σ²)`-zCDP ([`Mechanism::gaussian`]). **What it does not:** enforce the
/// sensitivity (the guard's clamps and per-entity bound L do), account for several releases
/// (the budget ledger composes them), or quantize (the caller rounds values to units first).
#[derive(Debug, Clone, PartialEq)]
pub struct Mechanism {
    kind: MechanismKind,
    epsilon: f64,
    /// 0 for the discrete Laplace.
    delta: f64,
    sensitivity: u64,
}

/// A serializable summary of a mechanism for product manifests and reports. All magnitudes
/// are in units of the query's resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanismInfo {
    /// `discrete_laplace` or `discrete_gaussian`.
    pub name: String,
    /// The ε guaranteed.
    pub epsilon: f64,
    /// The δ guaranteed; 0 for the discrete Laplace (pure ε-DP).
    pub delta: f64,
    /// The sensitivity the calibration assumed (L1 for Laplace; for one integer query L1 and L2
    /// coincide).
    pub sensitivity: u64,
    /// Discrete Laplace scale `t` (`P(x) ∝ exp(-|x|/t)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Discrete Gaussian σ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// Discrete Gaussian zCDP parameter `ρ = Δ²/(2σ²)`, for ledgers that compose in zCDP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    /// Discrete Gaussian: the (ε, δ) conversion used (see [`GaussianConversion::name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<String>,
    /// The exact rational parameter sampled with, e.g. `scale = 5/1` or `sigma2 = 9/2`.
    pub exact_parameter: String,
    /// Standard deviation of the noise.
    pub std_dev: f64,
    /// Half-width of the central interval holding the noise with probability at least 0.95.
    pub interval95: f64,
}

impl Mechanism {
    /// Pure ε-DP for a query whose L1 sensitivity is `sensitivity` units: the discrete Laplace
    /// with scale `t = sensitivity/ε`, rounded **up** to a multiple of 2^-20 units (more noise,
    /// never less). The rounding is exact: ε is a binary fraction, so `⌈Δ·2^20/ε⌉` is computed
    /// in integers.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] naming `epsilon` (not in `(0, 100]`, or a scale above
    /// [`MAX_LAPLACE_SCALE`]) or `sensitivity` (not in `[1, 2^53]`).
    pub fn laplace(epsilon: f64, sensitivity: u64) -> Result<Self, NoiseError> {
        check_epsilon(epsilon)?;
        check_sensitivity(sensitivity)?;
        let limit = u128::from(MAX_LAPLACE_SCALE) * u128::from(SCALE_DENOMINATOR);
        let num =
            ceil_times_power_of_two_over(sensitivity, SCALE_DENOMINATOR.trailing_zeros(), epsilon)
                .filter(|&num| num <= limit)
                .ok_or_else(|| {
                    NoiseError::invalid(
                        "epsilon",
                        format!(
                            "sensitivity {sensitivity} / epsilon {epsilon} is a noise scale above \
                         2^42 units; use a coarser resolution or a larger epsilon"
                        ),
                    )
                })?;
        // num ≤ 2^62 by the filter above.
        let num = u64::try_from(num).map_err(|_| NoiseError::Overflow("the Laplace scale"))?;
        Ok(Mechanism {
            kind: MechanismKind::Laplace(DiscreteLaplace::new(num, SCALE_DENOMINATOR)?),
            epsilon,
            delta: 0.0,
            sensitivity,
        })
    }

    /// (ε, δ)-DP for a query whose sensitivity is `sensitivity` units, with the discrete
    /// Gaussian `N_Z(0, σ²)`, which is also `ρ = Δ²/(2σ²)`-zCDP (CKS20 Theorem 4).
    ///
    /// σ is the smallest for which the exact privacy loss of the discrete Gaussian (CKS20
    /// Theorem 7) gives δ, computed with a rigorous floating-point upper bound and a 10⁻⁶
    /// relative margin on δ; if that cannot be certified (or δ < 10⁻²⁰⁰, where doubles
    /// underflow), the closed-form zCDP conversion `ε = ρ + 2√(ρ·ln(1/δ))` is used instead
    /// ([`MechanismInfo::conversion`] says which).
    /// σ² is then rounded up to a multiple of 2^-20 units² (coarser for very large σ²).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] naming `epsilon` (not in `(0, 100]`, or σ² above
    /// [`MAX_GAUSSIAN_SIGMA2`]), `delta` (not in `(0, 10⁻³]`) or `sensitivity` (not in
    /// `[1, 2^53]`).
    pub fn gaussian(epsilon: f64, delta: f64, sensitivity: u64) -> Result<Self, NoiseError> {
        check_epsilon(epsilon)?;
        check_delta(delta)?;
        check_sensitivity(sensitivity)?;
        let sens = sensitivity as f64;
        let zcdp = zcdp_sigma2(epsilon, delta, sens);
        let exact = exact_sigma(epsilon, delta, sens, zcdp.sqrt())
            .map(|sigma| round_up_sigma2(sigma * sigma, epsilon, sensitivity))
            .transpose()?
            // Certify the rational σ² actually sampled from, not only the float the search found.
            .filter(|&(num, den)| {
                let sigma2 = num as f64 / den as f64;
                delta_upper_bound(sigma2, epsilon, sens) <= delta / (1.0 + DELTA_MARGIN)
            });
        let ((num, den), conversion) = match exact {
            Some(rational) => (rational, GaussianConversion::ExactPrivacyLoss),
            None => (
                round_up_sigma2(zcdp, epsilon, sensitivity)?,
                GaussianConversion::Zcdp,
            ),
        };
        Ok(Mechanism {
            kind: MechanismKind::Gaussian {
                noise: DiscreteGaussian::new(num, den)?,
                conversion,
            },
            epsilon,
            delta,
            sensitivity,
        })
    }

    /// The distribution and its exact parameters.
    pub fn kind(&self) -> &MechanismKind {
        &self.kind
    }

    /// The ε guaranteed.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The δ guaranteed (0 for the discrete Laplace).
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// The sensitivity assumed, in units.
    pub fn sensitivity(&self) -> u64 {
        self.sensitivity
    }

    /// Draws one noise value, in units.
    ///
    /// # Errors
    /// [`NoiseError::RandomSource`]; [`NoiseError::Overflow`] in tails of probability below
    /// e^-300. Either way nothing should be released.
    pub fn sample(&self, rng: &mut dyn RandomSource) -> Result<i64, NoiseError> {
        match &self.kind {
            MechanismKind::Laplace(noise) => noise.sample(rng),
            MechanismKind::Gaussian { noise, .. } => noise.sample(rng),
        }
    }

    /// `value + noise`, with checked arithmetic.
    ///
    /// # Errors
    /// As [`Mechanism::sample`], and [`NoiseError::Overflow`] if the sum leaves `i64`.
    pub fn add_noise(&self, value: i64, rng: &mut dyn RandomSource) -> Result<i64, NoiseError> {
        value
            .checked_add(self.sample(rng)?)
            .ok_or(NoiseError::Overflow("a noisy value"))
    }

    /// Standard deviation of the noise, in units (exact from the distribution, not σ).
    pub fn std_dev(&self) -> f64 {
        match &self.kind {
            MechanismKind::Laplace(noise) => noise.variance().sqrt(),
            MechanismKind::Gaussian { noise, .. } => noise.variance().sqrt(),
        }
    }

    /// The smallest `w` with `P(|noise| ≤ w) ≥ 0.95`, from the exact pmf, in units.
    pub fn interval95_half_width(&self) -> f64 {
        let w = match &self.kind {
            MechanismKind::Laplace(noise) => noise.half_width_at(0.95),
            MechanismKind::Gaussian { noise, .. } => noise.half_width_at(0.95),
        };
        w as f64
    }

    /// The summary written into product manifests.
    pub fn describe(&self) -> MechanismInfo {
        let mut info = MechanismInfo {
            name: String::new(),
            epsilon: self.epsilon,
            delta: self.delta,
            sensitivity: self.sensitivity,
            scale: None,
            sigma: None,
            rho: None,
            conversion: None,
            exact_parameter: String::new(),
            std_dev: self.std_dev(),
            interval95: self.interval95_half_width(),
        };
        match &self.kind {
            MechanismKind::Laplace(noise) => {
                info.name = "discrete_laplace".into();
                info.scale = Some(noise.scale());
                info.exact_parameter =
                    format!("scale = {}/{}", noise.scale_num(), noise.scale_den());
            }
            MechanismKind::Gaussian { noise, conversion } => {
                let sens = self.sensitivity as f64;
                info.name = "discrete_gaussian".into();
                info.sigma = Some(noise.sigma2().sqrt());
                info.rho = Some(sens * sens / (2.0 * noise.sigma2()));
                info.conversion = Some(conversion.name().into());
                info.exact_parameter =
                    format!("sigma2 = {}/{}", noise.sigma2_num(), noise.sigma2_den());
            }
        }
        info
    }
}

fn check_epsilon(epsilon: f64) -> Result<(), NoiseError> {
    if epsilon > 0.0 && epsilon <= MAX_EPSILON {
        Ok(())
    } else {
        Err(NoiseError::invalid(
            "epsilon",
            format!("must lie in (0, {MAX_EPSILON}], got {epsilon}"),
        ))
    }
}

fn check_delta(delta: f64) -> Result<(), NoiseError> {
    if delta > 0.0 && delta <= MAX_DELTA {
        Ok(())
    } else {
        Err(NoiseError::invalid(
            "delta",
            format!("must lie in (0, {MAX_DELTA}], got {delta}"),
        ))
    }
}

fn check_sensitivity(sensitivity: u64) -> Result<(), NoiseError> {
    if (1..=MAX_SENSITIVITY).contains(&sensitivity) {
        Ok(())
    } else {
        Err(NoiseError::invalid(
            "sensitivity",
            format!("must lie in [1, 2^53] units, got {sensitivity}"),
        ))
    }
}

/// `⌈value · 2^shift / x⌉` exactly, for finite `x > 0`; `None` if it does not fit 128 bits.
///
/// `x` is a binary fraction `m·2^e` with odd `m < 2^53`, so the quotient is the integer
/// `value·2^(shift - e)` divided by `m`, rounded up: no float rounding can shrink the result.
fn ceil_times_power_of_two_over(value: u64, shift: u32, x: f64) -> Option<u128> {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return None;
    }
    let zeros = m.trailing_zeros();
    m >>= zeros;
    e += zeros as i32;
    let k = shift as i32 - e;
    let value = u128::from(value);
    if k >= 0 {
        // value·2^k must fit: its top bit stays below bit 128.
        if value != 0 && value.leading_zeros() < k as u32 {
            return None;
        }
        Some((value << k).div_ceil(u128::from(m)))
    } else {
        // x > value·2^shift·2^64 makes the quotient a positive fraction below 1: ceiling 1.
        let down = (-k) as u32;
        if down >= 64 {
            return Some(u128::from(value != 0));
        }
        Some(value.div_ceil(u128::from(m) << down))
    }
}

/// σ² (with its margin) rounded up to `num/den`, `den` a power of two ≤ 2^20, `num ≤ 2^52`.
fn round_up_sigma2(sigma2: f64, epsilon: f64, sensitivity: u64) -> Result<(u64, u64), NoiseError> {
    let sigma2 = sigma2 * (1.0 + SIGMA2_MARGIN);
    let limit = MAX_GAUSSIAN_SIGMA2 as f64;
    if !(sigma2.is_finite() && sigma2 > 0.0 && sigma2 <= limit) {
        return Err(NoiseError::invalid(
            "epsilon",
            format!(
                "sensitivity {sensitivity} at epsilon {epsilon} needs a Gaussian sigma of {:.3e} \
                 units, above the supported 2^26; use a coarser resolution or a larger epsilon",
                sigma2.sqrt()
            ),
        ));
    }
    let mut den = SIGMA2_DENOMINATOR;
    while sigma2 * den as f64 > limit && den > 1 {
        den /= 2;
    }
    // Multiplying by a power of two is exact, so the ceiling is never below σ²·den.
    let num = (sigma2 * den as f64).ceil() as u64;
    Ok((num.max(1), den))
}

#[cfg(test)]
mod tests {
    use super::super::rng::testing::TestRng;
    use super::super::test_stats::{self, Pmf};
    use super::super::SecureRng;
    use super::*;

    fn laplace_of(m: &Mechanism) -> &DiscreteLaplace {
        match m.kind() {
            MechanismKind::Laplace(noise) => noise,
            other => panic!("not Laplace: {other:?}"),
        }
    }

    fn gaussian_of(m: &Mechanism) -> (&DiscreteGaussian, GaussianConversion) {
        match m.kind() {
            MechanismKind::Gaussian { noise, conversion } => (noise, *conversion),
            other => panic!("not Gaussian: {other:?}"),
        }
    }

    fn sigma(m: &Mechanism) -> f64 {
        gaussian_of(m).0.sigma2().sqrt()
    }

    #[test]
    fn laplace_scale_is_sensitivity_over_epsilon_rounded_up() {
        let m = Mechanism::laplace(1.0, 5).unwrap();
        assert!(laplace_of(&m).scale() >= 5.0);
        assert_eq!(laplace_of(&m).scale(), 5.0);
        // 0.5 and 0.1 as floats: 0.1f64 is slightly above 1/10, so Δ/ε is slightly below 10Δ
        // and rounds up to exactly 10Δ.
        assert_eq!(
            laplace_of(&Mechanism::laplace(0.5, 3).unwrap()).scale(),
            6.0
        );
        assert_eq!(
            laplace_of(&Mechanism::laplace(0.1, 3).unwrap()).scale(),
            30.0
        );
        // 0.3f64 is slightly below 3/10, so 3/ε is slightly above 10: one step of 2^-20 more.
        let m = Mechanism::laplace(0.3, 3).unwrap();
        let noise = laplace_of(&m);
        assert_eq!(
            (noise.scale_num(), noise.scale_den()),
            (10 * SCALE_DENOMINATOR + 1, SCALE_DENOMINATOR)
        );
        for epsilon in [0.01, 1.0 / 3.0, 0.7, 2.5, 99.9, 100.0] {
            for sensitivity in [1u64, 7, 1000, 1 << 30] {
                let m = Mechanism::laplace(epsilon, sensitivity).unwrap();
                let noise = laplace_of(&m);
                let t = sensitivity as f64 / epsilon;
                let step = 1.0 / SCALE_DENOMINATOR as f64;
                assert!(
                    noise.scale() >= t * (1.0 - 1e-15),
                    "{epsilon} {sensitivity}"
                );
                assert!(
                    noise.scale() <= t * (1.0 + 1e-15) + step,
                    "{epsilon} {sensitivity}"
                );
            }
        }
    }

    #[test]
    fn gaussian_is_monotone_in_epsilon_and_delta() {
        let epsilons = [0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0];
        let sigmas: Vec<f64> = epsilons
            .iter()
            .map(|&e| sigma(&Mechanism::gaussian(e, 1e-6, 4).unwrap()))
            .collect();
        assert!(sigmas.windows(2).all(|w| w[0] > w[1]), "{sigmas:?}");
        let deltas = [1e-15, 1e-12, 1e-9, 1e-6, 1e-4, 1e-3];
        let sigmas: Vec<f64> = deltas
            .iter()
            .map(|&d| sigma(&Mechanism::gaussian(1.0, d, 4).unwrap()))
            .collect();
        assert!(sigmas.windows(2).all(|w| w[0] > w[1]), "{sigmas:?}");
        // Linear in the sensitivity once σ is large: 10× Δ, 10× σ (to the rounding of σ²).
        let one = sigma(&Mechanism::gaussian(0.5, 1e-6, 100).unwrap());
        let ten = sigma(&Mechanism::gaussian(0.5, 1e-6, 1000).unwrap());
        assert!((ten / one / 10.0 - 1.0).abs() < 1e-3, "{one} {ten}");
    }

    #[test]
    fn gaussian_uses_the_exact_conversion_and_certifies_it() {
        for (epsilon, delta, sensitivity) in [(1.0, 1e-6, 1u64), (0.2, 1e-9, 50), (8.0, 1e-3, 3)] {
            let m = Mechanism::gaussian(epsilon, delta, sensitivity).unwrap();
            let (noise, conversion) = gaussian_of(&m);
            assert_eq!(conversion, GaussianConversion::ExactPrivacyLoss);
            let sens = sensitivity as f64;
            assert!(delta_upper_bound(noise.sigma2(), epsilon, sens) <= delta);
            let zcdp = zcdp_sigma2(epsilon, delta, sens);
            assert!(noise.sigma2() < zcdp);
        }
        // Below δ = 1e-200 only the closed form is trusted.
        let m = Mechanism::gaussian(1.0, 1e-250, 1).unwrap();
        assert_eq!(gaussian_of(&m).1, GaussianConversion::Zcdp);
        assert_eq!(
            m.describe().conversion.as_deref(),
            Some(GaussianConversion::Zcdp.name())
        );
        // ε = 1, δ = 1e-6, Δ = 1: the zCDP conversion needs σ = 5.350; the exact one 4.230779
        // (bisection on the definition Σ_y (P(y) - e^ε·P(y+1))⁺, computed independently; the
        // continuous analytic Gaussian would need 4.2247). Likewise 36.30529 at ε = 0.1.
        let zcdp = zcdp_sigma2(1.0, 1e-6, 1.0).sqrt();
        assert!((zcdp - 5.350).abs() < 1e-3, "{zcdp}");
        for (epsilon, reference) in [(1.0, 4.230_779), (0.1, 36.305_29)] {
            let got = sigma(&Mechanism::gaussian(epsilon, 1e-6, 1).unwrap());
            assert!(got >= reference * (1.0 - 1e-6), "{got} < {reference}");
            assert!(got <= reference * (1.0 + 1e-5), "{got} vs {reference}");
        }
    }

    #[test]
    fn interval95_holds_95_percent_of_draws() {
        let mechanisms = [
            Mechanism::laplace(0.1, 1).unwrap(),
            Mechanism::laplace(1.0, 1).unwrap(),
            Mechanism::gaussian(1.0, 1e-6, 3).unwrap(),
            Mechanism::gaussian(50.0, 1e-3, 1).unwrap(),
        ];
        for (i, m) in mechanisms.iter().enumerate() {
            let w = m.interval95_half_width();
            let exact = match m.kind() {
                MechanismKind::Laplace(d) => {
                    (-(w as i64)..=w as i64).map(|k| d.pmf(k)).sum::<f64>()
                }
                MechanismKind::Gaussian { noise, .. } => {
                    (-(w as i64)..=w as i64).map(|k| noise.pmf(k)).sum::<f64>()
                }
            };
            assert!(exact >= 0.95, "{:?}: exact coverage {exact}", m.describe());
            let mut rng = TestRng::seeded(300 + i as u64);
            let draws = 20_000;
            let inside = (0..draws)
                .filter(|_| (m.sample(&mut rng).unwrap().unsigned_abs() as f64) <= w)
                .count() as f64
                / f64::from(draws);
            assert!(
                (inside - exact).abs() <= 0.01,
                "{:?}: {inside} vs {exact}",
                m.describe()
            );
            assert!(inside >= 0.94, "{:?}: {inside}", m.describe());
        }
    }

    #[test]
    fn variance_check_catches_a_halved_scale() {
        // The mechanism's own draws pass the variance test of its distribution; draws with the
        // scale halved (a broken calibration) must fail the same test.
        let m = Mechanism::laplace(0.25, 1).unwrap();
        let noise = laplace_of(&m);
        let pmf = Pmf::tabulate(|k| noise.pmf(k));
        assert!((pmf.variance() / (m.std_dev() * m.std_dev()) - 1.0).abs() < 1e-9);
        let mut rng = TestRng::seeded(400);
        let good: Vec<i64> = (0..20_000).map(|_| m.sample(&mut rng).unwrap()).collect();
        test_stats::check_variance(&good, &pmf).unwrap();
        let broken = Mechanism::laplace(0.5, 1).unwrap();
        let bad: Vec<i64> = (0..20_000)
            .map(|_| broken.sample(&mut rng).unwrap())
            .collect();
        assert!(test_stats::check_variance(&bad, &pmf).is_err());

        let g = Mechanism::gaussian(1.0, 1e-6, 2).unwrap();
        let noise = gaussian_of(&g).0;
        let pmf = Pmf::tabulate(|k| noise.pmf(k));
        let good: Vec<i64> = (0..20_000).map(|_| g.sample(&mut rng).unwrap()).collect();
        test_stats::check_variance(&good, &pmf).unwrap();
        let broken = DiscreteGaussian::new(noise.sigma2_num(), noise.sigma2_den() * 4).unwrap();
        let bad: Vec<i64> = (0..20_000)
            .map(|_| broken.sample(&mut rng).unwrap())
            .collect();
        assert!(test_stats::check_variance(&bad, &pmf).is_err());
    }

    #[test]
    fn out_of_range_parameters_name_themselves() {
        let named = |r: Result<Mechanism, NoiseError>| match r {
            Err(NoiseError::InvalidParameter { parameter, .. }) => parameter,
            other => panic!("expected an invalid parameter, got {other:?}"),
        };
        for epsilon in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
            assert_eq!(named(Mechanism::laplace(epsilon, 1)), "epsilon");
            assert_eq!(named(Mechanism::gaussian(epsilon, 1e-6, 1)), "epsilon");
        }
        for delta in [0.0, -1e-9, 2e-3, 0.5, f64::NAN] {
            assert_eq!(named(Mechanism::gaussian(1.0, delta, 1)), "delta");
        }
        for sensitivity in [0, MAX_SENSITIVITY + 1] {
            assert_eq!(named(Mechanism::laplace(1.0, sensitivity)), "sensitivity");
            assert_eq!(
                named(Mechanism::gaussian(1.0, 1e-6, sensitivity)),
                "sensitivity"
            );
        }
        // Noise too large for exact arithmetic: refused, naming epsilon, with a way out.
        let err = Mechanism::laplace(1e-6, 1 << 30).unwrap_err();
        assert!(err.to_string().starts_with("invalid epsilon: "), "{err}");
        assert!(err.to_string().contains("coarser resolution"), "{err}");
        assert_eq!(named(Mechanism::gaussian(1e-3, 1e-6, 1 << 30)), "epsilon");
        // Subnormal and tiny ε are still exact, just refused for size.
        assert_eq!(
            named(Mechanism::laplace(f64::MIN_POSITIVE / 4.0, 1)),
            "epsilon"
        );
    }

    #[test]
    fn describe_serializes_for_manifests() {
        let info = Mechanism::laplace(1.0, 5).unwrap().describe();
        assert_eq!(info.name, "discrete_laplace");
        assert_eq!(info.scale, Some(5.0));
        assert_eq!(info.exact_parameter, "scale = 5/1");
        assert_eq!(info.delta, 0.0);
        let q: f64 = (-0.2f64).exp();
        assert!((info.std_dev - (2.0 * q).sqrt() / (1.0 - q)).abs() < 1e-9);
        let json = serde_json::to_value(&info).unwrap();
        assert!(json.get("sigma").is_none());
        assert_eq!(json["interval95"], serde_json::json!(info.interval95));

        let info = Mechanism::gaussian(1.0, 1e-6, 2).unwrap().describe();
        assert_eq!(info.name, "discrete_gaussian");
        assert_eq!(info.conversion.as_deref(), Some("cks20_theorem7_exact"));
        let sigma = info.sigma.unwrap();
        assert!((info.rho.unwrap() - 4.0 / (2.0 * sigma * sigma)).abs() < 1e-12);
        assert!((info.std_dev / sigma - 1.0).abs() < 1e-6);
        assert!((info.interval95 / sigma - 1.96).abs() < 0.1);
        let text = serde_json::to_string(&info).unwrap();
        let back: MechanismInfo = serde_json::from_str(&text).unwrap();
        assert_eq!(back, info);
    }

    #[test]
    fn add_noise_is_checked() {
        let m = Mechanism::laplace(0.01, 1).unwrap();
        let mut rng = TestRng::seeded(500);
        let results: Vec<_> = (0..50).map(|_| m.add_noise(i64::MAX, &mut rng)).collect();
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(NoiseError::Overflow(_)))));
        assert!(results.iter().any(|r| matches!(r, Ok(v) if *v < i64::MAX)));
        let noisy = m.add_noise(1000, &mut rng).unwrap();
        assert!((noisy - 1000).abs() < 10_000);
    }

    #[test]
    fn production_rng_drives_the_mechanisms() {
        // Only that it works end to end; statistics belong to the seeded source.
        let mut rng = SecureRng::new();
        let m = Mechanism::gaussian(1.0, 1e-6, 10).unwrap();
        let draws: Vec<i64> = (0..32).map(|_| m.sample(&mut rng).unwrap()).collect();
        assert!(draws.iter().any(|&d| d != draws[0]));
        let m = Mechanism::laplace(1.0, 10).unwrap();
        assert!(m.add_noise(5, &mut rng).is_ok());
    }
}
