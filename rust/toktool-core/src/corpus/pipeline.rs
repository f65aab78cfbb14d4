//! How a run's three stages are scheduled: read a chunk, encode it, write and commit it.
//!
//! With parallelism on, reading and encoding each get a thread of their own (the encoding
//! fans out on the thread pool) and the calling thread writes, so reading the next chunk and
//! writing the last one overlap the encoding of the one between them; otherwise that I/O would
//! be a serial part of every chunk, costing more the more cores encode. With parallelism off
//! (after `fork()`, `TOKTOOL_NO_PARALLELISM`) all three run in the calling thread. Chunks are
//! committed in the order they were read either way, so the output is the same. Stages hand
//! chunks over without a queue (rendezvous channels), so at most three chunks are alive: one
//! being read, one being encoded, one being written.

use std::ops::ControlFlow;
use std::sync::mpsc::sync_channel;

use crate::error::Result;

/// Feed every item `read` yields (until `Ok(None)`) through `encode` to `commit`, in order.
/// Returns `Ok(false)` when `commit` said stop, `Ok(true)` when everything was committed; the
/// first error of any stage ends the run (what was committed before it stays committed).
pub fn run_stages<R: Send, E: Send>(
    threaded: bool,
    mut read: impl FnMut() -> Result<Option<R>> + Send,
    encode: impl Fn(R) -> Result<E> + Sync,
    mut commit: impl FnMut(E) -> Result<ControlFlow<()>>,
) -> Result<bool> {
    if !threaded {
        while let Some(item) = read()? {
            if commit(encode(item)?)?.is_break() {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    std::thread::scope(|scope| {
        let (read_tx, read_rx) = sync_channel::<Result<R>>(0);
        let (encoded_tx, encoded_rx) = sync_channel::<Result<E>>(0);
        scope.spawn(move || {
            // A failed send means the run ended downstream: stop reading.
            while let Some(item) = read().transpose() {
                let failed = item.is_err();
                if read_tx.send(item).is_err() || failed {
                    break;
                }
            }
        });
        let encode = &encode;
        scope.spawn(move || {
            for item in read_rx {
                let encoded = item.and_then(encode);
                let failed = encoded.is_err();
                if encoded_tx.send(encoded).is_err() || failed {
                    break;
                }
            }
        });
        // Returning drops `encoded_rx`, which stops both threads before the scope joins them.
        for encoded in encoded_rx {
            if commit(encoded?)?.is_break() {
                return Ok(false);
            }
        }
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn numbers(
        threaded: bool,
        fail_at: Option<u32>,
        stop_at: Option<u32>,
    ) -> (Result<bool>, Vec<u32>) {
        let mut next = 0;
        let mut committed = Vec::new();
        let result = run_stages(
            threaded,
            move || {
                next += 1;
                Ok((next <= 50).then_some(next))
            },
            |n: u32| {
                if Some(n) == fail_at {
                    Err(Error::InvalidInput(format!("item {n}")))
                } else {
                    Ok(n * 10)
                }
            },
            |n| {
                committed.push(n);
                Ok(if Some(n) == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            },
        );
        (result, committed)
    }

    #[test]
    fn threaded_and_inline_commit_the_same_items_in_order() {
        for threaded in [false, true] {
            let (result, committed) = numbers(threaded, None, None);
            assert_eq!(result, Ok(true));
            assert_eq!(committed, (1..=50).map(|n| n * 10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_error_or_a_stop_ends_the_run_after_the_items_before_it() {
        for threaded in [false, true] {
            let (result, committed) = numbers(threaded, Some(7), None);
            assert_eq!(result, Err(Error::InvalidInput("item 7".into())));
            assert_eq!(committed, (1..7).map(|n| n * 10).collect::<Vec<_>>());
            let (result, committed) = numbers(threaded, None, Some(120));
            assert_eq!(result, Ok(false));
            assert_eq!(committed, (1..=12).map(|n| n * 10).collect::<Vec<_>>());
        }
    }
}
