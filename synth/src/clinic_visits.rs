//! `clinic_visits`: outpatient visits in 2025 (卫生健康委员会), about two per resident: small
//! children and the old visit most, paediatrics for children, obstetrics for women of
//! child-bearing age, and the big central hospitals draw patients from every district.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Float64Builder, StringBuilder};
use arrow::datatypes::Schema;
use chrono::{Duration, NaiveDate};
use rand::Rng;

use super::dates::{date32, ymd, ACTIVITY_YEAR};
use super::dist::{cents, log_normal, poisson, Weighted};
use super::geo::DISTRICTS;
use super::people::Person;
use super::sink::{Columns, ParquetSink};
use super::spec::{column, join_key, ColumnExt};
use super::{seed, GenerateError, World};
use shuyu_datasets::manifest::{
    ColumnClass::*, ColumnType::*, DatasetInfo, DatasetManifest, IdentifierKind, OpenAttribute,
};

/// The dataset's name.
pub(super) const NAME: &str = "clinic_visits";

/// Highest cost generated, yuan; also the provider's clamp.
const MAX_COST: f64 = 50_000.0;

/// Share of visits in the patient's own district.
const LOCAL_SHARE: f64 = 0.75;

/// Departments and the median cost of a visit there, yuan.
const DEPARTMENTS: [(&str, f64); 11] = [
    ("内科", 260.0),
    ("外科", 420.0),
    ("儿科", 190.0),
    ("妇产科", 380.0),
    ("口腔科", 460.0),
    ("眼科", 300.0),
    ("中医科", 240.0),
    ("皮肤科", 200.0),
    ("耳鼻咽喉科", 230.0),
    ("骨科", 520.0),
    ("急诊科", 650.0),
];

/// Department weights (in [`DEPARTMENTS`] order) for children under 14.
const CHILD: [f64; 11] = [0.0, 2.0, 60.0, 0.0, 8.0, 8.0, 2.0, 6.0, 8.0, 1.0, 8.0];
/// For men 14–64.
const MAN: [f64; 11] = [35.0, 10.0, 0.0, 0.0, 8.0, 6.0, 8.0, 6.0, 6.0, 8.0, 8.0];
/// For women 14–49.
const YOUNG_WOMAN: [f64; 11] = [30.0, 6.0, 0.0, 18.0, 8.0, 6.0, 9.0, 7.0, 6.0, 4.0, 6.0];
/// For women 50–64.
const WOMAN: [f64; 11] = [38.0, 7.0, 0.0, 4.0, 8.0, 7.0, 11.0, 5.0, 6.0, 8.0, 6.0];
/// For everyone 65 and over.
const ELDER: [f64; 11] = [45.0, 6.0, 0.0, 0.0, 5.0, 10.0, 12.0, 2.0, 2.0, 10.0, 8.0];

/// The manifest of the dataset.
pub(super) fn manifest(acquired: NaiveDate) -> DatasetManifest {
    DatasetManifest {
        dataset: DatasetInfo {
            name: NAME.into(),
            title: "门诊就诊记录".into(),
            description: "2025年本市医疗机构门诊就诊记录：就诊人公民身份号码、就诊日期、医疗机构所在区县、科室和费用。合成数据。".into(),
            provider: "卫生健康委员会".into(),
            update_frequency: "daily".into(),
            open: OpenAttribute::NotOpen,
            level: 4,
            entity_column: "citizen_id".into(),
            min_k: 10,
            acquired,
            data: shuyu_datasets::manifest::DEFAULT_DATA_FILE.into(),
            privacy_budget: None,
        },
        columns: vec![
            join_key("citizen_id", IdentifierKind::CitizenId, "就诊人公民身份号码，见 residents.citizen_id"),
            column("visit_date", Date32, QuasiIdentifier, "就诊日期").dimension(),
            column("district", Utf8, Attribute, "医疗机构所在区县").dimension(),
            column("department", Utf8, Attribute, "就诊科室").dimension(),
            column("cost", Float64, Sensitive, "门诊费用（元）").measure(0.0, MAX_COST),
        ],
    }
}

#[derive(Default)]
struct Cols {
    citizen_id: StringBuilder,
    visit_date: Date32Builder,
    district: StringBuilder,
    department: StringBuilder,
    cost: Float64Builder,
}

impl Columns for Cols {
    fn len(&self) -> usize {
        self.citizen_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.citizen_id.finish()),
            Arc::new(self.visit_date.finish()),
            Arc::new(self.district.finish()),
            Arc::new(self.department.finish()),
            Arc::new(self.cost.finish()),
        ]
    }
}

/// Expected visits in a year by age; averages about two over the city's age mix.
fn mean_visits(age: i64) -> f64 {
    match age {
        0..=6 => 3.6,
        7..=13 => 1.5,
        14..=44 => 1.2,
        45..=64 => 2.1,
        65..=79 => 3.8,
        _ => 4.8,
    }
}

/// Writes the visits to `path`; returns the number of rows.
pub(super) fn write(world: &World, path: &Path, schema: Schema) -> Result<u64, GenerateError> {
    let mut rng = seed::stream(world.seed, NAME);
    let tables = [CHILD, MAN, YOUNG_WOMAN, WOMAN, ELDER].map(Weighted::new);
    let hospitals = Weighted::new(DISTRICTS.iter().map(|d| d.hospitals));
    let first_day = ymd(ACTIVITY_YEAR, 1, 1);
    let days_in_year = (ymd(ACTIVITY_YEAR + 1, 1, 1) - first_day).num_days();
    let mut out = ParquetSink::create(path, schema, Cols::default())?;
    let mut days = Vec::new();
    for person in world.people() {
        let p = person?;
        let visits = poisson(&mut rng, mean_visits(p.age));
        days.clear();
        days.extend((0..visits).map(|_| rng.random_range(0..days_in_year)));
        days.sort_unstable();
        let departments = &tables[table_for(&p)];
        for &day in &days {
            let (department, median) = DEPARTMENTS[departments.sample(&mut rng)];
            let district = if rng.random_bool(LOCAL_SHARE) {
                p.district
            } else {
                &DISTRICTS[hospitals.sample(&mut rng)]
            };
            let age_factor = if p.age >= 65 { 1.3 } else { 1.0 };
            let cost = cents(log_normal(&mut rng, median * age_factor, 0.8)).clamp(1.0, MAX_COST);
            let c = &mut out.cols;
            c.citizen_id.append_value(&p.citizen_id);
            c.visit_date
                .append_value(date32(first_day + Duration::days(day)));
            c.district.append_value(district.name);
            c.department.append_value(department);
            c.cost.append_value(cost);
            out.row_done()?;
        }
    }
    out.finish()
}

/// Index into the department tables for a patient.
fn table_for(p: &Person) -> usize {
    match (p.age, p.male) {
        (0..=13, _) => 0,
        (65.., _) => 4,
        (_, true) => 1,
        (14..=49, false) => 2,
        (_, false) => 3,
    }
}
