//! Server-side jobs as governance sees them: queued after the gate, moved through their states
//! by the job runner, and the products they released (whose download only their operator may
//! ask for). Ending states are final.

use chrono::{DateTime, Timelike, Utc};
use serde_json::json;

use super::access::{require, require_any, who, SYSTEM};
use super::applications::application;
use super::model::{
    Caller, JobAuthorization, JobRecord, JobRelease, JobState, Page, PageRequest, Role,
};
use super::page::PageSpec;
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
    db::find_job(conn, id)?.ok_or_else(|| GovError::NotFound(format!("job '{id}'")))
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

/// Refuses `caller` unless it may see `job`: its operator, the bureau or a reviewer.
fn check_visible(caller: &Caller, job: &JobRecord) -> Result<(), GovError> {
    if caller.role == Role::Operator && job.operator != caller.id {
        return Err(GovError::Forbidden(format!(
            "job {} belongs to operator '{}'; you are {}",
            job.id,
            job.operator,
            who(caller)
        )));
    }
    Ok(())
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
                return Err(GovError::Forbidden(format!(
                    "application {} belongs to operator '{}'; you are {}",
                    auth.application,
                    stored.application.operator,
                    who(caller)
                )));
            }
            if db::find_job(tx, job_id)?.is_some() {
                return Err(GovError::Conflict(format!("job '{job_id}' already exists")));
            }
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
        let found = self.store.read_with(|conn| job(conn, id))?;
        check_visible(caller, &found)?;
        Ok(as_seen_by(caller, found))
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
        self.store.read_with(|conn| {
            let items = db::jobs_page(conn, spec.after(), operator, spec.fetch())?
                .into_iter()
                .map(|item| (item.id.clone(), as_seen_by(caller, item)))
                .collect();
            Ok(spec.finish(items))
        })
    }

    /// Checks that the caller owns the job that produced `product_id` (download right).
    pub fn authorize_product_download(
        &self,
        caller: &Caller,
        product_id: &str,
    ) -> Result<(), GovError> {
        let owner = self
            .store
            .read_with(|conn| db::product_job(conn, product_id))?;
        let Some((job_id, operator)) = owner else {
            return Err(GovError::NotFound(format!("product '{product_id}'")));
        };
        if caller.role != Role::Operator || operator != caller.id {
            return Err(GovError::Forbidden(format!(
                "product {product_id} of job {job_id} may be downloaded only by its operator \
                 '{operator}'; you are {}",
                who(caller)
            )));
        }
        Ok(())
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

fn whole_second(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_nanosecond(0).unwrap_or(time)
}

#[cfg(test)]
mod seen_tests {
    use super::*;

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
