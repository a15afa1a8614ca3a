//! The domain's keys: the Ed25519 signing key and the pseudonym master key.
//!
//! Both are created on first start in `<data-dir>/keys/` and never leave it:
//!
//! ```text
//! keys/            0700
//!   domain.pk8     0600  Ed25519 private key, PKCS#8 v2 (as made by ring)
//!   domain.pub     0644  the public key, lowercase hex + newline: what product recipients and
//!                        audit reviewers are given
//!   pseudonym.key  0600  32 random bytes, the HMAC-SHA-256 master key for pseudonyms
//! ```
//!
//! # Invariants
//!
//! - **All or nothing.** The first start builds the three files in a private staging folder
//!   (`keys.new-<pid>-<n>`), each written through temp file + fsync + rename, then renames the
//!   whole folder to `keys/`. A crash leaves either no `keys/` (the next start creates one) or a complete
//!   one; never a signing key without its pseudonym key. Two processes racing on the first start
//!   both build a folder, one rename wins and the loser loads the winner's keys.
//! - **Owner only.** A private key file readable or writable by group or others is refused, with
//!   the `chmod` that fixes it; the keys are not used until it is.
//! - **Never shown.** No key material is printed, logged or formatted: `Debug` of [`DomainKeys`]
//!   redacts it, and errors name files, never contents. The in-memory copies of the raw key
//!   bytes this module holds are overwritten on drop (ring's key pair keeps its own copy).
//! - **`domain.pub` follows `domain.pk8`.** A missing `domain.pub` is rewritten from the private
//!   key; one that names another key is an error, since handing it out would make every
//!   recipient reject genuine products.

mod domain;
mod files;
mod public;

use std::path::PathBuf;

pub use domain::DomainKeys;
pub use public::PublicKey;

/// Name of the keys folder inside the data directory.
pub(crate) const KEYS_DIR: &str = "keys";
/// Name of the private signing key file inside [`KEYS_DIR`].
pub(crate) const SIGNING_KEY_FILE: &str = "domain.pk8";
/// Name of the public key file inside [`KEYS_DIR`].
pub(crate) const PUBLIC_KEY_FILE: &str = "domain.pub";
/// Name of the pseudonym master key file inside [`KEYS_DIR`].
pub(crate) const PSEUDONYM_KEY_FILE: &str = "pseudonym.key";

/// Why keys could not be loaded, created or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file or folder could not be read, written or created.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A private key file is accessible to group or others.
    #[error(
        "{path}: private key file is accessible to group or others (mode {mode:04o}); \
         fix with `chmod 600 {path}`"
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key path is not a regular file (a folder, a symlink, a device).
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The offending path.
        path: PathBuf,
    },
    /// The keys path exists but is not a folder.
    #[error("{path}: not a folder")]
    NotAFolder {
        /// The offending path.
        path: PathBuf,
    },
    /// `domain.pk8` is not an Ed25519 PKCS#8 key ring accepts.
    #[error("{path}: not a valid Ed25519 PKCS#8 private key ({reason}); the file is damaged or was altered")]
    InvalidSigningKey {
        /// The key file.
        path: PathBuf,
        /// ring's reason.
        reason: String,
    },
    /// `pseudonym.key` does not hold exactly 32 bytes.
    #[error("{path}: pseudonym key must be exactly 32 bytes, found {len}; the file is damaged or was altered")]
    InvalidPseudonymKey {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// `domain.pub` names a different key than `domain.pk8`.
    #[error("{path}: does not match the private key in domain.pk8; remove it and it is rewritten on next start")]
    PublicKeyMismatch {
        /// The public key file.
        path: PathBuf,
    },
    /// The keys folder exists but lacks one of the private keys.
    #[error(
        "{path} is missing while the rest of the keys folder exists; restore it from backup \
         (starting a new domain means moving the whole keys folder away)"
    )]
    Incomplete {
        /// The missing file.
        path: PathBuf,
    },
    /// A public key given as text is not 64 hex characters.
    #[error("not an Ed25519 public key: {reason}")]
    InvalidPublicKey {
        /// What is wrong with the text.
        reason: String,
    },
    /// A public key file could not be parsed.
    #[error("{path}: not an Ed25519 public key: {reason}")]
    InvalidPublicKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
    /// The system random number generator failed while creating keys.
    #[error("the system random number generator failed while creating {what}")]
    Random {
        /// The key being created.
        what: &'static str,
    },
}
