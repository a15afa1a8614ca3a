//! Why a budget operation was refused or failed.

use crate::audit::AuditError;
use crate::store::StoreError;

use super::model::{BudgetScope, Charge};

/// Why a budget operation was refused or failed. Every refusal names the scope, debit or field
/// concerned; amounts are printed as exact decimals.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// An argument is out of range or empty.
    #[error("{field}: {value} is not valid: {reason}")]
    Invalid {
        /// The argument (`epsilon`, `delta_total`, `job_id`, `scope id`, ...).
        field: &'static str,
        /// The value given, as printed.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// A charge or preview named no scope at all.
    #[error("a charge must name at least one budget scope")]
    NoScopes,
    /// The scope has no budget set, so nothing can be charged to it.
    #[error("{scope} has no privacy budget; the bureau must set one before releases are charged")]
    NoBudget {
        /// The scope.
        scope: BudgetScope,
    },
    /// The release would overdraw the scope's budget; nothing was charged to any scope.
    #[error(
        "privacy budget of {scope} is insufficient: spent {spent}, left {left}, \
         this release asks {asked} (total {total}); nothing was charged"
    )]
    Insufficient {
        /// The first scope (in the order given) that cannot pay.
        scope: BudgetScope,
        /// What it has spent.
        spent: Charge,
        /// What it has left.
        left: Charge,
        /// Its total.
        total: Charge,
        /// What the release asked (rounded up to the ledger's units).
        asked: Charge,
    },
    /// A new total would be below what the scope has already spent.
    #[error(
        "cannot set the privacy budget of {scope} to {requested}: it has already spent {spent}"
    )]
    BelowSpent {
        /// The scope.
        scope: BudgetScope,
        /// What it has spent.
        spent: Charge,
        /// The total asked for (rounded down to the ledger's units).
        requested: Charge,
    },
    /// No debit has this id.
    #[error("no privacy debit '{id}'")]
    UnknownDebit {
        /// The id given.
        id: String,
    },
    /// The debit was refunded already; a refund happens at most once.
    #[error("privacy debit '{id}' was already refunded")]
    AlreadyRefunded {
        /// The debit.
        id: String,
    },
    /// The stored ledger holds something this code cannot read (an altered database).
    #[error("privacy budget ledger is corrupt: {0}")]
    Corrupt(String),
    /// The system's secure random generator failed, so no debit id could be made.
    #[error("the system random generator failed")]
    Random,
    /// The audit entry could not be written; the operation was rolled back with it.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The database failed; the operation was rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
}
