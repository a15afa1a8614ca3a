//! The dataset crate's one integration-test binary (each binary relinks arrow and parquet).

mod bundled;
mod generated;
