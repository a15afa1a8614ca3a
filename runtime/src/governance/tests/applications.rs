//! Agreements, applications and dual review.

use super::*;
use crate::governance::agreements::MAX_TERM_DAYS;

#[test]
fn dual_review_rejects_then_a_new_application_is_approved() {
    let w = World::new();
    w.publish_both();
    let agreement = w.comprehensive(4);
    let module = w.module(1);
    let app = w
        .gov()
        .submit_application(&w.op, w.new_application(&agreement.id, &module, None))
        .unwrap();
    assert_eq!(app.status, ApplicationStatus::Pending);
    let parties: Vec<(ReviewKind, &str)> = app
        .reviews
        .iter()
        .map(|r| (r.kind, r.party.as_str()))
        .collect();
    assert_eq!(
        parties,
        vec![
            (ReviewKind::Bureau, "bureau"),
            (ReviewKind::Provider, "p-market"),
            (ReviewKind::Provider, "p-tax"),
        ]
    );
    assert!(app
        .reviews
        .iter()
        .all(|r| r.deadline > Utc::now() && !r.overdue));

    // A provider reviews only its own part; a reason is required.
    let other =
        w.fx.add("p-health", Role::Provider, None, Some("卫生健康委员会"));
    // An application it is not asked to review looks missing to it.
    looks_missing(
        &app.id,
        w.gov().review_application(&other, &app.id, approve()),
        "app-999999",
        w.gov().review_application(&other, "app-999999", approve()),
    );
    looks_missing(
        &app.id,
        w.gov().get_application(&other, &app.id),
        "app-999999",
        w.gov().get_application(&other, "app-999999"),
    );
    invalid(w.gov().review_application(
        &w.tax,
        &app.id,
        ReviewInput {
            decision: Decision::Approve,
            reason: "  ".into(),
        },
    ));

    let app = w
        .gov()
        .review_application(&w.bureau, &app.id, approve())
        .unwrap();
    assert_eq!(app.status, ApplicationStatus::Pending);
    assert_eq!(app.reviews[0].party, "bureau-1");
    conflict(w.gov().review_application(&w.bureau, &app.id, approve()));
    let app = w
        .gov()
        .review_application(
            &w.tax,
            &app.id,
            ReviewInput {
                decision: Decision::Reject,
                reason: "tax amounts of single firms would be exposed".into(),
            },
        )
        .unwrap();
    assert_eq!(app.status, ApplicationStatus::Rejected);
    let message = conflict(w.gov().review_application(&w.market, &app.id, approve()));
    assert!(message.contains("rejected"), "{message}");

    // A rejected application does not hold the scenario: a new one may be filed.
    let second = w
        .gov()
        .submit_application(&w.op, w.new_application(&agreement.id, &module, None))
        .unwrap();
    assert_ne!(second.id, app.id);
    let second = w.approve_all(&second.id);
    assert_eq!(second.status, ApplicationStatus::Approved);

    let page = PageRequest::default();
    assert_eq!(
        w.gov().list_applications(&w.op, &page).unwrap().items.len(),
        2
    );
    assert_eq!(
        w.gov()
            .list_applications(&w.tax, &page)
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        w.gov()
            .list_applications(&other, &page)
            .unwrap()
            .items
            .len(),
        0
    );
    w.fx.assert_audited("gov.application.submit", Some(&second.id));
    w.fx.assert_audited("gov.review", Some(&app.id));
}

#[test]
fn one_live_application_per_scenario_and_amendments_supersede() {
    let w = World::new();
    let (agreement, module, first) = w.approved();
    let message = conflict(
        w.gov()
            .submit_application(&w.op, w.new_application(&agreement.id, &module, None)),
    );
    assert_eq!(
        message,
        format!(
            "scenario 'district-stats' already has application {id} (approved); file an \
             amendment with amends={id}",
            id = first.id
        )
    );
    let module2 = w.module(2);
    let amendment = w
        .gov()
        .submit_application(
            &w.op,
            w.new_application(&agreement.id, &module2, Some(&first.id)),
        )
        .unwrap();
    assert_eq!(amendment.amends.as_deref(), Some(first.id.as_str()));
    // A second pending amendment is refused.
    conflict(w.gov().submit_application(
        &w.op,
        w.new_application(&agreement.id, &module2, Some(&first.id)),
    ));
    // The old approval stays in force until the amendment is approved.
    let now = Utc::now();
    w.gov()
        .authorize_job(&w.op, &first.id, &module, now)
        .unwrap();
    w.approve_all(&amendment.id);
    let old = w.gov().get_application(&w.op, &first.id).unwrap();
    assert_eq!(old.status, ApplicationStatus::Superseded);
    let message = conflict(w.gov().authorize_job(&w.op, &first.id, &module, Utc::now()));
    assert!(message.contains("superseded"), "{message}");
    w.gov()
        .authorize_job(&w.op, &amendment.id, &module2, Utc::now())
        .unwrap();
}

#[test]
fn scope_level_and_module_are_checked_at_submission() {
    let w = World::new();
    w.publish_both();
    let module = w.module(1);
    let tiered = w.agreement(
        AgreementMode::Tiered,
        AgreementScope {
            datasets: vec!["enterprise_registry".into()],
            domains: vec![],
            max_level: 4,
        },
    );
    let message = invalid(
        w.gov()
            .submit_application(&w.op, w.new_application(&tiered.id, &module, None)),
    );
    assert!(
        message.contains("'tax_payments' is not in the scope"),
        "{message}"
    );
    let domain = w.agreement(
        AgreementMode::Domain,
        AgreementScope {
            datasets: vec![],
            domains: vec![MARKET.into(), TAX.into()],
            max_level: 2,
        },
    );
    let message = invalid(
        w.gov()
            .submit_application(&w.op, w.new_application(&domain.id, &module, None)),
    );
    assert!(message.contains("security level 3"), "{message}");

    let agreement = w.comprehensive(4);
    let unknown = "f".repeat(64);
    let message = invalid(
        w.gov()
            .submit_application(&w.op, w.new_application(&agreement.id, &unknown, None)),
    );
    assert!(message.contains("upload it first"), "{message}");

    // A column the dataset does not have: the catalog check names it.
    let mut new = w.new_application(&agreement.id, &module, None);
    new.scenario.grants[1].columns.push("salary".into());
    let message = invalid(w.gov().submit_application(&w.op, new));
    assert!(message.contains("salary"), "{message}");

    let mut new = w.new_application(&agreement.id, &module, None);
    new.scenario.scenario.operator = "someone-else".into();
    invalid(w.gov().submit_application(&w.op, new));
    let mut new = w.new_application(&agreement.id, &module, None);
    new.valid_until = agreement.term_end + Duration::days(1);
    invalid(w.gov().submit_application(&w.op, new));

    // Another operator may not use op-1's agreement, and cannot tell it from a missing one.
    let op2 = w.fx.add("op-2", Role::Operator, Some(&usci(2)), None);
    let mut new = w.new_application(&agreement.id, &module, None);
    new.scenario.scenario.operator = "op-2".into();
    let mut missing = new.clone();
    missing.agreement = "agr-999999".into();
    looks_missing(
        &agreement.id,
        w.gov().submit_application(&op2, new),
        "agr-999999",
        w.gov().submit_application(&op2, missing),
    );
}

#[test]
fn a_review_after_the_deadline_finds_the_application_lapsed() {
    let w = World::new();
    w.publish_both();
    let agreement = w.comprehensive(4);
    let module = w.module(1);
    let app = w
        .gov()
        .submit_application(&w.op, w.new_application(&agreement.id, &module, None))
        .unwrap();
    w.fx.sql(&format!(
        "UPDATE reviews SET deadline = '2000-01-03T23:59:59.999Z' WHERE application = '{}'",
        app.id
    ));
    let read = w.gov().get_application(&w.bureau, &app.id).unwrap();
    assert!(read.reviews.iter().all(|r| r.overdue));
    let message = conflict(w.gov().review_application(&w.market, &app.id, approve()));
    assert_eq!(
        message,
        "the review deadline passed at 2000-01-03T23:59:59.999Z; the application has lapsed"
    );
    let read = w.gov().get_application(&w.op, &app.id).unwrap();
    assert_eq!(read.status, ApplicationStatus::Lapsed);
    w.fx.assert_audited("gov.application.lapse", Some(&app.id));
    // A lapsed application frees the scenario.
    w.gov()
        .submit_application(&w.op, w.new_application(&agreement.id, &module, None))
        .unwrap();
}

#[test]
fn agreements_are_checked_terminated_and_expire() {
    let w = World::new();
    let now = Utc::now();
    let new = |mode, scope: AgreementScope, start, end| NewAgreement {
        operator: "op-1".into(),
        mode,
        scope,
        term_start: start,
        term_end: end,
        security_requirements: "s".into(),
        exit_conditions: "e".into(),
    };
    let scope = |max_level| AgreementScope {
        datasets: vec![],
        domains: vec![],
        max_level,
    };
    let g = w.gov();
    invalid(g.create_agreement(
        &w.bureau,
        new(AgreementMode::Comprehensive, scope(4), now, now),
    ));
    invalid(g.create_agreement(
        &w.bureau,
        new(
            AgreementMode::Tiered,
            scope(4),
            now,
            now + Duration::days(1),
        ),
    ));
    invalid(g.create_agreement(
        &w.bureau,
        new(
            AgreementMode::Domain,
            scope(4),
            now,
            now + Duration::days(1),
        ),
    ));
    // The end before the start, and a term longer than the longest allowed.
    let message = invalid(g.create_agreement(
        &w.bureau,
        new(
            AgreementMode::Comprehensive,
            scope(4),
            now + Duration::days(2),
            now + Duration::days(1),
        ),
    ));
    assert!(message.contains("must be after term_start"), "{message}");
    let longest = new(
        AgreementMode::Comprehensive,
        scope(4),
        now,
        now + Duration::days(MAX_TERM_DAYS) + Duration::seconds(1),
    );
    let message = invalid(g.create_agreement(&w.bureau, longest.clone()));
    assert!(
        message.contains("longer than the longest allowed, 1096 days"),
        "{message}"
    );
    // A scope naming a dataset that is not registered, in any mode.
    let unknown = AgreementScope {
        datasets: vec!["enterprise_registy".into()],
        domains: vec![],
        max_level: 4,
    };
    for mode in [AgreementMode::Tiered, AgreementMode::Comprehensive] {
        let message = invalid(g.create_agreement(
            &w.bureau,
            new(mode, unknown.clone(), now, now + Duration::days(1)),
        ));
        assert!(
            message.contains("scope.datasets: dataset 'enterprise_registy' is not registered"),
            "{message}"
        );
    }

    let mut to_provider = new(
        AgreementMode::Comprehensive,
        scope(4),
        now,
        now + Duration::days(1),
    );
    to_provider.operator = "p-tax".into();
    invalid(g.create_agreement(&w.bureau, to_provider));

    let (agreement, module, app) = w.approved();
    let message = invalid(g.create_agreement(
        &w.bureau,
        new(
            AgreementMode::Domain,
            AgreementScope {
                datasets: vec![],
                domains: vec![MARKET.into(), "不存在的局".into()],
                max_level: 4,
            },
            now,
            now + Duration::days(1),
        ),
    ));
    assert!(
        message.contains("scope.domains: no provider identity belongs to department '不存在的局'"),
        "{message}"
    );
    // Exactly the longest term, over a registered dataset, is granted.
    let mut exact = longest;
    exact.term_end = now + Duration::days(MAX_TERM_DAYS);
    exact.mode = AgreementMode::Tiered;
    exact.scope.datasets = vec!["enterprise_registry".into()];
    g.create_agreement(&w.bureau, exact)
        .expect("the longest term");
    assert_eq!(
        g.get_agreement(&w.op, &agreement.id).unwrap().authorizer,
        "bureau-1"
    );
    let op2 = w.fx.add("op-2", Role::Operator, Some(&usci(2)), None);
    looks_missing(
        &agreement.id,
        g.get_agreement(&op2, &agreement.id),
        "agr-999999",
        g.get_agreement(&op2, "agr-999999"),
    );
    assert_eq!(
        g.list_agreements(&op2, &PageRequest::default())
            .unwrap()
            .items
            .len(),
        0
    );

    // Past the term the gate refuses, on read and once recorded.
    let later = agreement.term_end + Duration::seconds(1);
    let message = conflict(g.authorize_job(&w.op, &app.id, &module, later));
    assert_eq!(
        message,
        format!(
            "agreement {} expired at {}",
            agreement.id,
            crate::store::codec::ts(&agreement.term_end)
        )
    );
    // expire_due records the agreement and the application (valid_until passed too).
    assert_eq!(g.expire_due(later).unwrap(), 2);
    assert_eq!(g.expire_due(later).unwrap(), 0);
    w.fx.assert_audited("gov.agreement.expire", Some(&agreement.id));
    w.fx.assert_audited("gov.application.expire", Some(&app.id));
    let message = conflict(g.terminate_agreement(&w.bureau, &agreement.id, "too late"));
    assert!(message.contains("expired"), "{message}");

    let second = w.comprehensive(4);
    invalid(g.terminate_agreement(&w.bureau, &second.id, ""));
    let ended = g
        .terminate_agreement(&w.bureau, &second.id, "security audit failed")
        .unwrap();
    assert_eq!(ended.status, AgreementStatus::Terminated);
    conflict(g.terminate_agreement(&w.bureau, &second.id, "again"));
    w.fx.assert_audited("gov.agreement.terminate", Some(&second.id));
}
