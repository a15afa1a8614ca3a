//! Bundled public datasets for shuyu: the `dataset.toml` manifest format, Chinese identifier
//! checks, and a deterministic generator of synthetic but realistic city data.
//!
//! - [`manifest`]: the serde types of `dataset.toml`, shared by the generator and the runtime's
//!   catalog, and their stand-alone validation.
//! - [`ids`]: unified social credit codes and citizen ID numbers: check characters, validators
//!   (used by the egress guard's output scan) and builders.
//! - [`generate`]: writes the five bundled datasets (Parquet + `dataset.toml`) at any scale.

pub mod generate;
pub mod ids;
pub mod manifest;

pub use generate::{
    generate, manifest_for, GenerateError, GenerateOptions, GeneratedDataset, DATASET_NAMES,
    MAX_SCALE,
};
pub use ids::{
    citizen_id_is_valid, find_identifiers, looks_like_identifier, make_citizen_id, make_usci,
    usci_is_valid, IdError,
};
pub use manifest::{
    Aggregation, ColumnClass, ColumnSpec, ColumnType, ColumnUse, DatasetInfo, DatasetManifest,
    IdentifierKind, ManifestError, OpenAttribute,
};
