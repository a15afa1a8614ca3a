//! The `shuyu` binary: exit codes, messages, tamper detection from the command line.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{self, TestDomain};

fn shuyu(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shuyu"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run shuyu")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A domain with one released product, run through the binary.
fn released_product(t: &TestDomain) -> std::path::PathBuf {
    let module = support::module("district_stats");
    let scenario = support::scenario("district-stats", &module);
    let scenario_path = t.data_dir().join("scenario.toml");
    std::fs::write(&scenario_path, toml::to_string(&scenario).unwrap()).unwrap();
    let module_path = t.data_dir().join("module.wasm");
    std::fs::write(&module_path, &module).unwrap();
    let out = shuyu(
        t.data_dir(),
        &[
            "run",
            "--scenario",
            scenario_path.to_str().unwrap(),
            "--module",
            module_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("suppressed:"),
        "suppression is never silent: {printed}"
    );
    let product = printed
        .lines()
        .find_map(|l| l.strip_prefix("product: "))
        .expect("product line");
    std::path::PathBuf::from(product.trim())
}

#[test]
fn run_prints_the_product_and_verify_detects_any_alteration() {
    let t = TestDomain::new();
    let product = released_product(&t);
    let product_arg = product.to_str().unwrap();
    let out = shuyu(t.data_dir(), &["product", "verify", product_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let csv = product.join("data.csv");
    let mut bytes = std::fs::read(&csv).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&csv, bytes).unwrap();
    let out = shuyu(t.data_dir(), &["product", "verify", product_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("data.csv"), "{}", text(&out));
}

#[test]
fn audit_verify_names_the_first_edited_entry() {
    let t = TestDomain::new();
    released_product(&t);
    let out = shuyu(t.data_dir(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = shuyu(t.data_dir(), &["audit", "show", "--action", "release"]);
    assert!(text(&out).contains("release"), "{}", text(&out));
    // A limited listing names its continuation, and --after continues it.
    let out = shuyu(t.data_dir(), &["--json", "audit", "show", "--limit", "2"]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["next"], "2", "{page}");
    let out = shuyu(t.data_dir(), &["audit", "show", "--limit", "2"]);
    assert!(text(&out).contains("--after 2"), "{}", text(&out));
    let out = shuyu(
        t.data_dir(),
        &["--json", "audit", "show", "--after", "2", "--limit", "1"],
    );
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["items"][0]["seq"], 3, "{page}");

    let db = rusqlite::Connection::open(t.data_dir().join("shuyu.db")).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit%entr%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let table = tables.first().expect("an audit entries table");
    db.execute(
        &format!("UPDATE {table} SET actor = 'someone else' WHERE seq = 3"),
        [],
    )
    .unwrap();
    drop(db);
    let out = shuyu(t.data_dir(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains('3'), "{}", text(&out));
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let t = TestDomain::new();
    let module_path = t.data_dir().join("m.wasm");
    std::fs::write(&module_path, support::module("district_stats")).unwrap();
    let bad = t.data_dir().join("bad.toml");
    std::fs::write(&bad, "[scenario]\nid = \"x\"\n").unwrap();
    let out = shuyu(
        t.data_dir(),
        &[
            "run",
            "--scenario",
            bad.to_str().unwrap(),
            "--module",
            module_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.toml"), "{}", text(&out));

    let mut scenario = support::scenario("district-stats", &support::module("district_stats"));
    scenario.grants[0].columns.push("no_such_column".into());
    std::fs::write(&bad, toml::to_string(&scenario).unwrap()).unwrap();
    let out = shuyu(
        t.data_dir(),
        &[
            "run",
            "--scenario",
            bad.to_str().unwrap(),
            "--module",
            module_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no_such_column"), "{}", text(&out));

    let out = shuyu(t.data_dir(), &["datasets", "show", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("enterprise_registry"),
        "lists what exists: {}",
        text(&out)
    );
}

/// The measured attack: delete the log's last entries and their checkpoints. The chain left is
/// valid, so only what the domain holds outside the log (the product's manifest cites its
/// `release` entry) or a head kept outside the domain can reveal the cut.
#[test]
fn audit_verify_catches_a_log_cut_at_its_end() {
    let t = TestDomain::new();
    let product = released_product(&t);
    let head_file = t.data_dir().join("kept-head.json");
    let out = shuyu(
        t.data_dir(),
        &["audit", "head", "--out", head_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = shuyu(
        t.data_dir(),
        &["audit", "verify", "--head", head_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 products"), "{}", text(&out));

    let cut = |keep: i64| {
        let db = rusqlite::Connection::open(t.data_dir().join("shuyu.db")).unwrap();
        db.execute("DELETE FROM audit_entries WHERE seq > ?1", [keep])
            .unwrap();
        db.execute("DELETE FROM audit_checkpoints WHERE seq > ?1", [keep])
            .unwrap();
    };
    let release_seq: i64 = rusqlite::Connection::open(t.data_dir().join("shuyu.db"))
        .unwrap()
        .query_row(
            "SELECT seq FROM audit_entries WHERE action = 'release'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    cut(release_seq - 1);
    let out = shuyu(t.data_dir(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let product_id = product.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        text(&out).contains(&product_id) && text(&out).contains("truncated"),
        "{}",
        text(&out)
    );

    // The product removed as well: the log alone looks whole, the kept head does not.
    std::fs::remove_dir_all(&product).unwrap();
    let out = shuyu(t.data_dir(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = shuyu(
        t.data_dir(),
        &["audit", "verify", "--head", head_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("log truncated"), "{}", text(&out));

    // A forged head is refused as such.
    let mut forged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&head_file).unwrap()).unwrap();
    forged["seq"] = serde_json::json!(2);
    std::fs::write(&head_file, forged.to_string()).unwrap();
    let out = shuyu(
        t.data_dir(),
        &["audit", "verify", "--head", head_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("signature"), "{}", text(&out));
}
