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
//! again and again in a document. [`CoverSearch::valid_next`] keeps the unlocalized, uncached
//! check as the reference.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::merge_tree::{Edges, MergeTree};
use crate::parallel::{maybe_par_filter, maybe_par_map};
use crate::prefix_index::PrefixIndex;
use crate::scanner::CONTRACTIONS;
use crate::tokenizer::Tokenizer;

/// Continuations that stand for "any text after this": the end of text and one representative
/// of every character class that the supported pre-tokenizer patterns tell apart, plus a
/// contraction (`'s`: o200k's pattern attaches it to the word before). [`probes_after`] adds
/// the letters that complete a contraction after an apostrophe.
const BASE_PROBES: &[&str] = &[
    "", " ", "a", "A", "0", ".", "\n", "'", "\t", "-", " a", "  ", "a ", "00", "é", "中", "\u{a0}",
    "\r\n", "_", "/", "'s",
];

/// The probe lists: the base probes, and for each proper prefix of a contraction (lowercase;
/// the empty one right after the apostrophe) the base probes followed by the letters that
/// complete it, in lowercase then in uppercase.
struct Probes {
    base: Vec<Box<str>>,
    after_partial: Vec<(Box<str>, Vec<Box<str>>)>,
}

impl Probes {
    fn build() -> Probes {
        let base: Vec<Box<str>> = BASE_PROBES.iter().map(|&p| p.into()).collect();
        let mut completions: Vec<(&str, Vec<&str>)> = Vec::new();
        for &contraction in CONTRACTIONS {
            for cut in 0..contraction.len() {
                let (partial, rest) = contraction.split_at(cut);
                match completions.iter_mut().find(|(p, _)| *p == partial) {
                    Some((_, rests)) => rests.push(rest),
                    None => completions.push((partial, vec![rest])),
                }
            }
        }
        let after_partial = completions
            .into_iter()
            .map(|(partial, rests)| {
                let mut list = base.clone();
                for rest in &rests {
                    if !list.iter().any(|p| **p == **rest) {
                        list.push((*rest).into());
                    }
                }
                for rest in &rests {
                    let upper: Box<str> = rest.to_ascii_uppercase().into();
                    if !list.contains(&upper) {
                        list.push(upper);
                    }
                }
                (partial.into(), list)
            })
            .collect();
        Probes {
            base,
            after_partial,
        }
    }

    fn get() -> &'static Probes {
        static PROBES: OnceLock<Probes> = OnceLock::new();
        PROBES.get_or_init(Probes::build)
    }

    /// Every probe list.
    fn all() -> impl Iterator<Item = &'static [Box<str>]> {
        let probes = Probes::get();
        std::iter::once(probes.base.as_slice())
            .chain(probes.after_partial.iter().map(|(_, list)| list.as_slice()))
    }
}

/// The probes for text that ends with `before`: the contractions of the supported patterns
/// ([`CONTRACTIONS`], any case) depend on the letters after the apostrophe, so text ending
/// inside one gets the letters that would complete it.
fn probes_after(before: &[u8]) -> &'static [Box<str>] {
    let probes = Probes::get();
    for (partial, list) in &probes.after_partial {
        let n = partial.len();
        if before.len() > n
            && before[before.len() - n - 1] == b'\''
            && before[before.len() - n..].eq_ignore_ascii_case(partial.as_bytes())
        {
            return list;
        }
    }
    &probes.base
}

impl FastCheck {
    fn new(tok: &Tokenizer) -> Option<FastCheck> {
        if !tok.is_plain_byte_level() {
            return None;
        }
        let mut unsafe_byte = [false; 256];
        for token in tok.added_tokens() {
            if let Some(&b) = token.content.as_bytes().first() {
                unsafe_byte[usize::from(b)] = true;
            }
        }
        for (b, id) in tok.bpe().byte_ids.iter().enumerate() {
            unsafe_byte[b] |= id.is_none();
        }
        // The probes are appended to the text: they must be safe too.
        if Probes::all()
            .flatten()
            .any(|p| p.bytes().any(|b| unsafe_byte[usize::from(b)]))
        {
            return None;
        }
        // The text of every plain token (UTF-8 without unsafe bytes); `None` for the others.
        let texts: Vec<Option<&str>> = tok
            .all_token_bytes()
            .iter()
            .map(|b| {
                let b = b.as_deref()?;
                let text = std::str::from_utf8(b).ok()?;
                (!b.iter().any(|&x| unsafe_byte[usize::from(x)])).then_some(text)
            })
            .collect();
        let plain = texts.iter().map(Option::is_some).collect();
        let tree = MergeTree::new(tok.bpe(), tok.vocab_size());
        let mut index: FxHashMap<char, u32> = FxHashMap::default();
        let mut first_chars = Vec::new();
        let first_char_of = texts
            .iter()
            .map(|text| {
                text.and_then(|text| text.chars().next())
                    .map_or(u32::MAX, |c| {
                        *index.entry(c).or_insert_with(|| {
                            first_chars.push(c);
                            (first_chars.len() - 1) as u32
                        })
                    })
            })
            .collect();
        let any_case = tok.letter_runs_ignore_case();
        let run_on = texts
            .iter()
            .map(|text| {
                text.is_some_and(|text| {
                    text.bytes()
                        .all(|x| x.is_ascii_lowercase() || any_case && x.is_ascii_alphabetic())
                })
            })
            .collect();
        let mut run_index: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut ws_runs: Vec<Box<str>> = Vec::new();
        let ws_lead = texts
            .iter()
            .map(|&text| {
                let text = text?;
                let body = text.trim_start_matches(char::is_whitespace);
                let next = body.chars().next()?;
                if body.len() == text.len() || next == '\'' {
                    return None;
                }
                let run: Box<str> = text[..text.len() - body.len()].into();
                let index = *run_index.entry(run.clone()).or_insert_with(|| {
                    ws_runs.push(run);
                    (ws_runs.len() - 1) as u32
                });
                Some((index, lead_kind(next)))
            })
            .collect();
        Some(FastCheck {
            unsafe_byte,
            plain,
            tree,
            class_scanned: tok.is_class_scanned(),
            first_chars,
            first_char_of,
            ws_lead,
            ws_runs,
            run_on,
        })
    }
}

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

/// A localized validity question: the bytes and ids after a certain pre-token boundary, and
/// whether that boundary is the document start.
type LocalKey = (Vec<u8>, Vec<u32>, bool);

/// Per token of the vocabulary: not decided yet, invalid, valid.
type Answers = Arc<[AtomicU8]>;

const UNDECIDED: u8 = 0;
const INVALID: u8 = 1;
const VALID: u8 = 2;

/// How many localized questions keep their answers (each holds one byte per vocabulary entry);
/// the memo starts over when it is full.
const MEMO_QUESTIONS: usize = 512;

/// Questions about at most this many candidates are answered directly, without localizing
/// or remembering them.
const DIRECT_MAX: usize = 64;

/// Questions about more candidates than this are answered on the thread pool.
const PARALLEL_MIN: usize = 8192;

/// `covers_with` checks more straddling candidates of one prefix than this on the thread pool
/// (each check encodes the short tail with every probe, so far fewer than `PARALLEL_MIN` pay off).
const PARALLEL_FILTER_MIN: usize = 64;

/// How many token boundaries of the prefix, from the end, are tried as the local start.
const LOCAL_TRIES: usize = 4;

/// What the fast canonicity check ([`CoverSearch::fast_valid`]) needs; present only for
/// tokenizers whose encoding of text without added tokens is "pre-tokenize, then BPE every
/// piece" on raw bytes (see `Tokenizer::is_plain_byte_level`).
#[derive(Debug)]
struct FastCheck {
    /// Bytes that start some added token or have no unit in the vocabulary: a text without them
    /// holds no added token and its ids spell it back.
    unsafe_byte: [bool; 256],
    /// `plain[t]`: token `t`'s bytes are UTF-8 without such bytes.
    plain: Vec<bool>,
    /// How every token was merged, for the pair check (`None` when the merges are not in the
    /// order of a trained BPE).
    tree: Option<MergeTree>,
    /// The pre-tokenizer is one of the class scanners (`PreTokenizer::is_class_scanned`).
    class_scanned: bool,
    /// The distinct first chars of plain tokens, and for each token the index of its first char
    /// there (`u32::MAX` for tokens that are not plain).
    first_chars: Vec<char>,
    first_char_of: Vec<u32>,
    /// Tokens that start with whitespace and go on with a char other than an apostrophe: their
    /// leading whitespace (an index into `ws_runs`) and the kind of the char after it
    /// ([`lead_kind`]); `None` for every other token.
    ws_lead: Vec<Option<(u32, u32)>>,
    ws_runs: Vec<Box<str>>,
    /// `run_on[t]`: token `t` is plain and made of letters that run on after a letter in every
    /// supported pattern: ASCII lowercase, or ASCII letters of any case where letter runs
    /// ignore case (`PreTokenizer::letter_runs_ignore_case`).
    run_on: Vec<bool>,
}

/// One question's decisions of [`CoverSearch::border_for`] per distinct first char (and per
/// whitespace lead), and the shared answers of the question "which tokens may start a
/// pre-token".
struct FirstCharGroups {
    decided: Vec<OnceLock<Border>>,
    /// Decisions for whitespace leads after a tail that ends with whitespace, by
    /// `FastCheck::ws_lead`.
    ws_decided: Mutex<FxHashMap<(u32, u32), Border>>,
    fresh: Answers,
    /// The model does not look whole pieces up first (`ignore_merges`): a condition of the
    /// `Border::Joins` shortcut.
    merges_only: bool,
}

/// How `w + lead` is pre-tokenized around the end of the tail `w`, where `lead` stands for the
/// start of the candidate tokens (see [`CoverSearch::border_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Border {
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

/// Reused buffers of the fast check, one set per thread.
#[derive(Default)]
struct Scratch {
    text: String,
    bounds: Vec<(usize, usize)>,
    ids: Vec<u32>,
    failed: Vec<(usize, usize)>,
    edges: Edges,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Cover search over one tokenizer.
#[derive(Debug)]
pub struct CoverSearch {
    tok: Arc<Tokenizer>,
    index: PrefixIndex,
    memo: Mutex<FxHashMap<LocalKey, Answers>>,
    fast: Option<FastCheck>,
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
            memo: Mutex::new(FxHashMap::default()),
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
    fn encode_bytes(&self, y: &[u8], at_start: bool) -> Option<Vec<u32>> {
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

    /// `tail` as text the fast check can take (UTF-8 without added-token bytes), if any.
    fn fast_tail<'a>(&self, tail: &'a [u8]) -> Option<&'a str> {
        let fast = self.fast.as_ref()?;
        let text = std::str::from_utf8(tail).ok()?;
        (!tail.iter().any(|&b| fast.unsafe_byte[usize::from(b)])).then_some(text)
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
            if fast.plain.get(t as usize).copied().unwrap_or(false) {
                if let Some(valid) = self.fast_valid(w, prefix, t, at_start) {
                    return valid;
                }
            }
        }
        self.is_valid(tail, prefix, t, at_start)
    }

    /// The answer of [`CoverSearch::is_valid`] for a UTF-8 tail `w` and a plain token `t`
    /// (`None` if the pre-tokenizer does not hand out slices of its input), computed without
    /// the general encoder: for each probe, pre-tokenize `w + t + probe` and run BPE piece by
    /// piece only until the ids agree with or depart from `prefix + [t]`. The piece that is
    /// exactly `t`'s bytes needs no BPE when `t` encodes to itself, and a probe whose pieces up
    /// to a piece that already departed (inside `w + t`) are the same as an earlier probe's
    /// cannot agree either, so it needs no BPE at all.
    fn fast_valid(&self, w: &str, prefix: &[u32], t: u32, at_start: bool) -> Option<bool> {
        let tb = std::str::from_utf8(self.tok.token_bytes(t).ok()?).ok()?;
        let bpe = self.tok.bpe();
        let t_itself = bpe.self_encoding.get(t as usize).copied().unwrap_or(false);
        let n_wt = w.len() + tb.len();
        let want_len = prefix.len() + 1;
        let want = |i: usize| prefix.get(i).copied().unwrap_or(t);
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let Scratch {
                text,
                bounds,
                ids,
                failed,
                edges,
            } = &mut *scratch;
            failed.clear();
            // With a class scanner, a piece that holds the border and reaches the end of `w + t`
            // keeps holding it whatever follows, unless `t` has whitespace (`\s+(?!\S)` gives
            // back the last space) or an apostrophe is within two chars of the border
            // (contractions look two chars ahead): every match there was decided inside
            // `w + t`, and appended text can only lengthen the last one.
            let border_stays_inside = self.fast.as_ref().is_some_and(|f| f.class_scanned)
                && !w.ends_with('\'')
                && !tb.chars().any(|c| c.is_whitespace() || c == '\'');
            // The probes for the text `w + t`, which they follow: only its last two bytes count.
            let probes = match (w.as_bytes().last(), tb.as_bytes()) {
                (Some(&x), &[y]) => probes_after(&[x, y]),
                (_, []) => probes_after(w.as_bytes()),
                (_, bytes) => probes_after(bytes),
            };
            for probe in probes {
                text.clear();
                text.push_str(w);
                text.push_str(tb);
                text.push_str(probe);
                if !self.piece_bounds(text, at_start, bounds) {
                    return None;
                }
                if !failed.is_empty() && bounds.starts_with(failed) {
                    continue;
                }
                let mut matched = 0;
                for (k, &(a, b)) in bounds.iter().enumerate() {
                    // A piece that holds the border of `w` and `t` and reaches the end of `t`:
                    // its ids start with the rest of `prefix` then `t` only if every adjacent
                    // pair of those stays apart, and, when it ends with `t`, exactly then.
                    if a < w.len() && b >= n_wt && matched < prefix.len() {
                        if let Some(stays) =
                            self.border_piece(&text.as_bytes()[a..b], &prefix[matched..], t, edges)
                        {
                            if stays && b == n_wt {
                                return Some(true);
                            }
                            if !stays {
                                if b == n_wt {
                                    if probe.is_empty() && border_stays_inside {
                                        // No continuation splits this piece at the border.
                                        return Some(false);
                                    }
                                    failed.clear();
                                    failed.extend_from_slice(&bounds[..=k]);
                                }
                                break;
                            }
                        }
                    }
                    ids.clear();
                    if a == w.len() && b == n_wt && t_itself {
                        ids.push(t);
                    } else {
                        bpe.encode_piece(&text.as_bytes()[a..b], ids);
                    }
                    let mut departed = false;
                    for &id in ids.iter() {
                        if id != want(matched) {
                            departed = true;
                            break;
                        }
                        matched += 1;
                        if matched == want_len {
                            return Some(true);
                        }
                    }
                    if departed {
                        if b <= n_wt {
                            failed.clear();
                            failed.extend_from_slice(&bounds[..=k]);
                        }
                        break;
                    }
                }
            }
            Some(false)
        })
    }

    /// The pre-tokenizer's pieces of `text` as byte ranges in `bounds`; `false` when they are
    /// not slices of `text` laid end to end (a pipeline that rewrites the text) or it fails.
    fn piece_bounds(&self, text: &str, at_start: bool, bounds: &mut Vec<(usize, usize)>) -> bool {
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
    fn pairs_stay(&self, ids: &[u32], t: u32) -> Option<bool> {
        let tree = self.fast.as_ref()?.tree.as_ref()?;
        let bpe = self.tok.bpe();
        SCRATCH.with(|cell| tree.pairs_stay(bpe, ids, t, &mut cell.borrow_mut().edges))
    }

    /// `FastCheck::run_on` of token `t`.
    fn runs_on(&self, t: u32) -> bool {
        self.fast
            .as_ref()
            .and_then(|f| f.run_on.get(t as usize).copied())
            .unwrap_or(false)
    }

    /// Whether `prefix + [t]` (tail ids covering `tail[..]` then `t`) starts a canonical encoding.
    fn is_valid(&self, tail: &[u8], prefix: &[u32], t: u32, at_start: bool) -> bool {
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

    /// Find the last certain pre-token boundary of `y`: the head ids before it are the same in
    /// the canonical encoding of `y` followed by every probe.
    fn certain_boundary(&self, y: &[u8]) -> (usize, Vec<u32>) {
        // Candidate boundaries: token boundaries of the encoding with the end-of-text probe,
        // tried from two pre-tokens before the end backwards.
        let Some(ids) = completions(y)
            .iter()
            .find_map(|c| self.encode_bytes(c, true))
        else {
            return (0, Vec::new());
        };
        let mut ends = Vec::with_capacity(ids.len());
        let mut pos = 0;
        for &id in &ids {
            pos += self.tok.token_bytes(id).map_or(0, <[u8]>::len);
            ends.push(pos);
        }
        // Walk back over at least the last few tokens: they may change with what follows.
        let keep_back = 3;
        let mut k = ids.len().saturating_sub(keep_back);
        while k > 0 {
            let b = ends[k - 1];
            if b < y.len() && self.boundary_is_certain(y, b, &ids[..k]) {
                return (b, ids[..k].to_vec());
            }
            k -= 1;
        }
        (0, Vec::new())
    }

    /// Whether `b` (the end of the ids `head` of `y`) is a certain boundary: `y[..b]` encodes to
    /// `head`, and `y[..b]` followed by the rest of `y` and any probe encodes to `head` followed
    /// by the encoding of that rest on its own.
    fn boundary_is_certain(&self, y: &[u8], b: usize, head: &[u32]) -> bool {
        let (s0, k0) = self.settled_start(y, b, head).unwrap_or((0, 0));
        self.boundary_is_certain_from(y, b, head, s0, k0)
    }

    /// The slow reference of [`CoverSearch::boundary_is_certain`]: every encode from the start
    /// of `y` (`settled_start` not used). For tests.
    #[doc(hidden)]
    pub fn boundary_is_certain_reference(&self, y: &[u8], b: usize, head: &[u32]) -> bool {
        self.boundary_is_certain_from(y, b, head, 0, 0)
    }

    /// [`CoverSearch::boundary_is_certain`], for tests against the reference.
    #[doc(hidden)]
    pub fn boundary_is_certain_fast(&self, y: &[u8], b: usize, head: &[u32]) -> bool {
        self.boundary_is_certain(y, b, head)
    }

    /// `boundary_is_certain` with every text encoded from `s0`, a piece boundary of `y[..b]`
    /// that no text after `y[..b]` can move, where `head[..k0]` ends (`(0, 0)`: from the start).
    fn boundary_is_certain_from(
        &self,
        y: &[u8],
        b: usize,
        head: &[u32],
        s0: usize,
        k0: usize,
    ) -> bool {
        let tail = &y[b..];
        let local = &y[s0..b];
        let head_local = &head[k0..];
        let Some(head_again) = self.encode_bytes(local, s0 == 0) else {
            return false;
        };
        if head_again != head_local {
            return false;
        }
        completions(tail).iter().all(|completed| {
            probes_after(completed).iter().all(|probe| {
                let full = [local, completed.as_slice(), probe.as_bytes()].concat();
                match (
                    self.encode_bytes(&full, s0 == 0),
                    self.encode_bytes(&[completed.as_slice(), probe.as_bytes()].concat(), b == 0),
                ) {
                    (Some(whole), Some(rest)) => {
                        whole.starts_with(head_local) && whole[head_local.len()..] == rest[..]
                    }
                    // No canonical encoding for this probe: it says nothing either way.
                    (None, _) => true,
                    (Some(_), None) => false,
                }
            })
        })
    }

    /// A start `s0` for encoding `y[..b] + anything` locally, and the number of `head` ids
    /// before it: the last piece boundary of `y[..b]` at least three bytes before `b` that
    /// follows a non-whitespace char, with a class scanner on a plain byte-level file and no
    /// byte of `y[..b]` that could start an added token. Every piece before `s0` was decided
    /// by chars before `s0 + 3` (contractions look two chars ahead; whitespace runs end at the
    /// non-whitespace char before `s0`), so no text after `y[..b]` moves them, and the encoding
    /// of `y[..b] + x` is `head[..k0]` followed by the encoding of `y[s0..b] + x` on its own.
    fn settled_start(&self, y: &[u8], b: usize, head: &[u32]) -> Option<(usize, usize)> {
        let fast = self.fast.as_ref()?;
        if !fast.class_scanned || b < 4 {
            return None;
        }
        let text = std::str::from_utf8(&y[..b]).ok()?;
        if text.bytes().any(|x| fast.unsafe_byte[usize::from(x)]) {
            return None;
        }
        let mut bounds = Vec::new();
        if !self.piece_bounds(text, true, &mut bounds) {
            return None;
        }
        let s0 = bounds
            .iter()
            .map(|&(a, _)| a)
            .filter(|&a| {
                a > 0
                    && a + 3 <= b
                    && !text[..a]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_whitespace)
            })
            .max()?;
        let mut pos = 0;
        for (k, &id) in head.iter().enumerate() {
            if pos == s0 {
                return Some((s0, k));
            }
            pos += self.tok.token_bytes(id).ok()?.len();
        }
        None
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
        // Candidate prefixes V, keyed by where they end (j): by the prefix property of BPE the
        // tokens before the last one are the canonical encoding of `tail[..j]` as it appears
        // when text follows, so encode `tail[..j]` followed by each probe and cut at `j`.
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
            let rest = &tail[*start..];
            let candidates = self.index.extensions(rest);
            let (ending_here, straddling): (Vec<u32>, Vec<u32>) = candidates
                .iter()
                .partition(|&&t| self.tok.token_bytes(t).map_or(0, <[u8]>::len) == rest.len());
            let before = &tail[..*start];
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

    /// Which tokens may follow the tail ids `prefix` (whose bytes are `tail`, starting at a
    /// certain boundary; `at_start` when that boundary is the document start): `mask[t]`.
    /// Fails only on ids outside the vocabulary. Checks every token with the probes on the
    /// whole tail, without the localization and memo of [`CoverSearch::valid_among`]: the slow
    /// reference that it is tested against.
    pub fn valid_next(&self, tail: &[u8], prefix: &[u32], at_start: bool) -> Result<Vec<bool>> {
        self.check_ids(prefix)?;
        let all: Vec<u32> = (0..self.tok.vocab_size() as u32).collect();
        Ok(maybe_par_map(&all, |&t| {
            self.is_valid(tail, prefix, t, at_start)
        }))
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
        let groups = fast_tail.and_then(|w| self.first_char_groups(w, local_prefix));
        let remembered =
            |slot: &AtomicU8, decide: &dyn Fn() -> bool| match slot.load(Ordering::Relaxed) {
                VALID => true,
                INVALID => false,
                _ => {
                    let valid = decide();
                    slot.store(if valid { VALID } else { INVALID }, Ordering::Relaxed);
                    valid
                }
            };
        let check = |&t: &u32| {
            remembered(&answers[t as usize], &|| {
                if let (Some(w), Some(g)) = (fast_tail, &groups) {
                    match self.border_for(g, w, local_prefix, local_start, t) {
                        // `t` starts a pre-token at the border whatever follows, and the ids
                        // before it are `prefix`: it is valid exactly where it is valid at the
                        // start of any pre-token, an answer shared by every question.
                        Border::NewPiece => {
                            return remembered(&g.fresh[t as usize], &|| {
                                self.check(b"", Some(""), &[], t, false)
                            });
                        }
                        Border::Splits => return false,
                        // The piece holding the border took `c` in, so it is a letter run
                        // (perhaps led by one other char) and runs on through `t`'s letters:
                        // it ends with `t` (and only grows with what follows), so the pairwise
                        // check decides alone, as in `fast_valid`.
                        Border::Joins { before } if g.merges_only && self.runs_on(t) => {
                            if let Some(stays) = self.pairs_stay(&local_prefix[before..], t) {
                                return stays;
                            }
                        }
                        _ => {}
                    }
                }
                self.check(local_tail, fast_tail, local_prefix, t, local_start)
            })
        };
        // The thread pool pays off only on vocabulary-sized questions: with a model's own
        // threads busy between calls, waking the pool costs more than small questions take.
        Ok(if ids.len() > PARALLEL_MIN {
            maybe_par_map(ids, check)
        } else {
            ids.iter().map(check).collect()
        })
    }

    /// Per-question state of the first-char shortcut (see [`CoverSearch::border_for`]),
    /// when it applies: a class scanner, a non-empty tail that does not end with an apostrophe.
    fn first_char_groups(&self, w: &str, prefix: &[u32]) -> Option<FirstCharGroups> {
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

    /// The shape of `w + c` around the end of `w` for `t`'s first char `c`, decided once per
    /// question and char ([`Border`]). With a class scanner, the pieces of `w + c` that end by
    /// the end of `w` were ended by chars of `w + c` and stay whatever follows `c`, except where
    /// a match looks further: contractions (so neither `c` nor the end of `w` may be an
    /// apostrophe) and whitespace runs (`\s*[\r\n]+` can swallow a run that ends `w` if more
    /// whitespace and a newline follow, so `c` and the end of `w` may not both be whitespace).
    fn border_for(
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
        let Some(&class) = fast.first_char_of.get(t as usize) else {
            return Border::Other;
        };
        let Some(&c) = fast.first_chars.get(class as usize) else {
            return Border::Other;
        };
        let w_ends_in_space = w.chars().next_back().is_some_and(char::is_whitespace);
        if c.is_whitespace() && w_ends_in_space {
            // Whitespace after whitespace: the splits of the whole run depend on all of it and
            // on the kind of char that ends it, so decide per leading run and that kind.
            let Some(key) = fast.ws_lead.get(t as usize).copied().flatten() else {
                return Border::Other;
            };
            let mut decided = groups
                .ws_decided
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(&border) = decided.get(&key) {
                return border;
            }
            let border = match lead_char(key.1) {
                Some(next) => {
                    let mut lead = String::from(&*fast.ws_runs[key.0 as usize]);
                    lead.push(next);
                    match self.border_after(w, prefix, at_start, &lead) {
                        Border::Joins { .. } => Border::Other,
                        other => other,
                    }
                }
                None => Border::Other,
            };
            decided.insert(key, border);
            return border;
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

    /// The shortest equivalent validity question: `(tail[s..], prefix[k..], at_start && s == 0)`
    /// for the last token boundary `s` of `prefix` (the `k`-th) that is a certain pre-token
    /// boundary of `tail`, with the ids before it fixed; the question itself when there is none.
    fn localize<'a>(
        &self,
        tail: &'a [u8],
        prefix: &'a [u32],
        at_start: bool,
    ) -> (&'a [u8], &'a [u32], bool) {
        let mut ends = Vec::with_capacity(prefix.len());
        let mut pos = 0;
        for &id in prefix {
            pos += self.tok.token_bytes(id).map_or(0, <[u8]>::len);
            ends.push(pos);
        }
        if pos != tail.len() || std::str::from_utf8(tail).is_err() {
            return (tail, prefix, at_start);
        }
        // Boundaries after k = len, len-1, ... prefix tokens (the end of the tail first).
        for k in (1..=prefix.len()).rev().take(LOCAL_TRIES) {
            let s = ends[k - 1];
            if self.is_certain_pretoken_start(tail, &prefix[..k], at_start) {
                return (&tail[s..], &prefix[k..], false);
            }
        }
        (tail, prefix, at_start)
    }

    /// Whether, after `tail` followed by every probe, the encoding starts with `before` and a
    /// pre-token starts right after it.
    fn is_certain_pretoken_start(&self, tail: &[u8], before: &[u32], at_start: bool) -> bool {
        probes_after(tail).iter().all(|probe| {
            let Ok(text) =
                std::str::from_utf8(&[tail, probe.as_bytes()].concat()).map(str::to_owned)
            else {
                return false;
            };
            let Ok((ids, words)) = self.tok.encode_with_pretokens_at(&text, at_start) else {
                return false;
            };
            let k = before.len();
            if ids.len() < k || ids[..k] != *before {
                return false;
            }
            // Nothing after `s` (the end-of-text probe at the end of the tail): a boundary.
            ids.len() == k || words[k] != words[k - 1]
        })
    }

    /// The remembered answers to one localized question (a fresh, undecided set if new).
    fn answers_for(&self, key: LocalKey) -> Answers {
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answers) = memo.get(&key) {
            return Arc::clone(answers);
        }
        if memo.len() >= MEMO_QUESTIONS {
            memo.clear();
        }
        let answers: Answers = (0..self.tok.vocab_size())
            .map(|_| AtomicU8::new(UNDECIDED))
            .collect();
        memo.insert(key, Arc::clone(&answers));
        answers
    }

    /// Every id of a token sequence names a token (holes in the id space do not).
    fn check_ids(&self, ids: &[u32]) -> Result<()> {
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

/// `y` itself if it is valid UTF-8; otherwise `y` completed to valid UTF-8 with a few different
/// continuation bytes (empty if `y` has an invalid sequence that no continuation can fix).
fn completions(y: &[u8]) -> Vec<Vec<u8>> {
    match std::str::from_utf8(y) {
        Ok(_) => vec![y.to_vec()],
        Err(e) if e.error_len().is_none() => {
            let partial = &y[e.valid_up_to()..];
            let need = match partial[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            } - partial.len();
            let mut out = Vec::new();
            for fill in [0x80u8, 0x81, 0xA9, 0xBF] {
                let mut c = y.to_vec();
                c.extend(std::iter::repeat_n(fill, need));
                if std::str::from_utf8(&c).is_ok() && !out.contains(&c) {
                    out.push(c);
                }
            }
            // Lead bytes that constrain the second byte (E0, ED, F0, F4): try the whole range.
            if out.is_empty() {
                for second in 0x80u8..=0xBF {
                    let mut c = y.to_vec();
                    if partial.len() == 1 {
                        c.push(second);
                        c.extend(std::iter::repeat_n(0x80, need - 1));
                    } else {
                        c.extend(std::iter::repeat_n(second, need));
                    }
                    if std::str::from_utf8(&c).is_ok() {
                        out.push(c);
                        break;
                    }
                }
            }
            out
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod probe_tests {
    use super::probes_after;

    fn strs(list: &[Box<str>]) -> Vec<&str> {
        list.iter().map(|p| &**p).collect()
    }

    #[test]
    fn probes_complete_contractions() {
        let base = strs(probes_after(b"x"));
        assert_eq!(base.len(), 21);
        let with = |extra: &[&'static str]| [base.clone(), extra.to_vec()].concat();
        assert_eq!(
            strs(probes_after(b"it'")),
            with(&["s", "t", "re", "ve", "m", "ll", "d", "S", "T", "RE", "VE", "M", "LL", "D"])
        );
        for before in [&b"we'r"[..], b"WE'R", b"'v", b"I'V"] {
            assert_eq!(strs(probes_after(before)), with(&["e", "E"]));
        }
        for before in [&b"we'l"[..], b"'L"] {
            assert_eq!(strs(probes_after(before)), with(&["l", "L"]));
        }
        for before in [&b""[..], b"r", b"'s", b"'re", b"'x", b"'R."] {
            assert_eq!(strs(probes_after(before)), base);
        }
    }
}
