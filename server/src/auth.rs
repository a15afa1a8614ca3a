//! Bearer tokens: `Authorization: Bearer <token>` → [`Governance::authenticate`] → [`Caller`].
//!
//! The API only authenticates; what a caller may do is decided by governance (and, for the
//! audit log, by [`require_role`]). A missing or unknown token is a 401 in the API's error shape.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use shuyu::governance::model::{Caller, Role};

/// Where the `Caller` extractor leaves the authenticated caller for the layers around a route
/// (the refusal audit, the request log), so that they learn who called without authenticating
/// twice. The outermost layer puts it into the request; inner layers share that one.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallerSlot(Arc<OnceLock<Caller>>);

impl CallerSlot {
    /// The request's slot, put into it if no outer layer did.
    pub(crate) fn of(request: &mut Request) -> Self {
        request
            .extensions_mut()
            .get_or_insert_default::<CallerSlot>()
            .clone()
    }

    /// Records the authenticated caller (the first one wins).
    fn set(&self, caller: &Caller) {
        let _ = self.0.set(caller.clone());
    }

    /// The caller, once the extractor has run.
    pub(crate) fn get(&self) -> Option<&Caller> {
        self.0.get()
    }
}

/// The longest token accepted: governance issues `sy_` + 64 hex characters; anything much longer
/// is not worth hashing.
const MAX_TOKEN_LEN: usize = 256;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let caller = state.gov(move |gov| gov.authenticate(&token)).await?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.set(&caller);
        }
        Ok(caller)
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(parts: &Parts) -> Result<String, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("missing bearer token: send `Authorization: Bearer <token>`")
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthenticated(
            "the Authorization header must use the Bearer scheme",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::unauthenticated("the bearer token is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::unauthenticated("unknown token"));
    }
    Ok(token.to_string())
}

/// Refuses callers whose role is not among `roles`, saying who may (for routes governance has
/// no method for, such as the audit log).
pub(crate) fn require_role(caller: &Caller, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.contains(&caller.role) {
        return Ok(());
    }
    let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(ApiError::forbidden(format!(
        "{what} is for the {} role{}; '{}' is {}",
        allowed.join(" and "),
        if allowed.len() > 1 { "s" } else { "" },
        caller.id,
        caller.role.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(header: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri("/v1/whoami");
        if let Some(h) = header {
            builder = builder.header(AUTHORIZATION, h);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_tokens_are_read() {
        assert_eq!(
            bearer_token(&parts(Some("Bearer sy_abc"))).unwrap(),
            "sy_abc"
        );
        assert_eq!(
            bearer_token(&parts(Some("bearer  sy_abc "))).unwrap(),
            "sy_abc"
        );
    }

    #[test]
    fn other_headers_are_401() {
        for header in [
            None,
            Some("Basic dXNlcjpwdw=="),
            Some("Bearer "),
            Some("Bearer"),
        ] {
            let err = bearer_token(&parts(header)).unwrap_err();
            assert_eq!(err.status.as_u16(), 401, "{header:?}");
        }
    }

    #[test]
    fn roles_are_named_in_refusals() {
        let caller = Caller {
            id: "acme".into(),
            role: Role::Operator,
        };
        let err =
            require_role(&caller, &[Role::Reviewer, Role::Bureau], "the audit log").unwrap_err();
        assert_eq!(err.status.as_u16(), 403);
        assert!(
            err.message.contains("reviewer and bureau roles"),
            "{}",
            err.message
        );
        assert!(err.message.contains("operator"), "{}", err.message);
    }
}
