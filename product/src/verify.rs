//! Verifying a product package offline with the domain's public key.
//!
//! Order of checks, each failing with a message naming the file:
//!
//! 1. `manifest.sig` and `manifest.json` exist; the signature is 64 bytes of hex.
//! 2. The signature verifies over the exact bytes of `manifest.json` under the given key. When
//!    it does not and the manifest names another signer, the error says so: the package comes
//!    from another domain (or the wrong key was given), not necessarily from tampering.
//! 3. The now-authenticated manifest parses, has format `shuyu-product/1`, and names the given
//!    key as signer.
//! 4. Every listed file exists as a regular file, with the listed size and SHA-256.
//! 5. No other entry is in the folder.
//!
//! Nothing is trusted before step 2 except for choosing the error message.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::Path;

use super::files::{io_error, sha256_reader};
use super::manifest::{is_plain_file_name, ProductManifest, FORMAT};
use super::package::{MANIFEST_FILE, SIGNATURE_FILE};
use super::ProductError;
use shuyu_keys::PublicKey;

/// A package that verified.
#[derive(Debug, Clone)]
pub struct VerifiedProduct {
    /// Its manifest, authenticated.
    pub manifest: ProductManifest,
    /// Data files whose hash was checked.
    pub files_checked: usize,
}

/// Exits Ok only for an untouched package. Otherwise names what was altered:
/// "manifest.json: signature does not verify", "data.csv: SHA-256 differs from the manifest",
/// "missing data.parquet", "unexpected file notes.txt", "manifest.sig: not a hex Ed25519
/// signature", and a signer key id different from the given key.
pub fn verify_package(dir: &Path, key: &PublicKey) -> Result<VerifiedProduct, ProductError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(io_error(dir, "open")(
                std::io::ErrorKind::NotADirectory.into(),
            ))
        }
        Err(e) => return Err(io_error(dir, "open")(e)),
    }
    // A hex signature is 128 characters; anything much longer is not one.
    let signature_text =
        read_capped(dir, SIGNATURE_FILE, 1024)?.ok_or(ProductError::SignatureEncoding)?;
    let manifest_bytes = read_capped(dir, MANIFEST_FILE, MANIFEST_LIMIT)?.ok_or_else(|| {
        ProductError::BadManifest {
            reason: "larger than 16 MiB, not a product manifest".to_string(),
        }
    })?;
    let signature = std::str::from_utf8(&signature_text)
        .ok()
        .and_then(|text| hex::decode(text.trim()).ok())
        .filter(|bytes| bytes.len() == 64)
        .ok_or(ProductError::SignatureEncoding)?;

    let parsed: Result<ProductManifest, _> = serde_json::from_slice(&manifest_bytes);
    let expected_id = key.key_id();
    if !key.verify(&manifest_bytes, &signature) {
        let claimed = parsed.ok().and_then(|m| m.signer).map(|s| s.key_id);
        return Err(match claimed {
            Some(signer) if signer != expected_id => ProductError::WrongSigner {
                signer,
                expected: expected_id,
            },
            _ => ProductError::BadSignature,
        });
    }
    let manifest = parsed.map_err(|e| ProductError::BadManifest {
        reason: format!("not a product manifest ({e})"),
    })?;
    if manifest.format != FORMAT {
        return Err(ProductError::BadManifest {
            reason: format!("format '{}' is not {FORMAT}", manifest.format),
        });
    }
    match &manifest.signer {
        Some(signer) if signer.key_id == expected_id => {}
        Some(signer) => {
            return Err(ProductError::WrongSigner {
                signer: signer.key_id.clone(),
                expected: expected_id,
            })
        }
        None => {
            return Err(ProductError::BadManifest {
                reason: "no signer".to_string(),
            })
        }
    }

    let mut expected: BTreeSet<&str> = BTreeSet::from([MANIFEST_FILE, SIGNATURE_FILE]);
    for file in &manifest.files {
        if !is_plain_file_name(&file.name) || !expected.insert(&file.name) {
            return Err(ProductError::BadManifest {
                reason: format!("lists an invalid or repeated file name '{}'", file.name),
            });
        }
        let path = dir.join(&file.name);
        let handle = open_regular(&path, &file.name)?;
        let (sha256, bytes) = sha256_reader(handle).map_err(io_error(&path, "read"))?;
        if bytes != file.bytes {
            return Err(ProductError::SizeMismatch {
                file: file.name.clone(),
                actual: bytes,
                expected: file.bytes,
            });
        }
        if !sha256.eq_ignore_ascii_case(&file.sha256) {
            return Err(ProductError::DigestMismatch {
                file: file.name.clone(),
            });
        }
    }

    let mut present: Vec<String> = Vec::new();
    for item in fs::read_dir(dir).map_err(io_error(dir, "list"))? {
        let item = item.map_err(io_error(dir, "list"))?;
        present.push(item.file_name().to_string_lossy().into_owned());
    }
    present.sort();
    if let Some(extra) = present
        .into_iter()
        .find(|name| !expected.contains(name.as_str()))
    {
        return Err(ProductError::Unexpected { file: extra });
    }

    let files_checked = manifest.files.len();
    Ok(VerifiedProduct {
        manifest,
        files_checked,
    })
}

/// Opens `dir/name` if it is a regular file (not a symlink, which could point anywhere).
fn open_regular(path: &Path, name: &str) -> Result<File, ProductError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => File::open(path).map_err(io_error(path, "open")),
        Ok(_) => Err(ProductError::NotAFile {
            file: name.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ProductError::Missing {
            file: name.to_string(),
        }),
        Err(e) => Err(io_error(path, "read")(e)),
    }
}

/// Largest manifest read; a real one is a few kilobytes.
const MANIFEST_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads the manifest or its signature whole, or `None` if it is longer than `limit` bytes (a
/// swapped-in huge file must not exhaust memory).
fn read_capped(dir: &Path, name: &str, limit: u64) -> Result<Option<Vec<u8>>, ProductError> {
    use std::io::Read;
    let path = dir.join(name);
    let file = open_regular(&path, name)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(&path, "read"))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}
