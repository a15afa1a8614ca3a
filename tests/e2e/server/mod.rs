//! The governance workflow through the real `shuyu serve` on loopback: a real server process, real
//! HTTP, the real database; identities made with the real `shuyu admin`.

mod authz;
mod bad_input;
mod channels;
mod cli_workflow;
mod console;
mod contract;
mod crash;
mod docs;
mod lifecycle;
mod mock_runs;
mod progress;
mod refusals;
mod services;
mod terms_and_objections;
mod time_zone;
mod workers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support;

/// The departments of the bundled datasets, as their manifests name them.
pub(crate) const PROVIDERS: &[(&str, &str, &[&str])] = &[
    ("prov-market", "市场监督管理局", &["enterprise_registry"]),
    ("prov-tax", "税务局", &["tax_payments"]),
    ("prov-hrss", "人力资源和社会保障局", &["social_insurance"]),
    ("prov-police", "公安局", &["residents"]),
    ("prov-health", "卫生健康委员会", &["clinic_visits"]),
];

/// A valid unified social credit code for test operators.
pub(crate) fn usci(body: &str) -> String {
    shuyu_datasets::ids::make_usci("330106", body).expect("valid usci parts")
}

/// One response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (panics with the body text otherwise).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an error answer with `status` whose message names `what`.
    pub(crate) fn assert_refused(&self, status: u16, what: &str) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let message = self.message();
        assert!(message.contains(what), "{message}");
    }

    /// The error message of a JSON error body.
    pub(crate) fn message(&self) -> String {
        let body = self.json();
        assert_eq!(
            body["error"]["status"].as_u64(),
            Some(u64::from(self.status)),
            "error body names its status: {body}"
        );
        body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error body without message: {body}"))
            .to_string()
    }
}

/// A running `shuyu serve` and the identities made for it.
pub(crate) struct Server {
    child: Option<Child>,
    /// Options given to `shuyu serve` besides the address and worker count.
    pub serve_args: Vec<String>,
    pub addr: String,
    pub data_dir: tempfile::TempDir,
    pub tokens: std::collections::BTreeMap<String, String>,
    /// Where the server's stderr (its log) goes; inherited when `None`.
    pub log: Option<std::path::PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the `shuyu` binary on a data directory and returns (exit code, stdout, stderr).
pub(crate) fn shuyu(data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shuyu"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run shuyu");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Server {
    /// A fresh data directory with bureau, reviewer, one provider per bundled department and two
    /// operators, made with `shuyu admin`; then the server started on a free port.
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Server::start`] with more `shuyu serve` options.
    pub(crate) fn start_with(serve_args: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut tokens = std::collections::BTreeMap::new();
        let mut add = |args: &[&str]| {
            let id = args[0].to_string();
            let mut full = vec!["admin", "identity", "add", "--json", "--id"];
            full.extend_from_slice(args);
            let (code, out, err) = shuyu(data_dir.path(), &full);
            assert_eq!(code, 0, "admin identity add {args:?}: {out}{err}");
            let value: Value = serde_json::from_str(out.trim())
                .unwrap_or_else(|e| panic!("admin --json output is JSON ({e}): {out}"));
            let token = value["token"]["token"]
                .as_str()
                .or_else(|| value["token"].as_str())
                .unwrap_or_else(|| panic!("no token in {value}"))
                .to_string();
            tokens.insert(id, token);
        };
        add(&["bureau", "--role", "bureau", "--name", "大数据管理局"]);
        add(&["reviewer", "--role", "reviewer", "--name", "安全审查组"]);
        for (id, department, _) in PROVIDERS {
            add(&[
                id,
                "--role",
                "provider",
                "--name",
                department,
                "--department",
                department,
            ]);
        }
        let op1 = usci("MA1B2C3D");
        let op2 = usci("MA7E8F9G");
        add(&[
            "op-1",
            "--role",
            "operator",
            "--name",
            "示例数据运营有限公司",
            "--usci",
            &op1,
        ]);
        add(&[
            "op-2",
            "--role",
            "operator",
            "--name",
            "另一家运营公司",
            "--usci",
            &op2,
        ]);
        let mut server = Self {
            child: None,
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            addr: String::new(),
            log: None,
            data_dir,
            tokens,
        };
        // The server's log (a line per request) would drown the test output: it goes to a file
        // a test can read.
        server.log = Some(server.dir().join("server.log"));
        server.spawn();
        server
    }

    /// What the server has logged so far (its stderr, `server.log` in its data directory).
    pub(crate) fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// Starts (or restarts) the server process on the data directory.
    pub(crate) fn spawn(&mut self) {
        let stderr = match &self.log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("open the server log"),
            ),
            None => Stdio::inherit(),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_shuyu"))
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "2"])
            .args(&self.serve_args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start shuyu serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line names the address: {line:?}"))
            .to_string();
        self.addr = addr;
        self.child = Some(child);
    }

    /// The server process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// Kills the server with SIGKILL (no chance to clean up).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            let _ = child.wait();
        }
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The token of an identity.
    pub(crate) fn token(&self, who: &str) -> &str {
        self.tokens
            .get(who)
            .unwrap_or_else(|| panic!("no identity {who}"))
    }

    /// One HTTP/1.1 request with `Connection: close`.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        who: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Response {
        let token = who.map(|w| self.token(w).to_string());
        raw_request(
            &self.addr,
            method,
            path,
            token.as_deref(),
            content_type,
            body,
        )
    }

    /// GET as `who`.
    pub(crate) fn get(&self, who: &str, path: &str) -> Response {
        self.request("GET", path, Some(who), "application/json", b"")
    }

    /// POST JSON as `who`.
    pub(crate) fn post(&self, who: &str, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.request("POST", path, Some(who), "application/json", &bytes)
    }

    /// POST JSON as `who`, expecting `status`; returns the JSON body.
    pub(crate) fn ok(&self, who: &str, path: &str, body: &Value, status: u16) -> Value {
        let response = self.post(who, path, body);
        assert_eq!(
            response.status,
            status,
            "POST {path} as {who}: {}",
            String::from_utf8_lossy(&response.body)
        );
        response.json()
    }

    /// Publishes a bundled dataset as its provider.
    pub(crate) fn publish_bundled(&self, dataset: &str) -> Value {
        self.publish_folder(dataset, &support::repo().join("datasets").join(dataset))
    }

    /// Publishes a version of `dataset` from `folder` (its `dataset.toml` and `data.parquet`) as
    /// its provider; returns the dataset record.
    pub(crate) fn publish_folder(&self, dataset: &str, folder: &std::path::Path) -> Value {
        let provider = PROVIDERS
            .iter()
            .find(|(_, _, sets)| sets.contains(&dataset))
            .map(|(id, _, _)| *id)
            .expect("bundled dataset");
        let manifest = std::fs::read_to_string(folder.join("dataset.toml")).expect("manifest");
        let parquet = std::fs::read(folder.join("data.parquet")).expect("parquet");
        use base64::Engine as _;
        let body = json!({
            "manifest": manifest,
            "parquet_base64": base64::engine::general_purpose::STANDARD.encode(parquet),
        });
        self.ok(
            provider,
            &format!("/v1/datasets/{dataset}/versions"),
            &body,
            201,
        )
    }

    /// Uploads a module as `who`; returns its SHA-256.
    pub(crate) fn upload(&self, who: &str, module: &[u8]) -> String {
        let response = self.request("POST", "/v1/modules", Some(who), "application/wasm", module);
        assert_eq!(
            response.status,
            201,
            "upload: {}",
            String::from_utf8_lossy(&response.body)
        );
        response.json()["sha256"]
            .as_str()
            .expect("sha256")
            .to_string()
    }

    /// Polls a job until it leaves `queued`/`running`.
    pub(crate) fn wait_job(&self, who: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.get(who, &format!("/v1/jobs/{id}"));
            assert_eq!(job.status, 200, "{}", String::from_utf8_lossy(&job.body));
            let job = job.json();
            let state = job["state"].as_str().unwrap_or_default().to_string();
            if state != "queued" && state != "running" {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} still {state}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub(crate) fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    // A server may answer (413) before reading a large body and close: that is fine.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if chunked {
        let mut body = Vec::new();
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size line");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
                .expect("chunk size");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = rest[end + 2 + size + 2..].to_vec();
        }
        rest = body;
    }
    Response { status, body: rest }
}

/// The bundled district-stats scenario as `op-1`'s, pinned to `module_sha256`.
pub(crate) fn district_scenario(operator: &str, module_sha256: &str) -> Value {
    let module = support::module("district_stats");
    let mut scenario = support::scenario("district-stats", &module);
    scenario.scenario.operator = operator.to_string();
    scenario.scenario.module_sha256 = module_sha256.to_string();
    serde_json::to_value(&scenario).expect("scenario as JSON")
}

/// The time `days` from now (negative: before), RFC 3339 in UTC. Agreement terms are bounded
/// (docs/bureau.md), so tests use times near the day they run.
pub(crate) fn days_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The date `days` from now, `YYYY-MM-DD` in UTC, for the command line's date options.
pub(crate) fn date_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// The end of the tests' agreements: two years ahead, within the longest term allowed.
pub(crate) fn agreement_end() -> String {
    days_from_now(730)
}

/// The end of validity of the tests' applications: one year ahead, within their agreements.
pub(crate) fn application_end() -> String {
    days_from_now(365)
}

/// A comprehensive agreement for `operator` from yesterday until `until` (RFC 3339).
pub(crate) fn agreement(server: &Server, operator: &str, until: &str) -> String {
    let body = json!({
        "operator": operator,
        "mode": "comprehensive",
        "scope": { "max_level": 3 },
        "term_start": days_from_now(-1),
        "term_end": until,
        "security_requirements": "等保三级；数据不出域",
        "exit_conditions": "期满或评估不合格终止",
    });
    server.ok("bureau", "/v1/agreements", &body, 201)["id"]
        .as_str()
        .expect("agreement id")
        .to_string()
}

/// Runs the `shuyu` client against `server` as `who` (global options such as `--json` or
/// `--time-zone` go first in `args`); returns (exit code, stdout, stdout then stderr).
pub(crate) fn client(server: &Server, who: &str, args: &[&str]) -> (i32, String, String) {
    let url = format!("http://{}", server.addr);
    let mut full = vec!["--server", &url, "--token", server.token(who)];
    full.extend_from_slice(args);
    let (code, out, err) = shuyu(server.dir(), &full);
    let all = format!("{out}{err}");
    (code, out, all)
}

/// Applies for `scenario` as `operator` under `agreement` and has every reviewer approve it;
/// returns the application's id.
pub(crate) fn approved(
    server: &Server,
    operator: &str,
    agreement: &str,
    scenario: &Value,
) -> String {
    let application = apply(server, operator, agreement, scenario, &application_end());
    assert_eq!(
        application.status,
        201,
        "{}",
        String::from_utf8_lossy(&application.body)
    );
    approve_all(server, &application.json())["id"]
        .as_str()
        .expect("application id")
        .to_string()
}

/// Submits an application; returns the response.
pub(crate) fn apply(
    server: &Server,
    operator: &str,
    agreement: &str,
    scenario: &Value,
    until: &str,
) -> Response {
    server.post(
        operator,
        "/v1/applications",
        &json!({ "agreement": agreement, "scenario": scenario, "valid_until": until }),
    )
}

/// Every required review approves.
pub(crate) fn approve_all(server: &Server, application: &Value) -> Value {
    let id = application["id"].as_str().expect("application id");
    let mut last = application.clone();
    for review in application["reviews"].as_array().expect("reviews") {
        let who = match review["kind"].as_str() {
            Some("bureau") => "bureau".to_string(),
            _ => review["party"].as_str().expect("party").to_string(),
        };
        last = server.ok(
            &who,
            &format!("/v1/applications/{id}/reviews"),
            &json!({ "decision": "approve", "reason": "符合场景要求" }),
            200,
        );
    }
    last
}

/// The pids of `parent`'s children running `shuyu worker` for a job or a mock run.
pub(crate) fn workers_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after its last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        // A job's worker, not one compiling a module or building a universe ahead of a job.
        let is_worker = args.contains(&&b"worker"[..])
            && !args.contains(&&b"--compile"[..])
            && !args.contains(&&b"--warm-universe"[..]);
        if ppid == Some(parent) && is_worker {
            found.push(pid);
        }
    }
    found
}

/// Sends `signal` (`-STOP`, `-KILL`) to `pid`.
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

/// Whether `pid` runs (a zombie nobody reaped yet has ended).
pub(crate) fn process_lives(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name's closing parenthesis.
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}
