//! Statements of `shuyu::governance::identities` on tables `identities`, `tokens` and `settings`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::access::{StoredIdentity, IDENTITY_COLUMNS};
use crate::codec::{enum_text, parse_enum, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::records::{Caller, Identity};

/// Reads a setting, `None` if it was never written (each setting has its own default).
pub fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            params![key],
            |row| row.get(0),
        )
        .optional()?)
}

/// Writes a setting (insert or replace; `ON CONFLICT` is understood by SQLite and PostgreSQL).
pub fn put_setting(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Stores a new, unrevoked token by its hash only, so that a copy of the database does not let
/// anyone sign in.
pub fn insert_token(
    tx: &Transaction<'_>,
    token_hash: &str,
    identity: &str,
    created_at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tokens (token_hash, identity, created_at, revoked) VALUES (?1, ?2, ?3, 0)",
        params![token_hash, identity, ts(created_at)],
    )?;
    Ok(())
}

/// The operator holding unified social credit code `usci`, if any: a USCI names one company,
/// so it may belong to one operator only.
pub fn operator_with_usci(conn: &Connection, usci: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM identities WHERE role = 'operator' AND usci = ?1",
            params![usci],
            |row| row.get(0),
        )
        .optional()?)
}

/// The provider identity of `department`, if any: manifests name departments, so each has at
/// most one provider.
pub fn provider_of_department(
    conn: &Connection,
    department: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM identities WHERE role = 'provider' AND department = ?1",
            params![department],
            |row| row.get(0),
        )
        .optional()?)
}

/// Stores a new identity; a new identity has no status reason yet.
pub fn insert_identity(tx: &Transaction<'_>, identity: &Identity) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO identities (id, role, name, usci, department, status, status_reason, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
        params![
            identity.id,
            identity.role.as_str(),
            identity.name,
            identity.usci,
            identity.department,
            enum_text(&identity.status),
            ts(&identity.created_at)
        ],
    )?;
    Ok(())
}

/// Revokes every live token of `identity`; returns how many were live, for the audit entry.
pub fn revoke_tokens(tx: &Transaction<'_>, identity: &str) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE tokens SET revoked = 1 WHERE identity = ?1 AND revoked = 0",
        params![identity],
    )?)
}

/// Every identity, in id order.
pub fn list_identities(conn: &Connection) -> Result<Vec<StoredIdentity>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {IDENTITY_COLUMNS} FROM identities ORDER BY id"
    ))?;
    let rows = stmt.query_map([], |row| Ok(StoredIdentity::from_row(row)))?;
    let mut identities = Vec::new();
    for row in rows {
        identities.push(row??);
    }
    Ok(identities)
}

/// The caller whose unrevoked token has hash `token_hash`, `None` for an unknown or revoked
/// token. The identity's status is not looked at: refusing is the caller's rule.
pub fn caller_of_token(conn: &Connection, token_hash: &str) -> Result<Option<Caller>, StoreError> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT i.id, i.role FROM tokens t JOIN identities i ON i.id = t.identity \
             WHERE t.token_hash = ?1 AND t.revoked = 0",
            params![token_hash],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    found
        .map(|(id, role)| {
            Ok(Caller {
                id,
                role: parse_enum(&role)?,
            })
        })
        .transpose()
}
