//! Registered datasets: providers publish versions (a manifest and its Parquet file), withdraw
//! them, and jobs get a catalog of the current versions.
//!
//! Files live in `<registry>/<name>/v<N>/`. A version is written to a temporary folder,
//! validated by the catalog code, renamed into place and only then recorded in the database, in
//! the transaction that numbers it; a folder without a database row is an orphan left by a crash
//! and is replaced when its number is next used.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::json;
use shuyu_datasets::manifest::DatasetManifest;

use super::access::{self, require, who};
use super::identities::random_hex;
use super::model::{Caller, DatasetRecord, DatasetStatus, Page, PageRequest, Role};
use super::objections::objected_data;
use super::page::PageSpec;
use super::{GovError, Governance};
use crate::catalog::mock::{write_twin, MOCK_DIR};
use crate::catalog::{Catalog, CatalogError, Dataset, MANIFEST_FILE};
use crate::store::codec::enum_text;
use crate::store::governance::registry::{self as db, NewVersion};
use crate::store::governance::Stamp;
use crate::store::Connection;

/// The stored dataset row lives with its statements; its rules (`dataset_refusal`) live here.
pub(crate) use crate::store::governance::registry::StoredDataset;

/// Loads one dataset and its versions, `None` if unregistered.
pub(crate) fn find_dataset(
    conn: &Connection,
    name: &str,
) -> Result<Option<StoredDataset>, GovError> {
    Ok(db::find_dataset(conn, name)?)
}

/// Loads one dataset; unregistered is [`GovError::NotFound`].
pub(crate) fn dataset(conn: &Connection, name: &str) -> Result<StoredDataset, GovError> {
    find_dataset(conn, name)?.ok_or_else(|| GovError::NotFound(format!("dataset '{name}'")))
}

/// The oldest open objection against a dataset.
pub(crate) fn open_objection(conn: &Connection, name: &str) -> Result<Option<String>, GovError> {
    Ok(db::open_objection(conn, name)?)
}

/// Why jobs may not use this dataset now, if they may not.
pub(crate) fn dataset_refusal(
    conn: &Connection,
    stored: &StoredDataset,
) -> Result<Option<String>, GovError> {
    let name = &stored.record.name;
    Ok(match stored.record.status {
        DatasetStatus::Suspended => Some(match open_objection(conn, name)? {
            Some(objection) => format!("dataset '{name}' is suspended by objection {objection}"),
            None => format!("dataset '{name}' is suspended"),
        }),
        DatasetStatus::Withdrawn => Some(format!("dataset '{name}' is withdrawn")),
        DatasetStatus::Active if stored.record.current_version.is_none() => {
            Some(format!("dataset '{name}' has no active version"))
        }
        DatasetStatus::Active => None,
    })
}

/// Sets a dataset's current version to its newest active one; with none left it is withdrawn.
/// Returns the new current version.
pub(crate) fn refresh_current(
    conn: &Connection,
    name: &str,
    stamp: Stamp<'_>,
) -> Result<Option<u32>, GovError> {
    let current = db::newest_active_version(conn, name)?;
    db::set_current_version(conn, name, current)?;
    if current.is_none() {
        db::set_dataset_status(
            conn,
            name,
            DatasetStatus::Withdrawn,
            "no active version is left",
            stamp,
        )?;
    }
    Ok(current.and_then(|v| u32::try_from(v).ok()))
}

/// A catalog error as the provider should read it: what is wrong, without server paths.
fn describe(error: CatalogError) -> GovError {
    match error {
        CatalogError::Manifest { source, .. } => {
            GovError::Invalid(format!("dataset.toml: {source}"))
        }
        CatalogError::Schema { message, .. } => {
            GovError::Invalid(format!("the manifest does not match the data: {message}"))
        }
        CatalogError::Parquet { message, .. } => GovError::Invalid(format!(
            "the data is not a readable Parquet file: {message}"
        )),
        CatalogError::Io { path, source } => GovError::internal_from(path.display(), source),
        other => GovError::Invalid(other.to_string()),
    }
}

/// An I/O failure as an internal error naming the path.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> GovError + '_ {
    move |e| GovError::internal_from(path.display(), e)
}

/// Writes the manifest and the data into a fresh folder.
fn write_version_files(
    dir: &Path,
    manifest: &DatasetManifest,
    manifest_toml: &str,
    parquet: &[u8],
) -> Result<(), GovError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    fs::write(&manifest_path, manifest_toml).map_err(io_error(&manifest_path))?;
    // `data` is a plain relative path (the manifest's validation checks it), maybe in a subfolder.
    let data_path = dir.join(&manifest.dataset.data);
    if let Some(parent) = data_path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    fs::write(&data_path, parquet).map_err(io_error(&data_path))
}

impl Governance {
    /// The folder of one version.
    pub(crate) fn version_dir(&self, name: &str, version: u32) -> PathBuf {
        self.registry_dir.join(name).join(format!("v{version}"))
    }

    /// Publishes a new version (registers the dataset on first publish). The manifest's
    /// `provider` must be the caller's department; the Parquet must match the manifest.
    pub fn publish_dataset(
        &self,
        caller: &Caller,
        name: &str,
        manifest_toml: &str,
        parquet: &[u8],
    ) -> Result<DatasetRecord, GovError> {
        require(caller, Role::Provider, "publish datasets")?;
        let manifest = DatasetManifest::from_toml_str(manifest_toml)
            .and_then(|m| m.validate().map(|()| m))
            .map_err(|e| GovError::Invalid(format!("dataset.toml: {e}")))?;
        if manifest.dataset.name != name {
            return Err(GovError::Invalid(format!(
                "dataset.toml names dataset '{}' but it is published as '{name}'",
                manifest.dataset.name
            )));
        }
        let (department, next) = self.store.read_with(|conn| {
            let me = access::identity(conn, &caller.id)?;
            self.check_publisher(conn, caller, name)?;
            let next = next_version(conn, name)?;
            Ok::<_, GovError>((me.identity.department.unwrap_or_default(), next))
        })?;
        if manifest.dataset.provider != department {
            return Err(GovError::Forbidden(format!(
                "dataset.toml names provider '{}' but you are {} of department '{department}'; \
                 a provider publishes only its own department's datasets",
                manifest.dataset.provider,
                who(caller)
            )));
        }

        let dataset_dir = self.registry_dir.join(name);
        let staging = dataset_dir.join(format!("v{next}.tmp-{}", random_hex(8)?));
        // The mock twin is drawn now, while the version is staged, so that every registered
        // version has one (docs/operator.md, "Mock runs").
        let staged = write_version_files(&staging, &manifest, manifest_toml, parquet)
            .and_then(|()| Dataset::load_as(&staging, name).map_err(describe))
            .and_then(|checked| {
                write_twin(&checked, &staging.join(MOCK_DIR))
                    .map_err(|e| GovError::internal_from(format!("mock twin of '{name}'"), e))?;
                Ok(checked)
            });
        let checked = match staged {
            Ok(checked) => checked,
            Err(e) => {
                // Best effort: a leftover temporary folder is harmless.
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
        };

        let mut placed: Option<PathBuf> = None;
        let result = self.store.write_with(|tx| {
            self.check_publisher(tx, caller, name)?;
            if let Some(stored) = find_dataset(tx, name)? {
                let content = &checked.content_sha256;
                if let Some((version, objection)) =
                    objected_data(tx, name, &stored.record.versions, content)?
                {
                    return Err(GovError::Conflict(format!(
                        "this data (SHA-256 {content}) is byte-identical to version {version} \
                         of '{name}', which objection {objection} took out; publishing it again \
                         is not a treatment and does not bring the dataset back: publish \
                         treated data"
                    )));
                }
            }
            // Numbered under the write lock: two publishers cannot take the same number.
            let version = next_version(tx, name)?;
            let target = self.version_dir(name, version);
            if target.exists() {
                // No row has this number, so the folder is an orphan of a crashed publish.
                fs::remove_dir_all(&target).map_err(io_error(&target))?;
            }
            fs::rename(&staging, &target).map_err(io_error(&target))?;
            placed = Some(target);
            let now = Utc::now();
            let existing = find_dataset(tx, name)?;
            match &existing {
                None => {
                    db::insert_dataset(tx, name, &caller.id, DatasetStatus::Active, &now)?;
                }
                Some(stored) if stored.record.status == DatasetStatus::Withdrawn => {
                    // Publishing again after every version was withdrawn registers it anew; a
                    // dataset withdrawn after an objection is only published again by decision
                    // of its provider, which this is, and with other data than the objected
                    // data (refused above).
                    db::set_dataset_status(
                        tx,
                        name,
                        DatasetStatus::Active,
                        "published again by its provider",
                        Stamp {
                            by: &caller.id,
                            at: now,
                        },
                    )?;
                }
                Some(_) => {}
            }
            let info = &checked.manifest.dataset;
            let open = enum_text(&info.open);
            let new = NewVersion {
                version,
                title: &info.title,
                department: &info.provider,
                open: &open,
                level: info.level,
                content_sha256: &checked.content_sha256,
                rows: checked.rows,
            };
            db::insert_version(tx, name, &new, &now)?;
            refresh_current(
                tx,
                name,
                Stamp {
                    by: &caller.id,
                    at: now,
                },
            )?;
            self.record(
                tx,
                &caller.id,
                "gov.dataset.publish",
                name,
                None,
                json!({
                    "version": version,
                    "content_sha256": checked.content_sha256,
                    "rows": checked.rows,
                    "level": info.level,
                    "open": enum_text(&info.open),
                    "registered": existing.is_none(),
                }),
            )?;
            dataset(tx, name).map(|d| d.record)
        });
        if result.is_err() {
            // The row is not there: remove the files so no folder claims to be this version.
            if let Some(target) = placed {
                let _ = fs::remove_dir_all(target);
            }
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Refuses a publisher that is not the registered owner of an existing dataset.
    fn check_publisher(
        &self,
        conn: &Connection,
        caller: &Caller,
        name: &str,
    ) -> Result<(), GovError> {
        if let Some(stored) = find_dataset(conn, name)? {
            if stored.record.provider != caller.id {
                return Err(GovError::Forbidden(format!(
                    "dataset '{name}' is registered by provider '{}'; only it may publish \
                     versions of it; you are {}",
                    stored.record.provider,
                    who(caller)
                )));
            }
        }
        Ok(())
    }

    /// Withdraws one version (its provider only).
    pub fn withdraw_dataset_version(
        &self,
        caller: &Caller,
        name: &str,
        version: u32,
        reason: &str,
    ) -> Result<DatasetRecord, GovError> {
        require(caller, Role::Provider, "withdraw dataset versions")?;
        let reason = access::required(reason, "a reason for the withdrawal")?;
        self.store.write_with(|tx| {
            let stored = dataset(tx, name)?;
            if stored.record.provider != caller.id {
                return Err(GovError::Forbidden(format!(
                    "only the dataset's provider '{}' may withdraw versions of '{name}'; you are {}",
                    stored.record.provider,
                    who(caller)
                )));
            }
            let Some(found) = stored.record.versions.iter().find(|v| v.version == version) else {
                return Err(GovError::NotFound(format!("dataset '{name}' version {version}")));
            };
            if !found.active {
                return Err(GovError::Conflict(format!(
                    "dataset '{name}' version {version} is already withdrawn"
                )));
            }
            db::withdraw_version(tx, name, version, reason)?;
            let stamp = Stamp {
                by: &caller.id,
                at: Utc::now(),
            };
            let current = refresh_current(tx, name, stamp)?;
            self.record(
                tx,
                &caller.id,
                "gov.dataset.withdraw_version",
                name,
                None,
                json!({ "version": version, "reason": reason, "current_version": current }),
            )?;
            dataset(tx, name).map(|d| d.record)
        })
    }

    /// Lists datasets (every role).
    pub fn list_datasets(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<DatasetRecord>, GovError> {
        // Every role may see the register; the caller is only there for symmetry and audit.
        let _ = caller;
        let spec = PageSpec::new(page)?;
        self.store.read_with(|conn| {
            let names = db::dataset_names(conn, spec.after(), spec.fetch())?;
            let mut items = Vec::new();
            for name in names {
                let record = dataset(conn, &name)?.record;
                items.push((name, record));
            }
            Ok(spec.finish(items))
        })
    }

    /// One dataset.
    pub fn get_dataset(&self, caller: &Caller, name: &str) -> Result<DatasetRecord, GovError> {
        let _ = caller;
        self.store
            .read_with(|conn| dataset(conn, name).map(|d| d.record))
    }

    /// The current version of each named dataset (`None`: no active version), read without
    /// touching the files: what tells a service whether the rows it holds are still current.
    pub fn current_versions(&self, datasets: &[String]) -> Result<Vec<Option<u32>>, GovError> {
        self.store.read_with(|conn| {
            datasets
                .iter()
                .map(|name| dataset(conn, name).map(|d| d.record.current_version))
                .collect()
        })
    }

    /// The catalog of current active versions of the named datasets, for a job.
    pub fn job_catalog(&self, datasets: &[String]) -> Result<Catalog, GovError> {
        self.catalog_of(datasets, true)
    }

    /// The catalog of the current versions of the named datasets, whether or not jobs may use
    /// them now (a suspended dataset keeps its current version): what an application's
    /// contract is composed with when it is shown.
    pub(crate) fn registered_catalog(&self, datasets: &[String]) -> Result<Catalog, GovError> {
        self.catalog_of(datasets, false)
    }

    /// The catalog of the current versions of `datasets`; with `for_job`, a dataset jobs may
    /// not use is refused with the reason.
    fn catalog_of(&self, datasets: &[String], for_job: bool) -> Result<Catalog, GovError> {
        let mut names: Vec<&String> = datasets.iter().collect();
        names.sort();
        names.dedup();
        let versions = self.store.read_with(|conn| {
            let mut versions = Vec::new();
            for name in &names {
                let stored = dataset(conn, name)?;
                if for_job {
                    if let Some(refusal) = dataset_refusal(conn, &stored)? {
                        return Err(GovError::Conflict(refusal));
                    }
                }
                let Some(version) = stored.record.current_version else {
                    return Err(GovError::Conflict(format!(
                        "dataset '{name}' has no active version"
                    )));
                };
                versions.push(((*name).clone(), version));
            }
            Ok::<_, GovError>(versions)
        })?;
        let mut loaded = Vec::new();
        for (name, version) in versions {
            let dir = self.version_dir(&name, version);
            // The files were validated when published; failing now means the registry folder
            // was altered or lost.
            let dataset = Dataset::load_as(&dir, &name).map_err(|e| {
                GovError::internal_from(format!("registered dataset '{name}' version {version}"), e)
            })?;
            loaded.push(dataset);
        }
        Catalog::from_datasets(&self.registry_dir, loaded)
            .map_err(|e| GovError::Invalid(e.to_string()))
    }
}

/// The number the next version of `name` gets.
fn next_version(conn: &Connection, name: &str) -> Result<u32, GovError> {
    let last = u32::try_from(db::last_version(conn, name)?)
        .map_err(|_| GovError::internal(format!("dataset '{name}': bad version number")))?;
    last.checked_add(1)
        .ok_or_else(|| GovError::internal(format!("dataset '{name}': too many versions")))
}
