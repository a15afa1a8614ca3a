//! What a guest makes the host spend must be charged to its job: host time as fuel, host buffers
//! against `host_memory_mib`, partition runs' audit entries against a quota. Each attack is a raw
//! module that does trivial work many times.

use shuyu::governance::ScenarioFile;
use shuyu::job::{JobReport, JobStatus};
use shuyu::sandbox::{Fault, LimitKind};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, ImportSection, Instruction as I, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};

use crate::support::{self, TestDomain};

/// Bytes at offset 0 of every module's memory: a query's SQL, a release name.
const SQL: &str = "SELECT citizen_id, district, age, income FROM residents";
/// Where the log line lives.
const LINE_AT: i32 = 512;

/// A module importing `imports` (all from `shuyu_v1`) whose `shuyu_main` runs `main` and, when
/// given, whose `shuyu_partition` runs `partition`; both bodies leave an i32. One local i32.
fn build(
    imports: &[&str],
    data: &[u8],
    main: &[I<'static>],
    partition: Option<&[I<'static>]>,
) -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut import_section = ImportSection::new();
    for (i, name) in imports.iter().enumerate() {
        let (params, result) = support::abi_signature(name);
        types.ty().function(params, [result]);
        import_section.import("shuyu_v1", name, EntityType::Function(i as u32));
    }
    let entry_type = imports.len() as u32;
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    functions.function(entry_type);
    if partition.is_some() {
        functions.function(entry_type);
    }
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let first = imports.len() as u32;
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("shuyu_main", ExportKind::Func, first);
    if partition.is_some() {
        exports.export("shuyu_partition", ExportKind::Func, first + 1);
    }
    let mut code = CodeSection::new();
    for body in std::iter::once(main).chain(partition) {
        let mut function = Function::new([(1, ValType::I32)]);
        for instruction in body {
            function.instruction(instruction);
        }
        function.instruction(&I::End);
        code.function(&function);
    }
    let mut data_section = DataSection::new();
    data_section.active(0, &ConstExpr::i32_const(0), data.iter().copied());
    data_section.active(0, &ConstExpr::i32_const(LINE_AT), b"x".iter().copied());
    let mut module = Module::new();
    module
        .section(&types)
        .section(&import_section)
        .section(&functions)
        .section(&memory)
        .section(&exports)
        .section(&code)
        .section(&data_section);
    module.finish()
}

/// `call` (which leaves an i32 or i64 result, dropped) `times` times, then 0.
fn repeat(call: &[I<'static>], times: i32) -> Vec<I<'static>> {
    let mut body = vec![
        I::Loop(BlockType::Empty),
        // local 0 counts up to `times`.
    ];
    body.extend_from_slice(call);
    body.extend([
        I::Drop,
        I::LocalGet(0),
        I::I32Const(1),
        I::I32Add,
        I::LocalTee(0),
        I::I32Const(times),
        I::I32LtU,
        I::BrIf(0),
        I::End,
        I::I32Const(0),
    ]);
    body
}

fn assert_out_of_fuel(what: &str, report: &JobReport) {
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::Fuel)),
        "{what}: {report:?}"
    );
}

/// Two million calls that each do almost nothing cost about 8 instructions of fuel each, 16
/// million in all: under the 40 million given, the job used to complete. Their host time (at
/// least ~100 ns a call, far more for the audited `log` lines) is charged now and runs it out.
#[test]
fn floods_of_trivial_host_calls_run_out_of_fuel() {
    let t = TestDomain::new();
    let calls: [(&str, Vec<I<'static>>); 3] = [
        (
            "log",
            vec![I::I32Const(LINE_AT), I::I32Const(1), I::Call(0)],
        ),
        (
            // No release has handle 7: UNKNOWN_HANDLE, at once.
            "release_append",
            vec![I::I32Const(7), I::I32Const(0), I::I32Const(1), I::Call(0)],
        ),
        // Empty SQL: INVALID_ARGUMENT before anything is planned or counted.
        ("query", vec![I::I32Const(0), I::I32Const(0), I::Call(0)]),
    ];
    for (name, call) in calls {
        let module = build(&[name], SQL.as_bytes(), &repeat(&call, 2_000_000), None);
        let mut scenario = support::hostile_scenario(&module);
        scenario.limits.fuel = 40_000_000;
        let report = t.run(scenario, &module);
        assert_out_of_fuel(name, &report);
        assert!(report.fuel_used >= 40_000_000, "{name}: {report:?}");
    }
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
}

/// Thirty-two queries whose first batches (each ~100 KiB of Arrow IPC) are staged and never read:
/// host memory the guest chose to keep, which wasmtime's limiter never sees. Over
/// `host_memory_mib` the job ends with `limit:memory`; it used to complete.
#[test]
fn staged_batches_count_against_the_host_memory_budget() {
    let t = TestDomain::new();
    let len = SQL.len() as i32;
    let mut main = Vec::new();
    for _ in 0..32 {
        main.extend([
            I::I32Const(0),
            I::I32Const(len),
            I::Call(0),
            I::LocalTee(0),
            I::Call(1),
            I::Drop,
        ]);
    }
    main.push(I::I32Const(0));
    let module = build(&["query", "next_batch"], SQL.as_bytes(), &main, None);
    let mut scenario = support::hostile_scenario(&module);
    scenario.limits.max_queries = 32;
    scenario.limits.max_open_queries = 32;
    scenario.limits.host_memory_mib = 1;
    let report = t.run(scenario.clone(), &module);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::Memory)),
        "{report:?}"
    );
    // The same module within the default budget completes: the limit, not the module, failed.
    scenario.limits.host_memory_mib = shuyu::sandbox::Limits::default().host_memory_mib;
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::Completed, "{report:?}");
}

/// A vector release whose every partition run writes 100 log lines.
fn logging_partitions(partitions: u32) -> (ScenarioFile, Vec<u8>) {
    let main = [
        I::I32Const(0),
        I::I32Const(1),
        I::Call(0),
        I::Drop,
        I::I32Const(0),
    ];
    let partition = repeat(&[I::I32Const(LINE_AT), I::I32Const(1), I::Call(1)], 100);
    let module = build(&["release_vector", "log"], b"v", &main, Some(&partition));
    let text = format!(
        r#"
[scenario]
id = "vector-audit"
title = "chatty partition runs"
operator = "op"
module_sha256 = "x"

[[grant]]
dataset = "enterprise_registry"
columns = ["usci", "registered_capital"]

[privacy_budget]
epsilon = 10.0

[[vector]]
name = "v"
partitions = {partitions}
coords = ["x"]
bounds = [[0.0, 1.0]]
privacy = {{ epsilon = 1.0 }}
"#
    );
    let mut scenario = ScenarioFile::from_toml_str(&text).expect("scenario");
    scenario.scenario.module_sha256 = support::sha256(&module);
    (scenario, module)
}

/// Partition runs used to audit every log line: 100 per run, m runs per release. Now each run
/// writes at most 16 entries, a job's partition runs at most 1,024, and one summary entry counts
/// what was left out.
#[test]
fn partition_runs_audit_volume_is_bounded_per_run_and_per_job() {
    let t = TestDomain::new();
    for (partitions, kept) in [(4u32, 4 * 16u64), (128, 1_024)] {
        let (scenario, module) = logging_partitions(partitions);
        let report = t.run(scenario, &module);
        assert_eq!(report.status, JobStatus::Completed, "{report:?}");
        let job = report.job_id.to_string();
        let logs = support::entries(&t, &job, "guest.log");
        assert_eq!(logs.len() as u64, kept, "m = {partitions}");
        assert_eq!(
            support::entries(&t, &job, "vector.partition").len() as u32,
            partitions,
            "every partition run keeps its own entry"
        );
        let summary = support::entries(&t, &job, "vector.audit_suppressed");
        assert_eq!(summary.len(), 1, "m = {partitions}");
        assert_eq!(
            summary[0].details["entries_suppressed"].as_u64(),
            Some(u64::from(partitions) * 100 - kept),
            "{:?}",
            summary[0].details
        );
    }
}
