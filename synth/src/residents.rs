//! `residents`: one row per registered resident (公安局), with age, district, annual income and,
//! for most people of working age, the employer's credit code.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow::datatypes::Schema;
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::Rng;

use super::dates::date32;
use super::dist::log_normal;
use super::firms::Status;
use super::people::Person;
use super::sink::{Columns, ParquetSink};
use super::spec::{column, identifier, join_key, ColumnExt};
use super::{seed, GenerateError, World};
use shuyu_datasets::manifest::{
    ColumnClass::*, ColumnType::*, DatasetInfo, DatasetManifest, IdentifierKind, OpenAttribute,
};

/// The dataset's name.
pub(super) const NAME: &str = "residents";

/// Highest income generated, yuan; also the provider's clamp.
const MAX_INCOME: f64 = 5_000_000.0;

/// Attempts to find an employer before leaving the field empty.
const EMPLOYER_TRIES: u32 = 64;

/// The manifest of the dataset.
pub(super) fn manifest(acquired: NaiveDate) -> DatasetManifest {
    DatasetManifest {
        dataset: DatasetInfo {
            name: NAME.into(),
            title: "常住人口信息".into(),
            description: "本市户籍及常住人口：公民身份号码、姓名、性别、出生日期、年龄、居住区县、上年度收入和就业单位。合成数据。".into(),
            provider: "公安局".into(),
            update_frequency: "monthly".into(),
            open: OpenAttribute::NotOpen,
            level: 3,
            entity_column: "citizen_id".into(),
            min_k: 10,
            acquired,
            data: shuyu_datasets::manifest::DEFAULT_DATA_FILE.into(),
            privacy_budget: None,
        },
        columns: vec![
            join_key("citizen_id", IdentifierKind::CitizenId, "公民身份号码（GB 11643），前6位为居住区县代码"),
            identifier("name", IdentifierKind::Other, "姓名"),
            column("gender", Utf8, Attribute, "性别：男、女（与身份号码顺序码奇偶一致）").dimension(),
            column("birth_date", Date32, QuasiIdentifier, "出生日期"),
            column("age", Int64, QuasiIdentifier, "2026年1月1日的周岁年龄").dimension().measure(0.0, 120.0),
            column("district", Utf8, Attribute, "居住区县").dimension(),
            column("income", Float64, Sensitive, "2025年收入（元），未成年人为0").measure(0.0, MAX_INCOME),
            join_key("employer_usci", IdentifierKind::Usci, "就业单位统一社会信用代码，见 enterprise_registry.usci；无就业单位为空").nullable(),
        ],
    }
}

#[derive(Default)]
struct Cols {
    citizen_id: StringBuilder,
    name: StringBuilder,
    gender: StringBuilder,
    birth_date: Date32Builder,
    age: Int64Builder,
    district: StringBuilder,
    income: Float64Builder,
    employer_usci: StringBuilder,
}

impl Columns for Cols {
    fn len(&self) -> usize {
        self.citizen_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.citizen_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.gender.finish()),
            Arc::new(self.birth_date.finish()),
            Arc::new(self.age.finish()),
            Arc::new(self.district.finish()),
            Arc::new(self.income.finish()),
            Arc::new(self.employer_usci.finish()),
        ]
    }
}

/// Writes the residents to `path`; returns the number of rows.
pub(super) fn write(world: &World, path: &Path, schema: Schema) -> Result<u64, GenerateError> {
    let mut rng = seed::stream(world.seed, NAME);
    let mut out = ParquetSink::create(path, schema, Cols::default())?;
    for person in world.people() {
        let p = person?;
        let name = world.names.person(&mut rng, p.male);
        let income = income(&mut rng, &p);
        let employed = income > 0.0
            && match p.age {
                18..=21 => rng.random_bool(0.5),
                22..=59 => rng.random_bool(0.68),
                _ => false,
            };
        let employer = if employed {
            employer(&mut rng, world)?
        } else {
            None
        };
        let c = &mut out.cols;
        c.citizen_id.append_value(&p.citizen_id);
        c.name.append_value(name);
        c.gender.append_value(if p.male { "男" } else { "女" });
        c.birth_date.append_value(date32(p.birth));
        c.age.append_value(p.age);
        c.district.append_value(p.district.name);
        c.income.append_value(income);
        c.employer_usci.append_option(employer);
        out.row_done()?;
    }
    out.finish()
}

/// Annual income in whole yuan: nothing for children and most students, wages peaking in
/// mid-career, pensions after 60, and some people of working age without income.
fn income(rng: &mut StdRng, p: &Person) -> f64 {
    let yuan = match p.age {
        0..=15 => 0.0,
        16..=21 => {
            if rng.random_bool(0.8) {
                0.0
            } else {
                log_normal(rng, 30_000.0, 0.5)
            }
        }
        22..=59 => {
            if rng.random_bool(0.1) {
                0.0
            } else {
                let career = match p.age {
                    22..=25 => 0.7,
                    26..=34 => 1.0,
                    35..=49 => 1.2,
                    _ => 1.05,
                };
                log_normal(rng, 85_000.0 * career, 0.65)
            }
        }
        _ => {
            // Urban employee pension for most, the much smaller resident pension for the rest.
            if rng.random_bool(0.8) {
                log_normal(rng, 48_000.0, 0.4)
            } else {
                log_normal(rng, 3_600.0, 0.5)
            }
        }
    };
    yuan.round().clamp(0.0, MAX_INCOME)
}

/// An operating enterprise with insured employees, larger ones more likely (as more people work
/// there).
fn employer(rng: &mut StdRng, world: &World) -> Result<Option<String>, GenerateError> {
    let count = world.firms.count();
    let mut fallback = None;
    for _ in 0..EMPLOYER_TRIES {
        let firm = world.firms.firm(rng.random_range(0..count))?;
        if firm.status != Status::Active || firm.employees == 0 {
            continue;
        }
        let accept = (f64::from(firm.employees) / 30.0).min(1.0);
        if rng.random_bool(accept) {
            return Ok(Some(firm.usci));
        }
        fallback = Some(firm.usci);
    }
    Ok(fallback)
}
