//! Dynamic batch BPE merging (Feher, Vulić, Minixhofer: "Retrofitting (Large) Language Models
//! with Dynamic Tokenization", ACL 2025).
//!
//! A batch that the model's own tokenizer has already tokenized is shortened by learning BPE
//! merges on the batch itself: count the adjacent token pairs that lie inside one *unit* (a
//! pre-token, word or sentence; see [`crate::boundary`]) over the whole batch, merge the most
//! frequent pair everywhere, and repeat until the merge budget is spent or no pair is left.
//!
//! # Semantics (identical to the reference loop, which recounts after every merge)
//!
//! - A pair is two adjacent tokens of the same unit; tokens whose unit is [`NO_UNIT`] (special
//!   tokens) are never part of a pair. Counts include overlapping occurrences: `a a a` holds the
//!   pair `(a, a)` twice, exactly as `Counter(zip(seq, seq[1:]))` counts it.
//! - The chosen pair has the highest count; ties go to the pair whose first occurrence comes
//!   first in the current batch (sequences in order, positions left to right). This is what
//!   Python's `max(counter, key=counter.get)` returns, since a `Counter` built by scanning the
//!   batch keeps the order of first occurrence.
//! - A merge replaces the occurrences of the pair in each sequence left to right without
//!   overlap (`a a a` becomes `aa a`).
//! - The k-th merge (0-based) creates the new id `first_new_id + k`. Tokens are identified by id:
//!   two different merges whose parts spell the same original ids are two different new tokens
//!   (the paper's code identifies tokens by their string instead; the two agree unless such
//!   coincidences occur).
//!
//! # Algorithm
//!
//! All sequences are laid end to end; every token is a node that keeps its original position,
//! with links to its neighbours inside its unit. A pair table holds, for every pair, its exact
//! count and the ascending list of positions where it was seen (linked lists in one arena, so
//! no allocation per pair); a max-heap orders pairs by
//! (count, earliest position). Counts only ever drop for an existing pair (a merge creates pairs
//! that contain the new id only), and an occurrence that is gone never comes back, so the heap
//! can be lazy: a popped entry whose (count, first live position) is out of date is pushed back
//! with its current values. Each merge touches only the occurrences of the chosen pair and
//! their two neighbours, so the whole run costs O(N log N) for N tokens instead of
//! O(merges × N).

use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

/// The unit of tokens that are never merged (special tokens).
pub const NO_UNIT: u32 = u32::MAX;

/// "No link" and "removed node" markers.
const NONE: u32 = u32::MAX;
const DEAD: u32 = u32::MAX;

/// When to stop merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeOptions {
    /// The merge budget (`usize::MAX`: merge until no pair is left, i.e. saturation).
    pub max_merges: usize,
    /// Stop once the most frequent pair occurs fewer times than this (1 never stops early).
    pub min_count: u32,
    /// Only merge pairs whose merged token spells whole UTF-8 characters (its bytes decode):
    /// byte-level vocabularies split CJK characters, and a merged token that ends inside one
    /// is hard for a model to read. Needs the tokens' bytes ([`merge_units_spelled`]).
    pub whole_chars: bool,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            max_merges: usize::MAX,
            min_count: 1,
            whole_chars: false,
        }
    }
}

/// The bytes of each original id, for [`MergeOptions::whole_chars`].
pub type Spell<'a> = &'a (dyn Fn(u32) -> Vec<u8> + Sync);

/// The bytes of original and new tokens during a run with [`MergeOptions::whole_chars`].
struct Speller<'a> {
    original: Spell<'a>,
    first_new_id: u32,
    /// The bytes of new token `first_new_id + k`.
    made: Vec<Vec<u8>>,
}

impl Speller<'_> {
    fn bytes(&self, id: u32) -> std::borrow::Cow<'_, [u8]> {
        match id.checked_sub(self.first_new_id) {
            Some(k) => std::borrow::Cow::Borrowed(&self.made[k as usize]),
            None => std::borrow::Cow::Owned((self.original)(id)),
        }
    }

    fn joined(&self, left: u32, right: u32) -> Vec<u8> {
        let mut bytes = self.bytes(left).into_owned();
        bytes.extend_from_slice(&self.bytes(right));
        bytes
    }

    /// Whether `left` then `right` spell whole characters.
    fn whole(&self, left: u32, right: u32) -> bool {
        std::str::from_utf8(&self.joined(left, right)).is_ok()
    }
}

/// One learned merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    /// Left part: an original id or an earlier new id.
    pub left: u32,
    /// Right part.
    pub right: u32,
    /// How often the pair occurred (overlapping occurrences included) when it was chosen.
    pub count: u32,
}

/// The merged batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergedBatch {
    /// The new sequences.
    pub ids: Vec<Vec<u32>>,
    /// `starts[s][j]`: position in the original sequence `s` of the first original token of
    /// merged token `j` (merged token `j` covers `starts[s][j]..starts[s][j + 1]`).
    pub starts: Vec<Vec<u32>>,
    /// The merges, in the order they were made; merge `k` created id `first_new_id + k`.
    pub merges: Vec<Merge>,
    /// The id of the first new token.
    pub first_new_id: u32,
}

impl MergedBatch {
    /// For each new token, the original ids it stands for.
    pub fn new_tokens(&self) -> Vec<Vec<u32>> {
        let mut out: Vec<Vec<u32>> = Vec::with_capacity(self.merges.len());
        for m in &self.merges {
            let mut parts = Vec::new();
            for id in [m.left, m.right] {
                if id >= self.first_new_id {
                    parts.extend_from_slice(&out[(id - self.first_new_id) as usize]);
                } else {
                    parts.push(id);
                }
            }
            out.push(parts);
        }
        out
    }

    /// [`Self::new_tokens`] laid end to end, with the length of each.
    pub fn new_tokens_flat(&self) -> (Vec<u32>, Vec<u32>) {
        let mut flat: Vec<u32> = Vec::new();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(self.merges.len());
        for m in &self.merges {
            let start = flat.len();
            for id in [m.left, m.right] {
                if id >= self.first_new_id {
                    let (s, e) = spans[(id - self.first_new_id) as usize];
                    flat.extend_from_within(s..e);
                } else {
                    flat.push(id);
                }
            }
            spans.push((start, flat.len()));
        }
        let lengths = spans.iter().map(|(s, e)| (e - s) as u32).collect();
        (flat, lengths)
    }

    /// Total number of tokens after merging.
    pub fn len_after(&self) -> usize {
        self.ids.iter().map(Vec::len).sum()
    }
}

/// Learn merges on a batch and apply them.
///
/// `units[s][i]` is the unit of token `i` of sequence `s`: adjacent tokens with equal units may
/// merge; [`NO_UNIT`] tokens never do. Ids must be below `first_new_id`.
pub fn merge_units<S: AsRef<[u32]>, U: AsRef<[u32]>>(
    ids: &[S],
    units: &[U],
    first_new_id: u32,
    options: MergeOptions,
) -> Result<MergedBatch> {
    merge_units_spelled(ids, units, first_new_id, options, None)
}

/// [`merge_units`] that knows how each original id is spelled (`spell(id)`: its bytes), as
/// [`MergeOptions::whole_chars`] needs; `None` is [`merge_units`].
pub fn merge_units_spelled<S: AsRef<[u32]>, U: AsRef<[u32]>>(
    ids: &[S],
    units: &[U],
    first_new_id: u32,
    options: MergeOptions,
    spell: Option<Spell<'_>>,
) -> Result<MergedBatch> {
    let total = check_batch(ids, units, first_new_id, 0)?;
    let speller = match (options.whole_chars, spell) {
        (false, _) => None,
        (true, Some(original)) => Some(Speller {
            original,
            first_new_id,
            made: Vec::new(),
        }),
        (true, None) => {
            return Err(Error::InvalidInput(
                "whole_chars needs the tokens' bytes (merge_units_spelled with a spell)".to_owned(),
            ))
        }
    };
    let mut merger = Merger::new(ids, units, total, speller);
    merger.run(first_new_id, options);
    Ok(merger.finish(ids, first_new_id))
}

/// Apply merges learned on another batch, in their order: merge `k` turns every occurrence of
/// `pairs[k]` (left to right, inside units) into `first_new_id + k`. A merge whose pair does
/// not occur is recorded with count 0, so that ids and `new_tokens` stay those of the batch
/// the merges were learned on. Applying a batch's own merges to it gives its merged ids back.
pub fn apply_unit_merges<S: AsRef<[u32]>, U: AsRef<[u32]>>(
    ids: &[S],
    units: &[U],
    pairs: &[(u32, u32)],
    first_new_id: u32,
) -> Result<MergedBatch> {
    let total = check_batch(ids, units, first_new_id, pairs.len())?;
    for (k, &(left, right)) in pairs.iter().enumerate() {
        let known = u64::from(first_new_id) + k as u64;
        if u64::from(left) >= known || u64::from(right) >= known {
            return Err(Error::InvalidInput(format!(
                "merge {k} ({left}, {right}) uses an id that is not made before it \
                 (first new id {first_new_id})"
            )));
        }
    }
    let mut state = Merger::new(ids, units, total, None);
    for (k, &(left, right)) in pairs.iter().enumerate() {
        let new_id = first_new_id + k as u32;
        match state.index.get(&pair_key(left, right)) {
            Some(&p) if state.pairs[p as usize].count > 0 => state.apply(p, new_id),
            _ => state.merges.push(Merge {
                left,
                right,
                count: 0,
            }),
        }
    }
    Ok(state.finish(ids, first_new_id))
}

/// Validate a batch; returns its total length.
fn check_batch<S: AsRef<[u32]>, U: AsRef<[u32]>>(
    ids: &[S],
    units: &[U],
    first_new_id: u32,
    extra_ids: usize,
) -> Result<usize> {
    if ids.len() != units.len() {
        return Err(Error::InvalidInput(format!(
            "{} sequences but {} unit lists",
            ids.len(),
            units.len()
        )));
    }
    let mut total = 0usize;
    for (s, (seq, unit)) in ids.iter().zip(units).enumerate() {
        let (seq, unit) = (seq.as_ref(), unit.as_ref());
        if seq.len() != unit.len() {
            return Err(Error::InvalidInput(format!(
                "sequence {s} has {} ids but {} unit ids",
                seq.len(),
                unit.len()
            )));
        }
        if let Some(&bad) = seq.iter().find(|&&id| id >= first_new_id) {
            return Err(Error::InvalidId {
                id: u64::from(bad),
                vocab_size: first_new_id as usize,
            });
        }
        total += seq.len();
    }
    // Every merge removes at least one token, so at most `total` new ids are made.
    let needed = u64::from(first_new_id) + total as u64 + extra_ids as u64;
    if needed >= u64::from(u32::MAX) {
        return Err(Error::InvalidInput(format!(
            "{total} tokens with first new id {first_new_id} overflow 32-bit ids"
        )));
    }
    Ok(total)
}

fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// Heap priority: higher count first, then the earlier first occurrence.
fn priority(count: u32, first: u32) -> u64 {
    (u64::from(count) << 32) | u64::from(u32::MAX - first)
}

#[derive(Debug)]
struct Pair {
    left: u32,
    right: u32,
    /// Exact number of live occurrences.
    count: u32,
    /// First and last entry of the pair's occurrence list in `Merger::occurrences` (`NONE`:
    /// empty). Entries before `head` are gone; positions ascend along the list.
    head: u32,
    tail: u32,
    /// Whether the pair may be chosen (always, unless [`MergeOptions::whole_chars`]).
    allowed: bool,
}

/// One place where a pair was seen, linked to the pair's next one.
#[derive(Debug, Clone, Copy)]
struct Occurrence {
    pos: u32,
    next: u32,
}

struct Merger<'a> {
    /// Current id of each node (`DEAD` once merged into its left neighbour).
    id: Vec<u32>,
    /// Next / previous live node of the same unit (`NONE` at a unit edge).
    next: Vec<u32>,
    prev: Vec<u32>,
    pairs: Vec<Pair>,
    /// The occurrence lists of all pairs, in one arena.
    occurrences: Vec<Occurrence>,
    index: FxHashMap<u64, u32>,
    heap: BinaryHeap<(u64, u32)>,
    merges: Vec<Merge>,
    /// Pairs created by the merge in progress.
    created: Vec<u32>,
    /// Token bytes, with [`MergeOptions::whole_chars`].
    speller: Option<Speller<'a>>,
}

impl<'a> Merger<'a> {
    fn new<S: AsRef<[u32]>, U: AsRef<[u32]>>(
        ids: &[S],
        units: &[U],
        total: usize,
        speller: Option<Speller<'a>>,
    ) -> Self {
        let mut id = Vec::with_capacity(total);
        let mut next = vec![NONE; total];
        let mut prev = vec![NONE; total];
        for (seq, unit) in ids.iter().zip(units) {
            let (seq, unit) = (seq.as_ref(), unit.as_ref());
            let base = id.len();
            id.extend_from_slice(seq);
            for i in 1..seq.len() {
                if unit[i] != NO_UNIT && unit[i] == unit[i - 1] {
                    next[base + i - 1] = (base + i) as u32;
                    prev[base + i] = (base + i - 1) as u32;
                }
            }
        }
        let mut merger = Merger {
            id,
            next,
            prev,
            pairs: Vec::with_capacity(total / 2),
            occurrences: Vec::with_capacity(total + total / 2),
            index: FxHashMap::with_capacity_and_hasher(total / 2, rustc_hash::FxBuildHasher),
            heap: BinaryHeap::new(),
            merges: Vec::new(),
            created: Vec::new(),
            speller,
        };
        for i in 0..total {
            let j = merger.next[i];
            if j != NONE {
                let (l, r) = (merger.id[i], merger.id[j as usize]);
                merger.add(l, r, i as u32);
            }
        }
        let entries: Vec<(u64, u32)> = merger
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, pair)| pair.allowed)
            .map(|(p, pair)| {
                let first = merger.occurrences[pair.head as usize].pos;
                (priority(pair.count, first), p as u32)
            })
            .collect();
        merger.heap = BinaryHeap::from(entries);
        merger.created.clear();
        merger
    }

    /// Count one more occurrence of `(left, right)` at `pos`.
    fn add(&mut self, left: u32, right: u32, pos: u32) {
        let next_index = self.pairs.len() as u32;
        let p = *self
            .index
            .entry(pair_key(left, right))
            .or_insert(next_index);
        if p == next_index {
            let allowed = self.speller.as_ref().is_none_or(|s| s.whole(left, right));
            self.pairs.push(Pair {
                left,
                right,
                count: 0,
                head: NONE,
                tail: NONE,
                allowed,
            });
            self.created.push(p);
        }
        let entry = self.occurrences.len() as u32;
        self.occurrences.push(Occurrence { pos, next: NONE });
        let pair = &mut self.pairs[p as usize];
        pair.count += 1;
        if pair.tail == NONE {
            pair.head = entry;
        } else {
            debug_assert!(self.occurrences[pair.tail as usize].pos < pos);
            self.occurrences[pair.tail as usize].next = entry;
        }
        pair.tail = entry;
    }

    /// Count one occurrence of `(left, right)` less (the merged pair `skip` is not tracked).
    fn remove(&mut self, left: u32, right: u32, skip: u32) {
        if let Some(&p) = self.index.get(&pair_key(left, right)) {
            if p != skip {
                let pair = &mut self.pairs[p as usize];
                debug_assert!(pair.count > 0);
                pair.count = pair.count.saturating_sub(1);
            }
        } else {
            debug_assert!(false, "an occurrence of an uncounted pair");
        }
    }

    fn live_at(&self, pos: u32, left: u32, right: u32) -> bool {
        let pos = pos as usize;
        if self.id[pos] != left {
            return false;
        }
        let j = self.next[pos];
        j != NONE && self.id[j as usize] == right
    }

    /// The first live occurrence of pair `p` (dropping dead ones from the front of its list).
    fn first_live(&mut self, p: u32) -> Option<u32> {
        let Pair {
            left, right, head, ..
        } = self.pairs[p as usize];
        let mut entry = head;
        let found = loop {
            if entry == NONE {
                break None;
            }
            let occurrence = self.occurrences[entry as usize];
            if self.live_at(occurrence.pos, left, right) {
                break Some(occurrence.pos);
            }
            entry = occurrence.next;
        };
        let pair = &mut self.pairs[p as usize];
        pair.head = entry;
        if entry == NONE {
            pair.tail = NONE;
        }
        found
    }

    fn run(&mut self, first_new_id: u32, options: MergeOptions) {
        while self.merges.len() < options.max_merges {
            let Some((stored, p)) = self.heap.pop() else {
                break;
            };
            let count = self.pairs[p as usize].count;
            if count == 0 {
                continue;
            }
            let Some(first) = self.first_live(p) else {
                debug_assert!(false, "a counted pair without a live occurrence");
                continue;
            };
            let current = priority(count, first);
            if current != stored {
                debug_assert!(current < stored, "priorities only ever drop");
                self.heap.push((current, p));
                continue;
            }
            if count < options.min_count {
                break;
            }
            let new_id = first_new_id + self.merges.len() as u32;
            self.apply(p, new_id);
        }
    }

    /// Merge every occurrence of pair `p`, left to right, into `new_id`.
    fn apply(&mut self, merged: u32, new_id: u32) {
        let pair = &mut self.pairs[merged as usize];
        let (left, right, count) = (pair.left, pair.right, pair.count);
        let mut entry = pair.head;
        pair.count = 0;
        pair.head = NONE;
        pair.tail = NONE;
        self.merges.push(Merge { left, right, count });
        if let Some(speller) = &mut self.speller {
            // spelled before any pair with the new id is counted
            debug_assert_eq!(new_id - speller.first_new_id, speller.made.len() as u32);
            let bytes = speller.joined(left, right);
            speller.made.push(bytes);
        }
        self.created.clear();
        while entry != NONE {
            let Occurrence { pos: at, next } = self.occurrences[entry as usize];
            entry = next;
            if !self.live_at(at, left, right) {
                continue;
            }
            // before, [at, partner], after  ->  before, [at = new_id], after
            let partner = self.next[at as usize];
            let before = self.prev[at as usize];
            let after = self.next[partner as usize];
            if before != NONE {
                self.remove(self.id[before as usize], left, merged);
            }
            if after != NONE {
                self.remove(right, self.id[after as usize], merged);
            }
            self.id[at as usize] = new_id;
            self.id[partner as usize] = DEAD;
            self.next[at as usize] = after;
            if after != NONE {
                self.prev[after as usize] = at;
            }
            if before != NONE {
                self.add(self.id[before as usize], new_id, before);
            }
            if after != NONE {
                self.add(new_id, self.id[after as usize], at);
            }
        }
        let created = std::mem::take(&mut self.created);
        for &q in &created {
            let pair = &self.pairs[q as usize];
            if pair.count == 0 || !pair.allowed {
                continue;
            }
            if let Some(first) = self.first_live(q) {
                let count = self.pairs[q as usize].count;
                self.heap.push((priority(count, first), q));
            }
        }
        self.created = created;
    }

    fn finish<S: AsRef<[u32]>>(self, ids: &[S], first_new_id: u32) -> MergedBatch {
        let mut out_ids = Vec::with_capacity(ids.len());
        let mut starts = Vec::with_capacity(ids.len());
        let mut base = 0usize;
        for seq in ids {
            let n = seq.as_ref().len();
            let mut new_ids = Vec::with_capacity(n);
            let mut new_starts = Vec::with_capacity(n);
            for (i, &id) in self.id[base..base + n].iter().enumerate() {
                if id != DEAD {
                    new_ids.push(id);
                    new_starts.push(i as u32);
                }
            }
            out_ids.push(new_ids);
            starts.push(new_starts);
            base += n;
        }
        MergedBatch {
            ids: out_ids,
            starts,
            merges: self.merges,
            first_new_id,
        }
    }
}

/// The reference loop, as the paper's code runs it: recount every pair after every merge.
/// O(merges × tokens); kept as the oracle for tests and as the baseline for benchmarks.
pub fn merge_units_reference(
    ids: &[Vec<u32>],
    units: &[Vec<u32>],
    first_new_id: u32,
    options: MergeOptions,
) -> MergedBatch {
    merge_units_reference_spelled(ids, units, first_new_id, options, None)
}

/// [`merge_units_reference`] with [`MergeOptions::whole_chars`]: pairs whose merged bytes are
/// not whole UTF-8 characters are not counted (`spell` gives the original ids' bytes).
pub fn merge_units_reference_spelled(
    ids: &[Vec<u32>],
    units: &[Vec<u32>],
    first_new_id: u32,
    options: MergeOptions,
    spell: Option<Spell<'_>>,
) -> MergedBatch {
    // with whole_chars and no spelling every pair counts (the fast loop refuses that input)
    let mut speller = spell
        .filter(|_| options.whole_chars)
        .map(|original| Speller {
            original,
            first_new_id,
            made: Vec::new(),
        });
    let mut seqs: Vec<Vec<(u32, u32, u32)>> = ids
        .iter()
        .zip(units)
        .map(|(s, u)| {
            s.iter()
                .zip(u)
                .enumerate()
                .map(|(i, (&id, &unit))| (id, unit, i as u32))
                .collect()
        })
        .collect();
    let mut merges = Vec::new();
    while merges.len() < options.max_merges {
        // Counts in order of first occurrence, like a Python Counter.
        let mut order: Vec<(u32, u32)> = Vec::new();
        let mut counts: FxHashMap<(u32, u32), (u32, usize)> = FxHashMap::default();
        for seq in &seqs {
            for w in seq.windows(2) {
                if w[0].1 != NO_UNIT && w[0].1 == w[1].1 {
                    let key = (w[0].0, w[1].0);
                    if speller.as_ref().is_some_and(|s| !s.whole(key.0, key.1)) {
                        continue;
                    }
                    let rank = order.len();
                    let entry = counts.entry(key).or_insert((0, rank));
                    if entry.1 == rank {
                        order.push(key);
                    }
                    entry.0 += 1;
                }
            }
        }
        let mut best: Option<((u32, u32), u32)> = None;
        for key in &order {
            let count = counts[key].0;
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((*key, count));
            }
        }
        let Some(((left, right), count)) = best else {
            break;
        };
        if count < options.min_count {
            break;
        }
        let new_id = first_new_id + merges.len() as u32;
        merges.push(Merge { left, right, count });
        if let Some(speller) = &mut speller {
            let bytes = speller.joined(left, right);
            speller.made.push(bytes);
        }
        for seq in &mut seqs {
            let mut out = Vec::with_capacity(seq.len());
            let mut i = 0;
            while i < seq.len() {
                if i + 1 < seq.len()
                    && seq[i].0 == left
                    && seq[i + 1].0 == right
                    && seq[i].1 != NO_UNIT
                    && seq[i].1 == seq[i + 1].1
                {
                    out.push((new_id, seq[i].1, seq[i].2));
                    i += 2;
                } else {
                    out.push(seq[i]);
                    i += 1;
                }
            }
            *seq = out;
        }
    }
    MergedBatch {
        ids: seqs
            .iter()
            .map(|s| s.iter().map(|t| t.0).collect())
            .collect(),
        starts: seqs
            .iter()
            .map(|s| s.iter().map(|t| t.2).collect())
            .collect(),
        merges,
        first_new_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(ids: &[Vec<u32>], units: &[Vec<u32>], max: usize) -> MergedBatch {
        let options = MergeOptions {
            max_merges: max,
            ..MergeOptions::default()
        };
        merge_units(ids, units, 100, options).expect("valid input")
    }

    #[test]
    fn overlapping_pairs_merge_left_to_right() {
        let out = run(&[vec![1, 1, 1]], &[vec![0, 0, 0]], 1);
        assert_eq!(out.ids, vec![vec![100, 1]]);
        assert_eq!(out.merges[0].count, 2);
        let out = run(&[vec![5, 1, 1, 1, 1]], &[vec![0; 5]], 1);
        assert_eq!(out.ids, vec![vec![5, 100, 100]]);
    }

    #[test]
    fn ties_go_to_the_first_occurrence() {
        // (3,4) and (1,2) both occur twice; (3,4) is seen first.
        let ids = vec![vec![3, 4, 9, 1, 2], vec![1, 2, 3, 4]];
        let units = vec![vec![0, 0, 1, 2, 2], vec![0, 0, 1, 1]];
        let out = run(&ids, &units, 1);
        assert_eq!((out.merges[0].left, out.merges[0].right), (3, 4));
    }

    #[test]
    fn units_and_specials_block_pairs() {
        let ids = vec![vec![1, 2, 1, 2, 1, 2]];
        let units = vec![vec![0, 1, 1, NO_UNIT, NO_UNIT, 2]];
        let out = run(&ids, &units, usize::MAX);
        assert_eq!(out.merges.len(), 1);
        assert_eq!(out.ids, vec![vec![1, 100, 2, 1, 2]]);
    }

    #[test]
    fn saturation_reaches_one_token_per_unit() {
        let ids = vec![vec![1, 2, 3, 4, 5, 6, 7], vec![7, 6, 5]];
        let units = vec![vec![0, 0, 0, 1, 1, NO_UNIT, 2], vec![0, 0, 0]];
        let out = run(&ids, &units, usize::MAX);
        assert_eq!(out.ids.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 1]);
        assert_eq!(out.starts[0], vec![0, 3, 5, 6]);
        assert_eq!(out.new_tokens().last().map(Vec::len), Some(3));
        let (flat, lengths) = out.new_tokens_flat();
        assert_eq!(flat, out.new_tokens().concat());
        assert_eq!(lengths.iter().sum::<u32>() as usize, flat.len());
    }

    #[test]
    fn rejects_ids_at_or_above_the_first_new_id() {
        let err = merge_units(&[vec![100u32]], &[vec![0u32]], 100, MergeOptions::default());
        assert!(matches!(err, Err(Error::InvalidId { id: 100, .. })));
    }

    #[test]
    fn applying_a_batchs_own_merges_gives_its_output() {
        let ids = vec![vec![1, 2, 3, 1, 2, 3, 3], vec![2, 3, 1, 2]];
        let units = vec![vec![0, 0, 0, 1, 1, 1, 1], vec![0, 0, 0, 0]];
        let learned = run(&ids, &units, usize::MAX);
        let pairs: Vec<(u32, u32)> = learned.merges.iter().map(|m| (m.left, m.right)).collect();
        let applied = apply_unit_merges(&ids, &units, &pairs, 100).expect("valid merges");
        assert_eq!(applied, learned);
        // Elsewhere: absent pairs are skipped with count 0, ids stay aligned.
        let other = apply_unit_merges(&[vec![2u32, 3, 9]], &[vec![0u32, 0, 0]], &pairs, 100)
            .expect("valid merges");
        assert_eq!(other.merges.len(), pairs.len());
        assert_eq!(other.new_tokens(), learned.new_tokens());
        let bad = apply_unit_merges(&[vec![1u32]], &[vec![0u32]], &[(100, 1)], 100);
        assert!(bad.is_err());
    }

    fn batch() -> impl Strategy<Value = (Vec<Vec<u32>>, Vec<Vec<u32>>)> {
        prop::collection::vec(
            prop::collection::vec((0u32..5, 0u32..4), 0..40).prop_map(|tokens| {
                // Units: a new unit when the drawn value is 0; value 3 marks a special token.
                let mut unit = 0u32;
                let mut ids = Vec::new();
                let mut units = Vec::new();
                for (id, u) in tokens {
                    if u == 0 {
                        unit += 1;
                    }
                    ids.push(id);
                    units.push(if u == 3 { NO_UNIT } else { unit });
                }
                (ids, units)
            }),
            0..6,
        )
        .prop_map(|seqs| seqs.into_iter().unzip())
    }

    /// Ids 0..5 spelled as a lead byte, continuation bytes and ASCII: pairs make whole
    /// characters, halves of them, or nothing valid.
    fn spell(id: u32) -> Vec<u8> {
        match id {
            0 => vec![0xE4],
            1 => vec![0xB8],
            2 => vec![0xAD],
            3 => vec![0xE4, 0xB8],
            _ => b"a".to_vec(),
        }
    }

    #[test]
    fn whole_chars_merges_only_whole_characters() {
        // 0 1 2 = one 3-byte character; 3 2 = the same; 4 is ASCII
        let ids = vec![vec![0, 1, 2, 4, 3, 2, 4, 0, 1, 2]];
        let units = vec![vec![0; 10]];
        let options = MergeOptions {
            whole_chars: true,
            ..MergeOptions::default()
        };
        assert!(merge_units(&ids, &units, 100, options).is_err());
        let out = merge_units_spelled(&ids, &units, 100, options, Some(&spell)).expect("valid");
        let speller = Speller {
            original: &spell,
            first_new_id: 100,
            made: Vec::new(),
        };
        for tokens in out.new_tokens() {
            let bytes: Vec<u8> = tokens
                .iter()
                .flat_map(|&t| speller.bytes(t).into_owned())
                .collect();
            assert!(std::str::from_utf8(&bytes).is_ok(), "{tokens:?}");
        }
        // without the option the first merge is (0, 1), half a character
        let free = merge_units(&ids, &units, 100, MergeOptions::default()).expect("valid");
        assert_eq!((free.merges[0].left, free.merges[0].right), (0, 1));
        assert!(out.merges.iter().all(|m| (m.left, m.right) != (0, 1)));
    }

    proptest! {
        #[test]
        fn equals_the_reference_loop(
            (ids, units) in batch(), max in 0usize..60, min in 1u32..3, whole in any::<bool>()
        ) {
            let options = MergeOptions { max_merges: max, min_count: min, whole_chars: whole };
            let fast = merge_units_spelled(&ids, &units, 100, options, Some(&spell))
                .expect("valid input");
            let slow = merge_units_reference_spelled(&ids, &units, 100, options, Some(&spell));
            prop_assert_eq!(fast, slow);
        }
    }
}
