//! Health, identity and the API's own description.

use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::openapi;
use crate::route_table::Route;
use crate::state::AppState;
use axum::extract::State;
use shuyu::governance::model::{Caller, Identity};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/openapi.json", "openapi", |m| on(m, openapi_document))
            .doc("system", "This document: the API's OpenAPI 3.1 description")
            .public()
            .returns(200, "OpenApiDocument"),
        Route::get("/v1/health", "health", |m| on(m, health))
            .doc("system", "Whether the server is up, and its version")
            .public()
            .returns(200, "Health"),
        Route::get("/v1/whoami", "whoami", |m| on(m, whoami))
            .doc("system", "The caller's own identity")
            .returns(200, "Identity")
            .errors(&[404]),
    ]
}

/// An OpenAPI 3.1 document: `GET /openapi.json`.
// The document built once, answered without a copy.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("type" = "object"))]
pub(crate) struct OpenApiDocument(
    /// The document.
    pub &'static serde_json::Value,
);

/// The server is up: `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Health {
    /// Always `ok` when answered.
    #[schemars(extend("enum" = ["ok"]))]
    pub status: String,
    /// The server's version.
    pub version: String,
}

async fn openapi_document() -> Json<OpenApiDocument> {
    Json(OpenApiDocument(openapi::document()))
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

async fn whoami(State(state): State<AppState>, caller: Caller) -> Result<Json<Identity>, ApiError> {
    state.gov(move |gov| gov.whoami(&caller)).await.map(Json)
}
