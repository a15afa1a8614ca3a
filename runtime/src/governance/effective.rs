//! The effective contract: a scenario as composed with its providers' manifests, i.e. what the
//! guard enforces, in a form people read before they approve it.
//!
//! It is built from the [`ApprovedScenario`] that [`super::ScenarioFile::check`] returns, the same
//! composition a job runs under, so the two cannot disagree: the releases carry the k and the
//! clamps the guard applies, and every place where the scenario asked for something looser than
//! a manifest is listed in `looser`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shuyu_datasets::manifest::{ColumnClass, ColumnUse, PrivacyBudget};

use super::scenario::{ApprovedScenario, Looser};
use crate::guard::service::ServiceContract;
use crate::guard::vector::VectorContract;
use crate::guard::{
    Aggregation, DimensionSpec, DominanceSpec, MeasureSpec, PrivacySpec, DEFAULT_DATASET_BUDGET,
};
use crate::sandbox::Limits;

/// A scenario as the guard enforces it: composed with its datasets' current manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectiveContract {
    /// The scenario id.
    pub scenario: String,
    /// SHA-256 of the one module allowed to run.
    pub module_sha256: String,
    /// The granted datasets with the providers' rules that apply, in grant order.
    pub datasets: Vec<EffectiveDataset>,
    /// Resource limits of a job.
    pub limits: Limits,
    /// The scenario's total privacy budget, if it has one.
    pub privacy_budget: Option<PrivacyBudget>,
    /// The table releases, as enforced.
    pub releases: Vec<EffectiveRelease>,
    /// The sample-and-aggregate releases.
    pub vectors: Vec<VectorContract>,
    /// The verification and data services, each with the most an answer can carry.
    pub services: Vec<EffectiveService>,
    /// Every place where the scenario asks for something looser than a manifest; there the
    /// manifest applies. A submission with any is refused; an approved application shows some
    /// only when a provider tightened its manifest since.
    pub looser: Vec<Looser>,
}

/// One `[[service]]` as reviewers approve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectiveService {
    /// The contract as written (validated).
    pub contract: ServiceContract,
    /// Bits one answer can carry at most (the sum of log2 of each field's outcomes); the guard
    /// refuses every answer outside the declared values and buckets.
    pub answer_bits: f64,
}

/// One granted dataset, the version composed with and the provider's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectiveDataset {
    /// Dataset name.
    pub dataset: String,
    /// SHA-256 of the data file of the version the contract was composed with.
    pub content_sha256: String,
    /// The provider's minimum number of distinct entities per released group.
    pub min_k: u32,
    /// The column holding the dataset's subjects.
    pub entity_column: String,
    /// The dataset's privacy budget across all scenarios, as declared in its manifest or the
    /// runtime's default (the ledger keeps the value it was created with).
    pub privacy_budget: PrivacyBudget,
    /// Whether the manifest declares `privacy_budget` (false: the runtime's default).
    pub privacy_budget_declared: bool,
    /// The granted columns, in grant order.
    pub columns: Vec<EffectiveColumn>,
}

/// One granted column and its provider's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectiveColumn {
    /// Column name.
    pub name: String,
    /// Sensitivity class.
    pub class: ColumnClass,
    /// Whether the module sees pseudonyms instead of the values (identifier columns).
    pub pseudonymized: bool,
    /// The uses the provider allows.
    pub uses: Vec<ColumnUse>,
    /// Aggregations the provider allows (empty: any).
    pub aggregations: Vec<Aggregation>,
    /// The provider's bound on contributions.
    pub clamp: Option<[f64; 2]>,
}

/// One `[[release]]` as the guard enforces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectiveRelease {
    /// Release name.
    pub name: String,
    /// The k threshold applied: the largest of the contract's and every granted dataset's
    /// `min_k`; none under privacy, where noise replaces the threshold.
    #[schemars(range(min = 2))]
    pub k: Option<u32>,
    /// L: contribution rows kept per entity.
    pub max_rows_per_entity: u32,
    /// More groups than this blocks the release.
    pub max_groups: usize,
    /// The dominance rule applied; none under privacy.
    pub dominance: Option<DominanceSpec>,
    /// Differential privacy (ε, δ) of the release.
    pub privacy: Option<PrivacySpec>,
    /// Group-by columns with their sources and declared domains.
    pub dimensions: Vec<DimensionSpec>,
    /// Measures with the clamps applied (narrowed to the providers' bounds).
    pub measures: Vec<MeasureSpec>,
}

impl EffectiveContract {
    /// The contract `approved` is enforced under.
    pub fn of(approved: &ApprovedScenario) -> Self {
        let file = &approved.file;
        let datasets = file
            .grants
            .iter()
            .zip(&approved.datasets)
            .map(|(grant, dataset)| {
                let info = &dataset.manifest.dataset;
                let identifiers: Vec<&str> = dataset.identifier_columns().collect();
                let columns = grant
                    .columns
                    .iter()
                    .filter_map(|name| dataset.manifest.column(name))
                    .map(|spec| EffectiveColumn {
                        name: spec.name.clone(),
                        class: spec.class,
                        pseudonymized: identifiers.contains(&spec.name.as_str()),
                        uses: spec.uses.clone(),
                        aggregations: spec.aggregations.clone(),
                        clamp: spec.clamp,
                    })
                    .collect();
                EffectiveDataset {
                    dataset: dataset.name().to_string(),
                    content_sha256: dataset.content_sha256.clone(),
                    min_k: info.min_k,
                    entity_column: info.entity_column.clone(),
                    privacy_budget: info.privacy_budget.unwrap_or(PrivacyBudget {
                        epsilon: DEFAULT_DATASET_BUDGET.epsilon,
                        delta: DEFAULT_DATASET_BUDGET.delta,
                    }),
                    privacy_budget_declared: info.privacy_budget.is_some(),
                    columns,
                }
            })
            .collect();
        let releases = approved
            .releases
            .iter()
            .map(|resolved| {
                let contract = &resolved.contract;
                let threshold = contract.privacy.is_none();
                EffectiveRelease {
                    name: contract.name.clone(),
                    k: threshold.then_some(resolved.effective_k),
                    max_rows_per_entity: contract.max_rows_per_entity,
                    max_groups: contract.max_groups,
                    dominance: threshold.then_some(contract.dominance),
                    privacy: contract.privacy,
                    dimensions: contract.dimensions.clone(),
                    measures: contract.measures.clone(),
                }
            })
            .collect();
        Self {
            scenario: file.scenario.id.clone(),
            module_sha256: file.scenario.module_sha256.clone(),
            datasets,
            limits: file.limits.clone(),
            privacy_budget: file.privacy_budget,
            releases,
            vectors: approved.vectors.iter().map(|v| (**v).clone()).collect(),
            services: approved
                .services
                .iter()
                .map(|s| EffectiveService {
                    answer_bits: (s.answer_bits() * 100.0).round() / 100.0,
                    contract: (**s).clone(),
                })
                .collect(),
            looser: approved.looser.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::catalog::Catalog;
    use crate::governance::ScenarioFile;

    fn effective(file: &str, edit: impl FnOnce(String) -> String) -> EffectiveContract {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let catalog = Catalog::load(&root.join("datasets")).expect("bundled catalog");
        let text = std::fs::read_to_string(root.join("guest-examples").join(file)).expect("file");
        let mut scenario = ScenarioFile::from_toml_str(&edit(text)).expect("scenario");
        scenario.scenario.module_sha256 = "0".repeat(64);
        EffectiveContract::of(&scenario.check(&catalog).expect("valid"))
    }

    #[test]
    fn a_threshold_release_shows_the_k_and_clamps_the_guard_applies() {
        // Ask for a k below the providers' and a clamp wider than the tax provider's bound.
        let contract = effective("district-stats/scenario.toml", |text| {
            text.replace("k = 5", "k = 2")
                .replace("clamp = [0.0, 10000000.0]", "clamp = [-5.0, 2e7]")
        });
        let release = &contract.releases[0];
        assert_eq!(
            release.k,
            Some(5),
            "the largest min_k of the granted datasets"
        );
        assert!(release.dominance.is_some());
        assert_eq!(release.measures[0].clamp, [0.0, 100_000.0]);
        assert_eq!(release.measures[1].clamp, [0.0, 10_000_000.0]);
        let marked: Vec<(&str, &str)> = contract
            .looser
            .iter()
            .map(|l| (l.source.as_str(), l.rule.as_str()))
            .collect();
        assert_eq!(
            marked,
            [
                ("tax_payments.amount", "clamp"),
                ("enterprise_registry", "min_k")
            ]
        );
        let registry = &contract.datasets[0];
        assert_eq!(registry.dataset, "enterprise_registry");
        assert_eq!(registry.min_k, 5);
        let columns: Vec<(&str, bool)> = registry
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.pseudonymized))
            .collect();
        assert_eq!(
            columns,
            [
                ("usci", true),
                ("district", false),
                ("industry", false),
                ("registered_capital", false),
            ]
        );
        assert!(!registry.privacy_budget_declared);
        assert_eq!(
            registry.privacy_budget.epsilon,
            DEFAULT_DATASET_BUDGET.epsilon
        );
        // It round-trips through JSON, the form the API sends.
        let json = serde_json::to_value(&contract).expect("json");
        let back: EffectiveContract = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, contract);
    }

    #[test]
    fn privacy_releases_and_vectors_show_no_threshold_and_their_budgets() {
        let contract = effective("district-stats/scenario-dp.toml", |text| text);
        let release = &contract.releases[0];
        assert_eq!(release.k, None);
        assert_eq!(release.dominance, None);
        assert_eq!(release.privacy.map(|p| p.epsilon), Some(2.0));
        assert_eq!(contract.privacy_budget.map(|b| b.epsilon), Some(10.0));
        assert!(contract.looser.is_empty());

        let contract = effective("credit-model/scenario.toml", |text| text);
        assert!(contract.releases.is_empty());
        assert_eq!(contract.vectors.len(), 1);
        assert_eq!(contract.vectors[0].coords.len(), 4);
        assert_eq!(contract.datasets.len(), 3);
    }
}
