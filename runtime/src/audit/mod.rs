//! The audit log: append-only, hash-chained entries with signed checkpoints.
//!
//! Every step of every job (start, refusal, query, release, block, guest log line, end) lands
//! here; security reviewers read, search and verify it.
//!
//! ```text
//! entry 1            entry 2            entry 3             checkpoint @3
//! prev = 0…0   ◀──── prev = h1   ◀───── prev = h2           (3, h3, time)
//! hash = h1          hash = h2          hash = h3   ◀────── Ed25519 signature by the domain key
//! ```
//!
//! - `entry`: what an entry holds. `chain`: the exact hash and signature encodings (enough to
//!   re-implement verification elsewhere). `canonical`: the canonical JSON of details.
//! - `append`: read the head and insert after it in one IMMEDIATE transaction: safe from many
//!   threads and processes.
//! - `checkpoint`: sign the head with the domain key; the job runner does it after each job.
//! - `verify`: recompute the whole chain, streamed, and check every checkpoint; the first bad
//!   entry is named, with what is wrong with it.
//! - `search`, `render`: what reviewers look at.
//!
//! # What verification proves, and what it cannot
//!
//! An **edit** of any field of any entry breaks that entry's hash. A **deletion** leaves a gap in
//! the seqs. **Reordering or inserting** breaks the seqs, the hashes (the seq is hashed) or the
//! `prev_hash` links. Someone able to write the database could recompute every hash after an
//! edit; the **signed checkpoints** catch that for everything up to the newest checkpoint, since
//! the signing key is not in the database. **Truncating** the tail below a checkpoint leaves a
//! checkpoint pointing past the end.
//!
//! The limit: whoever can write the database can delete the newest entries *together with* the
//! checkpoints after them, and can rewrite entries made after the newest checkpoint. What remains
//! is a shorter, consistent, correctly signed log, and nothing inside the database can tell.
//! [`VerifyReport::head`] is reported so that reviewers keep the head (seq and hash) *outside*
//! the domain, e.g. in their review records: a later verification whose head is lower, or whose
//! entry at that seq has another hash, reveals the truncation or rewrite. Checkpointing after
//! every job keeps the unsigned tail short.
//!
//! # Invariants
//!
//! - Seqs run 1, 2, 3, … without gaps; entry 1 has `prev_hash` of 64 zeros.
//! - Entries are never updated or deleted by shuyu; there is no API for it.
//! - Details are stored as canonical JSON text and hashed as stored.
//! - Times are UTC with milliseconds in one fixed format, so text order is time order. They come
//!   from the system clock and are not forced to increase; the seq is the order of the log.

mod append;
mod canonical;
mod chain;
mod checkpoint;
mod entry;
mod render;
mod search;
mod verify;

use std::sync::Arc;

pub use checkpoint::Checkpoint;
pub use entry::{Entry, NewEntry};
pub use search::AuditFilter;
pub use verify::VerifyReport;

use crate::keys::{DomainKeys, PublicKey};
use crate::store::{Store, StoreError};

/// Why an audit operation failed, or what verification found.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Verification found the log altered; `seq` is the first entry affected.
    #[error("tampered at entry {seq}: {problem}")]
    Tampered {
        /// The first bad entry (for a truncation, the first missing one).
        seq: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// There is no entry to checkpoint yet.
    #[error("the audit log is empty: there is no head to checkpoint")]
    Empty,
    /// An entry could not be read back (run `shuyu audit verify` to see whether it was altered).
    #[error("audit entry {seq} cannot be read: {problem}")]
    Unreadable {
        /// The entry.
        seq: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// A search filter could not be understood.
    #[error("audit filter {field}: '{value}' is not valid: {reason}")]
    InvalidFilter {
        /// The filter field (`since`, `until`).
        field: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
}

/// The domain's audit log, stored in the database and checkpointed with the domain key.
#[derive(Debug)]
pub struct AuditLog {
    store: Arc<Store>,
    keys: Arc<DomainKeys>,
}

impl AuditLog {
    /// The log kept in `store`, checkpointed with `keys`.
    pub fn new(store: Arc<Store>, keys: Arc<DomainKeys>) -> Self {
        Self { store, keys }
    }

    /// Appends an entry after the current head and returns it as stored.
    ///
    /// Atomic: the head is read and the entry inserted in one IMMEDIATE transaction, so appends
    /// from many threads or processes form one chain.
    pub fn append(&self, entry: NewEntry) -> Result<Entry, AuditError> {
        self.store
            .write_with(|tx| append::append_entry(tx, entry, now()))
    }

    /// Appends an entry inside the caller's open write transaction `tx`, so that a state change
    /// and the entry recording it commit (or roll back) together.
    ///
    /// `tx` must be an IMMEDIATE transaction on this log's store (as [`Store::write`] opens):
    /// the write lock it holds is what makes reading the head and inserting after it atomic.
    pub fn append_in(
        &self,
        tx: &crate::store::Transaction<'_>,
        entry: NewEntry,
    ) -> Result<Entry, AuditError> {
        append::append_entry(tx, entry, now())
    }

    /// Signs the current head (seq, hash, time) with the domain key. If the head already has a
    /// checkpoint, returns that one.
    ///
    /// # Errors
    ///
    /// [`AuditError::Empty`] when the log has no entry yet.
    pub fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        self.store
            .write_with(|tx| checkpoint::checkpoint_head(tx, &self.keys, &now()))
    }

    /// Recomputes the whole chain and checks every checkpoint against `key`.
    ///
    /// # Errors
    ///
    /// [`AuditError::Tampered`] naming the first bad entry and what is wrong with it; see the
    /// module docs for what can and cannot be detected.
    pub fn verify(&self, key: &PublicKey) -> Result<VerifyReport, AuditError> {
        self.store.read_with(|conn| verify::verify_log(conn, key))
    }

    /// Checks a head kept outside the domain (a [`Checkpoint`] from an earlier
    /// [`AuditLog::checkpoint`]): signed by `key`, and the log still holds that entry with that
    /// hash. A log cut or rewritten below the kept head fails, even if its own checkpoints were
    /// cut with it.
    pub fn verify_kept_head(&self, key: &PublicKey, head: &Checkpoint) -> Result<(), AuditError> {
        self.store
            .read_with(|conn| verify::verify_kept_head(conn, key, head))
    }

    /// Entries matching `filter`, oldest first. Does not verify them.
    pub fn search(&self, filter: &AuditFilter) -> Result<Vec<Entry>, AuditError> {
        self.store.read_with(|conn| search::search(conn, filter))
    }

    /// The head as stored (seq and hash of the newest entry), `None` for an empty log. Not
    /// verified: use [`AuditLog::verify`] for that.
    pub fn head(&self) -> Result<Option<(u64, String)>, AuditError> {
        self.store.read_with(|conn| {
            let head = crate::store::audit::head(conn)?;
            Ok(head.map(|(seq, hash)| (u64::try_from(seq).unwrap_or(0), hash)))
        })
    }
}

/// The current time in the store's one format, which the log hashes as stored.
fn now() -> String {
    crate::store::codec::ts(&chrono::Utc::now())
}

#[cfg(test)]
mod tests;
