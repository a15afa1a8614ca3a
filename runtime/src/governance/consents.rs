//! Consents (授权) to services, the transparency view of the calls about one subject, and the
//! bureau's usage reports (docs/bureau.md, "Services and consents").
//!
//! An operator records the consent it collected (the subject's signed authorization stays with
//! the operator; the consent holds its SHA-256 as evidence). The operator or the bureau can
//! revoke it; from then on no call may cite it. Subjects appear only as subject references
//! (`shuyu_model::services`), which the caller of these functions computes.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::access::{self, require, require_any, who, IdentityRules};
use super::model::{Caller, IdentityStatus, Page, PageRequest, Role};
use super::page::PageSpec;
use super::{GovError, Governance};
use crate::store::codec::next_id;
use crate::store::services as db;
use crate::store::Connection;
use shuyu_model::services::{Consent, ConsentStatus, ServiceCall, SubjectKind, UsageRow};

/// Longest validity a consent may have: a subject's authorization is for a loan decision, not
/// for life.
const MAX_CONSENT_DAYS: i64 = 3 * 366;
/// Most days one usage report covers.
const MAX_USAGE_DAYS: i64 = 366;

/// A consent to record, as the operator describes it.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// `<scenario>.<service>`.
    pub service: String,
    /// The kind of the subject's identifier.
    pub subject_kind: SubjectKind,
    /// The subject reference of the identifier.
    pub subject_ref: String,
    /// What the subject agreed the answers are used for.
    pub purpose: String,
    /// SHA-256 (lowercase hex) of the signed authorization.
    pub evidence_sha256: String,
    /// First moment a call may cite it.
    pub valid_from: DateTime<Utc>,
    /// Last moment a call may cite it.
    pub valid_until: DateTime<Utc>,
}

/// Loads one consent; unknown is [`GovError::NotFound`].
pub(crate) fn consent(conn: &Connection, id: &str) -> Result<Consent, GovError> {
    db::find_consent(conn, id)?.ok_or_else(|| GovError::NotFound(format!("consent '{id}'")))
}

/// Whether `text` is a SHA-256 in lowercase hex.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Governance {
    /// Records a consent (operator): the subject agreed that this operator may call `service`
    /// about them for `purpose` between `valid_from` and `valid_until`. The service must be
    /// one of the operator's scenarios' `[[service]]` entries, about subjects of that kind.
    pub fn grant_consent(&self, caller: &Caller, new: NewConsent) -> Result<Consent, GovError> {
        require(caller, Role::Operator, "record consents")?;
        let purpose = access::required(&new.purpose, "the consent's purpose")?.to_string();
        if !is_sha256_hex(&new.evidence_sha256) {
            return Err(GovError::Invalid(
                "evidence_sha256 must be the SHA-256 of the signed authorization, as 64 \
                 lowercase hex characters"
                    .into(),
            ));
        }
        if new.valid_until <= new.valid_from {
            return Err(GovError::Invalid(
                "valid_until must be after valid_from".into(),
            ));
        }
        if (new.valid_until - new.valid_from).num_days() > MAX_CONSENT_DAYS {
            return Err(GovError::Invalid(format!(
                "a consent may be valid for at most {MAX_CONSENT_DAYS} days"
            )));
        }
        let now = Utc::now();
        if new.valid_until <= now {
            return Err(GovError::Invalid(
                "valid_until is in the past: the consent would never be in force".into(),
            ));
        }
        self.store.write_with(|tx| {
            let me = access::identity(tx, &caller.id)?;
            if me.identity.status != IdentityStatus::Active {
                return Err(GovError::Conflict(
                    me.operator_refusal().unwrap_or_default(),
                ));
            }
            let contract = self.service_of_operator(tx, caller, &new.service, now)?;
            if contract.subject != new.subject_kind {
                return Err(GovError::Invalid(format!(
                    "service '{}' is about subjects identified by {}, not {}",
                    new.service,
                    contract.subject.as_str(),
                    new.subject_kind.as_str()
                )));
            }
            let consent = Consent {
                id: next_id(tx, "consents", "cs")?,
                operator: caller.id.clone(),
                service: new.service.clone(),
                subject_kind: new.subject_kind,
                subject_ref: new.subject_ref.clone(),
                purpose: purpose.clone(),
                evidence_sha256: new.evidence_sha256.clone(),
                valid_from: new.valid_from,
                valid_until: new.valid_until,
                status: ConsentStatus::Active,
                granted_by: caller.id.clone(),
                granted_at: now,
                revoked_by: None,
                revoked_at: None,
                revoke_reason: None,
            };
            db::insert_consent(tx, &consent)?;
            self.record(
                tx,
                &caller.id,
                "gov.consent.grant",
                &consent.id,
                None,
                json!({
                    "service": consent.service,
                    "subject_kind": consent.subject_kind.as_str(),
                    "subject_ref": consent.subject_ref,
                    "purpose": consent.purpose,
                    "evidence_sha256": consent.evidence_sha256,
                    "valid_from": consent.valid_from.to_rfc3339(),
                    "valid_until": consent.valid_until.to_rfc3339(),
                }),
            )?;
            Ok(consent)
        })
    }

    /// Revokes a consent (its operator, or the bureau on the subject's request). Calls citing
    /// it are refused from now on; calls made before stay in the record.
    pub fn revoke_consent(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Consent, GovError> {
        require_any(caller, &[Role::Operator, Role::Bureau], "revoke consents")?;
        let reason = access::required(reason, "a reason")?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let found = consent(tx, id)?;
            if caller.role == Role::Operator && found.operator != caller.id {
                // Another operator's consent looks missing.
                return Err(GovError::NotFound(format!("consent '{id}'")));
            }
            if found.status == ConsentStatus::Revoked {
                return Err(GovError::Conflict(format!(
                    "consent {id} is already revoked"
                )));
            }
            db::revoke_consent(tx, id, &caller.id, now, reason)?;
            self.record(
                tx,
                &caller.id,
                "gov.consent.revoke",
                id,
                None,
                json!({ "reason": reason, "service": found.service,
                        "subject_ref": found.subject_ref }),
            )?;
            consent(tx, id)
        })
    }

    /// One consent: its operator, the bureau or a reviewer.
    pub fn get_consent(&self, caller: &Caller, id: &str) -> Result<Consent, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Bureau, Role::Reviewer],
            "read consents",
        )?;
        let found = self.store.read_with(|conn| consent(conn, id))?;
        if caller.role == Role::Operator && found.operator != caller.id {
            return Err(GovError::NotFound(format!("consent '{id}'")));
        }
        Ok(found)
    }

    /// Consents in id order: an operator sees its own; the bureau and reviewers see all, or
    /// only those of `subject_ref` when given.
    pub fn list_consents(
        &self,
        caller: &Caller,
        subject_ref: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Consent>, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Bureau, Role::Reviewer],
            "list consents",
        )?;
        let spec = PageSpec::new(page)?;
        let operator = if caller.role == Role::Operator {
            caller.id.as_str()
        } else {
            ""
        };
        let fetch = usize::try_from(spec.fetch()).unwrap_or(usize::MAX);
        self.store.write_with(|conn| {
            if let Some(subject_ref) = subject_ref {
                // As for `calls_about`: looking a subject up is audited.
                self.record(
                    conn,
                    &caller.id,
                    "gov.subject.lookup",
                    subject_ref,
                    None,
                    json!({ "looked_up": "consents" }),
                )?;
            }
            let items = db::consents_page(
                conn,
                spec.after(),
                operator,
                subject_ref.unwrap_or(""),
                fetch,
            )?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
            Ok(spec.finish(items))
        })
    }

    /// The transparency view (bureau, reviewers): every call made about the subject of
    /// `subject_ref` — who, when, which service, under which consent, what was answered —
    /// oldest first, paged by call id.
    pub fn calls_about(
        &self,
        caller: &Caller,
        subject_ref: &str,
        page: &PageRequest,
    ) -> Result<Page<ServiceCall>, GovError> {
        require_any(
            caller,
            &[Role::Bureau, Role::Reviewer],
            "list the calls about a subject",
        )?;
        let spec = PageSpec::new(page)?;
        let after = match spec.after.as_deref() {
            None | Some("") => 0,
            Some(cursor) => db::call_seq(cursor).ok_or_else(|| {
                GovError::Invalid(format!("'{cursor}' is not a call id cursor (call-...)"))
            })?,
        };
        let fetch = usize::try_from(spec.fetch()).unwrap_or(usize::MAX);
        // Looking a subject up is itself audited: who asked about whom, and when.
        self.store.write_with(|conn| {
            self.record(
                conn,
                &caller.id,
                "gov.subject.lookup",
                subject_ref,
                None,
                json!({ "looked_up": "calls" }),
            )?;
            let items = db::calls_of_subject(conn, subject_ref, after, fetch)?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
            Ok(spec.finish(items))
        })
    }

    /// One call (its operator, the bureau, reviewers).
    pub fn get_call(&self, caller: &Caller, id: &str) -> Result<ServiceCall, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Bureau, Role::Reviewer],
            "read service calls",
        )?;
        let missing = || GovError::NotFound(format!("service call '{id}'"));
        let seq = db::call_seq(id).ok_or_else(missing)?;
        let call = self
            .store
            .read_with(|conn| db::find_call(conn, seq))?
            .ok_or_else(missing)?;
        if caller.role == Role::Operator && call.operator != caller.id {
            return Err(missing());
        }
        Ok(call)
    }

    /// Usage per day, operator and service over `from..=to` (local days): the bureau and
    /// reviewers see every operator (or `operator` alone); an operator sees its own.
    pub fn service_usage(
        &self,
        caller: &Caller,
        from: NaiveDate,
        to: NaiveDate,
        operator: Option<&str>,
    ) -> Result<Vec<UsageRow>, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Bureau, Role::Reviewer],
            "read service usage",
        )?;
        if to < from {
            return Err(GovError::Invalid("'to' is before 'from'".into()));
        }
        if (to - from).num_days() >= MAX_USAGE_DAYS {
            return Err(GovError::Invalid(format!(
                "a usage report covers at most {MAX_USAGE_DAYS} days"
            )));
        }
        let operator = match caller.role {
            Role::Operator => {
                if operator.is_some_and(|o| o != caller.id) {
                    return Err(GovError::Forbidden(format!(
                        "an operator reads only its own usage; you are {}",
                        who(caller)
                    )));
                }
                caller.id.as_str()
            }
            _ => operator.unwrap_or(""),
        };
        Ok(self
            .store
            .read_with(|conn| db::usage(conn, from, to, operator))?)
    }
}
