//! [`Governance`]: every governance action, checked against the caller's role and ownership,
//! stored in one database transaction together with its audit entry (who, what, why).
//!
//! The actions live in the sibling modules, one per concern (`identities`, `registry`,
//! `agreements`, `operators`, `modules`, `applications`, `reviews`, `objections`, `quality`,
//! `gate`, `jobs`, `expiry`), each an `impl Governance` block.

use std::path::PathBuf;
use std::sync::Arc;

use super::refusals::{RefusalLimit, RefusalWindows};
use crate::audit::{AuditError, AuditLog};
use crate::store::{Store, StoreError};
use crate::time_zone::DomainZone;

/// Why a governance action was not done. Each maps to one HTTP status in the server (crate `shuyu-server`).
#[derive(Debug, thiserror::Error)]
pub enum GovError {
    /// No or unknown token (401).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Wrong role or not the owner (403); the message says which role or owner is needed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Unknown id (404); the message names the kind and id.
    #[error("not found: {0}")]
    NotFound(String),
    /// The action conflicts with the current state (409): duplicate application, review after
    /// its deadline, terminated agreement, ...
    #[error("conflict: {0}")]
    Conflict(String),
    /// A quota is reached (429); the message names the quota, its value and when it frees up.
    #[error("quota: {0}")]
    Quota(String),
    /// The input is invalid (422): bad USCI, out-of-scope column, bad manifest, ...
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database, the audit log or the file system failed (500). `message` says what the
    /// host was doing and includes the cause's text; `source` is the cause itself, for whoever
    /// walks the error chain.
    #[error("internal: {message}")]
    Internal {
        /// What failed, the cause's text included.
        message: String,
        /// The error that caused it, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

impl GovError {
    /// An internal failure with no underlying error (an invariant that does not hold).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// An internal failure caused by `cause`, while doing `context` (empty: the cause says
    /// it all).
    pub fn internal_from(
        context: impl std::fmt::Display,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let context = context.to_string();
        let message = if context.is_empty() {
            cause.to_string()
        } else {
            format!("{context}: {cause}")
        };
        Self::Internal {
            message,
            source: Some(Box::new(cause)),
        }
    }
}

/// The governance state of one domain.
#[derive(Debug, Clone)]
pub struct Governance {
    pub(crate) store: Arc<Store>,
    pub(crate) audit: Arc<AuditLog>,
    /// `<data-dir>/registry`: one folder per dataset version.
    pub(crate) registry_dir: PathBuf,
    /// `<data-dir>/modules`: uploaded modules by SHA-256.
    pub(crate) modules_dir: PathBuf,
    /// Per-identity windows of audited refusals (shared by clones).
    pub(crate) refusals: RefusalWindows,
    /// Where the domain's days begin and end (review deadlines).
    pub(crate) zone: DomainZone,
}

impl Governance {
    /// Governance over `store`, auditing into `audit`, with files under `data_dir`.
    pub fn new(store: Arc<Store>, audit: Arc<AuditLog>, data_dir: &std::path::Path) -> Self {
        Self {
            store,
            audit,
            registry_dir: data_dir.join("registry"),
            modules_dir: data_dir.join("modules"),
            refusals: RefusalWindows::new(RefusalLimit::default()),
            zone: DomainZone::default(),
        }
    }

    /// The same governance counting days in `zone` (default [`DomainZone::default`]).
    #[must_use]
    pub fn with_time_zone(mut self, zone: DomainZone) -> Self {
        self.zone = zone;
        self
    }

    /// The zone in which the domain's days are counted.
    pub fn time_zone(&self) -> DomainZone {
        self.zone
    }

    /// This governance with `limit` on the refusals audited per identity.
    pub fn with_refusal_limit(mut self, limit: RefusalLimit) -> Self {
        self.refusals = RefusalWindows::new(limit);
        self
    }
}

// The database and the audit log failing are internal errors: the caller did nothing wrong.
impl From<StoreError> for GovError {
    fn from(e: StoreError) -> Self {
        Self::internal_from("", e)
    }
}

impl From<AuditError> for GovError {
    fn from(e: AuditError) -> Self {
        Self::internal_from("audit log", e)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn internal_errors_keep_their_cause() {
        let store = StoreError::Io {
            path: PathBuf::from("/data"),
            source: std::io::Error::other("disk full"),
        };
        let error = GovError::from(store);
        assert_eq!(
            error.to_string(),
            "internal: /data: cannot create folder: disk full"
        );
        let cause = error.source().expect("the store error");
        let store = cause.downcast_ref::<StoreError>().expect("a StoreError");
        // ... and the operating system's error under it.
        let io = store.source().expect("the io error");
        assert_eq!(io.to_string(), "disk full");

        let error = GovError::internal_from("module store", std::io::Error::other("read-only"));
        assert_eq!(error.to_string(), "internal: module store: read-only");
        assert!(error
            .source()
            .and_then(|e| e.downcast_ref::<std::io::Error>())
            .is_some());
        assert!(GovError::internal("an invariant").source().is_none());
    }
}
