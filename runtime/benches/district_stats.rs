//! district-stats at several sizes, as the guest module through the whole job path (engine →
//! sandbox → guard → signed product) and as the equivalent native DataFusion SQL, in one run;
//! then the same statistics under differential privacy (`scenario-dp.toml`), whose release is
//! made per entity: one fresh instance per enterprise.
//!
//! Run: `./run bench` (or `cargo bench -p shuyu --bench district_stats -- --rows 1000000,10000000`;
//! `--threshold-only` skips the per-entity DP job).
//! Datasets are generated once per size into `target/bench-data/` and reused.
//! Results and the command that produced them go to `docs/benchmarks.md`.

// A test or bench binary: a failed `expect` is a failed run, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu::catalog::Catalog;
use shuyu::domain::Domain;
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobRequest, JobStatus, ReleaseOutcome};
use shuyu_synth::{generate, GenerateOptions};

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

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo();
    let module =
        std::fs::read(root.join("target/wasm-modules/district_stats.wasm")).map_err(|e| {
            anyhow::anyhow!("district_stats.wasm: {e}; run scripts/build-guests.sh first")
        })?;
    let template = ScenarioFile::load(&root.join("guest-examples/district-stats/scenario.toml"))?;
    let private = ScenarioFile::load(&root.join("guest-examples/district-stats/scenario-dp.toml"))?;
    let work = root.join("target").join("bench-data");

    println!("| tax rows | enterprises | guest job (s) | native SQL (s) | guest / native | DP job, per entity (s) | DP / guest job | entities / s | rows to guest | fuel | groups released / suppressed |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
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
            generate(&data, &options, &mut |line| eprintln!("  {line}"))?;
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
        scenario.limits.memory_mib = 64;
        scenario.limits.fuel = u64::MAX / 2;
        let started = Instant::now();
        let report = run_job(
            &domain,
            JobRequest {
                scenario,
                module: module.clone(),
            },
        )?;
        let guest = started.elapsed().as_secs_f64();
        if report.status != JobStatus::Completed {
            anyhow::bail!("guest job did not complete: {:?}", report.status);
        }
        let (released, suppressed, k) = match report.releases.first() {
            Some(ReleaseOutcome::Released { report, .. }) => {
                (report.groups_released, report.groups_suppressed, report.k)
            }
            other => anyhow::bail!("expected a release, got {other:?}"),
        };

        let started = Instant::now();
        let native_groups = domain.runtime().block_on(native(&catalog, k))?;
        let native = started.elapsed().as_secs_f64();
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
                "| {tax_rows} | {enterprises} | {guest:.2} | {native:.2} | {:.1}× | – | – | – | {} | {} | {released} / {suppressed} |",
                guest / native,
                report.rows_read,
                report.fuel_used
            );
            continue;
        }
        let mut scenario = private.clone();
        scenario.scenario.module_sha256 =
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
        let started = Instant::now();
        let dp = run_job(
            &domain,
            JobRequest {
                scenario,
                module: module.clone(),
            },
        )?;
        let dp_seconds = started.elapsed().as_secs_f64();
        if !dp.succeeded() {
            anyhow::bail!("the DP job did not release: {:?}", dp.status);
        }
        println!(
            "| {tax_rows} | {enterprises} | {guest:.2} | {native:.2} | {:.1}× | {dp_seconds:.2} | {:.1}× | {:.0} | {} | {} | {released} / {suppressed} |",
            guest / native,
            dp_seconds / guest,
            enterprises as f64 / dp_seconds,
            report.rows_read,
            report.fuel_used
        );
    }
    Ok(())
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
