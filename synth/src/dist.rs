//! The few distributions the generator needs, written out because `rand_distr` is not a
//! dependency: normal (Box–Muller), log-normal, Poisson and weighted choice.

use rand::Rng;

/// A standard normal draw by Box–Muller; uses two uniforms and discards the sine half so each
/// call consumes a fixed amount of randomness.
pub(super) fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - [0, 1) is (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and log-scale spread.
pub(super) fn log_normal<R: Rng + ?Sized>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// A Poisson draw by Knuth's method; fine for the small means used here (a few visits).
pub(super) fn poisson<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.random::<f64>();
    while p > limit && k < 1000 {
        k += 1;
        p *= rng.random::<f64>();
    }
    k
}

/// Rounds to cents, the precision of every money column.
pub(super) fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A choice among items with fixed non-negative weights.
#[derive(Debug, Clone)]
pub(super) struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    /// The weights need not sum to one; at least one must be positive.
    pub(super) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Weighted { cumulative }
    }

    /// The index of the chosen item.
    pub(super) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        // First bucket whose upper edge is above x; zero-weight buckets are never chosen.
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn normal_has_unit_moments() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn log_normal_median() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut xs: Vec<f64> = (0..50_001)
            .map(|_| log_normal(&mut rng, 100.0, 1.5))
            .collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[25_000];
        assert!((median / 100.0 - 1.0).abs() < 0.05, "{median}");
    }

    #[test]
    fn poisson_mean() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 100_000;
        let total: u32 = (0..n).map(|_| poisson(&mut rng, 2.0)).sum();
        let mean = f64::from(total) / f64::from(n);
        assert!((mean - 2.0).abs() < 0.03, "{mean}");
    }

    #[test]
    fn weighted_follows_weights_and_skips_zeros() {
        let mut rng = StdRng::seed_from_u64(4);
        let w = Weighted::new([1.0, 0.0, 3.0]);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        let ratio = f64::from(counts[2]) / f64::from(counts[0]);
        assert!((ratio - 3.0).abs() < 0.15, "{ratio}");
    }
}
