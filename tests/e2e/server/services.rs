//! Verification and data services through the real server: consents, answers inside their
//! contract, refusals with their rules, the transparency view, usage, and hostile service
//! modules that answer outside the contract, spin, trap, keep state or reach for other rows.

use std::collections::BTreeMap;

use arrow::array::Array;

use serde_json::{json, Value};

use super::{agreement, agreement_end, approved, days_from_now, Server};
use crate::support;

/// Answer runs get this long in the tests: a loaded test machine must not turn answers into
/// timeouts (the example's own 50 ms is for the demo and the bench).
const TEST_TIMEOUT_MS: u32 = 400;

/// (usci, status) of every enterprise in the bundled registry, and each one's tax rows.
fn enterprises() -> (Vec<(String, String)>, BTreeMap<String, usize>) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let read = |dataset: &str| {
        let file = std::fs::File::open(support::datasets().join(dataset).join("data.parquet"))
            .expect("bundled parquet");
        ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader")
            .map(|b| b.expect("batch"))
            .collect::<Vec<_>>()
    };
    let text = |batch: &arrow::record_batch::RecordBatch, column: &str| -> Vec<String> {
        let array = batch.column_by_name(column).expect("column");
        let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8).expect("cast");
        let strings = array
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("utf8");
        (0..strings.len())
            .map(|i| strings.value(i).to_string())
            .collect()
    };
    let mut registry = Vec::new();
    for batch in read("enterprise_registry") {
        registry.extend(text(&batch, "usci").into_iter().zip(text(&batch, "status")));
    }
    let mut tax: BTreeMap<String, usize> = BTreeMap::new();
    for batch in read("tax_payments") {
        for usci in text(&batch, "usci") {
            *tax.entry(usci).or_default() += 1;
        }
    }
    (registry, tax)
}

/// The example's scenario as `op-1`'s, its module pinned, with the tests' reply time.
fn prescreen_scenario(sha: &str) -> Value {
    let module = support::module("sme_prescreen");
    let mut scenario = support::scenario("sme-prescreen", &module);
    scenario.scenario.operator = "op-1".into();
    scenario.scenario.module_sha256 = sha.into();
    scenario.services[0].timeout_ms = TEST_TIMEOUT_MS;
    serde_json::to_value(&scenario).expect("scenario as JSON")
}

/// A server with the three enterprise datasets and op-1's agreement.
fn server_with_enterprise_data() -> (Server, String) {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments", "social_insurance"] {
        server.publish_bundled(dataset);
    }
    let agreement = agreement(&server, "op-1", &agreement_end());
    (server, agreement)
}

fn consent(server: &Server, who: &str, service: &str, usci: &str, valid_from: &str) -> Value {
    server.ok(
        who,
        "/v1/consents",
        &json!({
            "service": service, "subject_kind": "usci", "subject": usci,
            "purpose": "贷前预筛查", "evidence_sha256": "ab".repeat(32),
            "valid_from": valid_from, "valid_until": days_from_now(30),
        }),
        201,
    )
}

fn call(
    server: &Server,
    who: &str,
    service: &str,
    usci: &str,
    consent: &str,
    params: Value,
) -> super::Response {
    server.post(
        who,
        &format!("/v1/services/{service}/answers"),
        &json!({ "subject": usci, "consent": consent, "params": params }),
    )
}

/// The rules of the `refused.callService` entries, in log order.
fn refusal_rules(server: &Server) -> Vec<String> {
    let page = server.get("reviewer", "/v1/audit?action=refused.callService&limit=500");
    assert_eq!(page.status, 200);
    page.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["details"]["rule"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_consented_call_is_answered_inside_its_contract_and_every_refusal_names_its_rule() {
    let (server, agreement) = server_with_enterprise_data();
    let module = support::module("sme_prescreen");
    let sha = server.upload("op-1", &module);
    let app = approved(&server, "op-1", &agreement, &prescreen_scenario(&sha));
    let service = "sme-prescreen.prescreen";
    // Reviewers saw what one answer can carry: a band of 5 and three reasons of 8 or none.
    let contract = server.get("bureau", &format!("/v1/applications/{app}/contract"));
    assert_eq!(contract.status, 200);
    let contract = contract.json();
    let bits = contract["services"][0]["answer_bits"]
        .as_f64()
        .expect("bits");
    let expected = 5f64.log2() + 3.0 * 9f64.log2();
    assert!((bits - expected).abs() < 0.01, "{bits} bits, {contract}");
    let (registry, _) = enterprises();
    let operating: Vec<&str> = registry
        .iter()
        .filter(|(_, s)| s == "存续")
        .map(|(u, _)| u.as_str())
        .collect();
    let (alice, bob) = (operating[0], operating[1]);

    // A consent for alice; a consent cannot be recorded for a service one does not have, nor
    // for an already past period, nor without its evidence.
    let granted = consent(&server, "op-1", service, alice, &days_from_now(-1));
    let consent_id = granted["id"].as_str().expect("id").to_string();
    assert!(
        !granted.to_string().contains(alice),
        "the identifier is not stored: {granted}"
    );
    server
        .post(
            "op-2",
            "/v1/consents",
            &json!({
                "service": service, "subject_kind": "usci", "subject": alice, "purpose": "x",
                "evidence_sha256": "ab".repeat(32), "valid_until": days_from_now(30),
            }),
        )
        .assert_refused(404, "service 'sme-prescreen.prescreen'");
    server
        .post(
            "op-1",
            "/v1/consents",
            &json!({
                "service": service, "subject_kind": "usci", "subject": alice, "purpose": "x",
                "evidence_sha256": "ab".repeat(32), "valid_until": days_from_now(-1),
            }),
        )
        .assert_refused(422, "valid_until");
    server
        .post(
            "op-1",
            "/v1/consents",
            &json!({
                "service": service, "subject_kind": "usci", "subject": alice, "purpose": "x",
                "evidence_sha256": "not-a-hash", "valid_until": days_from_now(3),
            }),
        )
        .assert_refused(422, "evidence_sha256");

    // Answered: every field is a declared value.
    let reply = call(
        &server,
        "op-1",
        service,
        alice,
        &consent_id,
        json!({ "amount": 500_000 }),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let reply = reply.json();
    assert_eq!(reply["outcome"], "answered", "{reply}");
    let answer = reply["answer"].as_object().expect("answer");
    assert_eq!(
        answer.keys().cloned().collect::<Vec<_>>(),
        ["band", "reason_1", "reason_2", "reason_3"],
        "{reply}"
    );
    assert!(["A", "B", "C", "D", "E"].contains(&answer["band"].as_str().expect("band")));
    for reason in ["reason_1", "reason_2", "reason_3"] {
        let value = &answer[reason];
        assert!(
            value.is_null() || value.as_str().is_some_and(|r| r.starts_with('R')),
            "{reply}"
        );
    }
    let call_id = reply["call"].as_str().expect("call id").to_string();

    // Refusals, each audited with its rule.
    call(
        &server,
        "op-1",
        service,
        bob,
        &consent_id,
        json!({ "amount": 1 }),
    )
    .assert_refused(409, "not this subject's");
    call(
        &server,
        "op-1",
        service,
        alice,
        "cs-999999",
        json!({ "amount": 1 }),
    )
    .assert_refused(404, "consent 'cs-999999'");
    call(
        &server,
        "op-1",
        service,
        "91110000XXXXXXXXX1",
        &consent_id,
        json!({ "amount": 1 }),
    )
    .assert_refused(422, "not a well-formed unified social credit code");
    call(
        &server,
        "op-1",
        service,
        alice,
        &consent_id,
        json!({ "amount": 0 }),
    )
    .assert_refused(422, "outside its declared range");
    call(&server, "op-1", service, alice, &consent_id, json!({}))
        .assert_refused(422, "'amount' is missing");
    call(
        &server,
        "op-1",
        service,
        alice,
        &consent_id,
        json!({ "amount": 1, "leak": 1 }),
    )
    .assert_refused(422, "'leak' is not declared");
    call(
        &server,
        "op-2",
        service,
        alice,
        &consent_id,
        json!({ "amount": 1 }),
    )
    .assert_refused(404, "service 'sme-prescreen.prescreen'");
    call(
        &server,
        "op-1",
        "sme-prescreen.nothing",
        alice,
        &consent_id,
        json!({ "amount": 1 }),
    )
    .assert_refused(404, "service 'sme-prescreen.nothing'");
    call(
        &server,
        "bureau",
        service,
        alice,
        &consent_id,
        json!({ "amount": 1 }),
    )
    .assert_refused(403, "operator");
    // A consent valid only from tomorrow is not in force yet.
    let later = consent(&server, "op-1", service, bob, &days_from_now(1));
    call(
        &server,
        "op-1",
        service,
        bob,
        later["id"].as_str().expect("id"),
        json!({ "amount": 1 }),
    )
    .assert_refused(409, "valid only from");

    // Revoked by the bureau on the subject's request: refused from then on.
    let revoked = server.ok(
        "bureau",
        &format!("/v1/consents/{consent_id}/revoke"),
        &json!({ "reason": "企业撤回授权" }),
        200,
    );
    assert_eq!(revoked["status"], "revoked");
    call(
        &server,
        "op-1",
        service,
        alice,
        &consent_id,
        json!({ "amount": 1 }),
    )
    .assert_refused(409, "revoked");
    // A consent past its validity: refused as expired.
    let carol = operating[2];
    let brief = server.ok(
        "op-1",
        "/v1/consents",
        &json!({
            "service": service, "subject_kind": "usci", "subject": carol,
            "purpose": "贷前预筛查", "evidence_sha256": "ab".repeat(32),
            "valid_until": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339(),
        }),
        201,
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    call(
        &server,
        "op-1",
        service,
        carol,
        brief["id"].as_str().expect("id"),
        json!({ "amount": 1 }),
    )
    .assert_refused(409, "expired");
    assert_eq!(
        refusal_rules(&server),
        [
            "consent_not_covering",
            "consent_unknown",
            "identifier_malformed",
            "params_invalid",
            "params_invalid",
            "params_invalid",
            "service_unknown",
            "service_unknown",
            "role",
            "consent_not_in_force",
            "consent_revoked",
            "consent_not_in_force",
        ]
    );

    // The transparency view: the bureau finds the call about alice, with its answer; nothing
    // about bob, whose calls were all refused. Operators may not look.
    let about = server.ok(
        "bureau",
        "/v1/subjects/calls",
        &json!({ "kind": "usci", "id": alice }),
        200,
    );
    let calls = about["items"].as_array().expect("items");
    assert_eq!(calls.len(), 1, "{about}");
    assert_eq!(calls[0]["id"], call_id.as_str());
    assert_eq!(calls[0]["operator"], "op-1");
    assert_eq!(calls[0]["service"], service);
    assert_eq!(calls[0]["application"], app.as_str());
    assert_eq!(calls[0]["answer"], reply["answer"]);
    let none = server.ok(
        "reviewer",
        "/v1/subjects/calls",
        &json!({ "kind": "usci", "id": bob }),
        200,
    );
    assert_eq!(none["items"], json!([]));
    server
        .post(
            "op-1",
            "/v1/subjects/calls",
            &json!({ "kind": "usci", "id": alice }),
        )
        .assert_refused(403, "bureau");
    let consents = server.ok(
        "bureau",
        "/v1/subjects/consents",
        &json!({ "kind": "usci", "id": alice }),
        200,
    );
    assert_eq!(
        consents["items"].as_array().map(Vec::len),
        Some(1),
        "{consents}"
    );

    // Usage: one answered call today, for the bureau and for op-1 itself.
    let usage = server.get("bureau", "/v1/services/usage");
    assert_eq!(usage.status, 200);
    let rows = usage.json()["rows"].clone();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["answered"], 1);
    assert_eq!(rows[0]["failed"], 0);
    assert_eq!(
        server.get("op-1", "/v1/services/usage").json()["rows"],
        rows
    );
    server
        .get("op-1", "/v1/services/usage?operator=op-2")
        .assert_refused(403, "its own usage");

    // The audit log has the call with its subject reference, never the identifier.
    let entries = server
        .get("reviewer", "/v1/audit?action=service.answer")
        .json();
    let entry = &entries["items"][0];
    assert_eq!(entry["subject"], call_id.as_str(), "{entries}");
    assert_eq!(entry["details"]["outcome"], "answered");
    assert!(!entries.to_string().contains(alice));

    // Wrong roles are refused with the role needed; another operator sees nothing of op-1's.
    for who in ["reviewer", "prov-market", "bureau"] {
        server
            .post(
                who,
                "/v1/consents",
                &json!({
                    "service": service, "subject_kind": "usci", "subject": alice, "purpose": "x",
                    "evidence_sha256": "ab".repeat(32), "valid_until": days_from_now(3),
                }),
            )
            .assert_refused(403, "operator");
    }
    for who in ["reviewer", "prov-market"] {
        server
            .post(
                who,
                &format!("/v1/consents/{consent_id}/revoke"),
                &json!({ "reason": "x" }),
            )
            .assert_refused(403, "revoke consents");
    }
    server
        .get("prov-market", "/v1/services/usage")
        .assert_refused(403, "usage");
    server
        .post(
            "prov-market",
            "/v1/subjects/consents",
            &json!({ "kind": "usci", "id": alice }),
        )
        .assert_refused(403, "bureau");
    server
        .get("op-2", &format!("/v1/consents/{consent_id}"))
        .assert_refused(404, "consent");
    server
        .get("op-2", &format!("/v1/service-calls/{call_id}"))
        .assert_refused(404, "service call");
    server
        .post(
            "op-2",
            &format!("/v1/consents/{consent_id}/revoke"),
            &json!({ "reason": "x" }),
        )
        .assert_refused(404, "consent");
    assert_eq!(
        server
            .get("op-1", &format!("/v1/service-calls/{call_id}"))
            .status,
        200
    );

    let verified = server.get("reviewer", "/v1/audit/verify");
    assert_eq!(
        verified.status,
        200,
        "{}",
        String::from_utf8_lossy(&verified.body)
    );

    // `audit verify` holds the call records to the log: an answer edited in the database after
    // the fact no longer matches its `service.answer` entry.
    let (code, out, err) = super::shuyu(server.dir(), &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 service calls, 3 consents"), "{out}");
    let db = rusqlite::Connection::open(server.dir().join("shuyu.db")).expect("database");
    db.execute(
        r#"UPDATE service_calls SET answer = '{"band":"Z"}' WHERE seq = 1"#,
        [],
    )
    .expect("update");
    let (code, out, err) = super::shuyu(server.dir(), &["audit", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("service call call-00000001"),
        "{out}{err}"
    );
}

/// The hostile module's modes, all declared so that only the module's behaviour differs.
const MODES: [&str; 14] = [
    "honest",
    "outside",
    "extra",
    "two_rows",
    "rows_two",
    "rows_cut",
    "rows_swapped",
    "twice",
    "spin",
    "trap",
    "grow",
    "query",
    "state",
    "none",
];

fn hostile_scenario(sha: &str) -> Value {
    json!({
        "scenario": {
            "id": "svc-hostile", "title": "hostile service", "operator": "op-1",
            "purpose": "tests", "module_sha256": sha,
        },
        "grant": [{ "dataset": "tax_payments", "columns": ["usci", "month", "amount"] }],
        "limits": { "entity_fuel": 2_000_000_000_u64, "entity_memory_mib": 16 },
        "service": [{
            "name": "probe", "subject": "usci", "timeout_ms": TEST_TIMEOUT_MS,
            "rate_per_second": 1000, "daily_quota": 1000, "calls_per_consent": 1000,
            "param": [{ "name": "mode", "type": "utf8", "values": MODES }],
            "answer": [
                { "name": "band", "values": ["A", "B", "C", "D", "E"] },
                { "name": "rows", "buckets": [0, 1, 2, 10, 100, 1000] },
            ],
        }, {
            "name": "metered", "subject": "usci", "timeout_ms": 10,
            "rate_per_second": 1, "daily_quota": 2, "calls_per_consent": 1000,
            "param": [{ "name": "mode", "type": "utf8", "values": MODES }],
            "answer": [
                { "name": "band", "values": ["A", "B", "C", "D", "E"] },
                { "name": "rows", "buckets": [0, 1, 2, 10, 100, 1000] },
            ],
        }, {
            "name": "once", "subject": "usci", "timeout_ms": 10, "calls_per_consent": 1,
            "param": [{ "name": "mode", "type": "utf8", "values": MODES }],
            "answer": [{ "name": "band", "values": ["A", "B", "C", "D", "E"] }],
        }],
    })
}

#[test]
fn hostile_service_modules_get_no_answer_past_the_contract_and_leave_the_server_unharmed() {
    let server = Server::start();
    server.publish_bundled("tax_payments");
    let agreement = agreement(&server, "op-1", &agreement_end());
    let module = support::module("service_hostile");
    let sha = server.upload("op-1", &module);
    approved(&server, "op-1", &agreement, &hostile_scenario(&sha));
    let (_, tax) = enterprises();
    let (subject, rows) = tax
        .iter()
        .find(|(_, &n)| (10..100).contains(&n))
        .expect("a payer");
    let probe = consent(
        &server,
        "op-1",
        "svc-hostile.probe",
        subject,
        &days_from_now(-1),
    );
    let probe = probe["id"].as_str().expect("id").to_string();
    let ask = |mode: &str| {
        let reply = call(
            &server,
            "op-1",
            "svc-hostile.probe",
            subject,
            &probe,
            json!({ "mode": mode }),
        );
        assert_eq!(
            reply.status,
            200,
            "{mode}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    };

    // The honest answer buckets the subject's own row count: the run saw its rows, all of them.
    let honest = ask("honest");
    assert_eq!(
        honest["answer"],
        json!({ "band": "A", "rows": "[10, 100)" }),
        "{rows} rows"
    );
    // A fresh instance per call: a static counter is 1 every time.
    for _ in 0..3 {
        assert_eq!(ask("state")["answer"]["rows"], "[1, 2)");
    }
    // query is not available in an answer run: the module answers "A" only if it failed.
    assert_eq!(ask("query")["answer"]["band"], "A");
    // A second answer never replaces the first, nor its numbers reach the caller.
    let twice = ask("twice");
    assert_ne!(twice["answer"]["rows"], "[100, 1000]", "{twice}");

    // Everything else gets the same uniform "no answer", whatever went wrong.
    let mut failures = BTreeMap::new();
    for mode in [
        "outside",
        "extra",
        "two_rows",
        "rows_two",
        "rows_cut",
        "rows_swapped",
        "spin",
        "trap",
        "grow",
        "none",
    ] {
        let reply = ask(mode);
        assert_eq!(reply["outcome"], "failed", "{mode}: {reply}");
        assert_eq!(reply["failure"], "no_answer", "{mode}: {reply}");
        assert_eq!(reply["answer"], Value::Null, "{mode}: {reply}");
        failures.insert(reply["call"].as_str().expect("call").to_string(), mode);
    }
    // Reviewers see why, in the audit log; the pseudonym `extra` tried to smuggle is not there.
    let entries = server
        .get("reviewer", "/v1/audit?action=service.answer&limit=500")
        .json();
    let mut why = BTreeMap::new();
    for entry in entries["items"].as_array().expect("items") {
        if let Some(mode) = failures.get(entry["subject"].as_str().unwrap_or("")) {
            why.insert(
                *mode,
                entry["details"]["failure"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    let expect = |mode: &str, what: &str| {
        assert!(why[mode].contains(what), "{mode}: {}", why[mode]);
    };
    expect("outside", "outside its declared values");
    expect("extra", "does not declare");
    expect("two_rows", "exactly one row");
    expect("rows_two", "exactly one row; the module handed over 2");
    expect("rows_cut", "not valid contribution rows");
    expect("rows_swapped", "must be Utf8, not Float64");
    expect("trap", "trap:unreachable");
    expect("none", "no_answer_handed_over");
    assert!(
        why["spin"].contains("limit:fuel") || why["spin"].contains("limit:answer_time"),
        "{}",
        why["spin"]
    );
    assert!(!why["grow"].is_empty());

    // The server is unharmed: the honest answer is still the same.
    assert_eq!(ask("honest")["answer"], honest["answer"]);

    // Limits: 1 call per second, then 2 a day, each a refusal with its rule.
    let metered = consent(
        &server,
        "op-1",
        "svc-hostile.metered",
        subject,
        &days_from_now(-1),
    );
    let metered = metered["id"].as_str().expect("id").to_string();
    let ask_metered = || {
        call(
            &server,
            "op-1",
            "svc-hostile.metered",
            subject,
            &metered,
            json!({ "mode": "honest" }),
        )
    };
    assert_eq!(ask_metered().status, 200);
    ask_metered().assert_refused(429, "at most 1 calls per second");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(ask_metered().status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ask_metered().assert_refused(429, "at most 2 calls a day");

    // One consent, one call: a caller cannot bisect a subject's figures through the
    // parameters with many calls under one consent.
    let once = consent(
        &server,
        "op-1",
        "svc-hostile.once",
        subject,
        &days_from_now(-1),
    );
    let once = once["id"].as_str().expect("id").to_string();
    let ask_once = || {
        call(
            &server,
            "op-1",
            "svc-hostile.once",
            subject,
            &once,
            json!({ "mode": "honest" }),
        )
    };
    assert_eq!(ask_once().status, 200);
    ask_once().assert_refused(429, "at most 1 calls");

    // A well-formed identifier with no rows in the service's data: refused before any run.
    let stranger = shuyu_datasets::make_usci("110105", "MA09XXXX").expect("usci");
    assert!(!tax.contains_key(&stranger));
    let theirs = consent(
        &server,
        "op-1",
        "svc-hostile.probe",
        &stranger,
        &days_from_now(-1),
    );
    call(
        &server,
        "op-1",
        "svc-hostile.probe",
        &stranger,
        theirs["id"].as_str().expect("id"),
        json!({ "mode": "honest" }),
    )
    .assert_refused(
        404,
        "no dataset of service svc-hostile.probe has records of this subject",
    );
    assert_eq!(
        refusal_rules(&server),
        [
            "rate_limited",
            "daily_quota",
            "consent_calls_used",
            "subject_unknown"
        ]
    );

    // One scenario holds at most 4 of the server's 16 instance slots: of six spinning calls at
    // once, those beyond the fourth are refused before they run.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let spin = json!({ "mode": "spin" });
                    call(&server, "op-1", "svc-hostile.probe", subject, &probe, spin).status
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().expect("call")).collect()
    });
    assert!(
        statuses.iter().filter(|&&s| s == 200).count() <= 4,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        refusal_rules(&server).last().map(String::as_str),
        Some("service_busy")
    );
    // Once they have ended, the scenario answers again.
    assert_eq!(ask("honest")["answer"], honest["answer"]);

    // A scenario whose pinned module has no `shuyu_answer` (a job's module) cannot answer: the
    // call is refused before any run, naming the module.
    let jobs_only = server.upload("op-1", &support::module("district_stats"));
    let mut no_answer_export = hostile_scenario(&jobs_only);
    no_answer_export["scenario"]["id"] = json!("svc-jobs-module");
    approved(&server, "op-1", &agreement, &no_answer_export);
    let theirs = consent(
        &server,
        "op-1",
        "svc-jobs-module.probe",
        subject,
        &days_from_now(-1),
    );
    call(
        &server,
        "op-1",
        "svc-jobs-module.probe",
        subject,
        theirs["id"].as_str().expect("id"),
        json!({ "mode": "honest" }),
    )
    .assert_refused(409, "does not export `shuyu_answer`");
    assert_eq!(
        refusal_rules(&server).last().map(String::as_str),
        Some("service_module_invalid")
    );
}
