//! The answer of one call, checked against its contract before anything is returned.

use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::buffer::Buffer;
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
    let named: Vec<(&str, Raw<'_>)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, column)| (f.name().as_str(), raw_of(column.as_ref())))
        .collect();
    fields_of(contract, &named)
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

/// Checks one answer chunk in the encoding of contribution rows (`shuyu_abi::rows`) against
/// `contract`: exactly one row, the enumeration fields among its dimensions (text) and the
/// bucketed fields among its measures (numbers), each matched by name in any order; then the
/// same rules as [`check_answer`].
///
/// # Errors
/// As [`check_answer`]: the field and the rule, never a value from the chunk.
pub fn check_answer_rows(contract: &ServiceContract, chunk: &[u8]) -> Result<Answer, String> {
    let refused =
        |e: shuyu_abi::rows::RowsError| format!("the answer is not valid contribution rows: {e}");
    let (texts, numbers, mut rows) = shuyu_abi::rows::parse_named(chunk).map_err(refused)?;
    let Some(row) = rows.next() else {
        return Err("an answer is exactly one row; the module handed over 0".into());
    };
    let row = row.map_err(refused)?;
    let mut more = 0usize;
    for extra in rows {
        extra.map_err(refused)?;
        more += 1;
    }
    if more > 0 {
        return Err(format!(
            "an answer is exactly one row; the module handed over {}",
            more + 1
        ));
    }
    let texts = texts
        .iter()
        .zip(&row.dimensions)
        .map(|(name, value)| (*name, value.map_or(Raw::Null, Raw::Text)));
    let numbers = numbers.iter().zip(&row.measures).map(|(name, value)| {
        (
            *name,
            value.map_or(Raw::Null, |n| Raw::Number(n, "Float64")),
        )
    });
    let named: Vec<(&str, Raw<'_>)> = texts.chain(numbers).collect();
    fields_of(contract, &named)
}

/// The answer from the module's fields, whatever their encoding: exactly the contract's fields
/// (matched by name, each once), each value checked by [`check_value`].
fn fields_of(contract: &ServiceContract, named: &[(&str, Raw<'_>)]) -> Result<Answer, String> {
    if let Some((extra, _)) = named
        .iter()
        .find(|(n, _)| !contract.answer.iter().any(|a| a.name == *n))
    {
        return Err(format!(
            "the answer has a field '{}' that service '{}' does not declare",
            printable(extra),
            contract.name
        ));
    }
    let mut fields = Vec::with_capacity(contract.answer.len());
    for field in &contract.answer {
        let mut matching = named.iter().filter(|(n, _)| *n == field.name);
        let Some((_, raw)) = matching.next() else {
            return Err(format!("the answer has no field '{}'", field.name));
        };
        if matching.next().is_some() {
            return Err(format!("the answer has field '{}' twice", field.name));
        }
        fields.push((field.name.clone(), check_value(field, raw)?));
    }
    Ok(Answer { fields })
}

/// A field's value at row 0 as the module handed it over, whatever the chunk's encoding.
enum Raw<'a> {
    Null,
    Text(&'a str),
    /// A number and the name of the type it came as.
    Number(f64, &'static str),
    /// A value of a type no field takes (the type's name).
    Other(String),
}

/// The value at row 0 of an Arrow column.
fn raw_of(column: &dyn Array) -> Raw<'_> {
    let any = column.as_any();
    if column.is_null(0) {
        Raw::Null
    } else if let Some(text) = any.downcast_ref::<StringArray>() {
        Raw::Text(text.value(0))
    } else if let Some(numbers) = any.downcast_ref::<Float64Array>() {
        Raw::Number(numbers.value(0), "Float64")
    } else if let Some(numbers) = any.downcast_ref::<Int64Array>() {
        Raw::Number(numbers.value(0) as f64, "Int64")
    } else {
        Raw::Other(column.data_type().to_string())
    }
}

/// The field's released value: a declared enumeration value, a bucket's label, or null where
/// the field allows it.
fn check_value(field: &AnswerField, raw: &Raw<'_>) -> Result<AnswerValue, String> {
    let name = &field.name;
    let type_name = |raw: &Raw<'_>| match raw {
        Raw::Text(_) => "Utf8".to_string(),
        Raw::Number(_, t) => (*t).to_string(),
        Raw::Other(t) => t.clone(),
        Raw::Null => "null".to_string(),
    };
    if matches!(raw, Raw::Null) {
        return if field.nullable {
            Ok(AnswerValue::Null)
        } else {
            Err(format!("field '{name}' is null but not declared nullable"))
        };
    }
    if let Some(values) = &field.values {
        let Raw::Text(value) = raw else {
            return Err(format!(
                "field '{name}' is an enumeration and must be Utf8, not {}",
                type_name(raw)
            ));
        };
        return match values.iter().find(|v| v.as_str() == *value) {
            Some(declared) => Ok(AnswerValue::Text(declared.clone())),
            None => Err(format!(
                "field '{name}' has a value outside its declared values"
            )),
        };
    }
    let edges = field.buckets.as_deref().unwrap_or_default();
    let &Raw::Number(number, _) = raw else {
        return Err(format!(
            "field '{name}' is a bucketed number and must be Float64 or Int64, not {}",
            type_name(raw)
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

    /// One answer row's text values, then its numbers.
    type AnswerRow<'a> = (Vec<Option<&'a str>>, Vec<Option<f64>>);

    /// An answer as contribution rows: text fields as dimensions, numbers as measures.
    fn rows(texts: &[&str], numbers: &[&str], values: &[AnswerRow<'_>]) -> Vec<u8> {
        let mut encoder = shuyu_abi::rows::Encoder::new(texts, numbers).expect("encoder");
        for (t, n) in values {
            assert!(encoder.push(t, n));
        }
        encoder.bytes().to_vec()
    }

    #[test]
    fn an_answer_as_contribution_rows_is_checked_like_an_arrow_one() {
        let fields = (["reason", "band"], ["score"]);
        let answer = check_answer_rows(
            &contract(),
            &rows(
                &fields.0,
                &fields.1,
                &[(vec![None, Some("B")], vec![Some(50.0)])],
            ),
        )
        .expect("fields in any order");
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            serde_json::json!({"band": "B", "reason": null, "score": "[50, 100]"})
        );
        let good = || (vec![Some("R1"), Some("A")], vec![Some(1.0)]);
        let one = |row: AnswerRow<'_>| rows(&fields.0, &fields.1, &[row]);
        let mut outside = good();
        outside.0[1] = Some("SECRET-VALUE");
        let mut null = good();
        null.0[1] = None;
        let mut high = good();
        high.1[0] = Some(100.5);
        let mut nan = good();
        nan.1[0] = Some(f64::NAN);
        let mut no_score = good();
        no_score.1[0] = None;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (one(outside), "outside its declared values"),
            (one(null), "not declared nullable"),
            (one(high), "outside its buckets"),
            (one(nan), "outside its buckets"),
            (one(no_score), "not declared nullable"),
            (
                rows(&fields.0, &fields.1, &[good(), good()]),
                "exactly one row; the module handed over 2",
            ),
            (
                rows(&fields.0, &fields.1, &[]),
                "exactly one row; the module handed over 0",
            ),
            (
                rows(&["band"], &fields.1, &[(vec![Some("A")], vec![Some(1.0)])]),
                "has no field 'reason'",
            ),
            (
                rows(
                    &["band", "reason", "leak"],
                    &fields.1,
                    &[(vec![Some("A"), None, Some("SECRET")], vec![Some(1.0)])],
                ),
                "field 'leak' that service 'prescreen' does not declare",
            ),
            (
                rows(
                    &["band", "reason", "SECRET name"],
                    &fields.1,
                    &[(vec![Some("A"), None, None], vec![Some(1.0)])],
                ),
                "(not a plain name)",
            ),
            (
                rows(
                    &["band", "reason", "score"],
                    &[],
                    &[(vec![Some("A"), None, Some("1")], vec![])],
                ),
                "must be Float64 or Int64, not Utf8",
            ),
            (
                rows(
                    &["reason"],
                    &["band", "score"],
                    &[(vec![None], vec![Some(1.0), Some(1.0)])],
                ),
                "must be Utf8, not Float64",
            ),
            (
                rows(
                    &["band", "reason", "band"],
                    &fields.1,
                    &[(vec![Some("A"), None, Some("B")], vec![Some(1.0)])],
                ),
                "field 'band' twice",
            ),
        ];
        for (chunk, expected) in cases {
            let error = check_answer_rows(&contract(), &chunk).expect_err(expected);
            assert!(error.contains(expected), "{expected}: {error}");
            assert!(!error.contains("SECRET"), "{error}");
        }
        let mut trailing = one(good());
        trailing.push(0);
        for chunk in [&b"SYR1"[..], b"not rows", &trailing] {
            assert!(check_answer_rows(&contract(), chunk).is_err());
        }
    }

    /// Every single-byte change, cut and one-byte extension of valid answers (about 700
    /// chunks) is either refused or gives an answer the contract allows: the parser trusts no
    /// length, and the checks after it let nothing undeclared through.
    #[test]
    fn mutated_answer_rows_are_refused_or_stay_inside_the_contract() {
        let valid = [
            rows(
                &["band", "reason"],
                &["score"],
                &[(vec![Some("A"), Some("R1")], vec![Some(7.0)])],
            ),
            rows(
                &["reason", "band"],
                &["score"],
                &[(vec![None, Some("C")], vec![Some(100.0)])],
            ),
        ];
        let mut accepted = 0usize;
        let mut seen = 0usize;
        for chunk in &valid {
            let mut variants: Vec<Vec<u8>> = Vec::new();
            for i in 0..chunk.len() {
                for byte in [0x00, 0x01, 0x7f, 0x80, 0xff, chunk[i] ^ 0x20] {
                    let mut changed = chunk.clone();
                    changed[i] = byte;
                    variants.push(changed);
                }
                variants.push(chunk[..i].to_vec());
            }
            let mut longer = chunk.clone();
            longer.push(0);
            variants.push(longer);
            for variant in variants {
                seen += 1;
                let Ok(answer) = check_answer_rows(&contract(), &variant) else {
                    continue;
                };
                accepted += 1;
                let names: Vec<&str> = answer.fields.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, ["band", "reason", "score"]);
                for (name, value) in &answer.fields {
                    let allowed = match (name.as_str(), value) {
                        ("band", AnswerValue::Text(t)) => ["A", "B", "C"].contains(&t.as_str()),
                        ("reason", AnswerValue::Text(t)) => ["R1", "R2"].contains(&t.as_str()),
                        ("reason", AnswerValue::Null) => true,
                        ("score", AnswerValue::Bucket(b)) => b == "[0, 50)" || b == "[50, 100]",
                        _ => false,
                    };
                    assert!(allowed, "{name}: {value:?} from {variant:?}");
                }
            }
        }
        assert!(seen > 500, "{seen} variants");
        // Changes that keep the chunk valid (a value byte to another declared value, a measure's
        // low bits) are accepted; most are not.
        assert!(
            accepted > 0 && accepted < seen / 2,
            "{accepted} of {seen} accepted"
        );
    }
}
