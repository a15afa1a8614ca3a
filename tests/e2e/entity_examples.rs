//! The example modules' per-entity releases, end to end: `health-by-age` (made per entity from its
//! main run) and `district-stats` under `scenario-dp.toml` (its main run falls back to
//! `release_entities` when `release_begin` is refused), with the released values checked against
//! plain SQL on the raw data within the calibrated noise.

use std::collections::BTreeMap;

use arrow::array::{Array, Float64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu::job::{JobReport, JobStatus, ReleaseOutcome};

use crate::support::{self, TestDomain};

/// The one released table of a job.
fn released(report: &JobReport) -> &RecordBatch {
    match report.releases.as_slice() {
        [ReleaseOutcome::Released { table, .. }] => table,
        other => panic!("expected one released product, got {other:?}"),
    }
}

/// The counters of the job's per-entity release, as the audit log keeps them for reviewers:
/// (entities run, rows contributed), after checking that no run failed.
fn entity_counters(t: &TestDomain, report: &JobReport) -> (u64, u64) {
    let entries = support::entries(t, &report.job_id.to_string(), "release.entities");
    let [entry] = entries
        .iter()
        .filter(|e| e.action == "release.entities")
        .collect::<Vec<_>>()[..]
    else {
        panic!("expected one release.entities entry")
    };
    let d = &entry.details;
    let count = |key: &str| d[key].as_u64().unwrap_or_else(|| panic!("{key} in {d}"));
    assert_eq!(count("guest_errors"), 0, "{d}");
    assert_eq!(count("chunks_refused"), 0, "{d}");
    assert_eq!(d["faults"], serde_json::json!({}), "{d}");
    assert_eq!(count("completed"), count("entities"), "{d}");
    (count("entities"), count("rows_contributed"))
}

/// A column of a released table as f64 (counts are integers, means floats).
fn numbers(table: &RecordBatch, name: &str) -> Vec<f64> {
    let index = table.schema().index_of(name).expect("released column");
    let column = arrow::compute::cast(table.column(index), &DataType::Float64).expect("numeric");
    let column = column.as_any().downcast_ref::<Float64Array>().unwrap();
    (0..column.len()).map(|i| column.value(i)).collect()
}

/// The result of `sql` over the raw Parquet files of `tables`, every column cast to text
/// (`Utf8`) or f64 as it comes.
fn raw_sql(tables: &[&str], sql: &str) -> Vec<RecordBatch> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = SessionContext::new();
        for name in tables {
            let path = support::datasets().join(name).join("data.parquet");
            ctx.register_parquet(*name, path.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
        }
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    })
}

/// Standard deviation of a discrete Laplace noise of this sensitivity at this ε share, close
/// enough to the continuous one (√2·Δ/ε) for a tolerance of many deviations.
fn laplace_sd(sensitivity: f64, epsilon: f64) -> f64 {
    std::f64::consts::SQRT_2 * sensitivity / epsilon
}

/// Whether a released mean (noisy sum over noisy count) lies within ten deviations of the true
/// one: the error of sum/count is about (sd_sum + |mean|·sd_count)/n.
fn close(released: f64, truth: f64, n: f64, sd_sum: f64, sd_count: f64) -> bool {
    let tolerance = 10.0 * (sd_sum + truth.abs() * sd_count) / n;
    (released - truth).abs() <= tolerance
}

#[test]
fn health_by_age_is_made_per_entity_and_releases_every_band_near_the_truth() {
    let t = TestDomain::new();
    let module = support::module("health_by_age");
    let mut scenario = support::scenario("health-by-age", &module);
    // A larger ε than the example's, so the small test data still pins the values down.
    let epsilon = 8.0;
    scenario.releases[0]
        .privacy
        .as_mut()
        .expect("privacy")
        .epsilon = epsilon;
    scenario.privacy_budget.as_mut().expect("budget").epsilon = epsilon;
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let table = released(&report);
    let (_, rows) = entity_counters(&t, &report);

    let truth = raw_sql(
        &["residents", "clinic_visits"],
        "SELECT CASE WHEN r.age < 18 THEN '0-17' WHEN r.age < 30 THEN '18-29' \
                WHEN r.age < 45 THEN '30-44' WHEN r.age < 60 THEN '45-59' ELSE '60+' END AS band, \
                CAST(COUNT(*) AS DOUBLE) AS n, \
                AVG(LEAST(GREATEST(r.income, 0.0), 1000000.0)) AS income, \
                AVG(CAST(LEAST(COALESCE(v.visits, 0), 50) AS DOUBLE)) AS visits, \
                AVG(LEAST(COALESCE(v.cost, 0.0), 20000.0)) AS cost \
         FROM residents r LEFT JOIN \
              (SELECT citizen_id, COUNT(*) AS visits, SUM(cost) AS cost \
               FROM clinic_visits GROUP BY citizen_id) v ON r.citizen_id = v.citizen_id \
         GROUP BY 1 ORDER BY 1",
    );
    let mut expected: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for batch in &truth {
        let band = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let value = |c: usize, i: usize| {
            batch
                .column(c)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(i)
        };
        for i in 0..batch.num_rows() {
            let row = [value(1, i), value(2, i), value(3, i), value(4, i)];
            expected.insert(band.value(i).to_string(), row);
        }
    }
    let residents: f64 = expected.values().map(|v| v[0]).sum();
    assert_eq!(
        rows as f64, residents,
        "every resident contributes exactly one row, and no one else does"
    );

    let bands = table
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let released_bands: Vec<&str> = (0..bands.len()).map(|i| bands.value(i)).collect();
    assert_eq!(
        released_bands,
        ["0-17", "18-29", "30-44", "45-59", "60+"],
        "every band of the declared domain, and nothing else"
    );
    // ε is split over 7 noisy quantities: entities, and a count and a sum for each measure.
    let share = epsilon / 7.0;
    let sd_count = laplace_sd(1.0, share);
    let entities = numbers(table, "entities");
    let income = numbers(table, "income_mean");
    let visits = numbers(table, "visits_mean");
    let cost = numbers(table, "cost_mean");
    for (i, band) in released_bands.iter().enumerate() {
        let [n, true_income, true_visits, true_cost] = expected[*band];
        assert!(
            (entities[i] - n).abs() <= 10.0 * sd_count,
            "{band}: {} entities released, {n} true",
            entities[i]
        );
        for (measure, got, want, sensitivity) in [
            ("income", income[i], true_income, 1_000_000.0),
            ("visits", visits[i], true_visits, 50.0),
            ("cost", cost[i], true_cost, 20_000.0),
        ] {
            assert!(
                close(got, want, n, laplace_sd(sensitivity, share), sd_count),
                "{band} {measure}: released {got}, true {want} over {n} residents"
            );
        }
    }
    let actions = support::actions(&t, report.job_id.as_str());
    for action in ["privacy.debit", "release"] {
        assert!(
            actions.iter().any(|a| a == action),
            "missing {action} in {actions:?}"
        );
    }
}

#[test]
fn district_stats_under_privacy_falls_back_to_a_per_entity_release() {
    let t = TestDomain::new();
    let module = support::module("district_stats");
    let scenario = support::scenario_file("district-stats", "scenario-dp.toml", &module);
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let table = released(&report);
    let (_, rows) = entity_counters(&t, &report);

    // What the main run's SQL would have contributed: one row per registered enterprise with a
    // district, industry and capital.
    let truth = raw_sql(
        &["enterprise_registry"],
        "SELECT CAST(COUNT(*) AS DOUBLE) FROM enterprise_registry \
         WHERE district IS NOT NULL AND industry IS NOT NULL AND registered_capital IS NOT NULL",
    );
    let enterprises = truth[0]
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(0);
    assert_eq!(
        rows as f64, enterprises,
        "one row per registered enterprise"
    );
    // Public keys: every (district, industry) of the declared domains, 13 × 18.
    assert_eq!(table.num_rows(), 13 * 18);
}
