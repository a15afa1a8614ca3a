//! ABI v1 host functions (the contract is `docs/abi.md`).
//!
//! Each function copies its arguments out of guest memory (bounds-checked before any allocation),
//! counts its limits, calls the [`Host`](super::Host), and turns the result into a return code or
//! a fault. Every call runs in [`host_call`]: it first checks the run's cancel token, and its
//! wall time is charged as fuel afterwards. No slice of guest memory is held across a call back
//! into the host.

use std::time::Instant;

use wasmtime::{Caller, Extern, ExternType, Linker, Memory, Module};

use shuyu_abi::limits::{MAX_CHUNK_BYTES, MAX_LOG_BYTES, MAX_NAME_BYTES, MAX_SQL_BYTES};

use super::entity::{CONTRIBUTE_EXPORT, ENTITY_HOST_CALL_FUEL};
use super::state::GuestState;
use super::{
    CallError, ErrorCode, Fault, LimitKind, ReleaseStatus, ABI_MODULE, ANSWER_EXPORT, ENTRY_POINT,
    HOST_FUEL_PER_NANOSECOND, PARTITION_EXPORT,
};

/// Largest vector accepted by `vector_emit`: [`shuyu_abi::limits::MAX_VECTOR_COORDS`] f64 values.
const MAX_VECTOR_BYTES: usize = shuyu_abi::limits::MAX_VECTOR_COORDS * 8;

/// Whether a wasm value type is the ABI's.
fn same_type(wasm: &wasmtime::ValType, abi: shuyu_abi::ValType) -> bool {
    matches!(
        (wasm, abi),
        (wasmtime::ValType::I32, shuyu_abi::ValType::I32)
            | (wasmtime::ValType::I64, shuyu_abi::ValType::I64)
    )
}

/// `(i32, i32) -> i32`, for messages.
fn signature(function: &shuyu_abi::Function) -> String {
    let params: Vec<&str> = function.params.iter().map(|(_, t)| t.name()).collect();
    format!("({}) -> {}", params.join(", "), function.result.name())
}

/// Checks a module's imports and exports against ABI v1, naming the first thing that does not fit.
pub(super) fn check_module(module: &Module) -> Result<(), Fault> {
    for import in module.imports() {
        let function = (import.module() == ABI_MODULE)
            .then(|| shuyu_abi::function(import.name()))
            .flatten();
        let Some(function) = function else {
            return Err(Fault::InvalidModule(format!(
                "the module imports `{}::{}`, which is not part of ABI v1 (no WASI, no other host functions)",
                import.module(),
                import.name()
            )));
        };
        let ExternType::Func(ty) = import.ty() else {
            return Err(Fault::InvalidModule(format!(
                "the module imports `{}::{}` as something other than a function",
                import.module(),
                import.name()
            )));
        };
        let params: Vec<wasmtime::ValType> = ty.params().collect();
        let results: Vec<wasmtime::ValType> = ty.results().collect();
        let fits = params.len() == function.params.len()
            && params
                .iter()
                .zip(function.params)
                .all(|(wasm, (_, abi))| same_type(wasm, *abi))
            && matches!(results.as_slice(), [result] if same_type(result, function.result));
        if !fits {
            return Err(Fault::InvalidModule(format!(
                "the module imports `{}::{}` with another signature than ABI v1's {}",
                import.module(),
                import.name(),
                signature(function)
            )));
        }
    }
    // A job's module starts at `shuyu_main`; a service-only module has `shuyu_answer` alone.
    if module.get_export(ENTRY_POINT).is_none() && module.get_export(ANSWER_EXPORT).is_none() {
        return Err(Fault::InvalidModule(format!(
            "the module does not export `{ENTRY_POINT}` (a job's entry) or `{ANSWER_EXPORT}` \
             (a service's)"
        )));
    }
    for optional in [
        ENTRY_POINT,
        PARTITION_EXPORT,
        CONTRIBUTE_EXPORT,
        ANSWER_EXPORT,
    ] {
        match module.get_export(optional) {
            None => {}
            Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 1 => {}
            Some(_) => {
                return Err(Fault::InvalidModule(format!(
                    "`{optional}` must be a function () -> i32"
                )))
            }
        }
    }
    if !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
        return Err(Fault::InvalidModule(
            "the module does not export its `memory`".into(),
        ));
    }
    Ok(())
}

/// Whether a host call's wall time is charged to the calling run's fuel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HostTime {
    /// Charged at [`HOST_FUEL_PER_NANOSECOND`].
    Charged,
    /// `release_vector` and `release_entities`: their time is the partition or entity runs',
    /// each metered by its own store's fuel, which the job adds to its total; charging it again
    /// here would count it twice.
    PartitionRuns,
}

/// The one wrapper every ABI function runs in: checks the cancel token, runs `body`, charges
/// its wall time as fuel, and turns the result into what wasm sees.
///
/// wasmtime meters only instructions; without this a guest could buy host work (an audit write
/// per `log`, a guard decode per `release_append`) at a few fuel per call. A call whose time
/// exceeds the fuel left ends the run with `limit:fuel`, after it returned: a single call can
/// overrun by its own duration, which the call's own limits bound (`query_timeout_secs`).
fn host_call<'a, R: From<i32>>(
    c: &mut Caller<'a, GuestState>,
    time: HostTime,
    body: impl FnOnce(&mut Caller<'a, GuestState>) -> Result<R, CallError>,
) -> wasmtime::Result<R> {
    let started = Instant::now();
    let result = c.data().check_cancelled().and_then(|()| body(c));
    // An entity run pays a fixed price per call: its wall time depends on how busy the machine
    // is, which other entities' runs influence, and must not decide whether this run completes.
    let cost = if c.data().fixed_host_costs {
        ENTITY_HOST_CALL_FUEL
    } else {
        u64::try_from(started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(HOST_FUEL_PER_NANOSECOND)
    };
    // Calls whose time is metered elsewhere are not charged at all: taking their wall time
    // from the main run's fuel would end it with `limit:fuel` once a release took long.
    let charged = match time {
        HostTime::Charged => charge(c, cost),
        HostTime::PartitionRuns => Ok(()),
    };
    let result = match (time, charged) {
        (HostTime::PartitionRuns, _) | (HostTime::Charged, Ok(())) => result,
        // A fault the call raised itself is the more precise account.
        (HostTime::Charged, Err(_)) if matches!(result, Err(CallError::Fault(_))) => result,
        (HostTime::Charged, Err(fault)) => Err(fault.into()),
    };
    finish(c, result)
}

/// Takes `cost` fuel from the run: `limit:fuel` when less is left.
fn charge(c: &mut Caller<'_, GuestState>, cost: u64) -> Result<(), Fault> {
    let left = c
        .get_fuel()
        .map_err(|e| Fault::Internal(format!("cannot read fuel: {e:#}")))?;
    let (rest, out) = match left.checked_sub(cost) {
        Some(rest) => (rest, false),
        None => (0, true),
    };
    c.set_fuel(rest)
        .map_err(|e| Fault::Internal(format!("cannot set fuel: {e:#}")))?;
    if out {
        return Err(Fault::Limit(LimitKind::Fuel));
    }
    Ok(())
}

/// Turns a host call's result into what wasm sees: the value, an error code, or a trap.
fn finish<R: From<i32>>(
    caller: &mut Caller<'_, GuestState>,
    result: Result<R, CallError>,
) -> wasmtime::Result<R> {
    match result {
        Ok(value) => Ok(value),
        Err(CallError::Code(code, message)) => {
            caller.data_mut().last_error = message;
            Ok(R::from(code.code()))
        }
        Err(CallError::Fault(fault)) => {
            let error = wasmtime::Error::msg(fault.to_string());
            caller.data_mut().fault = Some(fault);
            Err(error)
        }
    }
}

fn memory(caller: &mut Caller<'_, GuestState>) -> Result<Memory, CallError> {
    if let Some(memory) = caller.data().memory {
        return Ok(memory);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => {
            caller.data_mut().memory = Some(memory);
            Ok(memory)
        }
        _ => Err(Fault::InvalidModule("the module does not export its `memory`".into()).into()),
    }
}

/// Checks that `[ptr, ptr + len)` lies inside guest memory and returns it as offsets.
fn range(
    caller: &mut Caller<'_, GuestState>,
    what: &str,
    ptr: i32,
    len: i32,
) -> Result<(Memory, usize, usize), CallError> {
    // Pointers and lengths are unsigned in the ABI.
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    let memory = memory(caller)?;
    let size = memory.data_size(&*caller);
    if ptr.checked_add(len).is_none_or(|end| end > size) {
        return Err(Fault::OutOfBounds(format!(
            "{what}: {len} bytes at offset {ptr} lie outside the guest's {size}-byte memory"
        ))
        .into());
    }
    Ok((memory, ptr, len))
}

/// Copies bytes out of guest memory, refusing more than `max`.
fn read(
    caller: &mut Caller<'_, GuestState>,
    what: &str,
    ptr: i32,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, CallError> {
    let (memory, ptr, len) = range(caller, what, ptr, len)?;
    if len > max {
        return Err(CallError::code(
            ErrorCode::InvalidArgument,
            format!("{what} is longer than {max} bytes"),
        ));
    }
    let mut buf = vec![0u8; len];
    memory
        .read(&*caller, ptr, &mut buf)
        .map_err(|_| Fault::OutOfBounds(format!("{what}: unreadable guest memory")))?;
    Ok(buf)
}

fn read_text(
    caller: &mut Caller<'_, GuestState>,
    what: &str,
    ptr: i32,
    len: i32,
    max: usize,
) -> Result<String, CallError> {
    let bytes = read(caller, what, ptr, len, max)?;
    String::from_utf8(bytes)
        .map_err(|_| CallError::code(ErrorCode::InvalidArgument, format!("{what} is not UTF-8")))
}

fn write(
    caller: &mut Caller<'_, GuestState>,
    what: &str,
    ptr: i32,
    data: &[u8],
) -> Result<(), CallError> {
    let len = i32::try_from(data.len())
        .map_err(|_| Fault::Internal(format!("{what}: host data too large")))?;
    let (memory, ptr, _) = range(caller, what, ptr, len)?;
    memory
        .write(&mut *caller, ptr, data)
        .map_err(|_| Fault::OutOfBounds(format!("{what}: unwritable guest memory")).into())
}

/// What an ABI function returns to wasm: `i32`, or `i64` for `next_batch`.
trait AbiResult: wasmtime::WasmTy + From<i32> {
    /// Its type in the ABI table.
    const TYPE: shuyu_abi::ValType;
}

impl AbiResult for i32 {
    const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I32;
}

impl AbiResult for i64 {
    const TYPE: shuyu_abi::ValType = shuyu_abi::ValType::I64;
}

/// Defines ABI functions in a linker. A function is defined only under a name of the ABI table
/// and with the table's signature (every parameter `i32`), and its body only ever runs inside
/// [`host_call`]: cancellation, fuel and the mapping of errors hold for each by construction.
struct Link<'l> {
    linker: &'l mut Linker<GuestState>,
}

impl Link<'_> {
    /// The table's entry for `name`, which must take `params` `i32`s and return `result`.
    fn entry(
        name: &str,
        params: usize,
        result: shuyu_abi::ValType,
    ) -> wasmtime::Result<&'static shuyu_abi::Function> {
        let Some(function) = shuyu_abi::function(name) else {
            return Err(wasmtime::Error::msg(format!(
                "the host defines `{name}`, which is not in the ABI table"
            )));
        };
        let fits = function.params.len() == params
            && function
                .params
                .iter()
                .all(|(_, t)| *t == shuyu_abi::ValType::I32)
            && function.result == result;
        if !fits {
            return Err(wasmtime::Error::msg(format!(
                "the host defines `{name}` with another signature than the table's {}",
                signature(function)
            )));
        }
        Ok(function)
    }

    fn one<R: AbiResult>(
        &mut self,
        name: &str,
        time: HostTime,
        body: impl Fn(&mut Caller<'_, GuestState>, i32) -> Result<R, CallError> + Send + Sync + 'static,
    ) -> wasmtime::Result<()> {
        let function = Self::entry(name, 1, R::TYPE)?;
        self.linker.func_wrap(
            ABI_MODULE,
            function.name,
            move |mut c: Caller<'_, GuestState>, a: i32| host_call(&mut c, time, |c| body(c, a)),
        )?;
        Ok(())
    }

    fn two<R: AbiResult>(
        &mut self,
        name: &str,
        time: HostTime,
        body: impl Fn(&mut Caller<'_, GuestState>, i32, i32) -> Result<R, CallError>
            + Send
            + Sync
            + 'static,
    ) -> wasmtime::Result<()> {
        let function = Self::entry(name, 2, R::TYPE)?;
        self.linker.func_wrap(
            ABI_MODULE,
            function.name,
            move |mut c: Caller<'_, GuestState>, a: i32, b: i32| {
                host_call(&mut c, time, |c| body(c, a, b))
            },
        )?;
        Ok(())
    }

    fn three<R: AbiResult>(
        &mut self,
        name: &str,
        time: HostTime,
        body: impl Fn(&mut Caller<'_, GuestState>, i32, i32, i32) -> Result<R, CallError>
            + Send
            + Sync
            + 'static,
    ) -> wasmtime::Result<()> {
        let function = Self::entry(name, 3, R::TYPE)?;
        self.linker.func_wrap(
            ABI_MODULE,
            function.name,
            move |mut c: Caller<'_, GuestState>, a: i32, b: i32, d: i32| {
                host_call(&mut c, time, |c| body(c, a, b, d))
            },
        )?;
        Ok(())
    }
}

/// Registers every ABI v1 function in the linker, each from its entry in
/// [`shuyu_abi::FUNCTIONS`] and inside [`host_call`].
pub(super) fn define(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    let mut link = Link { linker };
    link.two("query", HostTime::Charged, |c, ptr, len| {
        let sql = read_text(c, "query: sql", ptr, len, MAX_SQL_BYTES)?;
        if sql.trim().is_empty() {
            return Err(CallError::code(
                ErrorCode::InvalidArgument,
                "query: empty SQL",
            ));
        }
        c.data_mut().count_query()?;
        let handle = c.data_mut().host.query(&sql)?;
        c.data_mut().open_queries.insert(handle);
        Ok(handle)
    })?;

    link.one("next_batch", HostTime::Charged, |c, handle| {
        next_staged(c, handle, |h, handle| h.next_batch(handle))
    })?;

    link.one("next_table", HostTime::Charged, |c, handle| {
        next_staged(c, handle, |h, handle| h.next_table(handle))
    })?;

    link.three("read_batch", HostTime::Charged, |c, handle, ptr, len| {
        let Some(batch) = c.data_mut().unstage(handle) else {
            return Err(CallError::code(
                ErrorCode::NoStagedBatch,
                format!("query {handle} has no staged batch"),
            ));
        };
        if len as u32 as usize != batch.len() {
            let message = format!(
                "read_batch: dst_len is {} but the staged batch has {} bytes",
                len as u32,
                batch.len()
            );
            // Put back as it was: it was counted before.
            c.data_mut().stage(handle, batch)?;
            return Err(CallError::code(ErrorCode::InvalidArgument, message));
        }
        write(c, "read_batch: dst", ptr, &batch)?;
        Ok(0)
    })?;

    link.one("close", HostTime::Charged, |c, handle| {
        let state = c.data_mut();
        state.require_open(handle)?;
        state.unstage(handle);
        state.open_queries.remove(&handle);
        state.host.close(handle)?;
        Ok(0)
    })?;

    link.two("release_begin", HostTime::Charged, |c, ptr, len| {
        let name = read_text(c, "release_begin: name", ptr, len, MAX_NAME_BYTES)?;
        c.data_mut().count_release()?;
        c.data_mut().host.release_begin(&name)
    })?;

    link.three(
        "release_append",
        HostTime::Charged,
        |c, handle, ptr, len| {
            hand_over(c, "release_append: chunk", ptr, len, 1, |h, chunk| {
                h.release_append(handle, chunk)
            })
        },
    )?;

    link.three(
        "release_append_rows",
        HostTime::Charged,
        |c, handle, ptr, len| {
            // The guard turns the rows into a batch: its strings once more, and each one-byte
            // null measure into an eight-byte value, so at most nine times the chunk.
            hand_over(c, "release_append_rows: chunk", ptr, len, 9, |h, chunk| {
                h.release_append_rows(handle, chunk)
            })
        },
    )?;

    link.one("release_finish", HostTime::Charged, |c, handle| {
        c.data_mut()
            .host
            .release_finish(handle)
            .map(ReleaseStatus::abi_code)
    })?;

    link.two("log", HostTime::Charged, |c, ptr, len| {
        // Cut before copying: a guest must not make the host copy its whole memory per line.
        let cut = (len as u32).min(MAX_LOG_BYTES as u32) as i32;
        range(c, "log: line", ptr, len)?;
        let bytes = read(c, "log: line", ptr, cut, MAX_LOG_BYTES)?;
        if c.data_mut().take_log_slot() {
            let line = String::from_utf8_lossy(&bytes).into_owned();
            c.data_mut().host.log(&line);
        }
        Ok(0)
    })?;

    link.two("last_error", HostTime::Charged, |c, ptr, cap| {
        let message = c.data_mut().last_error.clone().into_bytes();
        let mut n = message.len().min(cap as u32 as usize);
        // Never cut inside a UTF-8 sequence.
        while n > 0 && n < message.len() && (message[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        write(c, "last_error: dst", ptr, &message[..n])?;
        Ok(i32::try_from(message.len()).unwrap_or(i32::MAX))
    })?;

    link.two("release_vector", HostTime::PartitionRuns, |c, ptr, len| {
        let name = read_text(c, "release_vector: name", ptr, len, MAX_NAME_BYTES)?;
        // Only a main run holds a runner: a partition run cannot release, nor start
        // partition runs of its own.
        let Some(runner) = c.data().runner.clone() else {
            return Err(CallError::code(
                ErrorCode::NotAvailable,
                "release_vector is not available in a partition run",
            ));
        };
        c.data_mut().count_release()?;
        c.data_mut()
            .host
            .release_vector(&name, &runner)
            .map(ReleaseStatus::abi_code)
    })?;

    link.two("vector_name", HostTime::Charged, |c, ptr, cap| {
        let name = c.data_mut().host.vector_name()?.into_bytes();
        // Contract names are ASCII, so any cut is a whole-character cut.
        let n = name.len().min(cap as u32 as usize);
        write(c, "vector_name: dst", ptr, &name[..n])?;
        Ok(i32::try_from(name.len()).unwrap_or(i32::MAX))
    })?;

    link.two("vector_emit", HostTime::Charged, |c, ptr, len| {
        if !(len as u32).is_multiple_of(8) {
            // Still bounds-check, so a wild pointer is a fault whatever the length.
            range(c, "vector_emit: values", ptr, len)?;
            return Err(CallError::code(
                ErrorCode::InvalidArgument,
                "vector_emit: the length must be a multiple of 8 (little-endian f64 values)",
            ));
        }
        let bytes = read(c, "vector_emit: values", ptr, len, MAX_VECTOR_BYTES)?;
        let values = bytes
            .chunks_exact(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                f64::from_le_bytes(word)
            })
            .collect();
        c.data_mut().host.vector_emit(values)?;
        Ok(0)
    })?;
    link.two(
        "release_entities",
        HostTime::PartitionRuns,
        |c, ptr, len| {
            let name = read_text(c, "release_entities: name", ptr, len, MAX_NAME_BYTES)?;
            // Only a main run holds a runner: partition and entity runs cannot release.
            let Some(runner) = c.data().runner.clone() else {
                return Err(CallError::code(
                    ErrorCode::NotAvailable,
                    "release_entities is available only in the main run",
                ));
            };
            c.data_mut().count_release()?;
            c.data_mut()
                .host
                .release_entities(&name, &runner)
                .map(ReleaseStatus::abi_code)
        },
    )?;

    link.two("entity_release", HostTime::Charged, |c, ptr, cap| {
        let name = c.data_mut().host.entity_release()?.into_bytes();
        // Contract names are ASCII, so any cut is a whole-character cut.
        let n = name.len().min(cap as u32 as usize);
        write(c, "entity_release: dst", ptr, &name[..n])?;
        Ok(i32::try_from(name.len()).unwrap_or(i32::MAX))
    })?;

    link.two("entity_rows", HostTime::Charged, |c, ptr, len| {
        open_entity_query(c, "entity_rows: table", ptr, len, |h, t| h.entity_rows(t))
    })?;

    link.two("entity_table", HostTime::Charged, |c, ptr, len| {
        open_entity_query(c, "entity_table: table", ptr, len, |h, t| h.entity_table(t))
    })?;

    link.two("contribute", HostTime::Charged, |c, ptr, len| {
        hand_over(c, "contribute: chunk", ptr, len, 1, |h, chunk| {
            h.contribute(chunk)
        })
    })?;

    link.two("contribute_rows", HostTime::Charged, |c, ptr, len| {
        hand_over(c, "contribute_rows: chunk", ptr, len, 1, |h, chunk| {
            h.contribute_rows(chunk)
        })
    })?;
    Ok(())
}

/// `next_batch` and `next_table`: the query's next batch staged (its size, counted against the
/// rows the run may read), or 0 at its end.
fn next_staged(
    c: &mut Caller<'_, GuestState>,
    handle: i32,
    next: impl FnOnce(&mut dyn crate::Host, i32) -> Result<Option<crate::Batch>, CallError>,
) -> Result<i64, CallError> {
    let state = c.data_mut();
    state.require_open(handle)?;
    state.unstage(handle);
    // After a failed call the query is gone (docs/abi.md): forget the handle, or it would
    // count against `max_open_queries` for the rest of the run.
    let next = next(state.host.as_mut(), handle);
    if next.is_err() {
        state.open_queries.remove(&handle);
    }
    match next? {
        Some(batch) => {
            state.count_rows(batch.rows)?;
            let len = i64::try_from(batch.ipc.len()).unwrap_or(i64::MAX);
            state.stage(handle, batch.ipc)?;
            Ok(len)
        }
        None => {
            state.open_queries.remove(&handle);
            Ok(0)
        }
    }
}

/// `entity_rows` and `entity_table`: one query over this entity's rows of a table, counted.
fn open_entity_query(
    c: &mut Caller<'_, GuestState>,
    what: &str,
    ptr: i32,
    len: i32,
    open: impl FnOnce(&mut dyn crate::Host, &str) -> Result<i32, CallError>,
) -> Result<i32, CallError> {
    let table = read_text(c, what, ptr, len, MAX_NAME_BYTES)?;
    c.data_mut().count_query()?;
    let handle = open(c.data_mut().host.as_mut(), &table)?;
    c.data_mut().open_queries.insert(handle);
    Ok(handle)
}

/// `release_append`, `release_append_rows`, `contribute` and `contribute_rows`: one chunk of
/// contributions, counted against the host memory it makes the host hold. The chunk's copy and
/// its decoding are host memory: counted before copying, after the bounds check (a wild pointer
/// is `out_of_bounds` whatever its length) and up to the longest chunk `read` accepts, times
/// `decoded_per_byte`: at most how many bytes the host builds from one byte of the chunk.
fn hand_over(
    c: &mut Caller<'_, GuestState>,
    what: &str,
    ptr: i32,
    len: i32,
    decoded_per_byte: usize,
    take: impl FnOnce(&mut dyn crate::Host, &[u8]) -> Result<(), CallError>,
) -> Result<i32, CallError> {
    range(c, what, ptr, len)?;
    c.data().check_host_bytes(
        (len as u32 as usize)
            .min(MAX_CHUNK_BYTES)
            .saturating_mul(decoded_per_byte),
    )?;
    let chunk = read(c, what, ptr, len, MAX_CHUNK_BYTES)?;
    take(c.data_mut().host.as_mut(), &chunk)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use wasmtime::{Engine, Store};

    use super::*;
    use crate::cancel::CancelToken;
    use crate::entity::NoHost;
    use crate::Limits;

    /// `(name, "(a: i32, b: i32) -> i32")` of every function of the table.
    fn table() -> Vec<(String, String)> {
        shuyu_abi::FUNCTIONS
            .iter()
            .map(|f| {
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|(name, t)| format!("{name}: {}", t.name()))
                    .collect();
                let signature = format!("({}) -> {}", params.join(", "), f.result.name());
                (f.name.to_string(), signature)
            })
            .collect()
    }

    #[test]
    fn the_linker_defines_exactly_the_abi_table() {
        let engine = Engine::default();
        let mut linker = Linker::new(&engine);
        define(&mut linker).expect("define");
        let state = GuestState::new(
            Box::new(NoHost),
            Limits::default(),
            CancelToken::new(),
            None,
        );
        let mut store = Store::new(&engine, state);
        let items: Vec<(String, String, Extern)> = linker
            .iter(&mut store)
            .map(|(module, name, item)| (module.to_string(), name.to_string(), item))
            .collect();
        let mut defined = Vec::new();
        for (module, name, item) in items {
            assert_eq!(module, ABI_MODULE, "{name}");
            let ExternType::Func(ty) = item.ty(&store) else {
                panic!("{name} is not a function");
            };
            let params: Vec<String> = ty.params().map(|t| t.to_string()).collect();
            let results: Vec<String> = ty.results().map(|t| t.to_string()).collect();
            defined.push((
                name,
                format!("({}) -> {}", params.join(", "), results.join(", ")),
            ));
        }
        defined.sort();
        let mut expected: Vec<(String, String)> = shuyu_abi::FUNCTIONS
            .iter()
            .map(|f| (f.name.to_string(), signature(f)))
            .collect();
        expected.sort();
        assert_eq!(defined, expected);
    }

    #[test]
    fn docs_abi_lists_exactly_the_table_and_the_error_codes() {
        let doc = include_str!("../../docs/abi.md");
        let function_row = table_rows(doc, |cells| {
            let name = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            let signature = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            signature
                .starts_with('(')
                .then(|| (name.to_string(), signature.to_string()))
        });
        assert_eq!(
            function_row,
            table(),
            "docs/abi.md's function tables, in order"
        );
        let codes = table_rows(doc, |cells| {
            let code: i32 = cells.first()?.parse().ok()?;
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_string(), name.to_string()))
        });
        let expected: Vec<(String, String)> = shuyu_abi::ErrorCode::ALL
            .iter()
            .map(|c| (c.code().to_string(), c.name().to_string()))
            .collect();
        assert_eq!(codes, expected, "docs/abi.md's error codes");
    }

    /// What `pick` makes of each Markdown table row of `doc` (its cells, trimmed), in order.
    fn table_rows<T>(doc: &str, pick: impl Fn(&[&str]) -> Option<T>) -> Vec<T> {
        doc.lines()
            .filter_map(|line| {
                let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
                let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
                pick(&cells)
            })
            .collect()
    }

    #[test]
    fn an_import_with_another_signature_is_an_invalid_module() {
        use wasm_encoder::ValType;
        // `next_batch` imported as (i32) -> i32; the ABI's is (i32) -> i64.
        let wrong = ("next_batch", &[ValType::I32][..], &[ValType::I32][..]);
        let bytes = crate::test_modules::main_module(Some(wrong), &[]);
        let engine = Engine::default();
        let module = Module::new(&engine, bytes).expect("module");
        match check_module(&module) {
            Err(Fault::InvalidModule(message)) => assert!(
                message.contains(
                    "`shuyu_v1::next_batch` with another signature than ABI v1's (i32) -> i64"
                ),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
