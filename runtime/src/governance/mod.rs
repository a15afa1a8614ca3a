//! Governance: who may run what, on which data, under which contract.
//!
//! A job is authorized either by a local scenario file checked against the catalog (`shuyu run`)
//! or, on a server, by the governance state of docs/concepts.md, "Roles and rules" kept in the database: identities and
//! roles, registered datasets, authorization agreements, scenario applications with dual review,
//! suspensions, objections and quality requests ([`Governance`]).

mod access;
mod agreements;
mod applications;
mod bindings;
mod budgets;
mod calendar;
mod consents;
pub mod effective;
mod expiry;
mod gate;
mod identities;
mod jobs;
mod mock_runs;
mod modules;
mod objections;
mod operators;
mod page;
mod quality;
mod quotas;
mod refusals;
mod registry;
mod reviews;
mod service;

#[cfg(test)]
mod tests;

/// The governance records (crate `shuyu-model`), under the name governance and the server use.
pub use shuyu_model::records as model;
/// The scenario file and its composition with the catalog (crate `shuyu-model`).
pub use shuyu_model::scenario;

pub(crate) use bindings::bind_scenario;
pub use bindings::ScenarioBinding;
pub use budgets::BudgetAccess;
pub use consents::NewConsent;
pub use effective::EffectiveContract;
pub use gate::{ServiceAuthorization, ServiceRefusal};
pub use mock_runs::{MockPlan, DETAIL_INTERRUPTED, MOCK_RUNS_PER_OPERATOR};
pub use quotas::MAX_MODULE_BYTES;
pub(crate) use refusals::refusal_parts;
pub use refusals::{Refusal, RefusalLimit};
pub use scenario::{
    ApprovedScenario, Grant, Looser, ResolvedRelease, ScenarioError, ScenarioFile, ScenarioInfo,
};
pub use service::{GovError, Governance};
