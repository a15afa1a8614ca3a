//! `credit-model`: a logistic-regression risk model for small enterprises, released by
//! sample-and-aggregate (`release_vector`).
//!
//! Label: the enterprise is no longer active (registry `status` is 注销 deregistered or 吊销
//! revoked rather than 存续). Features, each scaled to about [0, 1]:
//!
//! | coordinate | feature |
//! | --- | --- |
//! | `intercept` | 1 |
//! | `log_tax` | ln(1 + total tax paid in 2025, 元) / 15 |
//! | `months_paid` | months of 2025 with any tax payment / 12 |
//! | `log_headcount` | ln(1 + mean insured head count) / 5 |
//!
//! Population: enterprises with registered capital below [`SMALL_CAPITAL`] 万元.
//!
//! The main run only asks for the release. Each partition run trains the model on its own
//! partition's enterprises with a fixed number of full-batch gradient-descent epochs (so its cost
//! does not depend on the data) and emits the weights; the host clamps them to the contract's
//! bounds, averages the partitions' weights and adds noise.

use shuyu_sdk::{log, query_table, vector, Result};

shuyu_sdk::entry!(main_run);
shuyu_sdk::partition!(partition_run);

/// Registered capital (万元) below which an enterprise counts as small.
pub const SMALL_CAPITAL: f64 = 500.0;
/// Gradient-descent epochs per partition.
pub const EPOCHS: usize = 300;
/// Learning rate.
pub const LEARNING_RATE: f64 = 1.0;
/// L2 penalty: keeps the weights of a partition with separable data finite and small.
pub const L2: f64 = 1e-3;

/// One enterprise's features per enterprise, `[1, log_tax, months_paid, log_headcount]`.
const SQL: &str = "SELECT r.status, \
    COALESCE(t.total, 0.0) AS tax, COALESCE(t.months, 0) AS months, COALESCE(s.heads, 0.0) AS heads \
    FROM enterprise_registry r \
    LEFT JOIN (SELECT usci, SUM(amount) AS total, COUNT(DISTINCT month) AS months \
               FROM tax_payments GROUP BY usci) t ON r.usci = t.usci \
    LEFT JOIN (SELECT usci, AVG(headcount) AS heads FROM social_insurance GROUP BY usci) s \
               ON r.usci = s.usci \
    WHERE r.registered_capital < 500";

fn main_run() -> Result<()> {
    let outcome = vector::release_vector("credit_model")?;
    log!("credit_model: {outcome:?}");
    Ok(())
}

fn partition_run() -> Result<()> {
    let mut xs: Vec<[f64; 4]> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for table in query_table(SQL)? {
        let table = table?;
        let status = table.utf8("status")?;
        let tax = table.f64_lossy("tax")?;
        let months = table.f64_lossy("months")?;
        let heads = table.f64_lossy("heads")?;
        for i in 0..table.num_rows() {
            let Some(status) = status.get(i) else {
                continue;
            };
            // COALESCE makes the three numbers non-null; a null would count as 0.
            let value = |column: &shuyu_sdk::Numbers<'_, f64>| column.get(i).unwrap_or(0.0);
            xs.push(features(value(&tax), value(&months), value(&heads)));
            ys.push(if status == "存续" { 0.0 } else { 1.0 });
        }
    }
    vector::emit(&train(&xs, &ys))
}

/// The scaled feature vector of one enterprise.
pub fn features(tax: f64, months: f64, heads: f64) -> [f64; 4] {
    [
        1.0,
        (1.0 + tax.max(0.0)).ln() / 15.0,
        months.clamp(0.0, 12.0) / 12.0,
        (1.0 + heads.max(0.0)).ln() / 5.0,
    ]
}

/// Logistic regression by full-batch gradient descent; all zeros for no data.
pub fn train(xs: &[[f64; 4]], ys: &[f64]) -> [f64; 4] {
    let mut w = [0.0f64; 4];
    if xs.is_empty() {
        return w;
    }
    let n = xs.len() as f64;
    for _ in 0..EPOCHS {
        let mut grad = [0.0f64; 4];
        for (x, y) in xs.iter().zip(ys) {
            let z: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            for (g, xi) in grad.iter_mut().zip(x) {
                *g += (p - y) * xi;
            }
        }
        for (wi, g) in w.iter_mut().zip(&grad) {
            *wi -= LEARNING_RATE * (g / n + L2 * *wi);
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_separates_a_simple_signal() {
        // Enterprises that paid tax in every month stay active; those that paid none closed.
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..100 {
            let active = i % 2 == 0;
            let months = if active { 12.0 } else { 1.0 };
            xs.push(features(1000.0, months, 3.0));
            ys.push(if active { 0.0 } else { 1.0 });
        }
        let w = train(&xs, &ys);
        assert!(w[2] < -1.0, "more months paid, lower risk: {w:?}");
        assert_eq!(train(&[], &[]), [0.0; 4]);
    }
}
