//! The audit log, for reviewers and the bureau: search and verify. Governance has no audit
//! method, so the role is checked here.

use axum::extract::State;
use axum::routing::on;
use axum::Json;
use serde::Deserialize;

use crate::auth::require_role;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::pagination::check_limit;
use crate::route_table::{Param, ParamType, Route};
use crate::state::AppState;
use shuyu::audit::{AuditError, AuditFilter, Entry, VerifyReport};
use shuyu::governance::model::{Caller, Page, Role};

/// Who may read the audit log.
const READERS: &[Role] = &[Role::Reviewer, Role::Bureau];

const SEARCH_PARAMS: &[Param] = &[
    Param::string("job", "Only this job's entries."),
    Param::string(
        "action",
        "Only this action and its sub-actions (`release` matches `release.blocked`).",
    ),
    Param::string(
        "subject",
        "Only entries about this subject (usually a scenario id).",
    ),
    Param::string("actor", "Only entries by this actor."),
    Param::typed(
        "since",
        ParamType::TimeOrDate,
        "Only entries at or after this time (RFC 3339, or YYYY-MM-DD: that day's 00:00 UTC).",
    ),
    Param::typed(
        "until",
        ParamType::TimeOrDate,
        "Only entries before this time (RFC 3339, or YYYY-MM-DD: that day's 00:00 UTC).",
    ),
    Param::typed(
        "limit",
        ParamType::PageLimit,
        "Page size, 1 to 500 (default 50).",
    ),
    Param::integer(
        "after",
        "Cursor: only entries after this seq (the previous page's `next`).",
    ),
];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/v1/audit", "searchAudit", |m| on(m, search))
            .doc(
                "audit",
                "Search the audit log, oldest first (reviewer, bureau)",
            )
            .query(SEARCH_PARAMS)
            .returns(200, "AuditEntryPage")
            .errors(&[403]),
        Route::get("/v1/audit/verify", "verifyAudit", |m| on(m, verify))
            .doc(
                "audit",
                "Verify the hash chain and signed checkpoints (reviewer, bureau); 409 names the first bad entry",
            )
            .returns(200, "VerifyReport")
            .errors(&[403, 409]),
    ]
}

/// `GET /v1/audit` query parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    job: Option<String>,
    action: Option<String>,
    subject: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    after: Option<u64>,
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<Page<Entry>>, ApiError> {
    require_role(&caller, READERS, "the audit log")?;
    let limit = usize::try_from(check_limit(params.limit)?).unwrap_or(usize::MAX);
    let filter = AuditFilter {
        job_id: params.job,
        action: params.action,
        subject: params.subject,
        actor: params.actor,
        since: params.since,
        until: params.until,
        after: params.after,
        // One more than the page, to learn whether another follows.
        limit: Some(limit.saturating_add(1)),
    };
    state
        .blocking(move |queue| {
            let mut items = queue.domain().audit.search(&filter).map_err(|e| match e {
                AuditError::InvalidFilter { .. } => ApiError::bad_request(e.to_string()),
                other => ApiError::internal(other),
            })?;
            let next = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|entry| entry.seq.to_string())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
        .map(Json)
}

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerifyReport>, ApiError> {
    require_role(&caller, READERS, "verifying the audit log")?;
    state
        .blocking(|queue| {
            let domain = queue.domain();
            domain
                .audit
                .verify(&domain.keys.public_key())
                .map_err(|e| match e {
                    AuditError::Tampered { .. } | AuditError::Unreadable { .. } => {
                        ApiError::conflict(format!("the audit log does not verify: {e}"))
                    }
                    other => ApiError::internal(other),
                })
        })
        .await
        .map(Json)
}
