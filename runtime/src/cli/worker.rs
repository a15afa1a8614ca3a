//! `shuyu worker` (hidden): runs exactly one job for `shuyu serve` and exits.
//!
//! The server spawns it with the data directory, writes one JSON request line to its stdin and
//! reads one JSON line from its stdout (`shuyu::job::worker`). Closing stdin cancels the job. Not
//! for people: it prints nothing else to stdout, and its exit status only tells the server
//! whether it could report.

use shuyu::job::worker::serve_one;

use super::{CliResult, Globals};

pub(crate) fn run(globals: &Globals) -> CliResult {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serve_one(&globals.data_dir, std::io::stdin(), &mut out)?;
    Ok(())
}
