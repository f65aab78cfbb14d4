//! Token byte strings sorted, for prefix queries over a vocabulary.
//!
//! The index stores the byte strings of a set of tokens in sorted order, back to back in one
//! arena. The tokens that start with a byte string `P` are one contiguous run of that order,
//! found by narrowing the run one byte of `P` at a time (each step a binary search comparing a
//! single byte); the tokens that are prefixes of `P` are the runs' shortest entries met on the
//! way. One walk answers both queries. Token healing ([`crate::healing::TokenIndex`]) and the
//! cover search ([`crate::covers::CoverSearch`]) both query it.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// Token byte strings sorted lexicographically (equal strings by id), for prefix queries.
#[derive(Debug, Clone)]
pub struct PrefixIndex {
    /// All entries' bytes, back to back in sorted order.
    arena: Vec<u8>,
    /// Entry `j` is `arena[starts[j]..starts[j + 1]]`.
    starts: Vec<u32>,
    /// Entry `j` is the token `ids[j]`.
    ids: Vec<u32>,
    /// `entry_of[id]`: the entry of a token, `NO_ENTRY` for ids left out of the index.
    entry_of: Vec<u32>,
    /// `first[b]`: the entries that start with byte `b` (the first step of every walk).
    first: Vec<Range<usize>>,
}

const NO_ENTRY: u32 = u32::MAX;

impl PrefixIndex {
    /// Index the tokens `(id, bytes)`; `vocab_size` bounds the ids. Empty byte strings are
    /// left out.
    pub fn new<'a>(
        tokens: impl IntoIterator<Item = (u32, &'a [u8])>,
        vocab_size: usize,
    ) -> Result<PrefixIndex> {
        let mut items: Vec<(u32, &[u8])> = tokens.into_iter().filter(|t| !t.1.is_empty()).collect();
        if let Some(&(id, _)) = items.iter().find(|t| t.0 as usize >= vocab_size) {
            return Err(Error::InvalidId {
                id: u64::from(id),
                vocab_size,
            });
        }
        items.sort_unstable_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)));
        let total: usize = items.iter().map(|t| t.1.len()).sum();
        let total = u32::try_from(total)
            .map_err(|_| Error::InvalidInput("token bytes exceed 4 GiB in total".into()))?;
        let mut arena = Vec::with_capacity(total as usize);
        let mut starts = Vec::with_capacity(items.len() + 1);
        let mut ids = Vec::with_capacity(items.len());
        let mut entry_of = vec![NO_ENTRY; vocab_size];
        for (entry, &(id, bytes)) in items.iter().enumerate() {
            starts.push(arena.len() as u32);
            arena.extend_from_slice(bytes);
            ids.push(id);
            entry_of[id as usize] = entry as u32;
        }
        starts.push(arena.len() as u32);
        let mut index = PrefixIndex {
            arena,
            starts,
            ids,
            entry_of,
            first: Vec::new(),
        };
        let all = 0..index.ids.len();
        index.first = (0..=255u8)
            .map(|b| index.narrow(all.clone(), 0, b))
            .collect();
        Ok(index)
    }

    /// Index every token of `tok` that has bytes, added tokens included.
    pub fn of_all_tokens(tok: &Tokenizer) -> Result<PrefixIndex> {
        let tokens = tok
            .all_token_bytes()
            .iter()
            .enumerate()
            .filter_map(|(id, b)| Some((id as u32, b.as_deref()?)));
        PrefixIndex::new(tokens, tok.vocab_size())
    }

    /// Number of ids (`vocab_size` of [`PrefixIndex::new`]).
    pub fn vocab_size(&self) -> usize {
        self.entry_of.len()
    }

    /// Number of indexed tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The bytes of an indexed token (`None` for ids left out).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        match self.entry_of.get(id as usize) {
            Some(&e) if e != NO_ENTRY => Some(self.entry(e as usize)),
            _ => None,
        }
    }

    /// The ids of a range of entries.
    pub fn ids(&self, entries: Range<usize>) -> &[u32] {
        &self.ids[entries]
    }

    /// The id of entry `j`.
    pub fn id(&self, j: usize) -> u32 {
        self.ids[j]
    }

    /// The bytes of entry `j`.
    fn entry(&self, j: usize) -> &[u8] {
        &self.arena[self.starts[j] as usize..self.starts[j + 1] as usize]
    }

    /// The byte length of entry `j`.
    pub fn entry_len(&self, j: usize) -> usize {
        (self.starts[j + 1] - self.starts[j]) as usize
    }

    /// First position in `range` where `pred` turns false (`pred` is monotone on the range).
    fn partition(range: Range<usize>, pred: impl Fn(usize) -> bool) -> usize {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Entries of `range` (all starting with the same `depth` bytes) whose next byte is `byte`.
    fn narrow(&self, range: Range<usize>, depth: usize, byte: u8) -> Range<usize> {
        // Entries of length `depth` sort first (`None < Some(_)`).
        let key = |j: usize| self.arena.get(self.starts[j] as usize + depth).copied();
        let next = |j: usize| {
            if self.entry_len(j) > depth {
                key(j)
            } else {
                None
            }
        };
        let lo = Self::partition(range.clone(), |j| next(j) < Some(byte));
        let hi = Self::partition(lo..range.end, |j| next(j) == Some(byte));
        lo..hi
    }

    /// Walk `text` byte by byte: call `on_prefix(len, entries)` for the tokens equal to
    /// `text[..len]` (`len` from 1 to `text.len()`), and return the entries that start with
    /// `text` (every entry for the empty text).
    pub fn walk(
        &self,
        text: &[u8],
        mut on_prefix: impl FnMut(usize, Range<usize>),
    ) -> Range<usize> {
        let mut range = 0..self.ids.len();
        for (depth, &byte) in text.iter().enumerate() {
            range = if depth == 0 {
                self.first[byte as usize].clone()
            } else {
                self.narrow(range, depth, byte)
            };
            if range.is_empty() {
                break;
            }
            let len = depth + 1;
            let exact_end = Self::partition(range.clone(), |j| self.entry_len(j) == len);
            if exact_end > range.start {
                on_prefix(len, range.start..exact_end);
            }
        }
        range
    }

    /// Ids of the tokens whose bytes start with `prefix`, in byte order.
    pub fn extensions(&self, prefix: &[u8]) -> &[u32] {
        let range = self.walk(prefix, |_, _| {});
        &self.ids[range]
    }

    /// Ids of the tokens whose bytes are a (non-empty) prefix of `text`, shortest first.
    pub fn prefixes_of(&self, text: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        self.walk(text, |_, entries| out.extend_from_slice(&self.ids[entries]));
        out
    }
}
