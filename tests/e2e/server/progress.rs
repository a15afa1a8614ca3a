//! Progress and logs: `job wait` shows a job's phases, the API exposes them, an uploaded module
//! is compiled ahead of its first job, and the server logs each request and each job
//! transition without a byte of data.

use std::collections::BTreeSet;

use arrow::array::{Array, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;

use super::{agreement, agreement_end, approved, district_scenario, shuyu, Server};
use crate::support;

/// The phases and final states `job wait` may print, in the order a job passes them.
const ORDER: &[&str] = &["queued", "planning", "running", "releasing", "failed"];

/// Every value of a string column of a bundled dataset.
fn bundled_strings(dataset: &str, column: &str) -> BTreeSet<String> {
    let path = support::repo()
        .join("datasets")
        .join(dataset)
        .join("data.parquet");
    let file = std::fs::File::open(&path).expect("bundled parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut values = BTreeSet::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let array = batch
            .column_by_name(column)
            .unwrap_or_else(|| panic!("no column {column}"));
        let strings = array
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("a string column");
        values.extend(strings.iter().flatten().map(str::to_string));
    }
    values
}

#[test]
fn job_wait_shows_the_phases_and_the_log_has_requests_and_transitions_but_no_data() {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    // A module that computes until its fuel runs out: long enough in `running` for any poll.
    let looping = support::module("infinite_loop");
    let looping_sha = server.upload("op-1", &looping);
    let mut spinning = district_scenario("op-1", &looping_sha);
    spinning["scenario"]["id"] = json!("spinning");
    spinning["limits"]["fuel"] = json!(25_000_000_000u64);
    let application = approved(&server, "op-1", &agreement_id, &spinning);

    let job = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": application, "module_sha256": looping_sha }),
        202,
    );
    let id = job["id"].as_str().expect("job id").to_string();
    assert!(
        matches!(job["phase"].as_str(), Some("queued" | "planning")),
        "{job}"
    );

    let url = format!("http://{}", server.addr);
    let (code, out, err) = shuyu(
        server.dir(),
        &[
            "--server",
            &url,
            "--token",
            server.token("op-1"),
            "job",
            "wait",
            &id,
        ],
    );
    assert_eq!(code, 1, "a job that ran out of fuel failed: {out}{err}");
    // Each progress line is `<time>  <phase or state>`, in the order a job passes them, and
    // names nothing else: no count, no number of the module's.
    let shown: Vec<&str> = out
        .lines()
        .take_while(|line| !line.is_empty())
        .map(|line| line.rsplit("  ").next().unwrap_or_default())
        .collect();
    assert!(shown.contains(&"running"), "{out}");
    assert_eq!(shown.last(), Some(&"failed"), "{out}");
    let positions: Vec<usize> = shown
        .iter()
        .map(|phase| {
            ORDER
                .iter()
                .position(|known| known == phase)
                .unwrap_or_else(|| panic!("'{phase}' is not a phase: {out}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    for line in out.lines().take(shown.len()) {
        assert!(
            line.contains("+08:00"),
            "times in the domain's zone: {line}"
        );
    }
    let ended = server.get("op-1", &format!("/v1/jobs/{id}")).json();
    assert_eq!(ended["phase"], "done", "{ended}");

    // A job that releases: every transition in the log, in order.
    let district_sha = server.upload("op-1", &support::module("district_stats"));
    // The upload has the module compiled into the domain's cache in the background, so that
    // its first job does not spend seconds compiling before its first query.
    let compiled = format!("module compiled into the domain's cache module={district_sha}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !server.log_text().contains(&compiled) {
        assert!(
            std::time::Instant::now() < deadline,
            "not compiled ahead:\n{}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cached = std::fs::read_dir(server.dir().join("cache").join("modules"))
        .expect("the module cache")
        .filter_map(Result::ok)
        .any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with(&district_sha) && name.ends_with(".cwasm")
        });
    assert!(cached, "compiled code in cache/modules/");
    let district = approved(
        &server,
        "op-1",
        &agreement_id,
        &district_scenario("op-1", &district_sha),
    );
    let job = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": district, "module_sha256": district_sha }),
        202,
    );
    let released_id = job["id"].as_str().expect("job id").to_string();
    let released = server.wait_job("op-1", &released_id);
    assert_eq!(released["state"], "completed", "{released}");
    assert_eq!(released["phase"], "done", "{released}");

    let log = server.log_text();
    for job_id in [&id, &released_id] {
        let phases: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(&format!("job={job_id}")) && line.contains("phase="))
            .filter_map(|line| line.split("phase=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(
            phases,
            ["queued", "planning", "running", "releasing", "done"],
            "job {job_id}:\n{log}"
        );
    }
    assert!(
        log.lines()
            .any(|line| line.contains(&format!("job={released_id}"))
                && line.contains("state=\"completed\"")),
        "{log}"
    );
    // Requests: method, route template (never the concrete path), status, identity.
    assert!(
        log.lines().any(|line| line.contains("method=POST")
            && line.contains("route=/v1/jobs ")
            && line.contains("status=202")
            && line.contains("identity=op-1")
            && line.contains("latency_ms=")),
        "{log}"
    );
    assert!(log.contains("route=/v1/jobs/{id} "), "{log}");
    assert!(!log.contains(&format!("/v1/jobs/{id}")), "{log}");
    // The log never holds data: no credit code or name of the bundled registry, no token, no
    // request body.
    let names = bundled_strings("enterprise_registry", "name");
    for value in bundled_strings("enterprise_registry", "usci")
        .iter()
        .chain(&names)
    {
        assert!(!log.contains(value.as_str()), "the log holds '{value}'");
    }
    for token in server.tokens.values() {
        assert!(!log.contains(token.as_str()), "the log holds a token");
    }
    assert!(!log.contains("parquet_base64"), "the log holds a body");
}

/// Waits until the server's log says application `id`'s universe was built ahead `times`
/// times.
fn wait_for_warm_ups(server: &Server, id: &str, times: usize) {
    let built = format!("identifier universe built into the domain's cache application=\"{id}\"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while server.log_text().matches(&built).count() < times {
        assert!(
            std::time::Instant::now() < deadline,
            "universe not built ahead {times} time(s):\n{}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs one district-stats job of `application` to its end; returns its `job.end` details.
fn job_end(server: &Server, application: &str, module_sha: &str) -> serde_json::Value {
    let job = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": application, "module_sha256": module_sha }),
        202,
    );
    let id = job["id"].as_str().expect("job id").to_string();
    let ended = server.wait_job("op-1", &id);
    assert_eq!(ended["state"], "completed", "{ended}");
    let entries = server
        .get("reviewer", &format!("/v1/audit?job={id}&action=job.end"))
        .json();
    entries["items"][0]["details"].clone()
}

#[test]
fn an_approved_applications_universe_is_built_ahead_of_its_first_job() {
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let sha = server.upload("op-1", &support::module("district_stats"));
    let application = approved(
        &server,
        "op-1",
        &agreement_id,
        &district_scenario("op-1", &sha),
    );
    // Approval has a worker build the universe the application's jobs use; a job submitted
    // at once waits for it and loads it.
    let end = job_end(&server, &application, &sha);
    assert_eq!(
        end["universe_cached"], true,
        "the first job loads it: {end}"
    );
    wait_for_warm_ups(&server, &application, 1);

    // A new version of a granted dataset: the next job reads it, so its universe is built
    // again, and the job submitted at once waits for it.
    // The generated test datasets: the bundled manifest, other rows.
    server.publish_folder("tax_payments", &support::datasets().join("tax_payments"));
    let end = job_end(&server, &application, &sha);
    assert_eq!(end["universe_cached"], true, "after publication: {end}");
    wait_for_warm_ups(&server, &application, 2);

    // Reviewers see each build: the runtime's, for the scenario, with the versions it read.
    let warmed = server
        .get("reviewer", "/v1/audit?action=universe.warmed")
        .json();
    let entries = warmed["items"].as_array().expect("items");
    assert_eq!(entries.len(), 2, "{warmed}");
    for entry in entries {
        assert_eq!(entry["actor"], "system", "{entry}");
        assert_eq!(entry["subject"], "district-stats", "{entry}");
        assert!(entry["details"]["entities"].as_u64() > Some(0), "{entry}");
    }
    assert_ne!(
        entries[0]["details"]["datasets"], entries[1]["details"]["datasets"],
        "the second build read the new version"
    );
}
