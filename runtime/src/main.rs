//! The `shuyu` command: the domain's server and command line.
//!
//! Exit codes: 0 success, 1 refused or blocked by policy (the reason printed), 2 bad input or usage.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_broken_pipe();
    cli::main()
}

/// `shuyu ... | head` closes stdout early; Rust ignores SIGPIPE, so the next `println!` panics
/// with a backtrace. End quietly instead, with the status a process killed by SIGPIPE has (141),
/// as other command-line tools do. Every other panic keeps the default report.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
