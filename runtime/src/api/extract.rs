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
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().copied();
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection, limit)),
        }
    }
}

/// Content types a module upload may be sent with.
pub const WASM_CONTENT_TYPES: [&str; 2] = ["application/wasm", "application/octet-stream"];

/// A raw WebAssembly request body (`Content-Type: application/wasm` or
/// `application/octet-stream`), within the route's size limit.
#[derive(Debug, Clone)]
pub struct WasmBody(pub Bytes);

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
pub struct ApiPath<T>(pub T);

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
pub struct ApiQuery<T>(pub T);

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
