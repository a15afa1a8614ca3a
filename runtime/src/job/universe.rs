//! A job's identifier universe (the guard's oracle, `engine::universe`): loaded from the
//! domain's cache, or built on the job's runtime while the job runs and stored for the next.
//!
//! A job whose scenario makes releases per entity builds it *without* the datasets' entity
//! columns. The grouping of a per-entity release reads every value of those columns raw (the
//! views carry every row) and pseudonymizes each once; it hands them over
//! ([`UniverseBuild::with_entities`]) instead of the universe scanning and hashing them a
//! second time (at 10M tax rows, 10.8M of the 12.4M values the universe reads). Whatever
//! needs the universe before a grouping has run completes it by scanning those columns itself
//! ([`UniverseBuild::finish`]), so the universe a job ends up with is the same either way.

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::engine::universe::{Lookup, PartialUniverse};
use crate::engine::{EngineError, EntityValues, IdentifierUniverse, Pseudonymizer, UniverseCache};
use shuyu_catalog::Dataset;

/// Where a job's universe came from.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum UniverseOrigin {
    /// A cache file whose seal held.
    Cache,
    /// The raw files; `rejected` says why a cache file for it did not hold, if one was there.
    Built { rejected: Option<&'static str> },
}

/// What a universe is built from: the job's datasets, under its scenario's key, with the
/// domain's cache (`None`: built for every job).
#[derive(Clone)]
pub(super) struct UniverseSource {
    pub datasets: Vec<Dataset>,
    pub pseudonymizer: Pseudonymizer,
    pub cache: Option<UniverseCache>,
}

/// What a build has made so far.
enum Built {
    Whole(IdentifierUniverse, UniverseOrigin),
    /// Without the entity columns; `rejected` as in [`UniverseOrigin::Built`].
    Partial(PartialUniverse, Option<&'static str>),
}

/// A universe being loaded or built on the job's runtime; aborted if dropped unfinished (a
/// release that ends early must not leave it scanning).
pub(super) struct UniverseBuild(Option<JoinHandle<Result<Built, EngineError>>>);

impl Drop for UniverseBuild {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

impl UniverseBuild {
    /// Starts loading the universe from the cache, or building it, on `runtime`.
    /// `without_entities`: for a job that makes a release per entity, whose grouping will hand
    /// the entity values over.
    pub(super) fn start(runtime: &Handle, source: UniverseSource, without_entities: bool) -> Self {
        Self(Some(runtime.spawn(async move {
            if !without_entities {
                let (universe, origin) = load_or_build(&source).await?;
                return Ok(Built::Whole(universe, origin));
            }
            let rejected = match cached(&source).await {
                Ok(universe) => return Ok(Built::Whole(universe, UniverseOrigin::Cache)),
                Err(rejected) => rejected,
            };
            let partial =
                IdentifierUniverse::build_without_entities(&source.datasets, &source.pseudonymizer)
                    .await?;
            Ok(Built::Partial(partial, rejected))
        })))
    }

    /// Goes on with `values`, every raw value of the datasets' entity columns with its
    /// pseudonym, as a grouping by entity read them: a build without the entity columns is
    /// completed with them (their folded spellings hashed on `threads` threads) and stored, a
    /// loaded or whole universe is left as it is.
    pub(super) fn with_entities(
        mut self,
        runtime: &Handle,
        source: UniverseSource,
        values: EntityValues,
        threads: usize,
    ) -> Self {
        let previous = self.0.take();
        Self(Some(runtime.spawn(async move {
            // Kept inside the task, so that dropping this build also stops the one before.
            let previous = UniverseBuild(previous);
            match previous.wait().await? {
                Built::Whole(universe, origin) => Ok(Built::Whole(universe, origin)),
                Built::Partial(partial, rejected) => {
                    let universe = tokio::task::spawn_blocking(move || {
                        partial.with_entities(&values, threads)
                    })
                    .await
                    .map_err(|e| setup_error("completing the identifier universe failed", e))??;
                    let universe = store(&source, universe).await?;
                    Ok(Built::Whole(universe, UniverseOrigin::Built { rejected }))
                }
            }
        })))
    }

    /// Waits for the whole universe. One still without its entity columns (no grouping handed
    /// them over) scans them here and is stored.
    pub(super) fn finish(
        self,
        runtime: &Handle,
        source: UniverseSource,
    ) -> Result<(IdentifierUniverse, UniverseOrigin), EngineError> {
        runtime.block_on(async move {
            match self.wait().await? {
                Built::Whole(universe, origin) => Ok((universe, origin)),
                Built::Partial(partial, rejected) => {
                    let universe = partial.scan_entities(&source.datasets).await?;
                    let universe = store(&source, universe).await?;
                    Ok((universe, UniverseOrigin::Built { rejected }))
                }
            }
        })
    }

    async fn wait(mut self) -> Result<Built, EngineError> {
        let Some(task) = self.0.as_mut() else {
            return Err(setup_message(
                "the identifier universe's build was already taken",
            ));
        };
        task.await
            .map_err(|e| setup_error("the identifier universe's build failed", e))?
    }
}

/// The universe of `datasets` from the domain's cache when a sound file holds it; otherwise
/// built from the raw files and stored for the next job. The cache is an optimization: a file
/// that cannot be read or written costs the build and a warning, never the job.
pub(super) async fn load_or_build_universe(
    datasets: Vec<Dataset>,
    pseudonymizer: Pseudonymizer,
    cache: Option<UniverseCache>,
) -> Result<(IdentifierUniverse, UniverseOrigin), EngineError> {
    load_or_build(&UniverseSource {
        datasets,
        pseudonymizer,
        cache,
    })
    .await
}

/// [`load_or_build_universe`] of a job's source.
async fn load_or_build(
    source: &UniverseSource,
) -> Result<(IdentifierUniverse, UniverseOrigin), EngineError> {
    let rejected = match cached(source).await {
        Ok(universe) => return Ok((universe, UniverseOrigin::Cache)),
        Err(rejected) => rejected,
    };
    let universe = IdentifierUniverse::build(&source.datasets, &source.pseudonymizer).await?;
    let universe = store(source, universe).await?;
    Ok((universe, UniverseOrigin::Built { rejected }))
}

/// The cached universe of `source`, or why there is none to use (`Some`: a file that did not
/// hold, a reason for the reviewers' log).
async fn cached(source: &UniverseSource) -> Result<IdentifierUniverse, Option<&'static str>> {
    let Some(cache) = &source.cache else {
        return Err(None);
    };
    let (cache, datasets, pseudonymizer) = (
        cache.clone(),
        source.datasets.clone(),
        source.pseudonymizer.clone(),
    );
    match tokio::task::spawn_blocking(move || cache.load(&datasets, &pseudonymizer)).await {
        Ok(Ok(Lookup::Hit(universe))) => Ok(*universe),
        Ok(Ok(Lookup::Miss)) => Err(None),
        Ok(Ok(Lookup::Rejected(reason))) => {
            tracing::warn!(
                reason,
                "a cached identifier universe did not hold; rebuilding"
            );
            Err(Some(reason))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the identifier universe cache");
            Err(None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the universe cache's read failed");
            Err(None)
        }
    }
}

/// Stores `universe` in `source`'s cache, if it has one, and gives it back.
async fn store(
    source: &UniverseSource,
    universe: IdentifierUniverse,
) -> Result<IdentifierUniverse, EngineError> {
    let Some(cache) = source.cache.clone() else {
        return Ok(universe);
    };
    let datasets = source.datasets.clone();
    let (universe, stored) = tokio::task::spawn_blocking(move || {
        let stored = cache.store(&datasets, &universe);
        (universe, stored)
    })
    .await
    .map_err(|e| setup_error("storing the identifier universe failed", e))?;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "cannot store the identifier universe");
    }
    Ok(universe)
}

fn setup_error(message: &str, source: tokio::task::JoinError) -> EngineError {
    EngineError::Setup {
        message: format!("{message}: {source}"),
        source: Some(Box::new(source)),
    }
}

fn setup_message(message: &str) -> EngineError {
    EngineError::Setup {
        message: message.to_string(),
        source: None,
    }
}
