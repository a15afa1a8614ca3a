//! Product packages: what leaves the domain, signed so anyone can check it offline.
//!
//! ```text
//! <products>/<product_id>/
//!   data.parquet    the released table (Parquet)
//!   data.csv        the same table as CSV with a header row
//!   manifest.json   ProductManifest, pretty JSON, listing each data file's SHA-256 and size
//!   manifest.sig    Ed25519 signature of the exact bytes of manifest.json, hex + newline
//! ```
//!
//! To check a package by hand: verify `manifest.sig` over `manifest.json` with the domain's
//! public key (`keys/domain.pub`), then compare each listed file's SHA-256 and size.
//! [`verify_package`] does exactly that, and also refuses files the manifest does not list.
//!
//! # Invariants
//!
//! - A package folder appears complete or not at all: it is built under `.tmp-<id>`, every file
//!   and the folder fsynced, then renamed to `<id>`.
//! - An existing product is never overwritten.
//! - The manifest lists every file in the package except itself and its signature; a package
//!   verifies only if the set of files is exactly that.
//! - Verification messages name files relative to the package (`data.csv: …`), never the
//!   machine's paths, so they can be passed on to recipients as they are.

mod files;
mod manifest;
mod package;
mod verify;

use std::path::PathBuf;

pub use manifest::{
    check_product_id, DatasetRef, FileRef, ProductManifest, ScenarioRef, SignerRef, FORMAT,
    MAX_PRODUCT_ID_LEN, SIGNATURE_ALGORITHM,
};
pub use package::{write_package, CSV_FILE, MANIFEST_FILE, PARQUET_FILE, SIGNATURE_FILE};
pub use verify::{verify_package, VerifiedProduct};

/// Why a package could not be written, or what verification found wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// The product id cannot be a package folder name.
    #[error("product id '{id}' is not valid: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A product with this id already exists.
    #[error("product {id} already exists")]
    AlreadyExists {
        /// The product id.
        id: String,
    },
    /// The manifest handed to `write_package` does not describe the table.
    #[error("manifest field {field}: {reason}")]
    InvalidManifest {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file or folder could not be written or read.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The table could not be encoded into a data file.
    #[error("{file}: cannot write the table: {reason}")]
    Encode {
        /// The data file.
        file: &'static str,
        /// The encoder's error.
        reason: String,
    },
    /// A file the package must contain is not there.
    #[error("missing {file}")]
    Missing {
        /// The file name inside the package.
        file: String,
    },
    /// The package holds a file the manifest does not list.
    #[error("unexpected file {file}")]
    Unexpected {
        /// The file name inside the package.
        file: String,
    },
    /// A listed name is not a regular file (a folder, a symlink).
    #[error("{file}: not a regular file")]
    NotAFile {
        /// The name inside the package.
        file: String,
    },
    /// A data file's content differs from the one signed.
    #[error("{file}: SHA-256 differs from the manifest")]
    DigestMismatch {
        /// The file name inside the package.
        file: String,
    },
    /// A data file's size differs from the one signed.
    #[error("{file}: size differs from the manifest ({actual} bytes, manifest says {expected})")]
    SizeMismatch {
        /// The file name inside the package.
        file: String,
        /// Bytes on disk.
        actual: u64,
        /// Bytes in the manifest.
        expected: u64,
    },
    /// `manifest.sig` does not hold a hex Ed25519 signature.
    #[error("manifest.sig: not a hex Ed25519 signature")]
    SignatureEncoding,
    /// The signature does not verify: the manifest or the signature was altered.
    #[error("manifest.json: signature does not verify")]
    BadSignature,
    /// The package was signed by another key than the one given.
    #[error("manifest.json: signed by key {signer}, not by the given key {expected}")]
    WrongSigner {
        /// Key id named in the manifest.
        signer: String,
        /// Key id of the key given.
        expected: String,
    },
    /// The manifest is signed but cannot be understood.
    #[error("manifest.json: {reason}")]
    BadManifest {
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
