//! A service ready to answer: its approved scenario, its module compiled for answer runs, and
//! the subject index (every granted view's rows grouped by subject pseudonym).
//!
//! Built on a service's first call after a server starts, an approval, or a new version of one
//! of its datasets (what it was built from is its [`PreparedKey`]); then shared by every call
//! until one of those changes. Building reads each granted view once; a call then finds its
//! subject's rows with one hash lookup and slices them without copying.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
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
    /// Answer runs of this scenario in flight (at most [`MAX_RUNS_PER_SCENARIO`]).
    in_flight: Arc<AtomicU32>,
}

/// Answer runs one scenario may have in flight: the instance pool (16 slots) is shared by every
/// service and every per-entity release of the process, so no one scenario (say, one whose
/// module spins to its reply time) may hold more than a quarter of it. Honest runs take about a
/// millisecond, so four in flight is far beyond what two cores serve anyway.
pub(crate) const MAX_RUNS_PER_SCENARIO: u32 = 4;

/// One answer run's place among its scenario's; given back when dropped.
pub(crate) struct RunPermit(Arc<AtomicU32>);

impl Drop for RunPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Prepared {
    /// A place for one more answer run of this scenario, `None` when all are taken.
    pub(crate) fn try_run(&self) -> Option<RunPermit> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_RUNS_PER_SCENARIO).then_some(n + 1)
            })
            .ok()
            .map(|_| RunPermit(self.in_flight.clone()))
    }

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
        // A service answers from the grouped rows alone; the raw identifiers are not kept.
        let tables = EntityTables {
            values: None,
            ..tables
        };
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
            in_flight: Arc::new(AtomicU32::new(0)),
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
