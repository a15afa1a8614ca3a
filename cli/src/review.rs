//! `shuyu review`: the bureau's formal review and the providers' reviews of an application.

use clap::Subcommand;
use shuyu::governance::model::{Application, Decision, ReviewInput};

use super::client::encode;
use super::output::label;
use super::scenario::print_application;
use super::{CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum ReviewCommand {
    /// Approve an application (bureau, or a provider whose data it uses).
    Approve {
        /// Application id (`app-...`).
        app: String,
        /// The written reason (required).
        #[arg(long)]
        reason: String,
    },
    /// Reject an application (bureau, or a provider whose data it uses).
    Reject {
        /// Application id (`app-...`).
        app: String,
        /// The written reason (required).
        #[arg(long)]
        reason: String,
    },
}

pub(crate) fn run(globals: &Globals, command: ReviewCommand) -> CliResult {
    let (app, input) = match command {
        ReviewCommand::Approve { app, reason } => (
            app,
            ReviewInput {
                decision: Decision::Approve,
                reason,
            },
        ),
        ReviewCommand::Reject { app, reason } => (
            app,
            ReviewInput {
                decision: Decision::Reject,
                reason,
            },
        ),
    };
    let client = globals.client("review")?;
    let decision = label(&input.decision);
    let reply = client.post::<_, Application>(
        &format!("/v1/applications/{}/reviews", encode(&app)),
        &input,
    )?;
    if globals.json {
        globals.print_json(&reply.raw);
        return Ok(());
    }
    let a = &reply.value;
    let waiting: Vec<&str> = a
        .reviews
        .iter()
        .filter(|r| r.decision.is_none())
        .map(|r| r.party.as_str())
        .collect();
    println!(
        "recorded: {decision} of {app}; the application is now {}{}",
        label(&a.status),
        if waiting.is_empty() {
            String::new()
        } else {
            format!(" (still waiting for: {})", waiting.join(", "))
        }
    );
    print_application(a);
    Ok(())
}
