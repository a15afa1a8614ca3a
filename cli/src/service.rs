//! `shuyu consent` and `shuyu service`: verification and data services (server).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use shuyu::governance::model::Page;
use shuyu::services::{CallOutcome, CallReply, Consent, ConsentStatus, ServiceCall};

use super::client::{encode, read_file, with_query};
use super::dates::{self, DayEdge};
use super::{CliResult, Globals};

/// The identifier kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Unified social credit code of an enterprise.
    Usci,
    /// Citizen ID number of a person.
    CitizenId,
}

impl Kind {
    fn wire(self) -> &'static str {
        match self {
            Kind::Usci => "usci",
            Kind::CitizenId => "citizen_id",
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConsentCommand {
    /// Record a subject's consent to one of your services (operator).
    Grant {
        /// The service: `<scenario>.<service>`.
        #[arg(long)]
        service: String,
        /// The kind of the subject's identifier.
        #[arg(long, value_enum, default_value = "usci")]
        kind: Kind,
        /// The subject's identifier (stored only as a keyed hash).
        #[arg(long)]
        subject: String,
        /// What the subject agreed the answers are used for.
        #[arg(long)]
        purpose: String,
        /// The signed authorization you keep: its SHA-256 is recorded as evidence.
        #[arg(long, conflicts_with = "evidence_sha256")]
        evidence: Option<PathBuf>,
        /// The SHA-256 of the signed authorization, if you hashed it yourself.
        #[arg(long)]
        evidence_sha256: Option<String>,
        /// First moment it is valid (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        from: Option<String>,
        /// Last moment it is valid (RFC 3339 or YYYY-MM-DD: the end of that day).
        #[arg(long)]
        until: String,
    },
    /// Revoke a consent (its operator, or the bureau on the subject's request).
    Revoke {
        /// Consent id (`cs-...`).
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List consents (operator: yours; bureau, reviewer: all, or one subject's).
    List {
        /// Only this subject's (bureau, reviewer), with `--kind`.
        #[arg(long)]
        subject: Option<String>,
        /// The kind of `--subject`.
        #[arg(long, value_enum, default_value = "usci")]
        kind: Kind,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCommand {
    /// Ask a service about one consenting subject (operator).
    Call {
        /// The service: `<scenario>.<service>`.
        service: String,
        /// The subject's identifier.
        #[arg(long)]
        subject: String,
        /// The consent the call cites (`cs-...`).
        #[arg(long)]
        consent: String,
        /// A request parameter, `name=value` (repeat); a value that reads as a number is sent
        /// as one.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// A text parameter, `name=value`, sent as text even when it reads as a number.
        #[arg(long = "text-param", value_name = "NAME=VALUE")]
        text_params: Vec<String>,
    },
    /// Every call made about one subject: who, when, which service, the answer (bureau,
    /// reviewer).
    CallsAbout {
        /// The subject's identifier.
        subject: String,
        /// Its kind.
        #[arg(long, value_enum, default_value = "usci")]
        kind: Kind,
    },
    /// One call (its operator, bureau, reviewer).
    ShowCall {
        /// Call id (`call-...`).
        id: String,
    },
    /// Calls per day, operator and service (operator: yours; bureau, reviewer: all).
    Usage {
        /// First local day (YYYY-MM-DD; default today).
        #[arg(long)]
        from: Option<String>,
        /// Last local day (default `--from`).
        #[arg(long)]
        to: Option<String>,
        /// Only this operator (bureau, reviewer).
        #[arg(long)]
        operator: Option<String>,
    },
}

/// `name=value` → a JSON member; a value that reads as a number is sent as one.
fn param(text: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (name, value) = text
        .split_once('=')
        .with_context(|| format!("--param '{text}': write NAME=VALUE"))?;
    let value = if let Ok(n) = value.parse::<i64>() {
        serde_json::json!(n)
    } else if let Ok(x) = value.parse::<f64>() {
        serde_json::json!(x)
    } else {
        serde_json::json!(value)
    };
    Ok((name.to_string(), value))
}

fn print_consent(c: &Consent) {
    println!(
        "{}  {}  by {}  {}  {} .. {}",
        c.id,
        c.service,
        c.operator,
        match c.status {
            ConsentStatus::Active => "active",
            ConsentStatus::Revoked => "REVOKED",
        },
        dates::show(&c.valid_from),
        dates::show(&c.valid_until)
    );
    println!(
        "    purpose: {}  evidence: {}",
        c.purpose, c.evidence_sha256
    );
    if let (Some(at), Some(by)) = (&c.revoked_at, &c.revoked_by) {
        println!(
            "    revoked {} by {by}: {}",
            dates::show(at),
            c.revoke_reason.as_deref().unwrap_or("")
        );
    }
}

fn print_call(c: &ServiceCall) {
    let answer = match (&c.outcome, &c.answer) {
        (CallOutcome::Answered, Some(answer)) => answer.to_string(),
        _ => format!("no answer ({})", c.failure.as_deref().unwrap_or("failed")),
    };
    println!(
        "{}  {}  {}  by {}  consent {}  {:.1} ms  {answer}",
        c.id,
        dates::show(&c.at),
        c.service,
        c.operator,
        c.consent,
        c.latency_us as f64 / 1000.0
    );
}

pub(crate) fn run_consent(globals: &Globals, command: ConsentCommand) -> CliResult {
    match command {
        ConsentCommand::Grant {
            service,
            kind,
            subject,
            purpose,
            evidence,
            evidence_sha256,
            from,
            until,
        } => {
            let evidence_sha256 = match (evidence, evidence_sha256) {
                (Some(path), _) => {
                    let bytes = read_file(&path, "the signed authorization")?;
                    hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
                }
                (None, Some(sha)) => sha,
                (None, None) => {
                    return Err(anyhow::anyhow!(
                        "give the signed authorization with --evidence FILE (or its SHA-256 \
                         with --evidence-sha256)"
                    )
                    .into())
                }
            };
            let valid_from = from
                .map(|t| dates::parse_time("--from", &t, DayEdge::Start))
                .transpose()?;
            let valid_until = dates::parse_time("--until", &until, DayEdge::End)?;
            let client = globals.client("consent grant")?;
            let reply = client.post::<_, Consent>(
                "/v1/consents",
                &serde_json::json!({
                    "service": service, "subject_kind": kind.wire(), "subject": subject,
                    "purpose": purpose, "evidence_sha256": evidence_sha256,
                    "valid_from": valid_from, "valid_until": valid_until,
                }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                println!(
                    "recorded consent {} for {} until {}",
                    reply.value.id,
                    reply.value.service,
                    dates::show(&reply.value.valid_until)
                );
            }
        }
        ConsentCommand::Revoke { id, reason } => {
            let client = globals.client("consent revoke")?;
            let reply = client.post::<_, Consent>(
                &format!("/v1/consents/{}/revoke", encode(&id)),
                &serde_json::json!({ "reason": reason }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                println!(
                    "revoked consent {}; no call may cite it now",
                    reply.value.id
                );
            }
        }
        ConsentCommand::List {
            subject,
            kind,
            limit,
        } => {
            let client = globals.client("consent list")?;
            let items: Vec<Consent> = match subject {
                Some(id) => {
                    let reply = client.post::<_, Page<Consent>>(
                        "/v1/subjects/consents",
                        &serde_json::json!({ "kind": kind.wire(), "id": id,
                                             "limit": limit.map(|l| l.min(500)) }),
                    )?;
                    if globals.json {
                        globals.print_json(&reply.raw);
                        return Ok(());
                    }
                    reply.value.items
                }
                None => {
                    let listing = client.list::<Consent>("/v1/consents", limit)?;
                    if globals.json {
                        globals.print_json(&listing.to_json());
                        return Ok(());
                    }
                    listing.items
                }
            };
            if items.is_empty() {
                println!("no consents");
            }
            for consent in &items {
                print_consent(consent);
            }
        }
    }
    Ok(())
}

pub(crate) fn run_service(globals: &Globals, command: ServiceCommand) -> CliResult {
    match command {
        ServiceCommand::Call {
            service,
            subject,
            consent,
            params,
            text_params,
        } => {
            let mut params = params
                .iter()
                .map(|p| param(p))
                .collect::<anyhow::Result<serde_json::Map<_, _>>>()?;
            for text in &text_params {
                let (name, value) = text
                    .split_once('=')
                    .with_context(|| format!("--text-param '{text}': write NAME=VALUE"))?;
                params.insert(name.to_string(), serde_json::json!(value));
            }
            let client = globals.client("service call")?;
            let reply = client.post::<_, CallReply>(
                &format!("/v1/services/{}/answers", encode(&service)),
                &serde_json::json!({ "subject": subject, "consent": consent, "params": params }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
                return Ok(());
            }
            let r = &reply.value;
            match (&r.outcome, &r.answer) {
                (CallOutcome::Answered, Some(answer)) => {
                    println!("{}  {}  answered", r.call, r.service);
                    if let Some(fields) = answer.as_object() {
                        for (name, value) in fields {
                            let shown = value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_string);
                            println!("    {name}: {shown}");
                        }
                    }
                }
                _ => println!(
                    "{}  {}  NO ANSWER: the module gave no answer within its contract \
                     (reviewers see why in the audit log)",
                    r.call, r.service
                ),
            }
        }
        ServiceCommand::CallsAbout { subject, kind } => {
            let client = globals.client("service calls-about")?;
            let mut after: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let reply = client.post::<_, Page<ServiceCall>>(
                    "/v1/subjects/calls",
                    &serde_json::json!({ "kind": kind.wire(), "id": subject, "limit": 500,
                                         "after": after }),
                )?;
                all.extend(reply.value.items);
                match reply.value.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if globals.json {
                globals.print_json(&serde_json::to_value(&all)?);
                return Ok(());
            }
            if all.is_empty() {
                println!("no calls were made about this subject");
            }
            for call in &all {
                print_call(call);
            }
        }
        ServiceCommand::ShowCall { id } => {
            let client = globals.client("service show-call")?;
            let reply = client.get::<ServiceCall>(&format!("/v1/service-calls/{}", encode(&id)))?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                print_call(&reply.value);
            }
        }
        ServiceCommand::Usage { from, to, operator } => {
            let client = globals.client("service usage")?;
            let reply = client.get::<serde_json::Value>(&with_query(
                "/v1/services/usage",
                &[("from", from), ("to", to), ("operator", operator)],
            ))?;
            if globals.json {
                globals.print_json(&reply.raw);
                return Ok(());
            }
            let rows = reply.value["rows"].as_array().cloned().unwrap_or_default();
            println!(
                "{:<10}  {:<16}  {:<32}  {:>9}  {:>7}  {:>8}  {:>8}",
                "day", "operator", "service", "answered", "failed", "mean ms", "max ms"
            );
            for row in &rows {
                println!(
                    "{:<10}  {:<16}  {:<32}  {:>9}  {:>7}  {:>8.1}  {:>8.1}",
                    row["day"].as_str().unwrap_or(""),
                    row["operator"].as_str().unwrap_or(""),
                    row["service"].as_str().unwrap_or(""),
                    row["answered"].as_u64().unwrap_or(0),
                    row["failed"].as_u64().unwrap_or(0),
                    row["mean_latency_ms"].as_f64().unwrap_or(0.0),
                    row["max_latency_ms"].as_f64().unwrap_or(0.0),
                );
            }
            if rows.is_empty() {
                println!("(no calls in this period)");
            }
        }
    }
    Ok(())
}
