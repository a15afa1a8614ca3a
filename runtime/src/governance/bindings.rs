//! Scenario ids bound to one operator for ever, under a domain-assigned identity.
//!
//! A scenario id is the operator's choice, so it cannot by itself say whose a scenario's
//! pseudonyms and privacy budget are: after one operator's application ends, another could
//! apply under the same id and inherit both. The first use of an id (an application, or a local
//! `shuyu run`) therefore binds it to its operator and to a `key_id` the domain assigns; the
//! pseudonym key is derived from the `key_id` (`keys::DomainKeys::pseudonym_key`) and the
//! scenario's ledger scope is the `key_id`. Nothing rebinds an id: another operator using it is
//! refused with [`taken`], which says nothing about who holds it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::identities::random_hex;
use super::{GovError, Governance};
use crate::audit::{AuditLog, NewEntry};
use crate::store::governance::bindings as db;
use crate::store::{Connection, Store, Transaction};

/// At most this many bytes of the scenario id start a new key id (the rest is random), so that
/// key ids stay within the ledger's 256-byte scope ids whatever the scenario id's length.
const KEY_PREFIX_LEN: usize = 64;
/// Random bytes in a new key id (hex-encoded: 32 characters).
const KEY_RANDOM_BYTES: usize = 16;

/// The binding of a scenario id: who owns it and the identity its keys and ledger derive from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioBinding {
    /// The scenario id (the operator's choice).
    pub scenario_id: String,
    /// The operator it is bound to.
    pub operator: String,
    /// The domain-assigned identity: input of the pseudonym key, and the scenario's ledger
    /// scope id. `<scenario id>~<32 hex>` for ids bound since version 5 of the schema (`~` is
    /// never in a scenario id, so no chosen id equals one); the scenario id itself for ids used
    /// before, so their pseudonyms and ledgers stayed what they were.
    pub key_id: String,
}

impl From<db::StoredBinding> for ScenarioBinding {
    fn from(stored: db::StoredBinding) -> Self {
        Self {
            scenario_id: stored.scenario_id,
            operator: stored.operator,
            key_id: stored.key_id,
        }
    }
}

/// The refusal for a scenario id bound to another operator. It is the same whoever holds the id
/// and whatever state that operator's applications are in, so it tells nothing but "taken".
pub(crate) fn taken(scenario_id: &str) -> GovError {
    GovError::Conflict(format!(
        "scenario id '{scenario_id}' is taken: a scenario id belongs for ever to the operator \
         that first used it; choose another id"
    ))
}

/// A new key id for `scenario_id`: a readable prefix and 128 random bits.
fn new_key_id(scenario_id: &str) -> Result<String, GovError> {
    // Scenario ids are ASCII (checked before any binding), so a byte cut is a char cut; a
    // non-ASCII id from an unchecked caller is cut at the last boundary before the limit.
    let mut end = scenario_id.len().min(KEY_PREFIX_LEN);
    while !scenario_id.is_char_boundary(end) {
        end -= 1;
    }
    Ok(format!(
        "{}~{}",
        &scenario_id[..end],
        random_hex(KEY_RANDOM_BYTES)?
    ))
}

/// The binding of `scenario_id`, `None` if the id was never used.
pub(crate) fn find(
    conn: &Connection,
    scenario_id: &str,
) -> Result<Option<ScenarioBinding>, GovError> {
    Ok(db::find_binding(conn, scenario_id)?.map(ScenarioBinding::from))
}

/// The binding of `scenario_id` if it belongs to `operator`, `None` if it is unbound or another
/// operator's (the two look alike to the caller).
pub(crate) fn owned(
    conn: &Connection,
    scenario_id: &str,
    operator: &str,
) -> Result<Option<ScenarioBinding>, GovError> {
    Ok(find(conn, scenario_id)?.filter(|b| b.operator == operator))
}

/// Checks that `scenario_id` is free or `operator`'s, without binding it (a snapshot check
/// before a submission reads files).
pub(crate) fn check_free_or_own(
    conn: &Connection,
    scenario_id: &str,
    operator: &str,
) -> Result<(), GovError> {
    match find(conn, scenario_id)? {
        Some(binding) if binding.operator != operator => Err(taken(scenario_id)),
        _ => Ok(()),
    }
}

/// Binds `scenario_id` to `operator` on first use, inside the caller's write transaction, and
/// audits a new binding there; returns the binding. [`taken`] if another operator holds it.
pub(crate) fn bind_in(
    tx: &Transaction<'_>,
    audit: &AuditLog,
    actor: &str,
    scenario_id: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<ScenarioBinding, GovError> {
    if let Some(binding) = find(tx, scenario_id)? {
        if binding.operator != operator {
            return Err(taken(scenario_id));
        }
        return Ok(binding);
    }
    let key_id = new_key_id(scenario_id)?;
    db::insert_binding(tx, scenario_id, operator, &key_id, &now)?;
    audit.append_in(
        tx,
        NewEntry {
            actor: actor.to_string(),
            action: "gov.scenario.bind".to_string(),
            subject: scenario_id.to_string(),
            job_id: None,
            details: json!({ "operator": operator, "key_id": key_id }),
        },
    )?;
    Ok(ScenarioBinding {
        scenario_id: scenario_id.to_string(),
        operator: operator.to_string(),
        key_id,
    })
}

/// Binds `scenario_id` to `operator` on first use in its own transaction; returns the binding.
/// This is how a job finds the identity its pseudonyms and budget belong to: a server job's id
/// was bound when its application was filed (so this only reads), a local `shuyu run` binds the
/// id to the scenario file's operator on its first run.
///
/// # Errors
///
/// [`GovError::Conflict`] when another operator holds the id ([`taken`]);
/// [`GovError::Internal`] for the database or the audit log.
pub(crate) fn bind_scenario(
    store: &Store,
    audit: &AuditLog,
    scenario_id: &str,
    operator: &str,
) -> Result<ScenarioBinding, GovError> {
    // Most runs find the binding: read first, so that they do not take the write lock.
    if let Some(binding) = store.read_with(|conn| find(conn, scenario_id))? {
        if binding.operator != operator {
            return Err(taken(scenario_id));
        }
        return Ok(binding);
    }
    let now = Utc::now();
    store.write_with(|tx| bind_in(tx, audit, operator, scenario_id, operator, now))
}

impl Governance {
    /// The binding of `scenario_id`, if any. No access check: for local tools on the data
    /// directory, which act for the domain.
    ///
    /// # Errors
    ///
    /// [`GovError::Internal`] for the database.
    pub fn scenario_binding(&self, scenario_id: &str) -> Result<Option<ScenarioBinding>, GovError> {
        self.store.read_with(|conn| find(conn, scenario_id))
    }
}
