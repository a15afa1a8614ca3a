//! Datasets: providers publish and withdraw versions; every role lists and reads them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::on;
use axum::Json;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ReasonInput;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Caller, DatasetRecord, Page};

/// The body limit of `POST /v1/datasets/{name}/versions`: 256 MiB of JSON, so about 192 MiB
/// of Parquet once base64-encoded.
pub(super) const PUBLISH_BODY_LIMIT: usize = 256 << 20;

const NAME: &[Param] = &[Param::string("name", "Dataset name.")];
const NAME_VERSION: &[Param] = &[
    Param::string("name", "Dataset name."),
    Param::integer("v", "Version number (1, 2, ...)."),
];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/v1/datasets", "listDatasets", |m| on(m, list))
            .doc("datasets", "List registered datasets")
            .query(PAGE_PARAMS)
            .returns(200, "DatasetRecordPage")
            .errors(&[403]),
        Route::get("/v1/datasets/{name}", "getDataset", |m| on(m, get))
            .doc("datasets", "One dataset with its versions")
            .path_params(NAME)
            .returns(200, "DatasetRecord")
            .errors(&[403, 404]),
        Route::post(
            "/v1/datasets/{name}/versions",
            "publishDatasetVersion",
            |m| on(m, publish),
        )
        .doc(
            "datasets",
            "Publish a new version (provider): dataset.toml text and base64 Parquet",
        )
        .path_params(NAME)
        .json_body("PublishDataset")
        .body_limit(PUBLISH_BODY_LIMIT)
        .returns(201, "DatasetRecord")
        .errors(&[403, 404, 409]),
        Route::post(
            "/v1/datasets/{name}/versions/{v}/withdraw",
            "withdrawDatasetVersion",
            |m| on(m, withdraw),
        )
        .doc("datasets", "Withdraw one version (its provider)")
        .path_params(NAME_VERSION)
        .json_body("ReasonInput")
        .returns(200, "DatasetRecord")
        .errors(&[403, 404, 409]),
    ]
}

/// A new dataset version: `POST /v1/datasets/{name}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishDataset {
    /// The `dataset.toml` text.
    pub manifest: String,
    /// The Parquet file, base64 (standard alphabet, padded).
    #[schemars(extend("contentEncoding" = "base64"))]
    pub parquet_base64: String,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<DatasetRecord>>, ApiError> {
    let page = page.to_request()?;
    state
        .gov(move |gov| gov.list_datasets(&caller, &page))
        .await
        .map(Json)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<DatasetRecord>, ApiError> {
    state
        .gov(move |gov| gov.get_dataset(&caller, &name))
        .await
        .map(Json)
}

async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PublishDataset>,
) -> Result<(StatusCode, Json<DatasetRecord>), ApiError> {
    let record = state
        .blocking(move |queue| {
            // Decoding 100+ MiB is CPU work: it runs here, off the async workers.
            let parquet = base64::engine::general_purpose::STANDARD
                .decode(body.parquet_base64.trim())
                .map_err(|e| ApiError::bad_request(format!("parquet_base64 is not base64: {e}")))?;
            let record = queue
                .governance()
                .publish_dataset(&caller, &name, &body.manifest, &parquet)
                .map_err(ApiError::from)?;
            // The approved applications' next jobs read this version: build their universes.
            queue.warm_universes_of(&name);
            Ok(record)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((name, version)): ApiPath<(String, u32)>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<DatasetRecord>, ApiError> {
    state
        .gov(move |gov| gov.withdraw_dataset_version(&caller, &name, version, &body.reason))
        .await
        .map(Json)
}
