//! A pre-token -> ids cache for [`Bpe::encode_piece`]: code and prose repeat identifiers, words
//! and indentation, so most pre-tokens of a text have been merged before.
//!
//! Why it is exact: the BPE model is immutable after loading and `encode_piece` is a pure
//! function of the pre-token's bytes (normalization, added tokens, `Metaspace` prefixes and byte
//! fallback all happen before or inside it and depend on nothing else), so a hit returns what
//! the model would compute. Keys are compared byte for byte; the hash only picks the slot.
//!
//! Shape: one direct-mapped table of fixed-size slots per (thread, tokenizer), so threads never
//! contend and memory is bounded (`SLOTS` × 64 bytes, at most `CACHES_PER_THREAD` tokenizers per
//! thread). Keys and ids live inline in the slot: no allocation per pre-token. Pre-tokens longer
//! than `MAX_KEY` bytes or with more than `MAX_IDS` ids are not cached (they are rare and their
//! merge dominates the lookup anyway).

use std::cell::RefCell;
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::bpe::Bpe;

const MAX_KEY: usize = 22;
const MAX_IDS: usize = 8;
/// Slots per table (a power of two): 512 KiB per (thread, tokenizer).
const SLOTS: usize = 1 << 13;
/// Tokenizers whose tables a thread keeps (most recently used first).
const CACHES_PER_THREAD: usize = 4;

static ENABLED: AtomicBool = AtomicBool::new(true);
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// Turn the pre-token cache on or off for the whole process (for benchmarks: ids never change).
pub fn set_pretoken_cache(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether encoding uses the pre-token cache.
pub fn pretoken_cache() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A process-unique id naming one tokenizer's tables in every thread's caches.
pub(crate) fn new_owner_id() -> u64 {
    NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    /// `0` marks an empty slot (no key has length 0: empty pieces are never cached).
    key_len: u8,
    n_ids: u8,
    key: [u8; MAX_KEY],
    ids: [u32; MAX_IDS],
    tag: u64,
}

const EMPTY: Slot = Slot {
    key_len: 0,
    n_ids: 0,
    key: [0; MAX_KEY],
    ids: [0; MAX_IDS],
    tag: 0,
};

/// One tokenizer's table in one thread.
pub(crate) struct PieceCache {
    slots: Box<[Slot]>,
}

impl PieceCache {
    fn new() -> PieceCache {
        PieceCache {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
        }
    }

    /// `model.encode_piece(piece, out)`, from the table when the piece was seen before.
    #[inline]
    pub(crate) fn encode_piece(&mut self, model: &Bpe, piece: &[u8], out: &mut Vec<u32>) {
        if piece.is_empty() || piece.len() > MAX_KEY {
            model.encode_piece(piece, out);
            return;
        }
        let mut hasher = rustc_hash::FxHasher::default();
        hasher.write(piece);
        let hash = hasher.finish();
        // Fx mixes poorly into the low bits; take the index from the high ones.
        let slot = &mut self.slots[(hash >> (64 - SLOTS.trailing_zeros())) as usize];
        if slot.tag == hash
            && usize::from(slot.key_len) == piece.len()
            && &slot.key[..piece.len()] == piece
        {
            out.extend_from_slice(&slot.ids[..usize::from(slot.n_ids)]);
            return;
        }
        let start = out.len();
        model.encode_piece(piece, out);
        let ids = &out[start..];
        if ids.len() <= MAX_IDS {
            slot.tag = hash;
            slot.key_len = piece.len() as u8;
            slot.key[..piece.len()].copy_from_slice(piece);
            slot.n_ids = ids.len() as u8;
            slot.ids[..ids.len()].copy_from_slice(ids);
        }
    }
}

thread_local! {
    static CACHES: RefCell<Vec<(u64, PieceCache)>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's table for tokenizer `owner` (`None` when the cache is off or the
/// table is already in use further up this thread's stack).
pub(crate) fn with_cache<R>(owner: u64, f: impl FnOnce(Option<&mut PieceCache>) -> R) -> R {
    if !pretoken_cache() {
        return f(None);
    }
    CACHES.with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return f(None);
        };
        match caches.iter().position(|(o, _)| *o == owner) {
            Some(0) => {}
            Some(i) => caches[..=i].rotate_right(1),
            None => {
                if caches.len() == CACHES_PER_THREAD {
                    caches.pop();
                }
                caches.insert(0, (owner, PieceCache::new()));
            }
        }
        f(Some(&mut caches[0].1))
    })
}

/// Forget this thread's table for `owner` (called when a tokenizer is dropped, for the thread
/// that drops it; other threads' tables age out as they use other tokenizers).
pub(crate) fn forget(owner: u64) {
    let _ = CACHES.try_with(|caches| {
        if let Ok(mut caches) = caches.try_borrow_mut() {
            caches.retain(|(o, _)| *o != owner);
        }
    });
}
