//! Hostile modules written byte by byte: bad pointers and lengths passed to every host function,
//! forbidden imports, oversized memories, a start function that never ends. Each must end its
//! job with a precise fault, with the host alive and the audit log intact.

use shuyu::job::JobStatus;
use shuyu::sandbox::{Fault, LimitKind};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, Instruction as I, MemorySection, MemoryType, Module,
    StartSection, TypeSection, ValType,
};

use crate::support::{self, TestDomain};

const BAD: i32 = 0x7fff_fff0;
const SQL: &str = "SELECT 1 AS x";

struct Spec<'a> {
    imports: &'a [(&'a str, &'a str)],
    memory_pages: u64,
    body: Vec<I<'static>>,
    locals: u32,
    start_loops: bool,
}

/// Builds a module importing `imports`, with `SQL` at offset 0 of its memory, whose `shuyu_main`
/// runs `body` (which leaves an i32 on the stack).
fn build(spec: Spec<'_>) -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    for (i, (module, name)) in spec.imports.iter().enumerate() {
        let (params, result) = if *module == "shuyu_v1" {
            support::abi_signature(name)
        } else {
            (vec![ValType::I32], ValType::I32)
        };
        types.ty().function(params, [result]);
        imports.import(module, name, EntityType::Function(i as u32));
    }
    let main_type = spec.imports.len() as u32;
    types.ty().function([], [ValType::I32]);
    let loop_type = main_type + 1;
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(main_type);
    if spec.start_loops {
        functions.function(loop_type);
    }
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: spec.memory_pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let main_index = spec.imports.len() as u32;
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("shuyu_main", ExportKind::Func, main_index);
    let mut code = CodeSection::new();
    let mut main = Function::new([(spec.locals, ValType::I32)]);
    for instruction in &spec.body {
        main.instruction(instruction);
    }
    main.instruction(&I::End);
    code.function(&main);
    if spec.start_loops {
        let mut looping = Function::new([]);
        looping
            .instruction(&I::Loop(wasm_encoder::BlockType::Empty))
            .instruction(&I::Br(0))
            .instruction(&I::End)
            .instruction(&I::End);
        code.function(&looping);
    }
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), SQL.bytes());

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memory)
        .section(&exports);
    if spec.start_loops {
        module.section(&StartSection {
            function_index: main_index + 1,
        });
    }
    module.section(&code).section(&data);
    module.finish()
}

/// A module that calls one ABI function with constant arguments and returns its result.
fn call_once(name: &str, args: &[i32]) -> Vec<u8> {
    let mut body: Vec<I<'static>> = args.iter().map(|a| I::I32Const(*a)).collect();
    body.push(I::Call(0));
    if name == "next_batch" || name == "next_table" {
        body.push(I::I32WrapI64);
    }
    build(Spec {
        imports: &[("shuyu_v1", leak(name))],
        memory_pages: 1,
        body,
        locals: 0,
        start_loops: false,
    })
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn run(t: &TestDomain, module: &[u8]) -> shuyu::job::JobReport {
    let mut scenario = support::hostile_scenario(module);
    scenario.limits.fuel = 50_000_000;
    t.run(scenario, module)
}

fn assert_fault(report: &shuyu::job::JobReport, expected: impl Fn(&Fault) -> bool) {
    match &report.status {
        JobStatus::Failed(fault) if expected(fault) => {}
        other => panic!("unexpected job status {other:?}"),
    }
}

#[test]
fn out_of_bounds_pointers_and_lengths_end_the_job_for_every_function_that_takes_them() {
    let t = TestDomain::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("query ptr", call_once("query", &[BAD, 16])),
        ("query len", call_once("query", &[0, -1])),
        ("release_begin", call_once("release_begin", &[BAD, 8])),
        ("release_append", call_once("release_append", &[1, BAD, 64])),
        (
            "release_append len",
            call_once("release_append", &[1, 16, i32::MAX]),
        ),
        (
            "release_append_rows",
            call_once("release_append_rows", &[1, BAD, 64]),
        ),
        (
            "release_append_rows len",
            call_once("release_append_rows", &[1, 16, i32::MAX]),
        ),
        ("log", call_once("log", &[BAD, 8])),
        ("log len", call_once("log", &[0, -16])),
        ("last_error", call_once("last_error", &[BAD, 64])),
        (
            "read_batch",
            build(Spec {
                imports: &[
                    ("shuyu_v1", "query"),
                    ("shuyu_v1", "next_batch"),
                    ("shuyu_v1", "read_batch"),
                ],
                memory_pages: 1,
                locals: 2,
                body: vec![
                    I::I32Const(0),
                    I::I32Const(SQL.len() as i32),
                    I::Call(0),
                    I::LocalSet(0),
                    I::LocalGet(0),
                    I::Call(1),
                    I::I32WrapI64,
                    I::LocalSet(1),
                    I::LocalGet(0),
                    I::I32Const(BAD),
                    I::LocalGet(1),
                    I::Call(2),
                ],
                start_loops: false,
            }),
        ),
    ];
    for (what, module) in cases {
        let report = run(&t, &module);
        assert_fault(&report, |f| matches!(f, Fault::OutOfBounds(_)));
        assert!(report.releases.is_empty(), "{what}");
    }
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies after every fault");
}

#[test]
fn unknown_handles_are_error_codes_not_crashes() {
    let t = TestDomain::new();
    for (name, args) in [
        ("next_batch", &[99][..]),
        ("next_table", &[99]),
        ("close", &[99]),
        ("release_finish", &[99]),
        ("release_append_rows", &[99, 0, 4]),
    ] {
        let report = run(&t, &call_once(name, args));
        // UNKNOWN_HANDLE
        assert_eq!(report.status, JobStatus::GuestError(-4), "{name}");
    }
    let report = run(&t, &call_once("read_batch", &[99, 0, 8]));
    assert_eq!(report.status, JobStatus::GuestError(-5));
}

#[test]
fn imports_outside_the_abi_are_refused_by_name() {
    let t = TestDomain::new();
    let module = build(Spec {
        imports: &[("wasi_snapshot_preview1", "fd_write")],
        memory_pages: 1,
        locals: 0,
        body: vec![I::I32Const(0)],
        start_loops: false,
    });
    let report = run(&t, &module);
    assert_fault(
        &report,
        |f| matches!(f, Fault::InvalidModule(m) if m.contains("wasi_snapshot_preview1::fd_write")),
    );
    // The operator, not only the audit log, learns which import: it depends on the module alone.
    let shown = shuyu::job::view::status_code(&report);
    assert!(
        shown.starts_with("invalid_module: ") && shown.contains("wasi_snapshot_preview1::fd_write"),
        "{shown}"
    );
    let report = run(&t, b"\0asm garbage");
    assert_fault(&report, |f| matches!(f, Fault::InvalidModule(_)));
}

#[test]
fn a_memory_larger_than_the_limit_is_refused_at_instantiation() {
    let t = TestDomain::new();
    // The hostile scenario allows 64 MiB = 1024 pages.
    let module = build(Spec {
        imports: &[],
        memory_pages: 1025,
        locals: 0,
        body: vec![I::I32Const(0)],
        start_loops: false,
    });
    assert_fault(&run(&t, &module), |f| *f == Fault::Limit(LimitKind::Memory));
}

#[test]
fn a_start_function_that_never_returns_runs_out_of_fuel() {
    let t = TestDomain::new();
    let module = build(Spec {
        imports: &[],
        memory_pages: 1,
        locals: 0,
        body: vec![I::I32Const(0)],
        start_loops: true,
    });
    assert_fault(&run(&t, &module), |f| *f == Fault::Limit(LimitKind::Fuel));
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
}
