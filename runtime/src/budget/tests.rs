//! Tests of the ledger against real SQLite files: concurrency and crash safety need a file that
//! a second connection (standing for a second process) and a reopened store can see.

use std::slice;
use std::sync::Arc;
use std::thread;

use super::*;
use crate::audit::AuditFilter;
use crate::keys::DomainKeys;

/// A data directory with keys, a store, its audit log and a ledger.
struct Fixture {
    dir: tempfile::TempDir,
    keys: Arc<DomainKeys>,
    audit: Arc<AuditLog>,
    ledger: Arc<BudgetLedger>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(DomainKeys::load_or_create(dir.path()).unwrap());
        let (audit, ledger) = open(&dir, &keys);
        Self {
            dir,
            keys,
            audit,
            ledger,
        }
    }

    /// A second, independent store on the same file with its own log and ledger, as another
    /// process would have.
    fn second(&self) -> (Arc<AuditLog>, Arc<BudgetLedger>) {
        open(&self.dir, &self.keys)
    }

    /// Drops this fixture's store and opens the file again, as after a crash and a restart.
    fn reopen(self) -> Self {
        let Self { dir, keys, .. } = self;
        let (audit, ledger) = open(&dir, &keys);
        Self {
            dir,
            keys,
            audit,
            ledger,
        }
    }

    fn entries(&self, action: &str) -> Vec<crate::audit::Entry> {
        self.audit
            .search(&AuditFilter {
                action: Some(action.into()),
                ..AuditFilter::default()
            })
            .unwrap()
    }

    fn verify(&self) {
        self.audit.verify(&self.keys.public_key()).unwrap();
    }
}

fn open(dir: &tempfile::TempDir, keys: &Arc<DomainKeys>) -> (Arc<AuditLog>, Arc<BudgetLedger>) {
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let audit = Arc::new(AuditLog::new(store.clone(), keys.clone()));
    let ledger = Arc::new(BudgetLedger::new(store, audit.clone()));
    (audit, ledger)
}

fn scenario(id: &str) -> BudgetScope {
    BudgetScope::Scenario(id.into())
}

fn dataset(id: &str) -> BudgetScope {
    BudgetScope::Dataset(id.into())
}

fn eps(epsilon: f64) -> Charge {
    Charge::new(epsilon, 0.0)
}

#[test]
fn scopes_serialize_as_kind_and_id() {
    let json = serde_json::to_value(scenario("s1")).unwrap();
    assert_eq!(json, serde_json::json!({"kind": "scenario", "id": "s1"}));
    let back: BudgetScope =
        serde_json::from_value(serde_json::json!({"kind": "dataset", "id": "residents"})).unwrap();
    assert_eq!(back, dataset("residents"));
}

#[test]
fn a_charge_within_budget_is_debited_and_audited() {
    let f = Fixture::new();
    f.ledger
        .set_budget("bureau", &scenario("s1"), 1.0, 1e-6, "initial grant")
        .unwrap();
    let debit = f
        .ledger
        .charge(
            "op-a",
            "job-1",
            "by_district",
            &[scenario("s1")],
            Charge::new(0.25, 1e-7),
        )
        .unwrap();
    assert!(debit.id.starts_with(DEBIT_PREFIX));
    assert_eq!(debit.id.len(), DEBIT_PREFIX.len() + 16);
    assert!(debit.id[DEBIT_PREFIX.len()..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
    assert_eq!(debit.charge, Charge::new(0.25, 1e-7));

    let budget = f.ledger.budget(&scenario("s1")).unwrap().unwrap();
    assert_eq!(budget.spent(), Charge::new(0.25, 1e-7));
    assert_eq!(budget.remaining(), Charge::new(0.75, 9e-7));
    assert_eq!(
        f.ledger.debits(&scenario("s1")).unwrap(),
        vec![debit.clone()]
    );
    assert_eq!(f.ledger.debit(&debit.id).unwrap(), Some(debit.clone()));

    let entries = f.entries(ACTION_DEBIT);
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.actor, "op-a");
    assert_eq!(entry.subject, "s1");
    assert_eq!(entry.job_id.as_deref(), Some("job-1"));
    assert_eq!(entry.details["debit"], debit.id.as_str());
    assert_eq!(entry.details["release"], "by_district");
    assert_eq!(entry.details["epsilon"], 0.25);
    assert_eq!(entry.details["delta"], 1e-7);
    assert_eq!(entry.details["scopes"][0]["id"], "s1");
    assert_eq!(entry.details["remaining"][0]["remaining"]["epsilon"], 0.75);
    f.verify();
}

#[test]
fn exceeding_one_of_two_scopes_charges_neither() {
    let f = Fixture::new();
    f.ledger
        .set_budget("bureau", &scenario("s1"), 5.0, 0.0, "grant")
        .unwrap();
    f.ledger
        .set_budget("bureau", &dataset("residents"), 1.0, 0.0, "grant")
        .unwrap();
    let both = [scenario("s1"), dataset("residents")];
    f.ledger
        .charge("op-a", "j1", "r1", &both, eps(0.9))
        .unwrap();

    let err = f
        .ledger
        .charge("op-a", "j2", "r2", &both, eps(0.2))
        .unwrap_err();
    match &err {
        BudgetError::Insufficient {
            scope,
            spent,
            left,
            total,
            asked,
        } => {
            assert_eq!(scope, &dataset("residents"));
            assert_eq!(*spent, eps(0.9));
            assert_eq!(*left, eps(0.1));
            assert_eq!(*total, eps(1.0));
            assert_eq!(*asked, eps(0.2));
        }
        other => panic!("expected Insufficient, got {other:?}"),
    }
    let text = err.to_string();
    for words in [
        "dataset 'residents'",
        "spent ε=0.9",
        "left ε=0.1",
        "asks ε=0.2",
    ] {
        assert!(text.contains(words), "{text:?} lacks {words:?}");
    }

    // The scenario, which could have paid, was not charged either.
    let s1 = f.ledger.budget(&scenario("s1")).unwrap().unwrap();
    assert_eq!(s1.spent(), eps(0.9));
    assert_eq!(f.ledger.debits(&scenario("s1")).unwrap().len(), 1);
    assert_eq!(f.entries(ACTION_DEBIT).len(), 1);
    f.verify();
}

#[test]
fn delta_counts_as_much_as_epsilon() {
    let f = Fixture::new();
    f.ledger
        .set_budget("bureau", &scenario("s1"), 10.0, 1e-6, "grant")
        .unwrap();
    f.ledger
        .charge("op", "j", "r", &[scenario("s1")], Charge::new(0.1, 6e-7))
        .unwrap();
    let err = f
        .ledger
        .charge("op", "j", "r", &[scenario("s1")], Charge::new(0.1, 6e-7))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("δ=0.0000006"), "{text}");
    assert!(text.contains("left ε=9.9 δ=0.0000004"), "{text}");
}

#[test]
fn a_scope_without_budget_is_named_and_nothing_is_charged() {
    let f = Fixture::new();
    f.ledger
        .set_budget("bureau", &scenario("s1"), 1.0, 0.0, "grant")
        .unwrap();
    let err = f
        .ledger
        .charge(
            "op",
            "j",
            "r",
            &[scenario("s1"), dataset("clinic_visits")],
            eps(0.1),
        )
        .unwrap_err();
    assert!(
        matches!(&err, BudgetError::NoBudget { scope } if *scope == dataset("clinic_visits")),
        "{err:?}"
    );
    assert!(err.to_string().contains("dataset 'clinic_visits'"));
    assert!(f.ledger.debits(&scenario("s1")).unwrap().is_empty());
    assert!(f
        .ledger
        .budget(&dataset("clinic_visits"))
        .unwrap()
        .is_none());
}

#[test]
fn inputs_are_validated_naming_the_field() {
    let f = Fixture::new();
    let s = [scenario("s1")];
    f.ledger
        .set_budget("bureau", &s[0], 1.0, 0.0, "grant")
        .unwrap();
    let cases: Vec<(Charge, &str)> = vec![
        (eps(0.0), "epsilon"),
        (eps(-0.5), "epsilon"),
        (eps(f64::NAN), "epsilon"),
        (eps(f64::INFINITY), "epsilon"),
        (eps(2e6), "epsilon"),
        (Charge::new(0.1, -1e-9), "delta"),
        (Charge::new(0.1, 1.0), "delta"),
        (Charge::new(0.1, 0.999_999_999_999_999_9), "delta"),
        (Charge::new(0.1, f64::NAN), "delta"),
    ];
    for (charge, field) in cases {
        let err = f.ledger.charge("op", "j", "r", &s, charge).unwrap_err();
        assert!(
            matches!(&err, BudgetError::Invalid { field: got, .. } if *got == field),
            "{charge:?}: {err:?}"
        );
        assert!(err.to_string().starts_with(field), "{err}");
    }
    for (actor, job, release, field) in [
        ("", "j", "r", "actor"),
        ("op", " ", "r", "job_id"),
        ("op", "j", "", "release"),
        ("op", "j\n", "r", "job_id"),
    ] {
        let err = f
            .ledger
            .charge(actor, job, release, &s, eps(0.1))
            .unwrap_err();
        assert!(
            matches!(&err, BudgetError::Invalid { field: got, .. } if *got == field),
            "{err:?}"
        );
    }
    assert!(matches!(
        f.ledger.charge("op", "j", "r", &[], eps(0.1)),
        Err(BudgetError::NoScopes)
    ));
    assert!(matches!(
        f.ledger.charge("op", "j", "r", &[scenario("")], eps(0.1)),
        Err(BudgetError::Invalid {
            field: "scope id",
            ..
        })
    ));
    for (e, d, field) in [
        (0.0, 0.0, "epsilon_total"),
        (1e-12, 0.0, "epsilon_total"),
        (1.0, 1.5, "delta_total"),
    ] {
        let err = f.ledger.set_budget("bureau", &s[0], e, d, "x").unwrap_err();
        assert!(
            matches!(&err, BudgetError::Invalid { field: got, .. } if *got == field),
            "{err:?}"
        );
    }
    assert!(matches!(
        f.ledger.set_budget("bureau", &s[0], 1.0, 0.0, "  "),
        Err(BudgetError::Invalid {
            field: "reason",
            ..
        })
    ));
    assert!(f.ledger.debits(&s[0]).unwrap().is_empty());
}

#[test]
fn a_scope_given_twice_is_charged_once() {
    let f = Fixture::new();
    f.ledger
        .set_budget("bureau", &scenario("s1"), 1.0, 0.0, "grant")
        .unwrap();
    let debit = f
        .ledger
        .charge("op", "j", "r", &[scenario("s1"), scenario("s1")], eps(0.3))
        .unwrap();
    assert_eq!(debit.scopes, vec![scenario("s1")]);
    let budget = f.ledger.budget(&scenario("s1")).unwrap().unwrap();
    assert_eq!(budget.spent(), eps(0.3));
}

#[test]
fn charges_round_up_and_totals_round_down() {
    let f = Fixture::new();
    // 1.0000000009 is granted as 1.000000000; 0.1 + 0.2 (0.30000000000000004) costs 0.300000001.
    f.ledger
        .set_budget("bureau", &scenario("s1"), 1.000_000_000_9, 0.0, "grant")
        .unwrap();
    let debit = f
        .ledger
        .charge("op", "j", "r", &[scenario("s1")], eps(0.1 + 0.2))
        .unwrap();
    assert_eq!(debit.charge, eps(0.300_000_001));
    let budget = f.ledger.budget(&scenario("s1")).unwrap().unwrap();
    assert_eq!(budget.epsilon_total, 1.0);
    assert_eq!(budget.remaining(), eps(0.699_999_999));
}

/// 8 threads, half through one shared ledger and half through a second store on the same file
/// (a second process), charge 0.1 against a total of 3 until refused: exactly 30 succeed.
#[test]
fn concurrent_charges_never_overdraw() {
    let f = Fixture::new();
    let scope = scenario("busy");
    f.ledger
        .set_budget("bureau", &scope, 3.0, 0.0, "grant")
        .unwrap();
    let (_, other) = f.second();
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let ledger = if i % 2 == 0 {
                f.ledger.clone()
            } else {
                other.clone()
            };
            let scope = scope.clone();
            thread::spawn(move || {
                let mut won = 0_usize;
                loop {
                    match ledger.charge(
                        "op",
                        &format!("job-{i}"),
                        "r",
                        slice::from_ref(&scope),
                        eps(0.1),
                    ) {
                        Ok(_) => won += 1,
                        Err(BudgetError::Insufficient { .. }) => return won,
                        Err(other) => panic!("thread {i}: {other}"),
                    }
                }
            })
        })
        .collect();
    let won: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(won, 30);

    let budget = f.ledger.budget(&scope).unwrap().unwrap();
    assert_eq!(budget.epsilon_spent, 3.0);
    assert_eq!(budget.remaining(), eps(0.0));
    assert_eq!(f.ledger.debits(&scope).unwrap().len(), 30);
    assert_eq!(f.entries(ACTION_DEBIT).len(), 30);
    f.verify();
}

/// A debit is on disk when `charge` returns; a crash before the release keeps it spent.
#[test]
fn a_debit_survives_a_crash_before_the_release() {
    let f = Fixture::new();
    let scope = scenario("s1");
    f.ledger
        .set_budget("bureau", &scope, 1.0, 0.0, "grant")
        .unwrap();
    let debit = f
        .ledger
        .charge("op", "job-1", "r", slice::from_ref(&scope), eps(0.4))
        .unwrap();

    // Before anything is dropped, another connection already sees the committed debit.
    let (_, other) = f.second();
    assert_eq!(other.debit(&debit.id).unwrap(), Some(debit.clone()));
    drop(other);

    // "Crash": drop every handle without a refund and open the file again. The budget stays
    // spent, which is the safe direction: no release happened, but none can be paid twice.
    let f = f.reopen();
    let budget = f.ledger.budget(&scope).unwrap().unwrap();
    assert_eq!(budget.spent(), eps(0.4));
    assert_eq!(f.ledger.debits(&scope).unwrap(), vec![debit]);
    assert_eq!(f.entries(ACTION_DEBIT).len(), 1);
    f.verify();
}

#[test]
fn a_refund_happens_once_and_is_audited() {
    let f = Fixture::new();
    let scope = scenario("s1");
    f.ledger
        .set_budget("bureau", &scope, 1.0, 0.0, "grant")
        .unwrap();
    let debit = f
        .ledger
        .charge("op", "job-1", "r", &[scope.clone(), dataset("d")], eps(0.4))
        .unwrap_err();
    assert!(matches!(debit, BudgetError::NoBudget { .. }));
    let debit = f
        .ledger
        .charge("op", "job-1", "r", slice::from_ref(&scope), eps(0.4))
        .unwrap();

    f.ledger
        .refund(&debit.id, "blocked by the scan before noise")
        .unwrap();
    let budget = f.ledger.budget(&scope).unwrap().unwrap();
    assert_eq!(budget.spent(), eps(0.0));
    let stored = f.ledger.debit(&debit.id).unwrap().unwrap();
    assert!(stored.refunded);
    assert!(stored.refunded_at.is_some());
    assert_eq!(
        stored.refund_reason.as_deref(),
        Some("blocked by the scan before noise")
    );

    let again = f.ledger.refund(&debit.id, "again").unwrap_err();
    assert!(
        matches!(&again, BudgetError::AlreadyRefunded { id } if *id == debit.id),
        "{again:?}"
    );
    assert!(again.to_string().contains(&debit.id));
    assert!(matches!(
        f.ledger.refund("dbt-0000000000000000", "x"),
        Err(BudgetError::UnknownDebit { .. })
    ));

    let refunds = f.entries(ACTION_REFUND);
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].job_id.as_deref(), Some("job-1"));
    assert_eq!(refunds[0].subject, "s1");
    assert_eq!(refunds[0].details["debit"], debit.id.as_str());
    assert_eq!(refunds[0].details["charged"], "op");
    assert_eq!(
        refunds[0].details["remaining"][0]["remaining"]["epsilon"],
        1.0
    );
    // The refunded debit is still listed; its ε can be spent again.
    assert_eq!(f.ledger.debits(&scope).unwrap().len(), 1);
    f.ledger
        .charge("op", "job-2", "r", slice::from_ref(&scope), eps(1.0))
        .unwrap();
    f.verify();
}

#[test]
fn preview_reports_cost_and_remainder_and_writes_nothing() {
    let f = Fixture::new();
    let s1 = scenario("s1");
    let d = dataset("residents");
    f.ledger
        .set_budget("bureau", &s1, 1.0, 1e-6, "grant")
        .unwrap();
    f.ledger
        .set_budget("bureau", &d, 0.5, 1e-6, "grant")
        .unwrap();
    f.ledger
        .charge("op", "j", "r", slice::from_ref(&s1), eps(0.2))
        .unwrap();
    let head = f.audit.head().unwrap();

    let planned = [Charge::new(0.2, 1e-7), Charge::new(0.2, 1e-7), eps(0.2)];
    let previews = f
        .ledger
        .preview(&[s1.clone(), d.clone()], &planned)
        .unwrap();
    assert_eq!(previews.len(), 2);
    let p = &previews[0];
    assert_eq!(p.scope, s1);
    assert_eq!(p.spent, eps(0.2));
    assert_eq!(p.remaining, Charge::new(0.8, 1e-6));
    assert_eq!(p.cost, Charge::new(0.6, 2e-7));
    assert_eq!(p.remaining_after, Charge::new(0.2, 8e-7));
    assert!(p.fits);
    assert_eq!(p.fitting, 3);
    let p = &previews[1];
    assert_eq!(p.scope, d);
    assert_eq!(p.remaining_after.epsilon, -0.1);
    assert!(!p.fits);
    assert_eq!(p.fitting, 2);

    // Nothing changed: no debit, no audit entry, same spending.
    assert_eq!(f.audit.head().unwrap(), head);
    assert_eq!(f.ledger.debits(&s1).unwrap().len(), 1);
    assert!(f.ledger.debits(&d).unwrap().is_empty());
    assert_eq!(f.ledger.budget(&s1).unwrap().unwrap().spent(), eps(0.2));
    assert!(matches!(
        f.ledger.preview(&[dataset("nope")], &planned),
        Err(BudgetError::NoBudget { .. })
    ));
    let empty = f.ledger.preview(slice::from_ref(&s1), &[]).unwrap();
    assert!(empty[0].fits);
    assert_eq!(empty[0].cost, Charge::default());
}

#[test]
fn set_budget_raises_and_lowers_but_never_below_spent() {
    let f = Fixture::new();
    let scope = scenario("s1");
    let created = f
        .ledger
        .set_budget("bureau", &scope, 1.0, 0.0, "grant")
        .unwrap();
    assert_eq!(created.total(), eps(1.0));
    f.ledger
        .charge(
            "op",
            "j",
            "r",
            slice::from_ref(&scope),
            Charge::new(0.6, 0.0),
        )
        .unwrap();

    let err = f
        .ledger
        .set_budget("bureau", &scope, 0.5, 0.0, "cut")
        .unwrap_err();
    assert!(matches!(err, BudgetError::BelowSpent { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("scenario 's1'") && text.contains("spent ε=0.6"),
        "{text}"
    );
    assert_eq!(f.ledger.budget(&scope).unwrap().unwrap().total(), eps(1.0));

    let lowered = f
        .ledger
        .set_budget("bureau", &scope, 0.6, 0.0, "cut")
        .unwrap();
    assert_eq!(lowered.remaining(), eps(0.0));
    assert!(matches!(
        f.ledger
            .charge("op", "j", "r", slice::from_ref(&scope), eps(0.000_000_001)),
        Err(BudgetError::Insufficient { .. })
    ));
    let raised = f
        .ledger
        .set_budget("bureau", &scope, 2.0, 1e-5, "raise")
        .unwrap();
    assert_eq!(raised.remaining(), Charge::new(1.4, 1e-5));

    let sets = f.entries(ACTION_SET);
    assert_eq!(sets.len(), 3, "the refused cut is not recorded");
    assert_eq!(sets[0].details["previous_total"], serde_json::Value::Null);
    assert_eq!(sets[2].actor, "bureau");
    assert_eq!(sets[2].details["previous_total"]["epsilon"], 0.6);
    assert_eq!(sets[2].details["reason"], "raise");
    f.verify();
}

#[test]
fn migration_three_creates_the_ledger_tables() {
    let f = Fixture::new();
    let store = Store::open(f.dir.path()).unwrap();
    assert!(store.schema_version().unwrap() >= 3);
    store
        .read(|c| {
            for table in ["privacy_budgets", "privacy_debits", "privacy_debit_scopes"] {
                let n: i64 =
                    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
                assert_eq!(n, 0, "{table}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn debits_list_in_the_order_they_were_charged() {
    let f = Fixture::new();
    let scope = scenario("s-order");
    f.ledger
        .set_budget("bureau", &scope, 100.0, 0.0, "test")
        .unwrap();
    // Many charges in a row: most share a millisecond with a neighbour, and their ids are
    // random, so any order but the charge order would show here.
    let ids: Vec<String> = (0..40)
        .map(|i| {
            let job = format!("job-{i}");
            f.ledger
                .charge("op", &job, "r", slice::from_ref(&scope), eps(0.01))
                .unwrap()
                .id
        })
        .collect();
    let listed: Vec<String> = f
        .ledger
        .debits(&scope)
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, ids);
}
