//! Every refusal is audited, and states agree, through the real server: each kind of refused job
//! submission and a 403 leave a `refused.*` entry with actor, target and rule that the reviewer
//! guide's search finds; a flood is cut to the limit and the rest counted; a suspended operator's
//! agreements show as suspended; a terminated agreement's applications end at once; statuses say
//! who changed them, when and why; a queued job that never ran says so.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    agreement, agreement_end, application_end, apply, approve_all, client, days_from_now,
    district_scenario, Server,
};
use crate::support;

/// The `refused.*` entries of `actor` through the reviewer's documented search, as JSON.
fn refusals_of(server: &Server, actor: &str) -> Vec<Value> {
    let (code, out, all) = client(
        server,
        "reviewer",
        &[
            "--json", "audit", "show", "--action", "refused", "--actor", actor,
        ],
    );
    assert_eq!(code, 0, "{all}");
    let listed: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    listed["items"].as_array().expect("items").clone()
}

/// (action, subject, rule) of each entry.
fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&e["action"]),
                text(&e["subject"]),
                text(&e["details"]["rule"]),
            )
        })
        .collect()
}

/// POSTs a job submission as `who`; returns (status, message).
fn submit(server: &Server, who: &str, application: &str, sha: &str) -> (u16, String) {
    let answer = server.post(
        who,
        "/v1/jobs",
        &json!({ "application": application, "module_sha256": sha }),
    );
    (answer.status, answer.message())
}

/// Applies for district-stats under `agreement_id` (amending `amends`); returns the application.
fn apply_district(server: &Server, agreement_id: &str, sha: &str, amends: Option<&str>) -> Value {
    let answer = server.post(
        "op-1",
        "/v1/applications",
        &json!({
            "agreement": agreement_id,
            "scenario": district_scenario("op-1", sha),
            "valid_until": application_end(),
            "amends": amends,
        }),
    );
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

#[test]
fn every_kind_of_refusal_is_audited_and_states_agree() {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let sha = server.upload("op-1", &support::module("district_stats"));
    let first = apply_district(&server, &agreement_id, &sha, None);
    let app1 = first["id"].as_str().expect("id").to_string();

    // Pending review.
    let (status, message) = submit(&server, "op-1", &app1, &sha);
    assert_eq!((status, message.contains("pending review")), (409, true));
    approve_all(&server, &first);
    // A module other than the pinned one.
    assert_eq!(submit(&server, "op-1", &app1, &"e".repeat(64)).0, 409);
    // Another operator's application looks exactly like a missing one.
    let theirs = submit(&server, "op-2", &app1, &sha);
    let missing = submit(&server, "op-2", "app-999", &sha);
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs.1.replace(&app1, "app-999"), missing.1);
    // Roles: the bureau may not run jobs, a reviewer may not grant agreements.
    assert_eq!(submit(&server, "bureau", &app1, &sha).0, 403);
    let grant = server.post(
        "reviewer",
        "/v1/agreements",
        &json!({
            "operator": "op-2", "mode": "comprehensive", "scope": { "max_level": 3 },
            "term_start": days_from_now(-1), "term_end": agreement_end(),
            "security_requirements": "x", "exit_conditions": "y",
        }),
    );
    assert_eq!(grant.status, 403);
    // An objection suspends a dataset the application uses.
    let objection = server.ok(
        "op-2",
        "/v1/objections",
        &json!({ "dataset": "tax_payments", "reason": "一家企业的税额有误" }),
        201,
    );
    let objection_id = objection["id"].as_str().expect("id");
    assert_eq!(submit(&server, "op-1", &app1, &sha).0, 409);
    let tax = server.get("reviewer", "/v1/datasets/tax_payments").json();
    assert_eq!(tax["status"], "suspended", "{tax}");
    assert_eq!(tax["status_change"]["by"], "op-2", "{tax}");
    server.ok(
        "prov-tax",
        &format!("/v1/objections/{objection_id}/resolve"),
        &json!({ "resolution": "restore", "note": "核实无误" }),
        200,
    );
    // An approved amendment supersedes the application.
    let second = apply_district(&server, &agreement_id, &sha, Some(&app1));
    let app2 = second["id"].as_str().expect("id").to_string();
    approve_all(&server, &second);
    let (status, message) = submit(&server, "op-1", &app1, &sha);
    assert_eq!((status, message.contains("superseded")), (409, true));

    // A suspended operator: refused, its agreements shown suspended, by whom and why.
    server.ok(
        "bureau",
        "/v1/operators/op-1/suspend",
        &json!({ "reason": "年度评估不合格" }),
        200,
    );
    assert_eq!(submit(&server, "op-1", &app2, &sha).0, 409);
    let retry = apply(
        &server,
        "op-1",
        &agreement_id,
        &district_scenario("op-1", &sha),
        &application_end(),
    );
    assert_eq!(retry.status, 409);
    for who in ["op-1", "reviewer"] {
        let shown = server
            .get(who, &format!("/v1/agreements/{agreement_id}"))
            .json();
        assert_eq!(shown["status"], "suspended", "{shown}");
        assert_eq!(shown["status_change"]["by"], "bureau", "{shown}");
        assert_eq!(
            shown["status_change"]["reason"],
            "operator 'op-1' suspended: 年度评估不合格"
        );
        let listed = server.get(who, "/v1/agreements").json();
        assert_eq!(listed["items"][0]["status"], "suspended", "{listed}");
    }
    let (code, out, all) = client(&server, "reviewer", &["agreement", "show", &agreement_id]);
    assert_eq!(code, 0, "{all}");
    assert!(
        out.contains("suspended") && out.contains("by bureau at") && out.contains("年度评估不合格"),
        "{out}"
    );
    let me = server.get("op-1", "/v1/whoami").json();
    assert_eq!(me["status_change"]["reason"], "年度评估不合格", "{me}");
    server.ok(
        "bureau",
        "/v1/operators/op-1/restore",
        &json!({ "reason": "整改完成" }),
        200,
    );
    let shown = server
        .get("op-1", &format!("/v1/agreements/{agreement_id}"))
        .json();
    assert_eq!(shown["status"], "active", "{shown}");

    // A terminated agreement ends its applications at once, audited.
    server.ok(
        "bureau",
        &format!("/v1/agreements/{agreement_id}/terminate"),
        &json!({ "reason": "违反安全要求" }),
        200,
    );
    let ended = server
        .get("op-1", &format!("/v1/applications/{app2}"))
        .json();
    assert_eq!(ended["status"], "revoked", "{ended}");
    assert_eq!(ended["status_change"]["by"], "bureau", "{ended}");
    assert_eq!(
        ended["status_change"]["reason"],
        format!("agreement {agreement_id} was terminated: 违反安全要求")
    );
    let revoked = server
        .get(
            "reviewer",
            &format!("/v1/audit?action=gov.application.revoke&subject={app2}"),
        )
        .json();
    assert_eq!(
        revoked["items"][0]["details"]["cause"], "agreement_terminated",
        "{revoked}"
    );
    let (status, message) = submit(&server, "op-1", &app2, &sha);
    assert_eq!((status, message.contains("terminated")), (409, true));

    // The reviewer's search finds each refusal with its target and rule.
    let submit_job = |subject: &str, rule: &str| {
        (
            "refused.submitJob".to_string(),
            subject.to_string(),
            rule.to_string(),
        )
    };
    let op1 = refusals_of(&server, "op-1");
    assert_eq!(
        summary(&op1),
        vec![
            submit_job(&app1, "application_pending"),
            submit_job(&app1, "module_not_pinned"),
            submit_job(&app1, "dataset_unavailable"),
            submit_job(&app1, "application_superseded"),
            submit_job(&app2, "operator_suspended"),
            (
                "refused.submitApplication".to_string(),
                "/v1/applications".to_string(),
                "conflict".to_string()
            ),
            submit_job(&app2, "agreement_not_in_force"),
        ]
    );
    // What the suspended operator tried is there with the reason it was given.
    assert!(op1[5]["details"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("suspended"));
    assert_eq!(
        summary(&refusals_of(&server, "op-2")),
        vec![
            submit_job(&app1, "application_of_another_operator"),
            submit_job("app-999", "application_unknown"),
        ]
    );
    assert_eq!(
        summary(&refusals_of(&server, "bureau")),
        vec![submit_job(&app1, "role")]
    );
    assert_eq!(
        summary(&refusals_of(&server, "reviewer")),
        vec![(
            "refused.createAgreement".to_string(),
            "/v1/agreements".to_string(),
            "forbidden".to_string()
        )]
    );
    // The guide's command, as written in docs/reviewer.md.
    let (code, out, all) = client(
        &server,
        "reviewer",
        &["audit", "show", "--action", "refused", "--actor", "op-1"],
    );
    assert_eq!(code, 0, "{all}");
    assert!(
        out.contains("op-1 refused.submitJob") && out.contains("operator_suspended"),
        "{out}"
    );
    let (code, out, all) = client(
        &server,
        "reviewer",
        &["audit", "show", "--action", "refused.submitJob"],
    );
    assert_eq!(code, 0, "{all}");
    assert_eq!(out.matches(" refused.submitJob ").count(), 9, "{out}");
    // The refused party learned nothing: operators cannot read the log.
    assert_eq!(server.get("op-2", "/v1/audit?action=refused").status, 403);
    let verify = server.get("reviewer", "/v1/audit/verify");
    assert_eq!(verify.status, 200);
}

#[test]
fn a_flood_of_refusals_is_cut_to_the_limit_and_the_rest_counted() {
    let server = Server::start_with(&["--refusal-audit-limit", "5", "--refusal-window-secs", "2"]);
    let body = json!({
        "operator": "op-2", "mode": "comprehensive", "scope": { "max_level": 3 },
        "term_start": days_from_now(-1), "term_end": agreement_end(),
        "security_requirements": "x", "exit_conditions": "y",
    });
    for _ in 0..12 {
        let answer = server.post("prov-tax", "/v1/agreements", &body);
        assert_eq!(answer.status, 403);
    }
    // Five entries at once; the count of the other seven once the window has closed (the
    // server writes it within a window's length, without waiting for another refusal).
    let deadline = Instant::now() + Duration::from_secs(20);
    let entries = loop {
        let entries = refusals_of(&server, "prov-tax");
        if entries.len() > 5 || Instant::now() > deadline {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            vec!["refused.createAgreement"; 5],
            vec!["refused.suppressed"]
        ]
        .concat()
    );
    let count = &entries[5];
    assert_eq!(count["subject"], "prov-tax");
    assert_eq!(count["details"]["suppressed"], 7, "{count}");
    assert_eq!(count["details"]["limit"], 5, "{count}");
    // A new window writes again.
    assert_eq!(server.post("prov-tax", "/v1/agreements", &body).status, 403);
    assert_eq!(refusals_of(&server, "prov-tax").len(), 7);
}

#[test]
fn a_queued_job_stopped_before_it_ran_is_cancelled_not_failed() {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let looping_sha = server.upload("op-1", &support::module("infinite_loop"));
    let mut endless = district_scenario("op-1", &looping_sha);
    endless["scenario"]["id"] = json!("endless");
    endless["limits"]["fuel"] = json!(1_000_000_000_000u64);
    let application = apply(&server, "op-1", &agreement_id, &endless, &application_end());
    assert_eq!(application.status, 201);
    let app = approve_all(&server, &application.json())["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Two workers: two jobs run for ever, the third waits.
    let jobs: Vec<String> = (0..3)
        .map(|_| {
            server.ok(
                "op-1",
                "/v1/jobs",
                &json!({ "application": app, "module_sha256": looping_sha }),
                202,
            )["id"]
                .as_str()
                .expect("job id")
                .to_string()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while jobs[..2]
        .iter()
        .any(|id| server.get("op-1", &format!("/v1/jobs/{id}")).json()["state"] != "running")
    {
        assert!(Instant::now() < deadline, "the first two jobs run");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        server.get("op-1", &format!("/v1/jobs/{}", jobs[2])).json()["state"],
        "queued"
    );
    server.ok(
        "bureau",
        "/v1/operators/op-1/suspend",
        &json!({ "reason": "年度评估不合格" }),
        200,
    );
    for (id, detail) in [
        (&jobs[0], "operator suspended while it ran"),
        (&jobs[1], "operator suspended while it ran"),
        (&jobs[2], "operator suspended before it started"),
    ] {
        let job = server.wait_job("bureau", id);
        assert_eq!(job["state"], "cancelled", "{job}");
        assert_eq!(job["detail"], detail, "{job}");
    }
    let never_ran = server
        .get("bureau", &format!("/v1/jobs/{}", jobs[2]))
        .json();
    assert!(never_ran["started_at"].is_null(), "{never_ran}");
}
