//! The governance vocabulary of docs/concepts.md, "Roles and rules" as data: identities and roles, registered datasets and
//! their versions, authorization agreements, scenario applications and their reviews, objections,
//! quality requests and server-side jobs.
//!
//! These types cross the HTTP API as JSON (snake_case fields, lowercase enum values) and are what
//! the runtime's `Governance` stores and returns. Times are UTC, RFC 3339 on the wire.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scenario::ScenarioFile;

/// What an identity may do. `admin` is not a role: it is whoever runs `shuyu admin` on the server
/// machine with access to the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The big-data bureau (大数据主管部门).
    Bureau,
    /// A data-providing department (数据提供单位); one identity per department.
    Provider,
    /// An authorized operating company (运营单位).
    Operator,
    /// A security reviewer (安全审查).
    Reviewer,
}

impl Role {
    /// The role's name as used on the wire and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Bureau => "bureau",
            Role::Provider => "provider",
            Role::Operator => "operator",
            Role::Reviewer => "reviewer",
        }
    }
}

/// Whether an identity may act. Only operators are ever suspended or terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    /// Normal.
    Active,
    /// Suspended by the bureau (failed evaluation): every job refused until restored.
    Suspended,
    /// Terminated: access has ended for good; records are kept.
    Terminated,
}

/// Who last changed an object's status, when and why. `None` where the status is the one the
/// object was created with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusChange {
    /// The identity that changed it (`system` for the end of a term, `admin` for `shuyu admin`).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, as given (or what the system recorded).
    pub reason: Option<String>,
}

/// The authenticated caller of a governance action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Identity id.
    pub id: String,
    /// Its role.
    pub role: Role,
}

/// A registered identity (never carries its token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Identity {
    /// Stable id, `[a-z0-9_-]{1,64}`.
    pub id: String,
    /// Role.
    pub role: Role,
    /// Display name (company or department name).
    pub name: String,
    /// Operators: the company's unified social credit code (validated check character).
    pub usci: Option<String>,
    /// Providers: the department name, which must equal the `provider` field of the manifests
    /// of the datasets it registers.
    pub department: Option<String>,
    /// Status.
    pub status: IdentityStatus,
    /// Who last changed the status, when and why.
    #[serde(default)]
    pub status_change: Option<StatusChange>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// `shuyu admin identity add`: a new identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIdentity {
    /// Stable id.
    pub id: String,
    /// Role.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// Required for operators.
    #[serde(default)]
    pub usci: Option<String>,
    /// Required for providers.
    #[serde(default)]
    pub department: Option<String>,
}

/// A bearer token, shown once when issued; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The identity it authenticates.
    pub identity: String,
    /// The token text (`sy_` + 64 hex characters).
    pub token: String,
}

/// Whether a registered dataset may be used by jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetStatus {
    /// Usable.
    Active,
    /// An objection is open against it: every job using it is refused.
    Suspended,
    /// No active version is left (all withdrawn), or withdrawn after an objection.
    Withdrawn,
}

/// One published version of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetVersion {
    /// 1, 2, 3, ... per dataset.
    pub version: u32,
    /// SHA-256 of the Parquet file.
    pub content_sha256: String,
    /// Rows in the Parquet file.
    pub rows: u64,
    /// False once withdrawn.
    pub active: bool,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

/// A dataset as registered by its provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetRecord {
    /// Dataset name (also its SQL table name).
    pub name: String,
    /// Identity id of the provider that registered it.
    pub provider: String,
    /// Title from the manifest.
    pub title: String,
    /// Open attribute from the manifest (`unconditional`, `conditional`, `not_open`).
    pub open: String,
    /// Security level from the manifest.
    pub level: u8,
    /// Status.
    pub status: DatasetStatus,
    /// Who last changed the status, when and why.
    #[serde(default)]
    pub status_change: Option<StatusChange>,
    /// The newest active version, which jobs use.
    pub current_version: Option<u32>,
    /// Every version, oldest first.
    pub versions: Vec<DatasetVersion>,
}

/// How an agreement scopes an operator's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementMode {
    /// All datasets up to `max_level`.
    Comprehensive,
    /// The datasets of the listed domains (a domain is a providing department) up to `max_level`.
    Domain,
    /// The listed datasets up to `max_level`.
    Tiered,
}

/// What an agreement covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementScope {
    /// Datasets by name (mode `tiered`).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Domains, i.e. provider departments (mode `domain`).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Highest dataset security level covered.
    pub max_level: u8,
}

/// An agreement's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    /// In force.
    Active,
    /// Suspended with its operator.
    Suspended,
    /// Ended by the bureau.
    Terminated,
    /// Ended by its term.
    Expired,
}

/// An agreement to grant: `POST /v1/agreements` (bureau).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgreement {
    /// Operator identity id.
    pub operator: String,
    /// Mode.
    pub mode: AgreementMode,
    /// Scope.
    pub scope: AgreementScope,
    /// Start of the term.
    pub term_start: DateTime<Utc>,
    /// End of the term: access ends then.
    pub term_end: DateTime<Utc>,
    /// Security requirements the operator accepted.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub security_requirements: String,
    /// Exit conditions.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub exit_conditions: String,
}

/// An authorization agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Agreement {
    /// Id (`agr-...`).
    pub id: String,
    /// The bureau identity that granted it.
    pub authorizer: String,
    /// Operator identity id.
    pub operator: String,
    /// Mode.
    pub mode: AgreementMode,
    /// Scope.
    pub scope: AgreementScope,
    /// Start of the term.
    pub term_start: DateTime<Utc>,
    /// End of the term: access ends then.
    pub term_end: DateTime<Utc>,
    /// Security requirements the operator accepted.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub security_requirements: String,
    /// Exit conditions.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub exit_conditions: String,
    /// State (expired is computed at read time from `term_end` and also recorded; suspended
    /// while its operator is suspended).
    pub status: AgreementStatus,
    /// Who changed the state shown, when and why (for `suspended`, the operator's suspension).
    #[serde(default)]
    pub status_change: Option<StatusChange>,
    /// When it was granted.
    pub created_at: DateTime<Utc>,
}

/// A scenario application: `POST /v1/applications` (operator), one per scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    /// The agreement it works under (must be the caller's and active).
    pub agreement: String,
    /// The scenario: id, purpose, operator (must be the caller), grants (datasets and columns,
    /// checked against the agreement's scope and the catalog at submission), the pinned module
    /// SHA-256, limits and the release contract.
    pub scenario: ScenarioFile,
    /// End of validity; jobs are refused after it.
    pub valid_until: DateTime<Utc>,
    /// An approved application of the same scenario this one amends (new module or contract).
    /// The old one stays in force until this one is approved, then becomes `superseded`.
    #[serde(default)]
    pub amends: Option<String>,
}

/// An application's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Waiting for reviews.
    Pending,
    /// Every review approved: jobs may run.
    Approved,
    /// A review rejected it.
    Rejected,
    /// A review deadline passed without a decision.
    Lapsed,
    /// Suspended alone by the bureau.
    Suspended,
    /// Revoked by the bureau.
    Revoked,
    /// Replaced by an approved amendment.
    Superseded,
    /// Past `valid_until`.
    Expired,
}

/// Who reviews: the bureau's formal review or one involved provider's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// The bureau's formal review.
    Bureau,
    /// A providing department's review of the use of its data.
    Provider,
}

/// A review decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

/// One required review of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    /// Bureau or provider.
    pub kind: ReviewKind,
    /// The identity that must review (the bureau review may be given by any bureau identity;
    /// this then names who did).
    pub party: String,
    /// The decision, once given.
    pub decision: Option<Decision>,
    /// The written reason.
    pub reason: Option<String>,
    /// End of the last working day allowed.
    pub deadline: DateTime<Utc>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Undecided and past the deadline.
    pub overdue: bool,
}

/// A scenario application with its reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Application {
    /// Id (`app-...`).
    pub id: String,
    /// Scenario id (one live application per scenario).
    pub scenario_id: String,
    /// Operator identity id.
    pub operator: String,
    /// Agreement id.
    pub agreement: String,
    /// The scenario as submitted.
    pub scenario: ScenarioFile,
    /// End of validity.
    pub valid_until: DateTime<Utc>,
    /// The application it amends.
    pub amends: Option<String>,
    /// State.
    pub status: ApplicationStatus,
    /// Who last changed the state, when and why.
    #[serde(default)]
    pub status_change: Option<StatusChange>,
    /// Required reviews: the bureau's, then one per involved provider.
    pub reviews: Vec<Review>,
    /// When submitted.
    pub submitted_at: DateTime<Utc>,
}

/// A review: `POST /v1/applications/{id}/reviews`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// Approve or reject.
    pub decision: Decision,
    /// Written reason (required, non-empty).
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub reason: String,
}

/// How a provider resolves an objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The dataset is withdrawn.
    Withdraw,
    /// The objection is unfounded: the dataset is restored as it was.
    Restore,
    /// The data was treated (a new version published first): restored.
    RestoreAfterTreatment,
}

/// An objection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionStatus {
    /// The dataset is suspended until the provider resolves it.
    Open,
    /// Resolved.
    Resolved,
}

/// An objection against a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Objection {
    /// Id (`obj-...`).
    pub id: String,
    /// The dataset.
    pub dataset: String,
    /// Who filed it.
    pub filed_by: String,
    /// Why (the harm claimed).
    pub reason: String,
    /// State.
    pub status: ObjectionStatus,
    /// How it was resolved.
    pub resolution: Option<Resolution>,
    /// The provider's note.
    pub note: Option<String>,
    /// When filed.
    pub filed_at: DateTime<Utc>,
    /// When resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Later objections against the dataset while this one was open, joined to it in filing
    /// order and resolved with it.
    #[serde(default)]
    pub joined: Vec<ObjectionJoin>,
}

/// An objection filed while another against the same dataset was open, kept with that one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectionJoin {
    /// Who filed it.
    pub filed_by: String,
    /// Why (the harm claimed).
    pub reason: String,
    /// When filed.
    pub filed_at: DateTime<Utc>,
}

/// A data-quality request from an operator to a dataset's provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QualityRequest {
    /// Id (`qr-...`).
    pub id: String,
    /// The dataset.
    pub dataset: String,
    /// The operator that filed it.
    pub operator: String,
    /// The problem described.
    pub description: String,
    /// The provider's answer, once given.
    pub answer: Option<String>,
    /// When filed.
    pub filed_at: DateTime<Utc>,
    /// When answered.
    pub answered_at: Option<DateTime<Utc>>,
}

/// Working-day calendar settings for review deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarSettings {
    /// Working days each review may take (default 10).
    pub review_working_days: u32,
    /// Public holidays (no working day). Saturdays and Sundays never count either.
    pub holidays: Vec<NaiveDate>,
    /// Weekend days that are working days (调休 make-up days).
    pub extra_working_days: Vec<NaiveDate>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self {
            review_working_days: 10,
            holidays: Vec::new(),
            extra_working_days: Vec::new(),
        }
    }
}

/// The domain's quotas (setting `quotas`; `shuyu admin quotas`). Each bounds what one operator
/// can make the domain hold or do; a refusal names the quota and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaSettings {
    /// Jobs an operator may have queued or running at once (default 8).
    pub queued_jobs_per_operator: u32,
    /// Jobs one scenario may submit per day of the domain (default 100), counting every job
    /// recorded that day whatever its end, so cancelling does not give a job back.
    pub jobs_per_scenario_per_day: u32,
    /// The domain's day: its offset from UTC in minutes (default 480, China Standard Time,
    /// UTC+8). Days run from midnight to midnight at this offset.
    pub day_utc_offset_minutes: i32,
    /// Largest module accepted, in bytes (default 16 MiB; at most 64 MiB, the upload route's
    /// body limit).
    pub module_bytes: u64,
    /// Distinct modules an operator may upload in all (default 64); uploading a module again
    /// is free.
    pub modules_per_operator: u32,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            queued_jobs_per_operator: 8,
            jobs_per_scenario_per_day: 100,
            day_utc_offset_minutes: 8 * 60,
            module_bytes: 16 << 20,
            modules_per_operator: 64,
        }
    }
}

/// What the governance gate decided for a job request.
#[derive(Debug, Clone)]
pub struct JobAuthorization {
    /// The approved application.
    pub application: String,
    /// Its scenario, to run.
    pub scenario: ScenarioFile,
}

/// A server-side job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Running,
    /// Ran; see `outcome` for its releases.
    Completed,
    /// Ran and failed (trap, limit, guest error, blocked release).
    Failed,
    /// The governance gate refused it; nothing ran.
    Refused,
    /// Cancelled by its operator or stopped by a suspension.
    Cancelled,
}

/// Where a job is, as its operator may follow it: the same for every job, whatever its module
/// does. Only the module's end moves a job on while it runs (`running` → `releasing`), and the
/// job's end shows that moment anyway; there are no counts (docs/security.md, "Job phases").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    /// Waiting for a worker.
    Queued,
    /// Taken by a worker: the governance gate again, the module compiled (or loaded from the
    /// domain's cache), the granted datasets opened. Nothing of the module has run yet.
    Planning,
    /// The module runs: its queries, its releases (each checked by the guard as it is made).
    Running,
    /// The module has ended; its end and releases are being recorded and the audit log sealed.
    Releasing,
    /// Ended: `state` says how.
    Done,
}

impl JobPhase {
    /// The phase a stored state implies when no worker says more: ended states are done.
    pub fn of_state(state: JobState) -> Self {
        match state {
            JobState::Queued => Self::Queued,
            JobState::Running => Self::Running,
            JobState::Completed | JobState::Failed | JobState::Refused | JobState::Cancelled => {
                Self::Done
            }
        }
    }
}

/// One released or blocked release of a job, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobRelease {
    /// Contract entry name.
    pub release: String,
    /// `released` or `blocked`.
    #[schemars(extend("enum" = ["released", "blocked"]))]
    pub outcome: String,
    /// Product id when released.
    pub product: Option<String>,
    /// Rule name when blocked.
    pub rule: Option<String>,
    /// Always null since block messages carry counts a module can steer (docs/security.md);
    /// kept so that clients of the field keep parsing. Reviewers read the message in the audit log.
    pub message: Option<String>,
    /// Groups released (the product's rows); 0 when blocked.
    pub groups_released: u64,
    /// Whether the guard suppressed any group of a released threshold table; `None` when blocked
    /// or under privacy. Exact counts are for reviewers: a module can steer them
    /// (docs/security.md).
    #[serde(default)]
    pub suppressed: Option<bool>,
}

/// A job submitted through the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobRecord {
    /// Job id (the audit log's job id).
    pub id: String,
    /// The application that authorized it.
    pub application: String,
    /// Scenario id.
    pub scenario_id: String,
    /// Operator identity id.
    pub operator: String,
    /// Module SHA-256.
    pub module_sha256: String,
    /// State.
    pub state: JobState,
    /// Phase: finer than `state` while the job is queued or running, `done` once it ended.
    pub phase: JobPhase,
    /// Refusal reason, fault code or guest error code (never data, never guest log lines).
    pub detail: Option<String>,
    /// Releases, once ended.
    pub releases: Vec<JobRelease>,
    /// When submitted (to the whole second for operators).
    pub submitted_at: DateTime<Utc>,
    /// When it started running (to the whole second for operators).
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended. Operators see whole seconds: how long a module runs is its own to choose,
    /// so finer times would be a channel (docs/security.md).
    pub ended_at: Option<DateTime<Utc>>,
}

/// A page of results: pass `next` as `after` for the following page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page; null on the last.
    pub next: Option<String>,
}

/// Pagination request: at most `limit` items (1..=500, default 50) after the cursor `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageRequest {
    /// Page size.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Cursor from the previous page's `next`.
    #[serde(default)]
    pub after: Option<String>,
}
