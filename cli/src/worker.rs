//! `shuyu worker` (hidden): runs exactly one job for `shuyu serve` and exits.
//!
//! The server spawns it with the data directory, writes one JSON request line to its stdin and
//! reads one JSON line from its stdout (`shuyu::job::worker`). Closing stdin cancels the job. Not
//! for people: it prints nothing else to stdout, and its exit status only tells the server
//! whether it could report.
//!
//! `shuyu worker --compile SHA256` instead compiles an uploaded module into the domain's cache,
//! so that the module's first job does not wait for the compiler, and `shuyu worker
//! --warm-universe APPLICATION` builds an approved application's identifier universe into the
//! domain's cache, so that its first job loads it.

use anyhow::anyhow;
use clap::Args;
use shuyu::job::worker::{compile_one, serve_one, warm_one, LOG_LEVEL_ENV};

use super::{logging, CliResult, Globals};

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Compile this uploaded module (SHA-256) into the domain's cache and exit, instead of
    /// running a job.
    #[arg(long, value_name = "SHA256", conflicts_with = "warm_universe")]
    compile: Option<String>,
    /// Build the identifier universe of this approved application into the domain's cache and
    /// exit, instead of running a job.
    #[arg(long, value_name = "APPLICATION")]
    warm_universe: Option<String>,
}

pub(crate) fn run(globals: &Globals, args: WorkerArgs) -> CliResult {
    // The server passes its level; a worker started by hand logs at the default one.
    let level = std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|text| logging::parse_level(&text).ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    logging::init(level);
    if let Some(sha256) = args.compile {
        compile_one(&globals.data_dir, &sha256).map_err(|e| anyhow!(e))?;
        return Ok(());
    }
    if let Some(application) = args.warm_universe {
        warm_one(&globals.data_dir, &application).map_err(|e| anyhow!(e))?;
        return Ok(());
    }
    serve_one(&globals.data_dir, std::io::stdin(), std::io::stdout())?;
    Ok(())
}
