//! `tax_payments`: one row per enterprise, month of 2025 and tax type actually paid (税务局).
//!
//! Amounts follow each enterprise's size, so they correlate with registered capital: general VAT
//! payers file monthly, small-scale payers quarterly and only above the exemption threshold,
//! enterprise income tax is prepaid quarterly by profitable firms, and employers withhold
//! individual income tax monthly.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Float64Builder, StringBuilder};
use arrow::datatypes::Schema;
use chrono::NaiveDate;
use rand::Rng;

use super::dates::{activity_month, date32};
use super::dist::{cents, log_normal};
use super::sink::{Columns, ParquetSink};
use super::spec::{column, join_key, ColumnExt};
use super::{seed, GenerateError, World};
use shuyu_datasets::manifest::{
    ColumnClass::*, ColumnType::*, DatasetInfo, DatasetManifest, IdentifierKind, OpenAttribute,
};

/// The dataset's name.
pub(super) const NAME: &str = "tax_payments";

const VAT: &str = "增值税";
const CIT: &str = "企业所得税";
const IIT: &str = "个人所得税(代扣代缴)";

/// Annual revenue above which an enterprise is a general VAT payer and files monthly.
const GENERAL_PAYER_REVENUE: f64 = 5_000_000.0;
/// Quarterly revenue below which a small-scale payer owes no VAT.
const SMALL_PAYER_EXEMPTION: f64 = 300_000.0;
/// Annual profit up to which the small-and-micro enterprise rate applies.
const SMALL_PROFIT_LIMIT: f64 = 3_000_000.0;
/// Share of due payments missing from the extract (late filings, corrections).
const MISSING: f64 = 0.03;

/// Revenue by month: slow around the Spring Festival, strong at year end.
const SEASON: [f64; 12] = [
    0.95, 0.75, 1.0, 1.0, 1.0, 1.05, 1.0, 1.0, 1.05, 1.0, 1.1, 1.2,
];

/// The manifest of the dataset.
pub(super) fn manifest(acquired: NaiveDate) -> DatasetManifest {
    DatasetManifest {
        dataset: DatasetInfo {
            name: NAME.into(),
            title: "企业纳税信息".into(),
            description: "2025年各月企业缴纳增值税、企业所得税和代扣代缴个人所得税的金额，每行一户企业一个月一个税种。合成数据。".into(),
            provider: "税务局".into(),
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
            join_key("usci", IdentifierKind::Usci, "纳税人统一社会信用代码，见 enterprise_registry.usci"),
            column("month", Date32, Attribute, "缴款所属月份（当月1日）").dimension(),
            column("tax_type", Utf8, Attribute, "税种：增值税、企业所得税、个人所得税(代扣代缴)").dimension(),
            column("amount", Float64, Sensitive, "实缴税额（元）").measure(0.0, 10_000_000.0),
        ],
    }
}

#[derive(Default)]
struct Cols {
    usci: StringBuilder,
    month: Date32Builder,
    tax_type: StringBuilder,
    amount: Float64Builder,
}

impl Columns for Cols {
    fn len(&self) -> usize {
        self.usci.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.usci.finish()),
            Arc::new(self.month.finish()),
            Arc::new(self.tax_type.finish()),
            Arc::new(self.amount.finish()),
        ]
    }
}

/// Writes the payments to `path`; returns the number of rows.
pub(super) fn write(world: &World, path: &Path, schema: Schema) -> Result<u64, GenerateError> {
    let mut rng = seed::stream(world.seed, NAME);
    let mut out = ParquetSink::create(path, schema, Cols::default())?;
    for index in 0..world.firms.count() {
        let firm = world.firms.firm(index)?;
        let general = firm.revenue * 12.0 > GENERAL_PAYER_REVENUE;
        let profitable = rng.random_bool(0.55);
        let margin = log_normal(&mut rng, 0.08, 0.5).min(0.6);
        let withholds = firm.employees > 0 && rng.random_bool(0.65);
        let tax_per_head = log_normal(&mut rng, 250.0, 0.9);
        for month in 1..=12u32 {
            if !firm.active_in(month) {
                continue;
            }
            let m = (month - 1) as usize;
            let revenue = firm.revenue * SEASON[m] * log_normal(&mut rng, 1.0, 0.25);
            let quarter_start = month % 3 == 1;
            let mut due: [Option<(&str, f64)>; 3] = [None; 3];
            due[0] = if general {
                Some((VAT, revenue * 0.03 * log_normal(&mut rng, 1.0, 0.35)))
            } else if quarter_start && revenue * 3.0 > SMALL_PAYER_EXEMPTION {
                // Quarterly filing for the quarter just ended, at the reduced 1 % rate.
                Some((VAT, revenue * 3.0 * 0.01))
            } else {
                None
            };
            if quarter_start && profitable {
                let profit = revenue * 3.0 * margin;
                let rate = if profit * 4.0 <= SMALL_PROFIT_LIMIT {
                    0.05
                } else {
                    0.25
                };
                due[1] = Some((CIT, profit * rate));
            }
            if withholds {
                let amount =
                    f64::from(firm.employees) * tax_per_head * log_normal(&mut rng, 1.0, 0.2);
                due[2] = Some((IIT, amount));
            }
            for (tax_type, amount) in due.into_iter().flatten() {
                let amount = cents(amount);
                if amount < 1.0 || rng.random_bool(MISSING) {
                    continue;
                }
                let c = &mut out.cols;
                c.usci.append_value(&firm.usci);
                c.month.append_value(date32(activity_month(month)));
                c.tax_type.append_value(tax_type);
                c.amount.append_value(amount);
                out.row_done()?;
            }
        }
    }
    out.finish()
}
