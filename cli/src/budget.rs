//! `shuyu budget`: what privacy budget a scenario and its datasets have left (docs/concepts.md, "Policies that compose"),
//! locally on the data directory or, with `--server`, through `GET /v1/budgets/{scenario_id}`.

use anyhow::anyhow;
use clap::Subcommand;
use shuyu::budget::{
    BudgetLedger, BudgetPreview, BudgetScope, BudgetStatus, Charge, ScenarioBudget,
};
use shuyu::domain::Domain;
use shuyu::governance::Governance;

use super::client::encode;
use super::{CliResult, Failure, Globals};

/// Most releases one preview may plan: far above any scenario's, low enough that a typo cannot
/// make the command allocate without bound.
const MAX_PREVIEW_COUNT: usize = 100_000;

#[derive(Debug, Subcommand)]
pub(crate) enum BudgetCommand {
    /// Show a scenario's budget, its datasets' budgets and its debits (local, or `--server`:
    /// the scenario's operator, bureau, reviewer).
    Show {
        /// The scenario id.
        #[arg(long)]
        scenario: String,
    },
    /// What N more releases at (ε, δ) each would cost the scenario and its datasets, and whether
    /// they fit (local, on the data directory; writes nothing).
    Preview {
        /// The scenario id.
        #[arg(long)]
        scenario: String,
        /// ε of each release.
        #[arg(long)]
        epsilon: f64,
        /// δ of each release (0 for pure ε-differential privacy).
        #[arg(long, default_value_t = 0.0)]
        delta: f64,
        /// How many releases.
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

pub(crate) fn run(globals: &Globals, command: BudgetCommand) -> CliResult {
    match command {
        BudgetCommand::Show { scenario } => {
            let budget = if globals.remote() {
                let client = globals.client("budget show")?;
                let reply =
                    client.get::<ScenarioBudget>(&format!("/v1/budgets/{}", encode(&scenario)))?;
                if globals.json {
                    globals.print_json(&reply.raw);
                    return Ok(());
                }
                reply.value
            } else {
                let (gov, ledger) = open_local(globals)?;
                let Some(scope) = scope_of(&gov, &scenario)? else {
                    return Err(anyhow!(ScenarioBudget::missing(&scenario)).into());
                };
                let datasets = gov.budget_datasets(&scenario)?;
                let Some(budget) = ledger.scenario_budget(&scenario, &scope, &datasets)? else {
                    return Err(anyhow!(ScenarioBudget::missing(&scenario)).into());
                };
                if globals.json {
                    globals.print_json(&serde_json::to_value(&budget)?);
                    return Ok(());
                }
                budget
            };
            print_budget(&budget);
            Ok(())
        }
        BudgetCommand::Preview {
            scenario,
            epsilon,
            delta,
            count,
        } => {
            if globals.remote() {
                return Err(anyhow!(
                    "`shuyu budget preview` runs on the data directory: drop --server \
                     (through a server, `budget show` gives what remains)"
                )
                .into());
            }
            if count == 0 || count > MAX_PREVIEW_COUNT {
                return Err(anyhow!(
                    "--count must be between 1 and {MAX_PREVIEW_COUNT}, not {count}"
                )
                .into());
            }
            let (gov, ledger) = open_local(globals)?;
            let Some(scope) = scope_of(&gov, &scenario)? else {
                return Err(anyhow!(ScenarioBudget::missing(&scenario)).into());
            };
            let scenario_scope = BudgetScope::Scenario(scope);
            if ledger.budget(&scenario_scope)?.is_none() {
                return Err(anyhow!(ScenarioBudget::missing(&scenario)).into());
            }
            // Only scopes with a budget can be previewed; a dataset without one gets it, from its
            // declaration, at the scenario's next release.
            let mut scopes = vec![scenario_scope];
            let mut without = Vec::new();
            for dataset in gov.budget_datasets(&scenario)? {
                let scope = BudgetScope::Dataset(dataset);
                if ledger.budget(&scope)?.is_some() {
                    scopes.push(scope);
                } else {
                    without.push(scope);
                }
            }
            let planned = vec![Charge::new(epsilon, delta); count];
            let previews = ledger.preview(&scopes, &planned)?;
            if globals.json {
                globals.print_json(&serde_json::json!({
                    "scenario_id": scenario,
                    "planned": { "epsilon": epsilon, "delta": delta, "count": count },
                    "scopes": previews,
                    "without_budget": without,
                }));
                return Ok(());
            }
            println!("{count} release(s) at ε={epsilon} δ={delta} each:");
            for preview in &previews {
                print_preview(preview);
            }
            for scope in &without {
                println!("  {scope}: no budget yet (created from its declaration on first use)");
            }
            if previews.iter().all(|p| p.fits) {
                println!("all fit");
                Ok(())
            } else {
                let fitting = previews.iter().map(|p| p.fitting).min().unwrap_or(0);
                Err(Failure::Refused(format!(
                    "only {fitting} of the {count} release(s) fit every budget"
                )))
            }
        }
    }
}

/// The ledger scope of `scenario`: the key id of its binding (`None` if the id was never used).
/// Local commands act for the domain, so any scenario's may be read.
fn scope_of(gov: &Governance, scenario: &str) -> Result<Option<String>, Failure> {
    Ok(gov
        .scenario_binding(scenario)?
        .map(|binding| binding.key_id))
}

/// Governance and the ledger over `--data-dir`.
fn open_local(globals: &Globals) -> Result<(Governance, BudgetLedger), Failure> {
    let domain = Domain::open(&globals.data_dir)?;
    let gov = Governance::new(
        domain.store.clone(),
        domain.audit.clone(),
        domain.data_dir(),
    );
    let ledger = BudgetLedger::new(domain.store.clone(), domain.audit.clone());
    Ok((gov, ledger))
}

fn print_status(status: &BudgetStatus) {
    println!(
        "  {}: remaining ε={} δ={}  (spent ε={} δ={} of ε={} δ={})",
        status.scope,
        status.epsilon_remaining,
        status.delta_remaining,
        status.epsilon_spent,
        status.delta_spent,
        status.epsilon_total,
        status.delta_total,
    );
}

fn print_budget(budget: &ScenarioBudget) {
    println!("privacy budget of scenario {}:", budget.scenario_id);
    print_status(&budget.budget);
    for dataset in &budget.datasets {
        match &dataset.budget {
            Some(status) => print_status(status),
            None => println!(
                "  dataset '{}': no budget yet (created at its first release)",
                dataset.dataset
            ),
        }
    }
    println!("debits ({}):", budget.debits.len());
    for debit in &budget.debits {
        println!(
            "  {}  {}  job {}  release {}  ε={} δ={}{}",
            debit.id,
            debit.time,
            debit.job_id,
            debit.release,
            debit.epsilon,
            debit.delta,
            if debit.refunded { "  REFUNDED" } else { "" },
        );
    }
}

fn print_preview(preview: &BudgetPreview) {
    println!(
        "  {}: remaining ε={} δ={}, costs ε={} δ={}, leaves ε={} δ={}  {}",
        preview.scope,
        preview.remaining.epsilon,
        preview.remaining.delta,
        preview.cost.epsilon,
        preview.cost.delta,
        preview.remaining_after.epsilon,
        preview.remaining_after.delta,
        if preview.fits {
            "fits".to_string()
        } else {
            format!("only {} fit", preview.fitting)
        },
    );
}
