//! Table `applications` (read): the statements of `crate::governance::budgets`, which match a
//! caller and a scenario's budget through the applications naming the scenario.

use rusqlite::params;

use super::texts;
use crate::store::{Connection, StoreError};

/// Whether `operator` filed any application for `scenario_id`, in any status: a budget spent
/// under an application that has since ended is still that operator's spending.
pub(crate) fn operator_has_application(
    conn: &Connection,
    scenario_id: &str,
    operator: &str,
) -> Result<bool, StoreError> {
    let owns = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM applications \
         WHERE scenario_id = ?1 AND operator = ?2)",
        params![scenario_id, operator],
        |row| row.get::<_, bool>(0),
    )?;
    Ok(owns)
}

/// Ids of a scenario's applications, latest submitted first (ties broken by id, latest first),
/// so that the caller can stop at the first approved one or fall back to the latest.
pub(crate) fn application_ids_latest_first(
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
