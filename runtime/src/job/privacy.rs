//! The budget side of a `release_table` with privacy: the [`BudgetGate`] the guard charges
//! through, over the domain's [`BudgetLedger`](crate::budget::BudgetLedger).
//!
//! A release is charged to its scenario and to every granted dataset at once (docs/concepts.md, "Policies that compose"), in
//! one ledger transaction, before the guard draws any noise. A scope without a budget gets one on
//! first use: the scenario's `[privacy_budget]`, a dataset's manifest `privacy_budget` or else
//! [`DEFAULT_DATASET_BUDGET`]. An existing budget is never changed here, even if the file now
//! says otherwise: only the bureau changes a total, through governance, so editing a scenario
//! file cannot raise what it may spend.

use crate::budget::{BudgetError, BudgetScope, Charge};
use crate::guard::{BudgetGate, DEFAULT_DATASET_BUDGET};

use super::host::JobContext;

/// Who creates a budget on first use (the runtime, from a reviewed declaration).
const BUDGET_ACTOR: &str = "system";

/// Charges one release of one job; remembers the debit so that a blocked release is refunded.
pub(super) struct LedgerGate<'a> {
    ctx: &'a JobContext,
    debit: Option<String>,
}

impl<'a> LedgerGate<'a> {
    pub(super) fn new(ctx: &'a JobContext) -> Self {
        Self { ctx, debit: None }
    }
}

impl BudgetGate for LedgerGate<'_> {
    fn charge(&mut self, release: &str, cost: Charge) -> Result<(), String> {
        match charge(self.ctx, release, cost) {
            Ok(debit) => {
                self.debit = Some(debit);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn refund(&mut self, reason: &str) {
        if let Some(debit) = self.debit.take() {
            // A failed refund leaves the budget spent: the safe direction. The debit and the
            // blocked release are both in the audit log for the bureau to settle.
            let _ = self.ctx.ledger.refund(&debit, reason);
        }
    }
}

/// The budget scopes every release with privacy of `scenario` is charged to: the scenario (under
/// `key_id`, its binding's domain-assigned identity, never the chosen id), then each granted
/// dataset in grant order.
pub fn budget_scopes(
    scenario: &crate::governance::ApprovedScenario,
    key_id: &str,
) -> Vec<BudgetScope> {
    scopes_of(scenario, key_id)
        .into_iter()
        .map(|(scope, _)| scope)
        .collect()
}

/// The scopes a release of this job is charged to, each with its declared total (if any).
pub(crate) fn scopes_of(
    scenario: &crate::governance::ApprovedScenario,
    key_id: &str,
) -> Vec<(BudgetScope, Option<Charge>)> {
    let mut scopes = vec![(
        BudgetScope::Scenario(key_id.to_string()),
        scenario
            .file
            .privacy_budget
            .map(|b| Charge::new(b.epsilon, b.delta)),
    )];
    for dataset in &scenario.datasets {
        let declared = dataset
            .manifest
            .dataset
            .privacy_budget
            .map(|b| Charge::new(b.epsilon, b.delta))
            .unwrap_or(DEFAULT_DATASET_BUDGET);
        scopes.push((
            BudgetScope::Dataset(dataset.name().to_string()),
            Some(declared),
        ));
    }
    scopes
}

/// Creates the missing budgets of the job's scopes, then charges `cost` to all of them at once.
/// Returns the debit's id.
fn charge(ctx: &JobContext, release: &str, cost: Charge) -> Result<String, BudgetError> {
    let scopes = scopes_of(&ctx.scenario, &ctx.scenario_key_id);
    for (scope, declared) in &scopes {
        if ctx.ledger.budget(scope)?.is_some() {
            continue;
        }
        // A scenario without `[privacy_budget]` gets none: the charge is refused with NoBudget
        // (`check` refuses such scenarios, so this is only reached with an unchecked file).
        if let Some(total) = declared {
            ctx.ledger.set_budget(
                BUDGET_ACTOR,
                scope,
                total.epsilon,
                total.delta,
                "created from its declared privacy budget on first use",
            )?;
        }
    }
    let scopes: Vec<BudgetScope> = scopes.into_iter().map(|(scope, _)| scope).collect();
    let operator = &ctx.scenario.file.scenario.operator;
    ctx.ledger
        .charge(operator, &ctx.job_id.to_string(), release, &scopes, cost)
        .map(|debit| debit.id)
}
