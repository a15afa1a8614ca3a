//! The operator's pages: jobs (submit, follow, cancel, download products), budgets with their
//! use over time, and mock runs (docs/operator.md, "The console").
//!
//! Every action is the API's own call (`JobQueue::submit`, `routes::cancel_job`,
//! `routes::product_file`, `routes::start_mock_run`), so the same checks refuse and the same
//! entries audit. A job page shows what the API shows an operator (states, codes, releases);
//! only a mock run's page shows everything, because nothing real is in it.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::page::{csrf_field, esc, layout, Lang};
use super::session::Session;
use super::{forbidden, gov, html, lang_of, session_for_post, session_or_sign_in, LangParam};
use super::{svg, upload};
use crate::state::AppState;
use shuyu::budget::{BudgetStatus, ScenarioBudget};
use shuyu::governance::model::{
    Application, ApplicationStatus, JobRecord, JobState, PageRequest, Role,
};
use shuyu::governance::MAX_MODULE_BYTES;
use shuyu::mock::{MockReport, MockRun, MockRunStatus, NewMockRun, MOCK_MARK};

/// Seconds between reloads of a page that shows work still going on.
const REFRESH_SECS: &str = "2";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/jobs", get(jobs).post(submit))
        .route("/console/jobs/{id}/cancel", post(cancel))
        .route("/console/products/{id}/{file}", get(product))
        .route("/console/budgets", get(budgets))
        .route(
            "/console/mock-runs",
            get(mock_runs)
                .post(start_mock)
                // A module is at most MAX_MODULE_BYTES; the form's other fields are small.
                .layer(DefaultBodyLimit::max(
                    usize::try_from(MAX_MODULE_BYTES).unwrap_or(usize::MAX) + (1 << 20),
                )),
        )
        .route("/console/mock-runs/{id}", get(mock_run))
}

/// The page's frame for a signed-in operator.
fn page(lang: Lang, session: &Session, title: &str, body: &str) -> String {
    layout(
        lang,
        title,
        Some((&session.caller.id, session.caller.role, &session.csrf)),
        body,
    )
}

/// The operator's session, or the page to answer instead.
fn operator_session(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
) -> Result<Session, Box<Response>> {
    let session = session_or_sign_in(state, headers)?;
    if session.caller.role != Role::Operator {
        return Err(Box::new(forbidden(
            lang,
            "only operators have jobs, budgets and mock runs",
        )));
    }
    Ok(session)
}

/// Every application of the caller (one page of up to 500 is all an operator has).
async fn my_applications(state: &AppState, session: &Session) -> Result<Vec<Application>, String> {
    let caller = session.caller.clone();
    gov(state, move |gov| {
        gov.list_applications(
            &caller,
            &PageRequest {
                limit: Some(500),
                after: None,
            },
        )
        .map(|p| p.items)
    })
    .await
}

fn status_name(status: ApplicationStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn state_name(state: JobState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn jobs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let session = match operator_session(&state, &headers, lang) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let caller = session.caller.clone();
    let listed = state
        .blocking(move |queue| {
            let page = queue
                .governance()
                .list_jobs(
                    &caller,
                    &PageRequest {
                        limit: Some(100),
                        after: None,
                    },
                )
                .map_err(crate::error::ApiError::from)?;
            Ok(page
                .items
                .into_iter()
                .map(|j| queue.with_phase(j))
                .collect::<Vec<_>>())
        })
        .await
        .map_err(|e| e.message);
    let applications = my_applications(&state, &session).await.unwrap_or_default();
    let approved: Vec<&Application> = applications
        .iter()
        .filter(|a| a.status == ApplicationStatus::Approved)
        .collect();
    let mut body = String::new();
    if approved.is_empty() {
        body.push_str(&format!(
            "<p>{}</p>",
            lang.t(
                "还没有已批准的场景；先用模拟运行开发，再提交申请。",
                "No approved scenario yet: develop with mock runs, then apply."
            )
        ));
    } else {
        let options: String = approved
            .iter()
            .map(|a| {
                format!(
                    r#"<option value="{}">{} — {}</option>"#,
                    esc(&a.id),
                    esc(&a.scenario.scenario.id),
                    esc(&a.scenario.scenario.title)
                )
            })
            .collect();
        body.push_str(&format!(
            r#"<form method="post" action="/console/jobs">{}<label>{} <select name="application">{options}</select></label>
<button id="submit-job">{}</button> <small>{}</small></form>"#,
            csrf_field(&session.csrf),
            lang.t("已批准的场景", "Approved scenario"),
            lang.t("提交作业", "Submit a job"),
            lang.t("运行申请中固定的模块。", "Runs the module the application pins."),
        ));
    }
    let mut active = false;
    match listed {
        Err(message) => body.push_str(&format!(r#"<p class="bad">{}</p>"#, esc(&message))),
        Ok(jobs) if jobs.is_empty() => {
            body.push_str(&format!(
                "<p>{}</p>",
                lang.t("还没有作业。", "No jobs yet.")
            ));
        }
        Ok(jobs) => {
            active = jobs
                .iter()
                .any(|j| matches!(j.state, JobState::Queued | JobState::Running));
            body.push_str(&job_table(lang, &session, &jobs));
        }
    }
    let mut response = html(
        q.lang.as_deref(),
        page(lang, &session, lang.t("作业", "Jobs"), &body),
    );
    if active {
        response
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static(REFRESH_SECS));
    }
    response
}

fn job_table(lang: Lang, session: &Session, jobs: &[JobRecord]) -> String {
    let rows: String = jobs
        .iter()
        .map(|j| {
            let releases: Vec<String> = j
                .releases
                .iter()
                .map(|r| match &r.product {
                    Some(product) => format!(
                        r#"{} ✓ <a class="product" href="/console/products/{p}/data.csv">CSV</a> · <a href="/console/products/{p}/data.parquet">Parquet</a> · <a href="/console/products/{p}/manifest.json">{}</a>"#,
                        esc(&r.release),
                        lang.t("清单", "manifest"),
                        p = esc(product),
                    ),
                    None => format!(
                        "{} ✗ <code>{}</code>",
                        esc(&r.release),
                        esc(r.rule.as_deref().unwrap_or_default())
                    ),
                })
                .collect();
            let cancel = if matches!(j.state, JobState::Queued | JobState::Running) {
                format!(
                    r#"<form class="inline" method="post" action="/console/jobs/{}/cancel">{}<button>{}</button></form>"#,
                    esc(&j.id),
                    csrf_field(&session.csrf),
                    lang.t("取消", "Cancel")
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"state\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{cancel}</td></tr>",
                esc(&j.id),
                esc(&j.scenario_id),
                esc(&state_name(j.state)),
                esc(j.detail.as_deref().unwrap_or_default()),
                releases.join("<br>"),
                esc(&j.submitted_at.format("%Y-%m-%d %H:%M:%S").to_string()),
            )
        })
        .collect();
    format!(
        "<table id=\"jobs\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>",
        lang.t("作业", "Job"),
        lang.t("场景", "Scenario"),
        lang.t("状态", "State"),
        lang.t("说明", "Detail"),
        lang.t("发布与数据产品", "Releases and products"),
        lang.t("提交时间", "Submitted"),
    )
}

#[derive(Debug, Deserialize)]
struct SubmitForm {
    #[serde(default)]
    csrf: String,
    application: String,
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SubmitForm>,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let lang = Lang::of(&headers);
    let caller = session.caller.clone();
    let application = form.application;
    let submitted = state
        .blocking(move |queue| {
            let app = queue.governance().get_application(&caller, &application)?;
            queue
                .submit(&caller, &application, &app.scenario.scenario.module_sha256)
                .map_err(crate::error::ApiError::from)
        })
        .await;
    match submitted {
        Ok(_) => Redirect::to("/console/jobs").into_response(),
        Err(e) => html(
            None,
            page(
                lang,
                &session,
                lang.t("提交作业", "Submit a job"),
                &format!(
                    r#"<p class="bad">{}</p><p><a href="/console/jobs">{}</a></p>"#,
                    esc(&e.message),
                    lang.t("返回作业", "Back to jobs")
                ),
            ),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let lang = Lang::of(&headers);
    match crate::routes::cancel_job(&state, session.caller.clone(), id).await {
        Ok(_) => Redirect::to("/console/jobs").into_response(),
        Err(e) => html(
            None,
            page(
                lang,
                &session,
                lang.t("取消作业", "Cancel a job"),
                &format!(r#"<p class="bad">{}</p>"#, esc(&e.message)),
            ),
        ),
    }
}

async fn product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    match crate::routes::product_file(&state, session.caller.clone(), id, file).await {
        Ok(response) => response,
        Err(e) => {
            let lang = Lang::of(&headers);
            let mut response = html(
                None,
                page(
                    lang,
                    &session,
                    lang.t("数据产品", "Product"),
                    &format!(r#"<p class="bad">{}</p>"#, esc(&e.message)),
                ),
            );
            *response.status_mut() = e.status;
            response
        }
    }
}

async fn budgets(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let session = match operator_session(&state, &headers, lang) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let applications = my_applications(&state, &session).await.unwrap_or_default();
    let mut scenarios: Vec<String> = applications
        .iter()
        .filter(|a| a.status == ApplicationStatus::Approved)
        .map(|a| a.scenario.scenario.id.clone())
        .collect();
    scenarios.sort();
    scenarios.dedup();
    let caller = session.caller.clone();
    let ledger = state.ledger.clone();
    let found = state
        .blocking(move |queue| {
            let mut found = Vec::new();
            for scenario in scenarios {
                let access = queue
                    .governance()
                    .authorize_budget_read(&caller, &scenario)?;
                let budget = ledger
                    .scenario_budget(&scenario, &access.scope_id, &access.datasets)
                    .map_err(crate::error::ApiError::internal)?;
                found.push((scenario, budget));
            }
            Ok(found)
        })
        .await;
    let body = match found {
        Err(e) => format!(r#"<p class="bad">{}</p>"#, esc(&e.message)),
        Ok(found) if found.is_empty() => format!(
            "<p>{}</p>",
            lang.t("没有已批准的场景。", "No approved scenario.")
        ),
        Ok(found) => found
            .iter()
            .map(|(scenario, budget)| budget_section(lang, scenario, budget.as_ref()))
            .collect(),
    };
    html(
        q.lang.as_deref(),
        page(lang, &session, lang.t("隐私预算", "Privacy budgets"), &body),
    )
}

fn budget_section(lang: Lang, scenario: &str, budget: Option<&ScenarioBudget>) -> String {
    let Some(budget) = budget else {
        return format!(
            "<h2>{}</h2><p>{}</p>",
            esc(scenario),
            lang.t(
                "尚无预算记录：首个带隐私保护的发布会创建它。",
                "No budget yet: the first private release creates it."
            )
        );
    };
    let row = |name: &str, status: &BudgetStatus| {
        format!(
            "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            esc(name),
            status.epsilon_total,
            status.epsilon_spent,
            status.epsilon_remaining,
            bar(status.epsilon_spent, status.epsilon_total),
        )
    };
    let mut rows = row(lang.t("场景", "scenario"), &budget.budget);
    for dataset in &budget.datasets {
        if let Some(status) = &dataset.budget {
            rows.push_str(&row(&dataset.dataset, status));
        }
    }
    format!(
        "<h2>{}</h2><table><tr><th></th><th>ε {}</th><th>ε {}</th><th>ε {}</th><th></th></tr>{rows}</table><h3>{}</h3>{}",
        esc(scenario),
        lang.t("总额", "total"),
        lang.t("已用", "spent"),
        lang.t("剩余", "left"),
        lang.t("预算使用随时间变化", "Budget use over time"),
        use_chart(lang, budget),
    )
}

/// A bar of `spent` out of `total`.
fn bar(spent: f64, total: f64) -> String {
    let share = if total > 0.0 {
        (spent / total).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let width = (share * 200.0).round();
    let color = if share > 0.9 { "#a40000" } else { "#123a5e" };
    format!(
        r##"<svg width="202" height="14" role="img" aria-label="{:.0}%"><rect x="0.5" y="0.5" width="201" height="13" fill="#fff" stroke="#99a"/><rect x="1" y="1" width="{width}" height="12" fill="{color}"/></svg>"##,
        share * 100.0
    )
}

/// The scenario's ε spent, summed over time, against its total (the debits kept, refunds left
/// out), drawn by the console's step chart.
fn use_chart(lang: Lang, budget: &ScenarioBudget) -> String {
    let mut spent = 0.0;
    let mut points = Vec::new();
    for debit in budget.debits.iter().filter(|d| !d.refunded) {
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(&debit.time) else {
            continue;
        };
        spent += debit.epsilon;
        points.push((at.timestamp(), spent));
    }
    if points.is_empty() {
        return format!("<p>{}</p>", lang.t("尚无支出。", "Nothing spent yet."));
    }
    let series = svg::Series {
        name: budget.scenario_id.clone(),
        points,
        limit: Some(budget.budget.epsilon_total),
    };
    svg::lines(
        lang.t("累计 ε 支出", "Cumulative ε spent"),
        &[series],
        |x| {
            chrono::DateTime::from_timestamp(x, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        },
    )
}

async fn mock_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let session = match operator_session(&state, &headers, lang) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let applications = my_applications(&state, &session).await.unwrap_or_default();
    let caller = session.caller.clone();
    let runs = gov(&state, move |gov| {
        gov.list_mock_runs(
            &caller,
            &PageRequest {
                limit: Some(50),
                after: None,
            },
        )
        .map(|p| p.items)
    })
    .await;
    let options: String = applications
        .iter()
        .map(|a| {
            format!(
                r#"<option value="{}">{} — {} ({})</option>"#,
                esc(&a.id),
                esc(&a.scenario.scenario.id),
                esc(&a.scenario.scenario.title),
                esc(&status_name(a.status))
            )
        })
        .collect();
    let mut body = format!(
        r#"<p class="note">{intro}</p>
<form method="post" action="/console/mock-runs" enctype="multipart/form-data">{csrf}
<p><label>{module} <input type="file" name="module" accept=".wasm" required></label></p>
<p><label>{app} <select name="application"><option value="">—</option>{options}</select></label></p>
<p><label>{draft}<br><textarea name="scenario" rows="8" cols="90" placeholder="[scenario]&#10;id = ..."></textarea></label></p>
<button id="start-mock">{start}</button></form>"#,
        intro = lang.t(
            "模拟运行：任何模块都可在数据集的模拟孪生（相同结构与值域，无真实记录）上运行，无需审批；您能看到一切——日志、查询结果、完整错误信息。结果标记为 MOCK，永远不会成为数据产品。",
            "Mock runs: any module runs against the datasets' mock twins (same schema and value domains, no real rows) without approval, and you see everything: log lines, query results, full error messages. Results are marked MOCK and never become products."
        ),
        csrf = csrf_field(&session.csrf),
        module = lang.t("模块 (.wasm)", "Module (.wasm)"),
        app = lang.t("使用申请中的场景", "Use the scenario of an application"),
        draft = lang.t("或粘贴场景草稿 (TOML)", "or paste a draft scenario (TOML)"),
        start = lang.t("开始模拟运行", "Start a mock run"),
    );
    match runs {
        Err(message) => body.push_str(&format!(r#"<p class="bad">{}</p>"#, esc(&message))),
        Ok(runs) => {
            let rows: String = runs
                .iter()
                .map(|r| {
                    format!(
                        r#"<tr><td><a href="/console/mock-runs/{id}"><code>{id}</code></a> <span class="mock">{MOCK_MARK}</span></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>"#,
                        esc(&r.scenario_id),
                        esc(r.status.as_str()),
                        esc(r.module_sha256.get(..16).unwrap_or_default()),
                        esc(&r.started_at.format("%Y-%m-%d %H:%M:%S").to_string()),
                        id = esc(&r.id),
                    )
                })
                .collect();
            if !rows.is_empty() {
                body.push_str(&format!(
                    "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>",
                    lang.t("模拟运行", "Mock run"),
                    lang.t("场景", "Scenario"),
                    lang.t("状态", "Status"),
                    lang.t("模块", "Module"),
                    lang.t("开始时间", "Started"),
                ));
            }
        }
    }
    html(
        q.lang.as_deref(),
        page(lang, &session, lang.t("模拟运行", "Mock runs"), &body),
    )
}

async fn start_mock(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::of(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let fields = match upload::parse(content_type, &body) {
        Ok(fields) => fields,
        Err(problem) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the form could not be read: {problem}"),
            )
                .into_response()
        }
    };
    let session = match session_for_post(&state, &headers, &fields.text("csrf")) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let failed = |message: &str| {
        html(
            None,
            page(
                lang,
                &session,
                lang.t("模拟运行", "Mock run"),
                &format!(
                    r#"<p class="bad">{}</p><p><a href="/console/mock-runs">{}</a></p>"#,
                    esc(message),
                    lang.t("返回", "Back")
                ),
            ),
        )
    };
    let Some(module) = fields.file("module").map(<[u8]>::to_vec) else {
        return failed(lang.t("请选择一个模块文件。", "Choose a module file."));
    };
    let application = fields.text("application");
    let scenario = fields.text("scenario");
    let (scenario, application) = match (scenario.trim().is_empty(), application.is_empty()) {
        (false, _) => (Some(scenario), None),
        (true, false) => (None, Some(application)),
        (true, true) => {
            return failed(lang.t(
                "请选择一个申请，或粘贴场景草稿。",
                "Choose an application or paste a draft scenario.",
            ))
        }
    };
    let caller = session.caller.clone();
    let uploaded = gov(&state, move |gov| gov.upload_module(&caller, &module)).await;
    let sha = match uploaded {
        Ok(sha) => sha,
        Err(message) => return failed(&message),
    };
    let new = NewMockRun {
        module_sha256: sha,
        scenario,
        application,
    };
    match crate::routes::start_mock_run(&state, session.caller.clone(), new).await {
        Ok(run) => Redirect::to(&format!("/console/mock-runs/{}", run.id)).into_response(),
        Err(e) => failed(&e.message),
    }
}

async fn mock_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangParam>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let session = match operator_session(&state, &headers, lang) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let caller = session.caller.clone();
    let found = gov(&state, move |gov| gov.get_mock_run(&caller, &id)).await;
    let run = match found {
        Ok(run) => run,
        Err(message) => {
            let mut response = html(
                None,
                page(
                    lang,
                    &session,
                    lang.t("模拟运行", "Mock run"),
                    &format!(r#"<p class="bad">{}</p>"#, esc(&message)),
                ),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
    };
    let mut response = html(
        q.lang.as_deref(),
        page(
            lang,
            &session,
            &format!("{} {}", lang.t("模拟运行", "Mock run"), run.id),
            &mock_body(lang, &run),
        ),
    );
    if run.status == MockRunStatus::Running {
        response
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static(REFRESH_SECS));
    }
    response
}

fn mock_body(lang: Lang, run: &MockRun) -> String {
    let mut body = format!(
        r#"<p><span class="mock">{MOCK_MARK}</span> {}</p><table>
<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td><code>{}</code></td></tr><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td id="mock-status">{}</td></tr></table>"#,
        lang.t(
            "模拟孪生上的结果，不是数据产品。",
            "Results on mock twins, not a product."
        ),
        lang.t("场景", "Scenario"),
        esc(&run.scenario_id),
        lang.t("模块", "Module"),
        esc(&run.module_sha256),
        lang.t("模拟孪生", "Mock twins of"),
        esc(&run.datasets.join(", ")),
        lang.t("状态", "Status"),
        esc(run.status.as_str()),
    );
    if let Some(report) = &run.report {
        body.push_str(&report_html(lang, report));
    } else {
        body.push_str(&format!("<p>{}</p>", lang.t("运行中……", "Running…")));
    }
    body
}

fn report_html(lang: Lang, report: &MockReport) -> String {
    let mut out = format!(
        r#"<h2>{}</h2><p id="mock-outcome"><code>{}</code> {}</p><p>{} {} · {} {} · {} {} · {} ms</p>"#,
        lang.t("结果", "Outcome"),
        esc(&report.outcome),
        esc(&report.detail),
        lang.t("燃料", "fuel"),
        report.fuel_used,
        lang.t("读取行数", "rows read"),
        report.rows_read,
        lang.t("查询", "queries"),
        report.queries,
        report.elapsed_ms,
    );
    if !report.module_matches_scenario {
        out.push_str(&format!(
            r#"<p class="bad">{}</p>"#,
            lang.t(
                "场景未固定此模块：提交申请前请把 module_sha256 设为此模块的哈希。",
                "The scenario does not pin this module: set module_sha256 to its hash before you apply."
            )
        ));
    }
    for release in &report.releases {
        if release.outcome == "released" {
            let head: String = release
                .columns
                .iter()
                .map(|c| format!("<th>{}</th>", esc(c)))
                .collect();
            let rows: String = release
                .rows
                .iter()
                .map(|row| {
                    let cells: String = row
                        .iter()
                        .map(|c| format!("<td>{}</td>", esc(c.as_deref().unwrap_or("∅"))))
                        .collect();
                    format!("<tr>{cells}</tr>")
                })
                .collect();
            out.push_str(&format!(
                r#"<h3>{} <code>{}</code> <span class="mock">{MOCK_MARK}</span> ({} {})</h3><table class="mock-release"><tr>{head}</tr>{rows}</table>"#,
                lang.t("发布", "Release"),
                esc(&release.release),
                release.total_rows,
                lang.t("行", "rows"),
            ));
        } else {
            out.push_str(&format!(
                r#"<h3>{} <code>{}</code>: {} <code>{}</code></h3><p>{}</p>"#,
                lang.t("发布", "Release"),
                esc(&release.release),
                lang.t("被拦截", "blocked by"),
                esc(release.rule.as_deref().unwrap_or_default()),
                esc(release.message.as_deref().unwrap_or_default()),
            ));
        }
    }
    out.push_str(&format!(
        "<h2>{}</h2><ol class=\"trail\">",
        lang.t("运行记录", "Trail")
    ));
    for event in &report.events {
        let d = &event.details;
        let item = match event.action.as_str() {
            "query" => format!(
                "<b>query</b> <code>{}</code> — {} ({} {}){}{}",
                esc(d["sql"].as_str().unwrap_or_default()),
                esc(d["status"].as_str().unwrap_or_default()),
                d["rows"],
                lang.t("行", "rows"),
                d["error"]
                    .as_str()
                    .map(|e| format!(r#"<br><span class="bad">{}</span>"#, esc(e)))
                    .unwrap_or_default(),
                d["preview"]
                    .as_str()
                    .map(|p| format!("<pre>{}</pre>", esc(p)))
                    .unwrap_or_default(),
            ),
            "guest.log" => format!("<b>log</b> {}", esc(d["line"].as_str().unwrap_or_default())),
            action => format!(
                "<b>{}</b> <code>{}</code>",
                esc(action),
                esc(&d.to_string())
            ),
        };
        out.push_str(&format!("<li>{item}</li>"));
    }
    out.push_str("</ol>");
    if report.events_omitted > 0 {
        out.push_str(&format!(
            "<p>{} {}</p>",
            report.events_omitted,
            lang.t("条记录因篇幅省略。", "entries left out for size.")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Method, Request, StatusCode};

    use super::super::tests::{csrf, Console, Page};

    /// A multipart form as a browser sends it.
    fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
        let boundary = "----shuyuTestBoundary7";
        let mut body = Vec::new();
        for (name, file, data) in fields {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(file) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    async fn post_multipart(
        console: &Console,
        path: &str,
        cookie: &str,
        fields: &[(&str, Option<&str>, &[u8])],
    ) -> Page {
        let (content_type, body) = multipart(fields);
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, "console.test")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .expect("request");
        console.send(request).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_mock_run_from_the_form_shows_its_report_marked_mock_and_only_to_its_operator() {
        let (console, application) = Console::new();
        let operator = console.sign_in("op-1").await;
        let page = console
            .get("/console/mock-runs?lang=en", Some(&operator))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.text.contains(&application),
            "the application to choose"
        );
        let token = csrf(&page);
        // A module without shuyu_main: the run ends at once, and its page says why in full.
        let module: &[u8] = b"\0asm\x01\0\0\0";

        // Without the CSRF token the form does nothing.
        let forged = post_multipart(
            &console,
            "/console/mock-runs",
            &operator,
            &[
                ("module", Some("m.wasm"), module),
                ("application", None, application.as_bytes()),
            ],
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Neither an application nor a draft: refused with the form's own message.
        let incomplete = post_multipart(
            &console,
            "/console/mock-runs",
            &operator,
            &[
                ("csrf", None, token.as_bytes()),
                ("module", Some("m.wasm"), module),
            ],
        )
        .await;
        assert!(incomplete.text.contains("场景草稿"), "{}", incomplete.text);

        let started = post_multipart(
            &console,
            "/console/mock-runs",
            &operator,
            &[
                ("csrf", None, token.as_bytes()),
                ("module", Some("m.wasm"), module),
                ("application", None, application.as_bytes()),
            ],
        )
        .await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text);
        let location = started.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .to_string();
        assert!(
            location.starts_with("/console/mock-runs/mock-"),
            "{location}"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let report = loop {
            let page = console
                .get(&format!("{location}?lang=en"), Some(&operator))
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            if !page.text.contains(r#"id="mock-status">running"#) {
                assert!(!page.headers.contains_key(header::REFRESH));
                break page;
            }
            assert!(
                page.headers.contains_key(header::REFRESH),
                "reloads while running"
            );
            assert!(std::time::Instant::now() < deadline, "still running");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(
            report.text.contains(r#"class="mock">MOCK"#),
            "{}",
            report.text
        );
        assert!(report.text.contains("mock-outcome"), "{}", report.text);
        assert!(
            report.text.contains("shuyu_main"),
            "the module problem in full: {}",
            report.text
        );
        // No product, no job.
        let jobs = console.get("/console/jobs?lang=en", Some(&operator)).await;
        assert!(jobs.text.contains("No jobs yet"), "{}", jobs.text);

        // Nobody else reads it.
        let bureau = console.sign_in("bureau").await;
        assert_eq!(
            console.get(&location, Some(&bureau)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            console.get("/console/budgets", Some(&bureau)).await.status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn the_use_chart_sums_kept_debits_and_leaves_refunds_out() {
        use shuyu::budget::{BudgetStatus, DebitSummary, ScenarioBudget};
        let debit = |id: &str, eps: f64, refunded: bool, time: &str| DebitSummary {
            id: id.into(),
            job_id: "j".into(),
            release: "r".into(),
            epsilon: eps,
            delta: 0.0,
            time: time.into(),
            refunded,
            refunded_at: None,
        };
        let mut budget = ScenarioBudget {
            scenario_id: "s<1>".into(),
            budget: BudgetStatus {
                scope: shuyu::budget::BudgetScope::Scenario("s".into()),
                epsilon_total: 2.0,
                delta_total: 0.0,
                epsilon_spent: 0.75,
                delta_spent: 0.0,
                epsilon_remaining: 1.25,
                delta_remaining: 0.0,
                updated_at: String::new(),
            },
            datasets: Vec::new(),
            debits: vec![
                debit("a", 0.5, false, "2026-12-01T08:00:00.000Z"),
                debit("b", 0.5, true, "2026-12-02T08:00:00.000Z"),
                debit("c", 0.25, false, "2026-12-03T08:00:00.000Z"),
            ],
        };
        let chart = super::use_chart(super::Lang::En, &budget);
        assert!(
            chart.contains("<svg") && chart.contains("s&lt;1&gt;"),
            "{chart}"
        );
        assert!(chart.contains("0.75"), "the sum of kept debits: {chart}");
        assert!(!chart.contains(">1.25<"), "{chart}");
        budget.debits.retain(|d| d.refunded);
        assert!(super::use_chart(super::Lang::En, &budget).contains("Nothing spent yet"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_jobs_page_offers_only_approved_scenarios_and_budgets_say_none_yet() {
        let (console, application) = Console::new();
        let operator = console.sign_in("op-1").await;
        let jobs = console.get("/console/jobs?lang=en", Some(&operator)).await;
        assert_eq!(jobs.status, StatusCode::OK);
        assert!(
            jobs.text.contains("No approved scenario yet"),
            "{}",
            jobs.text
        );
        assert!(!jobs.text.contains(&format!(r#"value="{application}""#)));
        // A submission of the pending application through the form is the gate's refusal.
        let token = csrf(&jobs);
        let refused = console
            .post(
                "/console/jobs",
                Some(&operator),
                &format!("csrf={token}&application={application}"),
                None,
            )
            .await;
        assert!(refused.text.contains("class=\"bad\""), "{}", refused.text);
        let budgets = console
            .get("/console/budgets?lang=en", Some(&operator))
            .await;
        assert_eq!(budgets.status, StatusCode::OK);
        assert!(
            budgets.text.contains("No approved scenario"),
            "{}",
            budgets.text
        );
        // A product link to a product that is not the operator's is refused.
        let other = console
            .get("/console/products/nope-x/data.csv", Some(&operator))
            .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    }
}
