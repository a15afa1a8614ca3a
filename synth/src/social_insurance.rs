//! `social_insurance`: insured head count per enterprise and month of 2025
//! (人力资源和社会保障局). Enterprises without insured employees have no rows.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::Schema;
use chrono::NaiveDate;
use rand::Rng;

use super::dates::{activity_month, date32};
use super::dist::{log_normal, normal};
use super::sink::{Columns, ParquetSink};
use super::spec::{column, join_key, ColumnExt};
use super::{seed, GenerateError, World};
use shuyu_datasets::manifest::{
    ColumnClass::*, ColumnType::*, DatasetInfo, DatasetManifest, IdentifierKind, OpenAttribute,
};

/// The dataset's name.
pub(super) const NAME: &str = "social_insurance";

/// Share of months missing from the extract.
const MISSING: f64 = 0.01;

/// The manifest of the dataset.
pub(super) fn manifest(acquired: NaiveDate) -> DatasetManifest {
    DatasetManifest {
        dataset: DatasetInfo {
            name: NAME.into(),
            title: "企业社会保险参保信息".into(),
            description: "2025年各月企业职工基本养老保险参保人数，每行一户企业一个月。合成数据。"
                .into(),
            provider: "人力资源和社会保障局".into(),
            update_frequency: "monthly".into(),
            open: OpenAttribute::Conditional,
            level: 3,
            entity_column: "usci".into(),
            min_k: 5,
            acquired,
            data: shuyu_datasets::manifest::DEFAULT_DATA_FILE.into(),
            privacy_budget: None,
        },
        columns: vec![
            join_key(
                "usci",
                IdentifierKind::Usci,
                "参保单位统一社会信用代码，见 enterprise_registry.usci",
            ),
            column("month", Date32, Attribute, "参保月份（当月1日）").dimension(),
            column("headcount", Int64, Sensitive, "当月参保职工人数").measure(0.0, 10_000.0),
        ],
    }
}

#[derive(Default)]
struct Cols {
    usci: StringBuilder,
    month: Date32Builder,
    headcount: Int64Builder,
}

impl Columns for Cols {
    fn len(&self) -> usize {
        self.usci.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.usci.finish()),
            Arc::new(self.month.finish()),
            Arc::new(self.headcount.finish()),
        ]
    }
}

/// Writes the head counts to `path`; returns the number of rows.
pub(super) fn write(world: &World, path: &Path, schema: Schema) -> Result<u64, GenerateError> {
    let mut rng = seed::stream(world.seed, NAME);
    let mut out = ParquetSink::create(path, schema, Cols::default())?;
    for index in 0..world.firms.count() {
        let firm = world.firms.firm(index)?;
        if firm.employees == 0 {
            continue;
        }
        // Growth or shrinkage over the year, applied linearly month by month.
        let growth = log_normal(&mut rng, 1.0, 0.12);
        for month in 1..=12u32 {
            if !firm.active_in(month) {
                continue;
            }
            let progress = f64::from(month - 1) / 11.0;
            let trend = 1.0 + (growth - 1.0) * progress;
            let jitter = 1.0 + 0.03 * normal(&mut rng);
            let headcount = (f64::from(firm.employees) * trend * jitter)
                .round()
                .max(1.0) as i64;
            if rng.random_bool(MISSING) {
                continue;
            }
            let c = &mut out.cols;
            c.usci.append_value(&firm.usci);
            c.month.append_value(date32(activity_month(month)));
            c.headcount.append_value(headcount);
            out.row_done()?;
        }
    }
    out.finish()
}
