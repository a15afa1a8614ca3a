//! Hostile module `service-hostile`: one service module (`shuyu_answer` only, no `shuyu_main`)
//! that misbehaves in a way chosen per call by the `utf8` request parameter `mode`. Its test
//! contract has the answer fields `band` (an enumeration, `A`–`E`) and `rows` (bucketed), and
//! grants `tax_payments`.
//!
//! | mode | what the run does | what must happen |
//! | --- | --- | --- |
//! | `honest` | counts the subject's `tax_payments` rows; `band` `A` if any else `E`, `rows` the count | answered |
//! | `outside` | `band` `Z`, outside the enumeration | refused: no answer |
//! | `extra` | the honest answer plus an undeclared text field `leak` holding the subject's pseudonym | refused: no answer |
//! | `two_rows` | hands over a 2-row answer through the raw `contribute` import, then nothing | refused: no answer |
//! | `rows_two` | the same 2-row answer as contribution rows, through the raw `contribute_rows` import | refused: no answer |
//! | `rows_cut` | the honest answer as contribution rows, cut one byte short, through `contribute_rows` | refused: no answer |
//! | `rows_swapped` | `band` as a number and `rows` as text, as contribution rows | refused: no answer |
//! | `twice` | hands over the honest answer, then a second one (`band` `E`, `rows` 999) | at most one answer, never the second |
//! | `spin` | loops forever without calling the host | bounded by the run's limits: no answer |
//! | `trap` | executes `unreachable` | no answer |
//! | `grow` | allocates 1 MiB at a time until allocation fails, then returns an error | bounded by the run's memory: no answer |
//! | `query` | tries `query("SELECT * FROM tax_payments")`; `band` `Z` if it works, else `A` | `query` refused: answered `A` |
//! | `state` | increments a static counter; `band` `A`, `rows` the counter | always 1: every call is a fresh instance |
//! | `none` | returns 0 without handing anything over (an empty answer) | no answer |
//!
//! Any other mode returns an error (no answer). Each mode's outcome is logged.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use shuyu_sdk::arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use shuyu_sdk::service::{Answer, Subject};
use shuyu_sdk::{abi, log, query, BatchExt, Error, Result};

shuyu_sdk::answer!(one_call);

/// Calls this instance has answered; a fresh instance per call keeps it at 1.
static CALLS: AtomicU32 = AtomicU32::new(0);

fn one_call(subject: &Subject) -> Result<Answer> {
    let mode = subject.request()?.text("mode")?;
    log!("service-hostile: mode {mode}");
    match mode.as_str() {
        "honest" => honest(subject),
        "outside" => Ok(Answer::new().text("band", "Z").number("rows", 0.0)),
        "extra" => {
            let leak = first_pseudonym(subject)?.unwrap_or_else(|| "no rows".to_string());
            Ok(honest(subject)?.text("leak", leak))
        }
        "two_rows" => {
            let rc = contribute_raw(&two_rows()?)?;
            log!("service-hostile: two_rows contribute returned {rc}");
            Ok(Answer::new())
        }
        "rows_two" | "rows_cut" | "rows_swapped" => {
            let chunk = match mode.as_str() {
                "rows_two" => answer_rows(&["band"], &["rows"], &[&[Some("A")], &[Some("A")]]),
                "rows_cut" => {
                    let mut chunk = answer_rows(&["band"], &["rows"], &[&[Some("A")]]);
                    chunk.pop();
                    chunk
                }
                _ => answer_rows(&["rows"], &["band"], &[&[Some("12")]]),
            };
            // SAFETY: the pointer and length describe `chunk`, which lives across the call.
            let rc = unsafe { abi::contribute_rows(chunk.as_ptr(), chunk.len()) };
            log!("service-hostile: {mode} contribute_rows returned {rc}");
            Ok(Answer::new())
        }
        "twice" => {
            honest(subject)?.answer()?;
            let second = Answer::new()
                .text("band", "E")
                .number("rows", 999.0)
                .answer();
            log!("service-hostile: second answer {second:?}");
            Ok(Answer::new())
        }
        "spin" => {
            let mut n: u64 = 0;
            loop {
                // black_box keeps every iteration, so the loop is neither deleted nor UB.
                n = black_box(n.wrapping_add(1));
            }
        }
        "trap" => trap(),
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = Vec::new();
                if chunk.try_reserve_exact(1 << 20).is_err() {
                    return Err(Error::guest(
                        21,
                        format!("grow: allocation failed after {} MiB", hoard.len()),
                    ));
                }
                // Written, not just reserved, so every page is really used.
                chunk.resize(1 << 20, 0xA5);
                hoard.push(black_box(chunk));
            }
        }
        "query" => {
            let band = match query("SELECT * FROM tax_payments") {
                Ok(_) => "Z",
                Err(e) => {
                    log!("service-hostile: query refused: {e}");
                    "A"
                }
            };
            Ok(Answer::new().text("band", band).number("rows", 0.0))
        }
        "state" => {
            let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
            Ok(Answer::new()
                .text("band", "A")
                .number("rows", f64::from(calls)))
        }
        "none" => Ok(Answer::new()),
        other => Err(Error::guest(20, format!("unknown mode `{other}`"))),
    }
}

/// The honest answer: whether the subject has tax rows, and how many.
fn honest(subject: &Subject) -> Result<Answer> {
    let mut rows = 0usize;
    for batch in subject.rows("tax_payments")? {
        rows += batch?.num_rows();
    }
    let band = if rows > 0 { "A" } else { "E" };
    Ok(Answer::new().text("band", band).number("rows", rows as f64))
}

/// The pseudonym in the subject's first `tax_payments` row, if it has one.
fn first_pseudonym(subject: &Subject) -> Result<Option<String>> {
    for batch in subject.rows("tax_payments")? {
        let batch = batch?;
        let usci = batch.utf8("usci")?;
        if let Some(i) = (0..batch.num_rows()).find(|&i| usci.is_valid(i)) {
            return Ok(Some(usci.value(i).to_string()));
        }
    }
    Ok(None)
}

/// An answer of two rows, which `Answer` cannot build.
fn two_rows() -> Result<RecordBatch> {
    Ok(RecordBatch::try_from_iter([
        (
            "band",
            Arc::new(StringArray::from(vec!["A", "A"])) as ArrayRef,
        ),
        (
            "rows",
            Arc::new(Float64Array::from(vec![1.0, 1.0])) as ArrayRef,
        ),
    ])?)
}

/// An answer chunk as contribution rows: `texts` as dimensions, one row per entry of `rows`
/// (its text values), every measure 1.0.
fn answer_rows(texts: &[&str], numbers: &[&str], rows: &[&[Option<&str>]]) -> Vec<u8> {
    let mut encoder = shuyu_abi::rows::Encoder::new(texts, numbers).unwrap_or_else(|| trap());
    let ones = vec![Some(1.0); numbers.len()];
    for row in rows {
        if !encoder.push(row, &ones) {
            trap();
        }
    }
    encoder.bytes().to_vec()
}

/// Hands `batch` to the raw `contribute` import as one IPC stream; returns the host's code.
fn contribute_raw(batch: &RecordBatch) -> Result<i32> {
    let mut ipc = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    // SAFETY: the pointer and length describe `ipc`, which lives across the call.
    Ok(unsafe { abi::contribute(ipc.as_ptr(), ipc.len()) })
}

/// Traps with `unreachable`, as a panic would but without the SDK's panic hook.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}
