//! `shuyu admin`: set up a domain's governance on the server machine itself.
//!
//! Admin is not a role: it is whoever can run `shuyu` on the server machine with access to the
//! data directory. It records the platform maintainer, creates identities and issues or revokes
//! their tokens, sets the working-day calendar for review deadlines and the quotas. It works directly on the
//! data directory (no server needed, and no token), and every change lands in the audit log.

use anyhow::anyhow;
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use shuyu::domain::Domain;
use shuyu::governance::model::{
    CalendarSettings, Identity, IdentityStatus, IssuedToken, NewIdentity, QuotaSettings, Role,
};
use shuyu::governance::{GovError, Governance};

use super::{dates, CliResult, Failure, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Record the platform maintainer's unified social credit code: an operator with the same
    /// code is refused (the maintainer may not also be an operator).
    Maintainer {
        /// The maintainer's unified social credit code.
        #[arg(long)]
        usci: String,
    },
    /// Create and list identities.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Issue and revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The working-day calendar for review deadlines.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// The quotas on operators' jobs and modules.
    #[command(subcommand)]
    Quotas(QuotasCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum QuotasCommand {
    /// Print the quotas in force.
    Show,
    /// Change some quotas; those not given keep their current value.
    Set {
        /// Jobs an operator may have queued or running at once.
        #[arg(long)]
        queued_jobs: Option<u32>,
        /// Jobs one scenario may submit per day of the domain.
        #[arg(long)]
        jobs_per_day: Option<u32>,
        /// The domain's day: offset from UTC in minutes (480 = UTC+8).
        #[arg(long, allow_hyphen_values = true)]
        day_offset_minutes: Option<i32>,
        /// Largest module accepted, in bytes.
        #[arg(long)]
        module_bytes: Option<u64>,
        /// Distinct modules an operator may upload.
        #[arg(long)]
        modules: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCommand {
    /// Create an identity and print its first token (once).
    Add(AddIdentity),
    /// List identities.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct AddIdentity {
    /// Stable id, `[a-z0-9_-]`, e.g. `op-acme`.
    #[arg(long)]
    id: String,
    /// What the identity may do.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Display name (company or department).
    #[arg(long)]
    name: String,
    /// Operators: the company's unified social credit code.
    #[arg(long)]
    usci: Option<String>,
    /// Providers: the department, exactly as the `provider` field of its dataset manifests.
    #[arg(long)]
    department: Option<String>,
}

/// Roles on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// The big-data bureau.
    Bureau,
    /// A data-providing department.
    Provider,
    /// An authorized operating company.
    Operator,
    /// A security reviewer.
    Reviewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Bureau => Role::Bureau,
            RoleArg::Provider => Role::Provider,
            RoleArg::Operator => Role::Operator,
            RoleArg::Reviewer => Role::Reviewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a further token for an identity (printed once).
    Issue {
        /// Identity id.
        identity: String,
    },
    /// Revoke every token of an identity.
    Revoke {
        /// Identity id.
        identity: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CalendarCommand {
    /// Print the calendar.
    Show,
    /// Replace the calendar: the holidays and make-up days given are the complete lists.
    Set {
        /// Working days each review may take.
        #[arg(long)]
        review_days: u32,
        /// A public holiday, YYYY-MM-DD (repeatable, or comma-separated).
        #[arg(long = "holiday", value_delimiter = ',', value_name = "DATE")]
        holidays: Vec<NaiveDate>,
        /// A weekend day that is a working day (调休), YYYY-MM-DD (repeatable, or comma-separated).
        #[arg(long = "workday", value_delimiter = ',', value_name = "DATE")]
        workdays: Vec<NaiveDate>,
    },
}

/// The exit code a governance error stands for, the same as over HTTP: forbidden and conflict
/// are refusals (1), not found and invalid are bad input (2), the rest exit 1.
pub(crate) fn gov_failure(error: GovError) -> Failure {
    match error {
        GovError::Forbidden(m) | GovError::Conflict(m) | GovError::Quota(m) => Failure::Refused(m),
        GovError::NotFound(m) => Failure::Error(anyhow!("not found: {m}")),
        GovError::Invalid(m) => Failure::Error(anyhow!("invalid: {m}")),
        e @ (GovError::Unauthenticated(_) | GovError::Internal { .. }) => {
            Failure::Failed(e.to_string())
        }
    }
}

pub(crate) fn run(globals: &Globals, command: AdminCommand) -> CliResult {
    let domain = Domain::open(&globals.data_dir)?;
    let gov = Governance::new(
        domain.store.clone(),
        domain.audit.clone(),
        domain.data_dir(),
    );
    match command {
        AdminCommand::Maintainer { usci } => {
            gov.admin_set_maintainer(&usci).map_err(gov_failure)?;
            println!(
                "platform maintainer recorded: {usci} (an operator with this code is refused)"
            );
        }
        AdminCommand::Identity(IdentityCommand::Add(args)) => {
            let new = NewIdentity {
                id: args.id,
                role: args.role.into(),
                name: args.name,
                usci: args.usci,
                department: args.department,
            };
            let (identity, token) = gov.admin_add_identity(new).map_err(gov_failure)?;
            if globals.json {
                globals.print_json(&serde_json::json!({ "identity": identity, "token": token }));
            } else {
                println!(
                    "created {} '{}' ({})",
                    identity.role.as_str(),
                    identity.id,
                    identity.name
                );
                print_token(&token);
            }
        }
        AdminCommand::Identity(IdentityCommand::List) => {
            let identities = gov.admin_list_identities().map_err(gov_failure)?;
            if globals.json {
                globals.print_json(&serde_json::to_value(&identities)?);
            } else {
                print_identities(&identities);
            }
        }
        AdminCommand::Token(TokenCommand::Issue { identity }) => {
            let token = gov.admin_issue_token(&identity).map_err(gov_failure)?;
            if globals.json {
                globals.print_json(&serde_json::to_value(&token)?);
            } else {
                print_token(&token);
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { identity }) => {
            let revoked = gov.admin_revoke_tokens(&identity).map_err(gov_failure)?;
            if globals.json {
                globals
                    .print_json(&serde_json::json!({ "identity": identity, "revoked": revoked }));
            } else {
                println!("revoked {revoked} token(s) of '{identity}'; it can no longer sign in");
            }
        }
        AdminCommand::Quotas(QuotasCommand::Show) => {
            let quotas = gov.quotas().map_err(gov_failure)?;
            print_quotas(globals, &quotas)?;
        }
        AdminCommand::Quotas(QuotasCommand::Set {
            queued_jobs,
            jobs_per_day,
            day_offset_minutes,
            module_bytes,
            modules,
        }) => {
            let mut quotas = gov.quotas().map_err(gov_failure)?;
            if let Some(value) = queued_jobs {
                quotas.queued_jobs_per_operator = value;
            }
            if let Some(value) = jobs_per_day {
                quotas.jobs_per_scenario_per_day = value;
            }
            if let Some(value) = day_offset_minutes {
                quotas.day_utc_offset_minutes = value;
            }
            if let Some(value) = module_bytes {
                quotas.module_bytes = value;
            }
            if let Some(value) = modules {
                quotas.modules_per_operator = value;
            }
            gov.admin_set_quotas(quotas.clone()).map_err(gov_failure)?;
            if !globals.json {
                println!("quotas set:");
            }
            print_quotas(globals, &quotas)?;
        }
        AdminCommand::Calendar(CalendarCommand::Show) => {
            let calendar = gov.calendar().map_err(gov_failure)?;
            if globals.json {
                globals.print_json(&serde_json::to_value(&calendar)?);
            } else {
                print_calendar(&calendar);
            }
        }
        AdminCommand::Calendar(CalendarCommand::Set {
            review_days,
            mut holidays,
            mut workdays,
        }) => {
            if review_days == 0 {
                return Err(anyhow!("--review-days must be at least 1").into());
            }
            holidays.sort();
            holidays.dedup();
            workdays.sort();
            workdays.dedup();
            if let Some(day) = holidays.iter().find(|d| workdays.contains(d)) {
                return Err(anyhow!("{day} is given both as --holiday and as --workday").into());
            }
            let calendar = CalendarSettings {
                review_working_days: review_days,
                holidays,
                extra_working_days: workdays,
            };
            gov.admin_set_calendar(calendar.clone())
                .map_err(gov_failure)?;
            if globals.json {
                globals.print_json(&serde_json::to_value(&calendar)?);
            } else {
                println!("calendar replaced:");
                print_calendar(&calendar);
            }
        }
    }
    Ok(())
}

/// Prints the quotas (JSON with `--json`).
fn print_quotas(globals: &Globals, quotas: &QuotaSettings) -> CliResult {
    if globals.json {
        globals.print_json(&serde_json::to_value(quotas)?);
        return Ok(());
    }
    println!(
        "queued_jobs_per_operator   {}",
        quotas.queued_jobs_per_operator
    );
    println!(
        "jobs_per_scenario_per_day  {}",
        quotas.jobs_per_scenario_per_day
    );
    println!(
        "day_utc_offset_minutes     {}",
        quotas.day_utc_offset_minutes
    );
    println!("module_bytes               {}", quotas.module_bytes);
    println!("modules_per_operator       {}", quotas.modules_per_operator);
    Ok(())
}

/// Prints a freshly issued token with the warning that it cannot be shown again.
fn print_token(token: &IssuedToken) {
    println!("token for '{}': {}", token.identity, token.token);
    println!(
        "This token is not stored (only its hash is) and cannot be shown again: hand it to its \
         holder now. A lost token is replaced with `shuyu admin token issue {}`.",
        token.identity
    );
}

fn print_identities(identities: &[Identity]) {
    println!(
        "{:<20} {:<9} {:<10} {:<20} {:<18} name",
        "id", "role", "status", "created", "usci/department"
    );
    for identity in identities {
        let status = match identity.status {
            IdentityStatus::Active => "active",
            IdentityStatus::Suspended => "suspended",
            IdentityStatus::Terminated => "terminated",
        };
        let extra = identity
            .usci
            .as_deref()
            .or(identity.department.as_deref())
            .unwrap_or("-");
        println!(
            "{:<20} {:<9} {:<10} {:<20} {:<18} {}",
            identity.id,
            identity.role.as_str(),
            status,
            dates::show(&identity.created_at),
            extra,
            identity.name
        );
    }
}

fn print_calendar(calendar: &CalendarSettings) {
    let list = |days: &[NaiveDate]| {
        if days.is_empty() {
            "none".to_string()
        } else {
            days.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!(
        "review deadline:  {} working days (Saturdays and Sundays never count)",
        calendar.review_working_days
    );
    println!("holidays:         {}", list(&calendar.holidays));
    println!("make-up workdays: {}", list(&calendar.extra_working_days));
}
