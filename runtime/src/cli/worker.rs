//! `shuyu worker` (hidden): runs exactly one job for `shuyu serve` and exits.
//!
//! The server spawns it with the data directory, writes one JSON request line to its stdin and
//! reads one JSON line from its stdout (`shuyu::job::worker`). Closing stdin cancels the job. Not
//! for people: it prints nothing else to stdout, and its exit status only tells the server
//! whether it could report.

use shuyu::job::worker::{serve_one, LOG_LEVEL_ENV};

use super::{logging, CliResult, Globals};

pub(crate) fn run(globals: &Globals) -> CliResult {
    // The server passes its level; a worker started by hand logs at the default one.
    let level = std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|text| logging::parse_level(&text).ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    logging::init(level);
    serve_one(&globals.data_dir, std::io::stdin(), std::io::stdout())?;
    Ok(())
}
