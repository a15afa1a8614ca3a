//! The API's routes, one module per area. Each module lists its routes for the route table
//! ([`super::route_table`]) next to the handlers they run.

mod agreements;
mod applications;
mod audit;
mod budgets;
mod datasets;
mod domain;
mod jobs;
mod modules;
mod objections;
mod operators;
mod products;
mod quality;
mod system;

use serde::{Deserialize, Serialize};

use super::route_table::Route;

pub use domain::DomainPublicKey;

/// Every route of the API, in the order the OpenAPI document lists them.
pub fn all() -> Vec<Route> {
    [
        system::routes(),
        domain::routes(),
        datasets::routes(),
        agreements::routes(),
        operators::routes(),
        modules::routes(),
        applications::routes(),
        objections::routes(),
        quality::routes(),
        jobs::routes(),
        budgets::routes(),
        products::routes(),
        audit::routes(),
    ]
    .concat()
}

/// `{"reason": "..."}`: why a governance action is taken (audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    /// Why.
    pub reason: String,
}
