//! Channels around the guard: a module that reads a secret and tries to show it to its operator
//! through what the domain says about the job (return code, fuel, rows read, block counts). The
//! operator's account of the job must hold none of it; the audit log keeps it for reviewers.

use std::process::Command;

use crate::support::{self, TestDomain};

/// The whole-number tokens of `text` (runs of ASCII digits between non-alphanumerics, so hex
/// hashes and ids do not count).
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// The audit log's entries of `action`, oldest first: what reviewers see.
fn audit_entries(t: &TestDomain, action: &str) -> Vec<shuyu::audit::Entry> {
    t.domain
        .audit
        .search(&shuyu::audit::AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        })
        .expect("search")
}

/// Runs `module` under the scenario file `scenario` with `shuyu run`, as the operator would;
/// returns the exit code and everything printed.
fn run_cli(t: &TestDomain, scenario: &str, module: &[u8]) -> (Option<i32>, String) {
    let scenario_path = t.data_dir().join("scenario.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let module_path = t.data_dir().join("module.wasm");
    std::fs::write(&module_path, module).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shuyu"))
        .arg("--data-dir")
        .arg(t.data_dir())
        .args(["run", "--scenario"])
        .arg(&scenario_path)
        .arg("--module")
        .arg(&module_path)
        .output()
        .expect("run shuyu");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), shown)
}

#[test]
fn a_module_cannot_show_a_secret_through_the_jobs_end() {
    let t = TestDomain::new();
    let module = support::module("covert_channels");
    let scenario = toml::to_string(&support::hostile_scenario(&module)).unwrap();
    let (code, shown) = run_cli(&t, &scenario, &module);
    assert_ne!(code, Some(0), "{shown}");
    assert!(shown.contains("guest_error"), "{shown}");

    // What the reviewers see: the exact code, fuel and rows of the job.
    let ends = audit_entries(&t, "job.end");
    let end = &ends.last().expect("a job.end entry").details;
    let secret: u64 = end["status"]
        .as_str()
        .and_then(|s| s.strip_prefix("guest_error:"))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("the audit log keeps the code: {end}"));
    assert!(secret > 100_000, "the richest resident's income: {secret}");
    let fuel = end["fuel_used"].as_u64().expect("fuel in the audit log");
    let rows = end["rows_read"].as_u64().expect("rows in the audit log");
    let blocks = audit_entries(&t, "release.blocked");
    assert!(
        blocks[0].details.to_string().contains("entity.unknown"),
        "{:?}",
        blocks[0].details
    );

    // What the operator sees: none of the numbers the module chose.
    let steered = [
        secret,
        fuel,
        rows,
        secret % 5_000 + 1_000,
        secret % 5_000 + 1_001,
        secret % 1_000 + 4_000,
    ];
    let leaked: Vec<u64> = numbers(&shown)
        .into_iter()
        .filter(|n| steered.contains(n))
        .collect();
    assert!(leaked.is_empty(), "leaked {leaked:?} in:\n{shown}");
}

/// Under threshold rules a module can choose to be blocked (rows for unknown entities) and so
/// signal a bit. Under privacy it cannot: its main run may not release with privacy at all, and
/// entity runs that send rows which do not fit only lose their own rows. No block, no rule.
#[test]
fn under_privacy_the_module_cannot_choose_a_block() {
    let t = TestDomain::new();
    let module = support::module("covert_channels");
    let scenario = format!(
        r#"
[scenario]
id = "covert-dp"
title = "covert channels under privacy"
operator = "示例数据运营有限公司"
module_sha256 = "{}"

[[grant]]
dataset = "residents"
columns = ["citizen_id", "income", "district", "age"]

[privacy_budget]
epsilon = 10.0

[[release]]
name = "income_by_age"
k = 10
max_rows_per_entity = 1
privacy = {{ epsilon = 1.0 }}
  [[release.dimension]]
  name = "district"
  from = ["residents.district"]
  values = ["d"]
  [[release.dimension]]
  name = "age_band"
  from = ["residents.age"]
  values = ["a"]
  [[release.measure]]
  name = "income"
  from = ["residents.income"]
  clamp = [0.0, 1000000.0]
  resolution = 1.0
  aggregations = ["sum"]
"#,
        support::sha256(&module)
    );
    let (_, shown) = run_cli(&t, &scenario, &module);
    assert!(!shown.contains("BLOCKED"), "{shown}");
    assert!(
        audit_entries(&t, "release.blocked").is_empty(),
        "the module made the guard block"
    );
    for hidden in ["contract.", "entity.", "scan.", "size.", "dimension."] {
        assert!(!shown.contains(hidden), "{hidden} in:\n{shown}");
    }
}
