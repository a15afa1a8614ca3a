//! The answer of one call, checked against its contract before anything is returned.

use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::buffer::Buffer;
use arrow::datatypes::DataType;
use arrow::ipc::reader::StreamDecoder;
use arrow::record_batch::RecordBatch;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::contract::{AnswerField, ServiceContract};
use crate::ipc_check;

/// One field's released value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerValue {
    /// One of an enumeration's declared values.
    Text(String),
    /// The label of the bucket the module's number fell in (`[lo, hi)`).
    Bucket(String),
    /// No value (only where the field is nullable).
    Null,
}

/// A checked answer: every contract field, in contract order, with a declared value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `(field, value)` in the contract's order.
    pub fields: Vec<(String, AnswerValue)>,
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            match value {
                AnswerValue::Text(text) | AnswerValue::Bucket(text) => {
                    map.serialize_entry(name, text)?
                }
                AnswerValue::Null => map.serialize_entry(name, &())?,
            }
        }
        map.end()
    }
}

/// Checks one answer chunk (an Arrow IPC stream from the module) against `contract`: exactly one
/// row, exactly the contract's fields (matched by name), each enumeration value declared, each
/// number inside its buckets, nulls only where allowed.
///
/// # Errors
/// A message naming the field and the rule, never a value from the chunk: the module chose the
/// values, and a refused value must not reach the caller by another way.
pub fn check_answer(contract: &ServiceContract, chunk: &[u8]) -> Result<Answer, String> {
    ipc_check::check(chunk).map_err(|r| r.to_string())?;
    let batch = catch_unwind(AssertUnwindSafe(|| decode(chunk)))
        .unwrap_or_else(|_| Err("the answer could not be decoded".to_string()))?;
    if batch.num_rows() != 1 {
        return Err(format!(
            "an answer is exactly one row; the module handed over {}",
            batch.num_rows()
        ));
    }
    let schema = batch.schema();
    if let Some(extra) = schema
        .fields()
        .iter()
        .find(|f| !contract.answer.iter().any(|a| a.name == *f.name()))
    {
        return Err(format!(
            "the answer has a field '{}' that service '{}' does not declare",
            printable(extra.name()),
            contract.name
        ));
    }
    let mut fields = Vec::with_capacity(contract.answer.len());
    for field in &contract.answer {
        let Some(column) = batch.column_by_name(&field.name) else {
            return Err(format!("the answer has no field '{}'", field.name));
        };
        if schema
            .fields()
            .iter()
            .filter(|f| f.name() == &field.name)
            .count()
            > 1
        {
            return Err(format!("the answer has field '{}' twice", field.name));
        }
        fields.push((field.name.clone(), value_of(field, column.as_ref())?));
    }
    Ok(Answer { fields })
}

/// Decodes the stream into one batch (the schema message, then record batches concatenated).
fn decode(chunk: &[u8]) -> Result<RecordBatch, String> {
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from(chunk);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder
            .decode(&mut buffer)
            .map_err(|_| "the answer is not a valid Arrow IPC stream".to_string())?
        {
            batches.push(batch);
        }
    }
    decoder
        .finish()
        .map_err(|_| "the answer ends inside a message".to_string())?;
    let Some(schema) = decoder.schema() else {
        return Err("the answer has no schema".into());
    };
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|_| "the answer's batches do not share one schema".to_string())
}

/// The field's released value at row 0.
fn value_of(field: &AnswerField, column: &dyn Array) -> Result<AnswerValue, String> {
    let name = &field.name;
    if column.is_null(0) {
        return if field.nullable {
            Ok(AnswerValue::Null)
        } else {
            Err(format!("field '{name}' is null but not declared nullable"))
        };
    }
    if let Some(values) = &field.values {
        let Some(text) = column.as_any().downcast_ref::<StringArray>() else {
            return Err(format!(
                "field '{name}' is an enumeration and must be Utf8, not {}",
                column.data_type()
            ));
        };
        let value = text.value(0);
        return match values.iter().find(|v| *v == value) {
            Some(declared) => Ok(AnswerValue::Text(declared.clone())),
            None => Err(format!(
                "field '{name}' has a value outside its declared values"
            )),
        };
    }
    let edges = field.buckets.as_deref().unwrap_or_default();
    let number = match column.data_type() {
        DataType::Float64 => column
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|a| a.value(0)),
        DataType::Int64 => column
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(0) as f64),
        _ => None,
    };
    let Some(number) = number else {
        return Err(format!(
            "field '{name}' is a bucketed number and must be Float64 or Int64, not {}",
            column.data_type()
        ));
    };
    let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) else {
        return Err(format!("field '{name}' declares no buckets"));
    };
    if !number.is_finite() || number < lo || number > hi {
        return Err(format!(
            "field '{name}' has a number outside its buckets [{lo}, {hi}]"
        ));
    }
    // The bucket whose lower edge is the last one at or below the number; the top edge itself
    // belongs to the last bucket.
    let i = edges[..edges.len() - 1]
        .iter()
        .rposition(|&edge| edge <= number)
        .unwrap_or(0);
    Ok(AnswerValue::Bucket(AnswerField::bucket_label(edges, i)))
}

/// A field name from the module, shown only when it is a plain name (it could carry data).
fn printable(name: &str) -> &str {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        name
    } else {
        "(not a plain name)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::ArrayRef;
    use arrow::datatypes::{Field, Schema};
    use arrow::ipc::writer::StreamWriter;

    fn contract() -> ServiceContract {
        toml::from_str(
            r#"
            name = "prescreen"
            subject = "usci"
            [[answer]]
            name = "band"
            values = ["A", "B", "C"]
            [[answer]]
            name = "reason"
            values = ["R1", "R2"]
            nullable = true
            [[answer]]
            name = "score"
            buckets = [0, 50, 100]
            "#,
        )
        .expect("contract")
    }

    fn chunk(columns: Vec<(&str, ArrayRef)>) -> Vec<u8> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(
            schema.clone(),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .expect("batch");
        let mut out = Vec::new();
        let mut writer = StreamWriter::try_new(&mut out, &schema).expect("writer");
        writer.write(&batch).expect("write");
        writer.finish().expect("finish");
        drop(writer);
        out
    }

    fn text(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    fn num(v: &[f64]) -> ArrayRef {
        Arc::new(Float64Array::from(v.to_vec()))
    }

    #[test]
    fn a_declared_answer_is_released_as_labels() {
        let answer = check_answer(
            &contract(),
            &chunk(vec![
                ("score", num(&[50.0])),
                ("band", text(&[Some("B")])),
                ("reason", text(&[None])),
            ]),
        )
        .expect("answer");
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            serde_json::json!({"band": "B", "reason": null, "score": "[50, 100]"})
        );
        let low = check_answer(
            &contract(),
            &chunk(vec![
                ("band", text(&[Some("A")])),
                ("reason", text(&[Some("R2")])),
                ("score", Arc::new(Int64Array::from(vec![49])) as ArrayRef),
            ]),
        )
        .expect("answer");
        assert_eq!(low.fields[2].1, AnswerValue::Bucket("[0, 50)".into()));
    }

    #[test]
    fn answers_outside_the_contract_are_refused_without_their_values() {
        let good = || {
            vec![
                ("band", text(&[Some("A")])),
                ("reason", text(&[None])),
                ("score", num(&[1.0])),
            ]
        };
        let mut outside = good();
        outside[0].1 = text(&[Some("SECRET-VALUE")]);
        let mut extra = good();
        extra.push(("leak", text(&[Some("x")])));
        let mut missing = good();
        missing.pop();
        let mut null = good();
        null[0].1 = text(&[None]);
        let mut high = good();
        high[2].1 = num(&[100.5]);
        let mut nan = good();
        nan[2].1 = num(&[f64::NAN]);
        let mut typed = good();
        typed[0].1 = num(&[1.0]);
        let two_rows = vec![
            ("band", text(&[Some("A"), Some("B")])),
            ("reason", text(&[None, None])),
            ("score", num(&[1.0, 2.0])),
        ];
        let cases = [
            (outside, "outside its declared values"),
            (extra, "does not declare"),
            (missing, "has no field 'score'"),
            (null, "not declared nullable"),
            (high, "outside its buckets"),
            (nan, "outside its buckets"),
            (typed, "must be Utf8"),
            (two_rows, "exactly one row"),
        ];
        for (columns, expected) in cases {
            let error = check_answer(&contract(), &chunk(columns)).expect_err(expected);
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("SECRET"), "{error}");
        }
        assert!(check_answer(&contract(), b"not arrow").is_err());
    }
}
