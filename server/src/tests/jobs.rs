//! The job queue through the API: publish, agree, apply, review, run, cancel, suspend, and the
//! record a crash leaves.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request};
use base64::Engine as _;
use chrono::Utc;
use serde_json::{json, Value};
use wasm_encoder::{
    BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction as I,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};

use super::{usci, TestApi, User, MARKET, TAX};
use crate::queue::{JobQueue, DETAIL_RESTARTED, DETAIL_RESTARTED_QUEUED};
use shuyu::governance::model::{JobState, PageRequest, Role};
use shuyu::governance::ScenarioFile;

/// A module whose `shuyu_main` returns 0 at once (`spin: false`) or loops forever.
pub(super) fn guest(spin: bool) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("shuyu_main", ExportKind::Func, 0);
    let mut main = Function::new([]);
    if spin {
        main.instruction(&I::Loop(BlockType::Empty))
            .instruction(&I::Br(0))
            .instruction(&I::End);
    }
    main.instruction(&I::I32Const(0)).instruction(&I::End);
    let mut code = CodeSection::new();
    code.function(&main);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memory)
        .section(&exports)
        .section(&code);
    module.finish()
}

/// The cast, with both bundled datasets published through the API and an agreement for `op`.
pub(super) struct World {
    pub(super) api: TestApi,
    pub(super) bureau: User,
    pub(super) market: User,
    pub(super) tax: User,
    pub(super) op: User,
    pub(super) reviewer: User,
    agreement: String,
}

impl World {
    pub(super) async fn new(workers: usize) -> Self {
        let api = TestApi::new(workers);
        let bureau = api.user("bureau-1", Role::Bureau, None, None);
        let market = api.user("p-market", Role::Provider, None, Some(MARKET));
        let tax = api.user("p-tax", Role::Provider, None, Some(TAX));
        let op = api.user("op-1", Role::Operator, Some(usci(1)), None);
        let reviewer = api.user("rev-1", Role::Reviewer, None, None);
        for (who, name) in [(&market, "enterprise_registry"), (&tax, "tax_payments")] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("datasets")
                .join(name);
            let manifest = std::fs::read_to_string(dir.join("dataset.toml")).unwrap();
            let parquet = std::fs::read(dir.join("data.parquet")).unwrap();
            let body = json!({
                "manifest": manifest,
                "parquet_base64": base64::engine::general_purpose::STANDARD.encode(parquet),
            });
            let answer = api
                .post(&format!("/v1/datasets/{name}/versions"), who, body)
                .await;
            assert_eq!(answer.ok(201)["name"], name);
        }
        let now = Utc::now();
        let agreement = api
            .post(
                "/v1/agreements",
                &bureau,
                json!({
                    "operator": "op-1",
                    "mode": "comprehensive",
                    "scope": { "max_level": 4 },
                    "term_start": now - chrono::Duration::days(1),
                    "term_end": now + chrono::Duration::days(365),
                    "security_requirements": "level 3 protection",
                    "exit_conditions": "delete all derived data",
                }),
            )
            .await;
        let agreement = agreement.ok(201)["id"].as_str().unwrap().to_string();
        Self {
            api,
            bureau,
            market,
            tax,
            op,
            reviewer,
            agreement,
        }
    }

    /// Uploads `wasm` and returns its SHA-256.
    pub(super) async fn upload(&self, wasm: Vec<u8>) -> String {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/modules")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.op.token))
            .header(header::CONTENT_TYPE, "application/wasm")
            .body(Body::from(wasm))
            .unwrap();
        let answer = self.api.send(request).await;
        answer.ok(201)["sha256"].as_str().unwrap().to_string()
    }

    /// An approved application of scenario `id` pinning `module`.
    pub(super) async fn approved(&self, id: &str, module: &str) -> String {
        let scenario = ScenarioFile::from_toml_str(&format!(
            r#"
[scenario]
id = "{id}"
title = "district statistics"
operator = "op-1"
purpose = "enterprise count by district"
module_sha256 = "{module}"

[[grant]]
dataset = "enterprise_registry"
columns = ["usci", "district"]
[[grant]]
dataset = "tax_payments"
columns = ["usci", "amount"]

[[release]]
name = "district_counts"
k = 5
max_rows_per_entity = 1
  [[release.dimension]]
  name = "district"
  from = ["enterprise_registry.district"]
  [[release.measure]]
  name = "tax"
  from = ["tax_payments.amount"]
  clamp = [0.0, 10000000.0]
  aggregations = ["sum"]
"#
        ))
        .unwrap();
        let answer = self
            .api
            .post(
                "/v1/applications",
                &self.op,
                json!({
                    "agreement": self.agreement,
                    "scenario": scenario,
                    "valid_until": Utc::now() + chrono::Duration::days(90),
                }),
            )
            .await;
        let app = answer.ok(201)["id"].as_str().unwrap().to_string();
        let mut last = Value::Null;
        for who in [&self.bureau, &self.market, &self.tax] {
            let answer = self
                .api
                .post(
                    &format!("/v1/applications/{app}/reviews"),
                    who,
                    json!({ "decision": "approve", "reason": "meets the rules" }),
                )
                .await;
            last = answer.ok(200).clone();
        }
        assert_eq!(last["status"], "approved", "{last}");
        app
    }

    async fn submit(&self, app: &str, module: &str) -> Value {
        self.api
            .post(
                "/v1/jobs",
                &self.op,
                json!({ "application": app, "module_sha256": module }),
            )
            .await
            .json
    }

    async fn job(&self, id: &str) -> Value {
        let answer = self
            .api
            .get(&format!("/v1/jobs/{id}"), Some(&self.op))
            .await;
        answer.ok(200).clone()
    }

    /// Polls the job until `done` holds for its state, failing after a minute.
    async fn wait_for(&self, id: &str, done: impl Fn(&str) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.job(id).await;
            if done(job["state"].as_str().unwrap()) {
                return job;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "job stuck: {job}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ended(state: &str) -> bool {
    !matches!(state, "queued" | "running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_and_running_jobs_can_be_cancelled() {
    let w = World::new(2).await;
    let quick = w.upload(guest(false)).await;
    let app = w.approved("district-quick", &quick).await;

    let job = w.submit(&app, &quick).await;
    assert_eq!(job["state"], "queued", "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let done = w.wait_for(&id, ended).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert!(done["started_at"].is_string() && done["ended_at"].is_string());

    // The gate's refusal is a 409 with the reason.
    let spin = w.upload(guest(true)).await;
    let refused = w
        .api
        .post(
            "/v1/jobs",
            &w.op,
            json!({ "application": app, "module_sha256": spin }),
        )
        .await;
    refused.error(409, "conflict");

    let spin_app = w.approved("district-spin", &spin).await;
    let job = w.submit(&spin_app, &spin).await;
    let id = job["id"].as_str().unwrap().to_string();
    w.wait_for(&id, |s| s != "queued").await;
    // Only the operator that submitted it may cancel it.
    w.api
        .post(&format!("/v1/jobs/{id}/cancel"), &w.bureau, json!({}))
        .await
        .error(403, "forbidden");
    let cancelled = w
        .api
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&w.op),
            None,
        )
        .await;
    assert_eq!(
        cancelled.ok(200)["state"],
        "cancelled",
        "{}",
        cancelled.json
    );
    assert_eq!(
        cancelled.json["detail"], "cancelled by its operator while it ran",
        "the job had left the queue before it was cancelled"
    );
    w.api
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&w.op),
            None,
        )
        .await
        .error(409, "conflict");

    // Reviewers find the job in the audit log; operators may not look.
    let audit = w
        .api
        .get(&format!("/v1/audit?job={id}"), Some(&w.reviewer))
        .await;
    let actions: Vec<&str> = audit.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"job.start"), "{actions:?}");
    assert!(actions.contains(&"job.end"), "{actions:?}");
    w.api
        .get("/v1/audit", Some(&w.op))
        .await
        .error(403, "forbidden");
    w.api
        .get("/v1/audit/verify", Some(&w.reviewer))
        .await
        .ok(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_the_agreement_stops_its_running_job() {
    let w = World::new(1).await;
    let spin = w.upload(guest(true)).await;
    let app = w.approved("district-spin", &spin).await;
    let running = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.wait_for(&running, |s| s == "running").await;
    let answer = w
        .api
        .post(
            &format!("/v1/agreements/{}/terminate", w.agreement),
            &w.bureau,
            json!({ "reason": "breach of the security requirements" }),
        )
        .await;
    assert_eq!(answer.ok(200)["status"], "terminated");
    let job = w.wait_for(&running, ended).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    assert_eq!(job["detail"], "agreement terminated while it ran", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_the_operator_stops_its_jobs() {
    let w = World::new(1).await;
    let spin = w.upload(guest(true)).await;
    let app = w.approved("district-spin", &spin).await;
    let running = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.wait_for(&running, |s| s == "running").await;
    // One worker: the second job waits in the queue.
    let queued = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(w.job(&queued).await["state"], "queued");

    let answer = w
        .api
        .post(
            "/v1/operators/op-1/suspend",
            &w.bureau,
            json!({ "reason": "failed evaluation" }),
        )
        .await;
    let body = answer.ok(200);
    assert_eq!(body["operator"]["status"], "suspended", "{body}");
    let stopped: Vec<&str> = body["stopped_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(stopped.contains(&running.as_str()) && stopped.contains(&queued.as_str()));
    // Both cancelled with the cause; the queued one never ran, and says so.
    for (id, detail) in [
        (&running, "operator suspended while it ran"),
        (&queued, "operator suspended before it started"),
    ] {
        let job = w.wait_for(id, ended).await;
        assert_eq!(job["state"], "cancelled", "{job}");
        assert_eq!(job["detail"], detail, "{job}");
    }
    assert!(w.job(&queued).await["started_at"].is_null());
    // Suspended: the gate refuses new jobs.
    let refused = w
        .api
        .post(
            "/v1/jobs",
            &w.op,
            json!({ "application": app, "module_sha256": spin }),
        )
        .await;
    refused.error(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_a_crash_left_behind_are_ended_truthfully_at_the_next_start() {
    let w = World::new(1).await;
    let spin = w.upload(guest(true)).await;
    let app = w.approved("district-spin", &spin).await;
    let running = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.wait_for(&running, |s| s == "running").await;
    let queued = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // As if the process died: the database says queued and running, no queue holds them.
    let gov = w.api.state.queue().governance().clone();
    let all = tokio::task::spawn_blocking(move || {
        let n = JobQueue::fail_interrupted(&gov).unwrap();
        let system = shuyu::governance::model::Caller {
            id: "system".into(),
            role: Role::Bureau,
        };
        (n, gov.list_jobs(&system, &PageRequest::default()).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(all.0, 2);
    for job in all.1.items {
        // The running one ran and did not finish; the queued one never ran.
        let (state, detail) = if job.id == queued {
            (JobState::Cancelled, DETAIL_RESTARTED_QUEUED)
        } else {
            (JobState::Failed, DETAIL_RESTARTED)
        };
        assert_eq!(job.state, state, "{job:?}");
        assert_eq!(job.detail.as_deref(), Some(detail));
    }
    // The worker still running the first job notices nothing wrong but cannot overwrite the
    // final state; the queued one never starts.
    let _ = queued;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_past_the_operators_quota_are_refused_with_429() {
    let w = World::new(1).await;
    let spin = w.upload(guest(true)).await;
    let app = w.approved("district-spin", &spin).await;
    w.api
        .state
        .queue()
        .governance()
        .admin_set_quotas(shuyu::governance::model::QuotaSettings {
            queued_jobs_per_operator: 2,
            ..Default::default()
        })
        .unwrap();
    // One worker: the first spins, the second waits in the queue.
    let first = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = w.submit(&app, &spin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = w
        .api
        .post(
            "/v1/jobs",
            &w.op,
            json!({ "application": app, "module_sha256": spin }),
        )
        .await;
    let message = refused.error(429, "quota_exceeded");
    assert!(message.contains("queued_jobs_per_operator"), "{message}");
    // The refused submission left no job behind.
    let listed = w.api.get("/v1/jobs", Some(&w.op)).await;
    assert_eq!(listed.ok(200)["items"].as_array().unwrap().len(), 2);
    // Once one ends, there is room again.
    for id in [&first, &second] {
        w.api
            .call(
                Method::POST,
                &format!("/v1/jobs/{id}/cancel"),
                Some(&w.op),
                None,
            )
            .await
            .ok(200);
    }
    let third = w.submit(&app, &spin).await;
    assert_eq!(third["state"], "queued", "{third}");
    let id = third["id"].as_str().unwrap().to_string();
    w.api
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&w.op),
            None,
        )
        .await
        .ok(200);
}
