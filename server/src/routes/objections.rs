//! Objections against datasets (any role): filing one suspends the dataset at once and stops
//! the jobs using it; its provider resolves it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::on;
use axum::Json;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Caller, Objection, Page, Resolution};

const ID: &[Param] = &[Param::string("id", "Objection id (`obj-...`).")];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/objections", "fileObjection", |m| on(m, file))
            .doc(
                "objections",
                "File an objection: the dataset is suspended and the jobs using it stopped",
            )
            .json_body("NewObjection")
            .returns(201, "Objection")
            .errors(&[403, 404, 409]),
        Route::get("/v1/objections", "listObjections", |m| on(m, list))
            .doc("objections", "List objections")
            .query(PAGE_PARAMS)
            .returns(200, "ObjectionPage")
            .errors(&[403]),
        Route::post("/v1/objections/{id}/resolve", "resolveObjection", |m| {
            on(m, resolve)
        })
        .doc(
            "objections",
            "Resolve an objection (the dataset's provider): withdraw, restore or restore after treatment",
        )
        .path_params(ID)
        .json_body("ResolveObjection")
        .returns(200, "Objection")
        .errors(&[403, 404, 409]),
    ]
}

/// An objection against a dataset: `POST /v1/objections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewObjection {
    /// The dataset objected to.
    pub dataset: String,
    /// The harm claimed.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// A resolution: `POST /v1/objections/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = note_required)]
pub(crate) struct ResolveObjection {
    /// How it is resolved.
    pub resolution: Resolution,
    /// The provider's note (required).
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub note: String,
}

/// `note` is required: a resolution without one is refused. serde's default only lets governance
/// refuse it in its own words, as it refuses a blank note, so the document must say it instead.
fn note_required(schema: &mut Schema) {
    if let Some(note) = schema
        .get_mut("properties")
        .and_then(|properties| properties.get_mut("note"))
        .and_then(Value::as_object_mut)
    {
        note.remove("default");
    }
    let required = schema
        .ensure_object()
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(required) = required {
        required.push("note".into());
    }
}

async fn file(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewObjection>,
) -> Result<(StatusCode, Json<Objection>), ApiError> {
    let objection = state
        .blocking(move |queue| {
            let (objection, jobs) =
                queue
                    .governance()
                    .file_objection(&caller, &body.dataset, &body.reason)?;
            queue.stop_all(&jobs, "objection against a dataset it uses");
            Ok(objection)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(objection)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<Objection>>, ApiError> {
    let page = page.to_request()?;
    state
        .gov(move |gov| gov.list_objections(&caller, &page))
        .await
        .map(Json)
}

async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ResolveObjection>,
) -> Result<Json<Objection>, ApiError> {
    state
        .gov(move |gov| gov.resolve_objection(&caller, &id, body.resolution, &body.note))
        .await
        .map(Json)
}
