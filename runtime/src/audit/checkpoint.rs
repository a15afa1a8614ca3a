//! Signed checkpoints: the domain key's signature over the log's head at a moment.
//!
//! The chain alone shows that entries agree with one another; anyone able to write the database
//! could still rewrite an entry and recompute every hash after it. A checkpoint pins
//! (seq, hash, time) of the head under the domain's Ed25519 key, which lives outside the
//! database, so a rewrite of anything at or before a checkpoint is caught. The job runner takes
//! one after each job; taking one when the head is already checkpointed returns that one.
//!
//! Checkpoints live in `audit_checkpoints` (seq, hash, time, key_id, signature), one per seq.
//! `key_id` says which key signed, for reviewers and for a later key rotation; it is not part of
//! the signed bytes (see `chain` for those) and verification checks it against the given key.

use serde::{Deserialize, Serialize};

use super::chain::checkpoint_message;
use super::AuditError;
use crate::keys::DomainKeys;
use crate::store::audit::{self as rows, RawCheckpoint};
use crate::store::Transaction;

/// A signed statement "entry `seq` of this log has hash `hash`", made at `time`. Written to a
/// file by `shuyu audit head`, it is what a reviewer keeps outside the domain and checks a later
/// log against (`shuyu audit verify --head FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The checkpointed entry (the head when it was made).
    pub seq: u64,
    /// That entry's hash.
    pub hash: String,
    /// When the checkpoint was made: RFC 3339, UTC, milliseconds.
    pub time: String,
    /// Key id of the signing key.
    pub key_id: String,
    /// Ed25519 signature over the tagged (seq, hash, time), lowercase hex.
    pub signature: String,
}

/// Checkpoints the head inside `tx` (an IMMEDIATE transaction, so the head cannot move meanwhile).
pub(super) fn checkpoint_head(
    tx: &Transaction<'_>,
    keys: &DomainKeys,
    now: &str,
) -> Result<Checkpoint, AuditError> {
    let (seq, hash) = rows::head(tx)?.ok_or(AuditError::Empty)?;
    let existing = rows::checkpoint_at(tx, seq)?;
    let seq_u64 = u64::try_from(seq).map_err(|_| AuditError::Unreadable {
        seq: 0,
        problem: format!("the head has an invalid seq {seq}"),
    })?;
    if let Some(existing) = existing {
        return Ok(Checkpoint {
            seq: seq_u64,
            hash: existing.hash,
            time: existing.time,
            key_id: existing.key_id,
            signature: existing.signature,
        });
    }
    let signature = hex::encode(keys.sign(&checkpoint_message(seq_u64, &hash, now)));
    let key_id = keys.public_key().key_id();
    let row = RawCheckpoint {
        seq,
        hash,
        time: now.to_string(),
        key_id,
        signature,
    };
    rows::insert_checkpoint(tx, &row)?;
    Ok(Checkpoint {
        seq: seq_u64,
        hash: row.hash,
        time: row.time,
        key_id: row.key_id,
        signature: row.signature,
    })
}
