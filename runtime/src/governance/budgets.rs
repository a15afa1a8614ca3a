//! Who may read a scenario's privacy budget (DESIGN.md §6: "operators can read what remains"),
//! and which dataset budgets go with it.
//!
//! The ledger itself (`guard::budget`) knows scopes, not identities: this is where a caller is
//! matched to a scenario through the applications that name it.

use chrono::Utc;

use super::access::who;
use super::applications::application;
use super::model::{ApplicationStatus, Caller, Role};
use super::{GovError, Governance};
use crate::store::governance::budgets as db;

impl Governance {
    /// Checks that `caller` may read the privacy budget of scenario `scenario_id` and returns
    /// the datasets whose budgets go with it (see [`Governance::budget_datasets`]).
    ///
    /// The bureau and reviewers may read every scenario's; an operator only a scenario it owns
    /// an application for (in any status: a budget spent under an expired or revoked application
    /// is still its spending). Providers may not: a scenario's spending reveals how hard an
    /// operator queries, which is the operator's and the bureau's business, and a provider sees
    /// its dataset's exposure through reviews and the audit log instead.
    ///
    /// # Errors
    ///
    /// [`GovError::Forbidden`] with the reason; [`GovError::Internal`] for the database.
    pub fn authorize_budget_read(
        &self,
        caller: &Caller,
        scenario_id: &str,
    ) -> Result<Vec<String>, GovError> {
        match caller.role {
            Role::Bureau | Role::Reviewer => {}
            Role::Provider => {
                return Err(GovError::Forbidden(format!(
                    "privacy budgets are read by the scenario's operator, the bureau and \
                     reviewers, not by providers; you are {}",
                    who(caller)
                )))
            }
            Role::Operator => {
                let owns = self.store.read_with(|conn| {
                    db::operator_has_application(conn, scenario_id, &caller.id)
                })?;
                if !owns {
                    // The same answer whether the scenario exists or not: an operator learns
                    // nothing about other operators' scenarios from it.
                    return Err(GovError::Forbidden(format!(
                        "the privacy budget of scenario '{scenario_id}' is readable by the \
                         operator owning an application for it, the bureau and reviewers; you \
                         are {}",
                        who(caller)
                    )));
                }
            }
        }
        self.budget_datasets(scenario_id)
    }

    /// The datasets whose budgets a release of scenario `scenario_id` is charged to: those its
    /// approved application grants, or, when none is approved now, those of its latest
    /// application (an expired or revoked scenario's datasets still carry what it spent).
    /// Empty when no application names the scenario. No access check: for local use on the
    /// data directory and after [`Governance::authorize_budget_read`].
    ///
    /// # Errors
    ///
    /// [`GovError::Internal`] for the database.
    pub fn budget_datasets(&self, scenario_id: &str) -> Result<Vec<String>, GovError> {
        let now = Utc::now();
        self.store.read_with(|conn| {
            let ids = db::application_ids_latest_first(conn, scenario_id)?;
            let mut latest = None;
            for id in ids {
                let stored = application(conn, &id)?;
                if stored.status_at(now) == ApplicationStatus::Approved {
                    return Ok(stored.datasets());
                }
                latest.get_or_insert(stored);
            }
            Ok(latest.map(|s| s.datasets()).unwrap_or_default())
        })
    }
}
