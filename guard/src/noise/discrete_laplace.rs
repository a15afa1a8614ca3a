//! The discrete Laplace distribution on the integers, sampled exactly.
//!
//! `P(X = x) = (1 - q)/(1 + q) · q^|x|` with `q = exp(-1/t)` for a rational scale `t > 0`
//! (Canonne, Kamath, Steinke 2020, Algorithm 2). Added to an integer query of
//! L1 sensitivity `Δ` with `t ≥ Δ/ε`, it gives pure ε-differential privacy: the ratio of
//! `P(x)` to `P(x + Δ)` is at most `exp(Δ/t)`.

use super::bernoulli::{bernoulli, bernoulli_exp_neg};
use super::rng::uniform_below;
use super::{NoiseError, RandomSource};

/// The discrete Laplace distribution with scale `t = scale_num / scale_den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteLaplace {
    /// Numerator of the scale, in lowest terms with `den`.
    num: u64,
    den: u64,
}

impl DiscreteLaplace {
    /// The distribution with scale `scale_num / scale_den` (stored in lowest terms).
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] naming `scale_num` or `scale_den` if either is zero.
    pub fn new(scale_num: u64, scale_den: u64) -> Result<Self, NoiseError> {
        if scale_num == 0 {
            return Err(NoiseError::invalid(
                "scale_num",
                "the discrete Laplace scale must be positive",
            ));
        }
        if scale_den == 0 {
            return Err(NoiseError::invalid(
                "scale_den",
                "the discrete Laplace scale needs a positive denominator",
            ));
        }
        let g = gcd(scale_num, scale_den);
        Ok(DiscreteLaplace {
            num: scale_num / g,
            den: scale_den / g,
        })
    }

    /// Numerator of the scale in lowest terms.
    pub fn scale_num(&self) -> u64 {
        self.num
    }

    /// Denominator of the scale in lowest terms.
    pub fn scale_den(&self) -> u64 {
        self.den
    }

    /// The scale `t` as a float (for reports; sampling never uses it).
    pub fn scale(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Draws one value, exactly (CKS20 Algorithm 2 with `t = num`, `s = den`).
    ///
    /// `X = U + t·V` with `U` uniform on `[0, t)` kept with probability `exp(-U/t)` and `V`
    /// geometric (`P(V ≥ v) = e^-v`) is geometric with ratio `exp(-1/t)`; `Y = ⌊X/s⌋` is then
    /// geometric with ratio `exp(-s/t)`, and a fair sign (rejecting `-0`, which would double the
    /// weight of zero) makes it two-sided. Expected cost: a few uniform draws, whatever the scale.
    ///
    /// # Errors
    /// [`NoiseError::RandomSource`]; [`NoiseError::Overflow`] if a draw exceeds `i64` (for a
    /// scale below 2^42, a tail of probability below exp(-2^21)).
    pub fn sample(&self, rng: &mut dyn RandomSource) -> Result<i64, NoiseError> {
        loop {
            let u = uniform_below(rng, self.num)?;
            if !bernoulli_exp_neg(rng, u128::from(u), u128::from(self.num))? {
                continue;
            }
            let mut v: u64 = 0;
            while bernoulli_exp_neg(rng, 1, 1)? {
                v = v
                    .checked_add(1)
                    .ok_or(NoiseError::Overflow("a discrete Laplace draw"))?;
            }
            // Both factors are below 2^64, so u + num·v < 2^128: no overflow.
            let x = u128::from(u) + u128::from(self.num) * u128::from(v);
            let y = x / u128::from(self.den);
            let negative = bernoulli(rng, 1, 2)?;
            if negative && y == 0 {
                continue;
            }
            let y =
                i64::try_from(y).map_err(|_| NoiseError::Overflow("a discrete Laplace draw"))?;
            return Ok(if negative { -y } else { y });
        }
    }

    /// `q = exp(-1/t)`, the ratio between consecutive probabilities.
    fn ratio(&self) -> f64 {
        (-self.inverse_scale()).exp()
    }

    fn inverse_scale(&self) -> f64 {
        self.den as f64 / self.num as f64
    }

    /// `P(X = k)`, in floating point (for reports and tests).
    pub fn pmf(&self, k: i64) -> f64 {
        // (1 - q)/(1 + q) = tanh(1/(2t)), which stays accurate when q is close to 1.
        let a = self.inverse_scale();
        (0.5 * a).tanh() * (-(k.unsigned_abs() as f64) * a).exp()
    }

    /// The variance `2q/(1 - q)²` (mean is 0).
    pub fn variance(&self) -> f64 {
        let q = self.ratio();
        // 1 - q through expm1: exact to the last bit even for very large scales.
        let one_minus_q = -(-self.inverse_scale()).exp_m1();
        2.0 * q / (one_minus_q * one_minus_q)
    }

    /// The smallest `w` with `P(|X| ≤ w) ≥ coverage`, from the closed form
    /// `P(|X| > w) = 2q^(w+1)/(1 + q)`.
    ///
    /// # Errors
    /// [`NoiseError::InvalidParameter`] naming `coverage` unless it lies in `(0, 1)`.
    pub fn half_width(&self, coverage: f64) -> Result<u64, NoiseError> {
        check_coverage(coverage)?;
        Ok(self.half_width_at(coverage))
    }

    /// [`DiscreteLaplace::half_width`] for a coverage already known to lie in `(0, 1)`.
    pub(crate) fn half_width_at(&self, coverage: f64) -> u64 {
        let a = self.inverse_scale();
        let q = self.ratio();
        let outside = |w: u64| 2.0 * (-((w as f64) + 1.0) * a).exp() / (1.0 + q);
        let allowed = 1.0 - coverage;
        // Solve q^(w+1) = allowed·(1+q)/2 in logs, then settle the integer by the exact test.
        let guess = ((allowed * (1.0 + q) / 2.0).ln() / -a - 1.0)
            .ceil()
            .max(0.0);
        let mut w = guess as u64;
        while w > 0 && outside(w - 1) <= allowed {
            w -= 1;
        }
        while outside(w) > allowed {
            w += 1;
        }
        w
    }
}

/// Rejects coverages outside `(0, 1)`.
pub(crate) fn check_coverage(coverage: f64) -> Result<(), NoiseError> {
    if coverage > 0.0 && coverage < 1.0 {
        Ok(())
    } else {
        Err(NoiseError::invalid(
            "coverage",
            format!("must lie strictly between 0 and 1, got {coverage}"),
        ))
    }
}

pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::rng::testing::TestRng;
    use super::super::test_stats::{self, Pmf};
    use super::*;

    const DRAWS: usize = 100_000;

    fn draws(dist: &DiscreteLaplace, seed: u64, n: usize) -> Vec<i64> {
        let mut rng = TestRng::seeded(seed);
        (0..n).map(|_| dist.sample(&mut rng).unwrap()).collect()
    }

    #[test]
    fn matches_its_distribution() {
        // t = 0.5, 1, 3.7, 20.
        for (i, (num, den)) in [(1u64, 2u64), (1, 1), (37, 10), (20, 1)]
            .into_iter()
            .enumerate()
        {
            let dist = DiscreteLaplace::new(num, den).unwrap();
            let pmf = Pmf::tabulate(|k| dist.pmf(k));
            let t = dist.scale();
            let q = (-1.0 / t).exp();
            let var = 2.0 * q / ((1.0 - q) * (1.0 - q));
            assert!(
                (dist.variance() / var - 1.0).abs() < 1e-9,
                "closed form, t = {t}"
            );
            assert!(
                (pmf.variance() / var - 1.0).abs() < 1e-9,
                "pmf sum, t = {t}"
            );

            let samples = draws(&dist, 100 + i as u64, DRAWS);
            let check = |r: Result<(), String>| r.unwrap_or_else(|e| panic!("t = {t}: {e}"));
            check(test_stats::check_mean(&samples, &pmf));
            check(test_stats::check_variance(&samples, &pmf));
            for k in [0, 1, -1, 2, t.floor() as i64, -(t.ceil() as i64)] {
                check(test_stats::check_point(&samples, k, dist.pmf(k)));
            }
            // P(X = 0) = (1 - q)/(1 + q), the formula of the issue, independently of `pmf`.
            check(test_stats::check_point(&samples, 0, (1.0 - q) / (1.0 + q)));
            check(test_stats::check_chi_square(&samples, &pmf));
        }
    }

    #[test]
    fn half_scale_fails_the_checks() {
        // A sampler off by a factor two in scale must not pass as the intended distribution.
        let intended = DiscreteLaplace::new(37, 10).unwrap();
        let broken = DiscreteLaplace::new(37, 20).unwrap();
        let pmf = Pmf::tabulate(|k| intended.pmf(k));
        let samples = draws(&broken, 7, 20_000);
        assert!(test_stats::check_variance(&samples, &pmf).is_err());
        assert!(test_stats::check_chi_square(&samples, &pmf).is_err());
    }

    #[test]
    fn half_width_is_the_exact_quantile() {
        for (num, den) in [
            (1u64, 2u64),
            (1, 1),
            (37, 10),
            (20, 1),
            (5 << 20, 1 << 20),
            (1 << 40, 3),
        ] {
            let dist = DiscreteLaplace::new(num, den).unwrap();
            let t = dist.scale();
            let q = (-1.0 / t).exp();
            let inside = |w: u64| 1.0 - 2.0 * (-(w as f64 + 1.0) / t).exp() / (1.0 + q);
            let w = dist.half_width(0.95).unwrap();
            assert!(inside(w) >= 0.95, "t = {}", dist.scale());
            if w > 0 {
                assert!(inside(w - 1) < 0.95, "t = {}", dist.scale());
            }
        }
        // t = 1: P(|X| ≤ w) = 1 - 2e^-(w+1)/(1 + e^-1) first reaches 0.95 at w = 3.
        assert_eq!(
            DiscreteLaplace::new(1, 1)
                .unwrap()
                .half_width(0.95)
                .unwrap(),
            3
        );
        assert!(DiscreteLaplace::new(1, 1).unwrap().half_width(1.0).is_err());
    }

    #[test]
    fn parameters_are_checked_and_reduced() {
        assert!(matches!(
            DiscreteLaplace::new(0, 1),
            Err(NoiseError::InvalidParameter {
                parameter: "scale_num",
                ..
            })
        ));
        assert!(matches!(
            DiscreteLaplace::new(1, 0),
            Err(NoiseError::InvalidParameter {
                parameter: "scale_den",
                ..
            })
        ));
        let dist = DiscreteLaplace::new(10 << 20, 4 << 20).unwrap();
        assert_eq!((dist.scale_num(), dist.scale_den()), (5, 2));
    }

    #[test]
    fn large_scales_sample_without_overflow() {
        // The largest scale the mechanism accepts: 2^42 units.
        let dist = DiscreteLaplace::new(1 << 62, 1 << 20).unwrap();
        let samples = draws(&dist, 9, 200);
        assert!(samples.iter().any(|&x| x.unsigned_abs() > 1 << 38));
    }
}
