//! The axum router, built from the route table, with the API's JSON answers for unknown routes
//! and methods, and on every authenticated route the layer that audits refusals.

use std::convert::Infallible;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};

use super::error::{human_bytes, ApiError, BodyLimit};
use super::refusals::{audit_refusals, RefusalRoute};
use super::request_log::log_request;
use super::routes;
use super::state::AppState;

/// The router serving every route of the table with its body limit, logging each request.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes::all() {
        let mut method_router = (route.handler)(route.verb.filter())
            .layer::<_, Infallible>(DefaultBodyLimit::max(route.body_limit))
            // Lets a 413 name the limit it hit.
            .layer::<_, Infallible>(Extension(BodyLimit(route.body_limit)));
        if route.auth {
            let context = RefusalRoute {
                state: state.clone(),
                operation: route.operation,
                pattern: route.path,
            };
            method_router = method_router.layer::<_, Infallible>(
                axum::middleware::from_fn_with_state(context, audit_refusals),
            );
        }
        router = router.route(route.path, method_router);
    }
    router
        .merge(super::console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_long_uri))
        // Outermost, so that every answer (a 414 too) is logged.
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// The longest request URI (path and query) the API reads. No route needs more than a few
/// hundred bytes; the HTTP library itself cuts request lines at 64 KiB and answers those 414
/// without a body, so this lower limit answers every realistic case in the API's error shape.
pub(crate) const MAX_URI_BYTES: usize = 8 << 10;

/// 414 in the API's error shape for a URI over [`MAX_URI_BYTES`].
async fn refuse_long_uri(request: Request, next: Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if length > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request URI is {length} bytes; the server reads at most {}",
                human_bytes(MAX_URI_BYTES)
            ),
        )
        .into_response();
    }
    next.run(request).await
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}; GET /openapi.json lists the routes",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}
