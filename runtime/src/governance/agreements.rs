//! Authorization agreements: the bureau grants an operator access to datasets in a mode and
//! scope for a term, and may terminate it. An agreement past its term is expired, whether or not
//! `expire_due` has recorded it yet.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;

use super::access::{self, require, require_any, who};
use super::model::{
    Agreement, AgreementMode, AgreementStatus, Caller, NewAgreement, Page, PageRequest, Role,
};
use super::sql::{enum_text, from_json, next_id, parse_enum, parse_ts, to_json, ts, PageSpec};
use super::{GovError, Governance};

/// Highest dataset security level.
const MAX_LEVEL: u8 = 4;

/// Columns of `agreements`, in the order [`StoredAgreement::from_row`] expects.
const AGREEMENT_COLUMNS: &str = "id, authorizer, operator, mode, scope, term_start, term_end, \
     security_requirements, exit_conditions, status, status_reason, created_at";

/// An agreement as stored, with the reason of its status.
#[derive(Debug, Clone)]
pub(crate) struct StoredAgreement {
    /// The agreement, with its status as stored.
    pub agreement: Agreement,
    /// Why it was terminated.
    pub status_reason: Option<String>,
}

impl StoredAgreement {
    fn from_row(row: &Row<'_>) -> Result<Self, GovError> {
        let mode: String = row.get(3)?;
        let scope: String = row.get(4)?;
        let term_start: String = row.get(5)?;
        let term_end: String = row.get(6)?;
        let status: String = row.get(9)?;
        let created_at: String = row.get(11)?;
        Ok(Self {
            agreement: Agreement {
                id: row.get(0)?,
                authorizer: row.get(1)?,
                operator: row.get(2)?,
                mode: parse_enum(&mode)?,
                scope: from_json(&scope)?,
                term_start: parse_ts(&term_start)?,
                term_end: parse_ts(&term_end)?,
                security_requirements: row.get(7)?,
                exit_conditions: row.get(8)?,
                status: parse_enum(&status)?,
                created_at: parse_ts(&created_at)?,
            },
            status_reason: row.get(10)?,
        })
    }

    /// The status at `now`: an active agreement whose term has ended is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> AgreementStatus {
        match self.agreement.status {
            AgreementStatus::Active if now >= self.agreement.term_end => AgreementStatus::Expired,
            status => status,
        }
    }

    /// The agreement as shown at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> Agreement {
        Agreement {
            status: self.status_at(now),
            ..self.agreement.clone()
        }
    }

    /// Why work under this agreement is refused at `now`, if it is.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<String> {
        let a = &self.agreement;
        match self.status_at(now) {
            AgreementStatus::Active if now < a.term_start => Some(format!(
                "agreement {} starts at {}",
                a.id,
                ts(&a.term_start)
            )),
            AgreementStatus::Active => None,
            AgreementStatus::Expired => {
                Some(format!("agreement {} expired at {}", a.id, ts(&a.term_end)))
            }
            AgreementStatus::Terminated => Some(match &self.status_reason {
                Some(reason) => format!("agreement {} is terminated: {reason}", a.id),
                None => format!("agreement {} is terminated", a.id),
            }),
            AgreementStatus::Suspended => Some(format!("agreement {} is suspended", a.id)),
        }
    }
}

/// Loads one agreement; unknown is [`GovError::NotFound`].
pub(crate) fn agreement(conn: &Connection, id: &str) -> Result<StoredAgreement, GovError> {
    conn.query_row(
        &format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = ?1"),
        params![id],
        |row| Ok(StoredAgreement::from_row(row)),
    )
    .optional()?
    .transpose()?
    .ok_or_else(|| GovError::NotFound(format!("agreement '{id}'")))
}

/// Checks a new agreement's fields on their own.
fn check_new_agreement(new: &NewAgreement, now: DateTime<Utc>) -> Result<(), GovError> {
    if new.term_end <= new.term_start {
        return Err(GovError::Invalid(format!(
            "term_end ({}) must be after term_start ({})",
            ts(&new.term_end),
            ts(&new.term_start)
        )));
    }
    if new.term_end <= now {
        return Err(GovError::Invalid(format!(
            "the term would already have ended ({})",
            ts(&new.term_end)
        )));
    }
    if !(1..=MAX_LEVEL).contains(&new.scope.max_level) {
        return Err(GovError::Invalid(format!(
            "scope.max_level must be between 1 and {MAX_LEVEL}, not {}",
            new.scope.max_level
        )));
    }
    match new.mode {
        AgreementMode::Tiered if new.scope.datasets.is_empty() => {
            return Err(GovError::Invalid(
                "a tiered agreement must list its datasets (scope.datasets)".into(),
            ))
        }
        AgreementMode::Domain if new.scope.domains.is_empty() => {
            return Err(GovError::Invalid(
                "a domain agreement must list its domains, i.e. provider departments \
                 (scope.domains)"
                    .into(),
            ))
        }
        _ => {}
    }
    access::required(&new.security_requirements, "security_requirements")?;
    access::required(&new.exit_conditions, "exit_conditions")?;
    Ok(())
}

impl Governance {
    /// Grants an agreement.
    pub fn create_agreement(
        &self,
        caller: &Caller,
        new: NewAgreement,
    ) -> Result<Agreement, GovError> {
        require(caller, Role::Bureau, "grant agreements")?;
        let now = Utc::now();
        check_new_agreement(&new, now)?;
        self.store.write_with(|tx| {
            let operator = access::identity(tx, &new.operator)?;
            if operator.identity.role != Role::Operator {
                return Err(GovError::Invalid(format!(
                    "'{}' is a {}, not an operator",
                    new.operator,
                    operator.identity.role.as_str()
                )));
            }
            if let Some(refusal) = operator.operator_refusal() {
                return Err(GovError::Conflict(refusal));
            }
            let agreement = Agreement {
                id: next_id(tx, "agreements", "agr")?,
                authorizer: caller.id.clone(),
                operator: new.operator.clone(),
                mode: new.mode,
                scope: new.scope.clone(),
                term_start: new.term_start,
                term_end: new.term_end,
                security_requirements: new.security_requirements.trim().to_string(),
                exit_conditions: new.exit_conditions.trim().to_string(),
                status: AgreementStatus::Active,
                created_at: now,
            };
            tx.execute(
                &format!(
                    "INSERT INTO agreements ({AGREEMENT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11)"
                ),
                params![
                    agreement.id,
                    agreement.authorizer,
                    agreement.operator,
                    enum_text(&agreement.mode),
                    to_json(&agreement.scope)?,
                    ts(&agreement.term_start),
                    ts(&agreement.term_end),
                    agreement.security_requirements,
                    agreement.exit_conditions,
                    enum_text(&agreement.status),
                    ts(&agreement.created_at)
                ],
            )?;
            self.record(
                tx,
                &caller.id,
                "gov.agreement.create",
                &agreement.id,
                None,
                json!({
                    "operator": agreement.operator,
                    "mode": enum_text(&agreement.mode),
                    "scope": agreement.scope,
                    "term_start": ts(&agreement.term_start),
                    "term_end": ts(&agreement.term_end),
                }),
            )?;
            Ok(agreement)
        })
    }

    /// Terminates an agreement: its applications end, its jobs are refused.
    pub fn terminate_agreement(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Agreement, GovError> {
        require(caller, Role::Bureau, "terminate agreements")?;
        let reason = access::required(reason, "a reason for the termination")?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let stored = agreement(tx, id)?;
            match stored.status_at(now) {
                AgreementStatus::Terminated => {
                    return Err(GovError::Conflict(format!(
                        "agreement {id} is already terminated"
                    )))
                }
                AgreementStatus::Expired => {
                    return Err(GovError::Conflict(format!(
                        "agreement {id} expired at {}; there is nothing to terminate",
                        ts(&stored.agreement.term_end)
                    )))
                }
                AgreementStatus::Active | AgreementStatus::Suspended => {}
            }
            tx.execute(
                "UPDATE agreements SET status = ?2, status_reason = ?3 WHERE id = ?1",
                params![id, enum_text(&AgreementStatus::Terminated), reason],
            )?;
            self.record(
                tx,
                &caller.id,
                "gov.agreement.terminate",
                id,
                None,
                json!({ "operator": stored.agreement.operator, "reason": reason }),
            )?;
            Ok(agreement(tx, id)?.view(now))
        })
    }

    /// Ids of the queued or running jobs working under an agreement (through its applications):
    /// the ones a termination must stop, since access ends with the agreement.
    pub fn live_jobs_of_agreement(&self, id: &str) -> Result<Vec<String>, GovError> {
        self.store.read_with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT j.id FROM jobs j JOIN applications a ON j.application = a.id \
                 WHERE a.agreement = ?1 AND j.state IN {} ORDER BY j.id",
                super::operators::LIVE_JOB_STATES
            ))?;
            let ids = stmt
                .query_map(params![id], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
    }

    /// Lists agreements (bureau, reviewer: all; operator: own; provider: forbidden).
    pub fn list_agreements(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Agreement>, GovError> {
        require_any(
            caller,
            &[Role::Bureau, Role::Reviewer, Role::Operator],
            "list agreements",
        )?;
        let spec = PageSpec::new(page)?;
        let now = Utc::now();
        // Operators see their own; "" matches every operator for the others.
        let only = if caller.role == Role::Operator {
            caller.id.as_str()
        } else {
            ""
        };
        self.store.read_with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {AGREEMENT_COLUMNS} FROM agreements \
                 WHERE id > ?1 AND (?2 = '' OR operator = ?2) ORDER BY id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![spec.after(), only, spec.fetch()], |row| {
                Ok(StoredAgreement::from_row(row))
            })?;
            let mut items = Vec::new();
            for row in rows {
                let stored = row??;
                items.push((stored.agreement.id.clone(), stored.view(now)));
            }
            Ok(spec.finish(items))
        })
    }

    /// One agreement.
    pub fn get_agreement(&self, caller: &Caller, id: &str) -> Result<Agreement, GovError> {
        require_any(
            caller,
            &[Role::Bureau, Role::Reviewer, Role::Operator],
            "read agreements",
        )?;
        let stored = self.store.read_with(|conn| agreement(conn, id))?;
        if caller.role == Role::Operator && stored.agreement.operator != caller.id {
            return Err(GovError::Forbidden(format!(
                "agreement {id} belongs to operator '{}'; you are {}",
                stored.agreement.operator,
                who(caller)
            )));
        }
        Ok(stored.view(Utc::now()))
    }
}
