//! One structured log line per request: method, route template, status, latency and the
//! caller's identity id. Never a body, a query string or the concrete path: those can carry
//! what callers send, and the log is not a place for data.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::auth::CallerSlot;

/// The middleware: runs the request, then logs it at info level (target `shuyu::api`).
pub(crate) async fn log_request(mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_string(), |p| p.as_str().to_string());
    let slot = CallerSlot::of(&mut request);
    let started = Instant::now();
    let response = next.run(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let identity = slot.get().map_or("-", |caller| caller.id.as_str());
    tracing::info!(
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = format_args!("{latency_ms:.1}"),
        identity = %identity,
        "request"
    );
    response
}
