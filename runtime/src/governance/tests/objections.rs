//! Objections: a second one joins the open one; the same data again is not a treatment and
//! does not bring back what an objection took out.

use super::*;

#[test]
fn a_second_objection_on_a_suspended_dataset_joins_the_first() {
    let w = World::new();
    let (_, module, app) = w.approved();
    let (first, _) = w
        .gov()
        .file_objection(&w.reviewer, "tax_payments", "a sole trader is identifiable")
        .unwrap();
    let (joined, _) = w
        .gov()
        .file_objection(&w.op, "tax_payments", "  my payments are visible  ")
        .unwrap();
    assert_eq!(joined.id, first.id, "joined to the open objection");
    assert_eq!(joined.filed_by, first.filed_by);
    assert_eq!(joined.joined.len(), 1);
    assert_eq!(joined.joined[0].filed_by, "op-1");
    assert_eq!(joined.joined[0].reason, "my payments are visible");
    w.fx.assert_audited("gov.objection.join", Some(&first.id));
    let all = w
        .gov()
        .list_objections(&w.op, &PageRequest::default())
        .unwrap();
    assert_eq!(
        all.items.len(),
        1,
        "one objection, not two: {:?}",
        all.items
    );
    assert_eq!(all.items[0].joined, joined.joined);

    // One resolution settles both claims: the dataset is usable again.
    let resolved = w
        .gov()
        .resolve_objection(&w.tax, &first.id, Resolution::Restore, "aggregates only")
        .unwrap();
    assert_eq!(resolved.status, ObjectionStatus::Resolved);
    assert_eq!(resolved.joined.len(), 1);
    assert_eq!(
        w.gov().get_dataset(&w.op, "tax_payments").unwrap().status,
        DatasetStatus::Active
    );
    w.gov()
        .authorize_job(&w.op, &app.id, &module, Utc::now())
        .unwrap();

    // With nothing open, an objection is a new one again.
    let (next, _) = w
        .gov()
        .file_objection(&w.op, "tax_payments", "again")
        .unwrap();
    assert_ne!(next.id, first.id);
    assert!(next.joined.is_empty());
}

#[test]
fn the_same_data_again_is_not_a_treatment_and_does_not_revive_a_dataset() {
    let w = World::new();
    w.publish_both();
    let (objection, _) = w
        .gov()
        .file_objection(&w.reviewer, "tax_payments", "a sole trader is identifiable")
        .unwrap();
    // Byte-identical data published while the objection is open is not a treatment.
    w.publish(&w.tax, "tax_payments")
        .expect("v2, the same bytes");
    let message = conflict(w.gov().resolve_objection(
        &w.tax,
        &objection.id,
        Resolution::RestoreAfterTreatment,
        "treated",
    ));
    assert!(
        message.contains("version 2 of 'tax_payments' has the same data")
            && message.contains("as version 1")
            && message.contains("not a treatment"),
        "{message}"
    );
    let dataset = w.gov().get_dataset(&w.op, "tax_payments").unwrap();
    assert_eq!(dataset.status, DatasetStatus::Suspended, "nothing changed");
    assert!(dataset.versions.iter().all(|v| v.active));

    // Treated data is; the untreated versions, the copy included, are retired.
    w.publish_treated(&w.tax, "tax_payments", 1).expect("v3");
    w.gov()
        .resolve_objection(
            &w.tax,
            &objection.id,
            Resolution::RestoreAfterTreatment,
            "one firm removed",
        )
        .unwrap();
    let dataset = w.gov().get_dataset(&w.op, "tax_payments").unwrap();
    assert_eq!(dataset.status, DatasetStatus::Active);
    assert_eq!(dataset.current_version, Some(3));
    let active: Vec<bool> = dataset.versions.iter().map(|v| v.active).collect();
    assert_eq!(active, [false, false, true]);
    // The untreated data cannot come back by being published again.
    let message = conflict(w.publish(&w.tax, "tax_payments"));
    assert!(
        message.contains("byte-identical to version 1 of 'tax_payments'")
            && message.contains(&objection.id),
        "{message}"
    );

    // Withdrawn after an objection: the same data does not revive the dataset.
    let (second, _) = w
        .gov()
        .file_objection(&w.op, "tax_payments", "unlawful collection")
        .unwrap();
    w.gov()
        .resolve_objection(&w.tax, &second.id, Resolution::Withdraw, "basis lacking")
        .unwrap();
    let message = conflict(w.publish_treated(&w.tax, "tax_payments", 1));
    assert!(
        message.contains("byte-identical to version 3") && message.contains(&second.id),
        "{message}"
    );
    let dataset = w.gov().get_dataset(&w.op, "tax_payments").unwrap();
    assert_eq!(dataset.status, DatasetStatus::Withdrawn);
    assert_eq!(dataset.versions.len(), 3, "no version was recorded");
    // Other data is the provider's decision to publish again.
    w.publish_treated(&w.tax, "tax_payments", 2)
        .expect("new data");
    assert_eq!(
        w.gov().get_dataset(&w.op, "tax_payments").unwrap().status,
        DatasetStatus::Active
    );
}
