//! The `shuyu` command: the domain's server and command line.
//!
//! Exit codes: 0 success, 1 refused or blocked by policy (the reason printed), 2 bad input or usage.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
