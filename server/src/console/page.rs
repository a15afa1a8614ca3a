//! The console's HTML: escaping, the page layout with its navigation per role, and the words in
//! Chinese (the default) and English.
//!
//! Pages are rendered on the server from plain strings; every value that did not come from this
//! file goes through [`esc`]. No script is needed to use them.

use axum::http::HeaderMap;
use shuyu::governance::model::Role;

use super::session::cookie;

/// The language cookie's name.
pub(crate) const LANG_COOKIE: &str = "shuyu_lang";

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// 简体中文 (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The request's language: its cookie, else Chinese.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        match cookie(headers, LANG_COOKIE).as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// `zh` or `en`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// One text in this language.
    pub(crate) fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The hidden CSRF field every form carries.
pub(crate) fn csrf_field(token: &str) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(token)
    )
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;color:#1b1f24}\
header{background:#123a5e;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}\
header a,header button{color:#fff;text-decoration:none;background:none;border:0;font:inherit;cursor:pointer}\
header .who{margin-left:auto;opacity:.85}main{max-width:1200px;margin:0 auto;padding:1rem;overflow-x:auto}\
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{border-bottom:1px solid #d5dbe1;padding:.4rem;text-align:left;vertical-align:top}\
.overdue{color:#a40000;font-weight:600}.ok{color:#11662b}.bad{color:#a40000}form.inline{display:inline}\
input,select,button{font:inherit;padding:.25rem .4rem}code{font-size:.85rem;word-break:break-all}\
.note{background:#eef3f8;padding:.6rem;border-radius:4px}\
.mock{background:#b35900;color:#fff;padding:.05rem .4rem;border-radius:3px;font-weight:700;font-size:.8rem}\
pre{background:#f5f7f9;padding:.5rem;overflow:auto;font-size:.78rem}textarea{font-family:monospace;max-width:100%}";

/// A whole page: `title`, the navigation of `role` (none when signed out) and `body`.
pub(crate) fn layout(
    lang: Lang,
    title: &str,
    who: Option<(&str, Role, &str)>,
    body: &str,
) -> String {
    let nav = match who {
        None => String::new(),
        Some((id, role, csrf)) => {
            let links: Vec<(&str, &str)> = match role {
                Role::Bureau => vec![
                    ("/console/reviews", lang.t("审查队列", "Review queue")),
                    ("/console/operators", lang.t("运营方", "Operators")),
                    ("/console/agreements", lang.t("授权协议", "Agreements")),
                    ("/console/objections", lang.t("异议", "Objections")),
                    ("/console/quality", lang.t("数据质量", "Quality")),
                    ("/console/datasets", lang.t("数据集", "Datasets")),
                    ("/console/egress", lang.t("出域记录", "Egress")),
                    ("/console/usage", lang.t("服务用量", "Usage")),
                    ("/console/audit", lang.t("审计日志", "Audit log")),
                ],
                Role::Provider => vec![
                    ("/console/reviews", lang.t("我的审查", "My reviews")),
                    ("/console/datasets", lang.t("我的数据集", "My datasets")),
                    ("/console/objections", lang.t("异议", "Objections")),
                    ("/console/quality", lang.t("数据质量", "Quality")),
                ],
                Role::Reviewer => vec![
                    ("/console/egress", lang.t("出域记录", "Egress")),
                    (
                        "/console/verify-product",
                        lang.t("验证产品", "Verify a product"),
                    ),
                    ("/console/audit", lang.t("审计日志", "Audit log")),
                ],
                Role::Operator => vec![
                    ("/console/jobs", lang.t("作业", "Jobs")),
                    ("/console/mock-runs", lang.t("模拟运行", "Mock runs")),
                    ("/console/budgets", lang.t("隐私预算", "Budgets")),
                ],
            };
            let links: String = links
                .iter()
                .map(|(href, text)| format!(r#"<a href="{href}">{text}</a>"#))
                .collect();
            format!(
                r#"{links}<span class="who">{} ({})</span>
<form class="inline" method="post" action="/console/sign-out">{}<button>{}</button></form>"#,
                esc(id),
                role.as_str(),
                csrf_field(csrf),
                lang.t("退出", "Sign out")
            )
        }
    };
    let other = match lang {
        Lang::Zh => r#"<a href="?lang=en">English</a>"#,
        Lang::En => r#"<a href="?lang=zh">中文</a>"#,
    };
    format!(
        r#"<!doctype html><html lang="{code}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · shuyu 数域</title><style>{STYLE}</style></head>
<body><header><strong>数域 shuyu</strong>{nav}{other}</header><main><h1>{title}</h1>{body}</main></body></html>"#,
        code = lang.code(),
        title = esc(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn pages_are_chinese_unless_english_is_chosen() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of(&headers), Lang::Zh);
        headers.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_static("shuyu_lang=en"),
        );
        assert_eq!(Lang::of(&headers), Lang::En);
        let page = layout(Lang::En, "T<", Some(("bureau", Role::Bureau, "tok")), "");
        assert!(page.contains(r#"<html lang="en">"#));
        assert!(page.contains("T&lt;"));
        assert!(page.contains("Review queue"));
        assert!(page.contains(r#"name="csrf" value="tok""#));
    }
}
