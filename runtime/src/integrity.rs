//! `audit verify` for a whole domain: the log's own chain and checkpoints, then everything the
//! domain holds that the log must account for.
//!
//! The chain and its checkpoints catch an edited, reordered or rewritten log, but not a log cut
//! at its end together with the checkpoints after the cut: what is left is a valid, shorter log.
//! What the domain holds outside the log anchors it:
//!
//! - every product package on disk cites the hash of its `release` entry in its signed manifest
//!   (written before the package became visible), and that entry must be in the log;
//! - every product recorded for a job must have its `release` entry;
//! - every job record's state was written in one transaction with its `gov.job.<state>` entry,
//!   which must be in the log;
//! - every privacy debit was written with its `privacy.debit` entry (and a refund with its
//!   `privacy.refund` entry), which must be in the log;
//! - every service call was recorded with its `service.answer` entry, which must be in the log
//!   with the same outcome and answer, and every consent with its `gov.consent.grant` entry (a
//!   revoked one with its `gov.consent.revoke`);
//! - every head a reviewer kept outside the domain (`shuyu audit head`) must still be in the log
//!   with the same hash.
//!
//! A cut that removes all of these together (log tail, products, records and debits) is caught
//! only by a kept head: reviewers are asked to keep one after each review (`docs/reviewer.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::audit::{AuditError, AuditFilter, Checkpoint, Entry, VerifyReport};
use crate::budget::{ACTION_DEBIT, ACTION_REFUND};
use crate::domain::Domain;
use crate::governance::model::JobState;
use crate::store::StoreError;

/// What a successful domain verification covered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DomainReport {
    /// The log's own verification.
    pub log: VerifyReport,
    /// Product packages on disk, each verified and found in the log.
    pub products: u64,
    /// Product packages written before manifests cited their audit entry: verified, but not
    /// anchored in the log.
    pub products_unanchored: Vec<String>,
    /// Job records whose state the log holds.
    pub jobs: u64,
    /// Privacy debits (and refunds) the log holds.
    pub debits: u64,
    /// Heads kept outside the domain that the log still holds.
    pub kept_heads: u64,
    /// Service calls whose `service.answer` entry the log holds, with the same answer.
    pub service_calls: u64,
    /// Consents whose grant (and revocation) the log holds.
    pub consents: u64,
}

/// Why a domain does not verify.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// The log itself is altered, or a kept head is not in it.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something the domain holds is not accounted for by the log.
    #[error("{what}: {problem}")]
    Unaccounted {
        /// The product, job or debit.
        what: String,
        /// What the log lacks.
        problem: String,
    },
    /// A product package on disk does not verify.
    #[error("product {path}: {problem}")]
    Product {
        /// The package folder.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

fn unaccounted(what: String, problem: impl Into<String>) -> IntegrityError {
    IntegrityError::Unaccounted {
        what,
        problem: problem.into(),
    }
}

/// Verifies the log, every kept head in `kept`, and everything the domain holds against the log.
/// Stops at the first problem, naming it.
pub fn verify_domain(domain: &Domain, kept: &[Checkpoint]) -> Result<DomainReport, IntegrityError> {
    let key = domain.keys.public_key();
    let mut report = DomainReport {
        log: domain.audit.verify(&key)?,
        ..DomainReport::default()
    };
    for head in kept {
        domain.audit.verify_kept_head(&key, head)?;
        report.kept_heads += 1;
    }
    let truncated = "the log has no such entry (log truncated or rewritten)";

    let releases: BTreeMap<String, String> = entries(domain, "release")?
        .into_iter()
        .filter(|e| e.action == "release")
        .filter_map(|e| Some((e.details["product_id"].as_str()?.to_string(), e.hash)))
        .collect();
    check_products(domain, &releases, &mut report)?;
    let recorded = domain
        .store
        .read_with(crate::store::governance::jobs::recorded_products)?;
    for (product, job) in recorded {
        if !releases.contains_key(&product) {
            return Err(unaccounted(
                format!("product {product} of job {job}"),
                format!("recorded as released, but its `release` entry is missing: {truncated}"),
            ));
        }
    }

    let job_entries: BTreeSet<(String, String)> = entries(domain, "gov.job")?
        .into_iter()
        .filter_map(|e| Some((e.job_id?, e.action)))
        .collect();
    let jobs = domain
        .store
        .read_with(crate::store::governance::jobs::job_states)?;
    for (id, state) in jobs {
        let action = format!("gov.job.{}", state_name(state));
        if !job_entries.contains(&(id.clone(), action.clone())) {
            return Err(unaccounted(
                format!("job {id}"),
                format!(
                    "its record says {}, but the `{action}` entry is missing: {truncated}",
                    state_name(state)
                ),
            ));
        }
        report.jobs += 1;
    }

    let debited = debit_ids(domain, ACTION_DEBIT)?;
    let refunded = debit_ids(domain, ACTION_REFUND)?;
    let debits = domain.store.read_with(crate::store::budget::debit_states)?;
    for (id, was_refunded) in debits {
        if !debited.contains(&id) {
            return Err(unaccounted(
                format!("privacy debit {id}"),
                format!("the `{ACTION_DEBIT}` entry is missing: {truncated}"),
            ));
        }
        if was_refunded && !refunded.contains(&id) {
            return Err(unaccounted(
                format!("privacy debit {id}"),
                format!(
                    "recorded as refunded, but the `{ACTION_REFUND}` entry is missing: {truncated}"
                ),
            ));
        }
        report.debits += 1;
    }
    check_services(domain, &mut report)?;
    Ok(report)
}

/// Every service call has its `service.answer` entry with the same outcome and answer, and every
/// consent its grant (and revocation) entry.
fn check_services(domain: &Domain, report: &mut DomainReport) -> Result<(), IntegrityError> {
    let truncated = "the log has no such entry (log truncated or rewritten)";
    let answered: BTreeMap<String, serde_json::Value> = entries(domain, "service.answer")?
        .into_iter()
        .filter(|e| e.action == "service.answer")
        .map(|e| (e.subject, e.details))
        .collect();
    let calls = domain
        .store
        .read_with(crate::store::services::call_outcomes)?;
    for (id, outcome, answer) in calls {
        let Some(details) = answered.get(&id) else {
            return Err(unaccounted(
                format!("service call {id}"),
                format!("recorded, but its `service.answer` entry is missing: {truncated}"),
            ));
        };
        let recorded: Option<serde_json::Value> = answer
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| unaccounted(format!("service call {id}"), format!("answer: {e}")))?;
        let logged = Some(&details["answer"]).filter(|a| !a.is_null());
        if details["outcome"] != outcome.as_str() || logged != recorded.as_ref() {
            return Err(unaccounted(
                format!("service call {id}"),
                "its record and its `service.answer` entry disagree on what was answered",
            ));
        }
        report.service_calls += 1;
    }
    let granted: BTreeSet<String> = entries(domain, "gov.consent.grant")?
        .into_iter()
        .map(|e| e.subject)
        .collect();
    let revoked: BTreeSet<String> = entries(domain, "gov.consent.revoke")?
        .into_iter()
        .map(|e| e.subject)
        .collect();
    let consents = domain
        .store
        .read_with(crate::store::services::consent_states)?;
    for (id, was_revoked) in consents {
        if !granted.contains(&id) {
            return Err(unaccounted(
                format!("consent {id}"),
                format!("the `gov.consent.grant` entry is missing: {truncated}"),
            ));
        }
        if was_revoked && !revoked.contains(&id) {
            return Err(unaccounted(
                format!("consent {id}"),
                format!("recorded as revoked, but the `gov.consent.revoke` entry is missing: {truncated}"),
            ));
        }
        report.consents += 1;
    }
    Ok(())
}

/// Every package in the products folder: it must verify, and the `release` entry its manifest
/// cites must be in the log under its product id.
fn check_products(
    domain: &Domain,
    releases: &BTreeMap<String, String>,
    report: &mut DomainReport,
) -> Result<(), IntegrityError> {
    let dir = domain.products_dir();
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(IntegrityError::Product {
                path: dir,
                problem: format!("cannot list: {e}"),
            })
        }
    };
    let mut folders: Vec<PathBuf> = Vec::new();
    for item in listing {
        let item = item.map_err(|e| IntegrityError::Product {
            path: dir.clone(),
            problem: format!("cannot list: {e}"),
        })?;
        // Packages are staged under hidden names and renamed into place when complete.
        if item.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        folders.push(item.path());
    }
    folders.sort();
    let key = domain.keys.public_key();
    for path in folders {
        let verified =
            crate::product::verify_package(&path, &key).map_err(|e| IntegrityError::Product {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        let manifest = verified.manifest;
        let Some(cited) = manifest.audit_entry else {
            report.products_unanchored.push(manifest.product_id);
            continue;
        };
        match releases.get(&manifest.product_id) {
            Some(hash) if *hash == cited => report.products += 1,
            Some(hash) => {
                return Err(unaccounted(
                    format!("product {}", manifest.product_id),
                    format!(
                        "its manifest cites audit entry {cited}, but the log's `release` entry for it has hash {hash} (log rewritten)"
                    ),
                ))
            }
            None => {
                return Err(unaccounted(
                    format!("product {}", manifest.product_id),
                    format!(
                        "its manifest cites audit entry {cited}, which the log does not hold (log truncated or rewritten)"
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn entries(domain: &Domain, action: &str) -> Result<Vec<Entry>, IntegrityError> {
    Ok(domain.audit.search(&AuditFilter {
        action: Some(action.to_string()),
        ..AuditFilter::default()
    })?)
}

fn debit_ids(domain: &Domain, action: &str) -> Result<BTreeSet<String>, IntegrityError> {
    Ok(entries(domain, action)?
        .into_iter()
        .filter(|e| e.action == action)
        .filter_map(|e| Some(e.details["debit"].as_str()?.to_string()))
        .collect())
}

/// The state's wire name, as the `gov.job.<state>` actions spell it.
fn state_name(state: JobState) -> String {
    crate::store::codec::enum_text(&state)
}
