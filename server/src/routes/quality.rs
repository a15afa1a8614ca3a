//! Data-quality requests: operators ask, the dataset's provider answers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Caller, Page, QualityRequest};

const ID: &[Param] = &[Param::string("id", "Quality request id (`qr-...`).")];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/quality-requests", "fileQualityRequest", |m| {
            on(m, file)
        })
        .doc(
            "quality",
            "Ask a dataset's provider to fix a data-quality problem (operator)",
        )
        .json_body("NewQualityRequest")
        .returns(201, "QualityRequest")
        .errors(&[403, 404]),
        Route::get("/v1/quality-requests", "listQualityRequests", |m| {
            on(m, list)
        })
        .doc(
            "quality",
            "List quality requests (operator: own; provider: its datasets'; bureau, reviewer: all)",
        )
        .query(PAGE_PARAMS)
        .returns(200, "QualityRequestPage")
        .errors(&[403]),
        Route::post(
            "/v1/quality-requests/{id}/answer",
            "answerQualityRequest",
            |m| on(m, answer),
        )
        .doc(
            "quality",
            "Answer a quality request (the dataset's provider)",
        )
        .path_params(ID)
        .json_body("QualityAnswer")
        .returns(200, "QualityRequest")
        .errors(&[403, 404, 409]),
    ]
}

/// A data-quality request: `POST /v1/quality-requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewQualityRequest {
    /// The dataset.
    pub dataset: String,
    /// The problem.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub description: String,
}

/// A provider's answer: `POST /v1/quality-requests/{id}/answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QualityAnswer {
    /// The provider's answer.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub answer: String,
}

async fn file(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewQualityRequest>,
) -> Result<(StatusCode, Json<QualityRequest>), ApiError> {
    let request = state
        .gov(move |gov| gov.file_quality_request(&caller, &body.dataset, &body.description))
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<QualityRequest>>, ApiError> {
    let page = page.to_request()?;
    state
        .gov(move |gov| gov.list_quality_requests(&caller, &page))
        .await
        .map(Json)
}

async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<QualityAnswer>,
) -> Result<Json<QualityRequest>, ApiError> {
    state
        .gov(move |gov| gov.answer_quality_request(&caller, &id, &body.answer))
        .await
        .map(Json)
}
