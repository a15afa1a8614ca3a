//! JSON Schemas (OpenAPI 3.1 dialect) of the bodies the API reads and writes, by name. The
//! route table names them; [`super::openapi`] puts them under `components/schemas`.
//!
//! They describe the serde shapes of the types in `governance::model`, `audit` and the route
//! modules; the tests in `openapi` check that every name a route uses is defined here and that
//! sample values of the main types have exactly the properties described.

use serde_json::{json, Map, Value};

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// A text the server refuses empty or blank (a reason, a note, an answer): at least one
/// character that is not whitespace.
fn text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "pattern": "\\S", "description": description })
}

fn nullable_string(description: &str) -> Value {
    json!({ "type": ["string", "null"], "description": description })
}

fn integer(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": description })
}

fn number(description: &str) -> Value {
    json!({ "type": "number", "minimum": 0, "description": description })
}

fn time(description: &str) -> Value {
    json!({ "type": "string", "format": "date-time", "description": description })
}

fn nullable_time(description: &str) -> Value {
    json!({ "type": ["string", "null"], "format": "date-time", "description": description })
}

fn strings(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "description": description })
}

fn enumeration(description: &str, values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values, "description": description })
}

/// A reference to a named schema.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable_ref(name: &str) -> Value {
    json!({ "oneOf": [reference(name), { "type": "null" }] })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": reference(name) })
}

/// An object with `properties` in order; `required` lists those that must be present.
fn object(description: &str, properties: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_string(), schema.clone()))
        .collect();
    json!({
        "type": "object",
        "description": description,
        "properties": props,
        "required": required,
    })
}

/// An object a request sends: exactly `properties`, anything else refused (the server's types
/// deny unknown fields).
fn request_object(description: &str, properties: &[(&str, Value)], required: &[&str]) -> Value {
    let mut schema = object(description, properties, required);
    schema["additionalProperties"] = json!(false);
    schema
}

/// The schemas of request bodies and of the objects inside them: all closed
/// (`additionalProperties: false`), as the server refuses unknown fields.
pub const REQUEST_OBJECTS: [&str; 15] = [
    "PublishDataset",
    "ReasonInput",
    "NewAgreement",
    "AgreementScope",
    "NewApplication",
    "ScenarioFile",
    "ScenarioInfo",
    "Grant",
    "Limits",
    "ReviewInput",
    "NewObjection",
    "ResolveObjection",
    "NewQualityRequest",
    "QualityAnswer",
    "NewJob",
];

/// A page of `item`s.
fn page(item: &str) -> Value {
    object(
        &format!("A page of {item}: pass `next` as `after` for the following page."),
        &[
            ("items", array_of(item)),
            (
                "next",
                nullable_string("Cursor of the next page; null on the last."),
            ),
        ],
        &["items", "next"],
    )
}

/// The schemas listed as pages (`<Item>Page`).
pub const PAGED: [&str; 7] = [
    "DatasetRecord",
    "Agreement",
    "Application",
    "Objection",
    "QualityRequest",
    "JobRecord",
    "AuditEntry",
];

/// Every named schema.
pub fn all() -> Map<String, Value> {
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: Value| {
        schemas.insert(name.to_string(), schema);
    };

    add(
        "Error",
        object(
            "Every error answer.",
            &[("error", reference("ErrorDetail"))],
            &["error"],
        ),
    );
    add(
        "ErrorDetail",
        object(
            "What went wrong.",
            &[
                ("status", integer("HTTP status.")),
                (
                    "code",
                    string("Stable code: bad_request, unauthenticated, forbidden, not_found, method_not_allowed, conflict, payload_too_large, uri_too_long, unsupported_media_type, invalid, quota_exceeded, unavailable, internal."),
                ),
                ("message", string("For people; never internals.")),
            ],
            &["status", "code", "message"],
        ),
    );
    add(
        "OpenApiDocument",
        json!({ "type": "object", "description": "An OpenAPI 3.1 document." }),
    );
    add(
        "Health",
        object(
            "The server is up.",
            &[
                ("status", enumeration("Always ok.", &["ok"])),
                ("version", string("Server version.")),
            ],
            &["status", "version"],
        ),
    );
    add(
        "DomainPublicKey",
        object(
            "The domain's public key: what checks product manifests, audit checkpoints and kept heads.",
            &[
                ("algorithm", enumeration("Always ed25519.", &["ed25519"])),
                (
                    "public_key",
                    json!({ "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "The key, 64 lowercase hex characters (the content of keys/domain.pub)." }),
                ),
                (
                    "key_id",
                    json!({ "type": "string", "pattern": "^[0-9a-f]{16}$", "description": "The key id manifests name: the first 16 hex characters of the key's SHA-256." }),
                ),
            ],
            &["algorithm", "public_key", "key_id"],
        ),
    );
    add(
        "Role",
        enumeration("A role.", &["bureau", "provider", "operator", "reviewer"]),
    );
    add(
        "IdentityStatus",
        enumeration(
            "Whether an identity may act.",
            &["active", "suspended", "terminated"],
        ),
    );
    add(
        "StatusChange",
        object(
            "Who last changed a status, when and why.",
            &[
                (
                    "by",
                    string("The identity that changed it (`system`: the end of a term; `admin`: shuyu admin)."),
                ),
                ("at", time("When.")),
                ("reason", nullable_string("Why.")),
            ],
            &["by", "at", "reason"],
        ),
    );
    add(
        "Identity",
        object(
            "A registered identity.",
            &[
                ("id", string("Stable id.")),
                ("role", reference("Role")),
                ("name", string("Display name.")),
                (
                    "usci",
                    nullable_string("Operators: unified social credit code."),
                ),
                ("department", nullable_string("Providers: department name.")),
                ("status", reference("IdentityStatus")),
                ("status_change", nullable_ref("StatusChange")),
                ("created_at", time("When it was created.")),
            ],
            &[
                "id",
                "role",
                "name",
                "usci",
                "department",
                "status",
                "status_change",
                "created_at",
            ],
        ),
    );

    add(
        "DatasetStatus",
        enumeration(
            "Whether jobs may use a dataset.",
            &["active", "suspended", "withdrawn"],
        ),
    );
    add(
        "DatasetVersion",
        object(
            "One published version.",
            &[
                ("version", integer("1, 2, 3, ...")),
                ("content_sha256", string("SHA-256 of the Parquet file.")),
                ("rows", integer("Rows.")),
                (
                    "active",
                    json!({ "type": "boolean", "description": "False once withdrawn." }),
                ),
                ("published_at", time("When published.")),
            ],
            &[
                "version",
                "content_sha256",
                "rows",
                "active",
                "published_at",
            ],
        ),
    );
    add(
        "DatasetRecord",
        object(
            "A registered dataset.",
            &[
                ("name", string("Name (its SQL table name).")),
                ("provider", string("Provider identity id.")),
                ("title", string("Title.")),
                (
                    "open",
                    string("Open attribute: unconditional, conditional, not_open."),
                ),
                ("level", integer("Security level.")),
                ("status", reference("DatasetStatus")),
                ("status_change", nullable_ref("StatusChange")),
                (
                    "current_version",
                    json!({ "type": ["integer", "null"], "description": "The newest active version." }),
                ),
                ("versions", array_of("DatasetVersion")),
            ],
            &[
                "name",
                "provider",
                "title",
                "open",
                "level",
                "status",
                "status_change",
                "current_version",
                "versions",
            ],
        ),
    );
    add(
        "PublishDataset",
        request_object(
            "A new dataset version.",
            &[
                ("manifest", string("The dataset.toml text.")),
                (
                    "parquet_base64",
                    json!({ "type": "string", "contentEncoding": "base64", "description": "The Parquet file, base64." }),
                ),
            ],
            &["manifest", "parquet_base64"],
        ),
    );
    add(
        "ReasonInput",
        request_object(
            "Why an action is taken (audited).",
            &[("reason", text("Why."))],
            &["reason"],
        ),
    );

    add(
        "AgreementMode",
        enumeration(
            "How an agreement scopes access.",
            &["comprehensive", "domain", "tiered"],
        ),
    );
    add(
        "AgreementStatus",
        enumeration(
            "An agreement's state.",
            &["active", "suspended", "terminated", "expired"],
        ),
    );
    add(
        "AgreementScope",
        request_object(
            "What an agreement covers.",
            &[
                ("datasets", strings("Datasets (mode tiered).")),
                ("domains", strings("Provider departments (mode domain).")),
                (
                    "max_level",
                    json!({ "type": "integer", "minimum": 0, "maximum": 255, "description": "Highest dataset security level covered." }),
                ),
            ],
            &["max_level"],
        ),
    );
    let agreement_terms = [
        ("operator", string("Operator identity id.")),
        ("mode", reference("AgreementMode")),
        ("scope", reference("AgreementScope")),
        ("term_start", time("Start of the term.")),
        ("term_end", time("End of the term: access ends then.")),
        (
            "security_requirements",
            text("Security requirements accepted."),
        ),
        ("exit_conditions", text("Exit conditions.")),
    ];
    let terms_required = [
        "operator",
        "mode",
        "scope",
        "term_start",
        "term_end",
        "security_requirements",
        "exit_conditions",
    ];
    add(
        "NewAgreement",
        request_object("An agreement to grant.", &agreement_terms, &terms_required),
    );
    let mut agreement = vec![
        ("id", string("Id (agr-...).")),
        ("authorizer", string("The bureau identity that granted it.")),
    ];
    agreement.extend(agreement_terms.iter().cloned());
    agreement.push(("status", reference("AgreementStatus")));
    agreement.push(("status_change", nullable_ref("StatusChange")));
    agreement.push(("created_at", time("When granted.")));
    let mut agreement_required = vec!["id", "authorizer"];
    agreement_required.extend(terms_required);
    agreement_required.extend(["status", "status_change", "created_at"]);
    add(
        "Agreement",
        object(
            "An authorization agreement.",
            &agreement,
            &agreement_required,
        ),
    );
    add(
        "OperatorSuspension",
        object(
            "A suspended operator and the jobs stopped.",
            &[
                ("operator", reference("Identity")),
                ("stopped_jobs", strings("Job ids stopped.")),
            ],
            &["operator", "stopped_jobs"],
        ),
    );
    add(
        "ModuleUploaded",
        object(
            "A stored module.",
            &[(
                "sha256",
                string("SHA-256 (lowercase hex), what a scenario pins."),
            )],
            &["sha256"],
        ),
    );

    add(
        "ScenarioInfo",
        request_object(
            "Who, what for, which module.",
            &[
                ("id", string("Stable id [a-z0-9_-]+.")),
                ("title", string("Title.")),
                ("operator", string("The operator (must be the caller).")),
                ("purpose", string("Why the data is used.")),
                (
                    "module_sha256",
                    string("SHA-256 of the only module allowed to run."),
                ),
            ],
            &["id", "title", "operator", "module_sha256"],
        ),
    );
    add(
        "Grant",
        request_object(
            "One dataset and the columns granted.",
            &[
                ("dataset", string("Dataset name.")),
                (
                    "columns",
                    strings("Granted columns; identifiers are pseudonymized."),
                ),
            ],
            &["dataset", "columns"],
        ),
    );
    add(
        "Limits",
        request_object(
            "Resource limits; every field has a default (docs/abi.md).",
            &[
                ("fuel", integer("WebAssembly fuel.")),
                ("memory_mib", integer("Linear memory in MiB.")),
                ("max_queries", integer("Queries the guest may start.")),
                ("max_open_queries", integer("Queries open at once.")),
                ("max_rows_read", integer("Rows delivered to the guest.")),
                ("max_releases", integer("Releases the guest may begin.")),
                (
                    "query_timeout_secs",
                    integer("Seconds one query may take in the engine."),
                ),
                ("max_log_lines", integer("Guest log lines kept.")),
                ("host_memory_mib", integer("Host memory of one run in MiB.")),
                ("entity_fuel", integer("Fuel of one entity run.")),
                (
                    "entity_memory_mib",
                    integer("Linear memory of one entity run in MiB."),
                ),
                ("entity_max_rows", integer("Rows one entity may have.")),
                (
                    "max_entities",
                    integer("Entities one per-entity release may run."),
                ),
                (
                    "entity_release_secs",
                    integer("Wall time of one per-entity release."),
                ),
            ],
            &[],
        ),
    );
    add(
        "ReleaseContract",
        json!({
            "type": "object",
            "description": "One release the module may make: dimensions, measures, aggregations, k, bounds (see docs/abi.md and the scenario file format).",
        }),
    );
    add(
        "VectorContract",
        json!({
            "type": "object",
            "description": "One vector the module may release by sample-and-aggregate (see docs/abi.md, `release_vector`).",
        }),
    );
    add(
        "PrivacyBudget",
        json!({
            "type": "object",
            "description": "The scenario's total privacy budget: `epsilon` and optional `delta` (see docs/privacy.md).",
        }),
    );
    add(
        "ScenarioFile",
        request_object(
            "A scenario, as in scenario.toml.",
            &[
                ("scenario", reference("ScenarioInfo")),
                ("grant", array_of("Grant")),
                ("limits", reference("Limits")),
                ("release", array_of("ReleaseContract")),
                ("vector", array_of("VectorContract")),
                ("privacy_budget", reference("PrivacyBudget")),
            ],
            &["scenario", "grant"],
        ),
    );
    add(
        "NewApplication",
        request_object(
            "A scenario application (one per scenario).",
            &[
                ("agreement", string("The caller's active agreement.")),
                ("scenario", reference("ScenarioFile")),
                ("valid_until", time("End of validity.")),
                (
                    "amends",
                    nullable_string("An approved application of the same scenario this amends."),
                ),
            ],
            &["agreement", "scenario", "valid_until"],
        ),
    );
    add(
        "ApplicationStatus",
        enumeration(
            "An application's state.",
            &[
                "pending",
                "approved",
                "rejected",
                "lapsed",
                "suspended",
                "revoked",
                "superseded",
                "expired",
            ],
        ),
    );
    add(
        "ReviewKind",
        enumeration("Who reviews.", &["bureau", "provider"]),
    );
    add(
        "Decision",
        enumeration("A decision.", &["approve", "reject"]),
    );
    add(
        "Review",
        object(
            "One required review.",
            &[
                ("kind", reference("ReviewKind")),
                ("party", string("The identity that must review (or did).")),
                ("decision", nullable_ref("Decision")),
                ("reason", nullable_string("The written reason.")),
                ("deadline", time("End of the last working day allowed.")),
                ("decided_at", nullable_time("When decided.")),
                (
                    "overdue",
                    json!({ "type": "boolean", "description": "Undecided past the deadline." }),
                ),
            ],
            &[
                "kind",
                "party",
                "decision",
                "reason",
                "deadline",
                "decided_at",
                "overdue",
            ],
        ),
    );
    add(
        "Application",
        object(
            "A scenario application with its reviews.",
            &[
                ("id", string("Id (app-...).")),
                ("scenario_id", string("Scenario id.")),
                ("operator", string("Operator identity id.")),
                ("agreement", string("Agreement id.")),
                ("scenario", reference("ScenarioFile")),
                ("valid_until", time("End of validity.")),
                ("amends", nullable_string("The application it amends.")),
                ("status", reference("ApplicationStatus")),
                ("status_change", nullable_ref("StatusChange")),
                ("reviews", array_of("Review")),
                ("submitted_at", time("When submitted.")),
            ],
            &[
                "id",
                "scenario_id",
                "operator",
                "agreement",
                "scenario",
                "valid_until",
                "amends",
                "status",
                "status_change",
                "reviews",
                "submitted_at",
            ],
        ),
    );
    add(
        "ReviewInput",
        request_object(
            "A review.",
            &[
                ("decision", reference("Decision")),
                ("reason", text("Written reason (required).")),
            ],
            &["decision", "reason"],
        ),
    );
    add(
        "ApplicationAction",
        object(
            "An application after a suspension or revocation, and the jobs stopped.",
            &[
                ("application", reference("Application")),
                ("stopped_jobs", strings("Job ids stopped.")),
            ],
            &["application", "stopped_jobs"],
        ),
    );

    add_effective_contract(&mut add);

    add(
        "NewObjection",
        request_object(
            "An objection against a dataset.",
            &[
                ("dataset", string("The dataset.")),
                ("reason", text("The harm claimed.")),
            ],
            &["dataset", "reason"],
        ),
    );
    add(
        "ObjectionStatus",
        enumeration("An objection's state.", &["open", "resolved"]),
    );
    add(
        "Resolution",
        enumeration(
            "How an objection is resolved.",
            &["withdraw", "restore", "restore_after_treatment"],
        ),
    );
    add(
        "Objection",
        object(
            "An objection.",
            &[
                ("id", string("Id (obj-...).")),
                ("dataset", string("The dataset.")),
                ("filed_by", string("Who filed it.")),
                ("reason", string("The harm claimed.")),
                ("status", reference("ObjectionStatus")),
                ("resolution", nullable_ref("Resolution")),
                ("note", nullable_string("The provider's note.")),
                ("filed_at", time("When filed.")),
                ("resolved_at", nullable_time("When resolved.")),
                (
                    "joined",
                    json!({
                        "type": "array",
                        "items": reference("ObjectionJoin"),
                        "description": "Objections filed while this one was open, joined to it and resolved with it.",
                    }),
                ),
            ],
            &[
                "id",
                "dataset",
                "filed_by",
                "reason",
                "status",
                "resolution",
                "note",
                "filed_at",
                "resolved_at",
                "joined",
            ],
        ),
    );
    add(
        "ObjectionJoin",
        object(
            "An objection joined to the one open against the same dataset.",
            &[
                ("filed_by", string("Who filed it.")),
                ("reason", string("The harm claimed.")),
                ("filed_at", time("When filed.")),
            ],
            &["filed_by", "reason", "filed_at"],
        ),
    );
    add(
        "ResolveObjection",
        request_object(
            "A resolution.",
            &[
                ("resolution", reference("Resolution")),
                ("note", text("The provider's note (required).")),
            ],
            &["resolution", "note"],
        ),
    );
    add(
        "NewQualityRequest",
        request_object(
            "A data-quality request.",
            &[
                ("dataset", string("The dataset.")),
                ("description", text("The problem.")),
            ],
            &["dataset", "description"],
        ),
    );
    add(
        "QualityRequest",
        object(
            "A data-quality request and its answer.",
            &[
                ("id", string("Id (qr-...).")),
                ("dataset", string("The dataset.")),
                ("operator", string("The operator that filed it.")),
                ("description", string("The problem.")),
                ("answer", nullable_string("The provider's answer.")),
                ("filed_at", time("When filed.")),
                ("answered_at", nullable_time("When answered.")),
            ],
            &[
                "id",
                "dataset",
                "operator",
                "description",
                "answer",
                "filed_at",
                "answered_at",
            ],
        ),
    );
    add(
        "QualityAnswer",
        request_object(
            "A provider's answer.",
            &[("answer", text("The answer."))],
            &["answer"],
        ),
    );

    add(
        "NewJob",
        request_object(
            "A job to run.",
            &[
                ("application", string("The approved application.")),
                (
                    "module_sha256",
                    string("SHA-256 of the uploaded, pinned module."),
                ),
            ],
            &["application", "module_sha256"],
        ),
    );
    add(
        "JobState",
        enumeration(
            "A job's state.",
            &[
                "queued",
                "running",
                "completed",
                "failed",
                "refused",
                "cancelled",
            ],
        ),
    );
    add(
        "JobPhase",
        enumeration(
            "Where a job is: queued, planning (gate, module compiled, datasets opened; nothing of the module ran), running, releasing (the module ended; its end is being recorded), done. Phases only: nothing a module can count or steer (docs/security.md).",
            &["queued", "planning", "running", "releasing", "done"],
        ),
    );
    add(
        "JobRelease",
        object(
            "One release of a job, as the operator sees it.",
            &[
                ("release", string("Contract entry name.")),
                ("outcome", enumeration("Outcome.", &["released", "blocked"])),
                ("product", nullable_string("Product id when released.")),
                ("rule", nullable_string("Rule name when blocked.")),
                (
                    "message",
                    nullable_string("Always null: block messages carry counts a module can steer; reviewers read them in the audit log."),
                ),
                (
                    "groups_released",
                    integer("Groups released (0 when blocked)."),
                ),
                (
                    "suppressed",
                    json!({
                        "type": ["boolean", "null"],
                        "description": "Whether any group of a released threshold table was suppressed; null when blocked or under privacy. Exact counts are for reviewers."
                    }),
                ),
            ],
            &[
                "release",
                "outcome",
                "product",
                "rule",
                "message",
                "groups_released",
                "suppressed",
            ],
        ),
    );
    add(
        "JobRecord",
        object(
            "A job submitted through the server.",
            &[
                ("id", string("Job id (the audit log's job id).")),
                ("application", string("The application that authorized it.")),
                ("scenario_id", string("Scenario id.")),
                ("operator", string("Operator identity id.")),
                ("module_sha256", string("Module SHA-256.")),
                ("state", reference("JobState")),
                ("phase", reference("JobPhase")),
                (
                    "detail",
                    nullable_string("Refusal reason, fault code or guest error code (never data)."),
                ),
                ("releases", array_of("JobRelease")),
                (
                    "submitted_at",
                    time("When submitted (to the whole second for operators)."),
                ),
                (
                    "started_at",
                    nullable_time("When it started running (to the whole second for operators)."),
                ),
                (
                    "ended_at",
                    nullable_time(
                        "When it ended. Operators see whole seconds: how long a module runs is its own to choose, so finer times would be a channel (docs/security.md).",
                    ),
                ),
            ],
            &[
                "id",
                "application",
                "scenario_id",
                "operator",
                "module_sha256",
                "state",
                "phase",
                "detail",
                "releases",
                "submitted_at",
                "started_at",
                "ended_at",
            ],
        ),
    );

    add(
        "BudgetScope",
        object(
            "What a privacy budget belongs to.",
            &[
                (
                    "kind",
                    enumeration(
                        "A scenario, or a dataset across all scenarios.",
                        &["scenario", "dataset"],
                    ),
                ),
                ("id", string("The scenario id or dataset name.")),
            ],
            &["kind", "id"],
        ),
    );
    add(
        "BudgetStatus",
        object(
            "One scope's privacy budget under basic composition: ε and δ of successive releases add up.",
            &[
                ("scope", reference("BudgetScope")),
                ("epsilon_total", number("ε granted in total.")),
                ("delta_total", number("δ granted in total.")),
                ("epsilon_spent", number("ε spent by debits not refunded.")),
                ("delta_spent", number("δ spent by debits not refunded.")),
                ("epsilon_remaining", number("ε left to spend.")),
                ("delta_remaining", number("δ left to spend.")),
                ("updated_at", string("When the totals were last set (RFC 3339, UTC, milliseconds).")),
            ],
            &[
                "scope",
                "epsilon_total",
                "delta_total",
                "epsilon_spent",
                "delta_spent",
                "epsilon_remaining",
                "delta_remaining",
                "updated_at",
            ],
        ),
    );
    add(
        "DatasetBudget",
        object(
            "A dataset the scenario's releases are charged to.",
            &[
                ("dataset", string("Dataset name.")),
                ("budget", nullable_ref("BudgetStatus")),
            ],
            &["dataset", "budget"],
        ),
    );
    add(
        "DebitSummary",
        object(
            "One charge of a private release; its `privacy.debit` audit entry has the same `debit` id.",
            &[
                ("id", string("Debit id (`dbt-...`).")),
                ("job_id", string("The job that asked for the release.")),
                ("release", string("The release's name.")),
                ("epsilon", number("ε charged.")),
                ("delta", number("δ charged.")),
                ("time", string("When (RFC 3339, UTC, milliseconds).")),
                ("refunded", json!({ "type": "boolean", "description": "Refunded because nothing was released." })),
                ("refunded_at", nullable_string("When it was refunded.")),
            ],
            &["id", "job_id", "release", "epsilon", "delta", "time", "refunded", "refunded_at"],
        ),
    );
    add(
        "ScenarioBudget",
        object(
            "A scenario's privacy budget, the budgets of the datasets it is charged to (those its approved application grants) and its debits, read at one instant.",
            &[
                ("scenario_id", string("Scenario id.")),
                ("budget", reference("BudgetStatus")),
                ("datasets", array_of("DatasetBudget")),
                ("debits", array_of("DebitSummary")),
            ],
            &["scenario_id", "budget", "datasets", "debits"],
        ),
    );

    add(
        "AuditEntry",
        object(
            "One entry of the hash-chained audit log.",
            &[
                ("seq", integer("Position in the log, from 1, without gaps.")),
                ("time", string("RFC 3339, UTC, milliseconds.")),
                ("actor", string("Who acted.")),
                (
                    "action",
                    string("What happened (job.start, query, release.blocked, guest.log, ...)."),
                ),
                (
                    "subject",
                    string("What it happened to, usually a scenario id."),
                ),
                ("job_id", nullable_string("The job, if any.")),
                ("details", json!({ "description": "Details as JSON." })),
                ("prev_hash", string("Hash of the previous entry.")),
                ("hash", string("This entry's hash.")),
            ],
            &[
                "seq",
                "time",
                "actor",
                "action",
                "subject",
                "job_id",
                "details",
                "prev_hash",
                "hash",
            ],
        ),
    );
    add(
        "VerifyReport",
        object(
            "What a successful verification covered. Keep `head` outside the domain: a later, lower head reveals a truncation.",
            &[
                ("entries", integer("Entries checked.")),
                ("checkpoints", integer("Signed checkpoints checked.")),
                (
                    "head",
                    json!({
                        "description": "[seq, hash] of the last entry; null for an empty log.",
                        "oneOf": [
                            // Not `prefixItems`: schema tools that generate and check data
                            // from OpenAPI documents (schemathesis) do not read it.
                            {
                                "type": "array",
                                "items": { "type": ["integer", "string"] },
                                "minItems": 2,
                                "maxItems": 2,
                            },
                            { "type": "null" },
                        ],
                    }),
                ),
                (
                    "last_checkpoint",
                    json!({ "type": ["integer", "null"], "description": "Seq of the newest checkpoint." }),
                ),
            ],
            &["entries", "checkpoints", "head", "last_checkpoint"],
        ),
    );

    for item in PAGED {
        add(&format!("{item}Page"), page(item));
    }
    schemas
}

/// The schemas of `GET /v1/applications/{id}/contract` (`governance::effective`).
fn add_effective_contract(add: &mut impl FnMut(&str, Value)) {
    let pair = |description: &str| {
        json!({
            "type": "array", "items": { "type": "number" }, "minItems": 2, "maxItems": 2,
            "description": description,
        })
    };
    add(
        "PrivacyBudget",
        object(
            "A total privacy budget (ε, δ) under basic composition.",
            &[
                ("epsilon", number("Total ε.")),
                ("delta", number("Total δ (0: pure ε-DP only).")),
            ],
            &["epsilon"],
        ),
    );
    add(
        "Looser",
        object(
            "A place where the scenario asks for something looser than a manifest; the manifest applies there.",
            &[
                ("place", string("Where in the scenario (release, measure, vector, privacy_budget).")),
                ("source", string("The manifest's column (dataset.column) or dataset.")),
                ("rule", string("The manifest's rule: clamp, min_k, privacy_budget.epsilon, privacy_budget.delta.")),
                ("asked", string("What the scenario asks for.")),
                ("allowed", string("What the manifest allows.")),
            ],
            &["place", "source", "rule", "asked", "allowed"],
        ),
    );
    add(
        "EffectiveColumn",
        object(
            "A granted column and its provider's policy.",
            &[
                ("name", string("Column name.")),
                (
                    "class",
                    enumeration(
                        "Sensitivity class.",
                        &["identifier", "quasi_identifier", "sensitive", "attribute"],
                    ),
                ),
                (
                    "pseudonymized",
                    json!({ "type": "boolean", "description": "The module sees pseudonyms, not values." }),
                ),
                (
                    "uses",
                    json!({ "type": "array", "items": { "type": "string", "enum": ["join", "dimension", "measure"] }, "description": "Uses the provider allows." }),
                ),
                (
                    "aggregations",
                    json!({ "type": "array", "items": { "type": "string", "enum": ["count", "sum", "mean"] }, "description": "Aggregations the provider allows (empty: any)." }),
                ),
                (
                    "clamp",
                    json!({ "oneOf": [pair("The provider's bound [lo, hi]."), { "type": "null" }] }),
                ),
            ],
            &[
                "name",
                "class",
                "pseudonymized",
                "uses",
                "aggregations",
                "clamp",
            ],
        ),
    );
    add(
        "EffectiveDataset",
        object(
            "A granted dataset, the version composed with, and its provider's rules.",
            &[
                ("dataset", string("Dataset name.")),
                (
                    "content_sha256",
                    string("SHA-256 of the data file of the current version."),
                ),
                (
                    "min_k",
                    integer("The provider's minimum distinct entities per released group."),
                ),
                (
                    "entity_column",
                    string("The column holding the dataset's subjects."),
                ),
                ("privacy_budget", reference("PrivacyBudget")),
                (
                    "privacy_budget_declared",
                    json!({ "type": "boolean", "description": "Declared in the manifest (false: the runtime's default)." }),
                ),
                ("columns", array_of("EffectiveColumn")),
            ],
            &[
                "dataset",
                "content_sha256",
                "min_k",
                "entity_column",
                "privacy_budget",
                "privacy_budget_declared",
                "columns",
            ],
        ),
    );
    add(
        "EffectiveRelease",
        object(
            "A release as the guard enforces it: k and clamps composed with the manifests.",
            &[
                ("name", string("Release name.")),
                (
                    "k",
                    json!({ "type": ["integer", "null"], "minimum": 2, "description": "The k applied (null under privacy)." }),
                ),
                ("max_rows_per_entity", integer("L: rows kept per entity.")),
                ("max_groups", integer("More groups blocks the release.")),
                (
                    "dominance",
                    json!({ "type": ["object", "null"], "description": "The (n, percent) dominance rule applied (null under privacy)." }),
                ),
                (
                    "privacy",
                    json!({ "type": ["object", "null"], "description": "ε and δ of the release." }),
                ),
                (
                    "dimensions",
                    json!({ "type": "array", "items": { "type": "object" }, "description": "Dimensions with sources and declared domains." }),
                ),
                (
                    "measures",
                    json!({ "type": "array", "items": { "type": "object" }, "description": "Measures with the clamps applied." }),
                ),
            ],
            &[
                "name",
                "k",
                "max_rows_per_entity",
                "max_groups",
                "dominance",
                "privacy",
                "dimensions",
                "measures",
            ],
        ),
    );
    add(
        "EffectiveContract",
        object(
            "A scenario composed with its datasets' current manifests: what the guard enforces.",
            &[
                ("scenario", string("Scenario id.")),
                (
                    "module_sha256",
                    string("SHA-256 of the only module allowed to run."),
                ),
                ("datasets", array_of("EffectiveDataset")),
                ("limits", reference("Limits")),
                ("privacy_budget", nullable_ref("PrivacyBudget")),
                ("releases", array_of("EffectiveRelease")),
                (
                    "vectors",
                    json!({ "type": "array", "items": { "type": "object" }, "description": "Sample-and-aggregate releases ([[vector]])." }),
                ),
                ("looser", array_of("Looser")),
            ],
            &[
                "scenario",
                "module_sha256",
                "datasets",
                "limits",
                "privacy_budget",
                "releases",
                "vectors",
                "looser",
            ],
        ),
    );
}
