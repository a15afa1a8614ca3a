//! kill -9 in the middle of writes: after a restart every acknowledged change is there, nothing
//! is half-written, the job that was running is accounted for, and the audit log verifies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::{
    agreement, agreement_end, application_end, apply, approve_all, district_scenario, raw_request,
    Server,
};
use crate::support;

#[test]
fn a_killed_server_restarts_consistent() {
    let mut server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement_id = agreement(&server, "op-1", &agreement_end());
    let module = support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let application = apply(
        &server,
        "op-1",
        &agreement_id,
        &district_scenario("op-1", &sha),
        &application_end(),
    );
    assert_eq!(application.status, 201);
    let app = approve_all(&server, &application.json())["id"]
        .as_str()
        .expect("id")
        .to_string();

    // Writers hammer the server; a job runs; then the process is killed without warning.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..3 {
        let addr = server.addr.clone();
        let token = server.token("op-1").to_string();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = serde_json::to_vec(&json!({
                    "dataset": "tax_payments",
                    "description": format!("writer {writer} request {n}"),
                }))
                .expect("json");
                let response = std::panic::catch_unwind(|| {
                    raw_request(
                        &addr,
                        "POST",
                        "/v1/quality-requests",
                        Some(&token),
                        "application/json",
                        &body,
                    )
                });
                match response {
                    Ok(r) if r.status == 201 => {
                        let id = r.json()["id"].as_str().map(str::to_string);
                        if let (Some(id), Ok(mut ids)) = (id, acknowledged.lock()) {
                            ids.push(id);
                        }
                    }
                    // The server died mid-request: no answer, nothing acknowledged.
                    _ => break,
                }
            }
        }));
    }
    let job = server.ok(
        "op-1",
        "/v1/jobs",
        &json!({ "application": app, "module_sha256": sha }),
        202,
    );
    let job_id = job["id"].as_str().expect("job id").to_string();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        let _ = writer.join();
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 5,
        "writes were in flight: {}",
        acknowledged.len()
    );

    // The database file is sound before the server even starts again.
    {
        let db = rusqlite::Connection::open(server.dir().join("shuyu.db")).expect("open");
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity check");
        assert_eq!(check, "ok");
    }

    server.spawn();
    let mut listed = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/v1/quality-requests?limit=500&after={cursor}"),
            None => "/v1/quality-requests?limit=500".to_string(),
        };
        let page = server.get("op-1", &path).json();
        for item in page["items"].as_array().expect("items") {
            listed.insert(item["id"].as_str().expect("id").to_string());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged {id} survived the crash");
    }

    // The job that was in flight ended one way or the other, never stuck as running (failed if
    // it ran, cancelled if it never started).
    let job = server.get("op-1", &format!("/v1/jobs/{job_id}")).json();
    let state = job["state"].as_str().unwrap_or_default();
    assert!(
        state == "completed"
            || ((state == "failed" || state == "cancelled")
                && job["detail"].to_string().contains("restart")),
        "{job}"
    );

    let verify = server.get("reviewer", "/v1/audit/verify");
    assert_eq!(
        verify.status,
        200,
        "{}",
        String::from_utf8_lossy(&verify.body)
    );
    // And the server takes new work.
    server.ok(
        "op-1",
        "/v1/quality-requests",
        &json!({ "dataset": "tax_payments", "description": "after the restart" }),
        201,
    );
}
