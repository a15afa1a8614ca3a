//! The guard: the only way data leaves a job.
//!
//! A module never writes output. It hands *contributions* (rows of entity pseudonym, dimension
//! values, measure values) for a release named in the scenario's contract, and the guard decides
//! (docs/concepts.md, "The path of a job", docs/abi.md §Contributions). While chunks stream in, [`ReleaseBuilder`] checks
//! and accumulates them row by row; [`ReleaseBuilder::finish`] then returns a [`Decision`]: a
//! [`ReleasedTable`] with its [`ReleaseReport`], or a [`Block`] naming the first [`Rule`] violated.
//!
//! ```text
//! append_*  ─ per chunk ─▶ schema ─▶ entity (null / unknown) ─▶ bound L ─▶ clamp ─▶ aggregate
//! finish    ─ once ──────▶ size ─▶ domain ─▶ scan (all candidate groups) ─▶ threshold (k per measure, dominance) ─▶ table ─▶ output shape
//!   with privacy ────────▶ size ─▶ domain ─▶ scan ─▶ charge budget ─▶ keys ─▶ noise ─▶ table ─▶ output shape
//! ```
//!
//! **Invariants.** Memory grows with distinct real entities and groups, never with rows streamed.
//! Nothing the module sends can make the guard panic. Block messages and reports hold rule names,
//! contract column names and counts, never a cell value or a pseudonym, because the operator sees
//! them and the module controls the values. The guard never loosens the contract: k is at least the
//! contract's.
//!
//! **Differential privacy.** `finish` passes an `Aggregates` value (per group: distinct entities,
//! rows, per-measure count and sum) through small pure steps. For a contract with `privacy`,
//! [`ReleaseBuilder::finish_private`] replaces the threshold with `privacy.rs`: charge the budget
//! through a [`BudgetGate`] first, then choose the keys (public domains or DP partition
//! selection) and add calibrated noise to the counts and sums (the bound `L` and the clamps give
//! the sensitivity). The k threshold does not apply there.
//!
//! Threshold-only releases rely on the pinned, reviewed module: the scan catches identifiers
//! copied into cells, not every possible encoding. Differential privacy holds against any module.

mod aggregate;
mod bound;
mod charge;
mod clamp;
mod contract;
mod decision;
mod domain;
mod entity;
mod ipc_check;
pub mod noise;
mod oracle;
mod output;
mod privacy;
mod release;
mod report;
mod scan;
mod schema;
pub mod service;
mod shard;
mod steps;
mod table;
mod threshold;
pub mod vector;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_privacy;

pub use aggregate::{MemberHasher, MAX_KEY_VALUE_BYTES};
pub use charge::Charge;
pub use contract::{
    Aggregation, ContractError, DimensionSpec, DominanceSpec, MeasureSpec, PrivacySpec,
    ReleaseContract, DEFAULT_DOMINANCE, ENTITIES_COLUMN, ENTITY_COLUMN, MAX_DOMINANCE_N,
    MAX_RELEASE_DELTA, MAX_RELEASE_EPSILON,
};
pub use decision::{Block, Decision, ReleasedTable, Rule};
pub use entity::{EntityBatches, EntityChunkCheck, EntityDrops, EntityRow};
pub use oracle::{parse_pseudonym, IdentifierOracle, NotAPseudonym, SetOracle, PSEUDONYM_HEX_LEN};
pub use privacy::{
    default_resolution, BudgetGate, ColumnNoise, PrivacyInfo, PrivacyPlan, SelectionInfo,
    DEFAULT_DATASET_BUDGET, DEFAULT_RESOLUTION_SPAN,
};
pub use release::{AppendError, ReleaseBuilder};
pub use report::ReleaseReport;
pub use scan::fold;
pub use steps::{Step, PRIVATE_STEPS, THRESHOLD_STEPS};
