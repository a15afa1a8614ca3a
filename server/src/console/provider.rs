//! The providers' pages (docs/provider.md, "The console"): their datasets with every version,
//! and the answer to a quality request (the list is `bureau.rs`'s, filtered by governance).
//!
//! ```text
//! GET  /console/datasets                 provider: its own; bureau: all ─▶ list_datasets
//! POST /console/quality/{id}/answer      ─▶ answer_quality_request (the dataset's provider)
//! ```

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::bureau::{all_pages, call, page_session, refused, show, when, wire};
use super::page::{esc, Lang};
use super::{session_for_post, LangParam};
use crate::state::AppState;
use shuyu::governance::model::{DatasetRecord, DatasetStatus, Role};

/// The providers' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/datasets", get(datasets))
        .route("/console/quality/{id}/answer", post(answer))
}

/// `GET /console/datasets`: a provider's own datasets (the register is public, but this page
/// is the provider's desk); the bureau sees all of them.
async fn datasets(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let (session, lang) = match page_session(
        &state,
        &headers,
        q.lang.as_deref(),
        &[Role::Provider, Role::Bureau],
        "the datasets page is for providers and the bureau",
    ) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let title = lang.t("数据集", "Datasets");
    let caller = session.caller.clone();
    let listed = call(&state, move |gov| {
        let all = all_pages(|page| gov.list_datasets(&caller, page))?;
        Ok(all
            .into_iter()
            .filter(|d| caller.role != Role::Provider || d.provider == caller.id)
            .collect::<Vec<_>>())
    })
    .await;
    let datasets = match listed {
        Ok(found) => found,
        Err((status, message)) => return refused(lang, title, &session, status, &message),
    };
    let body = if datasets.is_empty() {
        format!("<p>{}</p>", lang.t("没有数据集。", "No datasets."))
    } else {
        datasets.iter().map(|d| dataset_section(lang, d)).collect()
    };
    show(q.lang.as_deref(), lang, title, &session, &body)
}

/// One dataset: its register entry and every version.
fn dataset_section(lang: Lang, d: &DatasetRecord) -> String {
    let versions: String = d
        .versions
        .iter()
        .rev()
        .map(|v| {
            format!(
                "<tr><td>{}{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                v.version,
                if Some(v.version) == d.current_version {
                    lang.t("（当前）", " (current)")
                } else {
                    ""
                },
                esc(&v.content_sha256),
                v.rows,
                if v.active {
                    lang.t("有效", "active")
                } else {
                    lang.t("已撤回", "withdrawn")
                },
                esc(&when(&v.published_at)),
            )
        })
        .collect();
    format!(
        r#"<h2><code>{}</code> {}</h2><p>{} <code>{}</code> · {} {} · {} {} · {} <span class="{}">{}</span>{}</p>
<table><tr><th>{}</th><th>SHA-256</th><th>{}</th><th>{}</th><th>{}</th></tr>{versions}</table>"#,
        esc(&d.name),
        esc(&d.title),
        lang.t("提供方", "Provider"),
        esc(&d.provider),
        lang.t("级别", "Level"),
        d.level,
        lang.t("开放", "Open"),
        esc(&d.open),
        lang.t("状态", "Status"),
        if d.status == DatasetStatus::Active {
            "ok"
        } else {
            "bad"
        },
        esc(&wire(&d.status)),
        d.status_change
            .as_ref()
            .map(|c| format!(
                " <small>{} {} {}</small>",
                esc(&c.by),
                esc(&when(&c.at)),
                esc(c.reason.as_deref().unwrap_or(""))
            ))
            .unwrap_or_default(),
        lang.t("版本", "Version"),
        lang.t("行数", "Rows"),
        lang.t("状态", "State"),
        lang.t("发布时间", "Published"),
    )
}

#[derive(Debug, Deserialize)]
struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    answer: String,
}

/// `POST /console/quality/{id}/answer`: governance checks that the caller provides the dataset.
async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let session = match session_for_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(refusal) => return *refusal,
    };
    let lang = Lang::of(&headers);
    let title = lang.t("答复数据质量请求", "Answer a quality request");
    let caller = session.caller.clone();
    let done = call(&state, move |gov| {
        gov.answer_quality_request(&caller, &id, &form.answer)
    })
    .await;
    match done {
        Ok(request) => show(
            None,
            lang,
            title,
            &session,
            &format!(
                r#"<p class="ok">{} <code>{}</code></p><p><a href="/console/quality">{}</a></p>"#,
                lang.t("已答复", "Answered"),
                esc(&request.id),
                lang.t("返回数据质量请求", "Back to the quality requests")
            ),
        ),
        Err((status, message)) => refused(lang, title, &session, status, &message),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::super::tests::Console;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_provider_sees_its_own_datasets_and_their_versions() {
        let (console, _) = Console::new();
        let tax = console.sign_in("p-tax").await;
        let page = console.get("/console/datasets?lang=en", Some(&tax)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(
            page.text.contains("<code>tax_payments</code>"),
            "{}",
            page.text
        );
        assert!(page.text.contains("1 (current)"), "{}", page.text);
        assert!(
            !page.text.contains("enterprise_registry"),
            "another provider's dataset: {}",
            page.text
        );
        let bureau = console.sign_in("bureau").await;
        let all = console.get("/console/datasets", Some(&bureau)).await;
        assert!(all.text.contains("tax_payments") && all.text.contains("enterprise_registry"));
        for who in ["op-1", "rev"] {
            let cookie = console.sign_in(who).await;
            let page = console.get("/console/datasets", Some(&cookie)).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{who}");
            assert!(!page.text.contains("tax_payments"));
        }
    }
}
