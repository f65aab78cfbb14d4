//! What the cover search keeps between questions: the answers of localized validity questions
//! (shared by all threads), and per-thread scratch buffers of the fast check.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;

use super::CoverSearch;
use crate::merge_tree::Edges;

/// A localized validity question: the bytes and ids after a certain pre-token boundary, and
/// whether that boundary is the document start.
pub(super) type LocalKey = (Vec<u8>, Vec<u32>, bool);

/// Per token of the vocabulary: not decided yet, invalid, valid.
pub(super) type Answers = Arc<[AtomicU8]>;

const UNDECIDED: u8 = 0;
const INVALID: u8 = 1;
const VALID: u8 = 2;

/// How many localized questions keep their answers (each holds one byte per vocabulary entry);
/// the memo starts over when it is full.
const MEMO_QUESTIONS: usize = 512;

/// The remembered answers of localized questions ([`LocalKey`]), each one byte per vocabulary
/// entry; it starts over when it holds `MEMO_QUESTIONS` of them.
#[derive(Debug, Default)]
pub(super) struct Memo(Mutex<FxHashMap<LocalKey, Answers>>);

impl Memo {
    /// The remembered answers to one question (a fresh, undecided set of `vocab_size` if new).
    fn answers(&self, key: LocalKey, vocab_size: usize) -> Answers {
        let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answers) = memo.get(&key) {
            return Arc::clone(answers);
        }
        if memo.len() >= MEMO_QUESTIONS {
            memo.clear();
        }
        let answers: Answers = (0..vocab_size).map(|_| AtomicU8::new(UNDECIDED)).collect();
        memo.insert(key, Arc::clone(&answers));
        answers
    }
}

/// The answer in `slot`, or `decide()`'s, stored there, when it is not decided yet.
pub(super) fn remembered(slot: &AtomicU8, decide: &dyn Fn() -> bool) -> bool {
    match slot.load(Ordering::Relaxed) {
        VALID => true,
        INVALID => false,
        _ => {
            let valid = decide();
            slot.store(if valid { VALID } else { INVALID }, Ordering::Relaxed);
            valid
        }
    }
}

impl CoverSearch {
    /// The remembered answers to one localized question (a fresh, undecided set if new).
    pub(super) fn answers_for(&self, key: LocalKey) -> Answers {
        self.memo.answers(key, self.tok.vocab_size())
    }
}

/// Reused buffers of the fast check, one set per thread.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) text: String,
    pub(super) bounds: Vec<(usize, usize)>,
    pub(super) ids: Vec<u32>,
    pub(super) failed: Vec<(usize, usize)>,
    pub(super) edges: Edges,
}

thread_local! {
    pub(super) static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
