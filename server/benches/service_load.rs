//! Load bench of a verification service through the real HTTP server on loopback: the SME
//! pre-screen (`guest-examples/sme-prescreen`) over generated enterprise data, called at a fixed
//! rate by bounded request loops, with answers per second and latency percentiles.
//!
//! Run: `cargo bench -p shuyu-server --bench service_load -- --enterprises 1000000 --rate 500`
//! (options: `--secs 20`, `--clients 32`, `--subjects 5000`, `--reply-ms 15`). Build the guest
//! modules first (`scripts/build-guests.sh`). Data is generated once per size into
//! `target/bench-data/` and reused; the domain is made afresh each run.
//!
//! The load is open-loop: request `i` is due at `start + i / rate` and its latency is counted
//! from that moment, so a server that falls behind shows it in the percentiles instead of
//! slowing the load down (no coordinated omission). Every reply leaves at the service's fixed
//! reply time (`timeout_ms`, here `--reply-ms`), which is therefore the latency's floor.

// A bench binary: a failed `expect` is a failed run, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use shuyu::domain::Domain;
use shuyu::governance::model::{
    AgreementMode, AgreementScope, Caller, Decision, NewAgreement, NewApplication, NewIdentity,
    ReviewInput, ReviewKind, Role,
};
use shuyu::governance::{Governance, NewConsent, ScenarioFile};
use shuyu::services::{ServiceLimits, SubjectKind};
use shuyu_server::{AppState, Server, ServerConfig};
use shuyu_synth::{generate, GenerateOptions};

const DATASETS: [(&str, &str, &str); 3] = [
    ("enterprise_registry", "p-market", "市场监督管理局"),
    ("tax_payments", "p-tax", "税务局"),
    ("social_insurance", "p-hrss", "人力资源和社会保障局"),
];

struct Options {
    enterprises: u64,
    rate: u64,
    secs: u64,
    clients: usize,
    subjects: usize,
    reply_ms: u32,
}

fn options() -> Options {
    let mut o = Options {
        enterprises: 1_000_000,
        rate: 500,
        secs: 20,
        clients: 32,
        subjects: 5_000,
        reply_ms: 15,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || -> u64 {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--enterprises" => o.enterprises = value(),
            "--rate" => o.rate = value(),
            "--secs" => o.secs = value(),
            "--clients" => o.clients = value() as usize,
            "--subjects" => o.subjects = value() as usize,
            "--reply-ms" => o.reply_ms = value() as u32,
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn caller(id: &str, role: Role) -> Caller {
    Caller {
        id: id.into(),
        role,
    }
}

/// Peak resident memory of this process (server and load together), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// The first `n` credit codes of the generated registry.
fn subjects(data: &Path, n: usize) -> Vec<String> {
    use arrow::array::{Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(data.join("enterprise_registry").join("data.parquet")).unwrap();
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
    {
        let batch = batch.unwrap();
        let usci = batch.column_by_name("usci").unwrap();
        let usci = usci.as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..usci.len()).map(|i| usci.value(i).to_string()));
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

/// Registers the data, approves the service and returns the operator's token.
fn govern(gov: &Governance, data: &Path, scenario: ScenarioFile, module: &[u8]) -> String {
    let bureau = caller("bureau", Role::Bureau);
    let add = |id: &str, role: Role, usci: Option<String>, department: Option<&str>| {
        gov.admin_add_identity(NewIdentity {
            id: id.into(),
            role,
            name: id.into(),
            usci,
            department: department.map(Into::into),
        })
        .unwrap()
        .1
        .token
    };
    add("bureau", Role::Bureau, None, None);
    let token = add(
        "op-acme",
        Role::Operator,
        Some(shuyu_datasets::make_usci("110105", "MA01ACME").unwrap()),
        None,
    );
    for (dataset, provider, department) in DATASETS {
        add(provider, Role::Provider, None, Some(department));
        let dir = data.join(dataset);
        let manifest = std::fs::read_to_string(dir.join("dataset.toml")).unwrap();
        let parquet = std::fs::read(dir.join("data.parquet")).unwrap();
        gov.publish_dataset(
            &caller(provider, Role::Provider),
            dataset,
            &manifest,
            &parquet,
        )
        .unwrap();
    }
    let operator = caller("op-acme", Role::Operator);
    let mut scenario = scenario;
    scenario.scenario.module_sha256 = gov.upload_module(&operator, module).unwrap();
    let now = Utc::now();
    let agreement = gov
        .create_agreement(
            &bureau,
            NewAgreement {
                operator: "op-acme".into(),
                mode: AgreementMode::Comprehensive,
                scope: AgreementScope {
                    datasets: vec![],
                    domains: vec![],
                    max_level: 3,
                },
                term_start: now - chrono::Duration::days(1),
                term_end: now + chrono::Duration::days(365),
                security_requirements: "bench".into(),
                exit_conditions: "bench".into(),
            },
        )
        .unwrap();
    let application = gov
        .submit_application(
            &operator,
            NewApplication {
                agreement: agreement.id,
                scenario,
                valid_until: now + chrono::Duration::days(30),
                amends: None,
            },
        )
        .unwrap();
    for review in &application.reviews {
        let who = match review.kind {
            ReviewKind::Bureau => bureau.clone(),
            ReviewKind::Provider => caller(&review.party, Role::Provider),
        };
        gov.review_application(
            &who,
            &application.id,
            ReviewInput {
                decision: Decision::Approve,
                reason: "bench".into(),
            },
        )
        .unwrap();
    }
    token
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// POSTs `body` and returns the status.
    fn post(&mut self, path: &str, token: &str, body: &str) -> u16 {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        if status == 200 {
            assert!(
                String::from_utf8_lossy(&body).contains("\"answered\""),
                "{}",
                String::from_utf8_lossy(&body)
            );
        } else {
            eprintln!("refused ({status}): {}", String::from_utf8_lossy(&body));
        }
        status
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let o = options();
    let root = repo();
    let module = std::fs::read(root.join("target/wasm-modules/sme_prescreen.wasm"))
        .expect("sme_prescreen.wasm: run scripts/build-guests.sh first");
    let mut scenario =
        ScenarioFile::load(&root.join("guest-examples/sme-prescreen/scenario.toml")).unwrap();
    scenario.services[0].timeout_ms = o.reply_ms;
    scenario.services[0].rate_per_second = 10_000;
    scenario.services[0].daily_quota = 100_000_000;

    let scale = o.enterprises as f64 / 10_000.0;
    let work = root.join("target").join("bench-data");
    let data = work.join(format!("services-{scale:.3}"));
    if !data.join("social_insurance").join("dataset.toml").is_file() {
        eprintln!(
            "generating {} enterprises into {}",
            o.enterprises,
            data.display()
        );
        let options = GenerateOptions {
            scale,
            only: Some(DATASETS.iter().map(|(d, _, _)| d.to_string()).collect()),
            ..GenerateOptions::default()
        };
        generate(&data, &options, &mut |line| eprintln!("  {line}")).unwrap();
    }
    let domain_dir = work.join(format!("services-domain-{scale:.3}"));
    let _ = std::fs::remove_dir_all(&domain_dir);
    let domain = Domain::open(&domain_dir).unwrap();
    let gov = Governance::new(
        domain.store.clone(),
        domain.audit.clone(),
        domain.data_dir(),
    );
    eprintln!("registering data and approving the service");
    let token = govern(&gov, &data, scenario, &module);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        service_limits: ServiceLimits {
            operator_rate_per_second: 10_000,
            operator_daily_quota: 100_000_000,
            ..ServiceLimits::default()
        },
        ..ServerConfig::default()
    };
    let state = AppState::new(domain, config.clone()).unwrap();
    let services = state.services().clone();
    eprintln!("building the subject index");
    let indexing = Instant::now();
    services.warm().unwrap();
    let index_secs = indexing.elapsed().as_secs_f64();
    let index_rss = peak_rss_mib();

    let operator = caller("op-acme", Role::Operator);
    let subjects = subjects(&data, o.subjects);
    let mut calls = Vec::with_capacity(subjects.len());
    for subject in &subjects {
        let consent = gov
            .grant_consent(
                &operator,
                NewConsent {
                    service: "sme-prescreen.prescreen".into(),
                    subject_kind: SubjectKind::Usci,
                    subject_ref: services.subject_ref(SubjectKind::Usci, subject).unwrap(),
                    purpose: "bench".into(),
                    evidence_sha256: "ab".repeat(32),
                    valid_from: Utc::now() - chrono::Duration::minutes(1),
                    valid_until: Utc::now() + chrono::Duration::days(1),
                },
            )
            .unwrap();
        calls.push(format!(
            r#"{{"subject":"{subject}","consent":"{}","params":{{"amount":500000}}}}"#,
            consent.id
        ));
    }
    let calls = Arc::new(calls);

    let server = runtime
        .block_on(Server::bind(state, config.listen))
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    let total = (o.rate * o.secs) as usize;
    let start = Instant::now() + Duration::from_millis(200);
    let interval = Duration::from_secs_f64(1.0 / o.rate as f64);
    let token = Arc::new(token);
    let threads: Vec<_> = (0..o.clients)
        .map(|c| {
            let calls = calls.clone();
            let token = token.clone();
            let clients = o.clients;
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut latencies = Vec::new();
                let mut refused = 0u64;
                let mut i = c;
                while i < total {
                    let due = start + interval * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let status = client.post(
                        "/v1/services/sme-prescreen.prescreen/answers",
                        &token,
                        &calls[i % calls.len()],
                    );
                    if status == 200 {
                        latencies.push(due.elapsed());
                    } else {
                        refused += 1;
                    }
                    i += clients;
                }
                (latencies, refused)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut refused = 0;
    for thread in threads {
        let (l, r) = thread.join().unwrap();
        latencies.extend(l);
        refused += r;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = runtime.block_on(serving);
    latencies.sort_unstable();
    println!(
        "| enterprises | index build (s) | RSS after index (MiB) | reply time (ms) | rate asked (/s) | answered (/s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | refused |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {index_secs:.1} | {index_rss} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {refused} |",
        o.enterprises,
        o.reply_ms,
        o.rate,
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
}
