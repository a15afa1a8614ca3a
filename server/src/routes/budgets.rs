//! Privacy budgets: what a scenario and its datasets may still spend, and its debits
//! (docs/concepts.md, "Policies that compose"). Read-only: totals are created by the first private release and set by the
//! bureau.

use axum::extract::State;
use axum::routing::on;
use axum::Json;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::route_table::{Param, Route};
use crate::state::AppState;
use shuyu::budget::{BudgetError, ScenarioBudget};
use shuyu::governance::model::Caller;

const SCENARIO: &[Param] = &[Param::string("scenario_id", "Scenario id.")];

pub(super) fn routes() -> Vec<Route> {
    vec![Route::get(
        "/v1/budgets/{scenario_id}",
        "getScenarioBudget",
        |m| on(m, show),
    )
    .doc(
        "budgets",
        "A scenario's privacy budget, its datasets' budgets and its debits (the scenario's operator, bureau, reviewer)",
    )
    .path_params(SCENARIO)
    .returns(200, "ScenarioBudget")
    .errors(&[403, 404])]
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scenario_id): ApiPath<String>,
) -> Result<Json<ScenarioBudget>, ApiError> {
    let ledger = state.ledger.clone();
    state
        .blocking(move |queue| {
            // Access first, so that a refused caller cannot tell a scenario with a budget from
            // one without.
            let access = queue
                .governance()
                .authorize_budget_read(&caller, &scenario_id)?;
            match ledger.scenario_budget(&scenario_id, &access.scope_id, &access.datasets) {
                Ok(Some(budget)) => Ok(Json(budget)),
                Ok(None) => Err(ApiError::not_found(ScenarioBudget::missing(&scenario_id))),
                // The error quotes the id cut short: safe to echo.
                Err(e @ BudgetError::Invalid { .. }) => Err(ApiError::bad_request(e.to_string())),
                Err(e) => Err(ApiError::internal(e)),
            }
        })
        .await
}
