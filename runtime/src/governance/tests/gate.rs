//! The governance gate, suspensions, objections, and job records.

use super::*;

/// A queued job under `app`.
fn queue(w: &World, job: &str, app: &str, module: &str) -> JobRecord {
    let auth = w
        .gov()
        .authorize_job(&w.op, app, module, Utc::now())
        .unwrap();
    w.gov()
        .record_job_queued(&w.op, job, &auth, module)
        .unwrap()
}

#[test]
fn the_gate_refuses_a_suspended_operator_until_restored() {
    let w = World::new();
    let (_, module, app) = w.approved();
    let auth = w
        .gov()
        .authorize_job(&w.op, &app.id, &module, Utc::now())
        .unwrap();
    assert_eq!(auth.application, app.id);
    assert_eq!(auth.scenario.scenario.id, "district-stats");
    let message = conflict(
        w.gov()
            .authorize_job(&w.op, &app.id, &"e".repeat(64), Utc::now()),
    );
    assert_eq!(
        message,
        format!(
            "module {} is not the module pinned by application {} ({module})",
            "e".repeat(64),
            app.id
        )
    );
    queue(&w, "job-1", &app.id, &module);

    invalid(w.gov().suspend_operator(&w.bureau, "op-1", ""));
    let jobs = w
        .gov()
        .suspend_operator(&w.bureau, "op-1", "failed the annual security evaluation")
        .unwrap();
    assert_eq!(jobs, vec!["job-1".to_string()]);
    let message = conflict(w.gov().authorize_job(&w.op, &app.id, &module, Utc::now()));
    assert_eq!(
        message,
        "operator 'op-1' is suspended: failed the annual security evaluation"
    );
    conflict(w.gov().submit_application(
        &w.op,
        w.new_application(&app.agreement, &module, Some(&app.id)),
    ));
    conflict(w.gov().suspend_operator(&w.bureau, "op-1", "again"));
    // A suspended operator still authenticates and reads its jobs.
    assert_eq!(
        w.gov().get_job(&w.op, "job-1").unwrap().state,
        JobState::Queued
    );

    let restored = w
        .gov()
        .restore_operator(&w.bureau, "op-1", "rectified and re-evaluated")
        .unwrap();
    assert_eq!(restored.status, IdentityStatus::Active);
    w.gov()
        .authorize_job(&w.op, &app.id, &module, Utc::now())
        .unwrap();
    conflict(w.gov().restore_operator(&w.bureau, "op-1", "again"));
    w.fx.assert_audited("gov.operator.suspend", Some("op-1"));
    w.fx.assert_audited("gov.operator.restore", Some("op-1"));
}

#[test]
fn applications_are_suspended_restored_and_revoked() {
    let w = World::new();
    let (_, module, app) = w.approved();
    queue(&w, "job-1", &app.id, &module);
    let jobs = w
        .gov()
        .suspend_application(&w.bureau, &app.id, "complaint under review")
        .unwrap();
    assert_eq!(jobs, vec!["job-1".to_string()]);
    let message = conflict(w.gov().authorize_job(&w.op, &app.id, &module, Utc::now()));
    assert_eq!(
        message,
        format!(
            "application {} is suspended: complaint under review",
            app.id
        )
    );
    w.gov()
        .restore_application(&w.bureau, &app.id, "complaint unfounded")
        .unwrap();
    w.gov()
        .authorize_job(&w.op, &app.id, &module, Utc::now())
        .unwrap();
    let jobs = w
        .gov()
        .revoke_application(&w.bureau, &app.id, "purpose changed")
        .unwrap();
    assert_eq!(jobs, vec!["job-1".to_string()]);
    conflict(w.gov().restore_application(&w.bureau, &app.id, "no"));
    let message = conflict(w.gov().authorize_job(&w.op, &app.id, &module, Utc::now()));
    assert!(message.contains("is revoked: purpose changed"), "{message}");
    w.fx.assert_audited("gov.application.revoke", Some(&app.id));
}

#[test]
fn an_objection_suspends_the_dataset_until_resolved() {
    let w = World::new();
    let (_, module, app) = w.approved();
    queue(&w, "job-1", &app.id, &module);
    invalid(w.gov().file_objection(&w.reviewer, "tax_payments", ""));
    let (objection, jobs) = w
        .gov()
        .file_objection(&w.reviewer, "tax_payments", "a sole trader is identifiable")
        .unwrap();
    assert_eq!(jobs, vec!["job-1".to_string()]);
    assert_eq!(objection.status, ObjectionStatus::Open);
    let dataset = w.gov().get_dataset(&w.op, "tax_payments").unwrap();
    assert_eq!(dataset.status, DatasetStatus::Suspended);
    let message = conflict(w.gov().authorize_job(&w.op, &app.id, &module, Utc::now()));
    assert_eq!(
        message,
        format!(
            "dataset 'tax_payments' is suspended by objection {}",
            objection.id
        )
    );

    forbidden(
        w.gov()
            .resolve_objection(&w.market, &objection.id, Resolution::Restore, "no"),
    );
    let message = conflict(w.gov().resolve_objection(
        &w.tax,
        &objection.id,
        Resolution::RestoreAfterTreatment,
        "treated",
    ));
    assert!(
        message.starts_with("publish the treated version first"),
        "{message}"
    );
    let resolved = w
        .gov()
        .resolve_objection(
            &w.tax,
            &objection.id,
            Resolution::Restore,
            "aggregates only",
        )
        .unwrap();
    assert_eq!(resolved.resolution, Some(Resolution::Restore));
    assert_eq!(
        w.gov().get_dataset(&w.op, "tax_payments").unwrap().status,
        DatasetStatus::Active
    );
    w.gov()
        .authorize_job(&w.op, &app.id, &module, Utc::now())
        .unwrap();
    conflict(
        w.gov()
            .resolve_objection(&w.tax, &objection.id, Resolution::Restore, "again"),
    );

    // Restored after treatment: the untreated version is retired, the treated one used.
    let (second, _) = w
        .gov()
        .file_objection(&w.op, "tax_payments", "amounts of one firm visible")
        .unwrap();
    w.publish_treated(&w.tax, "tax_payments", 1).unwrap();
    w.gov()
        .resolve_objection(
            &w.tax,
            &second.id,
            Resolution::RestoreAfterTreatment,
            "v2 treated",
        )
        .unwrap();
    let dataset = w.gov().get_dataset(&w.op, "tax_payments").unwrap();
    assert_eq!(dataset.status, DatasetStatus::Active);
    assert_eq!(dataset.current_version, Some(2));
    assert!(!dataset.versions[0].active);

    // Withdrawn: every job using it is refused for good.
    let (third, _) = w
        .gov()
        .file_objection(&w.market, "tax_payments", "unlawful collection")
        .unwrap();
    w.gov()
        .resolve_objection(
            &w.tax,
            &third.id,
            Resolution::Withdraw,
            "collection basis lacking",
        )
        .unwrap();
    let message = conflict(w.gov().authorize_job(&w.op, &app.id, &module, Utc::now()));
    assert_eq!(message, "dataset 'tax_payments' is withdrawn");
    let page = w
        .gov()
        .list_objections(
            &w.op,
            &PageRequest {
                limit: Some(2),
                after: None,
            },
        )
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = w
        .gov()
        .list_objections(
            &w.op,
            &PageRequest {
                limit: Some(2),
                after: page.next.clone(),
            },
        )
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None);
    w.fx.assert_audited("gov.objection.file", Some(&objection.id));
    w.fx.assert_audited("gov.objection.resolve", Some(&third.id));
}

#[test]
fn job_states_end_for_good_and_products_belong_to_their_operator() {
    let w = World::new();
    let (_, module, app) = w.approved();
    let job = queue(&w, "job-1", &app.id, &module);
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.scenario_id, "district-stats");
    conflict(w.gov().record_job_queued(
        &w.op,
        "job-1",
        &JobAuthorization {
            application: app.id.clone(),
            scenario: app.scenario.clone(),
        },
        &module,
    ));
    let running = w
        .gov()
        .record_job_state("job-1", JobState::Running, None, vec![])
        .unwrap();
    assert!(running.started_at.is_some());
    let release = JobRelease {
        release: "district_stats".into(),
        outcome: "released".into(),
        product: Some("prod-1".into()),
        rule: None,
        message: None,
        groups_released: 12,
        suppressed: Some(true),
    };
    let done = w
        .gov()
        .record_job_state("job-1", JobState::Completed, None, vec![release.clone()])
        .unwrap();
    assert_eq!(done.releases, vec![release]);
    assert!(done.ended_at.is_some());
    let message = conflict(
        w.gov()
            .record_job_state("job-1", JobState::Running, None, vec![]),
    );
    assert!(message.contains("final"), "{message}");
    assert!(matches!(
        w.gov()
            .record_job_state("nope", JobState::Running, None, vec![]),
        Err(GovError::NotFound(_))
    ));

    w.gov().authorize_product_download(&w.op, "prod-1").unwrap();
    let op2 = w.fx.add("op-2", Role::Operator, Some(&usci(2)), None);
    looks_missing(
        "prod-1",
        w.gov().authorize_product_download(&op2, "prod-1"),
        "prod-9",
        w.gov().authorize_product_download(&op2, "prod-9"),
    );
    looks_missing(
        "job-1",
        w.gov().get_job(&op2, "job-1"),
        "job-9",
        w.gov().get_job(&op2, "job-9"),
    );
    // Other roles are refused by role, before the product is looked up.
    for who in [&w.reviewer, &w.bureau, &w.market] {
        let message = forbidden(w.gov().authorize_product_download(who, "prod-1"));
        assert!(!message.contains("op-1"), "{message}");
    }
    assert!(matches!(
        w.gov().authorize_product_download(&w.op, "prod-x"),
        Err(GovError::NotFound(_))
    ));
    queue(&w, "job-2", &app.id, &module);
    let page = PageRequest {
        limit: Some(1),
        after: None,
    };
    let first = w.gov().list_jobs(&w.reviewer, &page).unwrap();
    assert_eq!(first.items[0].id, "job-1");
    assert_eq!(first.next.as_deref(), Some("job-1"));
    assert!(w.gov().list_jobs(&op2, &page).unwrap().items.is_empty());
    invalid(w.gov().list_jobs(
        &w.op,
        &PageRequest {
            limit: Some(0),
            after: None,
        },
    ));
    w.fx.assert_audited("gov.job.queued", Some("job-1"));
    w.fx.assert_audited("gov.job.completed", Some("job-1"));
}
