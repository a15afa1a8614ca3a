//! Who may act: role checks with messages naming the role needed, loading the caller's stored
//! identity, and recording an action in the audit log inside its transaction.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::model::{Caller, Identity, IdentityStatus, Role};
use super::sql::{parse_enum, parse_ts};
use super::{GovError, Governance};
use crate::audit::NewEntry;

/// The actor named in the audit log for `shuyu admin` actions (local, no token).
pub(crate) const ADMIN: &str = "admin";
/// The actor named for automatic changes (expiry, job runner).
pub(crate) const SYSTEM: &str = "system";

/// Columns of `identities`, in the order [`StoredIdentity::from_row`] expects.
pub(crate) const IDENTITY_COLUMNS: &str =
    "id, role, name, usci, department, status, status_reason, created_at";

/// An identity with the reason of its current status.
#[derive(Debug, Clone)]
pub(crate) struct StoredIdentity {
    /// The identity.
    pub identity: Identity,
    /// Why it is suspended or terminated.
    pub status_reason: Option<String>,
}

impl StoredIdentity {
    /// Decodes a row selected with [`IDENTITY_COLUMNS`].
    pub fn from_row(row: &Row<'_>) -> Result<Self, GovError> {
        let role: String = row.get(1)?;
        let status: String = row.get(5)?;
        let created_at: String = row.get(7)?;
        Ok(Self {
            identity: Identity {
                id: row.get(0)?,
                role: parse_enum(&role)?,
                name: row.get(2)?,
                usci: row.get(3)?,
                department: row.get(4)?,
                status: parse_enum(&status)?,
                created_at: parse_ts(&created_at)?,
            },
            status_reason: row.get(6)?,
        })
    }

    /// Why this operator may not run jobs or file applications now, if it may not.
    pub fn operator_refusal(&self) -> Option<String> {
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

/// Loads one identity, `None` if unknown.
pub(crate) fn find_identity(
    conn: &Connection,
    id: &str,
) -> Result<Option<StoredIdentity>, GovError> {
    conn.query_row(
        &format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE id = ?1"),
        params![id],
        |row| Ok(StoredIdentity::from_row(row)),
    )
    .optional()?
    .transpose()
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
