//! Identities and their bearer tokens: `shuyu admin` creates them locally; the HTTP API
//! authenticates callers with the tokens. Only a token's SHA-256 is stored, so a copy of the
//! database does not let anyone sign in.

use chrono::Utc;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::access::{self, find_identity, ADMIN};
use super::model::{Caller, Identity, IdentityStatus, IssuedToken, NewIdentity, Role};
use super::{GovError, Governance};
use crate::store::governance::identities as db;
use crate::store::{Connection, Transaction};

/// Settings key of the platform maintainer's USCI.
const MAINTAINER_KEY: &str = "maintainer_usci";
/// Prefix of token texts, so that a leaked token is recognisable in logs and scanners.
const TOKEN_PREFIX: &str = "sy_";
/// Longest identity id.
const MAX_ID_LEN: usize = 64;

/// Whether `id` is a valid identity id: `[a-z0-9_-]{1,64}`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The stored form of a token: lowercase hex SHA-256 of its text.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(digest(&SHA256, token.as_bytes()))
}

/// `len` bytes from the system's secure generator, as hex.
pub(crate) fn random_hex(len: usize) -> Result<String, GovError> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| GovError::internal("the system random generator failed"))?;
    Ok(hex::encode(bytes))
}

/// A new token: 32 random bytes as `sy_` + hex.
fn new_token() -> Result<String, GovError> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex(32)?))
}

/// Reads a setting.
pub(crate) fn get_setting(conn: &Connection, key: &str) -> Result<Option<String>, GovError> {
    Ok(db::get_setting(conn, key)?)
}

/// Writes a setting (insert or replace; `ON CONFLICT` is understood by SQLite and PostgreSQL).
pub(crate) fn put_setting(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), GovError> {
    Ok(db::put_setting(tx, key, value)?)
}

/// Stores the hash of a new token for `identity` and returns the token text.
fn insert_token(tx: &Transaction<'_>, identity: &str) -> Result<IssuedToken, GovError> {
    let token = new_token()?;
    db::insert_token(tx, &token_hash(&token), identity, &Utc::now())?;
    Ok(IssuedToken {
        identity: identity.to_string(),
        token,
    })
}

/// Checks a new identity's fields on their own (the database checks come later).
fn check_new_identity(new: &NewIdentity) -> Result<(), GovError> {
    if !valid_id(&new.id) {
        return Err(GovError::Invalid(format!(
            "identity id '{}' must be 1 to {MAX_ID_LEN} characters of a-z, 0-9, '-' and '_'",
            new.id
        )));
    }
    if new.name.trim().is_empty() {
        return Err(GovError::Invalid("a display name is required".into()));
    }
    let role = new.role.as_str();
    match (new.role, &new.usci, &new.department) {
        (Role::Operator, None, _) => Err(GovError::Invalid(
            "an operator needs its unified social credit code (usci)".into(),
        )),
        (Role::Operator, Some(usci), _) if !shuyu_datasets::usci_is_valid(usci) => {
            Err(GovError::Invalid(format!(
                "'{usci}' is not a valid unified social credit code (18 characters with correct \
                 check characters)"
            )))
        }
        (Role::Operator, _, Some(_)) => Err(GovError::Invalid(
            "department is for providers; an operator has a usci".into(),
        )),
        (Role::Provider, _, None) => Err(GovError::Invalid(
            "a provider needs its department (the `provider` of its dataset manifests)".into(),
        )),
        (Role::Provider, _, Some(dep)) if dep.trim().is_empty() => Err(GovError::Invalid(
            "a provider needs a non-empty department".into(),
        )),
        (Role::Provider | Role::Bureau | Role::Reviewer, Some(_), _) => Err(GovError::Invalid(
            format!("usci is for operators, not for a {role}"),
        )),
        (Role::Bureau | Role::Reviewer, _, Some(_)) => Err(GovError::Invalid(format!(
            "department is for providers, not for a {role}"
        ))),
        _ => Ok(()),
    }
}

impl Governance {
    /// Records the platform maintainer's USCI; an operator with it is refused.
    pub fn admin_set_maintainer(&self, usci: &str) -> Result<(), GovError> {
        let usci = usci.trim();
        if !shuyu_datasets::usci_is_valid(usci) {
            return Err(GovError::Invalid(format!(
                "'{usci}' is not a valid unified social credit code"
            )));
        }
        self.store.write_with(|tx| {
            if let Some(operator) = db::operator_with_usci(tx, usci)? {
                return Err(GovError::Conflict(format!(
                    "operator '{operator}' has this unified social credit code; the platform \
                     maintainer may not be an operator"
                )));
            }
            put_setting(tx, MAINTAINER_KEY, usci)?;
            self.record(
                tx,
                ADMIN,
                "gov.maintainer.set",
                usci,
                None,
                json!({ "usci": usci }),
            )
        })
    }

    /// Creates an identity and issues its first token.
    pub fn admin_add_identity(
        &self,
        new: NewIdentity,
    ) -> Result<(Identity, IssuedToken), GovError> {
        check_new_identity(&new)?;
        let department = new.department.as_deref().map(str::trim);
        self.store.write_with(|tx| {
            if find_identity(tx, &new.id)?.is_some() {
                return Err(GovError::Conflict(format!(
                    "identity '{}' already exists",
                    new.id
                )));
            }
            if let Some(usci) = &new.usci {
                if get_setting(tx, MAINTAINER_KEY)?.as_deref() == Some(usci.as_str()) {
                    return Err(GovError::Invalid(
                        "the platform maintainer may not be an operator".into(),
                    ));
                }
                if let Some(other) = db::operator_with_usci(tx, usci)? {
                    return Err(GovError::Conflict(format!(
                        "operator '{other}' already has unified social credit code {usci}"
                    )));
                }
            }
            if let Some(department) = department {
                // One identity per department: manifests name departments, and ownership of
                // datasets follows from it.
                if let Some(other) = db::provider_of_department(tx, department)? {
                    return Err(GovError::Conflict(format!(
                        "department '{department}' already has provider identity '{other}'"
                    )));
                }
            }
            let identity = Identity {
                id: new.id.clone(),
                role: new.role,
                name: new.name.trim().to_string(),
                usci: new.usci.clone(),
                department: department.map(str::to_string),
                status: IdentityStatus::Active,
                status_change: None,
                created_at: Utc::now(),
            };
            db::insert_identity(tx, &identity)?;
            let token = insert_token(tx, &identity.id)?;
            self.record(
                tx,
                ADMIN,
                "gov.identity.add",
                &identity.id,
                None,
                json!({
                    "role": identity.role.as_str(),
                    "name": identity.name,
                    "usci": identity.usci,
                    "department": identity.department,
                }),
            )?;
            Ok((identity, token))
        })
    }

    /// Issues a further token for an identity.
    pub fn admin_issue_token(&self, identity: &str) -> Result<IssuedToken, GovError> {
        self.store.write_with(|tx| {
            access::identity(tx, identity)?;
            let token = insert_token(tx, identity)?;
            self.record(
                tx,
                ADMIN,
                "gov.token.issue",
                identity,
                None,
                json!({ "identity": identity }),
            )?;
            Ok(token)
        })
    }

    /// Revokes every token of an identity.
    pub fn admin_revoke_tokens(&self, identity: &str) -> Result<u32, GovError> {
        self.store.write_with(|tx| {
            access::identity(tx, identity)?;
            let revoked = db::revoke_tokens(tx, identity)?;
            let revoked = u32::try_from(revoked).unwrap_or(u32::MAX);
            self.record(
                tx,
                ADMIN,
                "gov.token.revoke",
                identity,
                None,
                json!({ "identity": identity, "revoked": revoked }),
            )?;
            Ok(revoked)
        })
    }

    /// Lists identities.
    pub fn admin_list_identities(&self) -> Result<Vec<Identity>, GovError> {
        self.store.read_with(|conn| {
            Ok(db::list_identities(conn)?
                .into_iter()
                .map(|stored| stored.identity)
                .collect())
        })
    }

    /// The caller a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Caller, GovError> {
        let hash = token_hash(token.trim());
        self.store.read_with(|conn| {
            // Terminated operators still authenticate: they may read their jobs; every action
            // they attempt is refused by its own check.
            db::caller_of_token(conn, &hash)?
                .ok_or_else(|| GovError::Unauthenticated("unknown or revoked token".into()))
        })
    }

    /// The caller's own identity.
    pub fn whoami(&self, caller: &Caller) -> Result<Identity, GovError> {
        self.store
            .read_with(|conn| Ok(access::identity(conn, &caller.id)?.identity))
    }
}
