//! Each job runs in a worker process of its own: a worker that dies (killed, out of memory) takes
//! its job with it, recorded `failed` / `worker_crashed`, and the server goes on.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{agreement, agreement_end, approved, district_scenario, signal, workers_of, Server};
use crate::support;

/// Datasets, an agreement, and approved applications for an endless module and district-stats.
struct Setup {
    endless: String,
    district: String,
}

fn set_up(server: &Server) -> Setup {
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(server, "op-1", &agreement_end());
    let approve = |scenario: &Value| approved(server, "op-1", &agreement_id, scenario);
    let looping = support::module("infinite_loop");
    let looping_sha = server.upload("op-1", &looping);
    let mut endless = district_scenario("op-1", &looping_sha);
    endless["scenario"]["id"] = json!("endless");
    // Far more fuel than the test waits for: the job runs until its worker is killed.
    endless["limits"]["fuel"] = json!(1_000_000_000_000u64);
    let endless = approve(&endless);
    let district_sha = server.upload("op-1", &support::module("district_stats"));
    let district = approve(&district_scenario("op-1", &district_sha));
    Setup { endless, district }
}

fn submit(server: &Server, application: &str) -> String {
    let sha = server
        .get("op-1", &format!("/v1/applications/{application}"))
        .json()["scenario"]["scenario"]["module_sha256"]
        .as_str()
        .expect("pinned module")
        .to_string();
    server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": application, "module_sha256": sha }),
        202,
    )["id"]
        .as_str()
        .expect("job id")
        .to_string()
}

fn audit_of(server: &Server, job: &str) -> Vec<Value> {
    server
        .get("reviewer", &format!("/v1/audit?job={job}&limit=500"))
        .json()["items"]
        .as_array()
        .expect("items")
        .clone()
}

fn assert_server_goes_on(server: &Server, setup: &Setup) {
    let next = submit(server, &setup.district);
    let done = server.wait_job("op-1", &next);
    assert_eq!(done["state"], "completed", "{done}");
    let verify = server.get("reviewer", "/v1/audit/verify");
    assert_eq!(
        verify.status,
        200,
        "{}",
        String::from_utf8_lossy(&verify.body)
    );
}

#[test]
fn a_worker_killed_mid_job_fails_only_that_job() {
    let server = Server::start();
    let setup = set_up(&server);
    let job = submit(&server, &setup.endless);
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = loop {
        if let [pid] = workers_of(server.pid()).as_slice() {
            break *pid;
        }
        assert!(Instant::now() < deadline, "no worker process for job {job}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Let it reach the guest (job.start audited), then kill it with no chance to clean up.
    std::thread::sleep(Duration::from_millis(1500));
    signal(pid, "-KILL");

    let ended = server.wait_job("op-1", &job);
    assert_eq!(ended["state"], "failed", "{ended}");
    assert_eq!(ended["detail"], "worker_crashed", "{ended}");
    // The operator sees the fault class only; reviewers see how the worker ended.
    let entries = audit_of(&server, &job);
    let end = entries
        .iter()
        .find(|e| e["action"] == "job.end")
        .unwrap_or_else(|| panic!("job.end audited: {entries:?}"));
    assert_eq!(end["details"]["detail"], "worker_crashed", "{end}");
    assert_eq!(end["details"]["worker_exit"], "signal 9", "{end}");

    assert_server_goes_on(&server, &setup);
}

/// SQL whose grouping table grows with the product of two tables, by a 512-byte key per pair
/// (so that it outgrows the limit within seconds even where DataFusion is built unoptimized, as
/// in the tests): the worker's memory limit stops it before DataFusion's own 1 GiB pool would.
const BLOW_UP: &str = "SELECT concat(e.usci, t.usci, e.usci, t.usci, e.usci, t.usci, e.usci, \
    t.usci, e.usci, t.usci, e.usci, t.usci, e.usci, t.usci, e.usci, t.usci) AS pair, count(*) AS n \
    FROM enterprise_registry e, tax_payments t GROUP BY 1";

/// Under a worker memory limit far below the address space wasmtime reserves (4 GiB and more
/// per memory, which `RLIMIT_AS` would refuse), district-stats still completes; a job whose query
/// outgrows the limit kills its worker, which is recorded and audited, and the server goes on.
#[test]
fn a_worker_over_its_memory_limit_fails_its_job_and_the_server_goes_on() {
    let server = Server::start_with(&["--worker-memory-mib", "768"]);
    let setup = set_up(&server);
    let district = submit(&server, &setup.district);
    let done = server.wait_job("op-1", &district);
    assert_eq!(
        done["state"], "completed",
        "wasmtime works under RLIMIT_DATA: {done}"
    );

    let module = support::draining_module(BLOW_UP);
    let sha = server.upload("op-1", &module);
    let mut scenario = district_scenario("op-1", &sha);
    scenario["scenario"]["id"] = json!("blow-up");
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let app = approved(&server, "op-1", &agreement_id, &scenario);
    let job = submit(&server, &app);
    let ended = server.wait_job("op-1", &job);
    assert_eq!(ended["state"], "failed", "{ended}");
    assert_eq!(ended["detail"], "worker_crashed", "{ended}");
    let entries = audit_of(&server, &job);
    let end = entries
        .iter()
        .find(|e| e["action"] == "job.end")
        .unwrap_or_else(|| panic!("job.end audited: {entries:?}"));
    let exit = end["details"]["worker_exit"].as_str().unwrap_or_default();
    assert!(
        exit.starts_with("signal") || exit.starts_with("exit"),
        "{end}"
    );

    assert_server_goes_on(&server, &setup);
}
