//! `shuyu product verify`: check a product package offline.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use shuyu::keys::PublicKey;
use shuyu::product::verify_package;

use super::{CliResult, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum ProductCommand {
    /// Verify a product package: its signature and every data file's hash.
    Verify {
        /// The product folder.
        dir: PathBuf,
        /// The domain's public key file (default: `<data-dir>/keys/domain.pub`).
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
}

pub(crate) fn run(data_dir: &Path, command: ProductCommand) -> CliResult {
    match command {
        ProductCommand::Verify { dir, public_key } => {
            let key_path = public_key.unwrap_or_else(|| data_dir.join("keys").join("domain.pub"));
            let key = PublicKey::read_file(&key_path)?;
            match verify_package(&dir, &key) {
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
    }
}
