//! Product downloads: the files of a released package, to the operator whose job made it, while
//! nothing withholds them (see `governance::jobs::product_refusal`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::on;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::route_table::{Param, Route};
use crate::state::AppState;
use shuyu::governance::model::Caller;
use shuyu::product::{check_product_id, CSV_FILE, MANIFEST_FILE, PARQUET_FILE, SIGNATURE_FILE};

const PARAMS: &[Param] = &[
    Param::string("id", "Product id (as in the job's releases)."),
    Param::string(
        "file",
        "One of data.parquet, data.csv, manifest.json, manifest.sig.",
    ),
];

pub(super) fn routes() -> Vec<Route> {
    vec![Route::get(
        "/v1/products/{id}/files/{file}",
        "downloadProductFile",
        |m| on(m, download),
    )
    .doc(
        "products",
        "Download one file of a product package (the operator whose job released it, while it, its agreement, its application and the datasets read are in good standing)",
    )
    .path_params(PARAMS)
    .returns_files(&CONTENT_TYPES)
    .errors(&[403, 404])]
}

/// The files of a package that may be downloaded, with their content types.
const FILES: [(&str, &str); 4] = [
    (PARQUET_FILE, CONTENT_TYPES[0]),
    (CSV_FILE, CONTENT_TYPES[1]),
    (MANIFEST_FILE, CONTENT_TYPES[2]),
    (SIGNATURE_FILE, CONTENT_TYPES[3]),
];

/// The content types [`FILES`] are answered with, as the OpenAPI document lists them.
const CONTENT_TYPES: [&str; 4] = [
    "application/vnd.apache.parquet",
    "text/csv; charset=utf-8",
    "application/json",
    "application/octet-stream",
];

async fn download(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, file)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    product_file(&state, caller, id, file).await
}

/// One file of product `id` for `caller`, as a download (the console's product links too).
pub(crate) async fn product_file(
    state: &AppState,
    caller: Caller,
    id: String,
    file: String,
) -> Result<Response, ApiError> {
    // Anything but the four package files is "not there", whatever exists on disk.
    let Some((name, content_type)) = FILES.iter().copied().find(|(name, _)| *name == file) else {
        return Err(ApiError::not_found(format!(
            "product file '{file}': a package has data.parquet, data.csv, manifest.json and manifest.sig"
        )));
    };
    // The id becomes a path segment: only ids a package can have get that far.
    if check_product_id(&id).is_err() {
        return Err(ApiError::not_found(format!("product '{id}'")));
    }
    let product = id.clone();
    state
        .gov(move |gov| gov.authorize_product_download(&caller, &product))
        .await?;
    let path = state.domain().products_dir().join(&id).join(name);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!("product '{id}' has no {name}")))
        }
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{id}-{name}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}
