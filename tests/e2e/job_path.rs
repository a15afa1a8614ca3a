//! The whole job path with the example modules: results checked against plain SQL on the raw
//! data, products and the audit log verified.

use std::collections::BTreeMap;

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu::job::{JobStatus, ReleaseOutcome};
use shuyu::product::verify_package;

use crate::support::{self, TestDomain};

fn released(
    report: &shuyu::job::JobReport,
) -> (
    &arrow::record_batch::RecordBatch,
    &shuyu::guard::ReleaseReport,
    &std::path::Path,
) {
    match report.releases.as_slice() {
        [ReleaseOutcome::Released {
            table,
            report,
            product_dir,
            ..
        }] => (table, report, product_dir),
        other => panic!("expected one released product, got {other:?}"),
    }
}

/// What the guard should release, computed from plain SQL over the raw Parquet files: one row per
/// enterprise (clamped capital, clamped tax total), grouped here with the guard's threshold: at
/// least k enterprises, k with a non-zero value of each measure (capital is released as a mean,
/// tax as a sum), and neither measure dominated (the 2 largest contributors hold at most 85 % of
/// its total, the default rule).
fn expected_district_stats(k: i64) -> BTreeMap<(String, String), (i64, f64, f64)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let ctx = SessionContext::new();
        for name in ["enterprise_registry", "tax_payments"] {
            let path = support::datasets().join(name).join("data.parquet");
            ctx.register_parquet(name, path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
        }
        let sql = "SELECT r.district, r.industry, \
                    LEAST(GREATEST(r.registered_capital, 0.0), 100000.0) AS capital, \
                    LEAST(GREATEST(COALESCE(t.total, 0.0), 0.0), 10000000.0) AS tax \
             FROM enterprise_registry r \
             LEFT JOIN (SELECT usci, SUM(amount) AS total FROM tax_payments GROUP BY usci) t ON r.usci = t.usci";
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    });
    let mut groups: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for b in rows {
        let d = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let i = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8).unwrap();
        let d = d.as_any().downcast_ref::<StringArray>().unwrap();
        let i = i.as_any().downcast_ref::<StringArray>().unwrap();
        let c = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        let t = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
        for row in 0..b.num_rows() {
            groups
                .entry((d.value(row).to_string(), i.value(row).to_string()))
                .or_default()
                .push((c.value(row), t.value(row)));
        }
    }
    let passes = |values: Vec<f64>| {
        let mut magnitudes: Vec<f64> = values
            .into_iter()
            .filter(|v| *v != 0.0)
            .map(f64::abs)
            .collect();
        magnitudes.sort_by(|a, b| b.total_cmp(a));
        let total: f64 = magnitudes.iter().sum();
        let top: f64 = magnitudes.iter().take(2).sum();
        magnitudes.len() as i64 >= k && top * 100.0 <= 85.0 * total
    };
    let mut out = BTreeMap::new();
    for (key, rows) in groups {
        let n = rows.len() as i64;
        if n < k
            || !passes(rows.iter().map(|r| r.0).collect())
            || !passes(rows.iter().map(|r| r.1).collect())
        {
            continue;
        }
        let mean = rows.iter().map(|r| r.0).sum::<f64>() / n as f64;
        let sum = rows.iter().map(|r| r.1).sum::<f64>();
        out.insert(key, (n, mean, sum));
    }
    out
}

#[test]
fn district_stats_releases_the_same_numbers_as_plain_sql_and_suppresses_small_groups() {
    let t = TestDomain::new();
    let module = support::module("district_stats");
    let report = t.run(support::scenario("district-stats", &module), &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let (table, summary, product_dir) = released(&report);

    let columns: Vec<_> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        columns,
        [
            "district",
            "industry",
            "entities",
            "capital_count",
            "capital_mean",
            "tax_sum"
        ]
    );
    assert!(
        summary.groups_suppressed > 0,
        "the bundled data has small groups: {summary:?}"
    );
    assert_eq!(summary.groups_released as usize, table.num_rows());
    assert_eq!(
        summary.groups_released + summary.groups_suppressed,
        summary.groups_total
    );

    let expected = expected_district_stats(i64::from(summary.k));
    assert_eq!(
        table.num_rows(),
        expected.len(),
        "released groups = groups passing k, k per measure and dominance"
    );
    let district = table
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let industry = table
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let entities = table
        .column(2)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let capital_mean = table
        .column(4)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let tax_sum = table
        .column(5)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    for row in 0..table.num_rows() {
        let key = (
            district.value(row).to_string(),
            industry.value(row).to_string(),
        );
        let (n, mean, sum) = expected[&key];
        assert_eq!(entities.value(row), n, "{key:?}");
        assert!(
            (capital_mean.value(row) - mean).abs() <= 1e-6 * mean.abs().max(1.0),
            "{key:?}"
        );
        assert!(
            (tax_sum.value(row) - sum).abs() <= 1e-6 * sum.abs().max(1.0),
            "{key:?}"
        );
        assert!(entities.value(row) >= i64::from(summary.k));
    }

    verify_package(product_dir, &t.domain.keys.public_key()).expect("product verifies");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(product_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["module_sha256"], report.module_sha256);
    assert_eq!(manifest["datasets"].as_array().unwrap().len(), 2);
    assert!(
        manifest["datasets"][0]["content_sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    // The manifest says whether groups were suppressed, not how many: the module steers counts.
    assert_eq!(
        manifest["report"]["suppressed"],
        summary.groups_suppressed > 0
    );
    assert_eq!(
        manifest["report"]["groups_released"],
        summary.groups_released
    );
    assert!(
        manifest["report"].get("groups_suppressed").is_none(),
        "{manifest}"
    );

    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
    let actions = support::actions(&t, report.job_id.as_str());
    assert_eq!(actions.first().map(String::as_str), Some("job.start"));
    assert_eq!(actions.last().map(String::as_str), Some("job.end"));
    for action in ["query", "release", "guest.log"] {
        assert!(
            actions.iter().any(|a| a == action),
            "missing {action} in {actions:?}"
        );
    }
}

#[test]
fn income_by_age_computes_bands_in_the_guest() {
    let t = TestDomain::new();
    let module = support::module("income_by_age");
    let report = t.run(support::scenario("income-by-age", &module), &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let (table, summary, _) = released(&report);
    let band = table
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    for row in 0..table.num_rows() {
        assert!(["0-17", "18-29", "30-44", "45-59", "60+"].contains(&band.value(row)));
    }
    assert!(
        summary.k >= 10,
        "residents' provider sets min_k 10, the most restrictive rule applies"
    );
}

#[test]
fn a_module_that_is_not_the_pinned_one_is_refused_before_anything_runs() {
    let t = TestDomain::new();
    let module = support::module("district_stats");
    let mut scenario = support::scenario("district-stats", &module);
    scenario.scenario.module_sha256 = support::sha256(b"another module");
    let report = t.run(scenario, &module);
    let JobStatus::Refused(reason) = &report.status else {
        panic!("{report:?}")
    };
    assert!(reason.contains("not the module pinned"), "{reason}");
    assert!(report.releases.is_empty());
    assert_eq!(
        std::fs::read_dir(t.domain.products_dir()).unwrap().count(),
        0
    );
    assert_eq!(
        support::actions(&t, report.job_id.as_str()),
        ["job.refused"]
    );
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
}

#[test]
fn a_scenarios_next_job_loads_the_universe_and_a_damaged_cache_file_is_rebuilt_and_reported() {
    let t = TestDomain::new();
    let module = support::module("district_stats");
    let scenario = support::scenario("district-stats", &module);
    let cached = |report: &shuyu::job::JobReport| {
        let end = support::entries(&t, report.job_id.as_str(), "job.end");
        end[0].details["universe_cached"].clone()
    };
    // The same groups and counts; sums may differ in their last bits (the engine's partial
    // aggregates add up in whatever order its threads finish).
    let same = |a: &shuyu::job::JobReport, b: &shuyu::job::JobReport| {
        let (a, b) = (released(a).0, released(b).0);
        assert_eq!(a.schema(), b.schema());
        assert_eq!(a.num_rows(), b.num_rows());
        for (x, y) in a.columns().iter().zip(b.columns()) {
            match (
                x.as_any().downcast_ref::<Float64Array>(),
                y.as_any().downcast_ref::<Float64Array>(),
            ) {
                (Some(x), Some(y)) => {
                    for (x, y) in x.iter().zip(y.iter()) {
                        match (x, y) {
                            (Some(x), Some(y)) => {
                                assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{x} vs {y}")
                            }
                            (x, y) => assert_eq!(x, y),
                        }
                    }
                }
                _ => assert_eq!(x, y),
            }
        }
    };

    let first = t.run(scenario.clone(), &module);
    assert_eq!(first.status, JobStatus::Completed, "{first:?}");
    assert_eq!(cached(&first), false);
    let second = t.run(scenario.clone(), &module);
    assert_eq!(cached(&second), true);
    same(&second, &first);

    // One byte of the file changed: a pseudonym replaced, as a planted fake entity would be.
    let dir = t.domain.data_dir().join("cache").join("universes");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "universe"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&files[0], &bytes).unwrap();

    let third = t.run(scenario, &module);
    assert_eq!(cached(&third), false);
    same(&third, &first);
    let rejected = support::entries(&t, third.job_id.as_str(), "universe.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].details["reason"], "its seal does not hold");
    // Rebuilt and stored again, sound.
    assert_ne!(std::fs::read(&files[0]).unwrap(), bytes);
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
}

/// The universe a job stored in the domain's cache, against one built whole from the raw files
/// under the same key.
fn assert_cached_universe_is_built_whole(
    t: &TestDomain,
    scenario: &shuyu::governance::ScenarioFile,
    report: &shuyu::job::JobReport,
) {
    use shuyu::engine::universe::Lookup;
    use shuyu::engine::{IdentifierUniverse, Pseudonymizer};

    let catalog = t.domain.catalog().unwrap();
    let datasets = scenario.clone().check(&catalog).unwrap().datasets;
    let p = Pseudonymizer::new(&t.domain.keys.pseudonym_key(&report.scenario_key_id));
    let cached = match t.domain.universe_cache().load(&datasets, &p).unwrap() {
        Lookup::Hit(universe) => universe,
        other => panic!("the job stored no sound universe: {other:?}"),
    };
    let whole = t
        .domain
        .runtime()
        .block_on(IdentifierUniverse::build(&datasets, &p))
        .unwrap();
    assert!(*cached == whole, "{cached:?} against {whole:?}");
}

#[test]
fn a_per_entity_releases_universe_is_completed_from_its_grouping_and_is_the_whole_one() {
    let t = TestDomain::new();
    let module = support::module("district_stats");
    let scenario = support::scenario_file("district-stats", "scenario-dp.toml", &module);
    let first = t.run(scenario.clone(), &module);
    assert!(first.succeeded(), "{first:?}");
    let end = support::entries(&t, first.job_id.as_str(), "job.end");
    assert_eq!(end[0].details["universe_cached"], false);
    assert_cached_universe_is_built_whole(&t, &scenario, &first);
    // The next job loads what the first stored.
    let second = t.run(scenario, &module);
    assert!(second.succeeded(), "{second:?}");
    let end = support::entries(&t, second.job_id.as_str(), "job.end");
    assert_eq!(end[0].details["universe_cached"], true);
}

#[test]
fn a_threshold_release_before_any_grouping_completes_the_universe_by_scanning_entities() {
    let t = TestDomain::new();
    let module = support::module("district_stats");
    let mut scenario = support::scenario("district-stats", &module);
    // A release with privacy in the contract, which this module never makes: the job starts
    // its universe without the entity columns, and its threshold release needs it whole.
    let dp = support::scenario_file("district-stats", "scenario-dp.toml", &module);
    let mut unused = dp.releases[0].clone();
    unused.name = "never_made".into();
    scenario.releases.push(unused);
    scenario.privacy_budget = dp.privacy_budget;
    let report = t.run(scenario.clone(), &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    assert!(matches!(
        report.releases.as_slice(),
        [ReleaseOutcome::Released { .. }]
    ));
    assert_cached_universe_is_built_whole(&t, &scenario, &report);
}
