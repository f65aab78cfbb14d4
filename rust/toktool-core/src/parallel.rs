//! The one place that decides whether batch work runs on rayon's thread pool.
//!
//! Parallelism is on by default and can be switched off process-wide: the Python package turns it
//! off in a child after `os.fork()` (rayon's pool does not survive a fork) and when the
//! `TOKTOOL_NO_PARALLELISM` environment variable is set. Results never depend on the switch.
//! Nothing else in the core may touch rayon: a pool used before `fork()` deadlocks the child.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use rayon::prelude::*;

static PARALLEL: AtomicBool = AtomicBool::new(true);

/// Turn batch parallelism on or off for the whole process.
pub fn set_parallelism(enabled: bool) {
    PARALLEL.store(enabled, Ordering::SeqCst);
}

/// Whether batch calls use the thread pool.
pub fn parallelism() -> bool {
    PARALLEL.load(Ordering::SeqCst)
}

/// `items.iter().map(f)`, on the thread pool when parallelism is on and there is enough work.
pub fn maybe_par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    if items.len() > 1 && parallelism() {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// `f` of every item, handed to `take` on the calling thread as `(index of the first item,
/// results of consecutive items)` batches, in no particular order; every item's result is handed
/// over exactly once unless `take` fails, which stops the work and is returned.
///
/// For results that only the calling thread can consume (Python objects need the GIL, which one
/// thread holds at a time): with parallelism on and a pool of `n` threads, `n - 1` pool threads
/// and the calling thread claim blocks of items from one shared counter; between its own blocks
/// the calling thread hands every finished block to `take`, so consuming overlaps with encoding
/// instead of following it, and no core waits while there is work. Serial (all results, then
/// one `take`) when parallelism is off, the pool has one thread, or there is one item.
pub fn par_map_streamed<T: Sync, R: Send, E>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    mut take: impl FnMut(Vec<(usize, Vec<R>)>) -> Result<(), E>,
) -> Result<(), E> {
    let helpers = if items.len() > 1 && parallelism() {
        rayon::current_num_threads().saturating_sub(1)
    } else {
        0
    };
    if helpers == 0 {
        return take(vec![(0, items.iter().map(f).collect())]);
    }
    let claims = Claims::new(items.len(), helpers + 1);
    let (sender, receiver) = mpsc::channel();
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            let sender = sender.clone();
            let (claims, f) = (&claims, &f);
            scope.spawn(move |_| {
                while let Some(range) = claims.next() {
                    let start = range.start;
                    let results = items[range].iter().map(f).collect();
                    if sender.send((start, results)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut left = items.len();
        while left > 0 {
            let mut ready: Vec<(usize, Vec<R>)> = receiver.try_iter().collect();
            if let Some(range) = claims.next() {
                ready.push((range.start, items[range].iter().map(&f).collect()));
            } else if ready.is_empty() {
                // Every block is claimed: wait for a helper's. Helpers send every block they
                // claim, so all of them being gone first means one panicked, and the scope
                // re-raises that panic here.
                let Ok(block) = receiver.recv() else { break };
                ready.push(block);
            }
            left -= ready
                .iter()
                .map(|(_, results)| results.len())
                .sum::<usize>();
            if let Err(e) = take(ready) {
                claims.stop();
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Blocks of consecutive item indices for [`par_map_streamed`], claimed from one atomic
/// counter. Blocks are small so that the calling thread hands results over often and no thread
/// is left with a long tail: about 64 blocks per thread, at most 16 items each (a 4 KB text
/// encodes in ~50 us, so one block is under a millisecond; a counter increment is ~100 ns).
struct Claims {
    next: AtomicUsize,
    len: usize,
    block: usize,
}

impl Claims {
    fn new(len: usize, threads: usize) -> Self {
        let block = (len / (threads * 64)).clamp(1, 16);
        Claims {
            next: AtomicUsize::new(0),
            len,
            block,
        }
    }

    fn next(&self) -> Option<Range<usize>> {
        let start = self.next.fetch_add(self.block, Ordering::Relaxed);
        (start < self.len).then(|| start..self.len.min(start + self.block))
    }

    /// No more claims succeed (blocks already claimed still finish).
    fn stop(&self) {
        self.next.fetch_max(self.len, Ordering::Relaxed);
    }
}

/// The items for which `keep` holds, in order; on the thread pool like [`maybe_par_map`].
pub fn maybe_par_filter<T: Sync + Copy>(
    items: &[T],
    keep: impl Fn(&T) -> bool + Sync + Send,
) -> Vec<T> {
    let flags = maybe_par_map(items, keep);
    items
        .iter()
        .zip(flags)
        .filter_map(|(&item, kept)| kept.then_some(item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `par_map_streamed` handed over, placed at each index (`None`: never handed over).
    fn streamed(items: &[u64], take_fails_after: Option<usize>) -> (Vec<Option<u64>>, bool) {
        let mut got = vec![None; items.len()];
        let mut takes = 0;
        let result = par_map_streamed(
            items,
            |&x| x * x,
            |ready| {
                takes += 1;
                for (start, results) in ready {
                    for (i, r) in (start..).zip(results) {
                        assert!(got[i].is_none(), "index {i} handed over twice");
                        got[i] = Some(r);
                    }
                }
                if take_fails_after.is_some_and(|n| takes > n) {
                    Err(())
                } else {
                    Ok(())
                }
            },
        );
        (got, result.is_err())
    }

    #[test]
    fn par_map_streamed_hands_over_every_result_once() {
        for n in [0, 1, 2, 3, 17, 1000, 5000] {
            let items: Vec<u64> = (0..n).collect();
            let (got, failed) = streamed(&items, None);
            assert!(!failed);
            let expected: Vec<Option<u64>> = items.iter().map(|&x| Some(x * x)).collect();
            assert_eq!(got, expected, "n = {n}");
        }
    }

    #[test]
    fn par_map_streamed_stops_when_take_fails() {
        let items: Vec<u64> = (0..5000).collect();
        let (got, failed) = streamed(&items, Some(0));
        assert!(failed);
        assert!(got.iter().any(Option::is_some));
    }

    #[test]
    fn claims_cover_every_index_once() {
        for (len, threads) in [(0, 2), (1, 2), (15, 2), (1000, 2), (100_000, 8)] {
            let claims = Claims::new(len, threads);
            let mut covered = 0;
            while let Some(range) = claims.next() {
                assert_eq!(range.start, covered);
                assert!(range.len() <= 16);
                covered = range.end;
            }
            assert_eq!(covered, len);
        }
    }
}
