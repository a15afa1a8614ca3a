//! What a release comes to: a table that may leave, or a block naming the rule that stopped it.
//!
//! A block names exactly one [`Rule`] (the first one violated, in the guard's order of steps) and carries a
//! message for the operator. Messages name the rule, columns and counts only, never a cell value or
//! a pseudonym: the module controls the values and could otherwise leak them through the block.

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::report::ReleaseReport;

/// The rules the guard enforces (the order of checking is in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// A contribution chunk did not decode or did not have the contract's schema, or the contract
    /// itself is invalid.
    #[serde(rename = "contract.schema")]
    ContractSchema,
    /// A contribution row had no entity.
    #[serde(rename = "entity.null")]
    EntityNull,
    /// A contribution row named an entity that is not in the granted datasets.
    #[serde(rename = "entity.unknown")]
    EntityUnknown,
    /// A group key fell outside a dimension's declared domain.
    #[serde(rename = "dimension.domain")]
    DimensionDomain,
    /// The group table exceeded its limits: more groups than `max_groups`, or an oversized key.
    #[serde(rename = "size.groups")]
    SizeGroups,
    /// No group had at least k distinct entities.
    #[serde(rename = "threshold.all_suppressed")]
    ThresholdAllSuppressed,
    /// An output cell is or contains an identifier (raw value or a valid identifier format).
    #[serde(rename = "scan.identifier")]
    ScanIdentifier,
    /// An output cell is or contains a pseudonym.
    #[serde(rename = "scan.pseudonym")]
    ScanPseudonym,
    /// The output table does not have the contract's columns, types or size.
    #[serde(rename = "contract.output")]
    ContractOutput,
    /// A release with privacy could not be charged to the privacy budget (insufficient, none
    /// set, or the ledger failed); nothing was charged and no noise drawn.
    #[serde(rename = "privacy.budget")]
    PrivacyBudget,
    /// The noise of a release with privacy could not be drawn (the random source failed or the
    /// values overflow exact arithmetic); the charge is refunded, nothing noisy left.
    #[serde(rename = "privacy.noise")]
    PrivacyNoise,
}

impl Rule {
    /// The rule's stable name, as recorded in the audit log and shown to the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ContractSchema => "contract.schema",
            Rule::EntityNull => "entity.null",
            Rule::EntityUnknown => "entity.unknown",
            Rule::DimensionDomain => "dimension.domain",
            Rule::SizeGroups => "size.groups",
            Rule::ThresholdAllSuppressed => "threshold.all_suppressed",
            Rule::ScanIdentifier => "scan.identifier",
            Rule::ScanPseudonym => "scan.pseudonym",
            Rule::ContractOutput => "contract.output",
            Rule::PrivacyBudget => "privacy.budget",
            Rule::PrivacyNoise => "privacy.noise",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The guard's verdict on one release.
#[derive(Debug, Clone)]
pub enum Decision {
    /// The table may leave, as a product.
    Released(ReleasedTable),
    /// Nothing leaves.
    Blocked(Block),
}

impl Decision {
    /// The accounting of the release, whichever way it went.
    pub fn report(&self) -> &ReleaseReport {
        match self {
            Decision::Released(released) => &released.report,
            Decision::Blocked(block) => &block.report,
        }
    }
}

/// A released table with its accounting.
#[derive(Debug, Clone)]
pub struct ReleasedTable {
    /// The aggregated, thresholded, scanned table: one row per released group, sorted by the
    /// dimension values.
    pub table: RecordBatch,
    /// What was dropped, clamped and suppressed.
    pub report: ReleaseReport,
    /// The policy applied (contract and effective k; for a release with privacy, also
    /// `privacy`: a [`super::PrivacyInfo`] with each noisy column's mechanism and accuracy), for
    /// the product manifest.
    pub policy: serde_json::Value,
    /// The guard's steps the release passed, in order (`steps.rs`), for the audit log.
    pub steps: Vec<&'static str>,
}

/// A blocked release.
#[derive(Debug, Clone)]
pub struct Block {
    /// The step that blocked (`steps.rs`; `contract` for a block before the guard's steps, a
    /// problem of the scenario or the module).
    pub step: &'static str,
    /// The first rule violated.
    pub rule: Rule,
    /// For the operator: names the rule, columns and counts; never a value.
    pub message: String,
    /// The accounting up to the block.
    pub report: ReleaseReport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_match_their_serialization() {
        let rules = [
            Rule::ContractSchema,
            Rule::EntityNull,
            Rule::EntityUnknown,
            Rule::DimensionDomain,
            Rule::SizeGroups,
            Rule::ThresholdAllSuppressed,
            Rule::ScanIdentifier,
            Rule::ScanPseudonym,
            Rule::ContractOutput,
            Rule::PrivacyBudget,
            Rule::PrivacyNoise,
        ];
        for rule in rules {
            assert_eq!(
                serde_json::to_value(rule).ok(),
                Some(serde_json::json!(rule.as_str()))
            );
            assert_eq!(rule.to_string(), rule.as_str());
        }
    }
}
