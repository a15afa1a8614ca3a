//! What a private release costs: the guard computes it and asks its [`BudgetGate`](super::BudgetGate)
//! to charge it before any noise is drawn. The ledger that keeps the totals is `crate::budget`,
//! outside the guard: the guard decides, it does not keep books.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of privacy loss (ε, δ): what a release costs, or what a budget holds, has spent or
/// has left. Under basic composition the ε and the δ of successive releases add up.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Charge {
    /// ε.
    pub epsilon: f64,
    /// δ (0 for pure ε-differential privacy).
    pub delta: f64,
}

impl Charge {
    /// The amount (`epsilon`, `delta`).
    pub fn new(epsilon: f64, delta: f64) -> Self {
        Self { epsilon, delta }
    }
}

impl fmt::Display for Charge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ε={} δ={}", self.epsilon, self.delta)
    }
}
