//! Shared fixtures: generated datasets, built guest modules, a fresh domain per test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shuyu::catalog::Catalog;
use shuyu::domain::Domain;
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobReport, JobRequest};
use shuyu_synth::{generate, GenerateOptions};

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// Datasets generated once per test run, small enough for fast tests but with small groups.
pub(crate) fn datasets() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = GenerateOptions {
            scale: 0.2,
            ..GenerateOptions::default()
        };
        generate(dir.path(), &options, &mut |_| {}).expect("generate test datasets");
        dir
    })
    .path()
}

/// A fresh domain (own keys, database, catalog) in a temporary folder.
pub(crate) struct TestDomain {
    pub domain: Domain,
    pub dir: tempfile::TempDir,
}

impl TestDomain {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let domain = Domain::open(dir.path()).expect("open domain");
        for entry in std::fs::read_dir(datasets()).expect("datasets dir") {
            let path = entry.expect("entry").path();
            if path.join("dataset.toml").is_file() {
                Catalog::import(&domain.datasets_dir(), &path).expect("import dataset");
            }
        }
        Self { domain, dir }
    }

    pub(crate) fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `module` under the example scenario `scenario`, pinned to the module's hash.
    pub(crate) fn run(&self, scenario: ScenarioFile, module: &[u8]) -> JobReport {
        run_job(
            &self.domain,
            JobRequest {
                scenario,
                module: module.to_vec(),
            },
        )
        .expect("job runs")
    }
}

/// Where scripts/build-guests.sh put a guest module.
pub(crate) fn wasm_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("SHUYU_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target").join("wasm-modules"));
    dir.join(format!("{name}.wasm"))
}

/// A guest module built by scripts/build-guests.sh.
pub(crate) fn module(name: &str) -> Vec<u8> {
    let path = wasm_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the guest modules first: scripts/build-guests.sh (./run test does)",
            path.display()
        )
    })
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// An example's scenario file with its module pinned.
pub(crate) fn scenario(example: &str, module: &[u8]) -> ScenarioFile {
    scenario_file(example, "scenario.toml", module)
}

/// One of an example's scenario files (`scenario-dp.toml`) with its module pinned.
pub(crate) fn scenario_file(example: &str, file: &str, module: &[u8]) -> ScenarioFile {
    let path = repo().join("guest-examples").join(example).join(file);
    let mut scenario =
        ScenarioFile::load(&path).unwrap_or_else(|e| panic!("{example}/{file}: {e}"));
    scenario.scenario.module_sha256 = sha256(module);
    scenario
}

/// The scenario hostile guests run under: residents' income by district and age band, as
/// `income-by-age` uses it.
pub(crate) fn hostile_scenario(module: &[u8]) -> ScenarioFile {
    scenario("income-by-age", module)
}

/// The audit entries of one job with `action` (or one of its sub-actions), in order.
pub(crate) fn entries(t: &TestDomain, job: &str, action: &str) -> Vec<shuyu::audit::Entry> {
    let filter = shuyu::audit::AuditFilter {
        job_id: Some(job.to_string()),
        action: Some(action.into()),
        ..Default::default()
    };
    t.domain.audit.search(&filter).expect("search")
}

/// Every audit action of a job, in order.
pub(crate) fn actions(t: &TestDomain, job: &str) -> Vec<String> {
    let filter = shuyu::audit::AuditFilter {
        job_id: Some(job.to_string()),
        ..Default::default()
    };
    t.domain
        .audit
        .search(&filter)
        .expect("search")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// The ABI v1 signature of host function `name` as wasm types: (params, result). Raw modules
/// built byte by byte import their functions with it.
pub(crate) fn abi_signature(name: &str) -> (Vec<wasm_encoder::ValType>, wasm_encoder::ValType) {
    use wasm_encoder::ValType::{I32, I64};
    match name {
        "next_batch" | "next_table" => (vec![I32], I64),
        "close" | "release_finish" => (vec![I32], I32),
        "read_batch" | "release_append" | "release_append_rows" => (vec![I32, I32, I32], I32),
        "query" | "release_begin" | "log" | "last_error" | "release_vector" | "vector_name"
        | "vector_emit" | "release_entities" | "entity_release" | "entity_rows" | "contribute" => {
            (vec![I32, I32], I32)
        }
        other => panic!("not an ABI function: {other}"),
    }
}

/// A raw module (built here, byte by byte) that sends `sql` to `query`, then calls `next_batch`
/// until it returns 0 or an error code. Its `shuyu_main` returns the first error code, or 0 when
/// the query ran to its end.
pub(crate) fn draining_module(sql: &str) -> Vec<u8> {
    draining_module_with(sql, "next_batch")
}

/// [`draining_module`] calling `next` (`next_batch` or `next_table`) for each batch.
pub(crate) fn draining_module_with(sql: &str, next: &str) -> Vec<u8> {
    use wasm_encoder::{
        BlockType, CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection,
        Function, FunctionSection, ImportSection, Instruction as I, MemorySection, MemoryType,
        Module, TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I64]);
    types.ty().function([], [ValType::I32]);
    let mut imports = ImportSection::new();
    imports.import("shuyu_v1", "query", EntityType::Function(0));
    imports.import("shuyu_v1", next, EntityType::Function(1));
    let mut functions = FunctionSection::new();
    functions.function(2);
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 2,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("shuyu_main", ExportKind::Func, 2);

    let len = i32::try_from(sql.len()).expect("SQL fits an i32");
    let mut main = Function::new([(1, ValType::I32), (1, ValType::I64)]);
    for instruction in [
        I::I32Const(0),
        I::I32Const(len),
        I::Call(0),
        I::LocalTee(0),
        I::I32Const(0),
        I::I32LtS,
        I::If(BlockType::Empty),
        I::LocalGet(0),
        I::Return,
        I::End,
        I::Loop(BlockType::Empty),
        I::LocalGet(0),
        I::Call(1),
        I::LocalTee(1),
        I::I64Const(0),
        I::I64GtS,
        I::BrIf(0),
        I::End,
        I::LocalGet(1),
        I::I32WrapI64,
        I::End,
    ] {
        main.instruction(&instruction);
    }
    let mut code = CodeSection::new();
    code.function(&main);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), sql.bytes());

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memory)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}
