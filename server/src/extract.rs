//! Extractors that answer unreadable requests in the API's error shape (see [`super::error`])
//! instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{bytes_rejection, json_rejection, ApiError, BodyLimit};

/// A JSON request body (`Content-Type: application/json`), within the route's size limit.
///
/// The body must be a JSON object: serde would also read a struct from an array of its fields
/// in order (`["approve", "ok"]` as a review), which no client means and the OpenAPI document
/// does not allow.
#[derive(Debug, Clone)]
pub(crate) struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().copied();
        if !is_json(
            req.headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        ) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| bytes_rejection(rejection, limit))?;
        let value = axum::Json::<T>::from_bytes(&bytes)
            .map_err(|rejection| json_rejection(rejection, limit))?;
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(Self(value.0)),
            _ => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the request body must be a JSON object ({\"field\": value, ...}), not an array",
            )),
        }
    }
}

/// `application/json`, or another `application/...+json` type, parameters ignored.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(essence) = content_type.and_then(|t| t.split(';').next()) else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// Content types a module upload may be sent with.
pub(crate) const WASM_CONTENT_TYPES: [&str; 2] = ["application/wasm", "application/octet-stream"];

/// A raw WebAssembly request body (`Content-Type: application/wasm` or
/// `application/octet-stream`), within the route's size limit.
#[derive(Debug, Clone)]
pub(crate) struct WasmBody(pub Bytes);

impl<S> FromRequest<S> for WasmBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        if !content_type
            .as_deref()
            .is_some_and(|t| WASM_CONTENT_TYPES.contains(&t))
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "a module is uploaded as raw bytes with `Content-Type: {}` or `{}`{}",
                    WASM_CONTENT_TYPES[0],
                    WASM_CONTENT_TYPES[1],
                    content_type.map_or_else(String::new, |t| format!(", not `{t}`")),
                ),
            ));
        }
        let limit = req.extensions().get::<BodyLimit>().copied();
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| bytes_rejection(rejection, limit))
    }
}

/// Path parameters; a value that does not parse is a 400 naming it.
#[derive(Debug, Clone)]
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(ApiError::from)
    }
}

/// Query parameters; an unknown or malformed one is a 400 naming it.
#[derive(Debug, Clone)]
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(ApiError::from)
    }
}
