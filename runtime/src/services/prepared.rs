//! A service ready to answer: its approved scenario, its module compiled for answer runs, and
//! the subject index (every granted view's rows grouped by subject pseudonym).
//!
//! Built on a service's first call after a server starts, an approval, or a new version of one
//! of its datasets (what it was built from is its [`PreparedKey`]); then shared by every call
//! until one of those changes. Building reads each granted view once; a call then finds its
//! subject's rows with one hash lookup and slices them without copying.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::{EngineSession, Pseudonymizer, SessionOptions};
use crate::governance::{GovError, Governance, ScenarioFile};
use crate::grouping::{group, EntityTables};
use crate::keys::DomainKeys;
use crate::sandbox::{CancelToken, EntityRunner, Sandbox};

/// What a prepared service was built from: when any of it changes, it is built again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreparedKey {
    pub(crate) application: String,
    /// Current version of each granted dataset, in grant order.
    pub(crate) versions: Vec<Option<u32>>,
}

/// One service, ready to answer.
pub(crate) struct Prepared {
    pub(crate) key: PreparedKey,
    pub(crate) runner: EntityRunner,
    pub(crate) tables: EntityTables,
    /// Subject pseudonym → entity index in `tables`.
    pub(crate) index: HashMap<Arc<str>, usize>,
    /// The scenario's pseudonymizer: a subject's identifier maps to the pseudonym its rows
    /// carry.
    pub(crate) pseudonymizer: Pseudonymizer,
}

impl Prepared {
    /// The entity index of the subject whose identifier is `id`, if any granted table has rows
    /// of it.
    pub(crate) fn entity_of(&self, id: &str) -> Option<usize> {
        let pseudonym = self.pseudonymizer.pseudonym(id);
        self.index.get(pseudonym.as_str()).copied()
    }
}

/// Why a service could not be prepared.
#[derive(Debug)]
pub(crate) enum PrepareError {
    /// The module cannot answer (no `shuyu_answer`, too large for an answer run): the call is
    /// refused as the service's own problem.
    Module(String),
    /// Anything else (the catalog, the engine, the database): internal.
    Internal(GovError),
}

/// Everything building a service needs from the domain.
pub(crate) struct Builder<'a> {
    pub(crate) governance: &'a Governance,
    pub(crate) keys: &'a DomainKeys,
    pub(crate) sandbox: &'a Sandbox,
    pub(crate) runtime: &'a tokio::runtime::Handle,
    /// Bytes the subject index may take while it is built.
    pub(crate) max_bytes: usize,
}

impl Builder<'_> {
    /// Builds a service of `scenario` (as approved), from the dataset versions in `key`.
    pub(crate) fn build(
        &self,
        scenario: &ScenarioFile,
        key: PreparedKey,
    ) -> Result<Prepared, PrepareError> {
        let internal = |context: &str, e: &dyn std::fmt::Display| {
            PrepareError::Internal(GovError::internal(format!("{context}: {e}")))
        };
        let datasets: Vec<String> = scenario.grants.iter().map(|g| g.dataset.clone()).collect();
        let catalog = self
            .governance
            .job_catalog(&datasets)
            .map_err(PrepareError::Internal)?;
        let scenario = scenario
            .clone()
            .check(&catalog)
            .map_err(|e| internal("the approved scenario no longer checks", &e))?;
        let sha256 = &scenario.file.scenario.module_sha256;
        let bytes = self
            .governance
            .module_bytes(sha256)
            .map_err(PrepareError::Internal)?;
        let module = self
            .sandbox
            .compile(&bytes)
            .map_err(|fault| PrepareError::Module(fault.to_string()))?;
        let runner = self
            .sandbox
            .answer_runner(&module, &scenario.file.limits, &CancelToken::new())
            .map_err(|fault| match fault {
                crate::sandbox::Fault::InvalidModule(problem) => PrepareError::Module(problem),
                other => internal("answer runner", &other),
            })?;
        let binding = self
            .governance
            .scenario_binding(scenario.id())
            .map_err(PrepareError::Internal)?
            .ok_or_else(|| {
                PrepareError::Internal(GovError::internal(format!(
                    "scenario '{}' has an application but no binding",
                    scenario.id()
                )))
            })?;
        let pseudonymizer = Pseudonymizer::new(&self.keys.pseudonym_key(&binding.key_id));
        let grants: Vec<_> = scenario
            .datasets
            .iter()
            .cloned()
            .zip(scenario.file.grants.iter().cloned())
            .collect();
        let tables = self.runtime.block_on(async {
            let session = EngineSession::open(&grants, &pseudonymizer, &SessionOptions::default())
                .await
                .map_err(|e| internal("granted datasets", &e))?;
            group(&scenario, &session, self.max_bytes)
                .await
                .map_err(|e| match e {
                    Ok(message) => internal("cannot index subjects", &message),
                    Err(crate::sandbox::Fault::Limit(crate::sandbox::LimitKind::Memory)) => {
                        internal(
                            "cannot index subjects",
                            &format!(
                                "the granted rows exceed the index's {} MiB (index_memory_mib)",
                                self.max_bytes >> 20
                            ),
                        )
                    }
                    Err(fault) => internal("cannot index subjects", &fault),
                })
        })?;
        let index = tables
            .keys
            .iter()
            .enumerate()
            .map(|(i, key)| (key.clone(), i))
            .collect();
        Ok(Prepared {
            key,
            runner,
            tables,
            index,
            pseudonymizer,
        })
    }
}

/// One service's slot: its prepared form, if built; locked while it is being built.
type Slot = Arc<Mutex<Option<Arc<Prepared>>>>;

/// The prepared services of one server, each built at most once at a time.
#[derive(Default)]
pub(crate) struct PreparedServices {
    slots: Mutex<HashMap<String, Slot>>,
    /// How many times a service was built (what `Services::warm` reports).
    built: std::sync::atomic::AtomicU64,
}

impl PreparedServices {
    /// How many services were built so far.
    pub(crate) fn built_count(&self) -> u64 {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The prepared service `id` built from `key`, building it (once, other callers wait) when
    /// there is none or it was built from something else.
    pub(crate) fn get_or_build(
        &self,
        id: &str,
        key: PreparedKey,
        build: impl FnOnce(PreparedKey) -> Result<Prepared, PrepareError>,
    ) -> Result<Arc<Prepared>, PrepareError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(id.to_string()).or_default().clone()
        };
        let mut current = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prepared) = current.as_ref().filter(|p| p.key == key) {
            return Ok(prepared.clone());
        }
        // Dropped before building, so the old rows do not stay in memory beside the new.
        *current = None;
        let prepared = Arc::new(build(key)?);
        self.built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *current = Some(prepared.clone());
        Ok(prepared)
    }
}
