//! `shuyu agreement`: authorization agreements between the bureau and an operator.

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use shuyu::governance::model::{Agreement, AgreementMode, AgreementScope, NewAgreement};

use super::client::encode;
use super::dates::{self, parse_time, DayEdge};
use super::output::label;
use super::{CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum AgreementCommand {
    /// Grant an agreement to an operator (bureau).
    Create(CreateArgs),
    /// List agreements (bureau, reviewer: all; operator: its own).
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one agreement.
    Show {
        /// Agreement id (`agr-...`).
        id: String,
    },
    /// Terminate an agreement (bureau): its applications end and its jobs are refused.
    Terminate {
        /// Agreement id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The operator's identity id.
    #[arg(long)]
    operator: String,
    /// comprehensive: every dataset up to --max-level; domain: the datasets of the --domain
    /// departments; tiered: the --dataset datasets.
    #[arg(long, value_enum)]
    mode: ModeArg,
    /// A dataset covered (mode tiered; repeatable).
    #[arg(long = "dataset", value_name = "NAME")]
    datasets: Vec<String>,
    /// A domain (providing department) covered (mode domain; repeatable).
    #[arg(long = "domain", value_name = "DEPARTMENT")]
    domains: Vec<String>,
    /// Highest dataset security level covered (1-4).
    #[arg(long)]
    max_level: u8,
    /// Start of the term: YYYY-MM-DD (from that day's start in the domain's time zone) or
    /// RFC 3339.
    #[arg(long, value_name = "DATE")]
    from: String,
    /// End of the term: YYYY-MM-DD (through that day's end in the domain's time zone,
    /// 23:59:59.999+08:00 in Asia/Shanghai) or RFC 3339.
    #[arg(long, value_name = "DATE")]
    until: String,
    /// The security requirements the operator accepted.
    #[arg(long, value_name = "TEXT")]
    security: String,
    /// The exit conditions.
    #[arg(long, value_name = "TEXT")]
    exit: String,
}

/// Agreement modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ModeArg {
    /// Every dataset up to the highest level.
    Comprehensive,
    /// The datasets of the listed domains.
    Domain,
    /// The listed datasets.
    Tiered,
}

pub(crate) fn run(globals: &Globals, command: AgreementCommand) -> CliResult {
    match command {
        AgreementCommand::Create(args) => {
            let mode = match args.mode {
                ModeArg::Comprehensive => AgreementMode::Comprehensive,
                ModeArg::Domain => AgreementMode::Domain,
                ModeArg::Tiered => AgreementMode::Tiered,
            };
            match mode {
                AgreementMode::Tiered if args.datasets.is_empty() => {
                    return Err(anyhow!("--mode tiered needs at least one --dataset").into())
                }
                AgreementMode::Domain if args.domains.is_empty() => {
                    return Err(anyhow!("--mode domain needs at least one --domain").into())
                }
                _ => {}
            }
            let new = NewAgreement {
                operator: args.operator,
                mode,
                scope: AgreementScope {
                    datasets: args.datasets,
                    domains: args.domains,
                    max_level: args.max_level,
                },
                term_start: parse_time("--from", &args.from, DayEdge::Start)?,
                term_end: parse_time("--until", &args.until, DayEdge::End)?,
                security_requirements: args.security,
                exit_conditions: args.exit,
            };
            if new.term_end <= new.term_start {
                return Err(anyhow!("--until must be after --from").into());
            }
            let client = globals.client("agreement create")?;
            let reply = client.post::<_, Agreement>("/v1/agreements", &new)?;
            print_one(globals, &reply.raw, &reply.value, "granted");
        }
        AgreementCommand::List { limit } => {
            let client = globals.client("agreement list")?;
            let listing = client.list::<Agreement>("/v1/agreements", limit)?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            println!(
                "{:<24} {:<16} {:<13} {:<10} {:<25} {:<25} scope",
                "id", "operator", "mode", "status", "from", "until"
            );
            for a in &listing.items {
                println!(
                    "{:<24} {:<16} {:<13} {:<10} {:<25} {:<25} {}",
                    a.id,
                    a.operator,
                    label(&a.mode),
                    label(&a.status),
                    dates::show(&a.term_start),
                    dates::show(&a.term_end),
                    scope(a)
                );
            }
        }
        AgreementCommand::Show { id } => {
            let client = globals.client("agreement show")?;
            let reply = client.get::<Agreement>(&format!("/v1/agreements/{}", encode(&id)))?;
            print_one(globals, &reply.raw, &reply.value, "");
        }
        AgreementCommand::Terminate { id, reason } => {
            let client = globals.client("agreement terminate")?;
            let reply = client.post::<_, Agreement>(
                &format!("/v1/agreements/{}/terminate", encode(&id)),
                &serde_json::json!({ "reason": reason }),
            )?;
            print_one(globals, &reply.raw, &reply.value, "terminated");
        }
    }
    Ok(())
}

/// The scope in one phrase.
fn scope(a: &Agreement) -> String {
    let what = match a.mode {
        AgreementMode::Comprehensive => "all datasets".to_string(),
        AgreementMode::Domain => format!("domains {}", a.scope.domains.join(", ")),
        AgreementMode::Tiered => format!("datasets {}", a.scope.datasets.join(", ")),
    };
    format!("{what} up to level {}", a.scope.max_level)
}

fn print_one(globals: &Globals, raw: &serde_json::Value, a: &Agreement, done: &str) {
    if globals.json {
        globals.print_json(raw);
        return;
    }
    if !done.is_empty() {
        println!("{done} agreement {}", a.id);
    }
    println!("agreement {} — {}", a.id, label(&a.status));
    if let Some(line) = dates::changed_line(a.status_change.as_ref()) {
        println!("  changed        {line}");
    }
    println!("  operator       {}", a.operator);
    println!("  authorized by  {}", a.authorizer);
    println!("  mode           {}", label(&a.mode));
    println!("  scope          {}", scope(a));
    println!(
        "  term           {} to {}",
        dates::show(&a.term_start),
        dates::show(&a.term_end)
    );
    println!("  security       {}", a.security_requirements);
    println!("  exit           {}", a.exit_conditions);
    println!("  granted        {}", dates::show(&a.created_at));
}
