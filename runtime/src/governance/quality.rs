//! Data-quality requests: an operator reports a problem with a dataset; its provider must answer
//! (once).

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;

use super::access::{self, require, require_any, who};
use super::model::{Caller, IdentityStatus, Page, PageRequest, QualityRequest, Role};
use super::registry::dataset as load_dataset;
use super::sql::{next_id, parse_opt_ts, parse_ts, ts, PageSpec};
use super::{GovError, Governance};

/// Columns of `quality_requests`, in the order [`request_from_row`] expects.
const REQUEST_COLUMNS: &str = "id, dataset, operator, description, answer, filed_at, answered_at";

fn request_from_row(row: &Row<'_>) -> Result<QualityRequest, GovError> {
    let filed_at: String = row.get(5)?;
    Ok(QualityRequest {
        id: row.get(0)?,
        dataset: row.get(1)?,
        operator: row.get(2)?,
        description: row.get(3)?,
        answer: row.get(4)?,
        filed_at: parse_ts(&filed_at)?,
        answered_at: parse_opt_ts(row.get(6)?)?,
    })
}

/// Loads one request; unknown is [`GovError::NotFound`].
fn request(conn: &Connection, id: &str) -> Result<QualityRequest, GovError> {
    conn.query_row(
        &format!("SELECT {REQUEST_COLUMNS} FROM quality_requests WHERE id = ?1"),
        params![id],
        |row| Ok(request_from_row(row)),
    )
    .optional()?
    .transpose()?
    .ok_or_else(|| GovError::NotFound(format!("quality request '{id}'")))
}

impl Governance {
    /// Files a quality request (operator).
    pub fn file_quality_request(
        &self,
        caller: &Caller,
        dataset: &str,
        description: &str,
    ) -> Result<QualityRequest, GovError> {
        require(caller, Role::Operator, "file quality requests")?;
        let description = access::required(description, "a description of the problem")?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let me = access::identity(tx, &caller.id)?;
            if me.identity.status == IdentityStatus::Terminated {
                return Err(GovError::Conflict(
                    me.operator_refusal().unwrap_or_default(),
                ));
            }
            load_dataset(tx, dataset)?;
            let id = next_id(tx, "quality_requests", "qr")?;
            tx.execute(
                &format!(
                    "INSERT INTO quality_requests ({REQUEST_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL)"
                ),
                params![id, dataset, caller.id, description, ts(&now)],
            )?;
            self.record(
                tx,
                &caller.id,
                "gov.quality.file",
                &id,
                None,
                json!({ "dataset": dataset, "description": description }),
            )?;
            request(tx, &id)
        })
    }

    /// Answers a quality request (the dataset's provider).
    pub fn answer_quality_request(
        &self,
        caller: &Caller,
        id: &str,
        answer: &str,
    ) -> Result<QualityRequest, GovError> {
        require(caller, Role::Provider, "answer quality requests")?;
        let answer = access::required(answer, "an answer")?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let found = request(tx, id)?;
            let stored = load_dataset(tx, &found.dataset)?;
            if stored.record.provider != caller.id {
                return Err(GovError::Forbidden(format!(
                    "only the provider of dataset '{}' ('{}') may answer quality request {id}; \
                     you are {}",
                    found.dataset,
                    stored.record.provider,
                    who(caller)
                )));
            }
            if found.answer.is_some() {
                return Err(GovError::Conflict(format!(
                    "quality request {id} is already answered"
                )));
            }
            tx.execute(
                "UPDATE quality_requests SET answer = ?2, answered_at = ?3 WHERE id = ?1",
                params![id, answer, ts(&now)],
            )?;
            self.record(
                tx,
                &caller.id,
                "gov.quality.answer",
                id,
                None,
                json!({ "dataset": found.dataset, "answer": answer }),
            )?;
            request(tx, id)
        })
    }

    /// Lists quality requests (operator: own; provider: its datasets'; bureau, reviewer: all).
    pub fn list_quality_requests(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<QualityRequest>, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Provider, Role::Bureau, Role::Reviewer],
            "list quality requests",
        )?;
        let spec = PageSpec::new(page)?;
        let operator = if caller.role == Role::Operator {
            caller.id.as_str()
        } else {
            ""
        };
        let provider = if caller.role == Role::Provider {
            caller.id.as_str()
        } else {
            ""
        };
        self.store.read_with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {REQUEST_COLUMNS} FROM quality_requests WHERE id > ?1 \
                 AND (?2 = '' OR operator = ?2) \
                 AND (?3 = '' OR dataset IN (SELECT name FROM datasets WHERE provider = ?3)) \
                 ORDER BY id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![spec.after(), operator, provider, spec.fetch()],
                |row| Ok(request_from_row(row)),
            )?;
            let mut items = Vec::new();
            for row in rows {
                let item = row??;
                items.push((item.id.clone(), item));
            }
            Ok(spec.finish(items))
        })
    }
}
