//! The OpenAPI document and the router come from one table: every route is documented, every
//! documented route is served, every schema named exists.

use std::collections::BTreeSet;

use axum::http::Method;
use chrono::Utc;
use serde_json::Value;

use super::TestApi;
use crate::api::error::ApiError;
use crate::api::openapi::document;
use crate::api::route_table as table;
use crate::api::route_table::{ParamType, RequestBody, ResponseBody, Verb};
use crate::api::schemas;
use crate::audit::VerifyReport;
use crate::governance::model::{
    Identity, IdentityStatus, JobPhase, JobRecord, JobRelease, JobState, Role, StatusChange,
};
use crate::guard::budget::{
    Budget, BudgetScope, BudgetStatus, DatasetBudget, DebitSummary, ScenarioBudget,
};

fn routes() -> Vec<table::Route> {
    crate::api::all_routes()
}

#[test]
fn every_route_is_documented() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = routes();
    let mut operations = BTreeSet::new();
    for route in &routes {
        let op = &doc["paths"][route.path][route.verb.as_str()];
        assert!(
            op.is_object(),
            "{} {} is not documented",
            route.verb.as_str(),
            route.path
        );
        assert_eq!(op["operationId"], route.operation);
        assert!(
            operations.insert(route.operation),
            "duplicate operation {}",
            route.operation
        );
        assert!(
            !route.summary.is_empty() && !route.tag.is_empty(),
            "{}",
            route.path
        );
        assert!(op["responses"][route.status.to_string()].is_object());
        for status in route.error_statuses() {
            assert!(
                op["responses"][status.to_string()].is_object(),
                "{} {status}",
                route.path
            );
        }
        if route.auth {
            assert_eq!(op["security"][0]["bearer"], Value::Array(vec![]));
            assert!(op["responses"]["401"].is_object());
        } else {
            assert_eq!(op["security"], Value::Array(vec![]));
        }
        // Declared path parameters are exactly the path's `{...}` segments, in order.
        let in_path: Vec<&str> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let declared: Vec<&str> = route.path_params.iter().map(|p| p.name).collect();
        assert_eq!(in_path, declared, "{}", route.path);
    }
    // Nothing documented that is not in the table.
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, routes.len());
}

#[test]
fn the_required_routes_are_there() {
    let have: BTreeSet<(Verb, &str)> = routes().iter().map(|r| (r.verb, r.path)).collect();
    use Verb::{Get, Post};
    for (verb, path) in [
        (Get, "/openapi.json"),
        (Get, "/v1/health"),
        (Get, "/v1/whoami"),
        (Get, "/v1/datasets"),
        (Get, "/v1/datasets/{name}"),
        (Post, "/v1/datasets/{name}/versions"),
        (Post, "/v1/datasets/{name}/versions/{v}/withdraw"),
        (Post, "/v1/agreements"),
        (Get, "/v1/agreements"),
        (Get, "/v1/agreements/{id}"),
        (Post, "/v1/agreements/{id}/terminate"),
        (Post, "/v1/operators/{id}/suspend"),
        (Post, "/v1/operators/{id}/restore"),
        (Post, "/v1/modules"),
        (Post, "/v1/applications"),
        (Get, "/v1/applications"),
        (Get, "/v1/applications/{id}"),
        (Get, "/v1/applications/{id}/contract"),
        (Post, "/v1/applications/{id}/reviews"),
        (Post, "/v1/applications/{id}/suspend"),
        (Post, "/v1/applications/{id}/restore"),
        (Post, "/v1/applications/{id}/revoke"),
        (Post, "/v1/objections"),
        (Get, "/v1/objections"),
        (Post, "/v1/objections/{id}/resolve"),
        (Post, "/v1/quality-requests"),
        (Get, "/v1/quality-requests"),
        (Post, "/v1/quality-requests/{id}/answer"),
        (Post, "/v1/jobs"),
        (Get, "/v1/jobs"),
        (Get, "/v1/jobs/{id}"),
        (Post, "/v1/jobs/{id}/cancel"),
        (Get, "/v1/products/{id}/files/{file}"),
        (Get, "/v1/audit"),
        (Get, "/v1/audit/verify"),
        (Get, "/v1/budgets/{scenario_id}"),
    ] {
        assert!(have.contains(&(verb, path)), "{verb:?} {path} missing");
    }
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        let pointer = reference.strip_prefix('#').expect("local reference");
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    for route in routes() {
        if let RequestBody::Json(schema) = route.body {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        if let ResponseBody::Json(schema) = route.response {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        for param in route.path_params.iter().chain(route.query) {
            assert!(!param.description.is_empty());
            let _ = matches!(param.ty, ParamType::Integer);
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// The property names a schema lists.
fn properties(name: &str) -> BTreeSet<String> {
    let all = schemas::all();
    all[name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has no properties"))
        .keys()
        .cloned()
        .collect()
}

/// The keys `value` serializes with.
fn keys(value: impl serde::Serialize) -> BTreeSet<String> {
    serde_json::to_value(value)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn schemas_match_the_types_they_describe() {
    let now = Utc::now();
    let release = JobRelease {
        release: "r".into(),
        outcome: "released".into(),
        product: Some("p".into()),
        rule: None,
        message: None,
        groups_released: 1,
        suppressed: Some(false),
    };
    let job = JobRecord {
        id: "j".into(),
        application: "a".into(),
        scenario_id: "s".into(),
        operator: "o".into(),
        module_sha256: "m".into(),
        state: JobState::Queued,
        phase: JobPhase::Queued,
        detail: None,
        releases: vec![release.clone()],
        submitted_at: now,
        started_at: None,
        ended_at: None,
    };
    let identity = Identity {
        id: "i".into(),
        role: Role::Operator,
        name: "n".into(),
        usci: None,
        department: None,
        status: IdentityStatus::Active,
        status_change: Some(StatusChange {
            by: "bureau".into(),
            at: now,
            reason: Some("r".into()),
        }),
        created_at: now,
    };
    assert_eq!(
        properties("StatusChange"),
        keys(identity.status_change.as_ref())
    );
    assert_eq!(properties("JobRelease"), keys(&release));
    assert_eq!(properties("JobRecord"), keys(&job));
    assert_eq!(properties("Identity"), keys(&identity));
    assert_eq!(properties("VerifyReport"), keys(VerifyReport::default()));
    assert_eq!(properties("Error"), keys(ApiError::not_found("x").body()));
    let status = BudgetStatus::from(&Budget {
        scope: BudgetScope::Scenario("s".into()),
        epsilon_total: 1.0,
        delta_total: 0.0,
        epsilon_spent: 0.0,
        delta_spent: 0.0,
        updated_at: "t".into(),
    });
    let dataset = DatasetBudget {
        dataset: "d".into(),
        budget: None,
    };
    let debit = DebitSummary {
        id: "dbt-1".into(),
        job_id: "j".into(),
        release: "r".into(),
        epsilon: 0.1,
        delta: 0.0,
        time: "t".into(),
        refunded: false,
        refunded_at: None,
    };
    assert_eq!(properties("BudgetScope"), keys(&status.scope));
    assert_eq!(properties("BudgetStatus"), keys(&status));
    assert_eq!(properties("DatasetBudget"), keys(&dataset));
    assert_eq!(properties("DebitSummary"), keys(&debit));
    assert_eq!(
        properties("ScenarioBudget"),
        keys(ScenarioBudget {
            scenario_id: "s".into(),
            budget: status.clone(),
            datasets: vec![dataset],
            debits: vec![debit],
        })
    );
    assert_eq!(
        properties("ErrorDetail"),
        keys(ApiError::not_found("x").body().error)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_every_route_is_routed() {
    let api = TestApi::new(1);
    let served = api.get("/openapi.json", None).await;
    assert_eq!(served.ok(200), document());
    for route in routes() {
        let path: String = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = match route.verb {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
        };
        let answer = api.call(method, &path, None, None).await;
        // Public routes answer; the others ask for a token. None is unknown to the router.
        let expected = if route.auth { 401 } else { 200 };
        assert_eq!(answer.status.as_u16(), expected, "{path}: {}", answer.json);
    }
}

/// The effective contract's schemas list exactly the fields the type sends.
#[test]
fn the_effective_contract_schemas_match_the_type() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let catalog = crate::catalog::Catalog::load(&root.join("datasets")).expect("bundled catalog");
    let path = root.join("guest-examples/district-stats/scenario.toml");
    let mut scenario = crate::governance::ScenarioFile::load(&path).expect("scenario");
    scenario.scenario.module_sha256 = "0".repeat(64);
    let mut approved = scenario.check(&catalog).expect("valid");
    approved.looser.push(crate::governance::Looser {
        place: "p".into(),
        source: "s".into(),
        rule: "r".into(),
        asked: "a".into(),
        allowed: "b".into(),
    });
    let contract = crate::governance::EffectiveContract::of(&approved);
    assert_eq!(properties("EffectiveContract"), keys(&contract));
    assert_eq!(properties("EffectiveDataset"), keys(&contract.datasets[0]));
    assert_eq!(
        properties("EffectiveColumn"),
        keys(&contract.datasets[0].columns[0])
    );
    assert_eq!(properties("EffectiveRelease"), keys(&contract.releases[0]));
    assert_eq!(properties("Looser"), keys(&contract.looser[0]));
    assert_eq!(
        properties("PrivacyBudget"),
        keys(contract.datasets[0].privacy_budget)
    );
}
