//! The product manifest: what a product is, where its data came from, what policy shaped it, and
//! which files carry it.
//!
//! The manifest is the signed object: `manifest.sig` covers the exact bytes of `manifest.json`,
//! and the manifest pins every data file by SHA-256 and size, so one signature check plus one
//! hash per file proves the whole package. Fields the runtime cannot interpret here (the guard's
//! `policy` and `report`) are carried as opaque JSON.

use serde::{Deserialize, Serialize};

use super::ProductError;

/// The manifest format this code writes and verifies.
pub const FORMAT: &str = "shuyu-product/1";

/// Signature algorithm named in [`SignerRef::algorithm`].
pub const SIGNATURE_ALGORITHM: &str = "Ed25519";

/// Longest product id accepted (it becomes a folder name).
pub const MAX_PRODUCT_ID_LEN: usize = 200;

/// Describes one product package (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Unique id of the product; also its folder name (`[A-Za-z0-9._-]+`).
    pub product_id: String,
    /// The contract's release name this product answers.
    pub release: String,
    /// The scenario it was produced under.
    pub scenario: ScenarioRef,
    /// The operator it is released to.
    pub operator: String,
    /// SHA-256 of the analysis module that produced it.
    pub module_sha256: String,
    /// The job that produced it.
    pub job_id: String,
    /// The public-data sources used, with when they were obtained.
    pub datasets: Vec<DatasetRef>,
    /// The guard's policy (k, L, clamps, aggregations), opaque here.
    pub policy: serde_json::Value,
    /// The guard's report (groups and rows suppressed, and by which rule), opaque here.
    pub report: serde_json::Value,
    /// Column names of the data, in order.
    pub columns: Vec<String>,
    /// Number of data rows.
    pub rows: u64,
    /// When the job started (RFC 3339).
    pub job_started: String,
    /// When the product was made (RFC 3339).
    pub created_at: String,
    /// Hash of the audit log's `release` entry for this product, written before the package
    /// became visible: a reviewer finds that entry in the log, and a log cut before it fails
    /// `audit verify`. Only the hash, not the entry's seq: the seq counts the entries before it,
    /// a number the module can steer (queries, log lines), and the operator reads the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_entry: Option<String>,
    /// The data files with their hashes; filled by `write_package`.
    #[serde(default)]
    pub files: Vec<FileRef>,
    /// Who signed; filled by `write_package`.
    #[serde(default)]
    pub signer: Option<SignerRef>,
}

/// The scenario a product was made under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRef {
    /// Scenario id.
    pub id: String,
    /// Scenario title.
    pub title: String,
}

/// A public-data source of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRef {
    /// Dataset name in the catalog.
    pub name: String,
    /// Dataset title.
    pub title: String,
    /// The providing unit.
    pub provider: String,
    /// SHA-256 of the dataset's content as used.
    pub content_sha256: String,
    /// When the data was obtained (`YYYY-MM-DD`).
    pub acquired: String,
    /// Rows in the dataset as used.
    pub rows: u64,
}

/// A file of the package, pinned by hash and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// File name inside the package folder.
    pub name: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The key that signed the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerRef {
    /// Always [`SIGNATURE_ALGORITHM`].
    pub algorithm: String,
    /// Key id of the domain's public key (see `PublicKey::key_id`).
    pub key_id: String,
}

/// Checks a product id: 1 to [`MAX_PRODUCT_ID_LEN`] of `[A-Za-z0-9._-]`, not starting with `.`
/// (no `.`, `..` or hidden names, which also keeps ids clear of the `.tmp-` staging folders).
pub fn check_product_id(id: &str) -> Result<(), ProductError> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if id.len() > MAX_PRODUCT_ID_LEN {
        Some("it is longer than 200 characters")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only A-Z, a-z, 0-9, '.', '_' and '-' are allowed")
    } else if id.starts_with('.') {
        Some("it may not start with '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProductError::InvalidId {
            id: id.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Checks a file name listed in a manifest: a plain name inside the package folder.
pub(super) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids() {
        for ok in ["20250131T080000123Z-ab12cd34-by_district", "a", "A.b-c_9"] {
            check_product_id(ok).unwrap();
        }
        let long = "x".repeat(201);
        for bad in [
            "",
            ".",
            "..",
            ".tmp-x",
            "a/b",
            "a b",
            "é",
            "a\0",
            long.as_str(),
        ] {
            assert!(check_product_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plain_file_names() {
        assert!(is_plain_file_name("data.csv"));
        for bad in ["", ".", "..", "../x", "a/b", "a\\b"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
