//! Suspending and restoring operators (bureau). A suspension stops the operator's queued and
//! running jobs at once.

use axum::extract::State;
use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ReasonInput;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::route_table::{Param, Route};
use crate::state::AppState;
use shuyu::governance::model::{Caller, Identity};

const ID: &[Param] = &[Param::string("id", "Operator identity id.")];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/operators/{id}/suspend", "suspendOperator", |m| {
            on(m, suspend)
        })
        .doc(
            "operators",
            "Suspend an operator (bureau): every job refused, queued and running jobs stopped",
        )
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "OperatorSuspension")
        .errors(&[403, 404, 409]),
        Route::post("/v1/operators/{id}/restore", "restoreOperator", |m| {
            on(m, restore)
        })
        .doc("operators", "Restore a suspended operator (bureau)")
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "Identity")
        .errors(&[403, 404, 409]),
        Route::post("/v1/operators/{id}/terminate", "terminateOperator", |m| {
            on(m, terminate)
        })
        .doc(
            "operators",
            "Terminate an operator for good (bureau): every job refused, queued and running jobs \
             stopped, no restoration",
        )
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "OperatorSuspension")
        .errors(&[403, 404, 409]),
    ]
}

/// The answer to a suspension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct OperatorSuspension {
    /// The operator, now suspended (or terminated).
    pub operator: Identity,
    /// Its jobs that were queued or running and have been stopped.
    pub stopped_jobs: Vec<String>,
}

async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<OperatorSuspension>, ApiError> {
    stop_operator(state, caller, id, body.reason, false).await
}

async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<OperatorSuspension>, ApiError> {
    stop_operator(state, caller, id, body.reason, true).await
}

/// Suspends or terminates an operator and stops its live jobs (the console's buttons too).
pub(crate) async fn stop_operator(
    state: AppState,
    caller: Caller,
    id: String,
    reason: String,
    terminate: bool,
) -> Result<Json<OperatorSuspension>, ApiError> {
    state
        .blocking(move |queue| {
            let gov = queue.governance();
            let (stopped_jobs, cause) = if terminate {
                (
                    gov.terminate_operator(&caller, &id, &reason)?,
                    "operator terminated",
                )
            } else {
                (
                    gov.suspend_operator(&caller, &id, &reason)?,
                    "operator suspended",
                )
            };
            queue.stop_all(&stopped_jobs, cause);
            // Governance returns only the jobs; the identity is read back to show its status.
            let operator = gov
                .admin_list_identities()?
                .into_iter()
                .find(|identity| identity.id == id)
                .ok_or_else(|| ApiError::not_found(format!("operator '{id}'")))?;
            Ok(OperatorSuspension {
                operator,
                stopped_jobs,
            })
        })
        .await
        .map(Json)
}

async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<Identity>, ApiError> {
    state
        .gov(move |gov| gov.restore_operator(&caller, &id, &body.reason))
        .await
        .map(Json)
}
