//! The HTTP API: axum over the domain's governance, job queue and audit log.
//!
//! ```text
//! request ─▶ router (route table, body limit) ─▶ Caller (bearer token → Governance::authenticate)
//!         ─▶ route handler ─▶ Governance (blocking thread) ─▶ JSON | error JSON
//!                         └─▶ JobQueue (submit, stop) ─▶ worker threads ─▶ job::run_job_in
//! ```
//!
//! The API authenticates and maps; what a caller may do is decided by [`Governance`]
//! (and, for the audit log, which governance does not cover, by the role check in `routes`).
//! Every error is answered as `{"error": {"status", "code", "message"}}` (`error.rs`). The routes
//! and the OpenAPI document at `GET /openapi.json` come from one table ([`route_table`]).
//!
//! Starting a server:
//!
//! ```no_run
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! use shuyu_server::{AppState, Server, ServerConfig};
//! let config = ServerConfig::default();
//! let state = AppState::open(std::path::Path::new("shuyu-data"), config.clone())?;
//! let server = Server::bind(state, config.listen).await?;
//! println!("listening on http://{}", server.local_addr()?);
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! [`Governance`]: shuyu::governance::Governance

mod auth;
mod console;
mod error;
mod extract;
mod openapi;
mod pagination;
pub mod queue;
mod refusals;
mod request_log;
pub mod route_table;
mod router;
mod routes;
mod schemas;
mod state;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

pub use router::router;
pub use routes::{all as all_routes, DomainPublicKey};
pub use state::{AppState, ServeError, ServerConfig, DEFAULT_LISTEN, DEFAULT_WORKERS};

use queue::JobQueue;

/// A bound, not yet serving, server.
#[derive(Debug)]
pub struct Server {
    state: AppState,
    listener: TcpListener,
}

impl Server {
    /// Binds `addr` (port 0: any free port, see [`Server::local_addr`]). Prints nothing.
    pub async fn bind(state: AppState, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { state, listener })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; see [`serve`].
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self.state, self.listener, shutdown).await
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops gracefully: no new
/// connections, requests in flight finished, queued jobs recorded as cancelled ("server shut
/// down before it started"), running jobs stopped, workers joined.
///
/// Before serving, jobs a previous process left running are recorded as failed, those it left
/// queued as cancelled (see [`JobQueue::fail_interrupted`]). While serving, agreements and applications past their term are expired
/// every [`ServerConfig::expire_every`], and suppressed refusal counts are written once their
/// window closes (the last ones when the server stops).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let governance = state.queue.governance().clone();
    match tokio::task::spawn_blocking(move || JobQueue::fail_interrupted(&governance)).await {
        Ok(Ok(_count)) => {}
        Ok(Err(e)) => {
            return Err(std::io::Error::other(format!(
                "cannot record interrupted jobs: {e}"
            )))
        }
        Err(e) => {
            return Err(std::io::Error::other(format!(
                "cannot record interrupted jobs: {e}"
            )))
        }
    }
    let expiry = tokio::spawn(expire_periodically(state.clone()));
    let refusals = tokio::spawn(flush_refusals_periodically(state.clone()));
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    expiry.abort();
    refusals.abort();
    // The counts of refusals suppressed in windows still open are written before stopping.
    if let Err(e) = state
        .gov(|gov| gov.flush_refusals(chrono::Utc::now(), true))
        .await
    {
        tracing::error!(error = %e.message, "writing suppressed refusal counts");
    }
    let queue = state.queue.clone();
    drop(state);
    // Joining workers blocks; the queue (and with it the domain) is dropped there too.
    let stopped = tokio::task::spawn_blocking(move || {
        queue.shutdown();
        drop(queue);
    })
    .await;
    if let Err(e) = stopped {
        tracing::error!(error = %e, "stopping the job queue failed");
    }
    served
}

/// Calls [`Governance::expire_due`](shuyu::governance::Governance::expire_due) every
/// `expire_every`, then prepares services not yet prepared ([`Services::warm`]), logging
/// failures (the next round retries).
///
/// [`Services::warm`]: shuyu::services::Services::warm
async fn expire_periodically(state: AppState) {
    let mut ticks = tokio::time::interval(state.config.expire_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = state.gov(|gov| gov.expire_due(chrono::Utc::now())).await;
        if let Err(e) = result {
            tracing::error!(error = %e.message, "expiring agreements and applications");
        }
        // Services approved (or given new data) since the last round get their subject index
        // now, not during their first call. Its own task: building can take a while.
        let services = state.services.clone();
        tokio::task::spawn_blocking(move || match services.warm() {
            Ok(prepared) if !prepared.is_empty() => {
                tracing::info!(services = ?prepared, "services prepared")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "preparing services"),
        });
    }
}

/// Writes the counts of refusals suppressed in windows that have closed, once per window
/// length, so that a flood's count is in the log soon after the flood even if its identity
/// never comes back.
async fn flush_refusals_periodically(state: AppState) {
    let every = state
        .config
        .refusal_limit
        .window
        .max(std::time::Duration::from_secs(1));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = state
            .gov(|gov| gov.flush_refusals(chrono::Utc::now(), false))
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e.message, "writing suppressed refusal counts");
        }
    }
}

#[cfg(test)]
mod tests;
