//! A pre-token -> ids cache for [`Bpe::encode_piece`]: code and prose repeat identifiers, words
//! and indentation, so most pre-tokens of a text have been merged before.
//!
//! Why it is exact: the BPE model is immutable after loading and `encode_piece` is a pure
//! function of the pre-token's bytes (normalization, added tokens, `Metaspace` prefixes and byte
//! fallback all happen before or inside it and depend on nothing else), so a hit returns what
//! the model would compute. Keys are compared in full (as words that determine every byte); the
//! hash only picks the slot.
//!
//! Shape: one direct-mapped table of fixed-size slots per (thread, tokenizer), so threads never
//! contend and memory is bounded (`SLOTS` × 32 bytes, at most `CACHES_PER_THREAD` tokenizers per
//! thread). Keys and ids live inline in the slot: no allocation per pre-token. Small slots pay:
//! a lookup touches one cache line at a random place in a table larger than the L2 cache, and
//! 32-byte slots hold twice the keys of 64-byte ones in the same memory.
//!
//! A new table starts as a copy of the tokenizer's seed ([`Tables`]): every whole token that
//! encodes to itself, so that a token's first occurrence is a hit too (4 MiB per tokenizer, built
//! on its first encode: 11 ms for o200k's 200k tokens).
//!
//! Pre-tokens longer than `MAX_KEY` bytes (up to `MAX_LONG_KEY`) or with more than `MAX_IDS` ids
//! go to a second, smaller direct-mapped table that keeps whole keys and ids on the heap
//! (`LONG_SLOTS` slots, allocated on first use; at most ~2.6 MB with every slot at its longest).
//! They are few (indentation runs, long identifiers, words of scripts without spaces: ~1% of the
//! pre-tokens of stdlib code) but each was a full merge of many units on every occurrence, about
//! a tenth of the encode time on code. A short piece with many ids is marked in its main slot
//! (`IN_LONG_TABLE`), so only it pays the second lookup.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::bpe::Bpe;

pub(crate) const MAX_KEY: usize = 16;
const MAX_IDS: usize = 3;
/// `Slot::n_ids` of a short piece with more than [`MAX_IDS`] ids: they are in the long table.
const IN_LONG_TABLE: u8 = u8::MAX;
/// Slots per table (a power of two): 4 MiB per (thread, tokenizer). Measured on 4 KB calls of
/// stdlib code (`examples/encode_chunks.rs`): 64-byte slots (keys up to 24 bytes, 8 ids) at 2^13
/// or 2^14 slots, 2^14 32-byte slots, and a two-way set-associative table were all slower; on
/// multilingual prose 32-byte slots are as fast as 64-byte ones. 2^17 rather than 2^15 since
/// the pre-tokenizer works by 64-byte windows: 2 MB of stdlib code has ~23k distinct pieces,
/// and at 2^15 slots 2.7% of its pieces still missed on every pass (conflicts), at 2^17 0.7%;
/// 4 KB calls 1.09-1.18x on code and 1.22-1.28x on prose (docs/BENCHMARKS.md).
const SLOTS: usize = 1 << 17;
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

/// A key of 1 to [`MAX_KEY`] bytes as two little-endian words and its length: the bytes, zero
/// padded to 16. For one length the words determine the bytes, so two keys are equal exactly
/// when their `Key`s are; comparing and hashing two words replaces a byte loop.
///
/// [`Key::new`] reads only the piece (a few loads chosen by its length); [`Key::padded`] builds
/// the same key from 16 bytes that start with the piece, with no branch on the length (a
/// mispredicted branch per pre-token in the hit path otherwise).
#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub(crate) words: [u64; 2],
    pub(crate) len: u8,
}

/// The low `k` bytes of a word set (`k` from 0 to 8), without a branch.
#[inline]
fn low_bytes(k: usize) -> u64 {
    let half = 4 * k as u32;
    !((u64::MAX << half) << half)
}

impl Key {
    #[inline]
    pub(crate) fn new(piece: &[u8]) -> Key {
        let n = piece.len();
        debug_assert!((1..=MAX_KEY).contains(&n));
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&piece[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let half = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&piece[at..at + 4]);
            u64::from(u32::from_le_bytes(w))
        };
        // Overlapping loads that cover every byte once shifted into place: the last load's
        // bytes that the first one holds are shifted out.
        let words = match n {
            1..=3 => [
                u64::from(piece[0])
                    | u64::from(piece[n / 2]) << (8 * (n / 2))
                    | u64::from(piece[n - 1]) << (8 * (n - 1)),
                0,
            ],
            4..=7 => [half(0) | (half(n - 4) >> (8 * (8 - n))) << 32, 0],
            8 => [word(0), 0],
            _ => [word(0), word(n - 8) >> (8 * (16 - n))],
        };
        Key {
            words,
            len: n as u8,
        }
    }

    /// The key of `padded[..n]` (`n` from 1 to [`MAX_KEY`]): masks instead of a branch on `n`.
    #[inline]
    pub(crate) fn padded(padded: &[u8; MAX_KEY], n: usize) -> Key {
        debug_assert!((1..=MAX_KEY).contains(&n));
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&padded[..8]);
        b.copy_from_slice(&padded[8..]);
        Key {
            words: [
                u64::from_le_bytes(a) & low_bytes(n.min(8)),
                u64::from_le_bytes(b) & low_bytes(n.saturating_sub(8)),
            ],
            len: n as u8,
        }
    }

    /// Whether a table slot that stores `words` and `len` holds this key (an empty slot, of
    /// length 0, never does).
    #[inline]
    pub(crate) fn is_stored(&self, words: [u64; 2], len: u8) -> bool {
        self.len == len && self.words == words
    }

    /// A well-mixed hash (a folded 64x64->128 multiply); the table index takes its low bits.
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        const K0: u64 = 0x243f_6a88_85a3_08d3;
        const K1: u64 = 0x1319_8a2e_0370_7344;
        let [a, b] = self.words;
        fold(a ^ K0, b ^ K1 ^ u64::from(self.len))
    }
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    /// [`Key::words`] of the key.
    words: [u64; 2],
    /// `0` marks an empty slot (no key has length 0: empty pieces are never cached).
    len: u8,
    n_ids: u8,
    ids: [u32; MAX_IDS],
}

const EMPTY: Slot = Slot {
    words: [0; 2],
    len: 0,
    n_ids: 0,
    ids: [0; MAX_IDS],
};

const _: () = assert!(std::mem::size_of::<Slot>() == 32);

/// One tokenizer's table in one thread.
pub(crate) struct PieceCache {
    slots: Box<[Slot]>,
    /// Pieces that do not fit a slot (longer keys, more ids).
    long: LongTable,
}

impl PieceCache {
    fn new(seed: &[Slot]) -> PieceCache {
        PieceCache {
            slots: seed.into(),
            long: LongTable::default(),
        }
    }

    /// `model.encode_piece(piece, out)`, from the table when the piece was seen before.
    ///
    /// `squeeze`: the UTF-8 of a multi-byte char (`▁`) that pieces of this model often repeat,
    /// for models whose pieces are always UTF-8; a piece longer than [`MAX_KEY`] bytes is keyed
    /// with that char written as the byte `0xFF` when that makes it fit (see [`squeezed`]).
    /// The hit path is inlined into the caller's loop; the rest is out of line.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn encode_piece(
        &mut self,
        model: &Bpe,
        piece: &[u8],
        squeeze: Option<&[u8]>,
        out: &mut Vec<u32>,
    ) {
        if piece.is_empty() || piece.len() > MAX_KEY {
            return self.encode_uncached(model, piece, squeeze, out);
        }
        self.encode_keyed(model, piece, Key::new(piece), out);
    }

    /// [`PieceCache::encode_piece`] of `piece`, which may be a slice of `text`: where it is and
    /// `text` has 16 bytes from its start, the key is built from them ([`key_within`]) with no
    /// branch on the piece's length.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn encode_piece_in(
        &mut self,
        model: &Bpe,
        text: &[u8],
        piece: &[u8],
        squeeze: Option<&[u8]>,
        out: &mut Vec<u32>,
    ) {
        if piece.is_empty() || piece.len() > MAX_KEY {
            return self.encode_uncached(model, piece, squeeze, out);
        }
        self.encode_keyed(model, piece, key_within(text, piece), out);
    }

    /// The hit path, else the miss path, of `piece` under `key` (its own key, or its squeezed
    /// one).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn encode_keyed(&mut self, model: &Bpe, piece: &[u8], key: Key, out: &mut Vec<u32>) {
        let index = key.hash() as usize & (SLOTS - 1);
        if !self.hit(key, index, out) {
            self.encode_miss(model, piece, key, index, out);
        }
    }

    /// `model.encode_piece` of `raw` (1 to [`MAX_KEY`] bytes) with every space written as
    /// `space` (the file's `▁`), keyed by `raw` itself: the text need not be rewritten for a
    /// hit, and the raw key is shorter. One table serves both kinds of key exactly: a raw key
    /// and a key of rewritten bytes (which holds no space) are equal only for a piece without
    /// a space, whose rewriting is itself.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn encode_spaced(
        &mut self,
        model: &Bpe,
        raw: &[u8],
        space: &[u8],
        out: &mut Vec<u32>,
    ) {
        let key = Key::new(raw);
        let index = key.hash() as usize & (SLOTS - 1);
        if !self.hit(key, index, out) {
            self.encode_spaced_miss(model, raw, space, key, index, out);
        }
    }

    #[inline(never)]
    fn encode_spaced_miss(
        &mut self,
        model: &Bpe,
        raw: &[u8],
        space: &[u8],
        key: Key,
        index: usize,
        out: &mut Vec<u32>,
    ) {
        let mut buf = [0u8; MAX_KEY * 4];
        let len = write_spaced(raw, space, &mut buf);
        self.encode_miss(model, &buf[..len], key, index, out);
    }

    /// Append the ids kept in slot `index` if it holds `key`; whether it did. All
    /// [`MAX_IDS`] ids are copied and the length then set to the slot's count, so the number of
    /// ids (1 to 3, unpredictable) is no branch and no `memcpy` call.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn hit(&self, key: Key, index: usize, out: &mut Vec<u32>) -> bool {
        let slot = &self.slots[index];
        if !key.is_stored(slot.words, slot.len) {
            return false;
        }
        let n = usize::from(slot.n_ids);
        if n > MAX_IDS {
            return false;
        }
        let len = out.len();
        out.extend_from_slice(&slot.ids);
        out.truncate(len + n);
        true
    }

    /// A piece that is not in the table: merge it and keep its ids in its slot (under `key`,
    /// which is `piece`'s or, from [`PieceCache::encode_spaced`], that of its raw text).
    #[inline(never)]
    fn encode_miss(
        &mut self,
        model: &Bpe,
        piece: &[u8],
        key: Key,
        index: usize,
        out: &mut Vec<u32>,
    ) {
        let slot = &mut self.slots[index];
        if key.is_stored(slot.words, slot.len) {
            // The piece has more ids than a slot holds: they are in the long table.
            self.long.encode_piece(model, piece, out);
            return;
        }
        let start = out.len();
        model.encode_unseen_piece(piece, out);
        let ids = &out[start..];
        slot.words = key.words;
        slot.len = key.len;
        if ids.len() <= MAX_IDS {
            slot.n_ids = ids.len() as u8;
            slot.ids[..ids.len()].copy_from_slice(ids);
        } else {
            slot.n_ids = IN_LONG_TABLE;
            self.long.insert(piece, ids);
        }
    }

    /// A piece too long for a key (or empty): keyed squeezed when it fits, else merged.
    #[cold]
    #[inline(never)]
    fn encode_uncached(
        &mut self,
        model: &Bpe,
        piece: &[u8],
        squeeze: Option<&[u8]>,
        out: &mut Vec<u32>,
    ) {
        let key = if piece.is_empty() {
            None
        } else {
            squeeze.and_then(|s| squeezed(piece, s))
        };
        let Some(key) = key else {
            self.long.encode_piece(model, piece, out);
            return;
        };
        self.encode_keyed(model, piece, key, out);
    }
}

/// One tokenizer's handle on the per-thread caches: the process-unique id that names its tables
/// and the table each of them starts from ([`Tables::seed`]).
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) owner: u64,
    seed: OnceLock<Box<[Slot]>>,
    /// The file's space char (`▁`, its UTF-8) when the tokenizer looks parts up by their raw text
    /// ([`PieceCache::encode_spaced`]): the seed then keys tokens by their raw text too.
    raw_space: Option<([u8; 4], usize)>,
}

impl Tables {
    pub(crate) fn new(raw_space: Option<&[u8]>) -> Tables {
        Tables {
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
            seed: OnceLock::new(),
            raw_space: raw_space.map(|space| {
                let mut buf = [0u8; 4];
                buf[..space.len()].copy_from_slice(space);
                (buf, space.len())
            }),
        }
    }

    /// The table every new cache of this tokenizer starts from, built on first use: each token
    /// whose key fits a slot and that `encode_piece` maps to itself alone
    /// ([`Bpe::encodes_to_itself`]). A piece that is a whole token then hits on its first occurrence
    /// instead of taking the miss path (a vocabulary lookup and a store). Where two tokens
    /// share a slot the lower id, usually the more frequent token, keeps it. Exact for the
    /// reason the cache is: a seeded slot holds what `encode_piece` returns for its key.
    ///
    /// With a raw space char, a token is keyed by its raw text (every space char a space), whose
    /// rewriting is the token again, so the slot holds what `encode_spaced` computes; a token
    /// with a space of its own (which rewriting would change) is left out.
    fn seed(&self, model: &Bpe) -> &[Slot] {
        self.seed.get_or_init(|| {
            let space = self.raw_space.as_ref().map(|(buf, len)| &buf[..*len]);
            let mut tokens: Vec<(Cow<'_, [u8]>, u32)> = model
                .key_to_id
                .iter()
                .filter_map(|(key, &id)| {
                    let key = match space {
                        Some(_) if key.contains(&b' ') => return None,
                        Some(space) => raw_text(key, space),
                        None => Cow::Borrowed(&**key),
                    };
                    ((1..=MAX_KEY).contains(&key.len()) && model.encodes_to_itself(id))
                        .then_some((key, id))
                })
                .collect();
            tokens.sort_unstable_by_key(|&(_, id)| std::cmp::Reverse(id));
            let mut slots = vec![EMPTY; SLOTS].into_boxed_slice();
            for (piece, id) in tokens {
                let key = Key::new(&piece);
                slots[key.hash() as usize & (SLOTS - 1)] = Slot {
                    words: key.words,
                    len: key.len,
                    n_ids: 1,
                    ids: [id, 0, 0],
                };
            }
            slots
        })
    }
}

/// Write `raw` into `buf` with every space written as `space` (a char's UTF-8, at most 4
/// bytes); the length written. `buf` holds `raw.len() * space.len()` bytes or more.
pub(crate) fn write_spaced(raw: &[u8], space: &[u8], buf: &mut [u8]) -> usize {
    let mut len = 0;
    for &b in raw {
        if b == b' ' {
            buf[len..len + space.len()].copy_from_slice(space);
            len += space.len();
        } else {
            buf[len] = b;
            len += 1;
        }
    }
    len
}

/// `key` with every `space` (a char's UTF-8) written as a space: the inverse of
/// [`write_spaced`] on keys without a space of their own.
fn raw_text<'a>(key: &'a [u8], space: &[u8]) -> Cow<'a, [u8]> {
    if memchr::memmem::find(key, space).is_none() {
        return Cow::Borrowed(key);
    }
    let mut raw = Vec::with_capacity(key.len());
    let mut i = 0;
    while i < key.len() {
        if spells_at(key, i, space) {
            raw.push(b' ');
            i += space.len();
        } else {
            raw.push(key[i]);
            i += 1;
        }
    }
    Cow::Owned(raw)
}

/// Slots of the table for pieces that do not fit a [`Slot`] (a power of two).
const LONG_SLOTS: usize = 1 << 12;
/// Longest piece the long table keeps, in bytes (longer ones are rare, and merging them costs
/// far more than finding them).
const MAX_LONG_KEY: usize = 128;

/// A direct-mapped table for pieces with keys over [`MAX_KEY`] bytes or more than [`MAX_IDS`]
/// ids: indentation runs, long identifiers, words of scripts without spaces. They are few but
/// each costs a full merge, so keeping them pays even with a heap-allocated key and ids. The
/// whole key is stored and compared; the hash only picks the slot. Allocated on first use.
#[derive(Default)]
struct LongTable {
    slots: Vec<LongSlot>,
}

#[derive(Default)]
struct LongSlot {
    hash: u64,
    /// Empty for an empty slot (empty pieces are never cached).
    key: Box<[u8]>,
    ids: Box<[u32]>,
}

impl LongTable {
    /// `model.encode_piece(piece, out)`, from the table when it holds the piece (else merged
    /// and kept).
    #[inline(never)]
    fn encode_piece(&mut self, model: &Bpe, piece: &[u8], out: &mut Vec<u32>) {
        if piece.is_empty() || piece.len() > MAX_LONG_KEY {
            return model.encode_piece(piece, out);
        }
        let hash = long_hash(piece);
        if let Some(slot) = self.slots.get(hash as usize & (LONG_SLOTS - 1)) {
            if slot.hash == hash && *slot.key == *piece {
                out.extend_from_slice(&slot.ids);
                return;
            }
        }
        let start = out.len();
        model.encode_piece(piece, out);
        self.insert_hashed(hash, piece, &out[start..]);
    }

    /// Keep `ids` as the encoding of `piece` (if it is not too long).
    fn insert(&mut self, piece: &[u8], ids: &[u32]) {
        if piece.len() <= MAX_LONG_KEY {
            self.insert_hashed(long_hash(piece), piece, ids);
        }
    }

    fn insert_hashed(&mut self, hash: u64, piece: &[u8], ids: &[u32]) {
        if self.slots.is_empty() {
            self.slots.resize_with(LONG_SLOTS, LongSlot::default);
        }
        let slot = &mut self.slots[hash as usize & (LONG_SLOTS - 1)];
        slot.hash = hash;
        slot.key = piece.into();
        slot.ids = ids.into();
    }
}

/// The [`Key`] of `piece` (1 to [`MAX_KEY`] bytes), which may be a slice of `text`: where its
/// address lies in `text` and 16 bytes of `text` start there, [`Key::padded`] of those (no
/// branch on the length, and the check is almost always true); else [`Key::new`]. The address
/// can only lie in `text` when the piece is a slice of it, as live buffers do not overlap.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn key_within(text: &[u8], piece: &[u8]) -> Key {
    let at = (piece.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    match text.get(at..).and_then(<[u8]>::first_chunk::<MAX_KEY>) {
        Some(window) => {
            debug_assert_eq!(&window[..piece.len()], piece);
            Key::padded(window, piece.len())
        }
        None => Key::new(piece),
    }
}

/// A 64x64->128 multiply folded to 64 bits: the mixing step of both tables' hashes.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// A well-mixed 64-bit hash of a byte string of any length (folded multiplies over 8-byte
/// words; the length seeds it).
#[inline]
fn long_hash(piece: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = piece.len() as u64 ^ 0x2d35_8dcc_aa6c_78a5;
    let mut words = piece.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = fold(h ^ u64::from_le_bytes(b), K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(b), K ^ 0xff);
    }
    h
}

/// Whether `piece[at..]` starts with `c` (a char's UTF-8, at most 4 bytes), compared in line:
/// `starts_with` calls `memcmp` for a length only known at run time, and the squeezing here and
/// the cuts (`crate::cuts`) test `▁` once per byte of every indentation run.
#[inline]
pub(crate) fn spells_at(piece: &[u8], at: usize, c: &[u8]) -> bool {
    piece
        .get(at..at + c.len())
        .is_some_and(|s| s.iter().zip(c).all(|(a, b)| a == b))
}

/// The key of a piece longer than [`MAX_KEY`] bytes: the piece with every `squeeze` written as
/// `0xFF`, if that is at most [`MAX_KEY`] bytes. Keys stay unique per table: `0xFF` is no byte of
/// UTF-8, so squeezing is one-to-one on UTF-8 pieces, and a squeezed key (it has a `0xFF`, as
/// squeezing shortened it) never equals the bytes of a short piece (UTF-8).
#[inline]
fn squeezed(piece: &[u8], squeeze: &[u8]) -> Option<Key> {
    let mut buf = [0u8; MAX_KEY];
    let mut len = 0;
    let mut i = 0;
    while i < piece.len() {
        let (byte, step) = if piece[i] == squeeze[0] && spells_at(piece, i, squeeze) {
            (0xFF, squeeze.len())
        } else {
            (piece[i], 1)
        };
        *buf.get_mut(len)? = byte;
        len += 1;
        i += step;
    }
    Some(Key::new(&buf[..len]))
}

thread_local! {
    static CACHES: RefCell<Vec<(u64, PieceCache)>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's table for the tokenizer of `tables`, whose BPE model is `model`
/// (`None` when the cache is off or the table is already in use further up this thread's stack).
pub(crate) fn with_cache<R>(
    tables: &Tables,
    model: &Bpe,
    f: impl FnOnce(Option<&mut PieceCache>) -> R,
) -> R {
    if !pretoken_cache() {
        return f(None);
    }
    CACHES.with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return f(None);
        };
        match caches.iter().position(|(o, _)| *o == tables.owner) {
            Some(0) => {}
            Some(i) => caches[..=i].rotate_right(1),
            None => {
                if caches.len() == CACHES_PER_THREAD {
                    caches.pop();
                }
                caches.insert(0, (tables.owner, PieceCache::new(tables.seed(model))));
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same_key(a: &[u8], b: &[u8]) -> bool {
        let (ka, kb) = (Key::new(a), Key::new(b));
        ka.len == kb.len && ka.words == kb.words
    }

    proptest! {
        /// Keys of the same length are equal exactly when the bytes are (a small alphabet makes
        /// near-equal pairs common).
        #[test]
        fn key_words_determine_the_bytes(
            a in prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', 0xff]), 1..=MAX_KEY),
            flips in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        ) {
            let mut b = a.clone();
            for f in &flips {
                let i = f.index(b.len());
                b[i] = b[i].wrapping_add(1);
            }
            prop_assert_eq!(same_key(&a, &b), a == b);
            prop_assert_eq!(Key::new(&a).hash(), Key::new(&a.clone()).hash());
        }
    }

    proptest! {
        /// The branch-free key of a piece read from a longer buffer is the piece's own key,
        /// whatever bytes follow it; a piece of another buffer is keyed by its own bytes.
        #[test]
        fn padded_keys_are_the_pieces_keys(
            buffer in prop::collection::vec(any::<u8>(), 1..48),
            at in any::<prop::sample::Index>(),
            len in 1..=MAX_KEY,
        ) {
            let at = at.index(buffer.len());
            let piece = &buffer[at..(at + len).min(buffer.len())];
            let want = Key::new(piece);
            let got = key_within(&buffer, piece);
            prop_assert_eq!((got.words, got.len), (want.words, want.len));
            if let Some(window) = buffer[at..].first_chunk::<MAX_KEY>() {
                let padded = Key::padded(window, piece.len());
                prop_assert_eq!((padded.words, padded.len), (want.words, want.len));
            }
            let copy = piece.to_vec();
            let elsewhere = key_within(&buffer, &copy);
            prop_assert_eq!((elsewhere.words, elsewhere.len), (want.words, want.len));
        }
    }

    /// The key is the piece's bytes, zero padded to 16, as two little-endian words.
    #[test]
    fn keys_are_the_zero_padded_bytes() {
        for n in 1..=MAX_KEY {
            let piece: Vec<u8> = (1..=n as u8).collect();
            let mut padded = [0u8; 16];
            padded[..n].copy_from_slice(&piece);
            let key = Key::new(&piece);
            let want = [
                u64::from_le_bytes(padded[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(padded[8..].try_into().expect("8 bytes")),
            ];
            assert_eq!((key.words, usize::from(key.len)), (want, n), "length {n}");
        }
    }

    proptest! {
        /// Squeezed keys are one-to-one on UTF-8 pieces longer than a key, and never equal the
        /// key of a short piece.
        #[test]
        fn squeezed_keys_are_unique(
            a in prop::collection::vec(prop::sample::select(vec!["▁", "a", "é", "\u{ff}", "▁▁"]), 1..20),
            b in prop::collection::vec(prop::sample::select(vec!["▁", "a", "é", "\u{ff}", "▁▁"]), 1..20),
        ) {
            let (a, b) = (a.concat(), b.concat());
            let squeeze = "▁".as_bytes();
            let key_of = |p: &str| {
                if p.len() <= MAX_KEY {
                    Some(Key::new(p.as_bytes()))
                } else {
                    squeezed(p.as_bytes(), squeeze)
                }
            };
            if let (Some(ka), Some(kb)) = (key_of(&a), key_of(&b)) {
                prop_assert_eq!(ka.len == kb.len && ka.words == kb.words, a == b);
            }
        }
    }

    #[test]
    fn squeezing_replaces_only_the_squeeze_char() {
        // U+2011 shares its lead byte with `▁` (U+2581): only the whole char is squeezed.
        let squeeze = "▁".as_bytes();
        let piece = "▁▁▁▁▁\u{2011}x";
        assert!(piece.len() > MAX_KEY);
        let mut expected = vec![0xFF; 5];
        expected.extend_from_slice("\u{2011}x".as_bytes());
        let key = squeezed(piece.as_bytes(), squeeze).expect("fits once squeezed");
        let want = Key::new(&expected);
        assert!(key.len == want.len && key.words == want.words);
    }

    #[test]
    fn squeezing_makes_indented_words_fit() {
        let piece = "▁▁▁▁▁▁▁▁return";
        assert!(piece.len() > MAX_KEY);
        assert!(squeezed(piece.as_bytes(), "▁".as_bytes()).is_some());
        assert!(squeezed("▁".repeat(17).as_bytes(), "▁".as_bytes()).is_none());
    }

    /// A byte-level tokenizer whose token `abc` is not its own encoding without
    /// `ignore_merges`: `b c` merges first, and `a bc` is no merge.
    fn abc_tokenizer(ignore_merges: bool) -> crate::Tokenizer {
        byte_level_tokenizer(&[("b", "c"), ("a", "b"), ("ab", "c")], ignore_merges)
    }

    /// A byte-level tokenizer with ids 0-255 for the bytes, then one per merge in order.
    fn byte_level_tokenizer(merges: &[(&str, &str)], ignore_merges: bool) -> crate::Tokenizer {
        let mut vocab = serde_json::Map::new();
        for (i, c) in crate::byte_level::byte_to_char_table().iter().enumerate() {
            vocab.insert(c.to_string(), serde_json::Value::from(i));
        }
        for &(a, b) in merges {
            let n = vocab.len();
            vocab.insert(format!("{a}{b}"), serde_json::Value::from(n));
        }
        let json = serde_json::json!({
            "version": "1.0", "added_tokens": [], "normalizer": null,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                "trim_offsets": true, "use_regex": true},
            "post_processor": null, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab, "ignore_merges": ignore_merges,
                "merges": merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>()}
        });
        crate::Tokenizer::from_json_str(&json.to_string()).expect("valid tokenizer")
    }

    fn seeded(tok: &crate::Tokenizer, piece: &[u8]) -> Option<u32> {
        let key = Key::new(piece);
        let slot = &tok.cache.seed(tok.bpe())[key.hash() as usize & (SLOTS - 1)];
        key.is_stored(slot.words, slot.len).then(|| {
            assert_eq!(slot.n_ids, 1);
            slot.ids[0]
        })
    }

    #[test]
    fn the_seed_holds_only_tokens_that_encode_to_themselves() {
        let bc = 256;
        let abc = 258;
        let merged = abc_tokenizer(false);
        assert_eq!(seeded(&merged, b"bc"), Some(bc));
        assert_eq!(seeded(&merged, b"a"), Some(u32::from(b'a')));
        assert_eq!(seeded(&merged, b"abc"), None);
        let whole = abc_tokenizer(true);
        assert_eq!(seeded(&whole, b"abc"), Some(abc));
        // First occurrences, read from a fresh seeded table, and repeats agree with the
        // reference (the cache is on unless a test in another process turned it off).
        for (tok, want) in [(&merged, vec![u32::from(b'a'), bc]), (&whole, vec![abc])] {
            for _ in 0..2 {
                assert_eq!(tok.encode("abc").expect("encodes"), want);
                assert_eq!(tok.encode_reference("abc").expect("encodes"), want);
            }
        }
    }

    #[test]
    fn misses_skip_the_whole_piece_lookup_only_where_that_changes_nothing() {
        let (a, bc, abc) = (u32::from(b'a'), 256, 258);
        let merged = abc_tokenizer(false);
        let whole = abc_tokenizer(true);
        assert_eq!(whole.bpe().whole_only.len(), 1);
        for (tok, want) in [(&merged, vec![a, bc]), (&whole, vec![abc])] {
            let mut out = Vec::new();
            tok.bpe().encode_unseen_piece(b"abc", &mut out);
            assert_eq!(out, want);
        }
        // Where every token's merges rebuild it, `ignore_merges` changes nothing.
        let rebuilt = byte_level_tokenizer(&[("a", "b"), ("ab", "c")], true);
        assert!(rebuilt.bpe().whole_only.is_empty());
        let mut out = Vec::new();
        rebuilt.bpe().encode_unseen_piece(b"abc", &mut out);
        assert_eq!(out, vec![257]);
    }

    #[test]
    fn every_single_byte_change_changes_the_key() {
        for len in 1..=MAX_KEY {
            let a: Vec<u8> = (0..len as u8).collect();
            for i in 0..len {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!same_key(&a, &b), "len {len}, byte {i}");
            }
            assert!(same_key(&a, &a.clone()));
        }
    }
}
