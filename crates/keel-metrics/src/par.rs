//! Splitting work over the cores with scoped threads: two jobs at once, or
//! one pass over ranges of rows. Every thread joins before these return, and
//! a panic in one is raised again in the caller.

use std::ops::Range;

/// From this many rows on, a pass over rows is worth splitting over threads;
/// below it, starting a thread costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 1 << 17;

/// The number of threads worth using: the machine's cores, as the standard
/// library reports them (1 when it cannot tell).
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `a` on a new thread and `b` on this one, and returns both results.
pub fn join<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|scope| {
        let a = scope.spawn(a);
        let b = b();
        match a.join() {
            Ok(a) => (a, b),
            Err(e) => std::panic::resume_unwind(e),
        }
    })
}

/// `f` over consecutive ranges that split `0..n`, one range per thread, in
/// order; a single range on this thread when `n` is below `min`. For passes
/// whose per-range results merge, such as sums.
pub fn map_ranges<T: Send>(n: usize, min: usize, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let threads = available_threads();
    if threads < 2 || n < min.max(2) {
        return vec![f(0..n)];
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| scope.spawn(move || f(start..(start + chunk).min(n))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Fills `out` by calling `f(start, part)` on consecutive parts of it, one
/// per thread (`start` is the part's offset in `out`); all of it on this
/// thread when it is shorter than `min`. For passes that write one value per
/// row without a second buffer.
pub fn fill<T: Send>(out: &mut [T], min: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let threads = available_threads();
    if threads < 2 || out.len() < min.max(2) {
        f(0, out);
        return;
    }
    let chunk = out.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for (t, part) in out.chunks_mut(chunk).enumerate() {
            let f = &f;
            scope.spawn(move || f(t * chunk, part));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_row_once_in_order() {
        for n in [
            0,
            1,
            5,
            PARALLEL_MIN - 1,
            PARALLEL_MIN,
            3 * PARALLEL_MIN + 7,
        ] {
            let ranges = map_ranges(n, PARALLEL_MIN, |r| r);
            assert_eq!(ranges.first().map(|r| r.start), Some(0), "{n}");
            assert_eq!(ranges.last().map(|r| r.end), Some(n), "{n}");
            assert!(
                ranges.windows(2).all(|w| w[0].end == w[1].start),
                "{n}: {ranges:?}"
            );
        }
    }

    #[test]
    fn fill_writes_every_slot_with_its_own_index() {
        for n in [0, 1, 7, 1000] {
            let mut out = vec![usize::MAX; n];
            fill(&mut out, 2, |start, part| {
                for (i, o) in part.iter_mut().enumerate() {
                    *o = start + i;
                }
            });
            assert_eq!(out, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn join_returns_both_results_and_raises_a_panic() {
        assert_eq!(join(|| 1, || "b"), (1, "b"));
        let caught = std::panic::catch_unwind(|| join(|| panic!("in a thread"), || 2));
        assert!(caught.is_err());
    }
}
