//! Service usage for the bureau and reviewers: calls per day over the last 30 local days, as a
//! chart and per operator and service, from the same governance call as `GET /v1/services/usage`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Duration, Utc};

use super::page::{esc, layout};
use super::{forbidden, gov, html, lang_of, session_or_sign_in, svg, LangParam};
use crate::state::AppState;
use shuyu::governance::model::Role;

/// Days the page covers, today included.
const DAYS: i64 = 30;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/usage", get(usage))
}

async fn usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let session = match session_or_sign_in(&state, &headers) {
        Ok(session) => session,
        Err(redirect) => return *redirect,
    };
    if !matches!(session.caller.role, Role::Bureau | Role::Reviewer) {
        return forbidden(
            lang,
            "only the bureau and reviewers read every operator's usage",
        );
    }
    let to = state.config().time_zone.date_of(&Utc::now());
    let from = to - Duration::days(DAYS - 1);
    let caller = session.caller.clone();
    let rows = gov(&state, move |gov| {
        gov.service_usage(&caller, from, to, None)
    })
    .await;
    let body = match rows {
        Err(message) => format!(r#"<p class="bad">{}</p>"#, esc(&message)),
        Ok(rows) => {
            let mut per_day: BTreeMap<_, f64> =
                (0..DAYS).map(|i| (from + Duration::days(i), 0.0)).collect();
            for row in &rows {
                *per_day.entry(row.day).or_default() += (row.answered + row.failed) as f64;
            }
            let bars: Vec<(String, f64)> = per_day
                .iter()
                .map(|(day, n)| (day.format("%m-%d").to_string(), *n))
                .collect();
            let table: String = rows
                .iter()
                .rev()
                .map(|r| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
                        r.day,
                        esc(&r.operator),
                        esc(&r.service),
                        r.answered,
                        r.failed,
                        r.mean_latency_ms,
                        r.max_latency_ms,
                    )
                })
                .collect();
            format!(
                "<h2>{}</h2>{}<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{table}</table>",
                lang.t("每日服务调用（近 30 天）", "Service calls per day (last 30 days)"),
                svg::bars(lang.t("每日服务调用", "Service calls per day"), &bars),
                lang.t("日期", "Day"),
                lang.t("运营方", "Operator"),
                lang.t("服务", "Service"),
                lang.t("已回答", "Answered"),
                lang.t("无回答", "No answer"),
                lang.t("平均毫秒", "Mean ms"),
                lang.t("最大毫秒", "Max ms"),
            )
        }
    };
    html(
        q.lang.as_deref(),
        layout(
            lang,
            lang.t("服务用量", "Service usage"),
            Some((&session.caller.id, session.caller.role, &session.csrf)),
            &body,
        ),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::super::tests::Console;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_bureau_and_reviewers_see_usage_and_operators_do_not() {
        let (console, _) = Console::new();
        let bureau = console.sign_in("bureau").await;
        let page = console.get("/console/usage?lang=en", Some(&bureau)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("Service calls per day") && page.text.contains("<svg"));
        let reviewer = console.sign_in("rev").await;
        assert_eq!(
            console.get("/console/usage", Some(&reviewer)).await.status,
            StatusCode::OK
        );
        let operator = console.sign_in("op-1").await;
        let refused = console.get("/console/usage", Some(&operator)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
}
