//! Request bodies of every API route that takes one, through the real router (no socket) over a
//! real data directory, as each role: whatever the bytes, the answer is a 2xx or 4xx with the
//! JSON error shape, never a 5xx or a panic.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use shuyu_server::route_table::{RequestBody, Route, Verb};
use shuyu_server::{all_routes, router, AppState, ServerConfig};
use shuyu::domain::Domain;
use shuyu::governance::model::{NewIdentity, Role};
use tower::ServiceExt;

struct Setup {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    routes: Vec<Route>,
    tokens: Vec<String>,
    _dir: std::path::PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("shuyu-fuzz-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let domain = Domain::open(&dir).expect("domain");
        let state = AppState::new(domain, ServerConfig::default()).expect("state");
        let gov = state.queue().governance();
        let mut tokens = Vec::new();
        for (id, role, usci, department) in [
            ("bureau", Role::Bureau, None, None),
            ("op-fuzz", Role::Operator, Some("91330100MA2B3C4D5E"), None),
            ("provider", Role::Provider, None, Some("税务局")),
            ("reviewer", Role::Reviewer, None, None),
        ] {
            let added = gov.admin_add_identity(NewIdentity {
                id: id.into(),
                role,
                name: id.into(),
                usci: usci.map(Into::into),
                department: department.map(Into::into),
            });
            if let Ok((_, token)) = added {
                tokens.push(token.token);
            }
        }
        let routes = all_routes()
            .into_iter()
            .filter(|r| r.verb == Verb::Post && r.body != RequestBody::None)
            .collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        Setup {
            runtime,
            state,
            routes,
            tokens,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let (Some(&pick), Some(&who)) = (data.first(), data.get(1)) else {
        return;
    };
    let Some(route) = setup
        .routes
        .get(usize::from(pick) % setup.routes.len().max(1))
    else {
        return;
    };
    let path = route
        .path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = setup
        .tokens
        .get(usize::from(who) % setup.tokens.len().max(1))
    {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let Ok(request) = request.body(Body::from(data[2..].to_vec())) else {
        return;
    };
    let status = setup.runtime.block_on(async {
        router(setup.state.clone())
            .oneshot(request)
            .await
            .map(|r| r.status())
    });
    let Ok(status) = status;
    assert!(
        !status.is_server_error(),
        "{} {} answered {status}",
        route.operation,
        route.path
    );
});
