//! Mock runs as records: an operator's run of any module against the mock twins of the datasets
//! its scenario names, without approval (docs/operator.md, "Mock runs").
//!
//! A mock run shows the operator everything the run did, because nothing real is in a twin:
//! the guest's log lines, every query with a preview of its result, every error message in
//! full, and each release as the guard would have decided it, with the released rows. Its
//! results are marked [`MOCK_MARK`] and never become products.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The mark every mock result carries.
pub const MOCK_MARK: &str = "MOCK";

/// Where a mock run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MockRunStatus {
    /// Started; its report is not there yet.
    Running,
    /// The run ended (however the module ended); the report says how.
    Finished,
    /// The run could not be carried out (the worker crashed, the server stopped); `detail` in
    /// the report says why.
    Failed,
}

impl MockRunStatus {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            MockRunStatus::Running => "running",
            MockRunStatus::Finished => "finished",
            MockRunStatus::Failed => "failed",
        }
    }
}

/// One mock run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MockRun {
    /// Id (`mock-...`).
    pub id: String,
    /// Always [`MOCK_MARK`]: nothing here is a product.
    pub mark: String,
    /// The operator who ran it.
    pub operator: String,
    /// The scenario id of the contract it ran under.
    pub scenario_id: String,
    /// SHA-256 of the module that ran.
    pub module_sha256: String,
    /// The datasets whose mock twins it read.
    pub datasets: Vec<String>,
    /// Where it is.
    pub status: MockRunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// What happened, once it ended.
    pub report: Option<MockReport>,
}

/// Everything a mock run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MockReport {
    /// How the module ended: `completed`, `guest_error:<code>`, a fault code, `refused` or
    /// `failed`.
    pub outcome: String,
    /// The full message of a fault or refusal (a mock run hides nothing).
    pub detail: String,
    /// Whether the scenario's `module_sha256` names the module that ran; submitting the same
    /// module for review needs it to.
    pub module_matches_scenario: bool,
    /// Fuel used.
    pub fuel_used: u64,
    /// Rows delivered to the guest.
    pub rows_read: u64,
    /// Queries started.
    pub queries: u32,
    /// Wall time of the guest, in milliseconds.
    pub elapsed_ms: u64,
    /// The run's trail in order: queries (with a preview of their rows), log lines, releases
    /// and blocks, the end.
    pub events: Vec<MockEvent>,
    /// Each release as the guard decided it.
    pub releases: Vec<MockRelease>,
    /// Events left out because the report reached its size limit.
    pub events_omitted: u64,
}

/// One entry of a mock run's trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MockEvent {
    /// What happened (`query`, `guest.log`, `release`, `release.blocked`, `job.end`, ...).
    pub action: String,
    /// Its details as the audit log of a real run would hold them, with query previews.
    pub details: serde_json::Value,
}

/// One release of a mock run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MockRelease {
    /// The contract entry.
    pub release: String,
    /// `released` or `blocked`.
    pub outcome: String,
    /// The guard's rule for a block.
    pub rule: Option<String>,
    /// The guard's message for a block.
    pub message: Option<String>,
    /// The released table's column names.
    pub columns: Vec<String>,
    /// Its first rows, each cell as text (`null` for a null).
    pub rows: Vec<Vec<Option<String>>>,
    /// How many rows it had.
    pub total_rows: u64,
}

/// What an operator asks for: a module it uploaded and a scenario, draft or filed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMockRun {
    /// SHA-256 of a module the operator uploaded.
    pub module_sha256: String,
    /// A scenario file (TOML), e.g. a draft not yet filed. Exactly one of `scenario` and
    /// `application` is given.
    #[serde(default)]
    pub scenario: Option<String>,
    /// One of the operator's applications, in any status: its scenario is used.
    #[serde(default)]
    pub application: Option<String>,
}
