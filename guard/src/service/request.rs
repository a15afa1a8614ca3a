//! A call's request parameters, checked against the contract and made into the one-row
//! `request` table an answer run reads.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::contract::{ParamType, ServiceContract};

/// Checks `params` against the contract's declared parameters (every one present, none
/// undeclared, each of its type and within its range or values) and returns them as one row,
/// columns in declared order.
///
/// # Errors
/// A message naming the first parameter at fault. It may quote the caller's own value: the
/// caller sent it.
pub fn check_params(
    contract: &ServiceContract,
    params: &Map<String, Value>,
) -> Result<RecordBatch, String> {
    if let Some(unknown) = params.keys().find(|k| contract.param(k).is_none()) {
        let declared: Vec<&str> = contract.params.iter().map(|p| p.name.as_str()).collect();
        return Err(format!(
            "parameter '{unknown}' is not declared by service '{}' (declared: {})",
            contract.name,
            if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            }
        ));
    }
    let mut fields = Vec::with_capacity(contract.params.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(contract.params.len());
    for spec in &contract.params {
        let name = &spec.name;
        let Some(value) = params.get(name) else {
            return Err(format!("parameter '{name}' is missing"));
        };
        let in_range =
            |v: f64| spec.min.is_none_or(|min| v >= min) && spec.max.is_none_or(|max| v <= max);
        let range = || {
            format!(
                "[{}, {}]",
                spec.min.unwrap_or(f64::NEG_INFINITY),
                spec.max.unwrap_or(f64::INFINITY)
            )
        };
        match spec.kind {
            ParamType::Int64 => {
                let Some(v) = value.as_i64() else {
                    return Err(format!("parameter '{name}' must be a whole number"));
                };
                // Declared bounds are whole numbers within ±2^53 in practice; compare as f64.
                if !in_range(v as f64) {
                    return Err(format!(
                        "parameter '{name}' is {v}, outside its declared range {}",
                        range()
                    ));
                }
                fields.push(Field::new(name, DataType::Int64, false));
                columns.push(Arc::new(Int64Array::from(vec![v])));
            }
            ParamType::Float64 => {
                let Some(v) = value.as_f64().filter(|v| v.is_finite()) else {
                    return Err(format!("parameter '{name}' must be a finite number"));
                };
                if !in_range(v) {
                    return Err(format!(
                        "parameter '{name}' is {v}, outside its declared range {}",
                        range()
                    ));
                }
                fields.push(Field::new(name, DataType::Float64, false));
                columns.push(Arc::new(Float64Array::from(vec![v])));
            }
            ParamType::Utf8 => {
                let Some(v) = value.as_str() else {
                    return Err(format!("parameter '{name}' must be a string"));
                };
                let allowed = spec.values.as_deref().unwrap_or_default();
                if !allowed.iter().any(|a| a == v) {
                    return Err(format!(
                        "parameter '{name}' must be one of {}",
                        allowed.join(", ")
                    ));
                }
                fields.push(Field::new(name, DataType::Utf8, false));
                columns.push(Arc::new(StringArray::from(vec![v])));
            }
        }
    }
    let schema = Arc::new(Schema::new(fields));
    if columns.is_empty() {
        return RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .map_err(|e| format!("cannot build the request row: {e}"));
    }
    RecordBatch::try_new(schema, columns).map_err(|e| format!("cannot build the request row: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract() -> ServiceContract {
        toml::from_str(
            r#"
            name = "s"
            subject = "usci"
            [[param]]
            name = "amount"
            type = "int64"
            min = 0
            max = 1000
            [[param]]
            name = "rate"
            type = "float64"
            min = 0
            max = 1
            [[param]]
            name = "product"
            type = "utf8"
            values = ["loan", "lease"]
            [[answer]]
            name = "ok"
            values = ["yes", "no"]
            "#,
        )
        .expect("contract")
    }

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn declared_parameters_become_one_row() {
        let batch = check_params(
            &contract(),
            &params(json!({"amount": 10, "rate": 0.5, "product": "loan"})),
        )
        .expect("valid");
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema().field(0).name(), "amount");
        assert_eq!(batch.schema().field(2).data_type(), &DataType::Utf8);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let cases = [
            (json!({"amount": 10, "rate": 0.5}), "'product' is missing"),
            (
                json!({"amount": 10, "rate": 0.5, "product": "loan", "x": 1}),
                "'x' is not declared",
            ),
            (
                json!({"amount": 1001, "rate": 0.5, "product": "loan"}),
                "outside its declared range",
            ),
            (
                json!({"amount": 1.5, "rate": 0.5, "product": "loan"}),
                "whole number",
            ),
            (
                json!({"amount": 1, "rate": "x", "product": "loan"}),
                "finite number",
            ),
            (
                json!({"amount": 1, "rate": 0.5, "product": "gift"}),
                "must be one of loan, lease",
            ),
        ];
        for (value, expected) in cases {
            let error = check_params(&contract(), &params(value)).expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
    }
}
