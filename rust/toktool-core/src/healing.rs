//! Token healing: back off the last prompt tokens and constrain generation to re-spell them.
//!
//! A prompt that ends at an unnatural token boundary ("x = os.path.jo") puts the model off its
//! training distribution: it has seen `join`, rarely `jo` followed by `in`. Token healing
//! removes the last `k` prompt tokens, whose text `R` becomes the *constraint*, and lets the model
//! regenerate `R` freely: the first generated tokens must spell `R`, and the token that finishes it
//! may run past its end.
//!
//! Semantics (exact; the Python layer and the tests rely on them):
//! - The prompt `P` is bytes. Its longest valid UTF-8 prefix `head` is encoded canonically; an
//!   incomplete UTF-8 character at the end (`tail`, at most 3 bytes) is never encoded and always
//!   belongs to the constraint. Invalid UTF-8 elsewhere is an error.
//! - The back-off point `b` (keep `ids[..b]`) satisfies: no special token among the removed ones;
//!   `decode(ids[..b])` is a prefix of `head` and valid UTF-8; `encode(decode(ids[..b])) ==
//!   ids[..b]` (the healed prompt is canonical); `len(ids) - b <= max_backoff` when set; and
//!   `b >= 1` for tokenizers whose decoder drops a leading space (`SentencePiece` style), since their
//!   first token's bytes differ from its text. The constraint is `R = P[len(decode(ids[..b]))..]`.
//! - Which `b`: the back-off aims at the start of the last pre-token (BPE merges never cross
//!   pre-token boundaries, so only its tokens can change when text is appended), narrowed to the
//!   last whitespace/non-whitespace transition inside it (a word start, for tokenizers without a
//!   splitting pre-tokenizer). The chosen `b` is the valid point closest to that target, preferring
//!   to back off more (by at most `MAX_EXTRA_BACKOFF` tokens); with no valid point, nothing is
//!   backed off and `R` is the tail.
//! - A token `t` is *allowed* under a non-empty constraint `R` iff `bytes(t)` starts with `R` (it
//!   finishes the constraint), or `R` starts with `bytes(t)` and the rest of `R` can still be
//!   spelled by tokens (it advances the constraint; dead ends are excluded). Special tokens are
//!   never allowed under a constraint. Under the empty constraint every defined id is allowed.
//!
//! The index behind the masks is a [`PrefixIndex`] (the token byte strings sorted, in one arena):
//! one walk over `P` finds both the tokens that start with `P` and those that are prefixes of it.

use std::ops::Range;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::prefix_index::PrefixIndex;
use crate::tokenizer::Tokenizer;

/// Token byte strings sorted lexicographically, for prefix queries over a vocabulary, with the
/// masks of token healing's constraints.
#[derive(Debug, Clone)]
pub struct TokenIndex {
    /// The indexed tokens, sorted by bytes.
    prefix: PrefixIndex,
    /// The masks of the empty constraint: every id that exists (is not a hole).
    defined: Precomputed,
    /// `single_byte[b]`: some token is exactly the byte `b`.
    single_byte: [bool; 256],
    /// `wide[b]`: the masks of the one-byte constraint `b` when more than `WIDE_RANGE` tokens
    /// start with it (a space: half the vocabulary), which would otherwise cost a scattered write
    /// per token. At most `len / WIDE_RANGE` of them.
    wide: Vec<Option<Precomputed>>,
    max_len: usize,
}

/// A mask of the vocabulary in both output layouts.
#[derive(Debug, Clone)]
struct Precomputed {
    mask: Box<[bool]>,
    words: Box<[u32]>,
}

impl Precomputed {
    fn new(mask: Vec<bool>) -> Precomputed {
        let mut words = vec![0u32; mask.len().div_ceil(32)];
        for (id, _) in mask.iter().enumerate().filter(|m| *m.1) {
            words[id / 32] |= 1 << (id % 32);
        }
        Precomputed {
            mask: mask.into_boxed_slice(),
            words: words.into_boxed_slice(),
        }
    }
}

/// One-byte constraints allowing more tokens than this get precomputed masks.
const WIDE_RANGE: usize = 4096;

impl TokenIndex {
    /// Index the tokens `(id, bytes)`; `vocab_size` bounds the ids, `defined` marks the ids that
    /// exist (indexed or not). Empty byte strings are left out.
    pub fn new<'a>(
        tokens: impl IntoIterator<Item = (u32, &'a [u8])>,
        vocab_size: usize,
        defined: Vec<bool>,
    ) -> Result<TokenIndex> {
        let prefix = PrefixIndex::new(tokens, vocab_size)?;
        let max_len = (0..prefix.len())
            .map(|j| prefix.entry_len(j))
            .max()
            .unwrap_or(0);
        let mut defined = defined;
        defined.resize(vocab_size, false);
        let mut index = TokenIndex {
            prefix,
            defined: Precomputed::new(defined),
            single_byte: [false; 256],
            wide: Vec::new(),
            max_len,
        };
        index.precompute();
        Ok(index)
    }

    /// Fill the per-byte tables: single-byte tokens, wide one-byte masks.
    fn precompute(&mut self) {
        let first: Vec<Range<usize>> = (0..=255u8)
            .map(|b| self.prefix.walk(&[b], |_, _| {}))
            .collect();
        for (b, range) in first.iter().enumerate() {
            self.single_byte[b] = range
                .clone()
                .next()
                .is_some_and(|j| self.prefix.entry_len(j) == 1);
        }
        self.wide = first
            .iter()
            .map(|range| {
                (range.len() > WIDE_RANGE).then(|| {
                    let mut mask = vec![false; self.vocab_size()];
                    self.prefix
                        .ids(range.clone())
                        .iter()
                        .for_each(|&id| mask[id as usize] = true);
                    Precomputed::new(mask)
                })
            })
            .collect();
    }

    /// Index the text tokens of `tokenizer`: every id with bytes except the special tokens.
    pub fn from_tokenizer(tokenizer: &Tokenizer) -> Result<TokenIndex> {
        let special = special_mask(tokenizer);
        let all = tokenizer.all_token_bytes();
        let defined: Vec<bool> = all.iter().map(Option::is_some).collect();
        let tokens = all.iter().enumerate().filter_map(|(id, b)| {
            let b = b.as_deref()?;
            (!special[id]).then_some((id as u32, b))
        });
        TokenIndex::new(tokens, tokenizer.vocab_size(), defined)
    }

    /// Number of ids (the length of every mask).
    pub fn vocab_size(&self) -> usize {
        self.prefix.vocab_size()
    }

    /// Number of indexed tokens.
    pub fn len(&self) -> usize {
        self.prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefix.is_empty()
    }

    /// Byte length of the longest indexed token.
    pub fn max_token_len(&self) -> usize {
        self.max_len
    }

    /// The bytes of an indexed token (`None` for special tokens and holes).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.prefix.token_bytes(id)
    }

    /// See [`PrefixIndex::walk`].
    pub fn walk(&self, text: &[u8], on_prefix: impl FnMut(usize, Range<usize>)) -> Range<usize> {
        self.prefix.walk(text, on_prefix)
    }

    /// Ids of the tokens whose bytes start with `prefix`, in byte order.
    pub fn extensions(&self, prefix: &[u8]) -> &[u32] {
        self.prefix.extensions(prefix)
    }

    /// Ids of the tokens whose bytes are a (non-empty) prefix of `text`, shortest first.
    pub fn prefixes_of(&self, text: &[u8]) -> Vec<u32> {
        self.prefix.prefixes_of(text)
    }

    /// `ok[i]`: whether `constraint[i..]` can be spelled by a token sequence whose last token may
    /// run past the end. `ok[constraint.len()]` is true.
    pub fn completable(&self, constraint: &[u8]) -> Vec<bool> {
        let n = constraint.len();
        let mut ok = vec![false; n + 1];
        ok[n] = true;
        for i in (0..n).rev() {
            // With a token for every byte (byte-level and byte-fallback vocabularies) every
            // suffix is completable: no walk needed.
            if ok[i + 1] && self.single_byte[constraint[i] as usize] {
                ok[i] = true;
                continue;
            }
            let mut via_prefix = false;
            let finishing = self.walk(&constraint[i..], |len, _| via_prefix |= ok[i + len]);
            ok[i] = via_prefix || !finishing.is_empty();
        }
        ok
    }

    /// The entry ranges allowed under a non-empty `constraint` (see the module docs).
    fn allowed_ranges(&self, constraint: &[u8]) -> Vec<Range<usize>> {
        debug_assert!(!constraint.is_empty());
        let ok = self.completable(constraint);
        let mut out = Vec::new();
        let finishing = self.walk(constraint, |len, entries| {
            if len < constraint.len() && ok[len] {
                out.push(entries);
            }
        });
        if !finishing.is_empty() {
            out.push(finishing);
        }
        out
    }

    /// Set `mask[id] = true` for every allowed id; `mask` must hold `vocab_size` entries.
    pub fn fill_mask(&self, constraint: &[u8], mask: &mut [bool]) {
        if let Some(pre) = self.precomputed(constraint) {
            mask.copy_from_slice(&pre.mask);
            return;
        }
        for range in self.allowed_ranges(constraint) {
            for &id in self.prefix.ids(range) {
                mask[id as usize] = true;
            }
        }
    }

    /// The allowed ids as a mask of `vocab_size` booleans.
    pub fn allowed_mask(&self, constraint: &[u8]) -> Vec<bool> {
        let mut mask = vec![false; self.vocab_size()];
        self.fill_mask(constraint, &mut mask);
        mask
    }

    /// The allowed ids as a bitmask: bit `id % 32` of word `id / 32` (llguidance's layout).
    pub fn allowed_bitmask(&self, constraint: &[u8]) -> Vec<u32> {
        if let Some(pre) = self.precomputed(constraint) {
            return pre.words.to_vec();
        }
        let mut words = vec![0u32; self.vocab_size().div_ceil(32)];
        for range in self.allowed_ranges(constraint) {
            for &id in self.prefix.ids(range) {
                words[id as usize / 32] |= 1 << (id % 32);
            }
        }
        words
    }

    /// The stored masks of the empty constraint and of wide one-byte constraints.
    fn precomputed(&self, constraint: &[u8]) -> Option<&Precomputed> {
        match constraint {
            [] => Some(&self.defined),
            [b] => self.wide[*b as usize].as_ref(),
            _ => None,
        }
    }

    /// The allowed ids, ascending.
    pub fn allowed_ids(&self, constraint: &[u8]) -> Vec<u32> {
        if constraint.is_empty() {
            return (0..self.vocab_size() as u32)
                .filter(|&id| self.defined.mask[id as usize])
                .collect();
        }
        let mut out: Vec<u32> = self
            .allowed_ranges(constraint)
            .into_iter()
            .flat_map(|r| self.prefix.ids(r).iter().copied())
            .collect();
        out.sort_unstable();
        out
    }

    /// What remains of `constraint` after generating `id`: `Some(rest)` (empty once finished) if
    /// `id` is allowed, `None` if not.
    pub fn advance(&self, constraint: &[u8], id: u32) -> Option<Vec<u8>> {
        if constraint.is_empty() {
            return self
                .defined
                .mask
                .get(id as usize)
                .copied()
                .unwrap_or(false)
                .then(Vec::new);
        }
        let bytes = self.token_bytes(id)?;
        if bytes.starts_with(constraint) {
            return Some(Vec::new());
        }
        let rest = constraint.strip_prefix(bytes)?;
        self.completable(rest)[0].then(|| rest.to_vec())
    }
}

/// `mask[id]`: whether `id` is a special added token.
fn special_mask(tokenizer: &Tokenizer) -> Vec<bool> {
    let mut special = vec![false; tokenizer.vocab_size()];
    for t in tokenizer.added_tokens().iter().filter(|t| t.special) {
        special[t.id as usize] = true;
    }
    special
}

/// A prompt after healing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healed {
    /// Canonical ids of the prompt's complete UTF-8 part (the naive prompt, less any tail).
    pub prompt_ids: Vec<u32>,
    /// The healed prompt: a canonical prefix of `prompt_ids`.
    pub ids: Vec<u32>,
    /// The backed-off tokens: `prompt_ids == ids + removed`.
    pub removed: Vec<u32>,
    /// The bytes generation must reproduce first: `prompt == decode(ids) + constraint`.
    pub constraint: Vec<u8>,
}

/// Token healing over one tokenizer: its index plus the back-off rule (see the module docs).
#[derive(Debug, Clone)]
pub struct Healer {
    tokenizer: Arc<Tokenizer>,
    index: TokenIndex,
    special: Vec<bool>,
    max_backoff: Option<usize>,
}

impl Healer {
    /// Build the index (about 0.1 s for a 200k vocabulary). `max_backoff` caps the number
    /// of removed tokens; `None` backs off as far as the rule says (the whole last word).
    pub fn new(tokenizer: Arc<Tokenizer>, max_backoff: Option<usize>) -> Result<Healer> {
        let index = TokenIndex::from_tokenizer(&tokenizer)?;
        let special = special_mask(&tokenizer);
        Ok(Healer {
            tokenizer,
            index,
            special,
            max_backoff,
        })
    }

    pub fn index(&self) -> &TokenIndex {
        &self.index
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn max_backoff(&self) -> Option<usize> {
        self.max_backoff
    }

    /// Heal `prompt`: choose the back-off point and return the healed ids and the constraint.
    pub fn heal(&self, prompt: &[u8]) -> Result<Healed> {
        let (head, tail) = split_incomplete_utf8(prompt)?;
        let (ids, words) = self.tokenizer.encode_with_pretokens(head)?;
        let n = ids.len();
        let points = Points::new(&self.tokenizer, head.as_bytes(), &ids)?;
        let lowest = self.lowest_point(&ids);
        let target = self.target_point(&ids, &words);
        // Closest valid point to the target, backing off more first (a bounded search: each
        // candidate costs an encode); `n` (no back-off) last.
        let deepest = lowest.max(target.saturating_sub(MAX_EXTRA_BACKOFF));
        let more = (deepest..=target.min(n.saturating_sub(1))).rev();
        let less = target.max(lowest) + usize::from(target >= lowest)..n;
        for b in more.chain(less) {
            if let Some(prefix_len) = self.valid_point(head, &ids, &points, b)? {
                return Ok(Healed {
                    ids: ids[..b].to_vec(),
                    removed: ids[b..].to_vec(),
                    constraint: prompt[prefix_len..].to_vec(),
                    prompt_ids: ids,
                });
            }
        }
        Ok(Healed {
            ids: ids.clone(),
            removed: Vec::new(),
            constraint: tail.to_vec(),
            prompt_ids: ids,
        })
    }

    /// Naive ids of arbitrary prompt bytes: `encode(head)` plus one single-byte token per byte of
    /// an incomplete UTF-8 tail (what a model sees when the prompt is simply tokenized).
    pub fn encode_bytes(&self, prompt: &[u8]) -> Result<Vec<u32>> {
        let (head, tail) = split_incomplete_utf8(prompt)?;
        let mut ids = self.tokenizer.encode(head)?;
        for &byte in tail {
            let id = self
                .index
                .walk(&[byte], |_, _| {})
                .find(|&j| self.index.prefix.entry_len(j) == 1)
                .map(|j| self.index.prefix.id(j))
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "the prompt ends inside a UTF-8 character and the vocabulary has no token \
                         for its byte 0x{byte:02X}"
                    ))
                })?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// The smallest back-off point allowed: after the last special token, within `max_backoff`,
    /// and past the first token for tokenizers that drop a leading space when decoding.
    fn lowest_point(&self, ids: &[u32]) -> usize {
        let mut lowest = ids
            .iter()
            .rposition(|&id| self.special.get(id as usize).copied().unwrap_or(false))
            .map_or(0, |p| p + 1);
        if self.tokenizer.strips_leading_space() {
            lowest = lowest.max(1);
        }
        if let Some(max) = self.max_backoff {
            lowest = lowest.max(ids.len().saturating_sub(max));
        }
        lowest
    }

    /// Where the back-off aims: the start of the last pre-token, or the last word start inside it.
    fn target_point(&self, ids: &[u32], words: &[u32]) -> usize {
        let Some(&last_word) = words.last() else {
            return 0;
        };
        let start = words
            .iter()
            .rposition(|&w| w != last_word)
            .map_or(0, |p| p + 1);
        let bytes = |i: usize| self.tokenizer.token_bytes(ids[i]).unwrap_or_default();
        let is_space = |b: Option<&u8>| b.is_some_and(u8::is_ascii_whitespace);
        (start + 1..ids.len())
            .rev()
            .find(|&i| is_space(bytes(i).first()) != is_space(bytes(i - 1).last()))
            .unwrap_or(start)
    }

    /// `Some(len(decode(ids[..b])))` if `b` is a valid back-off point of `head`.
    fn valid_point(
        &self,
        head: &str,
        ids: &[u32],
        points: &Points,
        b: usize,
    ) -> Result<Option<usize>> {
        let len = points.offsets[b];
        if len > points.agree || !head.is_char_boundary(len) {
            return Ok(None);
        }
        let canonical = self.tokenizer.encode(&head[..len])? == ids[..b];
        Ok(canonical.then_some(len))
    }
}

/// How many tokens past the target the back-off may go looking for a canonical prefix.
const MAX_EXTRA_BACKOFF: usize = 8;

/// Byte offsets of the token boundaries of a prompt's ids.
struct Points {
    /// `offsets[b] == len(decode(ids[..b]))`.
    offsets: Vec<usize>,
    /// Length of the common prefix of `decode(ids)` and the prompt: `decode(ids[..b])` is a
    /// prefix of the prompt iff `offsets[b] <= agree`.
    agree: usize,
}

impl Points {
    fn new(tokenizer: &Tokenizer, head: &[u8], ids: &[u32]) -> Result<Points> {
        let decoded = tokenizer.decode_bytes(ids)?;
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut total = 0;
        offsets.push(0);
        for &id in ids {
            total += tokenizer.token_bytes(id)?.len();
            offsets.push(total);
        }
        // Decoding may drop one leading space (SentencePiece style): every later offset shifts.
        let dropped = total - decoded.len();
        offsets.iter_mut().skip(1).for_each(|o| *o -= dropped);
        let agree = decoded.iter().zip(head).take_while(|(a, b)| a == b).count();
        Ok(Points { offsets, agree })
    }
}

/// Split `prompt` into its longest valid UTF-8 prefix and an incomplete last character.
pub fn split_incomplete_utf8(prompt: &[u8]) -> Result<(&str, &[u8])> {
    match std::str::from_utf8(prompt) {
        Ok(text) => Ok((text, &[])),
        Err(e) if e.error_len().is_none() => {
            let (head, tail) = prompt.split_at(e.valid_up_to());
            // `valid_up_to` marks the end of the valid prefix, so this cannot fail.
            let head = std::str::from_utf8(head).map_err(|e| Error::Internal(e.to_string()))?;
            Ok((head, tail))
        }
        Err(e) => Err(Error::InvalidInput(format!(
            "the prompt is not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, by brute force over every token.
    fn reference_allowed(tokens: &[(u32, Vec<u8>)], constraint: &[u8]) -> Vec<u32> {
        fn completable(tokens: &[(u32, Vec<u8>)], rest: &[u8]) -> bool {
            rest.is_empty()
                || tokens.iter().any(|(_, t)| {
                    t.starts_with(rest)
                        || (rest.starts_with(t) && completable(tokens, &rest[t.len()..]))
                })
        }
        let mut out: Vec<u32> = tokens
            .iter()
            .filter(|(_, t)| {
                t.starts_with(constraint)
                    || (constraint.starts_with(t) && completable(tokens, &constraint[t.len()..]))
            })
            .map(|(id, _)| *id)
            .collect();
        out.sort_unstable();
        out
    }

    fn index_of(tokens: &[(u32, Vec<u8>)], vocab_size: usize) -> TokenIndex {
        let defined = vec![true; vocab_size];
        TokenIndex::new(
            tokens.iter().map(|(id, b)| (*id, b.as_slice())),
            vocab_size,
            defined,
        )
        .expect("valid ids")
    }

    /// Non-empty tokens over a small alphabet, so that prefixes collide often.
    fn vocab() -> impl Strategy<Value = Vec<(u32, Vec<u8>)>> {
        prop::collection::vec(
            prop::collection::vec(prop::sample::select(b"ab \xe4".to_vec()), 1..5),
            1..40,
        )
        .prop_map(|ts| {
            ts.into_iter()
                .enumerate()
                .map(|(i, t)| (i as u32, t))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn allowed_ids_match_brute_force(
            tokens in vocab(),
            constraint in prop::collection::vec(prop::sample::select(b"ab \xe4".to_vec()), 1..8),
        ) {
            let index = index_of(&tokens, tokens.len() + 3);
            let expected = reference_allowed(&tokens, &constraint);
            prop_assert_eq!(index.allowed_ids(&constraint), expected.clone());
            let mask = index.allowed_mask(&constraint);
            let from_mask: Vec<u32> = (0..mask.len() as u32).filter(|&i| mask[i as usize]).collect();
            prop_assert_eq!(from_mask, expected.clone());
            let bits = index.allowed_bitmask(&constraint);
            let from_bits: Vec<u32> = (0..index.vocab_size() as u32)
                .filter(|&i| bits[i as usize / 32] >> (i % 32) & 1 == 1)
                .collect();
            prop_assert_eq!(from_bits, expected);
        }

        #[test]
        fn extensions_and_prefixes_match_brute_force(
            tokens in vocab(),
            text in prop::collection::vec(prop::sample::select(b"ab \xe4".to_vec()), 0..8),
        ) {
            let index = index_of(&tokens, tokens.len());
            let mut ext = index.extensions(&text).to_vec();
            ext.sort_unstable();
            let expected: Vec<u32> =
                tokens.iter().filter(|(_, t)| t.starts_with(&text)).map(|(id, _)| *id).collect();
            prop_assert_eq!(ext, expected);
            let mut pre = index.prefixes_of(&text);
            pre.sort_unstable();
            let expected: Vec<u32> =
                tokens.iter().filter(|(_, t)| text.starts_with(t)).map(|(id, _)| *id).collect();
            prop_assert_eq!(pre, expected);
        }

        #[test]
        fn advance_agrees_with_allowed(
            tokens in vocab(),
            constraint in prop::collection::vec(prop::sample::select(b"ab \xe4".to_vec()), 1..8),
        ) {
            let index = index_of(&tokens, tokens.len());
            let allowed = index.allowed_ids(&constraint);
            for (id, bytes) in &tokens {
                let rest = index.advance(&constraint, *id);
                prop_assert_eq!(rest.is_some(), allowed.contains(id));
                if let Some(rest) = rest {
                    // The token spells the constraint's start, or finishes it.
                    let spelled = [bytes.as_slice(), &rest].concat();
                    prop_assert!(spelled.starts_with(&constraint) || constraint == spelled);
                }
            }
        }
    }

    #[test]
    fn empty_constraint_allows_every_defined_id() {
        let tokens = [(0, b"a".to_vec()), (2, b"b".to_vec())];
        let index = TokenIndex::new(
            tokens.iter().map(|(i, b)| (*i, b.as_slice())),
            4,
            vec![true, false, true, true],
        )
        .expect("valid");
        assert_eq!(index.allowed_ids(b""), vec![0, 2, 3]);
        assert_eq!(index.allowed_mask(b""), vec![true, false, true, true]);
    }

    #[test]
    fn wide_one_byte_constraints_match_brute_force() {
        // More than WIDE_RANGE tokens start with "a": the precomputed-mask path.
        let mut tokens: Vec<(u32, Vec<u8>)> = (0..WIDE_RANGE as u32 + 50)
            .map(|i| (i, format!("a{i}").into_bytes()))
            .collect();
        tokens.push((tokens.len() as u32, b"b".to_vec()));
        let index = index_of(&tokens, tokens.len() + 1);
        for constraint in [&b"a"[..], b"a1", b"b", b"ab"] {
            let expected = reference_allowed(&tokens, constraint);
            assert_eq!(index.allowed_ids(constraint), expected);
            let mask = index.allowed_mask(constraint);
            let bits = index.allowed_bitmask(constraint);
            for id in 0..index.vocab_size() {
                let want = expected.binary_search(&(id as u32)).is_ok();
                assert_eq!(mask[id], want);
                assert_eq!(bits[id / 32] >> (id % 32) & 1 == 1, want);
            }
        }
    }

    #[test]
    fn dead_ends_are_not_allowed() {
        // "ab" can start "abc" only if "c" can be spelled; it cannot.
        let tokens = vec![
            (0, b"ab".to_vec()),
            (1, b"a".to_vec()),
            (2, b"bcd".to_vec()),
        ];
        let index = index_of(&tokens, 3);
        assert_eq!(index.allowed_ids(b"abc"), vec![1]);
        assert_eq!(index.advance(b"abc", 1), Some(b"bc".to_vec()));
        assert_eq!(index.advance(b"abc", 0), None);
    }

    #[test]
    fn incomplete_utf8_tail_is_split_off() {
        let text = "a中".as_bytes();
        assert_eq!(
            split_incomplete_utf8(&text[..2]).expect("ok"),
            ("a", &text[1..2])
        );
        assert_eq!(split_incomplete_utf8(text).expect("ok"), ("a中", &b""[..]));
        assert!(split_incomplete_utf8(b"a\xffb").is_err());
    }

    fn byte_level_tokenizer() -> Arc<Tokenizer> {
        let pieces = [
            "h", "e", "l", "o", "Ġ", "w", "r", "d", "he", "ll", "hell", "hello", "Ġw", "Ġwo", "or",
            "Ġwor", "Ġworld", "rl", "ld", "Ġworl",
        ];
        let merges = [
            ("h", "e"),
            ("l", "l"),
            ("he", "ll"),
            ("hell", "o"),
            ("Ġ", "w"),
            ("Ġw", "o"),
            ("Ġwo", "r"),
            ("Ġwor", "l"),
            ("Ġworl", "d"),
            ("o", "r"),
            ("r", "l"),
            ("l", "d"),
        ];
        let vocab: serde_json::Map<String, serde_json::Value> = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| ((*p).to_owned(), serde_json::Value::from(i)))
            .collect();
        let json = serde_json::json!({
            "added_tokens": [{"id": pieces.len(), "content": "<s>", "special": true}],
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
            "model": {"type": "BPE", "vocab": vocab,
                      "merges": merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>()},
        });
        Arc::new(Tokenizer::from_json_value(&json).expect("valid tokenizer"))
    }

    #[test]
    fn heals_a_word_cut_in_the_middle() {
        let tok = byte_level_tokenizer();
        let healer = Healer::new(Arc::clone(&tok), None).expect("index");
        let result = healer.heal(b"hello wor").expect("heal");
        assert_eq!(result.constraint, b" wor");
        assert_eq!(tok.decode_bytes(&result.ids).expect("ids"), b"hello");
        let world = tok.token_to_id("Ġworld").expect("token");
        assert!(healer
            .index()
            .allowed_ids(&result.constraint)
            .contains(&world));
        assert_eq!(
            result.prompt_ids,
            [result.ids.clone(), result.removed.clone()].concat()
        );
    }

    #[test]
    fn never_backs_off_across_a_special_token() {
        let tok = byte_level_tokenizer();
        let healer = Healer::new(Arc::clone(&tok), None).expect("index");
        let result = healer.heal(b"<s>").expect("heal");
        assert!(result.removed.is_empty() && result.constraint.is_empty());
        let result = healer.heal(b"<s>hel").expect("heal");
        assert_eq!(result.ids, vec![tok.token_to_id("<s>").expect("special")]);
        assert_eq!(result.constraint, b"hel");
    }

    #[test]
    fn max_backoff_caps_the_removed_tokens() {
        let tok = byte_level_tokenizer();
        let healer = Healer::new(Arc::clone(&tok), Some(0)).expect("index");
        let result = healer.heal(b"hello wor").expect("heal");
        assert!(result.removed.is_empty());
        assert!(result.constraint.is_empty());
    }
}
