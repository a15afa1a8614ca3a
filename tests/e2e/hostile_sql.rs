//! Hostile SQL from a real guest: modules built byte by byte that send one query and drain it.
//! Each query tries to read the clock or randomness, to see statistics through `EXPLAIN`, to
//! exhaust the host's stack or memory through one expression, or to outrun its time limit in
//! small steps. Each must be refused with a code or end with a precise fault, with the process
//! alive.

use shuyu::job::{JobReport, JobStatus};
use shuyu::sandbox::{Fault, LimitKind};

use crate::support::{self, TestDomain};

/// `QUERY_REJECTED`.
const REJECTED: i32 = -2;

/// Runs `sql` from a guest under the hostile scenario (residents, with citizen IDs granted).
fn run_sql(t: &TestDomain, sql: &str) -> JobReport {
    let module = support::draining_module(sql);
    let mut scenario = support::hostile_scenario(&module);
    scenario.limits.fuel = 1_000_000_000;
    t.run(scenario, &module)
}

/// The reason the audit log recorded for the job's refused query.
fn refusal_reason(t: &TestDomain, report: &JobReport) -> String {
    let entries = support::entries(t, &report.job_id.to_string(), "query.refused");
    let entry = entries
        .iter()
        .find(|e| e.action == "query.refused")
        .expect("a query.refused entry");
    entry.details["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_clock_and_randomness_are_refused() {
    let t = TestDomain::new();
    for (sql, function) in [
        ("SELECT now()", "now"),
        ("SELECT CURRENT_TIMESTAMP", "current_timestamp"),
        ("SELECT current_date()", "current_date"),
        ("SELECT CURRENT_DATE", "current_date"),
        ("SELECT current_time()", "current_time"),
        ("SELECT CURRENT_TIME", "current_time"),
        ("SELECT today()", "today"),
        ("SELECT random()", "random"),
        ("SELECT uuid()", "uuid"),
        // Inside a subquery and a filter: the whole plan is checked, before constant folding.
        (
            "SELECT age FROM residents WHERE age > (SELECT random() * 100) LIMIT 1",
            "random",
        ),
        (
            "SELECT count(*) FROM residents WHERE date_part('second', now()) > 30",
            "now",
        ),
    ] {
        let report = run_sql(&t, sql);
        assert_eq!(report.status, JobStatus::GuestError(REJECTED), "{sql}");
        let reason = refusal_reason(&t, &report);
        assert!(reason.contains(function), "{sql}: {reason}");
    }
    // Casting the words 'now' and 'today' reads no clock either: it fails, it does not answer.
    for sql in [
        "SELECT CAST('now' AS TIMESTAMP)",
        "SELECT CAST('today' AS DATE)",
    ] {
        let report = run_sql(&t, sql);
        assert!(
            matches!(report.status, JobStatus::GuestError(-2 | -3)),
            "{sql}: {:?}",
            report.status
        );
    }
}

#[test]
fn explain_is_refused_even_over_a_table_with_identifiers() {
    let t = TestDomain::new();
    for sql in [
        "EXPLAIN VERBOSE SELECT citizen_id FROM residents WHERE citizen_id IS NOT NULL",
        "EXPLAIN SELECT min(citizen_id), max(citizen_id) FROM residents",
        "EXPLAIN ANALYZE SELECT citizen_id FROM residents",
        "EXPLAIN FORMAT INDENT SELECT age FROM residents",
        "DESCRIBE residents",
    ] {
        let report = run_sql(&t, sql);
        assert_eq!(report.status, JobStatus::GuestError(REJECTED), "{sql}");
        assert_eq!(report.rows_read, 0, "{sql}");
        let reason = refusal_reason(&t, &report);
        assert!(reason.contains("statistics"), "{sql}: {reason}");
    }
}

#[test]
fn an_expression_of_32000_terms_is_refused_and_the_process_survives() {
    let t = TestDomain::new();
    // 64,008 bytes: inside the ABI's 64 KiB for SQL text. Planning it overflowed the guest
    // thread's stack and aborted the process.
    let sql = format!("SELECT 1{}", "+1".repeat(32_000));
    let report = run_sql(&t, &sql);
    assert_eq!(report.status, JobStatus::GuestError(REJECTED));
    let reason = refusal_reason(&t, &report);
    assert!(reason.contains("sql_tokens"), "{reason}");
    // Short enough in tokens, too deep in nesting.
    let sql = format!("SELECT 1{}", "+1".repeat(100));
    let report = run_sql(&t, &sql);
    assert_eq!(report.status, JobStatus::GuestError(REJECTED));
    let reason = refusal_reason(&t, &report);
    assert!(reason.contains("sql_nesting"), "{reason}");
}

#[test]
fn functions_whose_output_an_argument_sizes_are_refused() {
    let t = TestDomain::new();
    for (sql, function) in [
        (
            "SELECT repeat(district, 2147483647) FROM residents",
            "repeat",
        ),
        ("SELECT lpad(district, 2147483647) FROM residents", "lpad"),
        (
            "SELECT rpad(district, 2147483647, 'x') FROM residents",
            "rpad",
        ),
        (
            "SELECT replace(citizen_id, '1', citizen_id) FROM residents",
            "replace",
        ),
        (
            "SELECT OVERLAY(district PLACING district FROM 1 FOR 0) FROM residents",
            "overlay",
        ),
        (
            "SELECT string_agg(citizen_id, ',') FROM residents",
            "string_agg",
        ),
    ] {
        let report = run_sql(&t, sql);
        assert_eq!(report.status, JobStatus::GuestError(REJECTED), "{sql}");
        let reason = refusal_reason(&t, &report);
        assert!(reason.contains(function), "{sql}: {reason}");
    }
}

#[test]
fn the_query_time_limit_is_the_total_over_all_batches() {
    let t = TestDomain::new();
    // Billions of combinations, one in a hundred kept: every batch takes a small part of a
    // second, the whole query far longer than one.
    let sql =
        "SELECT a.age FROM (SELECT DISTINCT age AS x FROM residents) c, residents a, residents b \
               WHERE (c.x + a.age * 7 + b.age * 13) % 100 = 0";
    let module = support::draining_module(sql);
    let mut scenario = support::hostile_scenario(&module);
    // Host time is charged as fuel (1,000 per microsecond): enough for many seconds, so that
    // the query's own time limit is what ends the job.
    scenario.limits.fuel = 20_000_000_000;
    scenario.limits.query_timeout_secs = 1;
    // Without a total, the row limit would end this job instead (after many seconds).
    scenario.limits.max_rows_read = 5_000_000;
    let report = t.run(scenario, &module);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::QueryTime))
    );
    // It timed out across several batches, not inside one call.
    let entries = support::entries(&t, &report.job_id.to_string(), "query");
    let query = entries
        .iter()
        .find(|e| e.action == "query")
        .expect("the query's audit entry");
    assert_eq!(query.details["status"], "timeout");
    assert!(
        query.details["batches"].as_u64().unwrap_or(0) >= 2,
        "{}",
        query.details
    );
    // Dropping the query stopped its engine work: no task of it is left on the domain's runtime
    // (this domain runs nothing else). A generous wait, not a speed requirement.
    let runtime = t.domain.runtime();
    let mut alive = runtime.metrics().num_alive_tasks();
    for _ in 0..600 {
        if alive == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        alive = runtime.metrics().num_alive_tasks();
    }
    assert_eq!(
        alive, 0,
        "engine tasks still running after the query's time ran out"
    );
}

/// Thirty CTEs, each doubling the previous one's string: 2^30 times the data in a few hundred
/// tokens, through allowed operations only.
fn doubling_chain(double: &str) -> String {
    let mut sql = String::from("WITH l0 AS (SELECT citizen_id AS s FROM residents)");
    for level in 1..=30 {
        let doubled = double.replace('s', &format!("l{}.s", level - 1));
        sql.push_str(&format!(
            ", l{level} AS (SELECT {doubled} AS s FROM l{})",
            level - 1
        ));
    }
    sql.push_str(" SELECT octet_length(s) FROM l30");
    sql
}

#[test]
fn strings_that_double_at_every_level_fail_instead_of_exhausting_memory() {
    let t = TestDomain::new();
    for double in ["s || s", "concat(s, s)"] {
        let sql = doubling_chain(double);
        let report = run_sql(&t, &sql);
        // QUERY_FAILED: the size bound stopped it while running; the process is still here.
        assert_eq!(report.status, JobStatus::GuestError(-3), "{double}");
    }
}

/// `limits.query_memory_mib` is the session's memory pool and nothing spills to disk: sorting
/// the ~100,000 pairs of residents of the same district and age (a few MiB) fails under 1 MiB
/// (the query fails, the job does not crash) and completes under the default, so the approved
/// limit, not the query, decided.
#[test]
fn a_query_over_its_approved_query_memory_fails_and_the_default_holds_it() {
    let t = TestDomain::new();
    let sql = "SELECT a.citizen_id, b.income FROM residents a JOIN residents b \
               ON a.district = b.district AND a.age = b.age ORDER BY b.income";
    let module = support::draining_module(sql);
    let mut scenario = support::hostile_scenario(&module);
    scenario.limits.fuel = 1_000_000_000;
    scenario.limits.query_memory_mib = 1;
    let report = t.run(scenario.clone(), &module);
    assert_eq!(report.status, JobStatus::GuestError(-3), "{report:?}");
    let query = support::entries(&t, &report.job_id.to_string(), "query");
    let error = query
        .iter()
        .find(|e| e.action == "query")
        .and_then(|e| e.details["error"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("Resources exhausted"), "{error}");

    scenario.limits.query_memory_mib = shuyu::sandbox::Limits::default().query_memory_mib;
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
}

#[test]
fn next_table_stages_what_it_can_carry_and_names_the_columns_it_cannot() {
    let t = TestDomain::new();
    let run = |sql: &str| {
        let module = support::draining_module_with(sql, "next_table");
        let mut scenario = support::hostile_scenario(&module);
        scenario.limits.fuel = 1_000_000_000;
        t.run(scenario, &module)
    };
    let report = run("SELECT citizen_id, district, age, income, age > 40 AS older FROM residents");
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
    assert_eq!(report.rows_read, 10_000, "every resident staged");
    let rows = support::entries(&t, &report.job_id.to_string(), "query");
    let query = rows
        .iter()
        .find(|e| e.action == "query")
        .expect("query entry");
    assert_eq!(query.details["status"], "completed");

    let report = run("SELECT district, CAST(district AS BYTEA) AS district_bytes FROM residents");
    // NOT_AVAILABLE, and the query ends: its audit entry says why, naming the column.
    assert_eq!(report.status, JobStatus::GuestError(-8), "{report:?}");
    let entries = support::entries(&t, &report.job_id.to_string(), "query");
    let query = entries
        .iter()
        .find(|e| e.action == "query")
        .expect("query entry");
    assert_eq!(query.details["status"], "failed");
    let reason = query.details["error"].as_str().unwrap_or_default();
    assert!(reason.contains("`district_bytes` (Binary)"), "{reason}");
    assert!(
        !reason.contains("`district` "),
        "only the column it cannot carry: {reason}"
    );
}
