//! Product verification by upload (reviewers and the bureau): the package's files are checked
//! with the domain's public key exactly as `shuyu product verify` checks them offline, and the
//! `release` entry the manifest cites is looked up in the log.
//!
//! The files are written to a folder of their own under the data directory's `cache/` and removed
//! after the check; nothing of them is kept.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ring::rand::{SecureRandom, SystemRandom};

use super::page::{csrf_field, esc, layout, Lang};
use super::session::Session;
use super::upload;
use super::{forbidden, html, lang_of, session_for_post, session_or_sign_in, LangParam};
use crate::state::AppState;
use shuyu::audit::AuditFilter;
use shuyu::governance::model::Role;
use shuyu::product::{verify_package, CSV_FILE, MANIFEST_FILE, PARQUET_FILE, SIGNATURE_FILE};

/// The largest upload: a product's data files and manifest together.
const MAX_UPLOAD_BYTES: usize = 256 << 20;

/// The form's file fields and the package file each becomes.
const FIELDS: [(&str, &str); 4] = [
    ("manifest", MANIFEST_FILE),
    ("signature", SIGNATURE_FILE),
    ("parquet", PARQUET_FILE),
    ("csv", CSV_FILE),
];

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/console/verify-product",
        get(form)
            .post(check)
            .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
    )
}

fn reviewer_session(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
) -> Result<Session, Box<Response>> {
    let session = session_or_sign_in(state, headers)?;
    if !matches!(session.caller.role, Role::Reviewer | Role::Bureau) {
        return Err(Box::new(forbidden(
            lang,
            "only reviewers and the bureau verify products here",
        )));
    }
    Ok(session)
}

fn page(lang: Lang, session: &Session, body: &str) -> String {
    layout(
        lang,
        lang.t("验证数据产品", "Verify a product"),
        Some((&session.caller.id, session.caller.role, &session.csrf)),
        body,
    )
}

fn form_html(lang: Lang, session: &Session) -> String {
    let inputs: String = FIELDS
        .iter()
        .map(|(field, file)| {
            format!(
                r#"<p><label><code>{file}</code> <input type="file" name="{field}"></label></p>"#
            )
        })
        .collect();
    format!(
        r#"<p class="note">{}</p><form method="post" action="/console/verify-product" enctype="multipart/form-data">{}{inputs}<button id="verify-product">{}</button></form>"#,
        lang.t(
            "上传数据产品包中的文件（清单、签名和清单列出的数据文件）。用本域公钥验证签名与每个文件的哈希，并在审计日志中查找清单引用的发布记录。",
            "Upload the files of a product package (the manifest, its signature and the data files it lists). The signature and every file's hash are checked with this domain's public key, and the release entry the manifest cites is looked up in the audit log."
        ),
        csrf_field(&session.csrf),
        lang.t("验证", "Verify"),
    )
}

async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangParam>,
) -> Response {
    let lang = lang_of(&headers, q.lang.as_deref());
    let session = match reviewer_session(&state, &headers, lang) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    html(
        q.lang.as_deref(),
        page(lang, &session, &form_html(lang, &session)),
    )
}

async fn check(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::of(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let fields = match upload::parse(content_type, &body) {
        Ok(fields) => fields,
        Err(problem) => return forbidden(lang, &format!("the form could not be read: {problem}")),
    };
    let session = match session_for_post(&state, &headers, &fields.text("csrf")) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    if !matches!(session.caller.role, Role::Reviewer | Role::Bureau) {
        return forbidden(lang, "only reviewers and the bureau verify products here");
    }
    let files: Vec<(&str, Vec<u8>)> = FIELDS
        .iter()
        .filter_map(|(field, file)| fields.file(field).map(|bytes| (*file, bytes.to_vec())))
        .collect();
    let outcome = state
        .blocking(move |queue| Ok(verify_files(queue.domain(), &files)))
        .await
        .unwrap_or_else(|e| Err(e.message));
    let result = match outcome {
        Ok(text) => text,
        Err(problem) => format!(
            r#"<p class="bad" id="verify-result">✗ {} {}</p>"#,
            lang.t("验证失败：", "Does not verify:"),
            esc(&problem)
        ),
    };
    html(
        None,
        page(
            lang,
            &session,
            &format!("{result}{}", form_html(lang, &session)),
        ),
    )
}

/// Writes the files to a fresh folder, verifies the package there and removes it; the result
/// as HTML, or what is wrong.
fn verify_files(
    domain: &shuyu::domain::Domain,
    files: &[(&str, Vec<u8>)],
) -> Result<String, String> {
    let mut id = [0u8; 8];
    SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| "no randomness for a scratch folder".to_string())?;
    let dir: PathBuf = domain
        .data_dir()
        .join("cache")
        .join(format!("verify-{}", hex_of(&id)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = (|| {
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))?;
        }
        let verified =
            verify_package(&dir, &domain.keys.public_key()).map_err(|e| e.to_string())?;
        let manifest = verified.manifest;
        let cited = manifest.audit_entry.clone().unwrap_or_default();
        let entries = domain
            .audit
            .search(&AuditFilter {
                job_id: Some(manifest.job_id.clone()),
                action: Some("release".into()),
                ..AuditFilter::default()
            })
            .map_err(|e| e.to_string())?;
        let in_log = entries
            .iter()
            .find(|e| e.hash == cited && e.details["product_id"] == manifest.product_id.as_str());
        let log_line = match in_log {
            Some(entry) => format!(
                r#"<span class="ok">✓ #{} {} ({})</span>"#,
                entry.seq,
                esc(&entry.action),
                esc(&entry.time)
            ),
            None => r#"<span class="bad">✗ not in this domain's log</span>"#.to_string(),
        };
        Ok(format!(
            r#"<p class="ok" id="verify-result">✓ {} {} / {} files</p><table>
<tr><th>product</th><td><code>{}</code></td></tr><tr><th>release</th><td>{}</td></tr>
<tr><th>scenario</th><td>{}</td></tr><tr><th>operator</th><td>{}</td></tr>
<tr><th>job</th><td><code>{}</code></td></tr><tr><th>rows</th><td>{}</td></tr>
<tr><th>columns</th><td>{}</td></tr><tr><th>created</th><td>{}</td></tr>
<tr><th>audit entry</th><td><code>{}</code> {log_line}</td></tr>
<tr><th>policy</th><td><code>{}</code></td></tr></table>"#,
            "signature and hashes verify:",
            verified.files_checked,
            manifest.files.len(),
            esc(&manifest.product_id),
            esc(&manifest.release),
            esc(&manifest.scenario.id),
            esc(&manifest.operator),
            esc(&manifest.job_id),
            manifest.rows,
            esc(&manifest.columns.join(", ")),
            esc(&manifest.created_at),
            esc(&cited),
            esc(&manifest.policy.to_string()),
        ))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
