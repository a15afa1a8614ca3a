//! The threshold of a release without privacy: rules `k`, contributors per measure, dominance.
//!
//! A group is released only if
//!
//! - at least k distinct entities contributed a kept row to it (`entities`);
//! - for every measure, at least k distinct entities **contributed to that measure**: for a
//!   measure released as `sum` or `mean`, entities whose kept values add up to something
//!   non-zero; for a `count`-only measure, entities with at least one non-null value. A real
//!   entity sending a null or a zero (a decoy) adds a row but nothing to the sum, so counting it
//!   towards k would let a group of the target and k − 1 decoys release the target's value;
//! - no measure released as `sum` or `mean` is **dominated**: its n largest contributors hold at
//!   most `percent` % of the total of the absolute contributions (the contract's
//!   [`super::DominanceSpec`], default (2, 85 %)). Otherwise one large contributor among many
//!   tiny ones would be published almost exactly.
//!
//! A group failing any of these is suppressed whole (a group's cells are released together or
//! not at all), and counted in `groups_suppressed` / `rows_suppressed` whichever rule it failed:
//! the operator sees one count, not which rule fired. If no group survives, the release is
//! blocked with `threshold.all_suppressed`: nothing useful would leave, and a release where every
//! group is tiny is the typical signature of a module trying to pass rows off as groups.

use super::aggregate::{Aggregates, Group};
use super::contract::{Aggregation, DominanceSpec, ReleaseContract};

/// The groups that passed the threshold, and what was suppressed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Thresholded {
    /// Released groups, in the input (sorted) order.
    pub released: Vec<Group>,
    /// Groups suppressed by any rule of the threshold.
    pub groups_suppressed: u64,
    /// Kept rows belonging to those groups.
    pub rows_suppressed: u64,
}

/// The suppression rule in words, for the report and the product's policy.
pub(crate) fn describe(k: u32, dominance: &DominanceSpec) -> String {
    format!(
        "fewer than k={k} distinct entities, or fewer than k={k} entities contributing to a \
         measure (a non-zero total for sum and mean, a non-null value for count), or a sum or \
         mean whose {} largest contributors hold more than {}% of its total",
        dominance.n, dominance.percent
    )
}

/// Splits the groups by the threshold of `contract` at `k` (the effective k).
pub(crate) fn apply(aggregates: Aggregates, k: u32, contract: &ReleaseContract) -> Thresholded {
    let mut out = Thresholded {
        released: Vec::new(),
        groups_suppressed: 0,
        rows_suppressed: 0,
    };
    for group in aggregates.groups {
        if passes(&group, u64::from(k), contract) {
            out.released.push(group);
        } else {
            out.groups_suppressed += 1;
            out.rows_suppressed += group.rows;
        }
    }
    out
}

fn passes(group: &Group, k: u64, contract: &ReleaseContract) -> bool {
    if group.entities < k {
        return false;
    }
    contract
        .measures
        .iter()
        .zip(&group.measures)
        .all(|(spec, total)| {
            let magnitude = spec
                .aggregations
                .iter()
                .any(|a| matches!(a, Aggregation::Sum | Aggregation::Mean));
            if magnitude {
                total.nonzero_contributors >= k
                    && !contract.dominance.dominates(total.top_abs, total.abs_total)
            } else {
                total.contributors >= k
            }
        })
}

#[cfg(test)]
mod tests {
    use super::super::aggregate::{GroupAccumulator, MeasureTotal};
    use super::super::contract::tests;
    use super::super::contract::DEFAULT_DOMINANCE;
    use super::*;

    /// The guard tests' sample contract under the default dominance rule (2, 85 %).
    fn sample() -> ReleaseContract {
        let mut contract = tests::sample();
        contract.dominance = DEFAULT_DOMINANCE;
        contract
    }

    fn group(name: &str, entities: u64, rows: u64) -> Group {
        let total = MeasureTotal {
            contributors: entities,
            nonzero_contributors: entities,
            abs_total: entities as f64,
            top_abs: 2.0,
            ..MeasureTotal::default()
        };
        Group {
            key: vec![Some(name.to_owned())],
            entities,
            rows,
            measures: vec![total; 2],
        }
    }

    #[test]
    fn suppresses_groups_below_k_and_counts_them() {
        let aggregates = Aggregates {
            groups: vec![
                group("a", 1, 3),
                group("b", 5, 7),
                group("c", 4, 4),
                group("d", 6, 6),
            ],
        };
        let out = apply(aggregates, 5, &sample());
        let names: Vec<_> = out.released.iter().map(|g| g.key[0].clone()).collect();
        assert_eq!(names, [Some("b".to_owned()), Some("d".to_owned())]);
        assert_eq!((out.groups_suppressed, out.rows_suppressed), (2, 7));
    }

    /// `(entity byte, capital, staff)` rows, all in one group, through the real accumulator.
    fn one_group(rows: &[(u8, Option<f64>, Option<f64>)]) -> Aggregates {
        let mut acc = GroupAccumulator::new(10, 2).with_top_n(2);
        let g = acc.group(&[Some("a")]).expect("room");
        for (entity, capital, staff) in rows {
            acc.add(g, [*entity; 16], &[*capital, *staff]);
        }
        acc.finish()
    }

    fn released(rows: &[(u8, Option<f64>, Option<f64>)], k: u32) -> bool {
        apply(one_group(rows), k, &sample()).released.len() == 1
    }

    #[test]
    fn decoys_with_null_or_zero_values_do_not_count_towards_k() {
        let target = (1, Some(42.0), Some(3.0));
        // Target + 4 zero decoys + 1 null decoy: 6 entities, one non-zero contributor.
        let mut rows = vec![target];
        rows.extend((2..=5).map(|e| (e, Some(0.0), Some(0.0))));
        rows.push((6, None, None));
        assert!(!released(&rows, 5));
        // Cancelling values (+x, −x) add up to zero: still a decoy.
        let rows = [
            target,
            (2, Some(10.0), Some(1.0)),
            (2, Some(-10.0), Some(-1.0)),
            (3, Some(5.0), Some(1.0)),
            (3, Some(-5.0), Some(-1.0)),
        ];
        assert!(!released(&rows, 2));
    }

    #[test]
    fn one_dominant_contributor_among_many_tiny_ones_is_suppressed() {
        let mut rows = vec![(1, Some(1_000_000.0), Some(1.0))];
        rows.extend((2..=30).map(|e| (e, Some(1.0), Some(1.0))));
        assert!(!released(&rows, 5));
        // Two large ones together holding > 85 %: (2, 85 %) catches the pair too.
        let mut rows = vec![(1, Some(500.0), Some(1.0)), (2, Some(500.0), Some(1.0))];
        rows.extend((3..=12).map(|e| (e, Some(10.0), Some(1.0))));
        assert!(!released(&rows, 5));
    }

    #[test]
    fn honest_groups_still_release() {
        let rows: Vec<_> = (1..=10)
            .map(|e| (e, Some(f64::from(e) * 10.0), Some(f64::from(e))))
            .collect();
        assert!(released(&rows, 5));
        // A count-only measure counts non-null values, zeros included.
        let mut contract = sample();
        contract.measures[1].aggregations = vec![Aggregation::Count];
        let rows: Vec<_> = (1..=5)
            .map(|e| (e, Some(f64::from(e) * 10.0), Some(0.0)))
            .collect();
        assert_eq!(apply(one_group(&rows), 5, &contract).released.len(), 1);
        let mut rows = rows;
        rows[0].2 = None;
        assert_eq!(apply(one_group(&rows), 5, &contract).released.len(), 0);
    }

    #[test]
    fn dominance_is_configurable() {
        let mut rows = vec![(1, Some(80.0), Some(1.0))];
        rows.extend((2..=6).map(|e| (e, Some(4.0), Some(1.0))));
        // Top 2 = 84 of 100: under the default 85 %.
        assert!(released(&rows, 5));
        let mut strict = sample();
        strict.dominance = DominanceSpec {
            n: 1,
            percent: 50.0,
        };
        assert!(apply(one_group(&rows), 5, &strict).released.is_empty());
    }
}
