//! Auditing refusals the routes answer: a layer on every authenticated route that, when the
//! answer is a 403 (any method) or a 409 or 429 to a POST (a refused governance action), writes
//! a `refused.<operation>` entry through [`Governance::record_refusal`] with the caller, the
//! target (the ids in the path, or the path) and the error class as the rule; the message says
//! which rule refused. Routes that audit their own refusals with finer rules (job submission,
//! through the governance gate) mark the answer [`RefusalAudited`] and are left alone.
//!
//! [`Governance::record_refusal`]: shuyu::governance::Governance::record_refusal

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::auth::CallerSlot;
use super::error::ApiError;
use super::state::AppState;
use shuyu::governance::Refusal;

/// Marks an answer whose refusal its route has audited already.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusalAudited;

/// What the layer knows of its route.
#[derive(Clone)]
pub(crate) struct RefusalRoute {
    pub(crate) state: AppState,
    pub(crate) operation: &'static str,
    pub(crate) pattern: &'static str,
}

/// Whether an answer with `status` to `method` is a refusal to audit.
fn is_refusal(method: &Method, status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN
        || (*method != Method::GET
            && matches!(status, StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS))
}

/// The target of a request to `pattern` at `path`: the values of its `{param}` segments joined
/// with `/` (`app-3`, `enterprise_registry/1`), or the path when the pattern has none.
fn target(pattern: &str, path: &str) -> String {
    let values: Vec<&str> = pattern
        .split('/')
        .zip(path.split('/'))
        .filter(|(p, _)| p.starts_with('{'))
        .map(|(_, v)| v)
        .collect();
    if values.is_empty() {
        path.to_string()
    } else {
        values.join("/")
    }
}

/// The layer (see the module documentation).
pub(crate) async fn audit_refusals(
    State(route): State<RefusalRoute>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::of(&mut request);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if !is_refusal(&method, response.status())
        || response.extensions().get::<RefusalAudited>().is_some()
    {
        return response;
    }
    let (Some(caller), Some(error)) = (slot.get(), response.extensions().get::<ApiError>()) else {
        return response;
    };
    let refusal = Refusal {
        caller: caller.clone(),
        operation: route.operation.to_string(),
        target: target(route.pattern, &path),
        rule: error.code.to_string(),
        status: error.status.as_u16(),
        message: error.message.clone(),
    };
    // Written before the refusal is answered; a log that cannot be written is the server's
    // problem, not a reason to answer the caller otherwise.
    if let Err(e) = route
        .state
        .gov(move |gov| gov.record_refusal(&refusal))
        .await
    {
        tracing::error!(error = %e.message, "cannot audit a refusal");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_the_path_ids() {
        assert_eq!(
            target(
                "/v1/applications/{id}/reviews",
                "/v1/applications/app-3/reviews"
            ),
            "app-3"
        );
        assert_eq!(
            target(
                "/v1/datasets/{name}/versions/{version}/withdraw",
                "/v1/datasets/residents/versions/2/withdraw"
            ),
            "residents/2"
        );
        assert_eq!(target("/v1/agreements", "/v1/agreements"), "/v1/agreements");
    }

    #[test]
    fn refusals_are_403s_and_refused_posts() {
        assert!(is_refusal(&Method::GET, StatusCode::FORBIDDEN));
        assert!(is_refusal(&Method::POST, StatusCode::CONFLICT));
        assert!(is_refusal(&Method::POST, StatusCode::TOO_MANY_REQUESTS));
        // A log that does not verify is a 409 to a GET: not a refusal of the caller.
        assert!(!is_refusal(&Method::GET, StatusCode::CONFLICT));
        assert!(!is_refusal(&Method::POST, StatusCode::NOT_FOUND));
        assert!(!is_refusal(&Method::POST, StatusCode::UNPROCESSABLE_ENTITY));
    }
}
