//! The axum router, built from the route table, with the API's JSON answers for unknown routes
//! and methods, and on every authenticated route the layer that audits refusals.

use std::convert::Infallible;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::http::{Method, Uri};
use axum::{Extension, Router};

use super::error::{ApiError, BodyLimit};
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
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
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
