//! The server's log: structured lines on stderr, from this crate only.
//!
//! `shuyu serve` logs each request (method, route template, status, latency, identity id) and
//! each job's phases and end; its job workers log how long a job's preparation took. Libraries'
//! own events (DataFusion, wasmtime, hyper) are left out: they can quote queries and plans.

use std::str::FromStr;

use anyhow::anyhow;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The level when none is given.
pub(crate) const DEFAULT_LEVEL: &str = "info";

/// Parses a level: off, error, warn, info, debug or trace.
pub(crate) fn parse_level(text: &str) -> anyhow::Result<LevelFilter> {
    LevelFilter::from_str(text.trim())
        .map_err(|_| anyhow!("'{text}' is not a log level (off, error, warn, info, debug, trace)"))
}

/// Sends this crate's events at `level` or above to stderr, one line each. A second call (a
/// subscriber is already set) changes nothing.
pub(crate) fn init(level: LevelFilter) {
    let filter = Targets::new().with_target("shuyu", level);
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_thread_names(false);
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_parsed_by_name() {
        assert_eq!(parse_level("info").unwrap(), LevelFilter::INFO);
        assert_eq!(parse_level(" DEBUG ").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("off").unwrap(), LevelFilter::OFF);
        let error = parse_level("loud").unwrap_err().to_string();
        assert!(error.contains("'loud'"), "{error}");
    }
}
