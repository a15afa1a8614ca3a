//! Governance: who may run what, on which data, under which contract.
//!
//! Today a job is authorized by a scenario file (`scenario.toml`) checked against the catalog; the
//! database-backed lifecycle of operators, agreements, applications and reviews builds on it.

pub mod scenario;

pub use scenario::{
    ApprovedScenario, Grant, ResolvedRelease, ScenarioError, ScenarioFile, ScenarioInfo,
};
