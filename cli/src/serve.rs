//! `shuyu serve`: the HTTP API and the job queue on one data directory.
//!
//! Prints exactly one line to stdout, `listening on http://ADDR`, flushed, once the socket is
//! bound (with `--listen 127.0.0.1:0` the line names the port picked). Everything else goes to
//! stderr. SIGTERM or ctrl-c stops it gracefully: no new connections, requests in flight
//! finished, queued jobs recorded as cancelled, running jobs stopped.
//!
//! Each job runs in a worker process of its own (`shuyu worker`, hidden), under a memory and a
//! CPU-time limit (`--worker-memory-mib`, `--worker-cpu-secs`; defaults derived from the
//! scenario's limits): a job that crashes its process is recorded `failed` (`worker_crashed`)
//! and the server goes on.
//!
//! The server speaks plain HTTP. Listen on the domain's network only; where clients come from
//! outside it, a reverse proxy in front terminates TLS.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{anyhow, Context};
use clap::Args;
use shuyu::governance::RefusalLimit;
use shuyu::job::worker::WorkerConfig;
use shuyu::services::ServiceLimits;
use shuyu_server::queue::JobIsolation;
use shuyu_server::{AppState, Server, ServerConfig, DEFAULT_LISTEN, DEFAULT_WORKERS};

use super::{logging, CliResult, Globals};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0: any free port; the line printed says which).
    #[arg(long, default_value_t = DEFAULT_LISTEN, value_name = "ADDR")]
    listen: SocketAddr,
    /// Jobs run at the same time.
    #[arg(long, default_value_t = DEFAULT_WORKERS, value_name = "N")]
    workers: usize,
    /// Memory limit (RLIMIT_DATA) of each job's worker process, in MiB. Default: derived from
    /// the scenario, 512 + 2 × (limits.memory_mib + limits.host_memory_mib +
    /// limits.query_memory_mib) (3,200 MiB with the defaults).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    worker_memory_mib: Option<u64>,
    /// CPU-time limit (RLIMIT_CPU) of each job's worker process, in seconds. Default: derived
    /// from the scenario, 60 + 3 × runs × (limits.fuel / 10^9 + limits.query_timeout_secs),
    /// where runs = 1 + the partitions of every vector release (1,020 s with the defaults).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    worker_cpu_secs: Option<u64>,
    /// Seconds a cancelled job's worker gets to end on its own, then again after SIGTERM,
    /// before SIGKILL.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    worker_grace_secs: u64,
    /// Refusals audited per identity per window (`--refusal-window-secs`); the rest of a
    /// window's refusals are counted in one `refused.suppressed` entry.
    #[arg(long, default_value_t = RefusalLimit::default().per_window, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    refusal_audit_limit: u32,
    /// The window of `--refusal-audit-limit`, in seconds.
    #[arg(long, default_value_t = RefusalLimit::default().window.as_secs(), value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    refusal_window_secs: u64,
    /// Service calls per second one operator may make over all its services.
    #[arg(long, default_value_t = ServiceLimits::default().operator_rate_per_second,
          value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    operator_call_rate: u32,
    /// Service calls per day (domain time zone) one operator may make over all its services.
    #[arg(long, default_value_t = ServiceLimits::default().operator_daily_quota,
          value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    operator_daily_calls: u64,
    /// Memory one scenario's subject index may take (its granted rows, grouped by subject), in
    /// MiB.
    #[arg(long, default_value_t = ServiceLimits::default().index_memory_mib,
          value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..))]
    service_index_mib: u32,
    /// Log level on stderr: off, error, warn, info (each request and job phase), debug, trace.
    /// The job workers log at the same level.
    #[arg(long, env = "SHUYU_LOG", default_value = logging::DEFAULT_LEVEL, value_name = "LEVEL")]
    log_level: String,
    /// The program run as the job worker (default: this executable). For tests.
    #[arg(long, hide = true, value_name = "PATH")]
    worker_program: Option<std::path::PathBuf>,
}

pub(crate) fn run(globals: &Globals, args: ServeArgs) -> CliResult {
    if args.workers == 0 {
        return Err(anyhow!("--workers must be at least 1").into());
    }
    let level = logging::parse_level(&args.log_level).context("--log-level")?;
    logging::init(level);
    // Every job runs in a worker process of its own: whatever a job does to its process (an
    // abort, memory exhaustion), the server and the other jobs go on.
    let program = match args.worker_program {
        Some(program) => program,
        None => std::env::current_exe().context("cannot find this executable to run workers")?,
    };
    let worker = WorkerConfig {
        memory_mib: args.worker_memory_mib,
        cpu_secs: args.worker_cpu_secs,
        grace: std::time::Duration::from_secs(args.worker_grace_secs),
        ..WorkerConfig::program(program)
    };
    let config = ServerConfig {
        listen: args.listen,
        workers: args.workers,
        isolation: JobIsolation::Workers(worker),
        refusal_limit: RefusalLimit {
            per_window: args.refusal_audit_limit,
            window: std::time::Duration::from_secs(args.refusal_window_secs),
        },
        time_zone: globals.zone,
        service_limits: ServiceLimits {
            operator_rate_per_second: args.operator_call_rate,
            operator_daily_quota: args.operator_daily_calls,
            index_memory_mib: args.service_index_mib,
        },
        ..ServerConfig::default()
    };
    // Opening the domain blocks (keys, migrations) and starts the job workers: before the
    // async runtime, as the API asks.
    let state = AppState::open(&globals.data_dir, config.clone())
        .with_context(|| format!("cannot open {}", globals.data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shuyu-http")
        .build()
        .context("cannot start the HTTP runtime")?;
    runtime.block_on(async {
        let server = Server::bind(state, config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = server
            .local_addr()
            .context("cannot read the bound address")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
        drop(stdout);
        eprintln!(
            "serving {} with {} job worker(s), time zone {}; stop with ctrl-c or SIGTERM",
            globals.data_dir.display(),
            config.workers,
            config.time_zone
        );
        tracing::info!(
            address = %addr,
            workers = config.workers,
            time_zone = %config.time_zone,
            "listening"
        );
        server
            .run(shutdown_signal())
            .await
            .context("the server failed")?;
        eprintln!("stopped: requests in flight finished, queued jobs recorded as cancelled");
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}

/// Resolves on ctrl-c (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
