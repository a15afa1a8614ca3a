//! `GET /v1/budgets/{scenario_id}`: who may read a scenario's privacy budget, the answer before
//! its first private release, and what it shows after one.

use serde_json::json;

use super::jobs::{guest, World};
use super::usci;
use shuyu::budget::{BudgetScope, Charge, ScenarioBudget};
use shuyu::governance::model::Role;

const SCENARIO: &str = "district-budget";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_read_by_their_operator_the_bureau_and_reviewers() {
    let world = World::new(1).await;
    let module = world.upload(guest(false)).await;
    world.approved(SCENARIO, &module).await;
    let api = &world.api;
    let other = api.user("op-2", Role::Operator, Some(usci(2)), None);
    let path = format!("/v1/budgets/{SCENARIO}");

    api.get(&path, None).await.error(401, "unauthenticated");
    // Providers are refused with the reason, before anything about the scenario is looked up.
    let message = api
        .get(&path, Some(&world.market))
        .await
        .error(403, "forbidden");
    assert!(message.contains("not by providers"), "{message}");
    // Another operator learns nothing about the scenario: the same answer as for an id never
    // used, before and after the budget exists (checked again below).
    let message = api.get(&path, Some(&other)).await.error(404, "not_found");
    assert_eq!(message, ScenarioBudget::missing(SCENARIO));
    let message = api
        .get("/v1/budgets/no-such-scenario", Some(&other))
        .await
        .error(404, "not_found");
    assert_eq!(message, ScenarioBudget::missing("no-such-scenario"));

    // Approved, but no private release yet: no budget.
    for who in [&world.op, &world.bureau, &world.reviewer] {
        let message = api.get(&path, Some(who)).await.error(404, "not_found");
        assert_eq!(message, ScenarioBudget::missing(SCENARIO));
        assert!(message.contains("created by the first job with a private release"));
    }

    // As the first private release would leave it: both budgets of the charge created (the tax
    // dataset's is left out to show a granted dataset without one), one debit, then a refunded one.
    let ledger = api.state.ledger();
    // The scenario's ledger scope is its binding's domain-assigned key id.
    let key_id = api
        .state
        .queue()
        .governance()
        .scenario_binding(SCENARIO)
        .expect("binding")
        .expect("bound at submission")
        .key_id;
    let scenario = BudgetScope::Scenario(key_id.clone());
    let registry = BudgetScope::Dataset("enterprise_registry".into());
    ledger
        .set_budget("system", &scenario, 3.0, 1e-6, "test")
        .expect("scenario budget");
    ledger
        .set_budget("system", &registry, 10.0, 1e-5, "test")
        .expect("dataset budget");
    let scopes = [scenario.clone(), registry.clone()];
    let debit = ledger
        .charge("op-1", "job-1", "r1", &scopes, Charge::new(0.5, 1e-7))
        .expect("charge");
    let refunded = ledger
        .charge("op-1", "job-2", "r1", &scopes, Charge::new(0.25, 0.0))
        .expect("charge");
    ledger.refund(&refunded.id, "blocked").expect("refund");

    for who in [&world.op, &world.bureau, &world.reviewer] {
        let body = api.get(&path, Some(who)).await.ok(200).clone();
        assert_eq!(body["scenario_id"], SCENARIO);
        assert_eq!(
            body["budget"]["scope"],
            json!({ "kind": "scenario", "id": key_id })
        );
        assert_eq!(body["budget"]["epsilon_total"], 3.0);
        assert_eq!(body["budget"]["epsilon_spent"], 0.5);
        assert_eq!(body["budget"]["epsilon_remaining"], 2.5);
        assert_eq!(body["budget"]["delta_remaining"], 9e-7);
        // The datasets the approved application grants, in grant order.
        assert_eq!(body["datasets"][0]["dataset"], "enterprise_registry");
        assert_eq!(body["datasets"][0]["budget"]["epsilon_remaining"], 9.5);
        assert_eq!(body["datasets"][1]["dataset"], "tax_payments");
        assert!(body["datasets"][1]["budget"].is_null(), "{body}");
        let debits = body["debits"].as_array().expect("debits");
        assert_eq!(debits.len(), 2, "{body}");
        assert_eq!(debits[0]["id"], debit.id.as_str());
        assert_eq!(debits[0]["job_id"], "job-1");
        assert_eq!(debits[0]["release"], "r1");
        assert_eq!(debits[0]["epsilon"], 0.5);
        assert_eq!(debits[0]["refunded"], false);
        assert_eq!(debits[1]["refunded"], true);
        // What the route answers is exactly what the ledger reads.
        let read = ledger
            .scenario_budget(
                SCENARIO,
                &key_id,
                &["enterprise_registry".into(), "tax_payments".into()],
            )
            .expect("read")
            .expect("budget");
        assert_eq!(body, serde_json::to_value(read).expect("json"));
    }
    api.get(&path, Some(&world.tax))
        .await
        .error(403, "forbidden");
    // With debits recorded, another operator still gets exactly the missing answer.
    let message = api.get(&path, Some(&other)).await.error(404, "not_found");
    assert_eq!(message, ScenarioBudget::missing(SCENARIO));
}
