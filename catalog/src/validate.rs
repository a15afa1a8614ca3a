//! A manifest checked against the Parquet file it describes.

use std::fs::File;
use std::path::Path;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_datasets::manifest::DatasetManifest;

use super::CatalogError;

/// Checks that the Parquet file has exactly the manifest's columns, with the declared types and
/// nullability, and returns its row count.
pub(super) fn against_parquet(
    manifest: &DatasetManifest,
    manifest_path: &Path,
    data_path: &Path,
) -> Result<u64, CatalogError> {
    let file = File::open(data_path).map_err(|source| CatalogError::Io {
        path: data_path.to_path_buf(),
        source,
    })?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| CatalogError::Parquet {
            path: data_path.to_path_buf(),
            message: e.to_string(),
        })?;
    let schema = builder.schema().clone();
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let schema_error = |message: String| CatalogError::Schema {
        path: manifest_path.to_path_buf(),
        message,
    };
    for field in schema.fields() {
        if manifest.column(field.name()).is_none() {
            return Err(schema_error(format!(
                "the data file has a column '{}' that the manifest does not declare",
                field.name()
            )));
        }
    }
    for column in &manifest.columns {
        let Ok(field) = schema.field_with_name(&column.name) else {
            return Err(schema_error(format!(
                "column '{}' is declared but the data file has no such column",
                column.name
            )));
        };
        let declared = column.data_type.arrow_type();
        if field.data_type() != &declared {
            return Err(schema_error(format!(
                "column '{}': declared type {declared} but the data file holds {}",
                column.name,
                field.data_type()
            )));
        }
        if field.is_nullable() && !column.nullable {
            return Err(schema_error(format!(
                "column '{}': the data file allows nulls but the manifest says nullable = false",
                column.name
            )));
        }
    }
    Ok(rows)
}
