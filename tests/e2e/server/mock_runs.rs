//! Mock runs through the real server: no approval, everything shown, nothing real read, nothing
//! becomes a product; and the twins themselves.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{client, process_lives, signal, workers_of, Server};
use crate::support;

/// Polls a mock run until it leaves `running`.
fn wait_mock(server: &Server, who: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = server.get(who, &format!("/v1/mock-runs/{id}"));
        assert_eq!(run.status, 200, "{}", String::from_utf8_lossy(&run.body));
        let run = run.json();
        if run["status"] != "running" {
            return run;
        }
        assert!(Instant::now() < deadline, "mock run {id} still running");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The district-stats scenario as TOML, as an operator drafts it (no agreement, no application).
fn draft(module: &[u8]) -> String {
    let mut scenario = support::scenario("district-stats", module);
    scenario.scenario.operator = "op-1".into();
    toml::to_string(&scenario).expect("scenario as TOML")
}

/// Every unified social credit code in the bundled registry (the real rows of the test domain).
fn real_uscis() -> BTreeSet<String> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let path = support::datasets()
        .join("enterprise_registry")
        .join("data.parquet");
    let file = std::fs::File::open(path).expect("bundled parquet");
    let mut out = BTreeSet::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
    {
        let batch = batch.expect("batch");
        let column = batch.column_by_name("usci").expect("usci");
        let column = column
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("utf8");
        out.extend(column.iter().flatten().map(str::to_string));
    }
    out
}

fn start() -> Server {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    server
}

#[test]
fn a_mock_run_needs_no_approval_shows_everything_and_never_becomes_a_product() {
    let server = start();
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let started = server.ok(
        "op-1",
        "/v1/mock-runs",
        &json!({ "module_sha256": sha, "scenario": draft(&module) }),
        202,
    );
    assert_eq!(started["mark"], "MOCK");
    assert_eq!(started["status"], "running");
    let run = wait_mock(&server, "op-1", started["id"].as_str().expect("id"));
    assert_eq!(run["status"], "finished", "{run:#}");
    let report = &run["report"];
    assert_eq!(report["outcome"], "completed", "{report:#}");
    assert_eq!(report["module_matches_scenario"], true);
    // The query with a preview of its result, the guest's log line, the release.
    let events = report["events"].as_array().expect("events");
    let query = events
        .iter()
        .find(|e| e["action"] == "query")
        .expect("a query event");
    assert!(
        query["details"]["preview"]
            .as_str()
            .is_some_and(|p| p.contains("district")),
        "{query:#}"
    );
    assert!(events.iter().any(|e| e["action"] == "guest.log"));
    let release = &report["releases"][0];
    assert_eq!(release["release"], "district_stats");
    assert_eq!(release["outcome"], "released", "{release:#}");
    assert!(release["total_rows"].as_u64().unwrap_or(0) > 0);
    assert!(release["columns"]
        .as_array()
        .expect("columns")
        .contains(&json!("district")));

    // Nothing became a product, a job or a debit; the run's directory is gone.
    let products = std::fs::read_dir(server.dir().join("products"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(products, 0);
    let jobs = server.get("op-1", "/v1/jobs").json();
    assert_eq!(jobs["items"], json!([]));
    let leftovers = std::fs::read_dir(server.dir().join("mock-runs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);
    // The domain's log has the run's start and end, never its trail (no query entries).
    let log = server.get("reviewer", "/v1/audit?action=mock.run").json();
    let actions: Vec<&str> = log["items"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["mock.run.start", "mock.run.end"]);
    let queries = server.get("reviewer", "/v1/audit?action=query").json();
    assert_eq!(queries["items"], json!([]));

    // The list has it without its report; another operator cannot see it.
    let list = server.get("op-1", "/v1/mock-runs").json();
    assert_eq!(list["items"][0]["id"], run["id"]);
    assert_eq!(list["items"][0]["report"], Value::Null);
    let id = run["id"].as_str().expect("id");
    assert_eq!(
        server.get("op-2", &format!("/v1/mock-runs/{id}")).status,
        404
    );
}

#[test]
fn a_hostile_module_in_a_mock_run_sees_only_twins_and_its_faults_are_shown_in_full() {
    let server = start();
    let real = real_uscis();
    // raw-rows tries to release rows with their identifiers; a mock run shows it everything it
    // did, and none of it is real.
    let module = support::module("raw_rows");
    let sha = server.upload("op-1", &module);
    let id = server.ok(
        "op-1",
        "/v1/mock-runs",
        &json!({ "module_sha256": sha, "scenario": draft(&module) }),
        202,
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let run = wait_mock(&server, "op-1", &id);
    let text = run.to_string();
    assert!(
        real.iter().all(|usci| !text.contains(usci.as_str())),
        "a real identifier reached a mock run's report"
    );
    assert_eq!(run["report"]["module_matches_scenario"], true);

    // A module that overflows its stack: the fault's message is shown, not only its class.
    let module = support::module("deep_recursion");
    let sha = server.upload("op-1", &module);
    let id = server.ok(
        "op-1",
        "/v1/mock-runs",
        &json!({ "module_sha256": sha, "scenario": draft(&support::module("district_stats")) }),
        202,
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let run = wait_mock(&server, "op-1", &id);
    let report = &run["report"];
    assert_eq!(run["status"], "finished", "{run:#}");
    assert_ne!(report["outcome"], "completed", "{report:#}");
    assert!(!report["detail"].as_str().unwrap_or_default().is_empty());
    // The draft pinned another module: the report says so.
    assert_eq!(report["module_matches_scenario"], false);
}

#[test]
fn who_may_run_mocks_and_what_is_refused() {
    let server = start();
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let body = json!({ "module_sha256": sha, "scenario": draft(&module) });
    // Not an operator; a module another operator uploaded; both or neither of scenario and
    // application; a scenario naming an unregistered dataset; a scenario that does not parse.
    server
        .post("bureau", "/v1/mock-runs", &body)
        .assert_refused(403, "mock twins");
    server
        .post("op-2", "/v1/mock-runs", &body)
        .assert_refused(404, "upload it first");
    server
        .post("op-1", "/v1/mock-runs", &json!({ "module_sha256": sha }))
        .assert_refused(422, "exactly one of");
    let unregistered = draft(&module).replace("tax_payments", "clinic_visits");
    server
        .post(
            "op-1",
            "/v1/mock-runs",
            &json!({ "module_sha256": sha, "scenario": unregistered }),
        )
        .assert_refused(404, "clinic_visits");
    server
        .post(
            "op-1",
            "/v1/mock-runs",
            &json!({ "module_sha256": sha, "scenario": "not = [toml" }),
        )
        .assert_refused(422, "scenario");
    // A suspended operator cannot keep working through mocks.
    server.ok(
        "bureau",
        "/v1/operators/op-1/suspend",
        &json!({ "reason": "审计中" }),
        200,
    );
    server
        .post("op-1", "/v1/mock-runs", &body)
        .assert_refused(409, "suspended");
}

#[test]
fn twins_are_made_at_publication_downloadable_and_hold_no_real_identifier() {
    let server = start();
    assert!(server
        .dir()
        .join("registry/tax_payments/v1/mock/data.parquet")
        .is_file());
    let manifest = server.get("op-2", "/v1/datasets/tax_payments/mock/manifest");
    assert_eq!(manifest.status, 200);
    assert!(String::from_utf8_lossy(&manifest.body).contains("name = \"tax_payments\""));
    let data = server.get("op-2", "/v1/datasets/enterprise_registry/mock/data");
    assert_eq!(data.status, 200);
    assert!(data.body.starts_with(b"PAR1"));
    let real = real_uscis();
    let twin = String::from_utf8_lossy(&data.body);
    assert!(real.iter().all(|usci| !twin.contains(usci.as_str())));
    assert_eq!(
        server
            .get("op-2", "/v1/datasets/no_such_set/mock/data")
            .status,
        404
    );

    // The CLI: pull the twins, run locally over them; and the same module on the server.
    let out = server.dir().join("pulled");
    let (code, _, err) = client(
        &server,
        "op-1",
        &[
            "mock",
            "pull",
            "enterprise_registry",
            "tax_payments",
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let module_path = support::wasm_path("district_stats");
    let scenario_path = server.dir().join("draft.toml");
    std::fs::write(&scenario_path, draft(&support::module("district_stats"))).expect("write");
    let (code, stdout, err) = client(
        &server,
        "op-1",
        &[
            "mock",
            "run",
            "--local",
            "--mocks",
            out.to_str().expect("utf8"),
            "--module",
            module_path.to_str().expect("utf8"),
            "--scenario",
            scenario_path.to_str().expect("utf8"),
        ],
    );
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("MOCK") && stdout.contains("release 'district_stats': released"));
    let (code, stdout, err) = client(
        &server,
        "op-1",
        &[
            "mock",
            "run",
            "--module",
            module_path.to_str().expect("utf8"),
            "--scenario",
            scenario_path.to_str().expect("utf8"),
        ],
    );
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("outcome: completed"), "{stdout}");
}

#[test]
fn a_mock_run_cut_off_by_a_server_stop_is_marked_failed_and_its_directory_removed() {
    let mut server = start();
    // A module that spins: it is still running when the server is killed.
    let module = support::module("infinite_loop");
    let sha = server.upload("op-1", &module);
    let id = server.ok(
        "op-1",
        "/v1/mock-runs",
        &json!({ "module_sha256": sha, "scenario": draft(&support::module("district_stats")) }),
        202,
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let run_dir = server.dir().join("mock-runs").join(&id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !run_dir.is_dir() {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second run while the first goes on is refused: one at a time per operator.
    server
        .post(
            "op-1",
            "/v1/mock-runs",
            &json!({ "module_sha256": sha, "scenario": draft(&module) }),
        )
        .assert_refused(409, "still running");
    let deadline = Instant::now() + Duration::from_secs(30);
    let worker = loop {
        match workers_of(server.pid()).as_slice() {
            [pid] => break *pid,
            _ => assert!(Instant::now() < deadline, "no worker runs the mock"),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Stopped, the worker cannot notice the server going (its stdin closing) and cancel itself:
    // only the kernel can end it now.
    signal(worker, "-STOP");
    server.kill();
    // The worker dies with the server: left running it would spin on and write into the run's
    // directory while the restarted server clears it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_lives(worker) {
        if Instant::now() > deadline {
            signal(worker, "-KILL");
            panic!("worker {worker} outlived the server");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.spawn();
    let run = server.get("op-1", &format!("/v1/mock-runs/{id}")).json();
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(
        run["report"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("server stopped")),
        "{run:#}"
    );
    assert!(
        !run_dir.exists(),
        "the run's directory is removed at start-up"
    );
    // And the operator may run again.
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    server.ok(
        "op-1",
        "/v1/mock-runs",
        &json!({ "module_sha256": sha, "scenario": draft(&module) }),
        202,
    );
}
