//! Every granted view's rows grouped by entity: what per-entity releases hand each entity run
//! and what services answer a subject from (docs/abi.md, "Entity contributions" and "Answer
//! runs").
//!
//! The views are read once, through the same session a job's queries use (granted columns,
//! identifiers as pseudonyms, except the entity column, read raw so that each entity is
//! pseudonymized once: `EngineSession::scan_by_entity`), and each table's rows are ordered by
//! owning entity, so that one entity's rows are a slice. The entity column itself is not kept: every row of an entity
//! holds the same pseudonym, so a slice gets it back from the entity's key, and the grouped
//! copy does not carry a 32-byte string per row (most of its bytes in a table like
//! `tax_payments`, whose other granted column is one number).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;

use crate::engine::{ipc, table, EngineSession, EntityKeys, EntityValues};
use crate::governance::ApprovedScenario;
use crate::sandbox::{CallError, ErrorCode, Fault, LimitKind};

/// Bytes of granted rows a per-entity release may hold in host memory while it runs (the
/// grouped copy of every granted view). Past it the job ends with `limit:memory`.
pub(crate) const MAX_GROUPED_BYTES: usize = 1 << 30;

/// One granted view, its rows ordered by entity.
pub(crate) struct EntityTable {
    pub(crate) name: String,
    /// The view's rows ordered by entity, without the entity column.
    rows: RecordBatch,
    /// What one entity's rows look like: the columns of `rows` with the entity column put
    /// back at `entity_at`.
    schema: SchemaRef,
    /// Where the entity column goes back (`None` for a table with no rows, whose schema is
    /// empty).
    entity_at: Option<usize>,
    /// Encodes slices of `rows` with the schema message made once.
    pub(crate) encoder: ipc::StreamEncoder,
    /// The table encoding's headers for one entity's rows, when every column fits the
    /// encoding (`entity_table`).
    heads: Option<table::Heads>,
    /// Entity `e`'s rows are `offsets[e]..offsets[e + 1]`.
    offsets: Vec<u32>,
}

/// Every granted view's rows, grouped by entity.
pub(crate) struct EntityTables {
    pub(crate) tables: Vec<EntityTable>,
    /// Each entity's pseudonym, by entity index.
    pub(crate) keys: Vec<Arc<str>>,
    /// Each entity's raw identifier and pseudonym, by entity index, for the identifier
    /// universe (every value of every entity column: the views carry every row). Taken by the
    /// first user; `None` when there were no tables.
    pub(crate) values: Option<EntityValues>,
}

impl EntityTable {
    /// Whether an entity's rows can be staged in the table encoding (`entity_table`).
    pub(crate) fn compact(&self) -> bool {
        self.heads.is_some()
    }

    /// Where entity `e`'s rows are in `rows`.
    fn range(&self, entity: usize) -> std::ops::Range<usize> {
        self.offsets[entity] as usize..self.offsets[entity + 1] as usize
    }
}

/// How an entity's rows of a table are staged for a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Staging {
    /// An Arrow IPC stream (`entity_rows`).
    Ipc,
    /// The table encoding (`entity_table`).
    Table,
}

impl EntityTables {
    /// The index of the granted table `name`, for `call` staging it as `staging`:
    /// `QUERY_REJECTED` for a table the scenario does not grant (the message ends with
    /// `not_granted`, a hint of the caller's), `NOT_AVAILABLE` for the table encoding of a table
    /// it cannot carry.
    pub(crate) fn find(
        &self,
        call: &str,
        name: &str,
        staging: Staging,
        not_granted: &str,
    ) -> Result<usize, CallError> {
        let Some(t) = self.tables.iter().position(|t| t.name == name) else {
            return Err(CallError::code(
                ErrorCode::QueryRejected,
                format!("{call}: the scenario grants no table named '{name}'{not_granted}"),
            ));
        };
        if staging == Staging::Table && !self.tables[t].compact() {
            return Err(CallError::code(
                ErrorCode::NotAvailable,
                format!(
                    "entity_table: '{name}' has a column of a type the table encoding does not \
                     carry; read it with entity_rows"
                ),
            ));
        }
        Ok(t)
    }

    /// Entity `e`'s rows of table `t`, staged as `staging` says ([`EntityTables::find`] checked
    /// that the table encoding carries the table).
    ///
    /// # Errors
    /// Only if the grouped table disagrees with its own schema or headers (a bug).
    pub(crate) fn stage(
        &self,
        table: usize,
        entity: usize,
        staging: Staging,
    ) -> Result<Vec<u8>, String> {
        match staging {
            Staging::Ipc => {
                let rows = self.slice(table, entity)?;
                self.tables[table]
                    .encoder
                    .encode(&rows)
                    .map_err(|e| format!("cannot encode a batch: {e}"))
            }
            Staging::Table => self.encode_table(table, entity)?.ok_or_else(|| {
                format!(
                    "{}: cannot encode an entity's rows as a table",
                    self.tables[table].name
                )
            }),
        }
    }

    /// Number of entities.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Rows entity `e` has over all tables.
    pub(crate) fn rows_of(&self, entity: usize) -> u64 {
        self.tables
            .iter()
            .map(|t| t.range(entity).len() as u64)
            .sum()
    }

    /// Rows entity `e` has in table `t`.
    pub(crate) fn rows_in(&self, table: usize, entity: usize) -> usize {
        self.tables[table].range(entity).len()
    }

    /// Entity `e`'s rows of table `t` in the table encoding (`entity_table`), written from the
    /// grouped columns with the entity's key in the entity column's place. `None` when the
    /// table has a column the encoding does not carry.
    ///
    /// # Errors
    /// Only if the grouped table disagrees with its own headers (a bug; the message says so).
    pub(crate) fn encode_table(
        &self,
        table: usize,
        entity: usize,
    ) -> Result<Option<Vec<u8>>, String> {
        let t = &self.tables[table];
        let Some(heads) = &t.heads else {
            return Ok(None);
        };
        let keyed = t.entity_at.map(|at| (at, &*self.keys[entity]));
        table::encode_rows(heads, t.rows.columns(), keyed, t.range(entity))
            .map(Some)
            .ok_or_else(|| format!("{}: an entity's rows do not fit the table encoding", t.name))
    }

    /// Entity `e`'s rows of table `t`: a zero-copy slice of every column but the entity's,
    /// which is the entity's key repeated.
    ///
    /// # Errors
    /// Only if the grouped table disagrees with its own schema (a bug; the message says so).
    pub(crate) fn slice(&self, table: usize, entity: usize) -> Result<RecordBatch, String> {
        let t = &self.tables[table];
        let range = t.range(entity);
        let rows = range.len();
        let kept = t.rows.slice(range.start, rows);
        let Some(at) = t.entity_at else {
            return Ok(kept);
        };
        let mut columns: Vec<ArrayRef> = kept.columns().to_vec();
        let key: &str = &self.keys[entity];
        columns.insert(
            at,
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                key, rows,
            ))),
        );
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(t.schema.clone(), columns, &options)
            .map_err(|e| format!("{}: an entity's rows do not fit the table: {e}", t.name))
    }
}

/// Entities met so far, by raw identifier; an entity's index is the order the scan met it in.
#[derive(Default)]
struct Owners {
    by_raw: HashMap<Box<str>, u32>,
}

impl Owners {
    /// The entity of the raw identifier `value`, added if new; `None` past `u32::MAX - 1`
    /// entities.
    fn of(&mut self, value: &str) -> Option<u32> {
        if let Some(&owner) = self.by_raw.get(value) {
            return Some(owner);
        }
        let owner = u32::try_from(self.by_raw.len())
            .ok()
            .filter(|&o| o < u32::MAX)?;
        self.by_raw.insert(Box::from(value), owner);
        Some(owner)
    }

    /// Every entity's raw identifier and pseudonym, by index, the pseudonyms made on
    /// `threads` threads (one HMAC per entity, once all tables are read).
    fn values(self, keys: &EntityKeys, threads: usize) -> EntityValues {
        let mut raw: Vec<Box<str>> = vec![Box::from(""); self.by_raw.len()];
        for (value, owner) in self.by_raw {
            if let Some(slot) = raw.get_mut(owner as usize) {
                *slot = value;
            }
        }
        keys.values(raw, threads)
    }
}

/// Reads every granted view once and groups its rows by the pseudonym in its entity column.
///
/// # Errors
/// A message for the audit log (engine failures can quote data), or the fault to end the job
/// with (`limit:memory` past `max_bytes` of scanned rows; jobs allow [`MAX_GROUPED_BYTES`]).
pub(crate) async fn group(
    scenario: &ApprovedScenario,
    session: &EngineSession,
    max_bytes: usize,
) -> Result<EntityTables, Result<String, Fault>> {
    let mut owners_of = Owners::default();
    let mut keys_of = None;
    let mut raw: Vec<(String, Vec<RecordBatch>, Vec<u32>, usize)> = Vec::new();
    let mut bytes = 0usize;
    for dataset in &scenario.datasets {
        let entity_column = dataset.manifest.dataset.entity_column.as_str();
        let scan = session
            .scan_by_entity(dataset.name())
            .await
            .map_err(|e| Ok(e.to_string()))?;
        let not_granted = || {
            Ok(format!(
                "{}: the entity column {entity_column} is not a granted Utf8 column",
                dataset.name()
            ))
        };
        let entity_at = scan
            .stream
            .schema()
            .index_of(entity_column)
            .map_err(|_| not_granted())?;
        let mut stream = scan.stream;
        // One scenario, one key: every table's scan turns raw identifiers into the same keys.
        keys_of.get_or_insert(scan.keys);
        let mut batches = Vec::new();
        let mut owners = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Ok(format!("{}: {e}", dataset.name())))?;
            bytes = bytes.saturating_add(batch.get_array_memory_size());
            if bytes > max_bytes {
                return Err(Err(Fault::Limit(LimitKind::Memory)));
            }
            let Some(entities) = batch
                .columns()
                .get(entity_at)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            else {
                return Err(not_granted());
            };
            // Tables are often stored by entity (a tax table repeats each code a dozen times
            // in a row), so the previous row's owner saves most lookups.
            let mut previous: Option<(&str, u32)> = None;
            for row in 0..entities.len() {
                // A row without an entity belongs to no entity, hence to no run.
                if entities.is_null(row) {
                    owners.push(u32::MAX);
                    continue;
                }
                let value = entities.value(row);
                if let Some((last, owner)) = previous {
                    if last == value {
                        owners.push(owner);
                        continue;
                    }
                }
                let owner = owners_of
                    .of(value)
                    .ok_or(Err(Fault::Limit(LimitKind::Entities)))?;
                previous = Some((value, owner));
                owners.push(owner);
            }
            batches.push(batch);
        }
        raw.push((dataset.name().to_string(), batches, owners, entity_at));
    }
    let entities = owners_of.by_raw.len();
    // The keys' HMACs need the raw values only, the ordering only how many entities there are:
    // one is made beside the other.
    let threads = crate::sandbox::entity_workers().saturating_sub(1).max(1);
    let (made, tables) = std::thread::scope(|scope| {
        let made = keys_of.map(|keys_of| {
            scope.spawn(move || {
                let values = owners_of.values(&keys_of, threads);
                let keys = values.keys();
                (values, keys)
            })
        });
        let tables = raw
            .into_iter()
            .map(|(name, batches, owners, entity_at)| {
                sort_by_owner(name, &batches, &owners, entities, entity_at)
            })
            .collect::<Result<Vec<_>, String>>();
        let made = made
            .map(|made| made.join())
            .transpose()
            .map_err(|_| "a thread making entity keys panicked".to_string());
        (made, tables)
    });
    let (made, tables) = (made.map_err(Ok)?, tables.map_err(Ok)?);
    let (values, keys) = match made {
        Some((values, keys)) => (Some(values), keys),
        None => (None, Vec::new()),
    };
    Ok(EntityTables {
        tables,
        keys,
        values,
    })
}

/// Orders a table's rows by owning entity (a counting sort, stable within an entity), leaving
/// out the entity column (column `entity_at` of every batch), and records where each entity's
/// rows start.
fn sort_by_owner(
    name: String,
    batches: &[RecordBatch],
    owners: &[u32],
    entities: usize,
    entity_at: usize,
) -> Result<EntityTable, String> {
    let mut offsets = vec![0u32; entities + 1];
    for &owner in owners.iter().filter(|&&o| o != u32::MAX) {
        offsets[owner as usize + 1] += 1;
    }
    for e in 0..entities {
        offsets[e + 1] += offsets[e];
    }
    let mut next: Vec<u32> = offsets[..entities].to_vec();
    let mut order = vec![(0usize, 0usize); offsets[entities] as usize];
    let mut owner_of = owners.iter();
    for (b, batch) in batches.iter().enumerate() {
        for row in 0..batch.num_rows() {
            let Some(&owner) = owner_of.next() else {
                return Err(format!("{name}: rows and owners disagree"));
            };
            if owner == u32::MAX {
                continue;
            }
            let slot = &mut next[owner as usize];
            order[*slot as usize] = (b, row);
            *slot += 1;
        }
    }
    if batches.is_empty() {
        let empty = Arc::new(Schema::empty());
        return Ok(EntityTable {
            name,
            encoder: ipc::StreamEncoder::new(&empty).map_err(|e| e.to_string())?,
            heads: table::Heads::of(&empty),
            rows: RecordBatch::new_empty(empty.clone()),
            schema: empty,
            entity_at: None,
            offsets,
        });
    }
    // Once for the table, not once per entity: every slice is then already in the ABI's types.
    let batches = batches
        .iter()
        .map(ipc::normalize)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{name}: {e}"))?;
    let scanned = batches[0].schema();
    let Some(entity) = scanned.fields().get(entity_at) else {
        return Err(format!("{name}: the entity column is not in the rows"));
    };
    // As the view gives it: a pseudonym column is nullable, whatever the raw column was.
    let entity = Arc::new(Field::new(entity.name(), DataType::Utf8, true));
    let schema: SchemaRef = Arc::new(Schema::new(
        scanned
            .fields()
            .iter()
            .enumerate()
            .map(|(c, f)| {
                if c == entity_at {
                    entity.clone()
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>(),
    ));
    let mut fields = Vec::with_capacity(schema.fields().len() - 1);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len() - 1);
    for (c, field) in schema.fields().iter().enumerate() {
        if c == entity_at {
            continue;
        }
        let values: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
        columns.push(
            arrow::compute::interleave(&values, &order)
                .map_err(|e| format!("{name}: cannot order rows by entity: {e}"))?,
        );
        fields.push(field.clone());
    }
    let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
    let rows = RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
        .map_err(|e| format!("{name}: {e}"))?;
    let encoder = ipc::StreamEncoder::new(&schema).map_err(|e| format!("{name}: {e}"))?;
    let heads = table::Heads::of(&schema);
    Ok(EntityTable {
        name,
        rows,
        schema,
        entity_at: Some(entity_at),
        encoder,
        heads,
        offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array};
    use arrow::datatypes::{DataType, Field};

    /// A batch of (v, e): `v` tells where a row came from, `e` is its entity column as scanned.
    fn batch(values: &[i32], entities: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Int32, false),
            Field::new("e", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(values.to_vec())),
                Arc::new(StringArray::from(entities.to_vec())),
            ],
        )
        .expect("batch")
    }

    fn values(batch: &RecordBatch) -> Vec<i64> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("normalized to i64");
        column.values().to_vec()
    }

    fn entities(batch: &RecordBatch) -> Vec<&str> {
        let column = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        column.iter().map(|v| v.expect("no null")).collect()
    }

    #[test]
    fn rows_are_ordered_by_owner_across_batches_and_ownerless_rows_dropped() {
        let batches = [
            batch(&[10, 11, 12], &["c", "a", ""]),
            batch(&[13, 14], &["c", "a"]),
        ];
        // Owners 0..3 (a, b, c), u32::MAX for "no entity".
        let owners = [2, 0, u32::MAX, 2, 0];
        let table = sort_by_owner("t".into(), &batches, &owners, 3, 1).expect("sorted");
        assert_eq!(table.offsets, vec![0, 2, 2, 4]);
        assert_eq!(table.rows.num_columns(), 1, "the entity column is not kept");
        let tables = EntityTables {
            tables: vec![table],
            keys: vec!["a".into(), "b".into(), "c".into()],
            values: None,
        };
        let a = tables.slice(0, 0).expect("a");
        assert_eq!(values(&a), vec![11, 14]);
        assert_eq!(
            entities(&a),
            vec!["a", "a"],
            "the key comes back in its place"
        );
        assert_eq!(a.schema().field(1).name(), "e");
        assert!(
            a.schema().field(1).is_nullable(),
            "nullable, as the view's pseudonyms are"
        );
        let b = tables.slice(0, 1).expect("b");
        assert_eq!(b.num_rows(), 0, "an entity without rows here");
        assert_eq!(b.num_columns(), 2);
        let c = tables.slice(0, 2).expect("c");
        assert_eq!(values(&c), vec![10, 13]);
        assert_eq!(entities(&c), vec!["c", "c"]);
        assert_eq!(
            (tables.rows_of(0), tables.rows_of(1), tables.rows_of(2)),
            (2, 0, 2)
        );
        for entity in 0..3 {
            let slice = tables.slice(0, entity).expect("slice");
            assert_eq!(tables.rows_in(0, entity), slice.num_rows());
            assert_eq!(
                tables.encode_table(0, entity).expect("encodes"),
                table::encode(&slice),
                "entity {entity}: the table encoding written from the grouped columns is the \
                 slice's"
            );
        }
    }

    #[test]
    fn a_table_of_the_entity_column_alone_keeps_its_row_counts() {
        let schema = Arc::new(Schema::new(vec![Field::new("e", DataType::Utf8, false)]));
        let only = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec!["b", "a", "b"]))],
        )
        .expect("batch");
        let table = sort_by_owner("t".into(), &[only], &[0, 1, 0], 2, 0).expect("sorted");
        let tables = EntityTables {
            tables: vec![table],
            keys: vec!["b".into(), "a".into()],
            values: None,
        };
        let b = tables.slice(0, 0).expect("b");
        assert_eq!(b.num_rows(), 2);
        let column = b
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        assert_eq!(
            column.iter().collect::<Vec<_>>(),
            vec![Some("b"), Some("b")]
        );
        assert_eq!(tables.slice(0, 1).expect("a").num_rows(), 1);
    }

    #[test]
    fn an_empty_table_gives_every_entity_no_rows() {
        let table = sort_by_owner("t".into(), &[], &[], 2, 0).expect("sorted");
        assert_eq!(table.offsets, vec![0, 0, 0]);
        assert_eq!(table.rows.num_rows(), 0);
        let mismatched = sort_by_owner("t".into(), &[batch(&[1, 2], &["a", "a"])], &[0], 1, 1);
        assert!(
            mismatched.is_err(),
            "more rows than owners is a bug, not a panic"
        );
        let misplaced = sort_by_owner("t".into(), &[batch(&[1], &["a"])], &[0], 1, 2);
        assert!(
            misplaced.is_err(),
            "an entity column past the last is a bug, not a panic"
        );
    }
}
