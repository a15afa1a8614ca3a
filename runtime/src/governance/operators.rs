//! Suspending and restoring operators (failed evaluation, then rectification). A suspended
//! operator's agreements show as suspended while it is (nothing about them is stored: restoring
//! the operator shows them as they were); the governance gate refuses its jobs.

use chrono::Utc;
use serde_json::json;

use super::access::{self, require, IdentityRules, StoredIdentity};
use super::model::{Caller, Identity, IdentityStatus, Role};
use super::{GovError, Governance};
use crate::store::codec::enum_text;
use crate::store::governance::operators as db;
use crate::store::governance::Stamp;
use crate::store::Connection;

/// Ids of an operator's queued or running jobs.
pub(crate) fn live_jobs_of_operator(
    conn: &Connection,
    operator: &str,
) -> Result<Vec<String>, GovError> {
    Ok(db::live_jobs_of_operator(conn, operator)?)
}

/// Loads an identity that must be an operator.
fn load_operator(conn: &Connection, id: &str) -> Result<StoredIdentity, GovError> {
    let stored = access::identity(conn, id)?;
    if stored.identity.role != Role::Operator {
        return Err(GovError::Invalid(format!(
            "'{id}' is a {}, not an operator",
            stored.identity.role.as_str()
        )));
    }
    Ok(stored)
}

impl Governance {
    /// Suspends an operator: every job refused; returns the ids of its queued or running jobs,
    /// which the caller (the job queue) must stop.
    pub fn suspend_operator(
        &self,
        caller: &Caller,
        operator: &str,
        reason: &str,
    ) -> Result<Vec<String>, GovError> {
        require(caller, Role::Bureau, "suspend operators")?;
        let reason = access::required(reason, "a reason for the suspension")?;
        self.store.write_with(|tx| {
            let stored = load_operator(tx, operator)?;
            if stored.identity.status != IdentityStatus::Active {
                return Err(GovError::Conflict(
                    stored
                        .operator_refusal()
                        .unwrap_or_else(|| format!("operator '{operator}' is not active")),
                ));
            }
            let stamp = Stamp {
                by: &caller.id,
                at: Utc::now(),
            };
            db::set_identity_status(tx, operator, IdentityStatus::Suspended, reason, stamp)?;
            let jobs = live_jobs_of_operator(tx, operator)?;
            self.record(
                tx,
                &caller.id,
                "gov.operator.suspend",
                operator,
                None,
                json!({ "reason": reason, "jobs_to_stop": jobs }),
            )?;
            Ok(jobs)
        })
    }

    /// Terminates an operator for good (its licence withdrawn): every job refused from now on,
    /// its agreements end with it, and no restoration brings it back. Returns the ids of its
    /// queued or running jobs, which the caller (the job queue) must stop. A terminated operator
    /// still signs in, to read its jobs and their history.
    pub fn terminate_operator(
        &self,
        caller: &Caller,
        operator: &str,
        reason: &str,
    ) -> Result<Vec<String>, GovError> {
        require(caller, Role::Bureau, "terminate operators")?;
        let reason = access::required(reason, "a reason for the termination")?;
        self.store.write_with(|tx| {
            let stored = load_operator(tx, operator)?;
            if stored.identity.status == IdentityStatus::Terminated {
                return Err(GovError::Conflict(format!(
                    "operator '{operator}' is terminated already"
                )));
            }
            let stamp = Stamp {
                by: &caller.id,
                at: Utc::now(),
            };
            db::set_identity_status(tx, operator, IdentityStatus::Terminated, reason, stamp)?;
            let jobs = live_jobs_of_operator(tx, operator)?;
            self.record(
                tx,
                &caller.id,
                "gov.operator.terminate",
                operator,
                None,
                json!({
                    "reason": reason,
                    "was": enum_text(&stored.identity.status),
                    "jobs_to_stop": jobs,
                }),
            )?;
            Ok(jobs)
        })
    }

    /// Restores a suspended operator.
    pub fn restore_operator(
        &self,
        caller: &Caller,
        operator: &str,
        reason: &str,
    ) -> Result<Identity, GovError> {
        require(caller, Role::Bureau, "restore operators")?;
        let reason = access::required(reason, "a reason for the restoration")?;
        self.store.write_with(|tx| {
            let stored = load_operator(tx, operator)?;
            if stored.identity.status != IdentityStatus::Suspended {
                return Err(GovError::Conflict(format!(
                    "operator '{operator}' is {}, not suspended",
                    enum_text(&stored.identity.status)
                )));
            }
            let stamp = Stamp {
                by: &caller.id,
                at: Utc::now(),
            };
            db::set_identity_status(tx, operator, IdentityStatus::Active, reason, stamp)?;
            self.record(
                tx,
                &caller.id,
                "gov.operator.restore",
                operator,
                None,
                json!({ "reason": reason }),
            )?;
            Ok(access::identity(tx, operator)?.identity)
        })
    }
}
