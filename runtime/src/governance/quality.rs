//! Data-quality requests: an operator reports a problem with a dataset; its provider must answer
//! (once).

use chrono::Utc;
use serde_json::json;

use super::access::{self, require, require_any, who, IdentityRules};
use super::model::{Caller, IdentityStatus, Page, PageRequest, QualityRequest, Role};
use super::page::PageSpec;
use super::registry::dataset as load_dataset;
use super::{GovError, Governance};
use crate::store::codec::next_id;
use crate::store::governance::quality as db;
use crate::store::Connection;

/// Loads one request; unknown is [`GovError::NotFound`].
fn request(conn: &Connection, id: &str) -> Result<QualityRequest, GovError> {
    db::find_request(conn, id)?.ok_or_else(|| GovError::NotFound(format!("quality request '{id}'")))
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
            db::insert_request(tx, &id, dataset, &caller.id, description, now)?;
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
            db::answer_request(tx, id, answer, now)?;
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
            let items = db::requests_page(conn, spec.after(), operator, provider, spec.fetch())?
                .into_iter()
                .map(|item| (item.id.clone(), item))
                .collect();
            Ok(spec.finish(items))
        })
    }
}
