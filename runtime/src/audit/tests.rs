//! Tests of the audit log against real SQLite files; tampering goes through a second,
//! raw connection, as an attacker with database access would.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{params, Connection};
use serde_json::json;

use super::chain::{entry_hash, HashInput, GENESIS_HASH};
use super::*;
use crate::keys::DomainKeys;
use crate::store::DB_FILE;

struct Fixture {
    dir: tempfile::TempDir,
    keys: Arc<DomainKeys>,
    log: AuditLog,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(DomainKeys::load_or_create(dir.path()).unwrap());
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let log = AuditLog::new(store, keys.clone());
        Self { dir, keys, log }
    }

    /// Appends entries until the head is `n`.
    fn fill(&self, n: u64) {
        let start = self.log.head().unwrap().map_or(1, |(seq, _)| seq + 1);
        for i in start..=n {
            self.log.append(sample(i)).unwrap();
        }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join(DB_FILE)
    }

    fn raw(&self) -> Connection {
        Connection::open(self.db_path()).unwrap()
    }

    fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.log.verify(&self.keys.public_key())
    }
}

fn sample(i: u64) -> NewEntry {
    let actions = [
        "job.start",
        "query",
        "release",
        "release.blocked",
        "guest.log",
        "job.end",
    ];
    NewEntry {
        actor: if i.is_multiple_of(2) {
            "op-a".into()
        } else {
            "op-b".into()
        },
        action: actions[(i as usize) % actions.len()].into(),
        subject: format!("s-{}", i % 3),
        job_id: if i.is_multiple_of(4) {
            None
        } else {
            Some(format!("j-{}", i / 4))
        },
        details: json!({"i": i, "z": "last", "a": [1, 2.5, null]}),
    }
}

/// Asserts `result` is a tampering report at `seq` whose problem mentions `words`.
#[track_caller]
fn assert_tampered(result: Result<VerifyReport, AuditError>, seq: u64, words: &str) {
    match result {
        Err(AuditError::Tampered {
            seq: found,
            problem,
        }) => {
            assert_eq!(found, seq, "{problem}");
            assert!(problem.contains(words), "expected '{words}' in: {problem}");
        }
        other => panic!("expected tampering at entry {seq}, got {other:?}"),
    }
}

#[test]
fn an_untouched_log_verifies() {
    let f = Fixture::new();
    assert_eq!(f.verify().unwrap(), VerifyReport::default());
    f.fill(5);
    let cp5 = f.log.checkpoint().unwrap();
    f.fill(10);
    let cp10 = f.log.checkpoint().unwrap();
    let report = f.verify().unwrap();
    let head = f.log.head().unwrap().unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.last_checkpoint, Some(10));
    assert_eq!(report.head, Some(head.clone()));
    assert_eq!((cp5.seq, cp10.seq), (5, 10));
    assert_eq!(cp10.hash, head.1);
    assert_eq!(cp10.key_id, f.keys.public_key().key_id());
}

#[test]
fn entries_chain_and_round_trip() {
    let f = Fixture::new();
    let first = f.log.append(sample(1)).unwrap();
    let second = f.log.append(sample(2)).unwrap();
    assert_eq!((first.seq, second.seq), (1, 2));
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(first.time.len(), "2025-01-31T08:00:00.000Z".len());
    assert!(first.time.ends_with('Z'));
    let found = f.log.search(&AuditFilter::default()).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].details, sample(1).details);
    assert_eq!(found[1].hash, second.hash);
    // Details are stored canonically: keys sorted, no spaces.
    let stored: String = f
        .raw()
        .query_row("SELECT details FROM audit_entries WHERE seq = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, r#"{"a":[1,2.5,null],"i":1,"z":"last"}"#);
}

#[test]
fn checkpoint_is_idempotent_and_needs_an_entry() {
    let f = Fixture::new();
    assert!(matches!(f.log.checkpoint(), Err(AuditError::Empty)));
    f.fill(3);
    let a = f.log.checkpoint().unwrap();
    let b = f.log.checkpoint().unwrap();
    assert_eq!(a, b);
    assert_eq!(f.verify().unwrap().checkpoints, 1);
}

#[test]
fn an_edited_entry_is_named() {
    let f = Fixture::new();
    f.fill(8);
    f.log.checkpoint().unwrap();
    f.raw()
        .execute(
            "UPDATE audit_entries SET details = '{\"i\":99}' WHERE seq = 4",
            [],
        )
        .unwrap();
    assert_tampered(f.verify(), 4, "altered");
}

#[test]
fn an_edited_actor_without_checkpoint_is_named() {
    let f = Fixture::new();
    f.fill(6);
    f.raw()
        .execute(
            "UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 6",
            [],
        )
        .unwrap();
    assert_tampered(f.verify(), 6, "altered");
}

#[test]
fn a_deleted_middle_entry_is_named() {
    let f = Fixture::new();
    f.fill(8);
    f.raw()
        .execute("DELETE FROM audit_entries WHERE seq = 5", [])
        .unwrap();
    assert_tampered(f.verify(), 5, "entry 5 is missing");
}

#[test]
fn swapped_entries_are_named() {
    let f = Fixture::new();
    f.fill(8);
    let raw = f.raw();
    let cols = "time, actor, action, subject, job_id, details, prev_hash, hash";
    let read = |seq: i64| -> Vec<rusqlite::types::Value> {
        raw.query_row(
            &format!("SELECT {cols} FROM audit_entries WHERE seq = ?1"),
            [seq],
            |r| (0..8).map(|i| r.get(i)).collect(),
        )
        .unwrap()
    };
    let (three, six) = (read(3), read(6));
    let write = |seq: i64, v: &[rusqlite::types::Value]| {
        raw.execute(
            "UPDATE audit_entries SET time=?1, actor=?2, action=?3, subject=?4, job_id=?5, details=?6, \
             prev_hash=?7, hash=?8 WHERE seq=?9",
            params![v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], seq],
        )
        .unwrap();
    };
    write(3, &six);
    write(6, &three);
    assert_tampered(f.verify(), 3, "altered");
}

#[test]
fn a_broken_link_is_named() {
    let f = Fixture::new();
    f.fill(6);
    // An entry whose own hash is consistent but which does not follow its predecessor: what
    // inserting a forged entry in place of entry 4 looks like.
    let raw = f.raw();
    let row: (String, String, String, String, Option<String>, String) = raw
        .query_row(
            "SELECT time, actor, action, subject, job_id, details FROM audit_entries WHERE seq = 4",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    let prev = "ab".repeat(32);
    let hash = entry_hash(&HashInput {
        seq: 4,
        time: &row.0,
        actor: &row.1,
        action: &row.2,
        subject: &row.3,
        job_id: row.4.as_deref(),
        details: &row.5,
        prev_hash: &prev,
    });
    raw.execute(
        "UPDATE audit_entries SET prev_hash = ?1, hash = ?2 WHERE seq = 4",
        params![prev, hash],
    )
    .unwrap();
    assert_tampered(
        f.verify(),
        4,
        "prev_hash does not match the hash of entry 3",
    );
}

/// Rewrites entries from `from` on with valid hashes, as an attacker with database access could.
fn rewrite_chain_from(raw: &Connection, from: i64, new_actor: &str) {
    let mut prev: String = raw
        .query_row(
            "SELECT hash FROM audit_entries WHERE seq = ?1",
            [from - 1],
            |r| r.get(0),
        )
        .unwrap();
    let rows: Vec<(i64, String, String, String, Option<String>, String)> = raw
        .prepare("SELECT seq, time, action, subject, job_id, details FROM audit_entries WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, time, action, subject, job_id, details) in rows {
        let hash = entry_hash(&HashInput {
            seq: seq as u64,
            time: &time,
            actor: new_actor,
            action: &action,
            subject: &subject,
            job_id: job_id.as_deref(),
            details: &details,
            prev_hash: &prev,
        });
        raw.execute(
            "UPDATE audit_entries SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
            params![new_actor, prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn a_rewritten_chain_is_caught_by_the_next_checkpoint() {
    let f = Fixture::new();
    f.fill(5);
    f.log.checkpoint().unwrap();
    f.fill(9);
    rewrite_chain_from(&f.raw(), 3, "framed");
    assert_tampered(f.verify(), 5, "log rewritten");
}

#[test]
fn truncation_below_a_checkpoint_is_named() {
    let f = Fixture::new();
    f.fill(8);
    f.log.checkpoint().unwrap();
    f.raw()
        .execute("DELETE FROM audit_entries WHERE seq >= 6", [])
        .unwrap();
    assert_tampered(f.verify(), 6, "truncated");
}

/// The documented limit: dropping the newest entries together with their checkpoints leaves a
/// consistent log. Only the head kept outside the domain reveals it.
#[test]
fn truncation_with_its_checkpoints_shows_only_in_the_head() {
    let f = Fixture::new();
    f.fill(4);
    f.log.checkpoint().unwrap();
    f.fill(8);
    f.log.checkpoint().unwrap();
    let kept_outside = f.verify().unwrap().head.unwrap();
    let raw = f.raw();
    raw.execute("DELETE FROM audit_checkpoints WHERE seq > 4", [])
        .unwrap();
    raw.execute("DELETE FROM audit_entries WHERE seq > 4", [])
        .unwrap();
    let report = f.verify().unwrap();
    assert_eq!(report.head.as_ref().map(|h| h.0), Some(4));
    assert!(report.head.unwrap().0 < kept_outside.0);
}

#[test]
fn a_forged_checkpoint_signature_is_named() {
    let f = Fixture::new();
    f.fill(5);
    f.log.checkpoint().unwrap();
    f.fill(7);
    f.log.checkpoint().unwrap();
    let raw = f.raw();
    let sig: String = raw
        .query_row(
            "SELECT signature FROM audit_checkpoints WHERE seq = 5",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { '1' } else { '0' },
        &sig[1..]
    );
    raw.execute(
        "UPDATE audit_checkpoints SET signature = ?1 WHERE seq = 5",
        [flipped],
    )
    .unwrap();
    assert_tampered(f.verify(), 5, "signature does not verify");

    raw.execute(
        "UPDATE audit_checkpoints SET signature = 'zz' WHERE seq = 5",
        [],
    )
    .unwrap();
    assert_tampered(f.verify(), 5, "not a hex Ed25519 signature");
}

#[test]
fn a_checkpoint_moved_to_another_time_is_named() {
    let f = Fixture::new();
    f.fill(3);
    f.log.checkpoint().unwrap();
    f.raw()
        .execute(
            "UPDATE audit_checkpoints SET time = '2000-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
    assert_tampered(f.verify(), 3, "signature does not verify");
}

#[test]
fn another_domains_key_is_named() {
    let f = Fixture::new();
    f.fill(3);
    f.log.checkpoint().unwrap();
    let other = tempfile::tempdir().unwrap();
    let other = DomainKeys::load_or_create(other.path()).unwrap();
    let result = f.log.verify(&other.public_key());
    assert_tampered(result, 3, &other.public_key().key_id());
}

#[test]
fn a_row_of_the_wrong_type_is_named() {
    let f = Fixture::new();
    f.fill(4);
    f.raw()
        .execute(
            "UPDATE audit_entries SET details = X'7b7d' WHERE seq = 2",
            [],
        )
        .unwrap();
    assert_tampered(f.verify(), 2, "column details");
}

#[test]
fn concurrent_appends_form_one_chain() {
    let f = Fixture::new();
    // Two stores on one file stand for two processes; two threads each.
    let second = AuditLog::new(Arc::new(Store::open(f.dir.path()).unwrap()), f.keys.clone());
    let logs = [&f.log, &f.log, &second, &second];
    std::thread::scope(|s| {
        for (t, log) in logs.into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..50 {
                    log.append(NewEntry {
                        actor: format!("thread-{t}"),
                        action: "query".into(),
                        subject: "s".into(),
                        job_id: Some(format!("j-{t}")),
                        details: json!({"i": i}),
                    })
                    .unwrap();
                    if i % 10 == 9 {
                        log.checkpoint().unwrap();
                    }
                }
            });
        }
    });
    let report = f.verify().unwrap();
    assert_eq!(report.entries, 200);
    assert!(report.checkpoints >= 1);
    for t in 0..4 {
        let mine = f
            .log
            .search(&AuditFilter {
                actor: Some(format!("thread-{t}")),
                ..Default::default()
            })
            .unwrap();
        let order: Vec<i64> = mine
            .iter()
            .map(|e| e.details["i"].as_i64().unwrap())
            .collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }
}

#[test]
fn search_filters_combine() {
    let f = Fixture::new();
    let add = |action: &str, subject: &str, actor: &str, job: Option<&str>| {
        f.log
            .append(NewEntry {
                actor: actor.into(),
                action: action.into(),
                subject: subject.into(),
                job_id: job.map(str::to_string),
                details: json!(null),
            })
            .unwrap()
    };
    add("job.start", "s-1", "op-a", Some("j-1"));
    add("release", "s-1", "op-a", Some("j-1"));
    add("release.blocked", "s-1", "op-a", Some("j-1"));
    add("released", "s-2", "op-b", Some("j-2"));
    add("Release.x", "s-2", "op-b", None);
    add("release_x", "s-2", "op-b", None);

    let seqs = |filter: AuditFilter| -> Vec<u64> {
        f.log
            .search(&filter)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(
        seqs(AuditFilter {
            action: Some("release".into()),
            ..Default::default()
        }),
        [2, 3]
    );
    assert_eq!(
        seqs(AuditFilter {
            action: Some("release_".into()),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(AuditFilter {
            job_id: Some("j-1".into()),
            ..Default::default()
        }),
        [1, 2, 3]
    );
    // The cursor continues a search after a seq, combined with the other filters.
    assert_eq!(
        seqs(AuditFilter {
            job_id: Some("j-1".into()),
            after: Some(1),
            limit: Some(1),
            ..Default::default()
        }),
        [2]
    );
    assert_eq!(
        seqs(AuditFilter {
            after: Some(u64::MAX),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(AuditFilter {
            subject: Some("s-2".into()),
            actor: Some("op-b".into()),
            ..Default::default()
        }),
        [4, 5, 6]
    );
    assert_eq!(
        seqs(AuditFilter {
            limit: Some(2),
            ..Default::default()
        }),
        [1, 2]
    );
    assert_eq!(
        seqs(AuditFilter {
            since: Some("2000-01-01".into()),
            ..Default::default()
        })
        .len(),
        6
    );
    assert_eq!(
        seqs(AuditFilter {
            until: Some("2000-01-01T00:00:00Z".into()),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
    let all = f.log.search(&AuditFilter::default()).unwrap();
    let t3 = all[2].time.clone();
    let since = f
        .log
        .search(&AuditFilter {
            since: Some(t3.clone()),
            ..Default::default()
        })
        .unwrap();
    assert!(since.iter().any(|e| e.seq == 3));
    assert!(since.iter().all(|e| e.time >= t3));
    let until = f
        .log
        .search(&AuditFilter {
            until: Some(t3.clone()),
            ..Default::default()
        })
        .unwrap();
    assert!(until.iter().all(|e| e.time < t3 && e.seq < 3));
    assert!(matches!(
        f.log.search(&AuditFilter {
            since: Some("soon".into()),
            ..Default::default()
        }),
        Err(AuditError::InvalidFilter { field: "since", .. })
    ));
}

#[test]
fn a_longer_log_verifies() {
    let f = Fixture::new();
    assert!(f.db_path().exists());
    f.fill(500);
    f.log.checkpoint().unwrap();
    assert_eq!(f.verify().unwrap().entries, 500);
}
