//! `shuyu scenario`: scenario applications (one application per scenario), from submission
//! through dual review to suspension, restoration and revocation.

use std::path::PathBuf;

use clap::Subcommand;
use shuyu::governance::model::{
    Application, ApplicationStatus, NewApplication, Review, ReviewKind,
};
use shuyu::governance::ScenarioFile;

use super::client::encode;
use super::dates::{self, parse_time, DayEdge};
use super::output::label;
use super::{module, CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum ScenarioCommand {
    /// Apply for a scenario under an agreement (operator).
    Apply {
        /// The agreement it works under.
        #[arg(long)]
        agreement: String,
        /// The scenario file (scenario.toml).
        #[arg(long, value_name = "FILE.toml")]
        scenario: PathBuf,
        /// End of validity: YYYY-MM-DD (through that day's end in the domain's time zone) or
        /// RFC 3339.
        #[arg(long, value_name = "DATE")]
        until: String,
        /// The approved application of the same scenario this one amends.
        #[arg(long, value_name = "APP")]
        amends: Option<String>,
        /// Upload this module first and pin its hash in the scenario.
        #[arg(long, value_name = "FILE.wasm")]
        module: Option<PathBuf>,
    },
    /// List applications (operator: its own; provider: those using its data; bureau, reviewer:
    /// all).
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one application with its reviews.
    Show {
        /// Application id (`app-...`).
        id: String,
    },
    /// Suspend one application (bureau): its jobs are refused, queued and running ones stop.
    Suspend {
        /// Application id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Restore a suspended application (bureau).
    Restore {
        /// Application id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Revoke an application for good (bureau).
    Revoke {
        /// Application id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

pub(crate) fn run(globals: &Globals, command: ScenarioCommand) -> CliResult {
    match command {
        ScenarioCommand::Apply {
            agreement,
            scenario,
            until,
            amends,
            module,
        } => {
            let mut file = ScenarioFile::load(&scenario)?;
            let valid_until = parse_time("--until", &until, DayEdge::End)?;
            let client = globals.client("scenario apply")?;
            if let Some(path) = module {
                let (sha256, _) = module::upload(&client, &path)?;
                if file.scenario.module_sha256 != sha256 {
                    eprintln!(
                        "{} pins module '{}'; pinning the uploaded {} ({sha256}) instead",
                        scenario.display(),
                        file.scenario.module_sha256,
                        path.display()
                    );
                    file.scenario.module_sha256 = sha256;
                } else {
                    eprintln!("uploaded {} ({sha256})", path.display());
                }
            }
            let new = NewApplication {
                agreement,
                scenario: file,
                valid_until,
                amends,
            };
            let reply = client.post::<_, Application>("/v1/applications", &new)?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                println!("submitted application {}", reply.value.id);
                print_application(&reply.value);
            }
        }
        ScenarioCommand::List { limit } => {
            let client = globals.client("scenario list")?;
            let listing = client.list::<Application>("/v1/applications", limit)?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            println!(
                "{:<24} {:<24} {:<16} {:<10} {:<25} reviews",
                "id", "scenario", "operator", "status", "valid until"
            );
            for a in &listing.items {
                let decided = a.reviews.iter().filter(|r| r.decision.is_some()).count();
                println!(
                    "{:<24} {:<24} {:<16} {:<10} {:<25} {decided}/{} decided",
                    a.id,
                    a.scenario_id,
                    a.operator,
                    label(&a.status),
                    dates::show(&a.valid_until),
                    a.reviews.len()
                );
            }
        }
        ScenarioCommand::Show { id } => {
            let client = globals.client("scenario show")?;
            let reply = client.get::<Application>(&format!("/v1/applications/{}", encode(&id)))?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                print_application(&reply.value);
            }
        }
        ScenarioCommand::Suspend { id, reason } => action(globals, "suspend", &id, &reason)?,
        ScenarioCommand::Restore { id, reason } => action(globals, "restore", &id, &reason)?,
        ScenarioCommand::Revoke { id, reason } => action(globals, "revoke", &id, &reason)?,
    }
    Ok(())
}

/// `POST /v1/applications/{id}/{verb}` with a reason.
fn action(globals: &Globals, verb: &str, id: &str, reason: &str) -> CliResult {
    let client = globals.client(&format!("scenario {verb}"))?;
    let reply = client.post::<_, serde_json::Value>(
        &format!("/v1/applications/{}/{verb}", encode(id)),
        &serde_json::json!({ "reason": reason }),
    )?;
    if globals.json {
        globals.print_json(&reply.raw);
        return Ok(());
    }
    match verb {
        "suspend" => println!("suspended application {id}: its jobs are refused until restored"),
        "restore" => println!("restored application {id}"),
        _ => println!("revoked application {id}: no job may run under it again"),
    }
    let stopped = super::job::stopped_jobs(&reply.raw);
    if !stopped.is_empty() {
        println!("stopped jobs: {}", stopped.join(", "));
    }
    if let Some(application) = super::job::find::<Application>(&reply.raw, "application") {
        print_application(&application);
    }
    Ok(())
}

/// What a state means for the operator's jobs.
pub(crate) fn meaning(status: ApplicationStatus) -> &'static str {
    match status {
        ApplicationStatus::Pending => "waiting for reviews; no job may run yet",
        ApplicationStatus::Approved => "approved: jobs may run with the pinned module",
        ApplicationStatus::Rejected => "rejected by a review; apply again with changes",
        ApplicationStatus::Lapsed => "a review deadline passed without a decision",
        ApplicationStatus::Suspended => "suspended by the bureau: jobs are refused",
        ApplicationStatus::Revoked => "revoked by the bureau for good",
        ApplicationStatus::Superseded => "replaced by an approved amendment",
        ApplicationStatus::Expired => "past its validity: jobs are refused",
    }
}

/// Prints an application and its reviews.
pub(crate) fn print_application(a: &Application) {
    println!(
        "application {} — {} ({})",
        a.id,
        label(&a.status),
        meaning(a.status)
    );
    println!(
        "  scenario     {} — {}",
        a.scenario.scenario.id, a.scenario.scenario.title
    );
    if !a.scenario.scenario.purpose.is_empty() {
        println!("  purpose      {}", a.scenario.scenario.purpose);
    }
    println!("  operator     {}", a.operator);
    println!("  agreement    {}", a.agreement);
    println!("  module       {}", a.scenario.scenario.module_sha256);
    for grant in &a.scenario.grants {
        println!(
            "  grant        {}: {}",
            grant.dataset,
            grant.columns.join(", ")
        );
    }
    let releases: Vec<&str> = a
        .scenario
        .releases
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    if !releases.is_empty() {
        println!("  releases     {}", releases.join(", "));
    }
    println!("  valid until  {}", dates::show(&a.valid_until));
    if let Some(amends) = &a.amends {
        println!("  amends       {amends}");
    }
    println!("  submitted    {}", dates::show(&a.submitted_at));
    println!("  reviews:");
    for r in &a.reviews {
        println!("    {}", review_line(r));
    }
}

fn review_line(r: &Review) -> String {
    let kind = match r.kind {
        ReviewKind::Bureau => "bureau",
        ReviewKind::Provider => "provider",
    };
    let state = match (&r.decision, &r.decided_at) {
        (Some(decision), Some(at)) => format!("{} on {}", label(decision), dates::show(at)),
        (Some(decision), None) => label(decision),
        (None, _) if r.overdue => format!("OVERDUE (deadline {})", dates::show(&r.deadline)),
        (None, _) => format!("pending, due by {}", dates::show(&r.deadline)),
    };
    let reason = r
        .reason
        .as_deref()
        .map(|text| format!(": {text}"))
        .unwrap_or_default();
    format!("{kind:<8} {:<16} {state}{reason}", r.party)
}
