//! The effective contract through the real server: an application looser than a manifest is
//! refused at submission naming the column and the rule; an accepted one shows the contract as
//! the guard enforces it, and a job's product manifest (the guard's own record of the rules it
//! applied) says the same, also after a provider tightens its manifest.

use serde_json::{json, Value};

use super::{
    agreement, agreement_end, application_end, apply, approve_all, client, date_from_now,
    district_scenario, Server,
};
use crate::support;

/// Publishes a version of `enterprise_registry` whose manifest `edit` changed, as its provider.
fn publish_registry_with(server: &Server, edit: impl FnOnce(String) -> String) -> Value {
    let folder = support::repo().join("datasets").join("enterprise_registry");
    let manifest = std::fs::read_to_string(folder.join("dataset.toml")).expect("manifest");
    let edited = edit(manifest.clone());
    assert_ne!(edited, manifest, "the edit changed the manifest");
    let parquet = std::fs::read(folder.join("data.parquet")).expect("parquet");
    use base64::Engine as _;
    let body = json!({
        "manifest": edited,
        "parquet_base64": base64::engine::general_purpose::STANDARD.encode(parquet),
    });
    server.ok(
        "prov-market",
        "/v1/datasets/enterprise_registry/versions",
        &body,
        201,
    )
}

/// Runs one job under `app` and returns its product's `manifest.json`.
fn product_manifest(server: &Server, app: &str, sha: &str) -> Value {
    let submitted = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );
    let job = server.wait_job("op-1", submitted["id"].as_str().expect("job id"));
    assert_eq!(job["state"], "completed", "{job}");
    let product = job["releases"][0]["product"]
        .as_str()
        .unwrap_or_else(|| panic!("a product: {job}"));
    let got = server.get(
        "op-1",
        &format!("/v1/products/{product}/files/manifest.json"),
    );
    assert_eq!(got.status, 200);
    got.json()
}

/// The effective contract's release agrees with the rules the guard recorded in the product.
fn assert_guard_enforced(contract: &Value, manifest: &Value) {
    let release = &contract["releases"][0];
    let policy = &manifest["policy"];
    assert_eq!(policy["effective_k"], release["k"], "{policy}");
    let measures = release["measures"].as_array().expect("measures");
    let applied = policy["contract"]["measure"].as_array().expect("measures");
    assert_eq!(measures.len(), applied.len());
    for (shown, used) in measures.iter().zip(applied) {
        assert_eq!(shown["name"], used["name"]);
        assert_eq!(shown["clamp"], used["clamp"], "{}", shown["name"]);
        assert_eq!(shown["aggregations"], used["aggregations"]);
    }
    assert_eq!(
        release["max_rows_per_entity"],
        policy["contract"]["max_rows_per_entity"]
    );
}

#[test]
fn a_looser_application_is_refused_and_an_accepted_one_shows_what_the_guard_enforces() {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let until = &application_end();

    // Looser than the manifests: k below min_k and a clamp wider than the provider's bound.
    let mut looser = district_scenario("op-1", &sha);
    looser["release"][0]["k"] = json!(3);
    looser["release"][0]["measure"][0]["clamp"] = json!([0.0, 1e9]);
    let refused = apply(&server, "op-1", &agreement_id, &looser, until);
    assert_eq!(refused.status, 422);
    let message = refused.message();
    for part in [
        "looser than its providers' manifests",
        "release 'district_stats' measure 'capital': rule clamp of \
         enterprise_registry.registered_capital: asks [0, 1000000000], the manifest allows \
         within [0, 1000000]",
        "release 'district_stats': rule min_k of enterprise_registry: asks k = 3, the manifest \
         allows k >= 5",
    ] {
        assert!(message.contains(part), "{part}\n{message}");
    }
    let listed = server.get("op-1", "/v1/applications").json();
    assert_eq!(listed["items"], json!([]), "nothing was stored: {listed}");

    // The command line shows the same refusal (bad input: exit 2).
    let path = server.dir().join("looser.toml");
    let file: shuyu::governance::ScenarioFile = serde_json::from_value(looser).expect("scenario");
    std::fs::write(&path, toml::to_string(&file).expect("toml")).expect("write");
    let (code, _, out) = client(
        &server,
        "op-1",
        &[
            "scenario",
            "apply",
            "--agreement",
            &agreement_id,
            "--scenario",
            path.to_str().expect("utf-8"),
            "--until",
            &date_from_now(365),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("rule clamp of enterprise_registry.registered_capital"),
        "{out}"
    );

    // The bundled scenario is within the manifests: accepted, and its effective contract is
    // what the guard enforces.
    let accepted = apply(
        &server,
        "op-1",
        &agreement_id,
        &district_scenario("op-1", &sha),
        until,
    );
    assert_eq!(accepted.status, 201, "{}", accepted.message());
    let app = approve_all(&server, &accepted.json());
    let app = app["id"].as_str().expect("id").to_string();
    let path = format!("/v1/applications/{app}/contract");
    let contract = server.get("op-1", &path);
    assert_eq!(
        contract.status,
        200,
        "{}",
        String::from_utf8_lossy(&contract.body)
    );
    let contract = contract.json();
    assert_eq!(contract["looser"], json!([]), "{contract}");
    assert_eq!(contract["releases"][0]["k"], 5);
    assert_eq!(
        contract["releases"][0]["measures"][0]["clamp"],
        json!([0.0, 100000.0])
    );
    assert_eq!(contract["datasets"][0]["columns"][0]["name"], "usci");
    assert_eq!(contract["datasets"][0]["columns"][0]["pseudonymized"], true);
    let manifest = product_manifest(&server, &app, &sha);
    assert_guard_enforced(&contract, &manifest);
    let job = manifest["job_id"].as_str().expect("job id");
    let start = server
        .get("reviewer", &format!("/v1/audit?job={job}&action=job.start"))
        .json();
    assert_eq!(start["items"].as_array().map(Vec::len), Some(1), "{start}");
    assert!(start["items"][0]["details"]["manifest_applies"].is_null());
    // Whoever may see the application may see its contract; another operator may not.
    for who in ["bureau", "reviewer", "prov-tax"] {
        assert_eq!(server.get(who, &path).status, 200, "{who}");
    }
    assert_eq!(server.get("op-2", &path).status, 404);

    let (code, out, all) = client(&server, "op-1", &["scenario", "show", &app]);
    assert_eq!(code, 0, "{all}");
    for line in [
        "effective contract (as the guard enforces it",
        "dataset enterprise_registry  min_k 5",
        "pseudonymized",
        "release district_stats  k 5  dominance (2, 85%)  L 1",
        "measure   capital        from enterprise_registry.registered_capital  clamp [0, 100000]",
        "nothing asked is looser than the manifests",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let (code, out, all) = client(&server, "op-1", &["--json", "scenario", "show", &app]);
    assert_eq!(code, 0, "{all}");
    let shown: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(shown["id"], app.as_str());
    assert_eq!(shown["effective_contract"], contract);

    // The provider tightens its manifest after approval: the guard applies the new rules, and
    // the contract shows them, marking where the approved scenario is now looser.
    publish_registry_with(&server, |manifest| {
        manifest.replace("min_k = 5", "min_k = 8").replacen(
            "    1000000.0,\n]",
            "    50000.0,\n]",
            1,
        )
    });
    let contract = server.get("op-1", &path).json();
    assert_eq!(contract["releases"][0]["k"], 8, "{contract}");
    assert_eq!(
        contract["releases"][0]["measures"][0]["clamp"],
        json!([0.0, 50000.0])
    );
    let marked: Vec<(&str, &str)> = contract["looser"]
        .as_array()
        .expect("looser")
        .iter()
        .map(|l| {
            (
                l["source"].as_str().unwrap_or_default(),
                l["rule"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        marked,
        [
            ("enterprise_registry.registered_capital", "clamp"),
            ("enterprise_registry", "min_k"),
        ]
    );
    let manifest = product_manifest(&server, &app, &sha);
    assert_guard_enforced(&contract, &manifest);
    // Not silently: the job's start entry names where the manifest applies.
    let job = manifest["job_id"].as_str().expect("job id");
    let start = server
        .get("reviewer", &format!("/v1/audit?job={job}&action=job.start"))
        .json();
    assert_eq!(
        start["items"][0]["details"]["manifest_applies"], contract["looser"],
        "{start}"
    );
    let (code, out, all) = client(&server, "op-1", &["scenario", "show", &app]);
    assert_eq!(code, 0, "{all}");
    assert!(
        out.contains("LOOSER release 'district_stats' measure 'capital': rule clamp"),
        "{out}"
    );
}
