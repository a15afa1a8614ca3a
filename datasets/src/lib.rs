//! What a public dataset is, for shuyu: the `dataset.toml` manifest format and the Chinese
//! identifier checks.
//!
//! - [`manifest`]: the serde types of `dataset.toml`, shared by the synthetic generator
//!   (`shuyu-synth`) and the runtime's catalog, and their stand-alone validation.
//! - [`ids`]: unified social credit codes and citizen ID numbers: check characters, validators
//!   (used by the egress guard's output scan) and builders.
//!
//! The generator of the bundled data is a crate of its own (`synth/`), so that the guard and the
//! catalog, which need only these two modules, do not build it.

pub mod ids;
pub mod manifest;

pub use ids::{
    citizen_id_is_valid, find_identifiers, looks_like_identifier, make_citizen_id, make_usci,
    usci_is_valid, IdError,
};
pub use manifest::{
    Aggregation, ColumnClass, ColumnSpec, ColumnType, ColumnUse, DatasetInfo, DatasetManifest,
    IdentifierKind, ManifestError, OpenAttribute,
};
