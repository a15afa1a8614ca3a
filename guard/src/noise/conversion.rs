//! Calibrating the discrete Gaussian: the smallest σ for which adding `N_Z(0, σ²)` to an integer
//! query of sensitivity `Δ` is (ε, δ)-differentially private.
//!
//! Two conversions, the tighter one preferred:
//!
//! 1. **Exact privacy loss** (CKS20 Theorem 7). The mechanism is (ε, δ)-DP for
//!    `δ(σ) = P[Y > εσ²/Δ - Δ/2] - e^ε·P[Y > εσ²/Δ + Δ/2]`, `Y ~ N_Z(0, σ²)`: the hockey-stick
//!    divergence between `N_Z(0, σ²)` and `N_Z(Δ, σ²)`, which is tight. It holds for every
//!    shift `k ≤ Δ`, not only `Δ`: with `L_k(y) = (k² + 2ky)/(2σ²)` the privacy loss at `y`,
//!    `δ(k) = E[(1 - e^(ε - L_k(Y)))⁺]`, and where the integrand is positive `y > εσ²/k - k/2 >
//!    -k`, so `∂L_k/∂k = (k + y)/σ² > 0`: each integrand, hence `δ(k)`, grows with `k`.
//!    [`delta_upper_bound`] evaluates `δ(σ)` in floating point as a rigorous upper bound (below),
//!    and [`exact_sigma`] bisects for the smallest σ whose bound is at most `δ/(1 + 10⁻⁶)`.
//! 2. **zCDP** (CKS20 Theorem 4 with Bun and Steinke 2016, Proposition 1.3): the mechanism is
//!    `ρ = Δ²/(2σ²)`-zCDP, and ρ-zCDP implies (ε, δ)-DP for `ε = ρ + 2√(ρ·ln(1/δ))`. Solving for
//!    ρ gives `√ρ = √(ln(1/δ) + ε) - √(ln(1/δ))`: a closed form ([`zcdp_sigma2`]), looser (σ = 5.35 instead of
//!    4.23 at ε = 1, δ = 10⁻⁶, Δ = 1) but free of numerics. It is the fallback whenever the exact
//!    computation cannot certify a σ, and is used alone for δ below [`EXACT_MIN_DELTA`].
//!
//! **How the bound on δ(σ) is made rigorous.** With `f(k) = exp(-k²/(2σ²))` and `Z = Σ f(k)`,
//! `δ·Z = Σ_k max(0, g(k))` with `g(k) = f(k) - e^ε·f(k + Δ) = f(k)·(1 - exp(ε - (2kΔ +
//! Δ²)/(2σ²)))`, positive exactly for `k > a = εσ²/Δ - Δ/2` (the same sum as Theorem 7's, term
//! by term). The first 2048 terms from `⌊a⌋ - 1` on are summed with `expm1` (no cancellation);
//! the rest is bounded above by tail integrals — `Σ_{k ≥ m} f(k)` lies in
//! `[I(m), I(m) + f(m)]` for decreasing `f`, and in `[I(m) + f(m)/2, I(m - 1/2)]` where `f` is
//! convex (`m - 1/2 ≥ σ`), `I(x) = ∫_x^∞ f`. `Z` is bounded below by the larger of `σ√(2π)`
//! (Poisson summation: `Z = σ√(2π)·(1 + 2Σ_m exp(-2π²σ²m²))`) and its summed head. Rounding
//! (about 1e-12 relative, `erfc` included) is covered by the 10⁻⁶ margin on δ.

use super::special::{gaussian_integral_above, weight};

/// Terms of the privacy-loss sum computed one by one before the tail bound takes over.
const HEAD_TERMS: u32 = 2048;

/// Relative margin between the computed bound on δ and the δ asked for.
pub(crate) const DELTA_MARGIN: f64 = 1e-6;

/// Below this δ the exact conversion is not attempted: its probabilities would approach the
/// smallest doubles, where underflow rather than rounding limits accuracy.
pub(crate) const EXACT_MIN_DELTA: f64 = 1e-200;

/// How σ was derived from (ε, δ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaussianConversion {
    /// The exact privacy loss of the discrete Gaussian, CKS20 Theorem 7.
    ExactPrivacyLoss,
    /// ρ = Δ²/(2σ²)-zCDP converted by ε = ρ + 2√(ρ·ln(1/δ)).
    Zcdp,
}

impl GaussianConversion {
    /// A stable name for manifests.
    pub fn name(self) -> &'static str {
        match self {
            GaussianConversion::ExactPrivacyLoss => "cks20_theorem7_exact",
            GaussianConversion::Zcdp => "zcdp_rho_plus_2_sqrt_rho_ln_1_over_delta",
        }
    }
}

/// σ² by the zCDP conversion: `Δ²/(2ρ)` with `√ρ = √(L + ε) - √L`, `L = ln(1/δ)`, written as
/// `ε/(√(L + ε) + √L)` to avoid cancellation when ε ≪ L.
pub(crate) fn zcdp_sigma2(epsilon: f64, delta: f64, sensitivity: f64) -> f64 {
    let l = -delta.ln();
    let sqrt_rho = epsilon / ((l + epsilon).sqrt() + l.sqrt());
    sensitivity * sensitivity / (2.0 * sqrt_rho * sqrt_rho)
}

/// An upper bound (to float rounding, see the module docs) on the smallest δ for which
/// `N_Z(0, sigma2)` noise on a sensitivity-`sensitivity` integer query is (ε, δ)-DP.
/// Returns 1 (a trivially true bound) where the computation would leave its safe range.
pub(crate) fn delta_upper_bound(sigma2: f64, epsilon: f64, sensitivity: f64) -> f64 {
    let sigma = sigma2.sqrt();
    let s = sensitivity;
    // g(k) > 0 exactly for k > a; start one below ⌊a⌋ and keep only positive terms, so rounding
    // in a cannot drop a positive term (terms next to a are near zero anyway: g(a) = 0).
    let a = epsilon * sigma2 / s - s / 2.0;
    let first = a.floor() - 1.0;
    // Beyond 2^50 consecutive integers stop being exact in f64; such σ are far outside the
    // supported range anyway.
    if !(first.abs() <= 2f64.powi(50) && sigma.is_finite() && sigma > 0.0) {
        return 1.0;
    }
    let e_eps = epsilon.exp();

    let mut head = 0.0;
    let mut k = first;
    for _ in 0..HEAD_TERMS {
        let f = weight(k, sigma2);
        // Past the mode, an underflowed weight means every later one underflows too.
        if f == 0.0 && k > 0.0 {
            break;
        }
        head += f * (-(epsilon - (2.0 * k * s + s * s) / (2.0 * sigma2)).exp_m1()).max(0.0);
        k += 1.0;
    }
    // Bound Σ_{k ≥ m} f(k) - e^ε·Σ_{k ≥ m+s} f(k) from above, m = first + HEAD_TERMS: every
    // g(k) there is positive since m > a. (If the weights underflowed first, everything beyond m
    // is below the smallest double, far below EXACT_MIN_DELTA.) The tail bounds need f
    // decreasing on [m, ∞): m ≥ 0. A negative m means a threshold thousands of units below
    // zero, where δ is near 1 anyway.
    let m = k;
    if m < 0.0 {
        return 1.0;
    }
    let (upper_m, lower_ms) = if m - 0.5 >= sigma {
        (
            gaussian_integral_above(m - 0.5, sigma),
            gaussian_integral_above(m + s, sigma) + weight(m + s, sigma2) / 2.0,
        )
    } else {
        (
            gaussian_integral_above(m, sigma) + weight(m, sigma2),
            gaussian_integral_above(m + s, sigma),
        )
    };
    let rest = (upper_m - e_eps * lower_ms).max(0.0) + 1e-10 * (upper_m + e_eps * lower_ms);

    let mut head_z = 0.0;
    let mut j = 1.0;
    for _ in 0..HEAD_TERMS {
        let f = weight(j, sigma2);
        if f == 0.0 {
            break;
        }
        head_z += f;
        j += 1.0;
    }
    let z_lower = (sigma * (2.0 * std::f64::consts::PI).sqrt()).max(1.0 + 2.0 * head_z);
    ((head + rest) / z_lower).min(1.0)
}

/// The smallest σ (to 1e-12 relative) whose [`delta_upper_bound`] is at most
/// `delta/(1 + DELTA_MARGIN)`, searched below `start`; `None` if `start` itself fails or δ is
/// below [`EXACT_MIN_DELTA`].
pub(crate) fn exact_sigma(epsilon: f64, delta: f64, sensitivity: f64, start: f64) -> Option<f64> {
    if delta < EXACT_MIN_DELTA {
        return None;
    }
    let target = delta / (1.0 + DELTA_MARGIN);
    let private = |sigma: f64| delta_upper_bound(sigma * sigma, epsilon, sensitivity) <= target;
    if !private(start) {
        return None;
    }
    let mut hi = start;
    let mut lo = start / 2.0;
    let mut halvings = 0;
    while private(lo) {
        hi = lo;
        lo /= 2.0;
        halvings += 1;
        if halvings > 60 {
            return Some(hi);
        }
    }
    while hi - lo > 1e-12 * hi {
        let mid = lo + (hi - lo) / 2.0;
        if private(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// δ straight from the definition: Σ_y (P(y) - e^ε·P(y - shift))⁺ over the whole support.
    fn delta_by_definition(sigma2: f64, epsilon: f64, shift: i64) -> f64 {
        let sigma = sigma2.sqrt();
        let reach = (40.0 * sigma).ceil() as i64 + shift;
        let z: f64 = (-reach..=reach).map(|k| weight(k as f64, sigma2)).sum();
        let e_eps = epsilon.exp();
        (-reach..=reach)
            .map(|y| {
                let p = weight(y as f64, sigma2);
                let q = weight((y - shift) as f64, sigma2);
                (p - e_eps * q).max(0.0)
            })
            .sum::<f64>()
            / z
    }

    #[test]
    fn bound_matches_the_definition() {
        // (σ², ε, Δ): small and large σ, small and large ε, Δ of 1 and more.
        let cases = [
            (0.5, 1.0, 1),
            (4.0, 1.0, 1),
            (17.8, 1.0, 1),
            (1.0, 5.0, 1),
            (100.0, 0.3, 3),
            (2500.0, 0.5, 7),
            (1e4, 0.05, 1),
            (9e6, 1.0, 1000),
        ];
        for (sigma2, epsilon, sensitivity) in cases {
            let exact = delta_by_definition(sigma2, epsilon, sensitivity);
            let bound = delta_upper_bound(sigma2, epsilon, sensitivity as f64);
            assert!(
                bound >= exact * (1.0 - 1e-9) && bound <= exact * (1.0 + 1e-4),
                "σ² = {sigma2}, ε = {epsilon}, Δ = {sensitivity}: bound {bound}, exact {exact}"
            );
        }
    }

    #[test]
    fn smaller_shifts_lose_less() {
        // The sensitivity is a bound, not an exact shift: δ must grow with the shift.
        for (sigma2, epsilon) in [(4.0, 0.5), (30.0, 1.0), (200.0, 0.2)] {
            let deltas: Vec<f64> = (1..=6)
                .map(|k| delta_by_definition(sigma2, epsilon, k))
                .collect();
            assert!(deltas.windows(2).all(|w| w[0] <= w[1]), "{deltas:?}");
        }
    }

    #[test]
    fn exact_sigma_is_tight_and_below_zcdp() {
        for (epsilon, delta, sensitivity) in [
            (1.0, 1e-6, 1.0),
            (0.1, 1e-5, 1.0),
            (3.0, 1e-9, 10.0),
            (1.0, 1e-5, 1000.0),
        ] {
            let zcdp = zcdp_sigma2(epsilon, delta, sensitivity).sqrt();
            let sigma = exact_sigma(epsilon, delta, sensitivity, zcdp).unwrap();
            assert!(sigma < zcdp);
            assert!(delta_upper_bound(sigma * sigma, epsilon, sensitivity) <= delta);
            let smaller = sigma * (1.0 - 1e-3);
            assert!(delta_upper_bound(smaller * smaller, epsilon, sensitivity) > delta);
        }
        // For large σ the discrete Gaussian calibrates like the continuous one: the analytic
        // Gaussian mechanism (Balle and Wang 2018) needs σ = 3.73063·Δ at ε = 1, δ = 1e-5.
        let zcdp = zcdp_sigma2(1.0, 1e-5, 1000.0).sqrt();
        let sigma = exact_sigma(1.0, 1e-5, 1000.0, zcdp).unwrap();
        assert!((sigma / 3_730.631_635 - 1.0).abs() < 1e-3, "{sigma}");
    }

    #[test]
    fn zcdp_conversion_inverts() {
        for (epsilon, delta) in [(1.0, 1e-6), (0.01, 1e-3), (50.0, 1e-10)] {
            let sigma2 = zcdp_sigma2(epsilon, delta, 3.0);
            let rho = 9.0 / (2.0 * sigma2);
            let back = rho + 2.0 * (rho * -delta.ln()).sqrt();
            assert!((back / epsilon - 1.0).abs() < 1e-12);
        }
    }
}
