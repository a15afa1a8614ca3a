//! Identities, tokens, the maintainer rule, the calendar, and role checks of every family.

use super::*;
use crate::governance::identities::token_hash;

#[test]
fn tokens_round_trip_and_only_their_hash_is_stored() {
    let fx = Fixture::new();
    let (identity, token) = fx
        .gov
        .admin_add_identity(NewIdentity {
            id: "op-1".into(),
            role: Role::Operator,
            name: "数据运营有限公司".into(),
            usci: Some(usci(1)),
            department: None,
        })
        .unwrap();
    assert_eq!(identity.status, IdentityStatus::Active);
    assert!(token.token.starts_with("sy_") && token.token.len() == 3 + 64);
    let caller = fx.gov.authenticate(&token.token).unwrap();
    assert_eq!(
        caller,
        Caller {
            id: "op-1".into(),
            role: Role::Operator
        }
    );
    assert_eq!(fx.gov.whoami(&caller).unwrap().id, "op-1");

    let stored: Vec<String> = fx
        .gov
        .store
        .read(|c| {
            let mut stmt = c.prepare("SELECT token_hash FROM tokens")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(stored, vec![token_hash(&token.token)]);
    assert_ne!(stored[0], token.token);
    // The token appears nowhere in the audit log.
    let entries = fx.audit.search(&AuditFilter::default()).unwrap();
    assert!(entries
        .iter()
        .all(|e| !e.details.to_string().contains(&token.token[3..])));

    assert!(matches!(
        fx.gov.authenticate("sy_0000"),
        Err(GovError::Unauthenticated(_))
    ));
    let second = fx.gov.admin_issue_token("op-1").unwrap();
    assert_eq!(fx.gov.authenticate(&second.token).unwrap().id, "op-1");
    assert_eq!(fx.gov.admin_revoke_tokens("op-1").unwrap(), 2);
    assert!(matches!(
        fx.gov.authenticate(&token.token),
        Err(GovError::Unauthenticated(_))
    ));
    assert!(matches!(
        fx.gov.admin_issue_token("nobody"),
        Err(GovError::NotFound(_))
    ));
    fx.assert_audited("gov.identity.add", Some("op-1"));
    fx.assert_audited("gov.token.issue", Some("op-1"));
    fx.assert_audited("gov.token.revoke", Some("op-1"));
}

#[test]
fn identities_are_checked() {
    let fx = Fixture::new();
    let new = |id: &str, role, usci: Option<String>, department: Option<&str>| NewIdentity {
        id: id.into(),
        role,
        name: "x".into(),
        usci,
        department: department.map(Into::into),
    };
    let bad_usci = usci(1).replace('M', "N");
    let message =
        invalid(
            fx.gov
                .admin_add_identity(new("op-1", Role::Operator, Some(bad_usci), None)),
        );
    assert!(message.contains("unified social credit code"), "{message}");
    invalid(
        fx.gov
            .admin_add_identity(new("op-1", Role::Operator, None, None)),
    );
    invalid(
        fx.gov
            .admin_add_identity(new("p-1", Role::Provider, None, None)),
    );
    invalid(
        fx.gov
            .admin_add_identity(new("Bad Id", Role::Bureau, None, None)),
    );

    fx.add("p-1", Role::Provider, None, Some(TAX));
    conflict(
        fx.gov
            .admin_add_identity(new("p-1", Role::Bureau, None, None)),
    );
    let message = conflict(
        fx.gov
            .admin_add_identity(new("p-2", Role::Provider, None, Some(TAX))),
    );
    assert!(message.contains("p-1"), "{message}");
    assert_eq!(fx.gov.admin_list_identities().unwrap().len(), 1);
}

#[test]
fn the_maintainer_may_not_be_an_operator() {
    let fx = Fixture::new();
    invalid(fx.gov.admin_set_maintainer("not-a-code"));
    fx.gov.admin_set_maintainer(&usci(7)).unwrap();
    let message = invalid(fx.gov.admin_add_identity(NewIdentity {
        id: "op-m".into(),
        role: Role::Operator,
        name: "maintainer co".into(),
        usci: Some(usci(7)),
        department: None,
    }));
    assert_eq!(message, "the platform maintainer may not be an operator");
    // The other way round: an existing operator cannot be recorded as the maintainer.
    fx.add("op-1", Role::Operator, Some(&usci(1)), None);
    let message = conflict(fx.gov.admin_set_maintainer(&usci(1)));
    assert!(message.contains("op-1"), "{message}");
    fx.assert_audited("gov.maintainer.set", None);
}

#[test]
fn the_calendar_round_trips() {
    let fx = Fixture::new();
    assert_eq!(fx.gov.calendar().unwrap(), CalendarSettings::default());
    let day = |s: &str| s.parse().unwrap();
    let calendar = CalendarSettings {
        review_working_days: 5,
        holidays: vec![day("2026-10-02"), day("2026-10-01")],
        extra_working_days: vec![day("2026-10-10")],
    };
    fx.gov.admin_set_calendar(calendar).unwrap();
    let read = fx.gov.calendar().unwrap();
    assert_eq!(read.review_working_days, 5);
    assert_eq!(read.holidays, vec![day("2026-10-01"), day("2026-10-02")]);
    invalid(fx.gov.admin_set_calendar(CalendarSettings {
        review_working_days: 0,
        ..CalendarSettings::default()
    }));
    // A make-up day on a weekday, a holiday on a weekend: refused, naming the date and its
    // weekday, and the stored calendar is unchanged.
    let message = invalid(fx.gov.admin_set_calendar(CalendarSettings {
        extra_working_days: vec![day("2026-10-09")],
        ..read.clone()
    }));
    assert!(message.contains("2026-10-09 is a Friday"), "{message}");
    let message = invalid(fx.gov.admin_set_calendar(CalendarSettings {
        holidays: vec![day("2026-10-04")],
        ..read.clone()
    }));
    assert!(message.contains("2026-10-04 is a Sunday"), "{message}");
    assert_eq!(fx.gov.calendar().unwrap(), read);
    fx.assert_audited("gov.calendar.set", None);
}

#[test]
fn every_family_refuses_the_wrong_role() {
    let w = World::new();
    let g = w.gov();
    let page = PageRequest::default();
    let message = forbidden(g.create_agreement(
        &w.op,
        NewAgreement {
            operator: "op-1".into(),
            mode: AgreementMode::Comprehensive,
            scope: AgreementScope {
                datasets: vec![],
                domains: vec![],
                max_level: 4,
            },
            term_start: Utc::now(),
            term_end: Utc::now() + Duration::days(1),
            security_requirements: "s".into(),
            exit_conditions: "e".into(),
        },
    ));
    assert_eq!(
        message,
        "only the bureau may grant agreements; you are 'op-1' (operator)"
    );
    forbidden(w.publish(&w.op, "tax_payments"));
    forbidden(g.withdraw_dataset_version(&w.bureau, "tax_payments", 1, "r"));
    forbidden(g.terminate_agreement(&w.op, "agr-000001", "r"));
    forbidden(g.list_agreements(&w.market, &page));
    forbidden(g.suspend_operator(&w.market, "op-1", "r"));
    forbidden(g.restore_operator(&w.op, "op-1", "r"));
    forbidden(g.upload_module(&w.bureau, b"\0asm"));
    forbidden(g.submit_application(
        &w.bureau,
        w.new_application("agr-000001", &"0".repeat(64), None),
    ));
    forbidden(g.review_application(&w.op, "app-000001", approve()));
    forbidden(g.review_application(&w.reviewer, "app-000001", approve()));
    forbidden(g.suspend_application(&w.reviewer, "app-000001", "r"));
    forbidden(g.restore_application(&w.op, "app-000001", "r"));
    forbidden(g.revoke_application(&w.market, "app-000001", "r"));
    forbidden(g.resolve_objection(&w.op, "obj-000001", Resolution::Restore, "n"));
    forbidden(g.file_quality_request(&w.market, "tax_payments", "d"));
    forbidden(g.answer_quality_request(&w.op, "qr-000001", "a"));
    forbidden(g.authorize_job(&w.bureau, "app-000001", "x", Utc::now()));
    forbidden(g.list_jobs(&w.market, &page));
    forbidden(g.get_job(&w.tax, "job-1"));
    // Reading is open where the docs say so.
    g.list_datasets(&w.reviewer, &page).unwrap();
    g.list_objections(&w.op, &page).unwrap();
    g.list_agreements(&w.reviewer, &page).unwrap();
    g.list_quality_requests(&w.market, &page).unwrap();
}
