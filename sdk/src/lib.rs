//! `shuyu-sdk`: write shuyu analysis modules in ordinary Rust.
//!
//! A module is a `cdylib` built for `wasm32-unknown-unknown`. It runs inside shuyu's sandbox,
//! reads the scenario's granted tables with SQL (identifiers arrive as pseudonyms), and hands
//! per-entity *contributions* to the guard, which aggregates, bounds, thresholds and scans them
//! before anything leaves. This crate wraps ABI v1 (`docs/abi.md`); `docs/operator.md` is the
//! operator's guide.
//!
//! # A complete module
//!
//! ```no_run
//! use shuyu_sdk::{log, query_table, Outcome, Release};
//!
//! shuyu_sdk::entry!(run);
//!
//! fn run() -> shuyu_sdk::Result<()> {
//!     // Dimension and measure names, in the order of the scenario's contract.
//!     let mut release = Release::begin("income_by_age", &["district", "age_band"], &["income"])?;
//!     for table in query_table("SELECT citizen_id, district, age, income FROM residents")? {
//!         let table = table?;
//!         let (ids, districts) = (table.utf8("citizen_id")?, table.utf8("district")?);
//!         let (ages, incomes) = (table.i64("age")?, table.f64_lossy("income")?);
//!         for i in 0..table.num_rows() {
//!             // `None` for a null: skip the row.
//!             let (Some(id), Some(district), Some(age), Some(income)) =
//!                 (ids.get(i), districts.get(i), ages.get(i), incomes.get(i))
//!             else {
//!                 continue;
//!             };
//!             let band = if age < 18 { "0-17" } else { "18+" };
//!             release.push(id, &[district, band], &[income])?;
//!         }
//!     }
//!     let rows = release.rows_pushed();
//!     match release.finish()? {
//!         Outcome::Released => log!("released {rows} contributions"),
//!         Outcome::Blocked => log!("the guard blocked the release"),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A release whose contract has `privacy` is made per entity instead, with a plain function from
//! one entity's rows to its contributions: see [`entity`] and [`contribute!`].
//!
//! A verification or data service answers one call about one subject with a function from that
//! subject's rows and the call's parameters to one answer: see [`service`] and [`answer!`].
//!
//! # Features
//!
//! - `allocator` (default): the SDK's global allocator, see `docs/operator.md`.
//! - `arrow` (default): rows as Arrow record batches (`query`, `BatchExt`, `Entity::rows`,
//!   `Subject::rows`, and the `arrow_array` and `arrow_schema` re-exports). Without it a module
//!   reads in place ([`query_table`], [`Entity::table`](entity::Entity::table),
//!   [`Subject::table`](service::Subject::table)) and links and compiles no Arrow code.
//!
//! Build it with `scripts/build-guests.sh`, or with a rustup toolchain:
//! `cargo build --release --target wasm32-unknown-unknown`.
//!
//! # Errors and exit codes
//!
//! `shuyu_main` returns `0` on success and otherwise [`Error::code`]: the operator sees only that
//! number, while the message goes to the audit log. See [`Error`] for the code ranges.
//!
//! # Outside the sandbox
//!
//! The crate also builds for the host, where the host functions are stubs that fail with
//! [`abi::NOT_IN_SANDBOX`]; column access and everything else that does not talk to the host work
//! normally there, so a module's pure logic can be unit-tested with `cargo test`.

// The SDK is glue to the guest's imports, exports and allocator: `unsafe` is its trade, each
// use with its SAFETY comment.
#![allow(unsafe_code)]
// Its unit tests (some behind `cfg(all(test, ...))`, which clippy does not read as tests) may
// `expect`; the library itself may not.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod abi;
#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
mod alloc;
#[cfg(feature = "arrow")]
mod columns;
pub mod entity;
mod error;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fake;
mod query;
mod release;
pub mod service;
#[cfg(feature = "arrow")]
mod table;
pub mod vector;
mod view;

#[cfg(feature = "arrow")]
pub use arrow_array;
#[cfg(feature = "arrow")]
pub use arrow_array::RecordBatch;
#[cfg(feature = "arrow")]
pub use arrow_schema;
#[cfg(feature = "arrow")]
pub use columns::BatchExt;
pub use error::{Error, Result, CODE_ARROW, CODE_COLUMN, CODE_HOST_BASE, CODE_USAGE};
#[cfg(feature = "arrow")]
pub use query::{query, Rows};
pub use query::{query_table, Tables};
pub use release::{Outcome, Release};
pub use view::{Booleans, Number, Numbers, Table, Utf8Column};

/// Writes one line to the audit log. Reviewers read it; the operator never does (on a mock run
/// the operator sees it too). The host keeps at most 4 KiB of a line.
pub fn log(message: &str) {
    // SAFETY: the pointer and length describe `message`, which lives across the call. The ABI
    // says `log` always returns 0, so there is nothing to check.
    unsafe { abi::log(message.as_ptr(), message.len()) };
}

/// Reads a name through one of the host's "cut copy, full length" functions (`vector_name`,
/// `entity_release`): `call(dst, cap)` copies at most `cap` bytes to `dst` and returns the full
/// length, or an error code. `function` names it in errors.
pub(crate) fn read_host_name(
    function: &str,
    mut call: impl FnMut(*mut u8, usize) -> i32,
) -> Result<String> {
    let mut buf = vec![0u8; 64];
    loop {
        let len = call(buf.as_mut_ptr(), buf.len());
        let Ok(len) = usize::try_from(len) else {
            return Err(Error::from_host(len));
        };
        if len <= buf.len() {
            buf.truncate(len);
            return String::from_utf8(buf).map_err(|_| Error::Host {
                code: abi::INVALID_ARGUMENT,
                message: format!("{function}: the host returned a name that is not UTF-8"),
            });
        }
        buf.resize(len, 0);
    }
}

/// Writes one formatted line to the audit log: `log!("read {} rows", n)`. See [`log()`].
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log(&::std::format!($($arg)*))
    };
}

/// Declares the module's entry point: `shuyu_sdk::entry!(run);` with `fn run() -> Result<()>`.
///
/// Expands to the exported `shuyu_main` of ABI v1, which runs `run` and returns `0` on `Ok`, or
/// logs the error and returns [`Error::code`] on `Err`. Panics are logged too (they then trap,
/// which the host reports as `trap:unreachable`).
#[macro_export]
macro_rules! entry {
    ($run:expr) => {
        /// The module's entry point (shuyu ABI v1), generated by `shuyu_sdk::entry!`.
        #[unsafe(no_mangle)]
        pub extern "C" fn shuyu_main() -> i32 {
            $crate::__private::run_main($run)
        }
    };
}

/// Declares the module's partition entry point for vector releases:
/// `shuyu_sdk::partition!(run);` with `fn run() -> Result<()>`. See [`vector`].
///
/// Expands to the exported `shuyu_partition` of ABI v1, which the host calls once per partition
/// in a fresh instance. It returns `0` on `Ok` (the emitted vector counts), or logs the error and
/// returns [`Error::code`] on `Err` (the partition then contributes the default vector).
#[macro_export]
macro_rules! partition {
    ($run:expr) => {
        /// The module's partition entry point (shuyu ABI v1), generated by `shuyu_sdk::partition!`.
        #[unsafe(no_mangle)]
        pub extern "C" fn shuyu_partition() -> i32 {
            $crate::__private::run_main($run)
        }
    };
}

/// Declares the module's contribution entry point for per-entity releases:
/// `shuyu_sdk::contribute!(one_entity);` with
/// `fn one_entity(entity: &Entity) -> Result<Contributions>`. See [`entity`].
///
/// Expands to the exported `shuyu_contribute` of ABI v1, which the host calls once per entity in
/// a fresh instance that sees only that entity's rows. It runs the function and hands the
/// [`Contributions`](entity::Contributions) it returns to the host (none when it returns no
/// rows), then returns `0`. On `Err` it logs the error and returns [`Error::code`]: the entity
/// then contributes nothing.
///
/// ```no_run
/// use shuyu_sdk::entity::{Contributions, Entity};
/// use shuyu_sdk::{BatchExt, Result};
///
/// shuyu_sdk::contribute!(one_enterprise);
///
/// /// Each enterprise contributes its total tax to one group.
/// fn one_enterprise(entity: &Entity) -> Result<Contributions> {
///     let mut tax = 0.0;
///     for batch in entity.rows("tax_payments")? {
///         tax += batch.f64_lossy("amount")?.iter().flatten().sum::<f64>();
///     }
///     let mut out = Contributions::new(&["kind"], &["tax"])?;
///     out.push(&["all"], &[tax])?;
///     Ok(out)
/// }
/// ```
#[macro_export]
macro_rules! contribute {
    ($run:expr) => {
        /// The module's contribution entry point (shuyu ABI v1), generated by
        /// `shuyu_sdk::contribute!`.
        #[unsafe(no_mangle)]
        pub extern "C" fn shuyu_contribute() -> i32 {
            $crate::__private::run_contribute($run)
        }
    };
}

/// Declares the module's answer entry point for verification and data services:
/// `shuyu_sdk::answer!(one_call);` with `fn one_call(subject: &Subject) -> Result<Answer>`. See
/// [`service`].
///
/// Expands to the exported `shuyu_answer` of ABI v1, which the host calls once per service call
/// in a fresh instance that sees only the subject's rows. It runs the function and hands the
/// [`Answer`](service::Answer) it returns to the host (nothing when the answer is empty), then
/// returns `0`. On `Err` it logs the error and returns [`Error::code`]: the call is then answered
/// with an error. A service-only module needs no [`entry!`].
///
/// ```no_run
/// use shuyu_sdk::service::{Answer, Subject};
/// use shuyu_sdk::Result;
///
/// shuyu_sdk::answer!(registered);
///
/// /// Whether the enterprise is in the registry at all.
/// fn registered(subject: &Subject) -> Result<Answer> {
///     let mut rows = 0;
///     for batch in subject.rows("enterprise_registry")? {
///         rows += batch?.num_rows();
///     }
///     Ok(Answer::new().text("registered", if rows > 0 { "yes" } else { "no" }))
/// }
/// ```
#[macro_export]
macro_rules! answer {
    ($run:expr) => {
        /// The module's answer entry point (shuyu ABI v1), generated by `shuyu_sdk::answer!`.
        #[unsafe(no_mangle)]
        pub extern "C" fn shuyu_answer() -> i32 {
            $crate::__private::run_answer($run)
        }
    };
}

/// Support for the macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    use crate::entity::{Contributions, Entity};
    use crate::service::{Answer, Subject};
    use crate::Result;

    /// The body of `shuyu_main`: see [`entry!`](crate::entry).
    pub fn run_main(run: impl FnOnce() -> Result<()>) -> i32 {
        run_export(shuyu_abi::MAIN_EXPORT, run)
    }

    /// The body of `shuyu_contribute`: see [`contribute!`](crate::contribute).
    pub fn run_contribute(run: impl FnOnce(&Entity) -> Result<Contributions>) -> i32 {
        run_export(shuyu_abi::CONTRIBUTE_EXPORT, || {
            run(&Entity::new())?.contribute()
        })
    }

    /// The body of `shuyu_answer`: see [`answer!`](crate::answer).
    pub fn run_answer(run: impl FnOnce(&Subject) -> Result<Answer>) -> i32 {
        run_export(shuyu_abi::ANSWER_EXPORT, || run(&Subject::new())?.answer())
    }

    fn run_export(export: &str, run: impl FnOnce() -> Result<()>) -> i32 {
        // Without a hook a panic's message is lost (wasm32-unknown-unknown has no stderr); the
        // audit log is the only place a reviewer could see it.
        std::panic::set_hook(Box::new(|info| crate::log(&format!("panic: {info}"))));
        match run() {
            Ok(()) => 0,
            Err(e) => {
                crate::log(&format!("{export} failed: {e}"));
                e.code()
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::fake::Fake;

    #[test]
    fn run_main_maps_results_to_codes_and_logs_errors() {
        let fake = Fake::install();
        assert_eq!(__private::run_main(|| Ok(())), 0);
        assert_eq!(__private::run_main(|| Err(Error::guest(12, "no rows"))), 12);
        assert_eq!(
            fake.logs(),
            vec!["shuyu_main failed: module error 12: no rows"]
        );
        let _ = std::panic::take_hook();
    }

    #[test]
    fn run_contribute_hands_the_rows_over_or_logs_the_error() {
        let fake = Fake::install();
        fake.enter_entity_run("r");
        let rc = __private::run_contribute(|entity| {
            let mut out = entity::Contributions::new(&["d"], &["m"])?;
            out.push(&[entity.release()?], &[2.0])?;
            Ok(out)
        });
        assert_eq!(rc, 0);
        let sent = fake.contributed_rows();
        assert_eq!(sent.len(), 1);
        let rows = fake::decode_rows(&sent[0], &["d"], &["m"]);
        assert_eq!(rows, vec![(vec![Some("r".to_string())], vec![Some(2.0)])]);

        let rc = __private::run_contribute(|_| Err(Error::guest(3, "no registry row")));
        assert_eq!(rc, 3);
        assert_eq!(
            fake.logs(),
            vec!["shuyu_contribute failed: module error 3: no registry row"]
        );
        assert_eq!(
            fake.contributed_rows().len(),
            1,
            "a failed run sends nothing"
        );
        let _ = std::panic::take_hook();
    }

    #[test]
    fn run_answer_hands_the_answer_over_or_logs_the_error() {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch};
        use service::Answer;
        use std::sync::Arc;

        let fake = Fake::install();
        let request = RecordBatch::try_from_iter([(
            "amount",
            Arc::new(Int64Array::from(vec![300_000])) as ArrayRef,
        )])
        .expect("valid request");
        fake.enter_answer_run("sme_prescreen", &request);
        let rc = __private::run_answer(|subject| {
            let amount = subject.request()?.i64("amount")?;
            Ok(Answer::new()
                .text("service", subject.service()?)
                .number("amount", amount as f64))
        });
        assert_eq!(rc, 0);
        let sent = fake.contributed_rows();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            fake::decode_rows(&sent[0], &["service"], &["amount"]),
            vec![(
                vec![Some("sme_prescreen".to_string())],
                vec![Some(300_000.0)]
            )]
        );

        assert_eq!(__private::run_answer(|_| Ok(Answer::new())), 0);
        assert_eq!(
            fake.contributed_rows().len(),
            1,
            "an empty answer sends nothing"
        );

        let rc = __private::run_answer(|subject| {
            subject.request()?.i64("term")?;
            Ok(Answer::new().text("band", "A"))
        });
        assert_eq!(rc, CODE_COLUMN);
        let rc = __private::run_answer(|_| Ok(Answer::new().text("a", "x").text("a", "y")));
        assert_eq!(rc, CODE_USAGE);
        assert_eq!(
            fake.logs(),
            vec![
                "shuyu_answer failed: no column `request.term` (expected Int64)",
                "shuyu_answer failed: SDK misuse: answer field `a` is set twice",
            ]
        );
        assert_eq!(
            fake.contributed_rows().len(),
            1,
            "a failed run sends nothing"
        );
        let _ = std::panic::take_hook();
    }

    #[test]
    fn log_macro_formats() {
        let fake = Fake::install();
        log!("read {} rows from {}", 3, "residents");
        assert_eq!(fake.logs(), vec!["read 3 rows from residents"]);
    }
}
