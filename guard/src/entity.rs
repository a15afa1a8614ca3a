//! Contributions of one entity run (`release_entities`, docs/abi.md "Entity contributions").
//!
//! An entity run hands over rows without an entity column: the host knows whose they are. This
//! module checks each chunk on its own, keeps at most `L` rows per entity, drops rows outside a
//! declared domain, and builds the batches ([`EntityBatches`]) the [`ReleaseBuilder`] then takes
//! with the entity's pseudonym added. Nothing here can block the release: a chunk that does not
//! fit is refused to the run that sent it (and the run then contributes nothing), so whether a
//! release is blocked never depends on what one entity's run did.
//!
//! [`ReleaseBuilder`]: super::ReleaseBuilder

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int64Array, StringArray, StringBuilder,
};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamDecoder;
use arrow::record_batch::RecordBatch;

use super::contract::{ReleaseContract, ENTITY_COLUMN};
use super::{ipc_check, schema};

/// Rows of one batch handed to the release builder.
const BATCH_ROWS: usize = 8_192;

/// One contribution row: its key (one value per dimension) and its measures.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow {
    /// Dimension values, in contract order.
    pub key: Vec<Option<String>>,
    /// Measure values (integers widened), in contract order.
    pub values: Vec<Option<f64>>,
}

/// What the checks of one entity's chunks dropped (for the audit log only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityDrops {
    /// Rows beyond the contract's `max_rows_per_entity`.
    pub beyond_bound: u64,
    /// Rows with a dimension value outside its declared domain.
    pub outside_domain: u64,
}

/// The checks a release's entity chunks go through, built once per release.
#[derive(Debug)]
pub struct EntityChunkCheck {
    contract: Arc<ReleaseContract>,
    /// Per dimension, its declared domain (if any).
    domains: Vec<Option<HashSet<String>>>,
    /// The contract's dimension and measure names, which a chunk of contribution rows names.
    names: (Vec<String>, Vec<String>),
}

impl EntityChunkCheck {
    /// The checks of `contract`'s chunks.
    pub fn new(contract: Arc<ReleaseContract>) -> Self {
        let domains = contract
            .dimensions
            .iter()
            .map(|d| d.values.as_ref().map(|v| v.iter().cloned().collect()))
            .collect();
        let names = (
            contract.dimensions.iter().map(|d| d.name.clone()).collect(),
            contract.measures.iter().map(|m| m.name.clone()).collect(),
        );
        Self {
            contract,
            domains,
            names,
        }
    }

    /// The contract the chunks are checked against.
    pub fn contract(&self) -> &Arc<ReleaseContract> {
        &self.contract
    }

    /// Decodes one chunk (Arrow IPC, `contribute`) and appends its rows to `rows`, up to `L`
    /// rows in all.
    ///
    /// # Errors
    /// A message naming what does not fit (never a value from the chunk); `rows` is then
    /// unchanged.
    pub fn append(
        &self,
        chunk: &[u8],
        rows: &mut Vec<EntityRow>,
        drops: &mut EntityDrops,
    ) -> Result<(), String> {
        // Before arrow sees a byte: see `ipc_check`.
        ipc_check::check(chunk).map_err(|r| r.to_string())?;
        let mut sieve = Sieve::new(self, rows.len());
        catch_unwind(AssertUnwindSafe(|| self.decode(chunk, &mut sieve)))
            .unwrap_or_else(|_| Err("the chunk could not be decoded".to_string()))?;
        sieve.into(rows, drops);
        Ok(())
    }

    /// [`EntityChunkCheck::append`] for a chunk of contribution rows (`contribute_rows`,
    /// `shuyu_abi::rows`): the same rows and rules without Arrow around them.
    ///
    /// # Errors
    /// As [`EntityChunkCheck::append`].
    pub fn append_rows(
        &self,
        chunk: &[u8],
        rows: &mut Vec<EntityRow>,
        drops: &mut EntityDrops,
    ) -> Result<(), String> {
        let (dimensions, measures) = &self.names;
        let parsed =
            shuyu_abi::rows::parse(chunk, dimensions, measures).map_err(|e| e.to_string())?;
        // Read twice: once to refuse a bad chunk whole before anything is kept, then to keep
        // rows, so that only the rows kept (at most L) are ever copied, whatever the chunk's size.
        if let Some(Err(e)) = parsed.clone().find(Result::is_err) {
            return Err(e.to_string());
        }
        let mut sieve = Sieve::new(self, rows.len());
        for row in parsed.flatten() {
            sieve.offer(&row.dimensions, || Some(row.measures));
        }
        sieve.into(rows, drops);
        Ok(())
    }

    /// Whether every dimension value of a row is inside its declared domain, if it has one.
    fn inside_domains(&self, key: &[Option<&str>]) -> bool {
        self.domains
            .iter()
            .zip(key)
            .all(|(domain, value)| match domain {
                None => true,
                Some(domain) => value.is_some_and(|v| domain.contains(v)),
            })
    }

    fn decode(&self, chunk: &[u8], sieve: &mut Sieve<'_>) -> Result<(), String> {
        let mut decoder = StreamDecoder::new();
        let mut buffer = Buffer::from(chunk);
        let mut checked = false;
        while !buffer.is_empty() {
            let batch = decoder
                .decode(&mut buffer)
                .map_err(|_| "the chunk is not a valid Arrow IPC stream".to_string())?;
            if !checked {
                if let Some(schema) = decoder.schema() {
                    self.check_schema(&schema)?;
                    checked = true;
                }
            }
            if let Some(batch) = batch {
                self.read(&batch, sieve)?;
            }
        }
        decoder
            .finish()
            .map_err(|_| "the chunk ends inside a message".to_string())?;
        if !checked {
            return Err("the chunk has no schema".into());
        }
        Ok(())
    }

    /// The contract's schema without the entity column: checked as the full one with the
    /// entity column the host adds.
    fn check_schema(&self, schema: &Schema) -> Result<(), String> {
        let mut fields = vec![Arc::new(Field::new(ENTITY_COLUMN, DataType::Utf8, false))];
        fields.extend(schema.fields().iter().cloned());
        schema::check(&self.contract, &Schema::new(fields), None).map(|_| ())
    }

    /// Offers each row of a batch whose schema was checked to `sieve`.
    fn read(&self, batch: &RecordBatch, sieve: &mut Sieve<'_>) -> Result<(), String> {
        let n = batch.num_rows();
        let dimensions = self.contract.dimensions.len();
        let columns = batch.columns();
        let strings: Vec<&StringArray> = columns[..dimensions]
            .iter()
            .map(|c| c.as_any().downcast_ref::<StringArray>())
            .collect::<Option<_>>()
            .ok_or("a dimension column is not Utf8")?;
        let measures = &columns[dimensions..];
        if measures
            .iter()
            .any(|m| !matches!(m.data_type(), DataType::Float64 | DataType::Int64))
        {
            return Err("a measure column is neither Float64 nor Int64".into());
        }
        let mut key: Vec<Option<&str>> = Vec::with_capacity(dimensions);
        for row in 0..n {
            key.clear();
            key.extend(
                strings
                    .iter()
                    .map(|s| s.is_valid(row).then(|| s.value(row))),
            );
            sieve.offer(&key, || measures.iter().map(|m| measure(m, row)).collect());
        }
        Ok(())
    }
}

/// Where a chunk's rows go while it is read: the first rows inside the declared domains, up to
/// the entity's room left under `L`, are copied; the others are only counted. A chunk of any
/// size thus costs the host at most `L` rows, and nothing reaches the entity's rows until the
/// whole chunk was read ([`Sieve::into`]).
struct Sieve<'a> {
    check: &'a EntityChunkCheck,
    room: usize,
    kept: Vec<EntityRow>,
    drops: EntityDrops,
}

impl<'a> Sieve<'a> {
    /// A sieve for an entity that already has `held` rows.
    fn new(check: &'a EntityChunkCheck, held: usize) -> Self {
        Sieve {
            check,
            room: (check.contract.max_rows_per_entity as usize).saturating_sub(held),
            kept: Vec::new(),
            drops: EntityDrops::default(),
        }
    }

    /// One row, its measures made only if it is kept (`None` from `values`: a measure column of
    /// another type, which the schema check has already refused).
    fn offer(&mut self, key: &[Option<&str>], values: impl FnOnce() -> Option<Vec<Option<f64>>>) {
        if !self.check.inside_domains(key) {
            self.drops.outside_domain += 1;
        } else if self.kept.len() < self.room {
            if let Some(values) = values() {
                self.kept.push(EntityRow {
                    key: key.iter().map(|k| k.map(str::to_string)).collect(),
                    values,
                });
            }
        } else {
            self.drops.beyond_bound += 1;
        }
    }

    /// Hands the kept rows and the counts to the entity's.
    fn into(self, rows: &mut Vec<EntityRow>, drops: &mut EntityDrops) {
        rows.extend(self.kept);
        drops.beyond_bound += self.drops.beyond_bound;
        drops.outside_domain += self.drops.outside_domain;
    }
}

/// A measure's value at `row`: `Some(None)` for a null, `None` for a column of another type.
fn measure(column: &ArrayRef, row: usize) -> Option<Option<f64>> {
    let any = column.as_any();
    if let Some(values) = any.downcast_ref::<Float64Array>() {
        return Some(values.is_valid(row).then(|| values.value(row)));
    }
    // Widening may round beyond 2^53; the guard clamps afterwards, so only precision is lost.
    any.downcast_ref::<Int64Array>()
        .map(|values| values.is_valid(row).then(|| values.value(row) as f64))
}

/// Accumulates entities' checked rows, with their pseudonyms, into batches of the contract's
/// full contribution schema (entity, dimensions, measures as Float64).
pub struct EntityBatches {
    schema: SchemaRef,
    entity: StringBuilder,
    dimensions: Vec<StringBuilder>,
    measures: Vec<Float64Builder>,
    rows: usize,
    done: Vec<RecordBatch>,
}

impl EntityBatches {
    /// Empty batches for `contract`.
    pub fn new(contract: &ReleaseContract) -> Self {
        let mut fields = vec![Field::new(ENTITY_COLUMN, DataType::Utf8, false)];
        fields.extend(
            contract
                .dimensions
                .iter()
                .map(|d| Field::new(&d.name, DataType::Utf8, true)),
        );
        fields.extend(
            contract
                .measures
                .iter()
                .map(|m| Field::new(&m.name, DataType::Float64, true)),
        );
        Self {
            schema: Arc::new(Schema::new(fields)),
            entity: StringBuilder::new(),
            dimensions: contract
                .dimensions
                .iter()
                .map(|_| StringBuilder::new())
                .collect(),
            measures: contract
                .measures
                .iter()
                .map(|_| Float64Builder::new())
                .collect(),
            rows: 0,
            done: Vec::new(),
        }
    }

    /// Adds one entity's rows.
    ///
    /// # Errors
    /// Only if arrow cannot build a batch (a bug): the caller treats it as a host failure.
    pub fn push(&mut self, entity: &str, rows: &[EntityRow]) -> Result<(), String> {
        for row in rows {
            self.entity.append_value(entity);
            for (builder, value) in self.dimensions.iter_mut().zip(&row.key) {
                builder.append_option(value.as_deref());
            }
            for (builder, value) in self.measures.iter_mut().zip(&row.values) {
                builder.append_option(*value);
            }
            self.rows += 1;
            if self.rows >= BATCH_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.entity.finish())];
        columns.extend(
            self.dimensions
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend(
            self.measures
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())?;
        self.done.push(batch);
        self.rows = 0;
        Ok(())
    }

    /// Every batch, the last partial one included.
    ///
    /// # Errors
    /// As [`EntityBatches::push`].
    pub fn finish(mut self) -> Result<Vec<RecordBatch>, String> {
        self.flush()?;
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::tests::sample;
    use arrow::ipc::writer::StreamWriter;

    /// A chunk of (district, capital, staff) rows, without an entity column.
    fn chunk(rows: &[(Option<&str>, Option<f64>, Option<i64>)]) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("district", DataType::Utf8, true),
            Field::new("capital", DataType::Float64, true),
            Field::new("staff", DataType::Int64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.1).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
        ];
        stream(RecordBatch::try_new(schema, columns).expect("batch"))
    }

    fn stream(batch: RecordBatch) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema()).expect("writer");
        writer.write(&batch).expect("write");
        writer.finish().expect("finish");
        drop(writer);
        bytes
    }

    fn check(max_rows: u32, domain: Option<&[&str]>) -> EntityChunkCheck {
        let mut contract = sample();
        contract.max_rows_per_entity = max_rows;
        contract.dimensions[0].values = domain.map(|d| d.iter().map(|v| v.to_string()).collect());
        EntityChunkCheck::new(Arc::new(contract))
    }

    #[test]
    fn keeps_at_most_l_rows_over_all_chunks_and_widens_integers() {
        let check = check(2, None);
        let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
        let one = chunk(&[(Some("a"), Some(1.5), Some(3))]);
        check
            .append(&one, &mut rows, &mut drops)
            .expect("first chunk");
        let two = chunk(&[(Some("b"), None, Some(4)), (Some("c"), Some(9.0), None)]);
        check
            .append(&two, &mut rows, &mut drops)
            .expect("second chunk");
        assert_eq!(
            rows,
            vec![
                EntityRow {
                    key: vec![Some("a".into())],
                    values: vec![Some(1.5), Some(3.0)]
                },
                EntityRow {
                    key: vec![Some("b".into())],
                    values: vec![None, Some(4.0)]
                },
            ]
        );
        assert_eq!(
            drops,
            EntityDrops {
                beyond_bound: 1,
                outside_domain: 0
            }
        );
    }

    #[test]
    fn rows_outside_a_declared_domain_are_dropped_not_blocking() {
        let check = check(5, Some(&["a", "b"]));
        let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
        let mixed = chunk(&[
            (Some("a"), Some(1.0), Some(1)),
            (Some("1406717"), Some(2.0), Some(2)),
            (None, Some(3.0), Some(3)),
            (Some("b"), Some(4.0), Some(4)),
        ]);
        check
            .append(&mixed, &mut rows, &mut drops)
            .expect("accepted");
        let keys: Vec<_> = rows.iter().map(|r| r.key[0].clone()).collect();
        assert_eq!(keys, vec![Some("a".to_string()), Some("b".to_string())]);
        assert_eq!(drops.outside_domain, 2);
    }

    #[test]
    fn a_chunk_that_does_not_fit_is_refused_whole_and_names_no_value() {
        let check = check(5, None);
        let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
        // An entity column is not part of an entity run's chunk.
        let schema = Arc::new(Schema::new(vec![
            Field::new("entity", DataType::Utf8, true),
            Field::new("district", DataType::Utf8, true),
            Field::new("capital", DataType::Float64, true),
            Field::new("staff", DataType::Int64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["SECRET-1406717"])),
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(Int64Array::from(vec![1])),
        ];
        let bytes = stream(RecordBatch::try_new(schema, columns).expect("batch"));
        let message = check.append(&bytes, &mut rows, &mut drops).unwrap_err();
        assert!(message.contains("column"), "{message}");
        assert!(!message.contains("1406717"), "{message}");
        for garbage in [
            &b""[..],
            b"\xff\xff\xff\xff\x10\x00\x00\x00garbage",
            &bytes[..bytes.len() / 2],
        ] {
            assert!(check.append(garbage, &mut rows, &mut drops).is_err());
        }
        assert!(rows.is_empty());
        assert_eq!(drops, EntityDrops::default());
    }

    /// The same (district, capital, staff) rows as contribution rows.
    fn rows_chunk(rows: &[(Option<&str>, Option<f64>, Option<i64>)]) -> Vec<u8> {
        let mut e =
            shuyu_abi::rows::Encoder::new(&["district"], &["capital", "staff"]).expect("names fit");
        for (district, capital, staff) in rows {
            assert!(e.push(&[*district], &[*capital, staff.map(|s| s as f64)]));
        }
        e.bytes().to_vec()
    }

    #[test]
    fn contribution_rows_are_kept_dropped_and_bounded_as_the_same_rows_in_ipc() {
        let check = check(3, Some(&["a", "b"]));
        let chunks = [
            vec![
                (Some("a"), Some(1.5), Some(3)),
                (Some("zz"), Some(2.0), None),
            ],
            vec![
                (None, None, Some(4)),
                (Some("b"), None, None),
                (Some("a"), Some(f64::INFINITY), Some(1)),
                (Some("b"), Some(7.0), Some(2)),
            ],
        ];
        let (mut ipc_rows, mut ipc_drops) = (Vec::new(), EntityDrops::default());
        let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
        for c in &chunks {
            check
                .append(&chunk(c), &mut ipc_rows, &mut ipc_drops)
                .expect("ipc");
            check
                .append_rows(&rows_chunk(c), &mut rows, &mut drops)
                .expect("rows");
        }
        assert_eq!(rows, ipc_rows);
        assert_eq!(drops, ipc_drops);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            drops,
            EntityDrops {
                beyond_bound: 1,
                outside_domain: 2
            }
        );
    }

    #[test]
    fn a_chunk_of_rows_that_does_not_fit_is_refused_whole_and_names_no_value() {
        let check = check(5, None);
        let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
        // An entity column first, as a main run's chunk would have it.
        let mut e = shuyu_abi::rows::Encoder::new(&["entity", "district"], &["capital", "staff"])
            .expect("names fit");
        assert!(e.push(&[Some("SECRET-1406717"), Some("a")], &[Some(1.0), None]));
        let message = check
            .append_rows(e.bytes(), &mut rows, &mut drops)
            .unwrap_err();
        assert!(message.contains("dimensions"), "{message}");
        assert!(!message.contains("1406717"), "{message}");
        let valid = rows_chunk(&[(Some("a"), Some(1.0), Some(1)), (Some("b"), None, None)]);
        let mut trailing = valid.clone();
        trailing.extend_from_slice(b"1406717");
        for bad in [&b""[..], &valid[..valid.len() - 1], &trailing, &chunk(&[])] {
            let message = check.append_rows(bad, &mut rows, &mut drops).unwrap_err();
            assert!(!message.contains("1406717"), "{message}");
        }
        assert!(rows.is_empty(), "a refused chunk keeps none of its rows");
        assert_eq!(drops, EntityDrops::default());
        check
            .append_rows(&valid, &mut rows, &mut drops)
            .expect("valid");
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn a_large_chunk_keeps_l_rows_and_counts_the_rest_refused_whole_if_its_end_is_bad() {
        let check = check(2, Some(&["a"]));
        let many: Vec<(Option<&str>, Option<f64>, Option<i64>)> = (0..50_000)
            .map(|i| (Some(if i % 5 == 0 { "b" } else { "a" }), Some(1.0), None))
            .collect();
        for rows_encoding in [false, true] {
            let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
            let bytes = if rows_encoding {
                rows_chunk(&many)
            } else {
                chunk(&many)
            };
            let append = |bytes: &[u8], rows: &mut Vec<EntityRow>, drops: &mut EntityDrops| {
                if rows_encoding {
                    check.append_rows(bytes, rows, drops)
                } else {
                    check.append(bytes, rows, drops)
                }
            };
            append(&bytes[..bytes.len() - 1], &mut rows, &mut drops).expect_err("cut short");
            assert!(rows.is_empty(), "nothing of a refused chunk is kept");
            assert_eq!(drops, EntityDrops::default());
            append(&bytes, &mut rows, &mut drops).expect("accepted");
            assert_eq!(rows.len(), 2);
            assert_eq!(
                drops,
                EntityDrops {
                    beyond_bound: 39_998,
                    outside_domain: 10_000
                }
            );
        }
    }

    #[test]
    fn batches_carry_the_entity_and_the_full_contract_schema() {
        let contract = sample();
        let mut batches = EntityBatches::new(&contract);
        let rows = vec![
            EntityRow {
                key: vec![Some("a".into())],
                values: vec![Some(1.0), None],
            },
            EntityRow {
                key: vec![None],
                values: vec![None, Some(2.0)],
            },
        ];
        batches.push("00ff", &rows).expect("push");
        batches.push("11ee", &rows[..1]).expect("push");
        let done = batches.finish().expect("finish");
        assert_eq!(done.len(), 1);
        let batch = &done[0];
        assert_eq!(batch.num_rows(), 3);
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["entity", "district", "capital", "staff"]);
        schema::check(&contract, &batch.schema(), None).expect("the guard's schema");
        let entities = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        assert_eq!((entities.value(0), entities.value(2)), ("00ff", "11ee"));
    }
}
