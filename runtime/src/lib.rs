//! shuyu (数域): a clean-room runtime for the authorized operation of public data.
//!
//! Raw data stays inside the domain; operators' WebAssembly modules go to the data; only aggregated,
//! policy-checked, signed products come out. The path of one job (see `docs/ARCHITECTURE.md`):
//!
//! ```text
//! scenario + module ─▶ job (gate) ─▶ engine (granted views, pseudonyms)
//!                                  ─▶ sandbox (wasmtime, ABI v1, limits) ◀─▶ guest
//!                                  ─▶ guard (bound, aggregate, threshold, scan)
//!                                  ─▶ product (data + manifest + signature) or block
//! every step ─▶ audit log (hash chain, signed checkpoints)
//! ```

pub mod api;
pub mod audit;
pub mod budget;
pub mod catalog;
pub mod domain;
pub mod engine;
pub mod governance;
pub mod integrity;
pub mod job;
pub mod keys;
pub mod product;
pub mod store;
pub mod time_zone;

/// The sandbox (crate `shuyu-sandbox`): wasmtime running a guest under ABI v1 and its limits.
/// A crate of its own, so that it cannot reach into the engine, the guard or the store.
pub use shuyu_sandbox as sandbox;

/// The guard (crate `shuyu-guard`): what may leave the domain, decided from contributions and a
/// contract. A crate of its own, so that it cannot import the store, the engine or the job.
pub use shuyu_guard as guard;
