//! Statements of `shuyu::governance::access` on table `identities`: loading one stored identity.

use rusqlite::{params, OptionalExtension, Row};

use crate::codec::{parse_enum, parse_ts};
use crate::{Connection, StoreError};
use shuyu_model::records::Identity;

/// Columns of `identities`, in the order [`StoredIdentity::from_row`] expects; shared by every
/// statement that reads whole identities, so that one decoder serves them all.
pub(crate) const IDENTITY_COLUMNS: &str =
    "id, role, name, usci, department, status, status_reason, created_at, status_changed_by, \
     status_changed_at";

/// An identity with the reason of its current status, which the public [`Identity`] leaves out
/// but refusals quote.
#[derive(Debug, Clone)]
pub struct StoredIdentity {
    /// The identity.
    pub identity: Identity,
    /// Why it is suspended or terminated.
    pub status_reason: Option<String>,
}

impl StoredIdentity {
    /// Decodes a row selected with [`IDENTITY_COLUMNS`]; a value that does not parse is
    /// [`StoreError::Corrupt`].
    pub fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
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
                status_change: super::status_change(row.get(8)?, row.get(9)?, row.get(6)?)?,
                created_at: parse_ts(&created_at)?,
            },
            status_reason: row.get(6)?,
        })
    }
}

/// Loads one identity, `None` if unknown (the caller decides whether that is an error).
pub fn find_identity(conn: &Connection, id: &str) -> Result<Option<StoredIdentity>, StoreError> {
    conn.query_row(
        &format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE id = ?1"),
        params![id],
        |row| Ok(StoredIdentity::from_row(row)),
    )
    .optional()?
    .transpose()
}
