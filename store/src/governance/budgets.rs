//! Table `applications` (read): the statements of `shuyu::governance::budgets`, which find the
//! datasets that go with a scenario's budget through the applications naming the scenario.

use rusqlite::params;

use super::texts;
use crate::{Connection, StoreError};

/// Ids of a scenario's applications, latest submitted first (ties broken by id, latest first),
/// so that the caller can stop at the first approved one or fall back to the latest.
pub fn application_ids_latest_first(
    conn: &Connection,
    scenario_id: &str,
) -> Result<Vec<String>, StoreError> {
    texts(
        conn,
        "SELECT id FROM applications WHERE scenario_id = ?1 \
         ORDER BY submitted_at DESC, id DESC",
        params![scenario_id],
    )
}
