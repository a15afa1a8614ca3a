//! The domain's vocabulary as data, below the store and above the pure crates.
//!
//! The store reads and writes these types, governance decides with them and the server sends
//! them as JSON; none of them knows a database, a job or a socket. A crate of its own so that the
//! store can depend on the vocabulary without depending on governance (docs/ARCHITECTURE.md,
//! "Architecture invariants").
//!
//! - [`records`]: identities, datasets, agreements, applications, objections, quality requests
//!   and server-side jobs (docs/concepts.md, "Roles and rules").
//! - [`scenario`]: the scenario file and its composition with the catalog's column policies.
//! - [`services`]: consents and the calls of verification and data services.
//! - [`mock_runs`]: operators' runs against mock twins.
//! - [`budget`] and [`units`]: privacy-budget scopes, charges and the exact fixed-point amounts
//!   the ledger keeps.

pub mod budget;
pub mod mock_runs;
pub mod records;
pub mod scenario;
pub mod services;
pub mod units;
