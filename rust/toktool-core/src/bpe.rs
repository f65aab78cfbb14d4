//! The BPE model: turns one pre-token into ids with HF's merge-rank semantics.
//!
//! Semantics (HF `tokenizers` `BPE::merge_word`): split the piece into units (bytes for
//! byte-level files, chars otherwise), map each to its vocabulary id (with byte fallback and
//! unknown-token handling), then repeatedly merge the adjacent pair with the lowest merge rank,
//! leftmost first. Pieces that are themselves a token which BPE would produce unchanged skip the
//! merge loop; short pieces use an in-place quadratic loop, long ones a heap (`O(n log n)`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::parallel::maybe_par_map;
use crate::piece_cache::{Key, MAX_KEY};

/// `(left id, right id) -> (rank, merged id)`.
pub type MergeMap = FxHashMap<(u32, u32), (u32, u32)>;

/// The vocabulary's keys of 1 to [`MAX_KEY`] bytes in one open-addressing table with the key
/// bytes in the slot (as the pre-token cache keys them): a lookup reads one slot, where the
/// boxed-key map reads a control group, a bucket and the key's allocation. Longer keys stay in
/// `key_to_id` only.
#[derive(Debug, Default)]
pub struct ShortKeys {
    slots: Box<[ShortSlot]>,
}

#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct ShortSlot {
    words: [u64; 2],
    id: u32,
    /// `0`: empty.
    len: u8,
}

impl ShortKeys {
    fn new(key_to_id: &FxHashMap<Box<[u8]>, u32>) -> ShortKeys {
        let short: Vec<(Key, u32)> = key_to_id
            .iter()
            .filter(|(k, _)| (1..=MAX_KEY).contains(&k.len()))
            .map(|(k, &id)| (Key::new(k), id))
            .collect();
        // at most half full, so probe runs stay short for keys that are absent too
        let size = (short.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![ShortSlot::default(); size].into_boxed_slice();
        for (key, id) in short {
            let mut i = key.hash() as usize & (size - 1);
            while slots[i].len != 0 {
                i = (i + 1) & (size - 1);
            }
            slots[i] = ShortSlot {
                words: key.words,
                id,
                len: key.len,
            };
        }
        ShortKeys { slots }
    }

    /// The id of a key of 1 to [`MAX_KEY`] bytes.
    #[inline]
    fn get(&self, key: Key) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = key.hash() as usize & mask;
        loop {
            let slot = self.slots.get(i)?;
            if key.is_stored(slot.words, slot.len) {
                return Some(slot.id);
            }
            if slot.len == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Where the merge loops look pairs up: `(left, right) -> (rank, merged id)`.
pub trait Pairs {
    fn pair(&self, left: u32, right: u32) -> Option<(u32, u32)>;
}

impl Pairs for MergeMap {
    #[inline]
    fn pair(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.get(&(left, right)).copied()
    }
}

/// No merge, in [`DensePairs`].
const NO_MERGE: (u32, u32) = (u32::MAX, 0);

/// The merges of pairs of small ids (both below `side`) in a dense table, the rest in the map.
///
/// Byte-level files give the byte tokens and the earliest merges the smallest ids, so most
/// pairs a short piece's merge loop looks up (every pair of its initial units, and the first
/// merges' results) are one load from a table that stays in the CPU cache, where a hash lookup
/// reads a control group and a bucket of a table of several MB.
#[derive(Debug, Default)]
pub struct DensePairs {
    side: u32,
    table: Box<[(u32, u32)]>,
}

impl DensePairs {
    /// Ids below this side go into the table (`side`² entries of 8 bytes).
    pub const SIDE: u32 = 512;

    pub fn new(merges: &MergeMap, side: u32) -> DensePairs {
        let mut table = vec![NO_MERGE; (side as usize) * (side as usize)].into_boxed_slice();
        for (&(a, b), &value) in merges {
            if a < side && b < side {
                table[(a * side + b) as usize] = value;
            }
        }
        DensePairs { side, table }
    }
}

/// [`DensePairs`] in front of the merge map.
#[derive(Clone, Copy)]
pub struct PairIndex<'a> {
    dense: &'a DensePairs,
    map: &'a MergeMap,
}

impl Pairs for PairIndex<'_> {
    #[inline]
    fn pair(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        let side = self.dense.side;
        if left < side && right < side {
            let value = self.dense.table[(left * side + right) as usize];
            (value.0 != u32::MAX).then_some(value)
        } else {
            self.map.get(&(left, right)).copied()
        }
    }
}

/// Pieces with more units than this use the heap-based merge loop.
const HEAP_THRESHOLD: usize = 48;

/// Pieces with more units than this use the bucket-based merge loop (linear; below this size a
/// heap of a few hundred pairs is faster than a bucket per rank).
const BUCKET_THRESHOLD: usize = 2048;

/// Unknown-token handling of a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnkPolicy {
    pub id: Option<u32>,
    pub fuse: bool,
}

/// A loaded BPE model in "unit space" (raw bytes for byte-level files, UTF-8 otherwise).
#[derive(Debug)]
pub struct Bpe {
    /// Whether units are single bytes (byte-level files) or chars.
    pub byte_level: bool,
    /// Vocabulary keyed by unit-space bytes.
    pub key_to_id: FxHashMap<Box<[u8]>, u32>,
    /// `key_to_id` for single-byte keys, for byte-level files.
    pub byte_ids: [Option<u32>; 256],
    pub merges: MergeMap,
    pub unk: UnkPolicy,
    /// Ids of `<0xXX>` tokens when `byte_fallback` is on.
    pub byte_fallback: Option<[Option<u32>; 256]>,
    pub ignore_merges: bool,
    /// The byte-level spelling of each byte, used for byte fallback on byte-level files.
    pub byte_chars: [char; 256],
    /// `self_encoding[id]`: BPE of the token's own key gives exactly `[id]`.
    pub self_encoding: Vec<bool>,
    /// With `ignore_merges`, the tokens whose own merges do not rebuild them (not
    /// `self_encoding`): the only pieces whose ids the whole-piece lookup changes. Few: o200k's 2
    /// and cl100k's 5 special tokens, Llama 3's 844 (set by [`Bpe::compute_self_encoding`]).
    pub whole_only: FxHashMap<Box<[u8]>, u32>,
    /// `key_to_id` for one-char keys, for char units (filled by [`Bpe::build_indexes`]).
    pub char_ids: CharIds,
    /// The merges of small ids (filled by [`Bpe::build_indexes`]).
    pub dense_pairs: DensePairs,
    /// `key_to_id` for keys of up to 16 bytes (filled by [`Bpe::build_indexes`]).
    pub short_keys: ShortKeys,
}

/// The ids of one-char keys: a char's unit symbol without hashing and comparing byte slices.
#[derive(Debug)]
pub struct CharIds {
    /// `ascii[b]`: the id of the one-byte key `b`, `NO_ID` when there is none.
    ascii: Box<[u32; 128]>,
    other: FxHashMap<char, u32>,
}

const NO_ID: u32 = u32::MAX;

impl Default for CharIds {
    fn default() -> CharIds {
        CharIds {
            ascii: Box::new([NO_ID; 128]),
            other: FxHashMap::default(),
        }
    }
}

impl CharIds {
    /// The one-char keys of `key_to_id`.
    pub fn new(key_to_id: &FxHashMap<Box<[u8]>, u32>) -> CharIds {
        let mut ascii = Box::new([NO_ID; 128]);
        let mut other = FxHashMap::default();
        for (key, &id) in key_to_id {
            let Ok(s) = std::str::from_utf8(key) else {
                continue;
            };
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                match u8::try_from(c) {
                    Ok(b) if b < 0x80 => ascii[usize::from(b)] = id,
                    _ => {
                        other.insert(c, id);
                    }
                }
            }
        }
        CharIds { ascii, other }
    }

    /// `key_to_id[c's UTF-8]`.
    #[inline]
    pub fn get(&self, c: char) -> Option<u32> {
        match u8::try_from(c) {
            Ok(b) if b < 0x80 => Some(self.ascii[usize::from(b)]).filter(|&id| id != NO_ID),
            _ => self.other.get(&c).copied(),
        }
    }
}

impl Bpe {
    /// Build the lookup tables of encoding from `key_to_id` and `merges`: `char_ids`,
    /// `dense_pairs` (sized to the vocabulary, at most [`DensePairs::SIDE`]) and `short_keys`.
    /// Call once after loading, before encoding.
    pub fn build_indexes(&mut self) {
        self.char_ids = CharIds::new(&self.key_to_id);
        let ids = self
            .key_to_id
            .values()
            .max()
            .map_or(0, |&max| max.saturating_add(1));
        self.dense_pairs = DensePairs::new(&self.merges, ids.min(DensePairs::SIDE));
        self.short_keys = ShortKeys::new(&self.key_to_id);
    }

    /// The id of the token whose key is `piece`, if any (`key_to_id`, by the faster table
    /// where it can).
    #[inline]
    pub fn token_id(&self, piece: &[u8]) -> Option<u32> {
        if (1..=MAX_KEY).contains(&piece.len()) && !self.short_keys.slots.is_empty() {
            self.short_keys.get(Key::new(piece))
        } else {
            self.key_to_id.get(piece).copied()
        }
    }

    /// The merge lookup of the encode loops.
    #[inline]
    pub fn pairs(&self) -> PairIndex<'_> {
        PairIndex {
            dense: &self.dense_pairs,
            map: &self.merges,
        }
    }

    /// Fill `self_encoding` by running BPE on every token's key. Call once after loading.
    pub fn compute_self_encoding(&mut self, vocab_size: usize) {
        let keys: Vec<(&[u8], u32)> = self.key_to_id.iter().map(|(k, &v)| (&**k, v)).collect();
        let this = &*self;
        let flags: Vec<(u32, bool)> = maybe_par_map(&keys, |&(key, id)| {
            let mut out = Vec::new();
            this.merge_units(key, &mut out);
            (id, out.len() == 1 && out[0] == id)
        });
        if self.ignore_merges {
            // `maybe_par_map` keeps the order: `flags[i]` is `keys[i]`'s.
            self.whole_only = keys
                .iter()
                .zip(&flags)
                .filter(|(_, &(_, ok))| !ok)
                .map(|(&(key, id), _)| (Box::from(key), id))
                .collect();
        }
        let mut self_encoding = vec![false; vocab_size];
        for (id, ok) in flags {
            if let Some(slot) = self_encoding.get_mut(id as usize) {
                *slot = ok;
            }
        }
        self.self_encoding = self_encoding;
    }

    /// Whether [`Bpe::encode_piece`] of token `id`'s own key gives `[id]` alone: always with
    /// `ignore_merges`, else where its own merges rebuild it (`self_encoding`).
    #[inline]
    pub fn encodes_to_itself(&self, id: u32) -> bool {
        self.ignore_merges || self.self_encoding.get(id as usize).copied() == Some(true)
    }

    /// Encode one pre-token, appending its ids to `out`.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(id) = self.token_id(piece) {
            if self.encodes_to_itself(id) {
                out.push(id);
                return;
            }
        }
        self.merge_units(piece, out);
    }

    /// [`Bpe::encode_piece`] for a piece that is probably not one token (the pre-token cache's
    /// misses, whose whole tokens the cache was seeded with): the same ids without looking the
    /// whole piece up in the vocabulary. That lookup finds a token only to return what merging
    /// its key returns too (`self_encoding`), except for the few tokens of an `ignore_merges`
    /// file that merging does not rebuild (`whole_only`, a small table). On the cache's misses
    /// most pieces are no token, and the vocabulary lookup is a cache miss of its own in a
    /// table of several MB.
    #[inline]
    pub fn encode_unseen_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if !self.whole_only.is_empty() {
            if let Some(&id) = self.whole_only.get(piece) {
                out.push(id);
                return;
            }
        }
        self.merge_units(piece, out);
    }

    /// The full algorithm without the whole-piece shortcut.
    pub fn merge_units(&self, piece: &[u8], out: &mut Vec<u32>) {
        let start = out.len();
        self.initial_symbols(piece, out);
        let symbols = &mut out[start..];
        let merged_len = if symbols.len() > BUCKET_THRESHOLD {
            merge_with_buckets(&self.pairs(), symbols)
        } else if symbols.len() > HEAP_THRESHOLD {
            merge_with_heap(&self.pairs(), symbols)
        } else {
            merge_in_place(&self.pairs(), symbols)
        };
        out.truncate(start + merged_len);
    }

    /// The slow, readable reference of [`Bpe::encode_piece`]: no whole-piece shortcut, the
    /// merge loop of [`reference_merge`]. Only `ignore_merges` (a semantic option, not a
    /// speed-up) looks the whole piece up first.
    pub fn encode_piece_reference(&self, piece: &[u8], out: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(&id) = self.key_to_id.get(piece) {
                out.push(id);
                return;
            }
        }
        let start = out.len();
        self.initial_symbols(piece, out);
        let units = out.split_off(start);
        out.extend(reference_merge(&self.merges, units));
    }

    fn initial_symbols(&self, piece: &[u8], out: &mut Vec<u32>) {
        let mut pending_unk: Option<u32> = None;
        let push_known = |out: &mut Vec<u32>, pending: &mut Option<u32>, id: u32| {
            if let Some(unk) = pending.take() {
                out.push(unk);
            }
            out.push(id);
        };
        if self.byte_level {
            for &b in piece {
                if let Some(id) = self.byte_ids[b as usize] {
                    push_known(out, &mut pending_unk, id);
                } else {
                    let mut buf = [0u8; 4];
                    let spelled = self.byte_chars[b as usize].encode_utf8(&mut buf);
                    self.unknown_unit(spelled.as_bytes(), out, &mut pending_unk);
                }
            }
        } else {
            let text = std::str::from_utf8(piece).unwrap_or_default();
            let mut buf = [0u8; 4];
            for c in text.chars() {
                if let Some(id) = self.char_ids.get(c) {
                    push_known(out, &mut pending_unk, id);
                } else {
                    self.unknown_unit(c.encode_utf8(&mut buf).as_bytes(), out, &mut pending_unk);
                }
            }
        }
        if let Some(unk) = pending_unk {
            out.push(unk);
        }
    }

    /// A unit missing from the vocabulary: byte fallback, else the unknown token, else dropped
    /// (HF drops it silently when the file has no `unk_token`).
    fn unknown_unit(&self, spelled: &[u8], out: &mut Vec<u32>, pending_unk: &mut Option<u32>) {
        if let Some(table) = &self.byte_fallback {
            let ids: Option<Vec<u32>> = spelled.iter().map(|&b| table[b as usize]).collect();
            if let Some(ids) = ids {
                // HF keeps a pending unknown token waiting across byte-fallback units.
                out.extend(ids);
                return;
            }
        }
        if let Some(unk) = self.unk.id {
            match pending_unk {
                Some(_) if self.unk.fuse => {}
                Some(prev) => {
                    out.push(*prev);
                    *pending_unk = Some(unk);
                }
                None => *pending_unk = Some(unk),
            }
        }
    }
}

/// Merge loop for short pieces (at most [`HEAP_THRESHOLD`] symbols); returns the new length of
/// `symbols`. The rank of every adjacent pair is looked up once and kept in a stack array; a
/// merge at `i` only changes the pairs at `i - 1` and `i`, so only those are looked up again.
/// Each round takes the leftmost pair of lowest rank, as [`reference_merge`].
fn merge_in_place<P: Pairs>(merges: &P, symbols: &mut [u32]) -> usize {
    let mut len = symbols.len();
    if len < 2 {
        return len;
    }
    if len > HEAP_THRESHOLD {
        return merge_with_heap(merges, symbols);
    }
    let rank_of = |a: u32, b: u32| merges.pair(a, b).unwrap_or(NO_MERGE);
    // `pairs[i]`: (rank, merged id) of `symbols[i], symbols[i + 1]`.
    let mut pairs = [NO_MERGE; HEAP_THRESHOLD];
    for i in 0..len - 1 {
        pairs[i] = rank_of(symbols[i], symbols[i + 1]);
    }
    loop {
        let n_pairs = len - 1;
        let mut best = 0;
        for i in 1..n_pairs {
            if pairs[i].0 < pairs[best].0 {
                best = i;
            }
        }
        let (rank, new_id) = pairs[best];
        if rank == u32::MAX {
            break;
        }
        symbols[best] = new_id;
        symbols.copy_within(best + 2..len, best + 1);
        pairs.copy_within(best + 1..n_pairs, best);
        len -= 1;
        if len < 2 {
            break;
        }
        if best > 0 {
            pairs[best - 1] = rank_of(symbols[best - 1], symbols[best]);
        }
        if best + 1 < len {
            pairs[best] = rank_of(symbols[best], symbols[best + 1]);
        }
    }
    len
}

/// Heap-based merge loop (HF's `Word::merge_all`), `O(n log n)`; returns the new length.
///
/// Kept small for long pieces, whose working set outgrows the CPU caches: neighbours as `u32`
/// indices, a merged-away symbol marked in `symbols` itself, and heap entries as one `u64`
/// (rank, then position: the order of HF's heap), built at once (`O(n)`). An entry does not
/// carry the merged id: ranks are unique (a merge's index in the file), so an entry is current
/// exactly when the pair now at its position has its rank, and the map gives the id.
fn merge_with_heap<P: Pairs>(merges: &P, symbols: &mut [u32]) -> usize {
    let Ok(n32) = u32::try_from(symbols.len()) else {
        return merge_with_heap_wide(merges, symbols);
    };
    if n32 == NO_LINK {
        return merge_with_heap_wide(merges, symbols);
    }
    let initial: Vec<Reverse<u64>> = initial_pairs(merges, symbols)
        .map(|(rank, pos)| Reverse(entry(rank, pos)))
        .collect();
    let mut heap = BinaryHeap::from(initial);
    let mut links = Links::new(n32);
    while let Some(Reverse(top)) = heap.pop() {
        let (rank, pos) = entry_parts(top);
        links.merge_at(merges, symbols, rank, pos, |r, at| {
            heap.push(Reverse(entry(r, at)));
        });
    }
    compact(symbols)
}

/// A waiting pair as one `u64`, ordered as HF's heap orders them: rank, then position.
#[inline]
fn entry(rank: u32, pos: u32) -> u64 {
    u64::from(rank) << 32 | u64::from(pos)
}

/// `(rank, position)` of an [`entry`].
#[inline]
fn entry_parts(entry: u64) -> (u32, u32) {
    ((entry >> 32) as u32, entry as u32)
}

/// `(rank, position)` of every adjacent pair of `symbols` that has a merge, left to right.
fn initial_pairs<'a, P: Pairs>(
    merges: &'a P,
    symbols: &'a [u32],
) -> impl Iterator<Item = (u32, u32)> + 'a {
    symbols
        .windows(2)
        .zip(0u32..)
        .filter_map(|(pair, pos)| merges.pair(pair[0], pair[1]).map(|(rank, _)| (rank, pos)))
}

/// A symbol merged away into its left neighbour, in [`merge_with_heap`] and
/// [`merge_with_buckets`] (ids stay below 2^30).
const GONE: u32 = u32::MAX;
/// No neighbour.
const NO_LINK: u32 = u32::MAX;

/// The live neighbours of each position, for [`merge_with_heap`] and [`merge_with_buckets`].
struct Links {
    prev: Vec<u32>,
    next: Vec<u32>,
}

impl Links {
    /// `n` symbols in a row (`n < u32::MAX`).
    fn new(n: u32) -> Links {
        Links {
            prev: (0..n).map(|i| i.wrapping_sub(1)).collect(),
            next: (1..=n).map(|i| if i == n { NO_LINK } else { i }).collect(),
        }
    }

    /// If the pair at `pos` is still the pair of rank `rank`, merge it and hand the pairs it
    /// makes with its neighbours to `push(rank, position)`. A stale entry (its symbol merged
    /// away, or its pair changed) does nothing: ranks are unique (a merge's index in the file),
    /// so an entry is current exactly when the pair now at its position has its rank.
    #[inline]
    fn merge_at<P: Pairs>(
        &mut self,
        merges: &P,
        symbols: &mut [u32],
        rank: u32,
        pos: u32,
        mut push: impl FnMut(u32, u32),
    ) {
        let p = pos as usize;
        let right = self.next[p];
        if symbols[p] == GONE || right == NO_LINK {
            return;
        }
        let Some((current, new_id)) = merges.pair(symbols[p], symbols[right as usize]) else {
            return;
        };
        if current != rank {
            return;
        }
        symbols[p] = new_id;
        symbols[right as usize] = GONE;
        let after = self.next[right as usize];
        self.next[p] = after;
        if after != NO_LINK {
            self.prev[after as usize] = pos;
            if let Some((r, _)) = merges.pair(new_id, symbols[after as usize]) {
                push(r, pos);
            }
        }
        let before = self.prev[p];
        if before != NO_LINK {
            if let Some((r, _)) = merges.pair(symbols[before as usize], new_id) {
                push(r, before);
            }
        }
    }
}

/// Drop the merged-away symbols; returns the new length.
fn compact(symbols: &mut [u32]) -> usize {
    let mut len = 0;
    for i in 0..symbols.len() {
        if symbols[i] != GONE {
            symbols[len] = symbols[i];
            len += 1;
        }
    }
    len
}

/// The merge loop for long pieces: linear in the piece when merges build on earlier merges.
///
/// Each pair's position goes into the bucket of its rank; buckets are emptied in rank order
/// (a small heap over the ranks present), each left to right. A merge at rank `r` usually
/// creates pairs of ranks above `r` (a merge joins tokens that earlier merges made), which go
/// into later buckets. Files converted from rank tables (cl100k, o200k, Llama 3) list several
/// merges per token, so a token made by a later one of them can form a pair of rank `r` or
/// below: such a pair goes into a small heap that is drained first, entry by entry, whenever it
/// holds the lowest (rank, position). Either way this is HF's order (lowest rank, then
/// leftmost), without a heap entry per pair. A stale position (its symbol merged away, or its
/// pair changed) is skipped as in [`merge_with_heap`].
fn merge_with_buckets<P: Pairs>(merges: &P, symbols: &mut [u32]) -> usize {
    let Ok(n32) = u32::try_from(symbols.len()) else {
        return merge_with_heap_wide(merges, symbols);
    };
    if n32 == NO_LINK {
        return merge_with_heap_wide(merges, symbols);
    }
    let mut queue = RankBuckets::default();
    for (rank, pos) in initial_pairs(merges, symbols) {
        queue.push(rank, pos);
    }
    let mut links = Links::new(n32);
    while let Some((rank, positions)) = queue.pop() {
        let mut k = 0;
        loop {
            // the lowest (rank, position): the bucket's next, or an early pair made since
            let from_bucket = positions.get(k).map(|&pos| entry(rank, pos));
            let top = match (queue.early.peek(), from_bucket) {
                (Some(&Reverse(early)), Some(bucket)) if early < bucket => queue.early.pop(),
                (_, Some(bucket)) => {
                    k += 1;
                    Some(Reverse(bucket))
                }
                (Some(_), None) => queue.early.pop(),
                (None, None) => None,
            };
            let Some(Reverse(top)) = top else {
                break;
            };
            let (r, pos) = entry_parts(top);
            links.merge_at(merges, symbols, r, pos, |r2, at| queue.push(r2, at));
        }
        queue.recycle(positions);
    }
    compact(symbols)
}

/// The pairs waiting in [`merge_with_buckets`]: positions by rank for the ranks above the one
/// being emptied (a bucket per rank present, a heap of those ranks, emptied buckets kept for
/// reuse), and `early`, a heap of (rank, position) for pairs made at or below it.
#[derive(Default)]
struct RankBuckets {
    buckets: FxHashMap<u32, Vec<u32>>,
    ranks: BinaryHeap<Reverse<u32>>,
    spare: Vec<Vec<u32>>,
    /// The rank being emptied (`None` before the first).
    current: Option<u32>,
    early: BinaryHeap<Reverse<u64>>,
}

impl RankBuckets {
    #[inline]
    fn push(&mut self, rank: u32, pos: u32) {
        if self.current.is_some_and(|current| rank <= current) {
            self.early.push(Reverse(entry(rank, pos)));
            return;
        }
        let Self {
            buckets,
            ranks,
            spare,
            ..
        } = self;
        buckets
            .entry(rank)
            .or_insert_with(|| {
                ranks.push(Reverse(rank));
                spare.pop().unwrap_or_default()
            })
            .push(pos);
    }

    /// The lowest rank waiting and its positions, ascending; it becomes the current rank.
    fn pop(&mut self) -> Option<(u32, Vec<u32>)> {
        debug_assert!(self.early.is_empty());
        let Reverse(rank) = self.ranks.pop()?;
        let mut positions = self.buckets.remove(&rank).unwrap_or_default();
        // pushes made while emptying several lower ranks interleave; most arrive sorted
        if !positions.windows(2).all(|w| w[0] <= w[1]) {
            positions.sort_unstable();
        }
        self.current = Some(rank);
        Some((rank, positions))
    }

    fn recycle(&mut self, mut positions: Vec<u32>) {
        positions.clear();
        self.spare.push(positions);
    }
}

/// [`merge_with_heap`] for pieces of 2^32 units or more (`usize` positions, entries that carry
/// the merged id).
#[cold]
fn merge_with_heap_wide<P: Pairs>(merges: &P, symbols: &mut [u32]) -> usize {
    const NONE: usize = usize::MAX;
    let n = symbols.len();
    let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
    let mut next: Vec<usize> = (0..n)
        .map(|i| if i + 1 == n { NONE } else { i + 1 })
        .collect();
    let mut alive = vec![true; n];
    let mut heap: BinaryHeap<Reverse<(u32, usize, u32)>> = BinaryHeap::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        if let Some((rank, new_id)) = merges.pair(symbols[i], symbols[i + 1]) {
            heap.push(Reverse((rank, i, new_id)));
        }
    }
    while let Some(Reverse((rank, pos, new_id))) = heap.pop() {
        if !alive[pos] || next[pos] == NONE {
            continue;
        }
        let right = next[pos];
        // Stale entries are those whose pair no longer produces this merge.
        if merges.pair(symbols[pos], symbols[right]) != Some((rank, new_id)) {
            continue;
        }
        symbols[pos] = new_id;
        alive[right] = false;
        next[pos] = next[right];
        if next[pos] != NONE {
            prev[next[pos]] = pos;
        }
        if prev[pos] != NONE {
            let p = prev[pos];
            if let Some((r, id)) = merges.pair(symbols[p], symbols[pos]) {
                heap.push(Reverse((r, p, id)));
            }
        }
        if next[pos] != NONE {
            if let Some((r, id)) = merges.pair(symbols[pos], symbols[next[pos]]) {
                heap.push(Reverse((r, pos, id)));
            }
        }
    }
    let mut len = 0;
    for i in 0..n {
        if alive[i] {
            symbols[len] = symbols[i];
            len += 1;
        }
    }
    len
}

/// The readable reference: recompute every pair each round. Kept for tests and fuzzing.
pub fn reference_merge(merges: &MergeMap, mut symbols: Vec<u32>) -> Vec<u32> {
    loop {
        let best = symbols
            .windows(2)
            .enumerate()
            .filter_map(|(i, w)| merges.get(&(w[0], w[1])).map(|&(rank, id)| (rank, i, id)))
            .min();
        let Some((_, i, id)) = best else {
            return symbols;
        };
        symbols.splice(i..i + 2, [id]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ids one merge loop makes of `units` through `pairs`.
    fn merged<P: Pairs>(run: fn(&P, &mut [u32]) -> usize, pairs: &P, units: &[u32]) -> Vec<u32> {
        let mut symbols = units.to_vec();
        let len = run(pairs, &mut symbols);
        symbols.truncate(len);
        symbols
    }

    fn random_merges(n_units: u32, n_merges: usize, seed: u64) -> MergeMap {
        // Deterministic pseudo-random merges over a small alphabet, with chains.
        let mut state = seed | 1;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut merges = MergeMap::default();
        let mut next_id = n_units;
        for rank in 0..n_merges {
            let a = (rand() % u64::from(next_id)) as u32;
            let b = (rand() % u64::from(next_id)) as u32;
            // one merge in four makes a token an earlier merge made (as files converted from
            // rank tables list several merges per token)
            let again = next_id > n_units && rand() % 4 == 0;
            let made = n_units + (rand() % u64::from(next_id - n_units).max(1)) as u32;
            merges.entry((a, b)).or_insert_with(|| {
                if again {
                    (rank as u32, made)
                } else {
                    next_id += 1;
                    (rank as u32, next_id - 1)
                }
            });
        }
        merges
    }

    proptest! {
        #[test]
        fn fast_loops_match_reference(
            seed in any::<u64>(),
            units in prop::collection::vec(0u32..4, 0..200),
        ) {
            let merges = random_merges(4, 40, seed);
            let expected = reference_merge(&merges, units.clone());
            prop_assert_eq!(&merged(merge_in_place, &merges, &units), &expected);
            prop_assert_eq!(&merged(merge_with_heap, &merges, &units), &expected);
            prop_assert_eq!(&merged(merge_with_heap_wide, &merges, &units), &expected);
            prop_assert_eq!(&merged(merge_with_buckets, &merges, &units), &expected);
        }

        /// The dense table in front of the map answers as the map does, and the merge loops
        /// give the same ids through either.
        #[test]
        fn dense_pairs_answer_as_the_map(
            seed in any::<u64>(),
            side in 1u32..12,
            units in prop::collection::vec(0u32..4, 0..120),
        ) {
            let merges = random_merges(4, 40, seed);
            let dense = DensePairs::new(&merges, side);
            let index = PairIndex { dense: &dense, map: &merges };
            for a in 0..50 {
                for b in 0..50 {
                    prop_assert_eq!(index.pair(a, b), merges.pair(a, b));
                }
            }
            let expected = reference_merge(&merges, units.clone());
            prop_assert_eq!(&merged(merge_in_place, &index, &units), &expected);
            prop_assert_eq!(&merged(merge_with_heap, &index, &units), &expected);
        }

        /// The inline-key table finds every short key of the map and nothing else.
        #[test]
        fn short_keys_answer_as_the_map(
            keys in prop::collection::hash_set(
                prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b' ', 0xe3, 0xff]), 1..20),
                0..200),
            probes in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b' ', 0xe3, 0xff]), 0..20),
                0..100),
        ) {
            let map: FxHashMap<Box<[u8]>, u32> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.clone().into_boxed_slice(), i as u32))
                .collect();
            let mut bpe = Bpe {
                byte_level: true,
                key_to_id: map,
                byte_ids: [None; 256],
                merges: MergeMap::default(),
                unk: UnkPolicy::default(),
                byte_fallback: None,
                ignore_merges: false,
                byte_chars: ['\0'; 256],
                self_encoding: Vec::new(),
                whole_only: FxHashMap::default(),
                char_ids: CharIds::default(),
                dense_pairs: DensePairs::default(),
                short_keys: ShortKeys::default(),
            };
            bpe.build_indexes();
            for k in keys.iter().chain(probes.iter()) {
                prop_assert_eq!(bpe.token_id(k), bpe.key_to_id.get(k.as_slice()).copied());
            }
        }

        #[test]
        fn buckets_match_reference_on_long_runs(
            seed in any::<u64>(),
            unit in prop::collection::vec(0u32..3, 1..4),
            repeats in 20usize..400,
            tail in prop::collection::vec(0u32..3, 0..5),
        ) {
            // periodic input: the long pieces (runs, alternations) where the order matters most
            let merges = random_merges(3, 30, seed);
            let mut units: Vec<u32> = unit.iter().copied().cycle().take(unit.len() * repeats).collect();
            units.extend(tail);
            let expected = reference_merge(&merges, units.clone());
            prop_assert_eq!(&merged(merge_with_buckets, &merges, &units), &expected);
        }

        #[test]
        fn buckets_match_reference_with_shuffled_ranks(
            seed in any::<u64>(),
            units in prop::collection::vec(0u32..4, 0..200),
        ) {
            // ranks permuted: a merge may rank before the merges that make its parts
            let merges = random_merges(4, 40, seed);
            let mut entries: Vec<((u32, u32), (u32, u32))> = merges.into_iter().collect();
            entries.sort_unstable_by_key(|&(_, (rank, _))| rank);
            let ranks: Vec<u32> = entries.iter().map(|&(_, (rank, _))| rank).collect();
            entries.sort_unstable_by_key(|&(pair, _)| {
                (u64::from(pair.0) << 32 | u64::from(pair.1)).wrapping_mul(seed | 1).rotate_left(17)
            });
            let shuffled: MergeMap = entries
                .iter()
                .zip(ranks)
                .map(|(&(pair, (_, id)), rank)| (pair, (rank, id)))
                .collect();
            let expected = reference_merge(&shuffled, units.clone());
            prop_assert_eq!(&merged(merge_with_heap, &shuffled, &units), &expected);
            prop_assert_eq!(&merged(merge_with_buckets, &shuffled, &units), &expected);
        }
    }
}
