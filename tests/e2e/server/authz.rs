//! Every endpoint called with every wrong role (and with no token): 403 with a reason (401), or,
//! for another operator's (or an uninvolved provider's) look at an object that is not theirs, the
//! 404 a missing object gets; and nothing changes.

use serde_json::{json, Value};

use super::{
    agreement, agreement_end, application_end, apply, approve_all, days_from_now,
    district_scenario, Server,
};
use crate::support;

const ALL: &[&str] = &[
    "bureau",
    "reviewer",
    "prov-market",
    "prov-tax",
    "prov-health",
    "op-1",
    "op-2",
];

struct Call {
    method: &'static str,
    path: String,
    body: Value,
    allowed: &'static [&'static str],
    /// Refused callers to whom the object must look missing (404), not forbidden.
    hidden: &'static [&'static str],
}

fn call(method: &'static str, path: String, body: Value, allowed: &'static [&'static str]) -> Call {
    Call {
        method,
        path,
        body,
        allowed,
        hidden: &[],
    }
}

impl Call {
    /// `who` are told the object does not exist.
    fn hidden_from(mut self, who: &'static [&'static str]) -> Self {
        self.hidden = who;
        self
    }
}

#[test]
fn every_endpoint_refuses_every_wrong_role() {
    // No identity is refused more often than this in the test: every refusal gets its entry.
    let server = Server::start_with(&["--refusal-audit-limit", "1000"]);
    for dataset in ["enterprise_registry", "tax_payments", "clinic_visits"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let application = apply(
        &server,
        "op-1",
        &agreement_id,
        &district_scenario("op-1", &sha),
        &application_end(),
    );
    assert_eq!(application.status, 201);
    let application = approve_all(&server, &application.json());
    let app = application["id"].as_str().expect("id").to_string();
    let job = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );
    let job_id = job["id"].as_str().expect("id").to_string();
    let job = server.wait_job("op-1", &job_id);
    let product = job["releases"][0]["product"]
        .as_str()
        .unwrap_or_else(|| panic!("released: {job}"))
        .to_string();
    let objection = server.ok(
        "op-2",
        "/v1/objections",
        &json!({ "dataset": "clinic_visits", "reason": "test" }),
        201,
    );
    let objection_id = objection["id"].as_str().expect("id").to_string();
    let request = server.ok(
        "op-1",
        "/v1/quality-requests",
        &json!({ "dataset": "enterprise_registry", "description": "缺失值" }),
        201,
    );
    let request_id = request["id"].as_str().expect("id").to_string();

    let manifest =
        std::fs::read_to_string(support::repo().join("datasets/enterprise_registry/dataset.toml"))
            .expect("manifest");
    let reason = json!({ "reason": "authorization test" });
    let calls = vec![
        call(
            "POST",
            "/v1/datasets/enterprise_registry/versions".into(),
            json!({ "manifest": manifest, "parquet_base64": "AAAA" }),
            &["prov-market"],
        ),
        call(
            "POST",
            "/v1/datasets/enterprise_registry/versions/1/withdraw".into(),
            reason.clone(),
            &["prov-market"],
        ),
        call(
            "POST",
            "/v1/agreements".into(),
            json!({
                "operator": "op-2", "mode": "comprehensive", "scope": { "max_level": 3 },
                "term_start": days_from_now(-1), "term_end": agreement_end(),
                "security_requirements": "x", "exit_conditions": "y",
            }),
            &["bureau"],
        ),
        call(
            "GET",
            "/v1/agreements".into(),
            Value::Null,
            &["bureau", "reviewer", "op-1", "op-2"],
        ),
        call(
            "GET",
            format!("/v1/agreements/{agreement_id}"),
            Value::Null,
            &["bureau", "reviewer", "op-1"],
        )
        .hidden_from(&["op-2"]),
        call(
            "POST",
            format!("/v1/agreements/{agreement_id}/terminate"),
            reason.clone(),
            &["bureau"],
        ),
        call(
            "POST",
            "/v1/operators/op-1/suspend".into(),
            reason.clone(),
            &["bureau"],
        ),
        call(
            "POST",
            "/v1/operators/op-1/restore".into(),
            reason.clone(),
            &["bureau"],
        ),
        call(
            "POST",
            "/v1/applications".into(),
            json!({
                "agreement": agreement_id, "scenario": district_scenario("op-1", &sha),
                "valid_until": application_end(),
            }),
            &["op-1", "op-2"],
        ),
        call(
            "GET",
            format!("/v1/applications/{app}"),
            Value::Null,
            &["bureau", "reviewer", "op-1", "prov-market", "prov-tax"],
        )
        .hidden_from(&["op-2", "prov-health"]),
        call(
            "POST",
            format!("/v1/applications/{app}/reviews"),
            json!({ "decision": "approve", "reason": "x" }),
            &["bureau", "prov-market", "prov-tax"],
        )
        .hidden_from(&["prov-health"]),
        call(
            "POST",
            format!("/v1/applications/{app}/suspend"),
            reason.clone(),
            &["bureau"],
        ),
        call(
            "POST",
            format!("/v1/applications/{app}/restore"),
            reason.clone(),
            &["bureau"],
        ),
        call(
            "POST",
            format!("/v1/applications/{app}/revoke"),
            reason.clone(),
            &["bureau"],
        ),
        call(
            "POST",
            format!("/v1/objections/{objection_id}/resolve"),
            json!({ "resolution": "restore", "note": "x" }),
            &["prov-health"],
        ),
        call(
            "POST",
            "/v1/quality-requests".into(),
            json!({ "dataset": "tax_payments", "description": "x" }),
            &["op-1", "op-2"],
        ),
        call(
            "POST",
            format!("/v1/quality-requests/{request_id}/answer"),
            json!({ "answer": "x" }),
            &["prov-market"],
        ),
        call(
            "POST",
            "/v1/jobs".into(),
            json!({ "application": app, "module_sha256": sha }),
            &["op-1"],
        )
        .hidden_from(&["op-2"]),
        call(
            "GET",
            format!("/v1/jobs/{job_id}"),
            Value::Null,
            &["bureau", "reviewer", "op-1"],
        )
        .hidden_from(&["op-2"]),
        call(
            "POST",
            format!("/v1/jobs/{job_id}/cancel"),
            Value::Null,
            &["op-1"],
        )
        .hidden_from(&["op-2"]),
        call(
            "GET",
            format!("/v1/products/{product}/files/data.csv"),
            Value::Null,
            &["op-1"],
        )
        .hidden_from(&["op-2"]),
        call(
            "GET",
            "/v1/audit".into(),
            Value::Null,
            &["bureau", "reviewer"],
        ),
        call(
            "GET",
            "/v1/audit/verify".into(),
            Value::Null,
            &["bureau", "reviewer"],
        ),
        call("POST", "/v1/modules".into(), Value::Null, &["op-1", "op-2"]),
    ];

    let mut refused = 0;
    let mut forbidden = std::collections::BTreeMap::<String, usize>::new();
    for c in &calls {
        let body = if c.path == "/v1/modules" {
            module.clone()
        } else if c.body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&c.body).expect("json")
        };
        let content_type = if c.path == "/v1/modules" {
            "application/wasm"
        } else {
            "application/json"
        };
        let anonymous = server.request(c.method, &c.path, None, content_type, &body);
        assert_eq!(
            anonymous.status, 401,
            "{} {} without a token",
            c.method, c.path
        );
        anonymous.message();
        for who in ALL.iter().filter(|w| !c.allowed.contains(w)) {
            let response = server.request(c.method, &c.path, Some(who), content_type, &body);
            let expected = if c.hidden.contains(who) { 404 } else { 403 };
            assert_eq!(
                response.status,
                expected,
                "{} {} as {who}: {}",
                c.method,
                c.path,
                String::from_utf8_lossy(&response.body)
            );
            let message = response.message();
            assert!(message.len() > 10, "a reason: {message}");
            refused += 1;
            if expected == 403 {
                *forbidden.entry(who.to_string()).or_default() += 1;
            }
        }
    }
    assert!(refused > 60, "{refused} refusals checked");

    // Every 403 is in the audit log with its caller, and so is the job submitted under another
    // operator's application, which that operator was told does not exist.
    let entries = server
        .get("reviewer", "/v1/audit?action=refused&limit=500")
        .json();
    let entries = entries["items"].as_array().expect("items").clone();
    let mut audited = std::collections::BTreeMap::<String, usize>::new();
    for entry in &entries {
        if entry["details"]["status"] == 403 {
            *audited
                .entry(entry["actor"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    assert_eq!(audited, forbidden, "one refused.* entry per 403");
    assert!(
        entries.iter().any(|e| e["actor"] == "op-2"
            && e["action"] == "refused.submitJob"
            && e["details"]["rule"] == "application_of_another_operator"),
        "{entries:?}"
    );

    // Refusals changed nothing: the operator is active, the application approved, the agreement
    // in force, the objection open.
    assert_eq!(server.get("op-1", "/v1/whoami").json()["status"], "active");
    assert_eq!(
        server
            .get("op-1", &format!("/v1/applications/{app}"))
            .json()["status"],
        "approved"
    );
    assert_eq!(
        server
            .get("op-1", &format!("/v1/agreements/{agreement_id}"))
            .json()["status"],
        "active"
    );
    let objections = server.get("reviewer", "/v1/objections").json();
    assert_eq!(objections["items"][0]["status"], "open", "{objections}");
}
