//! End-to-end checks of generated data: determinism, schemas against manifests, identifier
//! validity and consistency across datasets.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_datasets::{citizen_id_is_valid, usci_is_valid, DatasetManifest};
use shuyu_synth::{generate, GenerateOptions, DATASET_NAMES};

fn options(scale: f64) -> GenerateOptions {
    GenerateOptions {
        scale,
        ..Default::default()
    }
}

fn read_batches(dir: &Path, name: &str) -> (DatasetManifest, Vec<RecordBatch>) {
    let folder = dir.join(name);
    let manifest =
        DatasetManifest::from_toml_str(&fs::read_to_string(folder.join("dataset.toml")).unwrap())
            .unwrap();
    manifest.validate().unwrap();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(File::open(folder.join("data.parquet")).unwrap())
            .unwrap();
    let batches = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (manifest, batches)
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap().as_string::<i32>().clone();
            (0..a.len())
                .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn present(batches: &[RecordBatch], column: &str) -> Vec<String> {
    strings(batches, column).into_iter().flatten().collect()
}

fn district_count(values: &[String]) -> usize {
    values.iter().collect::<BTreeSet<_>>().len()
}

#[test]
fn same_options_give_identical_bytes_and_only_matches_full_run() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    let written = generate(a.path(), &options(0.05), &mut |l| lines.push(l.to_string())).unwrap();
    generate(b.path(), &options(0.05), &mut |_| {}).unwrap();
    let only = GenerateOptions {
        only: Some(vec!["clinic_visits".into(), "tax_payments".into()]),
        ..options(0.05)
    };
    let partial = generate(c.path(), &only, &mut |_| {}).unwrap();

    assert_eq!(written.len(), 5);
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("enterprise_registry: ") && lines[0].ends_with(" rows"));
    assert_eq!(
        partial.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["tax_payments", "clinic_visits"]
    );
    for name in DATASET_NAMES {
        for file in ["data.parquet", "dataset.toml"] {
            let x = fs::read(a.path().join(name).join(file)).unwrap();
            let y = fs::read(b.path().join(name).join(file)).unwrap();
            assert!(x == y, "{name}/{file} differs between runs");
            if partial.iter().any(|d| d.name == name) {
                let z = fs::read(c.path().join(name).join(file)).unwrap();
                assert!(x == z, "{name}/{file} differs when generated alone");
            } else {
                assert!(!c.path().join(name).exists());
            }
        }
    }
    // Regenerating over existing files replaces them and leaves no temporaries.
    generate(a.path(), &options(0.05), &mut |_| {}).unwrap();
    for name in DATASET_NAMES {
        let mut files: Vec<_> = fs::read_dir(a.path().join(name))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["data.parquet", "dataset.toml"]);
    }
    // A different seed gives different data.
    let d = tempfile::tempdir().unwrap();
    let other = GenerateOptions {
        seed: 7,
        only: Some(vec!["residents".into()]),
        ..options(0.05)
    };
    generate(d.path(), &other, &mut |_| {}).unwrap();
    assert_ne!(
        fs::read(a.path().join("residents/data.parquet")).unwrap(),
        fs::read(d.path().join("residents/data.parquet")).unwrap()
    );
}

#[test]
fn schemas_identifiers_and_relations() {
    let dir = tempfile::tempdir().unwrap();
    let written = generate(dir.path(), &options(0.1), &mut |_| {}).unwrap();
    let rows: BTreeMap<_, _> = written.iter().map(|d| (d.name.as_str(), d.rows)).collect();

    let mut data = BTreeMap::new();
    for name in DATASET_NAMES {
        let folder = dir.path().join(name);
        let builder = ParquetRecordBatchReaderBuilder::try_new(
            File::open(folder.join("data.parquet")).unwrap(),
        )
        .unwrap();
        let (manifest, batches) = read_batches(dir.path(), name);
        // The Parquet file's Arrow schema is exactly the manifest's, field by field.
        let schema = builder.schema();
        let expected = manifest.arrow_schema();
        assert_eq!(schema.fields().len(), expected.fields().len(), "{name}");
        for (got, want) in schema.fields().iter().zip(expected.fields()) {
            assert_eq!(got.name(), want.name(), "{name}");
            assert_eq!(got.data_type(), want.data_type(), "{name}.{}", want.name());
            assert_eq!(
                got.is_nullable(),
                want.is_nullable(),
                "{name}.{}",
                want.name()
            );
        }
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(total as u64, rows[name], "{name}");
        assert!(batches.iter().all(|b| b.num_rows() <= 65_536));
        // No nulls where the manifest promises none.
        for b in &batches {
            for (field, col) in b.schema().fields().iter().zip(b.columns()) {
                if !field.is_nullable() {
                    assert_eq!(col.null_count(), 0, "{name}.{}", field.name());
                }
            }
        }
        data.insert(name, (manifest, batches));
    }

    let registry = &data["enterprise_registry"].1;
    let usci = present(registry, "usci");
    assert_eq!(usci.len(), 1000);
    assert!(usci.iter().all(|c| usci_is_valid(c)), "invalid USCI");
    let usci_set: BTreeSet<_> = usci.iter().cloned().collect();
    assert_eq!(usci_set.len(), usci.len(), "registry codes repeat");

    let residents = &data["residents"].1;
    let ids = present(residents, "citizen_id");
    assert_eq!(ids.len(), 5000);
    assert!(
        ids.iter().all(|c| citizen_id_is_valid(c)),
        "invalid citizen ID"
    );
    let id_set: BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(id_set.len(), ids.len(), "citizen IDs repeat");
    assert_eq!(district_count(&present(residents, "district")), 13);

    for rep in present(registry, "legal_rep_id") {
        assert!(
            id_set.contains(&rep),
            "legal representative {rep} is not a resident"
        );
    }
    for table in ["tax_payments", "social_insurance"] {
        for code in present(&data[table].1, "usci") {
            assert!(
                usci_set.contains(&code),
                "{table} code {code} not registered"
            );
        }
    }
    let employers = strings(residents, "employer_usci");
    let employed = employers.iter().flatten().count();
    assert!(employed > 0 && employed < employers.len());
    for code in employers.iter().flatten() {
        assert!(usci_set.contains(code), "employer {code} not registered");
    }
    for id in present(&data["clinic_visits"].1, "citizen_id") {
        assert!(id_set.contains(&id), "patient {id} is not a resident");
    }

    // Gender, birth date and district agree with the citizen ID.
    let genders = present(residents, "gender");
    let districts = present(residents, "district");
    let births: Vec<i32> = residents
        .iter()
        .flat_map(|b| {
            b.column_by_name("birth_date")
                .unwrap()
                .as_primitive::<Date32Type>()
                .values()
                .to_vec()
        })
        .collect();
    let ages: Vec<i64> = residents
        .iter()
        .flat_map(|b| {
            b.column_by_name("age")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    let incomes: Vec<f64> = residents
        .iter()
        .flat_map(|b| {
            b.column_by_name("income")
                .unwrap()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let mut district_of_code = BTreeMap::new();
    for i in 0..ids.len() {
        let seq: u32 = ids[i][14..17].parse().unwrap();
        assert_eq!(genders[i], if seq % 2 == 1 { "男" } else { "女" });
        let birth = epoch + chrono::Duration::days(i64::from(births[i]));
        assert_eq!(ids[i][6..14], birth.format("%Y%m%d").to_string());
        if ages[i] < 16 {
            assert_eq!(incomes[i], 0.0);
        }
        assert!((0.0..=5_000_000.0).contains(&incomes[i]));
        // Each division code names one district.
        let name = district_of_code
            .entry(ids[i][..6].to_string())
            .or_insert_with(|| districts[i].clone());
        assert_eq!(*name, districts[i]);
    }
}
