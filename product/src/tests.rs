//! Tests of product packages: write one, verify it, then alter it in every way a recipient
//! could meet and check the error names the file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::json;

use super::*;
use shuyu_keys::DomainKeys;

fn table() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("district", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
        Field::new("mean_income", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["东城", "west, \"quoted\""])),
        Arc::new(Int64Array::from(vec![12, 40])),
        Arc::new(Float64Array::from(vec![Some(5120.5), None])),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn manifest(id: &str, batch: &RecordBatch) -> ProductManifest {
    ProductManifest {
        format: FORMAT.to_string(),
        product_id: id.to_string(),
        release: "by_district".into(),
        scenario: ScenarioRef {
            id: "s-1".into(),
            title: "Income by district".into(),
        },
        operator: "op-a".into(),
        module_sha256: "ab".repeat(32),
        job_id: "j-1".into(),
        datasets: vec![DatasetRef {
            name: "residents".into(),
            title: "Residents".into(),
            provider: "Civil affairs bureau".into(),
            content_sha256: "cd".repeat(32),
            acquired: "2025-01-31".into(),
            rows: 1000,
        }],
        policy: json!({"k": 10, "aggregations": ["count", "mean"]}),
        report: json!({"groups_suppressed": 1, "rule": "k"}),
        columns: batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
        rows: batch.num_rows() as u64,
        job_started: "2025-01-31T08:00:00.000Z".into(),
        created_at: "2025-01-31T08:00:05.000Z".into(),
        audit_entry: None,
        files: Vec::new(),
        signer: None,
    }
}

struct Fixture {
    _data: tempfile::TempDir,
    keys: DomainKeys,
    products: PathBuf,
    package: PathBuf,
}

fn fixture() -> Fixture {
    let data = tempfile::tempdir().unwrap();
    let keys = DomainKeys::load_or_create(data.path()).unwrap();
    let products = data.path().join("products");
    let batch = table();
    let package = write_package(
        &products,
        manifest("j-1-by_district", &batch),
        &batch,
        &keys,
    )
    .unwrap();
    Fixture {
        _data: data,
        keys,
        products,
        package,
    }
}

#[track_caller]
fn assert_fails(dir: &Path, keys: &DomainKeys, expected: &str) {
    match verify_package(dir, &keys.public_key()) {
        Ok(_) => panic!("expected '{expected}', but the package verified"),
        Err(e) => assert_eq!(e.to_string(), expected),
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_written_package_verifies() {
    let f = fixture();
    assert_eq!(f.package, f.products.join("j-1-by_district"));
    let verified = verify_package(&f.package, &f.keys.public_key()).unwrap();
    assert_eq!(verified.files_checked, 2);
    let m = verified.manifest;
    assert_eq!(m.format, FORMAT);
    assert_eq!(m.signer.unwrap().key_id, f.keys.public_key().key_id());
    let names: Vec<_> = m.files.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [CSV_FILE, PARQUET_FILE]);
    let mut listed: Vec<_> = fs::read_dir(&f.package)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [CSV_FILE, PARQUET_FILE, MANIFEST_FILE, SIGNATURE_FILE]
    );
    // No staging folder is left behind.
    assert_eq!(fs::read_dir(&f.products).unwrap().count(), 1);
}

#[test]
fn the_data_files_hold_the_table() {
    let f = fixture();
    let csv = fs::read_to_string(f.package.join(CSV_FILE)).unwrap();
    assert_eq!(
        csv,
        "district,count,mean_income\n东城,12,5120.5\n\"west, \"\"quoted\"\"\",40,\n"
    );
    let file = fs::File::open(f.package.join(PARQUET_FILE)).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0], table());
}

#[test]
fn the_signature_covers_the_exact_manifest_bytes() {
    let f = fixture();
    let bytes = fs::read(f.package.join(MANIFEST_FILE)).unwrap();
    let sig = fs::read_to_string(f.package.join(SIGNATURE_FILE)).unwrap();
    assert!(sig.ends_with('\n'));
    assert!(f
        .keys
        .public_key()
        .verify(&bytes, &hex::decode(sig.trim()).unwrap()));
}

#[test]
fn an_altered_csv_byte_is_named() {
    let f = fixture();
    flip_byte(&f.package.join(CSV_FILE), 3);
    assert_fails(
        &f.package,
        &f.keys,
        "data.csv: SHA-256 differs from the manifest",
    );
}

#[test]
fn an_altered_parquet_byte_is_named() {
    let f = fixture();
    flip_byte(&f.package.join(PARQUET_FILE), 40);
    assert_fails(
        &f.package,
        &f.keys,
        "data.parquet: SHA-256 differs from the manifest",
    );
}

#[test]
fn a_truncated_data_file_is_named() {
    let f = fixture();
    let path = f.package.join(CSV_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let err = verify_package(&f.package, &f.keys.public_key())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("data.csv: size differs"), "{err}");
}

#[test]
fn an_edited_manifest_is_named() {
    let f = fixture();
    let path = f.package.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("\"k\": 10", "\"k\": 1");
    fs::write(&path, text).unwrap();
    assert_fails(
        &f.package,
        &f.keys,
        "manifest.json: signature does not verify",
    );
}

#[test]
fn an_edited_signature_is_named() {
    let f = fixture();
    let path = f.package.join(SIGNATURE_FILE);
    let sig = fs::read_to_string(&path).unwrap();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { '1' } else { '0' },
        &sig[1..]
    );
    fs::write(&path, flipped).unwrap();
    assert_fails(
        &f.package,
        &f.keys,
        "manifest.json: signature does not verify",
    );
    fs::write(&path, "not hex\n").unwrap();
    assert_fails(
        &f.package,
        &f.keys,
        "manifest.sig: not a hex Ed25519 signature",
    );
}

#[test]
fn an_extra_file_is_named() {
    let f = fixture();
    fs::write(f.package.join("notes.txt"), "hello").unwrap();
    assert_fails(&f.package, &f.keys, "unexpected file notes.txt");
}

#[test]
fn a_missing_file_is_named() {
    let f = fixture();
    fs::remove_file(f.package.join(PARQUET_FILE)).unwrap();
    assert_fails(&f.package, &f.keys, "missing data.parquet");
    fs::remove_file(f.package.join(SIGNATURE_FILE)).unwrap();
    assert_fails(&f.package, &f.keys, "missing manifest.sig");
}

#[test]
fn a_symlinked_data_file_is_refused() {
    let f = fixture();
    let csv = f.package.join(CSV_FILE);
    let elsewhere = f.products.join("copy.csv");
    fs::rename(&csv, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &csv).unwrap();
    assert_fails(&f.package, &f.keys, "data.csv: not a regular file");
}

#[test]
fn another_domains_key_is_named() {
    let f = fixture();
    let other_dir = tempfile::tempdir().unwrap();
    let other = DomainKeys::load_or_create(other_dir.path()).unwrap();
    let expected = format!(
        "manifest.json: signed by key {}, not by the given key {}",
        f.keys.public_key().key_id(),
        other.public_key().key_id()
    );
    assert_fails(&f.package, &other, &expected);
}

#[test]
fn existing_and_invalid_ids_are_refused() {
    let f = fixture();
    let batch = table();
    let again = write_package(
        &f.products,
        manifest("j-1-by_district", &batch),
        &batch,
        &f.keys,
    );
    assert!(
        matches!(again, Err(ProductError::AlreadyExists { .. })),
        "{again:?}"
    );
    for bad in ["../escape", ".hidden", "a b", ""] {
        let result = write_package(&f.products, manifest(bad, &batch), &batch, &f.keys);
        assert!(
            matches!(result, Err(ProductError::InvalidId { .. })),
            "{bad:?}: {result:?}"
        );
    }
    assert_eq!(fs::read_dir(&f.products).unwrap().count(), 1);
}

#[test]
fn a_manifest_not_describing_the_table_is_refused() {
    let f = fixture();
    let batch = table();
    let mut wrong = manifest("p2", &batch);
    wrong.columns.pop();
    let err = write_package(&f.products, wrong, &batch, &f.keys).unwrap_err();
    assert!(
        matches!(
            err,
            ProductError::InvalidManifest {
                field: "columns",
                ..
            }
        ),
        "{err:?}"
    );
    let mut wrong = manifest("p3", &batch);
    wrong.rows = 3;
    let err = write_package(&f.products, wrong, &batch, &f.keys).unwrap_err();
    assert!(
        matches!(err, ProductError::InvalidManifest { field: "rows", .. }),
        "{err:?}"
    );
    // Failed writes leave nothing behind.
    assert_eq!(fs::read_dir(&f.products).unwrap().count(), 1);
}

#[test]
fn a_stale_staging_folder_is_replaced() {
    let data = tempfile::tempdir().unwrap();
    let keys = DomainKeys::load_or_create(data.path()).unwrap();
    let products = data.path().join("products");
    fs::create_dir_all(products.join(".tmp-p1")).unwrap();
    fs::write(products.join(".tmp-p1/junk"), "x").unwrap();
    let batch = table();
    let dir = write_package(&products, manifest("p1", &batch), &batch, &keys).unwrap();
    verify_package(&dir, &keys.public_key()).unwrap();
    assert!(!products.join(".tmp-p1").exists());
}

#[test]
fn an_empty_table_makes_a_valid_package() {
    let data = tempfile::tempdir().unwrap();
    let keys = DomainKeys::load_or_create(data.path()).unwrap();
    let batch = RecordBatch::new_empty(table().schema());
    let dir = write_package(
        &data.path().join("products"),
        manifest("empty", &batch),
        &batch,
        &keys,
    )
    .unwrap();
    assert_eq!(
        verify_package(&dir, &keys.public_key())
            .unwrap()
            .manifest
            .rows,
        0
    );
    assert_eq!(
        fs::read_to_string(dir.join(CSV_FILE)).unwrap(),
        "district,count,mean_income\n"
    );
}
