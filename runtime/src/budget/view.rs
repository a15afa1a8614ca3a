//! What operators and reviewers read of a scenario's privacy budget (docs/concepts.md, "Policies that compose": "operators
//! can read what remains; reviewers see every debit in the audit log"): its total, spending and
//! remainder, those of the datasets it is charged to, and its debits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{Budget, BudgetScope, Debit};
use super::{valid_scope, BudgetError, BudgetLedger};
use crate::store::budget as sql;

/// One scope's privacy budget with its remainder spelled out. Under basic composition the ε and
/// δ of successive releases add up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetStatus {
    /// Whose budget.
    pub scope: BudgetScope,
    /// ε granted in total.
    #[schemars(range(min = 0))]
    pub epsilon_total: f64,
    /// δ granted in total.
    #[schemars(range(min = 0))]
    pub delta_total: f64,
    /// ε spent by debits not refunded.
    #[schemars(range(min = 0))]
    pub epsilon_spent: f64,
    /// δ spent by debits not refunded.
    #[schemars(range(min = 0))]
    pub delta_spent: f64,
    /// ε left to spend.
    #[schemars(range(min = 0))]
    pub epsilon_remaining: f64,
    /// δ left to spend.
    #[schemars(range(min = 0))]
    pub delta_remaining: f64,
    /// When the totals were last set (RFC 3339, UTC, milliseconds).
    pub updated_at: String,
}

impl From<&Budget> for BudgetStatus {
    fn from(budget: &Budget) -> Self {
        let remaining = budget.remaining();
        Self {
            scope: budget.scope.clone(),
            epsilon_total: budget.epsilon_total,
            delta_total: budget.delta_total,
            epsilon_spent: budget.epsilon_spent,
            delta_spent: budget.delta_spent,
            epsilon_remaining: remaining.epsilon,
            delta_remaining: remaining.delta,
            updated_at: budget.updated_at.clone(),
        }
    }
}

/// A dataset the scenario is charged to, with its budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetBudget {
    /// The dataset's name.
    pub dataset: String,
    /// Its budget; `None` until a release first charges it (a dataset granted only by an
    /// amendment approved after the scenario's last release has none yet).
    pub budget: Option<BudgetStatus>,
}

/// One charge of a private release, as listed for a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DebitSummary {
    /// `dbt-...`: the `debit` of its `privacy.debit` audit entry.
    pub id: String,
    /// The job that asked for the release.
    pub job_id: String,
    /// The release's name.
    pub release: String,
    /// ε charged.
    #[schemars(range(min = 0))]
    pub epsilon: f64,
    /// δ charged.
    #[schemars(range(min = 0))]
    pub delta: f64,
    /// When (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// Whether it was refunded because nothing was released.
    pub refunded: bool,
    /// When it was refunded.
    pub refunded_at: Option<String>,
}

impl From<Debit> for DebitSummary {
    fn from(debit: Debit) -> Self {
        Self {
            id: debit.id,
            job_id: debit.job_id,
            release: debit.release,
            epsilon: debit.charge.epsilon,
            delta: debit.charge.delta,
            time: debit.time,
            refunded: debit.refunded,
            refunded_at: debit.refunded_at,
        }
    }
}

/// A scenario's privacy budget, the budgets of its datasets and its debits, read on one
/// snapshot so that the remainders and the debits agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioBudget {
    /// The scenario id.
    pub scenario_id: String,
    /// The scenario's budget.
    pub budget: BudgetStatus,
    /// The datasets it is charged to, in grant order.
    pub datasets: Vec<DatasetBudget>,
    /// Every debit charged to the scenario, refunded ones included, oldest first.
    pub debits: Vec<DebitSummary>,
}

impl ScenarioBudget {
    /// Why there is nothing to show for `scenario_id`: budgets are made by the first release,
    /// not by approval, so "none yet" is the normal state of a new scenario.
    pub fn missing(scenario_id: &str) -> String {
        format!(
            "no privacy budget recorded for scenario {scenario_id} yet: it is created by the \
             first job with a private release"
        )
    }
}

impl BudgetLedger {
    /// The budget of scenario `scenario_id`, kept under ledger scope `scope_id` (the key id of
    /// the scenario id's binding, `governance::ScenarioBinding`), with those of `datasets` and
    /// the scenario's debits; `None` if the scenario has no budget yet.
    ///
    /// # Errors
    ///
    /// [`BudgetError::Invalid`] for an empty or overlong id or name.
    pub fn scenario_budget(
        &self,
        scenario_id: &str,
        scope_id: &str,
        datasets: &[String],
    ) -> Result<Option<ScenarioBudget>, BudgetError> {
        let scenario = valid_scope(&BudgetScope::Scenario(scope_id.to_owned()))?;
        let dataset_scopes = datasets
            .iter()
            .map(|d| valid_scope(&BudgetScope::Dataset(d.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        self.store.read_with(|conn| {
            let Some(budget) = sql::budget(conn, &scenario)? else {
                return Ok(None);
            };
            let datasets = dataset_scopes
                .iter()
                .map(|scope| {
                    Ok(DatasetBudget {
                        dataset: scope.id().to_owned(),
                        budget: sql::budget(conn, scope)?.as_ref().map(BudgetStatus::from),
                    })
                })
                .collect::<Result<Vec<_>, BudgetError>>()?;
            let debits = sql::debits_of(conn, &scenario)?
                .into_iter()
                .map(DebitSummary::from)
                .collect();
            Ok(Some(ScenarioBudget {
                scenario_id: scenario_id.to_owned(),
                budget: BudgetStatus::from(&budget),
                datasets,
                debits,
            }))
        })
    }
}
