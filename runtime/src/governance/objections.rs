//! Objections: anyone may object that a dataset harms their rights; the dataset is suspended at
//! once, and every job using it refused, until its provider resolves the objection by
//! withdrawing the dataset, restoring it, or restoring it after treatment (a new version).

use chrono::Utc;
use serde_json::json;

use super::access::{self, require, who};
use super::model::{
    Caller, DatasetStatus, Objection, ObjectionStatus, Page, PageRequest, Resolution, Role,
};
use super::page::PageSpec;
use super::registry::{dataset as load_dataset, open_objection, refresh_current};
use super::{GovError, Governance};
use crate::store::codec::{enum_text, next_id, ts};
use crate::store::governance::objections as db;
use crate::store::governance::Stamp;
use crate::store::Connection;

/// Loads one objection; unknown is [`GovError::NotFound`].
fn objection(conn: &Connection, id: &str) -> Result<Objection, GovError> {
    db::find_objection(conn, id)?.ok_or_else(|| GovError::NotFound(format!("objection '{id}'")))
}

impl Governance {
    /// Files an objection (any role): the dataset is suspended at once. Returns it and the ids
    /// of queued or running jobs using the dataset.
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
                    let treated = stored
                        .record
                        .versions
                        .iter()
                        .any(|v| v.active && v.published_at > found.filed_at);
                    if !treated {
                        return Err(GovError::Conflict(format!(
                            "publish the treated version first: no active version of '{name}' \
                             was published after objection {id} was filed at {}",
                            ts(&found.filed_at)
                        )));
                    }
                    // The untreated versions must not come back if the treated one is withdrawn.
                    let why = format!("replaced by a treated version after objection {id}");
                    db::withdraw_versions_published_by(tx, name, found.filed_at, &why)?;
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
