//! Uploaded analysis modules, addressed by SHA-256: `<modules>/<sha256>.wasm`. The file is
//! written (temporary name, then rename) before its row, so a crash leaves at worst an unlisted
//! file, and the same bytes always land at the same name.

use std::fs;

use chrono::Utc;
use ring::digest::{digest, SHA256};
use serde_json::json;

use super::access::{self, require, IdentityRules};
use super::identities::random_hex;
use super::model::{Caller, IdentityStatus, Role};
use super::quotas::{check_module_count, check_module_size, load_quotas};
use super::{GovError, Governance};
use crate::store::governance::modules as db;
use crate::store::Connection;

/// The first bytes of every WebAssembly binary module.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Whether `sha` looks like a SHA-256 in lowercase hex (so it is safe as a file name).
fn is_sha256_hex(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `operator` uploaded the module `sha`.
pub(crate) fn uploaded_by(conn: &Connection, sha: &str, operator: &str) -> Result<bool, GovError> {
    Ok(db::uploaded_by(conn, sha, operator)?)
}

impl Governance {
    /// Stores an uploaded module; returns its SHA-256. Idempotent.
    pub fn upload_module(&self, caller: &Caller, wasm: &[u8]) -> Result<String, GovError> {
        require(caller, Role::Operator, "upload modules")?;
        if !wasm.starts_with(WASM_MAGIC) {
            return Err(GovError::Invalid(
                "not a WebAssembly module (it does not start with \\0asm)".into(),
            ));
        }
        let (operator, quotas) = self.store.read_with(|conn| {
            Ok::<_, GovError>((access::identity(conn, &caller.id)?, load_quotas(conn)?))
        })?;
        // A suspended operator may still prepare its rectified module; a terminated one may not.
        if operator.identity.status == IdentityStatus::Terminated {
            return Err(GovError::Conflict(
                operator.operator_refusal().unwrap_or_default(),
            ));
        }
        check_module_size(&quotas, wasm.len())?;
        let sha = hex::encode(digest(&SHA256, wasm));
        // Counted before the file is written too, so an operator over its count cannot fill
        // the module folder with files that never get a row.
        self.store.read_with(|conn| {
            if uploaded_by(conn, &sha, &caller.id)? {
                return Ok(());
            }
            check_module_count(conn, &quotas, &caller.id)
        })?;
        let path = self.modules_dir.join(format!("{sha}.wasm"));
        if !path.is_file() {
            let internal = |e: std::io::Error| GovError::internal_from("module store", e);
            fs::create_dir_all(&self.modules_dir).map_err(internal)?;
            let tmp = self
                .modules_dir
                .join(format!(".{sha}.tmp-{}", random_hex(8)?));
            fs::write(&tmp, wasm).map_err(internal)?;
            if let Err(e) = fs::rename(&tmp, &path) {
                let _ = fs::remove_file(&tmp);
                return Err(internal(e));
            }
        }
        self.store.write_with(|tx| {
            if uploaded_by(tx, &sha, &caller.id)? {
                return Ok(());
            }
            // Again under the write lock: two uploads at once must not both pass the count.
            check_module_count(tx, &load_quotas(tx)?, &caller.id)?;
            db::insert_module(tx, &sha, &caller.id, wasm.len(), &Utc::now())?;
            self.record(
                tx,
                &caller.id,
                "gov.module.upload",
                &sha,
                None,
                json!({ "size": wasm.len() }),
            )
        })?;
        Ok(sha)
    }

    /// A stored module's bytes (the job runner's use).
    pub fn module_bytes(&self, sha256: &str) -> Result<Vec<u8>, GovError> {
        let not_found = || GovError::NotFound(format!("module {sha256}"));
        // Checked first: the hash becomes a file name.
        if !is_sha256_hex(sha256) {
            return Err(not_found());
        }
        let known = self.store.read(|conn| db::module_known(conn, sha256))?;
        if !known {
            return Err(not_found());
        }
        let path = self.modules_dir.join(format!("{sha256}.wasm"));
        let bytes = fs::read(&path).map_err(|e| {
            GovError::internal_from(format!("module {sha256} is registered but unreadable"), e)
        })?;
        // A file altered on disk must not run under the hash that was reviewed.
        if hex::encode(digest(&SHA256, &bytes)) != sha256 {
            return Err(GovError::internal(format!(
                "module {sha256}: the stored file no longer has this hash"
            )));
        }
        Ok(bytes)
    }
}
