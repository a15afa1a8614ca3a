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

pub mod audit;
pub mod budget;
pub mod domain;
pub mod governance;
mod grouping;
pub mod integrity;
pub mod job;
pub mod mock;
pub mod services;
pub mod time_zone;

/// The sandbox (crate `shuyu-sandbox`): wasmtime running a guest under ABI v1 and its limits.
/// A crate of its own, so that it cannot reach into the engine, the guard or the store.
pub use shuyu_sandbox as sandbox;

/// The guard (crate `shuyu-guard`): what may leave the domain, decided from contributions and a
/// contract. A crate of its own, so that it cannot import the store, the engine or the job.
pub use shuyu_guard as guard;

/// The domain's signing keys (crate `shuyu-keys`).
pub use shuyu_keys as keys;

/// Signed data products (crate `shuyu-product`): write a package, verify one offline.
pub use shuyu_product as product;

/// The catalog of datasets a job may read (crate `shuyu-catalog`).
pub use shuyu_catalog as catalog;

/// The job's DataFusion session, pseudonyms and SQL surface (crate `shuyu-engine`). A crate of
/// its own, so that it cannot import governance, the store or the job.
pub use shuyu_engine as engine;

/// The database (crate `shuyu-store`): one SQLite file, its migrations and every SQL statement.
/// A crate of its own, so that it knows the vocabulary (`shuyu-model`) but not governance's rules.
pub use shuyu_store as store;
