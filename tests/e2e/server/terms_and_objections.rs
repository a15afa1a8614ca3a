//! Strict governance input through the real server and command line: agreements name registered
//! datasets and a bounded term; a second objection joins the open one; the same data again is
//! not a treatment; the calendar's make-up days and holidays are checked against the weekday.

use serde_json::json;

use super::{agreement_end, days_from_now, shuyu, Server};

#[test]
fn agreements_need_registered_datasets_and_a_bounded_term() {
    let server = Server::start();
    server.publish_bundled("enterprise_registry");
    let body = |datasets: &[&str], start: String, end: String| {
        json!({
            "operator": "op-1", "mode": "tiered",
            "scope": { "datasets": datasets, "max_level": 3 },
            "term_start": start, "term_end": end,
            "security_requirements": "x", "exit_conditions": "y",
        })
    };
    let refused = |body: serde_json::Value, expected: &str| {
        let response = server.post("bureau", "/v1/agreements", &body);
        assert_eq!(response.status, 422, "{expected}");
        let message = response.message();
        assert!(message.contains(expected), "{expected}\n{message}");
    };
    refused(
        body(&["enterprise_registy"], days_from_now(-1), agreement_end()),
        "scope.datasets: dataset 'enterprise_registy' is not registered",
    );
    refused(
        body(
            &["enterprise_registry"],
            days_from_now(1),
            days_from_now(-1),
        ),
        "must be after term_start",
    );
    refused(
        body(
            &["enterprise_registry"],
            days_from_now(0),
            days_from_now(1097),
        ),
        "longer than the longest allowed, 1096 days",
    );
    let listed = server.get("bureau", "/v1/agreements").json();
    assert_eq!(listed["items"], json!([]), "nothing stored: {listed}");
    let granted = server.ok(
        "bureau",
        "/v1/agreements",
        &body(&["enterprise_registry"], days_from_now(-1), agreement_end()),
        201,
    );
    assert_eq!(granted["status"], "active");
}

#[test]
fn a_second_objection_joins_and_the_same_data_is_not_a_treatment() {
    let server = Server::start();
    server.publish_bundled("tax_payments");
    let first = server.ok(
        "reviewer",
        "/v1/objections",
        &json!({ "dataset": "tax_payments", "reason": "某个体户可被识别" }),
        201,
    );
    let id = first["id"].as_str().expect("id").to_string();
    let second = server.ok(
        "op-2",
        "/v1/objections",
        &json!({ "dataset": "tax_payments", "reason": "本公司纳税额可见" }),
        201,
    );
    assert_eq!(second["id"], first["id"], "joined: {second}");
    assert_eq!(second["joined"][0]["filed_by"], "op-2");
    assert_eq!(second["joined"][0]["reason"], "本公司纳税额可见");
    let listed = server.get("reviewer", "/v1/objections").json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // The same bytes again: published (a new version), but not a treatment.
    let record = server.publish_bundled("tax_payments");
    assert_eq!(record["status"], "suspended", "{record}");
    let resolve = |resolution: &str| {
        server.post(
            "prov-tax",
            &format!("/v1/objections/{id}/resolve"),
            &json!({ "resolution": resolution, "note": "已处理" }),
        )
    };
    let refused = resolve("restore_after_treatment");
    assert_eq!(refused.status, 409);
    assert!(
        refused.message().contains("not a treatment"),
        "{}",
        refused.message()
    );
    let dataset = server.get("op-1", "/v1/datasets/tax_payments").json();
    assert_eq!(dataset["status"], "suspended", "{dataset}");

    // Withdrawn after the objection, the same data does not bring the dataset back.
    let withdrawn = resolve("withdraw");
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.message());
    assert_eq!(withdrawn.json()["joined"][0]["filed_by"], "op-2");
    let folder = crate::support::repo().join("datasets/tax_payments");
    use base64::Engine as _;
    let again = server.post(
        "prov-tax",
        "/v1/datasets/tax_payments/versions",
        &json!({
            "manifest": std::fs::read_to_string(folder.join("dataset.toml")).expect("manifest"),
            "parquet_base64": base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(folder.join("data.parquet")).expect("parquet")),
        }),
    );
    assert_eq!(again.status, 409);
    assert!(
        again.message().contains("byte-identical to version 1"),
        "{}",
        again.message()
    );
    let dataset = server.get("op-1", "/v1/datasets/tax_payments").json();
    assert_eq!(dataset["status"], "withdrawn", "{dataset}");
}

#[test]
fn the_calendar_checks_make_up_days_and_holidays_against_the_weekday() {
    let dir = tempfile::tempdir().expect("temp dir");
    let set = |extra: &[&str]| {
        let mut args = vec!["admin", "calendar", "set", "--review-days", "10"];
        args.extend_from_slice(extra);
        shuyu(dir.path(), &args)
    };
    // 2026-10-09 is a Friday, 2026-10-03 a Saturday.
    let (code, out, err) = set(&["--workday", "2026-10-09"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("make-up working day 2026-10-09 is a Friday"),
        "{err}"
    );
    let (code, out, err) = set(&["--holiday", "2026-10-03"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("holiday 2026-10-03 is a Saturday"), "{err}");
    let (code, out, err) = set(&[
        "--holiday",
        "2026-10-01,2026-10-02",
        "--workday",
        "2026-10-10",
    ]);
    assert_eq!(code, 0, "{out}{err}");
}
