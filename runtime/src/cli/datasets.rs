//! `shuyu datasets`: generate synthetic datasets, import them into the catalog, inspect them.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use shuyu::catalog::{Catalog, Dataset};
use shuyu::domain::Domain;
use shuyu_datasets::generate::{generate, GenerateOptions};

use super::CliResult;

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
    /// List the catalog's datasets.
    List,
    /// Show one dataset's manifest, columns and content hash.
    Show {
        /// Dataset name.
        name: String,
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

pub(crate) fn run(data_dir: &Path, command: DatasetsCommand) -> CliResult {
    match command {
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
        DatasetsCommand::List => {
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
