//! district-stats at several sizes, as the guest module through the whole job path (engine →
//! sandbox → guard → signed product) and as the equivalent native DataFusion SQL, in one run;
//! then the same statistics under differential privacy (`scenario-dp.toml`), whose release is
//! made per entity: one fresh instance per enterprise.
//!
//! Run: `./run bench` (or `cargo bench -p shuyu --bench district_stats -- --rows 1000000,10000000`;
//! `--threshold-only` skips the per-entity DP job; `--query-memory-mib N` sets the jobs'
//! `limits.query_memory_mib`, 4,096 by default).
//! Datasets are generated once per size into `target/bench-data/` and reused.
//! Results and the command that produced them go to `docs/benchmarks.md`.

// A test or bench binary: a failed `expect` is a failed run, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu::catalog::Catalog;
use shuyu::domain::Domain;
use shuyu::engine::{EngineSession, Pseudonymizer, SessionOptions};
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobReport, JobRequest, JobStatus, PhaseTimes, ReleaseOutcome};
use shuyu_synth::{generate, GenerateOptions};

/// DataFusion's memory pool of the jobs' sessions (`limits.query_memory_mib`) unless
/// `--query-memory-mib` says otherwise.
const QUERY_MEMORY_MIB: u32 = 4096;

/// Tax rows per unit of generator scale (measured from the generator; used to pick a scale).
const TAX_ROWS_PER_SCALE: f64 = 126_000.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn parse_rows(args: &[String]) -> Vec<u64> {
    let mut rows = vec![1_000_000, 10_000_000];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--rows" {
            if let Some(list) = it.next() {
                rows = list
                    .split(',')
                    .filter_map(|r| r.trim().replace('_', "").parse().ok())
                    .collect();
            }
        }
    }
    rows
}

/// The value after `flag`, if any.
fn flag_value<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1)?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let query_memory_mib = flag_value(&args, "--query-memory-mib").unwrap_or(QUERY_MEMORY_MIB);
    let root = repo();
    let module =
        std::fs::read(root.join("target/wasm-modules/district_stats.wasm")).map_err(|e| {
            anyhow::anyhow!("district_stats.wasm: {e}; run scripts/build-guests.sh first")
        })?;
    let template = ScenarioFile::load(&root.join("guest-examples/district-stats/scenario.toml"))?;
    let private = ScenarioFile::load(&root.join("guest-examples/district-stats/scenario-dp.toml"))?;
    let work = root.join("target").join("bench-data");

    println!("| tax rows | enterprises | guest job (s) | native SQL (s) | guest / native | again, universe cached (s) | again / native | DP job, per entity (s) | DP / guest job | entities / s | rows to guest | fuel | groups released / suppressed |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut breakdown: Vec<String> = Vec::new();
    let mut floors: Vec<String> = Vec::new();
    for target_rows in parse_rows(&args) {
        let scale = (target_rows as f64 / TAX_ROWS_PER_SCALE).max(0.01);
        let data = work.join(format!("scale-{scale:.3}"));
        if !data.join("tax_payments").join("dataset.toml").is_file() {
            eprintln!("generating scale {scale:.3} into {}", data.display());
            let options = GenerateOptions {
                scale,
                only: Some(vec!["enterprise_registry".into(), "tax_payments".into()]),
                ..GenerateOptions::default()
            };
            let started = Instant::now();
            generate(&data, &options, &mut |line| eprintln!("  {line}"))?;
            eprintln!("  generated in {:.1} s", started.elapsed().as_secs_f64());
        }
        let domain_dir = work.join(format!("domain-{scale:.3}"));
        let _ = std::fs::remove_dir_all(&domain_dir);
        let domain = Domain::open(&domain_dir)?;
        for name in ["enterprise_registry", "tax_payments"] {
            Catalog::import(&domain.datasets_dir(), &data.join(name))?;
        }
        let catalog = domain.catalog()?;
        let tax_rows = catalog.get("tax_payments").map(|d| d.rows).unwrap_or(0);
        let enterprises = catalog
            .get("enterprise_registry")
            .map(|d| d.rows)
            .unwrap_or(0);

        // Warm the compiled-module cache so the guest time is the job, not Cranelift.
        domain
            .sandbox
            .compile(&module)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let mut scenario = template.clone();
        scenario.scenario.module_sha256 =
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
        // The guest's memory the 100M-row goal names, and a query memory that holds
        // the join and the aggregate of 8M enterprises (the default 1 GiB holds about 2M).
        scenario.limits.memory_mib = 256;
        scenario.limits.query_memory_mib = query_memory_mib;
        scenario.limits.fuel = u64::MAX / 2;
        // The guest's own query, in a session like the one it gets (granted views, identifiers
        // as pseudonyms), drained without a guest: the engine's share of the job.
        let in_session = session_query(&domain, &catalog, &scenario)?;
        let (report, guest, guest_rss) = timed_job(&domain, scenario.clone(), &module)?;
        if report.status != JobStatus::Completed {
            anyhow::bail!("guest job did not complete: {:?}", report.status);
        }
        // The same job again: the scenario's next job on these versions loads the universe the
        // first one stored.
        let (again_report, again, again_rss) = timed_job(&domain, scenario, &module)?;
        if again_report.status != JobStatus::Completed || !again_report.timings.universe_cached {
            anyhow::bail!(
                "the second job did not complete with a cached universe: {:?}",
                again_report.status
            );
        }
        let (released, suppressed, k, contributions) = match report.releases.first() {
            Some(ReleaseOutcome::Released { report, .. }) => (
                report.groups_released,
                report.groups_suppressed,
                report.k,
                report.contribution_rows,
            ),
            other => anyhow::bail!("expected a release, got {other:?}"),
        };

        reset_peak_rss();
        let started = Instant::now();
        let native_groups = domain.runtime().block_on(native(&catalog, k))?;
        let native = started.elapsed().as_secs_f64();
        let native_rss = peak_rss_mib();
        breakdown.push(format!(
            "| {tax_rows} | native SQL, raw files | {native:.2} | – | – | – | – | – | – | – | – | – | – | – | {native_rss} |"
        ));
        breakdown.push(in_session);
        let ns = lookup_ns(enterprises as usize);
        let floor = 3.0 * ns * contributions as f64 / 1e9;
        floors.push(format!(
            "| {tax_rows} | {enterprises} | {contributions} | {ns:.0} | {floor:.2} | {:.2} | {:.0} % |",
            again_report.timings.guard.as_secs_f64(),
            100.0 * floor / again,
        ));
        breakdown.push(phase_row(
            tax_rows,
            "guest job",
            guest,
            report.elapsed.as_secs_f64(),
            &report.timings,
            guest_rss,
        ));
        breakdown.push(phase_row(
            tax_rows,
            "guest job again, universe cached",
            again,
            again_report.elapsed.as_secs_f64(),
            &again_report.timings,
            again_rss,
        ));
        // The guard suppresses more than `HAVING COUNT(*) >= k` does (k contributors per
        // measure, dominance), never less, and never more groups than the data has.
        let (low, high) = (released as usize, (released + suppressed) as usize);
        if !(low..=high).contains(&native_groups) {
            anyhow::bail!(
                "native SQL released {native_groups} groups, the guest {released} of {high}"
            );
        }
        if args.iter().any(|a| a == "--threshold-only") {
            println!(
                "| {tax_rows} | {enterprises} | {guest:.2} | {native:.2} | {:.1}× | {again:.2} | {:.1}× | – | – | – | {} | {} | {released} / {suppressed} |",
                guest / native,
                again / native,
                report.rows_read,
                report.fuel_used
            );
            continue;
        }
        let mut scenario = private.clone();
        scenario.scenario.module_sha256 =
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
        let (dp, dp_seconds, dp_rss) = timed_job(&domain, scenario, &module)?;
        breakdown.push(phase_row(
            tax_rows,
            "DP job, per entity",
            dp_seconds,
            dp.elapsed.as_secs_f64(),
            &dp.timings,
            dp_rss,
        ));
        if !dp.succeeded() {
            anyhow::bail!("the DP job did not release: {:?}", dp.status);
        }
        println!(
            "| {tax_rows} | {enterprises} | {guest:.2} | {native:.2} | {:.1}× | {again:.2} | {:.1}× | {dp_seconds:.2} | {:.1}× | {:.0} | {} | {} | {released} / {suppressed} |",
            guest / native,
            again / native,
            dp_seconds / guest,
            enterprises as f64 / dp_seconds,
            report.rows_read,
            report.fuel_used
        );
    }
    println!();
    println!("Where the time goes (host phases summed over the job's host calls, wall seconds; pseudonyms: millions of values and CPU seconds summed over threads, inside execution, universe and per-entity; guest = the run's time outside host calls; peak RSS of the process during that step):");
    println!();
    println!("| tax rows | step | wall (s) | guest run (s) | planning | execution | IPC encode | universe | guard | per-entity | product | audit | guest | pseudonyms (M / CPU s) | peak RSS (MiB) |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in breakdown {
        println!("{row}");
    }
    println!();
    println!("The guard's floor: per contribution row its rules look up the entity in three tables of an entry per entity (the identifier universe, the bound's ledger, the group's members); measured here as random probes of a hash set of that many 16-byte keys (best of 3), against the guard's time and the whole cached job:");
    println!();
    println!("| tax rows | entities | contribution rows | ns per lookup | floor: 3 lookups per row (s) | guard, cached job (s) | floor / cached job |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in floors {
        println!("{row}");
    }
    Ok(())
}

/// Nanoseconds per lookup of `n` random 16-byte keys in a hash set of them (best of three
/// passes), with the guard's own hash: what a table with an entry per entity costs per row once
/// it outgrows the caches.
fn lookup_ns(n: usize) -> f64 {
    use shuyu::guard::MemberHasher;
    use std::collections::HashSet;
    use std::hash::BuildHasherDefault;

    let n = n.max(1);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let keys: Vec<[u8; 16]> = (0..n)
        .map(|_| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&next().to_le_bytes());
            key[8..].copy_from_slice(&next().to_le_bytes());
            key
        })
        .collect();
    let set: HashSet<[u8; 16], BuildHasherDefault<MemberHasher>> = keys.iter().copied().collect();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        // Keys are read in order; where each one sits in the table is as random as its hash.
        let found = keys.iter().filter(|key| set.contains(*key)).count();
        let ns = started.elapsed().as_nanos() as f64 / n as f64;
        assert_eq!(found, n);
        best = best.min(ns);
    }
    best
}

/// Runs a job; its report, wall seconds and the process's peak RSS (MiB) meanwhile.
fn timed_job(
    domain: &Domain,
    scenario: ScenarioFile,
    module: &[u8],
) -> anyhow::Result<(JobReport, f64, u64)> {
    reset_peak_rss();
    let started = Instant::now();
    let report = run_job(
        domain,
        JobRequest {
            scenario,
            module: module.to_vec(),
        },
    )?;
    Ok((report, started.elapsed().as_secs_f64(), peak_rss_mib()))
}

/// One row of the breakdown for a job.
fn phase_row(tax_rows: u64, step: &str, wall: f64, run: f64, t: &PhaseTimes, rss: u64) -> String {
    let s = |d: std::time::Duration| format!("{:.2}", d.as_secs_f64());
    let guest = (run - t.host().as_secs_f64()).max(0.0);
    format!(
        "| {tax_rows} | {step} | {wall:.2} | {run:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {guest:.2} | {:.1} / {} | {rss} |",
        s(t.planning),
        s(t.execution),
        s(t.ipc_encode),
        s(t.universe),
        s(t.guard),
        s(t.entities),
        s(t.product),
        s(t.audit),
        t.pseudonyms as f64 / 1e6,
        s(t.pseudonymize),
    )
}

/// Runs the example's guest query in a session like the guest's and returns its row of the
/// breakdown.
fn session_query(
    domain: &Domain,
    catalog: &Catalog,
    scenario: &ScenarioFile,
) -> anyhow::Result<String> {
    let approved = scenario.clone().check(catalog)?;
    let grants: Vec<_> = approved
        .datasets
        .iter()
        .cloned()
        .zip(approved.file.grants.iter().cloned())
        .collect();
    let pseudonymizer = Pseudonymizer::new(&domain.keys.pseudonym_key("bench-session"));
    let tax_rows = catalog.get("tax_payments").map(|d| d.rows).unwrap_or(0);
    reset_peak_rss();
    let started = Instant::now();
    let rows = domain.runtime().block_on(async {
        use futures::StreamExt;
        let options = SessionOptions {
            memory_limit: scenario.limits.query_memory_bytes(),
            ..SessionOptions::default()
        };
        let session = EngineSession::open(&grants, &pseudonymizer, &options).await?;
        let mut stream = session.execute(GUEST_SQL).await?;
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            rows += batch?.num_rows();
        }
        anyhow::Ok(rows)
    })?;
    let wall = started.elapsed().as_secs_f64();
    let (cpu, values) = pseudonymizer.spent();
    anyhow::ensure!(rows > 0, "the guest's query returned nothing");
    Ok(format!(
        "| {tax_rows} | the guest's SQL in its session | {wall:.2} | – | – | {wall:.2} | – | – | – | – | – | – | – | {:.1} / {:.2} | {} |",
        values as f64 / 1e6,
        cpu.as_secs_f64(),
        peak_rss_mib()
    ))
}

/// The query `guest-examples/district-stats` makes (its `SQL`).
const GUEST_SQL: &str = "SELECT r.usci AS entity, r.district, r.industry, \
    r.registered_capital AS capital, COALESCE(t.total, 0.0) AS tax \
    FROM enterprise_registry r \
    LEFT JOIN (SELECT usci, SUM(amount) AS total FROM tax_payments GROUP BY usci) t \
    ON r.usci = t.usci";

/// Resets the process's peak resident set (Linux: `clear_refs` 5), so that the next reading
/// is one step's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set since the last reset, in MiB (0 where not readable).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// The same statistics as one SQL query over the raw files (no pseudonyms, no guard, no product).
/// Its threshold is k alone: it keeps at least the groups the guard releases.
async fn native(catalog: &Catalog, k: u32) -> anyhow::Result<usize> {
    let ctx = SessionContext::new();
    for name in ["enterprise_registry", "tax_payments"] {
        let dataset = catalog
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("{name} missing"))?;
        let path = dataset
            .data_path
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("path not UTF-8"))?;
        ctx.register_parquet(name, path, ParquetReadOptions::default())
            .await?;
    }
    let sql = format!(
        "SELECT r.district, r.industry, COUNT(*) AS entities, \
                AVG(LEAST(GREATEST(r.registered_capital, 0.0), 100000.0)) AS capital_mean, \
                SUM(LEAST(GREATEST(COALESCE(t.total, 0.0), 0.0), 10000000.0)) AS tax_sum \
         FROM enterprise_registry r \
         LEFT JOIN (SELECT usci, SUM(amount) AS total FROM tax_payments GROUP BY usci) t ON r.usci = t.usci \
         GROUP BY r.district, r.industry HAVING COUNT(*) >= {k} ORDER BY 1, 2"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}
