//! Per-scenario limits on what one job's guest may consume.
//!
//! # Defaults
//! Every field has a default (see `docs/abi.md` §Limits) so a scenario names only what it changes.
//!
//! # Limitations with malicious guests
//! Fuel meters WebAssembly instructions only. Time a guest spends inside host calls (running SQL)
//! is bounded by `query_timeout_secs`, `max_rows_read` and `max_queries`, not by fuel; a guest
//! that issues expensive queries can therefore use up to
//! `max_queries × query_timeout_secs` of host time. Memory limits cover the guest's linear memory;
//! the host's own memory for a query is bounded by DataFusion's memory pool (see `engine`).

use serde::{Deserialize, Serialize};

/// Limits for one job. Deserialized from `[limits]` in `scenario.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        }
    }
}

/// The largest memory limit a scenario may ask for: 4 GiB is all a 32-bit guest can address.
pub const MAX_MEMORY_MIB: u32 = 4096;

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
        if self.max_open_queries == 0 {
            return Err("limits.max_open_queries must be at least 1".into());
        }
        if self.query_timeout_secs == 0 {
            return Err("limits.query_timeout_secs must be at least 1".into());
        }
        Ok(())
    }

    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(u64::from(self.memory_mib) << 20).unwrap_or(usize::MAX)
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
}
