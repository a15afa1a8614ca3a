//! `shuyu product`: verify a product package offline; download one from a server.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Subcommand;
use shuyu::keys::PublicKey;
use shuyu::product::{
    verify_package, ProductManifest, CSV_FILE, MANIFEST_FILE, PARQUET_FILE, SIGNATURE_FILE,
};

use super::client::{encode, Client};
use super::domain::domain_key;
use super::{CliResult, Failure, Globals};

#[derive(Debug, Subcommand)]
pub(crate) enum ProductCommand {
    /// Verify a product package: its signature and every data file's hash.
    Verify {
        /// The product folder.
        dir: PathBuf,
        /// The domain's public key file. Without it: the server's key with `--server`
        /// (`GET /v1/domain/public-key`), else `<data-dir>/keys/domain.pub`.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Download a product package from the server (the operator it was released to), then
    /// verify it as `product verify` does.
    Download {
        /// Product id (from `shuyu job status`).
        id: String,
        /// The folder to write the package into (created; must be empty).
        #[arg(long)]
        out: PathBuf,
        /// The domain's public key file (default: the server's key,
        /// `GET /v1/domain/public-key`).
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
}

pub(crate) fn run(globals: &Globals, command: ProductCommand) -> CliResult {
    match command {
        ProductCommand::Verify { dir, public_key } => {
            let (key, _source) = domain_key(globals, public_key.as_deref())?;
            verify(&dir, &key)
        }
        ProductCommand::Download {
            id,
            out,
            public_key,
        } => download(globals, &id, &out, public_key.as_deref()),
    }
}

/// Fetches the manifest and its signature, then every data file the manifest lists; returns
/// how many files and bytes were written.
fn fetch_package(client: &Client, id: &str, out: &Path) -> Result<(usize, u64), Failure> {
    let fetch = |name: &str| -> Result<u64, Failure> {
        let path = out.join(name);
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        client.download(
            &format!("/v1/products/{}/files/{}", encode(id), encode(name)),
            &mut file,
        )
    };
    let mut total = fetch(MANIFEST_FILE)? + fetch(SIGNATURE_FILE)?;
    // The manifest is not trusted yet: it only says which files to fetch. Verification checks
    // the signature, then every file against it, and refuses any file it does not list.
    let listed: Vec<String> = std::fs::read(out.join(MANIFEST_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<ProductManifest>(&bytes).ok())
        .map(|m| m.files.into_iter().map(|f| f.name).collect())
        .unwrap_or_else(|| vec![PARQUET_FILE.to_string(), CSV_FILE.to_string()]);
    for name in &listed {
        if ![PARQUET_FILE, CSV_FILE].contains(&name.as_str()) {
            return Err(Failure::Refused(format!(
                "product {id}: the manifest lists a file named {name:?}, which is not part of a \
                 product package"
            )));
        }
        total += fetch(name)?;
    }
    Ok((listed.len() + 2, total))
}

/// Verifies a package and prints the result.
fn verify(dir: &Path, key: &PublicKey) -> CliResult {
    match verify_package(dir, key) {
        Ok(verified) => {
            println!(
                "OK: {} is signed by domain key {} and untouched ({} files checked)",
                dir.display(),
                key.key_id(),
                verified.files_checked
            );
            Ok(())
        }
        Err(e) => Err(Failure::Refused(format!("{}: {e}", dir.display()))),
    }
}

/// Downloads the manifest and its signature, then every data file the manifest lists, then
/// verifies the whole package.
fn download(globals: &Globals, id: &str, out: &Path, key_file: Option<&Path>) -> CliResult {
    let client = globals.client("product download")?;
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
        if entries.next().is_some() {
            return Err(anyhow!(
                "{} is not empty; a product package is downloaded into an empty folder",
                out.display()
            )
            .into());
        }
    }
    let created = !out.exists();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let fetched = fetch_package(&client, id, out);
    if fetched.is_err() {
        // Leave nothing half-downloaded behind: the files written, and the folder if it is ours.
        for name in [MANIFEST_FILE, SIGNATURE_FILE, PARQUET_FILE, CSV_FILE] {
            let _ = std::fs::remove_file(out.join(name));
        }
        if created {
            let _ = std::fs::remove_dir(out);
        }
    }
    let (files, total) = fetched?;
    eprintln!(
        "downloaded product {id}: {files} files, {total} bytes into {}",
        out.display()
    );
    let (key, _source) = domain_key(globals, key_file).map_err(|e| {
        let reason = match e {
            Failure::Refused(m) | Failure::Failed(m) => m,
            Failure::Error(e) => format!("{e:#}"),
        };
        anyhow!(
            "downloaded, but not verified: cannot get the domain's public key ({reason}); get \
             keys/domain.pub from the domain, then run `shuyu product verify {} --public-key FILE`",
            out.display()
        )
    })?;
    verify(out, &key)
}
