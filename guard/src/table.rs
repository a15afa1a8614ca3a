//! Builds the released table from the groups that passed the threshold.
//!
//! Columns: the dimensions (`Utf8`, null where the key was null), `entities` (`Int64`), then for
//! each measure and each of its aggregations `<measure>_<aggregation>`: `count` as `Int64`, `sum`
//! as `Float64` (0 when the group had no kept value), `mean` as `Float64` (null when it had none).
//! Rows keep the groups' order, which is sorted by the dimension values.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::aggregate::Group;
use super::contract::{Aggregation, ReleaseContract, ENTITIES_COLUMN};

/// The released table for these groups.
///
/// # Errors
/// A count beyond `i64::MAX` (impossible in practice) or an Arrow construction error; both are
/// the guard's own faults and block with `contract.output`.
pub(crate) fn build(
    contract: &ReleaseContract,
    groups: &[Group],
) -> Result<RecordBatch, ArrowError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (position, dimension) in contract.dimensions.iter().enumerate() {
        let values: StringArray = groups
            .iter()
            .map(|g| g.key.get(position).and_then(Option::as_deref))
            .collect();
        fields.push(Field::new(&dimension.name, DataType::Utf8, true));
        columns.push(Arc::new(values));
    }
    let entities = groups
        .iter()
        .map(|g| to_i64(g.entities))
        .collect::<Result<Vec<_>, _>>()?;
    fields.push(Field::new(ENTITIES_COLUMN, DataType::Int64, false));
    columns.push(Arc::new(Int64Array::from(entities)));
    for (position, measure) in contract.measures.iter().enumerate() {
        let total = |g: &Group| g.measures.get(position).copied().unwrap_or_default();
        for aggregation in &measure.aggregations {
            let name = format!("{}_{}", measure.name, aggregation.as_str());
            let (field, column): (Field, ArrayRef) = match aggregation {
                Aggregation::Count => {
                    let counts = groups
                        .iter()
                        .map(|g| to_i64(total(g).count))
                        .collect::<Result<Vec<_>, _>>()?;
                    (
                        Field::new(name, DataType::Int64, false),
                        Arc::new(Int64Array::from(counts)),
                    )
                }
                Aggregation::Sum => {
                    let sums: Float64Array = groups.iter().map(|g| Some(total(g).sum)).collect();
                    (Field::new(name, DataType::Float64, false), Arc::new(sums))
                }
                Aggregation::Mean => {
                    // A mean of values clamped to [lo, hi] lies in [lo, hi]; clamping again only
                    // matters for rounding and for means derived from noisy parts (post-
                    // processing, which costs no privacy).
                    let [lo, hi] = measure.clamp;
                    let means: Float64Array = groups
                        .iter()
                        .map(|g| total(g).mean().map(|m| m.clamp(lo, hi)))
                        .collect();
                    (Field::new(name, DataType::Float64, true), Arc::new(means))
                }
            };
            fields.push(field);
            columns.push(column);
        }
    }
    // The row count is given explicitly so that a table without columns still has its rows.
    let options = RecordBatchOptions::new().with_row_count(Some(groups.len()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
}

fn to_i64(n: u64) -> Result<i64, ArrowError> {
    i64::try_from(n).map_err(|_| ArrowError::ComputeError("count exceeds Int64".into()))
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;

    use super::super::aggregate::MeasureTotal;
    use super::super::contract::tests::sample;
    use super::*;

    #[test]
    fn builds_the_contract_columns() {
        let contract = sample();
        let groups = vec![
            Group {
                key: vec![None],
                entities: 3,
                rows: 4,
                measures: vec![
                    MeasureTotal {
                        count: 0,
                        sum: 0.0,
                        units: 0,
                        ..MeasureTotal::default()
                    },
                    MeasureTotal {
                        count: 4,
                        sum: 8.0,
                        units: 0,
                        ..MeasureTotal::default()
                    },
                ],
            },
            Group {
                key: vec![Some("西湖区".into())],
                entities: 2,
                rows: 2,
                measures: vec![
                    MeasureTotal {
                        count: 2,
                        sum: 3.0,
                        units: 0,
                        ..MeasureTotal::default()
                    },
                    MeasureTotal {
                        count: 2,
                        sum: 1.0,
                        units: 0,
                        ..MeasureTotal::default()
                    },
                ],
            },
        ];
        let table = build(&contract, &groups).expect("builds");
        let names: Vec<_> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, contract.output_columns());
        assert_eq!(table.num_rows(), 2);
        let mean = table
            .column(4)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("f64");
        assert!(mean.is_null(0));
        assert_eq!(mean.value(1), 1.5);
    }
}
