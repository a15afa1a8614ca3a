//! Every granted view's rows grouped by entity: what per-entity releases hand each entity run
//! and what services answer a subject from (docs/abi.md, "Entity contributions" and "Answer
//! runs").
//!
//! The views are read once, through the same session a job's queries use (granted columns,
//! identifiers as pseudonyms), and each table's rows are ordered by owning entity, so that one
//! entity's rows are a zero-copy slice.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use futures::StreamExt;

use crate::engine::{ipc, EngineSession};
use crate::governance::ApprovedScenario;
use crate::sandbox::{Fault, LimitKind};

/// Bytes of granted rows a per-entity release may hold in host memory while it runs (the
/// grouped copy of every granted view). Past it the job ends with `limit:memory`.
pub(crate) const MAX_GROUPED_BYTES: usize = 1 << 30;

/// One granted view, its rows ordered by entity.
pub(crate) struct EntityTable {
    pub(crate) name: String,
    rows: RecordBatch,
    /// Encodes slices of `rows` with the schema message made once.
    pub(crate) encoder: ipc::StreamEncoder,
    /// Whether slices of `rows` can be staged in the table encoding (`entity_table`).
    pub(crate) compact: bool,
    /// Entity `e`'s rows are `offsets[e]..offsets[e + 1]`.
    offsets: Vec<u32>,
}

/// Every granted view's rows, grouped by entity.
pub(crate) struct EntityTables {
    pub(crate) tables: Vec<EntityTable>,
    /// Each entity's pseudonym, by entity index.
    pub(crate) keys: Vec<Arc<str>>,
}

impl EntityTables {
    /// Number of entities.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Rows entity `e` has over all tables.
    pub(crate) fn rows_of(&self, entity: usize) -> u64 {
        self.tables
            .iter()
            .map(|t| u64::from(t.offsets[entity + 1] - t.offsets[entity]))
            .sum()
    }

    /// Entity `e`'s rows of table `t` (zero-copy).
    pub(crate) fn slice(&self, table: usize, entity: usize) -> RecordBatch {
        let t = &self.tables[table];
        let start = t.offsets[entity] as usize;
        let end = t.offsets[entity + 1] as usize;
        t.rows.slice(start, end - start)
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
    let mut index: HashMap<Arc<str>, u32> = HashMap::new();
    let mut keys: Vec<Arc<str>> = Vec::new();
    let mut raw: Vec<(String, Vec<RecordBatch>, Vec<u32>)> = Vec::new();
    let mut bytes = 0usize;
    for dataset in &scenario.datasets {
        let entity_column = dataset.manifest.dataset.entity_column.as_str();
        let mut stream = session
            .scan_view(dataset.name())
            .await
            .map_err(|e| Ok(e.to_string()))?;
        let mut batches = Vec::new();
        let mut owners = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| Ok(format!("{}: {e}", dataset.name())))?;
            bytes = bytes.saturating_add(batch.get_array_memory_size());
            if bytes > max_bytes {
                return Err(Err(Fault::Limit(LimitKind::Memory)));
            }
            let Some(entities) = batch
                .column_by_name(entity_column)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            else {
                return Err(Ok(format!(
                    "{}: the entity column {entity_column} is not a granted Utf8 column",
                    dataset.name()
                )));
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
                let key = entities.value(row);
                if let Some((last, owner)) = previous {
                    if last == key {
                        owners.push(owner);
                        continue;
                    }
                }
                let owner = match index.get(key) {
                    Some(&owner) => owner,
                    None => {
                        let owner = u32::try_from(keys.len())
                            .ok()
                            .filter(|&o| o < u32::MAX)
                            .ok_or(Err(Fault::Limit(LimitKind::Entities)))?;
                        let key: Arc<str> = Arc::from(key);
                        index.insert(key.clone(), owner);
                        keys.push(key);
                        owner
                    }
                };
                previous = Some((key, owner));
                owners.push(owner);
            }
            batches.push(batch);
        }
        raw.push((dataset.name().to_string(), batches, owners));
    }
    drop(index);
    let entities = keys.len();
    let mut tables = Vec::with_capacity(raw.len());
    for (name, batches, owners) in raw {
        tables.push(sort_by_owner(name, &batches, &owners, entities).map_err(Ok)?);
    }
    Ok(EntityTables { tables, keys })
}

/// Orders a table's rows by owning entity (a counting sort, stable within an entity) and
/// records where each entity's rows start.
fn sort_by_owner(
    name: String,
    batches: &[RecordBatch],
    owners: &[u32],
    entities: usize,
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
    let schema = match batches.first() {
        Some(batch) => batch.schema(),
        None => {
            let empty = Arc::new(arrow::datatypes::Schema::empty());
            return Ok(EntityTable {
                name,
                encoder: ipc::StreamEncoder::new(&empty).map_err(|e| e.to_string())?,
                compact: crate::engine::table::encodable(&empty),
                rows: RecordBatch::new_empty(empty),
                offsets,
            });
        }
    };
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let rows = if order.is_empty() {
        RecordBatch::new_empty(schema)
    } else {
        arrow::compute::interleave_record_batch(&refs, &order)
            .map_err(|e| format!("{name}: cannot order rows by entity: {e}"))?
    };
    // Once for the table, not once per entity: every slice is then already in the ABI's types.
    let rows = ipc::normalize(&rows).map_err(|e| format!("{name}: {e}"))?;
    let encoder = ipc::StreamEncoder::new(&rows.schema()).map_err(|e| format!("{name}: {e}"))?;
    let compact = crate::engine::table::encodable(&rows.schema());
    Ok(EntityTable {
        name,
        rows,
        encoder,
        compact,
        offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))])
            .expect("batch")
    }

    fn values(batch: &RecordBatch) -> Vec<i64> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        column.values().to_vec()
    }

    #[test]
    fn rows_are_ordered_by_owner_across_batches_and_ownerless_rows_dropped() {
        let batches = [batch(&[10, 11, 12]), batch(&[13, 14])];
        // Row values tell where they came from; owners 0..3, u32::MAX for "no entity".
        let owners = [2, 0, u32::MAX, 2, 0];
        let table = sort_by_owner("t".into(), &batches, &owners, 3).expect("sorted");
        assert_eq!(table.offsets, vec![0, 2, 2, 4]);
        assert_eq!(values(&table.rows), vec![11, 14, 10, 13]);
        let tables = EntityTables {
            tables: vec![table],
            keys: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(values(&tables.slice(0, 0)), vec![11, 14]);
        assert_eq!(
            tables.slice(0, 1).num_rows(),
            0,
            "an entity without rows here"
        );
        assert_eq!(values(&tables.slice(0, 2)), vec![10, 13]);
        assert_eq!(
            (tables.rows_of(0), tables.rows_of(1), tables.rows_of(2)),
            (2, 0, 2)
        );
    }

    #[test]
    fn an_empty_table_gives_every_entity_no_rows() {
        let table = sort_by_owner("t".into(), &[], &[], 2).expect("sorted");
        assert_eq!(table.offsets, vec![0, 0, 0]);
        assert_eq!(table.rows.num_rows(), 0);
        let mismatched = sort_by_owner("t".into(), &[batch(&[1, 2])], &[0], 1);
        assert!(
            mismatched.is_err(),
            "more rows than owners is a bug, not a panic"
        );
    }
}
