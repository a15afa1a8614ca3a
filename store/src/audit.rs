//! Statements of `shuyu::audit`: `audit_entries` (the hash chain) and `audit_checkpoints` (the
//! signed heads).
//!
//! Rows are decoded defensively: verification must report a tampered row (which column, of
//! which entry), not trip over it, so the readers below hand back `Err(problem)` per row
//! rather than failing the whole statement.

use rusqlite::types::{FromSql, Value};
use rusqlite::{params, params_from_iter, OptionalExtension, Row, Rows, Statement};

use super::{Connection, StoreError, Transaction};

/// Columns of `audit_entries`, in the order [`entry_row`] expects.
const ENTRY_COLUMNS: &str = "seq, time, actor, action, subject, job_id, details, prev_hash, hash";

/// A row of `audit_entries` exactly as stored.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Position in the log.
    pub seq: i64,
    /// RFC 3339 UTC text with milliseconds.
    pub time: String,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub subject: String,
    /// The job, if any.
    pub job_id: Option<String>,
    /// Canonical JSON text, hashed byte for byte as stored.
    pub details: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// A row of `audit_checkpoints` exactly as stored.
#[derive(Debug, Clone)]
pub struct RawCheckpoint {
    /// The checkpointed entry.
    pub seq: i64,
    /// That entry's hash.
    pub hash: String,
    /// When the checkpoint was made.
    pub time: String,
    /// Key id of the signing key.
    pub key_id: String,
    /// Ed25519 signature, lowercase hex.
    pub signature: String,
}

/// Reads one column, describing a type mismatch instead of failing with SQLite's wording.
fn column<T: FromSql>(row: &Row<'_>, index: usize, name: &str) -> Result<T, String> {
    row.get(index).map_err(|e| match e {
        rusqlite::Error::InvalidColumnType(_, _, found) => {
            format!("column {name} holds a value of the wrong type ({found})")
        }
        rusqlite::Error::FromSqlConversionFailure(_, _, source) => {
            format!("column {name} cannot be read ({source})")
        }
        rusqlite::Error::IntegralValueOutOfRange(_, value) => {
            format!("column {name} holds an out-of-range number ({value})")
        }
        other => format!("column {name} cannot be read ({other})"),
    })
}

/// Decodes a row selected with [`ENTRY_COLUMNS`]; `Err` says which column is malformed.
fn entry_row(row: &Row<'_>) -> Result<RawEntry, String> {
    Ok(RawEntry {
        seq: column(row, 0, "seq")?,
        time: column(row, 1, "time")?,
        actor: column(row, 2, "actor")?,
        action: column(row, 3, "action")?,
        subject: column(row, 4, "subject")?,
        job_id: column(row, 5, "job_id")?,
        details: column(row, 6, "details")?,
        prev_hash: column(row, 7, "prev_hash")?,
        hash: column(row, 8, "hash")?,
    })
}

/// Decodes a checkpoint row; `Err` says which column is malformed.
fn checkpoint_row(row: &Row<'_>) -> Result<RawCheckpoint, String> {
    Ok(RawCheckpoint {
        seq: column(row, 0, "seq")?,
        hash: column(row, 1, "hash")?,
        time: column(row, 2, "time")?,
        key_id: column(row, 3, "key_id")?,
        signature: column(row, 4, "signature")?,
    })
}

/// Seq and hash of the newest entry, `None` for an empty log.
pub fn head(conn: &Connection) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// The stored hash of entry `seq`, `None` if the log has no such entry.
pub fn entry_hash_at(conn: &Connection, seq: i64) -> Result<Option<String>, StoreError> {
    let hash = conn
        .query_row(
            "SELECT hash FROM audit_entries WHERE seq = ?1",
            params![seq],
            |row| row.get(0),
        )
        .optional()?;
    Ok(hash)
}

/// Inserts an entry. Only called with the head read in the same IMMEDIATE transaction; `seq`
/// being the primary key is the second line of defence against two appends at one position.
pub fn insert_entry(tx: &Transaction<'_>, entry: &RawEntry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_entries (seq, time, actor, action, subject, job_id, details, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            entry.seq,
            entry.time,
            entry.actor,
            entry.action,
            entry.subject,
            entry.job_id,
            entry.details,
            entry.prev_hash,
            entry.hash
        ],
    )?;
    Ok(())
}

/// The checkpoint of entry `seq`, if one was taken.
pub fn checkpoint_at(conn: &Connection, seq: i64) -> Result<Option<RawCheckpoint>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash, time, key_id, signature FROM audit_checkpoints WHERE seq = ?1",
            params![seq],
            |row| {
                Ok(RawCheckpoint {
                    seq: row.get(0)?,
                    hash: row.get(1)?,
                    time: row.get(2)?,
                    key_id: row.get(3)?,
                    signature: row.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Inserts a checkpoint (one per seq: the primary key refuses a second).
pub fn insert_checkpoint(
    tx: &Transaction<'_>,
    checkpoint: &RawCheckpoint,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            checkpoint.seq,
            checkpoint.hash,
            checkpoint.time,
            checkpoint.key_id,
            checkpoint.signature
        ],
    )?;
    Ok(())
}

/// Which entries a search returns; `None` fields match everything. Filters combine with AND.
#[derive(Debug, Default)]
pub struct EntryQuery<'a> {
    /// Only this job's entries.
    pub job_id: Option<&'a str>,
    /// Only this action or its sub-actions (`release` matches `release.blocked`).
    pub action: Option<&'a str>,
    /// Only entries about this subject.
    pub subject: Option<&'a str>,
    /// Only entries by this actor.
    pub actor: Option<&'a str>,
    /// Only entries at or after this time, in the stored format.
    pub since: Option<&'a str>,
    /// Only entries before this time, in the stored format.
    pub until: Option<&'a str>,
    /// Only entries with a greater seq.
    pub after: Option<i64>,
    /// At most this many entries (the oldest matching ones).
    pub limit: Option<usize>,
}

/// Runs `query` oldest first, handing each row to `each` with its seq as stored (0 if even that
/// is unreadable) and the decoded entry or what is wrong with it.
pub fn search<E: From<StoreError>>(
    conn: &Connection,
    query: &EntryQuery<'_>,
    mut each: impl FnMut(i64, Result<RawEntry, String>) -> Result<(), E>,
) -> Result<(), E> {
    let mut conditions: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(job) = query.job_id {
        conditions.push("job_id = ?");
        args.push(Value::Text(job.to_owned()));
    }
    if let Some(action) = query.action {
        // substr + equality rather than LIKE: LIKE is case-insensitive in SQLite and treats
        // `_` and `%` in the filter as wildcards.
        let prefix = format!("{action}.");
        conditions.push("(action = ? OR substr(action, 1, ?) = ?)");
        args.push(Value::Text(action.to_owned()));
        args.push(Value::Integer(count_chars(&prefix)));
        args.push(Value::Text(prefix));
    }
    if let Some(subject) = query.subject {
        conditions.push("subject = ?");
        args.push(Value::Text(subject.to_owned()));
    }
    if let Some(actor) = query.actor {
        conditions.push("actor = ?");
        args.push(Value::Text(actor.to_owned()));
    }
    if let Some(since) = query.since {
        conditions.push("time >= ?");
        args.push(Value::Text(since.to_owned()));
    }
    if let Some(until) = query.until {
        conditions.push("time < ?");
        args.push(Value::Text(until.to_owned()));
    }

    if let Some(after) = query.after {
        conditions.push("seq > ?");
        args.push(Value::Integer(after));
    }

    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_entries");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY seq");
    if let Some(limit) = query.limit {
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    }

    let mut statement = conn.prepare(&sql).map_err(StoreError::from)?;
    let mut rows = statement
        .query(params_from_iter(args))
        .map_err(StoreError::from)?;
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        let seq: i64 = row.get(0).unwrap_or(0);
        each(seq, entry_row(row))?;
    }
    Ok(())
}

fn count_chars(s: &str) -> i64 {
    i64::try_from(s.chars().count()).unwrap_or(i64::MAX)
}

/// The whole log in seq order, entries and checkpoints side by side, for verification: both
/// are streamed, so the log is never in memory at once. Run it inside one read snapshot.
pub struct LogScan<'c> {
    entries: Statement<'c>,
    checkpoints: Statement<'c>,
}

impl<'c> LogScan<'c> {
    /// Prepares both statements on `conn`.
    pub fn prepare(conn: &'c Connection) -> Result<Self, StoreError> {
        Ok(Self {
            entries: conn.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_entries ORDER BY seq"
            ))?,
            checkpoints: conn.prepare(
                "SELECT seq, hash, time, key_id, signature FROM audit_checkpoints ORDER BY seq",
            )?,
        })
    }

    /// Starts both streams.
    pub fn rows(&mut self) -> Result<(EntryRows<'_>, CheckpointRows<'_>), StoreError> {
        let Self {
            entries,
            checkpoints,
        } = self;
        Ok((
            EntryRows(entries.query([])?),
            CheckpointRows(checkpoints.query([])?),
        ))
    }
}

/// Entries in seq order.
pub struct EntryRows<'s>(Rows<'s>);

impl EntryRows<'_> {
    /// The next entry (or what is wrong with its row), `None` after the last.
    pub fn advance(&mut self) -> Result<Option<Result<RawEntry, String>>, StoreError> {
        Ok(self.0.next()?.map(entry_row))
    }
}

/// Checkpoints in seq order.
pub struct CheckpointRows<'s>(Rows<'s>);

impl CheckpointRows<'_> {
    /// The next checkpoint (or what is wrong with its row), `None` after the last.
    pub fn advance(&mut self) -> Result<Option<Result<RawCheckpoint, String>>, StoreError> {
        Ok(self.0.next()?.map(checkpoint_row))
    }
}
