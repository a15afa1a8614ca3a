//! `enterprise_registry`: one row per registered enterprise (市场监督管理局).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayBuilder, ArrayRef, Date32Builder, Float64Builder, StringBuilder};
use arrow::datatypes::Schema;
use chrono::NaiveDate;
use rand::Rng;

use super::dates::date32;
use super::sink::{Columns, ParquetSink};
use super::spec::{column, identifier, join_key, ColumnExt};
use super::{seed, GenerateError, World};
use shuyu_datasets::ids::ID_LEN;
use shuyu_datasets::manifest::{
    ColumnClass::*, ColumnType::*, DatasetInfo, DatasetManifest, IdentifierKind, OpenAttribute,
};

/// The dataset's name.
pub(super) const NAME: &str = "enterprise_registry";

/// Legal representatives are residents of at least this age.
const MIN_REP_AGE: i64 = 22;

/// The manifest of the dataset.
pub(super) fn manifest(acquired: NaiveDate) -> DatasetManifest {
    DatasetManifest {
        dataset: DatasetInfo {
            name: NAME.into(),
            title: "企业登记信息".into(),
            description: "本市登记的企业法人：统一社会信用代码、名称、法定代表人、所在区县、行业、注册资本、成立日期和登记状态。合成数据。".into(),
            provider: "市场监督管理局".into(),
            update_frequency: "daily".into(),
            open: OpenAttribute::Conditional,
            level: 2,
            entity_column: "usci".into(),
            min_k: 5,
            acquired,
            data: shuyu_datasets::manifest::DEFAULT_DATA_FILE.into(),
            privacy_budget: None,
        },
        columns: vec![
            join_key("usci", IdentifierKind::Usci, "统一社会信用代码（GB 32100-2015），第3–8位为登记机关所在区县代码"),
            identifier("name", IdentifierKind::Other, "企业名称"),
            join_key("legal_rep_id", IdentifierKind::CitizenId, "法定代表人公民身份号码，与 residents.citizen_id 同一号码空间"),
            column("district", Utf8, Attribute, "登记所在区县").dimension(),
            column("industry", Utf8, Attribute, "国民经济行业门类（GB/T 4754-2017）").dimension(),
            column("registered_capital", Float64, Sensitive, "注册资本（万元）").measure(0.0, 1_000_000.0),
            column("founded", Date32, QuasiIdentifier, "成立日期").dimension(),
            column("status", Utf8, Attribute, "登记状态：存续、注销、吊销").dimension(),
        ],
    }
}

#[derive(Default)]
struct Cols {
    usci: StringBuilder,
    name: StringBuilder,
    legal_rep_id: StringBuilder,
    district: StringBuilder,
    industry: StringBuilder,
    registered_capital: Float64Builder,
    founded: Date32Builder,
    status: StringBuilder,
}

impl Columns for Cols {
    fn len(&self) -> usize {
        self.usci.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.usci.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.legal_rep_id.finish()),
            Arc::new(self.district.finish()),
            Arc::new(self.industry.finish()),
            Arc::new(self.registered_capital.finish()),
            Arc::new(self.founded.finish()),
            Arc::new(self.status.finish()),
        ]
    }
}

/// Writes the registry to `path`; returns the number of rows.
pub(super) fn write(world: &World, path: &Path, schema: Schema) -> Result<u64, GenerateError> {
    let reps = legal_reps(world)?;
    let mut rng = seed::stream(world.seed, NAME);
    let mut out = ParquetSink::create(path, schema, Cols::default())?;
    for (index, rep) in (0..world.firms.count()).zip(&reps) {
        let firm = world.firms.firm(index)?;
        let name = world
            .names
            .company(&mut rng, firm.sector.words, firm.capital);
        let c = &mut out.cols;
        c.usci.append_value(&firm.usci);
        c.name.append_value(name);
        c.legal_rep_id
            .append_value(std::str::from_utf8(rep).unwrap_or_default());
        c.district.append_value(firm.district.name);
        c.industry.append_value(firm.sector.name);
        c.registered_capital.append_value(firm.capital);
        c.founded.append_value(date32(firm.founded));
        c.status.append_value(firm.status.label());
        out.row_done()?;
    }
    out.finish()
}

/// The citizen ID of each enterprise's legal representative: an adult resident at a random
/// position in the resident stream (the next adult at or after it). One replay of the stream
/// resolves all enterprises, holding 18 bytes per enterprise.
fn legal_reps(world: &World) -> Result<Vec<[u8; ID_LEN]>, GenerateError> {
    let n = world.firms.count() as usize;
    let residents = world.residents.max(1);
    let mut rng = seed::stream(world.seed, "enterprise_registry.legal_reps");
    let mut wanted: Vec<(u64, usize)> = (0..n)
        .map(|i| (rng.random_range(0..residents), i))
        .collect();
    wanted.sort_unstable();

    let mut reps = vec![[0u8; ID_LEN]; n];
    let mut pending = wanted.iter().peekable();
    let mut first_adult: Option<String> = None;
    let mut first_resident: Option<String> = None;
    for person in world.people() {
        let person = person?;
        if first_resident.is_none() {
            first_resident = Some(person.citizen_id.clone());
        }
        if person.age < MIN_REP_AGE {
            continue;
        }
        if first_adult.is_none() {
            first_adult = Some(person.citizen_id.clone());
        }
        while let Some(&&(target, firm)) = pending.peek() {
            if target > person.index {
                break;
            }
            copy_id(&mut reps[firm], &person.citizen_id);
            pending.next();
        }
        if pending.peek().is_none() {
            break;
        }
    }
    // Targets after the last adult wrap around to the first adult (or, in a city of children,
    // the first resident).
    if let Some(fallback) = first_adult.or(first_resident) {
        for &(_, firm) in pending {
            copy_id(&mut reps[firm], &fallback);
        }
    }
    Ok(reps)
}

fn copy_id(slot: &mut [u8; ID_LEN], id: &str) {
    if let Some(bytes) = id.as_bytes().get(..ID_LEN) {
        slot.copy_from_slice(bytes);
    }
}
