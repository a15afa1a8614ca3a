//! `shuyu demo`: the whole job path on the bundled data, in one command.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;
use shuyu::catalog::Catalog;
use shuyu::domain::Domain;
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobRequest, ReleaseOutcome};
use shuyu::product::verify_package;
use shuyu_synth::{generate, GenerateOptions};

use super::{output, run::outcome, CliResult};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The example to run (a folder of guest-examples/).
    #[arg(long, default_value = "district-stats")]
    example: String,
    /// Use this module instead of building the example.
    #[arg(long)]
    module: Option<PathBuf>,
}

/// The source checkout: the current folder or one above it, else where this binary was built
/// from. The demo needs its bundled datasets, examples and build script.
fn source_root() -> Option<PathBuf> {
    let is_root = |p: &Path| p.join("guest-examples").is_dir() && p.join("datasets").is_dir();
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(found) = cwd.ancestors().find(|p| is_root(p)) {
            return Some(found.to_path_buf());
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    is_root(built_from).then(|| built_from.to_path_buf())
}

/// Steps of the district-stats demo (other examples stop after the fifth).
const STEPS: u32 = 9;

fn step(n: u32, text: &str) {
    eprintln!("[{n}/{STEPS}] {text}");
}

pub(crate) fn run(data_dir: &Path, args: DemoArgs) -> CliResult {
    let root = source_root();
    step(1, &format!("opening the domain in {}", data_dir.display()));
    let domain = Domain::open(data_dir)?;

    step(2, "loading the bundled datasets");
    if domain.catalog().is_err() {
        let bundled = root
            .as_ref()
            .map(|r| r.join("datasets"))
            .filter(|d| d.join("enterprise_registry").is_dir());
        let source = match bundled {
            Some(dir) => dir,
            None => {
                let dir = data_dir.join("generated");
                eprintln!(
                    "      no bundled datasets found; generating them into {}",
                    dir.display()
                );
                generate(&dir, &GenerateOptions::default(), &mut |line| {
                    eprintln!("      {line}")
                })?;
                dir
            }
        };
        for entry in std::fs::read_dir(&source).with_context(|| source.display().to_string())? {
            let dir = entry?.path();
            if dir.join(shuyu::catalog::MANIFEST_FILE).is_file() {
                Catalog::import(&domain.datasets_dir(), &dir)?;
            }
        }
    }
    let catalog = domain.catalog()?;
    for d in catalog.datasets() {
        eprintln!(
            "      {:<22} {:>8} rows  sha256 {}…",
            d.name(),
            d.rows,
            &d.content_sha256[..12]
        );
    }

    let example_dir = root
        .as_ref()
        .map(|r| r.join("guest-examples").join(&args.example));
    let module_path = match args.module {
        Some(path) => path,
        None => {
            let Some(root) = &root else {
                return Err(anyhow::anyhow!("cannot find the source checkout (guest-examples/); run the demo from it or pass --module").into());
            };
            let path = root
                .join("target")
                .join("wasm-modules")
                .join(format!("{}.wasm", args.example.replace('-', "_")));
            if !path.is_file() {
                step(3, "building the example module (first time only)");
                let status = Command::new("bash")
                    .arg(root.join("scripts").join("build-guests.sh"))
                    .arg("--examples-only")
                    .status()
                    .context("cannot run scripts/build-guests.sh")?;
                if !status.success() || !path.is_file() {
                    return Err(anyhow::anyhow!(
                        "building the example module failed; see the messages above"
                    )
                    .into());
                }
            }
            path
        }
    };
    let module = std::fs::read(&module_path)
        .with_context(|| format!("cannot read {}", module_path.display()))?;
    let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
    step(
        3,
        &format!("module {} (sha256 {}…)", module_path.display(), &sha[..16]),
    );

    let Some(scenario_path) = example_dir
        .map(|d| d.join("scenario.toml"))
        .filter(|p| p.is_file())
    else {
        return Err(
            anyhow::anyhow!("cannot find guest-examples/{}/scenario.toml", args.example).into(),
        );
    };
    let mut scenario = ScenarioFile::load(&scenario_path)?;
    // In production the bureau's approval pins the hash of the reviewed module; the demo
    // approves the module it just built.
    scenario.scenario.module_sha256 = sha;
    let kept = domain
        .scenarios_dir()
        .join(format!("{}.toml", scenario.scenario.id));
    std::fs::write(&kept, toml::to_string_pretty(&scenario)?)
        .with_context(|| kept.display().to_string())?;
    step(
        4,
        &format!(
            "scenario '{}' with the module pinned ({})",
            scenario.scenario.id,
            kept.display()
        ),
    );

    step(5, "running the job: engine → sandbox → guard → product");
    let report = run_job(&domain, JobRequest { scenario, module })?;
    println!();
    output::print_report(&report);

    println!();
    let key = domain.keys.public_key();
    for release in &report.releases {
        if let ReleaseOutcome::Released { product_dir, .. } = release {
            match verify_package(product_dir, &key) {
                Ok(v) => println!(
                    "verify product: OK ({} files, signed by domain key {})",
                    v.files_checked,
                    key.key_id()
                ),
                Err(e) => println!("verify product: FAILED: {e}"),
            }
        }
    }
    if args.example == "district-stats" {
        if let Some(root) = &root {
            credit_model(&domain, root)?;
        }
    }
    if args.example == "district-stats" {
        if let Some(root) = &root {
            let dir = root.join("guest-examples").join("district-stats");
            district_stats_dp(&domain, &dir, &module_path)?;
            health_by_age(&domain, root)?;
            super::demo_service::run(&domain, root, |text| step(9, text))?;
        }
    }
    match shuyu::integrity::verify_domain(&domain, &[]) {
        Ok(r) => println!(
            "verify audit log: OK ({} entries, {} signed checkpoints; {} products on disk found in it)",
            r.log.entries, r.log.checkpoints, r.products
        ),
        Err(e) => println!("verify audit log: FAILED: {e}"),
    }
    println!(
        "reviewers: shuyu --data-dir {} audit show --job {}",
        data_dir.display(),
        report.job_id
    );
    outcome(&report)
}

/// Also runs the district statistics under differential privacy (`scenario-dp.toml`, the same
/// module, its release made per entity). Skipped when the scenario file is missing.
fn district_stats_dp(domain: &Domain, example_dir: &Path, module_path: &Path) -> CliResult {
    private_example(
        domain,
        &example_dir.join("scenario-dp.toml"),
        module_path,
        7,
        "district statistics with differential privacy, per entity: one fresh instance per enterprise → budget → noise → product",
    )
}

/// Also runs the health-by-age example: income and clinic use by age band, differentially
/// private, made per resident. Skipped when its module or scenario is missing.
fn health_by_age(domain: &Domain, root: &Path) -> CliResult {
    private_example(
        domain,
        &root.join("guest-examples").join("health-by-age").join("scenario.toml"),
        &root.join("target").join("wasm-modules").join("health_by_age.wasm"),
        8,
        "income and clinic use by age band, per entity: one fresh instance per resident → budget → noise → product",
    )
}

/// Runs one example whose releases have privacy: prints the noisy table with each column's
/// noise and 95% interval, and what remains of the privacy budgets it was charged to.
fn private_example(
    domain: &Domain,
    scenario_path: &Path,
    module_path: &Path,
    n: u32,
    text: &str,
) -> CliResult {
    if !scenario_path.is_file() || !module_path.is_file() {
        return Ok(());
    }
    let module = std::fs::read(module_path)
        .with_context(|| format!("cannot read {}", module_path.display()))?;
    let mut scenario = ScenarioFile::load(scenario_path)?;
    // As above: the demo approves the module it just built.
    scenario.scenario.module_sha256 =
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
    println!();
    step(n, text);
    let catalog = domain.catalog()?;
    let approved = scenario.clone().check(&catalog)?;
    let report = run_job(domain, JobRequest { scenario, module })?;
    output::print_report(&report);
    budget_hint(domain, &report);
    let ledger = shuyu::budget::BudgetLedger::new(domain.store.clone(), domain.audit.clone());
    println!("privacy budget remaining (basic composition):");
    for scope in shuyu::job::budget_scopes(&approved, &report.scenario_key_id) {
        match ledger.budget(&scope) {
            Ok(Some(budget)) => println!(
                "  {scope}: spent {}, left {} of {}",
                budget.spent(),
                budget.remaining(),
                budget.total()
            ),
            Ok(None) => println!("  {scope}: no budget yet"),
            Err(e) => println!("  {scope}: cannot read the budget: {e}"),
        }
    }
    Ok(())
}

/// Also runs the credit-model example: a logistic regression released by sample-and-aggregate
/// (`release_vector`), printed with each coefficient's noise. Skipped when its module or
/// scenario is missing (a checkout without it, or a build that has not made it yet).
fn credit_model(domain: &Domain, root: &Path) -> CliResult {
    let module_path = root
        .join("target")
        .join("wasm-modules")
        .join("credit_model.wasm");
    let scenario_path = root
        .join("guest-examples")
        .join("credit-model")
        .join("scenario.toml");
    if !module_path.is_file() || !scenario_path.is_file() {
        return Ok(());
    }
    let module = std::fs::read(&module_path)
        .with_context(|| format!("cannot read {}", module_path.display()))?;
    let mut scenario = ScenarioFile::load(&scenario_path)?;
    // As above: the demo approves the module it just built.
    scenario.scenario.module_sha256 =
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &module));
    println!();
    let Some(contract) = scenario.vectors.first().cloned() else {
        return Ok(());
    };
    step(
        6,
        &format!(
            "credit model: {} partition runs → clamp → mean → noise (sample-and-aggregate)",
            contract.partitions
        ),
    );
    let report = run_job(domain, JobRequest { scenario, module })?;
    for release in &report.releases {
        match release {
            ReleaseOutcome::Released { table, .. } => {
                println!(
                    "released vector '{}' (ε = {}, m = {}, one row per coefficient):",
                    contract.name, contract.privacy.epsilon, contract.partitions
                );
                let text = output::display_table(table)
                    .and_then(|t| arrow::util::pretty::pretty_format_batches(&[t]))
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                println!("{text}");
            }
            ReleaseOutcome::Blocked { rule, message, .. } => {
                println!("credit model blocked ({rule}): {message}");
            }
        }
    }
    Ok(())
}

/// A budget, once spent, stays spent: that is the point of it. Each demo run spends part of the
/// bundled datasets' budgets, so a re-run on the same data directory soon has private releases
/// blocked; say how to start afresh instead of leaving a newcomer puzzled.
fn budget_hint(domain: &Domain, report: &shuyu::job::JobReport) {
    let spent = report.releases.iter().any(
        |r| matches!(r, ReleaseOutcome::Blocked { rule, .. } if rule.as_str() == "privacy.budget"),
    );
    if spent {
        println!(
            "(privacy budgets stay spent: earlier demo runs used this data directory's. Run the demo \
             on a new one, e.g. `shuyu --data-dir ./shuyu-data-2 demo`, or remove {})",
            domain.data_dir().display()
        );
    }
}
