//! Mock runs (operators): any uploaded module against the mock twins of the datasets its
//! scenario names, without approval; and the twins themselves, for running mocks locally.
//!
//! A run is started by `POST /v1/mock-runs` and carried out on a thread of its own (in a worker
//! process when the server runs jobs in them); `GET /v1/mock-runs/{id}` shows it running, then
//! its report. At most [`MAX_MOCK_RUNS`] run at once on a server and one per operator.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::on;
use axum::Json;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageParams;
use crate::queue::JobIsolation;
use crate::route_table::{Param, Route, PAGE_PARAMS};
use crate::state::AppState;
use shuyu::governance::model::{Caller, Page, PageRequest};
use shuyu::governance::{GovError, Governance};
use shuyu::mock::{carry_out, MockIsolation, MockReport, MockRun, MockRunStatus, NewMockRun};
use shuyu::sandbox::CancelToken;

/// Mock runs a server carries out at once (they share the machine with real jobs).
pub(crate) const MAX_MOCK_RUNS: usize = 2;

const RUN_ID: &[Param] = &[Param::string("id", "Mock run id (`mock-...`).")];
const DATASET: &[Param] = &[Param::string("name", "Dataset name.")];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/mock-runs", "startMockRun", |m| on(m, start))
            .doc(
                "mock runs",
                "Run an uploaded module against mock twins, without approval (operator); \
                 answered at once with the run, whose report follows",
            )
            .json_body("NewMockRun")
            .returns(202, "MockRun")
            .errors(&[403, 404, 409, 422]),
        Route::get("/v1/mock-runs", "listMockRuns", |m| on(m, list))
            .doc(
                "mock runs",
                "The operator's mock runs, newest first, without their reports (operator)",
            )
            .query(PAGE_PARAMS)
            .returns(200, "MockRunPage")
            .errors(&[403]),
        Route::get("/v1/mock-runs/{id}", "getMockRun", |m| on(m, get))
            .doc("mock runs", "One mock run with its report (its operator)")
            .path_params(RUN_ID)
            .returns(200, "MockRun")
            .errors(&[403, 404]),
        Route::get(
            "/v1/datasets/{name}/mock/manifest",
            "getMockManifest",
            |m| on(m, mock_manifest),
        )
        .doc(
            "mock runs",
            "The manifest of a dataset's mock twin (any identity; a twin holds no real row)",
        )
        .path_params(DATASET)
        .returns_files(&["text/plain; charset=utf-8"])
        .errors(&[404, 409]),
        Route::get("/v1/datasets/{name}/mock/data", "getMockData", |m| {
            on(m, mock_data)
        })
        .doc(
            "mock runs",
            "The Parquet file of a dataset's mock twin (any identity)",
        )
        .path_params(DATASET)
        .returns_files(&["application/vnd.apache.parquet"])
        .errors(&[404, 409]),
    ]
}

/// Places for mock runs on this server; a run holds one until it ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct MockSlots(Arc<AtomicUsize>);

/// A taken place, given back when dropped.
struct MockSlot(Arc<AtomicUsize>);

impl Drop for MockSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MockSlots {
    fn take(&self) -> Option<MockSlot> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_MOCK_RUNS).then_some(n + 1)
            })
            .ok()
            .map(|_| MockSlot(self.0.clone()))
    }
}

/// Starts a mock run (its own work, started here, ends with [`finish`]).
pub(crate) async fn start_run(
    state: &AppState,
    caller: Caller,
    new: NewMockRun,
) -> Result<MockRun, ApiError> {
    let Some(slot) = state.mock_slots.take() else {
        return Err(ApiError::conflict(format!(
            "the server is carrying out {MAX_MOCK_RUNS} mock runs already; try again in a moment"
        )));
    };
    let plan = state
        .gov(move |gov| gov.start_mock_run(&caller, new))
        .await?;
    let run = plan.run.clone();
    let queue = state.queue().clone();
    let spawned = std::thread::Builder::new()
        .name("shuyu-mock-run".into())
        .spawn(move || {
            let _slot = slot;
            let data_dir: PathBuf = queue.domain().data_dir().to_path_buf();
            let isolation = match queue.isolation() {
                JobIsolation::InProcess => MockIsolation::InProcess,
                JobIsolation::Workers(config) => MockIsolation::Worker(config),
            };
            let (status, report) = carry_out(&data_dir, isolation, &plan, &CancelToken::new());
            finish(queue.governance(), &plan.run.id, status, &report);
        });
    if let Err(e) = spawned {
        return Err(ApiError::internal(format!(
            "cannot start the mock run's thread: {e}"
        )));
    }
    Ok(run)
}

fn finish(gov: &Governance, id: &str, status: MockRunStatus, report: &MockReport) {
    if let Err(e) = gov.finish_mock_run(id, status, report) {
        tracing::error!(mock_run = %id, error = %e, "cannot record the end of a mock run");
    }
}

async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewMockRun>,
) -> Result<(StatusCode, Json<MockRun>), ApiError> {
    let run = start_run(&state, caller, new).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<MockRun>>, ApiError> {
    let request: PageRequest = page.to_request()?;
    let mut page = state
        .gov(move |gov| gov.list_mock_runs(&caller, &request))
        .await?;
    // A page lists runs; each report (up to a megabyte of trail) is one GET away.
    for run in &mut page.items {
        run.report = None;
    }
    Ok(Json(page))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MockRun>, ApiError> {
    Ok(Json(
        state.gov(move |gov| gov.get_mock_run(&caller, &id)).await?,
    ))
}

fn file_response(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn mock_manifest(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (manifest, _) = state.gov(move |gov| gov.mock_twin_files(&name)).await?;
    Ok(file_response(
        manifest.into_bytes(),
        "text/plain; charset=utf-8",
        "dataset.toml",
    ))
}

async fn mock_data(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (_, path) = state.gov(move |gov| gov.mock_twin_files(&name)).await?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::from(GovError::internal_from(path.display(), e)))?;
    Ok(file_response(
        bytes,
        "application/vnd.apache.parquet",
        "data.parquet",
    ))
}
