//! Where the randomness comes from, and exact uniform integers drawn from it.
//!
//! Every sampler in this module takes `&mut dyn RandomSource`. Production code passes a
//! [`SecureRng`]: the operating system's CSPRNG through `ring`. Tests pass a seeded deterministic
//! source so that statistical checks are reproducible; no such source exists outside tests.

use ring::rand::{SecureRandom, SystemRandom};

use super::NoiseError;

/// A source of independent, uniformly distributed random bits.
///
/// The samplers' exactness assumes the source is uniform; privacy additionally assumes it is
/// unpredictable to whoever sees the output, which only [`SecureRng`] provides.
pub trait RandomSource {
    /// Returns 64 uniformly random bits.
    ///
    /// # Errors
    /// [`NoiseError::RandomSource`] if the underlying generator fails.
    fn next_u64(&mut self) -> Result<u64, NoiseError>;
}

/// Bytes fetched from the OS per refill: one system call serves 32 draws of 64 bits, since a
/// single noise sample takes a handful of draws.
const BUFFER_BYTES: usize = 256;

/// The production random source: `ring`'s [`SystemRandom`] (the OS CSPRNG, `getrandom` on Linux).
///
/// Output is fetched in blocks of 256 bytes and handed out 8 bytes at a time; each byte is used
/// once.
pub struct SecureRng {
    system: SystemRandom,
    buffer: [u8; BUFFER_BYTES],
    /// Index of the next unused byte; `BUFFER_BYTES` means the buffer is spent.
    next: usize,
}

impl SecureRng {
    /// A source reading from the operating system's CSPRNG.
    pub fn new() -> Self {
        SecureRng {
            system: SystemRandom::new(),
            buffer: [0; BUFFER_BYTES],
            next: BUFFER_BYTES,
        }
    }
}

impl Default for SecureRng {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for SecureRng {
    // The buffer holds future random output: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureRng").finish_non_exhaustive()
    }
}

impl RandomSource for SecureRng {
    fn next_u64(&mut self) -> Result<u64, NoiseError> {
        if self.next + 8 > BUFFER_BYTES {
            self.system
                .fill(&mut self.buffer)
                .map_err(|_| NoiseError::RandomSource)?;
            self.next = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.buffer[self.next..self.next + 8]);
        // Overwrite what was handed out so the buffer never holds a value already in use.
        self.buffer[self.next..self.next + 8].fill(0);
        self.next += 8;
        Ok(u64::from_le_bytes(word))
    }
}

/// A uniform integer in `[0, n)`, exactly: no modulo bias.
///
/// Draws 64 bits `x` and accepts it only if `x >= 2^64 mod n`; the accepted range then holds a
/// whole number of copies of `[0, n)`, so `x mod n` is uniform. Fewer than half the draws are
/// rejected, whatever `n`.
///
/// # Errors
/// [`NoiseError::InvalidParameter`] if `n == 0`; [`NoiseError::RandomSource`] from the source.
pub fn uniform_below(rng: &mut dyn RandomSource, n: u64) -> Result<u64, NoiseError> {
    if n == 0 {
        return Err(NoiseError::invalid("n", "a uniform draw needs n > 0"));
    }
    // 2^64 mod n, computed without 128-bit arithmetic: (2^64 - n) mod n.
    let rejected_below = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64()?;
        if x >= rejected_below {
            return Ok(x % n);
        }
    }
}

/// A uniform integer in `[0, n)` for 128-bit `n`, exactly, by the same rejection rule as
/// [`uniform_below`] over 128 random bits (64 when `n` fits in 64 bits).
///
/// # Errors
/// As [`uniform_below`].
pub fn uniform_below_u128(rng: &mut dyn RandomSource, n: u128) -> Result<u128, NoiseError> {
    if let Ok(small) = u64::try_from(n) {
        return uniform_below(rng, small).map(u128::from);
    }
    let rejected_below = n.wrapping_neg() % n;
    loop {
        let high = u128::from(rng.next_u64()?);
        let low = u128::from(rng.next_u64()?);
        let x = (high << 64) | low;
        if x >= rejected_below {
            return Ok(x % n);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A seeded deterministic source for reproducible statistical tests. Never for production:
    //! anyone who knows the seed knows every draw.

    use super::{NoiseError, RandomSource};

    /// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush, trivially seedable.
    pub(crate) struct TestRng {
        state: u64,
    }

    impl TestRng {
        pub(crate) fn seeded(seed: u64) -> Self {
            TestRng { state: seed }
        }
    }

    impl RandomSource for TestRng {
        fn next_u64(&mut self) -> Result<u64, NoiseError> {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Ok(z ^ (z >> 31))
        }
    }

    /// Replays fixed words, then fails: drives the rejection paths deterministically.
    pub(crate) struct Scripted(pub(crate) Vec<u64>);

    impl RandomSource for Scripted {
        fn next_u64(&mut self) -> Result<u64, NoiseError> {
            if self.0.is_empty() {
                return Err(NoiseError::RandomSource);
            }
            Ok(self.0.remove(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Scripted, TestRng};
    use super::*;

    #[test]
    fn secure_rng_output_varies() {
        // No statistics on the OS generator: only that it is wired up and not stuck.
        let mut rng = SecureRng::new();
        let draws: Vec<u64> = (0..64).map(|_| rng.next_u64().unwrap()).collect();
        let first = draws[0];
        assert!(draws.iter().any(|&d| d != first), "64 equal draws");
        let mut distinct = draws.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.len() > 60,
            "only {} distinct of 64",
            distinct.len()
        );
        assert!(uniform_below(&mut rng, 10).unwrap() < 10);
        assert_eq!(format!("{rng:?}"), "SecureRng { .. }");
    }

    #[test]
    fn rejects_the_biased_zone() {
        // n = 3·2^62: 2^64 mod n = 2^62, so draws below 2^62 must be rejected, not reduced.
        let n = 3u64 << 62;
        let mut rng = Scripted(vec![0, (1 << 62) - 1, (1 << 62) + 5]);
        assert_eq!(uniform_below(&mut rng, n).unwrap(), (1 << 62) + 5);
        let mut rng = Scripted(vec![u64::MAX]);
        assert_eq!(uniform_below(&mut rng, n).unwrap(), u64::MAX - n);
        // 128-bit: n = 3·2^126 rejects the zone below 2^126 (high word below 2^62).
        let n = 3u128 << 126;
        let mut rng = Scripted(vec![(1 << 62) - 1, u64::MAX, 1 << 62, 7]);
        assert_eq!(uniform_below_u128(&mut rng, n).unwrap(), (1u128 << 126) | 7);
    }

    #[test]
    fn zero_bound_is_an_error_and_one_is_constant() {
        let mut rng = TestRng::seeded(1);
        assert!(matches!(
            uniform_below(&mut rng, 0),
            Err(NoiseError::InvalidParameter { parameter: "n", .. })
        ));
        assert!(uniform_below_u128(&mut rng, 0).is_err());
        assert_eq!(uniform_below(&mut rng, 1).unwrap(), 0);
        let mut failing = Scripted(vec![]);
        assert_eq!(
            uniform_below(&mut failing, 5),
            Err(NoiseError::RandomSource)
        );
    }

    #[test]
    fn uniform_counts_fit() {
        // 7 does not divide 2^64 (nor 2^128): 70 000 draws per width, each count within 5
        // standard errors of 10 000.
        let mut rng = TestRng::seeded(7);
        let draws = 70_000u32;
        let mut narrow = [0u32; 7];
        let mut wide = [0u32; 7];
        for _ in 0..draws {
            narrow[uniform_below(&mut rng, 7).unwrap() as usize] += 1;
            // The high 64 bits of a uniform value below 7·2^64 are uniform below 7.
            wide[(uniform_below_u128(&mut rng, 7 << 64).unwrap() >> 64) as usize] += 1;
        }
        let expected = f64::from(draws) / 7.0;
        let se = (expected * (6.0 / 7.0)).sqrt();
        for c in narrow.iter().chain(&wide) {
            assert!(
                (f64::from(*c) - expected).abs() < 5.0 * se,
                "{narrow:?} {wide:?}"
            );
        }
    }
}
