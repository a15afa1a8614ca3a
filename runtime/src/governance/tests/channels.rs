//! What one operator can learn or take from another through governance: scenario ids and the
//! pseudonyms and budgets behind them, error messages, products after a suspension, and quotas.

use super::*;

/// A second operator with its own agreement and module, ready to apply.
fn second_operator(w: &World) -> (Caller, Agreement, String) {
    let op2 = w.fx.add("op-2", Role::Operator, Some(&usci(2)), None);
    let now = Utc::now();
    let agreement = w
        .gov()
        .create_agreement(
            &w.bureau,
            NewAgreement {
                operator: op2.id.clone(),
                mode: AgreementMode::Comprehensive,
                scope: AgreementScope {
                    datasets: vec![],
                    domains: vec![],
                    max_level: 4,
                },
                term_start: now - Duration::days(1),
                term_end: now + Duration::days(365),
                security_requirements: "level 3 protection".into(),
                exit_conditions: "delete all derived data".into(),
            },
        )
        .expect("agreement of op-2");
    let module = w
        .gov()
        .upload_module(&op2, &[0, b'a', b's', b'm', 1, 0, 0, 0, 42])
        .expect("upload by op-2");
    (op2, agreement, module)
}

/// A job of `app` queued, run and completed with product `product`.
fn completed_job(w: &World, job: &str, app: &str, module: &str, product: &str) {
    let auth = w
        .gov()
        .authorize_job(&w.op, app, module, Utc::now())
        .expect("gate");
    w.gov()
        .record_job_queued(&w.op, job, &auth, module)
        .expect("queued");
    w.gov()
        .record_job_state(job, JobState::Running, None, vec![])
        .expect("running");
    let release = JobRelease {
        release: "district_stats".into(),
        outcome: "released".into(),
        product: Some(product.into()),
        rule: None,
        message: None,
        groups_released: 12,
        suppressed: Some(true),
    };
    w.gov()
        .record_job_state(job, JobState::Completed, None, vec![release])
        .expect("completed");
}

#[test]
fn a_scenario_id_stays_with_the_operator_that_first_used_it() {
    let w = World::new();
    let (_, _, app) = w.approved();
    let binding = w
        .gov()
        .scenario_binding("district-stats")
        .unwrap()
        .expect("bound at submission");
    assert_eq!(binding.operator, "op-1");
    // A domain-assigned identity, not the chosen id: nobody can pick another's key or ledger.
    assert!(binding.key_id.starts_with("district-stats~"), "{binding:?}");
    assert_eq!(binding.key_id.len(), "district-stats~".len() + 32);
    assert_ne!(
        w.fx.keys.pseudonym_key(&binding.key_id),
        w.fx.keys.pseudonym_key("district-stats")
    );
    w.fx.assert_audited("gov.scenario.bind", Some("district-stats"));

    // op-1's application ends; op-2 applies under the same id.
    w.gov()
        .revoke_application(&w.bureau, &app.id, "licence withdrawn")
        .unwrap();
    let (op2, agreement2, module2) = second_operator(&w);
    let new = NewApplication {
        agreement: agreement2.id.clone(),
        scenario: scenario("district-stats", &op2.id, &module2),
        valid_until: Utc::now() + Duration::days(90),
        amends: None,
    };
    let message = conflict(w.gov().submit_application(&op2, new.clone()));
    assert!(message.contains("'district-stats' is taken"), "{message}");
    for secret in ["op-1", &app.id, "revoked"] {
        assert!(!message.contains(secret), "{secret} leaked: {message}");
    }
    // The binding did not move.
    assert_eq!(
        w.gov().scenario_binding("district-stats").unwrap(),
        Some(binding.clone())
    );

    // op-2 cannot read op-1's ledger: it looks exactly like a scenario never used.
    looks_missing(
        "district-stats",
        w.gov().authorize_budget_read(&op2, "district-stats"),
        "never-used",
        w.gov().authorize_budget_read(&op2, "never-used"),
    );
    // op-1 still reads its own (revoked) scenario's ledger, under the binding's key id; so do
    // the bureau and reviewers; providers never.
    for reader in [&w.op, &w.bureau, &w.reviewer] {
        let access = w
            .gov()
            .authorize_budget_read(reader, "district-stats")
            .unwrap();
        assert_eq!(access.scope_id, binding.key_id);
        assert_eq!(access.datasets, ["enterprise_registry", "tax_payments"]);
    }
    forbidden(w.gov().authorize_budget_read(&w.market, "district-stats"));

    // Under an id of its own, op-2 gets a binding and key of its own.
    let mut own = new;
    own.scenario = scenario("op2-stats", &op2.id, &module2);
    w.gov().submit_application(&op2, own).unwrap();
    let theirs = w.gov().scenario_binding("op2-stats").unwrap().unwrap();
    assert_eq!(theirs.operator, "op-2");
    assert_ne!(theirs.key_id, binding.key_id);
}

#[test]
fn another_operators_objects_look_exactly_like_missing_ones() {
    let w = World::new();
    let (agreement, module, app) = w.approved();
    completed_job(&w, "job-1", &app.id, &module, "prod-1");
    let (op2, agreement2, module2) = second_operator(&w);

    looks_missing(
        &app.id,
        w.gov().get_application(&op2, &app.id),
        "app-999999",
        w.gov().get_application(&op2, "app-999999"),
    );
    looks_missing(
        &app.id,
        w.gov().authorize_job(&op2, &app.id, &module2, Utc::now()),
        "app-999999",
        w.gov()
            .authorize_job(&op2, "app-999999", &module2, Utc::now()),
    );
    looks_missing(
        &agreement.id,
        w.gov().get_agreement(&op2, &agreement.id),
        "agr-999999",
        w.gov().get_agreement(&op2, "agr-999999"),
    );
    looks_missing(
        "job-1",
        w.gov().get_job(&op2, "job-1"),
        "job-999",
        w.gov().get_job(&op2, "job-999"),
    );
    looks_missing(
        "prod-1",
        w.gov().authorize_product_download(&op2, "prod-1"),
        "prod-999",
        w.gov().authorize_product_download(&op2, "prod-999"),
    );
    // An amendment of op-1's application: the same answer as for an application that does not
    // exist, and nothing of op-1's scenario.
    let amend = |target: &str| NewApplication {
        agreement: agreement2.id.clone(),
        scenario: scenario("op2-stats", &op2.id, &module2),
        valid_until: Utc::now() + Duration::days(90),
        amends: Some(target.into()),
    };
    looks_missing(
        &app.id,
        w.gov().submit_application(&op2, amend(&app.id)),
        "app-999999",
        w.gov().submit_application(&op2, amend("app-999999")),
    );
    // A job recorded under op-1's application by op-2 (a forged authorization).
    let forged = JobAuthorization {
        application: app.id.clone(),
        scenario: app.scenario.clone(),
    };
    let missing = JobAuthorization {
        application: "app-999999".into(),
        scenario: app.scenario.clone(),
    };
    looks_missing(
        &app.id,
        w.gov().record_job_queued(&op2, "job-x", &forged, &module2),
        "app-999999",
        w.gov().record_job_queued(&op2, "job-x", &missing, &module2),
    );
}

#[test]
fn products_are_withheld_from_their_operator_while_it_its_licence_or_its_data_is_suspended() {
    let w = World::new();
    let (agreement, module, app) = w.approved();
    completed_job(&w, "job-1", &app.id, &module, "prod-1");
    w.gov().authorize_product_download(&w.op, "prod-1").unwrap();

    // The operator suspended: refused, naming its own status; the bureau and reviewers still
    // see the job and its product id; restoring serves it again.
    w.gov()
        .suspend_operator(&w.bureau, "op-1", "failed the annual security evaluation")
        .unwrap();
    let message = forbidden(w.gov().authorize_product_download(&w.op, "prod-1"));
    assert!(
        message.contains("operator 'op-1' is suspended: failed the annual security evaluation"),
        "{message}"
    );
    // Nor is it listed to the operator (its job shows no product id), while the bureau and
    // reviewers still see it.
    let mine = w.gov().get_job(&w.op, "job-1").unwrap();
    assert_eq!(mine.releases[0].product, None);
    let listed = w.gov().list_jobs(&w.op, &PageRequest::default()).unwrap();
    assert_eq!(listed.items[0].releases[0].product, None);
    let seen = w.gov().get_job(&w.reviewer, "job-1").unwrap();
    assert_eq!(seen.releases[0].product.as_deref(), Some("prod-1"));
    w.gov().get_job(&w.bureau, "job-1").unwrap();
    w.gov()
        .restore_operator(&w.bureau, "op-1", "re-evaluated")
        .unwrap();
    w.gov().authorize_product_download(&w.op, "prod-1").unwrap();
    let mine = w.gov().get_job(&w.op, "job-1").unwrap();
    assert_eq!(mine.releases[0].product.as_deref(), Some("prod-1"));

    // An objection suspends a dataset the product was built from.
    let (objection, _) = w
        .gov()
        .file_objection(&w.reviewer, "tax_payments", "a sole trader is identifiable")
        .unwrap();
    let message = forbidden(w.gov().authorize_product_download(&w.op, "prod-1"));
    assert!(
        message.contains(
            "a dataset this product was built from ('tax_payments') is suspended by an objection"
        ),
        "{message}"
    );
    assert!(!message.contains(&objection.id), "{message}");
    w.gov()
        .resolve_objection(&w.tax, &objection.id, Resolution::Restore, "unfounded")
        .unwrap();
    w.gov().authorize_product_download(&w.op, "prod-1").unwrap();

    // The agreement expires.
    w.fx.sql(&format!(
        "UPDATE agreements SET term_end = '2000-01-01T00:00:00.000Z' WHERE id = '{}'",
        agreement.id
    ));
    let message = forbidden(w.gov().authorize_product_download(&w.op, "prod-1"));
    assert!(message.contains("expired"), "{message}");
    w.fx.sql(&format!(
        "UPDATE agreements SET term_end = '2999-01-01T00:00:00.000Z' WHERE id = '{}'",
        agreement.id
    ));
    w.gov().authorize_product_download(&w.op, "prod-1").unwrap();

    // The application is revoked.
    w.gov()
        .revoke_application(&w.bureau, &app.id, "licence withdrawn")
        .unwrap();
    let message = forbidden(w.gov().authorize_product_download(&w.op, "prod-1"));
    assert!(message.contains("revoked"), "{message}");
}

/// The message of a `Quota`, failing otherwise.
#[track_caller]
fn quota<T: std::fmt::Debug>(result: Result<T, GovError>) -> String {
    match result {
        Err(GovError::Quota(message)) => message,
        other => panic!("expected Quota, got {other:?}"),
    }
}

/// An approved application whose job the gate authorized, under `quotas`.
fn authorized_under(quotas: QuotaSettings) -> (World, String, JobAuthorization) {
    let w = World::new();
    let (_, module, app) = w.approved();
    w.gov().admin_set_quotas(quotas).unwrap();
    let auth = w
        .gov()
        .authorize_job(&w.op, &app.id, &module, Utc::now())
        .unwrap();
    (w, module, auth)
}

#[test]
fn queued_jobs_per_operator_are_bounded() {
    let (w, module, auth) = authorized_under(QuotaSettings {
        queued_jobs_per_operator: 2,
        ..QuotaSettings::default()
    });
    for job in ["job-1", "job-2"] {
        w.gov()
            .record_job_queued(&w.op, job, &auth, &module)
            .unwrap();
    }
    let message = quota(w.gov().record_job_queued(&w.op, "job-3", &auth, &module));
    assert!(message.contains("queued_jobs_per_operator"), "{message}");
    assert!(message.contains("2 job(s) queued or running"), "{message}");
    // One ends: there is room again.
    w.gov()
        .record_job_state("job-1", JobState::Cancelled, None, vec![])
        .unwrap();
    w.gov()
        .record_job_queued(&w.op, "job-3", &auth, &module)
        .unwrap();
}

#[test]
fn jobs_per_scenario_per_day_are_bounded_and_cancelling_gives_none_back() {
    let (w, module, auth) = authorized_under(QuotaSettings {
        jobs_per_scenario_per_day: 2,
        ..QuotaSettings::default()
    });
    for job in ["job-1", "job-2"] {
        w.gov()
            .record_job_queued(&w.op, job, &auth, &module)
            .unwrap();
        w.gov()
            .record_job_state(job, JobState::Cancelled, None, vec![])
            .unwrap();
    }
    let message = quota(w.gov().record_job_queued(&w.op, "job-3", &auth, &module));
    assert!(message.contains("jobs_per_scenario_per_day"), "{message}");
    assert!(message.contains("the next day starts at"), "{message}");
    // Yesterday's jobs do not count.
    w.fx.sql("UPDATE jobs SET submitted_at = '2000-01-01T00:00:00.000Z'");
    w.gov()
        .record_job_queued(&w.op, "job-3", &auth, &module)
        .unwrap();
}

#[test]
fn module_size_and_count_are_bounded() {
    let w = World::new();
    w.gov()
        .admin_set_quotas(QuotaSettings {
            module_bytes: 12,
            modules_per_operator: 2,
            ..QuotaSettings::default()
        })
        .unwrap();
    let module = |tag: u8| vec![0, b'a', b's', b'm', 1, 0, 0, 0, tag];
    let big = [module(0), vec![0; 4]].concat();
    let message = conflict(w.gov().upload_module(&w.op, &big));
    assert!(message.contains("quota module_bytes"), "{message}");
    assert!(
        message.contains("13 bytes") && message.contains("at most 12"),
        "{message}"
    );
    w.gov().upload_module(&w.op, &module(1)).unwrap();
    w.gov().upload_module(&w.op, &module(2)).unwrap();
    let message = conflict(w.gov().upload_module(&w.op, &module(3)));
    assert!(message.contains("quota modules_per_operator"), "{message}");
    // Uploading a module again costs nothing.
    w.gov().upload_module(&w.op, &module(1)).unwrap();
    // Nonsense quotas are refused, naming the field.
    let message = invalid(w.gov().admin_set_quotas(QuotaSettings {
        module_bytes: 1 << 40,
        ..QuotaSettings::default()
    }));
    assert!(message.contains("module_bytes"), "{message}");
    let message = invalid(w.gov().admin_set_quotas(QuotaSettings {
        queued_jobs_per_operator: 0,
        ..QuotaSettings::default()
    }));
    assert!(message.contains("queued_jobs_per_operator"), "{message}");
    w.fx.assert_audited("gov.quotas.set", Some("quotas"));
}
