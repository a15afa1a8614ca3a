//! What the operator may see of a job: the one place that turns a [`JobReport`] into the
//! operator's account of it.
//!
//! The operator writes the module and reads everything the domain shows about its jobs, so any
//! value the module can influence and the operator can observe is a channel out of the domain.
//! This view keeps only what a module can steer through a handful of fixed words:
//!
//! - the job's end as a fixed code: `completed`, `guest_error` (never the module's own code),
//!   `refused`, `cancelled` or a fault class (`limit:fuel`, `trap`, `out_of_bounds`, ...);
//! - for each release: released (with its product id) or blocked. A threshold release names the
//!   rule that blocked it; a release with privacy says only `blocked`, unless the privacy budget
//!   refused it (the operator reads its budget anyway);
//! - for a module refused before it ran, the reason, which depends on the module's bytes alone.
//!
//! Exact counters (fuel, rows, queries, times), guest error codes, block messages with counts and
//! trap kinds go to the audit log for reviewers. `docs/security.md` lists every signal with its
//! capacity.

use serde::Serialize;

use super::{JobReport, JobStatus, ReleaseOutcome};
use crate::guard::{ReleaseReport, Rule};
use crate::sandbox::Fault;

/// The fixed code of a job's end, as the operator sees it.
pub fn status_code(report: &JobReport) -> String {
    match &report.status {
        JobStatus::Completed => "completed".into(),
        JobStatus::GuestError(_) => "guest_error".into(),
        JobStatus::Failed(fault) => fault_class(fault, report.module_problem.as_deref()),
        JobStatus::Refused(_) => "refused".into(),
    }
}

/// A fault as the operator sees it: the limit's name, but not which trap; for a module refused
/// before it ran, the reason (it names an import or export of the module itself).
pub(crate) fn fault_class(fault: &Fault, module_problem: Option<&str>) -> String {
    match (fault, module_problem) {
        (Fault::InvalidModule(_), Some(problem)) => format!("invalid_module: {problem}"),
        (Fault::Trap(_), _) => "trap".into(),
        (fault, _) => fault.code(),
    }
}

/// Whether the operator may see the rule that blocked a release. A module that passes the
/// entity, size, domain, scan or schema rules at will could otherwise spell a few bits of the
/// data around the noise of a release with privacy.
pub(crate) fn rule_visible(rule: Rule, private: bool) -> bool {
    !private || rule == Rule::PrivacyBudget
}

/// One release as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseView {
    /// The contract entry.
    pub release: String,
    /// The product id, when released.
    pub product: Option<String>,
    /// The rule, when blocked and the rule may be shown.
    pub rule: Option<&'static str>,
    /// Whether it was blocked.
    pub blocked: bool,
}

impl ReleaseView {
    /// The view of one outcome.
    pub fn of(outcome: &ReleaseOutcome) -> Self {
        match outcome {
            ReleaseOutcome::Released {
                release,
                product_dir,
                ..
            } => Self {
                release: release.clone(),
                product: product_dir
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned()),
                rule: None,
                blocked: false,
            },
            ReleaseOutcome::Blocked {
                release,
                rule,
                report,
                ..
            } => Self {
                release: release.clone(),
                product: None,
                rule: rule_visible(*rule, report.counts_withheld).then(|| rule.as_str()),
                blocked: true,
            },
        }
    }

    /// `blocked` or `blocked by <rule>`.
    pub fn block_text(&self) -> String {
        match self.rule {
            Some(rule) => format!("blocked by {rule}"),
            None => "blocked".into(),
        }
    }
}

/// A released table's accounting as its product manifest and the operator show it: the policy's
/// parameters, the groups released (the table's own rows) and whether any group was suppressed.
/// How many groups and rows were suppressed, dropped by the bound or clamped are exact counts of
/// what the module sent: a module can make them carry a value (v junk rows dropped by the bound
/// spell v), so they go to the audit log only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownReport {
    /// The effective minimum of distinct entities per released group.
    pub k: u32,
    /// The effective per-entity row bound `L`.
    pub max_rows_per_entity: u32,
    /// Groups in the released table.
    pub groups_released: u64,
    /// Why groups are suppressed, in words.
    pub suppression_rule: String,
    /// Whether any group was suppressed; `None` under privacy (the noise decides, and the counts
    /// are withheld).
    pub suppressed: Option<bool>,
    /// True for a release with privacy: every count that depends on the data is withheld, the
    /// released groups excepted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub counts_withheld: bool,
}

/// The shown part of `report`.
pub fn shown_report(report: &ReleaseReport) -> ShownReport {
    ShownReport {
        k: report.k,
        max_rows_per_entity: report.max_rows_per_entity,
        groups_released: report.groups_released,
        suppression_rule: report.suppression_rule.clone(),
        suppressed: (!report.counts_withheld).then_some(report.groups_suppressed > 0),
        counts_withheld: report.counts_withheld,
    }
}

/// The job's end in one line: the status code, then each blocked release.
pub fn summary(report: &JobReport) -> String {
    let blocked: Vec<String> = report
        .releases
        .iter()
        .map(ReleaseView::of)
        .filter(|r| r.blocked)
        .map(|r| format!("release '{}' {}", r.release, r.block_text()))
        .collect();
    let status = status_code(report);
    if blocked.is_empty() {
        status
    } else {
        format!("{status}; {}", blocked.join("; "))
    }
}

/// The job's elapsed time as shown: whole seconds, rounded up. Finer times would be a faster
/// channel; the exact time is in the audit log.
pub fn coarse_seconds(report: &JobReport) -> u64 {
    let elapsed = report.elapsed;
    elapsed.as_secs() + u64::from(elapsed.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::LimitKind;
    use std::time::Duration;

    fn report(status: JobStatus) -> JobReport {
        JobReport {
            job_id: super::super::JobId::new(),
            scenario_id: "s".into(),
            scenario_key_id: "s~0".into(),
            module_sha256: "0".repeat(64),
            status,
            module_problem: None,
            releases: Vec::new(),
            fuel_used: 11_253_905,
            rows_read: 14_068,
            queries: 3,
            elapsed: Duration::from_millis(1_406),
            timings: crate::job::PhaseTimes::default(),
        }
    }

    #[test]
    fn a_guest_error_code_never_reaches_the_operator() {
        let r = report(JobStatus::GuestError(1_406_717));
        assert_eq!(status_code(&r), "guest_error");
        assert!(!summary(&r).contains("1406717"));
    }

    #[test]
    fn traps_are_one_class_and_limits_keep_their_name() {
        let r = report(JobStatus::Failed(Fault::Trap("divide_by_zero".into())));
        assert_eq!(status_code(&r), "trap");
        let r = report(JobStatus::Failed(Fault::Limit(LimitKind::Fuel)));
        assert_eq!(status_code(&r), "limit:fuel");
    }

    #[test]
    fn only_a_module_refused_before_running_shows_its_reason() {
        let fault = Fault::InvalidModule("the module imports `env::clock`".into());
        let mut r = report(JobStatus::Failed(fault));
        assert_eq!(status_code(&r), "invalid_module");
        r.module_problem = Some("the module imports `env::clock`".into());
        assert_eq!(
            status_code(&r),
            "invalid_module: the module imports `env::clock`"
        );
    }

    #[test]
    fn private_blocks_hide_their_rule_but_the_budget() {
        let blocked = |rule, private| ReleaseOutcome::Blocked {
            release: "r".into(),
            rule,
            message: "12 rows".into(),
            report: ReleaseReport {
                counts_withheld: private,
                ..ReleaseReport::default()
            },
        };
        let view = ReleaseView::of(&blocked(Rule::ScanIdentifier, true));
        assert_eq!(view.block_text(), "blocked");
        let view = ReleaseView::of(&blocked(Rule::PrivacyBudget, true));
        assert_eq!(view.block_text(), "blocked by privacy.budget");
        let view = ReleaseView::of(&blocked(Rule::ScanIdentifier, false));
        assert_eq!(view.block_text(), "blocked by scan.identifier");
    }

    #[test]
    fn a_manifest_shows_whether_groups_were_suppressed_not_how_many() {
        let report = ReleaseReport {
            groups_released: 12,
            groups_suppressed: 1_406,
            rows_suppressed: 14_067,
            rows_dropped_by_bound: 1_406_716,
            contribution_rows: 1_406_717,
            ..ReleaseReport::new(10, 1)
        };
        let shown = serde_json::to_string(&shown_report(&report)).unwrap();
        for steered in ["1406", "14067", "1406716", "1406717"] {
            assert!(!shown.contains(steered), "{shown}");
        }
        assert!(shown.contains("\"suppressed\":true"), "{shown}");
    }

    #[test]
    fn elapsed_time_is_whole_seconds() {
        assert_eq!(coarse_seconds(&report(JobStatus::Completed)), 2);
    }
}
