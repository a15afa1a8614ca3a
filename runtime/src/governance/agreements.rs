//! Authorization agreements: the bureau grants an operator access to datasets in a mode and
//! scope for a term, and may terminate it. An agreement past its term is expired, whether or not
//! `expire_due` has recorded it yet.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::access::{self, not_found, require, require_any, IdentityRules, StoredIdentity, SYSTEM};
use super::model::{
    Agreement, AgreementMode, AgreementStatus, ApplicationStatus, Caller, IdentityStatus,
    NewAgreement, Page, PageRequest, Role, StatusChange,
};
use super::page::PageSpec;
use super::registry::find_dataset;
use super::{GovError, Governance};
use crate::store::codec::{enum_text, ts};
use crate::store::governance::agreements as db;
use crate::store::governance::applications::set_status_and_reason;
use crate::store::governance::identities as identities_db;
use crate::store::governance::Stamp;
use crate::store::Connection;

/// The stored agreement row lives with its statements; its rules (`status_at`, `refusal`, ...)
/// live here.
pub(crate) use crate::store::governance::agreements::StoredAgreement;

/// Highest dataset security level.
const MAX_LEVEL: u8 = 4;

/// Longest term an agreement may have, in days: three years (with a leap day). Authorization
/// is granted for a bounded period and renewed by a new agreement, never open-ended.
pub(super) const MAX_TERM_DAYS: i64 = 1096;

/// The rules of a stored agreement: its status over time and why work under it is refused.
pub(crate) trait AgreementRules {
    /// The status at `now`: an active agreement whose term has ended is expired.
    fn status_at(&self, now: DateTime<Utc>) -> AgreementStatus;

    /// The agreement as shown at `now`, its operator being `operator`: suspended while the
    /// operator is suspended (terminated while it is terminated), expired past its term, and
    /// the change shown being the one that made it so.
    fn view(&self, now: DateTime<Utc>, operator: &StoredIdentity) -> Agreement;

    /// Why work under this agreement is refused at `now`, if it is.
    fn refusal(&self, now: DateTime<Utc>) -> Option<String>;
}

impl AgreementRules for StoredAgreement {
    fn status_at(&self, now: DateTime<Utc>) -> AgreementStatus {
        match self.agreement.status {
            AgreementStatus::Active if now >= self.agreement.term_end => AgreementStatus::Expired,
            status => status,
        }
    }

    fn view(&self, now: DateTime<Utc>, operator: &StoredIdentity) -> Agreement {
        let stored = self.status_at(now);
        let (status, status_change) = match (stored, operator.identity.status) {
            (AgreementStatus::Active, IdentityStatus::Suspended | IdentityStatus::Terminated) => {
                let status = match operator.identity.status {
                    IdentityStatus::Suspended => AgreementStatus::Suspended,
                    _ => AgreementStatus::Terminated,
                };
                let change = operator
                    .identity
                    .status_change
                    .clone()
                    .map(|c| StatusChange {
                        reason: Some(format!(
                            "operator '{}' {}: {}",
                            operator.identity.id,
                            enum_text(&operator.identity.status),
                            c.reason.as_deref().unwrap_or("no reason recorded")
                        )),
                        ..c
                    });
                (status, change)
            }
            (AgreementStatus::Expired, _) if self.agreement.status == AgreementStatus::Active => {
                // Not recorded yet: the clock says so.
                let change = StatusChange {
                    by: SYSTEM.to_string(),
                    at: self.agreement.term_end,
                    reason: Some(format!(
                        "its term ended at {}",
                        ts(&self.agreement.term_end)
                    )),
                };
                (stored, Some(change))
            }
            _ => (stored, self.agreement.status_change.clone()),
        };
        Agreement {
            status,
            status_change,
            ..self.agreement.clone()
        }
    }

    fn refusal(&self, now: DateTime<Utc>) -> Option<String> {
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
    db::find_agreement(conn, id)?.ok_or_else(|| not_found("agreement", id))
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
    if new.term_end - new.term_start > chrono::Duration::days(MAX_TERM_DAYS) {
        return Err(GovError::Invalid(format!(
            "the term from {} to {} is longer than the longest allowed, {MAX_TERM_DAYS} days \
             (three years); grant a shorter term and renew it with a new agreement",
            ts(&new.term_start),
            ts(&new.term_end)
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

/// Refuses a scope that names a dataset the registry does not know, or a domain (department)
/// that no provider identity belongs to (any mode): an agreement must grant something that
/// exists, and a misspelt name must not wait silently for something of that name to appear.
fn check_scope_names(conn: &Connection, new: &NewAgreement) -> Result<(), GovError> {
    for name in &new.scope.datasets {
        if find_dataset(conn, name)?.is_none() {
            return Err(GovError::Invalid(format!(
                "scope.datasets: dataset '{name}' is not registered"
            )));
        }
    }
    for department in &new.scope.domains {
        if identities_db::provider_of_department(conn, department)?.is_none() {
            return Err(GovError::Invalid(format!(
                "scope.domains: no provider identity belongs to department '{department}'"
            )));
        }
    }
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
            check_scope_names(tx, &new)?;
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
                id: db::next_agreement_id(tx)?,
                authorizer: caller.id.clone(),
                operator: new.operator.clone(),
                mode: new.mode,
                scope: new.scope.clone(),
                term_start: new.term_start,
                term_end: new.term_end,
                security_requirements: new.security_requirements.trim().to_string(),
                exit_conditions: new.exit_conditions.trim().to_string(),
                status: AgreementStatus::Active,
                status_change: None,
                created_at: now,
            };
            db::insert_agreement(tx, &agreement)?;
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

    /// Terminates an agreement: its applications that still hold their scenario are revoked at
    /// once (each audited `gov.application.revoke`, naming the agreement), its jobs are refused.
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
            let stamp = Stamp {
                by: &caller.id,
                at: now,
            };
            db::set_agreement_status(tx, id, AgreementStatus::Terminated, reason, stamp)?;
            let ended = db::live_applications_of_agreement(tx, id)?;
            self.record(
                tx,
                &caller.id,
                "gov.agreement.terminate",
                id,
                None,
                json!({
                    "operator": stored.agreement.operator,
                    "reason": reason,
                    "applications_revoked": ended,
                }),
            )?;
            let why = format!("agreement {id} was terminated: {reason}");
            for application in &ended {
                set_status_and_reason(
                    tx,
                    application,
                    ApplicationStatus::Revoked,
                    Some(&why),
                    stamp,
                )?;
                self.record(
                    tx,
                    &caller.id,
                    "gov.application.revoke",
                    application,
                    None,
                    json!({ "reason": why, "agreement": id, "cause": "agreement_terminated" }),
                )?;
            }
            let operator = access::identity(tx, &stored.agreement.operator)?;
            Ok(agreement(tx, id)?.view(now, &operator))
        })
    }

    /// Ids of the queued or running jobs working under an agreement (through its applications):
    /// the ones a termination must stop, since access ends with the agreement.
    pub fn live_jobs_of_agreement(&self, id: &str) -> Result<Vec<String>, GovError> {
        Ok(self
            .store
            .read(|conn| db::live_jobs_of_agreement(conn, id))?)
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
            let found = db::list_agreements(conn, spec.after(), only, spec.fetch())?;
            let mut operators: HashMap<String, StoredIdentity> = HashMap::new();
            let mut items = Vec::new();
            for stored in &found {
                let name = &stored.agreement.operator;
                if !operators.contains_key(name) {
                    operators.insert(name.clone(), access::identity(conn, name)?);
                }
                let operator = &operators[name];
                items.push((stored.agreement.id.clone(), stored.view(now, operator)));
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
        self.store.read_with(|conn| {
            let stored = agreement(conn, id)?;
            if caller.role == Role::Operator && stored.agreement.operator != caller.id {
                // Another operator's agreement looks exactly like a missing one.
                return Err(not_found("agreement", id));
            }
            let operator = access::identity(conn, &stored.agreement.operator)?;
            Ok(stored.view(Utc::now(), &operator))
        })
    }
}
