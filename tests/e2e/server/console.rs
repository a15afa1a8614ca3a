//! The console in a real browser: Debian's Chromium, driven through ChromeDriver (WebDriver over
//! HTTP), against the real server. Each role signs in and does its main task through the page;
//! a forged cross-site form and a wrong role are refused. Screenshots of the main pages are kept
//! in `target/console-screenshots/` to look at.
//!
//! Needs `/usr/bin/chromium` and `chromedriver` (`scripts/install-browser.sh`; `./run test`
//! installs them).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    agreement, agreement_end, application_end, apply, approve_all, district_scenario, Server,
};
use crate::support;

/// A ChromeDriver process and one browser session in it.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

/// One WebDriver request; the answer is read up to its `Content-Length` (ChromeDriver keeps
/// connections open).
fn webdriver_request(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to chromedriver");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = webdriver_request(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            "",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start() -> Self {
        let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect(
                "chromedriver is not installed: run scripts/install-browser.sh (./run test does)",
            );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The flags keep Chromium from reaching for the network (this machine's is closed) and
        // from needing a sandbox as root.
        let profile = tempfile::tempdir().expect("profile").keep();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
        };
        let created = browser.call("POST", "/session", &capabilities);
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = webdriver_request(&self.addr, method, path, &body);
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path}: {value}");
        value["value"].clone()
    }

    fn command(&self, method: &str, what: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{what}", self.session), &body)
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url }));
    }

    fn source(&self) -> String {
        self.command("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's source once it contains `text` (a click's navigation may still be loading).
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let source = self.source();
            if source.contains(text) || Instant::now() > deadline {
                return source;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn find(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            json!({ "using": "css selector", "value": css }),
        );
        found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.command("POST", &format!("/element/{element}/click"), json!({}));
    }

    /// Saves a screenshot as `target/console-screenshots/<name>.png`.
    fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let png = self.command("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        let dir = support::repo().join("target").join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots folder");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("screenshot");
    }

    fn sign_in(&self, base: &str, token: &str) {
        self.open(&format!("{base}/console/sign-in"));
        self.type_into("input[name=token]", token);
        self.click("form button");
        // Signed in once the page shows who is.
        assert!(self.wait_for(r#"class="who""#).contains(r#"class="who""#));
    }

    /// The value of the browser's cookie `name` for the current page's site.
    fn cookie(&self, name: &str) -> String {
        let cookie = self.command("GET", &format!("/cookie/{name}"), Value::Null);
        cookie["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no cookie {name}: {cookie}"))
            .to_string()
    }

    /// Selects the option whose value is `value` in the `<select>` found by `css`.
    fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']"));
    }

    /// Runs `script` in the page and returns its value.
    fn script(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Resizes the window (a tablet is 768×1024).
    fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        );
    }

    fn sign_out(&self) {
        self.click("header form button");
        assert!(
            self.wait_for("password").contains("password"),
            "the sign-in page"
        );
    }
}

/// An application of op-1 waiting for its reviews; returns its id.
fn pending_application(server: &Server) -> String {
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let agreement = agreement(server, "op-1", &agreement_end());
    let sha = server.upload("op-1", &support::module("district_stats"));
    let application = apply(
        server,
        "op-1",
        &agreement,
        &district_scenario("op-1", &sha),
        &application_end(),
    );
    assert_eq!(application.status, 201);
    application.json()["id"].as_str().expect("id").to_string()
}

#[test]
fn each_role_does_its_main_task_in_a_real_browser() {
    let server = Server::start();
    let application = pending_application(&server);
    let base = format!("http://{}", server.addr);
    let browser = Browser::start();

    // The bureau approves from its queue.
    browser.sign_in(&base, server.token("bureau"));
    browser.open(&format!("{base}/console/reviews"));
    let queue = browser.source();
    assert!(queue.contains(&application), "{queue}");
    assert!(queue.contains("审查队列"), "Chinese by default");
    browser.screenshot("bureau-review-queue");
    browser.type_into("input[name=reason]", "场景合规");
    browser.click("form[action$='/review'] button");
    let done = browser.wait_for("已记录审查");
    assert!(done.contains("已记录审查"), "{done}");
    let record = server
        .get("bureau", &format!("/v1/applications/{application}"))
        .json();
    let bureau_review = record["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .find(|r| r["kind"] == "bureau")
        .cloned()
        .expect("bureau review");
    assert_eq!(bureau_review["decision"], "approve", "{record}");
    assert_eq!(bureau_review["reason"], "场景合规");

    // A page on another site that posts a review form to the console gets nothing done: the
    // session cookie is not sent cross-site, and there is no CSRF token to send.
    let forged = format!(
        "data:text/html,<form method=post action='{base}/console/applications/{application}/review'>\
         <input name=decision value=reject><input name=reason value=forged></form>\
         <script>document.forms[0].submit()</script>"
    );
    browser.open(&forged);
    // The forged post reached the server (its request log shows it) and was sent to sign in.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = |log: &str| {
        log.lines().any(|l| {
            l.contains("method=POST")
                && l.contains("route=/console/applications/{id}/review")
                && (l.contains("status=303") || l.contains("status=403"))
        })
    };
    while !refused(&server.log_text()) {
        assert!(
            Instant::now() < deadline,
            "the forged form never reached the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let record = server
        .get("bureau", &format!("/v1/applications/{application}"))
        .json();
    assert!(
        !record.to_string().contains("forged"),
        "a forged form was accepted: {record}"
    );
    browser.open(&format!("{base}/console/reviews?lang=en"));
    assert!(
        browser.source().contains("Review queue"),
        "English on request"
    );
    // On a tablet the page fits its width (wide tables scroll inside it).
    browser.resize(768, 1024);
    browser.open(&format!("{base}/console/applications/{application}"));
    let fits =
        browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1;");
    assert_eq!(fits, json!(true), "the page is wider than a tablet");
    browser.screenshot("bureau-application-tablet");
    browser.resize(1280, 800);
    browser.sign_out();
    assert!(
        browser.wait_for("Sign in").contains("Sign in"),
        "signed out"
    );

    // The reviewer searches the log and verifies it; the review above is there.
    browser.sign_in(&base, server.token("reviewer"));
    browser.open(&format!("{base}/console/audit"));
    browser.type_into("input[name=action]", "gov.review");
    browser.click("form[method=get] button");
    let found = browser.wait_for("gov.review");
    assert!(
        found.contains("gov.review") && found.contains("bureau"),
        "{found}"
    );
    browser.screenshot("reviewer-audit-search");
    browser.click("form[action='/console/audit/verify'] button");
    let verified = browser.wait_for(r#"class="ok""#);
    assert!(
        verified.contains("The audit log verifies") || verified.contains("审计日志验证通过"),
        "{verified}"
    );
    browser.screenshot("reviewer-audit-verified");
    // A wrong role sees no foreign page.
    browser.open(&format!("{base}/console/reviews"));
    assert!(browser
        .source()
        .contains("only the bureau and providers review applications"));
    browser.open(&format!("{base}/console/audit"));
    browser.sign_out();

    // The operator sees its jobs, and not the audit log.
    browser.sign_in(&base, server.token("op-1"));
    browser.open(&format!("{base}/console/jobs"));
    let jobs = browser.source();
    // English since the bureau chose it in this browser (the language is a cookie).
    assert!(
        jobs.contains("No jobs yet") || jobs.contains("还没有作业"),
        "{jobs}"
    );
    browser.screenshot("operator-jobs");
    browser.open(&format!("{base}/console/audit"));
    assert!(browser
        .source()
        .contains("only reviewers and the bureau read the audit log"));
}

/// `GET path` with the browser's session cookie, as a link the page shows would be fetched:
/// (status, body).
fn get_with_cookie(addr: &str, path: &str, session: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: shuyu_session={session}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, answer[split + 4..].to_vec())
}

#[test]
fn an_operator_mock_runs_submits_and_downloads_and_a_reviewer_verifies_the_product() {
    let server = Server::start();
    let application = pending_application(&server);
    let record = server
        .get("op-1", &format!("/v1/applications/{application}"))
        .json();
    approve_all(&server, &record);
    let base = format!("http://{}", server.addr);
    let browser = Browser::start();

    // The bureau reads the application in human terms, and its operators.
    browser.sign_in(&base, server.token("bureau"));
    browser.open(&format!(
        "{base}/console/applications/{application}?lang=en"
    ));
    let page = browser.source();
    assert!(
        page.contains("district_stats") && page.contains("sensitive"),
        "{page}"
    );
    browser.screenshot("bureau-application");
    browser.open(&format!("{base}/console/operators"));
    assert!(browser.source().contains("op-1"));
    browser.screenshot("bureau-operators");
    browser.sign_out();

    // The operator develops on mock twins: the unchanged module, the application's scenario.
    browser.sign_in(&base, server.token("op-1"));
    browser.open(&format!("{base}/console/mock-runs"));
    let module = support::wasm_path("district_stats");
    browser.type_into("input[name=module]", module.to_str().expect("utf8 path"));
    browser.select("select[name=application]", &application);
    browser.click("#start-mock");
    let report = browser.wait_for("mock-outcome");
    let report = if report.contains("completed") {
        report
    } else {
        browser.wait_for("completed")
    };
    assert!(
        report.contains("completed") && report.contains("MOCK"),
        "{report}"
    );
    assert!(
        report.contains("mock-release"),
        "a released table: {report}"
    );
    browser.screenshot("operator-mock-run");

    // Then the real job, from the jobs page; its product is downloaded with the page's link.
    browser.open(&format!("{base}/console/jobs"));
    browser.select("select[name=application]", &application);
    browser.click("#submit-job");
    let jobs = browser.wait_for("class=\"product\"");
    assert!(jobs.contains("class=\"product\""), "{jobs}");
    browser.screenshot("operator-jobs-product");
    let job = server.get("op-1", "/v1/jobs").json();
    let product = job["items"][0]["releases"][0]["product"]
        .as_str()
        .expect("a product")
        .to_string();
    let session = browser.cookie("shuyu_session");
    let downloads = tempfile::tempdir().expect("downloads");
    for file in ["manifest.json", "manifest.sig", "data.parquet", "data.csv"] {
        let (status, body) = get_with_cookie(
            &server.addr,
            &format!("/console/products/{product}/{file}"),
            &session,
        );
        assert_eq!(status, 200, "{file}: {}", String::from_utf8_lossy(&body));
        std::fs::write(downloads.path().join(file), body).expect("save");
    }
    let csv = std::fs::read_to_string(downloads.path().join("data.csv")).expect("csv");
    assert!(csv.contains("district"), "{csv}");
    browser.open(&format!("{base}/console/budgets"));
    browser.screenshot("operator-budgets");
    browser.sign_out();

    // The reviewer sees the release in the egress view and verifies the downloaded package.
    browser.sign_in(&base, server.token("reviewer"));
    browser.open(&format!("{base}/console/egress"));
    assert!(browser.source().contains(&product));
    browser.screenshot("reviewer-egress");
    browser.open(&format!("{base}/console/verify-product"));
    for (field, file) in [
        ("manifest", "manifest.json"),
        ("signature", "manifest.sig"),
        ("parquet", "data.parquet"),
        ("csv", "data.csv"),
    ] {
        let path = downloads.path().join(file);
        browser.type_into(
            &format!("input[name={field}]"),
            path.to_str().expect("utf8 path"),
        );
    }
    browser.click("#verify-product");
    let verified = browser.wait_for("verify-result");
    assert!(
        verified.contains("signature and hashes verify") && verified.contains(&product),
        "{verified}"
    );
    assert!(!verified.contains("not in this domain"), "{verified}");
    browser.screenshot("reviewer-product-verified");
    // A package altered after download does not verify.
    std::fs::write(downloads.path().join("data.csv"), csv.replace('1', "2")).expect("tamper");
    browser.open(&format!("{base}/console/verify-product"));
    for (field, file) in [
        ("manifest", "manifest.json"),
        ("signature", "manifest.sig"),
        ("parquet", "data.parquet"),
        ("csv", "data.csv"),
    ] {
        let path = downloads.path().join(file);
        browser.type_into(
            &format!("input[name={field}]"),
            path.to_str().expect("utf8 path"),
        );
    }
    browser.click("#verify-product");
    let refused = browser.wait_for("verify-result");
    assert!(
        refused.contains("data.csv") && refused.contains("✗"),
        "{refused}"
    );
}
