//! Scenario applications (一事一申请): an operator applies for one scenario under its agreement;
//! the bureau and every provider whose data it uses review it (see `reviews`); the bureau may
//! suspend, restore or revoke it. One live application per scenario id: a change to an approved
//! scenario is an amendment, which supersedes the approved one once it is approved itself.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::access::{self, not_found, require, IdentityRules};
use super::agreements::{agreement, AgreementRules, StoredAgreement};
use super::bindings;
use super::calendar::{load_calendar, review_deadline};
use super::effective::EffectiveContract;
use super::model::{
    AgreementMode, Application, ApplicationStatus, Caller, NewApplication, Page, PageRequest,
    ReviewKind, Role, StatusChange,
};
use super::modules::uploaded_by;
use super::page::PageSpec;
use super::registry::{dataset_refusal, find_dataset};
use super::{ApprovedScenario, GovError, Governance};
use crate::store::codec::{enum_text, next_id, ts};
use crate::store::governance::applications as db;
/// The stored application, re-exported where its rules (below) are.
pub(crate) use crate::store::governance::applications::StoredApplication;
use crate::store::governance::Stamp;
use crate::store::Connection;

/// The party of the bureau review until a bureau identity decides it.
pub(crate) const BUREAU_PARTY: &str = "bureau";

/// The rules of a stored application: its status over time, its view and why jobs under it are refused.
pub(crate) trait ApplicationRules {
    /// The status at `now`: a live application past `valid_until` is expired.
    fn status_at(&self, now: DateTime<Utc>) -> ApplicationStatus;

    /// Whether it still holds its scenario (pending, approved or suspended) at `now`.
    fn is_live(&self, now: DateTime<Utc>) -> bool;

    /// The application as shown at `now`: computed status, overdue reviews marked.
    fn view(&self, now: DateTime<Utc>) -> Application;

    /// Why jobs may not run under it at `now`, if they may not.
    fn refusal(&self, now: DateTime<Utc>) -> Option<String>;

    /// The granted dataset names, in grant order, without repeats.
    fn datasets(&self) -> Vec<String>;
}

impl ApplicationRules for StoredApplication {
    fn status_at(&self, now: DateTime<Utc>) -> ApplicationStatus {
        match self.application.status {
            ApplicationStatus::Pending
            | ApplicationStatus::Approved
            | ApplicationStatus::Suspended
                if now > self.application.valid_until =>
            {
                ApplicationStatus::Expired
            }
            status => status,
        }
    }

    fn is_live(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.status_at(now),
            ApplicationStatus::Pending | ApplicationStatus::Approved | ApplicationStatus::Suspended
        )
    }

    fn view(&self, now: DateTime<Utc>) -> Application {
        let mut application = self.application.clone();
        application.status = self.status_at(now);
        if application.status != self.application.status {
            // Expired by the clock, not recorded yet.
            application.status_change = Some(StatusChange {
                by: access::SYSTEM.to_string(),
                at: self.application.valid_until,
                reason: Some(format!("valid until {}", ts(&self.application.valid_until))),
            });
        }
        for review in &mut application.reviews {
            review.overdue = review.decision.is_none() && now > review.deadline;
        }
        application
    }

    fn refusal(&self, now: DateTime<Utc>) -> Option<String> {
        let id = &self.application.id;
        let status = self.status_at(now);
        let detail = match status {
            ApplicationStatus::Approved => return None,
            ApplicationStatus::Expired => {
                return Some(format!(
                    "application {id} expired at {}",
                    ts(&self.application.valid_until)
                ))
            }
            ApplicationStatus::Pending => {
                return Some(format!("application {id} is pending review"))
            }
            ApplicationStatus::Superseded => {
                return Some(match &self.status_reason {
                    Some(reason) => format!("application {id} is superseded ({reason})"),
                    None => format!("application {id} is superseded"),
                })
            }
            _ => self.status_reason.as_deref(),
        };
        let word = enum_text(&status);
        Some(match detail {
            Some(reason) => format!("application {id} is {word}: {reason}"),
            None => format!("application {id} is {word}"),
        })
    }

    fn datasets(&self) -> Vec<String> {
        granted_datasets(&self.application.scenario.grants)
    }
}

/// Dataset names of `grants`, in order, without repeats.
fn granted_datasets(grants: &[super::Grant]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    grants
        .iter()
        .filter(|g| seen.insert(g.dataset.clone()))
        .map(|g| g.dataset.clone())
        .collect()
}

/// Loads one application, `None` if unknown.
pub(crate) fn find_application(
    conn: &Connection,
    id: &str,
) -> Result<Option<StoredApplication>, GovError> {
    Ok(db::find_application(conn, id)?)
}

/// Loads one application; unknown is [`GovError::NotFound`].
pub(crate) fn application(conn: &Connection, id: &str) -> Result<StoredApplication, GovError> {
    db::find_application(conn, id)?.ok_or_else(|| not_found("application", id))
}

/// Refuses `caller` unless it may see `stored`: its operator, an involved provider, the bureau
/// or a reviewer. Anyone else is told what it would be told of a missing application.
fn check_visible(caller: &Caller, stored: &StoredApplication) -> Result<(), GovError> {
    let a = &stored.application;
    let visible = match caller.role {
        Role::Bureau | Role::Reviewer => true,
        Role::Operator => a.operator == caller.id,
        Role::Provider => a
            .reviews
            .iter()
            .any(|r| r.kind == ReviewKind::Provider && r.party == caller.id),
    };
    if visible {
        return Ok(());
    }
    Err(not_found("application", &a.id))
}

/// What a submission needs once checked: the reviewing providers and the granted datasets.
struct Submission {
    providers: Vec<String>,
    datasets: Vec<String>,
}

/// Checks that `dataset` is within the agreement's mode, scope and level.
fn check_scope(
    agreement: &StoredAgreement,
    name: &str,
    department: &str,
    level: u8,
) -> Result<(), GovError> {
    let a = &agreement.agreement;
    let in_scope = match a.mode {
        AgreementMode::Comprehensive => true,
        AgreementMode::Domain => a.scope.domains.iter().any(|d| d == department),
        AgreementMode::Tiered => a.scope.datasets.iter().any(|d| d == name),
    };
    if !in_scope {
        let listed = match a.mode {
            AgreementMode::Domain => format!(
                "department '{department}' is not among its domains ({})",
                a.scope.domains.join(", ")
            ),
            _ => format!("its datasets are {}", a.scope.datasets.join(", ")),
        };
        return Err(GovError::Invalid(format!(
            "dataset '{name}' is not in the scope of agreement {} ({} mode: {listed})",
            a.id,
            enum_text(&a.mode)
        )));
    }
    if level > a.scope.max_level {
        return Err(GovError::Invalid(format!(
            "dataset '{name}' has security level {level}, above the highest level {} that \
             agreement {} covers",
            a.scope.max_level, a.id
        )));
    }
    Ok(())
}

/// Checks everything about a submission that the database can tell (the catalog check of the
/// columns and contract is separate, because it reads files).
fn check_submission(
    conn: &Connection,
    caller: &Caller,
    new: &NewApplication,
    now: DateTime<Utc>,
) -> Result<Submission, GovError> {
    let me = access::identity(conn, &caller.id)?;
    if let Some(refusal) = me.operator_refusal() {
        return Err(GovError::Conflict(refusal));
    }
    let info = &new.scenario.scenario;
    if info.operator != caller.id {
        return Err(GovError::Invalid(format!(
            "scenario.operator is '{}' but you are '{}'; an operator applies only for its own \
             scenarios",
            info.operator, caller.id
        )));
    }
    let agreement = agreement(conn, &new.agreement)?;
    if agreement.agreement.operator != caller.id {
        // Another operator's agreement looks exactly like a missing one.
        return Err(not_found("agreement", &new.agreement));
    }
    if let Some(refusal) = agreement.refusal(now) {
        return Err(GovError::Conflict(refusal));
    }
    if new.valid_until <= now {
        return Err(GovError::Invalid(format!(
            "valid_until ({}) is not in the future",
            ts(&new.valid_until)
        )));
    }
    if new.valid_until > agreement.agreement.term_end {
        return Err(GovError::Invalid(format!(
            "valid_until ({}) is after the end of agreement {} ({})",
            ts(&new.valid_until),
            agreement.agreement.id,
            ts(&agreement.agreement.term_end)
        )));
    }
    if !uploaded_by(conn, &info.module_sha256, &caller.id)? {
        return Err(GovError::Invalid(format!(
            "module {} has not been uploaded by '{}'; upload it first",
            info.module_sha256, caller.id
        )));
    }
    let datasets = granted_datasets(&new.scenario.grants);
    let mut providers: Vec<String> = Vec::new();
    for name in &datasets {
        let Some(stored) = find_dataset(conn, name)? else {
            return Err(GovError::Invalid(format!(
                "grant: dataset '{name}' is not registered"
            )));
        };
        if let Some(refusal) = dataset_refusal(conn, &stored)? {
            return Err(GovError::Invalid(format!(
                "grant: {refusal}; it cannot be granted now"
            )));
        }
        check_scope(&agreement, name, &stored.department, stored.record.level)?;
        if !providers.contains(&stored.record.provider) {
            providers.push(stored.record.provider.clone());
        }
    }
    // Before the live-application check, whose messages name applications: those of an id
    // bound to the caller are the caller's own.
    bindings::check_free_or_own(conn, &info.id, &caller.id)?;
    check_one_live(conn, caller, new, now)?;
    Ok(Submission {
        providers,
        datasets,
    })
}

/// One live application per scenario, except an amendment of the approved one.
fn check_one_live(
    conn: &Connection,
    caller: &Caller,
    new: &NewApplication,
    now: DateTime<Utc>,
) -> Result<(), GovError> {
    let scenario_id = &new.scenario.scenario.id;
    let ids = db::application_ids_of_scenario(conn, scenario_id)?;
    let mut live = Vec::new();
    for id in ids {
        let stored = application(conn, &id)?;
        if stored.is_live(now) {
            live.push(stored);
        }
    }
    let describe = |s: &StoredApplication| match s.status_at(now) {
        ApplicationStatus::Pending => "pending review".to_string(),
        status => enum_text(&status),
    };
    let Some(amends) = &new.amends else {
        return match live.first() {
            None => Ok(()),
            Some(other) if other.status_at(now) == ApplicationStatus::Approved => {
                Err(GovError::Conflict(format!(
                    "scenario '{scenario_id}' already has application {id} (approved); file an \
                     amendment with amends={id}",
                    id = other.application.id
                )))
            }
            Some(other) => Err(GovError::Conflict(format!(
                "scenario '{scenario_id}' already has application {} ({}); one application per \
                 scenario",
                other.application.id,
                describe(other)
            ))),
        };
    };
    let target = application(conn, amends)?;
    // Ownership first: nothing about another operator's application (not even its scenario)
    // may show through, and it looks exactly like a missing one.
    if target.application.operator != caller.id {
        return Err(not_found("application", amends));
    }
    if &target.application.scenario_id != scenario_id {
        return Err(GovError::Invalid(format!(
            "amends={amends} is an application of scenario '{}', not '{scenario_id}'",
            target.application.scenario_id
        )));
    }
    if target.status_at(now) != ApplicationStatus::Approved {
        return Err(GovError::Conflict(format!(
            "application {amends} is {}; only an approved application can be amended",
            describe(&target)
        )));
    }
    if let Some(other) = live.iter().find(|s| s.application.id != *amends) {
        return Err(GovError::Conflict(format!(
            "scenario '{scenario_id}' already has application {} ({}) besides {amends}",
            other.application.id,
            describe(other)
        )));
    }
    Ok(())
}

/// Which bureau-only state change is asked for.
#[derive(Clone, Copy)]
enum BureauAction {
    Suspend,
    Restore,
    Revoke,
}

impl Governance {
    /// Submits an application (operator).
    pub fn submit_application(
        &self,
        caller: &Caller,
        new: NewApplication,
    ) -> Result<Application, GovError> {
        require(caller, Role::Operator, "submit applications")?;
        let now = Utc::now();
        // Cheap checks first, on a snapshot, so that a wrong request fails before files are read.
        let submission = self
            .store
            .read_with(|conn| check_submission(conn, caller, &new, now))?;
        let catalog = self.job_catalog(&submission.datasets)?;
        // The composition a job runs under; here nothing of it may be looser than a manifest,
        // so that what the reviewers approve is what the guard enforces.
        new.scenario
            .clone()
            .check(&catalog)
            .and_then(ApprovedScenario::refuse_looser)
            .map_err(|e| GovError::Invalid(e.to_string()))?;
        self.store.write_with(|tx| {
            // Again under the write lock: the state may have changed since the snapshot.
            let submission = check_submission(tx, caller, &new, now)?;
            let deadline = review_deadline(&load_calendar(tx)?, self.zone, now);
            let id = next_id(tx, "applications", "app")?;
            let info = &new.scenario.scenario;
            // The first application under an id binds it to the caller for ever (see
            // `bindings`); `check_submission` above refused an id bound to someone else.
            bindings::bind_in(tx, &self.audit, &caller.id, &info.id, &caller.id, now)?;
            db::insert_application(tx, &id, &caller.id, &new, ApplicationStatus::Pending, now)?;
            db::insert_application_datasets(tx, &id, &submission.datasets)?;
            let parties = std::iter::once((ReviewKind::Bureau, BUREAU_PARTY)).chain(
                submission
                    .providers
                    .iter()
                    .map(|p| (ReviewKind::Provider, p.as_str())),
            );
            for (position, (kind, party)) in parties.enumerate() {
                db::insert_review(tx, &id, position, kind, party, deadline)?;
            }
            self.record(
                tx,
                &caller.id,
                "gov.application.submit",
                &id,
                None,
                json!({
                    "scenario": info.id,
                    "agreement": new.agreement,
                    "module_sha256": info.module_sha256,
                    "datasets": submission.datasets,
                    "reviewers": submission.providers,
                    "amends": new.amends,
                    "valid_until": ts(&new.valid_until),
                    "review_deadline": ts(&deadline),
                }),
            )?;
            Ok(application(tx, &id)?.view(now))
        })
    }

    /// Lists applications (operator: own; provider: those touching its datasets; bureau,
    /// reviewer: all).
    pub fn list_applications(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Application>, GovError> {
        let spec = PageSpec::new(page)?;
        let now = Utc::now();
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
            let ids =
                db::application_ids_page(conn, spec.after(), operator, provider, spec.fetch())?;
            let mut items = Vec::new();
            for id in ids {
                let view = application(conn, &id)?.view(now);
                items.push((id, view));
            }
            Ok(spec.finish(items))
        })
    }

    /// One application.
    pub fn get_application(&self, caller: &Caller, id: &str) -> Result<Application, GovError> {
        let stored = self.store.read_with(|conn| application(conn, id))?;
        check_visible(caller, &stored)?;
        Ok(stored.view(Utc::now()))
    }

    /// The effective contract of one application: its scenario composed with the current
    /// versions of its datasets' manifests, exactly as a job would run under it now, with every
    /// place marked where the scenario is looser than a manifest. Visible to whoever may see
    /// the application. A dataset with no active version, or a scenario that no longer fits a
    /// manifest, is a conflict naming why (its jobs are refused for the same reason).
    pub fn application_contract(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<EffectiveContract, GovError> {
        let stored = self.store.read_with(|conn| application(conn, id))?;
        check_visible(caller, &stored)?;
        let catalog = self.registered_catalog(&stored.datasets())?;
        let approved = stored
            .application
            .scenario
            .clone()
            .check(&catalog)
            .map_err(|e| {
                GovError::Conflict(format!(
                    "application {id} no longer fits the current manifests of its datasets: {e}"
                ))
            })?;
        Ok(EffectiveContract::of(&approved))
    }

    /// What the next job of application `id` would read, if it is approved now and can
    /// release (so its jobs need an identifier universe): its scenario and the catalog of its
    /// datasets' current versions. `None` for an application in any other state or one whose
    /// datasets jobs may not use now. Internal: nothing here is shown to anyone.
    pub fn universe_target(
        &self,
        id: &str,
    ) -> Result<Option<(super::ScenarioFile, crate::catalog::Catalog)>, GovError> {
        let stored = self.store.read_with(|conn| application(conn, id))?;
        let scenario = &stored.application.scenario;
        if stored.status_at(Utc::now()) != ApplicationStatus::Approved
            || scenario.releases.is_empty()
        {
            return Ok(None);
        }
        match self.job_catalog(&stored.datasets()) {
            Ok(catalog) => Ok(Some((scenario.clone(), catalog))),
            Err(e @ GovError::Internal { .. }) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// Ids of the applications approved now that grant `dataset`: those whose next job reads a
    /// version of it just published.
    pub fn approved_applications_granting(&self, dataset: &str) -> Result<Vec<String>, GovError> {
        let now = Utc::now();
        self.store.read_with(|conn| {
            let mut approved = Vec::new();
            for id in db::application_ids_granting(conn, dataset)? {
                if application(conn, &id)?.status_at(now) == ApplicationStatus::Approved {
                    approved.push(id);
                }
            }
            Ok(approved)
        })
    }

    /// Suspends one application alone (bureau); returns its queued or running job ids.
    pub fn suspend_application(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Vec<String>, GovError> {
        self.bureau_action(caller, id, reason, BureauAction::Suspend)
            .map(|(_, jobs)| jobs)
    }

    /// Restores a suspended application (bureau).
    pub fn restore_application(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Application, GovError> {
        self.bureau_action(caller, id, reason, BureauAction::Restore)
            .map(|(application, _)| application)
    }

    /// Revokes an application for good (bureau); returns its queued or running job ids.
    pub fn revoke_application(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Vec<String>, GovError> {
        self.bureau_action(caller, id, reason, BureauAction::Revoke)
            .map(|(_, jobs)| jobs)
    }

    /// Suspends, restores or revokes an application; returns it and its live jobs.
    fn bureau_action(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
        action: BureauAction,
    ) -> Result<(Application, Vec<String>), GovError> {
        let (verb, done, audit_action, target) = match action {
            BureauAction::Suspend => (
                "suspend",
                "suspended",
                "gov.application.suspend",
                ApplicationStatus::Suspended,
            ),
            BureauAction::Restore => (
                "restore",
                "restored",
                "gov.application.restore",
                ApplicationStatus::Approved,
            ),
            BureauAction::Revoke => (
                "revoke",
                "revoked",
                "gov.application.revoke",
                ApplicationStatus::Revoked,
            ),
        };
        require(caller, Role::Bureau, &format!("{verb} applications"))?;
        let reason = access::required(reason, &format!("a reason to {verb} the application"))?;
        let now = Utc::now();
        self.store.write_with(|tx| {
            let stored = application(tx, id)?;
            let status = stored.status_at(now);
            let allowed = match action {
                BureauAction::Suspend => status == ApplicationStatus::Approved,
                BureauAction::Restore => status == ApplicationStatus::Suspended,
                BureauAction::Revoke => stored.is_live(now),
            };
            if !allowed {
                return Err(GovError::Conflict(format!(
                    "application {id} is {}; it cannot be {done}",
                    enum_text(&status)
                )));
            }
            let stamp = Stamp {
                by: &caller.id,
                at: now,
            };
            db::set_status_and_reason(tx, id, target, Some(reason), stamp)?;
            let jobs = match action {
                BureauAction::Restore => Vec::new(),
                _ => db::live_jobs_of_application(tx, id)?,
            };
            self.record(
                tx,
                &caller.id,
                audit_action,
                id,
                None,
                json!({
                    "scenario": stored.application.scenario_id,
                    "operator": stored.application.operator,
                    "reason": reason,
                    "jobs_to_stop": jobs,
                }),
            )?;
            Ok((application(tx, id)?.view(now), jobs))
        })
    }
}
