//! The per-run state a store holds: the host, the limiter, staged batches and counters.

use std::collections::{BTreeMap, BTreeSet};

use wasmtime::ResourceLimiter;

use super::{CallError, CancelToken, ErrorCode, Fault, Host, LimitKind, Limits, PartitionRunner};

/// Memory and table limits for one run. Records which limit was hit, so the fault names it
/// instead of the generic error wasmtime raises for a refused growth.
pub(super) struct GuestLimiter {
    memory_bytes: usize,
    table_elements: usize,
    pub(super) hit: Option<Fault>,
}

/// Table elements a module may have: plenty for any compiled Rust or C program's indirect calls.
pub(super) const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = Some(Fault::Limit(LimitKind::Memory));
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.hit = Some(Fault::Limit(LimitKind::Memory));
            return Err(wasmtime::Error::msg("table limit exceeded"));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Everything a run's host functions share.
pub(crate) struct GuestState {
    pub(super) host: Box<dyn Host>,
    pub(super) limits: Limits,
    pub(super) limiter: GuestLimiter,
    /// Set from outside to stop the run.
    pub(super) cancel: CancelToken,
    /// Batches staged by `next_batch`, waiting for `read_batch`. Private: every change goes
    /// through [`GuestState::stage`] / [`GuestState::unstage`], which keep `staged_bytes`.
    staged: BTreeMap<i32, Vec<u8>>,
    /// Bytes of the batches in `staged`: host memory the guest decides to keep.
    staged_bytes: u64,
    /// Query handles that are open.
    pub(super) open_queries: BTreeSet<i32>,
    pub(super) last_error: String,
    /// The fault a host function raised, kept because wasmtime wraps the error it returns.
    pub(super) fault: Option<Fault>,
    pub(super) queries: u32,
    pub(super) releases: u32,
    pub(super) rows_read: u64,
    pub(super) log_lines: u32,
    pub(super) log_lines_dropped: u64,
    /// In a main run: what `release_vector` runs partitions with. `None` in a partition run,
    /// which can therefore never start partition runs of its own.
    pub(super) runner: Option<PartitionRunner>,
    /// In an entity run: host calls cost a fixed amount of fuel instead of their wall time
    /// (see `entity`).
    pub(super) fixed_host_costs: bool,
    /// In an answer run: the wall-clock end of the run, checked at every epoch tick.
    pub(super) deadline: Option<std::time::Instant>,
    /// The instance's exported memory, kept by the first host call that looks it up: the
    /// others would otherwise each look it up by name (a hashed string lookup).
    pub(super) memory: Option<wasmtime::Memory>,
}

impl GuestState {
    pub(super) fn new(
        host: Box<dyn Host>,
        limits: Limits,
        cancel: CancelToken,
        runner: Option<PartitionRunner>,
    ) -> Self {
        Self {
            host,
            limiter: GuestLimiter {
                memory_bytes: limits.memory_bytes(),
                table_elements: MAX_TABLE_ELEMENTS,
                hit: None,
            },
            limits,
            cancel,
            staged: BTreeMap::new(),
            staged_bytes: 0,
            open_queries: BTreeSet::new(),
            last_error: String::new(),
            fault: None,
            queries: 0,
            releases: 0,
            rows_read: 0,
            log_lines: 0,
            log_lines_dropped: 0,
            runner,
            fixed_host_costs: false,
            deadline: None,
            memory: None,
        }
    }

    /// Fails the call once the run is cancelled: a guest that keeps calling the host never
    /// reaches an epoch check in its own code for long, so host calls check too.
    pub(super) fn check_cancelled(&self) -> Result<(), CallError> {
        if self.cancel.is_cancelled() {
            return Err(Fault::Cancelled.into());
        }
        Ok(())
    }

    /// Counts a query attempt (rejected ones too: planning costs host time).
    pub(super) fn count_query(&mut self) -> Result<(), CallError> {
        if self.queries >= self.limits.max_queries {
            return Err(Fault::Limit(LimitKind::Queries).into());
        }
        if self.open_queries.len() >= self.limits.max_open_queries as usize {
            return Err(Fault::Limit(LimitKind::OpenQueries).into());
        }
        self.queries += 1;
        Ok(())
    }

    pub(super) fn count_release(&mut self) -> Result<(), CallError> {
        if self.releases >= self.limits.max_releases {
            return Err(Fault::Limit(LimitKind::Releases).into());
        }
        self.releases += 1;
        Ok(())
    }

    pub(super) fn count_rows(&mut self, rows: u64) -> Result<(), CallError> {
        self.rows_read = self.rows_read.saturating_add(rows);
        if self.rows_read > self.limits.max_rows_read {
            return Err(Fault::Limit(LimitKind::RowsRead).into());
        }
        Ok(())
    }

    /// Host memory the guest may make the host hold at once, in bytes (`host_memory_mib`).
    fn host_budget(&self) -> u64 {
        u64::from(self.limits.host_memory_mib).saturating_mul(1 << 20)
    }

    /// Checks that the host may hold `extra` more bytes for the guest besides the staged
    /// batches (a contributions chunk being appended): [`LimitKind::Memory`] otherwise.
    pub(super) fn check_host_bytes(&self, extra: usize) -> Result<(), CallError> {
        let wanted = self
            .staged_bytes
            .saturating_add(u64::try_from(extra).unwrap_or(u64::MAX));
        if wanted > self.host_budget() {
            return Err(Fault::Limit(LimitKind::Memory).into());
        }
        Ok(())
    }

    /// Stages a batch for `read_batch`, counting it against the host memory budget. Over the
    /// budget the batch is dropped and the run ends with `limit:memory`.
    pub(super) fn stage(&mut self, handle: i32, ipc: Vec<u8>) -> Result<(), CallError> {
        self.unstage(handle);
        self.check_host_bytes(ipc.len())?;
        self.staged_bytes = self
            .staged_bytes
            .saturating_add(u64::try_from(ipc.len()).unwrap_or(u64::MAX));
        self.staged.insert(handle, ipc);
        Ok(())
    }

    /// Takes the batch staged for `handle`, if any.
    pub(super) fn unstage(&mut self, handle: i32) -> Option<Vec<u8>> {
        let batch = self.staged.remove(&handle)?;
        self.staged_bytes = self
            .staged_bytes
            .saturating_sub(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        Some(batch)
    }

    /// Whether another log line may be kept.
    pub(super) fn take_log_slot(&mut self) -> bool {
        if self.log_lines >= self.limits.max_log_lines {
            self.log_lines_dropped += 1;
            return false;
        }
        self.log_lines += 1;
        true
    }

    pub(super) fn require_open(&self, handle: i32) -> Result<(), CallError> {
        if self.open_queries.contains(&handle) {
            Ok(())
        } else {
            Err(CallError::code(
                ErrorCode::UnknownHandle,
                format!("no open query has handle {handle}"),
            ))
        }
    }
}
