//! The guard: the only way data leaves a job.
//!
//! A module never writes output. It hands *contributions* (rows of entity pseudonym, dimension
//! values, measure values) for a release named in the scenario's contract, and the guard decides
//! (DESIGN.md §2.4, docs/abi.md §Contributions). While chunks stream in, [`ReleaseBuilder`] checks
//! and accumulates them row by row; [`ReleaseBuilder::finish`] then returns a [`Decision`]: a
//! [`ReleasedTable`] with its [`ReleaseReport`], or a [`Block`] naming the first [`Rule`] violated.
//!
//! ```text
//! append_*  ─ per chunk ─▶ schema ─▶ entity (null / unknown) ─▶ bound L ─▶ clamp ─▶ aggregate
//! finish    ─ once ──────▶ size ─▶ domain ─▶ scan (all candidate groups) ─▶ [noise] ─▶ threshold k ─▶ table ─▶ output shape
//! ```
//!
//! **Invariants.** Memory grows with distinct real entities and groups, never with rows streamed.
//! Nothing the module sends can make the guard panic. Block messages and reports hold rule names,
//! contract column names and counts, never a cell value or a pseudonym, because the operator sees
//! them and the module controls the values. The guard never loosens the contract: k is at least the
//! contract's.
//!
//! **Where differential privacy goes.** `finish` passes an `Aggregates` value (per group: distinct
//! entities, rows, per-measure count and sum) through small pure steps. A DP step belongs between
//! the domain check and the threshold in `release.rs` (marked there): charge the budget first, then
//! add calibrated noise to the counts and sums of `Aggregates` (the bound `L` and the clamps give
//! the sensitivity), then threshold on the noisy entity counts. Nothing else needs reshaping.
//!
//! Threshold-only releases rely on the pinned, reviewed module: the scan catches identifiers
//! copied into cells, not every possible encoding. Differential privacy holds against any module.

mod aggregate;
mod bound;
pub mod budget;
mod clamp;
mod contract;
mod decision;
mod domain;
pub mod noise;
mod oracle;
mod output;
mod release;
mod report;
mod scan;
mod schema;
mod table;
mod threshold;

#[cfg(test)]
mod tests;

pub use aggregate::MAX_KEY_VALUE_BYTES;
pub use contract::{
    Aggregation, ContractError, DimensionSpec, MeasureSpec, ReleaseContract, ENTITIES_COLUMN,
    ENTITY_COLUMN,
};
pub use decision::{Block, Decision, ReleasedTable, Rule};
pub use oracle::{parse_pseudonym, IdentifierOracle, NotAPseudonym, SetOracle, PSEUDONYM_HEX_LEN};
pub use release::{AppendError, ReleaseBuilder};
pub use report::ReleaseReport;
