//! The `dataset.toml` format: what a provider declares about one dataset.
//!
//! The generator writes these files and the runtime's catalog reads them. A manifest is checked on
//! its own by [`DatasetManifest::validate`]; whether it matches its Parquet file is the catalog's
//! business, because only the catalog opens the data.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path};

use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The default name of a dataset's Parquet file inside its folder.
pub const DEFAULT_DATA_FILE: &str = "data.parquet";

/// Longest dataset or column name accepted; PostgreSQL's identifier limit, so names survive a
/// later move of the catalog there.
const MAX_NAME_LEN: usize = 63;

fn default_data_file() -> String {
    DEFAULT_DATA_FILE.to_string()
}

/// One `dataset.toml`: the dataset's description and the policy of each column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetManifest {
    /// What the dataset is, who provides it and how it may be used as a whole.
    pub dataset: DatasetInfo,
    /// Every column of the Parquet file, in file order.
    pub columns: Vec<ColumnSpec>,
}

/// The `[dataset]` table of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// Lowercase `[a-z][a-z0-9_]*`; also the folder name and the SQL table name.
    pub name: String,
    /// Human title, e.g. "企业登记信息".
    pub title: String,
    /// What the rows are and where they come from.
    pub description: String,
    /// The providing department, e.g. "市场监督管理局".
    pub provider: String,
    /// How often the provider refreshes the data ("monthly", "daily", ...).
    pub update_frequency: String,
    /// The dataset's open attribute under the regulations.
    pub open: OpenAttribute,
    /// Security level, 1 (lowest) to 4 (highest).
    pub level: u8,
    /// The column whose values are the subjects (persons or legal persons) of the rows.
    pub entity_column: String,
    /// The provider's minimum number of distinct entities in any released group.
    pub min_k: u32,
    /// The date the platform obtained this version of the data; products cite it.
    #[serde(
        serialize_with = "serialize_date",
        deserialize_with = "deserialize_date"
    )]
    pub acquired: NaiveDate,
    /// The Parquet file, relative to the dataset's folder.
    #[serde(default = "default_data_file")]
    pub data: String,
    /// The provider's privacy budget for this dataset across all scenarios
    /// (`privacy_budget = { epsilon = 10.0, delta = 1e-5 }`); absent, the runtime's default
    /// applies. Read once, when the dataset's budget is first created in the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_budget: Option<PrivacyBudget>,
}

/// A total privacy budget (ε, δ) under basic composition: a dataset's `privacy_budget` in its
/// manifest, or a scenario's `[privacy_budget]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrivacyBudget {
    /// Total ε, finite and greater than 0.
    #[cfg_attr(feature = "schema", schemars(range(min = 0)))]
    pub epsilon: f64,
    /// Total δ, in [0, 1); 0 (the default) allows only pure ε-DP releases.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(range(min = 0)))]
    pub delta: f64,
}

impl PrivacyBudget {
    /// Checks the amounts; the error names the field (`epsilon` or `delta`) and what is allowed.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.epsilon.is_finite() || self.epsilon <= 0.0 || self.epsilon > 1_000_000.0 {
            return Err((
                "epsilon",
                format!(
                    "{} must be finite, greater than 0 and at most 1000000",
                    self.epsilon
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.delta) {
            return Err((
                "delta",
                format!("{} must be at least 0 and below 1", self.delta),
            ));
        }
        Ok(())
    }
}

/// The open attribute of a dataset (无条件开放 / 有条件开放 / 不予开放).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenAttribute {
    /// May be opened to anyone.
    Unconditional,
    /// May be used under an agreement and a reviewed scenario.
    Conditional,
    /// Not open; use needs the strictest review.
    NotOpen,
}

/// One `[[columns]]` entry: a column's type and the provider's policy for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name as in the Parquet file.
    pub name: String,
    /// Logical type; fixes the Arrow type (see [`ColumnType::arrow_type`]).
    #[serde(rename = "type")]
    pub data_type: ColumnType,
    /// Sensitivity class.
    pub class: ColumnClass,
    /// Which kind of identifier the values are; required exactly when `class` is identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_kind: Option<IdentifierKind>,
    /// What operators may do with the column; nothing when empty.
    #[serde(default)]
    pub uses: Vec<ColumnUse>,
    /// Aggregations allowed over the column; only with the `measure` use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregations: Vec<Aggregation>,
    /// The provider's bound `[lo, hi]` each contribution is clamped to; only with `measure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamp: Option<[f64; 2]>,
    /// Whether the column may hold nulls.
    #[serde(default)]
    pub nullable: bool,
    /// What the values mean, including units.
    pub description: String,
}

/// The logical type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// UTF-8 text.
    Utf8,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Calendar date (days since 1970-01-01).
    Date32,
    /// true / false.
    Boolean,
}

impl ColumnType {
    /// The Arrow type a Parquet file must use for this column.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Date32 => DataType::Date32,
            ColumnType::Boolean => DataType::Boolean,
        }
    }

    /// The name used in `dataset.toml`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ColumnType::Utf8 => "utf8",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Date32 => "date32",
            ColumnType::Boolean => "boolean",
        }
    }

    /// Whether values can be summed and averaged.
    pub fn is_numeric(&self) -> bool {
        matches!(self, ColumnType::Int64 | ColumnType::Float64)
    }
}

/// The sensitivity class of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ColumnClass {
    /// Directly identifies a subject (citizen ID, credit code, name).
    Identifier,
    /// Identifies a subject in combination with others (birth date, founding date).
    QuasiIdentifier,
    /// A value the subject would not want disclosed (income, tax, diagnosis cost).
    Sensitive,
    /// Anything else.
    Attribute,
}

impl ColumnClass {
    /// The name used in `dataset.toml`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ColumnClass::Identifier => "identifier",
            ColumnClass::QuasiIdentifier => "quasi_identifier",
            ColumnClass::Sensitive => "sensitive",
            ColumnClass::Attribute => "attribute",
        }
    }
}

/// Which kind of identifier an identifier column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// Unified social credit code (统一社会信用代码) of a legal person.
    Usci,
    /// Citizen ID number (公民身份号码) of a person.
    CitizenId,
    /// Any other identifying value, such as a name.
    Other,
}

impl IdentifierKind {
    /// The name used in `dataset.toml`.
    pub fn as_str(&self) -> &'static str {
        match self {
            IdentifierKind::Usci => "usci",
            IdentifierKind::CitizenId => "citizen_id",
            IdentifierKind::Other => "other",
        }
    }
}

/// What operators may do with a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ColumnUse {
    /// May join tables; never output.
    Join,
    /// May group and filter.
    Dimension,
    /// May be aggregated with the column's allowed aggregations.
    Measure,
}

impl ColumnUse {
    /// The name used in `dataset.toml`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ColumnUse::Join => "join",
            ColumnUse::Dimension => "dimension",
            ColumnUse::Measure => "measure",
        }
    }
}

/// An aggregation a provider allows over a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Number of contributions.
    Count,
    /// Sum of the clamped contributions.
    Sum,
    /// Mean of the clamped contributions.
    Mean,
}

impl Aggregation {
    /// The name used in `dataset.toml` and in release contracts.
    pub fn as_str(&self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Mean => "mean",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(
    ColumnType,
    ColumnClass,
    IdentifierKind,
    ColumnUse,
    Aggregation
);

/// Why a manifest could not be read, written or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not TOML or does not have the manifest's shape; toml's message has the line
    /// and column.
    #[error("invalid dataset.toml: {0}")]
    Parse(#[from] toml::de::Error),
    /// The manifest could not be written as TOML.
    #[error("cannot write dataset.toml: {0}")]
    Serialize(#[from] toml::ser::Error),
    /// A field of `[dataset]` has an unacceptable value.
    #[error("dataset.{field}: {message}")]
    Dataset {
        /// The field of `[dataset]`, e.g. `level`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A column has an unacceptable declaration.
    #[error("column '{column}': {problem}")]
    Column {
        /// The column's name as written.
        column: String,
        /// What is wrong with it.
        problem: ColumnProblem,
    },
}

/// What is wrong with one column's declaration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ColumnProblem {
    /// The name is not a lowercase SQL identifier.
    #[error("name must match [a-z][a-z0-9_]* and be at most 63 characters")]
    Name,
    /// Another column has the same name.
    #[error("duplicate column name")]
    Duplicate,
    /// An identifier column without `identifier_kind`.
    #[error("identifier_kind is required for class identifier")]
    MissingIdentifierKind,
    /// `identifier_kind` on a column that is not an identifier.
    #[error("identifier_kind is only allowed for class identifier, not {0}")]
    UnexpectedIdentifierKind(ColumnClass),
    /// An identifier column declared for a use other than `join`.
    #[error("uses: an identifier may only have use join, not {0}")]
    IdentifierUse(ColumnUse),
    /// The same use listed twice.
    #[error("uses: {0} listed twice")]
    DuplicateUse(ColumnUse),
    /// `measure` on a column that cannot be summed.
    #[error("uses: measure needs type int64 or float64, not {0}")]
    MeasureType(ColumnType),
    /// Aggregations on a column that is not a measure.
    #[error("aggregations: only allowed with use measure")]
    AggregationsWithoutMeasure,
    /// The same aggregation listed twice.
    #[error("aggregations: {0} listed twice")]
    DuplicateAggregation(Aggregation),
    /// A clamp on a column that is not a measure.
    #[error("clamp: only allowed with use measure")]
    ClampWithoutMeasure,
    /// A clamp that is not a finite interval with lo < hi.
    #[error("clamp: [{0}, {1}] must be finite with lo < hi")]
    Clamp(f64, f64),
}

impl DatasetManifest {
    /// Parses a `dataset.toml`. Does not [`validate`](Self::validate) it.
    pub fn from_toml_str(s: &str) -> Result<Self, ManifestError> {
        Ok(toml::from_str(s)?)
    }

    /// Writes the manifest as TOML that [`from_toml_str`](Self::from_toml_str) reads back equal.
    pub fn to_toml_string(&self) -> Result<String, ManifestError> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// The column named `name`, if any.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Arrow schema the dataset's Parquet file must have: names, types and nullability in
    /// column order.
    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.arrow_type(), c.nullable))
                .collect::<Vec<_>>(),
        )
    }

    /// Checks the manifest on its own: names, level, k, entity column and each column's policy.
    /// Returns the first problem found.
    pub fn validate(&self) -> Result<(), ManifestError> {
        self.dataset.validate()?;
        let mut seen = BTreeSet::new();
        for column in &self.columns {
            let fail = |problem| ManifestError::Column {
                column: column.name.clone(),
                problem,
            };
            if !seen.insert(column.name.as_str()) {
                return Err(fail(ColumnProblem::Duplicate));
            }
            column.validate().map_err(fail)?;
        }
        let entity = &self.dataset.entity_column;
        match self.column(entity) {
            None => Err(ManifestError::Dataset {
                field: "entity_column",
                message: format!("no column named '{entity}'"),
            }),
            Some(c) if c.class != ColumnClass::Identifier => Err(ManifestError::Dataset {
                field: "entity_column",
                message: format!("column '{entity}' has class {}, not identifier", c.class),
            }),
            Some(_) => Ok(()),
        }
    }
}

impl DatasetInfo {
    fn validate(&self) -> Result<(), ManifestError> {
        let fail = |field, message: String| Err(ManifestError::Dataset { field, message });
        if !is_sql_name(&self.name) {
            return fail(
                "name",
                format!(
                    "'{}' must match [a-z][a-z0-9_]* and be at most 63 characters",
                    self.name
                ),
            );
        }
        for (field, value) in [
            ("title", &self.title),
            ("provider", &self.provider),
            ("update_frequency", &self.update_frequency),
        ] {
            if value.trim().is_empty() {
                return fail(field, "must not be empty".to_string());
            }
        }
        if !(1..=4).contains(&self.level) {
            return fail("level", format!("must be 1..=4, got {}", self.level));
        }
        if self.min_k < 2 {
            return fail("min_k", format!("must be at least 2, got {}", self.min_k));
        }
        if !is_plain_relative_path(&self.data) {
            return fail(
                "data",
                format!(
                    "'{}' must be a relative path inside the dataset's folder",
                    self.data
                ),
            );
        }
        if let Some(budget) = &self.privacy_budget {
            if let Err((field, message)) = budget.validate() {
                return fail(
                    if field == "epsilon" {
                        "privacy_budget.epsilon"
                    } else {
                        "privacy_budget.delta"
                    },
                    message,
                );
            }
        }
        Ok(())
    }
}

impl ColumnSpec {
    /// Whether the provider allows `use_` for this column.
    pub fn allows(&self, use_: ColumnUse) -> bool {
        self.uses.contains(&use_)
    }

    fn validate(&self) -> Result<(), ColumnProblem> {
        if !is_sql_name(&self.name) {
            return Err(ColumnProblem::Name);
        }
        match (self.class, self.identifier_kind) {
            (ColumnClass::Identifier, None) => return Err(ColumnProblem::MissingIdentifierKind),
            (class, Some(_)) if class != ColumnClass::Identifier => {
                return Err(ColumnProblem::UnexpectedIdentifierKind(class))
            }
            _ => {}
        }
        let mut uses = BTreeSet::new();
        for &u in &self.uses {
            if !uses.insert(u) {
                return Err(ColumnProblem::DuplicateUse(u));
            }
            if self.class == ColumnClass::Identifier && u != ColumnUse::Join {
                return Err(ColumnProblem::IdentifierUse(u));
            }
        }
        let measure = uses.contains(&ColumnUse::Measure);
        if measure && !self.data_type.is_numeric() {
            return Err(ColumnProblem::MeasureType(self.data_type));
        }
        if !self.aggregations.is_empty() && !measure {
            return Err(ColumnProblem::AggregationsWithoutMeasure);
        }
        let mut aggregations = BTreeSet::new();
        for &a in &self.aggregations {
            if !aggregations.insert(a) {
                return Err(ColumnProblem::DuplicateAggregation(a));
            }
        }
        if let Some([lo, hi]) = self.clamp {
            if !measure {
                return Err(ColumnProblem::ClampWithoutMeasure);
            }
            // Written so that NaN fails too.
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(ColumnProblem::Clamp(lo, hi));
            }
        }
        Ok(())
    }
}

/// `[a-z][a-z0-9_]*`, at most [`MAX_NAME_LEN`] bytes: usable unquoted as an SQL identifier and as a
/// folder name on any file system.
fn is_sql_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= MAX_NAME_LEN
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// A path that cannot leave the folder it is resolved against.
fn is_plain_relative_path(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('\\')
        && Path::new(s)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn serialize_date<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&date.format("%Y-%m-%d"))
}

/// Accepts both `acquired = "2026-11-01"` and TOML's bare date `acquired = 2026-11-01`, since
/// providers write these files by hand.
fn deserialize_date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    use serde::de::Error;
    let text = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => s,
        toml::Value::Datetime(dt) if dt.date.is_some() && dt.time.is_none() => dt.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "expected a date like \"2026-11-01\", found {}",
                other.type_str()
            )))
        }
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|e| D::Error::custom(format!("invalid date '{text}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[dataset]
name = "residents"
title = "常住人口信息"
description = "示例"
provider = "公安局"
update_frequency = "monthly"
open = "not_open"
level = 3
entity_column = "citizen_id"
min_k = 10
acquired = "2026-11-01"

[[columns]]
name = "citizen_id"
type = "utf8"
class = "identifier"
identifier_kind = "citizen_id"
uses = ["join"]
description = "公民身份号码"

[[columns]]
name = "income"
type = "float64"
class = "sensitive"
uses = ["measure"]
aggregations = ["count", "sum", "mean"]
clamp = [0.0, 5000000.0]
description = "年收入（元）"

[[columns]]
name = "employer_usci"
type = "utf8"
class = "identifier"
identifier_kind = "usci"
uses = ["join"]
nullable = true
description = "就业单位统一社会信用代码"
"#;

    fn sample() -> DatasetManifest {
        DatasetManifest::from_toml_str(SAMPLE).unwrap()
    }

    fn column_problem(m: &DatasetManifest) -> ColumnProblem {
        match m.validate() {
            Err(ManifestError::Column { problem, .. }) => problem,
            other => panic!("expected a column problem, got {other:?}"),
        }
    }

    fn dataset_field(m: &DatasetManifest) -> &'static str {
        match m.validate() {
            Err(ManifestError::Dataset { field, .. }) => field,
            other => panic!("expected a dataset problem, got {other:?}"),
        }
    }

    #[test]
    fn parses_defaults_and_validates() {
        let m = sample();
        m.validate().unwrap();
        assert_eq!(m.dataset.data, "data.parquet");
        assert_eq!(m.dataset.open, OpenAttribute::NotOpen);
        assert_eq!(
            m.dataset.acquired,
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        let income = m.column("income").unwrap();
        assert_eq!(income.data_type, ColumnType::Float64);
        assert_eq!(income.clamp, Some([0.0, 5_000_000.0]));
        assert!(!income.nullable);
        assert!(m.column("employer_usci").unwrap().nullable);
        assert!(m.column("nope").is_none());
    }

    #[test]
    fn round_trips_through_toml() {
        let m = sample();
        let text = m.to_toml_string().unwrap();
        assert!(text.contains("acquired = \"2026-11-01\""), "{text}");
        assert_eq!(DatasetManifest::from_toml_str(&text).unwrap(), m);
    }

    #[test]
    fn accepts_bare_toml_date() {
        let text = SAMPLE.replace("\"2026-11-01\"", "2026-11-01");
        assert_eq!(DatasetManifest::from_toml_str(&text).unwrap(), sample());
        let bad = SAMPLE.replace("\"2026-11-01\"", "2026-11-01T10:00:00");
        let err = DatasetManifest::from_toml_str(&bad).unwrap_err();
        assert!(err.to_string().contains("expected a date"), "{err}");
    }

    #[test]
    fn parse_errors_keep_toml_position() {
        let err = DatasetManifest::from_toml_str("[dataset]\nname = \n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid dataset.toml"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let err =
            DatasetManifest::from_toml_str(&SAMPLE.replace("level = 3", "level = 3\nfoo = 1"))
                .unwrap_err();
        assert!(err.to_string().contains("foo"), "{err}");
        let err =
            DatasetManifest::from_toml_str(&SAMPLE.replace("\"utf8\"", "\"varchar\"")).unwrap_err();
        assert!(err.to_string().contains("varchar"), "{err}");
    }

    #[test]
    fn arrow_types_and_schema() {
        assert_eq!(ColumnType::Utf8.arrow_type(), DataType::Utf8);
        assert_eq!(ColumnType::Date32.arrow_type(), DataType::Date32);
        let schema = sample().arrow_schema();
        assert_eq!(schema.fields().len(), 3);
        assert_eq!(schema.field(1).name(), "income");
        assert_eq!(schema.field(1).data_type(), &DataType::Float64);
        assert!(schema.field(2).is_nullable());
        assert_eq!(Aggregation::Mean.as_str(), "mean");
    }

    #[test]
    fn rejects_bad_dataset_fields() {
        let mut m = sample();
        m.dataset.name = "Residents".into();
        assert_eq!(dataset_field(&m), "name");
        m.dataset.name = "1residents".into();
        assert_eq!(dataset_field(&m), "name");
        let mut m = sample();
        m.dataset.level = 5;
        assert_eq!(dataset_field(&m), "level");
        m.dataset.level = 0;
        assert_eq!(dataset_field(&m), "level");
        let mut m = sample();
        m.dataset.min_k = 1;
        assert_eq!(dataset_field(&m), "min_k");
        let mut m = sample();
        m.dataset.entity_column = "nobody".into();
        assert_eq!(dataset_field(&m), "entity_column");
        m.dataset.entity_column = "income".into();
        let err = m.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "dataset.entity_column: column 'income' has class sensitive, not identifier"
        );
        for bad in ["../x.parquet", "/etc/passwd", "", "a\\b"] {
            let mut m = sample();
            m.dataset.data = bad.into();
            assert_eq!(dataset_field(&m), "data", "{bad}");
        }
        let mut m = sample();
        m.dataset.title = " ".into();
        assert_eq!(dataset_field(&m), "title");
    }

    #[test]
    fn rejects_bad_columns() {
        let mut m = sample();
        m.columns[1].identifier_kind = Some(IdentifierKind::Other);
        assert_eq!(
            column_problem(&m),
            ColumnProblem::UnexpectedIdentifierKind(ColumnClass::Sensitive)
        );

        let mut m = sample();
        m.columns[0].identifier_kind = None;
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "column 'citizen_id': identifier_kind is required for class identifier"
        );

        let mut m = sample();
        m.columns[0].uses.push(ColumnUse::Dimension);
        assert_eq!(
            column_problem(&m),
            ColumnProblem::IdentifierUse(ColumnUse::Dimension)
        );

        let mut m = sample();
        m.columns[1].uses.push(ColumnUse::Measure);
        assert_eq!(
            column_problem(&m),
            ColumnProblem::DuplicateUse(ColumnUse::Measure)
        );

        let mut m = sample();
        m.columns[1].data_type = ColumnType::Utf8;
        assert_eq!(
            column_problem(&m),
            ColumnProblem::MeasureType(ColumnType::Utf8)
        );

        let mut m = sample();
        m.columns[1].uses = vec![ColumnUse::Dimension];
        assert_eq!(
            column_problem(&m),
            ColumnProblem::AggregationsWithoutMeasure
        );
        m.columns[1].aggregations.clear();
        assert_eq!(column_problem(&m), ColumnProblem::ClampWithoutMeasure);

        let mut m = sample();
        m.columns[1].aggregations.push(Aggregation::Sum);
        assert_eq!(
            column_problem(&m),
            ColumnProblem::DuplicateAggregation(Aggregation::Sum)
        );

        for clamp in [
            [1.0, 1.0],
            [2.0, 1.0],
            [f64::NAN, 1.0],
            [0.0, f64::INFINITY],
        ] {
            let mut m = sample();
            m.columns[1].clamp = Some(clamp);
            assert!(
                matches!(column_problem(&m), ColumnProblem::Clamp(..)),
                "{clamp:?}"
            );
        }

        let mut m = sample();
        m.columns[2].name = "income".into();
        assert_eq!(column_problem(&m), ColumnProblem::Duplicate);

        let mut m = sample();
        m.columns[2].name = "Employer".into();
        assert_eq!(column_problem(&m), ColumnProblem::Name);
    }
}
