//! Server-side jobs as governance sees them: queued after the gate (within the job quotas),
//! moved through their states by the job runner, and the products they released (downloaded
//! only by their operator, and only while it, its agreement, its application and the datasets
//! read are in good standing). Ending states are final.

use chrono::{DateTime, Timelike, Utc};
use serde_json::json;

use super::access::{self, not_found, require, require_any, IdentityRules, SYSTEM};
use super::agreements::{agreement, AgreementRules};
use super::applications::{application, ApplicationRules};
use super::model::{
    ApplicationStatus, Caller, DatasetStatus, JobAuthorization, JobRecord, JobRelease, JobState,
    Page, PageRequest, Role,
};
use super::page::PageSpec;
use super::quotas::check_job_quotas;
use super::registry::{find_dataset, open_objection};
use super::{GovError, Governance};
use crate::store::codec::enum_text;
use crate::store::governance::jobs as db;
use crate::store::Connection;

/// Longest job id accepted.
const MAX_JOB_ID_LEN: usize = 128;
/// The `outcome` of a release that produced a product.
const RELEASED: &str = "released";

/// Loads one job; unknown is [`GovError::NotFound`].
fn job(conn: &Connection, id: &str) -> Result<JobRecord, GovError> {
    db::find_job(conn, id)?.ok_or_else(|| not_found("job", id))
}

/// Whether a state ends a job.
fn is_final(state: JobState) -> bool {
    matches!(
        state,
        JobState::Completed | JobState::Failed | JobState::Refused | JobState::Cancelled
    )
}

/// Whether `id` is acceptable as a job id (it also lands in the audit log and in URLs).
fn valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_JOB_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Refuses `caller` unless it may see `job`: its operator, the bureau or a reviewer. Another
/// operator's job looks exactly like a missing one.
fn check_visible(caller: &Caller, job: &JobRecord) -> Result<(), GovError> {
    if caller.role == Role::Operator && job.operator != caller.id {
        return Err(not_found("job", &job.id));
    }
    Ok(())
}

/// Why the products of job `job_id` are withheld from its operator at `now`, if they are: the
/// operator is suspended or terminated, its agreement or the job's application has expired or
/// been ended by the bureau, or a dataset the job read is suspended. A superseded application
/// (amended) still serves what it produced. Restoring the operator, resolving the objection or
/// restoring the application serves them again: nothing here is stored.
pub(crate) fn product_refusal(
    conn: &Connection,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, GovError> {
    let record = job(conn, job_id)?;
    if let Some(refusal) = access::identity(conn, &record.operator)?.operator_refusal() {
        return Ok(Some(refusal));
    }
    let stored = application(conn, &record.application)?;
    if let Some(refusal) = agreement(conn, &stored.application.agreement)?.refusal(now) {
        return Ok(Some(refusal));
    }
    match stored.status_at(now) {
        ApplicationStatus::Expired | ApplicationStatus::Revoked | ApplicationStatus::Suspended => {
            return Ok(stored.refusal(now));
        }
        _ => {}
    }
    for name in stored.datasets() {
        let Some(dataset) = find_dataset(conn, &name)? else {
            continue;
        };
        if dataset.record.status == DatasetStatus::Suspended {
            return Ok(Some(match open_objection(conn, &name)? {
                Some(_) => format!(
                    "a dataset this product was built from ('{name}') is suspended by an \
                         objection"
                ),
                None => format!("a dataset this product was built from ('{name}') is suspended"),
            }));
        }
    }
    Ok(None)
}

/// `job` as its operator may list it at `now`: while its products are withheld (see
/// [`product_refusal`]) their ids are left out of its releases, so that the listing serves no
/// more than the download route does; the bureau and reviewers always see them. Nothing is
/// stored: once the refusal ends, the ids are listed again.
fn withhold_products(
    conn: &Connection,
    caller: &Caller,
    mut job: JobRecord,
    now: DateTime<Utc>,
) -> Result<JobRecord, GovError> {
    if caller.role != Role::Operator || job.releases.iter().all(|r| r.product.is_none()) {
        return Ok(job);
    }
    if product_refusal(conn, &job.id, now)?.is_some() {
        for release in &mut job.releases {
            release.product = None;
        }
    }
    Ok(job)
}

impl Governance {
    /// Records a submitted job as queued (after [`Governance::authorize_job`]).
    pub fn record_job_queued(
        &self,
        caller: &Caller,
        job_id: &str,
        auth: &JobAuthorization,
        module_sha256: &str,
    ) -> Result<JobRecord, GovError> {
        require(caller, Role::Operator, "submit jobs")?;
        if !valid_job_id(job_id) {
            return Err(GovError::Invalid(format!(
                "job id '{job_id}' must be 1 to {MAX_JOB_ID_LEN} characters of letters, digits, \
                 '-', '_', '.' and ':'"
            )));
        }
        let now = Utc::now();
        self.store.write_with(|tx| {
            let stored = application(tx, &auth.application)?;
            if stored.application.operator != caller.id {
                return Err(not_found("application", &auth.application));
            }
            if db::find_job(tx, job_id)?.is_some() {
                return Err(GovError::Conflict(format!("job '{job_id}' already exists")));
            }
            // In the transaction that records the job, so concurrent submissions cannot both
            // slip under a quota.
            check_job_quotas(tx, &caller.id, &stored.application.scenario_id, now)?;
            // The application was loaded by `auth.application` and its operator is the caller.
            db::insert_job(
                tx,
                job_id,
                &stored.application,
                module_sha256,
                JobState::Queued,
                now,
            )?;
            self.record(
                tx,
                &caller.id,
                "gov.job.queued",
                job_id,
                Some(job_id),
                json!({
                    "application": auth.application,
                    "scenario": stored.application.scenario_id,
                    "module_sha256": module_sha256,
                }),
            )?;
            job(tx, job_id)
        })
    }

    /// Updates a job's state (the job runner's use). Ending states are final.
    pub fn record_job_state(
        &self,
        job_id: &str,
        state: JobState,
        detail: Option<String>,
        releases: Vec<JobRelease>,
    ) -> Result<JobRecord, GovError> {
        let now = Utc::now();
        self.store.write_with(|tx| {
            let current = job(tx, job_id)?;
            if is_final(current.state) {
                return Err(GovError::Conflict(format!(
                    "job {job_id} is {}; an ended job's state is final",
                    enum_text(&current.state)
                )));
            }
            if state == JobState::Queued && current.state != JobState::Queued {
                return Err(GovError::Conflict(format!(
                    "job {job_id} is {}; it cannot go back to queued",
                    enum_text(&current.state)
                )));
            }
            let started_at = match (state, current.started_at) {
                (JobState::Running, None) => Some(now),
                (_, started) => started,
            };
            let ended_at = is_final(state).then_some(now);
            // The runner reports releases once, at the end; an empty list keeps what is there.
            let releases = if releases.is_empty() {
                current.releases
            } else {
                releases
            };
            let detail = detail.or(current.detail);
            let mut products = Vec::new();
            for release in &releases {
                let Some(product) = release.product.as_deref() else {
                    continue;
                };
                if release.outcome != RELEASED {
                    continue;
                }
                match db::product_owner(tx, product)? {
                    Some(owner) if owner == job_id => {}
                    Some(owner) => {
                        return Err(GovError::Conflict(format!(
                            "product '{product}' is already recorded for job {owner}"
                        )))
                    }
                    None => db::insert_product(tx, product, job_id)?,
                }
                products.push(product.to_string());
            }
            db::update_job(
                tx,
                job_id,
                state,
                detail.as_deref(),
                &releases,
                started_at,
                ended_at,
            )?;
            self.record(
                tx,
                SYSTEM,
                &format!("gov.job.{}", enum_text(&state)),
                job_id,
                Some(job_id),
                json!({
                    "application": current.application,
                    "from": enum_text(&current.state),
                    "detail": detail,
                    "releases": releases.len(),
                    "products": products,
                }),
            )?;
            job(tx, job_id)
        })
    }

    /// One job (its operator, bureau, reviewer).
    pub fn get_job(&self, caller: &Caller, id: &str) -> Result<JobRecord, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Bureau, Role::Reviewer],
            "read jobs",
        )?;
        let now = Utc::now();
        self.store.read_with(|conn| {
            let found = job(conn, id)?;
            check_visible(caller, &found)?;
            let found = withhold_products(conn, caller, found, now)?;
            Ok(as_seen_by(caller, found))
        })
    }

    /// Lists jobs (operator: own; bureau, reviewer: all).
    pub fn list_jobs(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<JobRecord>, GovError> {
        require_any(
            caller,
            &[Role::Operator, Role::Bureau, Role::Reviewer],
            "list jobs",
        )?;
        let spec = PageSpec::new(page)?;
        let operator = if caller.role == Role::Operator {
            caller.id.as_str()
        } else {
            ""
        };
        let now = Utc::now();
        self.store.read_with(|conn| {
            let mut items = Vec::new();
            for item in db::jobs_page(conn, spec.after(), operator, spec.fetch())? {
                let item = withhold_products(conn, caller, item, now)?;
                items.push((item.id.clone(), as_seen_by(caller, item)));
            }
            Ok(spec.finish(items))
        })
    }

    /// Checks that the caller may download `product_id` now: only the operator whose job
    /// produced it (downloading is the operator's right; the bureau and reviewers see products
    /// in job records and the audit log), and only while nothing withholds it (see
    /// [`product_refusal`]). Another operator's product looks exactly like a missing one.
    ///
    /// # Errors
    ///
    /// [`GovError::NotFound`] for a missing or another operator's product,
    /// [`GovError::Forbidden`] for another role or with the reason the product is withheld,
    /// [`GovError::Internal`] for the database.
    pub fn authorize_product_download(
        &self,
        caller: &Caller,
        product_id: &str,
    ) -> Result<(), GovError> {
        // The role first, so that no other role learns whether the product exists.
        require(
            caller,
            Role::Operator,
            "download products (the operator a product was released to)",
        )?;
        let now = Utc::now();
        self.store.read_with(|conn| {
            let Some((job_id, operator)) = db::product_job(conn, product_id)? else {
                return Err(not_found("product", product_id));
            };
            if operator != caller.id {
                return Err(not_found("product", product_id));
            }
            match product_refusal(conn, &job_id, now)? {
                Some(reason) => Err(GovError::Forbidden(format!(
                    "product {product_id} is not served now: {reason}"
                ))),
                None => Ok(()),
            }
        })
    }
}

/// A job as `caller` may see it: an operator sees its times to the whole second. How long its
/// module ran is the module's to choose, so finer times would be a faster channel out of the
/// domain (docs/security.md); reviewers and the bureau see the stored milliseconds.
fn as_seen_by(caller: &Caller, mut job: JobRecord) -> JobRecord {
    if caller.role == Role::Operator {
        job.submitted_at = whole_second(job.submitted_at);
        job.started_at = job.started_at.map(whole_second);
        job.ended_at = job.ended_at.map(whole_second);
    }
    job
}

/// `t` cut to its whole second.
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod seen_tests {
    use super::*;
    use crate::governance::model::JobPhase;

    #[test]
    fn operators_see_job_times_to_the_second() {
        let at = |ms| DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
        let job = JobRecord {
            id: "j".into(),
            application: "a".into(),
            scenario_id: "s".into(),
            operator: "op".into(),
            module_sha256: "0".repeat(64),
            state: JobState::Completed,
            phase: JobPhase::Done,
            detail: None,
            releases: Vec::new(),
            submitted_at: at(1_000_123),
            started_at: Some(at(1_001_406)),
            ended_at: Some(at(1_407_717)),
        };
        let operator = Caller {
            id: "op".into(),
            role: Role::Operator,
        };
        let seen = as_seen_by(&operator, job.clone());
        assert_eq!(seen.ended_at, Some(at(1_407_000)));
        assert_eq!(seen.started_at, Some(at(1_001_000)));
        let reviewer = Caller {
            id: "rv".into(),
            role: Role::Reviewer,
        };
        assert_eq!(as_seen_by(&reviewer, job.clone()), job);
    }
}
