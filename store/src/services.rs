//! Tables `consents` and `service_calls`: the statements of `shuyu::services`.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, Row};

use crate::codec::{enum_text, parse_enum, parse_opt_ts, parse_ts, ts};
use crate::{Connection, StoreError, Transaction};
use shuyu_model::services::{CallOutcome, Consent, ServiceCall, UsageRow};

/// Columns of `consents`, in the order [`consent_from_row`] expects.
const CONSENT_COLUMNS: &str = "id, operator, service, subject_kind, subject_ref, purpose, \
     evidence_sha256, valid_from, valid_until, status, granted_by, granted_at, revoked_by, \
     revoked_at, revoke_reason";

/// Columns of `service_calls`, in the order [`call_from_row`] expects.
const CALL_COLUMNS: &str =
    "seq, at, operator, service, application, consent, subject_ref, outcome, answer, failure, \
     latency_us";

fn consent_from_row(row: &Row<'_>) -> Result<Consent, StoreError> {
    Ok(Consent {
        id: row.get(0)?,
        operator: row.get(1)?,
        service: row.get(2)?,
        subject_kind: parse_enum(&row.get::<_, String>(3)?)?,
        subject_ref: row.get(4)?,
        purpose: row.get(5)?,
        evidence_sha256: row.get(6)?,
        valid_from: parse_ts(&row.get::<_, String>(7)?)?,
        valid_until: parse_ts(&row.get::<_, String>(8)?)?,
        status: parse_enum(&row.get::<_, String>(9)?)?,
        granted_by: row.get(10)?,
        granted_at: parse_ts(&row.get::<_, String>(11)?)?,
        revoked_by: row.get(12)?,
        revoked_at: parse_opt_ts(row.get(13)?)?,
        revoke_reason: row.get(14)?,
    })
}

/// A call's id as shown: `call-` and its sequence number.
pub fn call_id(seq: i64) -> String {
    format!("call-{seq:08}")
}

/// The sequence number of a call id, `None` when it is not one.
pub fn call_seq(id: &str) -> Option<i64> {
    id.strip_prefix("call-")?.parse().ok()
}

fn call_from_row(row: &Row<'_>) -> Result<ServiceCall, StoreError> {
    let answer: Option<String> = row.get(8)?;
    let latency: i64 = row.get(10)?;
    Ok(ServiceCall {
        id: call_id(row.get(0)?),
        at: parse_ts(&row.get::<_, String>(1)?)?,
        operator: row.get(2)?,
        service: row.get(3)?,
        application: row.get(4)?,
        consent: row.get(5)?,
        subject_ref: row.get(6)?,
        outcome: parse_enum(&row.get::<_, String>(7)?)?,
        answer: answer.map(|a| crate::codec::from_json(&a)).transpose()?,
        failure: row.get(9)?,
        latency_us: u64::try_from(latency).unwrap_or(0),
    })
}

/// Loads one consent, `None` if unknown.
pub fn find_consent(conn: &Connection, id: &str) -> Result<Option<Consent>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = ?1"),
            params![id],
            |row| Ok(consent_from_row(row)),
        )
        .optional()?
        .transpose()?;
    Ok(found)
}

/// Inserts a consent as given (its id taken by the caller in the same transaction).
pub fn insert_consent(tx: &Transaction<'_>, consent: &Consent) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        params![
            consent.id,
            consent.operator,
            consent.service,
            enum_text(&consent.subject_kind),
            consent.subject_ref,
            consent.purpose,
            consent.evidence_sha256,
            ts(&consent.valid_from),
            ts(&consent.valid_until),
            enum_text(&consent.status),
            consent.granted_by,
            ts(&consent.granted_at),
            consent.revoked_by,
            consent.revoked_at.as_ref().map(ts),
            consent.revoke_reason,
        ],
    )?;
    Ok(())
}

/// Marks consent `id` revoked by `by` at `at` for `reason`.
pub fn revoke_consent(
    tx: &Transaction<'_>,
    id: &str,
    by: &str,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE consents SET status = 'revoked', revoked_by = ?2, revoked_at = ?3, \
         revoke_reason = ?4 WHERE id = ?1",
        params![id, by, ts(&at), reason],
    )?;
    Ok(())
}

/// Up to `limit` consents after id `after`, in id order; an empty `operator` or `subject_ref`
/// does not filter.
pub fn consents_page(
    conn: &Connection,
    after: &str,
    operator: &str,
    subject_ref: &str,
    limit: usize,
) -> Result<Vec<Consent>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE id > ?1 \
         AND (?2 = '' OR operator = ?2) AND (?3 = '' OR subject_ref = ?3) \
         ORDER BY id LIMIT ?4"
    ))?;
    let rows = statement.query_map(
        params![
            after,
            operator,
            subject_ref,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| Ok(consent_from_row(row)),
    )?;
    let mut consents = Vec::new();
    for row in rows {
        consents.push(row??);
    }
    Ok(consents)
}

/// A call to record.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// Its local day (domain time zone).
    pub day: NaiveDate,
    /// The calling operator.
    pub operator: &'a str,
    /// `<scenario>.<service>`.
    pub service: &'a str,
    /// The application in force.
    pub application: &'a str,
    /// The consent cited.
    pub consent: &'a str,
    /// The subject reference.
    pub subject_ref: &'a str,
    /// Answered or failed.
    pub outcome: CallOutcome,
    /// The answer as JSON text, when answered.
    pub answer: Option<&'a str>,
    /// The failure's kind, when failed.
    pub failure: Option<&'a str>,
    /// Latency in microseconds.
    pub latency_us: u64,
}

/// Records a call; returns its sequence number (the column's own, assigned on insert).
pub fn insert_call(tx: &Transaction<'_>, call: &NewCall<'_>) -> Result<i64, StoreError> {
    let seq = tx.query_row(
        "INSERT INTO service_calls (at, day, operator, service, application, consent, \
         subject_ref, outcome, answer, failure, latency_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING seq",
        params![
            ts(&call.at),
            call.day.to_string(),
            call.operator,
            call.service,
            call.application,
            call.consent,
            call.subject_ref,
            call.outcome.as_str(),
            call.answer,
            call.failure,
            i64::try_from(call.latency_us).unwrap_or(i64::MAX),
        ],
        |row| row.get(0),
    )?;
    Ok(seq)
}

/// Up to `limit` calls about `subject_ref` after sequence number `after`, oldest first.
pub fn calls_of_subject(
    conn: &Connection,
    subject_ref: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<ServiceCall>, StoreError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {CALL_COLUMNS} FROM service_calls WHERE subject_ref = ?1 AND seq > ?2 \
         ORDER BY seq LIMIT ?3"
    ))?;
    let rows = statement.query_map(
        params![subject_ref, after, i64::try_from(limit).unwrap_or(i64::MAX)],
        |row| Ok(call_from_row(row)),
    )?;
    let mut calls = Vec::new();
    for row in rows {
        calls.push(row??);
    }
    Ok(calls)
}

/// One call by id, `None` if unknown.
pub fn find_call(conn: &Connection, seq: i64) -> Result<Option<ServiceCall>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {CALL_COLUMNS} FROM service_calls WHERE seq = ?1"),
            params![seq],
            |row| Ok(call_from_row(row)),
        )
        .optional()?
        .transpose()?;
    Ok(found)
}

/// Calls recorded on `day` by `operator` (empty: anyone) to `service` (empty: any service):
/// what the daily quotas count.
pub fn calls_on(
    conn: &Connection,
    day: NaiveDate,
    operator: &str,
    service: &str,
) -> Result<u64, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM service_calls WHERE day = ?1 \
         AND (?2 = '' OR operator = ?2) AND (?3 = '' OR service = ?3)",
        params![day.to_string(), operator, service],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Calls recorded under consent `consent`, ever: what its `calls_per_consent` counts.
pub fn calls_under(conn: &Connection, consent: &str) -> Result<u64, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM service_calls WHERE consent = ?1",
        params![consent],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Usage per day, operator and service for days `from..=to`; an empty `operator` does not
/// filter.
pub fn usage(
    conn: &Connection,
    from: NaiveDate,
    to: NaiveDate,
    operator: &str,
) -> Result<Vec<UsageRow>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT day, operator, service, \
                SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), \
                SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END), \
                AVG(latency_us), MAX(latency_us) \
         FROM service_calls WHERE day >= ?1 AND day <= ?2 AND (?3 = '' OR operator = ?3) \
         GROUP BY day, operator, service ORDER BY day, operator, service",
    )?;
    let rows = statement.query_map(params![from.to_string(), to.to_string(), operator], |row| {
        let day: String = row.get(0)?;
        let answered: i64 = row.get(3)?;
        let failed: i64 = row.get(4)?;
        let mean: f64 = row.get(5)?;
        let max: i64 = row.get(6)?;
        Ok((
            day,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            answered,
            failed,
            mean,
            max,
        ))
    })?;
    let mut usage = Vec::new();
    for row in rows {
        let (day, operator, service, answered, failed, mean, max) = row?;
        let day = day
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("service_calls.day '{day}' is not a date")))?;
        usage.push(UsageRow {
            day,
            operator,
            service,
            answered: u64::try_from(answered).unwrap_or(0),
            failed: u64::try_from(failed).unwrap_or(0),
            mean_latency_ms: mean / 1000.0,
            max_latency_ms: max as f64 / 1000.0,
        });
    }
    Ok(usage)
}

/// Every call as (id, outcome, answer text): what `audit verify` checks against the log.
pub fn call_outcomes(
    conn: &Connection,
) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
    let mut statement =
        conn.prepare("SELECT seq, outcome, answer FROM service_calls ORDER BY seq")?;
    let rows = statement.query_map([], |row| {
        Ok((call_id(row.get(0)?), row.get(1)?, row.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every consent as (id, whether revoked): what `audit verify` checks against the log.
pub fn consent_states(conn: &Connection) -> Result<Vec<(String, bool)>, StoreError> {
    let mut statement = conn.prepare("SELECT id, status FROM consents ORDER BY id")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get(0)?, row.get::<_, String>(1)? == "revoked"))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
