//! The hash chain: how an entry's hash is computed, and how a checkpoint is signed.
//!
//! # Entry hash (`shuyu-audit/1`)
//!
//! `hash = lowercase_hex(SHA-256(encoding))`, where the encoding is the concatenation of
//! length-prefixed fields, `field(b) = u64_be(len(b)) || b`:
//!
//! ```text
//! field("shuyu-audit/1")
//! field(u64_be(seq))                      8 bytes
//! field(time)                             RFC 3339 UTC with milliseconds, "2025-01-31T08:00:00.000Z"
//! field(actor)
//! field(action)
//! field(subject)
//! 0x00                          if job_id is None
//! 0x01 || field(job_id)         if job_id is Some
//! field(details)                the canonical JSON text as stored (keys sorted, no spaces)
//! field(prev_hash)              64 lowercase hex characters; 64 "0" for entry 1
//! ```
//!
//! Every variable-length field carries its length, so no two different entries encode to the
//! same bytes (moving a character from `actor` to `action` changes the encoding), and the seq
//! and `prev_hash` inside the hash make each entry commit to its place and to all before it.
//!
//! # Checkpoint signature (`shuyu-audit-checkpoint/1`)
//!
//! `signature = Ed25519(domain key, field("shuyu-audit-checkpoint/1") || field(u64_be(seq)) ||
//! field(hash) || field(time))`, stored as lowercase hex. The distinct tag keeps a checkpoint
//! signature from ever being valid as a product signature, or the reverse.

use ring::digest::{Context, SHA256};

/// Domain-separation tag of entry hashes.
pub(crate) const ENTRY_TAG: &str = "shuyu-audit/1";
/// Domain-separation tag of checkpoint signatures.
pub(crate) const CHECKPOINT_TAG: &str = "shuyu-audit-checkpoint/1";
/// The `prev_hash` of entry 1.
pub(crate) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed fields of one entry, borrowed from wherever they live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashInput<'a> {
    pub seq: u64,
    pub time: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub job_id: Option<&'a str>,
    pub details: &'a str,
    pub prev_hash: &'a str,
}

/// The entry hash, lowercase hex.
pub(crate) fn entry_hash(input: &HashInput<'_>) -> String {
    let mut ctx = Context::new(&SHA256);
    field(&mut ctx, ENTRY_TAG.as_bytes());
    field(&mut ctx, &input.seq.to_be_bytes());
    field(&mut ctx, input.time.as_bytes());
    field(&mut ctx, input.actor.as_bytes());
    field(&mut ctx, input.action.as_bytes());
    field(&mut ctx, input.subject.as_bytes());
    match input.job_id {
        None => ctx.update(&[0]),
        Some(job) => {
            ctx.update(&[1]);
            field(&mut ctx, job.as_bytes());
        }
    }
    field(&mut ctx, input.details.as_bytes());
    field(&mut ctx, input.prev_hash.as_bytes());
    hex::encode(ctx.finish().as_ref())
}

/// The bytes a checkpoint signature covers.
pub(crate) fn checkpoint_message(seq: u64, hash: &str, time: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * 4 + CHECKPOINT_TAG.len() + 8 + hash.len() + time.len());
    for part in [
        CHECKPOINT_TAG.as_bytes(),
        &seq.to_be_bytes(),
        hash.as_bytes(),
        time.as_bytes(),
    ] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn field(ctx: &mut Context, bytes: &[u8]) {
    ctx.update(&(bytes.len() as u64).to_be_bytes());
    ctx.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HashInput<'static> {
        HashInput {
            seq: 1,
            time: "2025-01-31T08:00:00.000Z",
            actor: "op-a",
            action: "job.start",
            subject: "s-1",
            job_id: Some("j-1"),
            details: r#"{"k":1}"#,
            prev_hash: GENESIS_HASH,
        }
    }

    /// Pins the encoding: if this changes, every existing log stops verifying. The expected
    /// value was also computed independently (Python, hashlib + struct) from the module docs.
    #[test]
    fn entry_hash_test_vector() {
        let mut encoding = Vec::new();
        let mut field = |bytes: &[u8]| {
            encoding.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            encoding.extend_from_slice(bytes);
        };
        field(b"shuyu-audit/1");
        field(&1u64.to_be_bytes());
        field(b"2025-01-31T08:00:00.000Z");
        field(b"op-a");
        field(b"job.start");
        field(b"s-1");
        encoding.push(1);
        let mut field = |bytes: &[u8]| {
            encoding.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            encoding.extend_from_slice(bytes);
        };
        field(b"j-1");
        field(br#"{"k":1}"#);
        field(GENESIS_HASH.as_bytes());
        let expected = hex::encode(ring::digest::digest(&SHA256, &encoding).as_ref());
        assert_eq!(
            expected,
            "97cc6cd9075de5edf2ea3a69574e09c81cafdd01e18849653a011917df9b3347"
        );
        assert_eq!(entry_hash(&sample()), expected);
    }

    #[test]
    fn every_field_and_boundary_matters() {
        let base = entry_hash(&sample());
        let variants = [
            HashInput { seq: 2, ..sample() },
            HashInput {
                time: "2025-01-31T08:00:00.001Z",
                ..sample()
            },
            HashInput {
                actor: "op-aj",
                action: "ob.start",
                ..sample()
            },
            HashInput {
                subject: "s-2",
                ..sample()
            },
            HashInput {
                job_id: None,
                ..sample()
            },
            HashInput {
                job_id: Some(""),
                ..sample()
            },
            HashInput {
                details: r#"{"k":2}"#,
                ..sample()
            },
            HashInput {
                prev_hash: "1",
                ..sample()
            },
        ];
        for v in variants {
            assert_ne!(entry_hash(&v), base, "{v:?}");
        }
        assert_ne!(
            entry_hash(&HashInput {
                job_id: None,
                ..sample()
            }),
            entry_hash(&HashInput {
                job_id: Some(""),
                ..sample()
            })
        );
    }

    #[test]
    fn checkpoint_message_is_length_prefixed() {
        let m = checkpoint_message(7, "ab", "t");
        assert_eq!(&m[..8], &(CHECKPOINT_TAG.len() as u64).to_be_bytes());
        assert_eq!(m.len(), 8 + CHECKPOINT_TAG.len() + 8 + 8 + 8 + 2 + 8 + 1);
        assert_ne!(
            checkpoint_message(7, "ab", "t"),
            checkpoint_message(7, "a", "bt")
        );
    }
}
