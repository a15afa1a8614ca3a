//! Sample-and-aggregate: differential privacy for arbitrary module code (`release_vector`).
//!
//! A module asks for the release of a `[[vector]]` contract. The job then runs the module's
//! partition export once per partition, in fresh instances, each against views holding only the
//! rows of one of m disjoint entity partitions (`engine::partition`), and collects one vector of
//! d numbers per partition. This module does the rest, in order:
//!
//! ```text
//! m vectors ─▶ failed / wrong length / non-finite → default (midpoint of the bounds)
//!           ─▶ clamp into the bounds ─▶ quantize ─▶ sum          [`sum`]
//!           ─▶ charge the budget (the job, before any noise)
//!           ─▶ + discrete noise per coordinate ─▶ mean           [`noisy_mean`]
//!           ─▶ one row per coordinate                             [`table`]
//! ```
//!
//! **Why this holds against any module.** One entity's rows are all in one partition, so adding or
//! removing it changes at most one partition's vector; clamping bounds that change per coordinate
//! by `hi − lo`, hence the mean's by `(hi − lo)/m`. The noise is calibrated to that sensitivity,
//! whatever the code computed. A run that fails contributes the default vector, which does not
//! depend on the data, so failing on purpose leaks nothing either: the *fact* of failing is data-
//! dependent, but it only selects which of two bounded values the partition contributes.

mod contract;
mod mean;

pub use contract::{
    entity_column_missing, VectorContract, VectorContractError, MAX_BOUND, MAX_COORDS,
    MAX_PARTITIONS, MIN_PARTITIONS,
};
pub use mean::{
    noisy_mean, sum, table, NoNoise, NoisyCoordinate, SumNoise, VectorMechanism, VectorSums,
    OUTPUT_COLUMNS, RESOLUTION_STEPS,
};
