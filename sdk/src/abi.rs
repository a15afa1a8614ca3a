//! The raw imports of ABI v1, import module `shuyu_v1` (see `docs/abi.md`), and its error codes.
//!
//! Inside the sandbox (`wasm32`) these are the host's functions. On every other target they do not
//! exist, so a stub with the same signatures stands in and fails every call with
//! [`NOT_IN_SANDBOX`]: the pure parts of the SDK (IPC encoding, builders, column access) then build
//! and can be unit-tested on the host. Operators use the safe API of this crate instead; the raw
//! functions are public for modules that need to exercise the ABI directly.
//!
//! Pointers and lengths are `*const u8`/`*mut u8` and `usize`, which is exactly the ABI's `i32`
//! on wasm32 (a 32-bit target), so no casts can lose bits.

use shuyu_abi::ErrorCode;

/// Text that is not UTF-8, an empty SQL string, a wrong `dst_len`.
pub const INVALID_ARGUMENT: i32 = ErrorCode::InvalidArgument.code();
/// The query failed to plan: syntax, a table or column not granted, DDL/DML/COPY, several
/// statements. `last_error` names the problem.
pub const QUERY_REJECTED: i32 = ErrorCode::QueryRejected.code();
/// The query failed while running. The message is generic (execution errors can quote data).
pub const QUERY_FAILED: i32 = ErrorCode::QueryFailed.code();
/// No open query or release has that handle.
pub const UNKNOWN_HANDLE: i32 = ErrorCode::UnknownHandle.code();
/// `read_batch` without a successful `next_batch` before it.
pub const NO_STAGED_BATCH: i32 = ErrorCode::NoStagedBatch.code();
/// A contributions chunk that does not decode or whose schema is not the contract's; the release
/// is then blocked at `release_finish`.
pub const INVALID_CONTRIBUTIONS: i32 = ErrorCode::InvalidContributions.code();
/// `release_begin` with a name the contract does not have, or a second release of a name already
/// released in this job.
pub const UNKNOWN_RELEASE: i32 = ErrorCode::UnknownRelease.code();
/// A function that does not belong to this kind of run: `release_vector` or `release_begin` in
/// a partition or entity run, `vector_name` or `vector_emit` outside a partition run,
/// `entity_release`, `entity_rows` or `contribute` outside an entity or answer run, `query` in
/// an entity or answer run, and `release_begin` of a contract entry with privacy (it must be
/// made per entity).
pub const NOT_AVAILABLE: i32 = ErrorCode::NotAvailable.code();
/// Not an ABI code: what the stub returns outside the sandbox, where no host exists.
pub const NOT_IN_SANDBOX: i32 = -99;

/// The ABI name of an error code, for messages; `None` for codes this SDK does not know.
pub fn code_name(code: i32) -> Option<&'static str> {
    match code {
        NOT_IN_SANDBOX => Some("NOT_IN_SANDBOX"),
        code => ErrorCode::from_code(code).map(ErrorCode::name),
    }
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "shuyu_v1")]
unsafe extern "C" {
    /// Plans a read-only SQL query; returns a query handle or an error code.
    ///
    /// # Safety
    /// `sql_ptr..sql_ptr + sql_len` must lie inside this module's memory.
    pub fn query(sql_ptr: *const u8, sql_len: usize) -> i32;
    /// Stages the next batch of a query; returns its size in bytes, `0` at the end (the handle
    /// is then closed), or an error code.
    ///
    /// # Safety
    /// Always safe to call; `unsafe` only because it is a foreign function.
    pub fn next_batch(query: i32) -> i64;
    /// Copies the staged batch to `dst_ptr`; `dst_len` must equal what `next_batch` returned.
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_len` must lie inside this module's memory and may be overwritten.
    pub fn read_batch(query: i32, dst_ptr: *mut u8, dst_len: usize) -> i32;
    /// Drops a query before its end.
    ///
    /// # Safety
    /// Always safe to call; `unsafe` only because it is a foreign function.
    pub fn close(query: i32) -> i32;
    /// Opens the release of that contract name; returns a release handle or an error code.
    ///
    /// # Safety
    /// `name_ptr..name_ptr + name_len` must lie inside this module's memory.
    pub fn release_begin(name_ptr: *const u8, name_len: usize) -> i32;
    /// Hands over one chunk of contributions as an Arrow IPC stream.
    ///
    /// # Safety
    /// `ipc_ptr..ipc_ptr + ipc_len` must lie inside this module's memory.
    pub fn release_append(release: i32, ipc_ptr: *const u8, ipc_len: usize) -> i32;
    /// Closes a release; `0` released, `1` blocked by the guard, or an error code.
    ///
    /// # Safety
    /// Always safe to call; `unsafe` only because it is a foreign function.
    pub fn release_finish(release: i32) -> i32;
    /// One line to the audit log (at most 4 KiB are kept).
    ///
    /// # Safety
    /// `ptr..ptr + len` must lie inside this module's memory.
    pub fn log(ptr: *const u8, len: usize) -> i32;
    /// Copies the most recent failure's message (cut to `dst_cap` bytes); returns its full length.
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must lie inside this module's memory and may be overwritten.
    pub fn last_error(dst_ptr: *mut u8, dst_cap: usize) -> i32;
    /// Asks for the sample-and-aggregate release of a `[[vector]]` contract entry: the host runs
    /// `shuyu_partition` once per partition; `0` released, `1` blocked, or an error code.
    ///
    /// # Safety
    /// `name_ptr..name_ptr + name_len` must lie inside this module's memory.
    pub fn release_vector(name_ptr: *const u8, name_len: usize) -> i32;
    /// In a partition run: copies the vector's name (cut to `dst_cap` bytes); returns its full
    /// length or an error code.
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must lie inside this module's memory and may be overwritten.
    pub fn vector_name(dst_ptr: *mut u8, dst_cap: usize) -> i32;
    /// In a partition run: hands over the partition's vector, `len / 8` little-endian f64 values.
    ///
    /// # Safety
    /// `ptr..ptr + len` must lie inside this module's memory.
    pub fn vector_emit(ptr: *const u8, len: usize) -> i32;
    /// Main run only: makes the `[[release]]` of that name per entity. The host runs
    /// `shuyu_contribute` once per entity in a fresh instance; `0` released, `1` blocked, or an
    /// error code.
    ///
    /// # Safety
    /// `name_ptr..name_ptr + name_len` must lie inside this module's memory.
    pub fn release_entities(name_ptr: *const u8, name_len: usize) -> i32;
    /// In an entity run: copies the name of the release being computed (cut to `dst_cap` bytes);
    /// returns its full length or an error code.
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must lie inside this module's memory and may be overwritten.
    pub fn entity_release(dst_ptr: *mut u8, dst_cap: usize) -> i32;
    /// In an entity run: opens a query over this entity's rows of the granted table of that name
    /// (read with `next_batch`/`read_batch`/`close`); returns a query handle or an error code.
    ///
    /// # Safety
    /// `table_ptr..table_ptr + table_len` must lie inside this module's memory.
    pub fn entity_rows(table_ptr: *const u8, table_len: usize) -> i32;
    /// In an entity run: hands over contribution rows as an Arrow IPC stream (dimensions then
    /// measures, no `entity` column); `0` or an error code.
    ///
    /// # Safety
    /// `ipc_ptr..ipc_ptr + ipc_len` must lie inside this module's memory.
    pub fn contribute(ipc_ptr: *const u8, ipc_len: usize) -> i32;
    /// In an entity run: hands over contribution rows (`shuyu_abi::rows`: dimensions then
    /// measures, no `entity` column); `0` or an error code.
    ///
    /// # Safety
    /// `rows_ptr..rows_ptr + rows_len` must lie inside this module's memory.
    pub fn contribute_rows(rows_ptr: *const u8, rows_len: usize) -> i32;
    /// In an entity run: opens a query over this entity's rows of the granted table of that name,
    /// staged in the table encoding (`shuyu_abi::table`); returns a query handle or an error
    /// code (`NOT_AVAILABLE` when a column's type has no place in that encoding).
    ///
    /// # Safety
    /// `table_ptr..table_ptr + table_len` must lie inside this module's memory.
    pub fn entity_table(table_ptr: *const u8, table_len: usize) -> i32;
    /// As `next_batch`, but the batch is staged in the table encoding (`shuyu_abi::table`);
    /// `NOT_AVAILABLE` (and the query ends) when a column's type has no place in it.
    ///
    /// # Safety
    /// Always safe to call; `unsafe` only because it is a foreign function.
    pub fn next_table(query: i32) -> i64;
    /// Hands over one chunk of contributions as contribution rows (`shuyu_abi::rows`: `entity`
    /// first, then the dimensions and measures).
    ///
    /// # Safety
    /// `rows_ptr..rows_ptr + rows_len` must lie inside this module's memory.
    pub fn release_append_rows(release: i32, rows_ptr: *const u8, rows_len: usize) -> i32;
}

#[cfg(not(target_arch = "wasm32"))]
pub use stub::*;

/// Stand-ins for the imports on targets without a sandbox.
///
/// Every call goes to a thread-local [`stub::Host`]; the default one answers [`NOT_IN_SANDBOX`].
/// This crate's unit tests install a fake host there to drive the safe API end to end.
#[cfg(not(target_arch = "wasm32"))]
mod stub {
    use super::NOT_IN_SANDBOX;
    use std::cell::RefCell;

    /// What the stub functions forward to, with the raw pointers already turned into slices.
    pub(crate) trait Host {
        fn query(&mut self, _sql: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn next_batch(&mut self, _query: i32) -> i64 {
            i64::from(NOT_IN_SANDBOX)
        }
        fn read_batch(&mut self, _query: i32, _dst: &mut [u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn close(&mut self, _query: i32) -> i32 {
            NOT_IN_SANDBOX
        }
        fn release_begin(&mut self, _name: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn release_append(&mut self, _release: i32, _ipc: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn release_finish(&mut self, _release: i32) -> i32 {
            NOT_IN_SANDBOX
        }
        fn log(&mut self, _line: &[u8]) -> i32 {
            0
        }
        fn release_vector(&mut self, _name: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn vector_name(&mut self) -> Result<String, i32> {
            Err(NOT_IN_SANDBOX)
        }
        fn vector_emit(&mut self, _values: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn release_entities(&mut self, _name: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn entity_release(&mut self) -> Result<String, i32> {
            Err(NOT_IN_SANDBOX)
        }
        fn entity_rows(&mut self, _table: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn contribute(&mut self, _ipc: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn contribute_rows(&mut self, _rows: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn entity_table(&mut self, _table: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn next_table(&mut self, _query: i32) -> i64 {
            i64::from(NOT_IN_SANDBOX)
        }
        fn release_append_rows(&mut self, _release: i32, _rows: &[u8]) -> i32 {
            NOT_IN_SANDBOX
        }
        fn last_error(&self) -> String {
            "the shuyu host functions exist only inside the shuyu sandbox (wasm32)".to_string()
        }
    }

    struct NoHost;
    impl Host for NoHost {}

    thread_local! {
        static HOST: RefCell<Box<dyn Host>> = RefCell::new(Box::new(NoHost));
    }

    /// Replaces this thread's host, returning the previous one.
    #[cfg(test)]
    pub(crate) fn install(host: Box<dyn Host>) -> Box<dyn Host> {
        HOST.with(|h| std::mem::replace(&mut *h.borrow_mut(), host))
    }

    fn with<R>(f: impl FnOnce(&mut dyn Host) -> R) -> R {
        HOST.with(|h| f(h.borrow_mut().as_mut()))
    }

    /// # Safety
    /// `ptr..ptr + len` must be readable (or `ptr` null).
    unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
        if ptr.is_null() || len == 0 {
            &[]
        } else {
            // SAFETY: the caller promises the range is readable.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        }
    }

    /// # Safety
    /// `ptr..ptr + len` must be writable (or `ptr` null).
    unsafe fn bytes_mut<'a>(ptr: *mut u8, len: usize) -> &'a mut [u8] {
        if ptr.is_null() || len == 0 {
            &mut []
        } else {
            // SAFETY: the caller promises the range is writable.
            unsafe { std::slice::from_raw_parts_mut(ptr, len) }
        }
    }

    /// Stub of the `query` import.
    ///
    /// # Safety
    /// `sql_ptr..sql_ptr + sql_len` must be readable.
    pub unsafe fn query(sql_ptr: *const u8, sql_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let sql = unsafe { bytes(sql_ptr, sql_len) };
        with(|h| h.query(sql))
    }

    /// Stub of the `next_batch` import.
    ///
    /// # Safety
    /// Always safe; `unsafe` to match the import.
    pub unsafe fn next_batch(query: i32) -> i64 {
        with(|h| h.next_batch(query))
    }

    /// Stub of the `read_batch` import.
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_len` must be writable.
    pub unsafe fn read_batch(query: i32, dst_ptr: *mut u8, dst_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let dst = unsafe { bytes_mut(dst_ptr, dst_len) };
        with(|h| h.read_batch(query, dst))
    }

    /// Stub of the `close` import.
    ///
    /// # Safety
    /// Always safe; `unsafe` to match the import.
    pub unsafe fn close(query: i32) -> i32 {
        with(|h| h.close(query))
    }

    /// Stub of the `release_begin` import.
    ///
    /// # Safety
    /// `name_ptr..name_ptr + name_len` must be readable.
    pub unsafe fn release_begin(name_ptr: *const u8, name_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let name = unsafe { bytes(name_ptr, name_len) };
        with(|h| h.release_begin(name))
    }

    /// Stub of the `release_append` import.
    ///
    /// # Safety
    /// `ipc_ptr..ipc_ptr + ipc_len` must be readable.
    pub unsafe fn release_append(release: i32, ipc_ptr: *const u8, ipc_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let ipc = unsafe { bytes(ipc_ptr, ipc_len) };
        with(|h| h.release_append(release, ipc))
    }

    /// Stub of the `release_finish` import.
    ///
    /// # Safety
    /// Always safe; `unsafe` to match the import.
    pub unsafe fn release_finish(release: i32) -> i32 {
        with(|h| h.release_finish(release))
    }

    /// Stub of the `log` import.
    ///
    /// # Safety
    /// `ptr..ptr + len` must be readable.
    pub unsafe fn log(ptr: *const u8, len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let line = unsafe { bytes(ptr, len) };
        with(|h| h.log(line))
    }

    /// Stub of the `release_vector` import.
    ///
    /// # Safety
    /// `name_ptr..name_ptr + name_len` must be readable.
    pub unsafe fn release_vector(name_ptr: *const u8, name_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let name = unsafe { bytes(name_ptr, name_len) };
        with(|h| h.release_vector(name))
    }

    /// Stub of the `vector_name` import: same contract as the host's (cut copy, full length).
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must be writable.
    pub unsafe fn vector_name(dst_ptr: *mut u8, dst_cap: usize) -> i32 {
        let name = with(|h| h.vector_name());
        // SAFETY: forwarded from the caller.
        unsafe { copy_name(name, dst_ptr, dst_cap) }
    }

    /// Stub of the `entity_release` import: same contract as the host's (cut copy, full length).
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must be writable.
    pub unsafe fn entity_release(dst_ptr: *mut u8, dst_cap: usize) -> i32 {
        let name = with(|h| h.entity_release());
        // SAFETY: forwarded from the caller.
        unsafe { copy_name(name, dst_ptr, dst_cap) }
    }

    /// What the host's name functions do: copy the name cut to `dst_cap` bytes and return its
    /// full length, or return the error code.
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must be writable.
    unsafe fn copy_name(name: Result<String, i32>, dst_ptr: *mut u8, dst_cap: usize) -> i32 {
        match name {
            Ok(name) => {
                // SAFETY: forwarded from the caller.
                let dst = unsafe { bytes_mut(dst_ptr, dst_cap) };
                let n = name.len().min(dst.len());
                dst[..n].copy_from_slice(&name.as_bytes()[..n]);
                i32::try_from(name.len()).unwrap_or(i32::MAX)
            }
            Err(code) => code,
        }
    }

    /// Stub of the `vector_emit` import.
    ///
    /// # Safety
    /// `ptr..ptr + len` must be readable.
    pub unsafe fn vector_emit(ptr: *const u8, len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let values = unsafe { bytes(ptr, len) };
        with(|h| h.vector_emit(values))
    }

    /// Stub of the `release_entities` import.
    ///
    /// # Safety
    /// `name_ptr..name_ptr + name_len` must be readable.
    pub unsafe fn release_entities(name_ptr: *const u8, name_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let name = unsafe { bytes(name_ptr, name_len) };
        with(|h| h.release_entities(name))
    }

    /// Stub of the `entity_rows` import.
    ///
    /// # Safety
    /// `table_ptr..table_ptr + table_len` must be readable.
    pub unsafe fn entity_rows(table_ptr: *const u8, table_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let table = unsafe { bytes(table_ptr, table_len) };
        with(|h| h.entity_rows(table))
    }

    /// Stub of the `contribute` import.
    ///
    /// # Safety
    /// `ipc_ptr..ipc_ptr + ipc_len` must be readable.
    pub unsafe fn contribute(ipc_ptr: *const u8, ipc_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let ipc = unsafe { bytes(ipc_ptr, ipc_len) };
        with(|h| h.contribute(ipc))
    }

    /// Stub of the `contribute_rows` import.
    ///
    /// # Safety
    /// `rows_ptr..rows_ptr + rows_len` must be readable.
    pub unsafe fn contribute_rows(rows_ptr: *const u8, rows_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let rows = unsafe { bytes(rows_ptr, rows_len) };
        with(|h| h.contribute_rows(rows))
    }

    /// Stub of the `entity_table` import.
    ///
    /// # Safety
    /// `table_ptr..table_ptr + table_len` must be readable.
    pub unsafe fn entity_table(table_ptr: *const u8, table_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let table = unsafe { bytes(table_ptr, table_len) };
        with(|h| h.entity_table(table))
    }

    /// Stub of the `next_table` import.
    ///
    /// # Safety
    /// Always safe; `unsafe` to match the import.
    pub unsafe fn next_table(query: i32) -> i64 {
        with(|h| h.next_table(query))
    }

    /// Stub of the `release_append_rows` import.
    ///
    /// # Safety
    /// `rows_ptr..rows_ptr + rows_len` must be readable.
    pub unsafe fn release_append_rows(release: i32, rows_ptr: *const u8, rows_len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        let rows = unsafe { bytes(rows_ptr, rows_len) };
        with(|h| h.release_append_rows(release, rows))
    }

    /// Stub of the `last_error` import: same contract as the host's (cut copy, full length).
    ///
    /// # Safety
    /// `dst_ptr..dst_ptr + dst_cap` must be writable.
    pub unsafe fn last_error(dst_ptr: *mut u8, dst_cap: usize) -> i32 {
        let message = with(|h| h.last_error());
        // SAFETY: forwarded from the caller.
        let dst = unsafe { bytes_mut(dst_ptr, dst_cap) };
        let n = message.len().min(dst.len());
        dst[..n].copy_from_slice(&message.as_bytes()[..n]);
        i32::try_from(message.len()).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_fails_every_call_with_not_in_sandbox() {
        let sql = "SELECT 1";
        // SAFETY: the pointers come from live slices.
        unsafe {
            assert_eq!(query(sql.as_ptr(), sql.len()), NOT_IN_SANDBOX);
            assert_eq!(next_batch(1), i64::from(NOT_IN_SANDBOX));
            assert_eq!(release_finish(1), NOT_IN_SANDBOX);
            assert_eq!(release_entities(sql.as_ptr(), sql.len()), NOT_IN_SANDBOX);
            assert_eq!(entity_rows(sql.as_ptr(), sql.len()), NOT_IN_SANDBOX);
            assert_eq!(contribute(sql.as_ptr(), sql.len()), NOT_IN_SANDBOX);
            assert_eq!(contribute_rows(sql.as_ptr(), sql.len()), NOT_IN_SANDBOX);
            assert_eq!(entity_table(sql.as_ptr(), sql.len()), NOT_IN_SANDBOX);
            assert_eq!(next_table(1), i64::from(NOT_IN_SANDBOX));
            assert_eq!(
                release_append_rows(1, sql.as_ptr(), sql.len()),
                NOT_IN_SANDBOX
            );
            let mut name = [0u8; 4];
            assert_eq!(
                entity_release(name.as_mut_ptr(), name.len()),
                NOT_IN_SANDBOX
            );
            let mut buf = [0u8; 8];
            let full = last_error(buf.as_mut_ptr(), buf.len());
            assert!(full > 8, "the message is longer than the buffer");
            assert_eq!(&buf, b"the shuy");
        }
    }

    /// The ABI type a Rust parameter or result of these functions has on wasm32.
    trait Abi {
        const TYPE: shuyu_abi::ValType;
    }
    impl Abi for i32 {
        const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I32;
    }
    impl Abi for usize {
        const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I32;
    }
    impl Abi for *const u8 {
        const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I32;
    }
    impl Abi for *mut u8 {
        const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I32;
    }
    impl Abi for i64 {
        const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I64;
    }

    /// (params, result) of a function pointer in ABI types.
    trait Signature {
        fn abi() -> (Vec<shuyu_abi::ValType>, shuyu_abi::ValType);
    }
    impl<A: Abi, R: Abi> Signature for unsafe fn(A) -> R {
        fn abi() -> (Vec<shuyu_abi::ValType>, shuyu_abi::ValType) {
            (vec![A::TYPE], R::TYPE)
        }
    }
    impl<A: Abi, B: Abi, R: Abi> Signature for unsafe fn(A, B) -> R {
        fn abi() -> (Vec<shuyu_abi::ValType>, shuyu_abi::ValType) {
            (vec![A::TYPE, B::TYPE], R::TYPE)
        }
    }
    impl<A: Abi, B: Abi, C: Abi, R: Abi> Signature for unsafe fn(A, B, C) -> R {
        fn abi() -> (Vec<shuyu_abi::ValType>, shuyu_abi::ValType) {
            (vec![A::TYPE, B::TYPE, C::TYPE], R::TYPE)
        }
    }
    fn abi_of<F: Signature>(_: F) -> (Vec<shuyu_abi::ValType>, shuyu_abi::ValType) {
        F::abi()
    }

    #[test]
    fn the_imports_are_the_abi_table() {
        // The casts fail to compile when a declaration changes; the table is compared below.
        type P = *const u8;
        type M = *mut u8;
        let declared: Vec<(&str, (Vec<shuyu_abi::ValType>, shuyu_abi::ValType))> = vec![
            ("query", abi_of(query as unsafe fn(P, usize) -> i32)),
            ("next_batch", abi_of(next_batch as unsafe fn(i32) -> i64)),
            (
                "read_batch",
                abi_of(read_batch as unsafe fn(i32, M, usize) -> i32),
            ),
            ("close", abi_of(close as unsafe fn(i32) -> i32)),
            (
                "release_begin",
                abi_of(release_begin as unsafe fn(P, usize) -> i32),
            ),
            (
                "release_append",
                abi_of(release_append as unsafe fn(i32, P, usize) -> i32),
            ),
            (
                "release_finish",
                abi_of(release_finish as unsafe fn(i32) -> i32),
            ),
            ("log", abi_of(log as unsafe fn(P, usize) -> i32)),
            (
                "last_error",
                abi_of(last_error as unsafe fn(M, usize) -> i32),
            ),
            (
                "release_vector",
                abi_of(release_vector as unsafe fn(P, usize) -> i32),
            ),
            (
                "vector_name",
                abi_of(vector_name as unsafe fn(M, usize) -> i32),
            ),
            (
                "vector_emit",
                abi_of(vector_emit as unsafe fn(P, usize) -> i32),
            ),
            ("next_table", abi_of(next_table as unsafe fn(i32) -> i64)),
            (
                "release_append_rows",
                abi_of(release_append_rows as unsafe fn(i32, P, usize) -> i32),
            ),
            (
                "release_entities",
                abi_of(release_entities as unsafe fn(P, usize) -> i32),
            ),
            (
                "entity_release",
                abi_of(entity_release as unsafe fn(M, usize) -> i32),
            ),
            (
                "entity_rows",
                abi_of(entity_rows as unsafe fn(P, usize) -> i32),
            ),
            (
                "contribute",
                abi_of(contribute as unsafe fn(P, usize) -> i32),
            ),
            (
                "contribute_rows",
                abi_of(contribute_rows as unsafe fn(P, usize) -> i32),
            ),
            (
                "entity_table",
                abi_of(entity_table as unsafe fn(P, usize) -> i32),
            ),
        ];
        let table: Vec<(&str, (Vec<shuyu_abi::ValType>, shuyu_abi::ValType))> =
            shuyu_abi::FUNCTIONS
                .iter()
                .map(|f| {
                    (
                        f.name,
                        (f.params.iter().map(|(_, t)| *t).collect(), f.result),
                    )
                })
                .collect();
        assert_eq!(declared, table);
        // The import module of the wasm32 declarations is the table's.
        let source = include_str!("abi.rs");
        let attribute = format!("#[link(wasm_import_module = \"{}\")]", shuyu_abi::MODULE);
        assert!(source.contains(&attribute), "{attribute}");
        // And the entry points the SDK's macros export are the table's.
        let lib = include_str!("lib.rs");
        for export in [
            shuyu_abi::MAIN_EXPORT,
            shuyu_abi::PARTITION_EXPORT,
            shuyu_abi::CONTRIBUTE_EXPORT,
            shuyu_abi::ANSWER_EXPORT,
        ] {
            let function = format!("pub extern \"C\" fn {export}() -> i32");
            assert!(lib.contains(&function), "{function}");
        }
    }

    #[test]
    fn code_names_cover_the_abi_table() {
        for code in -8..=-1 {
            assert!(code_name(code).is_some(), "code {code}");
        }
        assert_eq!(code_name(-6), Some("INVALID_CONTRIBUTIONS"));
        assert_eq!(code_name(5), None);
    }
}
