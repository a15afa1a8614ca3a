//! Work split over a few threads of the calling one: the host's HMAC loops (entity keys,
//! folded spellings), a CPU-bound pass over values it already holds.

use std::ops::Range;

/// `work` over consecutive ranges of `0..len`, one per thread on at most `threads` threads,
/// results in the ranges' order. With one thread (or nothing to split) it runs on the caller.
/// `None` if a thread panicked.
pub(crate) fn split<R: Send>(
    len: usize,
    threads: usize,
    work: impl Fn(Range<usize>) -> R + Sync,
) -> Option<Vec<R>> {
    let threads = threads.clamp(1, len.max(1));
    if threads == 1 {
        return Some(vec![work(0..len)]);
    }
    let per_thread = len.div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..len)
            .step_by(per_thread)
            .map(|start| scope.spawn(move || work(start..(start + per_thread).min(len))))
            .collect();
        parts.into_iter().map(|part| part.join().ok()).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn ranges_cover_everything_once_in_order() {
        for (len, threads) in [(0, 2), (1, 4), (5, 1), (5, 2), (7, 3), (8, 8), (3, 0)] {
            let parts = split(len, threads, |r| r.collect::<Vec<_>>()).expect("no panic");
            assert!(
                parts.len() <= threads.max(1),
                "{len} on {threads}: {parts:?}"
            );
            let all: Vec<usize> = parts.into_iter().flatten().collect();
            assert_eq!(all, (0..len).collect::<Vec<_>>(), "{len} on {threads}");
        }
    }

    #[test]
    fn a_panicking_thread_is_none() {
        assert!(split(4, 2, |r| assert!(r.start == 0)).is_none());
    }
}
