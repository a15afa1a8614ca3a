//! Scenario applications: submitted by operators, reviewed by the bureau and the providers
//! involved, suspended, restored or revoked by the bureau. Suspending or revoking stops the
//! application's queued and running jobs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ReasonInput;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Application, Caller, NewApplication, Page, ReviewInput};
use shuyu::governance::{EffectiveContract, GovError, Governance};

const ID: &[Param] = &[Param::string("id", "Application id (`app-...`).")];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/applications", "submitApplication", |m| on(m, submit))
            .doc("applications", "Submit a scenario application (operator)")
            .json_body("NewApplication")
            .returns(201, "Application")
            .errors(&[403, 404, 409]),
        Route::get("/v1/applications", "listApplications", |m| on(m, list))
            .doc(
                "applications",
                "List applications (operator: own; provider: those using its data; bureau, reviewer: all)",
            )
            .query(PAGE_PARAMS)
            .returns(200, "ApplicationPage")
            .errors(&[403]),
        Route::get("/v1/applications/{id}", "getApplication", |m| on(m, get))
            .doc("applications", "One application with its reviews")
            .path_params(ID)
            .returns(200, "Application")
            .errors(&[403, 404]),
        Route::get(
            "/v1/applications/{id}/contract",
            "getApplicationContract",
            |m| on(m, contract),
        )
        .doc(
            "applications",
            "The effective contract: the scenario composed with its datasets' current manifests, \
             as the guard enforces it, with every place looser than a manifest marked",
        )
        .path_params(ID)
        .returns(200, "EffectiveContract")
        .errors(&[403, 404, 409]),
        Route::post("/v1/applications/{id}/reviews", "reviewApplication", |m| {
            on(m, review)
        })
        .doc(
            "applications",
            "Record a review (bureau, or a provider whose data it uses)",
        )
        .path_params(ID)
        .json_body("ReviewInput")
        .returns(200, "Application")
        .errors(&[403, 404, 409]),
        Route::post("/v1/applications/{id}/suspend", "suspendApplication", |m| {
            on(m, suspend)
        })
        .doc(
            "applications",
            "Suspend one application (bureau); its queued and running jobs are stopped",
        )
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "ApplicationAction")
        .errors(&[403, 404, 409]),
        Route::post("/v1/applications/{id}/restore", "restoreApplication", |m| {
            on(m, restore)
        })
        .doc("applications", "Restore a suspended application (bureau)")
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "Application")
        .errors(&[403, 404, 409]),
        Route::post("/v1/applications/{id}/revoke", "revokeApplication", |m| {
            on(m, revoke)
        })
        .doc(
            "applications",
            "Revoke an application for good (bureau); its queued and running jobs are stopped",
        )
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "ApplicationAction")
        .errors(&[403, 404, 409]),
    ]
}

/// The answer to a suspension or revocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct ApplicationAction {
    /// The application after the action.
    pub application: Application,
    /// Its jobs that were queued or running and have been stopped.
    pub stopped_jobs: Vec<String>,
}

async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewApplication>,
) -> Result<(StatusCode, Json<Application>), ApiError> {
    let application = state
        .gov(move |gov| gov.submit_application(&caller, new))
        .await?;
    Ok((StatusCode::CREATED, Json(application)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<Application>>, ApiError> {
    let page = page.to_request()?;
    state
        .gov(move |gov| gov.list_applications(&caller, &page))
        .await
        .map(Json)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Application>, ApiError> {
    state
        .gov(move |gov| gov.get_application(&caller, &id))
        .await
        .map(Json)
}

async fn contract(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EffectiveContract>, ApiError> {
    state
        .gov(move |gov| gov.application_contract(&caller, &id))
        .await
        .map(Json)
}

async fn review(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Json<Application>, ApiError> {
    let application = state
        .gov(move |gov| gov.review_application(&caller, &id, input))
        .await?;
    state.warm_if_approved(&application);
    Ok(Json(application))
}

async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<Application>, ApiError> {
    state
        .gov(move |gov| gov.restore_application(&caller, &id, &body.reason))
        .await
        .map(Json)
}

/// A governance action that returns the jobs to stop.
type StoppingAction = fn(&Governance, &Caller, &str, &str) -> Result<Vec<String>, GovError>;

/// Runs a suspension or revocation, stops the jobs it returns, and reads the application back.
async fn stop_with(
    state: AppState,
    caller: Caller,
    id: String,
    reason: String,
    action: StoppingAction,
    detail: &'static str,
) -> Result<Json<ApplicationAction>, ApiError> {
    state
        .blocking(move |queue| {
            let gov = queue.governance();
            let stopped_jobs = action(gov, &caller, &id, &reason)?;
            queue.stop_all(&stopped_jobs, detail);
            let application = gov.get_application(&caller, &id)?;
            Ok(ApplicationAction {
                application,
                stopped_jobs,
            })
        })
        .await
        .map(Json)
}

async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<ApplicationAction>, ApiError> {
    stop_with(
        state,
        caller,
        id,
        body.reason,
        Governance::suspend_application,
        "application suspended",
    )
    .await
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<ApplicationAction>, ApiError> {
    stop_with(
        state,
        caller,
        id,
        body.reason,
        Governance::revoke_application,
        "application revoked",
    )
    .await
}
