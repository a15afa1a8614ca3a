//! Releases with privacy through the release builder: the budget is charged before noise, the
//! noise has its calibrated scale, public keys are all released, partition selection drops lone
//! entities, and means come from the noisy parts.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::contract::tests::sample;
use super::noise::{NoiseError, RandomSource};
use super::Charge;
use super::*;

/// SplitMix64, seeded: reproducible draws for statistical checks (never for production).
struct TestRng(u64);

impl TestRng {
    fn seeded(seed: u64) -> Self {
        Self(seed)
    }
}

impl RandomSource for TestRng {
    fn next_u64(&mut self) -> Result<u64, NoiseError> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
}

/// A source that always fails, like a broken system generator.
struct Broken;

impl RandomSource for Broken {
    fn next_u64(&mut self) -> Result<u64, NoiseError> {
        Err(NoiseError::RandomSource)
    }
}

fn e(n: u32) -> String {
    format!("{n:032x}")
}

fn oracle() -> Arc<dyn IdentifierOracle> {
    let entities: Vec<String> = (1..=400).map(e).collect();
    Arc::new(
        SetOracle::from_parts(entities, Vec::<String>::new(), Vec::<String>::new())
            .expect("valid oracle"),
    )
}

/// `(entity number, district, capital, staff)` rows with the sample contract's schema.
fn rows(rows: &[(u32, &str, f64, i64)]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("entity", DataType::Utf8, true),
        Field::new("district", DataType::Utf8, true),
        Field::new("capital", DataType::Float64, true),
        Field::new("staff", DataType::Int64, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| Some(e(r.0))).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| Some(r.1)).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| Some(r.2)).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.3)).collect::<Int64Array>()),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("valid batch")
}

/// A budget gate that records what happened and refuses once `left` is spent.
#[derive(Default)]
struct Gate {
    charges: Vec<Charge>,
    refunds: Vec<String>,
    left: Option<f64>,
}

impl BudgetGate for Gate {
    fn charge(&mut self, _release: &str, cost: Charge) -> Result<(), String> {
        if let Some(left) = &mut self.left {
            if *left < cost.epsilon {
                return Err(format!("spent 1, left {left}, this release asks {cost}"));
            }
            *left -= cost.epsilon;
        }
        self.charges.push(cost);
        Ok(())
    }

    fn refund(&mut self, reason: &str) {
        self.refunds.push(reason.to_owned());
    }
}

fn private(contract: &mut ReleaseContract, epsilon: f64, delta: Option<f64>) {
    contract.privacy = Some(PrivacySpec { epsilon, delta });
}

/// Public domain {a, b, c}; capital clamp [0, 100] at resolution 1.
fn public_contract() -> ReleaseContract {
    let mut c = sample();
    c.dimensions[0].values = Some(vec!["a".into(), "b".into(), "c".into()]);
    c.measures[0].resolution = Some(1.0);
    private(&mut c, 1.0, None);
    c
}

fn finish(
    contract: &ReleaseContract,
    chunk: &RecordBatch,
    gate: &mut Gate,
    rng: &mut dyn RandomSource,
) -> Decision {
    let mut b = ReleaseBuilder::new(Arc::new(contract.clone()), 2, oracle());
    b.append_batch(chunk).expect("append");
    assert!(b.is_private());
    b.finish_private(gate, rng)
}

fn released(d: Decision) -> ReleasedTable {
    match d {
        Decision::Released(r) => r,
        Decision::Blocked(b) => panic!("blocked: {} {}", b.rule, b.message),
    }
}

fn floats(t: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = t.column_by_name(name).expect(name);
    let f = c.as_any().downcast_ref::<Float64Array>().expect("f64");
    (0..f.len())
        .map(|i| f.is_valid(i).then(|| f.value(i)))
        .collect()
}

fn ints(t: &RecordBatch, name: &str) -> Vec<i64> {
    let c = t.column_by_name(name).expect(name);
    let a = c.as_any().downcast_ref::<Int64Array>().expect("i64");
    a.values().to_vec()
}

fn strings(t: &RecordBatch, name: &str) -> Vec<String> {
    let c = t.column_by_name(name).expect(name);
    let a = c.as_any().downcast_ref::<StringArray>().expect("utf8");
    (0..a.len()).map(|i| a.value(i).to_owned()).collect()
}

fn std_dev(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

#[test]
fn noise_has_the_calibrated_scale_and_is_charged_once_per_release() {
    let contract = public_contract();
    let plan = PrivacyPlan::new(&contract).expect("plan");
    let info = plan.describe(&contract);
    let expected = |column: &str| {
        info.columns
            .iter()
            .find(|c| c.column == column)
            .map(|c| c.std_dev)
            .expect(column)
    };
    // One entity in "a" with capital 40: the true sum is 40 and the true count 1.
    let chunk = rows(&[(1, "a", 40.0, 3)]);
    let mut gate = Gate::default();
    let mut rng = TestRng::seeded(7);
    let runs = 2000;
    let (mut sums, mut entities) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = released(finish(&contract, &chunk, &mut gate, &mut rng));
        sums.push(floats(&out.table, "capital_sum")[0].expect("sum") - 40.0);
        entities.push(ints(&out.table, "entities")[0] as f64);
    }
    assert_eq!(gate.charges.len(), runs);
    assert!(gate.charges.iter().all(|c| *c == Charge::new(1.0, 0.0)));
    assert!(gate.refunds.is_empty());
    // Sample standard deviation within 10% of the mechanism's (2000 Laplace draws: the
    // standard error of the ratio is about 3.5%).
    let ratio = std_dev(&sums) / expected("capital_sum");
    assert!((0.9..1.1).contains(&ratio), "capital_sum ratio {ratio}");
    assert!(
        expected("capital_sum") > 100.0,
        "resolution 1, Δ = 100, ε = 1/4"
    );
    let mean_error = sums.iter().sum::<f64>() / runs as f64;
    assert!(
        mean_error.abs() < 0.15 * expected("capital_sum"),
        "{mean_error}"
    );
    // Entity counts are clamped at 0 (post-processing), so only check they vary around 1.
    assert!(entities.iter().any(|&v| v != 1.0));
}

#[test]
fn every_public_key_is_released_noised_even_when_empty() {
    let contract = public_contract();
    let chunk = rows(&[(1, "a", 40.0, 3), (2, "a", 50.0, 3)]);
    let mut gate = Gate::default();
    let mut rng = TestRng::seeded(11);
    let mut nonzero_empty = 0;
    for _ in 0..50 {
        let out = released(finish(&contract, &chunk, &mut gate, &mut rng));
        assert_eq!(strings(&out.table, "district"), ["a", "b", "c"]);
        let sums = floats(&out.table, "capital_sum");
        nonzero_empty += sums[1..].iter().filter(|s| **s != Some(0.0)).count();
        // Exact counts are withheld from the report.
        assert!(out.report.counts_withheld);
        assert_eq!(out.report.entities, 0);
        assert_eq!(out.report.contribution_rows, 0);
        assert_eq!(out.report.groups_released, 3);
        assert_eq!(out.policy["privacy"]["keys"], "public_domain");
        assert!(out.policy["effective_k"].is_null());
    }
    assert!(
        nonzero_empty > 50,
        "empty keys carry noise: {nonzero_empty}"
    );
}

#[test]
fn partition_selection_drops_a_lone_entity_almost_always() {
    let mut contract = sample();
    private(&mut contract, 1.0, Some(1e-5));
    let plan = PrivacyPlan::new(&contract).expect("plan");
    let info = plan.describe(&contract);
    let threshold = info.selection.as_ref().expect("selection").threshold;
    assert!(threshold > 1);
    // "big" has 300 entities, well above the threshold; "lone" has one.
    let mut data: Vec<(u32, &str, f64, i64)> = (1..=300).map(|n| (n, "big", 10.0, 1)).collect();
    data.push((301, "lone", 99.0, 9));
    let chunk = rows(&data);
    let mut gate = Gate::default();
    let mut rng = TestRng::seeded(3);
    let (mut lone, mut big) = (0, 0);
    for _ in 0..300 {
        let out = released(finish(&contract, &chunk, &mut gate, &mut rng));
        let keys = strings(&out.table, "district");
        lone += keys.iter().filter(|k| *k == "lone").count();
        big += keys.iter().filter(|k| *k == "big").count();
    }
    assert_eq!(lone, 0, "a one-entity group passed selection");
    assert!(big >= 299, "the big group was dropped {} times", 300 - big);
}

#[test]
fn means_are_derived_from_the_noisy_parts() {
    let contract = public_contract();
    let chunk = rows(&[(1, "a", 40.0, 3), (2, "a", 60.0, 3), (3, "b", 10.0, 1)]);
    let mut gate = Gate::default();
    let mut rng = TestRng::seeded(5);
    for _ in 0..100 {
        let out = released(finish(&contract, &chunk, &mut gate, &mut rng));
        let sums = floats(&out.table, "capital_sum");
        let counts = ints(&out.table, "capital_count");
        let means = floats(&out.table, "capital_mean");
        for i in 0..3 {
            let expected = (counts[i] > 0)
                .then(|| (sums[i].expect("sum") / counts[i] as f64).clamp(0.0, 100.0));
            assert_eq!(means[i], expected, "row {i}");
            assert!(counts[i] >= 0);
        }
    }
}

#[test]
fn refused_budget_blocks_before_noise_and_a_failed_draw_is_refunded() {
    let contract = public_contract();
    let chunk = rows(&[(1, "a", 40.0, 3)]);

    // The budget refuses: blocked with privacy.budget, the message passed on, no refund; the
    // scripted source has no words, so any draw would have failed with privacy.noise instead.
    let mut gate = Gate {
        left: Some(0.5),
        ..Gate::default()
    };
    let out = finish(&contract, &chunk, &mut gate, &mut Broken);
    let Decision::Blocked(block) = out else {
        panic!("released without budget")
    };
    assert_eq!(block.rule, Rule::PrivacyBudget);
    assert!(block.message.contains("spent") && block.message.contains("left"));
    assert!(block.report.counts_withheld);
    assert!(gate.charges.is_empty() && gate.refunds.is_empty());

    // The random source fails after the charge: blocked with privacy.noise and refunded.
    let mut gate = Gate::default();
    let out = finish(&contract, &chunk, &mut gate, &mut Broken);
    let Decision::Blocked(block) = out else {
        panic!("released without noise")
    };
    assert_eq!(block.rule, Rule::PrivacyNoise);
    assert_eq!((gate.charges.len(), gate.refunds.len()), (1, 1));

    // Without a gate a release with privacy cannot be made at all.
    let mut b = ReleaseBuilder::new(Arc::new(contract), 2, oracle());
    b.append_batch(&chunk).expect("append");
    let Decision::Blocked(block) = b.finish() else {
        panic!("released without a budget gate")
    };
    assert_eq!(block.rule, Rule::PrivacyBudget);
}

#[test]
fn a_block_before_the_charge_costs_nothing_and_shows_no_count() {
    let contract = public_contract();
    // "z" is outside the declared domain.
    let chunk = rows(&[(1, "z", 40.0, 3), (2, "z", 41.0, 3)]);
    let mut gate = Gate::default();
    let out = finish(&contract, &chunk, &mut gate, &mut TestRng::seeded(1));
    let Decision::Blocked(block) = out else {
        panic!("released outside the domain")
    };
    assert_eq!(block.rule, Rule::DimensionDomain);
    assert!(!block.message.contains('2'), "{}", block.message);
    assert!(block.report.counts_withheld);
    assert!(gate.charges.is_empty());
}
