//! Statements of the runtime's `budget` module, the privacy-budget ledger: `privacy_budgets`,
//! `privacy_debits` and `privacy_debit_scopes`. Every function runs on the caller's connection or
//! transaction, so a check and the write it guards share one snapshot.

use rusqlite::{params, OptionalExtension, Row};

use shuyu_model::budget::{Budget, BudgetScope, Charge, Debit};
use shuyu_model::units::{from_units, Units, DELTA_SCALE, EPSILON_SCALE};

use super::{Connection, StoreError};

/// A scope's stored totals and when they were set.
pub struct StoredTotal {
    /// The total ε and δ, in fixed units.
    pub total: Units,
    /// When the bureau last set it (RFC 3339, UTC).
    pub updated_at: String,
}

/// A debit as inserted.
pub struct NewDebit<'a> {
    /// The debit's id (`dbt-…`).
    pub id: &'a str,
    /// The job whose release it pays for.
    pub job_id: &'a str,
    /// The release's name within the job.
    pub release: &'a str,
    /// Who asked for the release.
    pub actor: &'a str,
    /// Every scope charged at once.
    pub scopes: &'a [BudgetScope],
    /// What it costs, in fixed units.
    pub charge: Units,
    /// When (RFC 3339, UTC).
    pub time: &'a str,
}

/// The (ε, δ) units as the public float pair.
pub fn charge_of(units: Units) -> Charge {
    Charge::new(
        from_units(units.epsilon, EPSILON_SCALE),
        from_units(units.delta, DELTA_SCALE),
    )
}

/// The stored totals of `scope`, `None` if it has no budget.
pub fn total(conn: &Connection, scope: &BudgetScope) -> Result<Option<StoredTotal>, StoreError> {
    let row: Option<(i64, i64, String)> = conn
        .query_row(
            "SELECT epsilon_total, delta_total, updated_at FROM privacy_budgets \
             WHERE scope_kind = ?1 AND scope_id = ?2",
            params![scope.kind(), scope.id()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    row.map(|(epsilon, delta, updated_at)| {
        let total = checked_units(epsilon, delta, || format!("the total of {scope}"))?;
        Ok(StoredTotal { total, updated_at })
    })
    .transpose()
}

/// What `scope` has spent: the sum of its debits not refunded.
pub fn spent(conn: &Connection, scope: &BudgetScope) -> Result<Units, StoreError> {
    // SUM of BIGINT is NUMERIC in PostgreSQL; the cast keeps the column type the same in both.
    let (epsilon, delta): (i64, i64) = conn.query_row(
        "SELECT CAST(COALESCE(SUM(d.epsilon), 0) AS BIGINT), \
                CAST(COALESCE(SUM(d.delta), 0) AS BIGINT) \
         FROM privacy_debits d JOIN privacy_debit_scopes s ON s.debit_id = d.id \
         WHERE s.scope_kind = ?1 AND s.scope_id = ?2 AND d.refunded = 0",
        params![scope.kind(), scope.id()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    checked_units(epsilon, delta, || format!("the spending of {scope}"))
}

/// The budget of `scope` as the API shows it, `None` if it has none.
pub fn budget(conn: &Connection, scope: &BudgetScope) -> Result<Option<Budget>, StoreError> {
    let Some(stored) = total(conn, scope)? else {
        return Ok(None);
    };
    let spent = charge_of(spent(conn, scope)?);
    let total = charge_of(stored.total);
    Ok(Some(Budget {
        scope: scope.clone(),
        epsilon_total: total.epsilon,
        delta_total: total.delta,
        epsilon_spent: spent.epsilon,
        delta_spent: spent.delta,
        updated_at: stored.updated_at,
    }))
}

/// Creates or replaces the totals of `scope`.
pub fn put_total(
    conn: &Connection,
    scope: &BudgetScope,
    total: Units,
    exists: bool,
    time: &str,
) -> Result<(), StoreError> {
    // Select-then-insert-or-update rather than an upsert: the caller holds the write lock, and
    // this stays plain SQL on any database.
    if exists {
        conn.execute(
            "UPDATE privacy_budgets SET epsilon_total = ?3, delta_total = ?4, updated_at = ?5 \
             WHERE scope_kind = ?1 AND scope_id = ?2",
            params![scope.kind(), scope.id(), total.epsilon, total.delta, time],
        )?;
    } else {
        conn.execute(
            "INSERT INTO privacy_budgets \
             (scope_kind, scope_id, epsilon_total, delta_total, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![scope.kind(), scope.id(), total.epsilon, total.delta, time],
        )?;
    }
    Ok(())
}

/// Inserts a debit and the scopes it charges. The debit takes the next `seq`, which orders
/// debits as they were charged (ids are random and times have millisecond resolution); the
/// caller's write transaction keeps two writers from taking the same number, and the unique
/// index would refuse it if they did.
pub fn insert_debit(conn: &Connection, debit: &NewDebit<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO privacy_debits \
         (id, job_id, release_name, actor, epsilon, delta, time, refunded, refunded_at, refund_reason, \
          seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, NULL, \
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM privacy_debits))",
        params![
            debit.id,
            debit.job_id,
            debit.release,
            debit.actor,
            debit.charge.epsilon,
            debit.charge.delta,
            debit.time
        ],
    )?;
    let mut insert = conn.prepare(
        "INSERT INTO privacy_debit_scopes (debit_id, position, scope_kind, scope_id) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (position, scope) in debit.scopes.iter().enumerate() {
        let position = i64::try_from(position)
            .map_err(|_| StoreError::Corrupt("too many scopes in one debit".into()))?;
        insert.execute(params![debit.id, position, scope.kind(), scope.id()])?;
    }
    Ok(())
}

/// Marks a debit refunded; false if it was not found unrefunded.
pub fn mark_refunded(
    conn: &Connection,
    id: &str,
    time: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    // `AND refunded = 0` makes the update itself refuse a second refund.
    let changed = conn.execute(
        "UPDATE privacy_debits SET refunded = 1, refunded_at = ?2, refund_reason = ?3 \
         WHERE id = ?1 AND refunded = 0",
        params![id, time, reason],
    )?;
    Ok(changed == 1)
}

/// Columns of `privacy_debits`, in the order [`debit_row`] expects.
const DEBIT_COLUMNS: &str = "d.id, d.job_id, d.release_name, d.actor, d.epsilon, d.delta, d.time, \
                             d.refunded, d.refunded_at, d.refund_reason";

/// A debit row before its scopes are attached.
struct DebitRow {
    id: String,
    job_id: String,
    release: String,
    actor: String,
    epsilon: i64,
    delta: i64,
    time: String,
    refunded: i64,
    refunded_at: Option<String>,
    refund_reason: Option<String>,
}

fn debit_row(row: &Row<'_>) -> rusqlite::Result<DebitRow> {
    Ok(DebitRow {
        id: row.get(0)?,
        job_id: row.get(1)?,
        release: row.get(2)?,
        actor: row.get(3)?,
        epsilon: row.get(4)?,
        delta: row.get(5)?,
        time: row.get(6)?,
        refunded: row.get(7)?,
        refunded_at: row.get(8)?,
        refund_reason: row.get(9)?,
    })
}

/// The debit `id` with its scopes, `None` if there is none.
pub fn debit(conn: &Connection, id: &str) -> Result<Option<Debit>, StoreError> {
    let row = conn
        .query_row(
            &format!("SELECT {DEBIT_COLUMNS} FROM privacy_debits d WHERE d.id = ?1"),
            params![id],
            debit_row,
        )
        .optional()?;
    row.map(|row| complete(conn, row)).transpose()
}

/// Every debit that charged `scope`, refunded or not, in the order they were charged.
pub fn debits_of(conn: &Connection, scope: &BudgetScope) -> Result<Vec<Debit>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {DEBIT_COLUMNS} FROM privacy_debits d \
         WHERE d.id IN (SELECT s.debit_id FROM privacy_debit_scopes s \
                        WHERE s.scope_kind = ?1 AND s.scope_id = ?2) \
         ORDER BY d.seq"
    ))?;
    let rows = statement
        .query_map(params![scope.kind(), scope.id()], debit_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(|row| complete(conn, row)).collect()
}

/// Attaches a debit's scopes and converts its amounts.
fn complete(conn: &Connection, row: DebitRow) -> Result<Debit, StoreError> {
    let mut statement = conn.prepare(
        "SELECT scope_kind, scope_id FROM privacy_debit_scopes WHERE debit_id = ?1 \
         ORDER BY position",
    )?;
    let parts = statement
        .query_map(params![row.id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(String, String)>, _>>()?;
    let scopes = parts
        .into_iter()
        .map(|(kind, id)| {
            BudgetScope::from_parts(&kind, id).ok_or_else(|| {
                StoreError::Corrupt(format!("debit '{}' names scope kind '{kind}'", row.id))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let charge = checked_units(row.epsilon, row.delta, || format!("debit '{}'", row.id))?;
    Ok(Debit {
        charge: charge_of(charge),
        refunded: row.refunded != 0,
        id: row.id,
        job_id: row.job_id,
        release: row.release,
        actor: row.actor,
        scopes,
        time: row.time,
        refunded_at: row.refunded_at,
        refund_reason: row.refund_reason,
    })
}

/// Stored units, refusing negative ones (only an altered database holds them).
fn checked_units(
    epsilon: i64,
    delta: i64,
    what: impl FnOnce() -> String,
) -> Result<Units, StoreError> {
    if epsilon < 0 || delta < 0 {
        return Err(StoreError::Corrupt(format!(
            "{} holds a negative amount",
            what()
        )));
    }
    Ok(Units { epsilon, delta })
}

/// Every debit's id and whether it was refunded, in charge order: what `audit verify` checks
/// against the log.
pub fn debit_states(conn: &Connection) -> Result<Vec<(String, bool)>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, refunded FROM privacy_debits ORDER BY seq")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? != 0))
    })?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row?);
    }
    Ok(items)
}
