//! The domain: one data directory and what lives in it.
//!
//! ```text
//! <data-dir>/
//!   keys/            domain signing key, pseudonym master key (owner-only)
//!   shuyu.db         the database (audit log, later governance state)
//!   datasets/        the catalog: one folder per dataset
//!   products/        released product packages
//!   scenarios/       scenario files as they were used
//!   cache/modules/   compiled guest modules
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::catalog::{Catalog, CatalogError};
use crate::engine::UniverseCache;
use crate::keys::DomainKeys;
use crate::sandbox::Sandbox;
use crate::store::Store;

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The folder could not be created or read.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The sandbox could not be set up.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The async runtime could not start.
    #[error("cannot start the query runtime: {0}")]
    Runtime(std::io::Error),
}

/// An open data directory with its keys, database, audit log, sandbox and query runtime.
pub struct Domain {
    data_dir: PathBuf,
    /// Signing and pseudonym keys.
    pub keys: Arc<DomainKeys>,
    /// The database.
    pub store: Arc<Store>,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// The WebAssembly sandbox.
    pub sandbox: Arc<Sandbox>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Domain {
    /// Opens (creating on first use) a data directory.
    pub fn open(data_dir: &Path) -> Result<Self, DomainError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DomainError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(data_dir))?;
        }
        for sub in ["datasets", "products", "scenarios"] {
            std::fs::create_dir_all(data_dir.join(sub)).map_err(io(&data_dir.join(sub)))?;
        }
        let keys = Arc::new(DomainKeys::load_or_create(data_dir)?);
        let store = Arc::new(Store::open(data_dir)?);
        let audit = Arc::new(AuditLog::new(store.clone(), keys.clone()));
        let sandbox = Arc::new(Sandbox::new(Some(data_dir.join("cache").join("modules")))?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shuyu-query")
            .enable_time()
            .build()
            .map_err(DomainError::Runtime)?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            keys,
            store,
            audit,
            sandbox,
            runtime,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the catalog's datasets live.
    pub fn datasets_dir(&self) -> PathBuf {
        self.data_dir.join("datasets")
    }

    /// Where identifier universes are kept between jobs (`engine::UniverseCache`): under
    /// `cache/universes`, at most [`UniverseCache::DEFAULT_MAX_BYTES`].
    pub fn universe_cache(&self) -> UniverseCache {
        UniverseCache::new(
            self.data_dir.join("cache").join("universes"),
            UniverseCache::DEFAULT_MAX_BYTES,
        )
    }

    /// Where product packages are written.
    pub fn products_dir(&self) -> PathBuf {
        self.data_dir.join("products")
    }

    /// Where scenario files are kept as they were used.
    pub fn scenarios_dir(&self) -> PathBuf {
        self.data_dir.join("scenarios")
    }

    /// Loads the catalog.
    pub fn catalog(&self) -> Result<Catalog, CatalogError> {
        Catalog::load(&self.datasets_dir())
    }

    /// A handle to the query runtime (DataFusion runs there; guests block on it from their own
    /// threads).
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }
}
