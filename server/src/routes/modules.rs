//! Module uploads (operators): raw WebAssembly, stored by SHA-256.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::WasmBody;
use crate::route_table::Route;
use crate::state::AppState;
use shuyu::governance::model::Caller;

/// The body limit of `POST /v1/modules`: 64 MiB, the most the `module_bytes` quota may allow
/// (the quota itself, 16 MiB by default, is checked by governance).
pub(super) const MODULE_BODY_LIMIT: usize = shuyu::governance::MAX_MODULE_BYTES as usize;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::post("/v1/modules", "uploadModule", |m| on(m, upload))
        .doc(
            "modules",
            "Upload a module (operator): raw bytes, `Content-Type: application/wasm`; idempotent",
        )
        .wasm_body()
        .body_limit(MODULE_BODY_LIMIT)
        .returns(201, "ModuleUploaded")
        .errors(&[403, 409, 422])]
}

/// The answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct ModuleUploaded {
    /// SHA-256 of the module (lowercase hex): what a scenario pins.
    pub sha256: String,
}

async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    WasmBody(wasm): WasmBody,
) -> Result<(StatusCode, Json<ModuleUploaded>), ApiError> {
    let sha256 = state
        .gov(move |gov| gov.upload_module(&caller, &wasm))
        .await?;
    // Compiled now, in the background and in a worker process, so that its first job does not
    // spend seconds in the compiler (a module already compiled is only loaded from the cache).
    state.queue().precompile(&sha256);
    Ok((StatusCode::CREATED, Json(ModuleUploaded { sha256 })))
}
