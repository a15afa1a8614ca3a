//! End-to-end tests: the real runtime (wasmtime, DataFusion, Parquet, SQLite, ring) running real
//! guest modules, and hostile guests that must fail safely. One test binary for the whole stack.

// A test or bench binary: a failed `expect` is a failed run, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod cli;
mod engine;
mod entities;
mod entity_examples;
mod host_costs;
mod hostile_abi;
mod hostile_guests;
mod hostile_ipc;
mod hostile_sql;
mod job_path;
mod privacy;
mod server;
mod side_channels;
mod vector;
