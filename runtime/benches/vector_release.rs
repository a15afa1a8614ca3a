//! `release_vector` at several partition counts m: the credit-model example (a logistic
//! regression per partition, sample-and-aggregate) through the whole job path, one job per m.
//!
//! Run: `cargo bench -p shuyu --bench vector_release -- --scale 1 --partitions 16,64,256`
//! (add `--profile dev` to reuse a debug build). The datasets are generated once per scale into
//! `target/bench-data/` and reused. Results and the command that produced them go to
//! `docs/benchmarks.md`.

// A test or bench binary: a failed `expect` is a failed run, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use shuyu::audit::AuditFilter;
use shuyu::budget::{BudgetLedger, BudgetScope};
use shuyu::catalog::Catalog;
use shuyu::domain::Domain;
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobRequest, JobStatus, ReleaseOutcome};
use shuyu_synth::{generate, GenerateOptions};

/// The datasets the credit model reads.
const DATASETS: [&str; 3] = ["enterprise_registry", "tax_payments", "social_insurance"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `--scale 1.0 --partitions 16,64,256`, each optional.
fn parse_args(args: &[String]) -> anyhow::Result<(f64, Vec<u32>)> {
    let mut scale = 1.0;
    let mut partitions = vec![16, 64, 256];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--scale" => {
                let value = it.next().map(String::as_str).unwrap_or_default();
                scale = value
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--scale '{value}': {e}"))?;
            }
            "--partitions" => {
                let value = it.next().map(String::as_str).unwrap_or_default();
                partitions = value
                    .split(',')
                    .map(|m| m.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("--partitions '{value}': {e}"))?;
            }
            // cargo bench passes `--bench` to harness=false binaries.
            _ => {}
        }
    }
    Ok((scale, partitions))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scale, partitions) = parse_args(&args)?;
    let root = repo();
    let module =
        std::fs::read(root.join("target/wasm-modules/credit_model.wasm")).map_err(|e| {
            anyhow::anyhow!("credit_model.wasm: {e}; run scripts/build-guests.sh first")
        })?;
    let template = ScenarioFile::load(&root.join("guest-examples/credit-model/scenario.toml"))?;
    let work = root.join("target").join("bench-data");
    let data = work.join(format!("vector-scale-{scale:.3}"));
    if !DATASETS
        .iter()
        .all(|name| data.join(name).join("dataset.toml").is_file())
    {
        eprintln!("generating scale {scale:.3} into {}", data.display());
        let options = GenerateOptions {
            scale,
            only: Some(DATASETS.iter().map(|d| d.to_string()).collect()),
            ..GenerateOptions::default()
        };
        generate(&data, &options, &mut |line| eprintln!("  {line}"))?;
    }

    println!("| m | enterprises | tax rows | split (s) | split peak (MiB) | job (s) | partitions / s | rows read by partition runs |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for m in partitions {
        // A fresh domain per m: each job starts from the same state and budget.
        let domain_dir = work.join(format!("vector-domain-{scale:.3}"));
        let _ = std::fs::remove_dir_all(&domain_dir);
        let domain = Domain::open(&domain_dir)?;
        for name in DATASETS {
            Catalog::import(&domain.datasets_dir(), &data.join(name))?;
        }
        let catalog = domain.catalog()?;
        let rows_of = |name: &str| catalog.get(name).map(|d| d.rows).unwrap_or(0);
        let ledger = BudgetLedger::new(domain.store.clone(), domain.audit.clone());
        for name in DATASETS {
            ledger.set_budget(
                "bench",
                &BudgetScope::Dataset(name.into()),
                1_000.0,
                0.0,
                "benchmark",
            )?;
        }
        // Warm the compiled-module cache so the job time is the release, not Cranelift.
        domain
            .sandbox
            .compile(&module)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let mut scenario = template.clone();
        scenario.scenario.module_sha256 =
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
        scenario.limits.fuel = u64::MAX / 2;
        if let Some(budget) = scenario.privacy_budget.as_mut() {
            budget.epsilon = 1_000.0;
        }
        let Some(vector) = scenario.vectors.first_mut() else {
            anyhow::bail!("the credit-model scenario has no [[vector]]");
        };
        vector.partitions = m;

        let started = Instant::now();
        let report = run_job(
            &domain,
            JobRequest {
                scenario,
                module: module.clone(),
            },
        )?;
        let job = started.elapsed().as_secs_f64();
        if report.status != JobStatus::Completed {
            anyhow::bail!("m = {m}: the job did not complete: {:?}", report.status);
        }
        if !matches!(
            report.releases.as_slice(),
            [ReleaseOutcome::Released { .. }]
        ) {
            anyhow::bail!(
                "m = {m}: expected one released vector: {:?}",
                report.releases
            );
        }
        let entries = |action: &str| {
            domain.audit.search(&AuditFilter {
                job_id: Some(report.job_id.to_string()),
                action: Some(action.into()),
                ..AuditFilter::default()
            })
        };
        // "-" when the runtime writes no split entry (before the one-pass split).
        let split_entry = entries("vector.split")?.into_iter().next();
        let split_detail =
            |field: &str| split_entry.as_ref().and_then(|e| e.details[field].as_u64());
        let split = split_detail("elapsed_ms").map_or_else(
            || "-".to_string(),
            |ms| format!("{:.2}", ms as f64 / 1000.0),
        );
        let split_mib = split_detail("peak_bytes").map_or_else(
            || "-".to_string(),
            |b| format!("{:.1}", b as f64 / f64::from(1u32 << 20)),
        );
        let runs = entries("vector.partition")?;
        if runs.len() != m as usize {
            anyhow::bail!("m = {m}: {} partition runs audited", runs.len());
        }
        let rows_read: u64 = runs
            .iter()
            .filter_map(|e| e.details["rows_read"].as_u64())
            .sum();
        println!(
            "| {m} | {} | {} | {split} | {split_mib} | {job:.2} | {:.1} | {rows_read} |",
            rows_of("enterprise_registry"),
            rows_of("tax_payments"),
            f64::from(m) / job,
        );
    }
    Ok(())
}
