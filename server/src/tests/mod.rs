//! Tests of the API through its router (no socket) and, once, through a real listener.

mod budgets;
mod errors;
mod jobs;
mod openapi;
mod server;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::{router, AppState, ServerConfig};
use shuyu::domain::Domain;
use shuyu::governance::model::{NewIdentity, Role};

/// Department of the bundled `enterprise_registry`.
const MARKET: &str = "市场监督管理局";
/// Department of the bundled `tax_payments`.
const TAX: &str = "税务局";

/// A server state over a fresh data directory.
struct TestApi {
    state: AppState,
    // Dropped last: the state's database lives in it.
    _dir: tempfile::TempDir,
}

/// An identity with its token.
#[derive(Debug, Clone)]
struct User {
    token: String,
}

/// A response: status, headers and the body as JSON (`Null` when not JSON).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl TestApi {
    fn new(workers: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let domain = Domain::open(dir.path()).expect("domain");
        let config = ServerConfig {
            workers,
            ..ServerConfig::default()
        };
        let state = AppState::new(domain, config).expect("state");
        Self { state, _dir: dir }
    }

    /// Adds an identity through the admin interface and returns it with its token.
    fn user(&self, id: &str, role: Role, usci: Option<String>, department: Option<&str>) -> User {
        let (_, token) = self
            .state
            .queue()
            .governance()
            .admin_add_identity(NewIdentity {
                id: id.into(),
                role,
                name: format!("{id} name"),
                usci,
                department: department.map(Into::into),
            })
            .expect("add identity");
        User { token: token.token }
    }

    /// Sends a request through the router.
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = router(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    /// A request with an optional token and JSON body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(user) = user {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", user.token));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("request")).await
    }

    async fn get(&self, path: &str, user: Option<&User>) -> Answer {
        self.call(Method::GET, path, user, None).await
    }

    async fn post(&self, path: &str, user: &User, body: Value) -> Answer {
        self.call(Method::POST, path, Some(user), Some(body)).await
    }
}

impl Answer {
    /// Checks the error shape and returns the message.
    #[track_caller]
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.json);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
        );
        let error = &self.json["error"];
        assert_eq!(error["status"], status, "{}", self.json);
        assert_eq!(error["code"], code, "{}", self.json);
        let message = error["message"].as_str().expect("message").to_string();
        assert!(!message.is_empty());
        message
    }

    /// Checks the status of a success and returns the JSON.
    #[track_caller]
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.json);
        &self.json
    }
}

/// A valid unified social credit code, different for each `n` < 10.
fn usci(n: u8) -> String {
    shuyu_datasets::make_usci("110105", &format!("MA0{n}BCDE")).expect("usci")
}
