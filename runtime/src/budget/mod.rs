//! The privacy budget ledger: how much ε and δ each scenario and each dataset may still spend.
//!
//! Under basic composition the privacy loss of successive differentially private releases adds
//! up: k releases at (ε, δ) each cost (kε, kδ). A scope ([`BudgetScope`]: a scenario, or a
//! dataset across all scenarios) gets a total from the bureau ([`BudgetLedger::set_budget`]);
//! each noisy release is a [`Debit`] charged to every scope it touches at once.
//!
//! ```text
//! guard: release ready ─▶ charge (one IMMEDIATE transaction: check every scope, insert debit
//!                                 + audit `privacy.debit`, commit) ─▶ draw noise ─▶ release
//!                           └─ Insufficient / NoBudget ─▶ block, nothing drawn
//!        blocked after charging, before any noisy value left ─▶ refund (`privacy.refund`)
//! ```
//!
//! # Invariants
//!
//! - **Charge before noise** (docs/concepts.md, "Policies that compose"). [`BudgetLedger::charge`] commits the debit before it
//!   returns; only then may noise be drawn. A process that dies between the charge and the
//!   release leaves the budget spent for nothing. That is the safe direction: a lost refund
//!   costs utility, while noise drawn before a charge that then fails could leak a release the
//!   budget never paid for.
//! - **All scopes or none.** A charge reads each scope's spending and inserts the debit in one
//!   IMMEDIATE transaction, which holds the database's write lock from `BEGIN`: two charges,
//!   from threads of one process or from two processes, cannot both see the same remainder. If
//!   any scope cannot pay, the transaction rolls back and no scope is charged.
//! - **Every debit and refund is audited in the same transaction** (`privacy.debit`,
//!   `privacy.refund`, `privacy.budget.set`): there is no debit without its entry, nor the
//!   reverse. Refusals are not audited here; the caller records the blocked release with the
//!   error's text.
//! - **Refund only when nothing was released, at most once.** The ledger cannot see whether a
//!   noisy value left the guard: the caller must refund only a release blocked before any did.
//! - **Exact amounts.** ε and δ are stored as integers in fixed units (ε in 1e-9, δ in 1e-15);
//!   charges are rounded up and totals down (see `units`). Sums never drift, and a total of 3
//!   pays exactly thirty charges of 0.1.
//! - **Spent is derived, never stored**: a scope's spending is the SUM of its debits not
//!   refunded, read inside the transaction that uses it. A running `spent` column would be a
//!   second copy of the same fact that a bug or a manual edit could put out of step with the
//!   debits; the sum cannot disagree with them, and a refund is only a flag. The index on
//!   `(scope_kind, scope_id)` keeps the sum cheap at the scale of one debit per release.
//! - Totals can be raised or lowered, never below what is already spent. Debits are never
//!   deleted.

mod error;
mod view;

use shuyu_model::budget as model;
pub(crate) use shuyu_model::units;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::audit::{AuditLog, NewEntry};
use crate::store::Store;

pub use error::BudgetError;
pub use model::{Budget, BudgetPreview, BudgetScope, Charge, Debit};
pub use units::{DELTA_SCALE, EPSILON_SCALE, MAX_EPSILON};
pub use view::{BudgetStatus, DatasetBudget, DebitSummary, ScenarioBudget};

use crate::store::budget::{self as sql, charge_of, NewDebit};
use units::{to_units, Round, Units};

/// Audit action of a charge.
pub(crate) const ACTION_DEBIT: &str = "privacy.debit";
/// Audit action of a refund.
pub(crate) const ACTION_REFUND: &str = "privacy.refund";
/// Audit action of setting a scope's total.
pub(crate) const ACTION_SET: &str = "privacy.budget.set";
/// Prefix of debit ids.
pub(crate) const DEBIT_PREFIX: &str = "dbt-";

/// Who refunds: the runtime, on behalf of a blocked release (the operator did not ask for it).
const REFUND_ACTOR: &str = "system";
/// Longest id, name or actor accepted, in bytes.
const MAX_NAME_LEN: usize = 256;
/// Longest reason accepted, in bytes.
const MAX_REASON_LEN: usize = 4096;
/// Longest input echoed back in an error, in characters.
const MAX_ECHO_CHARS: usize = 64;

/// The privacy budget ledger, kept in the store and audited in the same transactions.
#[derive(Debug)]
pub struct BudgetLedger {
    store: Arc<Store>,
    audit: Arc<AuditLog>,
}

impl BudgetLedger {
    /// The ledger kept in `store`, auditing to `audit` (which must log to the same store, so
    /// that a debit and its entry commit together).
    pub fn new(store: Arc<Store>, audit: Arc<AuditLog>) -> Self {
        Self { store, audit }
    }

    /// Sets `scope`'s total to (`epsilon_total`, `delta_total`), creating its budget or raising
    /// or lowering it, never below what it has spent. Audited as `privacy.budget.set` by `actor`
    /// with `reason`.
    ///
    /// Totals are rounded down to the ledger's units.
    ///
    /// # Errors
    ///
    /// [`BudgetError::Invalid`] for ε not in (0, [`MAX_EPSILON`]], δ not in [0, 1), or an empty
    /// actor, scope id or reason; [`BudgetError::BelowSpent`] if the scope has spent more.
    pub fn set_budget(
        &self,
        actor: &str,
        scope: &BudgetScope,
        epsilon_total: f64,
        delta_total: f64,
        reason: &str,
    ) -> Result<Budget, BudgetError> {
        let actor = name("actor", actor)?;
        let scope = valid_scope(scope)?;
        let reason = text("reason", reason, MAX_REASON_LEN)?;
        let total = total_units(epsilon_total, delta_total)?;
        let time = now();
        self.store.write_with(|tx| {
            let previous = sql::total(tx, &scope)?;
            let spent = sql::spent(tx, &scope)?;
            if !spent.within(total) {
                return Err(BudgetError::BelowSpent {
                    scope: scope.clone(),
                    spent: charge_of(spent),
                    requested: charge_of(total),
                });
            }
            sql::put_total(tx, &scope, total, previous.is_some(), &time)?;
            self.audit.append_in(
                tx,
                NewEntry {
                    actor: actor.to_owned(),
                    action: ACTION_SET.into(),
                    subject: scope.id().to_owned(),
                    job_id: None,
                    details: json!({
                        "scope": scope,
                        "total": amount_json(total),
                        "previous_total": previous.as_ref().map(|p| amount_json(p.total)),
                        "spent": amount_json(spent),
                        "reason": reason,
                    }),
                },
            )?;
            sql::budget(tx, &scope)?.ok_or_else(|| {
                BudgetError::Corrupt(format!("the budget of {scope} vanished while set"))
            })
        })
    }

    /// The budget of `scope`, `None` if it has none.
    pub fn budget(&self, scope: &BudgetScope) -> Result<Option<Budget>, BudgetError> {
        let scope = valid_scope(scope)?;
        self.store.read_with(|conn| Ok(sql::budget(conn, &scope)?))
    }

    /// Charges `charge` to every scope in `scopes` at once, or to none, for the release named
    /// `release` of job `job_id` run by `actor` (the operator). **Call it before any noise is
    /// drawn**, and draw noise only if it returns `Ok`.
    ///
    /// In one IMMEDIATE transaction: reads each scope's total and spending, refuses if any would
    /// exceed its total, else inserts the debit and the `privacy.debit` audit entry (subject: the
    /// first scenario scope's id, or the first scope's; details: the debit, release, scopes, ε,
    /// δ and each scope's remainder after it). The debit is committed, durably, when this
    /// returns. A scope given twice is charged once. The charge is rounded up to the ledger's
    /// units; the returned [`Debit`] shows what was charged.
    ///
    /// # Errors
    ///
    /// [`BudgetError::Insufficient`] naming the first scope that cannot pay, what it spent, has
    /// left and was asked; [`BudgetError::NoBudget`] for a scope without a budget;
    /// [`BudgetError::NoScopes`]; [`BudgetError::Invalid`] for ε not in (0, [`MAX_EPSILON`]], δ
    /// not in [0, 1) or an empty name. In every case nothing was charged.
    pub fn charge(
        &self,
        actor: &str,
        job_id: &str,
        release: &str,
        scopes: &[BudgetScope],
        charge: Charge,
    ) -> Result<Debit, BudgetError> {
        let actor = name("actor", actor)?;
        let job_id = name("job_id", job_id)?;
        let release = name("release", release)?;
        let scopes = distinct_scopes(scopes)?;
        let asked = charge_units(charge)?;
        let id = new_debit_id()?;
        let time = now();
        self.store.write_with(|tx| {
            let mut remaining = Vec::with_capacity(scopes.len());
            for scope in &scopes {
                let total = sql::total(tx, scope)?
                    .ok_or_else(|| BudgetError::NoBudget {
                        scope: scope.clone(),
                    })?
                    .total;
                let spent = sql::spent(tx, scope)?;
                let after = spent.checked_add(asked).ok_or_else(|| overflow(scope))?;
                if !after.within(total) {
                    return Err(insufficient(scope, spent, total, asked));
                }
                let left = total.checked_sub(after).ok_or_else(|| overflow(scope))?;
                remaining.push(json!({ "scope": scope, "remaining": amount_json(left) }));
            }
            sql::insert_debit(
                tx,
                &NewDebit {
                    id: &id,
                    job_id,
                    release,
                    actor,
                    scopes: &scopes,
                    charge: asked,
                    time: &time,
                },
            )?;
            let charged = charge_of(asked);
            self.audit.append_in(
                tx,
                NewEntry {
                    actor: actor.to_owned(),
                    action: ACTION_DEBIT.into(),
                    subject: subject(&scopes),
                    job_id: Some(job_id.to_owned()),
                    details: json!({
                        "debit": id,
                        "release": release,
                        "scopes": scopes,
                        "epsilon": charged.epsilon,
                        "delta": charged.delta,
                        "remaining": remaining,
                    }),
                },
            )?;
            Ok(Debit {
                id: id.clone(),
                job_id: job_id.to_owned(),
                release: release.to_owned(),
                actor: actor.to_owned(),
                scopes: scopes.clone(),
                charge: charged,
                time: time.clone(),
                refunded: false,
                refunded_at: None,
                refund_reason: None,
            })
        })
    }

    /// Refunds debit `debit_id` because its release was blocked before any noisy value left the
    /// guard, and only then: the ledger cannot check that, the caller must. Audited as
    /// `privacy.refund` (actor `system`, the job and subject of the debit) with `reason`.
    ///
    /// # Errors
    ///
    /// [`BudgetError::UnknownDebit`]; [`BudgetError::AlreadyRefunded`] for a second refund.
    pub fn refund(&self, debit_id: &str, reason: &str) -> Result<(), BudgetError> {
        let debit_id = name("debit_id", debit_id)?;
        let reason = text("reason", reason, MAX_REASON_LEN)?;
        let time = now();
        self.store.write_with(|tx| {
            let debit = sql::debit(tx, debit_id)?.ok_or_else(|| BudgetError::UnknownDebit {
                id: debit_id.to_owned(),
            })?;
            if debit.refunded || !sql::mark_refunded(tx, debit_id, &time, reason)? {
                return Err(BudgetError::AlreadyRefunded {
                    id: debit_id.to_owned(),
                });
            }
            let mut remaining = Vec::with_capacity(debit.scopes.len());
            for scope in &debit.scopes {
                let total = sql::total(tx, scope)?
                    .ok_or_else(|| BudgetError::NoBudget {
                        scope: scope.clone(),
                    })?
                    .total;
                let spent = sql::spent(tx, scope)?;
                let left = total.checked_sub(spent).ok_or_else(|| overflow(scope))?;
                remaining.push(json!({ "scope": scope, "remaining": amount_json(left) }));
            }
            self.audit.append_in(
                tx,
                NewEntry {
                    actor: REFUND_ACTOR.into(),
                    action: ACTION_REFUND.into(),
                    subject: subject(&debit.scopes),
                    job_id: Some(debit.job_id.clone()),
                    details: json!({
                        "debit": debit.id,
                        "release": debit.release,
                        "charged": debit.actor,
                        "scopes": debit.scopes,
                        "epsilon": debit.charge.epsilon,
                        "delta": debit.charge.delta,
                        "remaining": remaining,
                        "reason": reason,
                    }),
                },
            )?;
            Ok(())
        })
    }

    /// What the `planned` charges, made in order, would cost each of `scopes` and leave it,
    /// computed on one snapshot without writing anything. Each planned charge is rounded up as
    /// [`BudgetLedger::charge`] would round it.
    ///
    /// # Errors
    ///
    /// [`BudgetError::NoBudget`], [`BudgetError::NoScopes`], [`BudgetError::Invalid`] as for a
    /// charge.
    pub fn preview(
        &self,
        scopes: &[BudgetScope],
        planned: &[Charge],
    ) -> Result<Vec<BudgetPreview>, BudgetError> {
        let scopes = distinct_scopes(scopes)?;
        let planned = planned
            .iter()
            .map(|c| charge_units(*c))
            .collect::<Result<Vec<_>, _>>()?;
        self.store.read_with(|conn| {
            scopes
                .iter()
                .map(|scope| {
                    let total = sql::total(conn, scope)?
                        .ok_or_else(|| BudgetError::NoBudget {
                            scope: scope.clone(),
                        })?
                        .total;
                    let spent = sql::spent(conn, scope)?;
                    preview_scope(scope, total, spent, &planned)
                })
                .collect()
        })
    }

    /// Every debit that charged `scope`, refunded ones included, oldest first.
    pub fn debits(&self, scope: &BudgetScope) -> Result<Vec<Debit>, BudgetError> {
        let scope = valid_scope(scope)?;
        self.store
            .read_with(|conn| Ok(sql::debits_of(conn, &scope)?))
    }

    /// The debit `debit_id`, `None` if there is none.
    pub fn debit(&self, debit_id: &str) -> Result<Option<Debit>, BudgetError> {
        let debit_id = name("debit_id", debit_id)?;
        self.store.read_with(|conn| Ok(sql::debit(conn, debit_id)?))
    }
}

/// One scope's preview of `planned`.
fn preview_scope(
    scope: &BudgetScope,
    total: Units,
    spent: Units,
    planned: &[Units],
) -> Result<BudgetPreview, BudgetError> {
    let mut cost = Units::default();
    let mut fitting = 0;
    let mut refused = false;
    for charge in planned {
        cost = cost.checked_add(*charge).ok_or_else(|| overflow(scope))?;
        let after = spent.checked_add(cost).ok_or_else(|| overflow(scope))?;
        // Once one is refused the later ones are not counted, as a job would stop there.
        if !refused && after.within(total) {
            fitting += 1;
        } else {
            refused = true;
        }
    }
    let remaining = total.checked_sub(spent).ok_or_else(|| overflow(scope))?;
    let remaining_after = remaining.checked_sub(cost).ok_or_else(|| overflow(scope))?;
    Ok(BudgetPreview {
        scope: scope.clone(),
        total: charge_of(total),
        spent: charge_of(spent),
        remaining: charge_of(remaining),
        cost: charge_of(cost),
        remaining_after: charge_of(remaining_after),
        fits: fitting == planned.len(),
        fitting,
    })
}

/// The refusal of `asked` against `scope`.
fn insufficient(scope: &BudgetScope, spent: Units, total: Units, asked: Units) -> BudgetError {
    // A total lowered to exactly the spending leaves zero, never less; saturate anyway so that
    // the message never shows a negative remainder.
    let left = Units {
        epsilon: (total.epsilon - spent.epsilon).max(0),
        delta: (total.delta - spent.delta).max(0),
    };
    BudgetError::Insufficient {
        scope: scope.clone(),
        spent: charge_of(spent),
        left: charge_of(left),
        total: charge_of(total),
        asked: charge_of(asked),
    }
}

fn overflow(scope: &BudgetScope) -> BudgetError {
    BudgetError::Corrupt(format!("the amounts of {scope} overflow"))
}

/// The audit subject of an operation on `scopes`: the scenario, if one is charged.
fn subject(scopes: &[BudgetScope]) -> String {
    scopes
        .iter()
        .find(|s| matches!(s, BudgetScope::Scenario(_)))
        .or_else(|| scopes.first())
        .map(|s| s.id().to_owned())
        .unwrap_or_default()
}

/// An amount for audit details: the exact decimals as JSON numbers.
fn amount_json(units: Units) -> Value {
    let amount = charge_of(units);
    json!({ "epsilon": amount.epsilon, "delta": amount.delta })
}

/// A validated charge in units, rounded up.
fn charge_units(charge: Charge) -> Result<Units, BudgetError> {
    Ok(Units {
        epsilon: epsilon_units("epsilon", charge.epsilon, Round::Up)?,
        delta: delta_units("delta", charge.delta, Round::Up)?,
    })
}

/// Validated totals in units, rounded down.
fn total_units(epsilon: f64, delta: f64) -> Result<Units, BudgetError> {
    Ok(Units {
        epsilon: epsilon_units("epsilon_total", epsilon, Round::Down)?,
        delta: delta_units("delta_total", delta, Round::Down)?,
    })
}

fn epsilon_units(field: &'static str, value: f64, round: Round) -> Result<i64, BudgetError> {
    let invalid = |reason| BudgetError::Invalid {
        field,
        value: value.to_string(),
        reason,
    };
    if !value.is_finite() || value <= 0.0 || value > MAX_EPSILON {
        return Err(invalid(
            "ε must be a finite number greater than 0 and at most 1000000",
        ));
    }
    match to_units(value, EPSILON_SCALE, round) {
        Some(0) => Err(invalid("ε must be at least 0.000000001, the ledger's unit")),
        Some(units) => Ok(units),
        None => Err(invalid("ε cannot be represented")),
    }
}

fn delta_units(field: &'static str, value: f64, round: Round) -> Result<i64, BudgetError> {
    let invalid = |reason| BudgetError::Invalid {
        field,
        value: value.to_string(),
        reason,
    };
    if !(0.0..1.0).contains(&value) {
        return Err(invalid("δ must be a finite number at least 0 and below 1"));
    }
    let one = 10_i64.pow(DELTA_SCALE);
    match to_units(value, DELTA_SCALE, round) {
        // Rounding up a δ just below 1 can reach 1 unit-wise.
        Some(units) if units >= one => Err(invalid("δ must be below 1")),
        Some(units) => Ok(units),
        None => Err(invalid("δ cannot be represented")),
    }
}

/// `scopes` validated and without repeats, in the order first given.
fn distinct_scopes(scopes: &[BudgetScope]) -> Result<Vec<BudgetScope>, BudgetError> {
    let mut distinct: Vec<BudgetScope> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let scope = valid_scope(scope)?;
        // A release touches a handful of scopes: a linear search beats a set here.
        if !distinct.contains(&scope) {
            distinct.push(scope);
        }
    }
    if distinct.is_empty() {
        return Err(BudgetError::NoScopes);
    }
    Ok(distinct)
}

fn valid_scope(scope: &BudgetScope) -> Result<BudgetScope, BudgetError> {
    name("scope id", scope.id())?;
    Ok(scope.clone())
}

/// A validated id, name or actor: non-blank, at most [`MAX_NAME_LEN`] bytes, no control
/// characters.
fn name<'a>(field: &'static str, value: &'a str) -> Result<&'a str, BudgetError> {
    let value = text(field, value, MAX_NAME_LEN)?;
    if value.chars().any(char::is_control) {
        return Err(BudgetError::Invalid {
            field,
            value: echo(value),
            reason: "must not contain control characters",
        });
    }
    Ok(value)
}

/// A validated free text: non-blank, at most `max` bytes.
fn text<'a>(field: &'static str, value: &'a str, max: usize) -> Result<&'a str, BudgetError> {
    if value.trim().is_empty() {
        return Err(BudgetError::Invalid {
            field,
            value: echo(value),
            reason: "must not be empty",
        });
    }
    if value.len() > max {
        return Err(BudgetError::Invalid {
            field,
            value: echo(value),
            reason: "is too long",
        });
    }
    Ok(value)
}

/// `value` quoted for an error message, cut short (inputs can be long or hostile).
fn echo(value: &str) -> String {
    let mut shown: String = value.chars().take(MAX_ECHO_CHARS).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// A fresh debit id: `dbt-` and 16 random hex digits.
fn new_debit_id() -> Result<String, BudgetError> {
    let mut random = [0u8; 8];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| BudgetError::Random)?;
    Ok(format!("{DEBIT_PREFIX}{}", hex::encode(random)))
}

/// The current time in the store's one format (UTC, milliseconds, `Z`).
fn now() -> String {
    crate::store::codec::ts(&chrono::Utc::now())
}
