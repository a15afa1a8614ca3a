//! Every error the API answers, in one JSON shape:
//!
//! ```json
//! {"error": {"status": 403, "code": "forbidden", "message": "..."}}
//! ```
//!
//! Governance refusals map one to one ([`GovError`] → 401, 403, 404, 409, 422, 500). Requests
//! the API cannot read (malformed JSON, a wrong content type, an oversized body, bad path or
//! query parameters) get the same shape with 400, 413 or 415 and a message naming the problem.
//! Internal errors are logged to stderr and answered without their text, which may name files
//! or quote the database.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use shuyu::governance::GovError;

/// The message answered for every internal error.
const INTERNAL_MESSAGE: &str = "internal error; the server's log has the details";

/// An error answered by the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short, stable code (`forbidden`, `payload_too_large`, ...).
    pub code: &'static str,
    /// What went wrong, for people; never internals.
    pub message: String,
}

/// Every error answer: the JSON body of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong: the `error` object of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// HTTP status, repeated for clients that only see the body.
    pub status: u16,
    /// Short, stable code: `bad_request`, `unauthenticated`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `uri_too_long`,
    /// `unsupported_media_type`, `invalid`, `quota_exceeded`, `unavailable`, `internal`.
    pub code: String,
    /// What went wrong, for people; never internals.
    pub message: String,
}

/// The stable code for a status.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "quota_exceeded",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

impl ApiError {
    /// An error with `status` and its standard code.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code_for(status),
            message: message.into(),
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no or an unknown token.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: nothing there.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 413: the body is over the route's limit.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 500. `detail` goes to stderr only; the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
    }

    /// The body this error is answered with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // For the layer that audits refusals (`refusals.rs`); never sent.
        response.extensions_mut().insert(self);
        response
    }
}

impl From<GovError> for ApiError {
    fn from(error: GovError) -> Self {
        match error {
            GovError::Unauthenticated(m) => Self::new(StatusCode::UNAUTHORIZED, m),
            GovError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            GovError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, m),
            GovError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            GovError::Quota(m) => Self::new(StatusCode::TOO_MANY_REQUESTS, m),
            GovError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            GovError::Internal { message, .. } => Self::internal(message),
        }
    }
}

/// The size limit of the route a body was sent to, put into the request by the router so that
/// a 413 can say what the limit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit(pub usize);

impl BodyLimit {
    /// The 413 answered for a body over this limit.
    pub(crate) fn exceeded(self) -> ApiError {
        ApiError::payload_too_large(format!(
            "the request body is larger than this route's limit of {}",
            human_bytes(self.0)
        ))
    }
}

/// `1048576` → `1 MiB (1048576 bytes)`.
pub(crate) fn human_bytes(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB ({bytes} bytes)", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB ({bytes} bytes)", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Whether a body rejection is the size limit (axum reports it as a failure to buffer).
fn is_too_large(status: StatusCode) -> bool {
    status == StatusCode::PAYLOAD_TOO_LARGE
}

/// A JSON body that could not be read. `limit` names the route's limit in a 413.
pub(crate) fn json_rejection(rejection: JsonRejection, limit: Option<BodyLimit>) -> ApiError {
    let status = rejection.status();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON, sent with `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("malformed JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the JSON does not fit this request: {}", e.body_text()),
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e, limit),
        other if is_too_large(status) => limit.map_or_else(
            || ApiError::payload_too_large(other.body_text()),
            BodyLimit::exceeded,
        ),
        other => ApiError::new(status, other.body_text()),
    }
}

/// A raw body that could not be read.
pub(crate) fn bytes_rejection(rejection: BytesRejection, limit: Option<BodyLimit>) -> ApiError {
    let status = rejection.status();
    if is_too_large(status) {
        return limit.map_or_else(
            || ApiError::payload_too_large(rejection.body_text()),
            BodyLimit::exceeded,
        );
    }
    if status.is_server_error() {
        return ApiError::internal(rejection.body_text());
    }
    ApiError::new(
        status,
        format!("cannot read the request body: {}", rejection.body_text()),
    )
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        let status = rejection.status();
        if status.is_server_error() {
            // A route whose handler expects parameters its path does not have: a bug.
            return Self::internal(rejection.body_text());
        }
        Self::bad_request(format!("bad path parameter: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(format!("bad query parameter: {}", rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governance_errors_map_to_their_status() {
        let cases = [
            (
                GovError::Unauthenticated("x".into()),
                401,
                "unauthenticated",
            ),
            (GovError::Forbidden("x".into()), 403, "forbidden"),
            (GovError::NotFound("x".into()), 404, "not_found"),
            (GovError::Conflict("x".into()), 409, "conflict"),
            (GovError::Quota("x".into()), 429, "quota_exceeded"),
            (GovError::Invalid("x".into()), 422, "invalid"),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.status.as_u16(), status);
            assert_eq!(api.code, code);
            assert_eq!(api.message, "x");
        }
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let api = ApiError::from(GovError::internal("/secret/path: disk full"));
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.code, "internal");
        assert!(!api.message.contains("secret"), "{}", api.message);
    }

    #[test]
    fn sizes_are_readable() {
        assert_eq!(human_bytes(1 << 20), "1 MiB (1048576 bytes)");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
