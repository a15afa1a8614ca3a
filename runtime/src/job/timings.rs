//! Where a job's time goes: host time per phase, summed over every host call of the job (its
//! main run and its entity and partition runs), for the domain's own use — the bench's breakdown
//! (docs/benchmarks.md) and the `job.end` entry reviewers read. Operators never see it: how long a
//! phase took is the module's to steer (docs/security.md).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A phase of a job's host time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Parsing, checking and planning the guest's queries.
    Planning,
    /// Running them: polling their streams (scans, joins, aggregation, pseudonyms).
    Execution,
    /// Turning result batches into the guest's Arrow IPC.
    IpcEncode,
    /// Building the identifier universe the guard checks entities and cells against.
    Universe,
    /// The guard's work on table releases: decoding contributions, bounding, thresholds, noise.
    Guard,
    /// Per-entity releases: grouping the rows, the entity runs and their guard (with the audit
    /// entries the runs write).
    Entities,
    /// Writing and signing product packages.
    Product,
    /// Appending to the audit log.
    Audit,
}

/// Running totals of a job's phases.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    nanos: [AtomicU64; 8],
    universe_cached: AtomicBool,
}

impl Timings {
    fn slot(phase: Phase) -> usize {
        match phase {
            Phase::Planning => 0,
            Phase::Execution => 1,
            Phase::IpcEncode => 2,
            Phase::Universe => 3,
            Phase::Guard => 4,
            Phase::Entities => 5,
            Phase::Product => 6,
            Phase::Audit => 7,
        }
    }

    /// Adds `spent` to `phase`.
    pub(crate) fn add(&self, phase: Phase, spent: Duration) {
        self.nanos[Self::slot(phase)].fetch_add(
            u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Runs `work` and adds its wall time to `phase`.
    pub(crate) fn time<T>(&self, phase: Phase, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = work();
        self.add(phase, started.elapsed());
        out
    }

    /// Records that the job's identifier universe came from the domain's cache.
    pub(crate) fn set_universe_cached(&self) {
        self.universe_cached.store(true, Ordering::Relaxed);
    }

    fn get(&self, phase: Phase) -> Duration {
        Duration::from_nanos(self.nanos[Self::slot(phase)].load(Ordering::Relaxed))
    }

    /// The totals so far, with the pseudonym UDF's own count.
    pub(crate) fn snapshot(&self, pseudonymize: (Duration, u64)) -> PhaseTimes {
        PhaseTimes {
            planning: self.get(Phase::Planning),
            execution: self.get(Phase::Execution),
            ipc_encode: self.get(Phase::IpcEncode),
            universe: self.get(Phase::Universe),
            guard: self.get(Phase::Guard),
            entities: self.get(Phase::Entities),
            product: self.get(Phase::Product),
            audit: self.get(Phase::Audit),
            pseudonymize: pseudonymize.0,
            pseudonyms: pseudonymize.1,
            universe_cached: self.universe_cached.load(Ordering::Relaxed),
        }
    }
}

/// A job's host time per phase (see [`Phase`]'s variants). Wall time of the host calls, except
/// `pseudonymize`, which is CPU time summed over the engine's threads (it runs inside
/// `execution`, `universe` and `entities`, in parallel).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Planning the guest's queries.
    pub planning: Duration,
    /// Executing them (inside `next_batch`).
    pub execution: Duration,
    /// Encoding their batches as Arrow IPC.
    pub ipc_encode: Duration,
    /// Building the identifier universe.
    pub universe: Duration,
    /// The guard on table releases.
    pub guard: Duration,
    /// Per-entity releases, whole.
    pub entities: Duration,
    /// Product packages.
    pub product: Duration,
    /// Audit appends.
    pub audit: Duration,
    /// The pseudonym function, summed over threads.
    pub pseudonymize: Duration,
    /// Values pseudonymized.
    pub pseudonyms: u64,
    /// Whether the identifier universe was loaded from the domain's cache (built otherwise,
    /// or never needed).
    pub universe_cached: bool,
}

impl PhaseTimes {
    /// Host time spent inside the guest's run (every phase but `pseudonymize`, which the others
    /// contain).
    pub fn host(&self) -> Duration {
        self.planning
            + self.execution
            + self.ipc_encode
            + self.universe
            + self.guard
            + self.entities
            + self.product
            + self.audit
    }

    /// Milliseconds per phase, for the `job.end` entry.
    pub fn as_millis(&self) -> serde_json::Value {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        serde_json::json!({
            "planning": ms(self.planning),
            "execution": ms(self.execution),
            "ipc_encode": ms(self.ipc_encode),
            "universe": ms(self.universe),
            "guard": ms(self.guard),
            "entities": ms(self.entities),
            "product": ms(self.product),
            "audit": ms(self.audit),
            "pseudonymize_cpu": ms(self.pseudonymize),
            "pseudonyms": self.pseudonyms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_separately_and_host_leaves_the_contained_cpu_out() {
        let timings = Timings::default();
        timings.add(Phase::Planning, Duration::from_millis(2));
        timings.add(Phase::Planning, Duration::from_millis(3));
        timings.add(Phase::Audit, Duration::from_millis(7));
        let value = timings.time(Phase::Guard, || 42);
        assert_eq!(value, 42);
        let times = timings.snapshot((Duration::from_millis(100), 9));
        assert_eq!(times.planning, Duration::from_millis(5));
        assert_eq!(times.audit, Duration::from_millis(7));
        assert_eq!(times.pseudonyms, 9);
        assert!(times.host() >= Duration::from_millis(12));
        assert!(times.host() < Duration::from_millis(100));
        assert_eq!(times.as_millis()["planning"], 5);
    }
}
