//! The schema, as an ordered list of migrations, and the code that applies them.
//!
//! # Invariants
//!
//! - Versions start at 1 and increase by one; a released migration is never edited, only
//!   followed by a new one (a database records which versions it has, not what they said).
//! - Each migration runs in its own IMMEDIATE transaction together with the row recording it in
//!   `schema_migrations`, so a crash leaves the database at the previous version, and two
//!   processes opening the same database at once cannot both apply one.
//! - A database whose version is higher than the last one here was written by a newer shuyu and
//!   is refused rather than used with a schema this code does not know.
//! - SQL stays portable to PostgreSQL: BIGINT / INTEGER / TEXT columns, explicit `NOT NULL`,
//!   no SQLite-only syntax (no AUTOINCREMENT, no WITHOUT ROWID, no BLOB: bytes are stored as hex).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// Every migration, in order: (version, SQL script).
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[
    (1, AUDIT_LOG),
    (2, GOVERNANCE),
    (3, PRIVACY_BUDGET),
    (4, DEBIT_ORDER),
    (5, SCENARIO_BINDINGS),
    (6, QUOTA_INDEXES),
    (7, STATUS_CHANGES),
    (8, OBJECTION_JOINS),
    (9, SERVICES),
    (10, MOCK_RUNS),
];

/// Version 1: the audit log and its signed checkpoints.
///
/// `details` holds canonical JSON text, hashed byte for byte as stored; `prev_hash`/`hash` are
/// lowercase hex SHA-256. `job_id` is the only nullable column: entries outside a job have none.
/// The indexes serve the reviewers' searches (by job, action, subject, actor, then in log order).
const AUDIT_LOG: &str = "
CREATE TABLE audit_entries (
    seq        BIGINT NOT NULL PRIMARY KEY,
    time       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    job_id     TEXT   NULL,
    details    TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL
);
CREATE INDEX audit_entries_job ON audit_entries (job_id, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
CREATE INDEX audit_entries_subject ON audit_entries (subject, seq);
CREATE INDEX audit_entries_actor ON audit_entries (actor, seq);
CREATE INDEX audit_entries_time ON audit_entries (time);

CREATE TABLE audit_checkpoints (
    seq        BIGINT NOT NULL PRIMARY KEY,
    hash       TEXT   NOT NULL,
    time       TEXT   NOT NULL,
    key_id     TEXT   NOT NULL,
    signature  TEXT   NOT NULL
);
";

/// Version 2: the governance state of docs/concepts.md, "Roles and rules" (see `governance`).
///
/// Times are RFC 3339 UTC text with milliseconds, so text order is time order. Enums are stored
/// as their lowercase wire names; JSON columns (`calendar` setting, `scope`, `scenario`,
/// `releases`) hold serde JSON of the `shuyu_model::records` types. Only token hashes are stored.
/// Rows are never deleted: ids numbered from row counts stay unique.
const GOVERNANCE: &str = "
CREATE TABLE settings (
    key        TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL
);

CREATE TABLE identities (
    id            TEXT NOT NULL PRIMARY KEY,
    role          TEXT NOT NULL,
    name          TEXT NOT NULL,
    usci          TEXT NULL,
    department    TEXT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX identities_usci ON identities (usci);
CREATE INDEX identities_department ON identities (department);

CREATE TABLE tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    identity   TEXT    NOT NULL REFERENCES identities (id),
    created_at TEXT    NOT NULL,
    revoked    INTEGER NOT NULL
);
CREATE INDEX tokens_identity ON tokens (identity);

CREATE TABLE datasets (
    name            TEXT    NOT NULL PRIMARY KEY,
    provider        TEXT    NOT NULL REFERENCES identities (id),
    status          TEXT    NOT NULL,
    current_version INTEGER NULL,
    created_at      TEXT    NOT NULL
);
CREATE INDEX datasets_provider ON datasets (provider);

CREATE TABLE dataset_versions (
    dataset          TEXT    NOT NULL REFERENCES datasets (name),
    version          INTEGER NOT NULL,
    title            TEXT    NOT NULL,
    department       TEXT    NOT NULL,
    open             TEXT    NOT NULL,
    level            INTEGER NOT NULL,
    content_sha256   TEXT    NOT NULL,
    row_count        BIGINT  NOT NULL,
    active           INTEGER NOT NULL,
    published_at     TEXT    NOT NULL,
    withdrawn_reason TEXT    NULL,
    PRIMARY KEY (dataset, version)
);

CREATE TABLE agreements (
    id                    TEXT NOT NULL PRIMARY KEY,
    authorizer            TEXT NOT NULL REFERENCES identities (id),
    operator              TEXT NOT NULL REFERENCES identities (id),
    mode                  TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    term_start            TEXT NOT NULL,
    term_end              TEXT NOT NULL,
    security_requirements TEXT NOT NULL,
    exit_conditions       TEXT NOT NULL,
    status                TEXT NOT NULL,
    status_reason         TEXT NULL,
    created_at            TEXT NOT NULL
);
CREATE INDEX agreements_operator ON agreements (operator, id);

CREATE TABLE modules (
    sha256      TEXT   NOT NULL,
    operator    TEXT   NOT NULL REFERENCES identities (id),
    size        BIGINT NOT NULL,
    uploaded_at TEXT   NOT NULL,
    PRIMARY KEY (sha256, operator)
);

CREATE TABLE applications (
    id            TEXT NOT NULL PRIMARY KEY,
    scenario_id   TEXT NOT NULL,
    operator      TEXT NOT NULL REFERENCES identities (id),
    agreement     TEXT NOT NULL REFERENCES agreements (id),
    scenario      TEXT NOT NULL,
    module_sha256 TEXT NOT NULL,
    valid_until   TEXT NOT NULL,
    amends        TEXT NULL REFERENCES applications (id),
    status        TEXT NOT NULL,
    status_reason TEXT NULL,
    submitted_at  TEXT NOT NULL
);
CREATE INDEX applications_scenario ON applications (scenario_id, id);
CREATE INDEX applications_operator ON applications (operator, id);

CREATE TABLE application_datasets (
    application TEXT NOT NULL REFERENCES applications (id),
    dataset     TEXT NOT NULL REFERENCES datasets (name),
    PRIMARY KEY (application, dataset)
);
CREATE INDEX application_datasets_dataset ON application_datasets (dataset);

CREATE TABLE reviews (
    application TEXT    NOT NULL REFERENCES applications (id),
    position    INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    party       TEXT    NOT NULL,
    decision    TEXT    NULL,
    reason      TEXT    NULL,
    deadline    TEXT    NOT NULL,
    decided_at  TEXT    NULL,
    PRIMARY KEY (application, position)
);
CREATE INDEX reviews_party ON reviews (party);

CREATE TABLE objections (
    id          TEXT NOT NULL PRIMARY KEY,
    dataset     TEXT NOT NULL REFERENCES datasets (name),
    filed_by    TEXT NOT NULL REFERENCES identities (id),
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    resolution  TEXT NULL,
    note        TEXT NULL,
    filed_at    TEXT NOT NULL,
    resolved_at TEXT NULL
);
CREATE INDEX objections_dataset ON objections (dataset, status);

CREATE TABLE quality_requests (
    id          TEXT NOT NULL PRIMARY KEY,
    dataset     TEXT NOT NULL REFERENCES datasets (name),
    operator    TEXT NOT NULL REFERENCES identities (id),
    description TEXT NOT NULL,
    answer      TEXT NULL,
    filed_at    TEXT NOT NULL,
    answered_at TEXT NULL
);
CREATE INDEX quality_requests_operator ON quality_requests (operator, id);
CREATE INDEX quality_requests_dataset ON quality_requests (dataset, id);

CREATE TABLE jobs (
    id            TEXT NOT NULL PRIMARY KEY,
    application   TEXT NOT NULL REFERENCES applications (id),
    scenario_id   TEXT NOT NULL,
    operator      TEXT NOT NULL REFERENCES identities (id),
    module_sha256 TEXT NOT NULL,
    state         TEXT NOT NULL,
    detail        TEXT NULL,
    releases      TEXT NOT NULL,
    submitted_at  TEXT NOT NULL,
    started_at    TEXT NULL,
    ended_at      TEXT NULL
);
CREATE INDEX jobs_operator ON jobs (operator, id);
CREATE INDEX jobs_application ON jobs (application, state);

CREATE TABLE job_products (
    product_id TEXT NOT NULL PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id)
);
";

/// Version 3: the privacy budget ledger (see `shuyu::budget`).
///
/// ε and δ are exact integers in fixed units (ε in 1e-9, δ in 1e-15), never floats, so that sums
/// never drift and comparisons are exact. A scope is (`scope_kind`, `scope_id`) with kind
/// `scenario` or `dataset`. What a scope has spent is the sum of its debits not refunded; no
/// running total is stored. Debits are never deleted; a refund only sets `refunded` (0 or 1),
/// `refunded_at` and `refund_reason`. `position` keeps a debit's scopes in the order charged.
const PRIVACY_BUDGET: &str = "
CREATE TABLE privacy_budgets (
    scope_kind    TEXT   NOT NULL,
    scope_id      TEXT   NOT NULL,
    epsilon_total BIGINT NOT NULL,
    delta_total   BIGINT NOT NULL,
    updated_at    TEXT   NOT NULL,
    PRIMARY KEY (scope_kind, scope_id)
);

CREATE TABLE privacy_debits (
    id            TEXT    NOT NULL PRIMARY KEY,
    job_id        TEXT    NOT NULL,
    release_name  TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    epsilon       BIGINT  NOT NULL,
    delta         BIGINT  NOT NULL,
    time          TEXT    NOT NULL,
    refunded      INTEGER NOT NULL,
    refunded_at   TEXT    NULL,
    refund_reason TEXT    NULL
);
CREATE INDEX privacy_debits_job ON privacy_debits (job_id);

CREATE TABLE privacy_debit_scopes (
    debit_id   TEXT    NOT NULL REFERENCES privacy_debits (id),
    position   INTEGER NOT NULL,
    scope_kind TEXT    NOT NULL,
    scope_id   TEXT    NOT NULL,
    PRIMARY KEY (debit_id, position),
    FOREIGN KEY (scope_kind, scope_id) REFERENCES privacy_budgets (scope_kind, scope_id)
);
CREATE INDEX privacy_debit_scopes_scope ON privacy_debit_scopes (scope_kind, scope_id, debit_id);
";

/// Version 4: debits numbered in the order they were charged.
///
/// Version 3 ordered a scope's debits by time, then id; ids are random and times have
/// millisecond resolution, so two debits of one millisecond came back in either order. `seq` is
/// the charge order; existing debits are numbered in their version-3 order, so a database keeps
/// the order it showed before. (`ADD COLUMN ... NOT NULL DEFAULT` and the correlated `UPDATE` are
/// understood by SQLite and PostgreSQL alike.)
const DEBIT_ORDER: &str = "
ALTER TABLE privacy_debits ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE privacy_debits SET seq = (
    SELECT COUNT(*) FROM privacy_debits p
    WHERE p.time < privacy_debits.time
       OR (p.time = privacy_debits.time AND p.id <= privacy_debits.id)
);
CREATE UNIQUE INDEX privacy_debits_seq ON privacy_debits (seq);
";

/// Version 5: scenario ids bound to one operator for ever (see `governance::bindings`).
///
/// A scenario id is chosen by its operator, so it cannot by itself name what a scenario owns:
/// once an application ends, another operator could apply under the same id. The first use of
/// an id (an application, or a local `shuyu run`) binds it to its operator and to `key_id`, a
/// domain-assigned identity from which the scenario's pseudonym key and privacy-ledger scope
/// derive; nothing ever rebinds it.
///
/// Existing databases: every scenario id already used is bound to its current operator, the
/// operator of its latest application (by submission time, then id), or, for ids only
/// ever run locally, the operator of its latest audited `job.start`. Their `key_id` is the
/// scenario id itself, so the pseudonym key (`HMAC(master, tag || key_id)`) and the ledger scope
/// stay exactly what they were: existing pseudonyms and debits remain the scenario's. New
/// bindings get a random `k-` + 32 hex id, which no operator chooses.
const SCENARIO_BINDINGS: &str = "
CREATE TABLE scenario_bindings (
    scenario_id TEXT NOT NULL PRIMARY KEY,
    operator    TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    bound_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX scenario_bindings_key ON scenario_bindings (key_id);
CREATE INDEX scenario_bindings_operator ON scenario_bindings (operator, scenario_id);

INSERT INTO scenario_bindings (scenario_id, operator, key_id, bound_at)
SELECT a.scenario_id, a.operator, a.scenario_id, a.submitted_at
FROM applications a
WHERE a.id = (SELECT b.id FROM applications b WHERE b.scenario_id = a.scenario_id
              ORDER BY b.submitted_at DESC, b.id DESC LIMIT 1);

INSERT INTO scenario_bindings (scenario_id, operator, key_id, bound_at)
SELECT e.subject, e.actor, e.subject, e.time
FROM audit_entries e
WHERE e.action = 'job.start'
  AND e.seq = (SELECT MAX(f.seq) FROM audit_entries f
               WHERE f.action = 'job.start' AND f.subject = e.subject)
  AND NOT EXISTS (SELECT 1 FROM scenario_bindings s WHERE s.scenario_id = e.subject);
";

/// Version 6: indexes for the quotas (`governance::quotas`): an operator's queued jobs, a
/// scenario's jobs of one day and an operator's modules are counted at every submission or
/// upload, so each count is an index range, never a table scan.
const QUOTA_INDEXES: &str = "
CREATE INDEX jobs_operator_state ON jobs (operator, state);
CREATE INDEX jobs_scenario_submitted ON jobs (scenario_id, submitted_at);
CREATE INDEX modules_operator ON modules (operator, uploaded_at);
";

/// Version 7: who changed a status, and when (`shuyu_model::records::StatusChange`), on identities,
/// agreements, applications and datasets; datasets also get the reason of their status.
///
/// Existing rows take both from the newest audit entry that changed their status (the log names
/// the actor and time of every change since version 2); rows never changed stay NULL, which
/// reads as "unchanged since created". A dataset's reason is left NULL: its objection says why.
const STATUS_CHANGES: &str = "
ALTER TABLE identities ADD COLUMN status_changed_by TEXT NULL;
ALTER TABLE identities ADD COLUMN status_changed_at TEXT NULL;
ALTER TABLE agreements ADD COLUMN status_changed_by TEXT NULL;
ALTER TABLE agreements ADD COLUMN status_changed_at TEXT NULL;
ALTER TABLE applications ADD COLUMN status_changed_by TEXT NULL;
ALTER TABLE applications ADD COLUMN status_changed_at TEXT NULL;
ALTER TABLE datasets ADD COLUMN status_reason TEXT NULL;
ALTER TABLE datasets ADD COLUMN status_changed_by TEXT NULL;
ALTER TABLE datasets ADD COLUMN status_changed_at TEXT NULL;

UPDATE identities SET
    status_changed_by = (SELECT e.actor FROM audit_entries e WHERE e.subject = identities.id
        AND e.action IN ('gov.operator.suspend', 'gov.operator.restore')
        ORDER BY e.seq DESC LIMIT 1),
    status_changed_at = (SELECT e.time FROM audit_entries e WHERE e.subject = identities.id
        AND e.action IN ('gov.operator.suspend', 'gov.operator.restore')
        ORDER BY e.seq DESC LIMIT 1);
UPDATE agreements SET
    status_changed_by = (SELECT e.actor FROM audit_entries e WHERE e.subject = agreements.id
        AND e.action IN ('gov.agreement.terminate', 'gov.agreement.expire')
        ORDER BY e.seq DESC LIMIT 1),
    status_changed_at = (SELECT e.time FROM audit_entries e WHERE e.subject = agreements.id
        AND e.action IN ('gov.agreement.terminate', 'gov.agreement.expire')
        ORDER BY e.seq DESC LIMIT 1);
UPDATE applications SET
    status_changed_by = (SELECT e.actor FROM audit_entries e WHERE e.subject = applications.id
        AND e.action IN ('gov.application.suspend', 'gov.application.restore',
                         'gov.application.revoke', 'gov.application.expire',
                         'gov.application.lapse', 'gov.review')
        ORDER BY e.seq DESC LIMIT 1),
    status_changed_at = (SELECT e.time FROM audit_entries e WHERE e.subject = applications.id
        AND e.action IN ('gov.application.suspend', 'gov.application.restore',
                         'gov.application.revoke', 'gov.application.expire',
                         'gov.application.lapse', 'gov.review')
        ORDER BY e.seq DESC LIMIT 1);
";

/// Version 8: claims joined to an open objection (`governance::objections`). A second objection
/// against a dataset already suspended by one is not a second, independent objection: its
/// objector and reason are kept with the open one, numbered from 0, and resolved with it.
const OBJECTION_JOINS: &str = "
CREATE TABLE objection_joins (
    objection TEXT    NOT NULL REFERENCES objections (id),
    position  INTEGER NOT NULL,
    filed_by  TEXT    NOT NULL REFERENCES identities (id),
    reason    TEXT    NOT NULL,
    filed_at  TEXT    NOT NULL,
    PRIMARY KEY (objection, position)
);
";

/// Version 9: verification and data services (`shuyu::services`). Consents and calls hold the
/// subject's reference (a keyed hash), never its identifier. A call's `seq` is its id
/// (`call-<seq>`): taking the next number from a counter would cost a scan per call. `day` is
/// the call's local day in the domain's time zone, for daily quotas and usage reports.
const SERVICES: &str = "
CREATE TABLE consents (
    id              TEXT NOT NULL PRIMARY KEY,
    operator        TEXT NOT NULL REFERENCES identities (id),
    service         TEXT NOT NULL,
    subject_kind    TEXT NOT NULL,
    subject_ref     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    evidence_sha256 TEXT NOT NULL,
    valid_from      TEXT NOT NULL,
    valid_until     TEXT NOT NULL,
    status          TEXT NOT NULL,
    granted_by      TEXT NOT NULL,
    granted_at      TEXT NOT NULL,
    revoked_by      TEXT NULL,
    revoked_at      TEXT NULL,
    revoke_reason   TEXT NULL
);
CREATE INDEX consents_by_subject ON consents (subject_ref, id);
CREATE INDEX consents_by_operator ON consents (operator, id);
CREATE TABLE service_calls (
    seq         INTEGER NOT NULL PRIMARY KEY,
    at          TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    operator    TEXT    NOT NULL REFERENCES identities (id),
    service     TEXT    NOT NULL,
    application TEXT    NOT NULL,
    consent     TEXT    NOT NULL REFERENCES consents (id),
    subject_ref TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    answer      TEXT    NULL,
    failure     TEXT    NULL,
    latency_us  INTEGER NOT NULL
);
CREATE INDEX service_calls_by_subject ON service_calls (subject_ref, seq);
CREATE INDEX service_calls_by_day ON service_calls (day, operator, service);
CREATE INDEX service_calls_by_service ON service_calls (day, service);
CREATE INDEX service_calls_by_consent ON service_calls (consent);
";

/// Version 10: operators' runs against mock twins (`shuyu::mock`). The report is JSON: a mock
/// run's trail, which nothing queries by field.
const MOCK_RUNS: &str = "
CREATE TABLE mock_runs (
    id            TEXT NOT NULL PRIMARY KEY,
    operator      TEXT NOT NULL REFERENCES identities (id),
    scenario_id   TEXT NOT NULL,
    module_sha256 TEXT NOT NULL,
    datasets      TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NULL,
    report        TEXT NULL
);
CREATE INDEX mock_runs_by_operator ON mock_runs (operator, id);
CREATE INDEX mock_runs_by_status ON mock_runs (status);
";

/// The bookkeeping table; created outside the list because the list's progress lives in it.
const SCHEMA_MIGRATIONS: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at TEXT    NOT NULL
)";

/// The newest schema version this code knows.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// The database's schema version (0 for a fresh database).
pub(super) fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .optional()?
        .flatten();
    let version = version.unwrap_or(0);
    u32::try_from(version).map_err(|_| StoreError::BadSchemaVersion { found: version })
}

/// Brings the database up to [`latest_version`], one transaction per migration.
pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA_MIGRATIONS)?;
    let supported = latest_version();
    let found = current_version(conn)?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another process may have migrated since we looked.
        if current_version(&tx)? >= version {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration { version, source })?;
        let applied_at = super::codec::ts(&chrono::Utc::now());
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![i64::from(version), applied_at],
        )
        .map_err(|source| StoreError::Migration { version, source })?;
        tx.commit()
            .map_err(|source| StoreError::Migration { version, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_by_one() {
        for (i, (version, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, i + 1);
        }
    }

    #[test]
    fn status_changes_of_a_version_6_database_come_from_the_log() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA_MIGRATIONS).unwrap();
        for (version, sql) in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, 't')",
                rusqlite::params![version],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO identities VALUES ('op-1', 'operator', 'n', NULL, NULL, 'active', NULL, 't0');
             INSERT INTO identities VALUES ('op-2', 'operator', 'n', NULL, NULL, 'active', NULL, 't0');
             INSERT INTO audit_entries VALUES
               (1, '2026-01-01T00:00:00.000Z', 'bureau', 'gov.operator.suspend', 'op-1', NULL, '{}', 'x', 'y'),
               (2, '2026-01-02T00:00:00.000Z', 'boss', 'gov.operator.restore', 'op-1', NULL, '{}', 'y', 'z'),
               (3, '2026-01-03T00:00:00.000Z', 'op-1', 'gov.module.upload', 'op-1', NULL, '{}', 'z', 'w');",
        )
        .unwrap();
        apply(&mut conn).unwrap();
        let changed: Vec<(Option<String>, Option<String>)> = conn
            .prepare("SELECT status_changed_by, status_changed_at FROM identities ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // The newest status change, not the newest entry; never changed stays unknown.
        assert_eq!(
            changed,
            vec![
                (Some("boss".into()), Some("2026-01-02T00:00:00.000Z".into())),
                (None, None)
            ]
        );
    }

    #[test]
    fn debits_of_a_version_3_database_are_numbered_in_their_old_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.execute_batch(SCHEMA_MIGRATIONS).unwrap();
        for (version, sql) in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, 't')",
                rusqlite::params![version],
            )
            .unwrap();
        }
        // Two debits share a millisecond; version 3 listed them in id order.
        for (id, time) in [
            ("dbt-b", "2026-01-01T00:00:00.000Z"),
            ("dbt-c", "2026-01-01T00:00:00.001Z"),
            ("dbt-a", "2026-01-01T00:00:00.000Z"),
        ] {
            conn.execute(
                "INSERT INTO privacy_debits VALUES (?1, 'j', 'r', 'op', 1, 0, ?2, 0, NULL, NULL)",
                rusqlite::params![id, time],
            )
            .unwrap();
        }
        apply(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version());
        let mut statement = conn
            .prepare("SELECT id, seq FROM privacy_debits ORDER BY seq")
            .unwrap();
        let rows: Vec<(String, i64)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [("dbt-a", 1), ("dbt-b", 2), ("dbt-c", 3)];
        let expected: Vec<(String, i64)> = expected
            .iter()
            .map(|(id, seq)| (id.to_string(), *seq))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn scenario_ids_of_a_version_4_database_stay_with_their_current_operator_and_keys() {
        let mut conn = Connection::open_in_memory().unwrap();
        // Only the columns the migration reads are filled; the rows they refer to are left out.
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(SCHEMA_MIGRATIONS).unwrap();
        for (version, sql) in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, 't')",
                rusqlite::params![version],
            )
            .unwrap();
        }
        // 'shared' was applied for by op-a, then (after it ended) by op-b: op-b holds it now.
        // 'solo' is op-a's; 'local' was only ever run with `shuyu run`, last by op-c.
        for (id, scenario, operator, submitted) in [
            ("app-000001", "shared", "op-a", "2026-01-01T00:00:00.000Z"),
            ("app-000002", "solo", "op-a", "2026-01-02T00:00:00.000Z"),
            ("app-000003", "shared", "op-b", "2026-02-01T00:00:00.000Z"),
        ] {
            conn.execute(
                "INSERT INTO applications VALUES (?1, ?2, ?3, 'agr', '{}', 'm', 't', NULL, \
                 'revoked', NULL, ?4)",
                rusqlite::params![id, scenario, operator, submitted],
            )
            .unwrap();
        }
        for (seq, actor) in [(1, "op-x"), (2, "op-c")] {
            conn.execute(
                "INSERT INTO audit_entries VALUES (?1, 't', ?2, 'job.start', 'local', 'j', '{}', \
                 'p', 'h')",
                rusqlite::params![seq, actor],
            )
            .unwrap();
        }
        apply(&mut conn).unwrap();
        let mut statement = conn
            .prepare("SELECT scenario_id, operator, key_id FROM scenario_bindings ORDER BY 1")
            .unwrap();
        let rows: Vec<(String, String, String)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Key ids stay the scenario ids: pseudonyms and ledger scopes are unchanged.
        let expected = [
            ("local", "op-c", "local"),
            ("shared", "op-b", "shared"),
            ("solo", "op-a", "solo"),
        ];
        let expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(s, o, k)| (s.to_string(), o.to_string(), k.to_string()))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn sql_avoids_sqlite_only_constructs() {
        for (version, sql) in MIGRATIONS {
            let upper = sql.to_uppercase();
            for banned in ["AUTOINCREMENT", "WITHOUT ROWID", "BLOB", "PRAGMA", "STRICT"] {
                assert!(!upper.contains(banned), "migration {version} uses {banned}");
            }
        }
    }
}
