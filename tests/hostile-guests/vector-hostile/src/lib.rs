//! `vector-hostile`: partition runs that misbehave in every way the vector ABI allows, under the
//! vectors of `tests/e2e/vector.rs`'s scenario (one coordinate each, bounds [0, 10]):
//!
//! - `trap`: panics (trap:unreachable).
//! - `nan`: emits NaN (refused with INVALID_ARGUMENT; nothing emitted).
//! - `short`: emits two values for a one-coordinate vector (refused).
//! - `oob`: passes a pointer outside its memory (fault out_of_bounds).
//! - `nested`: tries `release_vector` and `release_begin` inside a partition run (both refused
//!   with NOT_AVAILABLE), then emits 7 correctly.
//!
//! The main run also checks that `vector_emit` and `vector_name` are refused outside a partition
//! run. It returns 0 only if every refusal came as the ABI says.

use shuyu_sdk::{abi, query, vector, Error, Release, Result};

shuyu_sdk::entry!(main_run);
shuyu_sdk::partition!(partition_run);

fn main_run() -> Result<()> {
    if vector::emit(&[1.0]).is_ok() || vector::name().is_ok() {
        return Err(Error::guest(11, "vector_emit or vector_name worked in the main run"));
    }
    for name in ["trap", "nan", "short", "oob", "nested"] {
        vector::release_vector(name)?;
    }
    Ok(())
}

fn partition_run() -> Result<()> {
    // Read something, so that the partition's rows are counted.
    for batch in query("SELECT usci FROM enterprise_registry")? {
        batch?;
    }
    match vector::name()?.as_str() {
        "trap" => panic!("hostile partition"),
        "nan" => {
            let _ = vector::emit(&[f64::NAN]);
        }
        "short" => {
            let _ = vector::emit(&[1.0, 2.0]);
        }
        "oob" => {
            // SAFETY: deliberately invalid; the host must fault the run, not read.
            unsafe { abi::vector_emit(0xFFFF_FF00usize as *const u8, 64) };
        }
        "nested" => {
            let nested = vector::release_vector("nested");
            let begin = Release::begin("nested", &[], &["x"]);
            let refused = |r: &Result<_>| {
                matches!(r, Err(Error::Host { code, .. }) if *code == abi::NOT_AVAILABLE)
            };
            if refused(&nested.map(|_| ())) && refused(&begin.map(|_| ())) {
                vector::emit(&[7.0])?;
            }
        }
        _ => {}
    }
    Ok(())
}
