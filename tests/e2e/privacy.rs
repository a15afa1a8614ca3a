//! Releases with differential privacy, end to end: the hostile `lone-income` module against
//! calibrated noise and the privacy budget.

use arrow::array::{Array, Float64Array};
use shuyu::budget::{BudgetLedger, BudgetScope};
use shuyu::governance::ScenarioFile;
use shuyu::guard::{PrivacyInfo, Rule};
use shuyu::job::{JobReport, JobStatus, ReleaseOutcome};

use crate::support::{self, TestDomain};

/// A scenario over `residents` whose contract holds `releases` (names from `lone-income`), each
/// a sum of incomes clamped to [0, 10^6] at resolution 1, pure ε-DP at `epsilon`.
fn scenario(module: &[u8], releases: &[&str], epsilon: f64, budget: f64) -> ScenarioFile {
    let mut text = format!(
        r#"
[scenario]
id = "dp-income"
title = "DP income totals"
operator = "示例数据运营有限公司"
module_sha256 = "{}"

[[grant]]
dataset = "residents"
columns = ["citizen_id", "income"]

[limits]
max_releases = 4

[privacy_budget]
epsilon = {budget:?}
"#,
        support::sha256(module)
    );
    for name in releases {
        text.push_str(&format!(
            r#"
[[release]]
name = "{name}"
k = 10
max_rows_per_entity = 1
privacy = {{ epsilon = {epsilon:?} }}
  [[release.measure]]
  name = "income"
  from = ["residents.income"]
  clamp = [0.0, 1000000.0]
  resolution = 1.0
  aggregations = ["sum"]
"#
        ));
    }
    ScenarioFile::from_toml_str(&text).expect("valid scenario")
}

pub(crate) fn ledger(t: &TestDomain) -> BudgetLedger {
    BudgetLedger::new(t.domain.store.clone(), t.domain.audit.clone())
}

/// The one released value of `release`, and the policy's privacy account.
pub(crate) fn released_sum(report: &JobReport, release: &str) -> (f64, PrivacyInfo) {
    for outcome in &report.releases {
        if let ReleaseOutcome::Released {
            release: name,
            table,
            product_dir,
            ..
        } = outcome
        {
            if name != release {
                continue;
            }
            let sums = table
                .column_by_name("income_sum")
                .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
                .expect("income_sum");
            assert_eq!(sums.len(), 1, "no dimension: one row");
            let manifest: serde_json::Value = serde_json::from_slice(
                &std::fs::read(product_dir.join("manifest.json")).expect("manifest"),
            )
            .expect("manifest json");
            let info: PrivacyInfo =
                serde_json::from_value(manifest["policy"]["privacy"].clone()).expect("privacy");
            assert_eq!(manifest["report"]["counts_withheld"], true);
            return (sums.value(0), info);
        }
    }
    panic!("{release} was not released: {report:?}")
}

pub(crate) fn blocked(report: &JobReport, release: &str) -> (Rule, String) {
    report
        .releases
        .iter()
        .find_map(|outcome| match outcome {
            ReleaseOutcome::Blocked {
                release: name,
                rule,
                message,
                ..
            } if name == release => Some((*rule, message.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{release} was not blocked: {report:?}"))
}

#[test]
fn one_residents_income_in_an_empty_sum_is_hidden_by_noise_of_the_calibrated_scale() {
    let t = TestDomain::new();
    let module = support::module("lone_income");
    let runs = 32;
    let scenario = scenario(&module, &["lone_income"], 1.0, 1000.0);
    // A test budget: the dataset default (ε = 10) would pay for only ten runs.
    ledger(&t)
        .set_budget(
            "bureau",
            &BudgetScope::Dataset("residents".into()),
            1000.0,
            0.0,
            "test budget",
        )
        .expect("set budget");
    let mut values = Vec::with_capacity(runs);
    let mut std_dev = 0.0;
    let mut key_id = String::new();
    for _ in 0..runs {
        let report = t.run(scenario.clone(), &module);
        key_id = report.scenario_key_id.clone();
        assert_eq!(report.status, JobStatus::Completed, "{report:?}");
        let (value, info) = released_sum(&report, "lone_income");
        let column = info
            .columns
            .iter()
            .find(|c| c.column == "income_sum")
            .expect("income_sum noise");
        std_dev = column.std_dev;
        assert!(column.interval95 > column.std_dev);
        assert_eq!((info.epsilon, info.keys.as_str()), (1.0, "public_domain"));
        values.push(value);
    }
    // ε/2 for the sum (the entity count takes the other half), Δ = 10^6: the scale is 2·10^6,
    // far above any income, so the sum says nothing reliable about the target.
    assert!(std_dev > 2.0e6, "{std_dev}");
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sample = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // 32 Laplace draws: the sample standard deviation is within about ±20% (one standard
    // error) of the truth; [0.4, 1.8] is about 3 standard errors either way, so a sampler
    // without noise or with a wrong scale fails while a correct one practically never does.
    let ratio = sample / std_dev;
    assert!((0.4..1.8).contains(&ratio), "sample {sample} vs {std_dev}");
    // Every run was charged to the scenario and the dataset.
    // The scenario's ledger is kept under its binding's domain-assigned key id.
    assert!(key_id.starts_with("dp-income~"), "{key_id}");
    let spent = ledger(&t)
        .budget(&BudgetScope::Scenario(key_id))
        .expect("budget")
        .expect("created on first charge");
    assert_eq!(spent.epsilon_spent, runs as f64);
    assert_eq!(spent.epsilon_total, 1000.0);
}

#[test]
fn a_differencing_attack_is_stopped_by_the_budget_with_spent_left_and_asked() {
    let t = TestDomain::new();
    let module = support::module("lone_income");
    // The budget pays for exactly one of the two releases.
    let scenario = scenario(&module, &["everyone", "all_but_one"], 1.0, 1.0);
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    released_sum(&report, "everyone");
    let (rule, message) = blocked(&report, "all_but_one");
    assert_eq!(rule, Rule::PrivacyBudget);
    let scope = format!("scenario '{}'", report.scenario_key_id);
    for word in [scope.as_str(), "spent ε=1", "left ε=0", "asks ε=1"] {
        assert!(message.contains(word), "{word}: {message}");
    }
    // The debit is audited for reviewers; the refusal is audited with its message.
    let actions = support::actions(&t, &report.job_id.to_string());
    assert_eq!(actions.iter().filter(|a| *a == "privacy.debit").count(), 1);
    assert!(actions.iter().any(|a| a == "release.blocked"));

    // A second job cannot spend more either: the budget is the scenario's, not the job's.
    let scenario = scenario_again(&module);
    let report = t.run(scenario, &module);
    let (rule, _) = blocked(&report, "everyone");
    assert_eq!(rule, Rule::PrivacyBudget);
    // Raising the scenario file's budget does not raise the stored one.
    let stored = ledger(&t)
        .budget(&BudgetScope::Scenario(report.scenario_key_id.clone()))
        .expect("budget")
        .expect("stored");
    assert_eq!(stored.epsilon_total, 1.0);
}

/// The differencing scenario again, its file now claiming a larger budget.
fn scenario_again(module: &[u8]) -> ScenarioFile {
    scenario(module, &["everyone", "all_but_one"], 1.0, 50.0)
}

#[test]
fn a_dataset_budget_bounds_every_scenario_using_the_dataset() {
    let t = TestDomain::new();
    let module = support::module("lone_income");
    ledger(&t)
        .set_budget(
            "bureau",
            &BudgetScope::Dataset("residents".into()),
            1.5,
            0.0,
            "test budget",
        )
        .expect("set budget");
    let report = t.run(scenario(&module, &["lone_income"], 1.0, 100.0), &module);
    released_sum(&report, "lone_income");
    let report = t.run(scenario(&module, &["lone_income"], 1.0, 100.0), &module);
    let (rule, message) = blocked(&report, "lone_income");
    assert_eq!(rule, Rule::PrivacyBudget);
    assert!(message.contains("dataset 'residents'"), "{message}");
    assert!(message.contains("left ε=0.5"), "{message}");
}

#[test]
fn a_scenario_with_privacy_but_no_budget_is_invalid() {
    let module = support::module("lone_income");
    let mut scenario = scenario(&module, &["lone_income"], 1.0, 1.0);
    scenario.privacy_budget = None;
    let t = TestDomain::new();
    let err = scenario
        .check(&t.domain.catalog().expect("catalog"))
        .expect_err("no budget");
    assert!(err.to_string().contains("[privacy_budget]"), "{err}");
}

#[test]
fn another_operator_reusing_a_scenario_id_inherits_neither_its_pseudonyms_nor_its_budget() {
    let t = TestDomain::new();
    let module = support::module("lone_income");
    // Operator A spends its whole scenario budget on one release.
    let a = scenario(&module, &["everyone"], 1.0, 1.0);
    let report_a = t.run(a.clone(), &module);
    assert!(
        report_a.releases.iter().any(
            |r| matches!(r, ReleaseOutcome::Released { release, .. } if release == "everyone")
        ),
        "{report_a:?}"
    );
    // Its pseudonyms are keyed by a domain-assigned identity, not by the id A chose.
    assert!(report_a.scenario_key_id.starts_with("dp-income~"));
    assert_ne!(
        t.domain.keys.pseudonym_key(&report_a.scenario_key_id),
        t.domain.keys.pseudonym_key("dp-income")
    );

    // Operator B presents a scenario file under the same id: refused before anything runs, so
    // it neither joins A's pseudonyms nor spends (or reads) A's ledger.
    let mut b = a;
    b.scenario.operator = "另一家运营公司".into();
    let report_b = t.run(b, &module);
    match &report_b.status {
        JobStatus::Refused(reason) => {
            assert!(reason.contains("'dp-income' is taken"), "{reason}");
            assert!(!reason.contains("op-acme"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(report_b.releases.is_empty(), "{report_b:?}");
    let stored = ledger(&t)
        .budget(&BudgetScope::Scenario(report_a.scenario_key_id.clone()))
        .expect("budget")
        .expect("A's budget");
    assert_eq!(stored.epsilon_spent, 1.0);

    // A keeps its identity: a second run of A's finds the same key id (and is blocked by its
    // own spent budget, not refused).
    let report_a2 = t.run(scenario(&module, &["everyone"], 1.0, 1.0), &module);
    assert_eq!(report_a2.scenario_key_id, report_a.scenario_key_id);
    let (rule, _) = blocked(&report_a2, "everyone");
    assert_eq!(rule, Rule::PrivacyBudget);
}
