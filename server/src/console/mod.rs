//! The web console (docs/bureau.md, docs/reviewer.md, docs/operator.md, "The console"): pages
//! served by `shuyu serve` at `/`, for the people who are not programmers.
//!
//! ```text
//! GET /console/sign-in ─ POST token ─▶ Governance::authenticate ─▶ session cookie (session.rs)
//! every page: session ─▶ the same governance calls the API makes (no second set of checks)
//! every POST: session + its CSRF token (and, when sent, an Origin of this host) ─▶ else 403
//! ```
//!
//! Pages are server-rendered HTML (`page.rs`), Chinese by default, English on request; they work
//! without JavaScript. Actions go through governance exactly as the API's, so they are audited
//! the same way; a refusal is shown with governance's own message.

mod bureau;
mod egress;
mod operator;
mod page;
mod provider;
mod session;
mod svg;
mod upload;
mod usage;
mod verify;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use serde::Deserialize;

use super::state::AppState;
use page::{csrf_field, esc, layout, Lang, LANG_COOKIE};
pub(crate) use session::Sessions;
use session::{set_cookie, Session};
use shuyu::audit::{AuditFilter, Entry};
use shuyu::governance::model::{
    Application, ApplicationStatus, Decision, PageRequest, ReviewInput, ReviewKind, Role,
};
use shuyu::governance::GovError;

/// Entries per page of the audit log.
const AUDIT_PAGE: usize = 50;

/// The console's routes (merged into the server's router before its fallback).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/reviews", get(reviews))
        .route("/console/applications/{id}/review", post(review))
        .route("/console/audit", get(audit))
        .route("/console/audit/verify", post(verify))
        .merge(operator::routes())
        .merge(bureau::routes())
        .merge(provider::routes())
        .merge(egress::routes())
        .merge(verify::routes())
        .merge(usage::routes())
}

/// `?lang=` on any page: switches the language (a cookie) and shows the same page.
#[derive(Debug, Default, Deserialize)]
struct LangParam {
    lang: Option<String>,
}

/// A page answer with the language cookie set when `?lang=` asked for one.
fn html(lang_param: Option<&str>, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    if let Some(code @ ("zh" | "en")) = lang_param {
        if let Ok(value) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={code}; Path=/; SameSite=Strict; Max-Age=31536000"
        )) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The page's language: `?lang=` if given, else the cookie's.
fn lang_of(headers: &HeaderMap, param: Option<&str>) -> Lang {
    match param {
        Some("en") => Lang::En,
        Some("zh") => Lang::Zh,
        _ => Lang::of(headers),
    }
}

/// The request's session, or a redirect to sign in.
fn session_or_sign_in(state: &AppState, headers: &HeaderMap) -> Result<Session, Box<Response>> {
    state
        .sessions
        .of(headers)
        .ok_or_else(|| Box::new(Redirect::to("/console/sign-in").into_response()))
}

/// A POST's session, with its CSRF token and origin checked; a forged form gets 403.
fn session_for_post(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Box<Response>> {
    let session = session_or_sign_in(state, headers)?;
    // The token proves the form came from a page this session was shown; the Origin check is a
    // second wall for browsers that send it.
    let same_origin = match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or_default();
            let host = host.to_str().unwrap_or_default();
            origin.ends_with(&format!("://{host}"))
        }
        _ => true,
    };
    let token_ok = !csrf.is_empty() && same_bytes(csrf.as_bytes(), session.csrf.as_bytes());
    if token_ok && same_origin {
        Ok(session)
    } else {
        Err(Box::new(forbidden(
            Lang::of(headers),
            "the form is not this session's (CSRF check)",
        )))
    }
}

/// Whether two byte strings are equal, in time that depends on their length only (a token's
/// bytes must not be guessable from how fast a wrong one is refused).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(lang: Lang, why: &str) -> Response {
    let body = layout(
        lang,
        lang.t("拒绝", "Refused"),
        None,
        &format!("<p class=\"bad\">{}</p>", esc(why)),
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Runs a governance call off the async workers; its error becomes the page's message.
async fn gov<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&shuyu::governance::Governance) -> Result<T, GovError> + Send + 'static,
) -> Result<T, String> {
    state.gov(call).await.map_err(|e| e.message)
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    let to = match session.caller.role {
        Role::Bureau | Role::Provider => "/console/reviews",
        Role::Reviewer => "/console/audit",
        Role::Operator => "/console/jobs",
    };
    Redirect::to(to).into_response()
}

async fn sign_in_page(headers: HeaderMap, Query(q): Query<LangParam>) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let body = format!(
        r#"<p>{}</p><form method="post" action="/console/sign-in">
<label>{} <input type="password" name="token" autocomplete="off" required size="70"></label>
<button>{}</button></form>"#,
        lang.t(
            "用管理员发给您的令牌登录；登录后浏览器只保存会话，不保存令牌。",
            "Sign in with the token your administrator issued; the browser then keeps a session, never the token."
        ),
        lang.t("令牌", "Token"),
        lang.t("登录", "Sign in"),
    );
    html(
        q.lang.as_deref(),
        layout(lang, lang.t("登录", "Sign in"), None, &body),
    )
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    token: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let token = form.token;
    let caller = match state.gov(move |gov| gov.authenticate(&token)).await {
        Ok(caller) => caller,
        Err(_) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                layout(
                    lang,
                    lang.t("登录", "Sign in"),
                    None,
                    &format!(
                        r#"<p class="bad">{}</p><p><a href="/console/sign-in">{}</a></p>"#,
                        lang.t("令牌无效或已撤销。", "Unknown or revoked token."),
                        lang.t("重试", "Try again")
                    ),
                ),
            )
                .into_response()
        }
    };
    let Some(id) = state.sessions.start(caller) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut response = Redirect::to("/console").into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(&id, &headers)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = session_for_post(&state, &headers, &form.csrf) {
        return *refused;
    }
    state.sessions.end(&headers);
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie("", &headers)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The review queue: applications waiting for this identity's review (the bureau's or this
/// provider's), overdue first, then by deadline.
async fn reviews(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    let lang = lang_of(&headers, q.lang.as_deref());
    let caller = session.caller.clone();
    if !matches!(caller.role, Role::Bureau | Role::Provider) {
        return forbidden(lang, "only the bureau and providers review applications");
    }
    let listed = gov(&state, move |gov| {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = gov.list_applications(
                &caller,
                &PageRequest {
                    limit: Some(500),
                    after: after.clone(),
                },
            )?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(all)
    })
    .await;
    let body = match listed {
        Err(message) => format!(r#"<p class="bad">{}</p>"#, esc(&message)),
        Ok(applications) => review_table(lang, &session, applications),
    };
    html(
        q.lang.as_deref(),
        layout(
            lang,
            lang.t("审查队列", "Review queue"),
            Some((&session.caller.id, session.caller.role, &session.csrf)),
            &body,
        ),
    )
}

/// The rows of the review queue with their approve and reject forms.
fn review_table(lang: Lang, session: &Session, applications: Vec<Application>) -> String {
    let me = &session.caller;
    let mut waiting: Vec<(&Application, &shuyu::governance::model::Review)> = applications
        .iter()
        .filter(|a| a.status == ApplicationStatus::Pending)
        .filter_map(|a| {
            a.reviews
                .iter()
                .find(|r| {
                    r.decision.is_none()
                        && match r.kind {
                            ReviewKind::Bureau => me.role == Role::Bureau,
                            ReviewKind::Provider => r.party == me.id,
                        }
                })
                .map(|r| (a, r))
        })
        .collect();
    waiting.sort_by_key(|(_, r)| (!r.overdue, r.deadline));
    if waiting.is_empty() {
        return format!(
            "<p>{}</p>",
            lang.t("没有待审查的申请。", "Nothing waits for your review.")
        );
    }
    let now = Utc::now();
    // Where people look rather than read: days left per review, overdue ones in red.
    let left: Vec<(String, i64)> = waiting
        .iter()
        .map(|(app, review)| (app.id.clone(), (review.deadline - now).num_days()))
        .collect();
    let chart = svg::days_left(lang.t("剩余天数", "Days left"), &left);
    let mut rows = String::new();
    for (app, review) in waiting {
        let scenario = &app.scenario;
        let grants: Vec<String> = scenario
            .grants
            .iter()
            .map(|g| format!("{}: {}", esc(&g.dataset), esc(&g.columns.join(", "))))
            .collect();
        let releases: Vec<String> = scenario
            .releases
            .iter()
            .map(|r| esc(&r.name))
            .chain(scenario.vectors.iter().map(|v| esc(&v.name)))
            .chain(
                scenario
                    .services
                    .iter()
                    .map(|s| format!("{} ({:.1} bits)", esc(&s.name), s.answer_bits())),
            )
            .collect();
        let deadline = if review.overdue {
            format!(
                r#"<span class="overdue">{} {}</span>"#,
                lang.t("已逾期", "overdue"),
                esc(&review.deadline.format("%Y-%m-%d").to_string())
            )
        } else {
            let days = (review.deadline - now).num_days();
            format!(
                "{} ({days} {})",
                esc(&review.deadline.format("%Y-%m-%d").to_string()),
                lang.t("天", "days")
            )
        };
        let form = |decision: &str, label: &str| {
            format!(
                r#"<form class="inline" method="post" action="/console/applications/{id}/review">{csrf}
<input type="hidden" name="decision" value="{decision}"><input name="reason" required placeholder="{reason}">
<button>{label}</button></form>"#,
                id = esc(&app.id),
                csrf = csrf_field(&session.csrf),
                reason = lang.t("理由", "reason"),
            )
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"/console/applications/{}\"><code>{}</code></a><br>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}<br>{}</td></tr>",
            esc(&app.id),
            esc(&app.id),
            esc(&scenario.scenario.title),
            esc(&app.operator),
            grants.join("<br>"),
            releases.join("<br>"),
            esc(&scenario.scenario.module_sha256[..16.min(scenario.scenario.module_sha256.len())]),
            deadline,
            form("approve", lang.t("批准", "Approve")),
            form("reject", lang.t("驳回", "Reject")),
        ));
    }
    format!(
        "{chart}<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>",
        lang.t("申请", "Application"),
        lang.t("授权的数据与列", "Datasets and columns granted"),
        lang.t("发布与服务", "Releases and services"),
        lang.t("模块", "Module"),
        lang.t("期限", "Deadline"),
    )
}

#[derive(Debug, Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let lang = Lang::of(&headers);
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => return forbidden(lang, "the decision must be approve or reject"),
    };
    let caller = session.caller.clone();
    let reason = form.reason;
    let app = id.clone();
    let done = gov(&state, move |gov| {
        gov.review_application(&caller, &app, ReviewInput { decision, reason })
    })
    .await;
    if let Ok(application) = &done {
        state.warm_if_approved(application);
    }
    let body = match done {
        Ok(application) => format!(
            r#"<p class="ok">{} <code>{}</code>: {}</p><p><a href="/console/reviews">{}</a></p>"#,
            lang.t("已记录审查：", "Review recorded:"),
            esc(&application.id),
            esc(&shuyu::store::codec::enum_text(&application.status)),
            lang.t("返回审查队列", "Back to the queue")
        ),
        Err(message) => format!(
            r#"<p class="bad">{}</p><p><a href="/console/reviews">{}</a></p>"#,
            esc(&message),
            lang.t("返回审查队列", "Back to the queue")
        ),
    };
    html(
        None,
        layout(
            lang,
            lang.t("审查", "Review"),
            Some((&session.caller.id, session.caller.role, &session.csrf)),
            &body,
        ),
    )
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    lang: Option<String>,
    job: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<u64>,
}

/// Empty form fields mean "any".
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    let lang = lang_of(&headers, q.lang.as_deref());
    if !matches!(session.caller.role, Role::Reviewer | Role::Bureau) {
        return forbidden(lang, "only reviewers and the bureau read the audit log");
    }
    let filter = AuditFilter {
        job_id: given(&q.job),
        action: given(&q.action),
        subject: None,
        actor: given(&q.actor),
        since: given(&q.since),
        until: given(&q.until),
        after: q.after,
        limit: Some(AUDIT_PAGE + 1),
    };
    let found = state
        .blocking(move |queue| {
            queue
                .domain()
                .audit
                .search(&filter)
                .map_err(|e| super::error::ApiError::bad_request(e.to_string()))
        })
        .await;
    let field = |name: &str, label: &str, value: &Option<String>| {
        format!(
            r#"<label>{label} <input name="{name}" value="{}"></label> "#,
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let mut body = format!(
        r#"<form method="get" action="/console/audit">{}{}{}{}{}<button>{}</button></form>
<form method="post" action="/console/audit/verify">{}<button>{}</button></form>"#,
        field("job", lang.t("作业", "Job"), &q.job),
        field("action", lang.t("操作", "Action"), &q.action),
        field("actor", lang.t("操作者", "Actor"), &q.actor),
        field("since", lang.t("自", "Since"), &q.since),
        field("until", lang.t("至", "Until"), &q.until),
        lang.t("搜索", "Search"),
        csrf_field(&session.csrf),
        lang.t("验证日志", "Verify the log"),
    );
    match found {
        Err(e) => body.push_str(&format!(r#"<p class="bad">{}</p>"#, esc(&e.message))),
        Ok(mut entries) => {
            let more = entries.len() > AUDIT_PAGE;
            entries.truncate(AUDIT_PAGE);
            body.push_str(&entry_table(lang, &entries));
            if let (true, Some(last)) = (more, entries.last()) {
                let keep = |name: &str, value: &Option<String>| {
                    given(value)
                        .map(|v| format!("&{name}={}", url_escape(&v)))
                        .unwrap_or_default()
                };
                body.push_str(&format!(
                    r#"<p><a href="/console/audit?after={}{}{}{}{}{}">{}</a></p>"#,
                    last.seq,
                    keep("job", &q.job),
                    keep("action", &q.action),
                    keep("actor", &q.actor),
                    keep("since", &q.since),
                    keep("until", &q.until),
                    lang.t("下一页", "Next page")
                ));
            }
        }
    }
    html(
        q.lang.as_deref(),
        layout(
            lang,
            lang.t("审计日志", "Audit log"),
            Some((&session.caller.id, session.caller.role, &session.csrf)),
            &body,
        ),
    )
}

/// Percent-encodes a query value.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn entry_table(lang: Lang, entries: &[Entry]) -> String {
    if entries.is_empty() {
        return format!(
            "<p>{}</p>",
            lang.t("没有符合条件的记录。", "No entries match.")
        );
    }
    let rows: String = entries
        .iter()
        .map(|e| {
            let details = e.details.to_string();
            let short: String = details.chars().take(240).collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                e.seq,
                esc(&e.time),
                esc(&e.actor),
                esc(&e.action),
                esc(&e.subject),
                esc(&short)
            )
        })
        .collect();
    format!(
        "<table><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>",
        lang.t("时间", "Time"),
        lang.t("操作者", "Actor"),
        lang.t("操作", "Action"),
        lang.t("对象", "Subject"),
        lang.t("详情", "Details"),
    )
}

async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let lang = Lang::of(&headers);
    if !matches!(session.caller.role, Role::Reviewer | Role::Bureau) {
        return forbidden(lang, "only reviewers and the bureau verify the audit log");
    }
    let verified = state
        .blocking(|queue| {
            let domain = queue.domain();
            Ok(domain.audit.verify(&domain.keys.public_key()))
        })
        .await;
    let body = match verified {
        Ok(Ok(report)) => format!(
            r#"<p class="ok">{}</p><table><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>
<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td><code>{}</code></td></tr></table>
<p class="note">{}</p>"#,
            lang.t("审计日志验证通过。", "The audit log verifies."),
            lang.t("记录", "Entries"),
            report.entries,
            lang.t("签名检查点", "Signed checkpoints"),
            report.checkpoints,
            lang.t("最新检查点", "Newest checkpoint"),
            report.last_checkpoint.map_or("-".into(), |s| s.to_string()),
            lang.t("日志头", "Head"),
            report
                .head
                .as_ref()
                .map_or("-".into(), |(seq, hash)| format!("#{seq} {}", esc(hash))),
            lang.t(
                "请在域外保存日志头（shuyu audit head），以便日后发现截断。",
                "Keep the head outside the domain (shuyu audit head) to detect a later truncation."
            ),
        ),
        Ok(Err(e)) => format!(
            r#"<p class="bad">{} {}</p>"#,
            lang.t("审计日志验证失败：", "The audit log does not verify:"),
            esc(&e.to_string())
        ),
        Err(e) => format!(r#"<p class="bad">{}</p>"#, esc(&e.message)),
    };
    html(
        None,
        layout(
            lang,
            lang.t("验证审计日志", "Verify the audit log"),
            Some((&session.caller.id, session.caller.role, &session.csrf)),
            &body,
        ),
    )
}

#[cfg(test)]
mod tests;
