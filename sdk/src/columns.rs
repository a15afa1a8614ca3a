//! Typed access to a batch's columns by name: [`BatchExt`].
//!
//! The host sends strings as `Utf8`, dates as `Date32`, integers as `Int64`, decimals and floats
//! as `Float64` (docs/abi.md, "Batches"), so these accessors cover every column a module receives.
//! Their errors name the column and the type it really has, which is what an operator needs when
//! a query's output is not what the code expected.

use crate::error::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::DataType;

/// Columns of a [`RecordBatch`] by name, downcast to their concrete array type.
///
/// ```
/// use shuyu_sdk::arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
/// use shuyu_sdk::BatchExt;
/// use std::sync::Arc;
///
/// let batch = RecordBatch::try_from_iter([
///     ("district", Arc::new(StringArray::from(vec!["东城区"])) as ArrayRef),
///     ("age", Arc::new(Int64Array::from(vec![42])) as ArrayRef),
/// ])?;
/// assert_eq!(batch.utf8("district")?.value(0), "东城区");
/// assert_eq!(batch.i64("age")?.value(0), 42);
/// assert_eq!(batch.f64_lossy("age")?.value(0), 42.0);
/// assert!(batch.f64("age").is_err()); // "column `age` is Int64, expected Float64"
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait BatchExt {
    /// The column of that name, whatever its type.
    fn column_named(&self, name: &str) -> Result<&ArrayRef>;
    /// A `Utf8` column.
    fn utf8(&self, name: &str) -> Result<&StringArray>;
    /// A `Float64` column.
    fn f64(&self, name: &str) -> Result<&Float64Array>;
    /// An `Int64` column.
    fn i64(&self, name: &str) -> Result<&Int64Array>;
    /// A `Date32` column (days since 1970-01-01).
    fn date32(&self, name: &str) -> Result<&Date32Array>;
    /// A `Float64` or `Int64` column as `Float64` (integers converted, which is exact up to
    /// 2^53): for measures whose type depends on how the query computed them.
    fn f64_lossy(&self, name: &str) -> Result<Float64Array>;
}

impl BatchExt for RecordBatch {
    fn column_named(&self, name: &str) -> Result<&ArrayRef> {
        self.column_by_name(name).ok_or_else(|| Error::Column {
            name: name.to_string(),
            expected: "any type",
            found: None,
        })
    }

    fn utf8(&self, name: &str) -> Result<&StringArray> {
        typed(self, name, "Utf8", |c| c.as_string_opt::<i32>())
    }

    fn f64(&self, name: &str) -> Result<&Float64Array> {
        typed(self, name, "Float64", |c| {
            c.as_primitive_opt::<Float64Type>()
        })
    }

    fn i64(&self, name: &str) -> Result<&Int64Array> {
        typed(self, name, "Int64", |c| c.as_primitive_opt::<Int64Type>())
    }

    fn date32(&self, name: &str) -> Result<&Date32Array> {
        typed(self, name, "Date32", |c| c.as_primitive_opt::<Date32Type>())
    }

    fn f64_lossy(&self, name: &str) -> Result<Float64Array> {
        let column = find(self, name, "Float64 or Int64")?;
        if let Some(floats) = column.as_primitive_opt::<Float64Type>() {
            return Ok(floats.clone());
        }
        if let Some(ints) = column.as_primitive_opt::<Int64Type>() {
            return Ok(ints.unary(|v| v as f64));
        }
        Err(mismatch(name, "Float64 or Int64", column.data_type()))
    }
}

fn find<'a>(batch: &'a RecordBatch, name: &str, expected: &'static str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| Error::Column {
        name: name.to_string(),
        expected,
        found: None,
    })
}

fn typed<'a, T: 'a>(
    batch: &'a RecordBatch,
    name: &str,
    expected: &'static str,
    cast: impl FnOnce(&'a ArrayRef) -> Option<&'a T>,
) -> Result<&'a T> {
    let column = find(batch, name, expected)?;
    cast(column).ok_or_else(|| mismatch(name, expected, column.data_type()))
}

fn mismatch(name: &str, expected: &'static str, found: &DataType) -> Error {
    Error::Column {
        name: name.to_string(),
        expected,
        found: Some(found.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use std::sync::Arc;

    fn sample() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "district",
                Arc::new(StringArray::from(vec![Some("东城区"), None])) as ArrayRef,
            ),
            (
                "capital",
                Arc::new(Float64Array::from(vec![1.5, 2.5])) as ArrayRef,
            ),
            (
                "employees",
                Arc::new(Int64Array::from(vec![Some(3), None])) as ArrayRef,
            ),
            (
                "founded",
                Arc::new(Date32Array::from(vec![19_000, 19_001])) as ArrayRef,
            ),
        ])
        .expect("valid batch")
    }

    #[test]
    fn accessors_return_typed_columns() {
        let b = sample();
        assert_eq!(b.utf8("district").expect("utf8").value(0), "东城区");
        assert!(b.utf8("district").expect("utf8").is_null(1));
        assert_eq!(b.f64("capital").expect("f64").value(1), 2.5);
        assert_eq!(b.i64("employees").expect("i64").value(0), 3);
        assert_eq!(b.date32("founded").expect("date32").value(1), 19_001);
        assert_eq!(b.column_named("capital").expect("any").len(), 2);
    }

    #[test]
    fn wrong_type_names_column_and_actual_type() {
        let err = sample().f64("district").expect_err("utf8 is not f64");
        assert_eq!(
            err.to_string(),
            "column `district` is Utf8, expected Float64"
        );
        let err = sample().utf8("founded").expect_err("date is not utf8");
        assert_eq!(err.to_string(), "column `founded` is Date32, expected Utf8");
    }

    #[test]
    fn missing_column_is_named() {
        let err = sample().i64("age").expect_err("missing");
        assert!(matches!(&err, Error::Column { name, found: None, .. } if name == "age"));
    }

    #[test]
    fn f64_lossy_converts_integers_and_keeps_nulls() {
        let b = sample();
        let converted = b.f64_lossy("employees").expect("int64 accepted");
        assert_eq!(converted.value(0), 3.0);
        assert!(converted.is_null(1));
        assert_eq!(b.f64_lossy("capital").expect("f64 accepted").value(0), 1.5);
        let err = b.f64_lossy("district").expect_err("utf8 refused");
        assert_eq!(
            err.to_string(),
            "column `district` is Utf8, expected Float64 or Int64"
        );
    }
}
