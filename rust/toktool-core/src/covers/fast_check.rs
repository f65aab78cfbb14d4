//! The fast canonicity check: for plain byte-level tokenizers, decide whether `prefix + [t]`
//! starts a canonical encoding by pre-tokenizing the short text and running BPE only as far as
//! needed (or not at all, through the merge-tree pair check), and, per question, by the first
//! char of the candidate tokens.

use std::sync::{Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use super::memo::{remembered, Answers, Scratch, SCRATCH};
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

/// One question's decisions of [`CoverSearch::border_for`] per distinct first char (and per
/// whitespace lead), and the shared answers of the question "which tokens may start a
/// pre-token".
pub(super) struct FirstCharGroups {
    pub(super) decided: Vec<OnceLock<Border>>,
    /// Decisions for whitespace leads after a tail that ends with whitespace, by
    /// `FastCheck::ws_lead`.
    pub(super) ws_decided: Mutex<FxHashMap<(u32, u32), Border>>,
    pub(super) fresh: Answers,
    /// The model does not look whole pieces up first (`ignore_merges`): a condition of the
    /// `Border::Joins` shortcut.
    pub(super) merges_only: bool,
}

/// How `w + lead` is pre-tokenized around the end of the tail `w`, where `lead` stands for the
/// start of the candidate tokens (see [`CoverSearch::border_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Border {
    /// A pre-token starts after `w`, whatever follows `lead`, and the pieces of `w` encode to
    /// the tail ids.
    NewPiece,
    /// The last piece of `w + lead` starts inside `w` and holds `lead`; the pieces before it encode
    /// to the first `before` tail ids.
    Joins { before: usize },
    /// A pre-token boundary falls inside the token's lead: the token cannot follow.
    Splits,
    /// Anything else: no shortcut.
    Other,
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

    /// Per-question state of the first-char shortcut (see [`CoverSearch::border_for`]),
    /// when it applies: a class scanner, a non-empty tail that does not end with an apostrophe.
    pub(super) fn first_char_groups(&self, w: &str, prefix: &[u32]) -> Option<FirstCharGroups> {
        let fast = self.fast.as_ref()?;
        if !fast.class_scanned || w.is_empty() || prefix.is_empty() || w.ends_with('\'') {
            return None;
        }
        Some(FirstCharGroups {
            decided: (0..fast.first_chars.len())
                .map(|_| OnceLock::new())
                .collect(),
            ws_decided: Mutex::new(FxHashMap::default()),
            fresh: self.answers_for((Vec::new(), Vec::new(), false)),
            merges_only: !self.tok.bpe().ignore_merges,
        })
    }

    /// The answer for `t` that the first-char shortcut gives (see [`CoverSearch::border_for`]),
    /// if it gives one.
    pub(super) fn first_char_shortcut(
        &self,
        groups: &FirstCharGroups,
        w: &str,
        prefix: &[u32],
        at_start: bool,
        t: u32,
    ) -> Option<bool> {
        match self.border_for(groups, w, prefix, at_start, t) {
            // `t` starts a pre-token at the border whatever follows, and the ids before it are
            // `prefix`: it is valid exactly where it is valid at the start of any pre-token, an
            // answer shared by every question.
            Border::NewPiece => Some(remembered(&groups.fresh[t as usize], &|| {
                self.check(b"", Some(""), &[], t, false)
            })),
            Border::Splits => Some(false),
            // The piece holding the border took `c` in, so it is a letter run (perhaps led by
            // one other char) and runs on through `t`'s letters: it ends with `t` (and only
            // grows with what follows), so the pairwise check decides alone, as in
            // `fast_valid`.
            Border::Joins { before } if groups.merges_only && self.runs_on(t) => {
                self.pairs_stay(&prefix[before..], t)
            }
            _ => None,
        }
    }

    /// The shape of `w + c` around the end of `w` for `t`'s first char `c`, decided once per
    /// question and char ([`Border`]). With a class scanner, the pieces of `w + c` that end by
    /// the end of `w` were ended by chars of `w + c` and stay whatever follows `c`, except where
    /// a match looks further: contractions (so neither `c` nor the end of `w` may be an
    /// apostrophe) and whitespace runs (`\s*[\r\n]+` can swallow a run that ends `w` if more
    /// whitespace and a newline follow, so `c` and the end of `w` may not both be whitespace).
    pub(super) fn border_for(
        &self,
        groups: &FirstCharGroups,
        w: &str,
        prefix: &[u32],
        at_start: bool,
        t: u32,
    ) -> Border {
        let Some(fast) = self.fast.as_ref() else {
            return Border::Other;
        };
        let Some(facts) = fast.token(t) else {
            return Border::Other;
        };
        let class = facts.first_char;
        let Some(&c) = fast.first_chars.get(class as usize) else {
            return Border::Other;
        };
        let w_ends_in_space = w.chars().next_back().is_some_and(char::is_whitespace);
        if c.is_whitespace() && w_ends_in_space {
            // Whitespace after whitespace: the splits of the whole run depend on all of it and
            // on the kind of char that ends it, so decide per leading run and that kind.
            return match facts.ws_lead {
                Some(key) => self.ws_border(groups, w, prefix, at_start, key),
                None => Border::Other,
            };
        }
        let Some(slot) = groups.decided.get(class as usize) else {
            return Border::Other;
        };
        *slot.get_or_init(|| {
            if c == '\'' {
                Border::Other
            } else {
                self.border_after(w, prefix, at_start, c.encode_utf8(&mut [0; 4]))
            }
        })
    }

    /// [`CoverSearch::border_for`] of the tokens with the whitespace lead `key`
    /// ([`TokenFacts::ws_lead`]) after a tail `w` that ends with whitespace, decided once per
    /// question and lead.
    fn ws_border(
        &self,
        groups: &FirstCharGroups,
        w: &str,
        prefix: &[u32],
        at_start: bool,
        key: (u32, u32),
    ) -> Border {
        let mut decided = groups
            .ws_decided
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&border) = decided.get(&key) {
            return border;
        }
        let border = match (lead_char(key.1), self.fast.as_ref()) {
            (Some(next), Some(fast)) => {
                let mut lead = String::from(&*fast.ws_runs[key.0 as usize]);
                lead.push(next);
                match self.border_after(w, prefix, at_start, &lead) {
                    Border::Joins { .. } => Border::Other,
                    other => other,
                }
            }
            _ => Border::Other,
        };
        decided.insert(key, border);
        border
    }

    /// [`Border`] of `w + lead` by pre-tokenizing it, where `lead` stands for the start of the
    /// candidate tokens (the conditions on it checked by the caller).
    fn border_after(&self, w: &str, prefix: &[u32], at_start: bool, lead: &str) -> Border {
        let mut text = String::with_capacity(w.len() + lead.len());
        text.push_str(w);
        text.push_str(lead);
        let len = text.len();
        let mut bounds = Vec::new();
        if !self.piece_bounds(&text, at_start, &mut bounds) {
            return Border::Other;
        }
        if bounds.iter().any(|&(a, _)| a > w.len() && a < len) {
            return Border::Splits;
        }
        let mut ids = Vec::new();
        for &(a, b) in &bounds {
            if b <= w.len() {
                self.tok
                    .bpe()
                    .encode_piece(&text.as_bytes()[a..b], &mut ids);
                continue;
            }
            if a == w.len() {
                return if ids == prefix {
                    Border::NewPiece
                } else {
                    Border::Other
                };
            }
            // The piece holding the border, which is the last one: the ids before it must be
            // the tail ids up to a token boundary at its start.
            let before = ids.len();
            let rest: usize = prefix.get(before..).map_or(usize::MAX, |r| {
                r.iter()
                    .map(|&id| self.tok.token_bytes(id).map_or(usize::MAX / 4, <[u8]>::len))
                    .sum()
            });
            // An apostrophe in it may be a contraction, which ends where it ends rather than
            // running on with the letters after it.
            let plain_run = !w[a..].contains('\'');
            return if b == len
                && plain_run
                && prefix.starts_with(&ids)
                && before < prefix.len()
                && rest == w.len() - a
            {
                Border::Joins { before }
            } else {
                Border::Other
            };
        }
        Border::Other
    }
}

/// The kind of the char after a token's leading whitespace, as far as the class scanners tell
/// chars apart there: ASCII lowercase (0), uppercase (1) and digits (2) each as one kind, any
/// other char as itself (`3 + code point`).
fn lead_kind(c: char) -> u32 {
    match c {
        'a'..='z' => 0,
        'A'..='Z' => 1,
        '0'..='9' => 2,
        _ => 3 + u32::from(c),
    }
}

/// A char of a [`lead_kind`].
fn lead_char(kind: u32) -> Option<char> {
    match kind {
        0 => Some('a'),
        1 => Some('A'),
        2 => Some('0'),
        _ => char::from_u32(kind - 3),
    }
}
