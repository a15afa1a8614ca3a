//! `shuyu serve`: the HTTP API and the job queue on one data directory.
//!
//! Prints exactly one line to stdout, `listening on http://ADDR`, flushed, once the socket is
//! bound (with `--listen 127.0.0.1:0` the line names the port picked). Everything else goes to
//! stderr. SIGTERM or ctrl-c stops it gracefully: no new connections, requests in flight
//! finished, queued jobs recorded as failed, running jobs stopped.
//!
//! The server speaks plain HTTP. Listen on the domain's network only; where clients come from
//! outside it, a reverse proxy in front terminates TLS.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{anyhow, Context};
use clap::Args;
use shuyu::api::{AppState, Server, ServerConfig, DEFAULT_LISTEN, DEFAULT_WORKERS};

use super::{CliResult, Globals};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0: any free port; the line printed says which).
    #[arg(long, default_value_t = DEFAULT_LISTEN, value_name = "ADDR")]
    listen: SocketAddr,
    /// Jobs run at the same time.
    #[arg(long, default_value_t = DEFAULT_WORKERS, value_name = "N")]
    workers: usize,
}

pub(crate) fn run(globals: &Globals, args: ServeArgs) -> CliResult {
    if args.workers == 0 {
        return Err(anyhow!("--workers must be at least 1").into());
    }
    let config = ServerConfig {
        listen: args.listen,
        workers: args.workers,
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
            "serving {} with {} job worker(s); stop with ctrl-c or SIGTERM",
            globals.data_dir.display(),
            config.workers
        );
        server
            .run(shutdown_signal())
            .await
            .context("the server failed")?;
        eprintln!("stopped: requests in flight finished, queued jobs recorded as failed");
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
