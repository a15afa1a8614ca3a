//! Bad input gets a clear JSON error naming the problem and changes nothing: malformed JSON,
//! oversized bodies, unknown ids, out-of-scope grants, late reviews, duplicate applications,
//! invalid identities.

use serde_json::json;

use super::{
    agreement, agreement_end, application_end, apply, days_from_now, district_scenario, shuyu,
    usci, Server,
};
use crate::support;

#[test]
fn malformed_oversized_and_unknown_requests_get_clear_errors() {
    let server = Server::start();

    let malformed = server.request(
        "POST",
        "/v1/agreements",
        Some("bureau"),
        "application/json",
        b"{\"operator\": \"op-1\",",
    );
    assert_eq!(
        malformed.status,
        400,
        "{}",
        String::from_utf8_lossy(&malformed.body)
    );
    assert!(!malformed.message().is_empty());

    let missing_field = server.post("bureau", "/v1/agreements", &json!({ "operator": "op-1" }));
    assert!(
        matches!(missing_field.status, 400 | 422),
        "{}",
        missing_field.status
    );
    assert!(
        missing_field.message().contains("mode"),
        "{}",
        missing_field.message()
    );

    let wrong_type = server.request(
        "POST",
        "/v1/agreements",
        Some("bureau"),
        "text/plain",
        b"{}",
    );
    assert_eq!(wrong_type.status, 415);
    wrong_type.message();

    let huge = vec![b' '; 3 * 1024 * 1024];
    let oversized = server.request(
        "POST",
        "/v1/objections",
        Some("op-1"),
        "application/json",
        &huge,
    );
    assert_eq!(oversized.status, 413);

    for path in [
        "/v1/applications/app-nope",
        "/v1/agreements/agr-nope",
        "/v1/jobs/nope",
        "/v1/datasets/no_such_dataset",
    ] {
        let response = server.get("bureau", path);
        assert_eq!(response.status, 404, "{path}");
        assert!(response.message().contains("nope") || response.message().contains("no_such"));
    }
    let unknown_app = server.post(
        "op-1",
        "/v1/jobs",
        &json!({ "application": "app-nope", "module_sha256": "00" }),
    );
    assert_eq!(
        unknown_app.status,
        404,
        "{}",
        String::from_utf8_lossy(&unknown_app.body)
    );
    let unknown_route = server.get("bureau", "/v1/nothing-here");
    assert_eq!(unknown_route.status, 404);

    let bad_page = server.get("bureau", "/v1/datasets?limit=0");
    assert!(matches!(bad_page.status, 400 | 422), "{}", bad_page.status);
    assert!(
        bad_page.message().contains("limit"),
        "{}",
        bad_page.message()
    );

    let not_wasm = server.request(
        "POST",
        "/v1/modules",
        Some("op-1"),
        "application/wasm",
        b"hello",
    );
    assert_eq!(not_wasm.status, 422);

    let openapi = server.request("GET", "/openapi.json", None, "application/json", b"");
    assert_eq!(openapi.status, 200);
    let doc = openapi.json();
    assert!(doc["paths"]["/v1/jobs"].is_object(), "jobs documented");
}

#[test]
fn out_of_scope_duplicates_and_late_reviews_are_refused() {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);

    // A tiered agreement covering the registry only: a scenario that also reads tax is refused.
    let tiered = server.ok(
        "bureau",
        "/v1/agreements",
        &json!({
            "operator": "op-1", "mode": "tiered",
            "scope": { "datasets": ["enterprise_registry"], "max_level": 3 },
            "term_start": days_from_now(-1), "term_end": agreement_end(),
            "security_requirements": "x", "exit_conditions": "y",
        }),
        201,
    );
    let scenario = district_scenario("op-1", &sha);
    let out_of_scope = apply(
        &server,
        "op-1",
        tiered["id"].as_str().expect("id"),
        &scenario,
        &application_end(),
    );
    assert_eq!(out_of_scope.status, 422);
    assert!(
        out_of_scope.message().contains("tax_payments"),
        "{}",
        out_of_scope.message()
    );

    // A column the dataset does not have.
    let full = agreement(&server, "op-1", &agreement_end());
    let mut bad_column = scenario.clone();
    bad_column["grant"][1]["columns"] = json!(["usci", "amount", "bank_account"]);
    let response = apply(&server, "op-1", &full, &bad_column, &application_end());
    assert_eq!(response.status, 422);
    assert!(
        response.message().contains("bank_account"),
        "{}",
        response.message()
    );

    // Someone else's agreement: to op-2 it does not exist.
    let stolen = apply(
        &server,
        "op-2",
        &full,
        &district_scenario("op-2", &sha),
        &application_end(),
    );
    assert_eq!(stolen.status, 404, "{}", stolen.message());
    assert_eq!(stolen.message(), format!("agreement '{full}'"));

    // One application per scenario.
    let first = apply(&server, "op-1", &full, &scenario, &application_end());
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let first = first.json();
    let duplicate = apply(&server, "op-1", &full, &scenario, &application_end());
    assert_eq!(duplicate.status, 409);
    assert!(
        duplicate
            .message()
            .contains(first["id"].as_str().expect("id")),
        "names the existing application: {}",
        duplicate.message()
    );

    // A review after its deadline is refused and the application lapses. Time is moved by
    // rewriting the stored deadlines (the server keeps no copy of them in memory).
    let id = first["id"].as_str().expect("id");
    {
        let db = rusqlite::Connection::open(server.dir().join("shuyu.db")).expect("open db");
        db.busy_timeout(std::time::Duration::from_secs(5))
            .expect("busy timeout");
        let changed = db
            .execute(
                "UPDATE reviews SET deadline = '2026-01-02T23:59:59.999Z' WHERE application = ?1",
                [id],
            )
            .expect("move the deadline");
        assert_eq!(changed, 3);
    }
    let listed = server
        .get("bureau", &format!("/v1/applications/{id}"))
        .json();
    assert!(
        listed["reviews"]
            .as_array()
            .expect("reviews")
            .iter()
            .all(|r| r["overdue"] == true),
        "overdue reviews are flagged: {listed}"
    );
    let late = server.post(
        "bureau",
        &format!("/v1/applications/{id}/reviews"),
        &json!({ "decision": "approve", "reason": "迟到的审核" }),
    );
    assert_eq!(late.status, 409);
    assert!(late.message().contains("deadline"), "{}", late.message());
    let reason_missing = server.post(
        "prov-tax",
        &format!("/v1/applications/{id}/reviews"),
        &json!({ "decision": "approve", "reason": "" }),
    );
    assert!(matches!(reason_missing.status, 409 | 422));
}

#[test]
fn invalid_identities_are_refused_by_admin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = usci("MA1B2C3D");
    let last = if good.ends_with('0') { '1' } else { '0' };
    let bad = format!("{}{last}", &good[..17]);
    let (code, _, err) = shuyu(
        dir.path(),
        &[
            "admin", "identity", "add", "--id", "op-x", "--role", "operator", "--name", "X",
            "--usci", &bad,
        ],
    );
    assert_eq!(code, 2, "bad check character: {err}");
    assert!(
        err.to_lowercase().contains("usci") || err.contains("credit code"),
        "{err}"
    );

    let maintainer = usci("MA9B8C7D");
    let (code, out, err) = shuyu(dir.path(), &["admin", "maintainer", "--usci", &maintainer]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = shuyu(
        dir.path(),
        &[
            "admin",
            "identity",
            "add",
            "--id",
            "op-m",
            "--role",
            "operator",
            "--name",
            "平台运维",
            "--usci",
            &maintainer,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("maintainer"), "{err}");
}

#[test]
fn unknown_fields_and_arrays_are_refused_on_every_governance_route() {
    let server = Server::start();
    let until = "2027-12-31T23:59:59Z";
    // Each body valid but for one unknown field: 422 naming it, and nothing stored.
    let mut body = json!({
        "operator": "op-1",
        "mode": "comprehensive",
        "scope": { "max_level": 3 },
        "term_start": "2026-01-01T00:00:00Z",
        "term_end": until,
        "security_requirements": "s",
        "exit_conditions": "e",
        "auto_renew": true,
    });
    let refused = server.post("bureau", "/v1/agreements", &body);
    refused.assert_refused(422, "auto_renew");
    let listed = server.get("bureau", "/v1/agreements").json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
    body.as_object_mut().expect("object").remove("auto_renew");
    let agreement = server.ok("bureau", "/v1/agreements", &body, 201)["id"]
        .as_str()
        .expect("id")
        .to_string();

    server.publish_bundled("enterprise_registry");
    server.publish_bundled("tax_payments");
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let scenario = district_scenario("op-1", &sha);
    let refused = server.post(
        "op-1",
        "/v1/applications",
        &json!({ "agreement": agreement, "scenario": scenario, "valid_until": until, "priority": 1 }),
    );
    refused.assert_refused(422, "priority");
    let application = apply(&server, "op-1", &agreement, &scenario, until);
    assert_eq!(
        application.status,
        201,
        "{}",
        String::from_utf8_lossy(&application.body)
    );
    let id = application.json()["id"].as_str().expect("id").to_string();
    let reviews = format!("/v1/applications/{id}/reviews");

    let refused = server.post(
        "bureau",
        &reviews,
        &json!({ "decision": "approve", "reason": "ok", "conditions": "none" }),
    );
    refused.assert_refused(422, "conditions");
    // An array of the fields in order is not a review either.
    let refused = server.post("bureau", &reviews, &json!(["approve", "looks fine"]));
    refused.assert_refused(422, "JSON object");
    // Neither refusal reviewed anything: the bureau's review is still to be given.
    let shown = server
        .get("bureau", &format!("/v1/applications/{id}"))
        .json();
    assert_eq!(shown["status"], "pending", "{shown}");
    assert!(
        shown["reviews"]
            .as_array()
            .expect("reviews")
            .iter()
            .all(|r| r["decision"].is_null()),
        "{shown}"
    );
    server.ok(
        "bureau",
        &reviews,
        &json!({ "decision": "approve", "reason": "ok" }),
        200,
    );
}

#[test]
fn an_overlong_uri_is_414_with_the_json_error_body() {
    let server = Server::start();
    let path = format!("/v1/agreements?after={}", "x".repeat(10_000));
    let response = server.request("GET", &path, Some("bureau"), "application/json", b"");
    assert_eq!(response.status, 414);
    let body = response.json();
    assert_eq!(body["error"]["code"], "uri_too_long", "{body}");
    assert!(response.message().contains("8 KiB"), "{body}");
}

#[test]
fn the_public_key_is_served_without_a_token() {
    let server = Server::start();
    let response = server.request(
        "GET",
        "/v1/domain/public-key",
        None,
        "application/json",
        b"",
    );
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let body = response.json();
    let on_disk = std::fs::read_to_string(server.dir().join("keys").join("domain.pub"))
        .expect("the domain's key file");
    assert_eq!(body["public_key"].as_str(), Some(on_disk.trim()), "{body}");
    assert_eq!(body["algorithm"], "ed25519");
    assert_eq!(body["key_id"].as_str().map(str::len), Some(16), "{body}");
}
