//! Mock twins: a synthetic dataset with a real dataset's manifest (schema, classes, uses, clamps)
//! and value domains, and none of its rows.
//!
//! Operators develop against mock twins without approval and see everything a run does there
//! (docs/operator.md, "Mock runs"), so a twin must carry nothing a release could not. What it
//! takes from the real data, and why that is safe:
//!
//! - **Dimension values held by at least `min_k` entities** (at most [`MAX_DOMAIN`] per column).
//!   A group of `min_k` entities is exactly what a threshold release of that dimension may show,
//!   so the list is no more than one permitted release. Rarer values are left out; a column with
//!   more distinct values than [`MAX_DOMAIN`] gets synthetic values instead.
//! - **Rows per entity**, rounded and capped at [`MAX_ROWS_PER_ENTITY`]: one aggregate of the
//!   whole table.
//!
//! Everything else comes from the manifest alone: measures are drawn inside their clamp,
//! identifiers are synthetic but valid (so the guard recognises them in a mock run exactly as in
//! a real one) and shared between twins (entity *i* of every `usci` twin is the same code, so
//! joins across twins match), dates fall in the two years before the data was acquired. The
//! twin is drawn from a generator seeded by the real file's hash: the same version always has
//! the same twin.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Float64Builder,
    Int64Array, Int64Builder, StringArray, StringBuilder,
};
use arrow::record_batch::RecordBatch;
use chrono::{Duration, NaiveDate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shuyu_datasets::ids;
use shuyu_datasets::manifest::{
    ColumnSpec, ColumnType, ColumnUse, DatasetManifest, IdentifierKind, DEFAULT_DATA_FILE,
};

use super::{CatalogError, Dataset, MANIFEST_FILE};

/// The folder of a version's mock twin, inside the version's folder.
pub const MOCK_DIR: &str = "mock";
/// Entities in every mock twin.
pub const MOCK_ENTITIES: usize = 2000;
/// The most distinct values a dimension may have for its real domain to be used.
pub const MAX_DOMAIN: usize = 256;
/// The most rows a mock entity gets.
pub const MAX_ROWS_PER_ENTITY: u64 = 24;
/// The share of nulls in a nullable column.
const NULL_SHARE: f64 = 0.03;
/// The words a mock twin's description starts with.
const MOCK_NOTE: &str = "模拟孪生数据（mock twin），无真实记录。";

/// A value of a dimension's domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Value {
    Text(String),
    Int(i64),
    Date(i32),
    Bool(bool),
}

/// What a twin takes from the real data (see the module's comment).
#[derive(Debug, Default)]
struct Profile {
    /// Per dimension column: its values held by at least `min_k` entities, sorted; absent when
    /// the column has too many distinct values.
    domains: HashMap<String, Vec<Value>>,
    /// Rows per entity, rounded, at least 1.
    rows_per_entity: u64,
}

/// Writes the mock twin of `real` into `dir` (replacing what is there) and loads it.
pub fn write_twin(real: &Dataset, dir: &Path) -> Result<Dataset, CatalogError> {
    let profile = profile(real)?;
    let manifest = twin_manifest(&real.manifest);
    let batch = generate(&manifest, &profile, seed(&real.content_sha256))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CatalogError::Io { path, source }
    };
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let text = manifest
        .to_toml_string()
        .map_err(|source| CatalogError::Manifest {
            path: dir.join(MANIFEST_FILE),
            source,
        })?;
    fs::write(dir.join(MANIFEST_FILE), text).map_err(io(&dir.join(MANIFEST_FILE)))?;
    let data_path = dir.join(DEFAULT_DATA_FILE);
    let parquet_error = |e: parquet::errors::ParquetError| CatalogError::Parquet {
        path: data_path.clone(),
        message: e.to_string(),
    };
    let file = File::create(&data_path).map_err(io(&data_path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).map_err(parquet_error)?;
    writer.write(&batch).map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Dataset::load_as(dir, real.name())
}

/// The twin of `real` in its version folder, written first if it is missing (versions published
/// before twins existed get theirs on first use).
pub fn twin_of(real: &Dataset) -> Result<Dataset, CatalogError> {
    let dir = real.dir.join(MOCK_DIR);
    if dir.join(MANIFEST_FILE).is_file() {
        if let Ok(twin) = Dataset::load_as(&dir, real.name()) {
            return Ok(twin);
        }
    }
    // A twin being written by another caller at the same moment (another process, or another
    // thread of this one) lands in a folder of its own and is renamed into place, so no reader
    // sees half a twin.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = real
        .dir
        .join(format!(".{MOCK_DIR}-{}-{n}", std::process::id()));
    if let Err(e) = write_twin(real, &staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if dir.join(MANIFEST_FILE).is_file() {
        // Another caller placed the same twin first (same version, same seed: same bytes).
        let _ = fs::remove_dir_all(&staging);
    } else {
        if dir.exists() {
            let _ = fs::remove_dir_all(&dir);
        }
        if let Err(source) = fs::rename(&staging, &dir) {
            let _ = fs::remove_dir_all(&staging);
            // Lost a race to a caller that placed it between the check and the rename.
            if !dir.join(MANIFEST_FILE).is_file() {
                return Err(CatalogError::Io {
                    path: dir.clone(),
                    source,
                });
            }
        }
    }
    Dataset::load_as(&dir, real.name())
}

/// The real manifest with its data file at the twin's place and its description marked.
fn twin_manifest(real: &DatasetManifest) -> DatasetManifest {
    let mut manifest = real.clone();
    manifest.dataset.data = DEFAULT_DATA_FILE.to_string();
    manifest.dataset.description = format!("{MOCK_NOTE}{}", real.dataset.description);
    manifest
}

/// The generator's seed: the first eight bytes of the real file's hash.
fn seed(content_sha256: &str) -> u64 {
    let bytes = hex::decode(content_sha256.get(..16).unwrap_or_default()).unwrap_or_default();
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// One pass over the real file: distinct entities, and for each dimension the entities (up to
/// `min_k`) holding each value.
fn profile(real: &Dataset) -> Result<Profile, CatalogError> {
    let manifest = &real.manifest;
    let min_k = usize::try_from(manifest.dataset.min_k.max(1)).unwrap_or(usize::MAX);
    let parquet_error = |message: String| CatalogError::Parquet {
        path: real.data_path.clone(),
        message,
    };
    let file = File::open(&real.data_path).map_err(|source| CatalogError::Io {
        path: real.data_path.clone(),
        source,
    })?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(e.to_string()))?;
    let entity = manifest.dataset.entity_column.clone();
    let dimensions: Vec<&ColumnSpec> = manifest
        .columns
        .iter()
        .filter(|c| c.uses.contains(&ColumnUse::Dimension) && c.data_type != ColumnType::Float64)
        .collect();
    let wanted: HashSet<&str> = dimensions
        .iter()
        .map(|c| c.name.as_str())
        .chain([entity.as_str()])
        .collect();
    let schema = builder.schema().clone();
    let indices: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.contains(f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| parquet_error(e.to_string()))?;

    let mut entities: HashSet<u64> = HashSet::new();
    // Per dimension: value → entities seen holding it (capped at min_k); `None` once the column
    // has more than MAX_DOMAIN values.
    let mut seen: HashMap<String, Option<HashMap<Value, HashSet<u64>>>> = dimensions
        .iter()
        .map(|c| (c.name.clone(), Some(HashMap::new())))
        .collect();
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(e.to_string()))?;
        rows = rows.saturating_add(batch.num_rows() as u64);
        let Some(entity_array) = batch.column_by_name(&entity) else {
            return Err(parquet_error(format!("no entity column '{entity}'")));
        };
        let entity_hashes: Vec<u64> = (0..batch.num_rows())
            .map(|row| hash_of(value_at(entity_array.as_ref(), row)))
            .collect();
        entities.extend(entity_hashes.iter().copied());
        for column in &dimensions {
            let Some(slot) = seen.get_mut(&column.name) else {
                continue;
            };
            let Some(values) = slot else { continue };
            let Some(array) = batch.column_by_name(&column.name) else {
                continue;
            };
            for (row, holder) in entity_hashes.iter().enumerate() {
                let Some(value) = value_at(array.as_ref(), row) else {
                    continue;
                };
                if !values.contains_key(&value) && values.len() >= MAX_DOMAIN {
                    *slot = None;
                    break;
                }
                let holders = values.entry(value).or_default();
                if holders.len() < min_k {
                    holders.insert(*holder);
                }
            }
        }
    }
    let domains = seen
        .into_iter()
        .filter_map(|(name, values)| {
            let mut kept: Vec<Value> = values?
                .into_iter()
                .filter(|(_, holders)| holders.len() >= min_k)
                .map(|(value, _)| value)
                .collect();
            kept.sort();
            (!kept.is_empty()).then_some((name, kept))
        })
        .collect();
    let distinct = entities.len().max(1) as u64;
    Ok(Profile {
        domains,
        rows_per_entity: ((rows + distinct / 2) / distinct).clamp(1, MAX_ROWS_PER_ENTITY),
    })
}

/// The value in `row` of a column of one of the manifest's types; `None` for a null.
fn value_at(array: &dyn Array, row: usize) -> Option<Value> {
    if array.is_null(row) {
        return None;
    }
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Some(Value::Text(a.value(row).to_string()));
    }
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Some(Value::Int(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<Date32Array>() {
        return Some(Value::Date(a.value(row)));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return Some(Value::Bool(a.value(row)));
    }
    None
}

/// The `i`-th mock identifier of a kind: the same in every twin, valid, and plainly synthetic
/// (the organisation code starts with `M`; citizen numbers are born on 1 January).
fn mock_identifier(kind: Option<IdentifierKind>, column: &str, i: usize) -> String {
    match kind {
        Some(IdentifierKind::Usci) => ids::make_usci("110101", &format!("M{:07}", i % 10_000_000))
            .unwrap_or_else(|_| format!("mock-usci-{i}")),
        Some(IdentifierKind::CitizenId) => {
            let year = 1950 + i32::try_from(i % 50).unwrap_or(0);
            let sequence = u16::try_from(i / 50 % 1000).unwrap_or(0);
            NaiveDate::from_ymd_opt(year, 1, 1)
                .and_then(|birth| ids::make_citizen_id("110101", birth, sequence).ok())
                .unwrap_or_else(|| format!("mock-citizen-{i}"))
        }
        _ => format!("模拟{column}{i:04}"),
    }
}

/// The rows of a twin: [`MOCK_ENTITIES`] entities, each with about `rows_per_entity` rows.
fn generate(
    manifest: &DatasetManifest,
    profile: &Profile,
    seed: u64,
) -> Result<RecordBatch, CatalogError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let per = profile.rows_per_entity;
    let owners: Vec<usize> = (0..MOCK_ENTITIES)
        .flat_map(|entity| {
            // Between half and one and a half times the real ratio, at least one row.
            let low = (per / 2).max(1);
            let high = (per + per / 2).max(low);
            let rows = rng.random_range(low..=high);
            std::iter::repeat_n(entity, usize::try_from(rows).unwrap_or(1))
        })
        .collect();
    let acquired = manifest.dataset.acquired;
    let entity = &manifest.dataset.entity_column;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(manifest.columns.len());
    for column in &manifest.columns {
        let is_entity = &column.name == entity;
        let domain = profile.domains.get(&column.name);
        let null = |rng: &mut StdRng| column.nullable && !is_entity && rng.random_bool(NULL_SHARE);
        let pick = |rng: &mut StdRng| domain.map(|d| d[rng.random_range(0..d.len())].clone());
        let array: ArrayRef = match column.data_type {
            ColumnType::Utf8 => {
                let mut b = StringBuilder::new();
                for &owner in &owners {
                    if null(&mut rng) {
                        b.append_null();
                        continue;
                    }
                    let text = if is_entity {
                        mock_identifier(column.identifier_kind, &column.name, owner)
                    } else if let Some(Value::Text(t)) = pick(&mut rng) {
                        t
                    } else if column.identifier_kind.is_some() {
                        let i = if column.identifier_kind == Some(IdentifierKind::Other) {
                            owner
                        } else {
                            rng.random_range(0..MOCK_ENTITIES)
                        };
                        mock_identifier(column.identifier_kind, &column.name, i)
                    } else {
                        format!("mock-{}-{}", column.name, rng.random_range(0..20))
                    };
                    b.append_value(text);
                }
                Arc::new(b.finish())
            }
            ColumnType::Int64 => {
                let (low, high) = range(column);
                let mut b = Int64Builder::new();
                for _ in &owners {
                    if null(&mut rng) {
                        b.append_null();
                    } else if let Some(Value::Int(v)) = pick(&mut rng) {
                        b.append_value(v);
                    } else {
                        b.append_value(draw(&mut rng, low, high).round() as i64);
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Float64 => {
                let (low, high) = range(column);
                let mut b = Float64Builder::new();
                for _ in &owners {
                    if null(&mut rng) {
                        b.append_null();
                    } else {
                        b.append_value((draw(&mut rng, low, high) * 100.0).round() / 100.0);
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Date32 => {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                let last = i32::try_from((acquired - epoch).num_days()).unwrap_or(0);
                let first =
                    i32::try_from((acquired - Duration::days(730) - epoch).num_days()).unwrap_or(0);
                let mut b = Date32Builder::new();
                for _ in &owners {
                    if null(&mut rng) {
                        b.append_null();
                    } else if let Some(Value::Date(d)) = pick(&mut rng) {
                        b.append_value(d);
                    } else {
                        b.append_value(rng.random_range(first..=last));
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Boolean => {
                let mut b = BooleanBuilder::new();
                for _ in &owners {
                    if null(&mut rng) {
                        b.append_null();
                    } else if let Some(Value::Bool(v)) = pick(&mut rng) {
                        b.append_value(v);
                    } else {
                        b.append_value(rng.random_bool(0.5));
                    }
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(manifest.arrow_schema()), columns).map_err(|e| {
        CatalogError::Schema {
            path: MANIFEST_FILE.into(),
            message: format!("mock twin: {e}"),
        }
    })
}

/// A numeric column's range: its clamp, else 0..1000.
fn range(column: &ColumnSpec) -> (f64, f64) {
    match column.clamp {
        Some([low, high]) if low.is_finite() && high.is_finite() && low <= high => (low, high),
        _ => (0.0, 1000.0),
    }
}

/// A number in `low..=high`, skewed towards the low end as incomes and taxes are.
fn draw(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    let u: f64 = rng.random();
    low + (high - low) * u * u * u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use arrow::array::Float64Array;

    fn bundled() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
    }

    #[test]
    fn a_twin_has_the_real_manifest_and_synthetic_rows_only() {
        let catalog = Catalog::load(&bundled()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        for real in catalog.datasets() {
            let dir = tmp.path().join(real.name());
            let twin = write_twin(real, &dir).unwrap();
            assert_eq!(
                twin.manifest.columns,
                real.manifest.columns,
                "{}",
                real.name()
            );
            assert_eq!(twin.manifest.dataset.min_k, real.manifest.dataset.min_k);
            assert!(twin.manifest.dataset.description.starts_with(MOCK_NOTE));
            assert!(twin.rows >= MOCK_ENTITIES as u64, "{}", real.name());
            assert_ne!(twin.content_sha256, real.content_sha256);
            // No real identifier is in the twin.
            let real_ids: HashSet<String> =
                column_texts(real, &real.manifest.dataset.entity_column)
                    .into_iter()
                    .collect();
            let twin_ids = column_texts(&twin, &real.manifest.dataset.entity_column);
            assert!(twin_ids.iter().all(|id| !real_ids.contains(id)));
            assert_eq!(
                twin_ids.iter().collect::<HashSet<_>>().len(),
                MOCK_ENTITIES,
                "{}",
                real.name()
            );
        }
    }

    #[test]
    fn twins_share_their_entities_so_joins_match() {
        let catalog = Catalog::load(&bundled()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let registry = write_twin(
            catalog.get("enterprise_registry").unwrap(),
            &tmp.path().join("a"),
        )
        .unwrap();
        let tax = write_twin(catalog.get("tax_payments").unwrap(), &tmp.path().join("b")).unwrap();
        let a: HashSet<String> = column_texts(&registry, "usci").into_iter().collect();
        let b: HashSet<String> = column_texts(&tax, "usci").into_iter().collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|id| ids::usci_is_valid(id)), "{a:?}");
    }

    #[test]
    fn dimensions_keep_only_values_of_at_least_k_entities_and_measures_stay_in_their_clamp() {
        let catalog = Catalog::load(&bundled()).unwrap();
        let tax = catalog.get("tax_payments").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let twin = write_twin(tax, &tmp.path().join("t")).unwrap();
        let types: HashSet<String> = column_texts(&twin, "tax_type").into_iter().collect();
        let real_types: HashSet<String> = column_texts(tax, "tax_type").into_iter().collect();
        assert!(
            !types.is_empty() && types.is_subset(&real_types),
            "{types:?}"
        );
        let batch = read_all(&twin);
        let amounts = batch
            .column_by_name("amount")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let [low, high] = tax.manifest.column("amount").unwrap().clamp.unwrap();
        assert!(amounts.iter().flatten().all(|v| (low..=high).contains(&v)));
    }

    #[test]
    fn a_rare_value_stays_out_and_the_same_version_always_has_the_same_twin() {
        let catalog = Catalog::load(&bundled()).unwrap();
        let tax = catalog.get("tax_payments").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        // A copy of the tax data with one enterprise's tax type made unique.
        let batch = read_all(tax);
        let types = batch.column_by_name("tax_type").unwrap();
        let types = types.as_any().downcast_ref::<StringArray>().unwrap();
        let edited: StringArray = types
            .iter()
            .enumerate()
            .map(|(i, t)| if i == 0 { Some("罕见税种") } else { t })
            .collect();
        let index = batch.schema().index_of("tax_type").unwrap();
        let mut columns = batch.columns().to_vec();
        columns[index] = Arc::new(edited);
        let edited = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let dir = tmp.path().join("tax_payments");
        fs::create_dir_all(&dir).unwrap();
        fs::copy(tax.dir.join(MANIFEST_FILE), dir.join(MANIFEST_FILE)).unwrap();
        let file = File::create(dir.join(&tax.manifest.dataset.data)).unwrap();
        let mut writer = ArrowWriter::try_new(file, edited.schema(), None).unwrap();
        writer.write(&edited).unwrap();
        writer.close().unwrap();
        let real = Dataset::load(&dir).unwrap();
        let first = write_twin(&real, &tmp.path().join("m1")).unwrap();
        let again = write_twin(&real, &tmp.path().join("m2")).unwrap();
        assert_eq!(first.content_sha256, again.content_sha256);
        let twin_types: HashSet<String> = column_texts(&first, "tax_type").into_iter().collect();
        assert!(!twin_types.contains("罕见税种"), "{twin_types:?}");
    }

    #[test]
    fn twin_of_writes_a_missing_twin_once() {
        let catalog = Catalog::load(&bundled()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let real = Catalog::import(tmp.path(), &catalog.get("residents").unwrap().dir).unwrap();
        let twin = twin_of(&real).unwrap();
        assert_eq!(twin.dir, real.dir.join(MOCK_DIR));
        let again = twin_of(&real).unwrap();
        assert_eq!(again.content_sha256, twin.content_sha256);
    }

    #[test]
    fn twins_drawn_at_once_by_several_threads_agree() {
        let catalog = Catalog::load(&bundled()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let real = Catalog::import(tmp.path(), &catalog.get("tax_payments").unwrap().dir).unwrap();
        let hashes: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| twin_of(&real).unwrap().content_sha256))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
        let leftovers: Vec<_> = fs::read_dir(&real.dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    fn read_all(dataset: &Dataset) -> RecordBatch {
        let file = File::open(&dataset.data_path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    fn column_texts(dataset: &Dataset, column: &str) -> Vec<String> {
        let batch = read_all(dataset);
        let array = batch.column_by_name(column).unwrap();
        let array = array.as_any().downcast_ref::<StringArray>().unwrap();
        array.iter().flatten().map(str::to_string).collect()
    }
}
