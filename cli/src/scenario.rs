//! `shuyu scenario`: scenario applications (one application per scenario), from submission
//! through dual review to suspension, restoration and revocation.

use std::path::PathBuf;

use clap::Subcommand;
use shuyu::governance::effective::{EffectiveContract, EffectiveRelease};
use shuyu::governance::model::{
    Application, ApplicationStatus, NewApplication, Review, ReviewKind,
};
use shuyu::governance::ScenarioFile;

use super::client::encode;
use super::dates::{self, parse_time, DayEdge};
use super::output::label;
use super::{module, CliResult, Failure, Globals};

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
    /// Show one application with its reviews and its effective contract: the scenario composed
    /// with its datasets' current manifests, as the guard enforces it.
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
            let path = format!("/v1/applications/{}", encode(&id));
            let reply = client.get::<Application>(&path)?;
            // A contract that cannot be composed now (no active version, a manifest it no longer
            // fits) is shown as such: the application itself is still there to read.
            let contract = match client.get::<EffectiveContract>(&format!("{path}/contract")) {
                Ok(contract) => Ok(contract),
                Err(Failure::Refused(message)) => Err(message),
                Err(other) => return Err(other),
            };
            if globals.json {
                let mut raw = reply.raw;
                if let Some(object) = raw.as_object_mut() {
                    let (key, value) = match contract {
                        Ok(contract) => ("effective_contract", contract.raw),
                        Err(message) => ("effective_contract_error", message.into()),
                    };
                    object.insert(key.into(), value);
                }
                globals.print_json(&raw);
            } else {
                print_application(&reply.value);
                match contract {
                    Ok(contract) => print_contract(&contract.value),
                    Err(message) => println!("  effective contract: unavailable: {message}"),
                }
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
    if let Some(line) = dates::changed_line(a.status_change.as_ref()) {
        println!("  changed      {line}");
    }
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

/// Prints the effective contract: what the guard enforces for the application, every place
/// looser than a manifest marked `LOOSER`.
pub(crate) fn print_contract(c: &EffectiveContract) {
    println!(
        "  effective contract (as the guard enforces it, composed with the current manifests):"
    );
    for d in &c.datasets {
        let budget = if d.privacy_budget_declared {
            "declared"
        } else {
            "runtime default"
        };
        println!(
            "    dataset {}  min_k {}  entity {}  privacy budget ε={} δ={} ({budget})  data {}",
            d.dataset,
            d.min_k,
            d.entity_column,
            d.privacy_budget.epsilon,
            d.privacy_budget.delta,
            &d.content_sha256[..16.min(d.content_sha256.len())]
        );
        for col in &d.columns {
            let uses: Vec<&str> = col.uses.iter().map(|u| u.as_str()).collect();
            let mut line = format!(
                "      {:<20} {:<16} uses {}",
                col.name,
                col.class.as_str(),
                uses.join(",")
            );
            if col.pseudonymized {
                line.push_str("  pseudonymized");
            }
            if !col.aggregations.is_empty() {
                let aggs: Vec<&str> = col.aggregations.iter().map(|a| a.as_str()).collect();
                line.push_str(&format!("  aggregations {}", aggs.join(",")));
            }
            if let Some([lo, hi]) = col.clamp {
                line.push_str(&format!("  clamp [{lo}, {hi}]"));
            }
            println!("{line}");
        }
    }
    let l = &c.limits;
    println!(
        "    limits   fuel {}  memory {} MiB  query memory {} MiB  queries {}  rows read {}  releases {}",
        l.fuel, l.memory_mib, l.query_memory_mib, l.max_queries, l.max_rows_read, l.max_releases
    );
    if let Some(b) = &c.privacy_budget {
        println!("    scenario privacy budget ε={} δ={}", b.epsilon, b.delta);
    }
    for r in &c.releases {
        print_release(r);
    }
    for v in &c.vectors {
        let delta = v
            .privacy
            .delta
            .map(|d| format!(" δ={d}"))
            .unwrap_or_default();
        println!(
            "    vector {}  partitions {}  privacy ε={}{delta}",
            v.name, v.partitions, v.privacy.epsilon
        );
        for (coord, [lo, hi]) in v.coords.iter().zip(&v.bounds) {
            println!("      {coord:<20} bounds [{lo}, {hi}]");
        }
    }
    for service in &c.services {
        let s = &service.contract;
        println!(
            "    service {}  about one {}  answer ≤ {:.1} bits  reply at {} ms  {}/s  {}/day",
            s.name,
            s.subject.as_str(),
            service.answer_bits,
            s.timeout_ms,
            s.rate_per_second,
            s.daily_quota
        );
        for p in &s.params {
            let domain = match (&p.values, p.min, p.max) {
                (Some(values), _, _) => values.join(" | "),
                (None, Some(lo), Some(hi)) => format!("[{lo}, {hi}]"),
                _ => String::new(),
            };
            println!("      param  {:<18} {:?} {domain}", p.name, p.kind);
        }
        for f in &s.answer {
            let domain = match (&f.values, &f.buckets) {
                (Some(values), _) => values.join(" | "),
                (None, Some(edges)) => format!(
                    "buckets {}",
                    edges
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                _ => String::new(),
            };
            let null = if f.nullable { " | null" } else { "" };
            println!("      answer {:<18} {domain}{null}", f.name);
        }
    }
    if c.looser.is_empty() {
        println!("    nothing asked is looser than the manifests");
    }
    for looser in &c.looser {
        println!("    LOOSER {looser} (the manifest applies)");
    }
}

fn print_release(r: &EffectiveRelease) {
    let threshold = match (r.k, r.dominance) {
        (Some(k), Some(d)) => format!("k {k}  dominance ({}, {}%)", d.n, d.percent),
        (Some(k), None) => format!("k {k}"),
        _ => "no k threshold (privacy)".to_string(),
    };
    let privacy = match r.privacy {
        Some(p) => match p.delta {
            Some(delta) => format!("  privacy ε={} δ={delta}", p.epsilon),
            None => format!("  privacy ε={}", p.epsilon),
        },
        None => String::new(),
    };
    println!(
        "    release {}  {threshold}  L {}  max groups {}{privacy}",
        r.name, r.max_rows_per_entity, r.max_groups
    );
    for d in &r.dimensions {
        let domain = d
            .values
            .as_ref()
            .map(|v| format!("  domain of {} values", v.len()))
            .unwrap_or_default();
        println!(
            "      dimension {:<14} from {}{domain}",
            d.name,
            d.from.join(", ")
        );
    }
    for m in &r.measures {
        let aggs: Vec<&str> = m.aggregations.iter().map(|a| a.as_str()).collect();
        println!(
            "      measure   {:<14} from {}  clamp [{}, {}]  {}",
            m.name,
            m.from.join(", "),
            m.clamp[0],
            m.clamp[1],
            aggs.join(",")
        );
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
