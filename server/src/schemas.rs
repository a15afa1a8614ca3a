//! JSON Schemas (OpenAPI 3.1 dialect, i.e. JSON Schema 2020-12) of the bodies the API reads and
//! writes, by name. The route table names them; [`super::openapi`] puts them under
//! `components/schemas`.
//!
//! They are derived from the serde types themselves (`#[derive(JsonSchema)]`), so they cannot
//! drift from what the server sends and accepts: doc comments become descriptions,
//! `deny_unknown_fields` closes an object (`additionalProperties: false`), and what the server
//! checks beyond the types (a text that must not be blank, a hex key, a lower bound) is said by
//! `#[schemars(...)]` on the field. A type is described as the server uses it: request bodies as
//! serde reads them (a field with a default may be left out), responses as serde writes them
//! (every field always sent is required).
//!
//! Three schemas are partly written by hand, each next to its type with the reason: a verified
//! log's `head` (a pair, without `prefixItems`), a budget's scope (one object, not a `oneOf` per
//! kind) and a resolution's `note` (required, though serde defaults it).

use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::transform::{transform_subschemas, Transform};
use schemars::Schema;
use serde_json::{json, Map, Value};

use super::error::ErrorBody;
use super::routes::{
    ApplicationAction, ConsentInput, DomainPublicKey, Health, ModuleUploaded, NewJob, NewObjection,
    NewQualityRequest, OpenApiDocument, OperatorSuspension, PublishDataset, QualityAnswer,
    ReasonInput, ResolveObjection, SubjectQuery, UsageReport,
};
use shuyu::audit::{Entry, VerifyReport};
use shuyu::budget::ScenarioBudget;
use shuyu::governance::model::{
    Agreement, Application, DatasetRecord, Identity, JobRecord, NewAgreement, NewApplication,
    Objection, Page, QualityRequest, ReviewInput,
};
use shuyu::governance::EffectiveContract;
use shuyu::mock::{MockRun, NewMockRun};
use shuyu::services::{CallReply, CallRequest, Consent, ServiceCall};

/// Adds a type's schema, and those of the types inside it, to a generator's definitions.
type Describe = fn(&mut SchemaGenerator) -> Schema;

/// The request bodies the route table names.
const READ: &[Describe] = &[
    SchemaGenerator::subschema_for::<PublishDataset>,
    SchemaGenerator::subschema_for::<ReasonInput>,
    SchemaGenerator::subschema_for::<NewAgreement>,
    SchemaGenerator::subschema_for::<NewApplication>,
    SchemaGenerator::subschema_for::<ReviewInput>,
    SchemaGenerator::subschema_for::<NewObjection>,
    SchemaGenerator::subschema_for::<ResolveObjection>,
    SchemaGenerator::subschema_for::<NewQualityRequest>,
    SchemaGenerator::subschema_for::<QualityAnswer>,
    SchemaGenerator::subschema_for::<NewJob>,
    SchemaGenerator::subschema_for::<ConsentInput>,
    SchemaGenerator::subschema_for::<CallRequest>,
    SchemaGenerator::subschema_for::<SubjectQuery>,
    SchemaGenerator::subschema_for::<NewMockRun>,
];

/// The response bodies the route table names, and the error body every route may answer.
const WRITTEN: &[Describe] = &[
    SchemaGenerator::subschema_for::<ErrorBody>,
    SchemaGenerator::subschema_for::<OpenApiDocument>,
    SchemaGenerator::subschema_for::<Health>,
    SchemaGenerator::subschema_for::<DomainPublicKey>,
    SchemaGenerator::subschema_for::<Identity>,
    SchemaGenerator::subschema_for::<DatasetRecord>,
    SchemaGenerator::subschema_for::<Page<DatasetRecord>>,
    SchemaGenerator::subschema_for::<Agreement>,
    SchemaGenerator::subschema_for::<Page<Agreement>>,
    SchemaGenerator::subschema_for::<OperatorSuspension>,
    SchemaGenerator::subschema_for::<ModuleUploaded>,
    SchemaGenerator::subschema_for::<Application>,
    SchemaGenerator::subschema_for::<Page<Application>>,
    SchemaGenerator::subschema_for::<ApplicationAction>,
    SchemaGenerator::subschema_for::<EffectiveContract>,
    SchemaGenerator::subschema_for::<Objection>,
    SchemaGenerator::subschema_for::<Page<Objection>>,
    SchemaGenerator::subschema_for::<QualityRequest>,
    SchemaGenerator::subschema_for::<Page<QualityRequest>>,
    SchemaGenerator::subschema_for::<JobRecord>,
    SchemaGenerator::subschema_for::<Page<JobRecord>>,
    SchemaGenerator::subschema_for::<ScenarioBudget>,
    SchemaGenerator::subschema_for::<Page<Entry>>,
    SchemaGenerator::subschema_for::<VerifyReport>,
    SchemaGenerator::subschema_for::<Consent>,
    SchemaGenerator::subschema_for::<Page<Consent>>,
    SchemaGenerator::subschema_for::<CallReply>,
    SchemaGenerator::subschema_for::<ServiceCall>,
    SchemaGenerator::subschema_for::<Page<ServiceCall>>,
    SchemaGenerator::subschema_for::<UsageReport>,
    SchemaGenerator::subschema_for::<MockRun>,
    SchemaGenerator::subschema_for::<Page<MockRun>>,
];

/// The schemas of request bodies and of the objects inside them: all closed
/// (`additionalProperties: false`), as the server refuses unknown fields. The test of the
/// document checks that exactly these are closed.
#[cfg(test)]
pub(crate) const REQUEST_OBJECTS: [&str; 29] = [
    "PublishDataset",
    "ReasonInput",
    "NewAgreement",
    "AgreementScope",
    "NewApplication",
    "ScenarioFile",
    "ScenarioInfo",
    "Grant",
    "Limits",
    "ReleaseContract",
    "DimensionSpec",
    "MeasureSpec",
    "PrivacySpec",
    "DominanceSpec",
    "VectorContract",
    "PrivacyBudget",
    "ReviewInput",
    "NewObjection",
    "ResolveObjection",
    "NewQualityRequest",
    "QualityAnswer",
    "NewJob",
    "ServiceContract",
    "ParamSpec",
    "AnswerField",
    "ConsentInput",
    "CallRequest",
    "SubjectQuery",
    "NewMockRun",
];

/// A reference to a named schema.
pub(crate) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The schemas of the request bodies and of everything inside them, as serde reads them.
pub(crate) fn read() -> Map<String, Value> {
    describe(Contract::Deserialize, READ)
}

/// The schemas of the response bodies and of everything inside them, as serde writes them.
pub(crate) fn written() -> Map<String, Value> {
    describe(Contract::Serialize, WRITTEN)
}

/// Every named schema. A type the server both reads and writes (an agreement's scope, a scenario,
/// its limits and contracts) is described as it is read: what the server writes of it always
/// fits, since only fields with a default may be left out (`tests::openapi` checks it).
pub(crate) fn all() -> Map<String, Value> {
    let mut all = written();
    all.extend(read());
    all
}

fn describe(contract: Contract, types: &[Describe]) -> Map<String, Value> {
    let mut settings = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .with_transform(Tidy);
    settings.contract = contract;
    let mut generator = settings.into_generator();
    for describe in types {
        describe(&mut generator);
    }
    generator.take_definitions(true)
}

/// Makes the derived schemas read as a document for clients. In descriptions (doc comments), a
/// line break inside a paragraph becomes a space, an intra-doc link (``[`Name`]``) plain code and
/// Rust's `None` JSON's null. An enum of documented unit variants, which schemars describes as a
/// `oneOf` of one `const` per variant, becomes a plain `enum` of strings with the variants' docs
/// listed in its description: the form clients and code generators read as an enumeration.
#[derive(Debug, Clone, Copy)]
struct Tidy;

impl Transform for Tidy {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if let Some(Value::String(description)) = schema.get_mut("description") {
            *description = plain_text(description);
        }
        let Some(Value::Array(variants)) = schema.get("oneOf") else {
            return;
        };
        let mut values = Vec::new();
        let mut docs = Vec::new();
        for variant in variants {
            let Some(variant) = variant.as_object() else {
                return;
            };
            let plain = variant.get("type") == Some(&json!("string"))
                && variant
                    .keys()
                    .all(|key| matches!(key.as_str(), "type" | "const" | "description"));
            let Some(Value::String(value)) = variant.get("const").filter(|_| plain) else {
                return;
            };
            if let Some(Value::String(doc)) = variant.get("description") {
                docs.push(format!("- `{value}`: {doc}"));
            }
            values.push(Value::String(value.clone()));
        }
        let object = schema.ensure_object();
        object.remove("oneOf");
        object.insert("type".into(), json!("string"));
        object.insert("enum".into(), Value::Array(values));
        if !docs.is_empty() {
            let mut description = match object.remove("description") {
                Some(Value::String(description)) => description + "\n\n",
                _ => String::new(),
            };
            description.push_str(&docs.join("\n"));
            object.insert("description".into(), Value::String(description));
        }
    }
}

/// A doc comment's text as a description: paragraphs kept, lines within one joined, intra-doc
/// links as plain code, `None` as null.
fn plain_text(doc: &str) -> String {
    let joined = doc
        .split("\n\n")
        .map(|paragraph| paragraph.split('\n').collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
        .replace("`None`", "null");
    let mut text = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while let Some(start) = rest.find("[`") {
        let after = &rest[start + 2..];
        // `[`Name`]`, not a link with a target (`[`Name`](...)`) nor brackets around more code.
        let link = after.find('`').filter(|&end| {
            after[end..].starts_with("`]")
                && !after[end + 2..].starts_with(['(', '['])
                && !after[..end].contains(['[', ']'])
        });
        match link {
            Some(end) => {
                text.push_str(&rest[..start]);
                text.push('`');
                text.push_str(&after[..end]);
                text.push('`');
                rest = &after[end + 2..];
            }
            None => {
                text.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn doc_comments_become_plain_descriptions() {
        assert_eq!(
            plain_text("One line\nand the next.\n\nA [`Link`], `None` here."),
            "One line and the next.\n\nA `Link`, null here."
        );
        // Not intra-doc links: a link with a target, an interval, brackets around more code.
        for kept in [
            "[`Name`](https://example.org)",
            "in (0, 1]",
            "[`lo`, `hi`]",
            "`[lo, hi]`",
        ] {
            assert_eq!(plain_text(kept), kept);
        }
        assert_eq!(plain_text("in (0, [`MAX`]]"), "in (0, `MAX`]");
    }
}
