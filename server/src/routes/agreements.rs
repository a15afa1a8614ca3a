//! Authorization agreements: granted and terminated by the bureau.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::on;
use axum::Json;

use super::ReasonInput;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Agreement, Caller, NewAgreement, Page};

const ID: &[Param] = &[Param::string("id", "Agreement id (`agr-...`).")];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/agreements", "createAgreement", |m| on(m, create))
            .doc("agreements", "Grant an authorization agreement (bureau)")
            .json_body("NewAgreement")
            .returns(201, "Agreement")
            .errors(&[403, 404, 409]),
        Route::get("/v1/agreements", "listAgreements", |m| on(m, list))
            .doc(
                "agreements",
                "List agreements (bureau, reviewer: all; operator: its own)",
            )
            .query(PAGE_PARAMS)
            .returns(200, "AgreementPage")
            .errors(&[403]),
        Route::get("/v1/agreements/{id}", "getAgreement", |m| on(m, get))
            .doc("agreements", "One agreement")
            .path_params(ID)
            .returns(200, "Agreement")
            .errors(&[403, 404]),
        Route::post("/v1/agreements/{id}/terminate", "terminateAgreement", |m| {
            on(m, terminate)
        })
        .doc(
            "agreements",
            "Terminate an agreement (bureau): its applications end, its jobs are refused",
        )
        .path_params(ID)
        .json_body("ReasonInput")
        .returns(200, "Agreement")
        .errors(&[403, 404, 409]),
    ]
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewAgreement>,
) -> Result<(StatusCode, Json<Agreement>), ApiError> {
    let agreement = state
        .gov(move |gov| gov.create_agreement(&caller, new))
        .await?;
    Ok((StatusCode::CREATED, Json(agreement)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<Agreement>>, ApiError> {
    let page = page.to_request()?;
    state
        .gov(move |gov| gov.list_agreements(&caller, &page))
        .await
        .map(Json)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Agreement>, ApiError> {
    state
        .gov(move |gov| gov.get_agreement(&caller, &id))
        .await
        .map(Json)
}

async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<Agreement>, ApiError> {
    state
        .blocking(move |queue| {
            let gov = queue.governance();
            let agreement = gov.terminate_agreement(&caller, &id, &body.reason)?;
            // Access ends with the agreement: running jobs under it stop too, as on suspension.
            let live = gov.live_jobs_of_agreement(&id)?;
            queue.stop_all(&live, "agreement terminated");
            Ok(agreement)
        })
        .await
        .map(Json)
}
