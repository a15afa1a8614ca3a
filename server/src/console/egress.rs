//! The reviewer's egress view (docs/reviewer.md, "What left the domain"): every release, block
//! and service answer from the audit log with what left, the privacy ledger of each scenario and
//! dataset over time, and the releases per day.
//!
//! ```text
//! GET /console/egress?after=<seq>   reviewer, bureau (as the audit page)
//!   audit log ─▶ release / release.blocked / release.failed / service.answer rows (paged by seq)
//!   audit log ─▶ privacy.debit / privacy.refund ─▶ ε spent per scope over time (line chart)
//!   audit log ─▶ release per day, last 30 days (bar chart)
//! ```
//!
//! Everything here comes from the log itself, which reviewers and the bureau read whole; the
//! ledger's scenario scopes are the key ids of scenario bindings, named back to scenario ids
//! through governance.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::bureau::{all_pages, page_session, refused, show};
use super::page::{esc, Lang};
use super::svg::{self, Series};
use crate::error::ApiError;
use crate::queue::JobQueue;
use crate::state::AppState;
use shuyu::audit::{AuditFilter, Entry};
use shuyu::governance::model::{Caller, Role};

/// Rows per page of the egress list.
const EGRESS_PAGE: usize = 50;
/// Entries read from the log per search while looking for egress rows.
const BATCH: usize = 500;
/// Searches one page may run: a page of a log that is mostly job progress ends early with a
/// link on, instead of reading the whole log in one request.
const MAX_BATCHES: usize = 20;
/// Searches the charts may run each (50,000 entries): past that the charts say they stop
/// there, so one page view never reads an unbounded share of the log.
const MAX_CHART_BATCHES: usize = 100;
/// Days shown in the releases-per-day chart.
const DAYS: i64 = 30;
/// The actions that are something leaving, or refused to leave, the domain.
const EGRESS: [&str; 4] = [
    "release",
    "release.blocked",
    "release.failed",
    "service.answer",
];

/// The reviewer's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/egress", get(egress))
}

#[derive(Debug, Default, Deserialize)]
struct EgressQuery {
    lang: Option<String>,
    after: Option<u64>,
}

/// What the page shows, read off the async workers.
struct Egress {
    rows: Vec<Entry>,
    next: Option<u64>,
    ledger: Vec<Series>,
    per_day: Vec<(String, f64)>,
    /// The charts stopped at [`MAX_CHART_BATCHES`] before the end of the log.
    cut: bool,
}

async fn egress(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EgressQuery>,
) -> Response {
    let (session, lang) = match page_session(
        &state,
        &headers,
        q.lang.as_deref(),
        &[Role::Reviewer, Role::Bureau],
        "only reviewers and the bureau read what left the domain",
    ) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let title = lang.t("出域记录", "What left the domain");
    let caller = session.caller.clone();
    let after = q.after;
    let read = state
        .blocking(move |queue| read_egress(queue, &caller, after))
        .await;
    let egress = match read {
        Ok(found) => found,
        Err(e) => return refused(lang, title, &session, e.status, &e.message),
    };
    let mut body = String::new();
    body.push_str(&format!(
        "<h2>{}</h2>",
        lang.t(
            "隐私预算消耗（ε，累计）",
            "Privacy ledger (ε spent, cumulative)"
        )
    ));
    if egress.ledger.is_empty() {
        body.push_str(&format!(
            "<p>{}</p>",
            lang.t("还没有隐私预算扣减。", "No privacy debits yet.")
        ));
    } else {
        body.push_str(&svg::lines(
            lang.t("隐私预算消耗", "Privacy ledger"),
            &egress.ledger,
            |x| {
                DateTime::from_timestamp(x, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            },
        ));
    }
    body.push_str(&format!(
        "<h2>{}</h2>{}",
        lang.t("每日发布数（近 30 天）", "Releases per day (last 30 days)"),
        svg::bars(lang.t("每日发布数", "Releases per day"), &egress.per_day)
    ));
    if egress.cut {
        body.push_str(&format!(
            r#"<p class="note">{}</p>"#,
            lang.t(
                "图表只读取了审计日志的前五万条相关记录；完整数据请用审计日志搜索或 shuyu audit。",
                "The charts read the first 50,000 matching entries of the log only; search the audit log or use shuyu audit for the rest."
            )
        ));
    }
    body.push_str(&format!(
        "<h2>{}</h2>{}",
        lang.t(
            "发布、拦截与服务回答",
            "Releases, blocks and service answers"
        ),
        egress_table(lang, &egress.rows)
    ));
    if let Some(next) = egress.next {
        body.push_str(&format!(
            r#"<p><a href="/console/egress?after={next}">{}</a></p>"#,
            lang.t("下一页", "Next page")
        ));
    }
    show(q.lang.as_deref(), lang, title, &session, &body)
}

/// The page's rows after `after`, the ledger's lines and the releases per day.
fn read_egress(queue: &JobQueue, caller: &Caller, after: Option<u64>) -> Result<Egress, ApiError> {
    let audit = &queue.domain().audit;
    let search = |filter: AuditFilter| {
        audit
            .search(&filter)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    };
    // The page: egress entries after the cursor, scanning the log in batches.
    let mut rows = Vec::new();
    let mut cursor = after;
    let mut next = None;
    for _ in 0..MAX_BATCHES {
        let batch = search(AuditFilter {
            after: cursor,
            limit: Some(BATCH),
            ..Default::default()
        })?;
        let full = batch.len() == BATCH;
        for entry in batch {
            cursor = Some(entry.seq);
            if EGRESS.contains(&entry.action.as_str()) {
                rows.push(entry);
                if rows.len() == EGRESS_PAGE {
                    break;
                }
            }
        }
        if rows.len() == EGRESS_PAGE || !full {
            // A full page may be the last: the link then leads to an empty one, which says so.
            next = (rows.len() == EGRESS_PAGE).then_some(cursor).flatten();
            break;
        }
        next = cursor;
    }
    // Every entry of one action (and its sub-actions) since a day, oldest first, and whether
    // the reading stopped short.
    let every = |action: &str, since: Option<String>| {
        let mut found = Vec::new();
        let mut seen = None;
        for _ in 0..MAX_CHART_BATCHES {
            let batch = search(AuditFilter {
                action: Some(action.into()),
                since: since.clone(),
                after: seen,
                limit: Some(BATCH),
                ..Default::default()
            })?;
            let done = batch.len() < BATCH;
            seen = batch.last().map(|e| e.seq).or(seen);
            found.extend(batch);
            if done {
                return Ok::<_, ApiError>((found, false));
            }
        }
        Ok((found, true))
    };
    // The ledger: every debit and refund.
    let (privacy, ledger_cut) = every("privacy", None)?;
    let names = scenario_names(queue, caller)?;
    let ledger = ledger_series(&privacy, &names);
    // Releases per day: only `release` itself is something that left.
    let since = (Utc::now() - Duration::days(DAYS - 1)).date_naive();
    let (released, released_cut) = every("release", Some(since.format("%Y-%m-%d").to_string()))?;
    let released: Vec<Entry> = released
        .into_iter()
        .filter(|e| e.action == "release")
        .collect();
    Ok(Egress {
        rows,
        next,
        ledger,
        per_day: per_day(&released, since),
        cut: ledger_cut || released_cut,
    })
}

/// Ledger scope id (a binding's key id) → scenario id, for the scenarios governance lists to
/// `caller`.
fn scenario_names(queue: &JobQueue, caller: &Caller) -> Result<HashMap<String, String>, ApiError> {
    let gov = queue.governance();
    let applications = all_pages(|page| gov.list_applications(caller, page))?;
    let mut names = HashMap::new();
    for application in applications {
        if let Some(binding) = gov.scenario_binding(&application.scenario_id)? {
            names.insert(binding.key_id, application.scenario_id);
        }
    }
    Ok(names)
}

/// One line per scope: ε spent after each debit and refund, with the total the scope had (what
/// it spent plus what the entry says remained).
fn ledger_series(entries: &[Entry], names: &HashMap<String, String>) -> Vec<Series> {
    let mut lines: BTreeMap<(String, String), Series> = BTreeMap::new();
    let mut spent: HashMap<(String, String), f64> = HashMap::new();
    for entry in entries {
        let sign = match entry.action.as_str() {
            "privacy.debit" => 1.0,
            "privacy.refund" => -1.0,
            _ => continue,
        };
        let Some(at) = timestamp(&entry.time) else {
            continue;
        };
        let epsilon = entry.details["epsilon"].as_f64().unwrap_or(0.0);
        let scopes = entry.details["scopes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for scope in scopes {
            let kind = scope["kind"].as_str().unwrap_or("").to_string();
            let id = scope["id"].as_str().unwrap_or("").to_string();
            let key = (kind.clone(), id.clone());
            let total = spent.entry(key.clone()).or_insert(0.0);
            *total = (*total + sign * epsilon).max(0.0);
            let now = *total;
            let remaining = remaining_of(&entry.details, &scope);
            let line = lines.entry(key).or_insert_with(|| Series {
                name: match kind.as_str() {
                    "scenario" => format!(
                        "scenario {}",
                        names.get(&id).map_or(id.as_str(), String::as_str)
                    ),
                    _ => format!("{kind} {id}"),
                },
                points: Vec::new(),
                limit: None,
            });
            line.points.push((at, now));
            if let Some(left) = remaining {
                line.limit = Some(now + left);
            }
        }
    }
    lines.into_values().collect()
}

/// The ε the entry says `scope` had left.
fn remaining_of(details: &Value, scope: &Value) -> Option<f64> {
    details["remaining"]
        .as_array()?
        .iter()
        .find(|r| &r["scope"] == scope)?["remaining"]["epsilon"]
        .as_f64()
}

/// An entry's time as seconds since the epoch.
fn timestamp(time: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp())
}

/// Releases per day from `since` to today, every day shown (0 when none).
fn per_day(released: &[Entry], since: NaiveDate) -> Vec<(String, f64)> {
    let mut counts: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let today = Utc::now().date_naive();
    let mut day = since;
    while day <= today {
        counts.insert(day, 0.0);
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    for entry in released {
        if let Ok(time) = DateTime::parse_from_rfc3339(&entry.time) {
            if let Some(count) = counts.get_mut(&time.with_timezone(&Utc).date_naive()) {
                *count += 1.0;
            }
        }
    }
    counts
        .into_iter()
        .map(|(day, n)| (day.format("%m-%d").to_string(), n))
        .collect()
}

/// A JSON value as short text (strings without quotes).
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The egress rows: what left with each release, the rule of each block, each answer.
fn egress_table(lang: Lang, rows: &[Entry]) -> String {
    if rows.is_empty() {
        return format!(
            "<p>{}</p>",
            lang.t(
                "这一页没有出域记录。",
                "Nothing left the domain in this page."
            )
        );
    }
    let body: String = rows
        .iter()
        .map(|e| {
            let d = &e.details;
            let (what, class, left) = match e.action.as_str() {
                "release" => {
                    let report = &d["report"];
                    let groups = if report["counts_withheld"].as_bool() == Some(true) {
                        lang.t("分组数不公开（差分隐私）", "group counts withheld (privacy)").to_string()
                    } else if report.get("groups_released").is_some() {
                        format!(
                            "{} {} · {} {}",
                            lang.t("发布分组", "groups released"),
                            text(&report["groups_released"]),
                            lang.t("抑制分组", "suppressed"),
                            text(&report["groups_suppressed"]),
                        )
                    } else {
                        String::new()
                    };
                    let epsilon = &d["policy"]["privacy"]["epsilon"];
                    let epsilon = if epsilon.is_null() {
                        String::new()
                    } else {
                        format!(" · ε {}", text(epsilon))
                    };
                    (
                        lang.t("发布", "released"),
                        "ok",
                        format!(
                            "{} {} · {} {}{epsilon} · {} <code>{}</code>",
                            esc(&text(&d["kind"])),
                            esc(&groups),
                            lang.t("行", "rows"),
                            esc(&text(&d["rows"])),
                            lang.t("产品", "product"),
                            esc(&text(&d["product_id"])),
                        ),
                    )
                }
                "release.blocked" => (
                    lang.t("拦截", "blocked"),
                    "bad",
                    format!(
                        "{} <code>{}</code> ({} {}): {}",
                        lang.t("规则", "rule"),
                        esc(&text(&d["rule"])),
                        lang.t("步骤", "step"),
                        esc(&text(&d["step"])),
                        esc(&text(&d["message"])),
                    ),
                ),
                "release.failed" => (
                    lang.t("未能写出", "failed"),
                    "bad",
                    format!(
                        "{} <code>{}</code>: {}",
                        lang.t("产品", "product"),
                        esc(&text(&d["product_id"])),
                        esc(&text(&d["error"]))
                    ),
                ),
                _ => (
                    lang.t("服务回答", "service answer"),
                    "",
                    format!(
                        "{} <code>{}</code> · {} · {} <code>{}</code>",
                        lang.t("服务", "service"),
                        esc(&text(&d["service"])),
                        esc(&text(&d["outcome"])),
                        lang.t("回答", "answer"),
                        esc(&text(&d["answer"])),
                    ),
                ),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{what}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{left}</td></tr>",
                e.seq,
                esc(&e.time),
                esc(&e.subject),
                // The job's whole trail (queries, log lines, the release) in the log page.
                e.job_id
                    .as_deref()
                    .map(|job| format!(
                        r#"<a href="/console/audit?job={}">{}</a>"#,
                        super::url_escape(job),
                        esc(job)
                    ))
                    .unwrap_or_default(),
                esc(&text(&d["release"])),
            )
        })
        .collect();
    format!(
        "<table><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{body}</table>",
        lang.t("时间", "Time"),
        lang.t("结果", "Outcome"),
        lang.t("对象", "Subject"),
        lang.t("作业", "Job"),
        lang.t("发布", "Release"),
        lang.t("出域内容", "What left"),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use super::super::tests::Console;
    use shuyu::audit::NewEntry;
    use shuyu::budget::{BudgetScope, Charge};

    /// Appends one entry as a job of scenario `district-stats` would.
    fn log(console: &Console, action: &str, job: &str, details: serde_json::Value) {
        console
            .state
            .domain()
            .audit
            .append(NewEntry {
                actor: "op-1".into(),
                action: action.into(),
                subject: "district-stats".into(),
                job_id: Some(job.into()),
                details,
            })
            .expect("append");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reviewers_see_releases_blocks_and_the_ledger() {
        let (console, _) = Console::new();
        log(
            &console,
            "release",
            "job-1",
            json!({ "kind": "table", "release": "district_stats", "product_id": "job-1-district_stats",
                    "rows": 12, "report": { "groups_released": 12, "groups_suppressed": 3 } }),
        );
        log(
            &console,
            "release.blocked",
            "job-2",
            json!({ "kind": "table", "release": "district_stats", "step": "k", "rule": "k_threshold",
                    "message": "every group has fewer than k=5 entities" }),
        );
        log(
            &console,
            "release.entities",
            "job-2",
            json!({ "release": "x" }),
        );
        console
            .state
            .domain()
            .audit
            .append(NewEntry {
                actor: "op-1".into(),
                action: "service.answer".into(),
                subject: "call-000001".into(),
                job_id: None,
                details: json!({ "service": "verify-tax", "outcome": "answered",
                                 "answer": { "paid": true } }),
            })
            .expect("append");
        let ledger = console.state.ledger();
        let scopes = [
            BudgetScope::Scenario("key-1".into()),
            BudgetScope::Dataset("tax_payments".into()),
        ];
        for scope in &scopes {
            ledger
                .set_budget("bureau", scope, 2.0, 0.0, "initial")
                .expect("budget");
        }
        ledger
            .charge(
                "op-1",
                "job-3",
                "private_stats",
                &scopes,
                Charge {
                    epsilon: 0.5,
                    delta: 0.0,
                },
            )
            .expect("charge");

        let reviewer = console.sign_in("rev").await;
        let page = console
            .get("/console/egress?lang=en", Some(&reviewer))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for expected in [
            "job-1-district_stats",
            "groups released 12 · suppressed 3",
            "<code>k_threshold</code>",
            "service <code>verify-tax</code> · answered · answer <code>{&quot;paid&quot;:true}</code>",
            "fewer than k=5",
            "Privacy ledger",
            "dataset tax_payments (0.5 / 2)",
            "scenario key-1 (0.5 / 2)",
        ] {
            assert!(page.text.contains(expected), "{expected}: {}", page.text);
        }
        assert!(!page.text.contains("release.entities") && !page.text.contains(">x<"));
        // Today's bar holds the one release.
        assert!(page.text.contains(": 1</title></rect>"), "{}", page.text);
        assert!(!page.text.contains("Next page"), "one page");

        let bureau = console.sign_in("bureau").await;
        assert_eq!(
            console.get("/console/egress", Some(&bureau)).await.status,
            StatusCode::OK
        );
        for who in ["op-1", "p-tax"] {
            let cookie = console.sign_in(who).await;
            let page = console.get("/console/egress", Some(&cookie)).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{who}");
            assert!(!page.text.contains("job-1-district_stats"));
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_egress_list_pages_by_cursor() {
        let (console, _) = Console::new();
        for n in 0..60 {
            log(
                &console,
                "release",
                &format!("job-{n}"),
                json!({ "kind": "table", "release": "r", "product_id": format!("product-{n:02}-end") }),
            );
        }
        let reviewer = console.sign_in("rev").await;
        let first = console
            .get("/console/egress?lang=en", Some(&reviewer))
            .await;
        assert!(first.text.contains("product-00-end") && first.text.contains("product-49-end"));
        assert!(!first.text.contains("product-50-end"));
        let at = first
            .text
            .find("/console/egress?after=")
            .expect("next link")
            + 22;
        let cursor: String = first.text[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let second = console
            .get(&format!("/console/egress?after={cursor}"), Some(&reviewer))
            .await;
        assert!(second.text.contains("product-50-end") && second.text.contains("product-59-end"));
        assert!(!second.text.contains("product-49-end"));
    }
}
