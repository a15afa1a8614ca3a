//! Pseudonyms for identifier columns.
//!
//! Every identifier value a guest can see is replaced by `HMAC-SHA-256(scenario key, value)`,
//! truncated to 128 bits and written as 32 lowercase hex characters. The same value gets the same
//! pseudonym throughout one scenario, so joins work; a different scenario has a different key, so
//! pseudonyms cannot be linked across scenarios.
//!
//! **Invariant:** the UDF is applied inside the granted views and is never registered in the
//! guest's session. If a guest could call it, it could pseudonymize guessed values (citizen IDs have
//! a small space) and match them against what it reads: a dictionary attack.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use ring::hmac;

/// Length of a pseudonym in hex characters (128 bits).
pub const PSEUDONYM_HEX_LEN: usize = 32;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Keyed pseudonymization for one scenario.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: hmac::Key,
    /// Identifies the key without revealing it, so UDF equality (which DataFusion needs for plan
    /// comparison) does not depend on key bytes.
    key_tag: [u8; 8],
    /// Time the UDF spent and pseudonyms it computed, summed over every thread and every clone
    /// (the job's cost breakdown; docs/benchmarks.md).
    spent: Arc<Spent>,
}

/// What the pseudonym UDF has cost so far.
#[derive(Debug, Default)]
struct Spent {
    nanos: AtomicU64,
    values: AtomicU64,
}

impl Spent {
    /// Adds the time since `started` and `values` pseudonyms computed.
    fn add(&self, started: std::time::Instant, values: u64) {
        self.nanos.fetch_add(
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.values.fetch_add(values, Ordering::Relaxed);
    }
}

impl Pseudonymizer {
    /// Builds the pseudonymizer from a per-scenario key (see `keys::DomainKeys::pseudonym_key`).
    pub fn new(scenario_key: &[u8; 32]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, scenario_key);
        let tag = hmac::sign(&key, b"shuyu/pseudonym/key-tag");
        let mut key_tag = [0u8; 8];
        key_tag.copy_from_slice(&tag.as_ref()[..8]);
        Self {
            key,
            key_tag,
            spent: Arc::default(),
        }
    }

    /// Time the pseudonym UDF has spent (summed over threads) and the pseudonyms it computed
    /// (a run of equal values in a column costs one), in every query made with this
    /// pseudonymizer or a clone of it.
    pub fn spent(&self) -> (std::time::Duration, u64) {
        (
            std::time::Duration::from_nanos(self.spent.nanos.load(Ordering::Relaxed)),
            self.spent.values.load(Ordering::Relaxed),
        )
    }

    /// The 16 raw bytes of a value's pseudonym.
    pub fn pseudonym_bytes(&self, value: &str) -> [u8; 16] {
        let tag = hmac::sign(&self.key, value.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }

    /// A key of its own for another use of this scenario's secret (the identifier universe's
    /// cache files): `HMAC(scenario key, label)`, all 32 bytes. A guest could see at most its
    /// first 16 bytes, as the pseudonym of an identifier value spelled exactly like `label`,
    /// which leaves 128 unknown bits of the derived key.
    pub(crate) fn derived_key(&self, label: &[u8]) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&self.key, label).as_ref())
    }

    /// The pseudonym of a value as the guest sees it (32 lowercase hex characters).
    pub fn pseudonym(&self, value: &str) -> String {
        hex::encode(self.pseudonym_bytes(value))
    }

    /// [`Pseudonymizer::pseudonym_bytes`] of each value, counted in [`Pseudonymizer::spent`]
    /// like the UDF's (timed once for all of them).
    pub(crate) fn pseudonym_bytes_counted(&self, values: &[Box<str>]) -> Vec<[u8; 16]> {
        let started = std::time::Instant::now();
        let pseudonyms = values.iter().map(|v| self.pseudonym_bytes(v)).collect();
        self.spent.add(started, values.len() as u64);
        pseudonyms
    }

    /// Identifies the key without revealing it.
    pub(crate) fn key_tag(&self) -> [u8; 8] {
        self.key_tag
    }

    /// A DataFusion scalar function mapping a string column to its pseudonyms (nulls stay null).
    pub fn udf(&self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::from(PseudonymUdf {
            pseudonymizer: self.clone(),
            signature: Signature::string(1, Volatility::Immutable),
        }))
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plans are printed in errors and logs: never the key.
        f.write_str("Pseudonymizer(<redacted>)")
    }
}

/// The scalar UDF behind [`Pseudonymizer::udf`].
#[derive(Debug)]
struct PseudonymUdf {
    pseudonymizer: Pseudonymizer,
    signature: Signature,
}

impl PartialEq for PseudonymUdf {
    fn eq(&self, other: &Self) -> bool {
        self.pseudonymizer.key_tag == other.pseudonymizer.key_tag
    }
}

impl Eq for PseudonymUdf {}

impl Hash for PseudonymUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pseudonymizer.key_tag.hash(state);
    }
}

impl ScalarUDFImpl for PseudonymUdf {
    fn name(&self) -> &str {
        "shuyu_pseudonym"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(input) = arrays.first() else {
            return exec_err!("shuyu_pseudonym takes one argument");
        };
        let input = arrow::compute::cast(input, &DataType::Utf8)?;
        let Some(strings) = input.as_any().downcast_ref::<arrow::array::StringArray>() else {
            return exec_err!("shuyu_pseudonym: argument is not a string column");
        };
        let started = std::time::Instant::now();
        let mut out =
            StringBuilder::with_capacity(strings.len(), strings.len() * PSEUDONYM_HEX_LEN);
        // Hex into a buffer on the stack: no allocation per value.
        let mut hex = [0u8; PSEUDONYM_HEX_LEN];
        // Rows of one entity usually sit together (a month per row, a tax type per row), so a
        // value equal to the one before it reuses its pseudonym: the same output, one HMAC per
        // run of equal values instead of one per row.
        let mut previous: Option<&str> = None;
        let mut computed = 0u64;
        for value in strings.iter() {
            match value {
                Some(v) => {
                    if previous != Some(v) {
                        let bytes = self.pseudonymizer.pseudonym_bytes(v);
                        for (i, byte) in bytes.iter().enumerate() {
                            hex[2 * i] = HEX_DIGITS[usize::from(byte >> 4)];
                            hex[2 * i + 1] = HEX_DIGITS[usize::from(byte & 0x0f)];
                        }
                        previous = Some(v);
                        computed += 1;
                    }
                    // Lowercase hex digits are ASCII, hence UTF-8.
                    out.append_value(std::str::from_utf8(&hex).unwrap_or_default());
                }
                None => out.append_null(),
            }
        }
        self.pseudonymizer.spent.add(started, computed);
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// Is `text` shaped like a pseudonym (32 lowercase hex characters)?
pub fn is_pseudonym_shaped(text: &str) -> bool {
    text.len() == PSEUDONYM_HEX_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_pseudonym_within_a_scenario() {
        let p = Pseudonymizer::new(&[7u8; 32]);
        assert_eq!(
            p.pseudonym("91330106MA2XXXXXX1"),
            p.pseudonym("91330106MA2XXXXXX1")
        );
        assert!(is_pseudonym_shaped(&p.pseudonym("x")));
    }

    #[test]
    fn scenarios_are_unlinkable() {
        let a = Pseudonymizer::new(&[1u8; 32]);
        let b = Pseudonymizer::new(&[2u8; 32]);
        assert_ne!(
            a.pseudonym("330106199001011234"),
            b.pseudonym("330106199001011234")
        );
    }

    #[tokio::test]
    async fn a_run_of_equal_values_costs_one_pseudonym_and_gives_the_same_output() {
        use arrow::array::StringArray;
        use arrow::datatypes::{Field, Schema};
        use arrow::record_batch::RecordBatch;
        use datafusion::prelude::SessionContext;

        let p = Pseudonymizer::new(&[5u8; 32]);
        let values = [
            Some("a"),
            Some("a"),
            None,
            Some("a"),
            Some("b"),
            Some("b"),
            Some("a"),
        ];
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(values.to_vec())) as ArrayRef],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("t", batch).unwrap();
        ctx.register_udf(p.udf().as_ref().clone());
        let out = ctx
            .sql("SELECT shuyu_pseudonym(id) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let column = out[0].column(0);
        let column = column.as_any().downcast_ref::<StringArray>().unwrap();
        let got: Vec<Option<&str>> = column.iter().collect();
        let want: Vec<Option<String>> = values.iter().map(|v| v.map(|v| p.pseudonym(v))).collect();
        let want: Vec<Option<&str>> = want.iter().map(|v| v.as_deref()).collect();
        assert_eq!(got, want);
        // a, (a), null, (a), b, (b), a: three HMACs for seven rows.
        assert_eq!(p.spent().1, 3);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let p = Pseudonymizer::new(&[0xAB; 32]);
        assert!(!format!("{p:?}").to_lowercase().contains("abab"));
    }
}
