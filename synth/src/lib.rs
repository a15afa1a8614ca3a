//! Deterministic synthetic datasets: a fictional city on Hangzhou's map with its enterprises,
//! their taxes and insured staff, its residents and their clinic visits.
//!
//! [`generate`] writes `<out_dir>/<name>/data.parquet` and `<out_dir>/<name>/dataset.toml` for
//! each dataset. The same options give byte-identical files on the same platform, and generating
//! one dataset alone gives the same bytes as generating all of them: every random stream is
//! derived from the seed and a fixed name, and entities shared between datasets (enterprises,
//! residents) are recomputed from their own streams rather than passed along.
//!
//! Identifiers are consistent across datasets: tax and social-insurance codes are registry codes,
//! clinic patients and legal representatives are residents, employers are registry enterprises.
//! Rows are written in batches of at most [`sink::BATCH_ROWS`], so memory stays bounded at any
//! scale (apart from 18 bytes per enterprise for legal representatives and a fixed table of
//! citizen-ID sequence counters).

mod clinic_visits;
mod dates;
mod dist;
mod enterprise_registry;
mod firms;
mod geo;
mod names;
mod people;
mod residents;
mod sectors;
mod seed;
mod sink;
mod social_insurance;
mod spec;
mod tax_payments;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use arrow::datatypes::Schema;
use chrono::NaiveDate;

use firms::FirmModel;
use names::NameMaker;
use people::People;
use shuyu_datasets::ids::IdError;
use shuyu_datasets::manifest::{DatasetManifest, ManifestError};

/// The bundled datasets, in the order they are generated.
pub const DATASET_NAMES: [&str; 5] = [
    enterprise_registry::NAME,
    tax_payments::NAME,
    social_insurance::NAME,
    residents::NAME,
    clinic_visits::NAME,
];

/// Enterprises at scale 1.0.
const FIRMS_AT_SCALE_1: f64 = 10_000.0;
/// Residents at scale 1.0.
const RESIDENTS_AT_SCALE_1: f64 = 50_000.0;
/// Largest accepted scale: 10 million enterprises and 50 million residents, well inside the
/// identifier spaces.
pub const MAX_SCALE: f64 = 1000.0;

// Enterprise codes must stay unique at the largest scale.
const _: () = assert!(FIRMS_AT_SCALE_1 * MAX_SCALE <= firms::MAX_FIRMS as f64);

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Size relative to the bundled data (1.0: 10,000 enterprises, 50,000 residents); > 0.
    pub scale: f64,
    /// Seed of every random stream.
    pub seed: u64,
    /// The acquisition date written into each manifest.
    pub acquired: NaiveDate,
    /// Generate only these datasets (names from [`DATASET_NAMES`]); all when `None`.
    pub only: Option<Vec<String>>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            scale: 1.0,
            seed: 20261101,
            acquired: dates::ymd(2026, 11, 1),
            only: None,
        }
    }
}

/// One dataset written by [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedDataset {
    /// The dataset's name, also its folder name.
    pub name: String,
    /// Rows in its Parquet file.
    pub rows: u64,
    /// Its folder, `<out_dir>/<name>`.
    pub path: PathBuf,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The scale is not a finite number in (0, [`MAX_SCALE`]].
    #[error("scale must be a number greater than 0 and at most {MAX_SCALE}, got {0}")]
    Scale(f64),
    /// `only` names a dataset that does not exist.
    #[error("unknown dataset '{0}' (known: {known})", known = DATASET_NAMES.join(", "))]
    UnknownDataset(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The Parquet writer failed.
    #[error("writing {}: {source}", path.display())]
    Parquet {
        /// The Parquet file being written.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// A record batch did not match its schema (a generator bug).
    #[error("building a record batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A generated manifest failed validation (a generator bug).
    #[error("manifest of {dataset}: {source}")]
    Manifest {
        /// The dataset concerned.
        dataset: String,
        /// What is wrong.
        source: ManifestError,
    },
    /// An identifier could not be built (a generator bug).
    #[error("building an identifier: {0}")]
    Id(#[from] IdError),
    /// The requested size exhausts an identifier space.
    #[error("scale too large: {0}")]
    TooLarge(&'static str),
}

impl GenerateError {
    fn io(path: &Path, source: io::Error) -> Self {
        GenerateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        GenerateError::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Everything the dataset writers share: the seed and the populations.
struct World {
    seed: u64,
    firms: FirmModel,
    residents: u64,
    names: NameMaker,
}

impl World {
    fn new(opts: &GenerateOptions) -> Self {
        let firms = (FIRMS_AT_SCALE_1 * opts.scale).round().max(1.0) as u64;
        let residents = (RESIDENTS_AT_SCALE_1 * opts.scale).round().max(1.0) as u64;
        World {
            seed: opts.seed,
            firms: FirmModel::new(opts.seed, firms),
            residents,
            names: NameMaker::new(),
        }
    }

    /// A fresh replay of the resident stream.
    fn people(&self) -> People {
        People::new(self.seed, self.residents)
    }
}

/// A dataset's manifest and writer.
struct Dataset {
    name: &'static str,
    manifest: fn(NaiveDate) -> DatasetManifest,
    write: fn(&World, &Path, Schema) -> Result<u64, GenerateError>,
}

const DATASETS: [Dataset; 5] = [
    Dataset {
        name: enterprise_registry::NAME,
        manifest: enterprise_registry::manifest,
        write: enterprise_registry::write,
    },
    Dataset {
        name: tax_payments::NAME,
        manifest: tax_payments::manifest,
        write: tax_payments::write,
    },
    Dataset {
        name: social_insurance::NAME,
        manifest: social_insurance::manifest,
        write: social_insurance::write,
    },
    Dataset {
        name: residents::NAME,
        manifest: residents::manifest,
        write: residents::write,
    },
    Dataset {
        name: clinic_visits::NAME,
        manifest: clinic_visits::manifest,
        write: clinic_visits::write,
    },
];

/// The manifest [`generate`] writes for dataset `name` with acquisition date `acquired`, or
/// `None` for an unknown name. Lets a caller show or check a manifest without generating data.
pub fn manifest_for(name: &str, acquired: NaiveDate) -> Option<DatasetManifest> {
    DATASETS
        .iter()
        .find(|d| d.name == name)
        .map(|d| (d.manifest)(acquired))
}

/// Generates the selected datasets into `out_dir`, creating folders and replacing existing files.
/// Calls `progress` with one line per dataset written, e.g. `tax_payments: 120,345 rows`.
pub fn generate(
    out_dir: &Path,
    opts: &GenerateOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<GeneratedDataset>, GenerateError> {
    if !(opts.scale.is_finite() && opts.scale > 0.0 && opts.scale <= MAX_SCALE) {
        return Err(GenerateError::Scale(opts.scale));
    }
    // Check every requested name before writing anything.
    if let Some(only) = &opts.only {
        if let Some(unknown) = only.iter().find(|n| !DATASET_NAMES.contains(&n.as_str())) {
            return Err(GenerateError::UnknownDataset(unknown.clone()));
        }
    }
    let selected = DATASETS.iter().filter(|d| {
        opts.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|n| n == d.name))
    });

    let world = World::new(opts);
    let mut written = Vec::new();
    for dataset in selected {
        let manifest = (dataset.manifest)(opts.acquired);
        manifest
            .validate()
            .map_err(|source| GenerateError::Manifest {
                dataset: dataset.name.to_string(),
                source,
            })?;
        let dir = out_dir.join(dataset.name);
        fs::create_dir_all(&dir).map_err(|e| GenerateError::io(&dir, e))?;
        let data_path = dir.join(&manifest.dataset.data);
        let rows = (dataset.write)(&world, &data_path, manifest.arrow_schema())?;
        let toml = manifest
            .to_toml_string()
            .map_err(|source| GenerateError::Manifest {
                dataset: dataset.name.to_string(),
                source,
            })?;
        sink::write_file(&dir.join("dataset.toml"), toml.as_bytes())?;
        progress(&format!("{}: {} rows", dataset.name, thousands(rows)));
        written.push(GeneratedDataset {
            name: dataset.name.to_string(),
            rows,
            path: dir,
        });
    }
    Ok(written)
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_manifests_and_validate() {
        let acquired = GenerateOptions::default().acquired;
        for (name, dataset) in DATASET_NAMES.iter().zip(&DATASETS) {
            assert_eq!(*name, dataset.name);
            let m = manifest_for(name, acquired).unwrap();
            assert_eq!(m.dataset.name, *name);
            m.validate().unwrap();
            let back = DatasetManifest::from_toml_str(&m.to_toml_string().unwrap()).unwrap();
            assert_eq!(back, m);
        }
        assert!(manifest_for("nope", acquired).is_none());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn rejects_bad_options_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1001.0] {
            let opts = GenerateOptions {
                scale,
                ..Default::default()
            };
            let err = generate(dir.path(), &opts, &mut |_| {}).unwrap_err();
            assert!(matches!(err, GenerateError::Scale(_)), "{err}");
        }
        let opts = GenerateOptions {
            only: Some(vec!["residents".into(), "people".into()]),
            ..Default::default()
        };
        let err = generate(dir.path(), &opts, &mut |_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown dataset 'people' (known: enterprise_registry, tax_payments, social_insurance, residents, clinic_visits)"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
