//! `shuyu audit`: verify, show and search the audit log, locally on the data directory or, with
//! `--server`, through the server (security reviewers).

use clap::Subcommand;
use serde::Deserialize;
use shuyu::audit::{AuditFilter, Entry};
use shuyu::domain::Domain;

use super::client::with_query;
use super::dates;
use super::{CliResult, Failure, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute the hash chain, check every signed checkpoint, and check everything the domain
    /// holds against the log: each product on disk, job record and privacy debit must have its
    /// entry (a log cut at its end fails).
    Verify {
        /// A signed head kept outside the domain (`shuyu audit head --out FILE`): the log must
        /// still hold that entry with that hash. Repeat for several.
        #[arg(long, value_name = "FILE")]
        head: Vec<std::path::PathBuf>,
    },
    /// Sign the log's current head and write it to FILE (JSON), to keep outside the domain and
    /// check later logs against with `audit verify --head FILE`.
    Head {
        /// Where to write the signed head.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Print entries, oldest first.
    Show {
        /// Only this job's entries.
        #[arg(long)]
        job: Option<String>,
        /// Only this action, or actions starting with it (`release` matches `release.blocked`).
        #[arg(long)]
        action: Option<String>,
        /// Only this subject (a scenario, application, dataset or identity id).
        #[arg(long)]
        subject: Option<String>,
        /// Only entries by this actor (an identity id, `system` or `admin`).
        #[arg(long)]
        actor: Option<String>,
        /// Only entries at or after this time (RFC 3339, or YYYY-MM-DD for that day's start in
        /// the domain's time zone).
        #[arg(long)]
        since: Option<String>,
        /// Only entries before this time (RFC 3339, or YYYY-MM-DD for that day's start in the
        /// domain's time zone).
        #[arg(long)]
        until: Option<String>,
        /// Only entries after this seq: the head written down at the last review shows what
        /// happened since, and a listing's `next` continues it.
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// An audit entry as the server sends it.
#[derive(Debug, Deserialize)]
struct WireEntry {
    seq: u64,
    time: String,
    actor: String,
    action: String,
    subject: String,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    details: serde_json::Value,
    #[serde(default)]
    prev_hash: String,
    #[serde(default)]
    hash: String,
}

impl From<WireEntry> for Entry {
    fn from(e: WireEntry) -> Self {
        Entry {
            seq: e.seq,
            time: e.time,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            job_id: e.job_id,
            details: e.details,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// What a verification covered, as the server sends it.
#[derive(Debug, Deserialize)]
struct WireVerify {
    entries: u64,
    checkpoints: u64,
    #[serde(default)]
    head: Option<(u64, String)>,
}

pub(crate) fn run(globals: &Globals, command: AuditCommand) -> CliResult {
    if globals.remote() {
        return remote(globals, command);
    }
    let domain = Domain::open(&globals.data_dir)?;
    match command {
        AuditCommand::Verify { head } => {
            let kept = head
                .iter()
                .map(|path| read_head(path))
                .collect::<Result<Vec<_>, _>>()?;
            match shuyu::integrity::verify_domain(&domain, &kept) {
                Ok(report) => {
                    if globals.json {
                        globals.print_json(&serde_json::to_value(&report).unwrap_or_default());
                        return Ok(());
                    }
                    print_verified(
                        report.log.entries,
                        report.log.checkpoints,
                        report.log.head.as_ref(),
                    );
                    println!(
                        "accounted for by the log: {} products, {} job records, {} privacy debits, {} kept heads, {} service calls, {} consents",
                        report.products, report.jobs, report.debits, report.kept_heads,
                        report.service_calls, report.consents
                    );
                    if !report.products_unanchored.is_empty() {
                        println!(
                            "not anchored (written before manifests cited their audit entry): {}",
                            report.products_unanchored.join(", ")
                        );
                    }
                    Ok(())
                }
                Err(e) => Err(Failure::Refused(format!("audit verification failed: {e}"))),
            }
        }
        AuditCommand::Head { out } => {
            let head = domain.audit.checkpoint()?;
            let text = serde_json::to_string_pretty(&head)
                .map_err(|e| Failure::Refused(format!("cannot encode the head: {e}")))?;
            std::fs::write(&out, text + "\n").map_err(|e| {
                Failure::Refused(format!("{}: cannot write the head: {e}", out.display()))
            })?;
            println!(
                "signed head written to {}: entry {}, hash {}",
                out.display(),
                head.seq,
                head.hash
            );
            println!("keep it outside the domain; check a later log with: shuyu audit verify --head FILE");
            Ok(())
        }
        AuditCommand::Show {
            job,
            action,
            subject,
            actor,
            since,
            until,
            after,
            limit,
        } => {
            let filter = AuditFilter {
                job_id: job,
                action,
                subject,
                actor,
                since: since.map(|t| dates::local_bound(&t)),
                until: until.map(|t| dates::local_bound(&t)),
                after,
                // One more than asked, to learn whether a `next` cursor is due.
                limit: limit.map(|l| l.saturating_add(1)),
            };
            let mut entries = domain.audit.search(&filter)?;
            let next = match limit {
                Some(limit) if entries.len() > limit => {
                    entries.truncate(limit);
                    entries.last().map(|entry| entry.seq.to_string())
                }
                _ => None,
            };
            if globals.json {
                globals.print_json(&serde_json::json!({ "items": entries, "next": next }));
                return Ok(());
            }
            for entry in &entries {
                println!("{}", entry.render());
            }
            print_count(entries.len(), next.as_deref());
            Ok(())
        }
    }
}

/// A signed head file, as `audit head` writes it.
fn read_head(path: &std::path::Path) -> Result<shuyu::audit::Checkpoint, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Error(anyhow::anyhow!(
            "{}: not a signed head written by `shuyu audit head`: {e}",
            path.display()
        ))
    })
}

/// The count after a listing, and how to continue it when the limit cut it short.
fn print_count(count: usize, next: Option<&str>) {
    match next {
        Some(seq) => eprintln!("{count} entries; more follow: continue with --after {seq}"),
        None => eprintln!("{count} entries"),
    }
}

fn print_verified(entries: u64, checkpoints: u64, head: Option<&(u64, String)>) {
    println!("audit log OK: {entries} entries, {checkpoints} signed checkpoints");
    if let Some((seq, hash)) = head {
        println!("head: entry {seq}, hash {hash}");
        println!("(keep this head outside the domain to detect a later truncation)");
    }
}

/// `audit show|verify` through the server.
fn remote(globals: &Globals, command: AuditCommand) -> CliResult {
    match command {
        AuditCommand::Verify { head } if !head.is_empty() => Err(Failure::Error(anyhow::anyhow!(
            "--head checks the domain's own database: run `shuyu audit verify --head FILE` on the server's data directory"
        ))),
        AuditCommand::Head { .. } => Err(Failure::Error(anyhow::anyhow!(
            "`audit head` signs the domain's own log: run it on the server's data directory"
        ))),
        AuditCommand::Verify { .. } => {
            let client = globals.client("audit verify")?;
            let reply = client.get::<serde_json::Value>("/v1/audit/verify")?;
            if globals.json {
                globals.print_json(&reply.raw);
            }
            match serde_json::from_value::<WireVerify>(reply.raw.clone()) {
                Ok(report) => {
                    if !globals.json {
                        print_verified(report.entries, report.checkpoints, report.head.as_ref());
                    }
                    Ok(())
                }
                Err(_) => {
                    let problem = reply
                        .raw
                        .get("error")
                        .and_then(|e| e.get("message").or(Some(e)))
                        .map_or_else(
                            || reply.raw.to_string(),
                            |m| m.as_str().map_or_else(|| m.to_string(), str::to_string),
                        );
                    Err(Failure::Refused(format!(
                        "audit log verification failed: {problem}"
                    )))
                }
            }
        }
        AuditCommand::Show {
            job,
            action,
            subject,
            actor,
            since,
            until,
            after,
            limit,
        } => {
            let client = globals.client("audit show")?;
            let path = with_query(
                "/v1/audit",
                &[
                    ("job", job),
                    ("action", action),
                    ("subject", subject),
                    ("actor", actor),
                    ("since", since.map(|t| dates::local_bound(&t))),
                    ("until", until.map(|t| dates::local_bound(&t))),
                ],
            );
            let listing =
                client.list_after::<WireEntry>(&path, limit, after.map(|seq| seq.to_string()))?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            let count = listing.items.len();
            let next = listing.next.clone();
            for entry in listing.items {
                println!("{}", Entry::from(entry).render());
            }
            print_count(count, next.as_deref());
            Ok(())
        }
    }
}
