//! Who may act: role checks with messages naming the role needed, loading the caller's stored
//! identity, and recording an action in the audit log inside its transaction.

use super::model::{Caller, IdentityStatus, Role};
use super::{GovError, Governance};
use crate::audit::NewEntry;
use crate::store::governance::access as db;
use crate::store::{Connection, Transaction};

/// The stored identity row lives with its statements; its rules (`operator_refusal`) live here.
pub(crate) use crate::store::governance::access::StoredIdentity;

/// The actor named in the audit log for `shuyu admin` actions (local, no token).
pub(crate) const ADMIN: &str = "admin";
/// The actor named for automatic changes (expiry, job runner).
pub(crate) const SYSTEM: &str = "system";

/// The rules of a stored identity (its row lives with its statements in the store).
pub(crate) trait IdentityRules {
    /// Why this operator may not run jobs or file applications now, if it may not.
    fn operator_refusal(&self) -> Option<String>;
}

impl IdentityRules for StoredIdentity {
    fn operator_refusal(&self) -> Option<String> {
        let word = match self.identity.status {
            IdentityStatus::Active => return None,
            IdentityStatus::Suspended => "suspended",
            IdentityStatus::Terminated => "terminated",
        };
        let reason = self
            .status_reason
            .as_deref()
            .unwrap_or("no reason recorded");
        Some(format!(
            "operator '{}' is {word}: {reason}",
            self.identity.id
        ))
    }
}

/// What a caller is told about an object it may not see: exactly what it is told about one that
/// does not exist (same error, same status, same message), so that probing ids reveals nothing
/// of other operators' applications, agreements, jobs or products.
pub(crate) fn not_found(kind: &str, id: &str) -> GovError {
    GovError::NotFound(format!("{kind} '{id}'"))
}

/// Loads one identity, `None` if unknown.
pub(crate) fn find_identity(
    conn: &Connection,
    id: &str,
) -> Result<Option<StoredIdentity>, GovError> {
    Ok(db::find_identity(conn, id)?)
}

/// Loads one identity; unknown is [`GovError::NotFound`].
pub(crate) fn identity(conn: &Connection, id: &str) -> Result<StoredIdentity, GovError> {
    find_identity(conn, id)?.ok_or_else(|| GovError::NotFound(format!("identity '{id}'")))
}

/// How a role is named in "only ... may" messages.
fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::Bureau => "the bureau",
        Role::Provider => "a provider",
        Role::Operator => "an operator",
        Role::Reviewer => "a reviewer",
    }
}

/// `caller` as named in refusals: `'op-1' (operator)`.
pub(crate) fn who(caller: &Caller) -> String {
    format!("'{}' ({})", caller.id, caller.role.as_str())
}

/// Refuses unless `caller` has `role`; `action` completes "only the bureau may ...".
pub(crate) fn require(caller: &Caller, role: Role, action: &str) -> Result<(), GovError> {
    if caller.role == role {
        return Ok(());
    }
    Err(GovError::Forbidden(format!(
        "only {} may {action}; you are {}",
        role_phrase(role),
        who(caller)
    )))
}

/// Refuses unless `caller` has one of `roles`.
pub(crate) fn require_any(caller: &Caller, roles: &[Role], action: &str) -> Result<(), GovError> {
    if roles.contains(&caller.role) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(GovError::Forbidden(format!(
        "only {} may {action}; you are {}",
        names.join(" or "),
        who(caller)
    )))
}

/// A required free text (reason, note, answer): trimmed, non-empty.
pub(crate) fn required<'a>(text: &'a str, what: &str) -> Result<&'a str, GovError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(GovError::Invalid(format!("{what} is required")));
    }
    Ok(text)
}

impl Governance {
    /// Appends the audit entry of a governance change inside the change's own transaction, so
    /// that both commit or neither does.
    pub(crate) fn record(
        &self,
        tx: &Transaction<'_>,
        actor: &str,
        action: &str,
        subject: &str,
        job_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), GovError> {
        self.audit.append_in(
            tx,
            NewEntry {
                actor: actor.to_string(),
                action: action.to_string(),
                subject: subject.to_string(),
                job_id: job_id.map(str::to_string),
                details,
            },
        )?;
        Ok(())
    }
}
