//! The committed files under `datasets/` match what the generator declares: each manifest is the
//! generator's manifest at the default options, and each Parquet file has the manifest's schema
//! and valid identifiers. (Byte equality with a fresh run is left out: it would tie the test to
//! the platform's floating-point library.)

use std::fs::{self, File};
use std::path::Path;

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_datasets::{looks_like_identifier, DatasetManifest, IdentifierKind};
use shuyu_synth::{manifest_for, GenerateOptions, DATASET_NAMES};

#[test]
fn bundled_files_match_their_manifests() {
    // The bundled files live beside the manifests' crate, in datasets/.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let acquired = GenerateOptions::default().acquired;
    for name in DATASET_NAMES {
        let folder = root.join(name);
        let text = fs::read_to_string(folder.join("dataset.toml")).unwrap();
        let manifest = DatasetManifest::from_toml_str(&text).unwrap();
        manifest.validate().unwrap();
        assert_eq!(
            Some(&manifest),
            manifest_for(name, acquired).as_ref(),
            "{name}"
        );

        let file = File::open(folder.join(&manifest.dataset.data)).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let schema = builder.schema().clone();
        let expected = manifest.arrow_schema();
        assert_eq!(schema.fields().len(), expected.fields().len());
        for (got, want) in schema.fields().iter().zip(expected.fields()) {
            assert_eq!(
                (got.name(), got.data_type(), got.is_nullable()),
                (want.name(), want.data_type(), want.is_nullable()),
                "{name}"
            );
        }
        let identifiers: Vec<_> = manifest
            .columns
            .iter()
            .filter_map(|c| match c.identifier_kind {
                Some(kind @ (IdentifierKind::Usci | IdentifierKind::CitizenId)) => {
                    Some((c.name.clone(), kind))
                }
                _ => None,
            })
            .collect();
        let mut rows = 0;
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            rows += batch.num_rows();
            for (column, kind) in &identifiers {
                let values = batch.column_by_name(column).unwrap().as_string::<i32>();
                for i in 0..values.len() {
                    if values.is_valid(i) {
                        assert_eq!(
                            looks_like_identifier(values.value(i)),
                            Some(*kind),
                            "{name}.{column}: {}",
                            values.value(i)
                        );
                    }
                }
            }
        }
        assert!(rows > 0, "{name} is empty");
    }
}
