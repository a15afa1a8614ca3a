//! What the ledger hands out: scopes, budgets, charges, debits and previews.
//!
//! Amounts cross the API as `f64` for convenience, but each one is the float nearest an exact
//! stored decimal (see `units`), so printing it shows that decimal.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use shuyu_guard::Charge;

use crate::units::{from_units, to_units, Round, DELTA_SCALE, EPSILON_SCALE};

/// What a budget belongs to. Serialized as `{"kind":"scenario","id":"..."}`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
#[schemars(with = "ScopeSchema")]
pub enum BudgetScope {
    /// A scenario, by id: bounds what all of its jobs together may learn.
    Scenario(String),
    /// A dataset, by name: bounds what all scenarios together may learn about its subjects.
    Dataset(String),
}

/// [`BudgetScope`] as it is sent, for its schema: one object with both fields. schemars would
/// describe the adjacent tagging as a `oneOf` of one object per kind; this says the same as plain
/// properties, which is how clients read a scope.
#[derive(JsonSchema)]
#[allow(dead_code)] // described, never built
struct ScopeSchema {
    /// A scenario, or a dataset across all scenarios.
    kind: ScopeKind,
    /// The scenario id or dataset name.
    id: String,
}

/// The `kind` of a [`BudgetScope`].
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
#[allow(dead_code)] // described, never built
enum ScopeKind {
    Scenario,
    Dataset,
}

impl BudgetScope {
    /// The stored kind: `scenario` or `dataset`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Scenario(_) => "scenario",
            Self::Dataset(_) => "dataset",
        }
    }

    /// The scenario id or dataset name.
    pub fn id(&self) -> &str {
        match self {
            Self::Scenario(id) | Self::Dataset(id) => id,
        }
    }

    /// The scope with stored kind `kind` and id `id`, `None` for an unknown kind.
    pub fn from_parts(kind: &str, id: String) -> Option<Self> {
        match kind {
            "scenario" => Some(Self::Scenario(id)),
            "dataset" => Some(Self::Dataset(id)),
            _ => None,
        }
    }
}

impl fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind(), self.id())
    }
}

/// A scope's budget: what it was granted and what its debits not refunded have spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Whose budget.
    pub scope: BudgetScope,
    /// ε granted in total.
    pub epsilon_total: f64,
    /// δ granted in total.
    pub delta_total: f64,
    /// ε spent by debits not refunded.
    pub epsilon_spent: f64,
    /// δ spent by debits not refunded.
    pub delta_spent: f64,
    /// When the totals were last set (RFC 3339, UTC, milliseconds).
    pub updated_at: String,
}

impl Budget {
    /// The total granted.
    pub fn total(&self) -> Charge {
        Charge::new(self.epsilon_total, self.delta_total)
    }

    /// What has been spent.
    pub fn spent(&self) -> Charge {
        Charge::new(self.epsilon_spent, self.delta_spent)
    }

    /// What is left to spend: exact (in the ledger's units) for a budget the ledger returned.
    pub fn remaining(&self) -> Charge {
        let exact = |total: f64, spent: f64, scale: u32| {
            // The fields of a ledger-made budget are exact decimals, so both conversions are
            // exact and the difference has no float error.
            let total = to_units(total, scale, Round::Down)?;
            let spent = to_units(spent, scale, Round::Up)?;
            Some(from_units(total.checked_sub(spent)?, scale))
        };
        Charge::new(
            exact(self.epsilon_total, self.epsilon_spent, EPSILON_SCALE)
                .unwrap_or(self.epsilon_total - self.epsilon_spent),
            exact(self.delta_total, self.delta_spent, DELTA_SCALE)
                .unwrap_or(self.delta_total - self.delta_spent),
        )
    }
}

/// One charge of a release against one or more scopes, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Debit {
    /// `dbt-` and 16 random hex digits.
    pub id: String,
    /// The job that asked for the release.
    pub job_id: String,
    /// The release's name in the scenario's contract.
    pub release: String,
    /// Who was charged (the operator running the job).
    pub actor: String,
    /// Every scope charged, in the order given.
    pub scopes: Vec<BudgetScope>,
    /// What each of those scopes was charged (rounded up to the ledger's units).
    pub charge: Charge,
    /// When (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// Whether it was refunded because nothing was released.
    pub refunded: bool,
    /// When it was refunded.
    pub refunded_at: Option<String>,
    /// Why it was refunded.
    pub refund_reason: Option<String>,
}

/// What a planned set of releases would cost one scope and leave it, computed without writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetPreview {
    /// The scope.
    pub scope: BudgetScope,
    /// Its total.
    pub total: Charge,
    /// What it has spent so far.
    pub spent: Charge,
    /// What it has left now.
    pub remaining: Charge,
    /// What all the planned releases together would cost it (each rounded up as a charge is).
    pub cost: Charge,
    /// What would be left after all of them; negative where the plan overdraws the budget.
    pub remaining_after: Charge,
    /// Whether all of them fit.
    pub fits: bool,
    /// How many of them, charged in the order given, would succeed before one is refused.
    pub fitting: usize,
}
