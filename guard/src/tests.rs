//! End-to-end tests of the release builder: contributions in, decision out.
//!
//! Each hostile case plants a recognizable value and asserts the block message does not repeat it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;
use arrow::record_batch::RecordBatch;

use super::contract::tests::sample;
use super::scan::tests::citizen_id;
use super::*;

/// The pseudonym of test entity `n`.
fn e(n: u32) -> String {
    format!("{n:032x}")
}

/// A pseudonym the oracle knows that is not an entity (e.g. of a person's ID in another column).
const OTHER_PSEUDONYM: &str = "abcdefabcdefabcdefabcdefabcdef12";
const RAW_ID: &str = "RAW-IDENTIFIER-7";

fn oracle() -> Arc<dyn IdentifierOracle> {
    let entities: Vec<String> = (1..=50).map(e).collect();
    Arc::new(SetOracle::from_parts(entities, [OTHER_PSEUDONYM], [RAW_ID]).expect("valid oracle"))
}

type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<f64>, Option<i64>);

/// A chunk with the sample contract's schema: entity, district, capital (f64), staff (i64).
fn batch(rows: &[Row<'_>]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("entity", DataType::Utf8, true),
        Field::new("district", DataType::Utf8, true),
        Field::new("capital", DataType::Float64, true),
        Field::new("staff", DataType::Int64, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Int64Array>()),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch")
}

/// `(entity number, district, capital, staff)` rows as a chunk.
fn rows(rows: &[(u32, &str, f64, i64)]) -> RecordBatch {
    let entities: Vec<String> = rows.iter().map(|r| e(r.0)).collect();
    let rows: Vec<Row<'_>> = rows
        .iter()
        .zip(&entities)
        .map(|(r, id)| (Some(id.as_str()), Some(r.1), Some(r.2), Some(r.3)))
        .collect();
    batch(&rows)
}

/// [`rows`], for tests where a local named `rows` shadows it.
fn rows_of(all: &[(u32, &str, f64, i64)]) -> RecordBatch {
    rows(all)
}

fn ipc(batches: &[RecordBatch]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let schema = batches
        .first()
        .map(|b| b.schema())
        .expect("at least one batch");
    let mut writer = StreamWriter::try_new(&mut bytes, &schema).expect("writer");
    for b in batches {
        writer.write(b).expect("write");
    }
    writer.finish().expect("finish");
    drop(writer);
    bytes
}

fn builder(contract: ReleaseContract, k: u32) -> ReleaseBuilder {
    ReleaseBuilder::new(Arc::new(contract), k, oracle())
}

fn run(contract: ReleaseContract, k: u32, batches: &[RecordBatch]) -> Decision {
    let mut b = builder(contract, k);
    for batch in batches {
        b.append_batch(batch).expect("chunk accepted");
    }
    b.finish()
}

fn released(decision: Decision) -> ReleasedTable {
    match decision {
        Decision::Released(r) => r,
        Decision::Blocked(b) => panic!("blocked by {}: {}", b.rule, b.message),
    }
}

fn blocked(decision: Decision) -> Block {
    match decision {
        Decision::Blocked(b) => b,
        Decision::Released(r) => panic!("released {} rows", r.table.num_rows()),
    }
}

fn strings(table: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = table.column_by_name(column).expect("column");
    let array = array.as_any().downcast_ref::<StringArray>().expect("Utf8");
    array.iter().map(|v| v.map(str::to_owned)).collect()
}

fn ints(table: &RecordBatch, column: &str) -> Vec<i64> {
    let array = table.column_by_name(column).expect("column");
    let array = array.as_any().downcast_ref::<Int64Array>().expect("Int64");
    array.values().to_vec()
}

fn floats(table: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let array = table.column_by_name(column).expect("column");
    let array = array
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("Float64");
    array.iter().collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn happy_path_exact_numbers() {
    let chunk = rows(&[
        (4, "西湖区", 50.0, 5),
        (1, "上城区", 10.0, 1),
        (2, "上城区", 20.0, 2),
        (5, "西湖区", 70.0, 7),
        (3, "上城区", 30.0, 3),
    ]);
    let out = released(run(sample(), 2, &[chunk]));
    let t = &out.table;
    let names: Vec<_> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "district",
            "entities",
            "capital_count",
            "capital_sum",
            "capital_mean",
            "staff_sum"
        ]
    );
    assert_eq!(strings(t, "district"), [s("上城区"), s("西湖区")]);
    assert_eq!(ints(t, "entities"), [3, 2]);
    assert_eq!(ints(t, "capital_count"), [3, 2]);
    assert_eq!(floats(t, "capital_sum"), [Some(60.0), Some(120.0)]);
    assert_eq!(floats(t, "capital_mean"), [Some(20.0), Some(60.0)]);
    assert_eq!(floats(t, "staff_sum"), [Some(6.0), Some(12.0)]);
    let expected = ReleaseReport {
        contribution_rows: 5,
        entities: 5,
        groups_total: 2,
        groups_released: 2,
        k: 2,
        max_rows_per_entity: 1,
        suppression_rule: threshold::describe(2, &sample().dominance),
        ..ReleaseReport::default()
    };
    assert_eq!(out.report, expected);
    assert_eq!(out.policy["effective_k"], 2);
    assert_eq!(out.policy["contract"]["name"], "district_stats");
}

#[test]
fn bound_keeps_the_first_l_rows_per_entity_and_counts_the_rest() {
    let chunk = rows(&[
        (1, "a", 10.0, 1),
        (1, "a", 20.0, 1),
        (2, "a", 5.0, 1),
        (1, "b", 30.0, 1),
        (2, "a", 7.0, 1),
        (1, "a", 40.0, 1),
    ]);
    let out = released(run(sample(), 2, std::slice::from_ref(&chunk)));
    assert_eq!(out.report.rows_dropped_by_bound, 4);
    assert_eq!(out.report.entities, 2);
    assert_eq!(floats(&out.table, "capital_sum"), [Some(15.0)]);

    // With L = 2, entity 1 keeps a(10) and a(20), entity 2 keeps a(5) and a(7).
    let mut two = sample();
    two.max_rows_per_entity = 2;
    let mut b = builder(two, 2);
    b.append_batch(&chunk).expect("accepted");
    b.append_batch(&rows(&[(3, "b", 1.0, 1)]))
        .expect("accepted");
    let out = released(b.finish());
    assert_eq!(out.report.rows_dropped_by_bound, 2);
    assert_eq!(strings(&out.table, "district"), [s("a")]);
    assert_eq!(ints(&out.table, "capital_count"), [4]);
    assert_eq!(floats(&out.table, "capital_sum"), [Some(42.0)]);
    assert_eq!(
        (out.report.groups_suppressed, out.report.rows_suppressed),
        (1, 1)
    );
}

#[test]
fn clamping_is_counted() {
    let chunk = rows(&[(1, "a", -5.0, 11), (2, "a", 150.0, 3), (3, "a", 50.0, -2)]);
    let out = released(run(sample(), 2, &[chunk]));
    assert_eq!(out.report.values_clamped, 4);
    assert_eq!(floats(&out.table, "capital_sum"), [Some(150.0)]);
    assert_eq!(floats(&out.table, "staff_sum"), [Some(13.0)]);
}

#[test]
fn non_finite_null_negative_and_huge_values() {
    let ids: Vec<String> = (1..=8).map(e).collect();
    let values = [
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        None,
        Some(-1e308),
        Some(f64::MAX),
        Some(-0.0),
        Some(50.0),
    ];
    let rows: Vec<Row<'_>> = ids
        .iter()
        .zip(values)
        .map(|(id, v)| (Some(id.as_str()), Some("a"), v, Some(1)))
        .collect();
    let out = released(run(sample(), 2, &[batch(&rows)]));
    let r = &out.report;
    assert_eq!(
        (r.non_finite_values, r.null_values, r.values_clamped),
        (3, 1, 2)
    );
    assert_eq!(
        ints(&out.table, "entities"),
        [8],
        "rows with missing values still count"
    );
    assert_eq!(ints(&out.table, "capital_count"), [4]);
    assert_eq!(floats(&out.table, "capital_sum"), [Some(150.0)]);
    assert_eq!(floats(&out.table, "staff_sum"), [Some(8.0)]);
    let mean = floats(&out.table, "capital_mean");
    assert!((mean[0].expect("mean") - 150.0 / 4.0).abs() < 1e-12);
}

#[test]
fn a_measure_without_any_kept_value_suppresses_its_group() {
    // No entity contributed a capital value: the group's capital is about nobody, so it does not
    // pass k for that measure (before per-measure k it left with a null mean and a 0 sum).
    let ids: Vec<String> = (1..=2).map(e).collect();
    let rows: Vec<Row<'_>> = ids
        .iter()
        .map(|id| (Some(id.as_str()), Some("a"), Some(f64::NAN), Some(1)))
        .collect();
    let block = blocked(run(sample(), 2, &[batch(&rows)]));
    assert_eq!(block.rule, Rule::ThresholdAllSuppressed);
    assert_eq!(block.report.groups_suppressed, 1);
}

#[test]
fn int64_measures_are_widened_and_clamped() {
    let schema = Schema::new(vec![
        Field::new("entity", DataType::Utf8, false),
        Field::new("district", DataType::Utf8, false),
        Field::new("capital", DataType::Int64, false),
        Field::new("staff", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![e(1), e(2), e(3)])),
        Arc::new(StringArray::from(vec!["a"; 3])),
        Arc::new(Int64Array::from(vec![i64::MAX, i64::MIN, 42])),
        Arc::new(Int64Array::from(vec![1, 2, 3])),
    ];
    let chunk = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
    let out = released(run(sample(), 2, &[chunk]));
    assert_eq!(out.report.values_clamped, 2);
    assert_eq!(floats(&out.table, "capital_sum"), [Some(142.0)]);
}

#[test]
fn measure_types_must_not_change_between_chunks() {
    let mut b = builder(sample(), 2);
    b.append_batch(&rows(&[(1, "a", 1.0, 1)]))
        .expect("first chunk");
    let schema = Schema::new(vec![
        Field::new("entity", DataType::Utf8, false),
        Field::new("district", DataType::Utf8, false),
        Field::new("capital", DataType::Int64, false),
        Field::new("staff", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![e(2)])),
        Arc::new(StringArray::from(vec!["a"])),
        Arc::new(Int64Array::from(vec![1])),
        Arc::new(Int64Array::from(vec![1])),
    ];
    let chunk = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
    assert!(matches!(
        b.append_batch(&chunk),
        Err(AppendError::Schema { .. })
    ));
    assert_eq!(blocked(b.finish()).rule, Rule::ContractSchema);
}

#[test]
fn k_suppression_counts_groups_and_rows() {
    let mut contract = sample();
    contract.max_rows_per_entity = 2;
    let chunk = rows(&[
        (1, "a", 1.0, 1),
        (2, "a", 1.0, 1),
        (3, "a", 1.0, 1),
        (4, "b", 1.0, 1),
        (4, "b", 1.0, 1),
        (5, "b", 1.0, 1),
        (6, "c", 1.0, 1),
    ]);
    // The caller's effective k (3) is above the contract's (2) and wins.
    let out = released(run(contract.clone(), 3, std::slice::from_ref(&chunk)));
    assert_eq!(strings(&out.table, "district"), [s("a")]);
    let r = &out.report;
    assert_eq!(
        (
            r.groups_total,
            r.groups_released,
            r.groups_suppressed,
            r.rows_suppressed
        ),
        (3, 1, 2, 4)
    );
    assert_eq!(r.k, 3);
    assert_eq!(
        r.suppression_rule,
        threshold::describe(3, &sample().dominance)
    );
    assert_eq!(out.policy["effective_k"], 3);

    // An effective k below the contract's never loosens it.
    let out = released(run(contract, 1, &[chunk]));
    assert_eq!(strings(&out.table, "district"), [s("a"), s("b")]);
    assert_eq!(out.report.k, 2);
}

#[test]
fn all_suppressed_or_empty_blocks() {
    let chunk = rows(&[
        (1, "row-1", 1.0, 0),
        (2, "row-2", 1.0, 0),
        (3, "row-3", 1.0, 0),
    ]);
    let block = blocked(run(sample(), 2, &[chunk]));
    assert_eq!(block.rule, Rule::ThresholdAllSuppressed);
    assert_eq!(block.report.groups_suppressed, 3);
    assert!(!block.message.contains("row-"), "{}", block.message);

    let block = blocked(builder(sample(), 2).finish());
    assert_eq!(block.rule, Rule::ThresholdAllSuppressed);
    assert_eq!(block.report.contribution_rows, 0);

    let block = blocked(run(sample(), 2, &[batch(&[])]));
    assert_eq!(block.rule, Rule::ThresholdAllSuppressed);
}

#[test]
fn unknown_entity_blocks_without_naming_it() {
    let stranger = "0123456789abcdef0123456789abcdef";
    let mut chunk_rows: Vec<Row<'_>> = Vec::new();
    let ids: Vec<String> = (1..=5).map(e).collect();
    for id in &ids {
        chunk_rows.push((Some(id.as_str()), Some("a"), Some(1.0), Some(1)));
    }
    chunk_rows.push((Some(stranger), Some("a"), Some(1.0), Some(1)));
    chunk_rows.push((
        Some("not-a-pseudonym-SECRET"),
        Some("a"),
        Some(1.0),
        Some(1),
    ));
    chunk_rows.push((Some(OTHER_PSEUDONYM), Some("a"), Some(1.0), Some(1)));
    let block = blocked(run(sample(), 2, &[batch(&chunk_rows)]));
    assert_eq!(block.rule, Rule::EntityUnknown);
    assert_eq!(block.report.rows_unknown_entity, 3);
    assert_eq!(block.report.entities, 5);
    for planted in [stranger, "SECRET", OTHER_PSEUDONYM] {
        assert!(!block.message.contains(planted), "{}", block.message);
    }
}

#[test]
fn null_entity_blocks_first() {
    let known = e(1);
    let chunk = batch(&[
        (Some(known.as_str()), Some("a"), Some(1.0), Some(1)),
        (None, Some("a"), Some(1.0), Some(1)),
        (
            Some("ffffffffffffffffffffffffffffffff"),
            Some("a"),
            Some(1.0),
            Some(1),
        ),
    ]);
    let block = blocked(run(sample(), 2, &[chunk]));
    assert_eq!(block.rule, Rule::EntityNull);
    assert_eq!(
        (
            block.report.rows_null_entity,
            block.report.rows_unknown_entity
        ),
        (1, 1)
    );
}

#[test]
fn schema_mismatches_are_refused_and_block() {
    let good = rows(&[(1, "a", 1.0, 1), (2, "a", 1.0, 1)]);
    let with_fields = |fields: Vec<Field>, columns: Vec<ArrayRef>| {
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("valid batch")
    };
    let texts = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    let f64s = || -> ArrayRef { Arc::new(Float64Array::from(vec![1.0])) };
    let i64s = || -> ArrayRef { Arc::new(Int64Array::from(vec![1])) };
    let id = e(3);
    let renamed = with_fields(
        vec![
            Field::new("entity", DataType::Utf8, false),
            Field::new("district_LEAK", DataType::Utf8, false),
            Field::new("capital", DataType::Float64, false),
            Field::new("staff", DataType::Int64, false),
        ],
        vec![texts(&id), texts("a"), f64s(), i64s()],
    );
    let extra = with_fields(
        vec![
            Field::new("entity", DataType::Utf8, false),
            Field::new("district", DataType::Utf8, false),
            Field::new("capital", DataType::Float64, false),
            Field::new("staff", DataType::Int64, false),
            Field::new("extra_LEAK", DataType::Utf8, false),
        ],
        vec![texts(&id), texts("a"), f64s(), i64s(), texts("x")],
    );
    let retyped = with_fields(
        vec![
            Field::new("entity", DataType::Utf8, false),
            Field::new("district", DataType::Utf8, false),
            Field::new("capital", DataType::Utf8, false),
            Field::new("staff", DataType::Int64, false),
        ],
        vec![texts(&id), texts("a"), texts("LEAK"), i64s()],
    );
    for bad in [renamed, extra, retyped] {
        for via_ipc in [false, true] {
            let mut b = builder(sample(), 2);
            b.append_batch(&good).expect("good chunk");
            let err = if via_ipc {
                b.append_ipc(&ipc(std::slice::from_ref(&bad)))
                    .expect_err("refused")
            } else {
                b.append_batch(&bad).expect_err("refused")
            };
            assert!(matches!(err, AppendError::Schema { .. }), "{err}");
            assert!(!err.to_string().contains("LEAK"), "{err}");
            // A good chunk afterwards does not unblock the release.
            b.append_batch(&good).expect("good chunk");
            let block = blocked(b.finish());
            assert_eq!(block.rule, Rule::ContractSchema);
            assert!(!block.message.contains("LEAK"), "{}", block.message);
            assert_eq!(
                block.report.contribution_rows, 2,
                "rows after the poison are not read"
            );
        }
    }
}

/// `(entity, district, capital, staff)`, each possibly null.
type RowsRow<'a> = (Option<&'a str>, Option<&'a str>, Option<f64>, Option<f64>);

/// Rows of the sample contract as one chunk of contribution rows (`release_append_rows`):
/// `entity` and `district`, then `capital` and `staff` as f64.
fn contribution_rows(rows: &[RowsRow<'_>]) -> Vec<u8> {
    let mut chunk = shuyu_abi::rows::Encoder::new(&["entity", "district"], &["capital", "staff"])
        .expect("names fit");
    for (entity, district, capital, staff) in rows {
        assert!(chunk.push(&[*entity, *district], &[*capital, *staff]));
    }
    chunk.bytes().to_vec()
}

#[test]
fn contribution_rows_release_what_the_same_rows_release_as_arrow() {
    let all = [
        (4, "西湖区", 50.0, 5),
        (1, "上城区", 10.0, 1),
        (2, "上城区", 20.0, 2),
        (5, "西湖区", 70.0, 7),
        (3, "上城区", 30.0, 3),
        (3, "上城区", 99.0, 9),
    ];
    let ids: Vec<String> = all.iter().map(|r| e(r.0)).collect();
    let as_rows: Vec<_> = all
        .iter()
        .zip(&ids)
        .map(|(r, id)| (Some(id.as_str()), Some(r.1), Some(r.2), Some(r.3 as f64)))
        .collect();
    let mut b = builder(sample(), 2);
    // In two chunks, as the SDK flushes them.
    b.append_rows(&contribution_rows(&as_rows[..2]))
        .expect("chunk accepted");
    b.append_rows(&contribution_rows(&as_rows[2..]))
        .expect("chunk accepted");
    let from_rows = released(b.finish());
    let from_arrow = released(run(sample(), 2, &[rows(&all)]));
    assert_eq!(from_rows.table, from_arrow.table);
    assert_eq!(from_rows.report, from_arrow.report);
    assert_eq!(
        from_rows.report.rows_dropped_by_bound, 1,
        "L applies as to IPC"
    );
}

#[test]
fn a_null_or_unknown_entity_in_contribution_rows_blocks_as_in_arrow() {
    let known = e(1);
    let chunk = contribution_rows(&[
        (Some(known.as_str()), Some("a"), Some(1.0), Some(1.0)),
        (None, Some("a"), Some(1.0), Some(1.0)),
        (
            Some("ffffffffffffffffffffffffffffffff"),
            Some("a"),
            Some(1.0),
            Some(1.0),
        ),
    ]);
    let mut b = builder(sample(), 2);
    b.append_rows(&chunk).expect("chunk accepted");
    let block = blocked(b.finish());
    assert_eq!(block.rule, Rule::EntityNull);
    assert_eq!(
        (
            block.report.rows_null_entity,
            block.report.rows_unknown_entity
        ),
        (1, 1)
    );
}

#[test]
fn malformed_contribution_rows_are_refused_whole_and_block() {
    let id = e(1);
    let good = contribution_rows(&[(Some(id.as_str()), Some("a"), Some(1.0), Some(1.0))]);
    let mut renamed =
        shuyu_abi::rows::Encoder::new(&["entity", "district_LEAK"], &["capital", "staff"])
            .expect("names fit");
    assert!(renamed.push(&[Some(id.as_str()), Some("a")], &[Some(1.0), None]));
    let mut no_entity =
        shuyu_abi::rows::Encoder::new(&["district"], &["capital", "staff"]).expect("names fit");
    assert!(no_entity.push(&[Some("LEAK")], &[Some(1.0), None]));
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"LEAK");
    let truncated = good.get(..good.len() - 3).unwrap_or_default().to_vec();
    let mut huge_count = good.clone();
    // The row count sits right before the first row; claim 2^32 - 1 rows.
    let at = good.len() - (4 + id.len() + 4 + 1 + 9 + 9);
    huge_count[at - 4..at].copy_from_slice(&u32::MAX.to_le_bytes());
    for bytes in [
        vec![],
        b"SYR2 and LEAK".to_vec(),
        renamed.bytes().to_vec(),
        no_entity.bytes().to_vec(),
        trailing,
        truncated,
        huge_count,
    ] {
        let mut b = builder(sample(), 2);
        b.append_rows(&good).expect("good chunk");
        let err = b.append_rows(&bytes).expect_err("refused");
        assert!(matches!(err, AppendError::Rows(_)), "{err}");
        assert!(!err.to_string().contains("LEAK"), "{err}");
        b.append_rows(&good)
            .expect("a good chunk after the poison is not an error");
        let block = blocked(b.finish());
        assert_eq!(block.rule, Rule::ContractSchema);
        assert!(!block.message.contains("LEAK"), "{}", block.message);
        assert_eq!(
            block.report.contribution_rows, 1,
            "nothing of a refused chunk is kept"
        );
    }
}

#[test]
fn undecodable_ipc_is_refused_and_blocks() {
    let good = ipc(&[rows(&[(1, "a", 1.0, 1)])]);
    let truncated = good.get(..good.len() / 2).unwrap_or_default().to_vec();
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"garbage after the end");
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"definitely not arrow".to_vec(),
        vec![0xff; 64],
        truncated,
        trailing,
        // A continuation marker and a huge metadata length, then nothing.
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    ];
    for bytes in cases {
        let mut b = builder(sample(), 2);
        let err = b.append_ipc(&bytes).expect_err("refused");
        assert!(
            matches!(
                err,
                AppendError::Decode | AppendError::Internal | AppendError::Refused(_)
            ),
            "{err}"
        );
        assert_eq!(blocked(b.finish()).rule, Rule::ContractSchema);
    }
}

/// The sample contract's rows as an IPC stream written with `options`.
fn ipc_with(options: IpcWriteOptions) -> Vec<u8> {
    let chunk = rows(&[(1, "a", 1.0, 1), (2, "b", 2.0, 2), (3, "a", 3.0, 3)]);
    let mut bytes = Vec::new();
    let mut writer =
        StreamWriter::try_new_with_options(&mut bytes, &chunk.schema(), options).expect("writer");
    writer.write(&chunk).expect("write");
    writer.finish().expect("finish");
    drop(writer);
    bytes
}

/// For each record batch message of `stream`: where its metadata and body start.
fn batch_messages(stream: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let word = |at: usize| u32::from_le_bytes(stream[at..at + 4].try_into().expect("4 bytes"));
        let mut size = word(pos);
        pos += 4;
        if size == u32::MAX {
            size = word(pos);
            pos += 4;
        }
        if size == 0 {
            return out;
        }
        let meta = pos;
        let message =
            arrow::ipc::root_as_message(&stream[meta..meta + size as usize]).expect("message");
        let body = meta + size as usize;
        if message.header_type() == arrow::ipc::MessageHeader::RecordBatch {
            out.push((meta, size as usize, body));
        }
        pos = body + message.bodyLength() as usize;
    }
}

/// Hostile: a compressed buffer's 8-byte prefix claims its uncompressed size; arrow reserved
/// that much before decompressing, and 2^62 bytes made the allocator abort the process (no
/// panic, so `catch_unwind` could not help). The guard now refuses compressed chunks unread.
#[test]
fn compressed_ipc_claiming_2_pow_62_bytes_is_refused_and_the_process_lives() {
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(codec))
            .expect("v5 supports compression");
        let mut bytes = ipc_with(options);
        let (meta, size, body) = batch_messages(&bytes)[0];
        let message = arrow::ipc::root_as_message(&bytes[meta..meta + size]).expect("message");
        let batch = message.header_as_record_batch().expect("batch");
        assert!(batch.compression().is_some(), "the writer compressed");
        let first = batch
            .buffers()
            .expect("buffers")
            .iter()
            .find(|b| b.length() >= 8)
            .map(|b| body + b.offset() as usize)
            .expect("a non-empty buffer");
        bytes[first..first + 8].copy_from_slice(&(1i64 << 62).to_le_bytes());

        let mut b = builder(sample(), 2);
        let err = b.append_ipc(&bytes).expect_err("refused");
        assert!(matches!(err, AppendError::Refused(_)), "{err}");
        assert!(err.to_string().contains("compressed"), "{err}");
        let block = blocked(b.finish());
        assert_eq!(block.rule, Rule::ContractSchema);
        assert_eq!(block.report.contribution_rows, 0);
    }
}

/// Hostile: buffer and column lengths patched beyond the body are refused before decoding.
#[test]
fn ipc_lengths_beyond_the_chunk_are_refused_before_decoding() {
    let good = ipc_with(IpcWriteOptions::default());
    let (meta, size, _) = batch_messages(&good)[0];
    let message = arrow::ipc::root_as_message(&good[meta..meta + size]).expect("message");
    let batch = message.header_as_record_batch().expect("batch");
    let at = |bytes: &[u8]| bytes.as_ptr() as usize - good.as_ptr() as usize;
    let buffers = at(batch.buffers().expect("buffers").bytes());
    let nodes = at(batch.nodes().expect("nodes").bytes());
    // (position of an i64 in the metadata, value): a buffer's length, a buffer's offset, a
    // column's length, a column's null count.
    let patches = [
        (buffers + 8, 1i64 << 62),
        (buffers + 16 * 3, 1i64 << 40),
        (buffers + 8, -1),
        (nodes, 1i64 << 40),
        (nodes + 8, 1i64 << 40),
    ];
    for (position, value) in patches {
        let mut bytes = good.clone();
        bytes[position..position + 8].copy_from_slice(&value.to_le_bytes());
        let mut b = builder(sample(), 2);
        let err = b.append_ipc(&bytes).expect_err("refused");
        assert!(matches!(err, AppendError::Refused(_)), "{position}: {err}");
        assert_eq!(blocked(b.finish()).rule, Rule::ContractSchema);
    }
    // The unpatched stream still goes through.
    let mut b = builder(sample(), 2);
    b.append_ipc(&good).expect("plain stream accepted");
}

#[test]
fn dictionary_encoded_ipc_is_refused() {
    let dictionary: arrow::array::DictionaryArray<arrow::datatypes::Int32Type> =
        vec!["a", "b", "a"].into_iter().collect();
    let schema = Schema::new(vec![Field::new(
        "entity",
        dictionary.data_type().clone(),
        true,
    )]);
    let chunk = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(dictionary) as ArrayRef])
        .expect("batch");
    let mut b = builder(sample(), 2);
    let err = b.append_ipc(&ipc(&[chunk])).expect_err("refused");
    assert!(matches!(err, AppendError::Refused(_)), "{err}");
}

#[test]
fn corrupted_ipc_never_panics_out_of_the_guard() {
    let good = ipc(&[rows(&[(1, "a", 1.0, 1), (2, "b", 2.0, 2)])]);
    for position in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bytes = good.clone();
            if let Some(byte) = bytes.get_mut(position) {
                *byte ^= flip;
            }
            let mut b = builder(sample(), 2);
            let _ = b.append_ipc(&bytes);
            let _ = b.finish();
        }
    }
}

#[test]
fn ipc_with_several_batches_and_chunks_matches_one_batch() {
    let all = [
        (1, "b", 10.0, 1),
        (2, "a", 20.0, 2),
        (3, "b", 30.0, 3),
        (1, "a", 99.0, 9), // dropped by the bound
        (4, "a", 40.5, 4),
        (5, "c", 50.0, 5),
        (6, "b", 1e9, -1),
        (7, "a", 0.1, 0),
        (8, "a", 0.2, 0),
    ];
    let one = released(run(sample(), 2, &[rows(&all)]));

    let mut b = builder(sample(), 2);
    b.append_ipc(&ipc(&[rows(&all[..2]), rows(&all[2..3])]))
        .expect("chunk 1");
    b.append_ipc(&ipc(&[rows(&all[3..7])])).expect("chunk 2");
    b.append_batch(&rows(&all[7..])).expect("chunk 3");
    let three = released(b.finish());
    assert_eq!(one.table, three.table);
    assert_eq!(one.report, three.report);
    assert_eq!(one.report.groups_suppressed, 1);
    assert_eq!(one.report.rows_dropped_by_bound, 1);
}

#[test]
fn output_is_sorted_whatever_the_input_order() {
    let mut all = vec![];
    let mut n = 0;
    for district in ["西湖区", "上城区", "b", "a", "B"] {
        for _ in 0..2 {
            n += 1;
            all.push((n, district, 1.0, 1));
        }
    }
    let nulls = [e(40), e(41)];
    let null_rows: Vec<Row<'_>> = nulls
        .iter()
        .map(|id| (Some(id.as_str()), None, Some(1.0), Some(1)))
        .collect();
    let forward = released(run(sample(), 2, &[rows(&all), batch(&null_rows)]));
    all.reverse();
    let backward = released(run(sample(), 2, &[batch(&null_rows), rows(&all)]));
    assert_eq!(forward.table, backward.table);
    assert_eq!(
        strings(&forward.table, "district"),
        [None, s("B"), s("a"), s("b"), s("上城区"), s("西湖区")]
    );
}

#[test]
fn domain_violation_blocks_without_naming_the_value() {
    let mut contract = sample();
    contract.dimensions[0].values = Some(vec!["上城区".into(), "西湖区".into()]);
    let ok = rows(&[(1, "上城区", 1.0, 1), (2, "上城区", 1.0, 1)]);
    released(run(contract.clone(), 2, std::slice::from_ref(&ok)));
    let bad = rows(&[(3, "SMUGGLED", 1.0, 1)]);
    let block = blocked(run(contract, 2, &[ok, bad]));
    assert_eq!(block.rule, Rule::DimensionDomain);
    assert!(block.message.contains("district"));
    assert!(!block.message.contains("SMUGGLED"), "{}", block.message);
}

#[test]
fn too_many_groups_blocks() {
    let mut contract = sample();
    contract.max_groups = 3;
    let chunk = rows(&[
        (1, "a", 1.0, 1),
        (2, "b", 1.0, 1),
        (3, "c", 1.0, 1),
        (4, "d", 1.0, 1),
        (5, "a", 1.0, 1),
    ]);
    let block = blocked(run(contract, 2, &[chunk]));
    assert_eq!(block.rule, Rule::SizeGroups);
    assert_eq!(block.report.groups_total, 3);

    let long = "L".repeat(MAX_KEY_VALUE_BYTES + 1);
    let chunk = rows(&[(1, long.as_str(), 1.0, 1), (2, long.as_str(), 1.0, 1)]);
    let block = blocked(run(sample(), 2, &[chunk]));
    assert_eq!(block.rule, Rule::SizeGroups);
    assert!(!block.message.contains("LLLL"), "{}", block.message);
}

#[test]
fn pseudonym_in_a_dimension_cell_blocks() {
    let entity_pseudonym = e(9);
    for cell in [
        OTHER_PSEUDONYM.to_owned(),
        entity_pseudonym.clone(),
        format!("district-{OTHER_PSEUDONYM}-x"),
        entity_pseudonym.to_uppercase(),
    ] {
        let chunk = rows(&[(1, cell.as_str(), 1.0, 1), (2, cell.as_str(), 1.0, 1)]);
        let block = blocked(run(sample(), 2, &[chunk]));
        assert_eq!(block.rule, Rule::ScanPseudonym, "{cell}");
        assert!(block.message.contains("district"));
        assert!(!block.message.contains(&cell), "{}", block.message);
        assert!(
            !block.message.to_lowercase().contains(&entity_pseudonym),
            "{}",
            block.message
        );
        assert!(
            !block.message.contains(OTHER_PSEUDONYM),
            "{}",
            block.message
        );
    }
}

#[test]
fn identifiers_in_a_dimension_cell_block() {
    let fabricated = citizen_id();
    for cell in [
        fabricated.clone(),
        format!("张三{fabricated}"),
        RAW_ID.to_owned(),
    ] {
        let chunk = rows(&[(1, cell.as_str(), 1.0, 1), (2, cell.as_str(), 1.0, 1)]);
        let block = blocked(run(sample(), 2, &[chunk]));
        assert_eq!(block.rule, Rule::ScanIdentifier, "{cell}");
        assert!(!block.message.contains(&cell), "{}", block.message);
        assert!(!block.message.contains(&fabricated), "{}", block.message);
    }
}

#[test]
fn suppressed_groups_are_scanned_too() {
    // A pseudonym smuggled into a group too small to be released is still an attempt: it is
    // blocked and recorded under the scan rule, not hidden in the suppression count.
    let chunk = rows(&[
        (1, "a", 1.0, 1),
        (2, "a", 1.0, 1),
        (3, OTHER_PSEUDONYM, 1.0, 1),
    ]);
    let block = blocked(run(sample(), 2, &[chunk]));
    assert_eq!(block.rule, Rule::ScanPseudonym);
    assert!(
        !block.message.contains(OTHER_PSEUDONYM),
        "{}",
        block.message
    );
}

#[test]
fn invalid_contract_blocks_everything() {
    let mut contract = sample();
    contract.k = 1;
    let mut b = builder(contract, 5);
    let err = b
        .append_batch(&rows(&[(1, "a", 1.0, 1)]))
        .expect_err("refused");
    assert!(matches!(err, AppendError::Contract { .. }));
    let block = blocked(b.finish());
    assert_eq!(block.rule, Rule::ContractSchema);
    assert!(block.message.contains("k"));
}

#[test]
fn release_without_dimensions_is_one_group() {
    let mut contract = sample();
    contract.dimensions.clear();
    let schema = Schema::new(vec![
        Field::new("entity", DataType::Utf8, false),
        Field::new("capital", DataType::Float64, false),
        Field::new("staff", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![e(1), e(2), e(3)])),
        Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])),
        Arc::new(Int64Array::from(vec![1, 1, 1])),
    ];
    let chunk = RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch");
    let out = released(run(contract, 2, &[chunk]));
    assert_eq!(out.table.num_rows(), 1);
    assert_eq!(out.table.num_columns(), 5);
    assert_eq!(ints(&out.table, "entities"), [3]);
    assert_eq!(floats(&out.table, "capital_mean"), [Some(2.0)]);
}

#[test]
fn many_rows_of_few_entities_stay_bounded() {
    // 200,000 rows of two entities: the ledger holds two counters, the table one group.
    let ids = [e(1), e(2)];
    let rows: Vec<Row<'_>> = (0..200_000)
        .map(|i| (Some(ids[i % 2].as_str()), Some("a"), Some(1.0), Some(1)))
        .collect();
    let out = released(run(sample(), 2, &[batch(&rows)]));
    assert_eq!(out.report.rows_dropped_by_bound, 199_998);
    assert_eq!(out.report.entities, 2);
    assert_eq!(ints(&out.table, "capital_count"), [2]);
}

#[test]
fn the_report_serializes_to_counts() {
    let report = ReleaseReport::new(5, 1);
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["k"], 5);
    assert!(
        json["suppression_rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("fewer than k=5 distinct entities")),
        "{json}"
    );
}

/// The sample contract at k = 5 under the default dominance rule (2, 85 %).
fn k5_default_dominance() -> ReleaseContract {
    let mut contract = sample();
    contract.k = 5;
    contract.dominance = DEFAULT_DOMINANCE;
    contract
}

/// Ten honest entities (numbers 20..30) in group "h", with spread values.
fn honest_rows() -> Vec<(u32, &'static str, f64, i64)> {
    (20..30)
        .map(|n| (n, "h", f64::from(n), i64::from(n % 7 + 1)))
        .collect()
}

/// Hostile: the target and k − 1 real entities sending zeros or nulls. The group had 5 distinct
/// entities, so it passed k = 5 and released the target's exact capital and staff.
#[test]
fn a_target_among_zero_and_null_decoys_is_suppressed() {
    let ids: Vec<String> = (1..=5).map(e).collect();
    let mut rows: Vec<Row<'_>> = vec![(Some(ids[0].as_str()), Some("t"), Some(73.0), Some(7))];
    rows.push((Some(ids[1].as_str()), Some("t"), Some(0.0), Some(0)));
    rows.push((Some(ids[2].as_str()), Some("t"), Some(0.0), Some(0)));
    rows.push((Some(ids[3].as_str()), Some("t"), None, None));
    rows.push((Some(ids[4].as_str()), Some("t"), None, Some(0)));
    let out = released(run(
        k5_default_dominance(),
        5,
        &[batch(&rows), rows_of(&honest_rows())],
    ));
    assert_eq!(strings(&out.table, "district"), [s("h")]);
    assert_eq!(out.report.groups_suppressed, 1);
    assert_eq!(out.report.rows_suppressed, 5);

    // Alone, the decoyed group blocks the release: nothing else would leave.
    let block = blocked(run(k5_default_dominance(), 5, &[batch(&rows)]));
    assert_eq!(block.rule, Rule::ThresholdAllSuppressed);
    assert!(!block.message.contains("73"), "{}", block.message);
}

/// Hostile: one large contributor among many tiny ones; the sum is almost exactly its value.
#[test]
fn a_dominant_contributor_among_tiny_ones_is_suppressed() {
    let mut all = vec![(1, "d", 100.0, 9)];
    all.extend((2..=15).map(|n| (n, "d", 0.01, 1)));
    all.extend(honest_rows());
    let out = released(run(k5_default_dominance(), 5, &[rows_of(&all)]));
    assert_eq!(strings(&out.table, "district"), [s("h")]);
    assert_eq!(out.report.groups_suppressed, 1);
    assert!(out
        .report
        .suppression_rule
        .contains("2 largest contributors hold more than 85%"));
    assert_eq!(out.policy["contract"]["dominance"]["n"], 2);
}

#[test]
fn honest_groups_release_under_the_default_threshold() {
    let out = released(run(k5_default_dominance(), 5, &[rows_of(&honest_rows())]));
    assert_eq!(ints(&out.table, "entities"), [10]);
    assert_eq!(floats(&out.table, "capital_sum"), [Some(245.0)]);
    assert_eq!(out.report.groups_suppressed, 0);
}

/// A block names the step that made it, and that step lists the block's rule; a released table
/// lists every step of its mode, in order.
#[test]
fn blocks_name_their_step_and_releases_list_the_steps_passed() {
    let step_of = |block: &Block| {
        THRESHOLD_STEPS
            .iter()
            .find(|s| s.name == block.step)
            .unwrap_or_else(|| panic!("{} is a step", block.step))
    };

    let small = rows(&[(1, "row-1", 1.0, 0), (2, "row-2", 1.0, 0)]);
    let block = blocked(run(sample(), 2, &[small]));
    assert_eq!(
        (block.step, block.rule),
        ("threshold", Rule::ThresholdAllSuppressed)
    );
    assert!(step_of(&block).rules.contains(&block.rule));

    let stranger = "0123456789abcdef0123456789abcdef";
    let unknown = batch(&[(Some(stranger), Some("a"), Some(1.0), Some(1))]);
    let block = blocked(run(sample(), 2, &[unknown]));
    assert_eq!((block.step, block.rule), ("entity", Rule::EntityUnknown));
    assert!(step_of(&block).rules.contains(&block.rule));

    let mut poisoned = builder(sample(), 2);
    let _ = poisoned.append_ipc(b"not arrow");
    let block = blocked(poisoned.finish());
    assert_eq!((block.step, block.rule), ("contract", Rule::ContractSchema));

    let chunk = rows(&[
        (1, "上城区", 10.0, 1),
        (2, "上城区", 20.0, 2),
        (3, "上城区", 30.0, 3),
    ]);
    let out = released(run(sample(), 2, &[chunk]));
    let all: Vec<_> = THRESHOLD_STEPS.iter().map(|s| s.name).collect();
    assert_eq!(out.steps, all);
}

/// Pseudonyms spread over both entity shards (the test entities `e(n)` all start with a zero
/// byte, so they share one).
fn spread(n: u32) -> String {
    format!(
        "{:032x}",
        u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

/// A workload row: entity number, district, capital, staff.
type WorkRow = (usize, String, Option<f64>, Option<i64>);

/// 20,000 rows of 3,000 entities (some sending more than L rows) in 40 districts, with null
/// and clamped values, in stream order.
fn shard_workload() -> (Vec<String>, Vec<WorkRow>) {
    let entities: Vec<String> = (0..3_000).map(spread).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut draw = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let rows = (0..20_000)
        .map(|_| {
            let entity = draw(3_000) as usize;
            let district = format!("d{}", draw(40));
            let capital = (draw(10) > 0).then(|| draw(12_000) as f64 / 100.0 + 0.001);
            let staff = (draw(7) > 0).then(|| draw(15) as i64);
            (entity, district, capital, staff)
        })
        .collect();
    (entities, rows)
}

#[test]
fn shards_on_two_threads_decide_as_small_chunks_on_one_and_as_a_plain_count() {
    let (entities, workload) = shard_workload();
    let oracle: Arc<dyn IdentifierOracle> = Arc::new(
        SetOracle::from_parts(&entities, Vec::<&str>::new(), Vec::<String>::new()).expect("valid"),
    );
    let mut contract = sample();
    contract.max_rows_per_entity = 2;
    let rows: Vec<Row<'_>> = workload
        .iter()
        .map(|(entity, district, capital, staff)| {
            (
                Some(entities[*entity].as_str()),
                Some(district.as_str()),
                *capital,
                *staff,
            )
        })
        .collect();
    let decide = |chunk: usize, second_thread: bool| {
        let mut b = ReleaseBuilder::new(Arc::new(contract.clone()), 2, oracle.clone())
            .with_second_thread(second_thread);
        for part in rows.chunks(chunk) {
            b.append_batch(&batch(part)).expect("chunk accepted");
        }
        released(b.finish())
    };
    // One chunk with a second thread: both shards at once. The same on one thread, and in
    // chunks of 500 rows (below the size that starts a thread).
    let whole = decide(rows.len(), true);
    for (chunk, second_thread) in [(rows.len(), false), (500, true)] {
        let other = decide(chunk, second_thread);
        assert_eq!(whole.report, other.report);
        assert_eq!(whole.table, other.table, "bit-identical tables");
    }

    // And what a plain count says: each entity's first L rows are kept.
    let mut seen = HashMap::<usize, u32>::new();
    let mut per_district = BTreeMap::<&str, (BTreeSet<usize>, f64)>::new();
    for (entity, district, capital, _) in &workload {
        let n = seen.entry(*entity).or_default();
        *n += 1;
        if *n > 2 {
            continue;
        }
        let d = per_district.entry(district.as_str()).or_default();
        d.0.insert(*entity);
        d.1 += capital.unwrap_or(0.0).clamp(0.0, 100.0);
    }
    assert_eq!(whole.report.entities as usize, seen.len());
    let kept: usize = seen.values().map(|n| (*n).min(2) as usize).sum();
    assert_eq!(
        whole.report.rows_dropped_by_bound as usize,
        rows.len() - kept
    );
    let districts = strings(&whole.table, "district");
    let counts = ints(&whole.table, "entities");
    let sums = floats(&whole.table, "capital_sum");
    assert_eq!(districts.len(), per_district.len());
    for ((district, count), sum) in districts.iter().zip(counts).zip(sums) {
        let (members, total) = &per_district[district.as_deref().expect("a district")];
        assert_eq!(count as usize, members.len(), "{district:?}");
        let sum = sum.expect("a sum");
        assert!(
            (sum - total).abs() < 1e-6 * total.max(1.0),
            "{district:?}: {sum} against {total}"
        );
    }
}

#[test]
fn shards_agree_on_blocks_too() {
    let (entities, workload) = shard_workload();
    // Half the entities unknown to the oracle, and some rows without an entity.
    let oracle: Arc<dyn IdentifierOracle> = Arc::new(
        SetOracle::from_parts(
            entities.iter().step_by(2),
            Vec::<&str>::new(),
            Vec::<String>::new(),
        )
        .expect("valid"),
    );
    let rows: Vec<Row<'_>> = workload
        .iter()
        .enumerate()
        .map(|(i, (entity, district, capital, staff))| {
            let entity = (i % 97 != 0).then(|| entities[*entity].as_str());
            (entity, Some(district.as_str()), *capital, *staff)
        })
        .collect();
    let decide = |chunk: usize, second_thread: bool| {
        let mut b = ReleaseBuilder::new(Arc::new(sample()), 2, oracle.clone())
            .with_second_thread(second_thread);
        for part in rows.chunks(chunk) {
            b.append_batch(&batch(part)).expect("chunk accepted");
        }
        blocked(b.finish())
    };
    let whole = decide(rows.len(), true);
    let small = decide(300, false);
    assert_eq!((whole.rule, &whole.message), (small.rule, &small.message));
    assert_eq!(whole.report, small.report);
    assert_eq!(whole.rule, Rule::EntityNull);
    assert_eq!(whole.report.rows_null_entity, 207);
    assert!(whole.report.rows_unknown_entity > 0);
    let known: BTreeSet<usize> = workload
        .iter()
        .enumerate()
        .filter(|(i, (entity, ..))| i % 97 != 0 && entity % 2 == 0)
        .map(|(_, (entity, ..))| *entity)
        .collect();
    assert_eq!(whole.report.entities as usize, known.len());
}

/// An oracle that knows the same entities but not how many there are.
struct Uncounted(SetOracle);

impl IdentifierOracle for Uncounted {
    fn is_entity(&self, pseudonym: &str) -> bool {
        self.0.is_entity(pseudonym)
    }
    fn is_entity_key(&self, key: &[u8; 16]) -> bool {
        self.0.is_entity_key(key)
    }
    fn is_pseudonym(&self, text: &str) -> bool {
        self.0.is_pseudonym(text)
    }
    fn is_raw_identifier(&self, text: &str) -> bool {
        self.0.is_raw_identifier(text)
    }
    fn is_raw_identifier_folded(&self, folded: &str) -> bool {
        self.0.is_raw_identifier_folded(folded)
    }
}

#[test]
fn tables_sized_from_the_entity_count_decide_as_tables_grown_row_by_row() {
    // Enough entities for both shards' tables to pass the size at which they are sized, a few
    // of them sending more than L rows.
    let n = 150_000u32;
    let entities: Vec<String> = (0..n).map(spread).collect();
    let set = || {
        SetOracle::from_parts(&entities, Vec::<&str>::new(), Vec::<String>::new()).expect("valid")
    };
    let counted: Arc<dyn IdentifierOracle> = Arc::new(set());
    let uncounted: Arc<dyn IdentifierOracle> = Arc::new(Uncounted(set()));
    assert_eq!(counted.entity_count(), Some(n as usize));
    assert_eq!(uncounted.entity_count(), None);
    let rows: Vec<Row<'_>> = (0..n + 5_000)
        .map(|i| {
            let entity = entities[(i % n) as usize].as_str();
            let district = ["a", "b", "c"][(i % 3) as usize];
            (
                Some(entity),
                Some(district),
                Some(f64::from(i % 90)),
                Some(1),
            )
        })
        .collect();
    let mut contract = sample();
    contract.max_rows_per_entity = 1;
    let decide = |oracle: &Arc<dyn IdentifierOracle>| {
        let mut b = ReleaseBuilder::new(Arc::new(contract.clone()), 2, oracle.clone());
        for part in rows.chunks(8_192) {
            b.append_batch(&batch(part)).expect("chunk accepted");
        }
        released(b.finish())
    };
    let sized = decide(&counted);
    let grown = decide(&uncounted);
    assert_eq!(sized.report, grown.report);
    assert_eq!(sized.table, grown.table, "bit-identical tables");
    assert_eq!(sized.report.entities, u64::from(n));
    assert_eq!(sized.report.rows_dropped_by_bound, 5_000);
}
