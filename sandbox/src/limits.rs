//! Per-scenario limits on what one job's guest may consume.
//!
//! # Defaults
//! Every field has a default (see `docs/abi.md` §Limits) so a scenario names only what it changes.
//!
//! # Limitations with malicious guests
//! Fuel meters WebAssembly instructions and, since host time is not metered by wasmtime, the
//! wall time a guest spends inside host calls (running SQL, writing the audit log), which is
//! charged as fuel (see `abi.rs`: [`HOST_FUEL_PER_NANOSECOND`](super::HOST_FUEL_PER_NANOSECOND)),
//! after the call returns, so one call can overrun the budget by at most its own duration, which
//! `query_timeout_secs` bounds for queries. `memory_mib` covers the guest's linear memory;
//! `host_memory_mib` the host buffers a guest makes the host hold (staged batches, chunks being
//! appended); the host's own memory for a query is bounded by DataFusion's memory pool (see
//! `engine`). A server runs each job in a worker process whose memory and CPU-time limits are
//! the backstop for everything else (`job::worker`).

use serde::{Deserialize, Serialize};

/// Resource limits for one job, from `[limits]` in `scenario.toml`; every field has a default
/// (docs/abi.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// WebAssembly fuel: roughly one unit per instruction. Default 20,000,000,000.
    pub fuel: u64,
    /// Linear memory in MiB. Default 64.
    pub memory_mib: u32,
    /// Queries the guest may start. Default 32.
    pub max_queries: u32,
    /// Queries open at the same time. Default 4.
    pub max_open_queries: u32,
    /// Rows delivered to the guest, over all queries. Default 100,000,000.
    pub max_rows_read: u64,
    /// Releases the guest may begin. Default 4.
    pub max_releases: u32,
    /// Seconds one `next_batch` call may take. Default 300.
    pub query_timeout_secs: u64,
    /// Guest log lines kept in the audit log; further lines are counted, not stored. Default 1,000.
    pub max_log_lines: u32,
    /// Host memory in MiB the guest may make the host hold at once: batches staged by
    /// `next_batch` and not yet read, plus the contributions chunk of a `release_append`.
    /// wasmtime's limiter does not see these. Over it the job ends with `limit:memory`.
    /// Default 256 (four times the default `memory_mib`). Each run of a job (the main run, one
    /// partition run at a time) has its own.
    pub host_memory_mib: u32,
    /// Memory in MiB DataFusion may use for one session's queries: the hash tables of joins
    /// and aggregates, sorts. Nothing spills to disk (raw rows stay in memory), so a query that
    /// needs more fails. Default 1,024; at most 65,536. The main run and each partition run of
    /// `release_vector` have a session of their own.
    pub query_memory_mib: u32,
    /// Fuel of one entity run of a per-entity release (`release_entities`). Its host calls cost
    /// a fixed 10,000 each instead of their wall time. Default 100,000,000.
    pub entity_fuel: u64,
    /// Linear memory of one entity run, in MiB. Default 16; at most 1,024.
    pub entity_memory_mib: u32,
    /// Rows one entity may have over all granted tables. An entity with more is not run and
    /// contributes nothing (counted in the audit log). Default 100,000.
    pub entity_max_rows: u64,
    /// Entities one per-entity release may run; a release over more ends the job with
    /// `limit:entities`. Default 10,000,000.
    pub max_entities: u64,
    /// Wall time of one per-entity release, grouping and every entity run together; past it
    /// the job ends with `limit:release_time`. Default 3,600.
    pub entity_release_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 20_000_000_000,
            memory_mib: 64,
            max_queries: 32,
            max_open_queries: 4,
            max_rows_read: 100_000_000,
            max_releases: 4,
            query_timeout_secs: 300,
            max_log_lines: 1_000,
            host_memory_mib: 256,
            query_memory_mib: 1_024,
            entity_fuel: 100_000_000,
            entity_memory_mib: 16,
            entity_max_rows: 100_000,
            max_entities: 10_000_000,
            entity_release_secs: 3_600,
        }
    }
}

/// Queries (`entity_rows` calls) one entity run may open: a few per granted table.
const ENTITY_MAX_QUERIES: u32 = 64;
/// Host memory one entity run may make the host hold (staged rows, a contributions chunk).
const ENTITY_HOST_MEMORY_MIB: u32 = 16;

/// The largest memory limit a scenario may ask for: 4 GiB is all a 32-bit guest can address.
pub(crate) const MAX_MEMORY_MIB: u32 = 4096;

/// The largest query memory a scenario may ask for. A worker's memory limit grows with it, so
/// the bureau's approval is what stands between a scenario and the host's memory; the bound only
/// keeps the arithmetic of byte counts far from overflow.
pub(crate) const MAX_QUERY_MEMORY_MIB: u32 = 65_536;

impl Limits {
    /// Checks that the limits are usable, naming the field that is not.
    pub fn validate(&self) -> Result<(), String> {
        if self.fuel == 0 {
            return Err("limits.fuel must be greater than 0".into());
        }
        if self.memory_mib == 0 || self.memory_mib > MAX_MEMORY_MIB {
            return Err(format!(
                "limits.memory_mib must be between 1 and {MAX_MEMORY_MIB}, not {}",
                self.memory_mib
            ));
        }
        if self.host_memory_mib == 0 || self.host_memory_mib > MAX_MEMORY_MIB {
            return Err(format!(
                "limits.host_memory_mib must be between 1 and {MAX_MEMORY_MIB}, not {}",
                self.host_memory_mib
            ));
        }
        if self.query_memory_mib == 0 || self.query_memory_mib > MAX_QUERY_MEMORY_MIB {
            return Err(format!(
                "limits.query_memory_mib must be between 1 and {MAX_QUERY_MEMORY_MIB}, not {}",
                self.query_memory_mib
            ));
        }
        if self.max_open_queries == 0 {
            return Err("limits.max_open_queries must be at least 1".into());
        }
        if self.query_timeout_secs == 0 {
            return Err("limits.query_timeout_secs must be at least 1".into());
        }
        if self.entity_fuel == 0 {
            return Err("limits.entity_fuel must be greater than 0".into());
        }
        let max_entity = super::entity::MAX_ENTITY_MEMORY_MIB;
        if self.entity_memory_mib == 0 || self.entity_memory_mib > max_entity {
            return Err(format!(
                "limits.entity_memory_mib must be between 1 and {max_entity}, not {}",
                self.entity_memory_mib
            ));
        }
        if self.entity_max_rows == 0 {
            return Err("limits.entity_max_rows must be at least 1".into());
        }
        if self.max_entities == 0 {
            return Err("limits.max_entities must be at least 1".into());
        }
        if self.entity_release_secs == 0 {
            return Err("limits.entity_release_secs must be at least 1".into());
        }
        Ok(())
    }

    /// The limits of one entity run: its own fuel, memory and rows; a few queries (one per
    /// `entity_rows`); no releases; the log lines the partition-run audit quota allows.
    pub fn for_entity_run(&self) -> Limits {
        Limits {
            fuel: self.entity_fuel,
            memory_mib: self.entity_memory_mib,
            max_queries: ENTITY_MAX_QUERIES,
            max_open_queries: self.max_open_queries,
            max_rows_read: self.entity_max_rows,
            max_releases: 0,
            query_timeout_secs: self.query_timeout_secs,
            max_log_lines: self.max_log_lines,
            host_memory_mib: self.host_memory_mib.min(ENTITY_HOST_MEMORY_MIB),
            ..self.clone()
        }
    }

    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(u64::from(self.memory_mib) << 20).unwrap_or(usize::MAX)
    }

    /// The query memory limit in bytes (`query_memory_mib`).
    pub fn query_memory_bytes(&self) -> usize {
        usize::try_from(u64::from(self.query_memory_mib) << 20).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_table_keeps_the_other_defaults() {
        let limits: Limits = toml::from_str("fuel = 5\nmemory_mib = 16").unwrap();
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.memory_mib, 16);
        assert_eq!(limits.max_releases, Limits::default().max_releases);
    }

    #[test]
    fn unknown_fields_and_zero_memory_are_errors() {
        assert!(toml::from_str::<Limits>("fule = 5").is_err());
        let limits = Limits {
            memory_mib: 0,
            ..Limits::default()
        };
        assert!(limits.validate().unwrap_err().contains("memory_mib"));
    }

    #[test]
    fn query_memory_is_bounded_and_in_bytes() {
        for bad in [0, MAX_QUERY_MEMORY_MIB + 1] {
            let limits = Limits {
                query_memory_mib: bad,
                ..Limits::default()
            };
            let err = limits.validate().unwrap_err();
            assert!(err.contains("limits.query_memory_mib"), "{err}");
        }
        let limits: Limits = toml::from_str("query_memory_mib = 4096").unwrap();
        limits.validate().unwrap();
        assert_eq!(limits.query_memory_bytes(), 4 << 30);
        assert_eq!(Limits::default().query_memory_bytes(), 1 << 30);
    }
}
