//! Jobs (operators): submitted through the governance gate into the queue, listed, read and
//! cancelled. The operator sees coarse states, codes and releases, never data or guest logs.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::queue::cancelled_detail;
use crate::refusals::RefusalAudited;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Caller, JobRecord, JobState, Page};

const ID: &[Param] = &[Param::string("id", "Job id.")];

/// How long a cancel request waits for a running job's guest to stop before answering with the
/// job as it then is (it keeps stopping in the background).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/jobs", "submitJob", |m| on(m, submit))
            .doc(
                "jobs",
                "Submit a job (operator): queued if the governance gate passes, else 409 with the reason",
            )
            .json_body("NewJob")
            .returns(202, "JobRecord")
            .errors(&[403, 404, 409, 429]),
        Route::get("/v1/jobs", "listJobs", |m| on(m, list))
            .doc("jobs", "List jobs (operator: own; bureau, reviewer: all)")
            .query(PAGE_PARAMS)
            .returns(200, "JobRecordPage")
            .errors(&[403]),
        Route::get("/v1/jobs/{id}", "getJob", |m| on(m, get))
            .doc("jobs", "One job: state, detail code, releases")
            .path_params(ID)
            .returns(200, "JobRecord")
            .errors(&[403, 404]),
        Route::post("/v1/jobs/{id}/cancel", "cancelJob", |m| on(m, cancel))
            .doc(
                "jobs",
                "Cancel a queued or running job (its operator); a running guest is stopped",
            )
            .path_params(ID)
            .returns(200, "JobRecord")
            .errors(&[403, 404, 409]),
    ]
}

/// A job to run: `POST /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewJob {
    /// The approved application to run under.
    pub application: String,
    /// SHA-256 of the uploaded module (pinned by the application).
    pub module_sha256: String,
}

async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewJob>,
) -> Response {
    let submitted = state
        .blocking(move |queue| {
            queue
                .submit(&caller, &body.application, &body.module_sha256)
                .map(|job| queue.with_phase(job))
                .map_err(ApiError::from)
        })
        .await;
    match submitted {
        Ok(record) => (StatusCode::ACCEPTED, Json(record)).into_response(),
        Err(error) => {
            // The queue audited the refusal with the gate's rule.
            let mut response = error.into_response();
            response.extensions_mut().insert(RefusalAudited);
            response
        }
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<JobRecord>>, ApiError> {
    let page = page.to_request()?;
    state
        .blocking(move |queue| {
            let mut listed = queue.governance().list_jobs(&caller, &page)?;
            listed.items = listed
                .items
                .into_iter()
                .map(|job| queue.with_phase(job))
                .collect();
            Ok(listed)
        })
        .await
        .map(Json)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobRecord>, ApiError> {
    state
        .blocking(move |queue| Ok(queue.with_phase(queue.governance().get_job(&caller, &id)?)))
        .await
        .map(Json)
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobRecord>, ApiError> {
    cancel_job(&state, caller, id).await.map(Json)
}

/// Cancels job `id` for `caller` (its operator) and answers with the job as it then is (the
/// console's cancel button too).
pub(crate) async fn cancel_job(
    state: &AppState,
    caller: Caller,
    id: String,
) -> Result<JobRecord, ApiError> {
    let (job_id, reader) = (id.clone(), caller.clone());
    let running = state
        .blocking(move |queue| {
            let gov = queue.governance();
            let job = gov.get_job(&caller, &id)?;
            // Governance lets the bureau and reviewers read any job; only its operator cancels
            // (another operator never gets here: its job looked missing above). The refusal
            // names no operator.
            if job.operator != caller.id {
                return Err(ApiError::forbidden(format!(
                    "only the operator that submitted job {id} may cancel it; you are '{}' ({})",
                    caller.id,
                    caller.role.as_str()
                )));
            }
            if !matches!(job.state, JobState::Queued | JobState::Running) {
                return Err(ApiError::conflict(format!(
                    "job {id} has already ended ({})",
                    state_name(job.state)
                )));
            }
            let cause = "cancelled by its operator";
            if !queue.stop(&id, cause)? {
                // Queued or running in the database but not in this queue: left by an earlier
                // process that did not record its end. Record it now.
                let detail = cancelled_detail(cause, job.started_at.is_some());
                gov.record_job_state(&id, JobState::Cancelled, Some(detail), Vec::new())?;
            }
            Ok(job.state == JobState::Running)
        })
        .await?;
    if running {
        state.queue().wait_ended(&job_id, CANCEL_WAIT).await;
    }
    state
        .blocking(move |queue| Ok(queue.with_phase(queue.governance().get_job(&reader, &job_id)?)))
        .await
}

/// A state's name as on the wire.
fn state_name(state: JobState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{state:?}"))
}
