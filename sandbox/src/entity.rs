//! Entity runs: the module's `shuyu_contribute` export, once per entity, each in a fresh
//! instance (docs/abi.md, "Entity contributions").
//!
//! Differential privacy for any module rests on one property: an entity's contributions depend on
//! that entity's rows alone. The host hands each run one entity's rows; this module makes sure
//! nothing else reaches it. Every run gets a new [`Store`] and a new instance from an
//! [`InstancePre`]: linear memory from the module's initial image, globals and tables from their
//! initializers, and host state ([`GuestState`]) built anew. Nothing survives from the main run
//! or from another entity, whatever the code does.
//!
//! Instantiating per entity is affordable because entity runs use an engine of their own with
//! wasmtime's pooling allocator: instance slots are preallocated, and a slot's memory is reset to
//! the copy-on-write image of the module when the instance is dropped (no `mmap` per run). The
//! main and partition runs keep the on-demand allocator, whose memories can be as large as a
//! scenario allows.
//!
//! # Limits
//! Each run has the entity limits of its scenario ([`Limits::for_entity_run`]); its host calls are
//! charged a fixed amount of fuel ([`ENTITY_HOST_CALL_FUEL`]) instead of their wall time, so that
//! whether a run runs out of fuel depends on its own data and never on how busy the machine is
//! (which other entities' runs influence). At most [`ENTITY_SLOTS`] runs are in flight in one
//! process: a release's worker threads each hold one slot for their whole life.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, ModuleExport,
    PoolingAllocationConfig,
};

use super::state::GuestState;
use super::{
    abi, base_config, finish_run, prepare_store, CancelToken, Fault, GuestModule, Host, LimitKind,
    Limits, RunOutcome, SandboxError, GUEST_THREAD_NAME,
};

/// The export entity runs start from: `() -> i32`, like `shuyu_main`.
pub const CONTRIBUTE_EXPORT: &str = shuyu_abi::CONTRIBUTE_EXPORT;
/// Fuel one host call of an entity run costs, whatever its duration.
pub(crate) const ENTITY_HOST_CALL_FUEL: u64 = 10_000;
/// Entity runs in flight at once in one process: the size of the instance pool.
pub(crate) const ENTITY_SLOTS: u32 = 16;
/// Largest `entity_memory_mib` a scenario may set: every pool slot reserves this much address
/// space (not memory).
pub(crate) const MAX_ENTITY_MEMORY_MIB: u32 = 1024;
/// Worker threads a per-entity release runs on: one per core, at most [`ENTITY_SLOTS`].
pub fn entity_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ENTITY_SLOTS as usize)
}

/// Stack of an entity worker thread, in bytes (see [`ENTITY_THREAD_STACK`]), for memory budgets.
pub const ENTITY_THREAD_STACK_BYTES: usize = ENTITY_THREAD_STACK;

/// Stack of an entity worker thread: WebAssembly's 512 KiB and the host calls of an entity run,
/// which plan no SQL (the 32 MiB of main-run threads are for DataFusion's planner).
const ENTITY_THREAD_STACK: usize = 4 << 20;
/// Bytes at the start of a slot's memory (and table) reset in place rather than unmapped: the
/// default `entity_memory_mib`.
const ENTITY_KEEP_RESIDENT: usize = 16 << 20;
/// How often a worker waiting for a pool slot looks at the cancel token and the deadline.
const SLOT_WAIT: Duration = Duration::from_millis(50);

/// The pooling engine of entity runs, with its linker and its slot counter. Built on the first
/// per-entity release of a process and shared by all of them.
pub(super) struct EntityEngine {
    engine: Engine,
    linker: Linker<GuestState>,
    slots: Arc<(Mutex<u32>, Condvar)>,
}

impl EntityEngine {
    pub(super) fn new() -> Result<Self, SandboxError> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(ENTITY_SLOTS)
            .total_memories(ENTITY_SLOTS)
            .total_tables(ENTITY_SLOTS)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            .table_elements(super::state::MAX_TABLE_ELEMENTS)
            .max_memory_size(
                usize::try_from(u64::from(MAX_ENTITY_MEMORY_MIB) << 20).unwrap_or(usize::MAX),
            )
            // Instance metadata (vmctx) grows with a module's functions and globals; generous,
            // since it is address space until used.
            .max_core_instance_size(16 << 20)
            // Reset a slot by rewriting only the pages the run wrote (found with Linux's
            // PAGEMAP_SCAN where the kernel has it), keeping them mapped. The default, `madvise`
            // per instance, makes the kernel interrupt every other core running this process
            // to flush its TLB: with two workers each ran three times slower than one alone.
            .linear_memory_keep_resident(ENTITY_KEEP_RESIDENT)
            .table_keep_resident(ENTITY_KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto);
        let mut config: Config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| SandboxError::Setup(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        abi::define(&mut linker).map_err(|e| SandboxError::Setup(format!("{e:#}")))?;
        super::cancel::start_epoch_ticker(&engine)
            .map_err(|e| SandboxError::Setup(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            engine,
            linker,
            slots: Arc::new((Mutex::new(ENTITY_SLOTS), Condvar::new())),
        })
    }

    /// Prepares `module` for entity runs under `limits` (the scenario's, narrowed by
    /// [`Limits::for_entity_run`] here). The module is moved into this engine from its compiled
    /// form, then instantiated once with no entity, so that a module that cannot run per entity
    /// at all (too much initial memory, an instance too large for a slot) is refused once, as an
    /// invalid module, instead of failing in every run.
    pub(super) fn runner(
        &self,
        module: &GuestModule,
        limits: &Limits,
        cancel: &CancelToken,
        export: &'static str,
    ) -> Result<EntityRunner, Fault> {
        if module.module.get_export(export).is_none() {
            let runs = if export == CONTRIBUTE_EXPORT {
                "entity runs"
            } else {
                "answer runs"
            };
            return Err(Fault::InvalidModule(format!(
                "the module does not export `{export}`, so it has no {runs}"
            )));
        }
        let bytes = module
            .module
            .serialize()
            .map_err(|e| Fault::Internal(format!("cannot serialize the module: {e:#}")))?;
        // SAFETY: `bytes` were produced a moment ago by wasmtime from a module this process
        // compiled itself (`Sandbox::compile`); they never left memory. The two engines share
        // every setting that compiled code depends on (`base_config`), which wasmtime checks.
        #[allow(unsafe_code)]
        let moved = unsafe { Module::deserialize(&self.engine, &bytes) }.map_err(|e| {
            Fault::Internal(format!("cannot load the module for entity runs: {e:#}"))
        })?;
        let pre = self
            .linker
            .instantiate_pre(&moved)
            .map_err(|e| Fault::InvalidModule(format!("{e:#}")))?;
        let export_index = moved.get_export_index(export).ok_or_else(|| {
            Fault::Internal(format!(
                "`{export}` is lost from the module moved for entity runs"
            ))
        })?;
        let runner = EntityRunner {
            engine: self.engine.clone(),
            pre,
            limits: limits.for_entity_run(),
            cancel: cancel.clone(),
            slots: self.slots.clone(),
            export,
            export_index,
        };
        runner.probe()?;
        Ok(runner)
    }
}

/// Runs an export (`shuyu_contribute` once per entity, or `shuyu_answer` once per service
/// call), each run in a fresh instance (see the module docs).
#[derive(Clone)]
pub struct EntityRunner {
    engine: Engine,
    pre: InstancePre<GuestState>,
    limits: Limits,
    cancel: CancelToken,
    slots: Arc<(Mutex<u32>, Condvar)>,
    /// The export each run calls.
    export: &'static str,
    /// Where that export is in the module: found once, not by name in every run.
    export_index: ModuleExport,
}

impl std::fmt::Debug for EntityRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityRunner")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A host that serves nothing: what the probe instantiation runs with.
pub(super) struct NoHost;

impl Host for NoHost {
    fn query(&mut self, _sql: &str) -> Result<i32, super::CallError> {
        Err(super::CallError::code(
            super::ErrorCode::NotAvailable,
            "nothing is available while the module is being prepared",
        ))
    }
    fn next_batch(&mut self, _handle: i32) -> Result<Option<super::Batch>, super::CallError> {
        Ok(None)
    }
    fn close(&mut self, _handle: i32) -> Result<(), super::CallError> {
        Ok(())
    }
    fn release_begin(&mut self, name: &str) -> Result<i32, super::CallError> {
        self.query(name)
    }
    fn release_append(&mut self, _handle: i32, _ipc: &[u8]) -> Result<(), super::CallError> {
        self.query("").map(|_| ())
    }
    fn release_finish(&mut self, _handle: i32) -> Result<super::ReleaseStatus, super::CallError> {
        self.query("").map(|_| super::ReleaseStatus::Blocked)
    }
    fn log(&mut self, _line: &str) {}
}

impl EntityRunner {
    /// The limits each entity run gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Instantiates the module once without calling it (see [`EntityEngine::runner`]).
    fn probe(&self) -> Result<(), Fault> {
        let started = Instant::now();
        let mut store = prepare_store(
            &self.engine,
            GuestState::new(
                Box::new(NoHost),
                self.limits.clone(),
                self.cancel.clone(),
                None,
            ),
            &self.limits,
        )?;
        let instantiated = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.pre.instantiate(&mut store).map(|_| ())
        }));
        let outcome = finish_run(
            &mut store,
            instantiated.map(|r| r.map(|()| 0)),
            &self.limits,
            started,
        );
        match outcome.result {
            Ok(_) => Ok(()),
            Err(Fault::Cancelled) => Err(Fault::Cancelled),
            Err(Fault::Internal(e)) => Err(Fault::Internal(e)),
            Err(fault) => Err(Fault::InvalidModule(format!(
                "the module cannot be instantiated for an entity run ({fault}); entity runs have \
                 {} MiB of memory (limits.entity_memory_mib)",
                self.limits.memory_mib
            ))),
        }
    }

    /// Runs the export once in a fresh instance and store, with `host` serving its calls, on the
    /// calling thread (a worker thread of [`EntityRunner::run_each`]). Never panics.
    fn run_one(&self, host: Box<dyn Host>, deadline: Option<Instant>) -> RunOutcome {
        let started = Instant::now();
        let mut state = GuestState::new(host, self.limits.clone(), self.cancel.clone(), None);
        state.fixed_host_costs = true;
        state.deadline = deadline;
        let mut store = match prepare_store(&self.engine, state, &self.limits) {
            Ok(store) => store,
            Err(fault) => return RunOutcome::failed(fault, started),
        };
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let instance = self.pre.instantiate(&mut store)?;
            let export = instance
                .get_module_export(&mut store, &self.export_index)
                .and_then(|export| export.into_func())
                .ok_or_else(|| wasmtime::Error::msg(format!("no function `{}`", self.export)))?;
            export.typed::<(), i32>(&store)?.call(&mut store, ())
        }));
        finish_run(&mut store, call, &self.limits, started)
    }

    /// Runs entities `0..count` on up to `workers` threads, each entity in a fresh instance.
    ///
    /// Each worker thread starts with `init()`; for entity `i` it builds the run's host with
    /// `host_for(&mut state, i)`, runs it, and hands the outcome to `done(&mut state, i, outcome)`
    /// on the same thread. Returns every worker's state once all entities ran.
    ///
    /// # Errors
    /// [`Fault::Cancelled`] when the job is cancelled, [`LimitKind::ReleaseTime`] past
    /// `deadline`, [`Fault::Internal`] when a worker thread cannot start or panics. What a run
    /// does never ends the others: its outcome goes to `done`.
    pub fn run_each<W: Send>(
        &self,
        count: usize,
        workers: usize,
        deadline: Instant,
        init: impl Fn() -> W + Sync,
        host_for: impl Fn(&mut W, usize) -> Box<dyn Host> + Sync,
        done: impl Fn(&mut W, usize, RunOutcome) + Sync,
    ) -> Result<Vec<W>, Fault> {
        let next = AtomicUsize::new(0);
        let workers = workers.clamp(1, ENTITY_SLOTS as usize).min(count.max(1));
        let stop: Mutex<Option<Fault>> = Mutex::new(None);
        let work = || -> Result<W, Fault> {
            let _slot = self.take_slot(deadline)?;
            let mut state = init();
            loop {
                if let Some(fault) = stop.lock().ok().and_then(|s| s.clone()) {
                    return Err(fault);
                }
                if self.cancel.is_cancelled() {
                    return Err(Fault::Cancelled);
                }
                if Instant::now() > deadline {
                    return Err(Fault::Limit(LimitKind::ReleaseTime));
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok(state);
                }
                let host = host_for(&mut state, i);
                let outcome = self.run_one(host, None);
                if let Err(fault @ (Fault::Cancelled | Fault::Internal(_))) = &outcome.result {
                    // The job is stopping or the host failed: no release can be complete.
                    let fault = fault.clone();
                    if let Ok(mut stop) = stop.lock() {
                        stop.get_or_insert(fault.clone());
                    }
                    return Err(fault);
                }
                done(&mut state, i, outcome);
            }
        };
        let results: Vec<Result<W, Fault>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    std::thread::Builder::new()
                        .name(GUEST_THREAD_NAME.into())
                        .stack_size(ENTITY_THREAD_STACK)
                        .spawn_scoped(scope, work)
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| match handle {
                    Ok(handle) => handle.join().unwrap_or_else(|_| {
                        Err(Fault::Internal("an entity worker thread panicked".into()))
                    }),
                    Err(e) => Err(Fault::Internal(format!(
                        "cannot start an entity worker thread: {e}"
                    ))),
                })
                .collect()
        });
        results.into_iter().collect()
    }

    /// Runs the export once, on the calling thread, in a fresh instance with `host` serving its
    /// calls; the run is interrupted (at an epoch tick) once `deadline` passes
    /// ([`LimitKind::AnswerTime`]). Waits for a pool slot until `deadline`.
    ///
    /// # Errors
    /// [`LimitKind::AnswerTime`] when no slot frees up before `deadline`, [`Fault::Cancelled`]
    /// when the runner's token is set. What the run does is in the [`RunOutcome`].
    pub fn run_single(&self, host: Box<dyn Host>, deadline: Instant) -> Result<RunOutcome, Fault> {
        let _slot = self.take_slot(deadline).map_err(|fault| match fault {
            Fault::Limit(LimitKind::ReleaseTime) => Fault::Limit(LimitKind::AnswerTime),
            other => other,
        })?;
        Ok(self.run_one(host, Some(deadline)))
    }

    /// Waits for a free pool slot, looking at the cancel token and the deadline while it waits.
    fn take_slot(&self, deadline: Instant) -> Result<SlotGuard, Fault> {
        let (count, freed) = &*self.slots;
        let mut free = count
            .lock()
            .map_err(|_| Fault::Internal("the entity slot counter is poisoned".into()))?;
        while *free == 0 {
            if self.cancel.is_cancelled() {
                return Err(Fault::Cancelled);
            }
            if Instant::now() > deadline {
                return Err(Fault::Limit(LimitKind::ReleaseTime));
            }
            free = freed
                .wait_timeout(free, SLOT_WAIT)
                .map_err(|_| Fault::Internal("the entity slot counter is poisoned".into()))?
                .0;
        }
        *free -= 1;
        Ok(SlotGuard {
            slots: self.slots.clone(),
        })
    }
}

/// One pool slot, given back when dropped.
struct SlotGuard {
    slots: Arc<(Mutex<u32>, Condvar)>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let (count, freed) = &*self.slots;
        if let Ok(mut free) = count.lock() {
            *free += 1;
            freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sandbox;
    use wasm_encoder::{
        CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
        FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction as I, MemArg,
        MemorySection, MemoryType, Module as Encoded, TypeSection, ValType,
    };

    /// A module whose `shuyu_contribute` returns what it finds of its state (a mutable global
    /// plus a word of memory, both 0 initially), then changes both, after `calls` log calls.
    /// `shuyu_main` returns 0. With `spin`, `shuyu_contribute` loops forever instead.
    fn stateful(calls: usize, spin: bool) -> Vec<u8> {
        let mut types = TypeSection::new();
        types
            .ty()
            .function([ValType::I32, ValType::I32], [ValType::I32]);
        types.ty().function([], [ValType::I32]);
        let mut imports = ImportSection::new();
        imports.import("shuyu_v1", "log", EntityType::Function(0));
        let mut functions = FunctionSection::new();
        functions.function(1).function(1);
        let mut memory = MemorySection::new();
        memory.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut globals = GlobalSection::new();
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i32_const(0),
        );
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        exports.export("shuyu_main", ExportKind::Func, 1);
        exports.export(CONTRIBUTE_EXPORT, ExportKind::Func, 2);
        let word = MemArg {
            offset: 0,
            align: 2,
            memory_index: 0,
        };
        let mut main = Function::new([]);
        main.instruction(&I::I32Const(0)).instruction(&I::End);
        let mut contribute = Function::new([]);
        if spin {
            contribute
                .instruction(&I::Loop(wasm_encoder::BlockType::Empty))
                .instruction(&I::Br(0))
                .instruction(&I::End);
        }
        for _ in 0..calls {
            contribute
                .instruction(&I::I32Const(16))
                .instruction(&I::I32Const(2))
                .instruction(&I::Call(0))
                .instruction(&I::Drop);
        }
        contribute
            .instruction(&I::GlobalGet(0))
            .instruction(&I::I32Const(0))
            .instruction(&I::I32Load(word))
            .instruction(&I::I32Add)
            .instruction(&I::GlobalGet(0))
            .instruction(&I::I32Const(1))
            .instruction(&I::I32Add)
            .instruction(&I::GlobalSet(0))
            .instruction(&I::I32Const(0))
            .instruction(&I::I32Const(7))
            .instruction(&I::I32Store(word))
            .instruction(&I::End);
        let mut code = CodeSection::new();
        code.function(&main).function(&contribute);
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(16), b"hi".iter().copied());
        let mut module = Encoded::new();
        module
            .section(&types)
            .section(&imports)
            .section(&functions)
            .section(&memory)
            .section(&globals)
            .section(&exports)
            .section(&code)
            .section(&data);
        module.finish()
    }

    fn runner(wasm: &[u8], limits: &Limits, cancel: &CancelToken) -> Result<EntityRunner, Fault> {
        let sandbox = Sandbox::new(None).expect("sandbox");
        let module = sandbox.compile(wasm).expect("module");
        sandbox
            .partition_runner(&module, limits, cancel)
            .entity_runner()
    }

    /// Runs `count` entities and returns each one's outcome, by entity.
    fn outcomes(runner: &EntityRunner, count: usize) -> Result<Vec<RunOutcome>, Fault> {
        let far = Instant::now() + Duration::from_secs(600);
        let workers = runner.run_each(
            count,
            4,
            far,
            Vec::new,
            |_, _| Box::new(NoHost),
            |seen, i, outcome| seen.push((i, outcome)),
        )?;
        let mut all: Vec<(usize, RunOutcome)> = workers.into_iter().flatten().collect();
        all.sort_by_key(|(i, _)| *i);
        assert_eq!(all.len(), count, "every entity ran exactly once");
        Ok(all.into_iter().map(|(_, o)| o).collect())
    }

    #[test]
    fn every_entity_starts_from_the_initial_state() {
        let runner =
            runner(&stateful(0, false), &Limits::default(), &CancelToken::new()).expect("runner");
        for outcome in outcomes(&runner, 500).expect("runs") {
            assert_eq!(
                outcome.result,
                Ok(0),
                "a run saw another run's global or memory"
            );
        }
    }

    #[test]
    fn host_calls_cost_fixed_fuel_so_runs_use_the_same_fuel() {
        let runner =
            runner(&stateful(5, false), &Limits::default(), &CancelToken::new()).expect("runner");
        let fuel: Vec<u64> = outcomes(&runner, 50)
            .expect("runs")
            .into_iter()
            .map(|o| o.fuel_used)
            .collect();
        assert!(fuel.iter().all(|&f| f == fuel[0]), "{fuel:?}");
        assert!(fuel[0] >= 5 * ENTITY_HOST_CALL_FUEL, "{}", fuel[0]);
    }

    #[test]
    fn a_run_out_of_fuel_ends_alone() {
        let limits = Limits {
            entity_fuel: 100_000,
            ..Limits::default()
        };
        let runner = runner(&stateful(0, true), &limits, &CancelToken::new()).expect("runner");
        for outcome in outcomes(&runner, 8).expect("the others still run") {
            assert_eq!(outcome.result, Err(Fault::Limit(LimitKind::Fuel)));
        }
    }

    #[test]
    fn cancellation_and_the_deadline_end_the_release() {
        let token = CancelToken::new();
        let runner = runner(&stateful(0, false), &Limits::default(), &token).expect("runner");
        token.cancel();
        assert_eq!(outcomes(&runner, 10).err(), Some(Fault::Cancelled));
        let runner = runner_again();
        let past = Instant::now() - Duration::from_secs(1);
        let ended = runner.run_each(3, 2, past, || (), |_, _| Box::new(NoHost), |_, _, _| {});
        assert_eq!(ended.err(), Some(Fault::Limit(LimitKind::ReleaseTime)));
    }

    fn runner_again() -> EntityRunner {
        runner(&stateful(0, false), &Limits::default(), &CancelToken::new()).expect("runner")
    }

    #[test]
    fn modules_that_cannot_run_per_entity_are_refused_once() {
        // No `shuyu_contribute`: the main-run-only module of the cancel tests.
        let sandbox = Sandbox::new(None).expect("sandbox");
        let mut wasm = stateful(0, false);
        // Renaming the export's bytes keeps the module valid but without the entry.
        let at = wasm
            .windows(CONTRIBUTE_EXPORT.len())
            .position(|w| w == CONTRIBUTE_EXPORT.as_bytes())
            .expect("export name");
        wasm[at] = b'x';
        let module = sandbox.compile(&wasm).expect("module");
        let limits = Limits::default();
        let fault = sandbox
            .partition_runner(&module, &limits, &CancelToken::new())
            .entity_runner()
            .unwrap_err();
        assert!(
            matches!(fault, Fault::InvalidModule(ref m) if m.contains(CONTRIBUTE_EXPORT)),
            "{fault:?}"
        );
        // A memory above the entity limit is refused before any entity runs.
        let small = Limits {
            entity_memory_mib: 1,
            ..Limits::default()
        };
        let mut big = stateful(0, false);
        let grown = runner(&big, &small, &CancelToken::new());
        assert!(grown.is_ok(), "one page fits 1 MiB");
        big = big_memory_module();
        let fault = runner(&big, &small, &CancelToken::new()).unwrap_err();
        assert!(
            matches!(fault, Fault::InvalidModule(ref m) if m.contains("entity_memory_mib")),
            "{fault:?}"
        );
    }

    /// `stateful` with an initial memory of 32 pages (2 MiB).
    fn big_memory_module() -> Vec<u8> {
        let wasm = stateful(0, false);
        let mut parser_free = wasm.clone();
        // The memory section is `05 03 01 00 01`: one memory, no maximum, minimum 1 page.
        let at = parser_free
            .windows(5)
            .position(|w| w == [5, 3, 1, 0, 1])
            .expect("memory section");
        parser_free[at + 4] = 32;
        parser_free
    }
}
