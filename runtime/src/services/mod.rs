//! Verification and data services (数据核验、数据服务): answers about one consenting subject,
//! computed inside the domain (docs/operator.md "Writing a service module", docs/bureau.md
//! "Services and consents", docs/security.md "What one answer can reveal").
//!
//! ```text
//! call(service, subject id, consent, params)
//!   ─▶ operator rate ─▶ gate (operator, agreement, application, datasets) + consent in force
//!   ─▶ subject id well-formed and the consent's ─▶ params checked ─▶ service rate
//!   ─▶ prepared service (subject index, module) ─▶ subject's rows found by one lookup
//!   ─▶ quotas: operator and service per day, the consent's calls over its life
//!   ─▶ answer run: fresh instance, only this subject's rows and the request row
//!   ─▶ guard: the answer fits the contract
//!   ─▶ service_calls row + audit `service.answer` (one transaction) ─▶ reply at the fixed time
//! refusals before the run ─▶ audit `refused.callService` with the rule (windowed per caller)
//! ```
//!
//! **What the caller can observe, and why it is bounded by the contract.** The reply is the
//! checked answer (declared values and buckets only) or a uniform "no answer". It is sent when
//! the service's `timeout_ms` has passed since the run started, whatever the run did, so its
//! timing carries nothing the module chose: the run must end a fifth of that time earlier (or it
//! is cut off and the call has no answer), which leaves the check and the record inside the
//! fixed time. Log lines, fuel and the reason a run failed go to the audit log, for
//! reviewers, never to the caller.

mod host;
mod meter;
mod prepared;
mod subject;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::Domain;
use crate::governance::model::Caller;
use crate::governance::{
    refusal_parts, GovError, Governance, Refusal, ServiceAuthorization, ServiceRefusal,
};
use crate::guard::service::{check_answer, check_answer_rows, check_params};
use crate::keys::DomainKeys;
use crate::sandbox::{Fault, LimitKind, RunOutcome, Sandbox};
use crate::store::services::{self as db, NewCall};
use host::{AnswerChunk, AnswerHost, RunYield};
pub use meter::ServiceLimits;
use meter::{Meter, OverLimit};
use prepared::{Builder, PrepareError, PreparedKey, PreparedServices};
pub use shuyu_model::services::{
    CallOutcome, Consent, ConsentStatus, ServiceCall, SubjectKind, UsageRow,
};
use subject::{check_identifier, SubjectRefs};

/// The refusal rules of service calls (`details.rule` of `refused.callService`), each explained
/// in docs/reviewer.md. The job gate's rules (operator, agreement, application, dataset) apply
/// too, under their own names.
pub const CALL_RULES: &[(&str, &str)] = &[
    (
        "service_unknown",
        "no such service among the caller's scenarios",
    ),
    ("consent_unknown", "no such consent of the caller"),
    (
        "consent_not_covering",
        "the consent is for another service or subject",
    ),
    ("consent_revoked", "the consent was revoked"),
    (
        "consent_not_in_force",
        "the consent is not yet or no longer valid",
    ),
    (
        "identifier_malformed",
        "the subject's identifier is not well-formed",
    ),
    (
        "params_invalid",
        "a request parameter is missing, undeclared, or out of its range",
    ),
    (
        "rate_limited",
        "more calls per second than the operator or service may make",
    ),
    (
        "daily_quota",
        "the operator's or service's calls for the day are used up",
    ),
    (
        "consent_calls_used",
        "the consent's calls (calls_per_consent) are used up",
    ),
    (
        "service_busy",
        "the scenario already has its most answer runs in flight",
    ),
    (
        "subject_unknown",
        "no granted dataset has rows of the subject",
    ),
    (
        "service_module_invalid",
        "the pinned module cannot answer (no shuyu_answer export)",
    ),
];

/// The failure every caller sees for a call without an answer: the reason stays in the audit
/// log, because the module chose it.
pub const NO_ANSWER: &str = "no_answer";

/// A call of a service, as the caller makes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The subject's identifier (its kind is the service's).
    pub subject: String,
    /// The consent the call cites (`cs-...`).
    pub consent: String,
    /// The declared request parameters.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The reply to a call that reached the module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallReply {
    /// The call's id (`call-...`), as recorded.
    pub call: String,
    /// The service.
    pub service: String,
    /// Answered, or failed without an answer.
    pub outcome: CallOutcome,
    /// The answer: each declared field with its declared value or bucket label.
    pub answer: Option<serde_json::Value>,
    /// [`NO_ANSWER`] when failed.
    pub failure: Option<String>,
    /// When the reply was made.
    pub at: DateTime<Utc>,
}

/// The services of one domain: answering calls, and what it keeps between them (prepared
/// services, rate and quota meters). Cheap to clone.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    governance: Governance,
    keys: Arc<DomainKeys>,
    sandbox: Arc<Sandbox>,
    runtime: tokio::runtime::Handle,
    limits: ServiceLimits,
    refs: SubjectRefs,
    meter: Meter,
    prepared: PreparedServices,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// A refusal with its rule.
fn refused(rule: &'static str, error: GovError) -> ServiceRefusal {
    ServiceRefusal {
        rule,
        error,
        audited: None,
    }
}

impl Services {
    /// The services of `domain`, under `governance`'s rules and `limits`.
    pub fn new(domain: &Domain, governance: Governance, limits: ServiceLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                governance,
                keys: domain.keys.clone(),
                sandbox: domain.sandbox.clone(),
                runtime: domain.runtime(),
                limits,
                refs: SubjectRefs::new(&domain.keys),
                meter: Meter::default(),
                prepared: PreparedServices::default(),
            }),
        }
    }

    /// The subject reference of identifier `id` of `kind` (checked first): what consents,
    /// calls and the audit log hold instead of the identifier.
    ///
    /// # Errors
    /// [`GovError::Invalid`] for an identifier that is not well-formed.
    pub fn subject_ref(&self, kind: SubjectKind, id: &str) -> Result<String, GovError> {
        check_identifier(kind, id).map_err(GovError::Invalid)?;
        Ok(self.inner.refs.of(kind, id))
    }

    /// Answers one call of `service_id` (`<scenario>.<service>`). Blocks until the reply time
    /// (see the module docs): call it from a blocking thread.
    ///
    /// # Errors
    /// A refusal before the module ran, audited under its rule (see [`CALL_RULES`]).
    pub fn answer(
        &self,
        caller: &Caller,
        service_id: &str,
        request: &CallRequest,
    ) -> Result<CallReply, GovError> {
        let arrived = Instant::now();
        match self.admit(caller, service_id, request) {
            Ok(admitted) => self.run_and_record(caller, service_id, admitted, arrived),
            Err(refusal) => {
                if refusal.rule != "internal" {
                    let (status, message) = refusal_parts(&refusal.error);
                    self.inner.governance.record_refusal(&Refusal {
                        caller: caller.clone(),
                        operation: "callService".into(),
                        target: service_id.to_string(),
                        rule: refusal.rule.to_string(),
                        status,
                        message: refusal.audited.unwrap_or_else(|| message.to_string()),
                    })?;
                }
                Err(refusal.error)
            }
        }
    }

    /// Everything before the run: limits, the gate, the consent, the parameters, the subject.
    fn admit(
        &self,
        caller: &Caller,
        service_id: &str,
        request: &CallRequest,
    ) -> Result<Admitted, ServiceRefusal> {
        let inner = &self.inner;
        let now = Utc::now();
        let over = |o: OverLimit| refused(o.rule, GovError::Quota(o.message));
        inner
            .meter
            .take(
                &format!("op:{}", caller.id),
                inner.limits.operator_rate_per_second,
                &format!("operator '{}'", caller.id),
            )
            .map_err(over)?;
        let auth =
            inner
                .governance
                .authorize_service_call(caller, service_id, &request.consent, now)?;
        let kind = auth.contract.subject;
        check_identifier(kind, &request.subject)
            .map_err(|m| refused("identifier_malformed", GovError::Invalid(m)))?;
        let subject_ref = inner.refs.of(kind, &request.subject);
        if auth.consent.subject_ref != subject_ref {
            return Err(refused(
                "consent_not_covering",
                GovError::Conflict(format!("consent {} is not this subject's", auth.consent.id)),
            ));
        }
        let request_row = check_params(&auth.contract, &request.params)
            .map_err(|m| refused("params_invalid", GovError::Invalid(m)))?;
        inner
            .meter
            .take(
                &format!("svc:{service_id}"),
                auth.contract.rate_per_second,
                &format!("service {service_id}"),
            )
            .map_err(over)?;
        let prepared = self.prepare(&auth.application, &auth.scenario)?;
        let Some(entity) = prepared.entity_of(&request.subject) else {
            return Err(refused(
                "subject_unknown",
                GovError::NotFound(format!(
                    "no dataset of service {service_id} has records of this subject"
                )),
            ));
        };
        let Some(permit) = prepared.try_run() else {
            return Err(refused(
                "service_busy",
                GovError::Quota(format!(
                    "service {service_id}'s scenario has {} calls running, the most it may; \
                     try again in a moment",
                    prepared::MAX_RUNS_PER_SCENARIO
                )),
            ));
        };
        // Quotas last: only a call that will run uses one.
        self.reserve_quotas(caller, service_id, &auth, now)?;
        Ok(Admitted {
            auth,
            subject_ref,
            request_row,
            prepared,
            entity,
            permit,
        })
    }

    /// Reserves one unit of each quota the call counts against: the operator's and the
    /// service's of the day, and the consent's over its life (`calls_per_consent`, which keeps
    /// a caller from bisecting a subject's figures with many calls under one consent). A unit
    /// reserved before a later quota refuses is given back.
    fn reserve_quotas(
        &self,
        caller: &Caller,
        service_id: &str,
        auth: &ServiceAuthorization,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceRefusal> {
        let inner = &self.inner;
        let day = inner.governance.time_zone().date_of(&now);
        let store = &inner.governance.store;
        let count = |operator: &str, service: &str| {
            store
                .read(|conn| db::calls_on(conn, day, operator, service))
                .unwrap_or(u64::MAX)
        };
        let consent = &auth.consent.id;
        let quotas = [
            (
                format!("op:{}", caller.id),
                day,
                inner.limits.operator_daily_quota,
                format!("operator '{}'", caller.id),
                Box::new(|| count(&caller.id, "")) as Box<dyn Fn() -> u64>,
            ),
            (
                format!("svc:{service_id}"),
                day,
                auth.contract.daily_quota,
                format!("service {service_id}"),
                Box::new(|| count("", service_id)),
            ),
            (
                format!("cs:{consent}"),
                // A consent's quota is for its whole life, not per day.
                chrono::NaiveDate::MIN,
                u64::from(auth.contract.calls_per_consent),
                format!("consent {consent}"),
                Box::new(|| {
                    store
                        .read(|conn| db::calls_under(conn, consent))
                        .unwrap_or(u64::MAX)
                }),
            ),
        ];
        for (i, (key, period, quota, what, recorded)) in quotas.iter().enumerate() {
            if let Err(over) = inner.meter.reserve(key, *period, *quota, what, recorded) {
                for (key, ..) in &quotas[..i] {
                    inner.meter.give_back(key);
                }
                return Err(refused(over.rule, GovError::Quota(over.message)));
            }
        }
        Ok(())
    }

    /// Prepares every service of every application in force that is not prepared from its
    /// current datasets yet: the subject index is then built before the first call rather
    /// than during it. Returns the scenarios whose services were prepared now. The server calls it when it starts
    /// and then periodically; a failure is logged and retried by the next round or call.
    ///
    /// # Errors
    /// [`GovError::Internal`] when the applications cannot be read.
    pub fn warm(&self) -> Result<Vec<String>, GovError> {
        let mut prepared = Vec::new();
        let applications = self.inner.governance.service_applications(Utc::now())?;
        for (application, scenario) in applications {
            let id = scenario.scenario.id.clone();
            let before = self.inner.prepared.built_count();
            match self.prepare(&application, &scenario) {
                Ok(_) if self.inner.prepared.built_count() > before => prepared.push(id),
                Ok(_) => {}
                Err(refusal) => {
                    tracing::warn!(scenario = %id, error = %refusal.error, "cannot prepare its services");
                }
            }
        }
        Ok(prepared)
    }

    /// The prepared services of `scenario` (one subject index and module for all of them),
    /// built if needed.
    fn prepare(
        &self,
        application: &str,
        scenario: &crate::governance::ScenarioFile,
    ) -> Result<Arc<prepared::Prepared>, ServiceRefusal> {
        let inner = &self.inner;
        let id = scenario.scenario.id.as_str();
        let datasets: Vec<String> = scenario.grants.iter().map(|g| g.dataset.clone()).collect();
        let key = PreparedKey {
            application: application.to_string(),
            versions: inner.governance.current_versions(&datasets)?,
        };
        let builder = Builder {
            governance: &inner.governance,
            keys: &inner.keys,
            sandbox: &inner.sandbox,
            runtime: &inner.runtime,
            max_bytes: usize::try_from(u64::from(inner.limits.index_memory_mib) << 20)
                .unwrap_or(usize::MAX),
        };
        let started = Instant::now();
        let prepared = inner
            .prepared
            .get_or_build(id, key, |key| {
                let built = builder.build(scenario, key);
                if let Ok(p) = &built {
                    tracing::info!(
                        scenario = id,
                        subjects = p.index.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "services prepared: subject index built"
                    );
                }
                built
            })
            .map_err(|e| match e {
                PrepareError::Module(problem) => refused(
                    "service_module_invalid",
                    GovError::Conflict(format!(
                        "the services of scenario '{id}' cannot answer: its module {problem}"
                    )),
                ),
                PrepareError::Internal(error) => error.into(),
            })?;
        Ok(prepared)
    }

    /// Runs the answer, waits until the reply time, records the call and replies.
    fn run_and_record(
        &self,
        caller: &Caller,
        service_id: &str,
        admitted: Admitted,
        arrived: Instant,
    ) -> Result<CallReply, GovError> {
        let Admitted {
            auth,
            subject_ref,
            request_row,
            prepared,
            entity,
            permit,
        } = admitted;
        let timeout = Duration::from_millis(u64::from(auth.contract.timeout_ms));
        let started = Instant::now();
        let reply_at = started + timeout;
        // The run ends a fifth of the reply time (at least 2 ms) before the reply, so that
        // checking and recording its answer fit before the reply leaves.
        let margin = (timeout / 5).max(Duration::from_millis(2));
        let run_end = reply_at.checked_sub(margin).unwrap_or(reply_at);
        let out = Arc::new(Mutex::new(RunYield::default()));
        let host = AnswerHost::new(
            prepared.clone(),
            auth.contract.name.clone(),
            entity,
            request_row,
            out.clone(),
        );
        let outcome = run_until(&prepared, host, run_end, permit);
        let yielded = std::mem::take(&mut *out.lock().unwrap_or_else(|p| p.into_inner()));
        let (answer, detail) = match &outcome {
            Some(run) => judge(&auth, run, &yielded),
            None => (None, Fault::Limit(LimitKind::AnswerTime).code()),
        };
        // Recorded before the reply leaves, with the moment it will leave.
        let until_reply = reply_at.saturating_duration_since(Instant::now());
        let at = Utc::now() + chrono::Duration::from_std(until_reply).unwrap_or_default();
        let day = self.inner.governance.time_zone().date_of(&at);
        let latency_us = u64::try_from(reply_at.saturating_duration_since(arrived).as_micros())
            .unwrap_or(u64::MAX);
        let outcome_kind = if answer.is_some() {
            CallOutcome::Answered
        } else {
            CallOutcome::Failed
        };
        let answer_text = answer.as_ref().map(|a| a.to_string());
        let governance = &self.inner.governance;
        let seq = governance.store.write_with(|tx| {
            let seq = db::insert_call(
                tx,
                &NewCall {
                    at,
                    day,
                    operator: &caller.id,
                    service: service_id,
                    application: &auth.application,
                    consent: &auth.consent.id,
                    subject_ref: &subject_ref,
                    outcome: outcome_kind,
                    answer: answer_text.as_deref(),
                    failure: (outcome_kind == CallOutcome::Failed).then_some(NO_ANSWER),
                    latency_us,
                },
            )?;
            let mut details = json!({
                "service": service_id,
                "application": auth.application,
                "consent": auth.consent.id,
                "subject_ref": subject_ref,
                "outcome": outcome_kind.as_str(),
                "answer": answer,
                "latency_us": latency_us,
                "run_us": u64::try_from(outcome.as_ref().map_or(timeout, |r| r.elapsed).as_micros()).unwrap_or(u64::MAX),
                "fuel_used": outcome.as_ref().map_or(0, |r| r.fuel_used),
            });
            if outcome_kind == CallOutcome::Failed {
                details["failure"] = json!(detail);
            }
            if yielded.answers_refused > 0 {
                details["answers_refused"] = json!(yielded.answers_refused);
            }
            if !yielded.log.is_empty() {
                details["log"] = json!(yielded.log);
                details["log_dropped"] = json!(yielded.log_dropped);
            }
            governance.record(
                tx,
                &caller.id,
                "service.answer",
                &db::call_id(seq),
                None,
                details,
            )?;
            Ok::<_, GovError>(seq)
        })?;
        // The reply leaves at the same moment whatever the run did.
        std::thread::sleep(reply_at.saturating_duration_since(Instant::now()));
        Ok(CallReply {
            call: db::call_id(seq),
            service: service_id.to_string(),
            outcome: outcome_kind,
            answer,
            failure: (outcome_kind == CallOutcome::Failed).then(|| NO_ANSWER.to_string()),
            at,
        })
    }
}

/// What `admit` hands to the run.
struct Admitted {
    auth: ServiceAuthorization,
    subject_ref: String,
    request_row: arrow::record_batch::RecordBatch,
    prepared: Arc<prepared::Prepared>,
    entity: usize,
    /// Held until the run ends (the reply may wait longer; the run's place is free by then).
    permit: prepared::RunPermit,
}

/// Runs the answer on a thread of its own and waits for it until `reply_at`; `None` when it is
/// still running then (it is interrupted at its next epoch tick, on its own thread).
fn run_until(
    prepared: &Arc<prepared::Prepared>,
    host: AnswerHost,
    reply_at: Instant,
    permit: prepared::RunPermit,
) -> Option<RunOutcome> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let runner = prepared.runner.clone();
    let spawned = std::thread::Builder::new()
        .name(crate::sandbox::GUEST_THREAD_NAME.into())
        .stack_size(crate::sandbox::ENTITY_THREAD_STACK_BYTES)
        .spawn(move || {
            let outcome = runner
                .run_single(Box::new(host), reply_at)
                .unwrap_or_else(RunOutcome::failed_with);
            // The scenario's place is free once the run has ended, even if it outlived its
            // call (cut off at its next epoch tick).
            drop(permit);
            let _ = sender.send(outcome);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start an answer run's thread");
        return Some(RunOutcome::failed_with(Fault::Internal(format!(
            "cannot start the answer thread: {e}"
        ))));
    }
    receiver
        .recv_timeout(reply_at.saturating_duration_since(Instant::now()))
        .ok()
}

/// The checked answer of a finished run, or `None` with why there is none (for the audit
/// log).
fn judge(
    auth: &ServiceAuthorization,
    run: &RunOutcome,
    yielded: &RunYield,
) -> (Option<serde_json::Value>, String) {
    match (&run.result, &yielded.answer) {
        (Ok(0), Some(chunk)) => match match chunk {
            AnswerChunk::Ipc(ipc) => check_answer(&auth.contract, ipc),
            AnswerChunk::Rows(rows) => check_answer_rows(&auth.contract, rows),
        } {
            Ok(answer) => match serde_json::to_value(&answer) {
                Ok(value) => (Some(value), String::new()),
                Err(e) => (None, format!("internal: {e}")),
            },
            Err(rule) => (None, format!("answer_refused: {rule}")),
        },
        (Ok(0), None) => (None, "no_answer_handed_over".into()),
        (Ok(code), _) => (None, format!("guest_error:{code}")),
        (Err(fault), _) => (None, fault.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::RunOutcome;

    /// The reviewer's guide names every rule a call can be refused under.
    #[test]
    fn the_reviewers_guide_names_every_call_rule() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reviewer.md");
        let guide = std::fs::read_to_string(path).expect("reviewer.md");
        let missing: Vec<&str> = CALL_RULES
            .iter()
            .map(|(rule, _)| *rule)
            .filter(|rule| !guide.contains(&format!("`{rule}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/reviewer.md does not name {missing:?}"
        );
    }

    #[test]
    fn subject_references_are_keyed_per_domain_and_kind_and_identifiers_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = DomainKeys::load_or_create(dir.path()).expect("keys");
        let other = tempfile::tempdir().expect("tempdir");
        let other_keys = DomainKeys::load_or_create(other.path()).expect("keys");
        let refs = SubjectRefs::new(&keys);
        let usci = &shuyu_datasets::make_usci("110105", "MA01ACME").expect("usci");
        let a = refs.of(SubjectKind::Usci, usci);
        assert_eq!(a, refs.of(SubjectKind::Usci, usci), "stable");
        assert_eq!(a.len(), 32);
        assert!(!a.contains(usci));
        assert_ne!(
            a,
            refs.of(SubjectKind::CitizenId, usci),
            "the kind is keyed in"
        );
        assert_ne!(a, SubjectRefs::new(&other_keys).of(SubjectKind::Usci, usci));
        // Not the pseudonym any scenario's jobs see for the same value.
        let job = crate::engine::Pseudonymizer::new(&keys.pseudonym_key("sme-prescreen"));
        assert_ne!(a, job.pseudonym(usci));
        assert!(check_identifier(SubjectKind::Usci, usci).is_ok());
        let mut wrong_check = usci.clone();
        let last = if wrong_check.ends_with('0') { "1" } else { "0" };
        wrong_check.replace_range(17.., last);
        assert!(check_identifier(SubjectKind::Usci, &wrong_check).is_err());
        assert!(check_identifier(SubjectKind::CitizenId, usci).is_err());
    }

    fn auth() -> ServiceAuthorization {
        let contract: crate::guard::service::ServiceContract = toml::from_str(
            r#"
            name = "s"
            subject = "usci"
            [[answer]]
            name = "band"
            values = ["A", "B"]
            "#,
        )
        .expect("contract");
        ServiceAuthorization {
            application: "app-000001".into(),
            scenario: crate::governance::ScenarioFile::from_toml_str(
                r#"
                grant = []
                [scenario]
                id = "s"
                title = "t"
                operator = "op"
                module_sha256 = "x"
                "#,
            )
            .expect("scenario"),
            contract,
            consent: shuyu_model::services::Consent {
                id: "cs-000001".into(),
                operator: "op".into(),
                service: "s.s".into(),
                subject_kind: SubjectKind::Usci,
                subject_ref: "r".into(),
                purpose: "p".into(),
                evidence_sha256: "e".into(),
                valid_from: Utc::now(),
                valid_until: Utc::now(),
                status: ConsentStatus::Active,
                granted_by: "op".into(),
                granted_at: Utc::now(),
                revoked_by: None,
                revoked_at: None,
                revoke_reason: None,
            },
        }
    }

    fn answer_chunk(band: &str) -> Vec<u8> {
        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![Field::new("band", DataType::Utf8, false)]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec![band]))],
        )
        .expect("batch");
        crate::engine::ipc::encode_stream(&batch).expect("ipc")
    }

    #[test]
    fn only_a_run_that_returned_zero_with_a_fitting_answer_is_answered() {
        let auth = auth();
        let finished = |code: i32| RunOutcome {
            result: Ok(code),
            ..RunOutcome::failed_with(Fault::Cancelled)
        };
        let given = |band: &str| RunYield {
            answer: Some(AnswerChunk::Ipc(answer_chunk(band))),
            ..RunYield::default()
        };
        let (answer, _) = judge(&auth, &finished(0), &given("B"));
        assert_eq!(answer, Some(serde_json::json!({ "band": "B" })));
        // The same answer as contribution rows, and one outside the contract.
        let as_rows = |band: &str| {
            let mut encoder = shuyu_abi::rows::Encoder::new(&["band"], &[]).expect("encoder");
            assert!(encoder.push(&[Some(band)], &[]));
            RunYield {
                answer: Some(AnswerChunk::Rows(encoder.bytes().to_vec())),
                ..RunYield::default()
            }
        };
        let (answer, _) = judge(&auth, &finished(0), &as_rows("B"));
        assert_eq!(answer, Some(serde_json::json!({ "band": "B" })));
        let (answer, detail) = judge(&auth, &finished(0), &as_rows("Z"));
        assert_eq!(answer, None);
        assert!(detail.contains("answer_refused"), "{detail}");
        let cases = [
            (finished(0), given("Z"), "answer_refused"),
            (finished(0), RunYield::default(), "no_answer_handed_over"),
            (finished(3), given("A"), "guest_error:3"),
            (
                RunOutcome::failed_with(Fault::Trap("unreachable".into())),
                given("A"),
                "trap",
            ),
        ];
        for (run, yielded, why) in cases {
            let (answer, detail) = judge(&auth, &run, &yielded);
            assert_eq!(answer, None, "{why}");
            assert!(detail.contains(why), "{detail}");
        }
    }
}
