//! The guard's decision on a release, as an ordered list of named steps.
//!
//! [`ReleaseBuilder::finish`](super::ReleaseBuilder::finish) runs [`THRESHOLD_STEPS`] and
//! [`ReleaseBuilder::finish_private`](super::ReleaseBuilder::finish_private) runs
//! [`PRIVATE_STEPS`], in order; the first step that blocks ends the decision. A block names its
//! step and its [`Rule`], and the audit log's `release.blocked` entry records both; a released
//! table's `release` entry lists the steps it passed. docs/privacy.md ("The guard's steps") lists
//! the same steps with the same names, and a test below holds the two together.
//!
//! Steps share one [`Pending`] value: what the builder accumulated (the group table, the
//! report), and what earlier steps produced (the sorted aggregates, the kept groups). Each is a
//! plain function of it, so a step can be read, tested and reordered on its own.

use std::sync::Arc;

use serde_json::json;

use super::aggregate::{Aggregates, GroupAccumulator, SizeFault, MAX_KEY_VALUE_BYTES};
use super::contract::{ContractError, ReleaseContract};
use super::decision::{Block, Decision, ReleasedTable, Rule};
use super::noise::RandomSource;
use super::privacy::{self, BudgetGate, PrivacyPlan};
use super::release::AppendError;
use super::report::ReleaseReport;
use super::threshold::Thresholded;
use super::{domain, output, scan, table, threshold, IdentifierOracle};

/// One step of the decision.
#[derive(Clone, Copy)]
pub struct Step {
    /// The step's name, as docs/privacy.md and the audit log write it.
    pub name: &'static str,
    /// The rules this step may block with.
    pub rules: &'static [Rule],
    run: fn(&mut Pending<'_>) -> Flow,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The steps of a release without privacy, in order.
pub const THRESHOLD_STEPS: [Step; 7] = [CONTRACT, ENTITY, SIZE, DOMAIN, SCAN, THRESHOLD, OUTPUT];

/// The steps of a release with privacy, in order: the noise takes the threshold's place.
pub const PRIVATE_STEPS: [Step; 6] = [CONTRACT, ENTITY, SIZE, DOMAIN, SCAN, PRIVACY];

const CONTRACT: Step = Step {
    name: "contract",
    rules: &[Rule::ContractSchema],
    run: contract,
};
const ENTITY: Step = Step {
    name: "entity",
    rules: &[Rule::EntityNull, Rule::EntityUnknown],
    run: entity,
};
const SIZE: Step = Step {
    name: "size",
    rules: &[Rule::SizeGroups],
    run: size,
};
const DOMAIN: Step = Step {
    name: "domain",
    rules: &[Rule::DimensionDomain],
    run: dimension_domain,
};
const SCAN: Step = Step {
    name: "scan",
    rules: &[
        Rule::ScanPseudonym,
        Rule::ScanIdentifier,
        Rule::ContractOutput,
    ],
    run: scan_candidates,
};
const THRESHOLD: Step = Step {
    name: "threshold",
    rules: &[Rule::ThresholdAllSuppressed],
    run: apply_threshold,
};
const OUTPUT: Step = Step {
    name: "output",
    rules: &[Rule::ContractOutput],
    run: build_output,
};
const PRIVACY: Step = Step {
    name: "privacy",
    rules: &[
        Rule::ContractSchema,
        Rule::PrivacyBudget,
        Rule::PrivacyNoise,
        Rule::ContractOutput,
    ],
    run: add_noise,
};

/// What a step says: go on, stop with a block, or stop with the decision made.
pub(crate) enum Flow {
    Next,
    Block(Rule, String),
    Done(Box<Decision>),
}

/// Everything the steps read and produce for one release.
pub(crate) struct Pending<'a> {
    pub contract: Arc<ReleaseContract>,
    pub plan: Option<Arc<PrivacyPlan>>,
    pub k: u32,
    pub oracle: Arc<dyn IdentifierOracle>,
    pub contract_fault: Option<ContractError>,
    pub poison: Option<AppendError>,
    /// The group table, until `size` turns it into `aggregates`.
    pub groups: Option<GroupAccumulator>,
    pub aggregates: Option<Aggregates>,
    pub kept: Option<Thresholded>,
    pub report: ReleaseReport,
    pub privacy: Option<(&'a mut dyn BudgetGate, &'a mut dyn RandomSource)>,
}

impl Pending<'_> {
    fn private(&self) -> bool {
        self.contract.privacy.is_some()
    }

    /// A count for a block message. Under privacy a message states the rule but no count: the
    /// module chooses how many rows break a rule, so a count could carry a value past the noise.
    fn count(&self, n: u64) -> String {
        if self.private() {
            "some".to_owned()
        } else {
            n.to_string()
        }
    }

    /// The report an operator may see of a block at this point.
    fn shown_report(&self) -> ReleaseReport {
        if self.private() {
            self.report.withheld("differential privacy")
        } else {
            self.report.clone()
        }
    }
}

/// Runs `steps` in order over `pending`: the first block or decision ends it. A step that
/// panics blocks with `contract.output` under its own name (the guard failed, the module did
/// not get its way).
pub(crate) fn run(steps: &[Step], mut pending: Pending<'_>) -> Decision {
    let name = pending.contract.name.clone();
    let mut passed: Vec<&'static str> = Vec::with_capacity(steps.len());
    for step in steps {
        let flow =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (step.run)(&mut pending)))
                .unwrap_or_else(|_| {
                    Flow::Block(
                        Rule::ContractOutput,
                        "the guard failed while deciding".to_owned(),
                    )
                });
        match flow {
            Flow::Next => passed.push(step.name),
            Flow::Block(rule, detail) => {
                return Decision::Blocked(Block {
                    step: step.name,
                    rule,
                    message: format!("release '{name}': {detail}"),
                    report: pending.shown_report(),
                })
            }
            Flow::Done(decision) => {
                let mut decision = *decision;
                match &mut decision {
                    Decision::Blocked(block) => block.step = step.name,
                    Decision::Released(released) => {
                        passed.push(step.name);
                        released.steps = passed;
                    }
                }
                return decision;
            }
        }
    }
    // Every list ends with a step that decides; reaching here is the guard's own fault.
    Decision::Blocked(Block {
        step: steps.last().map_or("contract", |s| s.name),
        rule: Rule::ContractOutput,
        message: format!("release '{name}': the guard's steps made no decision"),
        report: pending.shown_report(),
    })
}

/// `contract`: the contract is valid and every contribution chunk was accepted.
fn contract(p: &mut Pending<'_>) -> Flow {
    if let Some(fault) = &p.contract_fault {
        return Flow::Block(
            Rule::ContractSchema,
            format!(
                "the contract is invalid: {}: {}",
                fault.field, fault.problem
            ),
        );
    }
    if let Some(fault) = &p.poison {
        return Flow::Block(
            Rule::ContractSchema,
            format!("a contribution chunk was refused: {fault}"),
        );
    }
    Flow::Next
}

/// `entity`: every contribution row named a real entity of the granted datasets.
fn entity(p: &mut Pending<'_>) -> Flow {
    if p.report.rows_null_entity > 0 {
        let n = p.count(p.report.rows_null_entity);
        return Flow::Block(
            Rule::EntityNull,
            format!("{n} contribution rows have no entity"),
        );
    }
    if p.report.rows_unknown_entity > 0 {
        let n = p.count(p.report.rows_unknown_entity);
        return Flow::Block(
            Rule::EntityUnknown,
            format!("{n} contribution rows name an entity that is not in the granted datasets"),
        );
    }
    Flow::Next
}

/// `size`: the groups fit `max_groups` and every key value its length; the group table becomes
/// the sorted aggregates the later steps read.
fn size(p: &mut Pending<'_>) -> Flow {
    let Some(groups) = p.groups.take() else {
        return Flow::Block(Rule::ContractOutput, "the group table is missing".into());
    };
    match groups.fault() {
        Some(SizeFault::TooManyGroups) => {
            return Flow::Block(
                Rule::SizeGroups,
                format!(
                    "the contributions form more than max_groups={} groups",
                    p.contract.max_groups
                ),
            )
        }
        Some(SizeFault::ValueTooLong { dimension }) => {
            let column = p
                .contract
                .dimensions
                .get(dimension)
                .map_or("?", |d| d.name.as_str());
            return Flow::Block(
                Rule::SizeGroups,
                format!(
                    "a value of dimension '{column}' is longer than {MAX_KEY_VALUE_BYTES} bytes"
                ),
            );
        }
        None => {}
    }
    p.report.groups_total = groups.len() as u64;
    p.aggregates = Some(groups.finish());
    Flow::Next
}

/// `domain`: every group key lies in its dimension's declared domain.
fn dimension_domain(p: &mut Pending<'_>) -> Flow {
    let Some(aggregates) = &p.aggregates else {
        return Flow::Block(Rule::ContractOutput, "the aggregates are missing".into());
    };
    match domain::check(&p.contract, aggregates) {
        Ok(()) => Flow::Next,
        Err(violation) => Flow::Block(
            Rule::DimensionDomain,
            format!(
                "{} groups have a value of dimension '{}' outside its declared domain",
                p.count(violation.groups),
                violation.dimension
            ),
        ),
    }
}

/// `scan`: no cell of any candidate group, suppressed ones too, is or holds a pseudonym or an
/// identifier. Scanning before the threshold means an identifier smuggled into a small group is
/// blocked and recorded under its own rule instead of vanishing into the suppression count.
fn scan_candidates(p: &mut Pending<'_>) -> Flow {
    let Some(aggregates) = &p.aggregates else {
        return Flow::Block(Rule::ContractOutput, "the aggregates are missing".into());
    };
    let Ok(candidates) = table::build(&p.contract, &aggregates.groups) else {
        return Flow::Block(
            Rule::ContractOutput,
            "the candidate table could not be built".into(),
        );
    };
    match scan::scan(&candidates, p.oracle.as_ref()) {
        Err(scan::UnreadableColumn(column)) => Flow::Block(
            Rule::ContractOutput,
            format!("output column '{column}' has a type the scan cannot read"),
        ),
        Ok(Some(finding)) => Flow::Block(
            finding.rule,
            format!(
                "{} candidate output cells contain {}, first in column '{}'",
                p.count(finding.cells),
                finding.what,
                finding.column
            ),
        ),
        Ok(None) => Flow::Next,
    }
}

/// `threshold`: k distinct entities, k contributors per measure and no dominance per group;
/// the others are suppressed, and a release with no group left is blocked.
fn apply_threshold(p: &mut Pending<'_>) -> Flow {
    let Some(aggregates) = p.aggregates.take() else {
        return Flow::Block(Rule::ContractOutput, "the aggregates are missing".into());
    };
    let kept = threshold::apply(aggregates, p.k, &p.contract);
    p.report.groups_suppressed = kept.groups_suppressed;
    p.report.rows_suppressed = kept.rows_suppressed;
    p.report.groups_released = kept.released.len() as u64;
    if kept.released.is_empty() {
        let detail = if p.report.groups_total == 0 {
            "no contribution row was kept, so there is nothing to release".to_owned()
        } else {
            format!(
                "all {} groups were suppressed: {}",
                p.report.groups_total, p.report.suppression_rule
            )
        };
        return Flow::Block(Rule::ThresholdAllSuppressed, detail);
    }
    p.kept = Some(kept);
    Flow::Next
}

/// `output`: the released table has exactly the contract's columns, types and size.
fn build_output(p: &mut Pending<'_>) -> Flow {
    let Some(kept) = p.kept.take() else {
        return Flow::Block(Rule::ContractOutput, "no groups were kept".into());
    };
    let Ok(table) = table::build(&p.contract, &kept.released) else {
        return Flow::Block(
            Rule::ContractOutput,
            "the output table could not be built".into(),
        );
    };
    if let Err(detail) = output::check(&p.contract, &table) {
        return Flow::Block(Rule::ContractOutput, detail);
    }
    let contract = p.contract.as_ref();
    let policy = json!({
        "contract": serde_json::to_value(contract).unwrap_or(serde_json::Value::Null),
        "effective_k": p.k,
        "suppression_rule": p.report.suppression_rule,
        "bound_rule": format!(
            "the first {} contribution rows of each entity, in stream order",
            contract.max_rows_per_entity
        ),
        "missing_value_rule": "null, NaN and infinite measure values are left out of count, sum and mean",
    });
    Flow::Done(Box::new(Decision::Released(ReleasedTable {
        table,
        report: p.report.clone(),
        policy,
        steps: Vec::new(),
    })))
}

/// `privacy`: charge the budget, choose the keys, add calibrated noise, build and check the
/// table (`privacy.rs`); from here on only noisy values are used.
fn add_noise(p: &mut Pending<'_>) -> Flow {
    let Some(aggregates) = p.aggregates.take() else {
        return Flow::Block(Rule::ContractOutput, "the aggregates are missing".into());
    };
    let Some(plan) = p.plan.clone() else {
        return Flow::Block(
            Rule::ContractSchema,
            "the contract's privacy cannot be calibrated".into(),
        );
    };
    let Some((budget, rng)) = p.privacy.as_mut() else {
        return Flow::Block(
            Rule::PrivacyBudget,
            "the release asks for privacy but no privacy budget is available".into(),
        );
    };
    let report = p.report.clone();
    Flow::Done(Box::new(privacy::release(
        &p.contract,
        &plan,
        aggregates,
        report,
        &mut **budget,
        &mut **rng,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of docs/privacy.md's "The guard's steps": (step, rules) per row, in order.
    fn documented_steps() -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/privacy.md");
        let text = std::fs::read_to_string(path).expect("docs/privacy.md");
        let section = text
            .split("\n### The guard's steps\n")
            .nth(1)
            .expect("docs/privacy.md has a section \"The guard's steps\"");
        section
            .lines()
            .skip_while(|l| !l.starts_with("| step"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].replace('`', ""),
                )
            })
            .collect()
    }

    fn rules(step: &Step) -> String {
        step.rules
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn docs_list_the_steps_of_both_lists_in_order_with_their_rules() {
        // One table for both modes: the threshold list, then the step only privacy has.
        let mut expected: Vec<(String, String)> = Vec::new();
        for step in THRESHOLD_STEPS.iter().chain(PRIVATE_STEPS.iter()) {
            let row = (step.name.to_owned(), rules(step));
            if !expected.contains(&row) {
                expected.push(row);
            }
        }
        assert_eq!(documented_steps(), expected);
    }

    #[test]
    fn both_lists_share_their_first_steps_and_end_with_one_that_decides() {
        let shared: Vec<_> = THRESHOLD_STEPS[..5].iter().map(|s| s.name).collect();
        let private: Vec<_> = PRIVATE_STEPS[..5].iter().map(|s| s.name).collect();
        assert_eq!(shared, private);
        assert_eq!(THRESHOLD_STEPS[6].name, "output");
        assert_eq!(PRIVATE_STEPS[5].name, "privacy");
    }
}
