//! `shuyu objection`: objections against datasets. Filing one suspends the dataset at once;
//! its provider resolves it by withdrawing the dataset or restoring it.

use clap::{Subcommand, ValueEnum};
use shuyu::governance::model::{Objection, ObjectionStatus, Resolution};

use super::client::encode;
use super::dates;
use super::output::label;
use super::{CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum ObjectionCommand {
    /// File an objection (any role): the dataset is suspended at once.
    File {
        /// The dataset objected to.
        #[arg(long)]
        dataset: String,
        /// The harm claimed.
        #[arg(long)]
        reason: String,
    },
    /// List objections.
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Resolve an objection (the dataset's provider).
    Resolve {
        /// Objection id (`obj-...`).
        id: String,
        /// withdraw: the dataset is withdrawn; restore: the objection is unfounded;
        /// restore-after-treatment: the data was treated (publish the new version first).
        #[arg(long, value_enum)]
        resolution: ResolutionArg,
        /// The provider's note (kept with the objection and in the audit log).
        #[arg(long)]
        note: String,
    },
}

/// Resolutions on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ResolutionArg {
    /// Withdraw the dataset.
    Withdraw,
    /// Restore it as it was.
    Restore,
    /// Restore it after the data was treated.
    RestoreAfterTreatment,
}

pub(crate) fn run(globals: &Globals, command: ObjectionCommand) -> CliResult {
    match command {
        ObjectionCommand::File { dataset, reason } => {
            let client = globals.client("objection file")?;
            let reply = client.post::<_, Objection>(
                "/v1/objections",
                &serde_json::json!({ "dataset": dataset, "reason": reason }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
                return Ok(());
            }
            let o = &reply.value;
            // The server joins a claim to the objection already open against the dataset.
            if o.joined.last().is_some_and(|j| j.reason == reason.trim()) {
                println!(
                    "joined objection {} against '{}' (open since {}): your claim is kept with \
                     it and resolved with it; the dataset stays suspended",
                    o.id,
                    o.dataset,
                    dates::show(&o.filed_at)
                );
            } else {
                println!(
                    "filed objection {} against '{}': the dataset is suspended, and its jobs \
                     refused, until its provider resolves it",
                    o.id, o.dataset
                );
            }
        }
        ObjectionCommand::List { limit } => {
            let client = globals.client("objection list")?;
            let listing = client.list::<Objection>("/v1/objections", limit)?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            println!(
                "{:<24} {:<22} {:<9} {:<24} {:<25} reason",
                "id", "dataset", "status", "resolution", "filed"
            );
            for o in &listing.items {
                println!(
                    "{:<24} {:<22} {:<9} {:<24} {:<25} {}",
                    o.id,
                    o.dataset,
                    label(&o.status),
                    o.resolution.as_ref().map_or_else(|| "-".to_string(), label),
                    dates::show(&o.filed_at),
                    o.reason
                );
                for j in &o.joined {
                    println!(
                        "{:<24} {:<22} {:<9} {:<24} {:<21} {} (joined, by {})",
                        "  + joined",
                        "",
                        "",
                        "",
                        dates::show(&j.filed_at),
                        j.reason,
                        j.filed_by
                    );
                }
            }
        }
        ObjectionCommand::Resolve {
            id,
            resolution,
            note,
        } => {
            let resolution = match resolution {
                ResolutionArg::Withdraw => Resolution::Withdraw,
                ResolutionArg::Restore => Resolution::Restore,
                ResolutionArg::RestoreAfterTreatment => Resolution::RestoreAfterTreatment,
            };
            let client = globals.client("objection resolve")?;
            let reply = client.post::<_, Objection>(
                &format!("/v1/objections/{}/resolve", encode(&id)),
                &serde_json::json!({ "resolution": resolution, "note": note }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
                return Ok(());
            }
            let o = &reply.value;
            let effect = match resolution {
                Resolution::Withdraw => "the dataset is withdrawn",
                Resolution::Restore | Resolution::RestoreAfterTreatment => {
                    "the dataset is usable again (unless another objection is open)"
                }
            };
            println!(
                "resolved objection {} against '{}' ({}): {effect}",
                o.id,
                o.dataset,
                label(&resolution)
            );
            if o.status != ObjectionStatus::Resolved {
                println!("(the server reports it as {})", label(&o.status));
            }
        }
    }
    Ok(())
}
