//! Table `scenario_bindings`: the statements of `shuyu::governance::bindings`, which bind each
//! scenario id to one operator and one domain-assigned key id for ever.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::codec::{parse_ts, ts};
use crate::{Connection, StoreError, Transaction};

/// One scenario id's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBinding {
    /// The scenario id its operator chose.
    pub scenario_id: String,
    /// The operator it belongs to.
    pub operator: String,
    /// The domain-assigned identity its pseudonym key and ledger scope derive from.
    pub key_id: String,
    /// When it was bound.
    pub bound_at: DateTime<Utc>,
}

/// The binding of `scenario_id`, `None` if the id was never used.
pub fn find_binding(
    conn: &Connection,
    scenario_id: &str,
) -> Result<Option<StoredBinding>, StoreError> {
    let row = conn
        .query_row(
            "SELECT scenario_id, operator, key_id, bound_at FROM scenario_bindings \
             WHERE scenario_id = ?1",
            params![scenario_id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    row.map(|(scenario_id, operator, key_id, bound_at)| {
        Ok(StoredBinding {
            scenario_id,
            operator,
            key_id,
            bound_at: parse_ts(&bound_at)?,
        })
    })
    .transpose()
}

/// Binds `scenario_id` to `operator` under `key_id` (the caller checked it is unbound, under
/// the same write lock).
pub fn insert_binding(
    tx: &Transaction<'_>,
    scenario_id: &str,
    operator: &str,
    key_id: &str,
    bound_at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO scenario_bindings (scenario_id, operator, key_id, bound_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![scenario_id, operator, key_id, ts(bound_at)],
    )?;
    Ok(())
}
