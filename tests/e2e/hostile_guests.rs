//! Hostile modules written in Rust with the SDK (tests/hostile-guests/). Each tries one attack;
//! each must fail safely: the host alive, nothing raw released, the audit log intact.

use shuyu::guard::Rule;
use shuyu::job::{JobReport, JobStatus, ReleaseOutcome};
use shuyu::sandbox::{Fault, LimitKind};

use crate::support::{self, TestDomain};

fn run(t: &TestDomain, name: &str, fuel: u64) -> JobReport {
    let module = support::module(name);
    let mut scenario = support::hostile_scenario(&module);
    scenario.limits.fuel = fuel;
    let report = t.run(scenario, &module);
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
    report
}

fn blocked_by(report: &JobReport) -> Vec<Rule> {
    report
        .releases
        .iter()
        .map(|r| match r {
            ReleaseOutcome::Blocked { rule, .. } => *rule,
            ReleaseOutcome::Released { release, .. } => {
                panic!("{release} was released: {report:?}")
            }
        })
        .collect()
}

fn no_products(t: &TestDomain) {
    assert_eq!(
        std::fs::read_dir(t.domain.products_dir()).unwrap().count(),
        0,
        "no product may be written"
    );
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let t = TestDomain::new();
    let report = run(&t, "infinite_loop", 100_000_000);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::Fuel))
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let t = TestDomain::new();
    let report = run(&t, "memory_bomb", 20_000_000_000);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::Memory))
    );
}

#[test]
fn deep_recursion_overflows_the_guest_stack_not_the_host() {
    let t = TestDomain::new();
    let report = run(&t, "deep_recursion", 20_000_000_000);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Trap("stack_overflow".into()))
    );
}

#[test]
fn queries_on_columns_and_tables_not_granted_are_refused_by_name() {
    let t = TestDomain::new();
    let module = support::module("query_ungranted");
    let report = t.run(support::scenario("district-stats", &module), &module);
    // The module returns 66 if any batch it received held an ungranted column; its `SELECT *`
    // legitimately reads the granted columns.
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    let refused = support::entries(&t, &report.job_id.to_string(), "query.refused");
    assert!(refused.len() >= 2, "{refused:?}");
    let reasons: Vec<String> = refused
        .iter()
        .map(|e| e.details["reason"].to_string())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("residents") || r.contains("citizen_id")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("legal_rep_id")),
        "{reasons:?}"
    );
}

#[test]
fn raw_rows_released_as_groups_never_come_out_below_k() {
    let t = TestDomain::new();
    let report = run(&t, "raw_rows", 20_000_000_000);
    // Each resident is pushed as a group keyed by their own income and age. The only groups with
    // at least k residents are those sharing an income, which for the bundled data means income
    // 0 (children of one age and district): no resident contributes a non-zero income to them, so
    // they fail k for the measure too, and nothing at all leaves.
    let [ReleaseOutcome::Blocked {
        rule,
        report: summary,
        ..
    }] = report.releases.as_slice()
    else {
        panic!("expected one blocked release: {report:?}");
    };
    assert_eq!(*rule, Rule::ThresholdAllSuppressed);
    assert!(summary.k >= 10);
    assert!(summary.groups_total > 100, "{summary:?}");
    assert_eq!(summary.groups_suppressed, summary.groups_total);
    assert_eq!(summary.groups_released, 0);
    assert_eq!(summary.rows_suppressed, summary.contribution_rows);
    no_products(&t);
}

#[test]
fn pseudonyms_in_output_cells_are_blocked() {
    let t = TestDomain::new();
    let report = run(&t, "leak_pseudonyms", 20_000_000_000);
    assert_eq!(blocked_by(&report), [Rule::ScanPseudonym]);
    no_products(&t);
}

#[test]
fn identifiers_in_output_cells_are_blocked() {
    let t = TestDomain::new();
    let report = run(&t, "leak_identifier_format", 20_000_000_000);
    assert_eq!(blocked_by(&report), [Rule::ScanIdentifier]);
    no_products(&t);
}

#[test]
fn releasing_more_than_the_limit_ends_the_job() {
    let t = TestDomain::new();
    let report = run(&t, "release_flood", 20_000_000_000);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::Releases))
    );
    assert!(
        report.releases.len() <= 1,
        "one contract entry is released at most once per job"
    );
}

/// The released values of a string column.
fn texts(table: &arrow::record_batch::RecordBatch, column: &str) -> Vec<String> {
    let array = table.column_by_name(column).expect("column");
    let array = array
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .expect("Utf8");
    array.iter().map(|v| v.unwrap_or("").to_owned()).collect()
}

#[test]
fn decoys_and_dominant_contributors_do_not_pass_the_threshold() {
    let t = TestDomain::new();
    let report = run(&t, "threshold_decoys", 20_000_000_000);
    let [ReleaseOutcome::Released {
        table,
        report: summary,
        ..
    }] = report.releases.as_slice()
    else {
        panic!("expected one release: {report:?}");
    };
    // Both decoy groups had >= k real entities; neither leaves.
    assert_eq!(texts(table, "district"), ["honest"], "{summary:?}");
    assert_eq!(summary.groups_suppressed, 2, "{summary:?}");
    assert_eq!(summary.groups_total, 3, "{summary:?}");
}

#[test]
fn identifiers_in_other_spellings_are_blocked() {
    let t = TestDomain::new();
    let report = run(&t, "leak_identifier_spellings", 20_000_000_000);
    assert_eq!(blocked_by(&report), [Rule::ScanIdentifier]);
    no_products(&t);
}
