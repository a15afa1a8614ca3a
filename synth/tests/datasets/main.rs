//! The generator crate's one integration-test binary (each binary relinks arrow and parquet).

// A test binary: a failed `unwrap` is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bundled;
mod generated;
