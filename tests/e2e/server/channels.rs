//! What one operator can learn or take from another through the real server: another
//! operator's objects answer exactly like missing ones, a scenario id stays with its first
//! operator, products stop being served while their operator or data is suspended, and quotas
//! refuse with the quota's name.

use serde_json::{json, Value};

use super::{
    agreement, agreement_end, application_end, apply, approve_all, district_scenario, shuyu,
    Response, Server,
};
use crate::support;

/// Asserts that `real` (another operator's object) and `missing` (nothing) got the same
/// answer: status, error code, and the message but for the id.
#[track_caller]
fn same_answer(real_id: &str, real: &Response, missing_id: &str, missing: &Response) {
    assert_eq!(real.status, missing.status, "{}", real.message());
    assert_eq!(
        real.json()["error"]["code"],
        missing.json()["error"]["code"]
    );
    assert_eq!(
        real.message().replace(real_id, missing_id),
        missing.message(),
        "another operator's object must look exactly like a missing one"
    );
}

/// op-1's approved district-stats application, its module and one completed job's product.
fn op1_with_a_product(server: &Server) -> (String, String, String, String, String) {
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(server, "op-1", &agreement_end());
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let scenario = district_scenario("op-1", &sha);
    let submitted = apply(server, "op-1", &agreement_id, &scenario, &application_end());
    assert_eq!(submitted.status, 201, "{}", submitted.message());
    let approved = approve_all(server, &submitted.json());
    let app = approved["id"].as_str().expect("id").to_string();
    let job = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );
    let job_id = job["id"].as_str().expect("job id").to_string();
    let job = server.wait_job("op-1", &job_id);
    assert_eq!(job["state"], "completed", "{job}");
    let product = job["releases"][0]["product"]
        .as_str()
        .expect("product id")
        .to_string();
    (agreement_id, sha, app, job_id, product)
}

#[test]
fn another_operators_objects_answer_like_missing_ones_and_its_scenario_id_stays_its_own() {
    let server = Server::start();
    let (agreement_id, _, app, job_id, product) = op1_with_a_product(&server);
    let file = |p: &str| format!("/v1/products/{p}/files/data.csv");
    // A product id of the same shape that names nothing.
    let no_product = format!("{}0", &product[..product.len() - 1]);
    let no_product = if no_product == product {
        format!("{}1", &product[..product.len() - 1])
    } else {
        no_product
    };
    let probes: Vec<(String, String, String, String)> = vec![
        (
            job_id.clone(),
            format!("/v1/jobs/{job_id}"),
            "job-none".into(),
            "/v1/jobs/job-none".into(),
        ),
        (
            app.clone(),
            format!("/v1/applications/{app}"),
            "app-999999".into(),
            "/v1/applications/app-999999".into(),
        ),
        (
            agreement_id.clone(),
            format!("/v1/agreements/{agreement_id}"),
            "agr-999999".into(),
            "/v1/agreements/agr-999999".into(),
        ),
        (
            product.clone(),
            file(&product),
            no_product.clone(),
            file(&no_product),
        ),
        (
            "district-stats".into(),
            "/v1/budgets/district-stats".into(),
            "never-used".into(),
            "/v1/budgets/never-used".into(),
        ),
    ];
    for (real_id, real_path, missing_id, missing_path) in &probes {
        let real = server.get("op-2", real_path);
        let missing = server.get("op-2", missing_path);
        assert_eq!(real.status, 404, "{real_path}: {}", real.message());
        same_answer(real_id, &real, missing_id, &missing);
        assert!(!real.message().contains("op-1"), "{}", real.message());
    }
    // Cancelling op-1's job, and running under op-1's application.
    let real = server.post("op-2", &format!("/v1/jobs/{job_id}/cancel"), &json!({}));
    let missing = server.post("op-2", "/v1/jobs/job-none/cancel", &json!({}));
    same_answer(&job_id, &real, "job-none", &missing);
    let sha_2 = server.upload("op-2", &support::module("district_stats"));
    let real = server.post(
        "op-2",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha_2 }),
    );
    let missing = server.post(
        "op-2",
        "/v1/jobs",
        &json!({ "application": "app-999999", "module_sha256": sha_2 }),
    );
    same_answer(&app, &real, "app-999999", &missing);

    // op-1's application ends; op-2 applies under the same scenario id: refused, and told
    // nothing about who holds it.
    server.ok(
        "bureau",
        &format!("/v1/applications/{app}/revoke"),
        &json!({ "reason": "许可撤销" }),
        200,
    );
    let agreement_2 = agreement(&server, "op-2", &agreement_end());
    let scenario_2 = district_scenario("op-2", &sha_2);
    let taken = apply(
        &server,
        "op-2",
        &agreement_2,
        &scenario_2,
        &application_end(),
    );
    assert_eq!(taken.status, 409, "{}", taken.message());
    assert!(
        taken.message().contains("'district-stats' is taken"),
        "{}",
        taken.message()
    );
    for secret in ["op-1", app.as_str(), "revoked"] {
        assert!(
            !taken.message().contains(secret),
            "{secret}: {}",
            taken.message()
        );
    }
    // Its budget stays out of op-2's reach: the answer for an id never used.
    let real = server.get("op-2", "/v1/budgets/district-stats");
    let missing = server.get("op-2", "/v1/budgets/never-used");
    same_answer("district-stats", &real, "never-used", &missing);
}

#[test]
fn products_stop_being_served_while_their_operator_or_data_is_suspended() {
    let server = Server::start();
    let (_, _, _, job_id, product) = op1_with_a_product(&server);
    let path = format!("/v1/products/{product}/files/data.csv");
    assert_eq!(server.get("op-1", &path).status, 200);

    server.ok(
        "bureau",
        "/v1/operators/op-1/suspend",
        &json!({ "reason": "年度评估不合格" }),
        200,
    );
    let refused = server.get("op-1", &path);
    assert_eq!(refused.status, 403, "{}", refused.message());
    assert!(
        refused
            .message()
            .contains("operator 'op-1' is suspended: 年度评估不合格"),
        "{}",
        refused.message()
    );
    // Its job no longer lists the product to op-1.
    let mine = server.get("op-1", &format!("/v1/jobs/{job_id}")).json();
    assert!(mine["releases"][0]["product"].is_null(), "{mine}");
    // The bureau and reviewers still see the job and its product.
    let seen = server.get("reviewer", &format!("/v1/jobs/{job_id}")).json();
    assert_eq!(seen["releases"][0]["product"], product.as_str(), "{seen}");
    server.ok(
        "bureau",
        "/v1/operators/op-1/restore",
        &json!({ "reason": "整改完成" }),
        200,
    );
    assert_eq!(server.get("op-1", &path).status, 200);

    let objection = server.ok(
        "reviewer",
        "/v1/objections",
        &json!({ "dataset": "tax_payments", "reason": "某企业称其纳税数据被错误归集" }),
        201,
    );
    let refused = server.get("op-1", &path);
    assert_eq!(refused.status, 403, "{}", refused.message());
    assert!(
        refused.message().contains(
            "a dataset this product was built from ('tax_payments') is suspended by an objection"
        ),
        "{}",
        refused.message()
    );
    server.ok(
        "prov-tax",
        &format!(
            "/v1/objections/{}/resolve",
            objection["id"].as_str().expect("id")
        ),
        &json!({ "resolution": "restore", "note": "核查无误" }),
        200,
    );
    assert_eq!(server.get("op-1", &path).status, 200);
}

/// `shuyu admin quotas set ARGS --json` on the server's data directory (the server reads the
/// quotas at every check, so no restart is needed).
fn set_quotas(server: &Server, args: &[&str]) -> Value {
    let mut full = vec!["admin", "quotas", "set", "--json"];
    full.extend_from_slice(args);
    let (code, out, err) = shuyu(server.dir(), &full);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(out.trim()).expect("quotas as JSON")
}

#[test]
fn quotas_refuse_with_the_quotas_name() {
    let server = Server::start();
    let (_, sha, app, _, _) = op1_with_a_product(&server);

    // One job per scenario per day: op1_with_a_product ran one today already.
    let quotas = set_quotas(&server, &["--jobs-per-day", "1"]);
    assert_eq!(quotas["jobs_per_scenario_per_day"], 1, "{quotas}");
    assert_eq!(quotas["day_utc_offset_minutes"], 480, "{quotas}");
    let refused = server.post(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
    );
    assert_eq!(refused.status, 429, "{}", refused.message());
    assert_eq!(refused.json()["error"]["code"], "quota_exceeded");
    assert!(
        refused.message().contains("jobs_per_scenario_per_day"),
        "{}",
        refused.message()
    );

    // Module size, then module count (a module already uploaded is free).
    set_quotas(&server, &["--module-bytes", "64"]);
    let module = support::module("district_stats");
    let upload = |bytes: &[u8]| {
        server.request(
            "POST",
            "/v1/modules",
            Some("op-2"),
            "application/wasm",
            bytes,
        )
    };
    let refused = upload(&module);
    assert_eq!(refused.status, 409, "{}", refused.message());
    assert!(
        refused.message().contains("quota module_bytes"),
        "{}",
        refused.message()
    );
    set_quotas(&server, &["--module-bytes", "16777216", "--modules", "1"]);
    assert_eq!(upload(&module).status, 201);
    assert_eq!(upload(&module).status, 201);
    let refused = upload(&support::module("lone_income"));
    assert_eq!(refused.status, 409, "{}", refused.message());
    assert!(
        refused.message().contains("quota modules_per_operator"),
        "{}",
        refused.message()
    );
}
