//! Entity shards: the per-entity state of a release split in two by the pseudonym's first bit,
//! so that two threads can work on a chunk's rows at once and agree with one.
//!
//! The state the guard keeps per entity (the bound's row counts, and each entity's totals per
//! group) sits in large hash tables, a million entries for a large release, and every row costs
//! a cache miss or two there plus, for a new entity, one in the identifier universe. That is most
//! of the guard's time, and none of it depends on another entity's rows: an entity lives in one
//! shard, its rows reach that shard in stream order, so the first `L` rows kept and the totals
//! added are exactly those of a single table. Pseudonyms are HMAC outputs the module cannot
//! shape, so the shards are even.
//!
//! The number of shards is fixed, and whether they run on one thread or two changes nothing but
//! time: what a release decides never depends on the machine. The guard does not look at the
//! machine either; its caller says whether a second thread may be used
//! (`ReleaseBuilder::with_second_thread`).

/// How many shards the per-entity state is split into.
pub(crate) const SHARDS: usize = 2;

/// Below this many rows a chunk's shards run one after the other: starting a thread costs tens
/// of microseconds, about what a thousand rows take.
pub(crate) const PARALLEL_MIN_ROWS: usize = 2048;

/// Entries a shard's per-entity table takes before it is sized for the whole release: growing
/// by doubling is cheap while it is small, and a release that names few entities of a large city
/// never holds room for all of them.
pub(crate) const PRESIZE_AFTER: usize = 1 << 16;

/// How many more entries a shard's per-entity table of `len` entries should make room for now:
/// once it reaches [`PRESIZE_AFTER`], its share of the release's possible `entities` (an even
/// split, pseudonyms being HMAC outputs, plus a little slack); otherwise none. Sizing once saves
/// the doublings of a table of millions of entries, each of which moves every entry into fresh
/// pages. It never holds more than the table could reach anyway: only real entities get entries.
pub(crate) fn room_to_reserve(len: usize, entities: Option<usize>) -> usize {
    match entities {
        Some(n) if len == PRESIZE_AFTER => (n / SHARDS + n / 64).saturating_sub(len),
        _ => 0,
    }
}

/// The shard an entity's state lives in.
pub(crate) fn shard_of(entity: &[u8; 16]) -> usize {
    usize::from(entity[0] & 1)
}

/// Runs `work` on each shard, on two threads when `parallel`, and returns the results in shard
/// order. A panic on the second thread is raised again on the caller's, where the release's
/// panic guard catches it.
pub(crate) fn per_shard<S: Send, T: Send>(
    parallel: bool,
    shards: &mut [S; SHARDS],
    work: impl Fn(usize, &mut S) -> T + Sync,
) -> [T; SHARDS] {
    let [first, second] = shards;
    if !parallel {
        return [work(0, first), work(1, second)];
    }
    std::thread::scope(|scope| {
        let other = scope.spawn(|| work(1, second));
        let mine = work(0, first);
        match other.join() {
            Ok(theirs) => [mine, theirs],
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_give_the_same_results_in_shard_order() {
        for parallel in [false, true] {
            let mut shards = [vec![1, 2], vec![3]];
            let sums = per_shard(parallel, &mut shards, |i, s| {
                s.push(10 * i);
                s.iter().sum::<usize>()
            });
            assert_eq!(sums, [3, 13]);
            assert_eq!(shards, [vec![1, 2, 0], vec![3, 10]]);
        }
    }

    #[test]
    fn a_panic_on_the_second_thread_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            per_shard(true, &mut [0u8, 1], |i, _| {
                assert!(i == 0, "shard {i} fails");
            })
        });
        assert!(caught.is_err());
    }

    #[test]
    fn tables_are_sized_once_at_the_threshold_for_their_share() {
        assert_eq!(room_to_reserve(PRESIZE_AFTER - 1, Some(1 << 22)), 0);
        assert_eq!(room_to_reserve(PRESIZE_AFTER + 1, Some(1 << 22)), 0);
        assert_eq!(
            room_to_reserve(PRESIZE_AFTER, None),
            0,
            "no count, no sizing"
        );
        let share = (1 << 21) + (1 << 16) - PRESIZE_AFTER;
        assert_eq!(room_to_reserve(PRESIZE_AFTER, Some(1 << 22)), share);
        assert_eq!(
            room_to_reserve(PRESIZE_AFTER, Some(1000)),
            0,
            "never less room than it has"
        );
    }

    #[test]
    fn the_first_bit_chooses() {
        assert_eq!(shard_of(&[0; 16]), 0);
        assert_eq!(shard_of(&[0xff; 16]), 1);
        assert_eq!(shard_of(&[2; 16]), 0);
    }
}
