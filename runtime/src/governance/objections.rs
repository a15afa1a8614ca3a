//! Objections: anyone may object that a dataset harms their rights; the dataset is suspended at
//! once, and every job using it refused, until its provider resolves the objection by
//! withdrawing the dataset, restoring it, or restoring it after treatment (a new version).
//!
//! An objection against a dataset that an open objection already suspends is joined to that one
//! (kept with it, resolved with it), not a second objection that would need a resolution of its
//! own. A treatment is new data: a version whose data is byte-identical to the data objected to
//! is not one, and such data never comes back by being published again (`objected_data`).

use chrono::Utc;
use serde_json::json;

use super::access::{self, require, who};
use super::model::{
    Caller, DatasetStatus, DatasetVersion, Objection, ObjectionStatus, Page, PageRequest,
    Resolution, Role,
};
use super::page::PageSpec;
use super::registry::{dataset as load_dataset, open_objection, refresh_current};
use super::{GovError, Governance};
use crate::store::codec::{enum_text, next_id, ts};
use crate::store::governance::objections as db;
use crate::store::governance::registry as registry_db;
use crate::store::governance::Stamp;
use crate::store::Connection;

/// Whether `content_sha256` is data of `dataset` that an objection took out: a version withdrawn
/// with the whole dataset (resolved `withdraw`: published by the resolution) or replaced by a
/// treatment (`restore_after_treatment`: published by the filing). Returns that version and
/// the objection. Publishing such data again would bring back what was objected to.
pub(crate) fn objected_data(
    conn: &Connection,
    dataset: &str,
    versions: &[DatasetVersion],
    content_sha256: &str,
) -> Result<Option<(u32, String)>, GovError> {
    for objection in db::resolved_objections_of(conn, dataset)? {
        let cutoff = match objection.resolution {
            Some(Resolution::Withdraw) => objection.resolved_at,
            Some(Resolution::RestoreAfterTreatment) => Some(objection.filed_at),
            Some(Resolution::Restore) | None => None,
        };
        let Some(cutoff) = cutoff else { continue };
        if let Some(v) = versions
            .iter()
            .find(|v| v.published_at <= cutoff && v.content_sha256 == content_sha256)
        {
            return Ok(Some((v.version, objection.id)));
        }
    }
    Ok(None)
}

/// Loads one objection; unknown is [`GovError::NotFound`].
fn objection(conn: &Connection, id: &str) -> Result<Objection, GovError> {
    db::find_objection(conn, id)?.ok_or_else(|| GovError::NotFound(format!("objection '{id}'")))
}

impl Governance {
    /// Files an objection (any role): the dataset is suspended at once. Returns it and the ids
    /// of queued or running jobs using the dataset. With an objection against the dataset open
    /// already, the claim is joined to that one, which is returned.
    pub fn file_objection(
        &self,
        caller: &Caller,
        dataset: &str,
        reason: &str,
    ) -> Result<(Objection, Vec<String>), GovError> {
        let reason = access::required(reason, "the reason of the objection (the harm claimed)")?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let stored = load_dataset(tx, dataset)?;
            if stored.record.status == DatasetStatus::Withdrawn {
                return Err(GovError::Conflict(format!(
                    "dataset '{dataset}' is withdrawn; no job can use it"
                )));
            }
            if let Some(open) = open_objection(tx, dataset)? {
                db::insert_join(tx, &open, &caller.id, reason, now)?;
                let jobs = db::live_jobs_using(tx, dataset)?;
                self.record(
                    tx,
                    &caller.id,
                    "gov.objection.join",
                    &open,
                    None,
                    json!({
                        "dataset": dataset,
                        "reason": reason,
                        "dataset_status": enum_text(&stored.record.status),
                        "jobs_to_stop": jobs,
                    }),
                )?;
                return Ok((objection(tx, &open)?, jobs));
            }
            let id = next_id(tx, "objections", "obj")?;
            db::insert_objection(
                tx,
                &id,
                dataset,
                &caller.id,
                reason,
                ObjectionStatus::Open,
                now,
            )?;
            crate::store::governance::registry::set_dataset_status(
                tx,
                dataset,
                DatasetStatus::Suspended,
                &format!("objection {id}: {reason}"),
                Stamp {
                    by: &caller.id,
                    at: now,
                },
            )?;
            let jobs = db::live_jobs_using(tx, dataset)?;
            self.record(
                tx,
                &caller.id,
                "gov.objection.file",
                &id,
                None,
                json!({
                    "dataset": dataset,
                    "reason": reason,
                    "dataset_status": "suspended",
                    "jobs_to_stop": jobs,
                }),
            )?;
            Ok((objection(tx, &id)?, jobs))
        })
    }

    /// Resolves an objection (the dataset's provider).
    pub fn resolve_objection(
        &self,
        caller: &Caller,
        id: &str,
        resolution: Resolution,
        note: &str,
    ) -> Result<Objection, GovError> {
        require(caller, Role::Provider, "resolve objections")?;
        let note = access::required(note, "a note explaining the resolution")?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let found = objection(tx, id)?;
            let stored = load_dataset(tx, &found.dataset)?;
            let name = &found.dataset;
            if stored.record.provider != caller.id {
                return Err(GovError::Forbidden(format!(
                    "only the provider of dataset '{name}' ('{}') may resolve objection {id}; \
                     you are {}",
                    stored.record.provider,
                    who(caller)
                )));
            }
            if found.status != ObjectionStatus::Open {
                return Err(GovError::Conflict(format!(
                    "objection {id} is already resolved"
                )));
            }
            match resolution {
                Resolution::Withdraw => {
                    let why = format!("withdrawn after objection {id}");
                    db::withdraw_active_versions(tx, name, &why)?;
                }
                Resolution::Restore => {}
                Resolution::RestoreAfterTreatment => {
                    let versions = &stored.record.versions;
                    // The data objected to: every version published before the objection.
                    let objected: Vec<&DatasetVersion> = versions
                        .iter()
                        .filter(|v| v.published_at <= found.filed_at)
                        .collect();
                    let same_as = |v: &DatasetVersion| {
                        objected
                            .iter()
                            .find(|o| o.content_sha256 == v.content_sha256)
                            .map(|o| o.version)
                    };
                    let later: Vec<&DatasetVersion> = versions
                        .iter()
                        .filter(|v| v.active && v.published_at > found.filed_at)
                        .collect();
                    if later.is_empty() {
                        return Err(GovError::Conflict(format!(
                            "publish the treated version first: no active version of '{name}' \
                             was published after objection {id} was filed at {}",
                            ts(&found.filed_at)
                        )));
                    }
                    if later.iter().all(|v| same_as(v).is_some()) {
                        let v = later[later.len() - 1];
                        return Err(GovError::Conflict(format!(
                            "version {} of '{name}' has the same data (SHA-256 {}) as version \
                             {}, which objection {id} is about: re-uploading the same data is \
                             not a treatment; publish treated data, or resolve with restore if \
                             the objection is unfounded",
                            v.version,
                            v.content_sha256,
                            same_as(v).unwrap_or_default()
                        )));
                    }
                    // The untreated versions must not come back if the treated one is withdrawn,
                    // nor stay current as copies published after the objection.
                    let why = format!("replaced by a treated version after objection {id}");
                    db::withdraw_versions_published_by(tx, name, found.filed_at, &why)?;
                    for copy in later.iter().filter(|v| same_as(v).is_some()) {
                        let why = format!("the data objection {id} is about, not a treatment");
                        registry_db::withdraw_version(tx, name, copy.version, &why)?;
                    }
                }
            }
            db::resolve_objection(tx, id, ObjectionStatus::Resolved, resolution, note, now)?;
            let status = match resolution {
                Resolution::Withdraw => DatasetStatus::Withdrawn,
                // Another open objection keeps the dataset suspended.
                _ if open_objection(tx, name)?.is_some() => DatasetStatus::Suspended,
                _ => DatasetStatus::Active,
            };
            let stamp = Stamp {
                by: &caller.id,
                at: now,
            };
            let why = format!(
                "objection {id} resolved ({}): {note}",
                enum_text(&resolution)
            );
            crate::store::governance::registry::set_dataset_status(tx, name, status, &why, stamp)?;
            // With no active version left the dataset is withdrawn whatever was decided.
            refresh_current(tx, name, stamp)?;
            let after = load_dataset(tx, name)?;
            self.record(
                tx,
                &caller.id,
                "gov.objection.resolve",
                id,
                None,
                json!({
                    "dataset": name,
                    "resolution": enum_text(&resolution),
                    "note": note,
                    "dataset_status": enum_text(&after.record.status),
                    "current_version": after.record.current_version,
                }),
            )?;
            objection(tx, id)
        })
    }

    /// Lists objections (every role).
    pub fn list_objections(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Objection>, GovError> {
        // Objections are public within the domain: every role sees why a dataset is suspended.
        let _ = caller;
        let spec = PageSpec::new(page)?;
        self.store.read_with(|conn| {
            let items = db::objections_page(conn, spec.after(), spec.fetch())?
                .into_iter()
                .map(|item| (item.id.clone(), item))
                .collect();
            Ok(spec.finish(items))
        })
    }
}
