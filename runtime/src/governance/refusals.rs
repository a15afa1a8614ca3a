//! Refusals in the audit log: every refused governance action and job submission leaves an
//! entry naming who was refused (the actor), what they tried to act on (the subject), the
//! action they tried and the rule that refused it, so reviewers see attempts as well as changes
//! (a suspended operator's tries included).
//!
//! Entries are `refused.<operation>` (the API operation refused, e.g. `refused.submitJob`), so
//! `shuyu audit show --action refused` lists them all. Details: `rule` (a stable name, see
//! [`RULES`] for the gate's), `message` (what the caller was told, or, where the caller is told
//! "not found" about another operator's object, what really refused it), `role`, `status`.
//!
//! A flood of refusals must not bloat the log: each identity gets at most
//! [`RefusalLimit::per_window`] entries per window; later refusals in that window are counted,
//! and the count is written as one `refused.suppressed` entry when the window has closed (at the
//! identity's next refusal, at the server's periodic flush, or when it stops). The windows live
//! in the server's memory: a crash loses at most one window's count, never an entry written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::Caller;
use super::{GovError, Governance};
use crate::store::codec::ts;

/// The action prefix of every refusal entry.
pub(crate) const REFUSED: &str = "refused";
/// The action of the entry counting an identity's suppressed refusals.
pub(crate) const REFUSED_SUPPRESSED: &str = "refused.suppressed";

/// The stable rule names of the job gate's refusals (`details.rule` of `refused.submitJob`),
/// each explained in docs/reviewer.md (a test checks it). A submission refused under a name not
/// listed here fails a debug assertion (`Governance::refuse_submission`), so the tests that
/// refuse submissions keep the list complete.
pub(crate) const RULES: &[(&str, &str)] = &[
    ("role", "the caller's role may not do this"),
    ("application_unknown", "no such application"),
    (
        "application_of_another_operator",
        "the application is another operator's (the caller is told it does not exist)",
    ),
    ("operator_suspended", "the operator is suspended"),
    ("operator_terminated", "the operator is terminated"),
    (
        "agreement_not_in_force",
        "the agreement is terminated, suspended, expired or not started",
    ),
    ("application_pending", "the application is pending review"),
    (
        "application_superseded",
        "an approved amendment replaced it",
    ),
    (
        "application_not_approved",
        "the application is rejected, lapsed, suspended, revoked or expired",
    ),
    (
        "dataset_unavailable",
        "a dataset it uses is suspended (objection), withdrawn or not registered",
    ),
    (
        "module_not_pinned",
        "the module is not the one the application pinned",
    ),
    ("quota", "a job quota is reached"),
    (
        "server_shutting_down",
        "the server is stopping and takes no job",
    ),
];

/// How many refusal entries one identity may cause per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalLimit {
    /// Entries per identity per window (at least 1).
    pub per_window: u32,
    /// The window.
    pub window: Duration,
}

impl Default for RefusalLimit {
    /// 20 entries per identity per minute.
    fn default() -> Self {
        Self {
            per_window: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// One refusal, as it is audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Who was refused.
    pub caller: Caller,
    /// The API operation refused (`submitJob`, `approveApplication`, ...).
    pub operation: String,
    /// What it was about: an id from the request, or the request path when it names none.
    pub target: String,
    /// The rule that refused it (a name from [`RULES`], or the error class for other actions:
    /// `forbidden`, `conflict`, `quota_exceeded`).
    pub rule: String,
    /// The HTTP status answered.
    pub status: u16,
    /// What refused it, in words.
    pub message: String,
}

/// One identity's current window.
#[derive(Debug, Clone)]
struct Window {
    started: DateTime<Utc>,
    written: u32,
    suppressed: u64,
}

/// The per-identity windows; shared by the clones of a [`Governance`].
#[derive(Debug, Clone, Default)]
pub(crate) struct RefusalWindows {
    limit: RefusalLimit,
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

impl RefusalWindows {
    pub(crate) fn new(limit: RefusalLimit) -> Self {
        Self {
            limit: RefusalLimit {
                per_window: limit.per_window.max(1),
                window: limit.window,
            },
            windows: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Window>> {
        // A panic elsewhere leaves counts that are still counts.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn window_len(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.limit.window).unwrap_or(chrono::Duration::MAX)
    }
}

/// What to write for one refusal.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// A closed window's suppressed count to write first: (identity, count, window start).
    closed: Option<(u64, DateTime<Utc>)>,
    /// Whether the refusal itself gets an entry.
    write: bool,
}

/// Advances `identity`'s window for one refusal at `now`.
fn plan(
    windows: &mut HashMap<String, Window>,
    identity: &str,
    limit: RefusalLimit,
    window_len: chrono::Duration,
    now: DateTime<Utc>,
) -> Plan {
    let fresh = Window {
        started: now,
        written: 0,
        suppressed: 0,
    };
    let window = windows.entry(identity.to_string()).or_insert(fresh.clone());
    let mut closed = None;
    if now >= window.started + window_len {
        if window.suppressed > 0 {
            closed = Some((window.suppressed, window.started));
        }
        *window = fresh;
    }
    let write = window.written < limit.per_window;
    if write {
        window.written += 1;
    } else {
        window.suppressed += 1;
    }
    Plan { closed, write }
}

impl Governance {
    /// Audits a refusal, within the caller's rate limit (see the module documentation).
    /// Returns whether the refusal got an entry of its own (false: counted as suppressed).
    ///
    /// # Errors
    ///
    /// [`GovError::Internal`] when the log cannot be written.
    pub fn record_refusal(&self, refusal: &Refusal) -> Result<bool, GovError> {
        let now = Utc::now();
        let windows = &self.refusals;
        // Held while writing: refusals of one server are serialized, which also keeps a
        // window's entries in order.
        let mut map = windows.lock();
        let plan = plan(
            &mut map,
            &refusal.caller.id,
            windows.limit,
            windows.window_len(),
            now,
        );
        if plan.closed.is_none() && !plan.write {
            return Ok(false);
        }
        self.store.write_with(|tx| {
            if let Some((count, started)) = plan.closed {
                self.record(
                    tx,
                    &refusal.caller.id,
                    REFUSED_SUPPRESSED,
                    &refusal.caller.id,
                    None,
                    suppressed_details(count, started, windows),
                )?;
            }
            if plan.write {
                self.record(
                    tx,
                    &refusal.caller.id,
                    &format!("{REFUSED}.{}", refusal.operation),
                    &refusal.target,
                    None,
                    json!({
                        "rule": refusal.rule,
                        "message": refusal.message,
                        "role": refusal.caller.role.as_str(),
                        "status": refusal.status,
                    }),
                )?;
            }
            Ok::<_, GovError>(())
        })?;
        Ok(plan.write)
    }

    /// Writes the suppressed counts of windows that have closed by `now` (all of them with
    /// `all`, when the server stops) and forgets those windows. Returns how many counts it wrote.
    ///
    /// # Errors
    ///
    /// [`GovError::Internal`] when the log cannot be written; the counts are kept for the next
    /// flush.
    pub fn flush_refusals(&self, now: DateTime<Utc>, all: bool) -> Result<u32, GovError> {
        let windows = &self.refusals;
        let window_len = windows.window_len();
        let mut map = windows.lock();
        let closed: Vec<(String, Window)> = map
            .iter()
            .filter(|(_, w)| all || now >= w.started + window_len)
            .map(|(id, w)| (id.clone(), w.clone()))
            .collect();
        let counts: Vec<&(String, Window)> =
            closed.iter().filter(|(_, w)| w.suppressed > 0).collect();
        if !counts.is_empty() {
            self.store.write_with(|tx| {
                for (identity, window) in &counts {
                    self.record(
                        tx,
                        identity,
                        REFUSED_SUPPRESSED,
                        identity,
                        None,
                        suppressed_details(window.suppressed, window.started, windows),
                    )?;
                }
                Ok::<_, GovError>(())
            })?;
        }
        for (identity, _) in &closed {
            map.remove(identity);
        }
        Ok(u32::try_from(counts.len()).unwrap_or(u32::MAX))
    }
}

/// The HTTP status a refusal is answered with, and its message.
pub(crate) fn refusal_parts(error: &GovError) -> (u16, &str) {
    match error {
        GovError::Unauthenticated(m) => (401, m),
        GovError::Forbidden(m) => (403, m),
        GovError::NotFound(m) => (404, m),
        GovError::Conflict(m) => (409, m),
        GovError::Quota(m) => (429, m),
        GovError::Invalid(m) => (422, m),
        GovError::Internal { message, .. } => (500, message),
    }
}

/// The details of a `refused.suppressed` entry.
fn suppressed_details(
    count: u64,
    started: DateTime<Utc>,
    windows: &RefusalWindows,
) -> serde_json::Value {
    json!({
        "suppressed": count,
        "window_start": ts(&started),
        "window_secs": windows.limit.window.as_secs(),
        "limit": windows.limit.per_window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reviewer's guide names every rule a job submission can be refused under, so a
    /// reviewer reading `details.rule` finds it explained.
    #[test]
    fn the_reviewers_guide_names_every_gate_rule() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reviewer.md");
        let guide = std::fs::read_to_string(path).unwrap();
        let missing: Vec<&str> = RULES
            .iter()
            .map(|(rule, _)| *rule)
            .filter(|rule| !guide.contains(&format!("`{rule}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/reviewer.md does not name {missing:?}"
        );
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_window_writes_its_limit_then_counts_and_reports_when_it_closes() {
        let limit = RefusalLimit {
            per_window: 2,
            window: Duration::from_secs(60),
        };
        let len = chrono::Duration::seconds(60);
        let mut map = HashMap::new();
        let step = |map: &mut HashMap<String, Window>, who: &str, t| plan(map, who, limit, len, t);
        assert!(step(&mut map, "op", at(0)).write);
        assert!(step(&mut map, "op", at(1)).write);
        for t in 2..10 {
            assert_eq!(
                step(&mut map, "op", at(t)),
                Plan {
                    closed: None,
                    write: false
                }
            );
        }
        // Another identity has its own window.
        assert!(step(&mut map, "other", at(5)).write);
        // The window closed: its count comes first, then a new window writes again.
        assert_eq!(
            step(&mut map, "op", at(60)),
            Plan {
                closed: Some((8, at(0))),
                write: true
            }
        );
        // A window with nothing suppressed closes silently.
        assert_eq!(
            step(&mut map, "other", at(70)),
            Plan {
                closed: None,
                write: true
            }
        );
    }
}
