//! Differential-privacy noise, sampled exactly.
//!
//! The guard adds noise to integer aggregates (counts, and sums of clamped measures quantized to
//! a fixed resolution) through a [`Mechanism`]: [`Mechanism::laplace`] for pure ε-DP,
//! [`Mechanism::gaussian`] for (ε, δ)-DP. Both draw from *discrete* distributions on the
//! integers with exact rational parameters, using integer arithmetic and uniform integers from a
//! CSPRNG, after Canonne, Kamath and Steinke 2020 (CKS20, "The Discrete Gaussian for
//! Differential Privacy", NeurIPS 2020):
//!
//! ```text
//! SecureRng (ring::rand::SystemRandom) ─▶ uniform_below ─▶ bernoulli(p), bernoulli_exp_neg(γ)   [CKS20 Alg. 1]
//!                                        ─▶ DiscreteLaplace  P(x) ∝ exp(-|x|/t)                  [CKS20 Alg. 2]
//!                                        ─▶ DiscreteGaussian P(x) ∝ exp(-x²/2σ²)                 [CKS20 Alg. 3]
//!                                        ─▶ Mechanism: calibration from (ε, δ, Δ), sample, add_noise, describe
//! ```
//!
//! **Why not floating-point Laplace noise.** The textbook sampler (`-t·sgn(u)·ln(1-2|u|)` in
//! doubles) produces values whose set of reachable floats depends on the true answer: Mironov
//! (2012) recovered the exact input from the low-order bits of such outputs, at any ε. Here no
//! float enters a sample: every probability is an exact rational comparison, so the output
//! distribution is exactly the one the proof is about. Floats appear only in *accounting* —
//! choosing σ, reporting standard deviations and intervals — and always err towards more noise.
//!
//! **What each mechanism guarantees.**
//! - Discrete Laplace with scale `t ≥ Δ/ε`: ε-DP for an integer query of L1 sensitivity Δ
//!   (`P(x)/P(x + Δ) ≤ exp(Δ/t) ≤ e^ε`). The scale is rounded *up* to a multiple of 2^-20 units.
//! - Discrete Gaussian `N_Z(0, σ²)`: `ρ = Δ²/(2σ²)`-zCDP (CKS20 Theorem 4) and (ε, δ)-DP for the
//!   δ of CKS20 Theorem 7 (exact privacy loss), falling back to the zCDP conversion
//!   `ε = ρ + 2√(ρ·ln(1/δ))` if the exact one cannot be certified; see `conversion.rs`. σ² is
//!   rounded *up*. Both statements are for one integer-valued query: a vector of queries is
//!   several mechanisms, composed by the ledger.
//!
//! **What they do not guarantee.**
//! - *Sensitivity is the caller's promise.* A mechanism assumes the query moves by at most
//!   `sensitivity` units when one entity's data changes. The guard makes that true with its
//!   clamps and its per-entity row bound L (e.g. a sum has sensitivity `L·max(|lo|, |hi|)` in
//!   units); nothing here checks it.
//! - *Resolution.* Values and noise are integers in units of a resolution the caller fixes
//!   before noising. Quantize first, then noise; rounding a noisy value afterwards is
//!   post-processing and harmless, but quantizing with a value-dependent step is not.
//! - *Composition.* Each mechanism is one release. Adding up ε (and δ, or ρ) across releases is
//!   the privacy-budget ledger's job; [`MechanismInfo`] carries what it needs.
//! - *Timing.* Sampling time depends on the drawn value (rejection loops). The noised value is
//!   released anyway, and the loops do not depend on the true answer.
//! - *Randomness.* [`SecureRng`] is the operating system's CSPRNG through `ring`. The
//!   [`RandomSource`] trait exists so tests can inject a seeded source; production code must
//!   pass a `SecureRng`, since a predictable source voids every guarantee.

mod bernoulli;
mod conversion;
mod discrete_gaussian;
mod discrete_laplace;
mod error;
mod mechanism;
mod rng;
mod special;

#[cfg(test)]
mod test_stats;

pub use bernoulli::{bernoulli, bernoulli_exp_neg};
pub use conversion::GaussianConversion;
pub use discrete_gaussian::DiscreteGaussian;
pub use discrete_laplace::DiscreteLaplace;
pub use error::NoiseError;
pub use mechanism::{
    Mechanism, MechanismInfo, MechanismKind, MAX_DELTA, MAX_EPSILON, MAX_GAUSSIAN_SIGMA2,
    MAX_LAPLACE_SCALE, MAX_SENSITIVITY, SCALE_DENOMINATOR,
};
pub use rng::{uniform_below, uniform_below_u128, RandomSource, SecureRng};
