//! Hostile module `entity-hostile`: tries to make one entity's contributions depend on other
//! entities' data, which would break the sensitivity argument of differential privacy. Runs under
//! scenarios of `tests/e2e/entities.rs` over `residents` and `clinic_visits`; each release below is
//! made only if the scenario names it.
//!
//! - `credit_richest` (privacy, sum of `income`): first the attack that worked before entity runs:
//!   the main run reads every income and tries `Release::begin` to contribute the largest for
//!   every resident. Then per entity: each run keeps the largest income it has seen in a static
//!   and contributes that, and also asks SQL for the maximum. If any state or row crossed from one
//!   run to the next, the sum would be far above the true one.
//! - `key_richest` (privacy, dimension `band` without declared values, so keys are DP-selected):
//!   the largest income seen so far as every run's group key. Shared state would put thousands of
//!   entities behind one key, which selection then releases.
//! - `state_seen` (threshold): a static counter, a static buffer and a lazily filled cache; the
//!   group key is what the run finds in them. Every run must see the initial state: one key, `1`.
//! - `foreign_rows` (threshold): reads this entity's rows of every granted table, tries
//!   ungranted tables and SQL, and uses as key whether any row belonged to another entity, or
//!   (key `raw`) whether its entity column held anything but a pseudonym (32 lowercase hex
//!   characters), such as the raw identifier the host groups by.
//! - `misfit` (privacy, dimension `band` declared as `["a"]`): rich residents send a key outside
//!   the domain, the others a chunk of the wrong shape, to make the guard block the release (a
//!   bit chosen by one entity's data). Neither may block it: those rows are only dropped.
//! - `raw_rows` (threshold, dimension `key`, measure `n`): hands `contribute_rows` chunks made
//!   byte by byte that are almost right: a valid row followed by stray bytes, a row count larger
//!   than the rows sent, a row cut short, a key that is not UTF-8, a measure tag of 7, and the
//!   names in the wrong case. Each has a row keyed `smuggled`; the host must refuse each chunk
//!   whole, so only the last, valid chunk's key `valid` is released.
//! - `both_ways` (threshold, dimension `read`): reads this entity's rows of every granted table in
//!   the compact table encoding (`entity_table`, what `Entity::rows` uses) and as Arrow IPC
//!   (`entity::rows`), and keys its row `same` only if the table encoding was served and both
//!   gave identical batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::entity::{self, Contributions, Entity};
use shuyu_sdk::{log, query, BatchExt, Release, Result};

shuyu_sdk::entry!(main_run);
shuyu_sdk::contribute!(one_entity);

const RELEASES: [&str; 7] = [
    "credit_richest",
    "key_richest",
    "state_seen",
    "foreign_rows",
    "misfit",
    "raw_rows",
    "both_ways",
];

/// The largest income any run of this instance has seen (bits of an f64).
static RICHEST: AtomicU64 = AtomicU64::new(0);
/// Runs of this instance so far.
static RUNS: AtomicU64 = AtomicU64::new(0);
/// A buffer each run appends to.
static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// A cache filled by the first run.
static CACHE: Mutex<Option<String>> = Mutex::new(None);

fn main_run() -> Result<()> {
    // The old attack: one income for everyone, from the main run. Refused under privacy.
    match Release::begin("credit_richest", &[], &["income"]) {
        Ok(_) => log!("entity-hostile: the main run may release credit_richest"),
        Err(e) => log!("entity-hostile: main-run release refused: {e}"),
    }
    for name in RELEASES {
        match entity::release_entities(name) {
            Ok(outcome) => log!("entity-hostile: {name} {outcome:?}"),
            Err(e) => log!("entity-hostile: {name} not made: {e}"),
        }
    }
    Ok(())
}

/// The incomes in this run's `residents` rows.
fn incomes(entity: &Entity) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for batch in entity.rows("residents")? {
        let income = batch.f64_lossy("income")?;
        out.extend(
            (0..batch.num_rows())
                .filter(|&i| income.is_valid(i))
                .map(|i| income.value(i)),
        );
    }
    Ok(out)
}

/// The largest income this instance has seen, this run's included; SQL's answer if SQL works.
fn richest_seen(entity: &Entity) -> Result<f64> {
    for income in incomes(entity)? {
        RICHEST.fetch_max(income.to_bits(), Ordering::Relaxed);
    }
    if let Ok(rows) = query("SELECT MAX(income) AS m FROM residents") {
        for batch in rows.flatten() {
            if let Ok(m) = batch.f64_lossy("m") {
                if m.len() > 0 && m.is_valid(0) {
                    return Ok(m.value(0));
                }
            }
        }
    }
    Ok(f64::from_bits(RICHEST.load(Ordering::Relaxed)))
}

fn one_entity(entity: &Entity) -> Result<Contributions> {
    let release = entity.release()?.to_string();
    match release.as_str() {
        "credit_richest" => {
            let mut out = Contributions::new(&[], &["income"])?;
            if !incomes(entity)?.is_empty() {
                out.push(&[], &[richest_seen(entity)?])?;
            }
            Ok(out)
        }
        "key_richest" => {
            let mut out = Contributions::new(&["band"], &["income"])?;
            let richest = richest_seen(entity)?;
            if richest > 0.0 {
                out.push(&[&format!("{richest:.0}")], &[richest])?;
            }
            Ok(out)
        }
        "state_seen" => {
            let runs = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
            let buffered = BUFFER.lock().map(|mut b| {
                b.push(1);
                b.len()
            });
            let cached = CACHE
                .lock()
                .map(|mut c| c.get_or_insert_with(|| runs.to_string()).clone());
            let key = match (buffered, cached) {
                (Ok(1), Ok(c)) if runs == 1 && c == "1" => "1".to_string(),
                (b, c) => format!("state:{runs}:{b:?}:{c:?}"),
            };
            let mut out = Contributions::new(&["seen"], &["runs"])?;
            out.push(&[&key], &[runs as f64])?;
            Ok(out)
        }
        "foreign_rows" => {
            let mut own: Option<String> = None;
            let mut foreign = 0u64;
            let mut raw = 0u64;
            let mut rows = 0u64;
            for table in ["residents", "clinic_visits"] {
                for batch in entity.rows(table)? {
                    let ids = batch.utf8("citizen_id")?;
                    for i in 0..batch.num_rows() {
                        rows += 1;
                        let id = ids.value(i).to_string();
                        let pseudonym = id.len() == 32
                            && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                        if !pseudonym {
                            raw += 1;
                        }
                        match &own {
                            None => own = Some(id),
                            Some(o) if *o != id => foreign += 1,
                            Some(_) => {}
                        }
                    }
                }
            }
            // Tables the scenario does not grant, and SQL, must give nothing.
            for table in ["enterprise_registry", "tax_payments", "residents; --"] {
                if let Ok(more) = entity.rows(table) {
                    foreign += more.len() as u64 + 1_000_000;
                }
            }
            if query("SELECT citizen_id FROM residents").is_ok() {
                foreign += 1_000_000;
            }
            let key = match (foreign, raw) {
                (0, 0) => "own",
                (0, _) => "raw",
                _ => "foreign",
            };
            let mut out = Contributions::new(&["rows"], &["rows_seen"])?;
            out.push(&[key], &[rows as f64])?;
            Ok(out)
        }
        "misfit" => {
            let rich = incomes(entity)?.iter().any(|&v| v > 100_000.0);
            if rich {
                let mut out = Contributions::new(&["band"], &["income"])?;
                out.push(&["secret-income"], &[1.0])?;
                return Ok(out);
            }
            // Not the contract's columns: refused with INVALID_CONTRIBUTIONS.
            let mut wrong = Contributions::new(&["band", "extra"], &["income"])?;
            wrong.push(&["a", "b"], &[1.0])?;
            if let Err(e) = wrong.contribute() {
                log!("entity-hostile: misfit refused: {e}");
            }
            Contributions::new(&["band"], &["income"])
        }
        "both_ways" => {
            let mut key = "same".to_string();
            for table in ["residents", "clinic_visits"] {
                // SAFETY: the pointer and length describe `table`, alive across the call.
                let served = unsafe { shuyu_sdk::abi::entity_table(table.as_ptr(), table.len()) };
                if served < 0 {
                    key = format!("{table}: not served ({served})");
                    break;
                }
                // SAFETY: `served` is a handle this run opened and no longer uses.
                unsafe { shuyu_sdk::abi::close(served) };
                let compact = entity.rows(table)?;
                let ipc = entity::rows(table)?.collect::<Result<Vec<_>>>()?;
                if compact != ipc {
                    key = format!("{table}: differs");
                    break;
                }
            }
            let mut out = Contributions::new(&["read"], &["n"])?;
            out.push(&[&key], &[1.0])?;
            Ok(out)
        }
        "raw_rows" => {
            let refused = raw_chunks()
                .iter()
                .filter(|chunk| {
                    // SAFETY: the pointer and length describe `chunk`, alive across the call.
                    unsafe { shuyu_sdk::abi::contribute_rows(chunk.as_ptr(), chunk.len()) < 0 }
                })
                .count();
            let mut out = Contributions::new(&["key"], &["n"])?;
            out.push(&["valid"], &[refused as f64])?;
            Ok(out)
        }
        other => {
            log!("entity-hostile: no contribution for {other}");
            Contributions::new(&[], &[])
        }
    }
}

/// A `contribute_rows` chunk for the contract (`key`; `n`): the header with these names and
/// row count, then `body`.
fn chunk(names: [&str; 2], rows: u32, body: &[u8]) -> Vec<u8> {
    let mut out = b"SYR1".to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    for name in names {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(&rows.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// One row: a key of these bytes, a measure with this tag and the value 1.
fn row(key: &[u8], tag: u8) -> Vec<u8> {
    let mut out = (key.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(key);
    out.push(tag);
    out.extend_from_slice(&1.0f64.to_le_bytes());
    out
}

/// Chunks that are each one defect away from a valid chunk with the row `smuggled`.
fn raw_chunks() -> Vec<Vec<u8>> {
    let names = ["key", "n"];
    let good = row(b"smuggled", 1);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"smuggled");
    let mut two = good.clone();
    two.extend_from_slice(&row(b"smuggled", 1));
    vec![
        chunk(names, 1, &trailing),
        chunk(names, 3, &two),
        chunk(names, 1, &good[..good.len() - 3]),
        chunk(names, 1, &row(b"smuggled\xff", 1)),
        chunk(names, 1, &row(b"smuggled", 7)),
        chunk(["Key", "n"], 1, &good),
    ]
}
