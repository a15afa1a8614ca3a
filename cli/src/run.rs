//! `shuyu run`: one job.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use shuyu::domain::Domain;
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobRequest};

use super::{output, CliResult, Failure};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The scenario file authorizing the job.
    #[arg(long)]
    scenario: PathBuf,
    /// The analysis module (.wasm).
    #[arg(long)]
    module: PathBuf,
}

pub(crate) fn run(data_dir: &Path, args: RunArgs) -> CliResult {
    let scenario = ScenarioFile::load(&args.scenario)?;
    let module = std::fs::read(&args.module)
        .with_context(|| format!("cannot read module {}", args.module.display()))?;
    let domain = Domain::open(data_dir)?;
    eprintln!(
        "running job: scenario '{}', module {}",
        scenario.scenario.id,
        args.module.display()
    );
    let report = run_job(&domain, JobRequest { scenario, module })?;
    output::print_report(&report);
    outcome(&report)
}

/// Exit status of a job: refused, failed or blocked jobs exit 1.
pub(crate) fn outcome(report: &shuyu::job::JobReport) -> CliResult {
    if report.succeeded() {
        Ok(())
    } else {
        Err(Failure::Refused(output::summary(report)))
    }
}
