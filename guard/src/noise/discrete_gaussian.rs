//! The discrete Gaussian distribution on the integers, sampled exactly.
//!
//! `P(X = x) ∝ exp(-x²/(2σ²))` for a rational `σ² > 0` (Canonne, Kamath, Steinke 2020,
//! Algorithm 3). Added to an integer query of sensitivity `Δ` it gives `Δ²/(2σ²)`-zero-
//! concentrated differential privacy (CKS20 Theorem 4), and (ε, δ)-DP with the δ of CKS20
//! Theorem 7 (see `conversion.rs`). Its variance is slightly below σ² (shown in CKS20): by
//! 1.6·10⁻⁴ relative at σ = 0.8, 2·10⁻⁷ at σ = 1, below 10⁻³⁰ from σ = 2 on.

use super::bernoulli::bernoulli_exp_neg;
use super::discrete_laplace::{check_coverage, gcd, DiscreteLaplace};
use super::special::{gaussian_integral_above, weight};
use super::{NoiseError, RandomSource};

/// Up to this σ, reported statistics sum the pmf term by term (at most 80 000 terms); above it,
/// they use integral forms whose error there is far below a float's precision.
const DIRECT_SIGMA: f64 = 1000.0;

/// Weights beyond 40σ are below e^-800 and underflow to zero: sums stop there.
const SUM_SIGMAS: f64 = 40.0;

/// Draws with `|Y| ≤ 300·t + 300` must fit exact 128-bit arithmetic; the proposal has scale `t`,
/// so a larger `|Y|` has probability below e^-300.
const CHECKED_TAIL: u128 = 300;

/// The discrete Gaussian `N_Z(0, σ²)` with `σ² = sigma2_num / sigma2_den`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteGaussian {
    /// σ² in lowest terms.
    num: u64,
    den: u64,
    /// `⌊σ⌋ + 1`, the scale of the discrete Laplace proposal.
    t: u64,
    /// `2·num·den·t²`, the denominator of every acceptance exponent.
    gamma_den: u128,
    proposal: DiscreteLaplace,
    /// `Σ_k exp(-k²/(2σ²))`, for reports.
    normalizer: f64,
}

impl DiscreteGaussian {
    /// The distribution with variance parameter `σ² = sigma2_num / sigma2_den`.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] naming `sigma2_num` or `sigma2_den` if either is zero;
    /// [`NoiseError::Overflow`] if ordinary draws (`|Y| ≤ 300·(⌊σ⌋ + 1) + 300`) would not fit
    /// exact 128-bit arithmetic: very large σ², or a denominator so large that `den·σ` does.
    pub fn new(sigma2_num: u64, sigma2_den: u64) -> Result<Self, NoiseError> {
        if sigma2_num == 0 {
            return Err(NoiseError::invalid(
                "sigma2_num",
                "the discrete Gaussian variance must be positive",
            ));
        }
        if sigma2_den == 0 {
            return Err(NoiseError::invalid(
                "sigma2_den",
                "the discrete Gaussian variance needs a positive denominator",
            ));
        }
        let g = gcd(sigma2_num, sigma2_den);
        let (num, den) = (sigma2_num / g, sigma2_den / g);
        // ⌊√(n/d)⌋ = ⌊√⌊n/d⌋⌋, so an integer square root gives ⌊σ⌋ exactly.
        let t = (num / den).isqrt() + 1;
        let too_large = NoiseError::Overflow("the discrete Gaussian variance sigma^2");
        let (n, d, t128) = (u128::from(num), u128::from(den), u128::from(t));
        let gamma_den = (|| {
            2u128
                .checked_mul(n)?
                .checked_mul(d)?
                .checked_mul(t128)?
                .checked_mul(t128)
        })()
        .ok_or(too_large.clone())?;
        // The largest acceptance numerator met with probability above e^-300 is
        // (reach·d·t - n)², which fits in 128 bits iff reach·d·t + n < 2^64.
        let reach = (|| {
            CHECKED_TAIL
                .checked_mul(t128)?
                .checked_add(CHECKED_TAIL)?
                .checked_mul(d)?
                .checked_mul(t128)?
                .checked_add(n)
        })();
        if reach.is_none_or(|r| r > u128::from(u64::MAX)) {
            return Err(too_large);
        }
        let sigma2 = num as f64 / den as f64;
        Ok(DiscreteGaussian {
            num,
            den,
            t,
            gamma_den,
            proposal: DiscreteLaplace::new(t, 1)?,
            normalizer: normalizer(sigma2),
        })
    }

    /// Numerator of σ² in lowest terms.
    pub fn sigma2_num(&self) -> u64 {
        self.num
    }

    /// Denominator of σ² in lowest terms.
    pub fn sigma2_den(&self) -> u64 {
        self.den
    }

    /// σ² as a float (for reports; sampling never uses it).
    pub fn sigma2(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Draws one value, exactly (CKS20 Algorithm 3).
    ///
    /// Proposes `Y` from the discrete Laplace with scale `t = ⌊σ⌋ + 1` and accepts it with
    /// probability `exp(-(|Y| - σ²/t)²/(2σ²))`, which is the ratio of the two pmfs up to a
    /// constant; with σ² = n/d the exponent is the integer fraction
    /// `(|Y|·d·t - n)² / (2·n·d·t²)`. The expected number of proposals per draw is a small
    /// constant, whatever σ (CKS20's analysis of Algorithm 3).
    ///
    /// # Errors
    /// [`NoiseError::RandomSource`]; [`NoiseError::Overflow`] in a tail of probability below
    /// e^-300 (see [`DiscreteGaussian::new`]).
    pub fn sample(&self, rng: &mut dyn RandomSource) -> Result<i64, NoiseError> {
        let overflow = || NoiseError::Overflow("a discrete Gaussian draw");
        loop {
            let y = self.proposal.sample(rng)?;
            let scaled = u128::from(y.unsigned_abs())
                .checked_mul(u128::from(self.den))
                .and_then(|v| v.checked_mul(u128::from(self.t)))
                .ok_or_else(overflow)?;
            let diff = scaled.abs_diff(u128::from(self.num));
            let gamma_num = diff.checked_mul(diff).ok_or_else(overflow)?;
            if bernoulli_exp_neg(rng, gamma_num, self.gamma_den)? {
                return Ok(y);
            }
        }
    }

    /// `P(X = k)`, in floating point (for reports and tests).
    pub fn pmf(&self, k: i64) -> f64 {
        weight(k as f64, self.sigma2()) / self.normalizer
    }

    /// The variance (the mean is 0): summed from the pmf up to σ = 1000, σ² above (the
    /// difference is then below 1e-300 relative).
    pub fn variance(&self) -> f64 {
        let sigma2 = self.sigma2();
        let sigma = sigma2.sqrt();
        if sigma > DIRECT_SIGMA {
            return sigma2;
        }
        let last = (SUM_SIGMAS * sigma).ceil() as i64;
        // Smallest terms first, so they are not lost against the large ones.
        let sum: f64 = (1..=last)
            .rev()
            .map(|k| {
                let k = k as f64;
                k * k * weight(k, sigma2)
            })
            .sum();
        2.0 * sum / self.normalizer
    }

    /// The smallest `w` with `P(|X| ≤ w) ≥ coverage`: summed from the pmf up to σ = 1000, from
    /// the Euler-Maclaurin form of the tail above (error far below float precision there).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] naming `coverage` unless it lies in `(0, 1)`.
    pub fn half_width(&self, coverage: f64) -> Result<u64, NoiseError> {
        check_coverage(coverage)?;
        Ok(self.half_width_at(coverage))
    }

    /// [`DiscreteGaussian::half_width`] for a coverage already known to lie in `(0, 1)`.
    pub(crate) fn half_width_at(&self, coverage: f64) -> u64 {
        let sigma2 = self.sigma2();
        if sigma2.sqrt() > DIRECT_SIGMA {
            half_width_integral(sigma2, coverage)
        } else {
            half_width_direct(sigma2, self.normalizer, coverage)
        }
    }
}

/// `Σ_k exp(-k²/(2σ²))`. Above σ = 1000 it is σ√(2π) by Poisson summation, exactly up to a
/// factor `1 + 2·exp(-2π²σ²) + …`.
pub(crate) fn normalizer(sigma2: f64) -> f64 {
    let sigma = sigma2.sqrt();
    if sigma > DIRECT_SIGMA {
        return sigma * (2.0 * std::f64::consts::PI).sqrt();
    }
    let last = (SUM_SIGMAS * sigma).ceil() as i64;
    let tail: f64 = (1..=last).rev().map(|k| weight(k as f64, sigma2)).sum();
    1.0 + 2.0 * tail
}

fn half_width_direct(sigma2: f64, normalizer: f64, coverage: f64) -> u64 {
    let last = (SUM_SIGMAS * sigma2.sqrt()).ceil() as u64 + 1;
    let mut inside = 1.0 / normalizer;
    let mut w = 0u64;
    while inside < coverage && w < last {
        w += 1;
        inside += 2.0 * weight(w as f64, sigma2) / normalizer;
    }
    w
}

fn half_width_integral(sigma2: f64, coverage: f64) -> u64 {
    let sigma = sigma2.sqrt();
    let normalizer = sigma * (2.0 * std::f64::consts::PI).sqrt();
    // Σ_{k ≥ m} f(k) ≈ ∫_m^∞ f + f(m)/2 - f'(m)/12 (Euler-Maclaurin); the next term is of order
    // f'''(m)/720, relative σ^-3 here.
    let tail = |m: f64| {
        let f = weight(m, sigma2);
        gaussian_integral_above(m, sigma) + f / 2.0 + m * f / (12.0 * sigma2)
    };
    let outside = |w: u64| 2.0 * tail(w as f64 + 1.0) / normalizer;
    let allowed = 1.0 - coverage;
    // Smallest w in [0, 40σ] with outside(w) ≤ allowed; outside decreases in w.
    let (mut lo, mut hi) = (0u64, (SUM_SIGMAS * sigma).ceil() as u64);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if outside(mid) <= allowed {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::super::rng::testing::TestRng;
    use super::super::test_stats::{self, Pmf};
    use super::*;

    const DRAWS: usize = 100_000;

    fn draws(dist: &DiscreteGaussian, seed: u64, n: usize) -> Vec<i64> {
        let mut rng = TestRng::seeded(seed);
        (0..n).map(|_| dist.sample(&mut rng).unwrap()).collect()
    }

    #[test]
    fn matches_its_distribution() {
        // σ = 0.8, 2, 10.
        for (i, (num, den)) in [(16u64, 25u64), (4, 1), (100, 1)].into_iter().enumerate() {
            let dist = DiscreteGaussian::new(num, den).unwrap();
            let sigma2 = dist.sigma2();
            let pmf = Pmf::tabulate(|k| dist.pmf(k));
            assert!((pmf.variance() / dist.variance() - 1.0).abs() < 1e-12);
            // Below σ² (CKS20): by 0.016% at σ = 0.8, invisibly from σ = 2 on.
            assert!(dist.variance() < sigma2 * (1.0 + 1e-14));
            assert!(dist.variance() > 0.999 * sigma2);
            if sigma2 < 1.0 {
                assert!(dist.variance() < sigma2 * (1.0 - 1e-4));
            }
            if sigma2 >= 4.0 {
                assert!((dist.variance() / sigma2 - 1.0).abs() < 1e-12);
            }

            let samples = draws(&dist, 200 + i as u64, DRAWS);
            let check = |r: Result<(), String>| r.unwrap_or_else(|e| panic!("σ² = {sigma2}: {e}"));
            check(test_stats::check_mean(&samples, &pmf));
            check(test_stats::check_variance(&samples, &pmf));
            check(test_stats::check_symmetry(&samples));
            for k in [0, 1, -1, 2, sigma2.sqrt().round() as i64] {
                check(test_stats::check_point(&samples, k, dist.pmf(k)));
            }
            check(test_stats::check_chi_square(&samples, &pmf));
        }
    }

    #[test]
    fn halved_sigma_fails_the_checks() {
        let intended = DiscreteGaussian::new(100, 1).unwrap();
        let broken = DiscreteGaussian::new(25, 1).unwrap();
        let pmf = Pmf::tabulate(|k| intended.pmf(k));
        let samples = draws(&broken, 8, 20_000);
        assert!(test_stats::check_variance(&samples, &pmf).is_err());
        assert!(test_stats::check_chi_square(&samples, &pmf).is_err());
    }

    #[test]
    fn half_width_is_the_exact_quantile() {
        for (num, den) in [(16u64, 25u64), (4, 1), (100, 1), (1_000_003, 7)] {
            let dist = DiscreteGaussian::new(num, den).unwrap();
            let w = dist.half_width(0.95).unwrap() as i64;
            let inside = |w: i64| (-w..=w).map(|k| dist.pmf(k)).sum::<f64>();
            assert!(inside(w) >= 0.95);
            assert!(w == 0 || inside(w - 1) < 0.95);
        }
        // Around the switch to the integral form both methods agree.
        for sigma in [300.0f64, 999.0, 1000.0] {
            let sigma2 = sigma * sigma;
            let direct = half_width_direct(sigma2, normalizer(sigma2), 0.95);
            assert_eq!(direct, half_width_integral(sigma2, 0.95), "σ = {sigma}");
            let z = sigma * (2.0 * std::f64::consts::PI).sqrt();
            assert!((normalizer(sigma2) / z - 1.0).abs() < 1e-13);
        }
        // Far above it, w/σ approaches the normal quantile 1.959964.
        let big = DiscreteGaussian::new(1 << 40, 1).unwrap();
        let ratio = big.half_width(0.95).unwrap() as f64 / (1u64 << 20) as f64;
        assert!((ratio - 1.959_964).abs() < 1e-5, "{ratio}");
        assert!(big.half_width(0.0).is_err());
    }

    #[test]
    fn parameters_are_checked() {
        assert!(matches!(
            DiscreteGaussian::new(0, 1),
            Err(NoiseError::InvalidParameter {
                parameter: "sigma2_num",
                ..
            })
        ));
        assert!(matches!(
            DiscreteGaussian::new(1, 0),
            Err(NoiseError::InvalidParameter {
                parameter: "sigma2_den",
                ..
            })
        ));
        // Too large, and too fine a denominator: both refused rather than risk overflow.
        assert!(matches!(
            DiscreteGaussian::new(u64::MAX, 1),
            Err(NoiseError::Overflow(_))
        ));
        assert!(matches!(
            DiscreteGaussian::new(1, u64::MAX),
            Err(NoiseError::Overflow(_))
        ));
        let dist = DiscreteGaussian::new(8 << 20, 2 << 20).unwrap();
        assert_eq!((dist.sigma2_num(), dist.sigma2_den()), (4, 1));
        // ⌊σ⌋ + 1 at a perfect square.
        assert_eq!(dist.t, 3);
    }

    #[test]
    fn large_sigma_samples_without_overflow() {
        // The largest σ² the mechanism accepts: 2^52.
        let dist = DiscreteGaussian::new(1 << 52, 1).unwrap();
        let samples = draws(&dist, 10, 200);
        assert!(samples.iter().any(|&x| x.unsigned_abs() > 1 << 25));
    }
}
