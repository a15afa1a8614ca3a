//! The `[[service]]` entry of a scenario: who a call is about, what it may ask, and what it may
//! answer.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use shuyu_datasets::manifest::IdentifierKind;

/// Most bits one answer may carry, over all its fields: a service answers a few declared
/// questions about one subject, not a record.
pub const MAX_ANSWER_BITS: f64 = 32.0;
/// Longest name of a service, parameter, field or declared value.
const MAX_NAME_LEN: usize = 64;
/// Most declared values of one enumeration (a parameter or an answer field).
const MAX_VALUES: usize = 256;
/// Most parameters and most answer fields of one service.
const MAX_FIELDS: usize = 16;
/// Largest `rate_per_second` and `daily_quota` a scenario may ask for.
const MAX_RATE_PER_SECOND: u32 = 10_000;
const MAX_DAILY_QUOTA: u64 = 100_000_000;

/// Which identifier names a service's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// Unified social credit code (统一社会信用代码) of an enterprise.
    Usci,
    /// Citizen ID number (公民身份号码) of a person.
    CitizenId,
}

impl SubjectKind {
    /// The name used in scenario files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Usci => "usci",
            SubjectKind::CitizenId => "citizen_id",
        }
    }

    /// The identifier kind a dataset's entity column must have to be served to this subject.
    pub fn identifier_kind(self) -> IdentifierKind {
        match self {
            SubjectKind::Usci => IdentifierKind::Usci,
            SubjectKind::CitizenId => IdentifierKind::CitizenId,
        }
    }

    /// Whether `id` is a well-formed identifier of this kind (length, alphabet, check character).
    pub fn is_valid(self, id: &str) -> bool {
        match self {
            SubjectKind::Usci => shuyu_datasets::ids::usci_is_valid(id),
            SubjectKind::CitizenId => shuyu_datasets::ids::citizen_id_is_valid(id),
        }
    }
}

/// The type of a request parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// A whole number within `[min, max]`.
    Int64,
    /// A finite number within `[min, max]`.
    Float64,
    /// One of the declared `values`.
    Utf8,
}

/// `[[service.param]]`: one request parameter. Numbers declare their range, text its values, so
/// that what a caller can put into a run is as bounded as what comes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Parameter name, `[a-z0-9_]+`: the request's key and the `request` table's column.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Smallest value (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The values a text parameter may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// `[[service.answer]]`: one field of the answer, an enumeration or a bucketed number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AnswerField {
    /// Field name, `[a-z0-9_]+`.
    pub name: String,
    /// An enumeration: the module answers one of these texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// A bucketed range: increasing edges `e0 < e1 < … < en`. The module answers a number in
    /// `[e0, en]`; the caller gets its bucket `[ei, ei+1)` (the last one closed), never the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<f64>>,
    /// Whether the field may be null ("no value"), one more possible answer.
    #[serde(default)]
    pub nullable: bool,
}

impl AnswerField {
    /// How many different answers the field can take (null included).
    pub fn outcomes(&self) -> usize {
        let declared = match (&self.values, &self.buckets) {
            (Some(values), _) => values.len(),
            (None, Some(edges)) => edges.len().saturating_sub(1),
            (None, None) => 0,
        };
        declared + usize::from(self.nullable)
    }

    /// The label of bucket `i` (`[lo, hi)`, the last `[lo, hi]`), as the caller receives it.
    pub fn bucket_label(edges: &[f64], i: usize) -> String {
        let last = i + 2 == edges.len();
        format!(
            "[{}, {}{}",
            edges[i],
            edges[i + 1],
            if last { "]" } else { ")" }
        )
    }
}

fn default_rate() -> u32 {
    20
}

fn default_quota() -> u64 {
    10_000
}

fn default_timeout_ms() -> u32 {
    1_000
}

fn default_calls_per_consent() -> u32 {
    10
}

/// One `[[service]]` of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceContract {
    /// Service name, `[a-z0-9_]+`; callers name the service `<scenario>.<name>`.
    pub name: String,
    /// Who a call is about: every granted table's entity column must hold this kind.
    pub subject: SubjectKind,
    /// What the answer is used for (shown to reviewers and in consents).
    #[serde(default)]
    pub purpose: String,
    /// The request parameters, all required.
    #[serde(rename = "param", default)]
    pub params: Vec<ParamSpec>,
    /// The answer's fields.
    #[serde(rename = "answer")]
    pub answer: Vec<AnswerField>,
    /// Calls per second this service takes (all callers). Default 20.
    #[serde(default = "default_rate")]
    pub rate_per_second: u32,
    /// Calls per day (in the domain's time zone) this service takes. Default 10,000.
    #[serde(default = "default_quota")]
    pub daily_quota: u64,
    /// The fixed reply time of a call, in milliseconds: every reply leaves this long after its
    /// run started, and the run must end before it. Default 1,000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Calls one consent allows over its life. Default 10: a subject agrees to a decision,
    /// not to a series of calls that bisect its figures through the parameters.
    #[serde(default = "default_calls_per_consent")]
    pub calls_per_consent: u32,
}

/// Why a service contract cannot be enforced. Names the field, never data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("service '{service}': {field}: {problem}")]
pub struct ServiceContractError {
    /// The service's name as written.
    pub service: String,
    /// The field at fault, e.g. `answer[2].buckets`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks an enumeration: 1..=MAX_VALUES distinct, non-empty values of at most MAX_NAME_LEN
/// bytes.
fn check_values(values: &[String]) -> Result<(), String> {
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(format!("must list 1 to {MAX_VALUES} values"));
    }
    let mut seen = HashSet::new();
    for value in values {
        if value.is_empty() || value.len() > MAX_NAME_LEN {
            return Err(format!(
                "every value must be 1 to {MAX_NAME_LEN} bytes long"
            ));
        }
        if !seen.insert(value) {
            return Err(format!("'{value}' is listed twice"));
        }
    }
    Ok(())
}

impl ServiceContract {
    /// Bits one answer can carry at most: the sum over fields of log2 of its outcomes.
    pub fn answer_bits(&self) -> f64 {
        self.answer
            .iter()
            .map(|f| (f.outcomes().max(1) as f64).log2())
            .sum()
    }

    /// The parameter of that name.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Checks the contract on its own (the scenario checks it against the granted datasets).
    ///
    /// # Errors
    /// The first field that is wrong, and why.
    pub fn validate(&self) -> Result<(), ServiceContractError> {
        let fail = |field: String, problem: String| ServiceContractError {
            service: self.name.clone(),
            field,
            problem,
        };
        if !is_name(&self.name) {
            return Err(fail(
                "name".into(),
                format!("must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '_'"),
            ));
        }
        if self.params.len() > MAX_FIELDS {
            return Err(fail(
                "param".into(),
                format!("at most {MAX_FIELDS} parameters"),
            ));
        }
        let mut names = HashSet::new();
        for (i, param) in self.params.iter().enumerate() {
            let place = |what: &str| format!("param[{i}].{what}");
            if !is_name(&param.name) {
                return Err(fail(
                    place("name"),
                    format!("must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '_'"),
                ));
            }
            if !names.insert(param.name.as_str()) {
                return Err(fail(
                    place("name"),
                    format!("'{}' is declared twice", param.name),
                ));
            }
            match param.kind {
                ParamType::Int64 | ParamType::Float64 => {
                    let (Some(min), Some(max)) = (param.min, param.max) else {
                        return Err(fail(
                            place("min"),
                            "a number parameter declares its range with min and max".into(),
                        ));
                    };
                    if !min.is_finite() || !max.is_finite() || min > max {
                        return Err(fail(
                            place("max"),
                            "min and max must be finite with min <= max".into(),
                        ));
                    }
                    if param.kind == ParamType::Int64 && (min.fract() != 0.0 || max.fract() != 0.0)
                    {
                        return Err(fail(
                            place("min"),
                            "an int64 parameter's min and max are whole numbers".into(),
                        ));
                    }
                    if param.values.is_some() {
                        return Err(fail(
                            place("values"),
                            "only a utf8 parameter lists values".into(),
                        ));
                    }
                }
                ParamType::Utf8 => {
                    let Some(values) = &param.values else {
                        return Err(fail(
                            place("values"),
                            "a utf8 parameter lists the values it may take".into(),
                        ));
                    };
                    check_values(values).map_err(|p| fail(place("values"), p))?;
                    if param.min.is_some() || param.max.is_some() {
                        return Err(fail(
                            place("min"),
                            "only a number parameter has min and max".into(),
                        ));
                    }
                }
            }
        }
        if self.answer.is_empty() || self.answer.len() > MAX_FIELDS {
            return Err(fail(
                "answer".into(),
                format!("an answer has 1 to {MAX_FIELDS} fields ([[service.answer]])"),
            ));
        }
        let mut names = HashSet::new();
        for (i, field) in self.answer.iter().enumerate() {
            let place = |what: &str| format!("answer[{i}].{what}");
            if !is_name(&field.name) {
                return Err(fail(
                    place("name"),
                    format!("must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '_'"),
                ));
            }
            if !names.insert(field.name.as_str()) {
                return Err(fail(
                    place("name"),
                    format!("'{}' is declared twice", field.name),
                ));
            }
            match (&field.values, &field.buckets) {
                (Some(values), None) => {
                    check_values(values).map_err(|p| fail(place("values"), p))?;
                }
                (None, Some(edges)) => {
                    if edges.len() < 2 || edges.len() > MAX_VALUES + 1 {
                        return Err(fail(
                            place("buckets"),
                            format!("must list 2 to {} edges", MAX_VALUES + 1),
                        ));
                    }
                    if edges.iter().any(|e| !e.is_finite())
                        || edges.windows(2).any(|w| w[0] >= w[1])
                    {
                        return Err(fail(
                            place("buckets"),
                            "edges must be finite and strictly increasing".into(),
                        ));
                    }
                }
                _ => {
                    return Err(fail(
                        place("values"),
                        "a field is either an enumeration (values) or a bucketed range \
                         (buckets), exactly one of them"
                            .into(),
                    ))
                }
            }
        }
        let bits = self.answer_bits();
        if bits > MAX_ANSWER_BITS {
            return Err(fail(
                "answer".into(),
                format!(
                    "one answer could carry {bits:.1} bits, more than the {MAX_ANSWER_BITS} a \
                     service may answer; declare fewer values or buckets"
                ),
            ));
        }
        if self.rate_per_second == 0 || self.rate_per_second > MAX_RATE_PER_SECOND {
            return Err(fail(
                "rate_per_second".into(),
                format!("must be 1 to {MAX_RATE_PER_SECOND}"),
            ));
        }
        if self.daily_quota == 0 || self.daily_quota > MAX_DAILY_QUOTA {
            return Err(fail(
                "daily_quota".into(),
                format!("must be 1 to {MAX_DAILY_QUOTA}"),
            ));
        }
        if !(1..=10_000).contains(&self.calls_per_consent) {
            return Err(fail(
                "calls_per_consent".into(),
                "must be 1 to 10000".into(),
            ));
        }
        if !(10..=60_000).contains(&self.timeout_ms) {
            return Err(fail(
                "timeout_ms".into(),
                "must be 10 to 60000 milliseconds".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn prescreen() -> ServiceContract {
        toml::from_str(
            r#"
            name = "prescreen"
            subject = "usci"
            [[param]]
            name = "amount"
            type = "int64"
            min = 0
            max = 10000000
            [[answer]]
            name = "band"
            values = ["A", "B", "C", "D", "E"]
            [[answer]]
            name = "reason"
            values = ["R1", "R2", "R3"]
            nullable = true
            [[answer]]
            name = "score"
            buckets = [0, 50, 100]
            "#,
        )
        .expect("contract")
    }

    #[test]
    fn a_well_formed_contract_validates_and_counts_its_bits() {
        let contract = prescreen();
        contract.validate().expect("valid");
        // 5 bands, 3 reasons + null, 2 buckets: log2(5 * 4 * 2) = log2(40).
        assert!((contract.answer_bits() - 40f64.log2()).abs() < 1e-9);
        assert_eq!(AnswerField::bucket_label(&[0.0, 50.0, 100.0], 0), "[0, 50)");
        assert_eq!(
            AnswerField::bucket_label(&[0.0, 50.0, 100.0], 1),
            "[50, 100]"
        );
    }

    #[test]
    fn malformed_contracts_name_their_field() {
        type Change = Box<dyn Fn(&mut ServiceContract)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.name = "Bad Name".into()), "name"),
            (Box::new(|c| c.params[0].max = None), "param[0].min"),
            (Box::new(|c| c.params[0].min = Some(1e9)), "param[0].max"),
            (Box::new(|c| c.params[0].min = Some(0.5)), "param[0].min"),
            (
                Box::new(|c| c.answer[0].values = Some(vec![])),
                "answer[0].values",
            ),
            (
                Box::new(|c| c.answer[0].values = Some(vec!["A".into(), "A".into()])),
                "answer[0].values",
            ),
            (
                Box::new(|c| c.answer[2].buckets = Some(vec![1.0, 1.0])),
                "answer[2].buckets",
            ),
            (
                Box::new(|c| c.answer[2].values = Some(vec!["x".into()])),
                "answer[2].values",
            ),
            (Box::new(|c| c.answer.clear()), "answer"),
            (
                Box::new(|c| c.answer[2].buckets = Some((0..=257).map(f64::from).collect())),
                "answer[2].buckets",
            ),
            (Box::new(|c| c.rate_per_second = 0), "rate_per_second"),
            (Box::new(|c| c.daily_quota = 0), "daily_quota"),
            (Box::new(|c| c.timeout_ms = 1), "timeout_ms"),
            (Box::new(|c| c.calls_per_consent = 0), "calls_per_consent"),
        ];
        for (change, field) in cases {
            let mut contract = prescreen();
            change(&mut contract);
            let error = contract.validate().expect_err(field);
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn answers_are_capped_at_a_few_bits() {
        let mut contract = prescreen();
        // 6 fields of 256 values: 48 bits, a record rather than an answer.
        contract.answer = (0..6)
            .map(|i| AnswerField {
                name: format!("f{i}"),
                values: Some((0..256).map(|v| v.to_string()).collect()),
                buckets: None,
                nullable: false,
            })
            .collect();
        let error = contract.validate().expect_err("too many bits");
        assert!(error.problem.contains("bits"), "{error}");
    }
}
