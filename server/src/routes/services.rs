//! Verification and data services: consents, calls, the transparency view and usage.
//!
//! A subject's identifier travels only in request bodies (never in a path or query, which
//! request logs keep) and is turned into its subject reference at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ReasonInput;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::refusals::RefusalAudited;
use crate::route_table::{Param, ParamType, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Caller, Page, PageRequest};
use shuyu::governance::NewConsent;
use shuyu::services::{CallReply, CallRequest};
use shuyu::services::{Consent, ServiceCall, SubjectKind, UsageRow};

const CONSENT_ID: &[Param] = &[Param::string("id", "Consent id (`cs-...`).")];
const SERVICE_ID: &[Param] = &[Param::string(
    "id",
    "Service id: `<scenario>.<service>` (the scenario's `[[service]]` name).",
)];
const CALL_ID: &[Param] = &[Param::string("id", "Call id (`call-...`).")];
const USAGE_PARAMS: &[Param] = &[
    Param::typed(
        "from",
        ParamType::NonEmptyString,
        "First local day (YYYY-MM-DD; default today).",
    ),
    Param::typed(
        "to",
        ParamType::NonEmptyString,
        "Last local day (YYYY-MM-DD; default `from`).",
    ),
    Param::typed(
        "operator",
        ParamType::NonEmptyString,
        "Only this operator (bureau, reviewer).",
    ),
];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/consents", "grantConsent", |m| on(m, grant))
            .doc(
                "services",
                "Record a subject's consent to one of the operator's services (operator)",
            )
            .json_body("ConsentInput")
            .returns(201, "Consent")
            .errors(&[403, 404, 409]),
        Route::get("/v1/consents", "listConsents", |m| on(m, list))
            .doc(
                "services",
                "List consents (operator: own; bureau, reviewer: all)",
            )
            .query(PAGE_PARAMS)
            .returns(200, "ConsentPage")
            .errors(&[403]),
        Route::get("/v1/consents/{id}", "getConsent", |m| on(m, get))
            .doc("services", "One consent (its operator, bureau, reviewer)")
            .path_params(CONSENT_ID)
            .returns(200, "Consent")
            .errors(&[403, 404]),
        Route::post("/v1/consents/{id}/revoke", "revokeConsent", |m| {
            on(m, revoke)
        })
        .doc(
            "services",
            "Revoke a consent (its operator, or the bureau on the subject's request)",
        )
        .path_params(CONSENT_ID)
        .json_body("ReasonInput")
        .returns(200, "Consent")
        .errors(&[403, 404, 409]),
        Route::post("/v1/services/{id}/answers", "callService", |m| on(m, call))
            .doc(
                "services",
                "Ask a service about one consenting subject (operator); answered at the service's \
             fixed reply time",
            )
            .path_params(SERVICE_ID)
            .json_body("CallRequest")
            .returns(200, "CallReply")
            .errors(&[403, 404, 409, 429]),
        Route::get("/v1/service-calls/{id}", "getServiceCall", |m| {
            on(m, get_call)
        })
        .doc(
            "services",
            "One service call (its operator, bureau, reviewer)",
        )
        .path_params(CALL_ID)
        .returns(200, "ServiceCall")
        .errors(&[403, 404]),
        Route::get("/v1/services/usage", "serviceUsage", |m| on(m, usage))
            .doc(
                "services",
                "Calls per day, operator and service (operator: own; bureau, reviewer: all)",
            )
            .query(USAGE_PARAMS)
            .returns(200, "UsageReport")
            .errors(&[403, 422]),
        Route::post("/v1/subjects/calls", "subjectCalls", |m| {
            on(m, subject_calls)
        })
        .doc(
            "services",
            "Every call made about one subject: who, when, which service, what was answered \
             (bureau, reviewer)",
        )
        .json_body("SubjectQuery")
        .returns(200, "ServiceCallPage")
        .errors(&[403]),
        Route::post("/v1/subjects/consents", "subjectConsents", |m| {
            on(m, subject_consents)
        })
        .doc(
            "services",
            "Every consent one subject gave (bureau, reviewer)",
        )
        .json_body("SubjectQuery")
        .returns(200, "ConsentPage")
        .errors(&[403]),
    ]
}

/// A consent to record: `POST /v1/consents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentInput {
    /// The service, `<scenario>.<service>`.
    pub service: String,
    /// The kind of the subject's identifier (the service's).
    pub subject_kind: SubjectKind,
    /// The subject's identifier; stored only as its subject reference.
    pub subject: String,
    /// What the subject agreed the answers are used for.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub purpose: String,
    /// SHA-256 (64 lowercase hex) of the signed authorization the operator keeps.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub evidence_sha256: String,
    /// First moment a call may cite it (default now).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// Last moment a call may cite it.
    pub valid_until: DateTime<Utc>,
}

/// A subject, for the transparency view: `POST /v1/subjects/...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubjectQuery {
    /// The kind of identifier.
    pub kind: SubjectKind,
    /// The identifier.
    pub id: String,
    /// Page size, 1 to 500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Cursor: the `next` of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

/// `GET /v1/services/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct UsageReport {
    /// First local day covered.
    pub from: NaiveDate,
    /// Last local day covered.
    pub to: NaiveDate,
    /// One row per day, operator and service with calls.
    pub rows: Vec<UsageRow>,
}

#[derive(Debug, Deserialize)]
struct UsageParams {
    from: Option<String>,
    to: Option<String>,
    operator: Option<String>,
}

fn day(text: &str, name: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!("{name} must be a day as YYYY-MM-DD, not '{text}'"))
    })
}

async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConsentInput>,
) -> Result<(StatusCode, Json<Consent>), ApiError> {
    let services = state.services.clone();
    let consent = state
        .gov(move |gov| {
            let subject_ref = services.subject_ref(body.subject_kind, &body.subject)?;
            gov.grant_consent(
                &caller,
                NewConsent {
                    service: body.service,
                    subject_kind: body.subject_kind,
                    subject_ref,
                    purpose: body.purpose,
                    evidence_sha256: body.evidence_sha256,
                    valid_from: body.valid_from.unwrap_or_else(Utc::now),
                    valid_until: body.valid_until,
                },
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(consent)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<Consent>>, ApiError> {
    let page = page.to_request()?;
    state
        .gov(move |gov| gov.list_consents(&caller, None, &page))
        .await
        .map(Json)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Consent>, ApiError> {
    state
        .gov(move |gov| gov.get_consent(&caller, &id))
        .await
        .map(Json)
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonInput>,
) -> Result<Json<Consent>, ApiError> {
    state
        .gov(move |gov| gov.revoke_consent(&caller, &id, &body.reason))
        .await
        .map(Json)
}

async fn call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CallRequest>,
) -> Response {
    let services = state.services.clone();
    let answered = state
        .blocking(move |_| services.answer(&caller, &id, &body).map_err(ApiError::from))
        .await;
    match answered {
        Ok(reply) => Json::<CallReply>(reply).into_response(),
        Err(error) => {
            // `Services::answer` audited the refusal with its rule.
            let mut response = error.into_response();
            response.extensions_mut().insert(RefusalAudited);
            response
        }
    }
}

async fn get_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ServiceCall>, ApiError> {
    state
        .gov(move |gov| gov.get_call(&caller, &id))
        .await
        .map(Json)
}

async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Json<UsageReport>, ApiError> {
    let today = state.config.time_zone.date_of(&Utc::now());
    let from = match &params.from {
        Some(text) => day(text, "from")?,
        None => today,
    };
    let to = match &params.to {
        Some(text) => day(text, "to")?,
        None => from,
    };
    let operator = params.operator;
    let rows = state
        .gov(move |gov| gov.service_usage(&caller, from, to, operator.as_deref()))
        .await?;
    Ok(Json(UsageReport { from, to, rows }))
}

/// The subject's reference and page request of a transparency query.
fn subject_page(state: &AppState, query: &SubjectQuery) -> Result<(String, PageRequest), ApiError> {
    let subject_ref = state.services.subject_ref(query.kind, &query.id)?;
    Ok((
        subject_ref,
        PageRequest {
            limit: query.limit,
            after: query.after.clone(),
        },
    ))
}

async fn subject_calls(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SubjectQuery>,
) -> Result<Json<Page<ServiceCall>>, ApiError> {
    let (subject_ref, page) = subject_page(&state, &body)?;
    state
        .gov(move |gov| gov.calls_about(&caller, &subject_ref, &page))
        .await
        .map(Json)
}

async fn subject_consents(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SubjectQuery>,
) -> Result<Json<Page<Consent>>, ApiError> {
    let (subject_ref, page) = subject_page(&state, &body)?;
    state
        .gov(move |gov| {
            if !matches!(
                caller.role,
                shuyu::governance::model::Role::Bureau | shuyu::governance::model::Role::Reviewer
            ) {
                return Err(shuyu::governance::GovError::Forbidden(
                    "only the bureau and reviewers may look up a subject's consents".into(),
                ));
            }
            gov.list_consents(&caller, Some(&subject_ref), &page)
        })
        .await
        .map(Json)
}
