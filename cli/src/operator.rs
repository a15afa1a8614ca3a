//! `shuyu operator`: suspend an operator after a failed evaluation, restore it once rectified,
//! terminate it when its licence is withdrawn.

use clap::Subcommand;

use super::client::encode;
use super::{CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Suspend an operator (bureau): every job of it is refused, queued and running ones stop.
    Suspend {
        /// Operator identity id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Terminate an operator for good (bureau): its jobs refused and stopped, no restoration.
    Terminate {
        /// Operator identity id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Restore a suspended operator (bureau).
    Restore {
        /// Operator identity id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

pub(crate) fn run(globals: &Globals, command: OperatorCommand) -> CliResult {
    let (verb, id, reason) = match command {
        OperatorCommand::Suspend { id, reason } => ("suspend", id, reason),
        OperatorCommand::Restore { id, reason } => ("restore", id, reason),
        OperatorCommand::Terminate { id, reason } => ("terminate", id, reason),
    };
    let client = globals.client(&format!("operator {verb}"))?;
    let reply = client.post::<_, serde_json::Value>(
        &format!("/v1/operators/{}/{verb}", encode(&id)),
        &serde_json::json!({ "reason": reason }),
    )?;
    if globals.json {
        globals.print_json(&reply.raw);
        return Ok(());
    }
    match verb {
        "suspend" | "terminate" => {
            if verb == "suspend" {
                println!("suspended operator '{id}': every job of it is refused until restored");
            } else {
                println!("terminated operator '{id}': every job of it is refused, for good");
            }
            let stopped = super::job::stopped_jobs(&reply.raw);
            if !stopped.is_empty() {
                println!("stopped jobs: {}", stopped.join(", "));
            }
        }
        _ => println!("restored operator '{id}'"),
    }
    Ok(())
}
