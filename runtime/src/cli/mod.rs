//! Command-line parsing and dispatch.

mod audit;
mod datasets;
mod demo;
mod output;
mod product;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// shuyu (数域): run operators' analysis modules on public data that never leaves the domain.
#[derive(Debug, Parser)]
#[command(name = "shuyu", version, about, long_about = None)]
struct Cli {
    /// The domain's data directory (keys, database, datasets, products).
    #[arg(
        long,
        global = true,
        default_value = "./shuyu-data",
        env = "SHUYU_DATA_DIR"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the bundled datasets, build and run the district-stats example, verify its product.
    Demo(demo::DemoArgs),
    /// Run a module under a scenario file and print the product directory or the block reason.
    Run(run::RunArgs),
    /// Generate, import, list and show datasets.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Verify product packages.
    #[command(subcommand)]
    Product(product::ProductCommand),
    /// Verify, show and search the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// A failure with its exit code: policy refusals exit 1, everything else 2.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Refused or blocked by policy.
    Refused(String),
    /// Bad input, usage, or an environment problem.
    Error(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::Error(error.into())
    }
}

pub(crate) type CliResult = Result<(), Failure>;

/// Parses the command line, runs it, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&cli.data_dir, args),
        Command::Run(args) => run::run(&cli.data_dir, args),
        Command::Datasets(cmd) => datasets::run(&cli.data_dir, cmd),
        Command::Product(cmd) => product::run(&cli.data_dir, cmd),
        Command::Audit(cmd) => audit::run(&cli.data_dir, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(reason)) => {
            eprintln!("refused: {reason}");
            ExitCode::from(1)
        }
        Err(Failure::Error(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
