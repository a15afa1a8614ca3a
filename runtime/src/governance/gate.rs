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
use super::scenario::ScenarioFile;
use super::{GovError, Governance};
use shuyu_guard::service::ServiceContract;
use shuyu_model::services::{Consent, ConsentStatus};

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

/// A service call the gate let through: what the answer run needs.
#[derive(Debug, Clone)]
pub struct ServiceAuthorization {
    /// The approved application the call runs under.
    pub application: String,
    /// Its scenario.
    pub scenario: ScenarioFile,
    /// The service's contract as approved.
    pub contract: ServiceContract,
    /// The consent the call cites, valid now.
    pub consent: Consent,
}

/// A refused service call: the rule (see `services::CALL_RULES`, and the job gate's) and the
/// error answered.
#[derive(Debug)]
pub struct ServiceRefusal {
    /// The stable rule name.
    pub rule: &'static str,
    /// What the caller is answered.
    pub error: GovError,
    /// What reviewers are told, where the answer hides it.
    pub audited: Option<String>,
}

impl From<GovError> for ServiceRefusal {
    fn from(error: GovError) -> Self {
        Self {
            rule: "internal",
            error,
            audited: None,
        }
    }
}

impl From<crate::store::StoreError> for ServiceRefusal {
    fn from(error: crate::store::StoreError) -> Self {
        GovError::from(error).into()
    }
}

/// Splits a service id `<scenario>.<service>`.
pub(crate) fn split_service_id(id: &str) -> Result<(&str, &str), GovError> {
    match id.split_once('.') {
        Some((scenario, service)) if !scenario.is_empty() && !service.is_empty() => {
            Ok((scenario, service))
        }
        _ => Err(GovError::Invalid(format!(
            "'{id}' is not a service id; write <scenario>.<service>"
        ))),
    }
}

/// The caller's application of `scenario` a call runs under: the one approved and in term at
/// `now`, else the newest one (whose refusal then says why no call may run).
fn operator_application(
    conn: &Connection,
    caller: &Caller,
    scenario: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, GovError> {
    let mut newest = None;
    for id in crate::store::governance::applications::application_ids_of_scenario(conn, scenario)? {
        let Some(stored) = find_application(conn, &id)? else {
            continue;
        };
        if stored.application.operator != caller.id {
            continue;
        }
        if stored.status_at(now) == ApplicationStatus::Approved {
            return Ok(Some(id));
        }
        newest = Some(id);
    }
    Ok(newest)
}

impl Governance {
    /// Every application approved and in term at `now` whose scenario declares services, as
    /// (application id, scenario): what a server prepares ahead of the first call.
    pub fn service_applications(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, ScenarioFile)>, GovError> {
        self.store.read_with(|conn| {
            let mut found = Vec::new();
            let mut after = String::new();
            loop {
                let ids = crate::store::governance::applications::application_ids_page(
                    conn, &after, "", "", 500,
                )?;
                let Some(last) = ids.last().cloned() else {
                    break;
                };
                for id in ids {
                    let Some(stored) = find_application(conn, &id)? else {
                        continue;
                    };
                    if stored.status_at(now) == ApplicationStatus::Approved
                        && !stored.application.scenario.services.is_empty()
                    {
                        found.push((id, stored.application.scenario));
                    }
                }
                after = last;
            }
            Ok(found)
        })
    }

    /// The `[[service]]` contract `service_id` names among the caller's applications (any
    /// live one: consents may be recorded before approval). Unknown, and another operator's,
    /// are [`GovError::NotFound`].
    pub(crate) fn service_of_operator(
        &self,
        conn: &Connection,
        caller: &Caller,
        service_id: &str,
        now: DateTime<Utc>,
    ) -> Result<ServiceContract, GovError> {
        let (scenario, name) = split_service_id(service_id)?;
        let missing = || GovError::NotFound(format!("service '{service_id}'"));
        let application = operator_application(conn, caller, scenario, now)?.ok_or_else(missing)?;
        let stored = find_application(conn, &application)?.ok_or_else(missing)?;
        // A rejected, revoked or expired scenario has no service to consent to.
        if !stored.is_live(now) {
            return Err(GovError::Conflict(format!(
                "service '{service_id}' is not in force: its application {application} is {}",
                crate::store::codec::enum_text(&stored.status_at(now))
            )));
        }
        stored
            .application
            .scenario
            .services
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(missing)
    }

    /// The gate of one service call: the job gate's checks for the caller's application of the
    /// service's scenario (operator active, agreement in force, application approved and in
    /// term, datasets available), the service in its approved scenario, and a consent of this
    /// operator for this service, in force at `now` (whether it is the subject's is checked by
    /// the caller, which holds the identifier). Reads only; the caller audits a refusal
    /// (`Services::answer`).
    pub fn authorize_service_call(
        &self,
        caller: &Caller,
        service_id: &str,
        consent_id: &str,
        now: DateTime<Utc>,
    ) -> Result<ServiceAuthorization, ServiceRefusal> {
        let refuse = |rule: &'static str, error: GovError| ServiceRefusal {
            rule,
            error,
            audited: None,
        };
        require(caller, Role::Operator, "call services").map_err(|e| refuse("role", e))?;
        let (scenario, name) =
            split_service_id(service_id).map_err(|e| refuse("service_unknown", e))?;
        self.store.read_with(|conn| {
            let missing = || GovError::NotFound(format!("service '{service_id}'"));
            let Some(application) = operator_application(conn, caller, scenario, now)? else {
                return Err(refuse("service_unknown", missing()));
            };
            let stored = find_application(conn, &application)?
                .ok_or_else(|| refuse("service_unknown", missing()))?;
            let pinned = stored.application.scenario.scenario.module_sha256.clone();
            let authorized = check_gate(conn, caller, &application, &pinned, now).map_err(|g| {
                ServiceRefusal {
                    rule: g.rule.unwrap_or("internal"),
                    error: g.error,
                    audited: g.audited,
                }
            })?;
            let Some(contract) = authorized
                .scenario
                .services
                .iter()
                .find(|s| s.name == name)
                .cloned()
            else {
                return Err(refuse("service_unknown", missing()));
            };
            let Some(consent) = crate::store::services::find_consent(conn, consent_id)? else {
                return Err(refuse(
                    "consent_unknown",
                    GovError::NotFound(format!("consent '{consent_id}'")),
                ));
            };
            if consent.operator != caller.id {
                return Err(ServiceRefusal {
                    rule: "consent_unknown",
                    error: GovError::NotFound(format!("consent '{consent_id}'")),
                    audited: Some(format!(
                        "consent {consent_id} belongs to operator '{}', not to '{}'",
                        consent.operator, caller.id
                    )),
                });
            }
            if consent.service != service_id {
                return Err(refuse(
                    "consent_not_covering",
                    GovError::Conflict(format!(
                        "consent {consent_id} is for service {}, not {service_id}",
                        consent.service
                    )),
                ));
            }
            if let Some(reason) = consent.refusal(now) {
                let rule = if consent.status == ConsentStatus::Revoked {
                    "consent_revoked"
                } else {
                    "consent_not_in_force"
                };
                return Err(refuse(rule, GovError::Conflict(reason)));
            }
            Ok(ServiceAuthorization {
                application,
                scenario: authorized.scenario,
                contract,
                consent,
            })
        })
    }
}
