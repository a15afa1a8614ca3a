//! What every request handler shares: the job queue, which owns the domain and its governance,
//! and the privacy budget ledger over the same store.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use super::error::ApiError;
use super::queue::{JobIsolation, JobQueue};
use shuyu::budget::BudgetLedger;
use shuyu::domain::{Domain, DomainError};
use shuyu::governance::model::{Application, ApplicationStatus};
use shuyu::governance::{GovError, Governance, RefusalLimit};
use shuyu::services::{ServiceLimits, Services};
use shuyu::time_zone::DomainZone;

/// The address `shuyu serve` listens on by default.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8640);
/// Jobs run at the same time by default.
pub const DEFAULT_WORKERS: usize = 2;

/// How the server runs. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:8640`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Jobs run at the same time (default 2; at least 1).
    pub workers: usize,
    /// How often agreements and applications past their term are expired (default 30 s).
    pub expire_every: std::time::Duration,
    /// Where jobs run (default in the server's process, for tests and embedding; `shuyu serve`
    /// runs each in a worker process of its own).
    pub isolation: JobIsolation,
    /// How many refusals each identity gets audited per window (default 20 a minute); the
    /// rest are counted in one `refused.suppressed` entry.
    pub refusal_limit: RefusalLimit,
    /// The domain's time zone: review deadlines end at the end of a local day (default
    /// Asia/Shanghai; `shuyu --time-zone` or `SHUYU_TIME_ZONE`).
    pub time_zone: DomainZone,
    /// Per-operator limits of service calls (rate and daily quota).
    pub service_limits: ServiceLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            workers: DEFAULT_WORKERS,
            expire_every: std::time::Duration::from_secs(30),
            isolation: JobIsolation::InProcess,
            refusal_limit: RefusalLimit::default(),
            time_zone: DomainZone::default(),
            service_limits: ServiceLimits::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be opened.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A thread or the listening socket could not be set up.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The server's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) queue: JobQueue,
    pub(crate) config: ServerConfig,
    /// Read-only here: jobs charge through their own ledger over the same store, and the store's
    /// transactions keep the two consistent.
    pub(crate) ledger: Arc<BudgetLedger>,
    /// Verification and data services, answered in this process.
    pub(crate) services: Services,
    /// The console's signed-in sessions.
    pub(crate) sessions: crate::console::Sessions,
    /// Places for mock runs.
    pub(crate) mock_slots: crate::routes::MockSlots,
}

impl AppState {
    /// Opens (creating on first use) the data directory and starts the job workers. Blocking
    /// (keys, database migrations): call it before entering the async runtime or from a
    /// blocking task.
    pub fn open(data_dir: &Path, config: ServerConfig) -> Result<Self, ServeError> {
        let domain = Domain::open(data_dir)?;
        Ok(Self::new(domain, config)?)
    }

    /// The state over an open domain; starts the job workers.
    pub fn new(domain: Domain, config: ServerConfig) -> std::io::Result<Self> {
        let governance = Governance::new(
            domain.store.clone(),
            domain.audit.clone(),
            domain.data_dir(),
        )
        .with_refusal_limit(config.refusal_limit)
        .with_time_zone(config.time_zone);
        let ledger = Arc::new(BudgetLedger::new(
            domain.store.clone(),
            domain.audit.clone(),
        ));
        let services = Services::new(&domain, governance.clone(), config.service_limits);
        // Runs a stopped server left "running" never ended; say so rather than leave them.
        match governance.fail_interrupted_mock_runs() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "mock runs left by a stopped server marked failed"),
            Err(e) => tracing::error!(error = %e, "cannot mark interrupted mock runs"),
        }
        // Their directories hold twins' results only; nothing reads them after a restart.
        if let Ok(listing) = std::fs::read_dir(domain.data_dir().join(shuyu::mock::MOCK_RUNS_DIR)) {
            for entry in listing.flatten() {
                if entry.file_name().to_string_lossy().starts_with("mock-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let queue =
            JobQueue::start_with(domain, governance, config.workers, config.isolation.clone())?;
        Ok(Self {
            queue,
            config,
            ledger,
            services,
            sessions: crate::console::Sessions::default(),
            mock_slots: crate::routes::MockSlots::default(),
        })
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The domain served.
    pub fn domain(&self) -> &Domain {
        self.queue.domain()
    }

    /// The privacy budget ledger.
    pub fn ledger(&self) -> &BudgetLedger {
        &self.ledger
    }

    /// The verification and data services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The job queue.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// An application a review just approved gets its identifier universe built ahead of its
    /// first job ([`JobQueue::warm_universe`]); the API's and the console's reviews both call
    /// this.
    pub(crate) fn warm_if_approved(&self, application: &Application) {
        if application.status == ApplicationStatus::Approved {
            self.queue.warm_universe(&application.id);
        }
    }

    /// Runs a governance call on a blocking thread (every call touches the database) and maps
    /// its error.
    pub(crate) async fn gov<T, F>(&self, call: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Governance) -> Result<T, GovError> + Send + 'static,
    {
        self.blocking(move |queue| call(queue.governance()).map_err(ApiError::from))
            .await
    }

    /// Runs blocking work that needs the queue (and through it the domain) off the async
    /// workers. A panic there is an internal error, not a dead connection.
    pub(crate) async fn blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&JobQueue) -> Result<T, ApiError> + Send + 'static,
    {
        let queue = self.queue.clone();
        match tokio::task::spawn_blocking(move || work(&queue)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(ApiError::internal("a request handler panicked")),
            Err(e) => Err(ApiError::internal(format!(
                "a request handler was cancelled: {e}"
            ))),
        }
    }
}
