//! Identifier universes built ahead of a scenario's first job on new dataset versions. A job
//! that releases needs the universe of its datasets' entities (the guard's check that every
//! contribution names a real entity); the first job on a version would build it (seconds to
//! tens of seconds at millions of entities) and every later one loads what it stored. A server
//! builds it when an application is approved and when a version of a dataset an approved
//! application grants is published, in a worker process of its own, so the first job loads it
//! too. Nothing here depends on a module: the operator can neither start a warm-up nor shape it.

use std::time::{Duration, Instant};

use serde_json::json;

use super::universe::{load_or_build_universe, UniverseOrigin};
use super::JobError;
use crate::audit::NewEntry;
use crate::catalog::Catalog;
use crate::domain::Domain;
use crate::engine::Pseudonymizer;
use crate::governance::ScenarioFile;

/// The actor of a warm-up's audit entry: the runtime, not the operator.
const ACTOR: &str = "system";

/// What [`warm_universe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warmed {
    /// The scenario's jobs make no release, so they build no universe.
    NotNeeded,
    /// The domain's cache already held a sound universe for these versions.
    Cached,
    /// Built from the raw files and stored in the domain's cache.
    Built {
        /// Distinct entities over the scenario's datasets.
        entities: usize,
        /// How long the build and the store took.
        elapsed: Duration,
    },
}

/// Builds the identifier universe a job of `scenario` over `catalog` would use, unless the
/// domain's cache holds it already, and stores it there: the same datasets, the same
/// pseudonym key (the scenario id's binding) and the same cache as the job's. A built universe
/// is audited (`universe.warmed`: the scenario, the dataset versions, the entity count, the
/// time), so reviewers see when raw files were read outside a job. Blocking.
pub fn warm_universe(
    domain: &Domain,
    scenario: ScenarioFile,
    catalog: &Catalog,
) -> Result<Warmed, JobError> {
    let approved = scenario.check(catalog)?;
    if approved.releases.is_empty() {
        return Ok(Warmed::NotNeeded);
    }
    let binding = crate::governance::bind_scenario(
        &domain.store,
        &domain.audit,
        approved.id(),
        &approved.file.scenario.operator,
    )
    .map_err(|e| JobError::Binding(e.to_string()))?;
    let pseudonymizer = Pseudonymizer::new(&domain.keys.pseudonym_key(&binding.key_id));
    let started = Instant::now();
    let (universe, origin) = domain.runtime().block_on(load_or_build_universe(
        approved.datasets.clone(),
        pseudonymizer,
        Some(domain.universe_cache()),
    ))?;
    if origin == UniverseOrigin::Cache {
        return Ok(Warmed::Cached);
    }
    let elapsed = started.elapsed();
    domain.audit.append(NewEntry {
        actor: ACTOR.into(),
        action: "universe.warmed".into(),
        subject: approved.id().to_string(),
        job_id: None,
        details: json!({
            "datasets": approved.datasets.iter().map(|d| json!({
                "name": d.name(), "content_sha256": d.content_sha256,
            })).collect::<Vec<_>>(),
            "entities": universe.entity_count(),
            "ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }),
    })?;
    domain.audit.checkpoint()?;
    Ok(Warmed::Built {
        entities: universe.entity_count(),
        elapsed,
    })
}
