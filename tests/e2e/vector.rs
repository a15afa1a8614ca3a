//! `release_vector` (sample-and-aggregate) end to end: the credit-model example, a grant without
//! its entity column, hostile partition runs, and the privacy budget.

use arrow::array::{Array, Float64Array, StringArray};
use shuyu::governance::ScenarioFile;
use shuyu::job::{JobStatus, ReleaseOutcome};
use shuyu::product::verify_package;

use crate::support::{self, TestDomain};

#[test]
fn credit_model_releases_a_noisy_vector_within_bounds() {
    let t = TestDomain::new();
    let module = support::module("credit_model");
    let scenario = support::scenario("credit-model", &module);
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let [ReleaseOutcome::Released {
        release,
        table,
        product_dir,
        ..
    }] = report.releases.as_slice()
    else {
        panic!("expected one released vector: {:?}", report.releases);
    };
    assert_eq!(release, "credit_model");
    assert_eq!(table.num_rows(), 4);
    let names = table
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let values = table
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let std_devs = table
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(names.value(0), "intercept");
    for i in 0..4 {
        assert!(
            (-4.0..=4.0).contains(&values.value(i)),
            "{i}: {}",
            values.value(i)
        );
        // Laplace at ε = 4 over d = 4 coordinates, m = 16, bounds width 8: √2·4·8/(16·4) ≈ 0.707.
        assert!(
            (std_devs.value(i) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "{}",
            std_devs.value(i)
        );
    }

    let verified = verify_package(product_dir, &t.domain.keys.public_key()).expect("verifies");
    let privacy = &verified.manifest.policy["privacy"];
    assert_eq!(privacy["mechanism"], "discrete_laplace");
    assert_eq!(privacy["epsilon"], 4.0);
    assert_eq!(privacy["delta"], 0.0);
    assert_eq!(privacy["partitions"], 16);
    assert_eq!(verified.manifest.report["partitions"], 16);
    // Data-dependent counts stay out of the product (they carry no noise).
    assert!(verified
        .manifest
        .report
        .get("partitions_defaulted")
        .is_none());
    let release_entry = &support::entries(&t, &report.job_id.to_string(), "release")[0];
    assert_eq!(release_entry.details["partitions_defaulted"], 0);

    // Every partition run is audited, with counters and never a value.
    let job = report.job_id.to_string();
    let partitions = support::entries(&t, &job, "vector.partition");
    assert_eq!(partitions.len(), 16);
    let rows: u64 = partitions
        .iter()
        .map(|e| e.details["rows_read"].as_u64().unwrap())
        .sum();
    assert!(rows > 0);
    assert!(partitions.iter().all(|e| e.details["status"] == "ok"));
    assert!(partitions.iter().all(|e| e.details.get("vector").is_none()));
    assert_eq!(support::entries(&t, &job, "privacy.debit").len(), 1);
    assert!(report.fuel_used > 0);
}

#[test]
fn a_grant_without_its_entity_column_is_refused_by_name() {
    let module = support::module("credit_model");
    let mut scenario = support::scenario("credit-model", &module);
    scenario.grants[1].columns.retain(|c| c != "usci");
    let t = TestDomain::new();
    let error = shuyu::job::run_job(
        &t.domain,
        shuyu::job::JobRequest {
            scenario,
            module: module.clone(),
        },
    )
    .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains(
            "release_vector needs every granted table to carry its entity column; tax_payments does not grant usci"
        ),
        "{message}"
    );
}

/// The hostile module's scenario: five one-coordinate vectors over the enterprise registry.
fn hostile_scenario(module: &[u8]) -> ScenarioFile {
    let mut text = String::from(
        r#"
[scenario]
id = "vector-hostile"
title = "hostile partition runs"
operator = "op"
module_sha256 = "x"

[[grant]]
dataset = "enterprise_registry"
columns = ["usci", "registered_capital"]

[limits]
fuel = 2_000_000_000
max_releases = 6

[privacy_budget]
epsilon = 6.0
"#,
    );
    for name in ["trap", "nan", "short", "oob", "nested"] {
        text.push_str(&format!(
            "\n[[vector]]\nname = \"{name}\"\npartitions = 4\ncoords = [\"x\"]\nbounds = [[0.0, 10.0]]\nprivacy = {{ epsilon = 1.0 }}\n"
        ));
    }
    let mut scenario = ScenarioFile::from_toml_str(&text).expect("scenario");
    scenario.scenario.module_sha256 = support::sha256(module);
    scenario
}

#[test]
fn hostile_partition_runs_contribute_the_default_and_the_host_survives() {
    let t = TestDomain::new();
    let module = support::module("vector_hostile");
    let report = t.run(hostile_scenario(&module), &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    assert_eq!(report.releases.len(), 5, "{:?}", report.releases);
    let job = report.job_id.to_string();
    let partitions = support::entries(&t, &job, "vector.partition");
    assert_eq!(partitions.len(), 20);
    let status_of = |release: &str| -> Vec<String> {
        partitions
            .iter()
            .filter(|e| e.details["release"] == release)
            .map(|e| e.details["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(status_of("trap").iter().all(|s| s == "trap:unreachable"));
    assert!(status_of("nan").iter().all(|s| s == "no_vector"));
    assert!(status_of("short").iter().all(|s| s == "no_vector"));
    assert!(status_of("oob").iter().all(|s| s == "out_of_bounds"));
    assert!(status_of("nested").iter().all(|s| s == "ok"));
    let audited = support::entries(&t, &job, "release");
    for outcome in &report.releases {
        let ReleaseOutcome::Released {
            release,
            product_dir,
            ..
        } = outcome
        else {
            panic!("every hostile vector is still released: {outcome:?}");
        };
        let manifest = verify_package(product_dir, &t.domain.keys.public_key())
            .expect("verifies")
            .manifest;
        let entry = audited
            .iter()
            .find(|e| e.details["release"] == release.as_str())
            .expect("release audited");
        let defaulted = entry.details["partitions_defaulted"].as_u64().unwrap();
        let expected = if release == "nested" { 0 } else { 4 };
        assert_eq!(defaulted, expected, "{release}");
        assert_eq!(manifest.policy["default_vector"][0], 5.0);
    }
}

#[test]
fn the_budget_blocks_a_release_beyond_it() {
    let t = TestDomain::new();
    let module = support::module("credit_model");
    let mut scenario = support::scenario("credit-model", &module);
    // Room for one release at the example's ε = 4, not two.
    scenario.privacy_budget = Some(shuyu_datasets::manifest::PrivacyBudget {
        epsilon: 6.0,
        delta: 0.0,
    });
    let first = t.run(scenario.clone(), &module);
    assert!(first.succeeded(), "{first:?}");
    let second = t.run(scenario, &module);
    assert_eq!(second.status, JobStatus::Completed);
    let [ReleaseOutcome::Blocked { rule, message, .. }] = second.releases.as_slice() else {
        panic!("expected a blocked release: {:?}", second.releases);
    };
    assert_eq!(rule.as_str(), "privacy.budget");
    assert!(message.contains("credit-model"), "{message}");
    // No partition result may leave without a charge; and the refused charge draws no debit.
    let job = second.job_id.to_string();
    assert!(support::entries(&t, &job, "privacy.debit").is_empty());
}

/// The credit model's coefficients almost without noise (ε = 100), for docs/privacy.md:
/// `cargo test -p shuyu-cli --test e2e credit_model_near_exact -- --ignored --nocapture`.
#[test]
#[ignore = "prints the documentation's measurement"]
fn credit_model_near_exact() {
    let t = TestDomain::new();
    let ledger = shuyu::budget::BudgetLedger::new(t.domain.store.clone(), t.domain.audit.clone());
    for dataset in ["enterprise_registry", "tax_payments", "social_insurance"] {
        let scope = shuyu::budget::BudgetScope::Dataset(dataset.into());
        ledger
            .set_budget("test", &scope, 1000.0, 0.0, "measurement")
            .unwrap();
    }
    let module = support::module("credit_model");
    let mut scenario = support::scenario("credit-model", &module);
    scenario.privacy_budget = Some(shuyu_datasets::manifest::PrivacyBudget {
        epsilon: 1000.0,
        delta: 0.0,
    });
    scenario.vectors[0].privacy.epsilon = 100.0;
    let report = t.run(scenario, &module);
    let [ReleaseOutcome::Released { table, .. }] = report.releases.as_slice() else {
        panic!("{:?}", report.releases);
    };
    println!(
        "{}",
        arrow::util::pretty::pretty_format_batches(std::slice::from_ref(table)).unwrap()
    );
}

/// A partition run asks for the whole table; it sees only its partition's rows. Over the m runs
/// of one release every enterprise is read exactly once, and no run sees all of them.
#[test]
fn a_partition_run_sees_only_its_partition() {
    let t = TestDomain::new();
    let module = support::module("vector_hostile");
    let report = t.run(hostile_scenario(&module), &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let total = t
        .domain
        .catalog()
        .expect("catalog")
        .get("enterprise_registry")
        .expect("registry")
        .rows;
    let partitions = support::entries(&t, &report.job_id.to_string(), "vector.partition");
    let nested: Vec<u64> = partitions
        .iter()
        .filter(|e| e.details["release"] == "nested")
        .map(|e| e.details["rows_read"].as_u64().expect("rows_read"))
        .collect();
    assert_eq!(nested.len(), 4);
    assert_eq!(nested.iter().sum::<u64>(), total, "{nested:?}");
    assert!(nested.iter().all(|&rows| rows < total), "{nested:?}");

    // One pass over the granted rows per release, whatever m: five releases, five splits, each
    // having read the whole table once.
    let splits = support::entries(&t, &report.job_id.to_string(), "vector.split");
    assert_eq!(splits.len(), 5);
    for split in &splits {
        let tables = split.details["tables"].as_array().expect("tables");
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0]["table"], "enterprise_registry");
        assert_eq!(tables[0]["rows"].as_u64(), Some(total));
        assert_eq!(tables[0]["rows_without_entity"].as_u64(), Some(0));
        assert!(split.details["peak_bytes"].as_u64().unwrap() > 0);
    }
}
