//! Cover search for exact byte-level probabilities (Phan et al., ICLR 2025).
//!
//! A tokenized LM puts its mass on canonical token sequences. The probability that the text
//! starts with bytes `y` is the sum, over *covers* of `y`, of the probability of the cover: token
//! sequences whose tokens but the last lie inside `y` and whose last token reaches or straddles
//! the end of `y`, and that are a prefix of the canonical encoding of some text.
//!
//! For BPE with pre-tokenization every cover is `H + V + [t]`:
//! - `H`: the ids of `y[..b]`, where `b` is the last *certain* pre-token boundary (one that every
//!   continuation of `y` keeps, with the same ids before it);
//! - `V`: tokens covering `y[b..j]` exactly, as they appear in canonical encodings of `y` followed
//!   by some continuation;
//! - `t`: a token whose bytes start with `y[j..]`.
//!
//! Whether a candidate is a prefix of some canonical encoding is decided by encoding the short
//! tail after `b` followed by a fixed set of *probe* continuations (one per character class the
//! known pre-tokenizer patterns distinguish, plus the end of text): a candidate is valid when some
//! probe's canonical encoding starts with it. All encodings are done on the tail only, so the cost
//! does not grow with the prompt. A slow reference that re-encodes whole strings lives in the tests.
//!
//! `ByteLM` asks which tokens may follow each exact cover: up to the whole vocabulary, one to
//! twenty encodes per token. [`CoverSearch::valid_among`] makes that cheap in two steps. It first
//! *localizes* the question: when the tail has a certain pre-token boundary `s` at a token
//! boundary of the prefix ids (a pre-token starts at `s` after every probe), the encoding of any
//! text after the tail is the fixed ids before `s` followed by the encoding of the rest on its own,
//! so only the bytes and ids after `s` matter (the last word or run of spaces, say). It then
//! remembers each token's answer per localized question: the same short local contexts come back
//! again and again in a document. `CoverSearch::valid_next` (feature `reference`) keeps the
//! unlocalized, uncached check as the reference.
//!
//! The parts, one concern a file: `probes` (the continuations that stand for any text),
//! `certain` (the certain boundary that splits `y` into head and tail), `fast_check` (the
//! canonicity check without the general encoder), `first_char` (its shortcut per first char of
//! the candidates), `localize` (the shortest equivalent question), `memo` (remembered answers
//! and per-thread buffers) and `reference` (the slow references, for tests).
//! `crate::merge_tree` holds the pairwise BPE property the fast check relies on.

mod certain;
mod fast_check;
mod first_char;
mod localize;
mod memo;
mod probes;
#[cfg(any(test, feature = "reference"))]
mod reference;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::parallel::{maybe_par_filter, maybe_par_map};
use crate::prefix_index::PrefixIndex;
use crate::tokenizer::Tokenizer;
use fast_check::FastCheck;
use first_char::FirstCharGroups;
use memo::{remembered, Memo};
use probes::{completions, probes_after};

/// One family of straddling covers: `head + prefix + [t]` for each `t` in `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverGroup {
    /// Tail ids before the last token.
    pub prefix: Vec<u32>,
    /// Byte offset (in the tail) where the last token starts.
    pub start: usize,
    /// Valid last tokens; each one's bytes extend past the end of `y`.
    pub last: Vec<u32>,
}

/// All covers of a byte string `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covers {
    /// Ids of `y[..boundary]`, shared by every cover.
    pub head: Vec<u32>,
    pub boundary: usize,
    pub groups: Vec<CoverGroup>,
    /// Tail id sequences whose bytes are exactly `y[boundary..]` (covers that end at `y`'s end).
    pub exact: Vec<Vec<u32>>,
    /// The canonical encoding of `y` itself (tail part), if `y` has one: the only cover after
    /// which the text may end.
    pub canonical: Option<Vec<u32>>,
}

/// Questions about at most this many candidates are answered directly, without localizing
/// or remembering them.
const DIRECT_MAX: usize = 64;

/// Questions about more candidates than this are answered on the thread pool.
const PARALLEL_MIN: usize = 8192;

/// `covers_with` checks more straddling candidates of one prefix than this on the thread pool
/// (each check encodes the short tail with every probe, so far fewer than `PARALLEL_MIN` pay off).
const PARALLEL_FILTER_MIN: usize = 64;

/// Cover search over one tokenizer.
#[derive(Debug)]
pub struct CoverSearch {
    tok: Arc<Tokenizer>,
    index: PrefixIndex,
    memo: Memo,
    fast: Option<FastCheck>,
}

/// One localized validity question ([`CoverSearch::valid_among`]) and what the fast check
/// prepared for it.
struct LocalQuestion<'a> {
    tail: &'a [u8],
    prefix: &'a [u32],
    at_start: bool,
    /// `CoverSearch::fast_tail` of `tail`.
    fast_tail: Option<&'a str>,
    groups: Option<FirstCharGroups>,
}

impl CoverSearch {
    pub fn new(tok: Arc<Tokenizer>) -> CoverSearch {
        // The ids come from the tokenizer itself, so only a vocabulary of over 4 GiB of token
        // bytes (which no tokenizer file holds) could fail.
        let index = PrefixIndex::of_all_tokens(&tok).expect("token bytes under 4 GiB");
        let fast = FastCheck::new(&tok);
        CoverSearch {
            tok,
            index,
            memo: Memo::default(),
            fast,
        }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tok
    }

    /// All tokens whose bytes start with `prefix`, in byte order.
    pub fn tokens_with_prefix(&self, prefix: &[u8]) -> &[u32] {
        self.index.extensions(prefix)
    }

    /// The canonical ids of a document-internal byte string, if its token bytes reproduce it.
    /// A string ending inside a UTF-8 character is completed with each of a few continuation
    /// bytes first (tokens of byte-level files may end inside a character).
    pub(super) fn encode_bytes(&self, y: &[u8], at_start: bool) -> Option<Vec<u32>> {
        let implicit = if at_start {
            self.tok.implicit_prefix()
        } else {
            b""
        };
        let body = y.strip_prefix(implicit)?;
        let text = std::str::from_utf8(body).ok()?;
        let ids = self.tok.encode_at(text, at_start).ok()?;
        let mut rebuilt = Vec::with_capacity(y.len());
        for &id in &ids {
            rebuilt.extend_from_slice(self.tok.token_bytes(id).ok()?);
        }
        (rebuilt == y).then_some(ids)
    }

    /// [`CoverSearch::is_valid`], through the fast check when it applies (`fast_tail` is
    /// `Self::fast_tail(tail)`, computed once per question).
    fn check(
        &self,
        tail: &[u8],
        fast_tail: Option<&str>,
        prefix: &[u32],
        t: u32,
        at_start: bool,
    ) -> bool {
        if let (Some(w), Some(fast)) = (fast_tail, &self.fast) {
            if fast.token(t).is_some_and(|facts| facts.plain) {
                if let Some(valid) = self.fast_valid(w, prefix, t, at_start) {
                    return valid;
                }
            }
        }
        self.is_valid(tail, prefix, t, at_start)
    }

    /// Whether `prefix + [t]` (tail ids covering `tail[..]` then `t`) starts a canonical encoding.
    pub(super) fn is_valid(&self, tail: &[u8], prefix: &[u32], t: u32, at_start: bool) -> bool {
        let Ok(tb) = self.tok.token_bytes(t) else {
            return false;
        };
        let y = [tail, tb].concat();
        let mut want = prefix.to_vec();
        want.push(t);
        completions(&y).iter().any(|completed| {
            probes_after(completed).iter().any(|probe| {
                self.encode_bytes(&[completed.as_slice(), probe.as_bytes()].concat(), at_start)
                    .is_some_and(|ids| ids.starts_with(&want))
            })
        })
    }

    /// All covers of `y` (document-internal bytes: the implicit prefix of SentencePiece-style
    /// files included).
    pub fn covers(&self, y: &[u8]) -> Result<Covers> {
        self.covers_with(y, true)
    }

    /// `covers`, optionally without checking the straddling last tokens (`validate = false`):
    /// callers that know which candidates carry probability check only those with
    /// [`CoverSearch::valid_among`].
    pub fn covers_with(&self, y: &[u8], validate: bool) -> Result<Covers> {
        let (boundary, head) = self.certain_boundary(y);
        let tail = &y[boundary..];
        let at_start = boundary == 0;
        let prefixes = self.candidate_prefixes(tail, at_start);
        let mut groups = Vec::new();
        let mut exact: Vec<Vec<u32>> = prefixes
            .iter()
            .filter(|(end, ids)| *end == tail.len() && !ids.is_empty())
            .map(|(_, ids)| ids.clone())
            .collect();
        if tail.is_empty() {
            exact.push(Vec::new());
        }
        for (start, prefix) in prefixes.iter().filter(|(end, _)| *end < tail.len()) {
            let (ending_here, straddling) =
                self.last_tokens(tail, *start, prefix, at_start, validate);
            for t in ending_here {
                let mut ids = prefix.clone();
                ids.push(t);
                if !exact.contains(&ids) {
                    exact.push(ids);
                }
            }
            if !straddling.is_empty() {
                groups.push(CoverGroup {
                    prefix: prefix.clone(),
                    start: *start,
                    last: straddling,
                });
            }
        }
        exact.sort();
        let canonical = self.encode_bytes(tail, at_start);
        Ok(Covers {
            head,
            boundary,
            groups,
            exact,
            canonical,
        })
    }

    /// Candidate prefixes V of the covers of `tail`, keyed by where they end (j), sorted: by the
    /// prefix property of BPE the tokens before the last one are the canonical encoding of
    /// `tail[..j]` as it appears when text follows, so encode `tail[..j]` followed by each probe
    /// and cut at `j`.
    fn candidate_prefixes(&self, tail: &[u8], at_start: bool) -> Vec<(usize, Vec<u32>)> {
        let mut prefixes: Vec<(usize, Vec<u32>)> = vec![(0, Vec::new())];
        for j in 1..=tail.len() {
            for completed in completions(&tail[..j]) {
                for probe in probes_after(&completed) {
                    let full = [completed.as_slice(), probe.as_bytes()].concat();
                    let Some(ids) = self.encode_bytes(&full, at_start) else {
                        continue;
                    };
                    if let Some(cut) = cut_at(&self.tok, &ids, j) {
                        let entry = (j, cut);
                        if !prefixes.contains(&entry) {
                            prefixes.push(entry);
                        }
                    }
                }
            }
        }
        prefixes.sort();
        prefixes
    }

    /// The valid last tokens after the candidate prefix `prefix` (ending at `start` in `tail`):
    /// those that end exactly at the end of `tail`, and those that straddle it (all of them,
    /// unchecked, when not `validate`).
    fn last_tokens(
        &self,
        tail: &[u8],
        start: usize,
        prefix: &[u32],
        at_start: bool,
        validate: bool,
    ) -> (Vec<u32>, Vec<u32>) {
        let rest = &tail[start..];
        let candidates = self.index.extensions(rest);
        let (ending_here, straddling): (Vec<u32>, Vec<u32>) = candidates
            .iter()
            .partition(|&&t| self.tok.token_bytes(t).map_or(0, <[u8]>::len) == rest.len());
        let before = &tail[..start];
        let fast_before = self.fast_tail(before);
        let check = |t: &u32| self.check(before, fast_before, prefix, *t, at_start);
        // Covers that end exactly at the end are always checked: they are few.
        let ending_here: Vec<u32> = ending_here.into_iter().filter(check).collect();
        let straddling: Vec<u32> = if !validate {
            straddling
        } else if straddling.len() > PARALLEL_FILTER_MIN {
            maybe_par_filter(&straddling, check)
        } else {
            straddling.into_iter().filter(check).collect()
        };
        (ending_here, straddling)
    }

    /// `valid[i]`: token `ids[i]` may follow the tail ids `prefix` (whose bytes are `tail`).
    pub fn valid_among(
        &self,
        tail: &[u8],
        prefix: &[u32],
        at_start: bool,
        ids: &[u32],
    ) -> Result<Vec<bool>> {
        self.check_ids(prefix)?;
        // Candidates may include holes in the id space (never valid), not ids past its end.
        let vocab_size = self.tok.vocab_size();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(Error::InvalidId {
                id: u64::from(id),
                vocab_size,
            });
        }
        if ids.len() <= DIRECT_MAX {
            // A few candidates: checking them on the whole tail costs less than localizing.
            let fast_tail = self.fast_tail(tail);
            return Ok(ids
                .iter()
                .map(|&t| self.check(tail, fast_tail, prefix, t, at_start))
                .collect());
        }
        let (local_tail, local_prefix, local_start) = self.localize(tail, prefix, at_start);
        let answers = self.answers_for((local_tail.to_vec(), local_prefix.to_vec(), local_start));
        let fast_tail = self.fast_tail(local_tail);
        let question = LocalQuestion {
            tail: local_tail,
            prefix: local_prefix,
            at_start: local_start,
            fast_tail,
            groups: fast_tail.and_then(|w| self.first_char_groups(w, local_prefix)),
        };
        let check =
            |&t: &u32| remembered(&answers[t as usize], &|| self.decide_local(&question, t));
        // The thread pool pays off only on vocabulary-sized questions: with a model's own
        // threads busy between calls, waking the pool costs more than small questions take.
        Ok(if ids.len() > PARALLEL_MIN {
            maybe_par_map(ids, check)
        } else {
            ids.iter().map(check).collect()
        })
    }

    /// Whether `t` may follow a localized question: by the first-char shortcut where it decides
    /// ([`CoverSearch::first_char_shortcut`]), by the check on the local tail otherwise.
    fn decide_local(&self, question: &LocalQuestion, t: u32) -> bool {
        if let Some(valid) = self.first_char_shortcut(question, t) {
            return valid;
        }
        self.check(
            question.tail,
            question.fast_tail,
            question.prefix,
            t,
            question.at_start,
        )
    }

    /// Every id of a token sequence names a token (holes in the id space do not).
    pub(super) fn check_ids(&self, ids: &[u32]) -> Result<()> {
        ids.iter()
            .try_for_each(|&id| self.tok.token_bytes(id).map(|_| ()))
    }
}

/// The first ids of `ids` whose bytes add up to exactly `len`, if a token boundary falls there.
fn cut_at(tok: &Tokenizer, ids: &[u32], len: usize) -> Option<Vec<u32>> {
    let mut pos = 0;
    for (k, &id) in ids.iter().enumerate() {
        if pos == len {
            return Some(ids[..k].to_vec());
        }
        pos += tok.token_bytes(id).map_or(0, <[u8]>::len);
        if pos > len {
            return None;
        }
    }
    (pos == len).then(|| ids.to_vec())
}
