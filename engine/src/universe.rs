//! The identifier universe of a job: which pseudonyms are real entities, which strings are
//! identifiers, computed by the host from the raw data of the granted datasets.
//!
//! The guard uses it to refuse fake entities (which would defeat k) and to scan outputs for
//! identifiers. It holds only 16-byte pseudonyms, never raw values: "is this string a raw
//! identifier?" is answered by pseudonymizing the string and looking the result up, so the host
//! keeps no second copy of the raw identifiers in memory.

use std::collections::HashSet;

use datafusion::prelude::{ident, ParquetReadOptions, SessionContext};
use futures::StreamExt;

use super::{EngineError, Pseudonymizer};
use shuyu_catalog::Dataset;
use shuyu_guard::IdentifierOracle;

/// Pseudonyms of every identifier value in a set of datasets.
pub struct IdentifierUniverse {
    pseudonymizer: Pseudonymizer,
    entities: HashSet<[u8; 16]>,
    identifiers: HashSet<[u8; 16]>,
    /// Pseudonyms of the folded spellings (`guard::fold`) of identifier values whose folded
    /// spelling differs, for the guard's scan of `EMP 0042` against `EMP-0042`.
    folded: HashSet<[u8; 16]>,
}

impl std::fmt::Debug for IdentifierUniverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifierUniverse")
            .field("entities", &self.entities.len())
            .field("identifiers", &self.identifiers.len())
            .finish()
    }
}

impl IdentifierUniverse {
    /// Scans every identifier column of `datasets` (granted or not: an identifier the scenario
    /// cannot read must still never appear in an output) in a private session.
    pub async fn build(
        datasets: &[Dataset],
        pseudonymizer: &Pseudonymizer,
    ) -> Result<Self, EngineError> {
        let ctx = SessionContext::new();
        let mut entities = HashSet::new();
        let mut identifiers = HashSet::new();
        let mut folded = HashSet::new();
        for dataset in datasets {
            let path = dataset.data_path.to_str().ok_or_else(|| {
                EngineError::setup_message(format!(
                    "{}: path is not UTF-8",
                    dataset.data_path.display()
                ))
            })?;
            let entity_column = dataset.manifest.dataset.entity_column.as_str();
            for column in dataset.identifier_columns() {
                let frame = ctx
                    .read_parquet(path, ParquetReadOptions::default())
                    .await
                    .and_then(|f| f.select(vec![ident(column)]))
                    .and_then(|f| f.distinct())
                    .map_err(|e| EngineError::setup(format!("{}.{column}", dataset.name()), e))?;
                let mut stream = frame
                    .execute_stream()
                    .await
                    .map_err(|e| EngineError::setup(format!("{}.{column}", dataset.name()), e))?;
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(|e| {
                        EngineError::setup(format!("{}.{column}", dataset.name()), e)
                    })?;
                    let Some(values) = batch.columns().first() else {
                        continue;
                    };
                    let values = arrow::compute::cast(values, &arrow::datatypes::DataType::Utf8)
                        .map_err(|e| {
                            EngineError::setup(format!("{}.{column}", dataset.name()), e)
                        })?;
                    let Some(values) = values.as_any().downcast_ref::<arrow::array::StringArray>()
                    else {
                        continue;
                    };
                    for value in values.iter().flatten() {
                        let p = pseudonymizer.pseudonym_bytes(value);
                        identifiers.insert(p);
                        let spelling = shuyu_guard::fold(value);
                        if spelling != value && !spelling.is_empty() {
                            folded.insert(pseudonymizer.pseudonym_bytes(&spelling));
                        }
                        if column == entity_column {
                            entities.insert(p);
                        }
                    }
                }
            }
        }
        Ok(Self {
            pseudonymizer: pseudonymizer.clone(),
            entities,
            identifiers,
            folded,
        })
    }

    /// Number of distinct entities.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }
}

fn decode(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

impl IdentifierOracle for IdentifierUniverse {
    fn is_entity(&self, pseudonym: &str) -> bool {
        decode(pseudonym).is_some_and(|p| self.entities.contains(&p))
    }

    fn is_pseudonym(&self, text: &str) -> bool {
        decode(&text.to_ascii_lowercase()).is_some_and(|p| self.identifiers.contains(&p))
    }

    fn is_raw_identifier(&self, text: &str) -> bool {
        self.identifiers
            .contains(&self.pseudonymizer.pseudonym_bytes(text))
    }

    fn is_raw_identifier_folded(&self, folded: &str) -> bool {
        if folded.is_empty() {
            return false;
        }
        let p = self.pseudonymizer.pseudonym_bytes(folded);
        self.folded.contains(&p) || self.identifiers.contains(&p)
    }
}
