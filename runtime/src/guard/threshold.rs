//! The k threshold: a group is released only if at least k distinct entities contributed to it.
//!
//! Groups below k are suppressed, and their number and kept rows are reported (suppression is
//! accounted, never silent). If no group survives, the release is blocked with
//! `threshold.all_suppressed`: nothing useful would leave, and a release where every group is tiny
//! is the typical signature of a module trying to pass rows off as groups.

use super::aggregate::{Aggregates, Group};

/// The groups that passed the threshold, and what was suppressed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Thresholded {
    /// Released groups, in the input (sorted) order.
    pub released: Vec<Group>,
    /// Groups with fewer than k distinct entities.
    pub groups_suppressed: u64,
    /// Kept rows belonging to those groups.
    pub rows_suppressed: u64,
}

/// Splits the groups at `k` distinct entities.
pub(crate) fn apply(aggregates: Aggregates, k: u32) -> Thresholded {
    let mut out = Thresholded {
        released: Vec::new(),
        groups_suppressed: 0,
        rows_suppressed: 0,
    };
    for group in aggregates.groups {
        if group.entities >= u64::from(k) {
            out.released.push(group);
        } else {
            out.groups_suppressed += 1;
            out.rows_suppressed += group.rows;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, entities: u64, rows: u64) -> Group {
        Group {
            key: vec![Some(name.to_owned())],
            entities,
            rows,
            measures: vec![],
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
        let out = apply(aggregates, 5);
        let names: Vec<_> = out.released.iter().map(|g| g.key[0].clone()).collect();
        assert_eq!(names, [Some("b".to_owned()), Some("d".to_owned())]);
        assert_eq!((out.groups_suppressed, out.rows_suppressed), (2, 7));
    }
}
