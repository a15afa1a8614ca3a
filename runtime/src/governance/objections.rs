//! Objections: anyone may object that a dataset harms their rights; the dataset is suspended at
//! once, and every job using it refused, until its provider resolves the objection by
//! withdrawing the dataset, restoring it, or restoring it after treatment (a new version).

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;

use super::access::{self, require, who};
use super::model::{
    Caller, DatasetStatus, Objection, ObjectionStatus, Page, PageRequest, Resolution, Role,
};
use super::operators::LIVE_JOB_STATES;
use super::registry::{dataset as load_dataset, open_objection, refresh_current};
use super::sql::{enum_text, next_id, parse_enum, parse_opt_ts, parse_ts, ts, PageSpec};
use super::{GovError, Governance};

/// Columns of `objections`, in the order [`objection_from_row`] expects.
const OBJECTION_COLUMNS: &str =
    "id, dataset, filed_by, reason, status, resolution, note, filed_at, resolved_at";

fn objection_from_row(row: &Row<'_>) -> Result<Objection, GovError> {
    let status: String = row.get(4)?;
    let resolution: Option<String> = row.get(5)?;
    let filed_at: String = row.get(7)?;
    Ok(Objection {
        id: row.get(0)?,
        dataset: row.get(1)?,
        filed_by: row.get(2)?,
        reason: row.get(3)?,
        status: parse_enum(&status)?,
        resolution: resolution.as_deref().map(parse_enum).transpose()?,
        note: row.get(6)?,
        filed_at: parse_ts(&filed_at)?,
        resolved_at: parse_opt_ts(row.get(8)?)?,
    })
}

/// Loads one objection; unknown is [`GovError::NotFound`].
fn objection(conn: &Connection, id: &str) -> Result<Objection, GovError> {
    conn.query_row(
        &format!("SELECT {OBJECTION_COLUMNS} FROM objections WHERE id = ?1"),
        params![id],
        |row| Ok(objection_from_row(row)),
    )
    .optional()?
    .transpose()?
    .ok_or_else(|| GovError::NotFound(format!("objection '{id}'")))
}

/// Ids of queued or running jobs whose application grants `dataset`.
fn live_jobs_using(conn: &Connection, dataset: &str) -> Result<Vec<String>, GovError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT j.id FROM jobs j JOIN application_datasets d ON d.application = j.application \
         WHERE d.dataset = ?1 AND j.state IN {LIVE_JOB_STATES} ORDER BY j.id"
    ))?;
    let ids = stmt
        .query_map(params![dataset], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
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
            tx.execute(
                &format!(
                    "INSERT INTO objections ({OBJECTION_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, NULL)"
                ),
                params![
                    id,
                    dataset,
                    caller.id,
                    reason,
                    enum_text(&ObjectionStatus::Open),
                    ts(&now)
                ],
            )?;
            tx.execute(
                "UPDATE datasets SET status = ?2 WHERE name = ?1",
                params![dataset, enum_text(&DatasetStatus::Suspended)],
            )?;
            let jobs = live_jobs_using(tx, dataset)?;
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
                    tx.execute(
                        "UPDATE dataset_versions SET active = 0, withdrawn_reason = ?2 \
                         WHERE dataset = ?1 AND active = 1",
                        params![name, format!("withdrawn after objection {id}")],
                    )?;
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
                    tx.execute(
                        "UPDATE dataset_versions SET active = 0, withdrawn_reason = ?3 \
                         WHERE dataset = ?1 AND active = 1 AND published_at <= ?2",
                        params![
                            name,
                            ts(&found.filed_at),
                            format!("replaced by a treated version after objection {id}")
                        ],
                    )?;
                }
            }
            tx.execute(
                "UPDATE objections SET status = ?2, resolution = ?3, note = ?4, resolved_at = ?5 \
                 WHERE id = ?1",
                params![
                    id,
                    enum_text(&ObjectionStatus::Resolved),
                    enum_text(&resolution),
                    note,
                    ts(&now)
                ],
            )?;
            let status = match resolution {
                Resolution::Withdraw => DatasetStatus::Withdrawn,
                // Another open objection keeps the dataset suspended.
                _ if open_objection(tx, name)?.is_some() => DatasetStatus::Suspended,
                _ => DatasetStatus::Active,
            };
            tx.execute(
                "UPDATE datasets SET status = ?2 WHERE name = ?1",
                params![name, enum_text(&status)],
            )?;
            // With no active version left the dataset is withdrawn whatever was decided.
            refresh_current(tx, name)?;
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
            let mut stmt = conn.prepare(&format!(
                "SELECT {OBJECTION_COLUMNS} FROM objections WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![spec.after(), spec.fetch()], |row| {
                Ok(objection_from_row(row))
            })?;
            let mut items = Vec::new();
            for row in rows {
                let item = row??;
                items.push((item.id.clone(), item));
            }
            Ok(spec.finish(items))
        })
    }
}
