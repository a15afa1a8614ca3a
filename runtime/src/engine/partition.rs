//! Entity partitions for sample-and-aggregate (`release_vector`, see `guard::vector`).
//!
//! An entity belongs to partition `HMAC-SHA-256(partition key, pseudonym bytes)[..8] mod m`, read
//! as a little-endian `u64`. The key is drawn at random for each `release_vector` call, so which
//! entities share a partition is neither chosen nor predictable by the module, and every entity
//! is in exactly one partition. Hashing the *pseudonym* (not the raw value) keeps the raw
//! identifier out of one more keyed function; the pseudonym is the same in every granted table,
//! so a partition's rows still join across tables.
//!
//! The reduction `mod m` of a 64-bit value has a bias below `m / 2^64` (≤ 2^-54 for `m ≤ 1024`),
//! far below anything the balance of the partitions depends on; privacy does not depend on balance
//! at all, only on every entity being in one partition.
//!
//! **Invariant:** like the pseudonym UDF, the partition UDF is applied inside the granted views
//! (as a filter on the raw scan) and never registered in the guest's session.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanBuilder, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::Pseudonymizer;

/// Most partitions a vector release may ask for (`guard::vector` validates against it).
pub const MAX_PARTITIONS: u32 = 1024;

/// The keyed hash that assigns entities to partitions.
#[derive(Clone)]
pub struct PartitionKey {
    key: hmac::Key,
    /// Identifies the key without revealing it (UDF equality, as for pseudonyms).
    key_tag: [u8; 8],
}

impl PartitionKey {
    /// A key from 32 bytes (tests, and callers that derive keys themselves).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let tag = hmac::sign(&key, b"shuyu/partition/key-tag");
        let mut key_tag = [0u8; 8];
        key_tag.copy_from_slice(&tag.as_ref()[..8]);
        Self { key, key_tag }
    }

    /// A fresh key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`ring::error::Unspecified`] if the generator fails.
    pub fn random() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The partition (in `0..partitions`) of the entity with these pseudonym bytes.
    /// `partitions` of 0 is treated as 1.
    pub fn partition(&self, pseudonym: &[u8; 16], partitions: u32) -> u32 {
        let tag = hmac::sign(&self.key, pseudonym);
        let mut word = [0u8; 8];
        word.copy_from_slice(&tag.as_ref()[..8]);
        let m = u64::from(partitions.max(1));
        // The remainder is below `m`, itself a u32.
        (u64::from_le_bytes(word) % m) as u32
    }
}

impl fmt::Debug for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartitionKey(<redacted>)")
    }
}

/// Keeps only the rows of one partition: applied by the engine to every granted view.
#[derive(Clone, Debug)]
pub struct PartitionFilter {
    /// The scenario's pseudonymizer (the partition hashes the pseudonym).
    pub pseudonymizer: Pseudonymizer,
    /// The release's partition key.
    pub key: PartitionKey,
    /// m, the number of partitions.
    pub partitions: u32,
    /// The partition kept, in `0..partitions`.
    pub index: u32,
}

impl PartitionFilter {
    /// Whether a raw entity value belongs to the kept partition.
    pub fn keeps(&self, raw_entity: &str) -> bool {
        let pseudonym = self.pseudonymizer.pseudonym_bytes(raw_entity);
        self.key.partition(&pseudonym, self.partitions) == self.index
    }

    /// A DataFusion scalar function `raw entity -> bool` (null entities are in no partition).
    pub fn udf(&self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::from(PartitionUdf {
            filter: self.clone(),
            signature: Signature::string(1, Volatility::Immutable),
        }))
    }
}

/// The scalar UDF behind [`PartitionFilter::udf`].
#[derive(Debug)]
struct PartitionUdf {
    filter: PartitionFilter,
    signature: Signature,
}

impl PartialEq for PartitionUdf {
    fn eq(&self, other: &Self) -> bool {
        self.filter.key.key_tag == other.filter.key.key_tag
            && self.filter.partitions == other.filter.partitions
            && self.filter.index == other.filter.index
    }
}

impl Eq for PartitionUdf {}

impl Hash for PartitionUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.filter.key.key_tag.hash(state);
        self.filter.partitions.hash(state);
        self.filter.index.hash(state);
    }
}

impl ScalarUDFImpl for PartitionUdf {
    fn name(&self) -> &str {
        "shuyu_in_partition"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(input) = arrays.first() else {
            return exec_err!("shuyu_in_partition takes one argument");
        };
        let input = arrow::compute::cast(input, &DataType::Utf8)?;
        let Some(strings) = input.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("shuyu_in_partition: argument is not a string column");
        };
        let mut out = BooleanBuilder::with_capacity(strings.len());
        for value in strings.iter() {
            // A row without an entity belongs to no entity, hence to no partition.
            out.append_value(value.is_some_and(|v| self.filter.keeps(v)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudonyms(n: u32) -> Vec<[u8; 16]> {
        let p = Pseudonymizer::new(&[3u8; 32]);
        (0..n)
            .map(|i| p.pseudonym_bytes(&format!("9133010{i:011}")))
            .collect()
    }

    #[test]
    fn deterministic_per_key_and_different_across_keys() {
        let a = PartitionKey::from_bytes(&[1u8; 32]);
        let a2 = PartitionKey::from_bytes(&[1u8; 32]);
        let b = PartitionKey::from_bytes(&[2u8; 32]);
        let ids = pseudonyms(200);
        let pa: Vec<u32> = ids.iter().map(|p| a.partition(p, 16)).collect();
        let pa2: Vec<u32> = ids.iter().map(|p| a2.partition(p, 16)).collect();
        let pb: Vec<u32> = ids.iter().map(|p| b.partition(p, 16)).collect();
        assert_eq!(pa, pa2, "same key, same partitions");
        let same = pa.iter().zip(&pb).filter(|(x, y)| x == y).count();
        // Independent assignments agree on about 1/16 of the entities.
        assert!(same < 40, "{same} of 200 agree across keys");
        assert!(pa.iter().all(|&p| p < 16));
    }

    #[test]
    fn balanced() {
        let key = PartitionKey::from_bytes(&[9u8; 32]);
        let n = 16_000u32;
        let m = 16u32;
        let mut counts = vec![0u32; m as usize];
        for p in pseudonyms(n) {
            counts[key.partition(&p, m) as usize] += 1;
        }
        // Expected 1000 each, binomial sd ≈ 30.6; 6 sd is a bound a broken hash fails.
        for (i, &c) in counts.iter().enumerate() {
            assert!((816..=1184).contains(&c), "partition {i} holds {c}");
        }
        // Chi-square with 15 degrees of freedom: the 99.99th percentile is about 44.3.
        let chi2: f64 = counts
            .iter()
            .map(|&c| (f64::from(c) - 1000.0).powi(2) / 1000.0)
            .sum();
        assert!(chi2 < 44.3, "chi-square {chi2}");
    }

    #[test]
    fn one_partition_keeps_everything_and_zero_is_one() {
        let key = PartitionKey::from_bytes(&[5u8; 32]);
        for p in pseudonyms(20) {
            assert_eq!(key.partition(&p, 1), 0);
            assert_eq!(key.partition(&p, 0), 0);
        }
    }

    #[test]
    fn every_entity_is_kept_by_exactly_one_filter() {
        let pseudonymizer = Pseudonymizer::new(&[3u8; 32]);
        let key = PartitionKey::from_bytes(&[4u8; 32]);
        let filters: Vec<PartitionFilter> = (0..8)
            .map(|index| PartitionFilter {
                pseudonymizer: pseudonymizer.clone(),
                key: key.clone(),
                partitions: 8,
                index,
            })
            .collect();
        for i in 0..100 {
            let id = format!("ENT{i}");
            assert_eq!(filters.iter().filter(|f| f.keeps(&id)).count(), 1);
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = PartitionKey::from_bytes(&[0xCD; 32]);
        assert!(!format!("{key:?}").to_lowercase().contains("cdcd"));
    }
}
