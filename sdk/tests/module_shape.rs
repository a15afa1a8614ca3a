//! Checks every built guest module in `target/wasm-modules/` against the module shape of ABI v1
//! (docs/abi.md): imports only the `shuyu_v1` functions, with their exact signatures, and exports a
//! 32-bit unshared `memory` and `shuyu_main: () -> i32`, and the optional entries
//! (`shuyu_partition`, `shuyu_contribute`, `shuyu_answer`) as `() -> i32` when it exports them. A
//! service-only module (one that exports `shuyu_answer`) may leave out `shuyu_main`.
//!
//! The modules come from `scripts/build-guests.sh`; when none are built this test says so and
//! passes, so host-only test runs do not need a wasm toolchain.

use std::path::{Path, PathBuf};
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// The imports ABI v1 offers, with their signatures.
fn abi_signature(name: &str) -> Option<(&'static [ValType], &'static [ValType])> {
    Some(match name {
        "query" | "release_begin" | "log" | "last_error" | "release_vector" | "vector_name"
        | "vector_emit" | "release_entities" | "entity_release" | "entity_rows" | "contribute"
        | "contribute_rows" | "entity_table" => (&[I32, I32], &[I32]),
        "next_batch" | "next_table" => (&[I32], &[I64]),
        "read_batch" | "release_append" | "release_append_rows" => (&[I32, I32, I32], &[I32]),
        "close" | "release_finish" => (&[I32], &[I32]),
        _ => return None,
    })
}

fn modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-modules")
}

/// Every problem with one module, empty when it conforms.
fn check_module(bytes: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    let mut problems = Vec::new();
    let mut types: Vec<FuncType> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut memories = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty?);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let TypeRef::Func(ty) = import.ty else {
                        problems.push(format!("imports a non-function {}", import.name));
                        continue;
                    };
                    func_types.push(ty);
                    if import.module != "shuyu_v1" {
                        problems.push(format!("imports {}.{}", import.module, import.name));
                        continue;
                    }
                    let Some((params, results)) = abi_signature(import.name) else {
                        problems.push(format!("imports unknown shuyu_v1.{}", import.name));
                        continue;
                    };
                    let actual = &types[ty as usize];
                    if actual.params() != params || actual.results() != results {
                        problems.push(format!("shuyu_v1.{} has type {actual:?}", import.name));
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty?);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    memories.push(memory?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    exports.push((export.name.to_string(), export.kind, export.index));
                }
            }
            _ => {}
        }
    }
    match exports.iter().find(|(name, ..)| name == "memory") {
        Some((_, ExternalKind::Memory, index)) => match memories.get(*index as usize) {
            Some(m) if !m.memory64 && !m.shared => {}
            other => problems.push(format!("exported memory is {other:?}")),
        },
        other => problems.push(format!("no exported memory: {other:?}")),
    }
    // A service-only module is only ever called through its answer entry: it has no main run.
    let service_only = exports.iter().any(|(name, ..)| name == "shuyu_answer");
    for (entry, required) in [
        ("shuyu_main", !service_only),
        ("shuyu_partition", false),
        ("shuyu_contribute", false),
        ("shuyu_answer", false),
    ] {
        match exports.iter().find(|(name, ..)| name == entry) {
            Some((_, ExternalKind::Func, index)) => {
                let ty = func_types
                    .get(*index as usize)
                    .and_then(|t| types.get(*t as usize));
                match ty {
                    Some(ty) if ty.params().is_empty() && ty.results() == [I32] => {}
                    other => problems.push(format!("{entry} has type {other:?}")),
                }
            }
            None if !required => {}
            other => problems.push(format!("no exported function {entry}: {other:?}")),
        }
    }
    Ok(problems)
}

#[test]
fn built_modules_match_abi_v1() {
    let dir = modules_dir();
    let mut modules: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect(),
        Err(_) => Vec::new(),
    };
    if modules.is_empty() {
        eprintln!(
            "no guest modules in target/wasm-modules; run scripts/build-guests.sh to check them"
        );
        return;
    }
    modules.sort();
    let mut failures = Vec::new();
    for path in &modules {
        let bytes = std::fs::read(path).expect("module readable");
        match check_module(&bytes) {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => failures.push(format!("{}: {}", path.display(), problems.join("; "))),
            Err(e) => failures.push(format!("{}: does not parse: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "modules off ABI v1:\n{}",
        failures.join("\n")
    );
}

#[test]
fn checker_catches_foreign_imports_and_missing_exports() {
    // (module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))
    let wasi_module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x09, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, // type section
        0x02, 0x23, 0x01, 0x16, // import section, one import, module name of 22 bytes
        b'w', b'a', b's', b'i', b'_', b's', b'n', b'a', b'p', b's', b'h', b'o', b't', b'_', b'p',
        b'r', b'e', b'v', b'i', b'e', b'w', b'1', 0x08, b'f', b'd', b'_', b'w', b'r', b'i', b't',
        b'e', 0x00, 0x00,
    ];
    let problems = check_module(wasi_module).expect("parses");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("wasi_snapshot_preview1.fd_write")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("no exported memory")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("shuyu_main")),
        "{problems:?}"
    );
}

#[test]
fn checker_accepts_a_service_only_module() {
    // (module (memory (export "memory") 1)
    //         (func (export "shuyu_answer") (result i32) i32.const 0))
    let service_module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type section: () -> i32
        0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
        0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
        0x07, 0x19, 0x02, // export section, two exports
        0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, // memory 0
        0x0c, b's', b'h', b'u', b'y', b'u', b'_', b'a', b'n', b's', b'w', b'e', b'r', 0x00,
        0x00, // function 0
        0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // code: i32.const 0, end
    ];
    let problems = check_module(service_module).expect("parses");
    assert!(problems.is_empty(), "{problems:?}");
}
