//! The governance gate (docs/concepts.md, "The path of a job"): a job starts only if its operator is active, its
//! agreement active and in term, its application approved and in term, no dataset it uses
//! suspended or withdrawn, and the module is the one the approval pinned. Every refusal names
//! the reason.

use crate::store::Connection;
use chrono::{DateTime, Utc};

use super::access::{self, not_found, require, IdentityRules};
use super::agreements::{agreement, AgreementRules};
use super::applications::{find_application, ApplicationRules};
use super::model::{ApplicationStatus, Caller, IdentityStatus, JobAuthorization, Role};
use super::refusals::{refusal_parts, Refusal, RULES};
use super::registry::{dataset_refusal, find_dataset};
use super::{GovError, Governance};

/// A refusal by the gate: the rule that refused (`None` for an internal error, which is not a
/// refusal), what the caller is answered, and, where that answer hides the truth (another
/// operator's application looks missing), what reviewers are told instead.
struct GateRefusal {
    rule: Option<&'static str>,
    error: GovError,
    audited: Option<String>,
}

impl From<GovError> for GateRefusal {
    fn from(error: GovError) -> Self {
        Self {
            rule: None,
            error,
            audited: None,
        }
    }
}

impl From<crate::store::StoreError> for GateRefusal {
    fn from(error: crate::store::StoreError) -> Self {
        GovError::from(error).into()
    }
}

/// A refusal under `rule` answered as a conflict with `reason`.
fn conflict(rule: &'static str, reason: String) -> GateRefusal {
    GateRefusal {
        rule: Some(rule),
        error: GovError::Conflict(reason),
        audited: None,
    }
}

/// The gate's checks, in the order docs/concepts.md lists them; the refusal names the first
/// failed and its rule (see `refusals::RULES`).
fn check_gate(
    conn: &Connection,
    caller: &Caller,
    id: &str,
    module_sha256: &str,
    now: DateTime<Utc>,
) -> Result<JobAuthorization, GateRefusal> {
    let Some(stored) = find_application(conn, id)? else {
        return Err(GateRefusal {
            rule: Some("application_unknown"),
            error: not_found("application", id),
            audited: None,
        });
    };
    let app = &stored.application;
    if app.operator != caller.id {
        // Another operator's application looks exactly like a missing one; only the log says
        // what it was.
        return Err(GateRefusal {
            rule: Some("application_of_another_operator"),
            error: not_found("application", id),
            audited: Some(format!(
                "application {id} belongs to operator '{}', not to '{}'",
                app.operator, caller.id
            )),
        });
    }
    let me = access::identity(conn, &caller.id)?;
    if let Some(reason) = me.operator_refusal() {
        let rule = match me.identity.status {
            IdentityStatus::Terminated => "operator_terminated",
            _ => "operator_suspended",
        };
        return Err(conflict(rule, reason));
    }
    if let Some(reason) = agreement(conn, &app.agreement)?.refusal(now) {
        return Err(conflict("agreement_not_in_force", reason));
    }
    if let Some(reason) = stored.refusal(now) {
        let rule = match stored.status_at(now) {
            ApplicationStatus::Pending => "application_pending",
            ApplicationStatus::Superseded => "application_superseded",
            _ => "application_not_approved",
        };
        return Err(conflict(rule, reason));
    }
    for name in stored.datasets() {
        let Some(dataset) = find_dataset(conn, &name)? else {
            return Err(conflict(
                "dataset_unavailable",
                format!("dataset '{name}' is not registered"),
            ));
        };
        if let Some(reason) = dataset_refusal(conn, &dataset)? {
            return Err(conflict("dataset_unavailable", reason));
        }
    }
    let pinned = &app.scenario.scenario.module_sha256;
    if module_sha256 != pinned {
        return Err(conflict(
            "module_not_pinned",
            format!(
                "module {module_sha256} is not the module pinned by application {id} ({pinned})"
            ),
        ));
    }
    Ok(JobAuthorization {
        application: id.to_string(),
        scenario: app.scenario.clone(),
    })
}

impl Governance {
    /// The governance gate: may this operator run this module under this application now?
    /// `Err(Conflict)` with the reason when not (suspended operator, terminated or expired
    /// agreement, application not approved or expired, dataset suspended or withdrawn, module not
    /// pinned). Checked again when a queued job starts; that check audits its refusal as the
    /// job's `gov.job.refused`, so this one writes nothing.
    pub fn authorize_job(
        &self,
        caller: &Caller,
        application: &str,
        module_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<JobAuthorization, GovError> {
        require(caller, Role::Operator, "run jobs")?;
        self.store
            .read_with(|conn| check_gate(conn, caller, application, module_sha256, now))
            .map_err(|refusal| refusal.error)
    }

    /// [`Governance::authorize_job`] for a job submission: a refusal is also audited
    /// (`refused.submitJob`, with its rule; see `refusals`), within the caller's rate limit.
    pub fn authorize_submission(
        &self,
        caller: &Caller,
        application: &str,
        module_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<JobAuthorization, GovError> {
        let checked = require(caller, Role::Operator, "run jobs")
            .map_err(|error| GateRefusal {
                rule: Some("role"),
                error,
                audited: None,
            })
            .and_then(|()| {
                self.store
                    .read_with(|conn| check_gate(conn, caller, application, module_sha256, now))
            });
        let refusal = match checked {
            Ok(auth) => return Ok(auth),
            Err(refusal) => refusal,
        };
        if let Some(rule) = refusal.rule {
            self.refuse_submission(caller, application, rule, &refusal.error, refusal.audited)?;
        }
        Err(refusal.error)
    }

    /// Audits a refused job submission under `rule`: what the caller was answered, or
    /// `audited` where that answer hides the reason.
    pub fn refuse_submission(
        &self,
        caller: &Caller,
        application: &str,
        rule: &str,
        error: &GovError,
        audited: Option<String>,
    ) -> Result<(), GovError> {
        debug_assert!(
            RULES.iter().any(|(listed, _)| *listed == rule),
            "gate rule '{rule}' is not in refusals::RULES"
        );
        let (status, message) = refusal_parts(error);
        self.record_refusal(&Refusal {
            caller: caller.clone(),
            operation: "submitJob".into(),
            target: application.to_string(),
            rule: rule.to_string(),
            status,
            message: audited.unwrap_or_else(|| message.to_string()),
        })?;
        Ok(())
    }
}
