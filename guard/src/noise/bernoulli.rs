//! Exact Bernoulli draws: `Bernoulli(p)` for rational `p` and `Bernoulli(exp(-γ))` for rational
//! `γ ≥ 0`, in integer arithmetic only.
//!
//! These are the building blocks of the discrete Laplace and Gaussian samplers. Computing
//! `exp(-γ)` in floating point and comparing it with a random float would make every output
//! probability wrong in its last bits, and those bits are exactly what Mironov (2012) showed an
//! attacker can read. Here each probability is exact: a rational comparison with a uniform integer.

use super::rng::uniform_below_u128;
use super::{NoiseError, RandomSource};

/// Draws `true` with probability exactly `num / den`.
///
/// # Errors
/// [`NoiseError::InvalidParameter`] if `den == 0` or `num > den`; [`NoiseError::RandomSource`].
pub fn bernoulli(rng: &mut dyn RandomSource, num: u128, den: u128) -> Result<bool, NoiseError> {
    if den == 0 {
        return Err(NoiseError::invalid(
            "den",
            "a probability needs a positive denominator",
        ));
    }
    if num > den {
        return Err(NoiseError::invalid(
            "num",
            "a probability cannot exceed 1 (num > den)",
        ));
    }
    // `uniform < num` has exactly `num` favourable outcomes out of `den`.
    Ok(uniform_below_u128(rng, den)? < num)
}

/// Draws `true` with probability exactly `exp(-num/den)`.
///
/// Canonne, Kamath, Steinke 2020, Algorithm 1. For `γ ≤ 1`: draw `A_k ~ Bernoulli(γ/k)` for
/// `k = 1, 2, ...` until the first `A_k = 0`, and return whether that `k` is odd; the probability
/// is `Σ_k odd (γ^(k-1)/(k-1)! - γ^k/k!) = exp(-γ)`. For `γ > 1`: `exp(-γ) = exp(-1)^⌊γ⌋ ·
/// exp(-(γ - ⌊γ⌋))`, a product of independent draws that stops at the first `false` (expected
/// fewer than two draws of `exp(-1)`, however large `γ`).
///
/// # Errors
/// [`NoiseError::InvalidParameter`] if `den == 0`; [`NoiseError::RandomSource`].
pub fn bernoulli_exp_neg(
    rng: &mut dyn RandomSource,
    num: u128,
    den: u128,
) -> Result<bool, NoiseError> {
    if den == 0 {
        return Err(NoiseError::invalid(
            "den",
            "gamma needs a positive denominator",
        ));
    }
    let whole = num / den;
    let fraction = num % den;
    let mut done = 0u128;
    while done < whole {
        if !bernoulli_exp_neg_at_most_one(rng, 1, 1)? {
            return Ok(false);
        }
        done += 1;
    }
    bernoulli_exp_neg_at_most_one(rng, fraction, den)
}

/// `Bernoulli(exp(-num/den))` for `0 ≤ num ≤ den`, `den > 0` (checked by the caller).
fn bernoulli_exp_neg_at_most_one(
    rng: &mut dyn RandomSource,
    num: u128,
    den: u128,
) -> Result<bool, NoiseError> {
    let mut k: u128 = 1;
    loop {
        // A_k ~ Bernoulli(γ/k) = Bernoulli(num / (den·k)). When den·k does not fit in 128 bits,
        // draw it as Bernoulli(γ) AND Bernoulli(1/k): independent, so still exactly γ/k, and no
        // parameter is ever refused for size.
        let a = match den.checked_mul(k) {
            Some(den_k) => bernoulli(rng, num, den_k)?,
            None => bernoulli(rng, num, den)? && bernoulli(rng, 1, k)?,
        };
        if !a {
            return Ok(k % 2 == 1);
        }
        // Reaching k has probability at most 1/(k-1)!: the check only keeps the code panic-free.
        k = k
            .checked_add(1)
            .ok_or(NoiseError::Overflow("the Bernoulli(exp(-gamma)) counter"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::super::rng::testing::TestRng;
    use super::*;

    /// Checks the frequency of `true` is within 4.5 standard errors of `p`.
    fn check_frequency(hits: u32, draws: u32, p: f64) -> Result<(), String> {
        let n = f64::from(draws);
        let freq = f64::from(hits) / n;
        // The floor keeps p = 0 or 1 meaningful: then any miss at all is a failure.
        let se = (p * (1.0 - p) / n).sqrt().max(1.0 / n);
        if (freq - p).abs() <= 4.5 * se {
            Ok(())
        } else {
            Err(format!(
                "frequency {freq} vs p = {p} ({:.1} standard errors)",
                (freq - p).abs() / se
            ))
        }
    }

    #[test]
    fn bernoulli_rational_frequencies() {
        let mut rng = TestRng::seeded(11);
        let draws = 100_000;
        for (num, den) in [(1u128, 3u128), (2, 7), (999, 1000), (1, 1 << 100 | 3)] {
            let hits = (0..draws)
                .filter(|_| bernoulli(&mut rng, num, den).unwrap())
                .count() as u32;
            check_frequency(hits, draws, num as f64 / den as f64).unwrap();
        }
        assert!(!bernoulli(&mut rng, 0, 5).unwrap());
        assert!(bernoulli(&mut rng, 5, 5).unwrap());
    }

    #[test]
    fn bernoulli_exp_neg_frequencies() {
        let mut rng = TestRng::seeded(12);
        let draws = 100_000;
        // γ: 0, small, just under 1, exactly 1, above 1 with a fraction, a large integer part,
        // and a fraction whose den·k overflows 128 bits (the AND path).
        let cases: [(u128, u128); 8] = [
            (0, 1),
            (3, 10),
            (999, 1000),
            (1, 1),
            (7, 3),
            (5, 1),
            (u128::MAX / 2, u128::MAX),
            (3 * (u128::MAX / 4), u128::MAX / 2),
        ];
        for (num, den) in cases {
            let hits = (0..draws)
                .filter(|_| bernoulli_exp_neg(&mut rng, num, den).unwrap())
                .count() as u32;
            let gamma = num as f64 / den as f64;
            check_frequency(hits, draws, (-gamma).exp())
                .unwrap_or_else(|e| panic!("exp(-{gamma}): {e}"));
        }
        // exp(-1000) is 0 to any sampling precision, and each draw must stop early.
        assert!((0..1000).all(|_| !bernoulli_exp_neg(&mut rng, 1000, 1).unwrap()));
    }

    #[test]
    fn broken_probability_fails_the_frequency_check() {
        // The checker must reject a sampler off by a few percent: Bernoulli(exp(-0.5)) checked
        // against exp(-0.45).
        let mut rng = TestRng::seeded(13);
        let draws = 100_000;
        let hits = (0..draws)
            .filter(|_| bernoulli_exp_neg(&mut rng, 1, 2).unwrap())
            .count() as u32;
        check_frequency(hits, draws, (-0.5f64).exp()).unwrap();
        assert!(check_frequency(hits, draws, (-0.45f64).exp()).is_err());
    }

    #[test]
    fn refuses_bad_parameters() {
        let mut rng = TestRng::seeded(14);
        assert!(matches!(
            bernoulli(&mut rng, 1, 0),
            Err(NoiseError::InvalidParameter {
                parameter: "den",
                ..
            })
        ));
        assert!(matches!(
            bernoulli(&mut rng, 3, 2),
            Err(NoiseError::InvalidParameter {
                parameter: "num",
                ..
            })
        ));
        assert!(matches!(
            bernoulli_exp_neg(&mut rng, 1, 0),
            Err(NoiseError::InvalidParameter {
                parameter: "den",
                ..
            })
        ));
    }
}
