//! The documented workflow with the `shuyu` command line against the real server, as the role
//! guides in docs/ walk it: register, agree, apply, review, run, download, suspend.

use serde_json::Value;

use super::{date_from_now, shuyu, Server};
use crate::support;

/// Runs a client command as `who` with `--json`; returns (exit code, parsed stdout or Null, all
/// output for messages).
fn client(server: &Server, who: &str, args: &[&str]) -> (i32, Value, String) {
    let url = format!("http://{}", server.addr);
    let mut full = vec!["--server", &url, "--token", server.token(who), "--json"];
    full.extend_from_slice(args);
    let (code, out, err) = shuyu(server.dir(), &full);
    let value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (code, value, format!("{out}{err}"))
}

#[test]
fn the_role_guides_workflow_runs_from_the_command_line() {
    let server = Server::start();
    let repo = support::repo();

    for (who, dataset) in [
        ("prov-market", "enterprise_registry"),
        ("prov-tax", "tax_payments"),
    ] {
        let dir = repo.join("datasets").join(dataset);
        let (code, _, out) = client(
            &server,
            who,
            &["datasets", "register", dir.to_str().expect("utf-8")],
        );
        assert_eq!(code, 0, "{out}");
    }

    let (code, agreement, out) = client(
        &server,
        "bureau",
        &[
            "agreement",
            "create",
            "--operator",
            "op-1",
            "--mode",
            "comprehensive",
            "--max-level",
            "3",
            "--from",
            &date_from_now(-1),
            "--until",
            &date_from_now(730),
            "--security",
            "等保三级",
            "--exit",
            "期满终止",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let agreement = agreement["id"].as_str().expect("agreement id").to_string();

    // The operator's scenario names itself as operator; `--module` pins the module it uploads.
    let module = repo.join("target/wasm-modules/district_stats.wasm");
    let module = module.to_str().expect("utf-8");
    let mut scenario = support::scenario("district-stats", &support::module("district_stats"));
    scenario.scenario.operator = "op-1".into();
    let scenario_path = server.dir().join("district-stats.toml");
    std::fs::write(&scenario_path, toml::to_string(&scenario).expect("toml")).expect("write");
    let (code, application, out) = client(
        &server,
        "op-1",
        &[
            "scenario",
            "apply",
            "--agreement",
            &agreement,
            "--scenario",
            scenario_path.to_str().expect("utf-8"),
            "--until",
            &date_from_now(365),
            "--module",
            module,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let app = application["id"]
        .as_str()
        .expect("application id")
        .to_string();

    // A job before approval is refused (exit 1, the reason printed).
    let (code, _, out) = client(
        &server,
        "op-1",
        &["job", "submit", "--application", &app, "--module", module],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pending"), "{out}");

    for who in ["bureau", "prov-market", "prov-tax"] {
        let (code, _, out) = client(
            &server,
            who,
            &["review", "approve", &app, "--reason", "同意"],
        );
        assert_eq!(code, 0, "{who}: {out}");
    }

    let (code, job, out) = client(
        &server,
        "op-1",
        &[
            "job",
            "submit",
            "--application",
            &app,
            "--module",
            module,
            "--wait",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let product = job["releases"][0]["product"]
        .as_str()
        .unwrap_or_else(|| panic!("a released product: {job}"))
        .to_string();
    let download = server.dir().join("download");
    let (code, _, out) = client(
        &server,
        "op-1",
        &[
            "product",
            "download",
            &product,
            "--out",
            download.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(download.join("manifest.sig").is_file());

    // Anyone can check it with the domain's public key, which the server gives without a token.
    let url = format!("http://{}", server.addr);
    let elsewhere = tempfile::tempdir().expect("a data directory without keys");
    let key_file = elsewhere.path().join("domain.pub");
    let key_arg = key_file.to_str().expect("utf-8");
    let (code, out, err) = shuyu(
        elsewhere.path(),
        &["--server", &url, "domain", "public-key", "--out", key_arg],
    );
    assert_eq!(code, 0, "{out}{err}");
    let served = std::fs::read_to_string(&key_file).expect("key written");
    let on_disk = std::fs::read_to_string(server.dir().join("keys").join("domain.pub"))
        .expect("the domain's key file");
    assert_eq!(served.trim(), on_disk.trim());
    assert_eq!(out.trim(), on_disk.trim(), "stdout is the key alone");
    let package = download.to_str().expect("utf-8");
    let (code, out, err) = shuyu(
        elsewhere.path(),
        &["product", "verify", package, "--public-key", key_arg],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("untouched"), "{out}");
    // Without a key file: fetched from the server given; with neither, nothing to verify with.
    let (code, out, err) = shuyu(
        elsewhere.path(),
        &["--server", &url, "product", "verify", package],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = shuyu(elsewhere.path(), &["product", "verify", package]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("domain.pub"), "{err}");

    // Another operator cannot download it (to it the product does not exist: 404, exit 2); a
    // suspended operator cannot run.
    let (code, _, out) = client(
        &server,
        "op-2",
        &[
            "product",
            "download",
            &product,
            "--out",
            server.dir().join("x").to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("404 not_found"), "{out}");
    let (code, _, out) = client(
        &server,
        "bureau",
        &["operator", "suspend", "op-1", "--reason", "评估不合格"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, _, out) = client(
        &server,
        "op-1",
        &["job", "submit", "--application", &app, "--module", module],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("suspended"), "{out}");

    // The reviewer verifies the log over the server.
    let (code, _, out) = client(&server, "reviewer", &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    // ... and continues a listing after a seq, as after the head noted at the last review.
    let (code, page, out) = client(
        &server,
        "reviewer",
        &["audit", "show", "--after", "3", "--limit", "2"],
    );
    assert_eq!(code, 0, "{out}");
    let seqs: Vec<u64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|entry| entry["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [4, 5], "{page}");
}
