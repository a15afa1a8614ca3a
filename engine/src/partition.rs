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
//! **One pass for all partitions.** The host reads each granted view once (the same raw scan and
//! pseudonymizing projection the main run's session serves), computes each row's partition once
//! from its entity pseudonym, and copies the row into one of m in-memory tables
//! ([`PartitionRouter`]). A partition run's session (`EngineSession::open_partition`) registers
//! only its own partition's tables under the granted names. So m partition runs cost one scan and
//! one partition hash per granted row, not m; no session of a partition run holds another
//! partition's rows; and the partition key never enters any session. Rows whose entity is null
//! belong to no entity and go to no partition.
//!
//! **Memory.** The copies live in host memory until their partition's run ends. Their Arrow buffers
//! (`RecordBatch::get_array_memory_size`, capacity included) are counted as they are built against
//! [`MAX_PARTITIONED_BYTES`] per vector release; past it the routing stops with
//! [`SplitError::TooLarge`], never with a partial split.

use std::fmt;

use arrow::array::{Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::pseudonym::is_pseudonym_shaped;

/// Most bytes of host memory the partitioned copies of the granted tables may take in one vector
/// release (1 GiB, the same as a session's DataFusion memory limit). The bound is on Arrow buffers
/// as they are built, so a release over it stops before it holds much more.
pub const MAX_PARTITIONED_BYTES: usize = 1 << 30;

/// The keyed hash that assigns entities to partitions.
#[derive(Clone)]
pub struct PartitionKey {
    key: hmac::Key,
}

impl PartitionKey {
    /// A key from 32 bytes (tests, and callers that derive keys themselves).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
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

    /// The partition of the entity whose pseudonym reads `pseudonym` (32 lowercase hex
    /// characters, as the granted views show it), or `None` if the text is not a pseudonym.
    pub fn partition_of_pseudonym(&self, pseudonym: &str, partitions: u32) -> Option<u32> {
        if !is_pseudonym_shaped(pseudonym) {
            return None;
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(pseudonym, &mut bytes).ok()?;
        Some(self.partition(&bytes, partitions))
    }
}

impl fmt::Debug for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartitionKey(<redacted>)")
    }
}

/// Why the granted rows could not be split into partitions.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// The copies would take more host memory than their bound.
    #[error(
        "the granted tables split into partitions need more than {limit} bytes of host memory, \
         the bound of one vector release (MAX_PARTITIONED_BYTES); exceeded while reading {table}"
    )]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
        /// The table being read when the bound was passed.
        table: String,
    },
    /// A granted table does not carry its entity column, so it cannot be partitioned.
    #[error("{0}")]
    EntityColumnMissing(String),
    /// The entity column holds something other than pseudonyms. The views pseudonymize every
    /// identifier column, so this is a host bug; the rows are not routed anywhere.
    #[error("{table}: entity column {column} does not hold pseudonyms")]
    NotPseudonymized {
        /// The granted table.
        table: String,
        /// Its entity column.
        column: String,
    },
    /// Reading a granted view, or copying its rows, failed.
    #[error("{table}: {message}")]
    Read {
        /// The granted table.
        table: String,
        /// What failed (may quote data: for the audit log only).
        message: String,
    },
    /// The job was cancelled while the rows were read.
    #[error("cancelled")]
    Cancelled,
}

/// Bytes held by the partitioned copies of one release, against [`MAX_PARTITIONED_BYTES`] or a
/// smaller bound.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: usize,
    used: usize,
    peak: usize,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            peak: 0,
        }
    }

    /// The most bytes held at once so far.
    pub(crate) fn peak(&self) -> usize {
        self.peak
    }

    fn add(&mut self, bytes: usize, table: &str) -> Result<(), SplitError> {
        self.used = self.used.saturating_add(bytes);
        self.peak = self.peak.max(self.used);
        if self.used > self.limit {
            return Err(SplitError::TooLarge {
                limit: self.limit,
                table: table.to_string(),
            });
        }
        Ok(())
    }

    fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }
}

/// One partition's rows of one table while they are routed: full batches, and the pieces of the
/// batch being filled.
#[derive(Default)]
struct Part {
    done: Vec<RecordBatch>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
}

/// Routes the rows of one granted table into m partitions, batch by batch, by the partition of
/// each row's entity pseudonym: every row with an entity lands in exactly one partition, a row
/// whose entity is null in none. Output batches hold at most `max_rows` rows (the ABI's batch
/// bound) and are compact copies, so a partition's tables hold only that partition's rows.
pub(crate) struct PartitionRouter {
    table: String,
    entity_column: String,
    entity: usize,
    schema: SchemaRef,
    key: PartitionKey,
    partitions: u32,
    max_rows: usize,
    parts: Vec<Part>,
    /// Row indices of the batch being routed, per partition (kept to reuse their allocations).
    indices: Vec<Vec<u32>>,
    rows: u64,
    rows_without_entity: u64,
}

impl PartitionRouter {
    /// A router for `table`, whose batches have `schema` and carry `entity_column`.
    ///
    /// # Errors
    /// [`SplitError::EntityColumnMissing`] if the schema has no such column.
    pub(crate) fn new(
        table: &str,
        schema: SchemaRef,
        entity_column: &str,
        key: &PartitionKey,
        partitions: u32,
        max_rows: usize,
    ) -> Result<Self, SplitError> {
        let entity = schema.index_of(entity_column).map_err(|_| {
            SplitError::EntityColumnMissing(shuyu_guard::vector::entity_column_missing(
                table,
                entity_column,
            ))
        })?;
        let m = partitions.max(1) as usize;
        Ok(Self {
            table: table.to_string(),
            entity_column: entity_column.to_string(),
            entity,
            schema,
            key: key.clone(),
            partitions: partitions.max(1),
            max_rows: max_rows.max(1),
            parts: (0..m).map(|_| Part::default()).collect(),
            indices: vec![Vec::new(); m],
            rows: 0,
            rows_without_entity: 0,
        })
    }

    /// Routes one batch.
    ///
    /// # Errors
    /// [`SplitError::TooLarge`] past the budget, [`SplitError::NotPseudonymized`] for an entity
    /// value that is not a pseudonym, [`SplitError::Read`] if Arrow fails to copy.
    pub(crate) fn push(
        &mut self,
        batch: &RecordBatch,
        budget: &mut ByteBudget,
    ) -> Result<(), SplitError> {
        let entities = arrow::compute::cast(batch.column(self.entity), &DataType::Utf8)
            .map_err(|e| self.read_error(&e))?;
        let Some(entities) = entities.as_any().downcast_ref::<StringArray>() else {
            return Err(self.not_pseudonymized());
        };
        for list in &mut self.indices {
            list.clear();
        }
        for (row, value) in entities.iter().enumerate() {
            let Some(pseudonym) = value else {
                // A row without an entity belongs to no entity, hence to no partition.
                self.rows_without_entity += 1;
                continue;
            };
            let partition = self
                .key
                .partition_of_pseudonym(pseudonym, self.partitions)
                .ok_or_else(|| self.not_pseudonymized())?;
            let row = u32::try_from(row).map_err(|_| SplitError::Read {
                table: self.table.clone(),
                message: "a batch of more than 2^32 rows".into(),
            })?;
            self.indices[partition as usize].push(row);
        }
        self.rows += batch.num_rows() as u64;
        for p in 0..self.parts.len() {
            let mut rest = self.indices[p].as_slice();
            while !rest.is_empty() {
                let part = &mut self.parts[p];
                let room = self.max_rows.saturating_sub(part.pending_rows).max(1);
                let (chunk, tail) = rest.split_at(room.min(rest.len()));
                let taken = take_record_batch(batch, &UInt32Array::from(chunk.to_vec()))
                    .map_err(|e| read_error(&self.table, &e))?;
                let bytes = taken.get_array_memory_size();
                part.pending.push(taken);
                part.pending_rows += chunk.len();
                part.pending_bytes += bytes;
                budget.add(bytes, &self.table)?;
                if part.pending_rows >= self.max_rows {
                    flush(part, &self.schema, budget, &self.table)?;
                }
                rest = tail;
            }
        }
        Ok(())
    }

    /// The routed table, once every batch has been pushed.
    ///
    /// # Errors
    /// As [`PartitionRouter::push`].
    pub(crate) fn finish(mut self, budget: &mut ByteBudget) -> Result<RoutedTable, SplitError> {
        for part in &mut self.parts {
            flush(part, &self.schema, budget, &self.table)?;
        }
        Ok(RoutedTable {
            name: self.table,
            schema: self.schema,
            partitions: self.parts.into_iter().map(|p| p.done).collect(),
            rows: self.rows,
            rows_without_entity: self.rows_without_entity,
        })
    }

    fn not_pseudonymized(&self) -> SplitError {
        SplitError::NotPseudonymized {
            table: self.table.clone(),
            column: self.entity_column.clone(),
        }
    }

    fn read_error(&self, e: &ArrowError) -> SplitError {
        read_error(&self.table, e)
    }
}

fn read_error(table: &str, e: &ArrowError) -> SplitError {
    SplitError::Read {
        table: table.to_string(),
        message: e.to_string(),
    }
}

/// Turns a partition's pending pieces into one compact batch.
fn flush(
    part: &mut Part,
    schema: &SchemaRef,
    budget: &mut ByteBudget,
    table: &str,
) -> Result<(), SplitError> {
    let batch = match part.pending.len() {
        0 => return Ok(()),
        1 => part.pending.pop(),
        _ => Some(concat_batches(schema, &part.pending).map_err(|e| read_error(table, &e))?),
    };
    part.pending.clear();
    // The copy is counted before its pieces are let go: for a moment both are held.
    let added = batch
        .as_ref()
        .map_or(Ok(()), |b| budget.add(b.get_array_memory_size(), table));
    budget.release(part.pending_bytes);
    part.pending_rows = 0;
    part.pending_bytes = 0;
    added?;
    if let Some(batch) = batch {
        part.done.push(batch);
    }
    Ok(())
}

/// One granted table split into partitions.
#[derive(Debug)]
pub struct RoutedTable {
    name: String,
    schema: SchemaRef,
    /// Batches per partition, in `0..m`.
    partitions: Vec<Vec<RecordBatch>>,
    rows: u64,
    rows_without_entity: u64,
}

impl RoutedTable {
    /// The granted table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rows read from the granted view.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows read whose entity is null (in no partition).
    pub fn rows_without_entity(&self) -> u64 {
        self.rows_without_entity
    }

    /// The batches of partition `index` (empty once taken, or out of range).
    pub fn batches(&self, index: u32) -> &[RecordBatch] {
        self.partitions
            .get(index as usize)
            .map_or(&[], Vec::as_slice)
    }
}

/// One partition's rows of one granted table, for its run's session.
#[derive(Debug, Clone)]
pub struct PartitionTable {
    /// The granted table's name.
    pub name: String,
    /// The granted view's schema.
    pub schema: SchemaRef,
    /// The partition's rows.
    pub batches: Vec<RecordBatch>,
}

/// Every granted table of one vector release, split into its m partitions.
#[derive(Debug)]
pub struct PartitionedTables {
    partitions: u32,
    tables: Vec<RoutedTable>,
    peak_bytes: usize,
}

impl PartitionedTables {
    /// The split of `tables` into `partitions` partitions; `peak_bytes` as the budget measured it.
    pub fn new(partitions: u32, tables: Vec<RoutedTable>, peak_bytes: usize) -> Self {
        Self {
            partitions,
            tables,
            peak_bytes,
        }
    }

    /// m.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The routed tables.
    pub fn tables(&self) -> &[RoutedTable] {
        &self.tables
    }

    /// The most bytes the copies held at once while they were built.
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes
    }

    /// Hands over partition `index`'s tables, leaving none of its rows behind, so that each
    /// partition's memory is freed once its run ends.
    pub fn take(&mut self, index: u32) -> Vec<PartitionTable> {
        self.tables
            .iter_mut()
            .map(|table| PartitionTable {
                name: table.name.clone(),
                schema: table.schema.clone(),
                batches: table
                    .partitions
                    .get_mut(index as usize)
                    .map(std::mem::take)
                    .unwrap_or_default(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pseudonymizer;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

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

    /// A table of `n` rows: `entity` (a pseudonym of one of `entities` entities, null every
    /// `null_every`-th row) and `row` (the row's number, to follow each row).
    fn table(n: u32, entities: u32, null_every: u32) -> RecordBatch {
        let p = Pseudonymizer::new(&[3u8; 32]);
        let entity: StringArray = (0..n)
            .map(|i| (i % null_every != 0).then(|| p.pseudonym(&format!("ENT{}", i % entities))))
            .collect();
        let row = Int64Array::from_iter_values((0..n).map(i64::from));
        let schema = Arc::new(Schema::new(vec![
            Field::new("entity", DataType::Utf8, true),
            Field::new("row", DataType::Int64, false),
        ]));
        RecordBatch::try_new(schema, vec![Arc::new(entity), Arc::new(row)]).unwrap()
    }

    fn route(
        batch: &RecordBatch,
        key: &PartitionKey,
        m: u32,
        max_rows: usize,
        limit: usize,
    ) -> Result<RoutedTable, SplitError> {
        route_within(batch, key, m, max_rows, &mut ByteBudget::new(limit))
    }

    fn route_within(
        batch: &RecordBatch,
        key: &PartitionKey,
        m: u32,
        max_rows: usize,
        budget: &mut ByteBudget,
    ) -> Result<RoutedTable, SplitError> {
        let mut router =
            PartitionRouter::new("t", batch.schema(), "entity", key, m, max_rows).unwrap();
        // In pieces, as a stream would hand them over.
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = 700.min(batch.num_rows() - offset);
            router.push(&batch.slice(offset, len), budget)?;
            offset += len;
        }
        router.finish(budget)
    }

    #[test]
    fn every_row_with_an_entity_lands_in_exactly_its_entitys_partition() {
        let key = PartitionKey::from_bytes(&[4u8; 32]);
        let batch = table(5_000, 300, 7);
        let m = 8;
        let routed = route(&batch, &key, m, 256, MAX_PARTITIONED_BYTES).unwrap();
        assert_eq!(routed.rows(), 5_000);
        let nulls = (0..5_000u32).filter(|i| i % 7 == 0).count() as u64;
        assert_eq!(routed.rows_without_entity(), nulls);

        let mut seen = vec![0u32; 5_000];
        for index in 0..m {
            for part in routed.batches(index) {
                assert!(part.num_rows() <= 256, "{} rows", part.num_rows());
                assert_eq!(part.schema(), batch.schema());
                let entity = part
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap();
                let row = part
                    .column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                for i in 0..part.num_rows() {
                    assert!(!entity.is_null(i), "a null entity was routed");
                    let expected = key.partition_of_pseudonym(entity.value(i), m).unwrap();
                    assert_eq!(
                        expected,
                        index,
                        "row {} in the wrong partition",
                        row.value(i)
                    );
                    seen[row.value(i) as usize] += 1;
                }
            }
        }
        for (i, &count) in seen.iter().enumerate() {
            let expected = u32::from(i % 7 != 0);
            assert_eq!(count, expected, "row {i} routed {count} times");
        }
        let routed_rows: usize = (0..m)
            .flat_map(|index| routed.batches(index))
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(routed_rows as u64 + nulls, 5_000, "counts add up");
        assert!(routed.batches(m).is_empty());
    }

    #[test]
    fn an_entitys_rows_share_one_partition_and_partitions_are_balanced() {
        let key = PartitionKey::from_bytes(&[6u8; 32]);
        let batch = table(16_000, 4_000, u32::MAX);
        let routed = route(&batch, &key, 16, 8192, MAX_PARTITIONED_BYTES).unwrap();
        let mut home = std::collections::HashMap::new();
        for index in 0..16 {
            let mut rows = 0;
            for part in routed.batches(index) {
                rows += part.num_rows();
                let entity = part
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap();
                for value in entity.iter().flatten() {
                    let first = *home.entry(value.to_string()).or_insert(index);
                    assert_eq!(first, index, "an entity split across partitions");
                }
            }
            // 1,000 rows expected (250 entities of 4 rows); a broken hash falls far outside.
            assert!(
                (600..=1_400).contains(&rows),
                "partition {index}: {rows} rows"
            );
        }
        assert_eq!(home.len(), 4_000);
    }

    #[test]
    fn taking_a_partition_hands_over_its_rows_once() {
        let key = PartitionKey::from_bytes(&[8u8; 32]);
        let batch = table(1_000, 100, u32::MAX);
        let routed = route(&batch, &key, 4, 8192, MAX_PARTITIONED_BYTES).unwrap();
        let expected: usize = routed.batches(2).iter().map(RecordBatch::num_rows).sum();
        let mut tables = PartitionedTables::new(4, vec![routed], 0);
        let taken = tables.take(2);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].name, "t");
        let rows: usize = taken[0].batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, expected);
        assert!(tables.take(2)[0].batches.is_empty(), "taken twice");
    }

    #[test]
    fn the_byte_bound_stops_the_split_by_name() {
        let key = PartitionKey::from_bytes(&[4u8; 32]);
        let batch = table(5_000, 300, 7);
        let mut budget = ByteBudget::new(usize::MAX);
        route_within(&batch, &key, 8, 8192, &mut budget).unwrap();
        let peak = budget.peak();
        assert!(peak > 0);
        match route(&batch, &key, 8, 8192, peak / 2) {
            Err(e @ SplitError::TooLarge { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&(peak / 2).to_string()), "{text}");
                assert!(
                    text.contains("MAX_PARTITIONED_BYTES") && text.contains('t'),
                    "{text}"
                );
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(
            route(&batch, &key, 8, 8192, peak).is_ok(),
            "the peak itself fits"
        );
    }

    #[test]
    fn values_that_are_not_pseudonyms_are_refused_and_a_missing_column_is_named() {
        let key = PartitionKey::from_bytes(&[4u8; 32]);
        let schema = Arc::new(Schema::new(vec![Field::new("usci", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["91330106MA2XXXXXX1"]))],
        )
        .unwrap();
        let mut budget = ByteBudget::new(MAX_PARTITIONED_BYTES);
        let mut router =
            PartitionRouter::new("tax", schema.clone(), "usci", &key, 4, 8192).unwrap();
        assert!(matches!(
            router.push(&batch, &mut budget),
            Err(SplitError::NotPseudonymized { .. })
        ));
        let missing = PartitionRouter::new("tax", schema, "citizen_id", &key, 4, 8192)
            .err()
            .expect("refused");
        assert!(
            missing
                .to_string()
                .contains("tax does not grant citizen_id"),
            "{missing}"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = PartitionKey::from_bytes(&[0xCD; 32]);
        assert!(!format!("{key:?}").to_lowercase().contains("cdcd"));
    }
}
