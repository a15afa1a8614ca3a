//! A fake host for this crate's unit tests: it stands where the ABI stub is and records what the
//! SDK asks of it, so the query and release paths can be tested without a sandbox.

use crate::abi::{self, Host};
use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// One batch as the host stages it: schema, the batch, end-of-stream.
pub(crate) fn ipc_stream(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema()).expect("writer");
    writer.write(batch).expect("write");
    writer.finish().expect("finish");
    drop(writer);
    out
}

/// A batch of `Utf8`, `Int64` and `Float64` columns in the table encoding, as the host stages
/// it for `entity_table`.
pub(crate) fn table_of(batch: &RecordBatch) -> Vec<u8> {
    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use shuyu_abi::table::{ColumnType, Writer};
    let schema = batch.schema();
    let columns: Vec<(&str, ColumnType, bool)> = schema
        .fields()
        .iter()
        .map(|f| {
            let ty = match f.data_type() {
                arrow_schema::DataType::Utf8 => ColumnType::Utf8,
                arrow_schema::DataType::Int64 => ColumnType::Int64,
                arrow_schema::DataType::Float64 => ColumnType::Float64,
                other => panic!("the fake stages no {other} column"),
            };
            (f.name().as_str(), ty, f.is_nullable())
        })
        .collect();
    let mut w = Writer::new(batch.num_rows(), &columns).expect("fits");
    for column in batch.columns() {
        let nulls = column.logical_nulls();
        let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
        w.validity((column.null_count() > 0).then_some(&valid as &dyn Fn(usize) -> bool));
        let any = column.as_any();
        if let Some(text) = any.downcast_ref::<StringArray>() {
            w.utf8((0..text.len()).map(|i| text.value(i).as_bytes()));
        } else if let Some(ints) = any.downcast_ref::<Int64Array>() {
            let bytes: Vec<u8> = ints.values().iter().flat_map(|v| v.to_le_bytes()).collect();
            w.fixed(&bytes);
        } else if let Some(floats) = any.downcast_ref::<Float64Array>() {
            let bytes: Vec<u8> = floats
                .values()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            w.fixed(&bytes);
        }
    }
    w.finish()
}

/// A chunk of contribution rows as (dimensions, measures) per row, checked against these names.
pub(crate) type DecodedRow = (Vec<Option<String>>, Vec<Option<f64>>);

/// Decodes a chunk handed to `contribute_rows` the way the host does.
pub(crate) fn decode_rows(chunk: &[u8], dimensions: &[&str], measures: &[&str]) -> Vec<DecodedRow> {
    shuyu_abi::rows::parse(chunk, dimensions, measures)
        .expect("the header is the contract's")
        .map(|row| {
            let row = row.expect("the row decodes");
            let dims = row
                .dimensions
                .iter()
                .map(|d| d.map(str::to_string))
                .collect();
            (dims, row.measures)
        })
        .collect()
}

#[derive(Default)]
struct State {
    results: VecDeque<Vec<Vec<u8>>>,
    open: HashMap<i32, VecDeque<Vec<u8>>>,
    staged: HashMap<i32, Vec<u8>>,
    next_handle: i32,
    sql: Vec<String>,
    closed: Vec<i32>,
    next_batch_calls: usize,
    reject_query: Option<(i32, String)>,
    refuse_release: Option<(i32, String)>,
    fail_append: Option<(i32, String)>,
    releases: HashMap<i32, String>,
    begun: Vec<String>,
    chunks: HashMap<String, Vec<Vec<u8>>>,
    finished: Vec<String>,
    finish_answer: i32,
    logs: Vec<String>,
    last_error: String,
    /// Per-entity and answer runs: the release or service name `entity_release` answers (`None`:
    /// neither kind of run).
    entity_release: Option<String>,
    /// This entity's batches of each granted table; a table not in here is not granted.
    entity_tables: HashMap<String, Vec<Vec<u8>>>,
    /// Tables `entity_table` stages, each batch in the table encoding.
    staged_tables: HashMap<String, Vec<Vec<u8>>>,
    entity_rows_opened: Vec<String>,
    contributed: Vec<Vec<u8>>,
    contributed_rows: Vec<Vec<u8>>,
    refuse_contribute: Option<(i32, String)>,
    released_entities: Vec<String>,
    entities_answer: i32,
}

impl State {
    fn fail(&mut self, code: i32, message: &str) -> i32 {
        self.last_error = message.to_string();
        code
    }

    /// A new query handle that will stage these batches.
    fn open_query(&mut self, batches: Vec<Vec<u8>>) -> i32 {
        self.next_handle += 1;
        let handle = self.next_handle;
        self.open.insert(handle, batches.into());
        handle
    }
}

struct FakeHost(Rc<RefCell<State>>);

impl Host for FakeHost {
    fn query(&mut self, sql: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if s.entity_release.is_some() {
            return s.fail(abi::NOT_AVAILABLE, "query in an entity or answer run");
        }
        if let Some((code, message)) = s.reject_query.take() {
            return s.fail(code, &message);
        }
        s.sql.push(String::from_utf8_lossy(sql).into_owned());
        let result = s.results.pop_front().unwrap_or_default();
        s.open_query(result)
    }

    fn release_entities(&mut self, name: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        let name = String::from_utf8_lossy(name).into_owned();
        if s.released_entities.contains(&name) {
            return s.fail(abi::UNKNOWN_RELEASE, "already released in this job");
        }
        s.released_entities.push(name);
        s.entities_answer
    }

    fn entity_release(&mut self) -> Result<String, i32> {
        let mut s = self.0.borrow_mut();
        match s.entity_release.clone() {
            Some(name) => Ok(name),
            None => Err(s.fail(abi::NOT_AVAILABLE, "not an entity run")),
        }
    }

    fn entity_rows(&mut self, table: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if s.entity_release.is_none() {
            return s.fail(abi::NOT_AVAILABLE, "not an entity run");
        }
        let table = String::from_utf8_lossy(table).into_owned();
        let Some(batches) = s.entity_tables.get(&table).cloned() else {
            return s.fail(abi::QUERY_REJECTED, "table not granted");
        };
        s.entity_rows_opened.push(table);
        s.open_query(batches)
    }

    fn contribute(&mut self, ipc: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if s.entity_release.is_none() {
            return s.fail(abi::NOT_AVAILABLE, "not an entity run");
        }
        if let Some((code, message)) = s.refuse_contribute.clone() {
            return s.fail(code, &message);
        }
        s.contributed.push(ipc.to_vec());
        0
    }

    /// Tables granted with `grant_entity_table` are staged in the table encoding; the others
    /// are IPC only, so `Entity::rows` falls back to `entity_rows`, as it does for a table whose
    /// types the table encoding lacks.
    fn entity_table(&mut self, table: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if s.entity_release.is_none() {
            return s.fail(abi::NOT_AVAILABLE, "not an entity run");
        }
        let table = String::from_utf8_lossy(table).into_owned();
        let Some(batches) = s.staged_tables.get(&table).cloned() else {
            if s.entity_tables.contains_key(&table) {
                return s.fail(
                    abi::NOT_AVAILABLE,
                    "the fake host stages this table as IPC only",
                );
            }
            return s.fail(abi::QUERY_REJECTED, "table not granted");
        };
        s.entity_rows_opened.push(table);
        s.open_query(batches)
    }

    fn contribute_rows(&mut self, rows: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if s.entity_release.is_none() {
            return s.fail(abi::NOT_AVAILABLE, "not an entity run");
        }
        if let Some((code, message)) = s.refuse_contribute.clone() {
            return s.fail(code, &message);
        }
        s.contributed_rows.push(rows.to_vec());
        0
    }

    fn next_batch(&mut self, query: i32) -> i64 {
        let mut s = self.0.borrow_mut();
        s.next_batch_calls += 1;
        let Some(pending) = s.open.get_mut(&query) else {
            return i64::from(s.fail(abi::UNKNOWN_HANDLE, "unknown handle"));
        };
        match pending.pop_front() {
            Some(bytes) => {
                let len = bytes.len() as i64;
                s.staged.insert(query, bytes);
                len
            }
            None => {
                s.open.remove(&query);
                0
            }
        }
    }

    fn read_batch(&mut self, query: i32, dst: &mut [u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        match s.staged.remove(&query) {
            Some(bytes) if bytes.len() == dst.len() => {
                dst.copy_from_slice(&bytes);
                0
            }
            Some(_) => s.fail(abi::INVALID_ARGUMENT, "wrong dst_len"),
            None => s.fail(abi::NO_STAGED_BATCH, "no staged batch"),
        }
    }

    fn close(&mut self, query: i32) -> i32 {
        let mut s = self.0.borrow_mut();
        if s.open.remove(&query).is_none() {
            return s.fail(abi::UNKNOWN_HANDLE, "unknown handle");
        }
        s.staged.remove(&query);
        s.closed.push(query);
        0
    }

    fn release_begin(&mut self, name: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if let Some((code, message)) = s.refuse_release.take() {
            return s.fail(code, &message);
        }
        let name = String::from_utf8_lossy(name).into_owned();
        s.next_handle += 1;
        let handle = s.next_handle;
        s.begun.push(name.clone());
        s.releases.insert(handle, name);
        handle
    }

    fn release_append(&mut self, release: i32, ipc: &[u8]) -> i32 {
        let mut s = self.0.borrow_mut();
        if let Some((code, message)) = s.fail_append.clone() {
            return s.fail(code, &message);
        }
        let Some(name) = s.releases.get(&release).cloned() else {
            return s.fail(abi::UNKNOWN_HANDLE, "unknown handle");
        };
        s.chunks.entry(name).or_default().push(ipc.to_vec());
        0
    }

    fn release_append_rows(&mut self, release: i32, rows: &[u8]) -> i32 {
        self.release_append(release, rows)
    }

    fn next_table(&mut self, query: i32) -> i64 {
        self.next_batch(query)
    }

    fn release_finish(&mut self, release: i32) -> i32 {
        let mut s = self.0.borrow_mut();
        let Some(name) = s.releases.remove(&release) else {
            return s.fail(abi::UNKNOWN_HANDLE, "unknown handle");
        };
        s.finished.push(name);
        s.finish_answer
    }

    fn log(&mut self, line: &[u8]) -> i32 {
        self.0
            .borrow_mut()
            .logs
            .push(String::from_utf8_lossy(line).into_owned());
        0
    }

    fn last_error(&self) -> String {
        self.0.borrow().last_error.clone()
    }
}

/// The installed fake; dropping it puts the previous host back, so tests sharing a thread (as
/// with `--test-threads=1`) do not see each other's fakes.
pub(crate) struct Fake {
    state: Rc<RefCell<State>>,
    previous: Option<Box<dyn Host>>,
}

impl Fake {
    pub(crate) fn install() -> Fake {
        let state = Rc::new(RefCell::new(State::default()));
        let previous = abi::install(Box::new(FakeHost(state.clone())));
        Fake {
            state,
            previous: Some(previous),
        }
    }

    /// The batches (each an IPC stream) the next query will return.
    pub(crate) fn queue_result(&self, batches: Vec<Vec<u8>>) {
        self.state.borrow_mut().results.push_back(batches);
    }

    pub(crate) fn reject_next_query(&self, code: i32, message: &str) {
        self.state.borrow_mut().reject_query = Some((code, message.to_string()));
    }

    pub(crate) fn refuse_releases(&self, code: i32, message: &str) {
        self.state.borrow_mut().refuse_release = Some((code, message.to_string()));
    }

    pub(crate) fn fail_appends(&self, code: i32, message: &str) {
        self.state.borrow_mut().fail_append = Some((code, message.to_string()));
    }

    pub(crate) fn set_finish_answer(&self, answer: i32) {
        self.state.borrow_mut().finish_answer = answer;
    }

    pub(crate) fn next_batch_calls(&self) -> usize {
        self.state.borrow().next_batch_calls
    }

    pub(crate) fn closed(&self) -> Vec<i32> {
        self.state.borrow().closed.clone()
    }

    pub(crate) fn sql(&self) -> Vec<String> {
        self.state.borrow().sql.clone()
    }

    pub(crate) fn releases_begun(&self) -> Vec<String> {
        self.state.borrow().begun.clone()
    }

    pub(crate) fn chunks(&self, release: &str) -> Vec<Vec<u8>> {
        self.state
            .borrow()
            .chunks
            .get(release)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn finished(&self) -> Vec<String> {
        self.state.borrow().finished.clone()
    }

    pub(crate) fn logs(&self) -> Vec<String> {
        self.state.borrow().logs.clone()
    }

    /// Makes this an entity run computing `release`: `entity_rows` and `contribute` work.
    pub(crate) fn enter_entity_run(&self, release: &str) {
        self.state.borrow_mut().entity_release = Some(release.to_string());
    }

    /// Makes this an answer run of `service` with `request` as the call's parameters: as the
    /// host does, `entity_release` names the service and the table `request` holds the batch
    /// (as IPC and in the table encoding).
    pub(crate) fn enter_answer_run(&self, service: &str, request: &RecordBatch) {
        self.enter_entity_run(service);
        self.grant_entity_rows(shuyu_abi::REQUEST_TABLE, vec![ipc_stream(request)]);
        self.grant_entity_table(shuyu_abi::REQUEST_TABLE, vec![table_of(request)]);
    }

    /// This entity's batches (each an IPC stream) of a granted table.
    pub(crate) fn grant_entity_rows(&self, table: &str, batches: Vec<Vec<u8>>) {
        self.state
            .borrow_mut()
            .entity_tables
            .insert(table.to_string(), batches);
    }

    /// This entity's batches of a granted table for `entity_table`, each in the table encoding.
    pub(crate) fn grant_entity_table(&self, table: &str, batches: Vec<Vec<u8>>) {
        self.state
            .borrow_mut()
            .staged_tables
            .insert(table.to_string(), batches);
    }

    pub(crate) fn refuse_contributions(&self, code: i32, message: &str) {
        self.state.borrow_mut().refuse_contribute = Some((code, message.to_string()));
    }

    pub(crate) fn set_entities_answer(&self, answer: i32) {
        self.state.borrow_mut().entities_answer = answer;
    }

    pub(crate) fn entity_rows_opened(&self) -> Vec<String> {
        self.state.borrow().entity_rows_opened.clone()
    }

    /// The IPC streams handed to `contribute`, in order.
    pub(crate) fn contributed(&self) -> Vec<Vec<u8>> {
        self.state.borrow().contributed.clone()
    }

    /// The chunks handed to `contribute_rows`, in order.
    pub(crate) fn contributed_rows(&self) -> Vec<Vec<u8>> {
        self.state.borrow().contributed_rows.clone()
    }

    pub(crate) fn released_entities(&self) -> Vec<String> {
        self.state.borrow().released_entities.clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            abi::install(previous);
        }
    }
}
