//! Hostile contribution chunks, written by hand. Compressed Arrow IPC whose buffer claims an
//! uncompressed size of 2^62 bytes: arrow reserved that much before decompressing, and the
//! allocation failure aborted the whole host process; the guard must refuse the chunk unread
//! (`INVALID_CONTRIBUTIONS`), leave nothing released and keep the host alive. Chunks of
//! contribution rows (`release_append_rows`) that lie about their row count, name other columns
//! or end inside a row are refused the same way.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::{CompressionType, MessageHeader};
use arrow::record_batch::RecordBatch;
use shuyu::job::JobStatus;
use shuyu::sandbox::{Fault, LimitKind};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, Instruction as I, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};

use crate::support::{self, TestDomain};

/// The release of the hostile scenario (income-by-age).
const RELEASE: &str = "income_by_age";
/// Where the chunk sits in the module's memory (the release name is at 0).
const CHUNK_AT: u32 = 64;

/// Contributions with the release's schema, compressed with `codec`, then patched so that the
/// first non-empty buffer claims 2^62 uncompressed bytes.
fn hostile_chunk(codec: CompressionType) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("entity", DataType::Utf8, true),
        Field::new("district", DataType::Utf8, true),
        Field::new("age_band", DataType::Utf8, true),
        Field::new("income", DataType::Float64, true),
    ]));
    let text = |v: &str| Arc::new(StringArray::from(vec![v; 4])) as ArrayRef;
    let columns = vec![
        text(&"0".repeat(32)),
        text("上城区"),
        text("30-39"),
        Arc::new(Float64Array::from(vec![1.0; 4])) as ArrayRef,
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(codec))
        .expect("compression");
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new_with_options(&mut bytes, &schema, options).expect("w");
    writer.write(&batch).expect("write");
    writer.finish().expect("finish");
    drop(writer);

    // Walk the messages to the record batch and patch its first buffer's length prefix.
    let mut pos = 0usize;
    loop {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let mut size = word(pos) as usize;
        pos += 4;
        if size == u32::MAX as usize {
            size = word(pos) as usize;
            pos += 4;
        }
        assert_ne!(size, 0, "the stream has a record batch");
        let message = arrow::ipc::root_as_message(&bytes[pos..pos + size]).expect("message");
        let body = pos + size;
        if message.header_type() == MessageHeader::RecordBatch {
            let batch = message.header_as_record_batch().expect("batch");
            assert!(batch.compression().is_some());
            let first = batch
                .buffers()
                .expect("buffers")
                .iter()
                .find(|b| b.length() >= 8)
                .map(|b| body + b.offset() as usize)
                .expect("a non-empty buffer");
            bytes[first..first + 8].copy_from_slice(&(1i64 << 62).to_le_bytes());
            return bytes;
        }
        pos = body + message.bodyLength() as usize;
    }
}

/// A module that opens the release and appends `chunk` with `append` (`release_append` or
/// `release_append_rows`), returning its result.
fn module(append: &str, chunk: &[u8]) -> Vec<u8> {
    let mut types = TypeSection::new();
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]);
    types
        .ty()
        .function([ValType::I32, ValType::I32, ValType::I32], [ValType::I32]);
    types.ty().function([], [ValType::I32]);
    let mut imports = ImportSection::new();
    imports.import("shuyu_v1", "release_begin", EntityType::Function(0));
    imports.import("shuyu_v1", append, EntityType::Function(1));
    let mut functions = FunctionSection::new();
    functions.function(2);
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: (u64::from(CHUNK_AT) + chunk.len() as u64) / 65_536 + 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("shuyu_main", ExportKind::Func, 2);
    let mut main = Function::new([(1, ValType::I32)]);
    for instruction in [
        I::I32Const(0),
        I::I32Const(RELEASE.len() as i32),
        I::Call(0),
        I::LocalSet(0),
        I::LocalGet(0),
        I::I32Const(CHUNK_AT as i32),
        I::I32Const(chunk.len() as i32),
        I::Call(1),
        I::End,
    ] {
        main.instruction(&instruction);
    }
    let mut code = CodeSection::new();
    code.function(&main);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), RELEASE.bytes());
    data.active(
        0,
        &ConstExpr::i32_const(CHUNK_AT as i32),
        chunk.iter().copied(),
    );
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

#[test]
fn a_compressed_chunk_claiming_2_pow_62_bytes_is_invalid_contributions_and_the_host_lives() {
    let t = TestDomain::new();
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let module = module("release_append", &hostile_chunk(codec));
        // The scenario's own fuel: host time (release_begin builds the identifier universe)
        // is charged as fuel, so a tiny budget would end the job before the append.
        let scenario = support::hostile_scenario(&module);
        let report = t.run(scenario, &module);
        // -6 = INVALID_CONTRIBUTIONS, returned by release_append and then by shuyu_main.
        assert_eq!(report.status, JobStatus::GuestError(-6), "{codec:?}");
        assert!(report.releases.is_empty(), "{codec:?}");
    }
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
}

/// One row of the release as contribution rows, with these column names (`entity` first).
fn rows_chunk(columns: &[&str]) -> Vec<u8> {
    let mut chunk = shuyu_abi::rows::Encoder::new(columns, &["income"]).expect("names fit");
    let entity = "0".repeat(32);
    let mut values: Vec<Option<&str>> = vec![Some(&entity)];
    values.extend(columns.iter().skip(1).map(|_| Some("LEAK")));
    assert!(chunk.push(&values, &[Some(1.0)]));
    chunk.bytes().to_vec()
}

#[test]
fn a_malformed_chunk_of_contribution_rows_is_invalid_contributions_and_the_host_lives() {
    let t = TestDomain::new();
    let good = rows_chunk(&["entity", "district", "age_band"]);
    let mut huge_count = good.clone();
    // The row count is the four bytes before the only row (entity, two dimensions, a measure).
    let row = 4 + 32 + 2 * (4 + 4) + 1 + 8;
    let at = good.len() - row;
    huge_count[at - 4..at].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"LEAK");
    let truncated = good[..good.len() - 1].to_vec();
    for (what, chunk) in [
        ("a row count beyond the chunk", huge_count),
        ("bytes after the last row", trailing),
        ("a chunk ending inside a row", truncated),
        ("no entity column", rows_chunk(&["district", "age_band"])),
        (
            "a renamed dimension",
            rows_chunk(&["entity", "district", "LEAK"]),
        ),
    ] {
        let module = module("release_append_rows", &chunk);
        let report = t.run(support::hostile_scenario(&module), &module);
        // -6 = INVALID_CONTRIBUTIONS, returned by release_append_rows and then by shuyu_main.
        assert_eq!(report.status, JobStatus::GuestError(-6), "{what}");
        assert!(report.releases.is_empty(), "{what}");
        let refused = support::entries(&t, &report.job_id.to_string(), "release");
        assert!(
            refused
                .iter()
                .all(|e| !e.details.to_string().contains("LEAK")),
            "{what}: {refused:?}"
        );
    }
    t.domain
        .audit
        .verify(&t.domain.keys.public_key())
        .expect("audit log verifies");
}

/// A 2 MiB chunk of contribution rows may become nine times that in the batch the guard builds
/// (a one-byte null measure is an eight-byte value there): counted so against `host_memory_mib`
/// before the host copies it.
#[test]
fn a_chunk_of_contribution_rows_counts_what_the_guard_builds_from_it() {
    let t = TestDomain::new();
    let mut chunk = b"SYR1".to_vec();
    chunk.resize(2 << 20, 0);
    let module = module("release_append_rows", &chunk);
    let mut scenario = support::hostile_scenario(&module);
    scenario.limits.host_memory_mib = 16;
    let report = t.run(scenario.clone(), &module);
    assert_eq!(
        report.status,
        JobStatus::Failed(Fault::Limit(LimitKind::Memory)),
        "{report:?}"
    );
    // Within the default budget the chunk is read, and refused for what it is.
    scenario.limits.host_memory_mib = shuyu::sandbox::Limits::default().host_memory_mib;
    let report = t.run(scenario, &module);
    assert_eq!(report.status, JobStatus::GuestError(-6), "{report:?}");
}
