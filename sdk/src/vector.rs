//! Sample-and-aggregate releases: arbitrary code (a model, a median, a regression) under
//! differential privacy, whatever it computes.
//!
//! A module that releases a vector has two entry points. The main one ([`entry!`](crate::entry))
//! asks for the release with [`release_vector`]; the host then splits the entities into m
//! disjoint partitions and runs the module's partition entry ([`partition!`](crate::partition))
//! once per partition, each in a fresh instance that sees only that partition's rows through the
//! usual [`query`](crate::query). The partition entry computes its vector and hands it over with
//! [`emit`]; the host clamps each partition's vector to the contract's bounds, averages them and
//! adds calibrated noise (docs/abi.md, "Vectors"; docs/privacy.md, "Sample and aggregate").
//!
//! ```no_run
//! use shuyu_sdk::{query, vector, BatchExt, Result};
//!
//! shuyu_sdk::entry!(main_run);
//! shuyu_sdk::partition!(partition_run);
//!
//! fn main_run() -> Result<()> {
//!     vector::release_vector("mean_income")?;
//!     Ok(())
//! }
//!
//! fn partition_run() -> Result<()> {
//!     let (mut sum, mut n) = (0.0, 0.0);
//!     for batch in query("SELECT income FROM residents")? {
//!         for income in batch?.f64("income")?.iter().flatten() {
//!             sum += income;
//!             n += 1.0;
//!         }
//!     }
//!     vector::emit(&[if n > 0.0 { sum / n } else { 0.0 }])
//! }
//! ```
//!
//! A partition run that fails (an error, a panic, a limit) or emits nothing usable contributes
//! the contract's default vector (the midpoint of its bounds); it cannot stop the release.

use crate::abi;
use crate::error::{Error, Result};
use crate::release::Outcome;

/// Asks for the release of the `[[vector]]` contract entry `name`. Returns when every partition
/// run has finished and the guard has decided.
///
/// Fails with [`abi::UNKNOWN_RELEASE`] for a name the contract does not have or one already
/// released in this job, and with [`abi::NOT_AVAILABLE`] inside a partition run.
pub fn release_vector(name: &str) -> Result<Outcome> {
    // SAFETY: the pointer and length describe `name`, which lives across the call.
    Outcome::from_host("release_vector", unsafe {
        abi::release_vector(name.as_ptr(), name.len())
    })
}

/// In a partition run: the name of the vector being computed, so one module can serve several
/// `[[vector]]` entries.
pub fn name() -> Result<String> {
    crate::read_host_name("vector_name", |dst, cap| {
        // SAFETY: `read_host_name` passes a buffer it owns, of `cap` writable bytes.
        unsafe { abi::vector_name(dst, cap) }
    })
}

/// In a partition run: hands over this partition's vector, one value per contract coordinate, in
/// contract order. Call it once; values must be finite.
pub fn emit(values: &[f64]) -> Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    // SAFETY: the pointer and length describe `bytes`, which lives across the call.
    let rc = unsafe { abi::vector_emit(bytes.as_ptr(), bytes.len()) };
    if rc < 0 {
        return Err(Error::from_host(rc));
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::abi::Host;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Seen {
        emitted: Vec<f64>,
        released: Vec<String>,
    }

    struct VectorHost(Arc<Mutex<Seen>>);

    impl Host for VectorHost {
        fn release_vector(&mut self, name: &[u8]) -> i32 {
            let name = String::from_utf8_lossy(name).into_owned();
            let mut seen = self.0.lock().unwrap();
            if seen.released.contains(&name) {
                return abi::UNKNOWN_RELEASE;
            }
            seen.released.push(name);
            0
        }
        fn vector_name(&mut self) -> std::result::Result<String, i32> {
            Ok("a_rather_long_vector_name_that_does_not_fit_in_sixty_four_bytes_at_all".into())
        }
        fn vector_emit(&mut self, values: &[u8]) -> i32 {
            let mut seen = self.0.lock().unwrap();
            seen.emitted = values
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            0
        }
    }

    #[test]
    fn emit_name_and_release_go_through_the_abi() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let previous = abi::install(Box::new(VectorHost(seen.clone())));
        emit(&[1.5, -2.0, 0.25]).unwrap();
        assert_eq!(seen.lock().unwrap().emitted, vec![1.5, -2.0, 0.25]);
        assert_eq!(
            name().unwrap(),
            "a_rather_long_vector_name_that_does_not_fit_in_sixty_four_bytes_at_all"
        );
        assert_eq!(release_vector("v").unwrap(), Outcome::Released);
        let again = release_vector("v").unwrap_err();
        assert_eq!(again.code(), crate::CODE_HOST_BASE + 7);
        abi::install(previous);
    }

    #[test]
    fn outside_the_sandbox_every_call_fails() {
        assert!(emit(&[1.0]).is_err());
        assert!(name().is_err());
        assert!(release_vector("v").is_err());
    }
}
