//! The API's routes, one module per area. Each module lists its routes for the route table
//! ([`super::route_table`]) next to the handlers they run.

mod agreements;
mod applications;
mod audit;
mod budgets;
mod datasets;
mod domain;
mod jobs;
mod mock_runs;
mod modules;
mod objections;
mod operators;
mod products;
mod quality;
mod services;
mod system;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::route_table::Route;

pub use domain::DomainPublicKey;
// The bodies defined next to their handlers, for the document's schemas (`super::schemas`).
pub(super) use applications::ApplicationAction;
pub(super) use datasets::PublishDataset;
pub(crate) use jobs::cancel_job;
pub(super) use jobs::NewJob;
pub(crate) use mock_runs::{start_run as start_mock_run, MockSlots};
pub(super) use modules::ModuleUploaded;
pub(super) use objections::{NewObjection, ResolveObjection};
pub(crate) use operators::stop_operator;
pub(super) use operators::OperatorSuspension;
pub(crate) use products::product_file;
pub(super) use quality::{NewQualityRequest, QualityAnswer};
pub(super) use services::{ConsentInput, SubjectQuery, UsageReport};
pub(super) use system::{Health, OpenApiDocument};

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
        services::routes(),
        jobs::routes(),
        mock_runs::routes(),
        budgets::routes(),
        products::routes(),
        audit::routes(),
    ]
    .concat()
}

/// Why a governance action is taken (audited): `{"reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonInput {
    /// Why.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}
