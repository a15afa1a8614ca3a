//! The console through the router (no socket): sign-in, sessions, CSRF, roles, and each role's
//! main page doing its task through governance.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{Duration, Utc};
use tower::ServiceExt;

use crate::{router, AppState, ServerConfig};
use shuyu::domain::Domain;
use shuyu::governance::model::{
    AgreementMode, AgreementScope, ApplicationStatus, Caller, NewAgreement, NewApplication,
    NewIdentity, Role,
};
use shuyu::governance::ScenarioFile;

pub(super) struct Console {
    pub(super) state: AppState,
    _dir: tempfile::TempDir,
}

pub(super) struct Page {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) text: String,
}

pub(super) fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

impl Console {
    /// A domain with the bureau, two providers, an operator, a reviewer, and an application of
    /// the operator's waiting for its three reviews. Returns the console and the application id.
    pub(super) fn new() -> (Self, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let domain = Domain::open(dir.path()).expect("domain");
        let state = AppState::new(domain, ServerConfig::default()).expect("state");
        let console = Self { state, _dir: dir };
        let gov = console.state.queue().governance().clone();
        let add = |id: &str, role: Role, usci: Option<String>, department: Option<&str>| {
            gov.admin_add_identity(NewIdentity {
                id: id.into(),
                role,
                name: id.into(),
                usci,
                department: department.map(Into::into),
            })
            .expect("identity");
            Caller {
                id: id.into(),
                role,
            }
        };
        let bureau = add("bureau", Role::Bureau, None, None);
        let market = add("p-market", Role::Provider, None, Some("市场监督管理局"));
        let tax = add("p-tax", Role::Provider, None, Some("税务局"));
        let op = add(
            "op-1",
            Role::Operator,
            Some(shuyu_datasets::make_usci("110105", "MA01BCDE").expect("usci")),
            None,
        );
        add("rev", Role::Reviewer, None, None);
        for (dataset, by) in [("enterprise_registry", &market), ("tax_payments", &tax)] {
            let dir = repo("datasets").join(dataset);
            let manifest = std::fs::read_to_string(dir.join("dataset.toml")).expect("manifest");
            let parquet = std::fs::read(dir.join("data.parquet")).expect("parquet");
            gov.publish_dataset(by, dataset, &manifest, &parquet)
                .expect("publish");
        }
        let now = Utc::now();
        let agreement = gov
            .create_agreement(
                &bureau,
                NewAgreement {
                    operator: "op-1".into(),
                    mode: AgreementMode::Comprehensive,
                    scope: AgreementScope {
                        datasets: vec![],
                        domains: vec![],
                        max_level: 3,
                    },
                    term_start: now - Duration::days(1),
                    term_end: now + Duration::days(365),
                    security_requirements: "s".into(),
                    exit_conditions: "e".into(),
                },
            )
            .expect("agreement");
        let sha = gov.upload_module(&op, b"\0asm\x01\0\0\0").expect("module");
        let mut scenario =
            ScenarioFile::load(&repo("guest-examples/district-stats/scenario.toml")).expect("toml");
        scenario.scenario.operator = "op-1".into();
        scenario.scenario.module_sha256 = sha;
        let application = gov
            .submit_application(
                &op,
                NewApplication {
                    agreement: agreement.id,
                    scenario,
                    valid_until: now + Duration::days(90),
                    amends: None,
                },
            )
            .expect("application");
        (console, application.id)
    }

    pub(super) fn token(&self, id: &str) -> String {
        self.state
            .queue()
            .governance()
            .admin_issue_token(id)
            .expect("token")
            .token
    }

    pub(super) async fn send(&self, request: Request<Body>) -> Page {
        let response = router(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Page {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(super) async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = Request::builder().method(Method::GET).uri(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    pub(super) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &str,
        origin: Option<&str>,
    ) -> Page {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, "console.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        self.send(request.body(Body::from(form.to_string())).expect("request"))
            .await
    }

    /// Signs `id` in; returns its session cookie (`name=value`).
    pub(super) async fn sign_in(&self, id: &str) -> String {
        let page = self
            .post(
                "/console/sign-in",
                None,
                &format!("token={}", self.token(id)),
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
        let set = page.headers[header::SET_COOKIE].to_str().expect("cookie");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        set.split(';').next().expect("pair").to_string()
    }
}

/// The CSRF token in a page's forms.
pub(super) fn csrf(page: &Page) -> String {
    let at = page.text.find(r#"name="csrf" value=""#).expect("a form") + 19;
    page.text[at..at + 64].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_exchanges_the_token_for_a_session_and_signing_out_ends_it() {
    let (console, _) = Console::new();
    let page = console.get("/console/audit", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/console/sign-in");
    let wrong = console
        .post("/console/sign-in", None, "token=sy_nope", None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.text.contains("令牌无效"),
        "Chinese by default: {}",
        wrong.text
    );

    let cookie = console.sign_in("rev").await;
    let home = console.get("/console", Some(&cookie)).await;
    assert_eq!(home.headers[header::LOCATION], "/console/audit");
    let audit = console.get("/console/audit?lang=en", Some(&cookie)).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.text.contains("Audit log") && audit.text.contains("gov.application.submit"));
    let out = console
        .post(
            "/console/sign-out",
            Some(&cookie),
            &format!("csrf={}", csrf(&audit)),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        console.get("/console/audit", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER,
        "the session ended"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bureau_approves_from_the_queue_and_forged_forms_are_refused() {
    let (console, application) = Console::new();
    let cookie = console.sign_in("bureau").await;
    let queue = console.get("/console/reviews", Some(&cookie)).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.text.contains(&application), "{}", queue.text);
    assert!(queue.text.contains("enterprise_registry"), "grants shown");
    let token = csrf(&queue);
    let path = format!("/console/applications/{application}/review");

    // Without the session's token, or from another site, nothing happens.
    for (form, origin) in [
        ("decision=approve&reason=ok".to_string(), None),
        ("csrf=00&decision=approve&reason=ok".to_string(), None),
        (
            format!("csrf={token}&decision=approve&reason=ok"),
            Some("https://evil.example"),
        ),
    ] {
        let page = console.post(&path, Some(&cookie), &form, origin).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{form} {origin:?}");
    }
    let gov = console.state.queue().governance().clone();
    let bureau = Caller {
        id: "bureau".into(),
        role: Role::Bureau,
    };
    let before = gov.get_application(&bureau, &application).expect("app");
    assert!(before.reviews.iter().all(|r| r.decision.is_none()));

    let done = console
        .post(
            &path,
            Some(&cookie),
            &format!("csrf={token}&decision=approve&reason=%E5%90%88%E8%A7%84"),
            Some("http://console.test"),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let after = gov.get_application(&bureau, &application).expect("app");
    assert_eq!(
        after.status,
        ApplicationStatus::Pending,
        "providers still review"
    );
    assert!(after
        .reviews
        .iter()
        .any(|r| r.decision.is_some() && r.reason.as_deref() == Some("合规")));
    // The queue no longer shows it to the bureau; a provider still has it.
    let queue = console.get("/console/reviews", Some(&cookie)).await;
    assert!(!queue.text.contains(&application));
    let market = console.sign_in("p-market").await;
    let theirs = console.get("/console/reviews", Some(&market)).await;
    assert!(theirs.text.contains(&application));
    // The console acted through governance: the review is audited like the API's.
    let entries = console
        .state
        .domain()
        .audit
        .search(&shuyu::audit::AuditFilter {
            action: Some("gov.review".into()),
            ..Default::default()
        })
        .expect("search");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "bureau");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_sees_only_its_pages_and_the_reviewer_verifies_the_log() {
    let (console, _) = Console::new();
    let operator = console.sign_in("op-1").await;
    assert_eq!(
        console.get("/console/audit", Some(&operator)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console
            .get("/console/reviews", Some(&operator))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console.get("/console/jobs", Some(&operator)).await.status,
        StatusCode::OK
    );
    let reviewer = console.sign_in("rev").await;
    assert_eq!(
        console
            .get("/console/reviews", Some(&reviewer))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let audit = console
        .get("/console/audit?action=gov.identity", Some(&reviewer))
        .await;
    assert!(audit.text.contains("gov.identity"));
    assert!(!audit.text.contains("gov.application.submit"), "filtered");
    let verified = console
        .post(
            "/console/audit/verify",
            Some(&reviewer),
            &format!("csrf={}", csrf(&audit)),
            None,
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK);
    assert!(
        verified.text.contains("审计日志验证通过"),
        "{}",
        verified.text
    );
    // Another session's token does not pass for this one.
    let other = console.sign_in("rev").await;
    let forged = console
        .post(
            "/console/audit/verify",
            Some(&other),
            &format!("csrf={}", csrf(&audit)),
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}
