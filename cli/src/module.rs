//! `shuyu module`: upload analysis modules to the server's module store.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Deserialize;

use super::client::{read_file, Client};
use super::{CliResult, Failure, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum ModuleCommand {
    /// Upload a module (operator) and print its SHA-256, the hash a scenario pins.
    Upload {
        /// The module (.wasm).
        file: PathBuf,
    },
}

/// `POST /v1/modules` answers with the module's hash.
#[derive(Debug, Deserialize)]
struct Uploaded {
    sha256: String,
}

pub(crate) fn run(globals: &Globals, command: ModuleCommand) -> CliResult {
    match command {
        ModuleCommand::Upload { file } => {
            let client = globals.client("module upload")?;
            let (sha256, raw) = upload(&client, &file)?;
            if globals.json {
                globals.print_json(&raw);
            } else {
                println!("{sha256}");
                eprintln!("uploaded {} ({sha256})", file.display());
            }
            Ok(())
        }
    }
}

/// Uploads `file` and returns its SHA-256 as the server computed it, and the answer as sent.
pub(crate) fn upload(client: &Client, file: &Path) -> Result<(String, serde_json::Value), Failure> {
    let bytes = read_file(file, "module")?;
    let reply = client.post_raw::<Uploaded>("/v1/modules", "application/wasm", bytes)?;
    Ok((reply.value.sha256, reply.raw))
}
