//! `shuyu job`: submit jobs to the server's queue and follow them.
//!
//! The operator sees a job's state, its refusal reason or fault code, and per release whether it
//! was released (with the product id and suppression counts) or blocked (with the rule). Guest
//! log lines and error messages never reach the operator: they are for the reviewers' audit log.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use serde::de::DeserializeOwned;
use shuyu::governance::model::{JobPhase, JobRecord, JobRelease, JobState};

use super::client::{encode, Client};
use super::dates;
use super::output::{label, short};
use super::{module, CliResult, Failure, Globals};

/// How often `--wait` asks for the job's state.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Upload the module and submit a job under an approved application (operator).
    Submit {
        /// The approved application.
        #[arg(long, value_name = "APP")]
        application: String,
        /// The module (.wasm); its hash must be the one the application pins.
        #[arg(long, value_name = "FILE.wasm")]
        module: PathBuf,
        /// Follow the job until it ends; exit 1 unless it completed with every release released.
        #[arg(long)]
        wait: bool,
    },
    /// Show one job.
    Status {
        /// Job id.
        id: String,
    },
    /// List jobs (operator: its own; bureau, reviewer: all).
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Cancel a queued or running job (its operator).
    Cancel {
        /// Job id.
        id: String,
    },
    /// Follow a job until it ends; exit 1 unless it completed with every release released.
    Wait {
        /// Job id.
        id: String,
    },
}

pub(crate) fn run(globals: &Globals, command: JobCommand) -> CliResult {
    match command {
        JobCommand::Submit {
            application,
            module,
            wait,
        } => {
            let client = globals.client("job submit")?;
            let (sha256, _) = module::upload(&client, &module)?;
            eprintln!("uploaded {} ({sha256})", module.display());
            let reply = client.post::<_, JobRecord>(
                "/v1/jobs",
                &serde_json::json!({ "application": application, "module_sha256": sha256 }),
            )?;
            if !wait {
                if globals.json {
                    globals.print_json(&reply.raw);
                } else {
                    println!(
                        "submitted job {} ({})",
                        reply.value.id,
                        label(&reply.value.state)
                    );
                    println!("follow it with: shuyu job wait {}", reply.value.id);
                }
                return Ok(());
            }
            if !globals.json {
                println!("submitted job {}", reply.value.id);
            }
            follow(globals, &client, reply.value)
        }
        JobCommand::Status { id } => {
            let client = globals.client("job status")?;
            let reply = client.get::<JobRecord>(&job_path(&id))?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                print_job(&reply.value);
            }
            Ok(())
        }
        JobCommand::List { limit } => {
            let client = globals.client("job list")?;
            let listing = client.list::<JobRecord>("/v1/jobs", limit)?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            println!(
                "{:<36} {:<10} {:<24} {:<16} {:<25} outcome",
                "id", "state", "scenario", "operator", "submitted"
            );
            for job in &listing.items {
                println!(
                    "{:<36} {:<10} {:<24} {:<16} {:<25} {}",
                    job.id,
                    label(&job.state),
                    job.scenario_id,
                    job.operator,
                    dates::show(&job.submitted_at),
                    releases_summary(job)
                );
            }
            Ok(())
        }
        JobCommand::Cancel { id } => {
            let client = globals.client("job cancel")?;
            let reply = client.post_empty::<JobRecord>(&format!("{}/cancel", job_path(&id)))?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                print_job(&reply.value);
            }
            Ok(())
        }
        JobCommand::Wait { id } => {
            let client = globals.client("job wait")?;
            let job = client.get::<JobRecord>(&job_path(&id))?.value;
            follow(globals, &client, job)
        }
    }
}

fn job_path(id: &str) -> String {
    format!("/v1/jobs/{}", encode(id))
}

/// Polls the job every 500 ms, printing each new phase (queued, planning, running, releasing)
/// and then its final state, until it ends; then prints the job and exits by its outcome.
fn follow(globals: &Globals, client: &Client, mut job: JobRecord) -> CliResult {
    let mut raw = None;
    let mut shown: Option<String> = None;
    loop {
        let now = progress_label(&job);
        if shown.as_ref() != Some(&now) && !globals.json {
            println!("{}  {now}", dates::show(&chrono::Utc::now()));
        }
        shown = Some(now);
        if ended(job.state) {
            break;
        }
        std::thread::sleep(POLL);
        let reply = client.get::<JobRecord>(&job_path(&job.id))?;
        job = reply.value;
        raw = Some(reply.raw);
    }
    if globals.json {
        match raw {
            Some(raw) => globals.print_json(&raw),
            None => globals.print_json(&serde_json::to_value(&job)?),
        }
    } else {
        println!();
        print_job(&job);
    }
    outcome(&job)
}

/// What `--wait` prints for a job: its phase while it runs, its state once it ended.
fn progress_label(job: &JobRecord) -> String {
    if ended(job.state) || job.phase == JobPhase::Done {
        label(&job.state)
    } else {
        label(&job.phase)
    }
}

/// Whether a state is final.
pub(crate) fn ended(state: JobState) -> bool {
    !matches!(state, JobState::Queued | JobState::Running)
}

/// Exit status of an ended job: 0 only when it completed and every release was released.
fn outcome(job: &JobRecord) -> CliResult {
    let blocked: Vec<String> = job
        .releases
        .iter()
        .filter(|r| r.outcome != "released")
        .map(|r| format!("release '{}' {}", r.release, blocked_text(r)))
        .collect();
    let detail = job
        .detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    let status = match job.state {
        JobState::Completed if blocked.is_empty() => return Ok(()),
        JobState::Completed => "job completed".to_string(),
        JobState::Queued | JobState::Running => return Ok(()),
        JobState::Failed => format!("job failed{detail}"),
        JobState::Refused => format!("job refused{detail}"),
        JobState::Cancelled => format!("job cancelled{detail}"),
    };
    if blocked.is_empty() {
        Err(Failure::Refused(status))
    } else {
        Err(Failure::Refused(format!(
            "{status}; {}",
            blocked.join("; ")
        )))
    }
}

/// `blocked by <rule>`, or `blocked` where the rule is not shown to operators (a release with
/// privacy; see docs/security.md).
fn blocked_text(release: &JobRelease) -> String {
    match &release.rule {
        Some(rule) => format!("blocked by {rule}"),
        None => "blocked".into(),
    }
}

/// What the state means.
fn meaning(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "waiting for a worker",
        JobState::Running => "running",
        JobState::Completed => "ran to the end",
        JobState::Failed => "ran and failed",
        JobState::Refused => "refused by the governance gate; nothing ran",
        JobState::Cancelled => "cancelled, or stopped by a suspension",
    }
}

/// One phrase for the list.
fn releases_summary(job: &JobRecord) -> String {
    if job.releases.is_empty() {
        return job.detail.clone().unwrap_or_default();
    }
    job.releases
        .iter()
        .map(|r| match &r.product {
            Some(product) => format!("{} → {product}", r.release),
            None => format!("{} {}", r.release, blocked_text(r)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints a job as its operator sees it.
pub(crate) fn print_job(job: &JobRecord) {
    println!(
        "job {} — {} ({})",
        job.id,
        label(&job.state),
        meaning(job.state)
    );
    if !ended(job.state) {
        println!("  phase        {}", label(&job.phase));
    }
    println!("  application  {}", job.application);
    println!("  scenario     {}", job.scenario_id);
    println!("  operator     {}", job.operator);
    println!("  module       {}", short(&job.module_sha256));
    println!("  submitted    {}", dates::show(&job.submitted_at));
    if let Some(at) = &job.started_at {
        println!("  started      {}", dates::show(at));
    }
    if let Some(at) = &job.ended_at {
        println!("  ended        {}", dates::show(at));
    }
    if let Some(detail) = &job.detail {
        println!("  detail       {detail}");
    }
    for r in &job.releases {
        match &r.product {
            Some(product) => {
                let suppressed = match r.suppressed {
                    Some(true) => ", some groups suppressed",
                    Some(false) => ", none suppressed",
                    None => "",
                };
                println!(
                    "  release '{}': released {} groups{suppressed}; product {product}",
                    r.release, r.groups_released
                );
            }
            None => println!("  release '{}': {}", r.release, blocked_text(r)),
        }
    }
    if job.releases.iter().any(|r| r.product.is_some()) {
        println!("download a product with: shuyu product download PRODUCT --out DIR");
    }
}

/// `raw` as `T`, or its field `key` as `T` (answers that wrap the object with extra fields).
pub(crate) fn find<T: DeserializeOwned>(raw: &serde_json::Value, key: &str) -> Option<T> {
    serde_json::from_value(raw.clone()).ok().or_else(|| {
        raw.get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    })
}

/// The ids of the jobs a suspension or revocation stopped (`stopped_jobs` of the answer).
pub(crate) fn stopped_jobs(raw: &serde_json::Value) -> Vec<String> {
    let list = |value: &serde_json::Value| -> Option<Vec<String>> {
        value
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    raw.get("stopped_jobs").and_then(list).unwrap_or_default()
}
