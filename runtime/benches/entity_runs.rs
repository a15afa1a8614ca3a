//! Entity runs without a job: instantiate + call + teardown of `shuyu_contribute` per entity, in
//! fresh instances of the pooling engine, on 1 and 2 worker threads.
//!
//! Run: `cargo bench -p shuyu --bench entity_runs -- --entities 200000` (add `--profile dev` to
//! reuse the debug build; add `--sdk-module target/wasm-modules/entity_cost.wasm` for a module
//! built with the SDK, see `tests/hostile-guests/entity-cost`). Two modules are built here with
//! `wasm-encoder` so that nothing else is measured:
//!
//! - `empty`: `shuyu_contribute` returns 0 at once: the floor of a run (store, instance from the
//!   copy-on-write image, call, reset of the slot).
//! - `rows + contribute`: opens its entity's rows with `entity_rows`, reads the one staged batch
//!   into memory with `next_batch`/`read_batch`, and hands a one-row contributions chunk to
//!   `contribute`: the host calls a real entity run makes, against a host that serves fixed bytes.
//! - `rows + contribute, N-entry table`: the same with a function table of N entries, called
//!   through twice. A table of more than one host page (512 entries) is reset with a
//!   `PAGEMAP_SCAN` ioctl, a smaller one with a `memset`; a Rust module that links Arrow has
//!   about 860 entries.
//!
//! Results and the command that produced them go to `docs/benchmarks.md`.

// A test or bench binary: a failed `expect` is a failed run, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::StreamWriter;
use shuyu::sandbox::{
    Batch, CallError, CancelToken, EntityRunner, ErrorCode, Host, Limits, ReleaseStatus, Sandbox,
    CONTRIBUTE_EXPORT,
};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ElementSection, Elements, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, ImportSection, Instruction as I, MemorySection,
    MemoryType, Module, RefType, TableSection, TableType, TypeSection, ValType,
};

/// Where the module keeps the table name, the contributions chunk and the batch it reads.
const TABLE_AT: i32 = 0;
const CHUNK_AT: i32 = 64;
const BATCH_AT: i32 = 4096;

/// One small Arrow IPC stream: what `rows` and `chunk` look like to the module.
fn ipc(batch: &RecordBatch) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema()).expect("writer");
    writer.write(batch).expect("write");
    writer.finish().expect("finish");
    drop(writer);
    bytes
}

/// One entity's 12 rows of a table, staged both ways: as an Arrow IPC stream (`entity_rows`)
/// and in the table encoding (`entity_table`).
struct Staged {
    ipc: Vec<u8>,
    table: Vec<u8>,
}

fn rows_staged() -> Staged {
    let schema = Arc::new(Schema::new(vec![
        Field::new("usci", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![
                "0123456789abcdef0123456789abcdef";
                12
            ])),
            Arc::new(Float64Array::from(vec![1234.5; 12])),
        ],
    )
    .expect("batch");
    Staged {
        ipc: ipc(&batch),
        table: shuyu::engine::table::encode(&batch).expect("encodable"),
    }
}

fn chunk_ipc() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("district", DataType::Utf8, true),
        Field::new("tax", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["西湖区"])),
            Arc::new(Float64Array::from(vec![14814.0])),
        ],
    )
    .expect("batch");
    ipc(&batch)
}

/// A module whose `shuyu_contribute` is empty, or makes the calls of a real entity run. With
/// `table` entries it also has a function table of that size (as a compiled Rust module's
/// indirect calls and trait objects need) and calls through its first and last entry.
fn module(with_calls: bool, chunk: &[u8], table: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]); // entity_rows, contribute
    types.ty().function([ValType::I32], [ValType::I64]); // next_batch
    types
        .ty()
        .function([ValType::I32, ValType::I32, ValType::I32], [ValType::I32]); // read_batch
    types.ty().function([], [ValType::I32]); // exports
    let mut imports = ImportSection::new();
    imports.import("shuyu_v1", "entity_rows", EntityType::Function(0));
    imports.import("shuyu_v1", "next_batch", EntityType::Function(1));
    imports.import("shuyu_v1", "read_batch", EntityType::Function(2));
    imports.import("shuyu_v1", "contribute", EntityType::Function(0));
    let mut functions = FunctionSection::new();
    functions.function(3).function(3);
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 17,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut tables = TableSection::new();
    let mut elements = ElementSection::new();
    if table > 0 {
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: u64::from(table),
            maximum: None,
            shared: false,
        });
        let entries = vec![4u32; table as usize];
        elements.active(
            Some(0),
            &ConstExpr::i32_const(0),
            Elements::Functions(entries.into()),
        );
    }
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("shuyu_main", ExportKind::Func, 4);
    exports.export(CONTRIBUTE_EXPORT, ExportKind::Func, 5);
    let mut main = Function::new([]);
    main.instruction(&I::I32Const(0)).instruction(&I::End);
    let mut contribute = Function::new([(1, ValType::I32), (1, ValType::I64)]);
    if with_calls {
        contribute
            // handle = entity_rows("t")
            .instruction(&I::I32Const(TABLE_AT))
            .instruction(&I::I32Const(1))
            .instruction(&I::Call(0))
            .instruction(&I::LocalSet(0))
            // size = next_batch(handle); read_batch(handle, BATCH_AT, size)
            .instruction(&I::LocalGet(0))
            .instruction(&I::Call(1))
            .instruction(&I::LocalSet(1))
            .instruction(&I::LocalGet(0))
            .instruction(&I::I32Const(BATCH_AT))
            .instruction(&I::LocalGet(1))
            .instruction(&I::I32WrapI64)
            .instruction(&I::Call(2))
            .instruction(&I::Drop)
            // contribute(CHUNK_AT, len)
            .instruction(&I::I32Const(CHUNK_AT))
            .instruction(&I::I32Const(
                i32::try_from(chunk.len()).expect("small chunk"),
            ))
            .instruction(&I::Call(3))
            .instruction(&I::Drop);
    }
    let called: &[u32] = if table > 0 { &[0, table - 1] } else { &[] };
    for &entry in called {
        contribute
            .instruction(&I::I32Const(i32::try_from(entry).expect("small table")))
            .instruction(&I::CallIndirect {
                type_index: 3,
                table_index: 0,
            })
            .instruction(&I::Drop);
    }
    contribute.instruction(&I::I32Const(0)).instruction(&I::End);
    let mut code = CodeSection::new();
    code.function(&main).function(&contribute);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(TABLE_AT), b"t".iter().copied());
    data.active(0, &ConstExpr::i32_const(CHUNK_AT), chunk.iter().copied());
    let mut module = Module::new();
    module.section(&types).section(&imports).section(&functions);
    if table > 0 {
        module.section(&tables);
    }
    module.section(&memory).section(&exports);
    if table > 0 {
        module.section(&elements);
    }
    module.section(&code).section(&data);
    module.finish()
}

/// Serves one entity: one staged batch of fixed bytes (handle 1 as IPC, handle 2 in the table
/// encoding), any contributions accepted.
struct BenchHost {
    rows: Arc<Staged>,
    served: bool,
    release: &'static str,
}

impl Host for BenchHost {
    fn query(&mut self, _sql: &str) -> Result<i32, CallError> {
        Err(CallError::code(ErrorCode::NotAvailable, "no SQL here"))
    }
    fn next_batch(&mut self, handle: i32) -> Result<Option<Batch>, CallError> {
        if std::mem::replace(&mut self.served, true) {
            return Ok(None);
        }
        let bytes = if handle == 2 {
            &self.rows.table
        } else {
            &self.rows.ipc
        };
        Ok(Some(Batch {
            ipc: bytes.clone(),
            rows: 12,
        }))
    }
    fn close(&mut self, _handle: i32) -> Result<(), CallError> {
        Ok(())
    }
    fn release_begin(&mut self, _name: &str) -> Result<i32, CallError> {
        Err(CallError::code(ErrorCode::NotAvailable, "no releases here"))
    }
    fn release_append(&mut self, _handle: i32, _ipc: &[u8]) -> Result<(), CallError> {
        Err(CallError::code(ErrorCode::NotAvailable, "no releases here"))
    }
    fn release_finish(&mut self, _handle: i32) -> Result<ReleaseStatus, CallError> {
        Err(CallError::code(ErrorCode::NotAvailable, "no releases here"))
    }
    fn log(&mut self, _line: &str) {}
    fn entity_rows(&mut self, _table: &str) -> Result<i32, CallError> {
        Ok(1)
    }
    fn entity_table(&mut self, _table: &str) -> Result<i32, CallError> {
        Ok(2)
    }
    fn entity_release(&mut self) -> Result<String, CallError> {
        Ok(self.release.to_string())
    }
    fn contribute(&mut self, ipc: &[u8]) -> Result<(), CallError> {
        std::hint::black_box(ipc.len());
        Ok(())
    }
    fn contribute_rows(&mut self, chunk: &[u8]) -> Result<(), CallError> {
        std::hint::black_box(chunk.len());
        Ok(())
    }
}

fn parse_entities(args: &[String]) -> usize {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--entities" {
            if let Some(n) = it.next().and_then(|n| n.replace('_', "").parse().ok()) {
                return n;
            }
        }
    }
    200_000
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let entities = parse_entities(&args);
    let sandbox = Sandbox::new(None)?;
    let limits = Limits::default();
    let cancel = CancelToken::new();
    let rows = Arc::new(rows_staged());
    let chunk = chunk_ipc();
    println!("| module | workers | entities | seconds | entities / s | µs per entity per worker | fuel per entity |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, with_calls, table) in [
        ("empty", false, 0),
        ("rows + contribute", true, 0),
        ("rows + contribute, 863-entry table", true, 863),
        ("rows + contribute, 500-entry table", true, 500),
    ] {
        let compiled = sandbox
            .compile(&module(with_calls, &chunk, table))
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let runner = sandbox
            .entity_runner(&compiled, &limits, &cancel)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        for workers in [1usize, 2] {
            measure(&runner, name, "bench", workers, entities, &rows)?;
        }
    }
    if let Some(path) = flag(&args, "--sdk-module") {
        sdk_module(&sandbox, &limits, &cancel, &rows, &path, entities)?;
    }
    main_runs(&limits, &rows, &chunk, flag(&args, "--sdk-module"))?;
    Ok(())
}

/// A job's main run from the domain's compiled-module cache: loading the compiled module in a
/// fresh sandbox (what a job's worker process does), then `shuyu_main` run 1,000 times, each in
/// a fresh instance (instantiate + call + teardown) with the job's limits.
fn main_runs(
    limits: &Limits,
    rows: &Arc<Staged>,
    chunk: &[u8],
    sdk: Option<String>,
) -> anyhow::Result<()> {
    const RUNS: u32 = 1_000;
    let cache = std::env::temp_dir().join(format!("shuyu-bench-cache-{}", std::process::id()));
    std::fs::create_dir_all(&cache)?;
    println!();
    println!("Main runs from the compiled-module cache:");
    println!();
    println!("| module | size (KiB) | compile, cold (ms) | load from the cache, fresh sandbox (ms) | instantiate + call + teardown (µs) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut modules = vec![("empty".to_string(), module(false, chunk, 0))];
    if let Some(path) = sdk {
        modules.push(("sdk".to_string(), std::fs::read(path)?));
    }
    for (label, bytes) in modules {
        let started = Instant::now();
        Sandbox::new(Some(cache.clone()))?
            .compile(&bytes)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let cold = started.elapsed();
        let sandbox = Sandbox::new(Some(cache.clone()))?;
        let started = Instant::now();
        let compiled = sandbox
            .compile(&bytes)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let load = started.elapsed();
        let started = Instant::now();
        for _ in 0..RUNS {
            let outcome = sandbox.run(
                &compiled,
                limits,
                Box::new(BenchHost {
                    rows: rows.clone(),
                    served: false,
                    release: "nothing",
                }),
            );
            std::hint::black_box(outcome.result.is_ok());
        }
        let run = started.elapsed();
        println!(
            "| {label} | {} | {:.1} | {:.2} | {:.1} |",
            bytes.len() / 1024,
            cold.as_secs_f64() * 1e3,
            load.as_secs_f64() * 1e3,
            run.as_secs_f64() * 1e6 / f64::from(RUNS),
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Runs `entities` entity runs of release `release` on `workers` threads and prints their row of
/// the table, labelled `label`. Every run must complete.
fn measure(
    runner: &EntityRunner,
    label: &str,
    release: &'static str,
    workers: usize,
    entities: usize,
    rows: &Arc<Staged>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let done = runner
        .run_each(
            entities,
            workers,
            Instant::now() + Duration::from_secs(3600),
            || (0u64, 0u64),
            |_, _| {
                Box::new(BenchHost {
                    rows: rows.clone(),
                    served: false,
                    release,
                })
            },
            |(ok, fuel), _, outcome| {
                *ok += u64::from(outcome.result == Ok(0));
                *fuel += outcome.fuel_used;
            },
        )
        .map_err(|f| anyhow::anyhow!("{f}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let ok: u64 = done.iter().map(|(ok, _)| ok).sum();
    let fuel: u64 = done.iter().map(|(_, fuel)| fuel).sum();
    anyhow::ensure!(ok == entities as u64, "{ok} of {entities} runs completed");
    println!(
        "| {label} | {workers} | {entities} | {seconds:.2} | {:.0} | {:.1} | {} |",
        entities as f64 / seconds,
        seconds * 1e6 * workers as f64 / entities as f64,
        fuel / entities as u64,
    );
    Ok(())
}

/// A module built with the SDK, run for each of its release names: `nothing`, `read` (as
/// record batches or in place), and anything else (read and contribute one row).
fn sdk_module(
    sandbox: &Sandbox,
    limits: &Limits,
    cancel: &CancelToken,
    rows: &Arc<Staged>,
    path: &str,
    entities: usize,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(path)?;
    let compiled = sandbox
        .compile(&bytes)
        .map_err(|f| anyhow::anyhow!("{f}"))?;
    let runner = sandbox
        .entity_runner(&compiled, limits, cancel)
        .map_err(|f| anyhow::anyhow!("{f}"))?;
    for (release, workers) in [
        ("nothing", 1usize),
        ("read", 1),
        ("read in place", 1),
        ("contribute", 1),
        ("contribute in place", 1),
        ("contribute", 2),
        ("contribute in place", 2),
    ] {
        measure(
            &runner,
            &format!("sdk: {release}"),
            release,
            workers,
            entities,
            rows,
        )?;
    }
    Ok(())
}
