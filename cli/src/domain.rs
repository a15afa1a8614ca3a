//! `shuyu domain public-key`: the domain's public key, which checks product manifests, audit
//! checkpoints and kept heads; and the one rule by which `product verify|download` find it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use shuyu::keys::PublicKey;
use shuyu_server::DomainPublicKey;

use super::client::{Client, ServerUrl};
use super::{CliResult, Failure, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum DomainCommand {
    /// Print the domain's public key (64 hex characters, the content of `keys/domain.pub`):
    /// from the server with `--server` (no token needed), else from the data directory.
    PublicKey {
        /// Also write it to this file, as `product verify --public-key FILE` reads it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub(crate) fn run(globals: &Globals, command: DomainCommand) -> CliResult {
    match command {
        DomainCommand::PublicKey { out } => {
            let (key, source) = domain_key(globals, None)?;
            if let Some(out) = &out {
                std::fs::write(out, format!("{}\n", key.to_hex()))
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            if globals.json {
                globals.print_json(&serde_json::json!({
                    "algorithm": "ed25519",
                    "public_key": key.to_hex(),
                    "key_id": key.key_id(),
                }));
            } else {
                println!("{}", key.to_hex());
                eprintln!("key id {} (from {source})", key.key_id());
            }
            Ok(())
        }
    }
}

/// The domain's public key and where it came from: `explicit` (a file) if given; else the
/// server's `GET /v1/domain/public-key` when `--server` is; else `<data-dir>/keys/domain.pub`.
pub(crate) fn domain_key(
    globals: &Globals,
    explicit: Option<&Path>,
) -> Result<(PublicKey, String), Failure> {
    if let Some(path) = explicit {
        return Ok((PublicKey::read_file(path)?, path.display().to_string()));
    }
    if let Some(server) = globals.server() {
        let client = Client::new(ServerUrl::parse(server)?, globals.token())?;
        let reply = client.get::<DomainPublicKey>("/v1/domain/public-key")?;
        let key = PublicKey::from_hex(&reply.value.public_key).map_err(|e| {
            Failure::Failed(format!("the server answered an unreadable public key: {e}"))
        })?;
        if key.key_id() != reply.value.key_id {
            return Err(Failure::Failed(format!(
                "the server's public key has key id {}, not the {} it claims",
                key.key_id(),
                reply.value.key_id
            )));
        }
        return Ok((key, client.url().to_string()));
    }
    let path = globals.data_dir.join("keys").join("domain.pub");
    Ok((PublicKey::read_file(&path)?, path.display().to_string()))
}
