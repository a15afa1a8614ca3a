//! Who may read a scenario's privacy budget (docs/concepts.md, "Policies that compose": "operators can read what remains"),
//! and which dataset budgets go with it.
//!
//! The ledger itself (`crate::budget`) knows scopes, not identities: this is where a caller is
//! matched to a scenario through the scenario id's binding (`bindings`), whose key id is the
//! scenario's ledger scope.

use chrono::Utc;

use super::access::who;
use super::applications::{application, ApplicationRules};
use super::bindings;
use super::model::{ApplicationStatus, Caller, Role};
use super::{GovError, Governance};
use crate::budget::ScenarioBudget;
use crate::store::governance::budgets as db;

/// What a budget read may show: the scenario's ledger scope and the datasets that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetAccess {
    /// The scenario's ledger scope id: its binding's domain-assigned key id.
    pub scope_id: String,
    /// The datasets whose budgets go with it (see [`Governance::budget_datasets`]).
    pub datasets: Vec<String>,
}

impl Governance {
    /// Checks that `caller` may read the privacy budget of scenario `scenario_id` and returns
    /// its ledger scope and the datasets whose budgets go with it.
    ///
    /// The bureau and reviewers may read every scenario's; an operator only the scenarios bound
    /// to it (`bindings`): a scenario id is bound for ever to the operator that first used it,
    /// so a budget spent under an expired or revoked application stays readable by its
    /// operator, and by no one who applies later. Providers may not: a scenario's spending
    /// reveals how hard an operator queries, which is the operator's and the bureau's
    /// business, and a provider sees its dataset's exposure through reviews and the audit log.
    ///
    /// # Errors
    ///
    /// [`GovError::Forbidden`] for a provider. [`GovError::NotFound`] with the message of a
    /// scenario without a budget for an id never used and, to an operator, for an id bound to
    /// another operator (the two look alike). [`GovError::Internal`] for the database.
    pub fn authorize_budget_read(
        &self,
        caller: &Caller,
        scenario_id: &str,
    ) -> Result<BudgetAccess, GovError> {
        if caller.role == Role::Provider {
            return Err(GovError::Forbidden(format!(
                "privacy budgets are read by the scenario's operator, the bureau and \
                 reviewers, not by providers; you are {}",
                who(caller)
            )));
        }
        let binding = self.store.read_with(|conn| match caller.role {
            Role::Operator => bindings::owned(conn, scenario_id, &caller.id),
            _ => bindings::find(conn, scenario_id),
        })?;
        let Some(binding) = binding else {
            return Err(GovError::NotFound(ScenarioBudget::missing(scenario_id)));
        };
        Ok(BudgetAccess {
            scope_id: binding.key_id,
            datasets: self.budget_datasets(scenario_id)?,
        })
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
