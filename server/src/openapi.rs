//! The OpenAPI 3.1 description served at `GET /openapi.json`, built from the route table the
//! router is built from (see [`super::route_table`]).

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use super::error::human_bytes;
use super::extract::WASM_CONTENT_TYPES;
use super::pagination::MAX_LIMIT;
use super::route_table::{ParamType, RequestBody, ResponseBody, Route};
use super::{routes, schemas};

/// The document for the API's routes, built once.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| build(&routes::all()))
}

/// What each error status means, for `components/responses`.
const ERROR_RESPONSES: [(u16, &str); 12] = [
    (
        400,
        "The request cannot be read: malformed JSON, a bad path or query parameter",
    ),
    (401, "No bearer token, or an unknown one"),
    (
        403,
        "The caller's role or ownership does not allow this; the message says who may",
    ),
    (
        404,
        "Nothing with that id or name (another operator's objects look the same), or no such route",
    ),
    (405, "The route exists but not with this method"),
    (
        409,
        "The action conflicts with the current state; the message gives the reason",
    ),
    (413, "The body is over the route's size limit"),
    (
        414,
        "The request URI (path and query) is over 8 KiB (8192 bytes)",
    ),
    (
        415,
        "The body's content type is not the one the route reads",
    ),
    (422, "The input is well-formed but invalid"),
    (
        429,
        "A quota is reached; the message names it and when it frees up",
    ),
    (500, "Internal error; the server's log has the details"),
];

fn error_response_name(status: u16) -> String {
    format!("Error{status}")
}

/// Builds the document for `routes`.
pub(crate) fn build(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let item = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.verb.as_str().to_string(), operation(route));
        }
    }
    let responses: Map<String, Value> = ERROR_RESPONSES
        .iter()
        .map(|(status, description)| {
            (
                error_response_name(*status),
                json!({
                    "description": description,
                    "content": {
                        "application/json": { "schema": schemas::reference("Error") }
                    },
                }),
            )
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "shuyu",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of a shuyu domain: governance of public data (datasets, agreements, scenario applications and reviews, objections, quality requests), jobs and their products, and the audit log. Every error is answered as {\"error\": {\"status\", \"code\", \"message\"}}.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token issued with `shuyu admin`: `Authorization: Bearer sy_...`.",
                }
            },
            "schemas": schemas::all(),
            "responses": responses,
        },
    })
}

/// The schema of a parameter: what the server accepts, exactly; anything else is a 400.
pub(crate) fn parameter_schema(ty: ParamType) -> Value {
    match ty {
        ParamType::String => json!({ "type": "string" }),
        ParamType::NonEmptyString => json!({ "type": "string", "minLength": 1 }),
        ParamType::Integer => json!({ "type": "integer", "minimum": 0 }),
        ParamType::PageLimit => json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }),
        ParamType::TimeOrDate => json!({
            "type": "string",
            "anyOf": [{ "format": "date-time" }, { "format": "date" }],
        }),
    }
}

fn parameter(location: &str, param: &super::route_table::Param) -> Value {
    let schema = parameter_schema(param.ty);
    json!({
        "name": param.name,
        "in": location,
        "required": location == "path",
        "description": param.description,
        "schema": schema,
    })
}

fn operation(route: &Route) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), json!(route.operation));
    op.insert("summary".into(), json!(route.summary));
    op.insert("tags".into(), json!([route.tag]));
    op.insert(
        "security".into(),
        if route.auth {
            json!([{ "bearer": [] }])
        } else {
            json!([])
        },
    );
    let parameters: Vec<Value> = route
        .path_params
        .iter()
        .map(|p| parameter("path", p))
        .chain(route.query.iter().map(|p| parameter("query", p)))
        .collect();
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    let limit = format!("At most {}.", human_bytes(route.body_limit));
    match route.body {
        RequestBody::None => {}
        RequestBody::Json(schema) => {
            op.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "description": limit,
                    "content": { "application/json": { "schema": schemas::reference(schema) } },
                }),
            );
        }
        RequestBody::Wasm => {
            let content: Map<String, Value> = WASM_CONTENT_TYPES
                .iter()
                .map(|t| {
                    (
                        (*t).to_string(),
                        json!({ "schema": { "type": "string", "contentMediaType": "application/wasm" } }),
                    )
                })
                .collect();
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "description": limit, "content": content }),
            );
        }
    }
    if route.body != RequestBody::None {
        op.insert("x-body-limit".into(), json!(route.body_limit));
    }
    let success = match route.response {
        ResponseBody::Json(schema) => json!({
            "description": route.summary,
            "content": { "application/json": { "schema": schemas::reference(schema) } },
        }),
        ResponseBody::Files(types) => {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| {
                    let essence = media_type_essence(t);
                    (
                        essence.to_string(),
                        json!({ "schema": { "type": "string", "contentMediaType": essence } }),
                    )
                })
                .collect();
            json!({ "description": "The file's bytes, with the file's own content type.", "content": content })
        }
    };
    let mut responses = Map::new();
    responses.insert(route.status.to_string(), success);
    for status in route.error_statuses() {
        responses.insert(
            status.to_string(),
            json!({ "$ref": format!("#/components/responses/{}", error_response_name(status)) }),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// `text/csv; charset=utf-8` → `text/csv`: the document keys responses by media type.
pub(crate) fn media_type_essence(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
}
