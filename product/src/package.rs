//! Writing a product package, atomically.
//!
//! The package is built in `<products>/.tmp-<id>/`: data files first, then their hashes (read
//! back from disk, so the manifest pins the bytes actually written), then the manifest and its
//! signature; every file and the folder are fsynced, and only then is the folder renamed to
//! `<products>/<id>/`. A reader therefore never sees a product without its signature, and a crash
//! leaves at most a `.tmp-` folder, which the next write of that id replaces.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use super::files::{io_error, sha256_reader, sync_dir};
use super::manifest::{
    check_product_id, FileRef, ProductManifest, SignerRef, FORMAT, SIGNATURE_ALGORITHM,
};
use super::ProductError;
use shuyu_keys::DomainKeys;

/// The Parquet data file.
pub const PARQUET_FILE: &str = "data.parquet";
/// The CSV data file.
pub const CSV_FILE: &str = "data.csv";
/// The manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest's signature.
pub const SIGNATURE_FILE: &str = "manifest.sig";

/// Writes `<products_dir>/<product_id>/` atomically (build in `<products_dir>/.tmp-<id>`, fsync,
/// rename): data.parquet (parquet ArrowWriter), data.csv (arrow csv writer with header),
/// manifest.json (pretty JSON incl. each data file's SHA-256 and size, and signer), manifest.sig
/// (hex Ed25519 signature of the exact manifest.json bytes + newline). Refuses if the id exists
/// or isn't [A-Za-z0-9._-]+.
///
/// `manifest.files` and `manifest.signer` are filled here (whatever they held is replaced); an
/// empty `format` becomes [`FORMAT`]. `columns` and `rows` must describe `table`.
///
/// Returns the package folder.
pub fn write_package(
    products_dir: &Path,
    mut manifest: ProductManifest,
    table: &RecordBatch,
    keys: &DomainKeys,
) -> Result<PathBuf, ProductError> {
    check_product_id(&manifest.product_id)?;
    check_manifest(&mut manifest, table)?;
    fs::create_dir_all(products_dir).map_err(io_error(products_dir, "create folder"))?;

    let id = manifest.product_id.clone();
    let target = products_dir.join(&id);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(ProductError::AlreadyExists { id });
    }
    let staging = products_dir.join(format!(".tmp-{id}"));
    if fs::symlink_metadata(&staging).is_ok() {
        // Left by a crashed write of this id: nothing in it was ever published.
        fs::remove_dir_all(&staging).map_err(io_error(&staging, "remove stale staging folder"))?;
    }
    fs::create_dir(&staging).map_err(io_error(&staging, "create folder"))?;

    let result = build(&staging, manifest, table, keys).and_then(|()| {
        // Checked again: another writer may have published this id while we were building.
        if fs::symlink_metadata(&target).is_ok() {
            return Err(ProductError::AlreadyExists { id: id.clone() });
        }
        fs::rename(&staging, &target).map_err(io_error(&target, "rename into place"))?;
        sync_dir(products_dir)
    });
    if result.is_err() {
        // Best effort: an unpublished staging folder is garbage.
        let _ = fs::remove_dir_all(&staging);
    }
    result.map(|()| target)
}

fn check_manifest(manifest: &mut ProductManifest, table: &RecordBatch) -> Result<(), ProductError> {
    if manifest.format.is_empty() {
        manifest.format = FORMAT.to_string();
    } else if manifest.format != FORMAT {
        return Err(ProductError::InvalidManifest {
            field: "format",
            reason: format!("'{}' is not {FORMAT}", manifest.format),
        });
    }
    let schema = table.schema();
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    if manifest.columns.len() != names.len()
        || manifest.columns.iter().zip(&names).any(|(a, b)| a != *b)
    {
        return Err(ProductError::InvalidManifest {
            field: "columns",
            reason: format!(
                "{:?} differ from the table's columns {names:?}",
                manifest.columns
            ),
        });
    }
    if manifest.rows != table.num_rows() as u64 {
        return Err(ProductError::InvalidManifest {
            field: "rows",
            reason: format!(
                "{} differs from the table's {} rows",
                manifest.rows,
                table.num_rows()
            ),
        });
    }
    Ok(())
}

fn build(
    staging: &Path,
    mut manifest: ProductManifest,
    table: &RecordBatch,
    keys: &DomainKeys,
) -> Result<(), ProductError> {
    write_parquet(&staging.join(PARQUET_FILE), table)?;
    write_csv(&staging.join(CSV_FILE), table)?;

    let mut refs = Vec::new();
    for name in [CSV_FILE, PARQUET_FILE] {
        let path = staging.join(name);
        let file = File::open(&path).map_err(io_error(&path, "open"))?;
        let (sha256, bytes) = sha256_reader(file).map_err(io_error(&path, "read"))?;
        refs.push(FileRef {
            name: name.to_string(),
            sha256,
            bytes,
        });
    }
    manifest.files = refs;
    manifest.signer = Some(SignerRef {
        algorithm: SIGNATURE_ALGORITHM.to_string(),
        key_id: keys.public_key().key_id(),
    });

    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ProductError::InvalidManifest {
            field: "manifest",
            reason: format!("cannot be serialized: {e}"),
        })?;
    manifest_bytes.push(b'\n');
    let signature = format!("{}\n", hex::encode(keys.sign(&manifest_bytes)));
    write_file(&staging.join(MANIFEST_FILE), &manifest_bytes)?;
    write_file(&staging.join(SIGNATURE_FILE), signature.as_bytes())?;
    sync_dir(staging)
}

fn write_parquet(path: &Path, table: &RecordBatch) -> Result<(), ProductError> {
    let encode = |e: parquet::errors::ParquetError| ProductError::Encode {
        file: PARQUET_FILE,
        reason: e.to_string(),
    };
    let file = File::create(path).map_err(io_error(path, "create"))?;
    let handle = file.try_clone().map_err(io_error(path, "open"))?;
    let mut writer = ArrowWriter::try_new(handle, table.schema(), None).map_err(encode)?;
    writer.write(table).map_err(encode)?;
    writer.close().map_err(encode)?;
    file.sync_all().map_err(io_error(path, "sync"))
}

fn write_csv(path: &Path, table: &RecordBatch) -> Result<(), ProductError> {
    let file = File::create(path).map_err(io_error(path, "create"))?;
    let handle = file.try_clone().map_err(io_error(path, "open"))?;
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(handle);
    writer.write(table).map_err(|e| ProductError::Encode {
        file: CSV_FILE,
        reason: e.to_string(),
    })?;
    // `write` flushed every row; dropping the writer only releases the handle.
    drop(writer);
    file.sync_all().map_err(io_error(path, "sync"))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ProductError> {
    let mut file = File::create(path).map_err(io_error(path, "create"))?;
    file.write_all(bytes).map_err(io_error(path, "write"))?;
    file.sync_all().map_err(io_error(path, "sync"))
}
