//! Refused job submissions are audited with their rule, within a per-identity rate limit.

use std::time::Duration as StdDuration;

use super::*;
use crate::audit::Entry;
use crate::governance::{Refusal, RefusalLimit};

/// The `refused.*` entries, oldest first.
fn refusals(w: &World) -> Vec<Entry> {
    w.fx.audit
        .search(&AuditFilter {
            action: Some("refused".into()),
            ..AuditFilter::default()
        })
        .expect("search")
}

#[test]
fn every_refused_submission_is_audited_with_its_rule() {
    let w = World::new();
    let (agreement, module, app) = w.approved();
    let other = w.fx.add("op-2", Role::Operator, Some(&usci(2)), None);
    let now = Utc::now();
    let submit =
        |who: &Caller, app: &str, module: &str| w.gov().authorize_submission(who, app, module, now);

    // The bureau may not run jobs.
    forbidden(submit(&w.bureau, &app.id, &module));
    // The module is not the pinned one.
    conflict(submit(&w.op, &app.id, &"e".repeat(64)));
    // Another operator's application answers exactly what a missing one does.
    looks_missing(
        &app.id,
        submit(&other, &app.id, &module),
        "app-999",
        submit(&other, "app-999", &module),
    );
    // A pending amendment.
    let amendment = w
        .gov()
        .submit_application(
            &w.op,
            w.new_application(&agreement.id, &module, Some(&app.id)),
        )
        .expect("amend");
    conflict(submit(&w.op, &amendment.id, &module));
    // A suspended operator.
    w.gov()
        .suspend_operator(&w.bureau, "op-1", "failed evaluation")
        .unwrap();
    conflict(submit(&w.op, &app.id, &module));

    let seen: Vec<(String, String, String, String)> = refusals(&w)
        .into_iter()
        .map(|e| {
            (
                e.actor,
                e.action,
                e.subject,
                e.details["rule"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expect = |actor: &str, subject: &str, rule: &str| {
        (
            actor.to_string(),
            "refused.submitJob".to_string(),
            subject.to_string(),
            rule.to_string(),
        )
    };
    assert_eq!(
        seen,
        vec![
            expect("bureau-1", &app.id, "role"),
            expect("op-1", &app.id, "module_not_pinned"),
            expect("op-2", &app.id, "application_of_another_operator"),
            expect("op-2", "app-999", "application_unknown"),
            expect("op-1", &amendment.id, "application_pending"),
            expect("op-1", &app.id, "operator_suspended"),
        ]
    );
    // Reviewers learn whose application it really was; the operator was told "not found".
    let hidden = &refusals(&w)[2];
    assert_eq!(hidden.details["status"], 404);
    assert!(
        hidden.details["message"]
            .as_str()
            .unwrap()
            .contains("belongs to operator 'op-1'"),
        "{}",
        hidden.details
    );
    // The gate's check when a queued job starts writes no refusal entry (the job's state does).
    let before = refusals(&w).len();
    conflict(w.gov().authorize_job(&w.op, &app.id, &module, now));
    assert_eq!(refusals(&w).len(), before);
    w.fx.assert_audited("refused.submitJob", Some(&app.id));
}

#[test]
fn a_flood_of_refusals_is_cut_to_the_limit_and_the_rest_counted() {
    let w = World::new();
    let gov = w.gov().clone().with_refusal_limit(RefusalLimit {
        per_window: 3,
        window: StdDuration::from_secs(3600),
    });
    let refusal = |who: &Caller| Refusal {
        caller: who.clone(),
        operation: "approveApplication".into(),
        target: "app-1".into(),
        rule: "forbidden".into(),
        status: 403,
        message: "only the bureau may approve applications".into(),
    };
    let written: Vec<bool> = (0..10)
        .map(|_| gov.record_refusal(&refusal(&w.op)).unwrap())
        .collect();
    assert_eq!(written.iter().filter(|w| **w).count(), 3);
    // Another identity has its own allowance.
    assert!(gov.record_refusal(&refusal(&w.market)).unwrap());
    // The window is open: nothing to flush yet; closing it writes one counted entry.
    assert_eq!(gov.flush_refusals(Utc::now(), false).unwrap(), 0);
    assert_eq!(gov.flush_refusals(Utc::now(), true).unwrap(), 1);
    let entries = refusals(&w);
    assert_eq!(entries.len(), 5, "3 + 1 + the count");
    let count = entries.last().unwrap();
    assert_eq!(count.action, "refused.suppressed");
    assert_eq!(count.actor, "op-1");
    assert_eq!(count.details["suppressed"], 7);
    assert_eq!(count.details["limit"], 3);
    // A new window starts writing again.
    assert!(gov.record_refusal(&refusal(&w.op)).unwrap());
    w.fx.assert_audited("refused.suppressed", Some("op-1"));
}
