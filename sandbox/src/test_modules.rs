//! Raw modules for the sandbox's unit tests, built byte by byte with `wasm-encoder`.

use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection, ImportSection,
    Instruction, MemorySection, MemoryType, Module, TypeSection, ValType,
};

use crate::{ABI_MODULE, ENTRY_POINT};

/// A module with one page of exported memory whose `shuyu_main` runs `body` and returns 0,
/// importing `import` (name, params, results) from the ABI module when given, whatever its
/// signature: tests of the import check give it a wrong one on purpose.
pub(crate) fn main_module(
    import: Option<(&str, &[ValType], &[ValType])>,
    body: &[Instruction<'static>],
) -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    if let Some((name, params, results)) = import {
        types
            .ty()
            .function(params.iter().copied(), results.iter().copied());
        imports.import(ABI_MODULE, name, EntityType::Function(0));
    }
    let main_type = u32::from(import.is_some());
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    functions.function(main_type);
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(ENTRY_POINT, ExportKind::Func, main_type);
    let mut main = Function::new([]);
    for instruction in body {
        main.instruction(instruction);
    }
    main.instruction(&Instruction::I32Const(0))
        .instruction(&Instruction::End);
    let mut code = CodeSection::new();
    code.function(&main);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memory)
        .section(&exports)
        .section(&code);
    module.finish()
}
