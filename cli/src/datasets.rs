//! `shuyu datasets`: generate synthetic datasets, import them into the catalog, inspect them;
//! on a server, register new versions, withdraw them, list and show what is registered.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use base64::Engine;
use clap::{Args, Subcommand};
use shuyu::catalog::{Catalog, Dataset};
use shuyu::domain::Domain;
use shuyu::governance::model::DatasetRecord;
use shuyu_datasets::manifest::DatasetManifest;
use shuyu_synth::{generate, GenerateOptions};

use super::client::{encode, read_file};
use super::output::{label, short};
use super::{dates, CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum DatasetsCommand {
    /// Write the synthetic datasets (Parquet + dataset.toml) at any size, deterministically.
    Generate(GenerateArgs),
    /// Validate dataset folders and copy them into the domain's catalog.
    Import {
        /// Dataset folders (each holding a dataset.toml), or a folder of such folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// List the catalog's datasets (with --server: the datasets registered on the server).
    List {
        /// With --server: at most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one dataset's manifest, columns and content hash (with --server: its registration,
    /// status and versions).
    Show {
        /// Dataset name.
        name: String,
    },
    /// Publish a dataset folder (dataset.toml and the Parquet file it names) as a new version
    /// on the server (provider).
    Register {
        /// The dataset folder.
        dir: PathBuf,
    },
    /// Withdraw one version on the server (its provider): jobs stop using it.
    Withdraw {
        /// Dataset name.
        name: String,
        /// The version to withdraw.
        #[arg(long)]
        version: u32,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Size multiplier: 1 = about 10,000 enterprises, 120,000 tax rows and 50,000 residents.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Random seed; the same seed and scale give byte-identical files.
    #[arg(long, default_value_t = GenerateOptions::default().seed)]
    seed: u64,
    /// Output folder (one subfolder per dataset).
    #[arg(long)]
    out: PathBuf,
    /// Only these datasets (repeatable).
    #[arg(long)]
    only: Vec<String>,
}

pub(crate) fn run(globals: &Globals, command: DatasetsCommand) -> CliResult {
    let data_dir = globals.data_dir.as_path();
    match command {
        DatasetsCommand::Register { dir } => register(globals, &dir),
        DatasetsCommand::Withdraw {
            name,
            version,
            reason,
        } => {
            let client = globals.client("datasets withdraw")?;
            let reply = client.post::<_, DatasetRecord>(
                &format!("/v1/datasets/{}/versions/{version}/withdraw", encode(&name)),
                &serde_json::json!({ "reason": reason }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                println!("withdrew version {version} of '{name}'");
                show_record(&reply.value);
            }
            Ok(())
        }
        DatasetsCommand::List { limit } if globals.remote() => {
            let client = globals.client("datasets list")?;
            let listing = client.list::<DatasetRecord>("/v1/datasets", limit)?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            println!(
                "{:<22} {:<10} {:>7} {:<5} {:<13} {:<16} title",
                "name", "status", "version", "level", "open", "provider"
            );
            for d in &listing.items {
                println!(
                    "{:<22} {:<10} {:>7} {:<5} {:<13} {:<16} {}",
                    d.name,
                    label(&d.status),
                    d.current_version
                        .map_or_else(|| "-".to_string(), |v| v.to_string()),
                    d.level,
                    d.open,
                    d.provider,
                    d.title
                );
            }
            Ok(())
        }
        DatasetsCommand::Show { name } if globals.remote() => {
            let client = globals.client("datasets show")?;
            let reply = client.get::<DatasetRecord>(&format!("/v1/datasets/{}", encode(&name)))?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                show_record(&reply.value);
            }
            Ok(())
        }
        DatasetsCommand::Generate(args) => {
            if !(args.scale.is_finite() && args.scale > 0.0) {
                return Err(anyhow::anyhow!(
                    "--scale must be a positive number, not {}",
                    args.scale
                )
                .into());
            }
            let options = GenerateOptions {
                scale: args.scale,
                seed: args.seed,
                only: (!args.only.is_empty()).then_some(args.only),
                ..GenerateOptions::default()
            };
            let started = std::time::Instant::now();
            let written = generate(&args.out, &options, &mut |line| eprintln!("  {line}"))?;
            for dataset in &written {
                println!(
                    "{:<22} {:>12} rows  {}",
                    dataset.name,
                    dataset.rows,
                    dataset.path.display()
                );
            }
            eprintln!(
                "generated {} datasets in {:.1} s",
                written.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        DatasetsCommand::Import { dirs } => {
            let domain = Domain::open(data_dir)?;
            for dir in expand(&dirs)? {
                let dataset = Catalog::import(&domain.datasets_dir(), &dir)?;
                println!(
                    "imported {:<22} {:>10} rows  sha256 {}",
                    dataset.name(),
                    dataset.rows,
                    &dataset.content_sha256[..16]
                );
            }
            Ok(())
        }
        DatasetsCommand::List { .. } => {
            let domain = Domain::open(data_dir)?;
            let catalog = domain.catalog()?;
            println!(
                "{:<22} {:>10}  {:<5} {:<13} {:<12} provider",
                "name", "rows", "level", "open", "acquired"
            );
            for d in catalog.datasets() {
                let info = &d.manifest.dataset;
                println!(
                    "{:<22} {:>10}  {:<5} {:<13} {:<12} {}",
                    info.name,
                    d.rows,
                    info.level,
                    format!("{:?}", info.open).to_lowercase(),
                    info.acquired,
                    info.provider
                );
            }
            Ok(())
        }
        DatasetsCommand::Show { name } => {
            let domain = Domain::open(data_dir)?;
            let catalog = domain.catalog()?;
            let Some(dataset) = catalog.get(&name) else {
                let known: Vec<_> = catalog.datasets().map(Dataset::name).collect();
                return Err(anyhow::anyhow!(
                    "no dataset '{name}' (the catalog has: {})",
                    known.join(", ")
                )
                .into());
            };
            show(dataset);
            Ok(())
        }
    }
}

/// `datasets register DIR`: the manifest as written and the Parquet file, base64, in one request.
fn register(globals: &Globals, dir: &Path) -> CliResult {
    let manifest_path = dir.join(shuyu::catalog::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = DatasetManifest::from_toml_str(&text)
        .map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    manifest
        .validate()
        .map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    let name = manifest.dataset.name.clone();
    let data = read_file(&dir.join(&manifest.dataset.data), "the data file")?;
    let client = globals.client("datasets register")?;
    eprintln!(
        "registering '{name}' ({} bytes of Parquet) on {}",
        data.len(),
        client.url()
    );
    let body = serde_json::json!({
        "manifest": text,
        "parquet_base64": base64::engine::general_purpose::STANDARD.encode(&data),
    });
    let reply = client
        .post::<_, DatasetRecord>(&format!("/v1/datasets/{}/versions", encode(&name)), &body)?;
    if globals.json {
        globals.print_json(&reply.raw);
    } else {
        let record = &reply.value;
        let version = record.versions.last().map_or(0, |v| v.version);
        println!("registered '{name}' version {version}");
        show_record(record);
    }
    Ok(())
}

/// Prints a dataset as registered on a server.
fn show_record(d: &DatasetRecord) {
    println!("{} — {}", d.name, d.title);
    println!("  provider        {}", d.provider);
    println!("  open            {}", d.open);
    println!("  level           {}", d.level);
    println!(
        "  status          {}{}",
        label(&d.status),
        match d.status {
            shuyu::governance::model::DatasetStatus::Active => "",
            shuyu::governance::model::DatasetStatus::Suspended =>
                " (an objection is open: every job using it is refused)",
            shuyu::governance::model::DatasetStatus::Withdrawn => " (no job may use it)",
        }
    );
    if let Some(line) = dates::changed_line(d.status_change.as_ref()) {
        println!("  changed         {line}");
    }
    println!(
        "  current version {}",
        d.current_version
            .map_or_else(|| "none".to_string(), |v| v.to_string())
    );
    println!("  versions:");
    for v in &d.versions {
        println!(
            "    {:>3}  {:<9} {:>10} rows  sha256 {}  published {}",
            v.version,
            if v.active { "active" } else { "withdrawn" },
            v.rows,
            short(&v.content_sha256),
            dates::show(&v.published_at)
        );
    }
}

/// Accepts dataset folders and folders of dataset folders.
fn expand(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in dirs {
        if dir.join(shuyu::catalog::MANIFEST_FILE).is_file() {
            out.push(dir.clone());
            continue;
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(shuyu::catalog::MANIFEST_FILE).is_file())
            .collect();
        if children.is_empty() {
            anyhow::bail!(
                "{}: neither a dataset folder nor a folder of datasets (no dataset.toml found)",
                dir.display()
            );
        }
        children.sort();
        out.extend(children);
    }
    Ok(out)
}

fn show(dataset: &Dataset) {
    let info = &dataset.manifest.dataset;
    println!("{} — {}", info.name, info.title);
    println!("  {}", info.description);
    println!("  provider        {}", info.provider);
    println!("  open            {:?}", info.open);
    println!("  level           {}", info.level);
    println!("  entity column   {}", info.entity_column);
    println!("  minimum k       {}", info.min_k);
    println!("  acquired        {}", info.acquired);
    println!("  updated         {}", info.update_frequency);
    println!("  rows            {}", dataset.rows);
    println!("  content sha256  {}", dataset.content_sha256);
    println!("  columns:");
    for c in &dataset.manifest.columns {
        let uses: Vec<String> = c
            .uses
            .iter()
            .map(|u| format!("{u:?}").to_lowercase())
            .collect();
        println!(
            "    {:<20} {:<8} {:<17} uses [{}]  {}",
            c.name,
            format!("{:?}", c.data_type).to_lowercase(),
            format!("{:?}", c.class).to_lowercase(),
            uses.join(", "),
            c.description
        );
    }
}
