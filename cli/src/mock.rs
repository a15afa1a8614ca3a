//! `shuyu mock`: run modules against mock twins, on a server or on this machine, and download
//! twins (docs/operator.md, "Mock runs").

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;
use shuyu::catalog::{mock::twin_of, Catalog};
use shuyu::governance::ScenarioFile;
use shuyu::mock::{run_local, MockReport, MockRun, MockRunStatus, MOCK_MARK};

use super::client::{encode, Client};
use super::{CliResult, Failure, Globals};

/// How often a waiting `mock run` asks for the run's state.
const POLL: Duration = Duration::from_millis(300);
/// Rows of each released table printed.
const PRINTED_ROWS: usize = 20;

#[derive(Debug, Subcommand)]
pub(crate) enum MockCommand {
    /// Run a module against mock twins and print everything it did (no approval needed).
    ///
    /// On a server (the default): the module is uploaded, the run uses the twins of the datasets
    /// the scenario names. With `--local`: on this machine, over the twins of this data
    /// directory's datasets or of the folder `--mocks` (see `shuyu mock pull`).
    Run {
        /// The module (.wasm).
        #[arg(long)]
        module: PathBuf,
        /// A scenario file (a draft is fine).
        #[arg(long, conflicts_with = "application")]
        scenario: Option<PathBuf>,
        /// One of your applications, instead of a scenario file (server only).
        #[arg(long)]
        application: Option<String>,
        /// Run on this machine instead of a server.
        #[arg(long)]
        local: bool,
        /// With --local: a folder of twin dataset folders (as `shuyu mock pull` writes them).
        #[arg(long, requires = "local")]
        mocks: Option<PathBuf>,
        /// Print the run's id and return at once instead of waiting for its report.
        #[arg(long, conflicts_with = "local")]
        no_wait: bool,
    },
    /// Show one of your mock runs with its report (server).
    Show {
        /// The run's id (`mock-...`).
        id: String,
    },
    /// List your mock runs, newest first (server).
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Download the mock twins of datasets into a folder, for `mock run --local --mocks`.
    Pull {
        /// Dataset names.
        #[arg(required = true)]
        datasets: Vec<String>,
        /// The folder to write `<name>/dataset.toml` and `<name>/data.parquet` into.
        #[arg(long, default_value = "mocks")]
        out: PathBuf,
    },
}

/// `POST /v1/mock-runs`.
#[derive(Debug, Serialize)]
struct NewRun {
    module_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    application: Option<String>,
}

pub(crate) fn run(globals: &Globals, command: MockCommand) -> CliResult {
    match command {
        MockCommand::Run {
            module,
            scenario,
            application,
            local: true,
            mocks,
            ..
        } => {
            if application.is_some() {
                return Err(Failure::Error(anyhow::anyhow!(
                    "--application needs a server; give --scenario with --local"
                )));
            }
            let Some(scenario) = scenario else {
                return Err(Failure::Error(anyhow::anyhow!("--local needs --scenario")));
            };
            local(globals, &module, &scenario, mocks.as_deref())
        }
        MockCommand::Run {
            module,
            scenario,
            application,
            no_wait,
            ..
        } => {
            let client = globals.client("mock run")?;
            let scenario = scenario
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read scenario {}", path.display()))
                })
                .transpose()?;
            if scenario.is_none() && application.is_none() {
                return Err(Failure::Error(anyhow::anyhow!(
                    "give --scenario FILE or --application ID"
                )));
            }
            let (sha256, _) = super::module::upload(&client, &module)?;
            let started = client.post::<_, MockRun>(
                "/v1/mock-runs",
                &NewRun {
                    module_sha256: sha256,
                    scenario,
                    application,
                },
            )?;
            let id = started.value.id.clone();
            if no_wait {
                if globals.json {
                    globals.print_json(&started.raw);
                } else {
                    println!("{id}");
                }
                return Ok(());
            }
            eprintln!("{MOCK_MARK} run {id} started; waiting for its report");
            let path = format!("/v1/mock-runs/{}", encode(&id));
            let ended = loop {
                let reply = client.get::<MockRun>(&path)?;
                if reply.value.status != MockRunStatus::Running {
                    break reply;
                }
                std::thread::sleep(POLL);
            };
            show(globals, &ended.value, &ended.raw)
        }
        MockCommand::Show { id } => {
            let client = globals.client("mock show")?;
            let reply = client.get::<MockRun>(&format!("/v1/mock-runs/{}", encode(&id)))?;
            show(globals, &reply.value, &reply.raw)
        }
        MockCommand::List { limit } => {
            let client = globals.client("mock list")?;
            let listing = client.list::<MockRun>("/v1/mock-runs", limit)?;
            if globals.json {
                globals.print_json(&serde_json::Value::Array(listing.raw));
                return Ok(());
            }
            for run in &listing.items {
                println!(
                    "{}  {}  {}  {}  {}",
                    run.id,
                    run.status.as_str(),
                    run.scenario_id,
                    &run.module_sha256[..run.module_sha256.len().min(12)],
                    run.started_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
            Ok(())
        }
        MockCommand::Pull { datasets, out } => pull(globals, &datasets, &out),
    }
}

/// Prints a run (JSON with `--json`); a run that could not be carried out exits 1.
fn show(globals: &Globals, run: &MockRun, raw: &serde_json::Value) -> CliResult {
    if globals.json {
        globals.print_json(raw);
    } else {
        println!(
            "{MOCK_MARK} run {} — scenario '{}', module {}, twins of {}",
            run.id,
            run.scenario_id,
            run.module_sha256,
            run.datasets.join(", ")
        );
        match &run.report {
            Some(report) => print_report(report),
            None => println!("status: {}", run.status.as_str()),
        }
    }
    match run.status {
        MockRunStatus::Failed => Err(Failure::Refused(format!(
            "mock run {} could not be carried out",
            run.id
        ))),
        _ => Ok(()),
    }
}

/// Everything a mock run did, for a person.
pub(crate) fn print_report(report: &MockReport) {
    println!(
        "outcome: {}{}",
        report.outcome,
        if report.detail.is_empty() {
            String::new()
        } else {
            format!(" — {}", report.detail)
        }
    );
    if !report.module_matches_scenario {
        println!(
            "note: the scenario does not pin this module; pin it (module_sha256) before you apply"
        );
    }
    println!(
        "fuel {}, {} rows read, {} queries, {} ms",
        report.fuel_used, report.rows_read, report.queries, report.elapsed_ms
    );
    println!("trail:");
    for event in &report.events {
        let d = &event.details;
        match event.action.as_str() {
            "query" => {
                println!(
                    "  query #{} {} ({} rows): {}",
                    d["handle"], d["status"], d["rows"], d["sql"]
                );
                if let Some(error) = d["error"].as_str() {
                    println!("    error: {error}");
                }
                if let Some(preview) = d["preview"].as_str() {
                    for line in preview.lines() {
                        println!("    {line}");
                    }
                }
            }
            "guest.log" => println!("  log: {}", d["line"].as_str().unwrap_or_default()),
            action => println!("  {action}: {d}"),
        }
    }
    if report.events_omitted > 0 {
        println!("  … {} more entries left out", report.events_omitted);
    }
    for release in &report.releases {
        match release.outcome.as_str() {
            "released" => {
                println!(
                    "release '{}': released, {} rows [{MOCK_MARK}]",
                    release.release, release.total_rows
                );
                println!("  {}", release.columns.join(" | "));
                for row in release.rows.iter().take(PRINTED_ROWS) {
                    let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("")).collect();
                    println!("  {}", cells.join(" | "));
                }
            }
            _ => println!(
                "release '{}': blocked by {} — {}",
                release.release,
                release.rule.as_deref().unwrap_or("?"),
                release.message.as_deref().unwrap_or("")
            ),
        }
    }
}

/// `mock run --local`.
fn local(globals: &Globals, module: &Path, scenario: &Path, mocks: Option<&Path>) -> CliResult {
    let scenario_file = ScenarioFile::load(scenario)?;
    let catalog = match mocks {
        Some(dir) => Catalog::load(dir)?,
        None => {
            let real = Catalog::load(&globals.data_dir.join("datasets"))?;
            let mut twins = Vec::new();
            for dataset in real.datasets() {
                twins.push(twin_of(dataset)?);
            }
            Catalog::from_datasets(real.root(), twins)?
        }
    };
    let work = globals
        .data_dir
        .join("mock-runs")
        .join(format!("local-{}", std::process::id()));
    let result = run_local(&work, scenario_file, module, &catalog);
    let _ = std::fs::remove_dir_all(&work);
    let report = result.map_err(|e| Failure::Refused(format!("mock run: {e}")))?;
    if globals.json {
        globals.print_json(&serde_json::to_value(&report).context("cannot encode the report")?);
    } else {
        println!(
            "{MOCK_MARK} run on this machine, module {}",
            module.display()
        );
        print_report(&report);
    }
    Ok(())
}

/// `mock pull`: each twin into `<out>/<name>/`.
fn pull(globals: &Globals, datasets: &[String], out: &Path) -> CliResult {
    let client: Client = globals.client("mock pull")?;
    for name in datasets {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for (file, part) in [("dataset.toml", "manifest"), ("data.parquet", "data")] {
            let path = dir.join(file);
            let mut handle = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            client.download(
                &format!("/v1/datasets/{}/mock/{part}", encode(name)),
                &mut handle,
            )?;
        }
        eprintln!("{MOCK_MARK} twin of '{name}' → {}", dir.display());
    }
    Ok(())
}
