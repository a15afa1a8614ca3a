//! Verification and data services as records: consents and the calls made under them
//! (docs/bureau.md, "Services and consents").
//!
//! A subject's identifier never appears here: consents and calls hold its **subject
//! reference**, a keyed hash of the identifier under a domain key of its own, so the bureau can
//! find every call about a subject it is asked about without the database holding identifiers.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use shuyu_guard::service::SubjectKind;

/// Whether a consent can be cited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// In force within its validity period.
    Active,
    /// Withdrawn; no call may cite it any more.
    Revoked,
}

impl ConsentStatus {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::Active => "active",
            ConsentStatus::Revoked => "revoked",
        }
    }
}

/// A subject's consent (授权) to one operator's use of one service for one purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Consent {
    /// Id (`cs-...`).
    pub id: String,
    /// The operator it authorizes.
    pub operator: String,
    /// The service, `<scenario>.<service>`.
    pub service: String,
    /// The kind of the subject's identifier.
    pub subject_kind: SubjectKind,
    /// The subject reference (keyed hash of the identifier; see the module docs).
    pub subject_ref: String,
    /// What the subject agreed the answers are used for.
    pub purpose: String,
    /// SHA-256 (lowercase hex) of the signed authorization the operator keeps as evidence.
    pub evidence_sha256: String,
    /// First moment a call may cite it.
    pub valid_from: DateTime<Utc>,
    /// Moment after which no call may cite it.
    pub valid_until: DateTime<Utc>,
    /// Active or revoked.
    pub status: ConsentStatus,
    /// Who recorded it.
    pub granted_by: String,
    /// When it was recorded.
    pub granted_at: DateTime<Utc>,
    /// Who revoked it, when revoked.
    pub revoked_by: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
}

impl Consent {
    /// Why a call at `now` may not cite this consent, or `None` when it may.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<String> {
        if self.status == ConsentStatus::Revoked {
            return Some(format!("consent {} was revoked", self.id));
        }
        if now < self.valid_from {
            return Some(format!(
                "consent {} is valid only from {}",
                self.id,
                self.valid_from.to_rfc3339()
            ));
        }
        if now > self.valid_until {
            return Some(format!(
                "consent {} expired at {}",
                self.id,
                self.valid_until.to_rfc3339()
            ));
        }
        None
    }
}

/// How a service call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The answer passed its contract and was returned.
    Answered,
    /// The module gave no answer that fits the contract (a fault, an error code, an answer
    /// outside the contract); nothing was returned but the failure's kind.
    Failed,
}

impl CallOutcome {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Failed => "failed",
        }
    }
}

/// One call of a service that reached the module (refusals before it are in the audit log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceCall {
    /// Id (`call-...`).
    pub id: String,
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// The calling operator.
    pub operator: String,
    /// The service, `<scenario>.<service>`.
    pub service: String,
    /// The application in force the call ran under.
    pub application: String,
    /// The consent it cited.
    pub consent: String,
    /// The subject reference.
    pub subject_ref: String,
    /// Answered or failed.
    pub outcome: CallOutcome,
    /// The answer (field → declared value or bucket), when answered.
    pub answer: Option<serde_json::Value>,
    /// `no_answer` when failed: the reason (a fault, the contract's rule) is only in the call's
    /// audit entry, since the module chose it.
    pub failure: Option<String>,
    /// Time from the request's arrival to the answer, in microseconds.
    pub latency_us: u64,
}

/// Usage of one service by one operator on one day (domain time zone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageRow {
    /// The local day.
    pub day: NaiveDate,
    /// The operator.
    pub operator: String,
    /// The service.
    pub service: String,
    /// Calls answered.
    pub answered: u64,
    /// Calls whose module gave no fitting answer.
    pub failed: u64,
    /// Mean latency of those calls, in milliseconds.
    pub mean_latency_ms: f64,
    /// Largest latency, in milliseconds.
    pub max_latency_ms: f64,
}
