//! The governance gate (docs/concepts.md, "The path of a job"): a job starts only if its operator is active, its
//! agreement active and in term, its application approved and in term, no dataset it uses
//! suspended or withdrawn, and the module is the one the approval pinned. Every refusal names
//! the reason.

use crate::store::Connection;
use chrono::{DateTime, Utc};

use super::access::{self, not_found, require};
use super::agreements::agreement;
use super::applications::application;
use super::model::{Caller, JobAuthorization, Role};
use super::registry::{dataset_refusal, find_dataset};
use super::{GovError, Governance};

/// The gate's checks, in the order docs/concepts.md lists them; `Err(Conflict)` names the first failed.
fn check_gate(
    conn: &Connection,
    caller: &Caller,
    id: &str,
    module_sha256: &str,
    now: DateTime<Utc>,
) -> Result<JobAuthorization, GovError> {
    let stored = application(conn, id)?;
    let app = &stored.application;
    if app.operator != caller.id {
        // Another operator's application looks exactly like a missing one.
        return Err(not_found("application", id));
    }
    let refuse = |reason: String| Err(GovError::Conflict(reason));
    if let Some(reason) = access::identity(conn, &caller.id)?.operator_refusal() {
        return refuse(reason);
    }
    if let Some(reason) = agreement(conn, &app.agreement)?.refusal(now) {
        return refuse(reason);
    }
    if let Some(reason) = stored.refusal(now) {
        return refuse(reason);
    }
    for name in stored.datasets() {
        let Some(dataset) = find_dataset(conn, &name)? else {
            return refuse(format!("dataset '{name}' is not registered"));
        };
        if let Some(reason) = dataset_refusal(conn, &dataset)? {
            return refuse(reason);
        }
    }
    let pinned = &app.scenario.scenario.module_sha256;
    if module_sha256 != pinned {
        return refuse(format!(
            "module {module_sha256} is not the module pinned by application {id} ({pinned})"
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
    /// pinned). Checked again when a queued job starts.
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
    }
}
