//! Rule `contract.schema`: a contribution chunk must have exactly the contract's columns.
//!
//! The expected schema is `entity: Utf8`, then each dimension as `Utf8`, then each measure as
//! `Float64` or `Int64`, with the contract's names, in the contract's order, and nothing else. All
//! chunks of a release must agree on the measure types (docs/abi.md §Contributions). Field
//! nullability and metadata are ignored: nulls are judged row by row by the later rules.
//!
//! Messages describe what was expected, never what the module sent: a column name chosen by the
//! module is guest-controlled text and could carry data.

use arrow::datatypes::{DataType, Schema};

use super::contract::{ReleaseContract, ENTITY_COLUMN};

/// How a measure column is encoded; Int64 values are widened to f64 before clamping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MeasureType {
    Float64,
    Int64,
}

/// Checks a chunk's schema against the contract; returns the measure types it uses.
///
/// `fixed` holds the measure types of the first accepted chunk, if any; later chunks must match.
pub(crate) fn check(
    contract: &ReleaseContract,
    schema: &Schema,
    fixed: Option<&[MeasureType]>,
) -> Result<Vec<MeasureType>, String> {
    let fields = schema.fields();
    let expected = 1 + contract.dimensions.len() + contract.measures.len();
    if fields.len() != expected {
        return Err(format!(
            "expected {expected} columns (entity, {} dimensions, {} measures), got {}",
            contract.dimensions.len(),
            contract.measures.len(),
            fields.len()
        ));
    }
    let mut fields = fields.iter();
    let mut position = 0usize;
    let mut next_utf8 = |name: &str| -> Result<(), String> {
        position += 1;
        match fields.next() {
            Some(field) if field.name() == name && field.data_type() == &DataType::Utf8 => Ok(()),
            _ => Err(format!("column {position} must be '{name}' of type Utf8")),
        }
    };
    next_utf8(ENTITY_COLUMN)?;
    for dimension in &contract.dimensions {
        next_utf8(&dimension.name)?;
    }
    let mut types = Vec::with_capacity(contract.measures.len());
    for (i, measure) in contract.measures.iter().enumerate() {
        position += 1;
        let found = match fields.next() {
            Some(field) if field.name() == &measure.name => match field.data_type() {
                DataType::Float64 => Some(MeasureType::Float64),
                DataType::Int64 => Some(MeasureType::Int64),
                _ => None,
            },
            _ => None,
        };
        let Some(found) = found else {
            return Err(format!(
                "column {position} must be '{}' of type Float64 or Int64",
                measure.name
            ));
        };
        if let Some(required) = fixed.and_then(|f| f.get(i)) {
            if *required != found {
                return Err(format!(
                    "column {position} '{}' must keep the type of the release's first chunk",
                    measure.name
                ));
            }
        }
        types.push(found);
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::super::contract::tests::sample;
    use super::*;

    fn schema(fields: &[(&str, DataType)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t)| Arc::new(Field::new(*n, t.clone(), true)))
                .collect::<Vec<_>>(),
        )
    }

    fn good() -> Vec<(&'static str, DataType)> {
        vec![
            ("entity", DataType::Utf8),
            ("district", DataType::Utf8),
            ("capital", DataType::Float64),
            ("staff", DataType::Int64),
        ]
    }

    #[test]
    fn accepts_the_contract_schema() {
        let types = check(&sample(), &schema(&good()), None);
        assert_eq!(types, Ok(vec![MeasureType::Float64, MeasureType::Int64]));
    }

    #[test]
    fn refuses_wrong_names_types_counts_and_order() {
        let contract = sample();
        let mut cases = Vec::new();
        let mut renamed = good();
        renamed[1].0 = "secret_value_here";
        cases.push(renamed);
        let mut retyped = good();
        retyped[2].1 = DataType::Utf8;
        cases.push(retyped);
        let mut large = good();
        large[0].1 = DataType::LargeUtf8;
        cases.push(large);
        let mut extra = good();
        extra.push(("extra_secret", DataType::Utf8));
        cases.push(extra);
        let mut missing = good();
        missing.pop();
        cases.push(missing);
        let mut swapped = good();
        swapped.swap(2, 3);
        cases.push(swapped);
        for fields in cases {
            let err = check(&contract, &schema(&fields), None).expect_err("must refuse");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn later_chunks_keep_the_measure_types() {
        let contract = sample();
        let first = [MeasureType::Float64, MeasureType::Float64];
        assert!(check(&contract, &schema(&good()), Some(&first)).is_err());
        let same = [MeasureType::Float64, MeasureType::Int64];
        assert!(check(&contract, &schema(&good()), Some(&same)).is_ok());
    }
}
