//! Verification: recompute the chain from entry 1 and check every checkpoint against it.
//!
//! Entries and checkpoints are streamed side by side in seq order from one read snapshot, so the
//! whole log is never in memory and a concurrent append cannot make a consistent log look
//! broken. Checks, for each entry N in turn (the first failure is reported, naming N):
//!
//! 1. the row is readable (right column types) and its seq is N: a jump means entry N was
//!    deleted;
//! 2. its hash equals the hash recomputed from its content: otherwise the entry was edited (or
//!    moved: the seq is part of the hash);
//! 3. its `prev_hash` equals entry N-1's hash (64 zeros for entry 1): otherwise entries were
//!    reordered, inserted, or the chain was rewritten from N-1 on;
//! 4. a checkpoint at N has a valid signature under the given key, names that key, and its hash
//!    equals entry N's: otherwise the checkpoint is forged, or the log before it rewritten.
//!
//! After the last entry, a remaining checkpoint points past the end: the log was truncated, and
//! the first missing entry is named.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use super::chain::{checkpoint_message, entry_hash, GENESIS_HASH};
use super::entry::RawEntryRules;
use super::AuditError;
use crate::keys::PublicKey;
use crate::store::audit::{CheckpointRows, LogScan, RawCheckpoint};
use crate::store::Connection;

/// What a successful verification covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct VerifyReport {
    /// Entries checked (the whole log).
    pub entries: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// The head: last entry's seq and hash, `None` for an empty log. Keep it outside the domain:
    /// a later verification showing an earlier head reveals a truncation the database alone
    /// cannot.
    #[schemars(schema_with = "head_schema")]
    pub head: Option<(u64, String)>,
    /// Seq of the newest checkpoint; entries after it are protected by the chain only.
    pub last_checkpoint: Option<u64>,
}

/// The schema of [`VerifyReport::head`]: a pair of a number and a string, or null. Not schemars'
/// own (`prefixItems` per position): schemathesis, which checks the API's answers against its
/// document, does not read `prefixItems`.
fn head_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "oneOf": [
            {
                "type": "array",
                "items": { "type": ["integer", "string"] },
                "minItems": 2,
                "maxItems": 2,
            },
            { "type": "null" },
        ],
    })
}

fn tampered(seq: u64, problem: impl Into<String>) -> AuditError {
    AuditError::Tampered {
        seq,
        problem: problem.into(),
    }
}

/// Verifies the log visible through `conn` (which should be one read snapshot).
pub(super) fn verify_log(conn: &Connection, key: &PublicKey) -> Result<VerifyReport, AuditError> {
    let mut scan = LogScan::prepare(conn)?;
    let (mut entry_rows, mut checkpoint_rows) = scan.rows()?;

    let mut report = VerifyReport::default();
    let mut expected: u64 = 1;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut pending = next_checkpoint(&mut checkpoint_rows, expected)?;

    while let Some(raw) = entry_rows.advance()? {
        let raw = raw.map_err(|p| tampered(expected, format!("row unreadable: {p}")))?;
        if let Some(cp) = &pending {
            if cp.seq < signed(expected) {
                return Err(tampered(
                    expected,
                    format!("a checkpoint names entry {}, which cannot exist", cp.seq),
                ));
            }
        }
        let seq = check_seq(raw.seq, expected)?;
        if entry_hash(&raw.hash_input(seq)) != raw.hash {
            return Err(tampered(
                seq,
                "content does not match its hash (entry altered)",
            ));
        }
        if raw.prev_hash != prev_hash {
            let problem = if seq == 1 {
                "prev_hash of the first entry is not 64 zeros (entries inserted before it)"
                    .to_string()
            } else {
                format!(
                    "prev_hash does not match the hash of entry {} (entries reordered, inserted or rewritten)",
                    seq - 1
                )
            };
            return Err(tampered(seq, problem));
        }
        if let Some(cp) = pending.take_if(|cp| cp.seq == raw.seq) {
            check_signature(&cp, seq, key)?;
            if cp.hash != raw.hash {
                return Err(tampered(
                    seq,
                    format!(
                        "the checkpoint signed hash {} for this entry, but its hash is {} (log rewritten)",
                        cp.hash, raw.hash
                    ),
                ));
            }
            report.checkpoints += 1;
            report.last_checkpoint = Some(seq);
            pending = next_checkpoint(&mut checkpoint_rows, seq + 1)?;
        }
        prev_hash = raw.hash;
        report.entries += 1;
        expected = seq + 1;
    }

    if let Some(cp) = pending {
        let cp_seq = u64::try_from(cp.seq).unwrap_or(expected);
        check_signature(&cp, cp_seq, key)?;
        let missing = if cp_seq == expected {
            format!("entry {expected} is missing")
        } else {
            format!("entries {expected} to {cp_seq} are missing")
        };
        return Err(tampered(
            expected,
            format!(
                "{missing}: a signed checkpoint covers entry {cp_seq} but the log ends at {} \
                 (log truncated)",
                match expected - 1 {
                    0 => "the start".to_string(),
                    last => format!("entry {last}"),
                }
            ),
        ));
    }
    if report.entries > 0 {
        report.head = Some((report.entries, prev_hash));
    }
    Ok(report)
}

/// The entry's seq, if it is the one expected next.
fn check_seq(found: i64, expected: u64) -> Result<u64, AuditError> {
    match u64::try_from(found) {
        Ok(seq) if seq == expected => Ok(seq),
        Ok(seq) if seq > expected => {
            let problem = if seq == expected + 1 {
                format!("entry {expected} is missing (deleted): the log jumps from entry {} to entry {seq}", expected - 1)
            } else {
                format!(
                    "entries {expected} to {} are missing (deleted): the log jumps from entry {} to entry {seq}",
                    seq - 1,
                    expected - 1
                )
            };
            Err(tampered(expected, problem))
        }
        _ => Err(tampered(
            expected,
            format!("an entry has the invalid seq {found}"),
        )),
    }
}

fn next_checkpoint(
    rows: &mut CheckpointRows<'_>,
    at: u64,
) -> Result<Option<RawCheckpoint>, AuditError> {
    rows.advance()?
        .transpose()
        .map_err(|p| tampered(at, format!("a checkpoint row is unreadable: {p}")))
}

fn check_signature(cp: &RawCheckpoint, seq: u64, key: &PublicKey) -> Result<(), AuditError> {
    let signature = match hex::decode(cp.signature.trim()) {
        Ok(bytes) if bytes.len() == 64 => bytes,
        _ => {
            return Err(tampered(
                seq,
                "the checkpoint's signature is not a hex Ed25519 signature (checkpoint forged or altered)",
            ))
        }
    };
    let expected_id = key.key_id();
    if !key.verify(&checkpoint_message(seq, &cp.hash, &cp.time), &signature) {
        let problem = if cp.key_id != expected_id {
            format!(
                "the checkpoint names key {} and its signature does not verify with the given key {expected_id}",
                cp.key_id
            )
        } else {
            "the checkpoint's signature does not verify (checkpoint forged or altered)".to_string()
        };
        return Err(tampered(seq, problem));
    }
    if cp.key_id != expected_id {
        return Err(tampered(
            seq,
            format!(
                "the checkpoint names key {} but was signed by key {expected_id} (key_id altered)",
                cp.key_id
            ),
        ));
    }
    Ok(())
}

fn signed(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Checks a head kept outside the domain against the log visible through `conn`: its signature
/// under `key`, then that the log still holds entry `head.seq` with `head.hash`. Run after
/// [`verify_log`], which vouches for the chain up to the log's own head.
pub(super) fn verify_kept_head(
    conn: &Connection,
    key: &PublicKey,
    head: &super::Checkpoint,
) -> Result<(), AuditError> {
    let raw = RawCheckpoint {
        seq: i64::try_from(head.seq)
            .map_err(|_| tampered(head.seq, "no entry can have this seq"))?,
        hash: head.hash.clone(),
        time: head.time.clone(),
        key_id: head.key_id.clone(),
        signature: head.signature.clone(),
    };
    check_signature(&raw, head.seq, key)?;
    match crate::store::audit::entry_hash_at(conn, raw.seq)? {
        Some(hash) if hash == head.hash => Ok(()),
        Some(hash) => Err(tampered(
            head.seq,
            format!(
                "the kept head signed hash {} for this entry, but the log holds {hash} (log rewritten)",
                head.hash
            ),
        )),
        None => {
            let end = crate::store::audit::head(conn)?.map_or(0, |(seq, _)| seq);
            Err(tampered(
                head.seq,
                format!(
                    "the kept head names entry {} but the log ends at {end} (log truncated)",
                    head.seq
                ),
            ))
        }
    }
}
