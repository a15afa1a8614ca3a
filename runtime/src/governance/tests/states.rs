//! Statuses that agree: agreements follow their operator's suspension, a terminated agreement
//! ends its applications, and every status says who changed it, when and why.

use super::*;

#[test]
fn a_suspended_operator_s_agreements_show_as_suspended_until_it_is_restored() {
    let w = World::new();
    let (agreement, _, _) = w.approved();
    w.gov()
        .suspend_operator(&w.bureau, "op-1", "failed the annual evaluation")
        .unwrap();
    for shown in [
        w.gov().get_agreement(&w.reviewer, &agreement.id).unwrap(),
        w.gov().get_agreement(&w.op, &agreement.id).unwrap(),
        w.gov()
            .list_agreements(&w.bureau, &PageRequest::default())
            .unwrap()
            .items
            .remove(0),
    ] {
        assert_eq!(shown.status, AgreementStatus::Suspended);
        let change = shown.status_change.expect("who suspended it");
        assert_eq!(change.by, "bureau-1");
        assert_eq!(
            change.reason.as_deref(),
            Some("operator 'op-1' suspended: failed the annual evaluation")
        );
    }
    let operator = w.gov().whoami(&w.op).unwrap();
    assert_eq!(operator.status, IdentityStatus::Suspended);
    assert_eq!(operator.status_change.unwrap().by, "bureau-1");

    w.gov()
        .restore_operator(&w.bureau, "op-1", "rectified")
        .unwrap();
    let shown = w.gov().get_agreement(&w.op, &agreement.id).unwrap();
    assert_eq!(shown.status, AgreementStatus::Active);
    assert!(shown.status_change.is_none(), "never changed itself");
    let operator = w.gov().whoami(&w.op).unwrap();
    assert_eq!(
        operator.status_change.unwrap().reason.as_deref(),
        Some("rectified")
    );
}

#[test]
fn terminating_an_agreement_revokes_its_applications_at_once() {
    let w = World::new();
    let (agreement, module, app) = w.approved();
    let amendment = w
        .gov()
        .submit_application(
            &w.op,
            w.new_application(&agreement.id, &module, Some(&app.id)),
        )
        .unwrap();
    let terminated = w
        .gov()
        .terminate_agreement(&w.bureau, &agreement.id, "breach of the security terms")
        .unwrap();
    assert_eq!(terminated.status, AgreementStatus::Terminated);
    let change = terminated.status_change.unwrap();
    assert_eq!(change.by, "bureau-1");
    assert_eq!(
        change.reason.as_deref(),
        Some("breach of the security terms")
    );
    for id in [&app.id, &amendment.id] {
        let shown = w.gov().get_application(&w.reviewer, id).unwrap();
        assert_eq!(shown.status, ApplicationStatus::Revoked, "{id}");
        let change = shown.status_change.unwrap();
        assert_eq!(change.by, "bureau-1");
        assert_eq!(
            change.reason.as_deref(),
            Some(
                format!(
                    "agreement {} was terminated: breach of the security terms",
                    agreement.id
                )
                .as_str()
            )
        );
        w.fx.assert_audited("gov.application.revoke", Some(id));
    }
}

#[test]
fn statuses_say_who_changed_them_when_and_why() {
    let w = World::new();
    let (_, _, app) = w.approved();
    let approved = w.gov().get_application(&w.op, &app.id).unwrap();
    let change = approved.status_change.unwrap();
    // The last review decided it.
    assert_eq!(change.by, "p-tax");
    assert_eq!(
        change.reason.as_deref(),
        Some("every required review approved")
    );
    let before = Utc::now();
    w.gov()
        .suspend_application(&w.bureau, &app.id, "under investigation")
        .unwrap();
    let change = w
        .gov()
        .get_application(&w.op, &app.id)
        .unwrap()
        .status_change
        .unwrap();
    assert_eq!(change.by, "bureau-1");
    assert!(change.at >= before - Duration::milliseconds(1));
    assert_eq!(change.reason.as_deref(), Some("under investigation"));

    let objection = w
        .gov()
        .file_objection(&w.op, "tax_payments", "wrong amounts for one company")
        .unwrap()
        .0;
    let dataset = w.gov().get_dataset(&w.reviewer, "tax_payments").unwrap();
    assert_eq!(dataset.status, DatasetStatus::Suspended);
    let change = dataset.status_change.unwrap();
    assert_eq!(change.by, "op-1");
    assert_eq!(
        change.reason,
        Some(format!(
            "objection {}: wrong amounts for one company",
            objection.id
        ))
    );
    let fresh = w
        .gov()
        .get_dataset(&w.reviewer, "enterprise_registry")
        .unwrap();
    assert!(fresh.status_change.is_none());
}
