//! The accounting of one release: what came in, what was dropped, clamped and suppressed, and why.
//!
//! Suppression is accounted, never silent (docs/concepts.md, "Policies that compose"): the report goes into the product manifest
//! and to the operator whether the release was made or blocked. It holds counts and the policy's
//! parameters only, never a value, so it is safe to show.

use serde::{Deserialize, Serialize};

/// Counts of everything the guard did to one release's contributions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseReport {
    /// Rows received in chunks that had the contract's schema (before any rule).
    pub contribution_rows: u64,
    /// Distinct real entities that contributed.
    pub entities: u64,
    /// Rows with a null entity (any blocks the release).
    pub rows_null_entity: u64,
    /// Rows naming an entity not in the granted datasets (any blocks the release).
    pub rows_unknown_entity: u64,
    /// Rows beyond an entity's first `max_rows_per_entity`, dropped.
    pub rows_dropped_by_bound: u64,
    /// Measure values moved to the nearest clamp bound.
    pub values_clamped: u64,
    /// Measure values that were NaN or ±infinity, left out of their measure's count, sum and mean.
    pub non_finite_values: u64,
    /// Measure values that were null, left out of their measure's count, sum and mean.
    pub null_values: u64,
    /// Groups formed by the kept rows.
    pub groups_total: u64,
    /// Groups in the released table.
    pub groups_released: u64,
    /// Groups withheld for having fewer than `k` distinct entities.
    pub groups_suppressed: u64,
    /// Kept rows belonging to the suppressed groups.
    pub rows_suppressed: u64,
    /// The effective minimum of distinct entities per released group.
    pub k: u32,
    /// The effective per-entity row bound `L`.
    pub max_rows_per_entity: u32,
    /// Why groups were suppressed, in words, e.g. `fewer than k=5 distinct entities`.
    pub suppression_rule: String,
    /// True for a release with privacy: every count above that depends on the data is withheld
    /// (left at 0), because exact counts would bypass the noise; a module can make them carry
    /// anything (e.g. `contribution_rows` equal to one person's income).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counts_withheld: bool,
}

impl ReleaseReport {
    /// An empty report for a release under effective `k` and bound `L`.
    pub fn new(k: u32, max_rows_per_entity: u32) -> Self {
        Self {
            k,
            max_rows_per_entity,
            suppression_rule: format!("fewer than k={k} distinct entities"),
            ..Self::default()
        }
    }

    /// The report of a release with privacy that takes no counts of its own (a vector release,
    /// released or blocked).
    pub fn withheld_empty() -> Self {
        Self {
            counts_withheld: true,
            ..Self::default()
        }
    }

    /// This report as a release with privacy may show it: the policy's parameters, the number
    /// of released groups (a function of the noisy output or of the public domain) and
    /// `suppression_rule`, every data-dependent count withheld.
    pub(crate) fn withheld(&self, suppression_rule: &str) -> Self {
        Self {
            k: self.k,
            max_rows_per_entity: self.max_rows_per_entity,
            groups_released: self.groups_released,
            suppression_rule: suppression_rule.to_owned(),
            counts_withheld: true,
            ..Self::default()
        }
    }
}
