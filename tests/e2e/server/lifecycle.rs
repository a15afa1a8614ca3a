//! The whole governance lifecycle through the real server: datasets, agreement, application, dual
//! review (a rejection, then an approval), job, product download, suspension, restore, objection,
//! resolution, expiry — and the audit log verifies at the end.

use serde_json::json;

use super::{
    agreement, agreement_end, application_end, apply, approve_all, district_scenario, Server,
};
use crate::support;

#[test]
fn the_whole_lifecycle_through_the_server() {
    let server = Server::start();

    // Providers register their datasets.
    for dataset in ["enterprise_registry", "tax_payments"] {
        let record = server.publish_bundled(dataset);
        assert_eq!(record["status"], "active", "{record}");
        assert_eq!(record["current_version"], 1);
    }
    let listed = server.get("op-1", "/v1/datasets").json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    // The bureau grants an agreement; the operator uploads its module and applies.
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    assert_eq!(sha, support::sha256(&module));
    let scenario = district_scenario("op-1", &sha);
    let first = apply(
        &server,
        "op-1",
        &agreement_id,
        &scenario,
        &application_end(),
    );
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let first = first.json();
    assert_eq!(first["status"], "pending");
    let reviews = first["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 3, "bureau + two providers: {first}");
    assert!(reviews.iter().all(|r| r["deadline"].is_string()));
    let first_id = first["id"].as_str().expect("id");

    // A job before approval is refused with the reason.
    let early = server.post(
        "op-1",
        "/v1/jobs",
        &json!({ "application": first_id, "module_sha256": sha }),
    );
    assert_eq!(early.status, 409);
    assert!(early.message().contains("pending"), "{}", early.message());

    // Dual review: the bureau approves, the tax provider rejects with a reason.
    server.ok(
        "bureau",
        &format!("/v1/applications/{first_id}/reviews"),
        &json!({ "decision": "approve", "reason": "场景合规" }),
        200,
    );
    let rejected = server.ok(
        "prov-tax",
        &format!("/v1/applications/{first_id}/reviews"),
        &json!({ "decision": "reject", "reason": "纳税明细须按月汇总后使用" }),
        200,
    );
    assert_eq!(rejected["status"], "rejected", "{rejected}");

    // A new application for the same scenario, approved by everyone.
    let second = apply(
        &server,
        "op-1",
        &agreement_id,
        &scenario,
        &application_end(),
    );
    assert_eq!(
        second.status,
        201,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    let approved = approve_all(&server, &second.json());
    assert_eq!(approved["status"], "approved", "{approved}");
    let app = approved["id"].as_str().expect("id").to_string();

    // A job runs and its product downloads, for its operator only.
    let submitted = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );
    let job_id = submitted["id"].as_str().expect("job id").to_string();
    let job = server.wait_job("op-1", &job_id);
    assert_eq!(job["state"], "completed", "{job}");
    let release = &job["releases"][0];
    assert_eq!(release["outcome"], "released", "{job}");
    assert_eq!(release["suppressed"], true, "{job}");
    let product = release["product"].as_str().expect("product id").to_string();
    let out = tempfile::tempdir().expect("temp dir");
    for file in ["data.parquet", "data.csv", "manifest.json", "manifest.sig"] {
        let got = server.get("op-1", &format!("/v1/products/{product}/files/{file}"));
        assert_eq!(got.status, 200, "{file}");
        std::fs::write(out.path().join(file), &got.body).expect("write");
        let other = server.get("op-2", &format!("/v1/products/{product}/files/{file}"));
        assert_eq!(
            other.status, 404,
            "another operator may not download, nor tell the product exists"
        );
    }
    let key = shuyu::keys::PublicKey::read_file(&server.dir().join("keys").join("domain.pub"))
        .expect("public key");
    shuyu::product::verify_package(out.path(), &key).expect("downloaded package verifies");

    // Suspension: jobs refused, naming the reason; restore lets them run again.
    server.ok(
        "bureau",
        "/v1/operators/op-1/suspend",
        &json!({ "reason": "年度评估不合格" }),
        200,
    );
    let refused = server.post(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
    );
    assert_eq!(refused.status, 409);
    assert!(
        refused.message().contains("suspended"),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("年度评估不合格"),
        "{}",
        refused.message()
    );
    server.ok(
        "bureau",
        "/v1/operators/op-1/restore",
        &json!({ "reason": "整改完成" }),
        200,
    );
    let again = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );
    let again = server.wait_job("op-1", again["id"].as_str().expect("id"));
    assert_eq!(again["state"], "completed", "{again}");

    // An objection suspends the dataset at once; the provider restores it.
    let objection = server.ok(
        "reviewer",
        "/v1/objections",
        &json!({ "dataset": "tax_payments", "reason": "某企业称其纳税数据被错误归集" }),
        201,
    );
    let objection_id = objection["id"].as_str().expect("objection id");
    let blocked = server.post(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
    );
    assert_eq!(blocked.status, 409);
    assert!(
        blocked.message().contains("tax_payments"),
        "{}",
        blocked.message()
    );
    let wrong_provider = server.post(
        "prov-market",
        &format!("/v1/objections/{objection_id}/resolve"),
        &json!({ "resolution": "restore", "note": "not mine" }),
    );
    assert_eq!(wrong_provider.status, 403);
    let resolved = server.ok(
        "prov-tax",
        &format!("/v1/objections/{objection_id}/resolve"),
        &json!({ "resolution": "restore", "note": "核查无误" }),
        200,
    );
    assert_eq!(resolved["status"], "resolved");
    server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );

    // A quality request is answered by its provider.
    let request = server.ok(
        "op-1",
        "/v1/quality-requests",
        &json!({ "dataset": "enterprise_registry", "description": "部分企业行业代码缺失" }),
        201,
    );
    let answered = server.ok(
        "prov-market",
        &format!(
            "/v1/quality-requests/{}/answer",
            request["id"].as_str().expect("id")
        ),
        &json!({ "answer": "已在下一版本补全" }),
        200,
    );
    assert!(answered["answer"].is_string());

    // Expiry: an agreement whose term ends in seconds; after it, jobs are refused.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let short = agreement(&server, "op-2", &soon);
    let module_2 = server.upload("op-2", &module);
    let mut scenario_2 = district_scenario("op-2", &module_2);
    scenario_2["scenario"]["id"] = json!("district-stats-op2");
    let app_2 = apply(&server, "op-2", &short, &scenario_2, &soon);
    assert_eq!(
        app_2.status,
        201,
        "{}",
        String::from_utf8_lossy(&app_2.body)
    );
    let app_2 = approve_all(&server, &app_2.json());
    assert_eq!(app_2["status"], "approved");
    std::thread::sleep(std::time::Duration::from_secs(5));
    let expired = server.post(
        "op-2",
        "/v1/jobs",
        &json!({ "application": app_2["id"], "module_sha256": module_2 }),
    );
    assert_eq!(expired.status, 409);
    assert!(
        expired.message().contains("expired"),
        "{}",
        expired.message()
    );

    // Every step is in the log, and the log verifies.
    let verify = server.get("reviewer", "/v1/audit/verify");
    assert_eq!(
        verify.status,
        200,
        "{}",
        String::from_utf8_lossy(&verify.body)
    );
    let suspensions = server
        .get("reviewer", "/v1/audit?action=gov.operator.suspend")
        .json();
    let entries = suspensions["items"].as_array().expect("items");
    assert_eq!(entries.len(), 1, "{suspensions}");
    assert_eq!(entries[0]["actor"], "bureau");
    assert!(entries[0]["details"].to_string().contains("年度评估不合格"));
}
