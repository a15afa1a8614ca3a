//! The catalog: the datasets this domain holds.
//!
//! A dataset is a folder `<root>/<name>/` with a `dataset.toml` manifest (format:
//! [`shuyu_datasets::manifest`]) and the Parquet file it names. Loading validates each manifest on
//! its own and against its Parquet schema, and computes the content hash that products cite, so a
//! job never starts on a dataset whose description and data disagree.

mod hash;
pub mod mock;
mod validate;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use hash::sha256_file;
use shuyu_datasets::manifest::{ColumnClass, DatasetManifest, ManifestError};

/// The manifest's file name inside a dataset folder.
pub const MANIFEST_FILE: &str = "dataset.toml";

/// Why the catalog could not be loaded. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A manifest is not valid on its own.
    #[error("{path}: {source}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// A manifest disagrees with its Parquet file.
    #[error("{path}: {message}")]
    Schema {
        /// The manifest file.
        path: PathBuf,
        /// Which column or field disagrees, and how.
        message: String,
    },
    /// A Parquet file could not be read.
    #[error("{path}: not a readable Parquet file: {message}")]
    Parquet {
        /// The data file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// The catalog folder holds no dataset.
    #[error("{0}: no datasets (expected folders holding a dataset.toml); run `shuyu datasets import` or `shuyu demo`")]
    Empty(PathBuf),
    /// Two folders declare the same dataset name.
    #[error("dataset '{0}' is declared twice")]
    Duplicate(String),
}

/// One dataset version, validated.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The manifest as the provider wrote it.
    pub manifest: DatasetManifest,
    /// The dataset's folder.
    pub dir: PathBuf,
    /// The Parquet file.
    pub data_path: PathBuf,
    /// SHA-256 of the Parquet file: the version products cite.
    pub content_sha256: String,
    /// Number of rows, from the Parquet footer.
    pub rows: u64,
}

impl Dataset {
    /// The dataset's name (also its SQL table name).
    pub fn name(&self) -> &str {
        &self.manifest.dataset.name
    }

    /// Names of the columns classed as identifiers.
    pub fn identifier_columns(&self) -> impl Iterator<Item = &str> {
        self.manifest
            .columns
            .iter()
            .filter(|c| c.class == ColumnClass::Identifier)
            .map(|c| c.name.as_str())
    }

    /// Loads and validates one dataset folder.
    pub fn load(dir: &Path) -> Result<Self, CatalogError> {
        let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        Self::load_checked(dir, |name| {
            (name != folder).then(|| {
                format!("dataset.name is '{name}' but the folder is '{folder}'; they must match")
            })
        })
    }

    /// Loads and validates one dataset folder whose name says nothing (a registry version
    /// folder such as `v3`): the manifest's `dataset.name` must be `expected` instead.
    pub fn load_as(dir: &Path, expected: &str) -> Result<Self, CatalogError> {
        Self::load_checked(dir, |name| {
            (name != expected)
                .then(|| format!("dataset.name is '{name}' but '{expected}' was expected"))
        })
    }

    /// Loads `dir`; `name_problem` says what is wrong with the manifest's name, if anything.
    fn load_checked(
        dir: &Path,
        name_problem: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Self, CatalogError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&manifest_path).map_err(|source| CatalogError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest = DatasetManifest::from_toml_str(&text)
            .and_then(|m| m.validate().map(|()| m))
            .map_err(|source| CatalogError::Manifest {
                path: manifest_path.clone(),
                source,
            })?;
        if let Some(message) = name_problem(&manifest.dataset.name) {
            return Err(CatalogError::Schema {
                path: manifest_path,
                message,
            });
        }
        let data_path = dir.join(&manifest.dataset.data);
        let rows = validate::against_parquet(&manifest, &manifest_path, &data_path)?;
        let content_sha256 = sha256_file(&data_path).map_err(|source| CatalogError::Io {
            path: data_path.clone(),
            source,
        })?;
        Ok(Self {
            manifest,
            dir: dir.to_path_buf(),
            data_path,
            content_sha256,
            rows,
        })
    }
}

/// All datasets under one root folder, by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    root: PathBuf,
    datasets: BTreeMap<String, Dataset>,
}

impl Catalog {
    /// Loads every `<root>/*/dataset.toml`. Fails on the first invalid dataset, naming it: a
    /// catalog that silently skipped a broken dataset would make jobs fail later and obscurely.
    pub fn load(root: &Path) -> Result<Self, CatalogError> {
        let entries = fs::read_dir(root).map_err(|source| CatalogError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| CatalogError::Io {
                path: root.to_path_buf(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() && path.join(MANIFEST_FILE).is_file() {
                dirs.push(path);
            }
        }
        dirs.sort();
        let mut datasets = BTreeMap::new();
        for dir in dirs {
            let dataset = Dataset::load(&dir)?;
            let name = dataset.name().to_string();
            if datasets.insert(name.clone(), dataset).is_some() {
                return Err(CatalogError::Duplicate(name));
            }
        }
        if datasets.is_empty() {
            return Err(CatalogError::Empty(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            datasets,
        })
    }

    /// A catalog of datasets already loaded (for instance the current versions of registered
    /// datasets, each in its own version folder under `root`). Unlike [`Catalog::load`], an empty
    /// list is accepted: the caller decides which datasets a job needs.
    pub fn from_datasets(root: &Path, list: Vec<Dataset>) -> Result<Self, CatalogError> {
        let mut datasets = BTreeMap::new();
        for dataset in list {
            let name = dataset.name().to_string();
            if datasets.insert(name.clone(), dataset).is_some() {
                return Err(CatalogError::Duplicate(name));
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            datasets,
        })
    }

    /// The catalog's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// One dataset by name.
    pub fn get(&self, name: &str) -> Option<&Dataset> {
        self.datasets.get(name)
    }

    /// All datasets, by name.
    pub fn datasets(&self) -> impl Iterator<Item = &Dataset> {
        self.datasets.values()
    }

    /// Validates the dataset folder `src` and copies it into `root` (replacing an older version of
    /// the same dataset only after the copy is complete). Returns the imported dataset.
    pub fn import(root: &Path, src: &Path) -> Result<Dataset, CatalogError> {
        let checked = Dataset::load(src)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CatalogError::Io { path, source }
        };
        fs::create_dir_all(root).map_err(io(root))?;
        let name = checked.name().to_string();
        let staging = root.join(format!(".import-{name}"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        for file in [MANIFEST_FILE, checked.manifest.dataset.data.as_str()] {
            fs::copy(src.join(file), staging.join(file)).map_err(io(&src.join(file)))?;
        }
        let target = root.join(&name);
        if target.exists() {
            fs::remove_dir_all(&target).map_err(io(&target))?;
        }
        fs::rename(&staging, &target).map_err(io(&target))?;
        Dataset::load(&target)
    }
}
