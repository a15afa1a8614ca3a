//! Statistical checks shared by the samplers' tests.
//!
//! Each check compares seeded samples with an exact pmf at a fixed tolerance (5 standard
//! errors, or the 0.999 quantile of chi-square), returning `Err` with the numbers when it fails,
//! so that tests can also assert that a deliberately broken sampler fails them.

/// A pmf tabulated over `[lo, lo + probs.len())`, outside which it is below 1e-18.
pub(crate) struct Pmf {
    lo: i64,
    probs: Vec<f64>,
}

/// 0.999 quantiles of chi-square with 1..=20 degrees of freedom.
const CHI_SQUARE_0999: [f64; 20] = [
    10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588, 31.264, 32.909,
    34.528, 36.123, 37.697, 39.252, 40.790, 42.312, 43.820, 45.315,
];

/// Bins of at least this mass (at most 16 bins, so the quantile table suffices).
const BIN_MASS: f64 = 1.0 / 16.0;

const SIGMAS: f64 = 5.0;

impl Pmf {
    /// Tabulates a pmf symmetric and decreasing in `|k|` until it drops below 1e-18.
    pub(crate) fn tabulate(pmf: impl Fn(i64) -> f64) -> Self {
        let mut k = 0i64;
        while pmf(k) >= 1e-18 {
            k += 1;
        }
        let probs = (-k..=k).map(&pmf).collect();
        Pmf { lo: -k, probs }
    }

    fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        (self.lo..).zip(self.probs.iter().copied())
    }

    pub(crate) fn mean(&self) -> f64 {
        self.points().map(|(k, p)| k as f64 * p).sum()
    }

    pub(crate) fn variance(&self) -> f64 {
        let mean = self.mean();
        self.points()
            .map(|(k, p)| (k as f64 - mean).powi(2) * p)
            .sum()
    }

    fn fourth_central_moment(&self) -> f64 {
        let mean = self.mean();
        self.points()
            .map(|(k, p)| (k as f64 - mean).powi(4) * p)
            .sum()
    }

    /// Contiguous bins `(last value, mass)`, each of mass at least `BIN_MASS` (the final one
    /// merged into its neighbour if lighter); the first bin extends to -∞, the last to +∞.
    fn bins(&self) -> Vec<(i64, f64)> {
        let mut bins: Vec<(i64, f64)> = Vec::new();
        let mut mass = 0.0;
        for (k, p) in self.points() {
            mass += p;
            if mass >= BIN_MASS {
                bins.push((k, mass));
                mass = 0.0;
            }
        }
        let top = i64::MAX;
        match bins.last_mut() {
            Some(last) if mass < BIN_MASS => *last = (top, last.1 + mass),
            _ => bins.push((top, mass)),
        }
        bins
    }
}

/// Sample mean within 5 standard errors of the pmf's mean.
pub(crate) fn check_mean(samples: &[i64], pmf: &Pmf) -> Result<(), String> {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let se = (pmf.variance() / n).sqrt();
    within("mean", mean, pmf.mean(), se)
}

/// Sample variance (about the known mean) within 5 standard errors of the pmf's variance; the
/// standard error `sqrt((μ4 - σ⁴)/n)` comes from the pmf's own fourth moment.
pub(crate) fn check_variance(samples: &[i64], pmf: &Pmf) -> Result<(), String> {
    let n = samples.len() as f64;
    let mean = pmf.mean();
    let var = pmf.variance();
    let sample_var = samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let se = ((pmf.fourth_central_moment() - var * var) / n).sqrt();
    within("variance", sample_var, var, se)
}

/// Frequency of the value `k` within 5 standard errors of `p`.
pub(crate) fn check_point(samples: &[i64], k: i64, p: f64) -> Result<(), String> {
    let n = samples.len() as f64;
    let freq = samples.iter().filter(|&&x| x == k).count() as f64 / n;
    let se = (p * (1.0 - p) / n).sqrt().max(1.0 / n);
    within(&format!("P(X = {k})"), freq, p, se)
}

/// As many positive as negative values, within 5 standard errors.
pub(crate) fn check_symmetry(samples: &[i64]) -> Result<(), String> {
    let positive = samples.iter().filter(|&&x| x > 0).count() as f64;
    let negative = samples.iter().filter(|&&x| x < 0).count() as f64;
    within(
        "positive - negative",
        positive - negative,
        0.0,
        (positive + negative).sqrt(),
    )
}

/// Chi-square goodness of fit over bins of mass at least 1/16, against the 0.999 quantile.
pub(crate) fn check_chi_square(samples: &[i64], pmf: &Pmf) -> Result<(), String> {
    let bins = pmf.bins();
    let mut observed = vec![0u64; bins.len()];
    for &x in samples {
        let bin = bins.partition_point(|&(last, _)| last < x);
        observed[bin] += 1;
    }
    let n = samples.len() as f64;
    let statistic: f64 = bins
        .iter()
        .zip(&observed)
        .map(|(&(_, mass), &o)| {
            let expected = mass * n;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let df = bins.len() - 1;
    let critical = *CHI_SQUARE_0999
        .get(df.wrapping_sub(1))
        .ok_or_else(|| format!("{} bins: no critical value", bins.len()))?;
    if statistic <= critical {
        Ok(())
    } else {
        Err(format!(
            "chi-square {statistic:.2} > {critical} ({df} degrees of freedom)"
        ))
    }
}

fn within(what: &str, value: f64, expected: f64, se: f64) -> Result<(), String> {
    if (value - expected).abs() <= SIGMAS * se {
        Ok(())
    } else {
        Err(format!(
            "{what}: {value} vs {expected} ({:.1} standard errors)",
            (value - expected).abs() / se
        ))
    }
}
