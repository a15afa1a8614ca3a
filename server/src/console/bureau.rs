//! The bureau's pages (docs/bureau.md, "The console"): one application in human terms with its
//! amendment's diff and its review deadlines, the operators with suspend and restore, and the
//! lists of agreements, objections and quality requests (providers see theirs).
//!
//! ```text
//! GET  /console/applications/{id}          bureau, reviewing providers ─▶ get_application,
//!                                          application_contract, the amended one for the diff
//! GET  /console/operators                  bureau
//! POST /console/operators/{id}/suspend     ─▶ suspend_operator (+ the job queue stops its jobs)
//! POST /console/operators/{id}/restore     ─▶ restore_operator
//! POST /console/operators/{id}/terminate   ─▶ terminate_operator (+ the job queue stops its jobs)
//! GET  /console/agreements                 ─▶ list_agreements (governance says who)
//! GET  /console/objections                 ─▶ list_objections (providers: their datasets')
//! GET  /console/quality                    ─▶ list_quality_requests (governance filters)
//! ```
//!
//! The helpers at the top are shared with the provider's and the reviewer's pages.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::page::{csrf_field, esc, layout, Lang};
use super::session::Session;
use super::svg;
use super::{html, lang_of, session_for_post, session_or_sign_in, LangParam};
use crate::error::ApiError;
use crate::state::AppState;
use shuyu::governance::effective::EffectiveContract;
use shuyu::governance::model::{
    Application, ApplicationStatus, Identity, IdentityStatus, Page, PageRequest, ReviewKind, Role,
};
use shuyu::governance::{GovError, Governance, ScenarioFile};

/// The bureau's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/applications/{id}", get(application_page))
        .route("/console/operators", get(operators))
        .route("/console/operators/{id}/suspend", post(suspend_operator))
        .route("/console/operators/{id}/restore", post(restore_operator))
        .route(
            "/console/operators/{id}/terminate",
            post(terminate_operator),
        )
        .route("/console/agreements", get(agreements))
        .route("/console/objections", get(objections))
        .route("/console/quality", get(quality))
}

/// A page's session and language, when the caller's role is one of `roles`; else the redirect
/// to sign in or a 403 saying `why`.
pub(super) fn page_session(
    state: &AppState,
    headers: &HeaderMap,
    lang_param: Option<&str>,
    roles: &[Role],
    why: &str,
) -> Result<(Session, Lang), Box<Response>> {
    let session = session_or_sign_in(state, headers)?;
    let lang = lang_of(headers, lang_param);
    if roles.contains(&session.caller.role) {
        Ok((session, lang))
    } else {
        Err(Box::new(super::forbidden(lang, why)))
    }
}

/// A whole page for `session` with status 200.
pub(super) fn show(
    lang_param: Option<&str>,
    lang: Lang,
    title: &str,
    session: &Session,
    body: &str,
) -> Response {
    html(
        lang_param,
        layout(
            lang,
            title,
            Some((&session.caller.id, session.caller.role, &session.csrf)),
            body,
        ),
    )
}

/// A page showing governance's refusal with the status the API would answer (403, 404, 409...).
pub(super) fn refused(
    lang: Lang,
    title: &str,
    session: &Session,
    status: StatusCode,
    message: &str,
) -> Response {
    let mut response = show(
        None,
        lang,
        title,
        session,
        &format!(r#"<p class="bad">{}</p>"#, esc(message)),
    );
    *response.status_mut() = status;
    response
}

/// Runs a governance call off the async workers; a refusal keeps the API's status.
pub(super) async fn call<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Governance) -> Result<T, GovError> + Send + 'static,
) -> Result<T, (StatusCode, String)> {
    state.gov(work).await.map_err(|e| (e.status, e.message))
}

/// Every item of a paged governance list, page by page (the console shows whole lists; the
/// registers it lists are small).
pub(super) fn all_pages<T>(
    mut list: impl FnMut(&PageRequest) -> Result<Page<T>, GovError>,
) -> Result<Vec<T>, GovError> {
    let mut all = Vec::new();
    let mut request = PageRequest {
        limit: Some(500),
        after: None,
    };
    loop {
        let page = list(&request)?;
        all.extend(page.items);
        match page.next {
            Some(next) => request.after = Some(next),
            None => return Ok(all),
        }
    }
}

/// An enum's name on the wire (`snake_case`), the words the API and the docs use.
pub(super) fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// A time as the console shows it.
pub(super) fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// Whole days from now to `deadline`, rounded down: a review due in twelve hours has 0 days
/// left, one twelve hours late has -1.
fn days_until(deadline: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (deadline - now).num_hours().div_euclid(24)
}

/// `GET /console/applications/{id}`: what the reviewers approve, in words and tables.
async fn application_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangParam>,
) -> Response {
    let (session, lang) = match page_session(
        &state,
        &headers,
        q.lang.as_deref(),
        &[Role::Bureau, Role::Provider],
        "only the bureau and the reviewing providers read applications here",
    ) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let title = lang.t("申请", "Application");
    let caller = session.caller.clone();
    let loaded = call(&state, move |gov| {
        let application = gov.get_application(&caller, &id)?;
        // A contract that no longer composes is shown as governance's reason, not as a failed
        // page: the reviewers must still see the application.
        let contract = gov
            .application_contract(&caller, &id)
            .map_err(|e| ApiError::from(e).message);
        // A provider brought in by the amendment may not see the application it amends: the
        // page then says so instead of showing a diff that would reveal it.
        let amended = application.amends.as_ref().map(|old| {
            gov.get_application(&caller, old)
                .map_err(|e| ApiError::from(e).message)
        });
        Ok((application, contract, amended))
    })
    .await;
    let (application, contract, amended) = match loaded {
        Ok(found) => found,
        Err((status, message)) => return refused(lang, title, &session, status, &message),
    };
    let body = application_body(lang, &session, &application, &contract, amended.as_ref());
    show(
        q.lang.as_deref(),
        lang,
        &format!("{title} {}", application.id),
        &session,
        &body,
    )
}

/// The application page's body.
fn application_body(
    lang: Lang,
    session: &Session,
    app: &Application,
    contract: &Result<EffectiveContract, String>,
    amended: Option<&Result<Application, String>>,
) -> String {
    let info = &app.scenario.scenario;
    let mut out = format!(
        r#"<table><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td><code>{}</code></td></tr>
<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td><code>{}</code></td></tr>
<tr><th>{}</th><td><strong>{}</strong>{}</td></tr><tr><th>{}</th><td>{} → {}</td></tr><tr><th>{}</th><td><code>{}</code></td></tr></table>"#,
        lang.t("标题", "Title"),
        esc(&info.title),
        lang.t("场景", "Scenario"),
        esc(&app.scenario_id),
        lang.t("运营方", "Operator"),
        esc(&app.operator),
        lang.t("目的", "Purpose"),
        esc(&info.purpose),
        lang.t("协议", "Agreement"),
        esc(&app.agreement),
        lang.t("状态", "Status"),
        esc(&wire(&app.status)),
        app.status_change
            .as_ref()
            .map(|c| format!(
                " <small>{} {} {}</small>",
                esc(&c.by),
                esc(&when(&c.at)),
                esc(c.reason.as_deref().unwrap_or(""))
            ))
            .unwrap_or_default(),
        lang.t("提交与有效期", "Submitted, valid until"),
        esc(&when(&app.submitted_at)),
        esc(&when(&app.valid_until)),
        lang.t("模块 SHA-256", "Module SHA-256"),
        esc(&info.module_sha256),
    );
    out.push_str(&reviews_section(lang, session, app));
    if let (Some(Err(message)), Some(old)) = (amended, &app.amends) {
        out.push_str(&format!(
            r#"<h2>{} <code>{}</code></h2><p class="bad">{} {}</p>"#,
            lang.t(
                "相对于所修改的申请的变化",
                "Changes against the amended application"
            ),
            esc(old),
            lang.t(
                "所修改的申请对您不可见，无法比较：",
                "The amended application is not visible to you, so no diff is shown:"
            ),
            esc(message)
        ));
    }
    if let Some(Ok(old)) = amended {
        out.push_str(&format!(
            "<h2>{} <a href=\"/console/applications/{}\">{}</a></h2>",
            lang.t(
                "相对于所修改的申请的变化",
                "Changes against the amended application"
            ),
            esc(&old.id),
            esc(&old.id)
        ));
        let changes = scenario_diff(&old.scenario, &app.scenario);
        out.push_str(&diff_list(lang, &changes));
    }
    match contract {
        Ok(contract) => out.push_str(&contract_section(lang, contract)),
        Err(message) => out.push_str(&format!(
            r#"<h2>{}</h2><p class="bad">{}</p>"#,
            lang.t("生效的合约", "Effective contract"),
            esc(message)
        )),
    }
    out
}

/// The reviews, the days left of the pending ones, and the forms when this caller still has
/// to decide.
fn reviews_section(lang: Lang, session: &Session, app: &Application) -> String {
    let now = Utc::now();
    let rows: String = app
        .reviews
        .iter()
        .map(|r| {
            let deadline = if r.overdue {
                format!(
                    r#"<span class="overdue">{} {}</span>"#,
                    esc(&when(&r.deadline)),
                    lang.t("已逾期", "overdue")
                )
            } else {
                esc(&when(&r.deadline))
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{deadline}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&wire(&r.kind)),
                esc(&r.party),
                r.decision
                    .map(|d| esc(&wire(&d)))
                    .unwrap_or_else(|| lang.t("待审查", "pending").into()),
                esc(r.reason.as_deref().unwrap_or("")),
                r.decided_at.as_ref().map(|t| esc(&when(t))).unwrap_or_default(),
            )
        })
        .collect();
    let mut out = format!(
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>",
        lang.t("审查", "Reviews"),
        lang.t("类型", "Kind"),
        lang.t("审查方", "Party"),
        lang.t("期限", "Deadline"),
        lang.t("决定", "Decision"),
        lang.t("理由", "Reason"),
        lang.t("决定时间", "Decided"),
    );
    let pending: Vec<(String, i64)> = app
        .reviews
        .iter()
        .filter(|r| r.decision.is_none())
        .map(|r| (r.party.clone(), days_until(r.deadline, now)))
        .collect();
    if app.status == ApplicationStatus::Pending && !pending.is_empty() {
        out.push_str(&svg::days_left(
            lang.t("待审查的剩余天数", "Days left per pending review"),
            &pending,
        ));
    }
    let me = &session.caller;
    let mine = app.status == ApplicationStatus::Pending
        && app.reviews.iter().any(|r| {
            r.decision.is_none()
                && match r.kind {
                    ReviewKind::Bureau => me.role == Role::Bureau,
                    ReviewKind::Provider => r.party == me.id,
                }
        });
    if mine {
        for (decision, label) in [
            ("approve", lang.t("批准", "Approve")),
            ("reject", lang.t("驳回", "Reject")),
        ] {
            out.push_str(&format!(
                r#"<form class="inline" method="post" action="/console/applications/{}/review">{}
<input type="hidden" name="decision" value="{decision}"><input name="reason" required placeholder="{}">
<button>{label}</button></form> "#,
                esc(&app.id),
                csrf_field(&session.csrf),
                lang.t("理由", "reason"),
            ));
        }
    }
    out
}

/// The effective contract: what the guard enforces if the application is approved.
fn contract_section(lang: Lang, c: &EffectiveContract) -> String {
    let mut out = format!(
        "<h2>{}</h2>",
        lang.t("授权的数据与列", "Datasets and columns granted")
    );
    for d in &c.datasets {
        let columns: String = d
            .columns
            .iter()
            .map(|col| {
                format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&col.name),
                    esc(col.class.as_str()),
                    if col.pseudonymized { lang.t("假名", "pseudonyms") } else { "" },
                    esc(&col.uses.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")),
                    esc(&col.aggregations.iter().map(wire).collect::<Vec<_>>().join(", ")),
                    col.clamp.map(|[lo, hi]| format!("[{lo}, {hi}]")).unwrap_or_default(),
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<h3><code>{}</code></h3><p>{} <code>{}</code> · min k = {} · {} <code>{}</code> · {} ε = {}, δ = {}{}</p>
<table><tr><th>{}</th><th>{}</th><th></th><th>{}</th><th>{}</th><th>{}</th></tr>{columns}</table>"#,
            esc(&d.dataset),
            lang.t("版本数据", "Version data"),
            esc(d.content_sha256.get(..16).unwrap_or(&d.content_sha256)),
            d.min_k,
            lang.t("主体列", "entity column"),
            esc(&d.entity_column),
            lang.t("数据集隐私预算", "dataset privacy budget"),
            d.privacy_budget.epsilon,
            d.privacy_budget.delta,
            if d.privacy_budget_declared { "" } else { lang.t("（默认）", " (default)") },
            lang.t("列", "Column"),
            lang.t("类别", "Class"),
            lang.t("用途", "Uses"),
            lang.t("聚合", "Aggregations"),
            lang.t("截断", "Clamp"),
        ));
    }
    out.push_str(&format!(
        "<h2>{}</h2>{}",
        lang.t("资源限制", "Limits"),
        fields_table(&serde_json::to_value(&c.limits).unwrap_or_default())
    ));
    out.push_str(&format!(
        "<p>{}: {}</p>",
        lang.t("场景隐私预算", "Scenario privacy budget"),
        c.privacy_budget
            .as_ref()
            .map(|b| format!("ε = {}, δ = {}", b.epsilon, b.delta))
            .unwrap_or_else(|| lang.t("未声明", "none declared").into())
    ));
    out.push_str(&format!("<h2>{}</h2>", lang.t("发布规则", "Release rules")));
    for r in &c.releases {
        let dims: Vec<String> = r
            .dimensions
            .iter()
            .map(|d| {
                format!(
                    "<code>{}</code> ← {}{}",
                    esc(&d.name),
                    esc(&d.from.join(", ")),
                    d.values
                        .as_ref()
                        .map(|v| format!(" ∈ {{{}}}", esc(&v.join(", "))))
                        .unwrap_or_default()
                )
            })
            .collect();
        let measures: Vec<String> = r
            .measures
            .iter()
            .map(|m| {
                format!(
                    "<code>{}</code> ← {} [{}, {}] {}",
                    esc(&m.name),
                    esc(&m.from.join(", ")),
                    m.clamp[0],
                    m.clamp[1],
                    esc(&m
                        .aggregations
                        .iter()
                        .map(wire)
                        .collect::<Vec<_>>()
                        .join(", "))
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<h3><code>{}</code></h3><table><tr><th>k</th><td>{}</td></tr><tr><th>L ({})</th><td>{}</td></tr>
<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>
<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr></table>"#,
            esc(&r.name),
            r.k.map(|k| k.to_string()).unwrap_or_else(|| "-".into()),
            lang.t("每主体最多贡献行数", "max contributions per entity"),
            r.max_rows_per_entity,
            lang.t("最多分组", "Max groups"),
            r.max_groups,
            lang.t("支配规则", "Dominance"),
            r.dominance
                .as_ref()
                .map(|d| format!("n = {}, {}%", d.n, d.percent))
                .unwrap_or_else(|| "-".into()),
            lang.t("差分隐私", "Differential privacy"),
            r.privacy
                .as_ref()
                .map(|p| format!("ε = {}, δ = {}", p.epsilon, p.delta.unwrap_or(0.0)))
                .unwrap_or_else(|| "-".into()),
            lang.t("维度", "Dimensions"),
            dims.join("<br>"),
            lang.t("度量与截断", "Measures and clamps"),
            measures.join("<br>"),
        ));
    }
    for v in &c.vectors {
        out.push_str(&format!(
            "<h3>{} <code>{}</code></h3><p>{} {} · ε = {}, δ = {} · {}</p>",
            lang.t("向量", "Vector"),
            esc(&v.name),
            lang.t("分区", "partitions"),
            v.partitions,
            v.privacy.epsilon,
            v.privacy.delta.unwrap_or(0.0),
            v.coords
                .iter()
                .zip(&v.bounds)
                .map(|(name, [lo, hi])| format!("{} [{lo}, {hi}]", esc(name)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for s in &c.services {
        out.push_str(&format!(
            "<h3>{} <code>{}</code></h3><p>{} · {} · {} {:.1} bits · {}/s · {}/{}</p>",
            lang.t("服务", "Service"),
            esc(&s.contract.name),
            esc(&wire(&s.contract.subject)),
            esc(&s.contract.purpose),
            lang.t("每个回答最多", "each answer at most"),
            s.answer_bits,
            s.contract.rate_per_second,
            s.contract.daily_quota,
            lang.t("天", "day"),
        ));
    }
    if !c.looser.is_empty() {
        let items: String = c
            .looser
            .iter()
            .map(|l| {
                format!(
                    "<li>{}: {} {} → {}</li>",
                    esc(&l.place),
                    esc(&l.rule),
                    esc(&l.asked),
                    esc(&l.allowed)
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<h2 class="bad">{}</h2><ul>{items}</ul>"#,
            lang.t(
                "场景比数据集清单宽松之处（以清单为准）",
                "Where the scenario is looser than a manifest (the manifest applies)"
            )
        ));
    }
    out
}

/// A JSON object as a two-column table.
fn fields_table(value: &Value) -> String {
    let rows: String = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(k),
                esc(&v.to_string())
            )
        })
        .collect();
    format!("<table>{rows}</table>")
}

/// One difference between an amendment and the application it amends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// Something the amendment adds: what it is.
    Added(String),
    /// Something the amendment removes.
    Removed(String),
    /// Something changed: what, from, to.
    Changed(String, String, String),
}

/// What `new` adds, removes and changes against `old`: grants and their columns, releases,
/// vectors, services (each by name, field by field), limits, the module, the budget, the words.
pub(super) fn scenario_diff(old: &ScenarioFile, new: &ScenarioFile) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut field = |what: &str, a: &str, b: &str| {
        if a != b {
            changes.push(Change::Changed(what.into(), a.into(), b.into()));
        }
    };
    field(
        "module_sha256",
        &old.scenario.module_sha256,
        &new.scenario.module_sha256,
    );
    field("title", &old.scenario.title, &new.scenario.title);
    field("purpose", &old.scenario.purpose, &new.scenario.purpose);
    for grant in &new.grants {
        match old.grants.iter().find(|g| g.dataset == grant.dataset) {
            None => changes.push(Change::Added(format!(
                "grant {}: {}",
                grant.dataset,
                grant.columns.join(", ")
            ))),
            Some(before) => {
                for column in grant.columns.iter().filter(|c| !before.columns.contains(c)) {
                    changes.push(Change::Added(format!("column {}.{column}", grant.dataset)));
                }
                for column in before.columns.iter().filter(|c| !grant.columns.contains(c)) {
                    changes.push(Change::Removed(format!(
                        "column {}.{column}",
                        grant.dataset
                    )));
                }
            }
        }
    }
    for grant in &old.grants {
        if !new.grants.iter().any(|g| g.dataset == grant.dataset) {
            changes.push(Change::Removed(format!("grant {}", grant.dataset)));
        }
    }
    changes.extend(named_diff("release", &old.releases, &new.releases, |r| {
        &r.name
    }));
    changes.extend(named_diff("vector", &old.vectors, &new.vectors, |v| {
        &v.name
    }));
    changes.extend(named_diff("service", &old.services, &new.services, |s| {
        &s.name
    }));
    changes.extend(value_diff(
        "limits",
        &serde_json::to_value(&old.limits).unwrap_or_default(),
        &serde_json::to_value(&new.limits).unwrap_or_default(),
    ));
    changes.extend(value_diff(
        "privacy_budget",
        &serde_json::to_value(old.privacy_budget).unwrap_or_default(),
        &serde_json::to_value(new.privacy_budget).unwrap_or_default(),
    ));
    changes
}

/// Items of one kind matched by name: added, removed, and the fields of the changed ones.
fn named_diff<T: Serialize>(
    kind: &str,
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &str,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for item in new {
        match old.iter().find(|o| name(o) == name(item)) {
            None => changes.push(Change::Added(format!("{kind} {}", name(item)))),
            Some(before) => changes.extend(value_diff(
                &format!("{kind} {}", name(item)),
                &serde_json::to_value(before).unwrap_or_default(),
                &serde_json::to_value(item).unwrap_or_default(),
            )),
        }
    }
    for item in old {
        if !new.iter().any(|n| name(n) == name(item)) {
            changes.push(Change::Removed(format!("{kind} {}", name(item))));
        }
    }
    changes
}

/// Where two JSON values differ, as `what.field: old → new`: objects field by field, lists of
/// named items (measures, dimensions, answer fields) item by item, anything else whole. People
/// read "measure[capital].clamp", not two copies of every measure.
fn value_diff(what: &str, old: &Value, new: &Value) -> Vec<Change> {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let null = Value::Null;
                    value_diff(
                        &format!("{what}.{k}"),
                        a.get(k).unwrap_or(&null),
                        b.get(k).unwrap_or(&null),
                    )
                })
                .collect()
        }
        (Value::Array(a), Value::Array(b)) if a != b && named(a) && named(b) => {
            let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_string();
            let mut changes = Vec::new();
            for item in b {
                match a.iter().find(|o| name(o) == name(item)) {
                    None => changes.push(Change::Added(format!("{what}[{}]", name(item)))),
                    Some(before) => {
                        changes.extend(value_diff(&format!("{what}[{}]", name(item)), before, item))
                    }
                }
            }
            for item in a {
                if !b.iter().any(|n| name(n) == name(item)) {
                    changes.push(Change::Removed(format!("{what}[{}]", name(item))));
                }
            }
            changes
        }
        (a, b) if a != b => vec![Change::Changed(what.into(), a.to_string(), b.to_string())],
        _ => Vec::new(),
    }
}

/// Whether every item of a list is an object with a `name`.
fn named(items: &[Value]) -> bool {
    items.iter().all(|v| v["name"].is_string())
}

/// The diff as a list, each line marked added, removed or changed.
fn diff_list(lang: Lang, changes: &[Change]) -> String {
    if changes.is_empty() {
        return format!("<p>{}</p>", lang.t("没有变化。", "No changes."));
    }
    let items: String = changes
        .iter()
        .map(|c| match c {
            Change::Added(what) => format!(
                r#"<li class="ok"><strong>+ {}</strong> {}</li>"#,
                lang.t("新增", "added"),
                esc(what)
            ),
            Change::Removed(what) => format!(
                r#"<li class="bad"><strong>− {}</strong> {}</li>"#,
                lang.t("删除", "removed"),
                esc(what)
            ),
            Change::Changed(what, from, to) => format!(
                r#"<li><strong>~ {}</strong> {}: <del>{}</del> → <ins>{}</ins></li>"#,
                lang.t("修改", "changed"),
                esc(what),
                esc(from),
                esc(to)
            ),
        })
        .collect();
    format!("<ul>{items}</ul>")
}

/// `GET /console/operators`: every operator with its status and the bureau's actions.
async fn operators(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let (session, lang) = match page_session(
        &state,
        &headers,
        q.lang.as_deref(),
        &[Role::Bureau],
        "only the bureau manages operators",
    ) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let title = lang.t("运营方", "Operators");
    // Governance has no caller-checked list of identities; the page is the bureau's alone
    // (checked above) and shows only operators.
    let listed = call(&state, |gov| gov.admin_list_identities()).await;
    let operators: Vec<Identity> = match listed {
        Ok(all) => all
            .into_iter()
            .filter(|i| i.role == Role::Operator)
            .collect(),
        Err((status, message)) => return refused(lang, title, &session, status, &message),
    };
    let body = operator_table(lang, &session, &operators);
    show(q.lang.as_deref(), lang, title, &session, &body)
}

fn operator_table(lang: Lang, session: &Session, operators: &[Identity]) -> String {
    if operators.is_empty() {
        return format!("<p>{}</p>", lang.t("没有运营方。", "No operators."));
    }
    let rows: String = operators
        .iter()
        .map(|o| {
            let actions: Vec<(&str, &str)> = match o.status {
                IdentityStatus::Active => vec![
                    ("suspend", lang.t("暂停", "Suspend")),
                    ("terminate", lang.t("终止", "Terminate")),
                ],
                IdentityStatus::Suspended => vec![
                    ("restore", lang.t("恢复", "Restore")),
                    ("terminate", lang.t("终止", "Terminate")),
                ],
                IdentityStatus::Terminated => Vec::new(),
            };
            let form: String = actions
                .iter()
                .map(|(verb, label)| {
                    format!(
                        r#"<form class="inline" method="post" action="/console/operators/{}/{verb}">{}<input name="reason" required placeholder="{}"> <button>{label}</button></form> "#,
                        esc(&o.id),
                        csrf_field(&session.csrf),
                        lang.t("理由", "reason"),
                    )
                })
                .collect();
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{form}</td></tr>",
                esc(&o.id),
                esc(&o.name),
                esc(o.usci.as_deref().unwrap_or("")),
                if o.status == IdentityStatus::Active { "ok" } else { "bad" },
                esc(&wire(&o.status)),
                o.status_change
                    .as_ref()
                    .map(|c| format!(
                        "{} {} {}",
                        esc(&c.by),
                        esc(&when(&c.at)),
                        esc(c.reason.as_deref().unwrap_or(""))
                    ))
                    .unwrap_or_default(),
            )
        })
        .collect();
    format!(
        r#"<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>
<p class="note">{}</p>"#,
        lang.t("标识", "Id"),
        lang.t("名称", "Name"),
        lang.t("统一社会信用代码", "USCI"),
        lang.t("状态", "Status"),
        lang.t("最近变更", "Last change"),
        lang.t(
            "暂停或终止都会立即停止该运营方排队和运行中的作业；暂停可恢复，终止不可恢复。",
            "A suspension or a termination stops the operator's queued and running jobs at once; a suspension can be restored, a termination cannot."
        ),
    )
}

#[derive(Debug, Deserialize)]
struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn suspend_operator(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    stop_operator(state, headers, id, form, false).await
}

async fn terminate_operator(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    stop_operator(state, headers, id, form, true).await
}

/// Suspends or terminates through the API's own call, which stops the operator's live jobs.
async fn stop_operator(
    state: AppState,
    headers: HeaderMap,
    id: String,
    form: ReasonForm,
    terminate: bool,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refusal) => return *refusal,
    };
    let lang = Lang::of(&headers);
    let done = crate::routes::stop_operator(
        state.clone(),
        session.caller.clone(),
        id.clone(),
        form.reason,
        terminate,
    )
    .await;
    let (title, verb) = if terminate {
        (
            lang.t("终止运营方", "Terminate an operator"),
            lang.t("已终止", "Terminated"),
        )
    } else {
        (
            lang.t("暂停运营方", "Suspend an operator"),
            lang.t("已暂停", "Suspended"),
        )
    };
    match done {
        Ok(answer) => {
            let stopped = &answer.0.stopped_jobs;
            show(
                None,
                lang,
                title,
                &session,
                &format!(
                    r#"<p class="ok">{verb} <code>{}</code>. {} {}</p><p><a href="/console/operators">{}</a></p>"#,
                    esc(&id),
                    lang.t("已停止的作业：", "Jobs stopped:"),
                    if stopped.is_empty() {
                        "-".into()
                    } else {
                        esc(&stopped.join(", "))
                    },
                    lang.t("返回运营方列表", "Back to the operators")
                ),
            )
        }
        Err(e) => refused(lang, title, &session, e.status, &e.message),
    }
}

async fn restore_operator(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refusal) => return *refusal,
    };
    let lang = Lang::of(&headers);
    let caller = session.caller.clone();
    let done = call(&state, move |gov| {
        gov.restore_operator(&caller, &id, &form.reason)
    })
    .await;
    let title = lang.t("恢复运营方", "Restore an operator");
    match done {
        Ok(identity) => show(
            None,
            lang,
            title,
            &session,
            &format!(
                r#"<p class="ok">{} <code>{}</code>: {}</p><p><a href="/console/operators">{}</a></p>"#,
                lang.t("已恢复", "Restored"),
                esc(&identity.id),
                esc(&wire(&identity.status)),
                lang.t("返回运营方列表", "Back to the operators")
            ),
        ),
        Err((status, message)) => refused(lang, title, &session, status, &message),
    }
}

/// `GET /console/agreements`: whoever governance lets list agreements (not providers).
async fn agreements(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    let lang = lang_of(&headers, q.lang.as_deref());
    let title = lang.t("授权协议", "Agreements");
    let caller = session.caller.clone();
    let listed = call(&state, move |gov| {
        all_pages(|page| gov.list_agreements(&caller, page))
    })
    .await;
    let agreements = match listed {
        Ok(found) => found,
        Err((status, message)) => return refused(lang, title, &session, status, &message),
    };
    let rows: String = agreements
        .iter()
        .map(|a| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                esc(&a.id),
                esc(&a.operator),
                esc(&wire(&a.mode)),
                esc(&format!(
                    "{} · {} · ≤ {}",
                    a.scope.datasets.join(", "),
                    a.scope.domains.join(", "),
                    a.scope.max_level
                )),
                esc(&when(&a.term_start)),
                esc(&when(&a.term_end)),
                if wire(&a.status) == "active" { "ok" } else { "bad" },
                esc(&wire(&a.status)),
                esc(&a.authorizer),
            )
        })
        .collect();
    let body = if agreements.is_empty() {
        format!("<p>{}</p>", lang.t("没有授权协议。", "No agreements."))
    } else {
        format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>",
            lang.t("协议", "Agreement"),
            lang.t("运营方", "Operator"),
            lang.t("方式", "Mode"),
            lang.t("范围（数据集 · 领域 · 最高级别）", "Scope (datasets · domains · max level)"),
            lang.t("期限", "Term"),
            lang.t("状态", "Status"),
            lang.t("授权方", "Authorizer"),
        )
    };
    show(q.lang.as_deref(), lang, title, &session, &body)
}

/// `GET /console/objections`: every objection for the bureau and reviewers; a provider sees
/// those about its datasets; operators are sent to the API (their nav does not list it).
async fn objections(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let (session, lang) = match page_session(
        &state,
        &headers,
        q.lang.as_deref(),
        &[Role::Bureau, Role::Provider, Role::Reviewer],
        "objections are listed for the bureau, providers and reviewers",
    ) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let title = lang.t("异议", "Objections");
    let caller = session.caller.clone();
    let listed = call(&state, move |gov| {
        let objections = all_pages(|page| gov.list_objections(&caller, page))?;
        if caller.role != Role::Provider {
            return Ok(objections);
        }
        let mine: Vec<String> = all_pages(|page| gov.list_datasets(&caller, page))?
            .into_iter()
            .filter(|d| d.provider == caller.id)
            .map(|d| d.name)
            .collect();
        Ok(objections
            .into_iter()
            .filter(|o| mine.contains(&o.dataset))
            .collect())
    })
    .await;
    let objections = match listed {
        Ok(found) => found,
        Err((status, message)) => return refused(lang, title, &session, status, &message),
    };
    let rows: String = objections
        .iter()
        .map(|o| {
            format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&o.id),
                esc(&o.dataset),
                esc(&o.filed_by),
                esc(&o.reason),
                esc(&when(&o.filed_at)),
                esc(&wire(&o.status)),
                esc(&format!(
                    "{} {}",
                    o.resolution.map(|r| wire(&r)).unwrap_or_default(),
                    o.note.as_deref().unwrap_or("")
                )),
            )
        })
        .collect();
    let body = if objections.is_empty() {
        format!("<p>{}</p>", lang.t("没有异议。", "No objections."))
    } else {
        format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>",
            lang.t("异议", "Objection"),
            lang.t("数据集", "Dataset"),
            lang.t("提出者", "Filed by"),
            lang.t("理由", "Reason"),
            lang.t("提出时间", "Filed"),
            lang.t("状态", "Status"),
            lang.t("处理", "Resolution"),
        )
    };
    show(q.lang.as_deref(), lang, title, &session, &body)
}

/// `GET /console/quality`: the quality requests governance lets the caller see; a provider
/// answers its open ones here.
async fn quality(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    let lang = lang_of(&headers, q.lang.as_deref());
    let title = lang.t("数据质量请求", "Quality requests");
    let caller = session.caller.clone();
    let listed = call(&state, move |gov| {
        all_pages(|page| gov.list_quality_requests(&caller, page))
    })
    .await;
    let requests = match listed {
        Ok(found) => found,
        Err((status, message)) => return refused(lang, title, &session, status, &message),
    };
    let provider = session.caller.role == Role::Provider;
    let rows: String = requests
        .iter()
        .map(|r| {
            let answer = match (&r.answer, provider) {
                (Some(answer), _) => format!(
                    "{}<br><small>{}</small>",
                    esc(answer),
                    r.answered_at.as_ref().map(|t| esc(&when(t))).unwrap_or_default()
                ),
                (None, true) => format!(
                    r#"<form method="post" action="/console/quality/{}/answer">{}<input name="answer" required size="40"> <button>{}</button></form>"#,
                    esc(&r.id),
                    csrf_field(&session.csrf),
                    lang.t("答复", "Answer")
                ),
                (None, false) => lang.t("待答复", "awaiting the provider").into(),
            };
            format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{answer}</td></tr>",
                esc(&r.id),
                esc(&r.dataset),
                esc(&r.operator),
                esc(&r.description),
                esc(&when(&r.filed_at)),
            )
        })
        .collect();
    let body = if requests.is_empty() {
        format!(
            "<p>{}</p>",
            lang.t("没有数据质量请求。", "No quality requests.")
        )
    } else {
        format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>",
            lang.t("请求", "Request"),
            lang.t("数据集", "Dataset"),
            lang.t("运营方", "Operator"),
            lang.t("问题", "Problem"),
            lang.t("提出时间", "Filed"),
            lang.t("答复", "Answer"),
        )
    };
    show(q.lang.as_deref(), lang, title, &session, &body)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use chrono::{Duration, Utc};

    use super::super::tests::{csrf, Console};
    use super::{scenario_diff, Change};
    use shuyu::audit::AuditFilter;
    use shuyu::governance::model::{
        Caller, Decision, IdentityStatus, NewApplication, NewIdentity, ReviewInput, Role,
    };

    fn caller(id: &str, role: Role) -> Caller {
        Caller {
            id: id.into(),
            role,
        }
    }

    fn status_of(console: &Console, id: &str) -> IdentityStatus {
        console
            .state
            .queue()
            .governance()
            .admin_list_identities()
            .expect("identities")
            .into_iter()
            .find(|i| i.id == id)
            .expect("identity")
            .status
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_application_page_shows_the_contract_to_its_reviewers_only() {
        let (console, application) = Console::new();
        let bureau = console.sign_in("bureau").await;
        let queue = console.get("/console/reviews", Some(&bureau)).await;
        assert!(
            queue
                .text
                .contains(&format!(r#"href="/console/applications/{application}""#)),
            "the queue links the page: {}",
            queue.text
        );
        let path = format!("/console/applications/{application}?lang=en");
        let page = console.get(&path, Some(&bureau)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for expected in [
            "op-1",
            "Enterprise count, mean registered capital",
            "district_stats",
            // The classes come from the manifests of the registered versions.
            "<code>amount</code></td><td>sensitive",
            "<code>usci</code></td><td>identifier",
            "max contributions per entity",
            "[0, 100000]",
            "Days left per pending review",
            r#"name="decision" value="approve""#,
        ] {
            assert!(page.text.contains(expected), "{expected}: {}", page.text);
        }
        assert!(!page.text.contains("Changes against"), "not an amendment");
        let market = console.sign_in("p-market").await;
        let theirs = console.get(&path, Some(&market)).await;
        assert_eq!(theirs.status, StatusCode::OK);
        assert!(theirs.text.contains("district_stats"));

        // A provider that does not review it is told what governance says: not found.
        console
            .state
            .queue()
            .governance()
            .admin_add_identity(NewIdentity {
                id: "p-other".into(),
                role: Role::Provider,
                name: "p-other".into(),
                usci: None,
                department: Some("统计局".into()),
            })
            .expect("identity");
        for (who, status) in [
            ("p-other", StatusCode::NOT_FOUND),
            ("op-1", StatusCode::FORBIDDEN),
            ("rev", StatusCode::FORBIDDEN),
        ] {
            let cookie = console.sign_in(who).await;
            let page = console.get(&path, Some(&cookie)).await;
            assert_eq!(page.status, status, "{who}: {}", page.text);
            assert!(
                !page.text.contains("district_stats") && !page.text.contains("registered_capital"),
                "{who} sees nothing of it: {}",
                page.text
            );
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_amendments_page_names_what_it_changes() {
        let (console, application) = Console::new();
        let gov = console.state.queue().governance().clone();
        for (id, role) in [
            ("bureau", Role::Bureau),
            ("p-market", Role::Provider),
            ("p-tax", Role::Provider),
        ] {
            gov.review_application(
                &caller(id, role),
                &application,
                ReviewInput {
                    decision: Decision::Approve,
                    reason: "ok".into(),
                },
            )
            .expect("review");
        }
        let op = caller("op-1", Role::Operator);
        let approved = gov.get_application(&op, &application).expect("app");
        let mut scenario = approved.scenario.clone();
        scenario.releases[0].k = 7;
        scenario.releases[0].measures[0].clamp = [0.0, 50_000.0];
        let amendment = gov
            .submit_application(
                &op,
                NewApplication {
                    agreement: approved.agreement.clone(),
                    scenario,
                    valid_until: Utc::now() + Duration::days(90),
                    amends: Some(application.clone()),
                },
            )
            .expect("amendment");
        let bureau = console.sign_in("bureau").await;
        let page = console
            .get(
                &format!("/console/applications/{}?lang=en", amendment.id),
                Some(&bureau),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("Changes against"), "{}", page.text);
        assert!(
            page.text
                .contains("release district_stats.k: <del>5</del> → <ins>7</ins>"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains(
                "release district_stats.measure[capital].clamp: <del>[0.0,100000.0]</del> → <ins>[0.0,50000.0]</ins>"
            ),
            "{}",
            page.text
        );
        assert!(
            !page.text.contains("module_sha256: <del>"),
            "the module did not change"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_provider_brought_in_by_an_amendment_does_not_see_the_amended_one() {
        let (console, application) = Console::new();
        let gov = console.state.queue().governance().clone();
        let social = gov
            .admin_add_identity(NewIdentity {
                id: "p-social".into(),
                role: Role::Provider,
                name: "p-social".into(),
                usci: None,
                department: Some("人力资源和社会保障局".into()),
            })
            .map(|_| caller("p-social", Role::Provider))
            .expect("identity");
        let dir = super::super::tests::repo("datasets").join("social_insurance");
        let manifest = std::fs::read_to_string(dir.join("dataset.toml")).expect("manifest");
        let parquet = std::fs::read(dir.join("data.parquet")).expect("parquet");
        gov.publish_dataset(&social, "social_insurance", &manifest, &parquet)
            .expect("publish");
        for (id, role) in [
            ("bureau", Role::Bureau),
            ("p-market", Role::Provider),
            ("p-tax", Role::Provider),
        ] {
            gov.review_application(
                &caller(id, role),
                &application,
                ReviewInput {
                    decision: Decision::Approve,
                    reason: "ok".into(),
                },
            )
            .expect("review");
        }
        let op = caller("op-1", Role::Operator);
        let approved = gov.get_application(&op, &application).expect("app");
        let mut scenario = approved.scenario.clone();
        scenario.grants.push(shuyu::governance::Grant {
            dataset: "social_insurance".into(),
            columns: vec!["usci".into(), "month".into()],
        });
        let amendment = gov
            .submit_application(
                &op,
                NewApplication {
                    agreement: approved.agreement.clone(),
                    scenario,
                    valid_until: Utc::now() + Duration::days(90),
                    amends: Some(application.clone()),
                },
            )
            .expect("amendment");
        let path = format!("/console/applications/{}?lang=en", amendment.id);
        let bureau = console.sign_in("bureau").await;
        let page = console.get(&path, Some(&bureau)).await;
        assert!(
            page.text.contains("grant social_insurance: usci, month"),
            "{}",
            page.text
        );
        let cookie = console.sign_in("p-social").await;
        let page = console.get(&path, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("social_insurance"));
        assert!(
            !page.text.contains("grant social_insurance: usci, month")
                && !page
                    .text
                    .contains(&format!(r#"href="/console/applications/{application}""#)),
            "no diff against what it may not see: {}",
            page.text
        );
        assert!(
            page.text
                .contains("not visible to you, so no diff is shown: application &#39;"),
            "governance's word: {}",
            page.text
        );
    }

    #[test]
    fn the_diff_marks_what_is_added_removed_and_changed() {
        let path = super::super::tests::repo("guest-examples/district-stats/scenario.toml");
        let old = shuyu::governance::ScenarioFile::load(&path).expect("toml");
        assert!(scenario_diff(&old, &old).is_empty());
        let mut new = old.clone();
        new.grants[1].columns.retain(|c| c != "amount");
        new.grants[0].columns.push("founded".into());
        let mut extra = new.releases[0].clone();
        extra.name = "by_district".into();
        new.releases.push(extra);
        new.limits.fuel += 1;
        new.scenario.module_sha256 = "abc".into();
        let changes = scenario_diff(&old, &new);
        for expected in [
            Change::Removed("column tax_payments.amount".into()),
            Change::Added("column enterprise_registry.founded".into()),
            Change::Added("release by_district".into()),
            Change::Changed(
                "module_sha256".into(),
                old.scenario.module_sha256.clone(),
                "abc".into(),
            ),
        ] {
            assert!(changes.contains(&expected), "{expected:?} in {changes:?}");
        }
        assert!(
            changes
                .iter()
                .any(|c| matches!(c, Change::Changed(what, _, _) if what == "limits.fuel")),
            "{changes:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_bureau_suspends_and_restores_an_operator_through_governance() {
        let (console, _) = Console::new();
        let bureau = console.sign_in("bureau").await;
        let page = console
            .get("/console/operators?lang=en", Some(&bureau))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("<code>op-1</code>"), "{}", page.text);
        assert!(
            !page.text.contains("<code>p-market</code>"),
            "operators only"
        );
        let token = csrf(&page);
        let suspend = "/console/operators/op-1/suspend";

        // Forged, reasonless and wrong-role suspensions change nothing.
        let forged = console
            .post(suspend, Some(&bureau), "reason=evaluation+failed", None)
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let reasonless = console
            .post(
                suspend,
                Some(&bureau),
                &format!("csrf={token}&reason=+"),
                None,
            )
            .await;
        assert_eq!(
            reasonless.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reasonless.text
        );
        assert!(
            reasonless
                .text
                .contains("a reason for the suspension is required"),
            "governance's message: {}",
            reasonless.text
        );
        let market = console.sign_in("p-market").await;
        let theirs = console.get("/console/quality", Some(&market)).await;
        let refused = console
            .post(
                suspend,
                Some(&market),
                &format!("csrf={}&reason=x", csrf(&theirs)),
                None,
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        assert_eq!(status_of(&console, "op-1"), IdentityStatus::Active);

        let done = console
            .post(
                suspend,
                Some(&bureau),
                &format!("csrf={token}&reason=evaluation+failed"),
                Some("http://console.test"),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        assert_eq!(status_of(&console, "op-1"), IdentityStatus::Suspended);
        let audited = console
            .state
            .domain()
            .audit
            .search(&AuditFilter {
                action: Some("gov.operator.suspend".into()),
                ..Default::default()
            })
            .expect("search");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].actor, "bureau");
        assert_eq!(audited[0].subject, "op-1");
        assert_eq!(audited[0].details["reason"], "evaluation failed");

        let page = console
            .get("/console/operators?lang=en", Some(&bureau))
            .await;
        assert!(page.text.contains("/console/operators/op-1/restore"));
        let again = console
            .post(
                suspend,
                Some(&bureau),
                &format!("csrf={token}&reason=again"),
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        let restored = console
            .post(
                "/console/operators/op-1/restore",
                Some(&bureau),
                &format!("csrf={token}&reason=rectified"),
                None,
            )
            .await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.text);
        assert_eq!(status_of(&console, "op-1"), IdentityStatus::Active);

        let operator = console.sign_in("op-1").await;
        let page = console.get("/console/operators", Some(&operator)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(!page.text.contains("p-market"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_terminated_operator_stays_terminated_and_its_jobs_are_refused() {
        let (console, application) = Console::new();
        let bureau = console.sign_in("bureau").await;
        let page = console
            .get("/console/operators?lang=en", Some(&bureau))
            .await;
        assert!(page.text.contains("/console/operators/op-1/terminate"));
        let token = csrf(&page);
        let done = console
            .post(
                "/console/operators/op-1/terminate",
                Some(&bureau),
                &format!("csrf={token}&reason=licence+withdrawn"),
                None,
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        assert_eq!(status_of(&console, "op-1"), IdentityStatus::Terminated);
        let audited = console
            .state
            .domain()
            .audit
            .search(&AuditFilter {
                action: Some("gov.operator.terminate".into()),
                ..Default::default()
            })
            .expect("search");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].details["was"], "active");
        // No way back, and no button offering one.
        let restored = console
            .post(
                "/console/operators/op-1/restore",
                Some(&bureau),
                &format!("csrf={token}&reason=sorry"),
                None,
            )
            .await;
        assert_eq!(restored.status, StatusCode::CONFLICT, "{}", restored.text);
        assert_eq!(status_of(&console, "op-1"), IdentityStatus::Terminated);
        let page = console
            .get("/console/operators?lang=en", Some(&bureau))
            .await;
        assert!(!page.text.contains("/console/operators/op-1/restore"));
        assert!(!page.text.contains("/console/operators/op-1/terminate"));
        // The gate refuses its jobs.
        let caller = shuyu::governance::model::Caller {
            id: "op-1".into(),
            role: Role::Operator,
        };
        let refused = console
            .state
            .queue()
            .submit(&caller, &application, &"0".repeat(64));
        let message = refused
            .expect_err("a terminated operator's job")
            .to_string();
        assert!(message.contains("terminated"), "{message}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lists_show_each_role_what_governance_lets_it_see() {
        let (console, _) = Console::new();
        let gov = console.state.queue().governance().clone();
        let op = caller("op-1", Role::Operator);
        let tax_request = gov
            .file_quality_request(&op, "tax_payments", "amounts look doubled")
            .expect("quality");
        gov.file_quality_request(&op, "enterprise_registry", "districts missing")
            .expect("quality");
        gov.file_objection(&op, "enterprise_registry", "my company is listed twice")
            .expect("objection");

        let bureau = console.sign_in("bureau").await;
        let agreements = console.get("/console/agreements", Some(&bureau)).await;
        assert_eq!(agreements.status, StatusCode::OK);
        assert!(agreements.text.contains("op-1") && agreements.text.contains("agr-"));
        let objections = console.get("/console/objections", Some(&bureau)).await;
        assert!(
            objections.text.contains("listed twice"),
            "{}",
            objections.text
        );
        let quality = console.get("/console/quality", Some(&bureau)).await;
        assert!(quality.text.contains("doubled") && quality.text.contains("districts missing"));
        assert!(
            !quality.text.contains("/answer"),
            "the bureau does not answer"
        );

        let tax = console.sign_in("p-tax").await;
        assert_eq!(
            console.get("/console/agreements", Some(&tax)).await.status,
            StatusCode::FORBIDDEN,
            "governance keeps agreements from providers"
        );
        let objections = console.get("/console/objections", Some(&tax)).await;
        assert_eq!(objections.status, StatusCode::OK);
        assert!(
            !objections.text.contains("listed twice"),
            "another provider's dataset"
        );
        let quality = console.get("/console/quality", Some(&tax)).await;
        assert!(quality.text.contains("doubled"), "{}", quality.text);
        assert!(
            !quality.text.contains("districts missing"),
            "not its dataset"
        );
        let answer = format!("/console/quality/{}/answer", tax_request.id);
        assert!(quality.text.contains(&answer));

        // Another provider cannot answer it; without the token nobody can.
        let market = console.sign_in("p-market").await;
        let theirs = console.get("/console/quality", Some(&market)).await;
        let refused = console
            .post(
                &answer,
                Some(&market),
                &format!("csrf={}&answer=fine", csrf(&theirs)),
                None,
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        let forged = console
            .post(&answer, Some(&tax), "answer=fixed", None)
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let done = console
            .post(
                &answer,
                Some(&tax),
                &format!("csrf={}&answer=fixed+in+v2", csrf(&quality)),
                None,
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        let listed = gov
            .list_quality_requests(&op, &Default::default())
            .expect("list");
        let answered = listed
            .items
            .iter()
            .find(|r| r.id == tax_request.id)
            .expect("request");
        assert_eq!(answered.answer.as_deref(), Some("fixed in v2"));
        let audited = console
            .state
            .domain()
            .audit
            .search(&AuditFilter {
                action: Some("gov.quality.answer".into()),
                ..Default::default()
            })
            .expect("search");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].actor, "p-tax");

        let operator = console.sign_in("op-1").await;
        assert_eq!(
            console
                .get("/console/objections", Some(&operator))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
}
