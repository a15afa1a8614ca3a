//! `shuyu quality`: data-quality requests from operators to providers, who must answer.

use clap::Subcommand;
use shuyu::governance::model::QualityRequest;

use super::client::encode;
use super::dates;
use super::{CliResult, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum QualityCommand {
    /// Ask a dataset's provider to fix a data-quality problem (operator).
    File {
        /// The dataset.
        #[arg(long)]
        dataset: String,
        /// The problem.
        #[arg(long)]
        description: String,
    },
    /// List quality requests (operator: its own; provider: its datasets'; bureau, reviewer: all).
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Answer a quality request (the dataset's provider).
    Answer {
        /// Request id (`qr-...`).
        id: String,
        /// The answer.
        #[arg(long)]
        answer: String,
    },
}

pub(crate) fn run(globals: &Globals, command: QualityCommand) -> CliResult {
    match command {
        QualityCommand::File {
            dataset,
            description,
        } => {
            let client = globals.client("quality file")?;
            let reply = client.post::<_, QualityRequest>(
                "/v1/quality-requests",
                &serde_json::json!({ "dataset": dataset, "description": description }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                println!(
                    "filed quality request {} on '{}'; its provider must answer",
                    reply.value.id, reply.value.dataset
                );
            }
        }
        QualityCommand::List { limit } => {
            let client = globals.client("quality list")?;
            let listing = client.list::<QualityRequest>("/v1/quality-requests", limit)?;
            if globals.json {
                globals.print_json(&listing.to_json());
                return Ok(());
            }
            for q in &listing.items {
                println!(
                    "{}  {}  by {}  filed {}  {}",
                    q.id,
                    q.dataset,
                    q.operator,
                    dates::show(&q.filed_at),
                    if q.answer.is_some() {
                        "answered"
                    } else {
                        "OPEN"
                    }
                );
                println!("    problem: {}", q.description);
                if let Some(answer) = &q.answer {
                    println!("    answer:  {answer}");
                }
            }
        }
        QualityCommand::Answer { id, answer } => {
            let client = globals.client("quality answer")?;
            let reply = client.post::<_, QualityRequest>(
                &format!("/v1/quality-requests/{}/answer", encode(&id)),
                &serde_json::json!({ "answer": answer }),
            )?;
            if globals.json {
                globals.print_json(&reply.raw);
            } else {
                println!(
                    "answered quality request {} on '{}'",
                    reply.value.id, reply.value.dataset
                );
            }
        }
    }
    Ok(())
}
