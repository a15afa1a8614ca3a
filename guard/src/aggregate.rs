//! Aggregation per group, and rule `size.groups`.
//!
//! A group is the tuple of a row's dimension values; a null dimension value is a key of its own.
//! Per group the guard keeps the number of distinct entities (the quantity k is checked against),
//! the number of kept rows, and per measure the count and sum of its kept values (the mean is
//! derived at output). The module never aggregates: it only hands over contributions.
//!
//! Memory is bounded by the contract, not by the stream: at most `max_groups` groups, each key
//! value at most [`MAX_KEY_VALUE_BYTES`] bytes; past either limit the accumulator stops growing and
//! the release is blocked with `size.groups`. Distinct entities are counted through [`Members`],
//! maps of (group, entity) pairs split into the entity shards of `shard.rs`, which hold at most
//! one pair per kept row and so at most `L × entities`; each pair keeps the entity's total per
//! measure, from which `finish` derives the contributors per measure (non-null, non-zero) and the
//! share of the largest ones that the threshold's decoy and dominance rules need.
//!
//! A group's sums are added in stream order, an entity's totals in its own stream order, and the
//! shards' figures in shard order, so the same contributions in the same order give bit-identical
//! results however they are split into chunks and whether the shards ran on one thread or two.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::shard::{per_shard, room_to_reserve, SHARDS};

/// Longest dimension value (in UTF-8 bytes) a group key may hold. Public dimension values are short
/// (district or industry names); a longer one is far more likely a smuggled payload, and without a
/// cap `max_groups` keys of guest-chosen length could exhaust memory.
pub const MAX_KEY_VALUE_BYTES: usize = 1024;

/// Why the group table stopped growing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SizeFault {
    /// A row would have opened group `max_groups + 1`.
    TooManyGroups,
    /// A dimension value (of the dimension at this position) exceeded [`MAX_KEY_VALUE_BYTES`].
    ValueTooLong { dimension: usize },
}

/// Count and sum of one measure's kept values in one group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MeasureTotal {
    pub count: u64,
    pub sum: f64,
    /// Under privacy only (else 0): the exact sum of the kept values, each first rounded to an
    /// integer number of the measure's resolution. Integers add without rounding error, so one
    /// entity moves this by at most `L·⌈max(|lo|, |hi|)/resolution⌉`: the sensitivity the noise
    /// is calibrated to.
    pub units: i128,
    /// Distinct entities with at least one kept, non-null value of this measure in the group:
    /// who a `count` of this measure is about.
    pub contributors: u64,
    /// Distinct entities whose kept values of this measure add up to something non-zero in the
    /// group: who a `sum` or `mean` is about. An entity contributing only nulls or zeros (or
    /// values cancelling out) moves neither, so it must not count towards k (a decoy).
    pub nonzero_contributors: u64,
    /// Σ over entities of |the entity's total of this measure in the group|, for dominance.
    pub abs_total: f64,
    /// The same sum over the `n` entities with the largest |total| (n of the dominance rule).
    pub top_abs: f64,
}

impl MeasureTotal {
    /// Sum over count; `None` for a measure with no kept value (released as null).
    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// One group's aggregates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Group {
    /// The dimension values, in contract order.
    pub key: Vec<Option<String>>,
    /// Distinct entities with a kept row in this group.
    pub entities: u64,
    /// Kept rows in this group.
    pub rows: u64,
    /// Per measure, in contract order.
    pub measures: Vec<MeasureTotal>,
}

/// All groups' aggregates, sorted by key: the value passed between the guard's finishing steps
/// (domain, then a future noise step, then threshold).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Aggregates {
    pub groups: Vec<Group>,
}

/// Hashes a (group, entity) key by the entity's pseudonym bytes, unkeyed: SipHash was the
/// accumulator's main cost at millions of entities. Only admitted entities reach it, and their
/// pseudonyms are HMAC outputs the module cannot shape; it can only choose which real entities to
/// send. To make n members share a bucket of a table of at least n buckets it would need n
/// entities among E whose hashes agree in about log2(n) bits: about E / n exist, so n stays
/// below √E (a thousand for a million entities) and the extra probing below n² (10^6 steps).
///
/// Public only so that the district-stats bench measures its lookup floor with this very hash.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemberHasher(u64);

impl Hasher for MemberHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Accumulates kept rows into groups while contributions stream in.
#[derive(Debug)]
pub(crate) struct GroupAccumulator {
    max_groups: usize,
    measures: usize,
    index: HashMap<String, usize>,
    /// The (group, entity) pairs, per entity shard.
    members: [Members; SHARDS],
    /// Whether `finish` may summarize the shards on two threads.
    second_thread: bool,
    /// `n` of the dominance rule: how many of the largest contributors `top_abs` adds up.
    top_n: usize,
    groups: Vec<Group>,
    scratch: String,
    fault: Option<SizeFault>,
    /// Per measure, the resolution its values are counted in `units` at (privacy only).
    resolutions: Vec<Option<f64>>,
}

impl GroupAccumulator {
    /// An empty accumulator for at most `max_groups` groups of `measures` measures.
    pub(crate) fn new(max_groups: usize, measures: usize) -> Self {
        Self {
            max_groups,
            measures,
            index: HashMap::new(),
            members: std::array::from_fn(|_| Members::new(measures)),
            second_thread: false,
            top_n: 0,
            groups: Vec::new(),
            scratch: String::new(),
            fault: None,
            resolutions: Vec::new(),
        }
    }

    /// Also sums each measure in integer units of its resolution (`None`: not at all).
    pub(crate) fn with_resolutions(mut self, resolutions: Vec<Option<f64>>) -> Self {
        self.resolutions = resolutions;
        self
    }

    /// Sizes the entity shards' members for a share of `entities` once they hold many
    /// (`shard::room_to_reserve`): a member per entity is the common case.
    pub(crate) fn expecting(mut self, entities: Option<usize>) -> Self {
        for members in &mut self.members {
            members.expected = entities;
        }
        self
    }

    /// Lets `finish` summarize the entity shards on two threads (the result is the same).
    pub(crate) fn with_second_thread(mut self, allowed: bool) -> Self {
        self.second_thread = allowed;
        self
    }

    /// Also adds up, per group and measure, the absolute totals of the `n` largest contributors
    /// (`top_abs`, for the dominance rule).
    pub(crate) fn with_top_n(mut self, n: usize) -> Self {
        self.top_n = n;
        self
    }

    /// The group for these dimension values, opened if new; `None` once the table has overflowed.
    pub(crate) fn group(&mut self, key: &[Option<&str>]) -> Option<usize> {
        if self.fault.is_some() {
            return None;
        }
        if let Some(dimension) = key
            .iter()
            .position(|v| v.is_some_and(|v| v.len() > MAX_KEY_VALUE_BYTES))
        {
            self.fault = Some(SizeFault::ValueTooLong { dimension });
            return None;
        }
        // An unambiguous flat encoding (length-prefixed, null distinct from empty) lets the lookup
        // reuse one buffer instead of allocating a key per row.
        self.scratch.clear();
        for value in key {
            match value {
                None => self.scratch.push('-'),
                Some(v) => {
                    self.scratch.push('+');
                    push_decimal(&mut self.scratch, v.len());
                    self.scratch.push(':');
                    self.scratch.push_str(v);
                }
            }
        }
        if let Some(&group) = self.index.get(self.scratch.as_str()) {
            return Some(group);
        }
        if self.groups.len() >= self.max_groups {
            self.fault = Some(SizeFault::TooManyGroups);
            return None;
        }
        let group = self.groups.len();
        self.index.insert(self.scratch.clone(), group);
        self.groups.push(Group {
            key: key.iter().map(|v| v.map(str::to_owned)).collect(),
            entities: 0,
            rows: 0,
            measures: vec![MeasureTotal::default(); self.measures],
        });
        Some(group)
    }

    /// Adds one kept row of `entity` to `group`; `values` are the clamped measure values, `None`
    /// for a value left out (null or not finite).
    #[cfg(test)]
    pub(crate) fn add(&mut self, group: usize, entity: [u8; 16], values: &[Option<f64>]) {
        if self.add_totals(group, values) {
            let shard = super::shard::shard_of(&entity);
            if let Some(members) = self.members.get_mut(shard) {
                members.add(group, entity, values);
            }
        }
    }

    /// Adds one kept row to `group`'s row count and measure totals, in stream order (the sums
    /// are bit-identical for the same rows in the same order); the row's entity goes to
    /// [`Members::add`] of its shard. `false` for a group that does not exist.
    pub(crate) fn add_totals(&mut self, group: usize, values: &[Option<f64>]) -> bool {
        let Some(totals) = self.groups.get_mut(group) else {
            return false;
        };
        totals.rows += 1;
        for (position, (total, value)) in totals.measures.iter_mut().zip(values).enumerate() {
            if let Some(value) = value {
                total.count += 1;
                total.sum += value;
                if let Some(Some(resolution)) = self.resolutions.get(position) {
                    // `value` is clamped and finite and `resolution` positive, so the quotient
                    // is bounded by the contract; `as` saturates rather than wraps regardless.
                    total.units += (value / resolution).round() as i128;
                }
            }
        }
        true
    }

    /// The (group, entity) pairs of each entity shard.
    pub(crate) fn members_mut(&mut self) -> &mut [Members; SHARDS] {
        &mut self.members
    }

    /// Why the table stopped growing, if it did.
    pub(crate) fn fault(&self) -> Option<SizeFault> {
        self.fault
    }

    /// Number of groups opened so far.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The groups, sorted by key: nulls first, then values by their UTF-8 bytes, dimension by
    /// dimension. Keys are distinct, so the order is total and the output deterministic.
    pub(crate) fn finish(mut self) -> Aggregates {
        let (groups, measures, top_n) = (self.groups.len(), self.measures, self.top_n);
        let shards = per_shard(self.second_thread, &mut self.members, |_, members| {
            members.summarize(groups, top_n)
        });
        let mut groups = self.groups;
        // Per group and measure, every contributor's |total|, to find the largest n. The
        // members hold at most one entry per kept row, so this is bounded like them.
        let mut magnitudes: Vec<Vec<f64>> = Vec::new();
        if top_n > 0 {
            magnitudes.resize_with(groups.len() * measures, Vec::new);
        }
        for shard in shards {
            for (group, totals) in groups.iter_mut().enumerate() {
                totals.entities += shard.entities.get(group).copied().unwrap_or(0);
                for (measure, total) in totals.measures.iter_mut().enumerate() {
                    let at = group * measures + measure;
                    let Some(part) = shard.measures.get(at) else {
                        continue;
                    };
                    total.contributors += part.contributors;
                    total.nonzero_contributors += part.nonzero_contributors;
                    total.abs_total += part.abs_total;
                    if let (Some(all), Some(more)) =
                        (magnitudes.get_mut(at), shard.magnitudes.get(at))
                    {
                        all.extend_from_slice(more);
                    }
                }
            }
        }
        for (at, mut values) in magnitudes.into_iter().enumerate() {
            if values.is_empty() {
                continue;
            }
            values.sort_unstable_by(|a, b| b.total_cmp(a));
            if let Some(total) = groups
                .get_mut(at / measures)
                .and_then(|g| g.measures.get_mut(at % measures))
            {
                total.top_abs = values.iter().take(top_n).sum();
            }
        }
        groups.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Aggregates { groups }
    }
}

/// One entity shard's (group, entity) pairs, each with the entity's totals per measure.
#[derive(Debug)]
pub(crate) struct Members {
    measures: usize,
    /// Per (group, entity): where its per-measure totals start in `totals`.
    index: HashMap<(usize, [u8; 16]), usize, BuildHasherDefault<MemberHasher>>,
    /// `measures` slots per member: the entity's total of kept values of each measure in that
    /// group (`None` while it has sent only nulls or non-finite values). One arena instead of a
    /// vector per member: a release can have a member per entity, millions of them.
    totals: Vec<Option<f64>>,
    /// Per group (by its index), this shard's distinct entities in it.
    entities: Vec<u64>,
    /// How many entities the release may have in all (see `shard::room_to_reserve`).
    expected: Option<usize>,
}

/// What one shard's members say of each group, for [`GroupAccumulator::finish`] to add up.
struct ShardSummary {
    /// Per group: distinct entities.
    entities: Vec<u64>,
    /// Per (group, measure), at `group × measures + measure`.
    measures: Vec<ContributorTotals>,
    /// Per (group, measure), when the dominance rule needs them: each non-zero contributor's
    /// |total|.
    magnitudes: Vec<Vec<f64>>,
}

/// One shard's contributors to one measure of one group (see [`MeasureTotal`]).
#[derive(Debug, Clone, Copy, Default)]
struct ContributorTotals {
    contributors: u64,
    nonzero_contributors: u64,
    abs_total: f64,
}

impl Members {
    fn new(measures: usize) -> Self {
        Self {
            measures,
            index: HashMap::default(),
            totals: Vec::new(),
            entities: Vec::new(),
            expected: None,
        }
    }

    /// Adds one kept row of `entity` in `group` to the entity's totals there.
    pub(crate) fn add(&mut self, group: usize, entity: [u8; 16], values: &[Option<f64>]) {
        let room = room_to_reserve(self.index.len(), self.expected);
        if room > 0 {
            self.index.reserve(room);
            self.totals.reserve(room.saturating_mul(self.measures));
        }
        let start = match self.index.entry((group, entity)) {
            Entry::Occupied(slot) => *slot.get(),
            Entry::Vacant(slot) => {
                let start = self.totals.len();
                slot.insert(start);
                self.totals.resize(start + self.measures, None);
                if self.entities.len() <= group {
                    self.entities.resize(group + 1, 0);
                }
                if let Some(count) = self.entities.get_mut(group) {
                    *count += 1;
                }
                start
            }
        };
        let member = self
            .totals
            .get_mut(start..start + self.measures)
            .unwrap_or_default();
        for (slot, value) in member.iter_mut().zip(values) {
            if let Some(value) = value {
                *slot = Some(slot.unwrap_or(0.0) + value);
            }
        }
    }

    /// This shard's figures per group of the `groups` opened, measure by measure.
    fn summarize(&self, groups: usize, top_n: usize) -> ShardSummary {
        let measures = self.measures;
        let mut out = ShardSummary {
            entities: self.entities.clone(),
            measures: vec![ContributorTotals::default(); groups * measures],
            magnitudes: Vec::new(),
        };
        if top_n > 0 {
            out.magnitudes.resize_with(groups * measures, Vec::new);
        }
        for (&(group, _), &start) in &self.index {
            let member = self.totals.get(start..start + measures).unwrap_or_default();
            for (measure, &sum) in member.iter().enumerate() {
                let Some(sum) = sum else {
                    continue;
                };
                let at = group * measures + measure;
                let Some(total) = out.measures.get_mut(at) else {
                    continue;
                };
                total.contributors += 1;
                if sum != 0.0 {
                    total.nonzero_contributors += 1;
                    total.abs_total += sum.abs();
                    if let Some(values) = out.magnitudes.get_mut(at) {
                        values.push(sum.abs());
                    }
                }
            }
        }
        out
    }
}

/// Appends `n` in decimal: the group key's length prefix, without the formatting machinery
/// (once per dimension per contribution row).
fn push_decimal(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_prefixes_are_plain_digits() {
        for n in [0usize, 7, 10, 99, 4096, usize::MAX] {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    const E1: [u8; 16] = [1; 16];
    const E2: [u8; 16] = [2; 16];

    #[test]
    fn counts_distinct_entities_rows_and_measures() {
        let mut acc = GroupAccumulator::new(10, 2);
        let a = acc.group(&[Some("a")]).expect("room");
        acc.add(a, E1, &[Some(1.0), None]);
        acc.add(a, E1, &[Some(2.0), Some(5.0)]);
        acc.add(a, E2, &[Some(3.0), Some(5.0)]);
        let groups = acc.finish().groups;
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!((g.entities, g.rows), (2, 3));
        assert_eq!(
            g.measures[0],
            MeasureTotal {
                count: 3,
                sum: 6.0,
                units: 0,
                contributors: 2,
                nonzero_contributors: 2,
                abs_total: 6.0,
                top_abs: 0.0,
            }
        );
        assert_eq!(
            g.measures[1],
            MeasureTotal {
                count: 2,
                sum: 10.0,
                units: 0,
                contributors: 2,
                nonzero_contributors: 2,
                abs_total: 10.0,
                top_abs: 0.0,
            }
        );
        assert_eq!(g.measures[0].mean(), Some(2.0));
        assert_eq!(MeasureTotal::default().mean(), None);
    }

    #[test]
    fn keys_are_unambiguous_and_sorted_with_nulls_first() {
        let mut acc = GroupAccumulator::new(10, 0);
        let keys: [&[Option<&str>]; 6] = [
            &[Some("b"), Some("")],
            &[None, Some("x")],
            &[Some(""), None],
            &[Some("a:+1"), Some("")],
            &[Some("a"), Some(":+1")],
            &[Some("b"), Some("")],
        ];
        for key in keys {
            let g = acc.group(key).expect("room");
            acc.add(g, E1, &[]);
        }
        let groups = acc.finish().groups;
        let keys: Vec<_> = groups.iter().map(|g| g.key.clone()).collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            keys,
            vec![
                vec![None, s("x")],
                vec![s(""), None],
                vec![s("a"), s(":+1")],
                vec![s("a:+1"), s("")],
                vec![s("b"), s("")],
            ]
        );
        assert_eq!(groups[4].rows, 2);
    }

    #[test]
    fn stops_growing_past_the_limits() {
        let mut acc = GroupAccumulator::new(2, 0);
        assert!(acc.group(&[Some("a")]).is_some());
        assert!(acc.group(&[Some("b")]).is_some());
        assert!(acc.group(&[Some("a")]).is_some());
        assert!(acc.group(&[Some("c")]).is_none());
        assert_eq!(acc.fault(), Some(SizeFault::TooManyGroups));
        assert!(
            acc.group(&[Some("a")]).is_none(),
            "nothing accumulates after a fault"
        );
        assert_eq!(acc.len(), 2);

        let mut acc = GroupAccumulator::new(2, 0);
        let long = "x".repeat(MAX_KEY_VALUE_BYTES + 1);
        assert!(acc.group(&[Some("a"), Some(&long)]).is_none());
        assert_eq!(acc.fault(), Some(SizeFault::ValueTooLong { dimension: 1 }));
        assert_eq!(acc.len(), 0);
    }
}
