//! The identifier universe of a job: which pseudonyms are real entities, which strings are
//! identifiers, computed by the host from the raw data of the granted datasets.
//!
//! The guard uses it to refuse fake entities (which would defeat k) and to scan outputs for
//! identifiers. It holds only 16-byte pseudonyms, never raw values: "is this string a raw
//! identifier?" is answered by pseudonymizing the string and looking the result up, so the host
//! keeps no second copy of the raw identifiers in memory. A scenario's next job on the same
//! dataset versions loads it from the domain's [`UniverseCache`] instead of building it again.

mod cache;

pub use cache::{CacheError, Lookup, UniverseCache};

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int8Type};
use datafusion::common::runtime::SpawnedTask;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::{
    cast, col, ident, lit, DataFrame, ParquetReadOptions, SessionConfig, SessionContext,
};
use futures::StreamExt;

use super::{EngineError, EntityValues, Pseudonymizer};
use shuyu_catalog::Dataset;
use shuyu_guard::IdentifierOracle;

/// A set of pseudonyms. They are HMAC outputs under a key nobody outside the host knows, so
/// their first eight bytes are already a uniform hash: no second hash per insert or lookup.
type PseudonymSet = HashSet<[u8; 16], BuildHasherDefault<FirstBytes>>;

/// The hasher of [`PseudonymSet`]: the first eight bytes of the key.
#[derive(Default)]
struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }

    // The array's length prefix says nothing.
    fn write_usize(&mut self, _: usize) {}
}

/// Pseudonyms of every identifier value in a set of datasets.
pub struct IdentifierUniverse {
    pseudonymizer: Pseudonymizer,
    entities: PseudonymSet,
    identifiers: PseudonymSet,
    /// Pseudonyms of the folded spellings (`guard::fold`) of identifier values whose folded
    /// spelling differs, for the guard's scan of `EMP 0042` against `EMP-0042`.
    folded: PseudonymSet,
}

impl std::fmt::Debug for IdentifierUniverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifierUniverse")
            .field("entities", &self.entities.len())
            .field("identifiers", &self.identifiers.len())
            .finish()
    }
}

/// Two universes are equal when they hold the same pseudonyms under the same key.
impl PartialEq for IdentifierUniverse {
    fn eq(&self, other: &Self) -> bool {
        self.pseudonymizer.key_tag() == other.pseudonymizer.key_tag()
            && self.entities == other.entities
            && self.identifiers == other.identifiers
            && self.folded == other.folded
    }
}

impl Eq for IdentifierUniverse {}

/// What one partition of the distinct identifier values contributes: the pseudonyms of the
/// values, of the entity values among them, and of their folded spellings.
#[derive(Default)]
struct PartPseudonyms {
    values: Vec<[u8; 16]>,
    entities: Vec<[u8; 16]>,
    folded: Vec<[u8; 16]>,
}

/// Name of the value column in the universe's private query.
const VALUE: &str = "v";
/// Name of the "is an entity value" column (1 when any entity column holds the value).
const ENTITY: &str = "e";

/// Which identifier columns a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Columns {
    /// Every identifier column.
    All,
    /// Every identifier column but the datasets' entity columns.
    NotEntity,
    /// Only the datasets' entity columns.
    EntityOnly,
}

impl Columns {
    fn takes(self, is_entity_column: bool) -> bool {
        match self {
            Self::All => true,
            Self::NotEntity => !is_entity_column,
            Self::EntityOnly => is_entity_column,
        }
    }
}

/// A universe without the values of the datasets' entity columns: every other identifier
/// column is in it. A per-entity release builds this beside its grouping, which reads every
/// entity value raw anyway (and pseudonymizes each once), and completes it with what the
/// grouping read ([`PartialUniverse::with_entities`]); at 10M tax rows that leaves the
/// universe's own scan 1.6M values of the registry instead of 12.4M. It answers nothing
/// until completed: it is not an [`IdentifierOracle`].
pub struct PartialUniverse(IdentifierUniverse);

impl std::fmt::Debug for PartialUniverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PartialUniverse").field(&self.0).finish()
    }
}

impl IdentifierUniverse {
    /// Scans every identifier column of `datasets` (granted or not: an identifier the scenario
    /// cannot read must still never appear in an output) in a private session. All columns are
    /// one query — the union of their values, distinct — so a value held by several columns
    /// (an enterprise's code in the registry and in every tax row) is pseudonymized once, and
    /// each of the query's output partitions is hashed in a task of its own, on every core of
    /// the runtime. Dropping the future stops the tasks.
    pub async fn build(
        datasets: &[Dataset],
        pseudonymizer: &Pseudonymizer,
    ) -> Result<Self, EngineError> {
        let mut universe = Self::empty(pseudonymizer);
        universe.scan(datasets, Columns::All).await?;
        Ok(universe)
    }

    /// [`IdentifierUniverse::build`] without the datasets' entity columns, for a caller that
    /// reads every value of those columns itself (see [`PartialUniverse`]).
    pub async fn build_without_entities(
        datasets: &[Dataset],
        pseudonymizer: &Pseudonymizer,
    ) -> Result<PartialUniverse, EngineError> {
        let mut universe = Self::empty(pseudonymizer);
        universe.scan(datasets, Columns::NotEntity).await?;
        Ok(PartialUniverse(universe))
    }

    /// Number of distinct entities.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    fn empty(pseudonymizer: &Pseudonymizer) -> Self {
        Self {
            pseudonymizer: pseudonymizer.clone(),
            entities: PseudonymSet::default(),
            identifiers: PseudonymSet::default(),
            folded: PseudonymSet::default(),
        }
    }

    /// Adds the pseudonyms of the `columns` of `datasets` (see [`IdentifierUniverse::build`]).
    async fn scan(&mut self, datasets: &[Dataset], columns: Columns) -> Result<(), EngineError> {
        // Plain Utf8 from the Parquet reader: the values are cast to it anyway, and a view
        // type would be read and then copied into a second array.
        let mut config = SessionConfig::new();
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        let ctx = SessionContext::new_with_config(config);
        let mut union: Option<DataFrame> = None;
        for dataset in datasets {
            let path = dataset.data_path.to_str().ok_or_else(|| {
                EngineError::setup_message(format!(
                    "{}: path is not UTF-8",
                    dataset.data_path.display()
                ))
            })?;
            let entity_column = dataset.manifest.dataset.entity_column.as_str();
            for column in dataset.identifier_columns() {
                let is_entity = column == entity_column;
                if !columns.takes(is_entity) {
                    continue;
                }
                let failed = |e| EngineError::setup(format!("{}.{column}", dataset.name()), e);
                let entity = i8::from(is_entity);
                let frame = ctx
                    .read_parquet(path, ParquetReadOptions::default())
                    .await
                    .and_then(|f| {
                        f.select(vec![
                            cast(ident(column), DataType::Utf8).alias(VALUE),
                            lit(entity).alias(ENTITY),
                        ])
                    })
                    .map_err(failed)?;
                union = Some(match union {
                    None => frame,
                    Some(all) => all.union(frame).map_err(failed)?,
                });
            }
        }
        let Some(union) = union else {
            return Ok(());
        };
        let failed = |e| EngineError::setup("the identifier columns", e);
        let distinct = union
            .filter(col(VALUE).is_not_null())
            .and_then(|f| f.aggregate(vec![col(VALUE)], vec![max(col(ENTITY)).alias(ENTITY)]))
            .map_err(failed)?;
        let streams = distinct
            .execute_stream_partitioned()
            .await
            .map_err(failed)?;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|stream| SpawnedTask::spawn(part_pseudonyms(stream, self.pseudonymizer.clone())))
            .collect();
        for task in tasks {
            let part = task.join().await.map_err(|e| {
                EngineError::setup_message(format!("a universe scan failed: {e}"))
            })??;
            self.add(part);
        }
        Ok(())
    }

    fn add(&mut self, part: PartPseudonyms) {
        self.identifiers.extend(part.values);
        self.entities.extend(part.entities);
        self.folded.extend(part.folded);
    }
}

impl PartialUniverse {
    /// The whole universe: this one with every value of the datasets' entity columns, as a
    /// grouping by entity read them (`values` must hold each distinct non-null value of every
    /// entity column of the datasets this was built from, which a grouping of views that
    /// carry every row does). Their pseudonyms are the grouping's own; their folded
    /// spellings are hashed here, on `threads` threads.
    ///
    /// # Errors
    /// When `values` were pseudonymized under another scenario's key than this universe.
    pub fn with_entities(
        self,
        values: &EntityValues,
        threads: usize,
    ) -> Result<IdentifierUniverse, EngineError> {
        let mut universe = self.0;
        if !values.keyed_by(&universe.pseudonymizer) {
            return Err(EngineError::setup_message(
                "the entity values were pseudonymized under another key than the universe".into(),
            ));
        }
        universe.identifiers.extend(values.pseudonyms());
        universe.entities.extend(values.pseudonyms());
        let pseudonymizer = &universe.pseudonymizer;
        let folded = super::threads::split(values.len(), threads, |range| {
            values.raw()[range]
                .iter()
                .filter_map(|value| folded_pseudonym(pseudonymizer, value))
                .collect::<Vec<_>>()
        })
        .ok_or_else(|| {
            EngineError::setup_message("a thread folding entity values panicked".into())
        })?;
        for part in folded {
            universe.folded.extend(part);
        }
        Ok(universe)
    }

    /// The whole universe, its entity columns scanned here (for a job that needs the
    /// universe before any grouping has read them).
    pub async fn scan_entities(
        self,
        datasets: &[Dataset],
    ) -> Result<IdentifierUniverse, EngineError> {
        let mut universe = self.0;
        universe.scan(datasets, Columns::EntityOnly).await?;
        Ok(universe)
    }
}

/// The pseudonym of `value`'s folded spelling (`guard::fold`), when it differs from `value`.
fn folded_pseudonym(pseudonymizer: &Pseudonymizer, value: &str) -> Option<[u8; 16]> {
    let spelling = shuyu_guard::fold(value);
    (spelling != value && !spelling.is_empty()).then(|| pseudonymizer.pseudonym_bytes(&spelling))
}

/// Pseudonymizes one output partition of the distinct values.
async fn part_pseudonyms(
    mut stream: SendableRecordBatchStream,
    pseudonymizer: Pseudonymizer,
) -> Result<PartPseudonyms, EngineError> {
    let failed = |e| EngineError::setup("the identifier columns", e);
    let mut out = PartPseudonyms::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failed)?;
        let values = batch
            .column_by_name(VALUE)
            .map(|c| c.as_string_opt::<i32>());
        let entity = batch
            .column_by_name(ENTITY)
            .and_then(|c| c.as_primitive_opt::<Int8Type>());
        let (Some(Some(values)), Some(entity)) = (values, entity) else {
            return Err(EngineError::setup_message(
                "the identifier columns: unexpected result types".into(),
            ));
        };
        out.values.reserve(values.len());
        for row in 0..values.len() {
            if values.is_null(row) {
                continue;
            }
            let value = values.value(row);
            let pseudonym = pseudonymizer.pseudonym_bytes(value);
            out.values.push(pseudonym);
            if entity.is_valid(row) && entity.value(row) != 0 {
                out.entities.push(pseudonym);
            }
            if let Some(folded) = folded_pseudonym(&pseudonymizer, value) {
                out.folded.push(folded);
            }
        }
    }
    Ok(out)
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

    fn is_entity_key(&self, key: &[u8; 16]) -> bool {
        self.entities.contains(key)
    }

    fn entity_count(&self) -> Option<usize> {
        Some(self.entities.len())
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
