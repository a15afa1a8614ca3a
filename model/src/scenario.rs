//! The scenario file: one approved use of public data.
//!
//! A scenario names its operator, the datasets and columns granted, the SHA-256 of the one module
//! allowed to run, the limits, and the release contract. [`ScenarioFile::check`] validates it
//! against the catalog and composes the providers' column policies with the contract: a contract
//! can only tighten what a provider allows, and where several datasets are granted the most
//! restrictive rule of all of them applies (the largest k, the narrowest clamp). Every dimension
//! and measure must name its source columns in `from`, all granted: a column without sources
//! would escape every provider's policy, so the scenario is refused.
//!
//! Where the scenario asks for less than a manifest allows (a wider clamp, a smaller k, more
//! privacy loss than a dataset's budget), the composition enforces the manifest and records the
//! place as [`Looser`]. A submission refuses any such place ([`ApprovedScenario::refuse_looser`]),
//! so people approve exactly what the guard enforces; a job still composes, because a manifest
//! may have been tightened after approval, and the effective contract shown for the application
//! (`super::effective`) marks the places.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shuyu_datasets::manifest::{ColumnSpec, ColumnUse, PrivacyBudget};

use shuyu_catalog::{Catalog, Dataset};
use shuyu_guard::service::ServiceContract;
use shuyu_guard::vector::entity_column_missing;
use shuyu_guard::vector::VectorContract;
use shuyu_guard::{PrivacySpec, ReleaseContract};
use shuyu_sandbox::Limits;

/// Why a scenario cannot be used. Messages name the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The scenario file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a scenario (the message has line and column).
    #[error("scenario file: {0}")]
    Parse(String),
    /// The scenario is well-formed but not valid against the catalog or its own rules.
    #[error("scenario '{scenario}': {message}")]
    Invalid {
        /// The scenario id.
        scenario: String,
        /// What is wrong.
        message: String,
    },
    /// The scenario asks for less protection than its providers' manifests give (refused at
    /// submission).
    #[error(
        "scenario '{scenario}' is looser than its providers' manifests; ask for at most what \
         they allow: {}",
        describe_looser(.looser)
    )]
    Looser {
        /// The scenario id.
        scenario: String,
        /// Every place where it is looser.
        looser: Vec<Looser>,
    },
}

/// One place where a scenario asks for something looser than a provider's manifest allows; the
/// guard enforces the manifest there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Looser {
    /// Where in the scenario: `release 'r' measure 'm'`, `vector 'v'`, `privacy_budget`.
    pub place: String,
    /// The manifest's column (`dataset.column`) or dataset whose rule it is.
    pub source: String,
    /// The manifest's rule: `clamp`, `min_k`, `privacy_budget.epsilon`, `privacy_budget.delta`.
    pub rule: String,
    /// What the scenario asks for.
    pub asked: String,
    /// What the manifest allows.
    pub allowed: String,
}

impl std::fmt::Display for Looser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: rule {} of {}: asks {}, the manifest allows {}",
            self.place, self.rule, self.source, self.asked, self.allowed
        )
    }
}

/// The privacy loss of one release, as an amount comparable to a budget.
fn loss(privacy: PrivacySpec) -> PrivacyBudget {
    PrivacyBudget {
        epsilon: privacy.epsilon,
        delta: privacy.delta.unwrap_or(0.0),
    }
}

/// Where `asked` (a release's, a vector's or the scenario's privacy loss) exceeds the
/// budget a granted dataset's manifest declares for all scenarios together. The ledger
/// enforces the dataset's budget whatever the scenario asks.
fn looser_budget(place: &str, asked: Option<PrivacyBudget>, datasets: &[Dataset]) -> Vec<Looser> {
    let Some(asked) = asked else {
        return Vec::new();
    };
    let mut looser = Vec::new();
    for dataset in datasets {
        let Some(budget) = dataset.manifest.dataset.privacy_budget else {
            continue;
        };
        let checks = [
            (
                "privacy_budget.epsilon",
                "epsilon",
                asked.epsilon,
                budget.epsilon,
            ),
            ("privacy_budget.delta", "delta", asked.delta, budget.delta),
        ];
        for (rule, name, asked, allowed) in checks {
            if asked > allowed {
                looser.push(Looser {
                    place: place.to_string(),
                    source: dataset.name().to_string(),
                    rule: rule.into(),
                    asked: format!("{name} = {asked}"),
                    allowed: format!("{name} <= {allowed}"),
                });
            }
        }
    }
    looser
}

fn describe_looser(looser: &[Looser]) -> String {
    looser
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `[scenario]`: who, what for, and which module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// Stable id: `[a-z0-9_-]+`. Pseudonym keys derive from it.
    pub id: String,
    /// Human title.
    pub title: String,
    /// The operating company.
    pub operator: String,
    /// Why the data is used.
    #[serde(default)]
    pub purpose: String,
    /// SHA-256 (lowercase hex) of the only module this scenario lets run.
    pub module_sha256: String,
}

/// `[[grant]]`: one dataset and the columns of it the module may read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Dataset name in the catalog.
    pub dataset: String,
    /// Granted columns. Identifier columns are pseudonymized.
    pub columns: Vec<String>,
}

impl shuyu_engine::GrantedColumns for Grant {
    fn granted_columns(&self) -> &[String] {
        &self.columns
    }
}

/// A parsed `scenario.toml`, not yet checked against the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Who, what for, which module.
    pub scenario: ScenarioInfo,
    /// Datasets and columns granted.
    #[serde(rename = "grant")]
    pub grants: Vec<Grant>,
    /// Resource limits (every field defaults).
    #[serde(default)]
    pub limits: Limits,
    /// The release contract: one entry per release the module may make.
    #[serde(rename = "release", default)]
    pub releases: Vec<ReleaseContract>,
    /// Sample-and-aggregate releases (`[[vector]]`, `release_vector`); their names share one
    /// namespace with `[[release]]`.
    #[serde(rename = "vector", default, skip_serializing_if = "Vec::is_empty")]
    pub vectors: Vec<VectorContract>,
    /// `[privacy_budget]`: the scenario's total (ε, δ) under basic composition, created in the
    /// budget ledger on the first charge. Without it, releases with privacy are blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_budget: Option<PrivacyBudget>,
    /// Verification and data services (`[[service]]`): answers about one consenting subject.
    /// Their names are a namespace of their own.
    #[serde(rename = "service", default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceContract>,
}

/// A release contract composed with the providers' policies.
#[derive(Debug, Clone)]
pub struct ResolvedRelease {
    /// The contract, with clamps narrowed to the providers' bounds.
    pub contract: Arc<ReleaseContract>,
    /// The k the guard applies: the largest of the contract's and every granted dataset's.
    pub effective_k: u32,
}

/// A scenario checked against the catalog: everything a job needs to start.
#[derive(Debug, Clone)]
pub struct ApprovedScenario {
    /// The scenario as written.
    pub file: ScenarioFile,
    /// The granted datasets, in grant order.
    pub datasets: Vec<Dataset>,
    /// The release contracts, composed with the providers' policies.
    pub releases: Vec<ResolvedRelease>,
    /// The vector contracts, validated.
    pub vectors: Vec<Arc<VectorContract>>,
    /// The service contracts, validated against the granted datasets.
    pub services: Vec<Arc<ServiceContract>>,
    /// Where the scenario is looser than a manifest (the manifest is what applies there).
    pub looser: Vec<Looser>,
}

impl ApprovedScenario {
    /// The scenario id.
    pub fn id(&self) -> &str {
        &self.file.scenario.id
    }

    /// The release contract of that name.
    pub fn release(&self, name: &str) -> Option<&ResolvedRelease> {
        self.releases.iter().find(|r| r.contract.name == name)
    }

    /// The vector contract of that name.
    pub fn vector(&self, name: &str) -> Option<&Arc<VectorContract>> {
        self.vectors.iter().find(|v| v.name == name)
    }

    /// The service contract of that name.
    pub fn service(&self, name: &str) -> Option<&Arc<ServiceContract>> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Refuses a scenario that asks for less than a manifest allows anywhere, naming every
    /// place, column and rule: what is submitted for approval must be what the guard enforces.
    pub fn refuse_looser(self) -> Result<Self, ScenarioError> {
        if self.looser.is_empty() {
            return Ok(self);
        }
        Err(ScenarioError::Looser {
            scenario: self.file.scenario.id.clone(),
            looser: self.looser,
        })
    }
}

impl ScenarioFile {
    /// Parses scenario TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            ScenarioError::Parse(msg) => ScenarioError::Parse(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Validates the scenario against the catalog and composes policies.
    pub fn check(self, catalog: &Catalog) -> Result<ApprovedScenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            scenario: self.scenario.id.clone(),
            message,
        };
        let info = &self.scenario;
        if info.id.is_empty()
            || !info
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "scenario.id must be non-empty and use only a-z, 0-9, '-' and '_'".into(),
            ));
        }
        if info.module_sha256.len() != 64
            || !info
                .module_sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(
                "scenario.module_sha256 must be the module's SHA-256 as 64 lowercase hex characters"
                    .into(),
            ));
        }
        self.limits.validate().map_err(invalid)?;
        if let Some(budget) = &self.privacy_budget {
            budget.validate().map_err(|(field, message)| {
                invalid(format!("privacy_budget.{field}: {message}"))
            })?;
        }
        if self.grants.is_empty() {
            return Err(invalid(
                "the scenario grants no dataset ([[grant]] is missing)".into(),
            ));
        }

        let mut datasets: Vec<Dataset> = Vec::new();
        for grant in &self.grants {
            let Some(dataset) = catalog.get(&grant.dataset) else {
                return Err(invalid(format!(
                    "grant: dataset '{}' is not in the catalog",
                    grant.dataset
                )));
            };
            if datasets.iter().any(|d| d.name() == grant.dataset) {
                return Err(invalid(format!(
                    "grant: dataset '{}' is granted twice",
                    grant.dataset
                )));
            }
            if grant.columns.is_empty() {
                return Err(invalid(format!("grant '{}': no columns", grant.dataset)));
            }
            let mut seen = BTreeSet::new();
            for column in &grant.columns {
                if !seen.insert(column) {
                    return Err(invalid(format!(
                        "grant '{}': column '{column}' is listed twice",
                        grant.dataset
                    )));
                }
                let Some(spec) = dataset.manifest.column(column) else {
                    return Err(invalid(format!(
                        "grant '{}': the dataset has no column '{column}'",
                        grant.dataset
                    )));
                };
                if spec.uses.is_empty() {
                    return Err(invalid(format!(
                        "grant '{}': column '{column}' allows no use in its manifest, so it cannot be granted",
                        grant.dataset
                    )));
                }
            }
            datasets.push(dataset.clone());
        }

        // The first dataset (in grant order) whose min_k is the largest: its rule is the one a
        // smaller k is looser than.
        let strictest = datasets
            .iter()
            .min_by_key(|d| std::cmp::Reverse(d.manifest.dataset.min_k));
        let datasets_k = strictest.map_or(0, |d| d.manifest.dataset.min_k);
        let mut looser = looser_budget("privacy_budget", self.privacy_budget, &datasets);
        let mut names = BTreeSet::new();
        let mut releases = Vec::new();
        for contract in &self.releases {
            contract
                .validate()
                .map_err(|e| invalid(format!("release '{}': {e}", contract.name)))?;
            if !names.insert(contract.name.clone()) {
                return Err(invalid(format!(
                    "release '{}' is declared twice",
                    contract.name
                )));
            }
            let mut contract = contract.clone();
            // A column with no named source would escape every provider policy (use, clamp,
            // aggregations): the composition below only sees what `from` lists.
            let unsourced = contract
                .dimensions
                .iter()
                .filter(|d| d.from.is_empty())
                .map(|d| ("dimension", &d.name))
                .chain(
                    contract
                        .measures
                        .iter()
                        .filter(|m| m.from.is_empty())
                        .map(|m| ("measure", &m.name)),
                )
                .next();
            if let Some((kind, name)) = unsourced {
                return Err(invalid(format!(
                    "release '{}': {kind} '{name}': `from` is empty; every {kind} must name its \
                     source columns (from = [\"dataset.column\", ..]) among the granted columns, \
                     so that their providers' policies apply",
                    contract.name
                )));
            }
            for dim in &contract.dimensions {
                for source in &dim.from {
                    let spec = self.granted_column(source, &datasets).map_err(&invalid)?;
                    if !spec.uses.contains(&ColumnUse::Dimension) {
                        return Err(invalid(format!(
                            "release '{}': dimension '{}' comes from {source}, which its provider does not allow as a dimension",
                            contract.name, dim.name
                        )));
                    }
                }
            }
            for measure in &mut contract.measures {
                let place = format!("release '{}' measure '{}'", contract.name, measure.name);
                for source in &measure.from {
                    let spec = self.granted_column(source, &datasets).map_err(&invalid)?;
                    if !spec.uses.contains(&ColumnUse::Measure) {
                        return Err(invalid(format!(
                            "release '{}': measure '{}' comes from {source}, which its provider does not allow as a measure",
                            contract.name, measure.name
                        )));
                    }
                    if let Some(agg) = measure
                        .aggregations
                        .iter()
                        .find(|a| !spec.aggregations.is_empty() && !spec.aggregations.contains(a))
                    {
                        return Err(invalid(format!(
                            "release '{}': measure '{}' asks for {} but {source} allows only {}",
                            contract.name,
                            measure.name,
                            agg.as_str(),
                            spec.aggregations
                                .iter()
                                .map(|a| a.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    if let Some([lo, hi]) = spec.clamp {
                        let [asked_lo, asked_hi] = measure.clamp;
                        if asked_lo < lo || asked_hi > hi {
                            looser.push(Looser {
                                place: place.clone(),
                                source: source.clone(),
                                rule: "clamp".into(),
                                asked: format!("[{asked_lo}, {asked_hi}]"),
                                allowed: format!("within [{lo}, {hi}]"),
                            });
                        }
                        measure.clamp = [measure.clamp[0].max(lo), measure.clamp[1].min(hi)];
                        if measure.clamp[0] > measure.clamp[1] {
                            return Err(invalid(format!(
                                "release '{}': measure '{}' clamp does not overlap the provider's bound [{lo}, {hi}] for {source}",
                                contract.name, measure.name
                            )));
                        }
                    }
                }
            }
            if let Some(privacy) = contract.privacy {
                let Some(budget) = self.privacy_budget else {
                    return Err(invalid(format!(
                        "release '{}' asks for privacy, but the scenario has no [privacy_budget] \
                         section (epsilon = .., delta = ..) to charge it to",
                        contract.name
                    )));
                };
                let delta = privacy.delta.unwrap_or(0.0);
                if privacy.epsilon > budget.epsilon || delta > budget.delta {
                    return Err(invalid(format!(
                        "release '{}': privacy asks epsilon={} delta={delta}, more than the whole \
                         [privacy_budget] (epsilon={} delta={})",
                        contract.name, privacy.epsilon, budget.epsilon, budget.delta
                    )));
                }
                // The noise is calibrated to the narrowed clamps: check they still calibrate.
                contract
                    .validate()
                    .map_err(|e| invalid(format!("release '{}': {e}", contract.name)))?;
            }
            // A release with privacy is made per entity: every view is split by its entity
            // column, so a table without it could not be handed to any entity's run.
            if contract.privacy.is_some() {
                if let Some((dataset, entity)) = self.ungranted_entity_column(&datasets) {
                    return Err(invalid(format!(
                        "release '{}' has privacy, so it is made per entity and needs every granted table to carry its entity column; {dataset} does not grant {entity}",
                        contract.name
                    )));
                }
            }
            // Under privacy no k threshold applies, so a small k asks for nothing looser.
            if let (None, Some(dataset)) = (contract.privacy, strictest) {
                if contract.k < datasets_k {
                    looser.push(Looser {
                        place: format!("release '{}'", contract.name),
                        source: dataset.name().to_string(),
                        rule: "min_k".into(),
                        asked: format!("k = {}", contract.k),
                        allowed: format!("k >= {datasets_k}"),
                    });
                }
            }
            if let Some(privacy) = contract.privacy {
                let place = format!("release '{}'", contract.name);
                looser.extend(looser_budget(&place, Some(loss(privacy)), &datasets));
            }
            let effective_k = contract.k.max(datasets_k);
            releases.push(ResolvedRelease {
                contract: Arc::new(contract),
                effective_k,
            });
        }
        let mut vectors = Vec::new();
        for vector in &self.vectors {
            vector.validate().map_err(|e| {
                invalid(format!(
                    "vector '{}': {}: {}",
                    vector.name, e.field, e.problem
                ))
            })?;
            if !names.insert(vector.name.clone()) {
                return Err(invalid(format!(
                    "vector '{}': the name is already used by another [[release]] or [[vector]]",
                    vector.name
                )));
            }
            // Partition runs filter every view by entity: a table without its entity column
            // could not be split, and serving it whole would put every entity in every partition.
            if let Some((dataset, entity)) = self.ungranted_entity_column(&datasets) {
                return Err(invalid(format!(
                    "vector '{}': {}",
                    vector.name,
                    entity_column_missing(dataset, entity)
                )));
            }
            let place = format!("vector '{}'", vector.name);
            looser.extend(looser_budget(&place, Some(loss(vector.privacy)), &datasets));
            vectors.push(Arc::new(vector.clone()));
        }
        let services = self.check_services(&datasets).map_err(invalid)?;
        Ok(ApprovedScenario {
            file: self,
            datasets,
            releases,
            vectors,
            services,
            looser,
        })
    }

    /// The first granted dataset (of `datasets`, in grant order) whose grant leaves out its
    /// entity column, with that column: such a table cannot be split by entity (per-entity
    /// releases, partition runs).
    pub fn ungranted_entity_column<'a>(
        &self,
        datasets: &'a [Dataset],
    ) -> Option<(&'a str, &'a str)> {
        self.grants
            .iter()
            .zip(datasets)
            .find_map(|(grant, dataset)| {
                let entity = dataset.manifest.dataset.entity_column.as_str();
                (!grant.columns.iter().any(|c| c == entity)).then(|| (dataset.name(), entity))
            })
    }

    /// Validates the `[[service]]` entries: each contract on its own, unique names, and every
    /// granted table servable per subject (its entity column granted and of the service's
    /// identifier kind), since an answer run reads the subject's rows of every granted table.
    fn check_services(&self, datasets: &[Dataset]) -> Result<Vec<Arc<ServiceContract>>, String> {
        let mut names = BTreeSet::new();
        let mut services = Vec::with_capacity(self.services.len());
        for service in &self.services {
            service.validate().map_err(|e| e.to_string())?;
            if !names.insert(service.name.as_str()) {
                return Err(format!("service '{}' is declared twice", service.name));
            }
            if let Some((dataset, entity)) = self.ungranted_entity_column(datasets) {
                return Err(format!(
                    "service '{}': an answer run reads the subject's rows of every granted table, \
                     so each must grant its entity column; {dataset} does not grant {entity}",
                    service.name
                ));
            }
            for dataset in datasets {
                if dataset.name() == shuyu_guard::service::REQUEST_TABLE {
                    return Err(format!(
                        "service '{}': a granted dataset is named '{}', the name answer runs \
                         read their request parameters under",
                        service.name,
                        dataset.name()
                    ));
                }
                let entity = dataset.manifest.dataset.entity_column.as_str();
                let kind = dataset
                    .manifest
                    .column(entity)
                    .and_then(|c| c.identifier_kind);
                if kind != Some(service.subject.identifier_kind()) {
                    return Err(format!(
                        "service '{}' is about one {} but {}'s entity column {entity} holds {}; \
                         grant only datasets whose entities are the service's subjects",
                        service.name,
                        service.subject.as_str(),
                        dataset.name(),
                        kind.map_or("no identifier", |k| k.as_str())
                    ));
                }
            }
            services.push(Arc::new(service.clone()));
        }
        Ok(services)
    }

    /// Resolves `dataset.column` to a granted column's manifest entry.
    fn granted_column<'a>(
        &self,
        source: &str,
        datasets: &'a [Dataset],
    ) -> Result<&'a ColumnSpec, String> {
        let Some((dataset, column)) = source.split_once('.') else {
            return Err(format!("'{source}' must be written dataset.column"));
        };
        let granted = self
            .grants
            .iter()
            .any(|g| g.dataset == dataset && g.columns.iter().any(|c| c == column));
        let spec = datasets
            .iter()
            .find(|d| d.name() == dataset)
            .and_then(|d| d.manifest.column(column));
        match (granted, spec) {
            (true, Some(spec)) => Ok(spec),
            _ => Err(format!("'{source}' is not a granted column")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn catalog() -> Catalog {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("datasets");
        Catalog::load(&root).expect("bundled catalog")
    }

    /// The district-stats example's scenario with `release` as its contract.
    fn scenario(release: &str) -> ScenarioFile {
        let text = format!(
            r#"
[scenario]
id = "from-test"
title = "t"
operator = "o"
module_sha256 = "{}"

[[grant]]
dataset = "enterprise_registry"
columns = ["usci", "district", "industry", "registered_capital"]
[[grant]]
dataset = "tax_payments"
columns = ["usci", "amount"]

{release}
"#,
            "0".repeat(64)
        );
        ScenarioFile::from_toml_str(&text).expect("valid TOML")
    }

    fn refusal(release: &str) -> String {
        match scenario(release).check(&catalog()) {
            Ok(_) => panic!("accepted:\n{release}"),
            Err(e) => e.to_string(),
        }
    }

    const SOURCED: &str = r#"
[[release]]
name = "stats"
k = 5
max_rows_per_entity = 1
  [[release.dimension]]
  name = "district"
  from = ["enterprise_registry.district"]
  [[release.measure]]
  name = "capital"
  from = ["enterprise_registry.registered_capital"]
  clamp = [0.0, 1e12]
  aggregations = ["count", "mean"]
"#;

    #[test]
    fn sourced_columns_compose_with_the_providers_policies() {
        let approved = scenario(SOURCED).check(&catalog()).expect("valid scenario");
        let release = approved.release("stats").expect("release");
        let provider = catalog()
            .get("enterprise_registry")
            .and_then(|d| d.manifest.column("registered_capital").cloned())
            .and_then(|c| c.clamp)
            .expect("the provider bounds registered_capital");
        // The contract's [0, 1e12] is narrowed to the provider's bound, and the place is marked.
        assert_eq!(release.contract.measures[0].clamp[1], provider[1]);
        assert!(release.effective_k >= 5);
        assert_eq!(approved.looser.len(), 1, "{:?}", approved.looser);
        let looser = &approved.looser[0];
        assert_eq!(looser.place, "release 'stats' measure 'capital'");
        assert_eq!(looser.source, "enterprise_registry.registered_capital");
        assert_eq!(looser.rule, "clamp");
    }

    /// What is submitted must be what the guard enforces: a looser clamp or k is refused with the
    /// place, the column and the rule, every one of them in one message.
    #[test]
    fn a_looser_scenario_is_refused_naming_column_and_rule() {
        let release = SOURCED.replace("k = 5", "k = 3");
        let approved = scenario(&release).check(&catalog()).expect("composes");
        let rules: Vec<(&str, &str)> = approved
            .looser
            .iter()
            .map(|l| (l.source.as_str(), l.rule.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("enterprise_registry.registered_capital", "clamp"),
                ("enterprise_registry", "min_k"),
            ]
        );
        // The guard still gets the manifests' rules.
        assert_eq!(approved.release("stats").map(|r| r.effective_k), Some(5));
        let message = approved.refuse_looser().unwrap_err().to_string();
        for part in [
            "scenario 'from-test' is looser than its providers' manifests",
            "release 'stats' measure 'capital': rule clamp of enterprise_registry.registered_capital: asks [0, 1000000000000], the manifest allows within [0, 1000000]",
            "release 'stats': rule min_k of enterprise_registry: asks k = 3, the manifest allows k >= 5",
        ] {
            assert!(message.contains(part), "{part}\n{message}");
        }
        // Within the manifests, nothing is marked and nothing refused.
        let within = SOURCED.replace("1e12", "1e5");
        let approved = scenario(&within).check(&catalog()).expect("composes");
        assert!(approved.looser.is_empty(), "{:?}", approved.looser);
        approved.refuse_looser().expect("accepted");
    }

    /// Under privacy no k threshold applies, so a small k is not looser; more privacy loss than a
    /// dataset's declared budget is.
    #[test]
    fn privacy_is_compared_with_the_datasets_declared_budgets() {
        let private = SOURCED
            .replace("1e12", "1e5")
            .replace("k = 5", "k = 2")
            .replace(
                "max_rows_per_entity = 1\n",
                "max_rows_per_entity = 1\nprivacy = { epsilon = 1.0, delta = 1e-6 }\n",
            );
        let text = format!("[privacy_budget]\nepsilon = 10.0\ndelta = 1e-5\n{private}");
        let approved = scenario(&text).check(&catalog()).expect("composes");
        assert!(approved.looser.is_empty(), "{:?}", approved.looser);

        let mut datasets: Vec<Dataset> = catalog().datasets().cloned().collect();
        for dataset in &mut datasets {
            if dataset.name() == "tax_payments" {
                dataset.manifest.dataset.privacy_budget = Some(PrivacyBudget {
                    epsilon: 0.5,
                    delta: 0.0,
                });
            }
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let strict = Catalog::from_datasets(&root, datasets).expect("catalog");
        let approved = scenario(&text).check(&strict).expect("composes");
        let found: Vec<String> = approved.looser.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "privacy_budget: rule privacy_budget.epsilon of tax_payments: asks epsilon = 10, the manifest allows epsilon <= 0.5",
                "privacy_budget: rule privacy_budget.delta of tax_payments: asks delta = 0.00001, the manifest allows delta <= 0",
                "release 'stats': rule privacy_budget.epsilon of tax_payments: asks epsilon = 1, the manifest allows epsilon <= 0.5",
                "release 'stats': rule privacy_budget.delta of tax_payments: asks delta = 0.000001, the manifest allows delta <= 0",
            ]
        );
    }

    /// A release with privacy is made per entity: a grant without its entity column could be
    /// given to no entity's run, so the scenario is refused at check, not at the release.
    #[test]
    fn a_release_with_privacy_needs_every_entity_column() {
        let private = SOURCED.replace(
            "max_rows_per_entity = 1\n",
            "max_rows_per_entity = 1\nprivacy = { epsilon = 1.0, delta = 1e-6 }\n",
        );
        let with_budget = format!("[privacy_budget]\nepsilon = 10.0\ndelta = 1e-5\n{private}");
        scenario(&with_budget)
            .check(&catalog())
            .expect("every grant carries its entity column");
        let text = toml::to_string(&scenario(&with_budget)).expect("serializable");
        let without = text.replace("\"usci\",\n    \"amount\"", "\"amount\"");
        let without = without.replace("[\"usci\", \"amount\"]", "[\"amount\"]");
        assert_ne!(text, without, "the tax grant lost usci");
        let file = ScenarioFile::from_toml_str(&without).expect("valid TOML");
        let message = file.check(&catalog()).unwrap_err().to_string();
        assert!(message.contains("release 'stats' has privacy"), "{message}");
        assert!(
            message.contains("tax_payments does not grant usci"),
            "{message}"
        );
    }

    /// Hostile: a measure without `from` used to get no provider clamp, aggregation limit or
    /// use check at all.
    #[test]
    fn a_measure_without_sources_is_refused() {
        let release = SOURCED.replace(
            "  from = [\"enterprise_registry.registered_capital\"]\n",
            "",
        );
        let message = refusal(&release);
        assert!(message.contains("release 'stats'"), "{message}");
        assert!(message.contains("measure 'capital'"), "{message}");
        assert!(message.contains("`from` is empty"), "{message}");
        let explicit = SOURCED.replace("[\"enterprise_registry.registered_capital\"]", "[]");
        assert!(refusal(&explicit).contains("measure 'capital'"));
    }

    /// Hostile: a dimension without `from` escaped the provider's "dimension" use check, so any
    /// column (even one whose provider forbids grouping by it) could be used as a group key.
    #[test]
    fn a_dimension_without_sources_is_refused() {
        let release = SOURCED.replace("  from = [\"enterprise_registry.district\"]\n", "");
        let message = refusal(&release);
        assert!(message.contains("release 'stats'"), "{message}");
        assert!(message.contains("dimension 'district'"), "{message}");
        assert!(message.contains("`from` is empty"), "{message}");
    }

    #[test]
    fn sources_must_be_granted_and_allowed() {
        let ungranted = SOURCED.replace(
            "enterprise_registry.registered_capital",
            "enterprise_registry.founded",
        );
        assert!(refusal(&ungranted).contains("is not a granted column"));
        let not_a_measure = SOURCED.replace(
            "enterprise_registry.registered_capital",
            "enterprise_registry.district",
        );
        assert!(refusal(&not_a_measure).contains("does not allow as a measure"));
    }

    #[test]
    fn the_bundled_scenarios_name_their_sources() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("guest-examples");
        for file in [
            "district-stats/scenario.toml",
            "district-stats/scenario-dp.toml",
            "income-by-age/scenario.toml",
            "health-by-age/scenario.toml",
            "credit-model/scenario.toml",
        ] {
            let mut scenario = ScenarioFile::load(&root.join(file)).expect("bundled scenario");
            scenario.scenario.module_sha256 = "0".repeat(64);
            // Within the bundled manifests everywhere: a server accepts them as they are.
            if let Err(e) = scenario
                .check(&catalog())
                .and_then(ApprovedScenario::refuse_looser)
            {
                panic!("{file}: {e}");
            }
        }
    }
}
