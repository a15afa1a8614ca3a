//! The sandbox: wasmtime running one guest module under ABI v1 and the scenario's limits.
//!
//! **Architecture invariant:** only this crate touches guest memory, and it knows nothing about
//! data. Everything a host function does with data goes through the [`Host`] trait, which the job
//! implements with the engine, the guard and the audit log.
//!
//! A guest is hostile by assumption. Every pointer it passes is bounds-checked before anything is
//! allocated for it; every call counts against a limit; a trap, a limit or a host error ends the
//! run with a [`Fault`], never a panic. The guest runs on a thread of its own with a large stack,
//! because host calls (DataFusion planning) run on the guest's stack.
//!
//! A run can be stopped from outside with a [`CancelToken`] (see [`cancel`]): it then ends with
//! [`Fault::Cancelled`] within one epoch tick, whether the guest computes or calls the host.
//!
//! A main run (`shuyu_main`) may ask for a vector release; the host then gets a
//! [`PartitionRunner`] that runs the module's `shuyu_partition` export in fresh instances, one per
//! partition, each on a thread and in a store of its own under the same limits. Partition runs
//! get no runner, so they can neither release nor start partition runs themselves.
//!
//! A main run may also make a release per entity (`release_entities`); the host then gets an
//! [`EntityRunner`] from the same runner, which runs the module's `shuyu_contribute` export once
//! per entity in fresh instances of a pooling engine (see [`entity`]).

mod abi;
mod cache;
pub mod cancel;
pub mod entity;
mod fault;
mod host;
pub mod limits;
mod state;
#[cfg(test)]
mod test_modules;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, Linker, Module, Store, Trap, UpdateDeadline};

pub use cancel::CancelToken;
pub use entity::{entity_workers, EntityRunner, CONTRIBUTE_EXPORT, ENTITY_THREAD_STACK_BYTES};
pub use fault::{Fault, LimitKind};
pub use host::{Batch, CallError, ErrorCode, Host, ReleaseStatus};
pub use limits::Limits;
use state::GuestState;

/// The import module of ABI v1 ([`shuyu_abi::MODULE`]).
pub(crate) const ABI_MODULE: &str = shuyu_abi::MODULE;
/// The export a module runs from ([`shuyu_abi::MAIN_EXPORT`]).
pub(crate) const ENTRY_POINT: &str = shuyu_abi::MAIN_EXPORT;
/// The optional export a module's partition runs start from (`release_vector`, sample-and-
/// aggregate): `() -> i32`, like [`ENTRY_POINT`].
pub(crate) const PARTITION_EXPORT: &str = shuyu_abi::PARTITION_EXPORT;
/// The export answer runs start from (verification and data services): `() -> i32`.
pub const ANSWER_EXPORT: &str = shuyu_abi::ANSWER_EXPORT;
/// Fuel charged per nanosecond of wall time a guest spends in host functions (1 µs = 1,000
/// fuel): about what the same time costs in guest instructions, so fuel stays the one CPU
/// budget of a run, host work included.
pub(crate) const HOST_FUEL_PER_NANOSECOND: u64 = 1;
/// Stack of the thread a guest runs on: WebAssembly's own 512 KiB plus room for host calls
/// (DataFusion planning recurses deeply on hostile SQL).
const GUEST_THREAD_STACK: usize = 32 << 20;
/// Name of the thread a guest runs on (panics there are caught and audited, not printed).
pub const GUEST_THREAD_NAME: &str = "shuyu-guest";

/// A compiled, checked guest module.
#[derive(Clone)]
pub struct GuestModule {
    module: Module,
    /// SHA-256 of the module's bytes (lowercase hex).
    pub sha256: String,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// The guest's return value from `shuyu_main` (0 = success), or the fault that ended it.
    pub result: Result<i32, Fault>,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Rows delivered to the guest.
    pub rows_read: u64,
    /// Queries started.
    pub queries: u32,
    /// Guest log lines dropped after `max_log_lines`.
    pub log_lines_dropped: u64,
}

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// wasmtime refused the configuration or the ABI's definitions (a bug).
    #[error("sandbox setup failed: {0}")]
    Setup(String),
}

/// The wasmtime engine, linker and compiled-module cache. Build once, run many jobs.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: cache::ModuleCache,
    entities: EntityEngineCell,
}

/// The pooling engine of entity runs, built on first use (it reserves address space for its
/// whole pool) and shared by every runner of the sandbox.
type EntityEngineCell = Arc<OnceLock<Result<Arc<entity::EntityEngine>, String>>>;

/// The engine settings every run shares. Compiled code depends on them, so the entity engine
/// (which adds the pooling allocator) can load modules the main engine compiled.
fn base_config() -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        // Lets a cancelled run stop in pure computation (see `cancel`).
        .epoch_interruption(true)
        .wasm_memory64(false)
        .wasm_multi_memory(false)
        .wasm_tail_call(false)
        .wasm_relaxed_simd(false)
        .cranelift_nan_canonicalization(true)
        // Backtraces carry guest-chosen function names into error text; we report trap
        // kinds only.
        .wasm_backtrace_max_frames(None)
        .max_wasm_stack(512 << 10);
    config
}

impl Sandbox {
    /// Builds the sandbox. With `cache_dir`, compiled modules are also kept on disk there; that
    /// directory must be writable by the domain only (see `cache.rs`).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, SandboxError> {
        let config = base_config();
        let engine = Engine::new(&config).map_err(|e| SandboxError::Setup(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        abi::define(&mut linker).map_err(|e| SandboxError::Setup(format!("{e:#}")))?;
        let cache = cache::ModuleCache::new(&engine, cache_dir);
        cancel::start_epoch_ticker(&engine)
            .map_err(|e| SandboxError::Setup(format!("cannot start the epoch ticker: {e}")))?;
        quiet_guest_thread_panics();
        Ok(Self {
            engine,
            linker,
            cache,
            entities: Arc::new(OnceLock::new()),
        })
    }

    /// Compiles (or fetches from the cache) a module and checks that it fits ABI v1: imports only
    /// from `shuyu_v1`, exports `memory` and `shuyu_main`.
    pub fn compile(&self, bytes: &[u8]) -> Result<GuestModule, Fault> {
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes));
        let module = self.cache.get_or_compile(&self.engine, &sha256, bytes)?;
        abi::check_module(&module)?;
        Ok(GuestModule { module, sha256 })
    }

    /// Runs `shuyu_main` of a compiled module to its end, under `limits`, with `host` serving
    /// its calls. Never panics, whatever the guest does.
    pub fn run(&self, module: &GuestModule, limits: &Limits, host: Box<dyn Host>) -> RunOutcome {
        self.run_cancellable(module, limits, host, &CancelToken::new())
    }

    /// [`Sandbox::run`] that stops with [`Fault::Cancelled`] once `cancel` is set: at the
    /// guest's next ABI call or within one epoch tick of computation.
    pub fn run_cancellable(
        &self,
        module: &GuestModule,
        limits: &Limits,
        host: Box<dyn Host>,
        cancel: &CancelToken,
    ) -> RunOutcome {
        let runner = self.partition_runner(module, limits, cancel);
        runner.run_export(ENTRY_POINT, host, Some(runner.clone()))
    }

    /// The runner of `module`'s entity runs under `limits` (narrowed to the entity limits), as
    /// `release_entities` builds it: for tools and benchmarks that run entities without a job.
    ///
    /// # Errors
    /// As [`PartitionRunner::entity_runner`].
    pub fn entity_runner(
        &self,
        module: &GuestModule,
        limits: &Limits,
        cancel: &CancelToken,
    ) -> Result<EntityRunner, Fault> {
        self.partition_runner(module, limits, cancel)
            .entity_runner()
    }

    /// The runner of `module`'s answer runs (`shuyu_answer`, one per service call) under
    /// `limits` narrowed to the entity limits: the same fresh-instance isolation as entity runs.
    ///
    /// # Errors
    /// [`Fault::InvalidModule`] when the module has no `shuyu_answer` export or cannot be
    /// instantiated within the entity limits; [`Fault::Internal`] when the pooling engine cannot
    /// be built.
    pub fn answer_runner(
        &self,
        module: &GuestModule,
        limits: &Limits,
        cancel: &CancelToken,
    ) -> Result<EntityRunner, Fault> {
        self.partition_runner(module, limits, cancel)
            .pooled_runner(ANSWER_EXPORT)
    }

    /// The runner a main run of `module` hands to its host, for its partition and entity runs.
    pub(crate) fn partition_runner(
        &self,
        module: &GuestModule,
        limits: &Limits,
        cancel: &CancelToken,
    ) -> PartitionRunner {
        PartitionRunner {
            engine: self.engine.clone(),
            linker: self.linker.clone(),
            module: module.clone(),
            limits: limits.clone(),
            cancel: cancel.clone(),
            entities: self.entities.clone(),
        }
    }
}

/// Runs a module's partition export ([`PARTITION_EXPORT`]) in fresh instances, for
/// `release_vector`. The sandbox hands one to [`Host::release_vector`]; the host decides what
/// each partition run sees. Each run has a store, memory and fuel of its own, under the same
/// limits as the main run, and none can start partition runs itself.
#[derive(Clone)]
pub struct PartitionRunner {
    engine: Engine,
    linker: Linker<GuestState>,
    module: GuestModule,
    limits: Limits,
    cancel: CancelToken,
    entities: EntityEngineCell,
}

impl std::fmt::Debug for PartitionRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionRunner")
            .field("module", &self.module.sha256)
            .finish_non_exhaustive()
    }
}

impl PartitionRunner {
    /// Whether the module exports [`PARTITION_EXPORT`] (its type was checked at compile time).
    pub fn has_partition_export(&self) -> bool {
        self.module.module.get_export(PARTITION_EXPORT).is_some()
    }

    /// The limits each partition run gets (the main run's).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The runner of this module's entity runs (`release_entities`), under the entity limits of
    /// the run's scenario.
    ///
    /// # Errors
    /// [`Fault::InvalidModule`] when the module has no `shuyu_contribute` export or cannot be
    /// instantiated within the entity limits (data-independent: the caller blocks the release);
    /// [`Fault::Internal`] when the pooling engine cannot be built.
    pub fn entity_runner(&self) -> Result<EntityRunner, Fault> {
        self.pooled_runner(CONTRIBUTE_EXPORT)
    }

    /// A runner of `export` on the pooling engine, one fresh instance per run.
    fn pooled_runner(&self, export: &'static str) -> Result<EntityRunner, Fault> {
        let engine = self
            .entities
            .get_or_init(|| {
                entity::EntityEngine::new()
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Fault::Internal)?;
        engine.runner(&self.module, &self.limits, &self.cancel, export)
    }

    /// Runs the partition export once, in a fresh instance, with `host` serving its calls.
    /// Never panics, whatever the guest does.
    pub fn run(&self, host: Box<dyn Host>) -> RunOutcome {
        self.run_export(PARTITION_EXPORT, host, None)
    }

    /// Runs `export` on a thread of its own (see the module documentation).
    fn run_export(
        &self,
        export: &str,
        host: Box<dyn Host>,
        runner: Option<PartitionRunner>,
    ) -> RunOutcome {
        let started = Instant::now();
        if self.cancel.is_cancelled() {
            return RunOutcome::failed(Fault::Cancelled, started);
        }
        let joined = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(GUEST_THREAD_NAME.into())
                .stack_size(GUEST_THREAD_STACK)
                .spawn_scoped(scope, || self.run_here(export, host, runner, started))
                .map(|handle| handle.join())
        });
        match joined {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => {
                RunOutcome::failed(Fault::Internal("the guest thread panicked".into()), started)
            }
            Err(e) => RunOutcome::failed(
                Fault::Internal(format!("cannot start the guest thread: {e}")),
                started,
            ),
        }
    }

    fn run_here(
        &self,
        export: &str,
        host: Box<dyn Host>,
        runner: Option<PartitionRunner>,
        started: Instant,
    ) -> RunOutcome {
        let limits = &self.limits;
        let state = GuestState::new(host, limits.clone(), self.cancel.clone(), runner);
        let mut store = match prepare_store(&self.engine, state, limits) {
            Ok(store) => store,
            Err(fault) => return RunOutcome::failed(fault, started),
        };
        let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let instance = self.linker.instantiate(&mut store, &self.module.module)?;
            let main = instance.get_typed_func::<(), i32>(&mut store, export)?;
            main.call(&mut store, ())
        }));
        finish_run(&mut store, call, limits, started)
    }
}

/// A store for one run: the limiter, the cancel check at every epoch tick, and the fuel.
fn prepare_store(
    engine: &Engine,
    state: GuestState,
    limits: &Limits,
) -> Result<Store<GuestState>, Fault> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // With epoch interruption on, a store without a deadline traps at once: check the token
    // at every tick and otherwise keep going. Fuel, not epochs, is the CPU limit.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if state.cancel.is_cancelled() {
            state.fault = Some(Fault::Cancelled);
            Ok(UpdateDeadline::Interrupt)
        } else if state.deadline.is_some_and(|end| Instant::now() > end) {
            state.fault = Some(Fault::Limit(LimitKind::AnswerTime));
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
    store
        .set_fuel(limits.fuel)
        .map_err(|e| Fault::Internal(format!("cannot set fuel: {e:#}")))?;
    Ok(store)
}

/// Ends a run: lets the host flush, classifies how the call ended and reads the counters.
fn finish_run(
    store: &mut Store<GuestState>,
    call: std::thread::Result<wasmtime::Result<i32>>,
    limits: &Limits,
    started: Instant,
) -> RunOutcome {
    let fuel_left = store.get_fuel().unwrap_or(0);
    let state = store.data_mut();
    state.host.end();
    let result = match call {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(error)) => Err(classify(&error, state)),
        Err(_panic) => Err(Fault::Internal("a host function panicked".into())),
    };
    RunOutcome {
        result,
        fuel_used: limits.fuel.saturating_sub(fuel_left),
        elapsed: started.elapsed(),
        rows_read: state.rows_read,
        queries: state.queries,
        log_lines_dropped: state.log_lines_dropped,
    }
}

impl RunOutcome {
    /// A run that ended with `fault` before it started (no fuel used, no time).
    pub fn failed_with(fault: Fault) -> Self {
        Self::failed(fault, Instant::now())
    }

    pub(crate) fn failed(fault: Fault, started: Instant) -> Self {
        Self {
            result: Err(fault),
            fuel_used: 0,
            elapsed: started.elapsed(),
            rows_read: 0,
            queries: 0,
            log_lines_dropped: 0,
        }
    }
}

/// Keeps panics on guest threads off stderr. They are caught (the guard decodes hostile Arrow IPC
/// under `catch_unwind`, and a run catches anything else) and turned into blocks or faults that
/// are audited; printing them would only let a guest write to the operator's terminal.
fn quiet_guest_thread_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(GUEST_THREAD_NAME) {
                default(info);
            }
        }));
    });
}

/// Turns whatever ended a run into a fault. A fault recorded by a host function or the limiter
/// is the most precise account, so it wins over the error wasmtime surfaces.
fn classify(error: &wasmtime::Error, state: &mut GuestState) -> Fault {
    if let Some(fault) = state.fault.take().or_else(|| state.limiter.hit.take()) {
        return fault;
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => Fault::Limit(LimitKind::Fuel),
            Trap::Interrupt if state.cancel.is_cancelled() => Fault::Cancelled,
            Trap::StackOverflow => Fault::Trap("stack_overflow".into()),
            Trap::MemoryOutOfBounds => Fault::Trap("memory_out_of_bounds".into()),
            Trap::UnreachableCodeReached => Fault::Trap("unreachable".into()),
            Trap::IntegerDivisionByZero => Fault::Trap("divide_by_zero".into()),
            Trap::IntegerOverflow => Fault::Trap("integer_overflow".into()),
            Trap::BadConversionToInteger => Fault::Trap("bad_conversion_to_integer".into()),
            Trap::TableOutOfBounds => Fault::Trap("table_out_of_bounds".into()),
            Trap::IndirectCallToNull => Fault::Trap("indirect_call_to_null".into()),
            Trap::BadSignature => Fault::Trap("bad_signature".into()),
            other => Fault::Trap(format!("{other:?}").to_lowercase()),
        };
    }
    // Instantiation errors (unknown imports, missing exports) and anything else wasmtime
    // reports without a trap code.
    Fault::InvalidModule(format!("{error:#}"))
}
