//! The fast canonicity check: for plain byte-level tokenizers, decide whether `prefix + [t]`
//! starts a canonical encoding by pre-tokenizing the short text and running BPE only as far as
//! needed (or not at all, through the merge-tree pair check), with what it knows of every token.

use rustc_hash::FxHashMap;

use super::first_char::lead_kind;
use super::memo::{Scratch, SCRATCH};
use super::probes::{probes_after, Probes};
use super::CoverSearch;
use crate::merge_tree::{Edges, MergeTree};
use crate::tokenizer::Tokenizer;

/// What the fast canonicity check ([`CoverSearch::fast_valid`]) needs; present only for
/// tokenizers whose encoding of text without added tokens is "pre-tokenize, then BPE every
/// piece" on raw bytes (see `Tokenizer::is_plain_byte_level`).
#[derive(Debug)]
pub(super) struct FastCheck {
    /// Bytes that start some added token or have no unit in the vocabulary: a text without them
    /// holds no added token and its ids spell it back.
    pub(super) unsafe_byte: [bool; 256],
    /// How every token was merged, for the pair check (`None` when the merges are not in the
    /// order of a trained BPE).
    pub(super) tree: Option<MergeTree>,
    /// The pre-tokenizer is one of the class scanners (`PreTokenizer::is_class_scanned`).
    pub(super) class_scanned: bool,
    /// The distinct first chars of plain tokens (`TokenFacts::first_char`).
    pub(super) first_chars: Vec<char>,
    /// The distinct leading whitespace runs of tokens (`TokenFacts::ws_lead`).
    pub(super) ws_runs: Vec<Box<str>>,
    /// What the check knows of each token, by id.
    tokens: Vec<TokenFacts>,
}

/// What the fast check knows of one token.
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenFacts {
    /// The token's bytes are UTF-8 without unsafe bytes (`FastCheck::unsafe_byte`).
    pub(super) plain: bool,
    /// The token is plain and made of letters that run on after a letter in every supported
    /// pattern: ASCII lowercase, or ASCII letters of any case where letter runs ignore case
    /// (`PreTokenizer::letter_runs_ignore_case`).
    pub(super) run_on: bool,
    /// The index of the token's first char in `FastCheck::first_chars` (`u32::MAX` for tokens
    /// that are not plain).
    pub(super) first_char: u32,
    /// For a token that starts with whitespace and goes on with a char other than an apostrophe:
    /// its leading whitespace (an index into `FastCheck::ws_runs`) and the kind of the char after
    /// it ([`lead_kind`]); `None` for every other token.
    pub(super) ws_lead: Option<(u32, u32)>,
}

/// The facts of a token that is not plain.
const NOT_PLAIN: TokenFacts = TokenFacts {
    plain: false,
    run_on: false,
    first_char: u32::MAX,
    ws_lead: None,
};

impl FastCheck {
    pub(super) fn new(tok: &Tokenizer) -> Option<FastCheck> {
        if !tok.is_plain_byte_level() {
            return None;
        }
        let unsafe_byte = unsafe_bytes(tok);
        // The probes are appended to the text: they must be safe too.
        if Probes::all()
            .flatten()
            .any(|p| p.bytes().any(|b| unsafe_byte[usize::from(b)]))
        {
            return None;
        }
        let any_case = tok.letter_runs_ignore_case();
        let mut first_chars = Interner::default();
        let mut ws_runs = Interner::default();
        let tokens = tok
            .all_token_bytes()
            .iter()
            .map(|b| {
                // The text of a plain token (UTF-8 without unsafe bytes).
                let Some(text) = b.as_deref().and_then(|b| plain_text(b, &unsafe_byte)) else {
                    return NOT_PLAIN;
                };
                TokenFacts {
                    plain: true,
                    run_on: text
                        .bytes()
                        .all(|x| x.is_ascii_lowercase() || any_case && x.is_ascii_alphabetic()),
                    first_char: text.chars().next().map_or(u32::MAX, |c| first_chars.id(c)),
                    ws_lead: ws_lead(text).map(|(run, next)| (ws_runs.id(run.into()), next)),
                }
            })
            .collect();
        Some(FastCheck {
            unsafe_byte,
            tree: MergeTree::new(tok.bpe(), tok.vocab_size()),
            class_scanned: tok.is_class_scanned(),
            first_chars: first_chars.items,
            ws_runs: ws_runs.items,
            tokens,
        })
    }

    /// What the check knows of token `t` (`None` past the vocabulary).
    pub(super) fn token(&self, t: u32) -> Option<&TokenFacts> {
        self.tokens.get(t as usize)
    }
}

/// [`FastCheck::unsafe_byte`] of a tokenizer.
fn unsafe_bytes(tok: &Tokenizer) -> [bool; 256] {
    let mut unsafe_byte = [false; 256];
    for token in tok.added_tokens() {
        if let Some(&b) = token.content.as_bytes().first() {
            unsafe_byte[usize::from(b)] = true;
        }
    }
    for (b, id) in tok.bpe().byte_ids.iter().enumerate() {
        unsafe_byte[b] |= id.is_none();
    }
    unsafe_byte
}

/// Token bytes as text, if they are UTF-8 without unsafe bytes.
fn plain_text<'a>(bytes: &'a [u8], unsafe_byte: &[bool; 256]) -> Option<&'a str> {
    let text = std::str::from_utf8(bytes).ok()?;
    (!bytes.iter().any(|&x| unsafe_byte[usize::from(x)])).then_some(text)
}

/// The leading whitespace of a token's text and the [`lead_kind`] of the char after it, if it
/// starts with whitespace and goes on with a char other than an apostrophe.
fn ws_lead(text: &str) -> Option<(&str, u32)> {
    let body = text.trim_start_matches(char::is_whitespace);
    let next = body.chars().next()?;
    if body.len() == text.len() || next == '\'' {
        return None;
    }
    Some((&text[..text.len() - body.len()], lead_kind(next)))
}

/// Distinct values numbered in order of first appearance.
struct Interner<K> {
    index: FxHashMap<K, u32>,
    items: Vec<K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            index: FxHashMap::default(),
            items: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + std::hash::Hash> Interner<K> {
    /// The number of `key`, a new one if it is new.
    fn id(&mut self, key: K) -> u32 {
        let items = &mut self.items;
        *self.index.entry(key).or_insert_with_key(|key| {
            items.push(key.clone());
            (items.len() - 1) as u32
        })
    }
}

/// One question of [`CoverSearch::fast_valid`]: may the plain token `t` (text `tb`) follow the
/// tail ids `prefix` (text `w`)?
struct FastQuery<'a> {
    w: &'a str,
    tb: &'a str,
    prefix: &'a [u32],
    t: u32,
    /// `t` is its own encoding: the piece that is exactly `t`'s bytes needs no BPE.
    t_itself: bool,
    /// A piece that holds the border and reaches the end of `w + t` holds it whatever follows.
    border_stays_inside: bool,
}

/// How the ids of one more piece go along with the wanted ids `prefix + [t]`.
enum Follow {
    /// All wanted ids matched.
    Done,
    /// An id differs from the wanted one.
    Departed,
    /// They agree so far.
    Agrees,
}

impl FastQuery<'_> {
    /// The length of `w + t`.
    fn len(&self) -> usize {
        self.w.len() + self.tb.len()
    }

    /// Compare `ids` with the wanted ids from position `matched` on, advancing it.
    fn follow(&self, ids: &[u32], matched: &mut usize) -> Follow {
        for &id in ids {
            let want = self.prefix.get(*matched).copied().unwrap_or(self.t);
            if id != want {
                return Follow::Departed;
            }
            *matched += 1;
            if *matched == self.prefix.len() + 1 {
                return Follow::Done;
            }
        }
        Follow::Agrees
    }
}

impl CoverSearch {
    /// `tail` as text the fast check can take (UTF-8 without added-token bytes), if any.
    pub(super) fn fast_tail<'a>(&self, tail: &'a [u8]) -> Option<&'a str> {
        let fast = self.fast.as_ref()?;
        let text = std::str::from_utf8(tail).ok()?;
        (!tail.iter().any(|&b| fast.unsafe_byte[usize::from(b)])).then_some(text)
    }

    /// The answer of [`CoverSearch::is_valid`] for a UTF-8 tail `w` and a plain token `t`
    /// (`None` if the pre-tokenizer does not hand out slices of its input), computed without
    /// the general encoder: for each probe, pre-tokenize `w + t + probe` and run BPE piece by
    /// piece only until the ids agree with or depart from `prefix + [t]`. The piece that is
    /// exactly `t`'s bytes needs no BPE when `t` encodes to itself, and a probe whose pieces up
    /// to a piece that already departed (inside `w + t`) are the same as an earlier probe's
    /// cannot agree either, so it needs no BPE at all.
    pub(super) fn fast_valid(
        &self,
        w: &str,
        prefix: &[u32],
        t: u32,
        at_start: bool,
    ) -> Option<bool> {
        let tb = std::str::from_utf8(self.tok.token_bytes(t).ok()?).ok()?;
        let query = FastQuery {
            w,
            tb,
            prefix,
            t,
            t_itself: self
                .tok
                .bpe()
                .self_encoding
                .get(t as usize)
                .copied()
                .unwrap_or(false),
            // With a class scanner, a piece that holds the border and reaches the end of `w + t`
            // keeps holding it whatever follows, unless `t` has whitespace (`\s+(?!\S)` gives
            // back the last space) or an apostrophe is within two chars of the border
            // (contractions look two chars ahead): every match there was decided inside
            // `w + t`, and appended text can only lengthen the last one.
            border_stays_inside: self.fast.as_ref().is_some_and(|f| f.class_scanned)
                && !w.ends_with('\'')
                && !tb.chars().any(|c| c.is_whitespace() || c == '\''),
        };
        // The probes for the text `w + t`, which they follow: only its last two bytes count.
        let probes = match (w.as_bytes().last(), tb.as_bytes()) {
            (Some(&x), &[y]) => probes_after(&[x, y]),
            (_, []) => probes_after(w.as_bytes()),
            (_, bytes) => probes_after(bytes),
        };
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let scratch = &mut *scratch;
            scratch.failed.clear();
            for probe in probes {
                scratch.text.clear();
                scratch.text.push_str(w);
                scratch.text.push_str(tb);
                scratch.text.push_str(probe);
                if !self.piece_bounds(&scratch.text, at_start, &mut scratch.bounds) {
                    return None;
                }
                if !scratch.failed.is_empty() && scratch.bounds.starts_with(&scratch.failed) {
                    continue;
                }
                if let Some(valid) = self.probe_verdict(&query, probe.is_empty(), scratch) {
                    return Some(valid);
                }
            }
            Some(false)
        })
    }

    /// What one probe says in [`CoverSearch::fast_valid`], from the pieces `scratch.bounds` of
    /// `scratch.text` (`w + t + probe`), run through BPE piece by piece: `Some(true)` when the
    /// encoding starts with `prefix + [t]`, `Some(false)` when no continuation's encoding can,
    /// `None` when this probe's does not (with the pieces up to where it departed in
    /// `scratch.failed`, when they lie inside `w + t`).
    fn probe_verdict(
        &self,
        query: &FastQuery,
        probe_is_empty: bool,
        scratch: &mut Scratch,
    ) -> Option<bool> {
        let Scratch {
            text,
            bounds,
            ids,
            failed,
            edges,
        } = scratch;
        let &FastQuery {
            w,
            prefix,
            t,
            t_itself,
            border_stays_inside,
            ..
        } = query;
        let bpe = self.tok.bpe();
        let n_wt = query.len();
        let mut matched = 0;
        for (k, &(a, b)) in bounds.iter().enumerate() {
            // A piece that holds the border of `w` and `t` and reaches the end of `t`: its ids
            // start with the rest of `prefix` then `t` only if every adjacent pair of those
            // stays apart, and, when it ends with `t`, exactly then.
            if a < w.len() && b >= n_wt && matched < prefix.len() {
                if let Some(stays) =
                    self.border_piece(&text.as_bytes()[a..b], &prefix[matched..], t, edges)
                {
                    if stays && b == n_wt {
                        return Some(true);
                    }
                    if !stays {
                        if b == n_wt {
                            if probe_is_empty && border_stays_inside {
                                // No continuation splits this piece at the border.
                                return Some(false);
                            }
                            failed.clear();
                            failed.extend_from_slice(&bounds[..=k]);
                        }
                        return None;
                    }
                }
            }
            ids.clear();
            if a == w.len() && b == n_wt && t_itself {
                ids.push(t);
            } else {
                bpe.encode_piece(&text.as_bytes()[a..b], ids);
            }
            match query.follow(ids, &mut matched) {
                Follow::Done => return Some(true),
                Follow::Departed => {
                    if b <= n_wt {
                        failed.clear();
                        failed.extend_from_slice(&bounds[..=k]);
                    }
                    return None;
                }
                Follow::Agrees => {}
            }
        }
        None
    }

    /// The pre-tokenizer's pieces of `text` as byte ranges in `bounds`; `false` when they are
    /// not slices of `text` laid end to end (a pipeline that rewrites the text) or it fails.
    pub(super) fn piece_bounds(
        &self,
        text: &str,
        at_start: bool,
        bounds: &mut Vec<(usize, usize)>,
    ) -> bool {
        bounds.clear();
        let (base, len) = (text.as_ptr() as usize, text.len());
        let mut pos = 0usize;
        let mut slices = true;
        let ran = self.tok.pre_tokenize_at(text, at_start, &mut |piece| {
            let offset = (piece.as_ptr() as usize).wrapping_sub(base);
            if offset != pos || offset + piece.len() > len {
                slices = false;
                return;
            }
            bounds.push((pos, pos + piece.len()));
            pos += piece.len();
        });
        ran.is_ok() && slices && pos == len
    }

    /// Whether the adjacent pairs of `ids + [t]` all stay apart under BPE ([`MergeTree`]): if
    /// not, no canonical encoding holds `ids + [t]` in a row; if so and `bytes` (one piece) is
    /// their bytes, BPE encodes it as exactly `ids + [t]`. `false` too when `bytes` is one token
    /// under `ignore_merges`; `None` where the pair check does not apply (a token without a
    /// tree or that is not its own encoding).
    fn border_piece(&self, bytes: &[u8], ids: &[u32], t: u32, edges: &mut Edges) -> Option<bool> {
        let tree = self.fast.as_ref()?.tree.as_ref()?;
        let bpe = self.tok.bpe();
        if bpe.ignore_merges && bpe.key_to_id.contains_key(bytes) {
            // The whole piece is one token.
            return Some(false);
        }
        tree.pairs_stay(self.tok.bpe(), ids, t, edges)
    }

    /// Whether every adjacent pair of `ids + [t]` stays apart under BPE (`ids` not empty), with
    /// this thread's buffers; `None` where the pair check does not apply.
    pub(super) fn pairs_stay(&self, ids: &[u32], t: u32) -> Option<bool> {
        let tree = self.fast.as_ref()?.tree.as_ref()?;
        let bpe = self.tok.bpe();
        SCRATCH.with(|cell| tree.pairs_stay(bpe, ids, t, &mut cell.borrow_mut().edges))
    }

    /// `FastCheck::run_on` of token `t`.
    pub(super) fn runs_on(&self, t: u32) -> bool {
        self.fast
            .as_ref()
            .and_then(|f| f.token(t).map(|facts| facts.run_on))
            .unwrap_or(false)
    }
}
