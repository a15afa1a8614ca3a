//! `shuyu audit`: verify, show and search the audit log.

use std::path::Path;

use clap::Subcommand;
use shuyu::audit::AuditFilter;
use shuyu::domain::Domain;

use super::{CliResult, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute the hash chain and check every signed checkpoint.
    Verify,
    /// Print entries, oldest first.
    Show {
        /// Only this job's entries.
        #[arg(long)]
        job: Option<String>,
        /// Only this action, or actions starting with it (`release` matches `release.blocked`).
        #[arg(long)]
        action: Option<String>,
        /// Only this scenario (the entries' subject).
        #[arg(long)]
        subject: Option<String>,
        /// Only entries at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only entries before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub(crate) fn run(data_dir: &Path, command: AuditCommand) -> CliResult {
    let domain = Domain::open(data_dir)?;
    match command {
        AuditCommand::Verify => match domain.audit.verify(&domain.keys.public_key()) {
            Ok(report) => {
                println!(
                    "audit log OK: {} entries, {} signed checkpoints",
                    report.entries, report.checkpoints
                );
                if let Some((seq, hash)) = report.head {
                    println!("head: entry {seq}, hash {hash}");
                    println!("(keep this head outside the domain to detect a later truncation)");
                }
                Ok(())
            }
            Err(e) => Err(Failure::Refused(format!(
                "audit log verification failed: {e}"
            ))),
        },
        AuditCommand::Show {
            job,
            action,
            subject,
            since,
            until,
            limit,
        } => {
            let filter = AuditFilter {
                job_id: job,
                action,
                subject,
                actor: None,
                since,
                until,
                limit,
            };
            let entries = domain.audit.search(&filter)?;
            for entry in &entries {
                println!("{}", entry.render());
            }
            eprintln!("{} entries", entries.len());
            Ok(())
        }
    }
}
