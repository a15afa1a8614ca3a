//! The database: one SQLite file, `<data-dir>/shuyu.db`, behind a small transactional API.
//!
//! This module owns all of shuyu's SQL. Every module that keeps state (governance, the audit
//! log, the privacy-budget ledger) opens a transaction with [`Store::write`] or [`Store::read`]
//! and calls the typed query functions of [`governance`], [`audit`] and [`budget`] inside it;
//! no other module writes a statement. The SQL stays portable (see `migrations`), so that
//! PostgreSQL can later stand behind the same functions.
//!
//! # Design
//!
//! - One writing connection behind a mutex. SQLite allows one writer at a time anyway; the mutex
//!   makes writers inside this process queue instead of spinning on `SQLITE_BUSY`, and
//!   `busy_timeout` (5 s) covers other processes (a CLI reading the log of a running server).
//! - Reads of a file database use connections of their own (a small pool): in WAL mode they read
//!   while the writer writes, so a read never waits for another request's commit and its fsync.
//!   An in-memory database (tests) has only the one connection.
//! - The WAL is checkpointed by a background thread (every [`CHECKPOINT_EVERY`], PASSIVE: it
//!   never waits for the writer nor blocks it) instead of by whichever commit crosses SQLite's
//!   threshold, which would make that one request pay for copying the WAL back and syncing the
//!   database file. SQLite's own threshold stays, raised, as a backstop.
//! - WAL journal with `synchronous=FULL`: readers in other processes never block the writer, and
//!   a committed transaction survives power loss, which the audit log's promise depends on.
//! - `foreign_keys=ON`, because SQLite leaves them off by default.
//! - Writes run in IMMEDIATE transactions: the write lock is taken at `BEGIN`, so a
//!   read-then-insert (the audit log's head, then the next entry) cannot interleave with another
//!   writer's, in this process or any other.
//! - Reads run in a deferred transaction that is always rolled back, so one `read` sees one
//!   consistent snapshot even while another process appends, and cannot change anything.
//!
//! A panic inside a closure poisons the mutex; the connection itself is still sound (the
//! transaction rolled back as it unwound), so later calls recover it instead of failing forever.

pub mod audit;
pub mod budget;
pub mod codec;
pub mod governance;
mod migrations;
pub mod mock_runs;
pub mod services;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::TransactionBehavior;

/// The connection and transaction types every query function takes. Callers name them through
/// the store, so only `store/` depends on the database driver.
pub use rusqlite::{Connection, Transaction};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "shuyu.db";

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the database could not be opened, migrated, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("{path}: cannot create folder: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The database file could not be opened or configured.
    #[error("{path}: cannot open database: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// SQLite would not switch the database to WAL (for instance on a file system without
    /// shared memory support).
    #[error("{path}: SQLite kept journal mode '{mode}' instead of WAL")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// A migration failed; the database stays at the previous version.
    #[error("database migration {version} failed: {source}")]
    Migration {
        /// The migration's version.
        version: u32,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer shuyu.
    #[error(
        "database schema version {found} is newer than this shuyu supports ({supported}); \
         use a newer shuyu with this data directory"
    )]
    TooNew {
        /// The database's version.
        found: u32,
        /// The newest version this code knows.
        supported: u32,
    },
    /// `schema_migrations` holds a version that is not a valid number.
    #[error("database schema_migrations holds an invalid version {found}")]
    BadSchemaVersion {
        /// What was found.
        found: i64,
    },
    /// A statement failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value does not parse: the database was altered outside shuyu.
    #[error("database holds an unreadable value: {0}")]
    Corrupt(String),
    /// A value could not be encoded for storage.
    #[error("cannot encode a value for the database: {0}")]
    Encode(#[source] serde_json::Error),
}

/// How often the background thread checkpoints the WAL of a file database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000): only if the
/// background checkpoints cannot keep up.
const AUTOCHECKPOINT_PAGES: u32 = 20_000;
/// Reading connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

/// The database: one writing connection, serialized, in WAL mode, and reading connections.
pub struct Store {
    conn: Mutex<Connection>,
    /// Idle reading connections (file databases only).
    readers: Mutex<Vec<Connection>>,
    path: Option<PathBuf>,
    /// Stops the background checkpoints when the store is dropped.
    _checkpoints: Option<Checkpointer>,
}

/// The background thread that checkpoints the WAL, and the flag that stops it.
struct Checkpointer {
    stop: std::sync::Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path`'s WAL on a connection of its own. A failure to open it only
    /// leaves checkpoints to SQLite's threshold.
    fn start(path: &Path) -> Option<Self> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(BUSY_TIMEOUT).ok()?;
        let stop = std::sync::Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("shuyu-checkpoint".into())
            .spawn(move || {
                let (stopped, wake) = &*flag;
                let mut done = stopped.lock().unwrap_or_else(PoisonError::into_inner);
                while !*done {
                    // PASSIVE copies what it can without waiting for readers or the writer;
                    // a busy database is tried again next round.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    done = wake
                        .wait_timeout(done, CHECKPOINT_EVERY)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
            })
            .ok()?;
        Some(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating) `<data_dir>/shuyu.db`: WAL, synchronous=FULL, foreign_keys=ON,
    /// busy_timeout 5s; applies pending migrations in one transaction each.
    ///
    /// # Errors
    ///
    /// [`StoreError::TooNew`] for a database written by a newer shuyu; [`StoreError::Open`] or
    /// [`StoreError::Migration`] naming the file or the migration that failed.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_error)?;
        configure(&conn, Some(path.as_path()))?;
        Self::finish_open(conn, Some(path))
    }

    /// Opens a private in-memory database with the full schema (for tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn, None)?;
        Self::finish_open(conn, None)
    }

    fn finish_open(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        migrations::apply(&mut conn)?;
        let checkpoints = match &path {
            Some(file) => {
                conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)
                    .map_err(|source| StoreError::Open {
                        path: file.clone(),
                        source,
                    })?;
                Checkpointer::start(file)
            }
            None => None,
        };
        Ok(Self {
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
            _checkpoints: checkpoints,
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` inside an IMMEDIATE transaction; commits on Ok, rolls back on Err.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_with(f)
    }

    /// Like [`Store::write`], for closures that fail with the caller's own error type: any `Err`
    /// rolls the transaction back and is returned as is.
    pub fn write_with<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        // On Err the transaction is dropped here, which rolls it back.
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs `f` on one consistent snapshot of the database. Anything `f` writes is rolled back:
    /// use [`Store::write`] to change data.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_with(f)
    }

    /// Like [`Store::read`], for closures that fail with the caller's own error type.
    pub fn read_with<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let Some(path) = &self.path else {
            return Self::read_on(&mut self.lock(), f);
        };
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(path).map_err(|source| StoreError::Open {
                    path: path.clone(),
                    source,
                })?;
                configure(&conn, Some(path))?;
                conn
            }
        };
        let value = Self::read_on(&mut conn, f);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        value
    }

    /// Runs `f` in a deferred transaction on `conn`, then rolls it back.
    fn read_on<T, E: From<StoreError>>(
        conn: &mut Connection,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        let value = f(&tx);
        // Dropping a transaction rolls it back; say so explicitly to surface a failure.
        tx.rollback().map_err(StoreError::from)?;
        value
    }

    /// The database's schema version (the highest migration applied).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(migrations::current_version)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets the connection's pragmas. WAL only applies to files (an in-memory database ignores it).
fn configure(conn: &Connection, file: Option<&Path>) -> Result<(), StoreError> {
    let setup = || -> Result<Option<String>, rusqlite::Error> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        if file.is_none() {
            return Ok(None);
        }
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map(Some)
    };
    let open_error = |source| match file {
        Some(path) => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
        None => StoreError::Sqlite(source),
    };
    match (setup().map_err(open_error)?, file) {
        (Some(mode), Some(path)) if !mode.eq_ignore_ascii_case("wal") => Err(StoreError::NotWal {
            path: path.to_path_buf(),
            mode,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::latest_version;

    #[test]
    fn open_applies_all_migrations_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_version());
        store
            .read(|c| {
                let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                assert_eq!(mode.to_lowercase(), "wal");
                let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                assert_eq!(sync, 2, "FULL");
                let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                assert_eq!(fk, 1);
                let n: i64 = c.query_row("SELECT COUNT(*) FROM audit_entries", [], |r| r.get(0))?;
                assert_eq!(n, 0);
                Ok(())
            })
            .unwrap();
        drop(store);
        // Reopening applies nothing twice.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_version());
        let rows: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(rows, i64::from(latest_version()));
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let raw = Connection::open(dir.path().join(DB_FILE)).unwrap();
        raw.execute(
            "INSERT INTO schema_migrations VALUES (999, '2099-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
        drop(raw);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("999"));
    }

    #[test]
    fn write_commits_on_ok_and_rolls_back_on_err() {
        let store = Store::open_in_memory().unwrap();
        let insert = |tx: &Transaction<'_>, seq: i64| {
            tx.execute(
                "INSERT INTO audit_checkpoints VALUES (?1, 'h', 't', 'k', 's')",
                rusqlite::params![seq],
            )
        };
        store.write(|tx| Ok(insert(tx, 1)?)).unwrap();
        let failed: Result<(), StoreError> = store.write(|tx| {
            insert(tx, 2)?;
            Err(StoreError::BadSchemaVersion { found: -1 })
        });
        assert!(failed.is_err());
        let n: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM audit_checkpoints", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn read_cannot_change_data() {
        let store = Store::open_in_memory().unwrap();
        store
            .read(|c| {
                c.execute(
                    "INSERT INTO audit_checkpoints VALUES (1, 'h', 't', 'k', 's')",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let n: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM audit_checkpoints", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 0);
    }

    /// The promise of the module docs, checked: of the workspace's crates, only this one has
    /// the database driver among its (non-dev) dependencies, so no other crate can compile a
    /// statement. Test code elsewhere may still open a database to tamper with it on purpose.
    #[test]
    fn only_the_store_talks_to_the_database() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let members = workspace
            .lines()
            .find_map(|line| line.strip_prefix("members = "))
            .expect("the workspace lists its members on one line");
        let mut checked = 0;
        let mut found = Vec::new();
        for member in members.split('"').skip(1).step_by(2) {
            let manifest = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
            let dependencies = manifest
                .split("\n[")
                .find(|section| section.starts_with("dependencies]"))
                .unwrap_or("");
            if dependencies.contains("rusqlite") && member != "store" {
                found.push(member.to_string());
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} members found");
        assert!(
            found.is_empty(),
            "database driver outside the store: {found:?}"
        );
    }

    /// The statements stay portable to PostgreSQL: no SQLite-only function or syntax appears in
    /// the store's code (comments and tests aside). Placeholders are `?N`, which a PostgreSQL
    /// backend rewrites to `$N` mechanically.
    #[test]
    fn statements_avoid_sqlite_only_constructs() {
        const SQLITE_ONLY: [&str; 12] = [
            "INSERT OR ",
            "REPLACE INTO",
            "IFNULL(",
            "GROUP_CONCAT(",
            "DATETIME(",
            "STRFTIME(",
            "JULIANDAY(",
            "ROWID",
            "LAST_INSERT_ROWID",
            "AUTOINCREMENT",
            " GLOB ",
            "WITHOUT ROWID",
        ];
        fn visit(dir: &Path, problems: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, problems);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for (n, line) in code.lines().enumerate() {
                    let line = line.trim_start();
                    if line.starts_with("//") {
                        continue;
                    }
                    let upper = line.to_uppercase();
                    for banned in SQLITE_ONLY {
                        if upper.contains(banned) {
                            problems.push(format!("{}:{}: {banned}", path.display(), n + 1));
                        }
                    }
                }
            }
        }
        let mut problems = Vec::new();
        visit(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_panicking_closure_does_not_break_the_store() {
        let store = Store::open_in_memory().unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = store.write(|_| -> Result<(), StoreError> { panic!("boom") });
        }));
        assert!(result.is_err());
        assert_eq!(store.schema_version().unwrap(), latest_version());
    }
}
