//! Rule `contract.output`: the table about to leave has exactly the contract's shape.
//!
//! The guard builds the table itself, so this is a last assertion against the guard's own bugs:
//! the columns must be the contract's output columns, in order, with their types; there may be no
//! more rows than `max_groups`; and no number may be NaN or infinite (a sum can only overflow if a
//! contract's clamp is near the limits of f64).

use arrow::array::{Array, Float64Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use super::contract::{Aggregation, ReleaseContract, ENTITIES_COLUMN};

/// Checks the output table's shape; the error describes the problem without values.
pub(crate) fn check(contract: &ReleaseContract, table: &RecordBatch) -> Result<(), String> {
    let mut expected: Vec<(String, DataType)> = contract
        .dimensions
        .iter()
        .map(|d| (d.name.clone(), DataType::Utf8))
        .collect();
    expected.push((ENTITIES_COLUMN.to_owned(), DataType::Int64));
    for measure in &contract.measures {
        for aggregation in &measure.aggregations {
            let data_type = match aggregation {
                Aggregation::Count => DataType::Int64,
                Aggregation::Sum | Aggregation::Mean => DataType::Float64,
            };
            expected.push((
                format!("{}_{}", measure.name, aggregation.as_str()),
                data_type,
            ));
        }
    }
    let schema = table.schema();
    let actual: Vec<(String, DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    if actual != expected {
        return Err(format!(
            "the output table does not have the contract's {} columns and types",
            expected.len()
        ));
    }
    if table.num_rows() > contract.max_groups {
        return Err(format!(
            "the output table has more than {} rows",
            contract.max_groups
        ));
    }
    for (field, column) in schema.fields().iter().zip(table.columns()) {
        if let Some(numbers) = column.as_any().downcast_ref::<Float64Array>() {
            let non_finite = numbers.iter().flatten().filter(|v| !v.is_finite()).count();
            if non_finite > 0 {
                return Err(format!(
                    "{non_finite} values of column '{}' are not finite",
                    field.name()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::super::aggregate::{Group, MeasureTotal};
    use super::super::contract::tests::sample;
    use super::super::table::build;
    use super::*;

    fn group(sum: f64) -> Group {
        Group {
            key: vec![Some("a".into())],
            entities: 2,
            rows: 2,
            measures: vec![
                MeasureTotal {
                    count: 2,
                    sum,
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
        }
    }

    #[test]
    fn accepts_what_the_guard_builds() {
        let contract = sample();
        let table = build(&contract, &[group(1.0)]).expect("builds");
        assert_eq!(check(&contract, &table), Ok(()));
    }

    #[test]
    fn refuses_other_shapes_and_non_finite_numbers() {
        let contract = sample();
        let table = build(&contract, &[group(f64::INFINITY)]).expect("builds");
        assert!(check(&contract, &table).is_err());

        let schema = Schema::new(vec![
            Field::new("district", DataType::Utf8, true),
            Field::new("entities", DataType::Int64, false),
        ]);
        let columns: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(Int64Array::from(vec![2])),
        ];
        let table = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
        assert!(check(&contract, &table).is_err());

        let mut small = sample();
        small.max_groups = 1;
        let table = build(&small, &[group(1.0), group(2.0)]).expect("builds");
        assert!(check(&small, &table).is_err());
    }
}
