//! The OpenAPI document and the router come from one table: every route is documented, every
//! documented route is served, every schema named exists.

use std::collections::BTreeSet;

use axum::http::Method;
use chrono::Utc;
use serde_json::Value;

use super::TestApi;
use crate::error::ApiError;
use crate::openapi::document;
use crate::route_table as table;
use crate::route_table::{ParamType, RequestBody, ResponseBody, Verb};
use crate::schemas;
use shuyu::audit::VerifyReport;
use shuyu::budget::{
    Budget, BudgetScope, BudgetStatus, DatasetBudget, DebitSummary, ScenarioBudget,
};
use shuyu::governance::model::{
    Identity, IdentityStatus, JobPhase, JobRecord, JobRelease, JobState, Role, StatusChange,
};

fn routes() -> Vec<table::Route> {
    crate::all_routes()
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
    let catalog = shuyu::catalog::Catalog::load(&root.join("datasets")).expect("bundled catalog");
    let path = root.join("guest-examples/district-stats/scenario.toml");
    let mut scenario = shuyu::governance::ScenarioFile::load(&path).expect("scenario");
    scenario.scenario.module_sha256 = "0".repeat(64);
    let mut approved = scenario.check(&catalog).expect("valid");
    approved.looser.push(shuyu::governance::Looser {
        place: "p".into(),
        source: "s".into(),
        rule: "r".into(),
        asked: "a".into(),
        allowed: "b".into(),
    });
    let contract = shuyu::governance::EffectiveContract::of(&approved);
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

/// Every schema reachable from `schema` through `$ref`s, `schema` included.
fn reachable(doc: &Value, schema: &str, seen: &mut BTreeSet<String>) {
    if !seen.insert(schema.to_string()) {
        return;
    }
    let mut refs = Vec::new();
    collect_refs(&doc["components"]["schemas"][schema], &mut refs);
    for reference in refs {
        if let Some(name) = reference.strip_prefix("#/components/schemas/") {
            reachable(doc, name, seen);
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn request_bodies_are_closed_objects() {
    let doc = document();
    let mut seen = BTreeSet::new();
    for route in routes() {
        if let RequestBody::Json(schema) = route.body {
            reachable(doc, schema, &mut seen);
        }
    }
    let mut closed = BTreeSet::new();
    for name in &seen {
        let schema = &doc["components"]["schemas"][name];
        if schema["type"] != "object" {
            continue;
        }
        assert_eq!(
            schema["additionalProperties"],
            Value::Bool(false),
            "request object {name} must declare additionalProperties: false"
        );
        closed.insert(name.clone());
    }
    let listed: BTreeSet<String> = schemas::REQUEST_OBJECTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        closed, listed,
        "REQUEST_OBJECTS lists exactly the closed request objects"
    );
}

/// A type the server both reads and writes is described as it is read (`schemas::all`). What it
/// writes must fit that: the two descriptions may differ only in the fields a reader may leave
/// out, which the writer always sends.
#[test]
fn types_read_and_written_are_described_alike() {
    let read = schemas::read();
    let written = schemas::written();
    let without_required = |schema: &Value| {
        let mut schema = schema.clone();
        if let Some(object) = schema.as_object_mut() {
            object.remove("required");
        }
        schema
    };
    let required = |schema: &Value| -> BTreeSet<String> {
        schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|name| name.as_str().expect("a name").to_string())
            .collect()
    };
    let mut shared = BTreeSet::new();
    for (name, as_read) in &read {
        let Some(as_written) = written.get(name) else {
            continue;
        };
        shared.insert(name.as_str());
        assert_eq!(
            without_required(as_read),
            without_required(as_written),
            "{name}"
        );
        assert!(
            required(as_read).is_subset(&required(as_written)),
            "{name}: a field required to read is not always written"
        );
    }
    for name in [
        "AgreementScope",
        "ScenarioFile",
        "Limits",
        "ReleaseContract",
    ] {
        assert!(shared.contains(name), "{name} is both read and written");
    }
}

/// Every schema is a body the route table names or a part of one, under its type's own name:
/// schemars would name a second type of the same name `Name2`.
#[test]
fn every_schema_is_a_route_body_or_part_of_one() {
    let doc = document();
    let mut used = BTreeSet::new();
    reachable(doc, "Error", &mut used);
    for route in routes() {
        if let RequestBody::Json(schema) = route.body {
            reachable(doc, schema, &mut used);
        }
        if let ResponseBody::Json(schema) = route.response {
            reachable(doc, schema, &mut used);
        }
    }
    let all: BTreeSet<String> = schemas::all().keys().cloned().collect();
    assert_eq!(all, used);
    for name in &all {
        assert!(!name.ends_with(|c: char| c.is_ascii_digit()), "{name}");
    }
}

#[test]
fn the_server_refuses_unknown_fields_of_every_closed_object() {
    use shuyu::governance::model::{NewAgreement, NewApplication, ReviewInput};
    let extra = |mut value: Value| {
        value["surprise"] = Value::Bool(true);
        value
    };
    let agreement = serde_json::json!({
        "operator": "op-1", "mode": "comprehensive", "scope": { "max_level": 3 },
        "term_start": "2026-01-01T00:00:00Z", "term_end": "2026-12-31T00:00:00Z",
        "security_requirements": "s", "exit_conditions": "e",
    });
    assert!(serde_json::from_value::<NewAgreement>(agreement.clone()).is_ok());
    let err = serde_json::from_value::<NewAgreement>(extra(agreement.clone())).unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");
    let mut scoped = agreement;
    scoped["scope"]["surprise"] = Value::Bool(true);
    assert!(serde_json::from_value::<NewAgreement>(scoped).is_err());
    let review = serde_json::json!({ "decision": "approve", "reason": "ok" });
    assert!(serde_json::from_value::<ReviewInput>(review.clone()).is_ok());
    assert!(serde_json::from_value::<ReviewInput>(extra(review)).is_err());
    let application = serde_json::json!({
        "agreement": "agr-000001",
        "scenario": {
            "scenario": { "id": "s", "title": "t", "operator": "op-1", "module_sha256": "00" },
            "grant": [{ "dataset": "d", "columns": ["c"] }],
        },
        "valid_until": "2026-12-31T00:00:00Z",
    });
    assert!(serde_json::from_value::<NewApplication>(application.clone()).is_ok());
    assert!(serde_json::from_value::<NewApplication>(extra(application)).is_err());
}

#[test]
fn page_sizes_and_times_are_typed_as_the_server_checks_them() {
    let doc = document();
    let mut limits = 0;
    for route in routes() {
        let op = &doc["paths"][route.path][route.verb.as_str()];
        for param in op["parameters"].as_array().into_iter().flatten() {
            let schema = &param["schema"];
            match param["name"].as_str() {
                Some("limit") => {
                    limits += 1;
                    assert_eq!(schema["minimum"], 1, "{}", route.operation);
                    assert_eq!(
                        schema["maximum"],
                        crate::pagination::MAX_LIMIT,
                        "{}",
                        route.operation
                    );
                }
                Some("since" | "until") => {
                    assert_eq!(
                        schema["anyOf"],
                        serde_json::json!([{ "format": "date-time" }, { "format": "date" }])
                    );
                }
                _ => {}
            }
        }
    }
    assert!(limits >= 7, "every list route documents limit ({limits})");
}

#[test]
fn required_texts_the_server_refuses_blank_say_so() {
    let all = schemas::all();
    for (schema, field) in [
        ("ReasonInput", "reason"),
        ("ReviewInput", "reason"),
        ("NewObjection", "reason"),
        ("ResolveObjection", "note"),
        ("NewQualityRequest", "description"),
        ("QualityAnswer", "answer"),
        ("NewAgreement", "security_requirements"),
        ("NewAgreement", "exit_conditions"),
    ] {
        let property = &all[schema]["properties"][field];
        assert_eq!(property["minLength"], 1, "{schema}.{field}");
        assert_eq!(property["pattern"], "\\S", "{schema}.{field}");
        let required = all[schema]["required"].as_array().expect("required");
        assert!(required.contains(&Value::from(field)), "{schema}.{field}");
    }
}

#[test]
fn every_route_documents_its_content_types_and_414() {
    let doc = document();
    for route in routes() {
        let op = &doc["paths"][route.path][route.verb.as_str()];
        let success = &op["responses"][route.status.to_string()]["content"];
        let types: BTreeSet<&str> = success
            .as_object()
            .expect("content")
            .keys()
            .map(String::as_str)
            .collect();
        match route.response {
            ResponseBody::Json(_) => {
                assert_eq!(
                    types,
                    BTreeSet::from(["application/json"]),
                    "{}",
                    route.operation
                )
            }
            ResponseBody::Files(files) => {
                let expected: BTreeSet<&str> = files
                    .iter()
                    .map(|t| crate::openapi::media_type_essence(t))
                    .collect();
                assert_eq!(types, expected, "{}", route.operation);
            }
        }
        assert!(
            op["responses"]["414"].is_object(),
            "{} documents 414",
            route.operation
        );
    }
    let download =
        &doc["paths"]["/v1/products/{id}/files/{file}"]["get"]["responses"]["200"]["content"];
    for media_type in [
        "application/vnd.apache.parquet",
        "text/csv",
        "application/json",
        "application/octet-stream",
    ] {
        assert!(download[media_type].is_object(), "{media_type}: {download}");
    }
}
