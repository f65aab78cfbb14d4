//! The one place that decides whether batch work runs on rayon's thread pool.
//!
//! Parallelism is on by default and can be switched off process-wide: the Python package turns it
//! off in a child after `os.fork()` (rayon's pool does not survive a fork) and when the
//! `TOKTOOL_NO_PARALLELISM` environment variable is set. Results never depend on the switch.
//! Nothing else in the core may touch rayon: a pool used before `fork()` deadlocks the child.

use std::sync::atomic::{AtomicBool, Ordering};

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
