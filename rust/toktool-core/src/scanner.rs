//! Hand-written scanners equivalent to the pre-tokenizer regexes most BPE files use.
//!
//! The GPT-2 and cl100k-family patterns tile their input: every position starts a match, so a
//! scanner only needs "where does the match starting here end". Each scanner is checked against
//! the regex it replaces (see the tests and the `encode_matches_reference` fuzz target); both run
//! in linear time, unlike a backtracking engine on `\s+(?!\S)` over long whitespace runs.

use std::sync::OnceLock;

use crate::error::Result;
use crate::json::compile_regex;
use crate::regex::Regex;
use crate::unicode_class::{classes, Classes};

/// GPT-2's pattern, used by the `ByteLevel` pre-tokenizer with `use_regex: true`.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// `cl100k_base` (GPT-4); Llama 3 uses the same string.
pub const CL100K_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// tiktoken's own spelling of `cl100k_base` (possessive quantifiers, `\z` for tiktoken's `$`).
/// It differs from [`CL100K_PATTERN`] in one place: a whitespace run that ends the text is one
/// piece (`\s++\z`), even when it holds newlines.
pub const CL100K_TIKTOKEN_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++\z|\s*[\r\n]|\s+(?!\S)|\s";
/// tiktoken's `cl100k_base` string verbatim, as `transformers`' `convert_tiktoken_to_fast` writes
/// it into `tokenizer.json`. Read by Oniguruma (as HF does), `\p{N}{1,3}+` is the nested
/// repetition `(?:\p{N}{1,3})+`, i.e. a whole digit run, and `\s++$` can only hold at the end of
/// the text (the possessive run leaves no newline for `$` to stand before).
pub const CL100K_TIKTOKEN_VERBATIM_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// The same family with single digits (Qwen2).
pub const CL100K_SINGLE_DIGIT_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// `o200k_base` (GPT-4o): case-aware letter runs with attached contractions.
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);
/// Mistral's Tekken: the o200k family without contractions and with single digits.
pub const TEKKEN_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*",
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);

/// A regex-free scanner for one of the known patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    Gpt2,
    Cl100k {
        max_digits: usize,
        /// `\s++\z`: a whitespace run reaching the end of the text is one match.
        whole_trailing_space: bool,
    },
    O200k {
        max_digits: usize,
        contractions: bool,
    },
}

/// Every pattern with a scanner, and its scanner.
const KNOWN: [(&str, Scanner); 7] = [
    (GPT2_PATTERN, Scanner::Gpt2),
    (
        CL100K_PATTERN,
        Scanner::Cl100k {
            max_digits: 3,
            whole_trailing_space: false,
        },
    ),
    (
        CL100K_TIKTOKEN_PATTERN,
        Scanner::Cl100k {
            max_digits: 3,
            whole_trailing_space: true,
        },
    ),
    (
        CL100K_TIKTOKEN_VERBATIM_PATTERN,
        Scanner::Cl100k {
            max_digits: usize::MAX,
            whole_trailing_space: true,
        },
    ),
    (
        CL100K_SINGLE_DIGIT_PATTERN,
        Scanner::Cl100k {
            max_digits: 1,
            whole_trailing_space: false,
        },
    ),
    (
        O200K_PATTERN,
        Scanner::O200k {
            max_digits: 3,
            contractions: true,
        },
    ),
    (
        TEKKEN_PATTERN,
        Scanner::O200k {
            max_digits: 1,
            contractions: false,
        },
    ),
];

impl Scanner {
    /// The scanner that is exactly equivalent to `pattern`, if there is one.
    pub fn for_pattern(pattern: &str) -> Option<Scanner> {
        KNOWN.iter().find(|(p, _)| *p == pattern).map(|&(_, s)| s)
    }

    /// A short name for `toktool info`: which pattern family, and how digits are grouped.
    pub fn describe(self) -> String {
        let digits = |max: usize| match max {
            1 => "single digits".to_owned(),
            usize::MAX => "whole digit runs".to_owned(),
            n => format!("digits in runs of up to {n}"),
        };
        match self {
            Scanner::Gpt2 => "GPT-2 scanner".to_owned(),
            Scanner::Cl100k {
                max_digits,
                whole_trailing_space,
            } => format!(
                "cl100k-family scanner ({}{})",
                digits(max_digits),
                if whole_trailing_space {
                    ", trailing whitespace whole"
                } else {
                    ""
                }
            ),
            Scanner::O200k {
                max_digits,
                contractions,
            } => format!(
                "o200k-family scanner ({}{})",
                digits(max_digits),
                if contractions { ", contractions" } else { "" }
            ),
        }
    }

    /// The regex this scanner is exactly equivalent to (position in `KNOWN` and pattern).
    fn known(self) -> (usize, &'static str) {
        KNOWN
            .iter()
            .enumerate()
            .find(|(_, (_, s))| *s == self)
            .map_or((0, GPT2_PATTERN), |(i, (p, _))| (i, *p))
    }

    /// The regex this scanner is exactly equivalent to.
    pub fn pattern(self) -> &'static str {
        self.known().1
    }

    /// [`Scanner::pattern`] compiled with the backtracking engine: the slow reference the
    /// scanner replaces (`Tokenizer::encode_reference` uses it). Compiled once per pattern.
    pub fn reference_regex(self) -> Result<&'static Regex> {
        static COMPILED: [OnceLock<Result<Regex>>; KNOWN.len()] =
            [const { OnceLock::new() }; KNOWN.len()];
        let (slot, pattern) = self.known();
        COMPILED[slot]
            .get_or_init(|| compile_regex(pattern, "scanner reference"))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Calls `sink` with the byte range of every match, in order. The matches tile `text`.
    /// By 64-byte windows (`crate::scan_blocks`) where the pattern has them, the scalar scanner
    /// ([`Scanner::match_end`]) elsewhere.
    pub fn for_each_match(self, text: &str, mut sink: impl FnMut(usize, usize)) {
        let classes = scan_classes();
        let end_at = |pos| self.match_end(classes, text, pos);
        match self {
            Scanner::Gpt2 => by_windows(text, crate::scan_blocks::gpt2_starts, end_at, sink),
            Scanner::Cl100k { max_digits, .. }
                if crate::scan_blocks::supports_max_digits(max_digits) =>
            {
                by_windows(
                    text,
                    |window| crate::scan_blocks::cl100k_starts(window, max_digits),
                    end_at,
                    sink,
                );
            }
            Scanner::O200k {
                max_digits,
                contractions,
            } if crate::scan_blocks::supports_max_digits(max_digits) => by_windows(
                text,
                |window| crate::scan_blocks::o200k_starts(window, max_digits, contractions),
                end_at,
                sink,
            ),
            _ => {
                let mut pos = 0;
                while pos < text.len() {
                    let end = end_at(pos);
                    debug_assert!(end > pos);
                    sink(pos, end);
                    pos = end;
                }
            }
        }
    }

    /// The end of the match at `pos` (a match start) by the scalar scanner: the ASCII fast path,
    /// else the general one.
    #[inline]
    fn match_end(self, classes: &ScanClasses, text: &str, pos: usize) -> usize {
        match self {
            Scanner::Gpt2 => {
                gpt2_ascii_end(text, pos).unwrap_or_else(|| gpt2_match_end(classes, text, pos))
            }
            Scanner::Cl100k {
                max_digits,
                whole_trailing_space,
            } => {
                cl100k_ascii_end(text, pos, max_digits, whole_trailing_space).unwrap_or_else(|| {
                    cl100k_match_end(classes, text, pos, max_digits, whole_trailing_space)
                })
            }
            Scanner::O200k {
                max_digits,
                contractions,
            } => o200k_ascii_end(text, pos, max_digits, contractions)
                .unwrap_or_else(|| o200k_match_end(classes, text, pos, max_digits, contractions)),
        }
    }
}

/// The pieces of `Digits` (`individual_digits`) followed by GPT-2's pattern (`ByteLevel` with
/// `use_regex`), as the two steps give them: every `\p{N}` char a piece, the text between
/// them split by GPT-2's pattern as a text of its own. Calls `sink` with the byte range of
/// every piece, in order.
pub fn gpt2_isolated_digits_for_each_match(text: &str, sink: impl FnMut(usize, usize)) {
    let classes = scan_classes();
    // The next numeric char at or after the last position asked (`text.len()` if none): the
    // end of the text GPT-2's pattern runs on there.
    let mut segment_end: Option<usize> = None;
    by_windows(
        text,
        crate::scan_blocks::gpt2_isolated_digits_starts,
        |pos| {
            let end = match segment_end {
                Some(end) if end >= pos => end,
                _ => next_numeric(text, pos),
            };
            segment_end = Some(end);
            if end == pos {
                segment_end = None;
                return pos + char_at(text, pos).map_or(1, char::len_utf8);
            }
            Scanner::Gpt2.match_end(classes, &text[..end], pos)
        },
        sink,
    );
}

/// The first byte at or after `from` that starts a `\p{N}` char, or `text.len()`.
fn next_numeric(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut at = from;
    while at < bytes.len() {
        at = skip_ascii_outside(bytes, at, Kind::Number);
        match char_at(text, at) {
            None => break,
            Some(c) if c.is_numeric() => return at,
            Some(c) => at += c.len_utf8(),
        }
    }
    bytes.len()
}

/// [`Scanner::for_each_match`] by 64-byte windows: `starts` gives every piece a window is sure
/// of (`crate::scan_blocks`); where a window gives none (a non-ASCII char, a long whitespace or
/// digit run, the last 63 bytes), `scalar` (the end of the match at a position) goes on past
/// the place that stopped it (past the window, and further each time, in text of another
/// script).
fn by_windows(
    text: &str,
    starts: impl Fn(&[u8; 64]) -> crate::scan_blocks::Starts,
    mut scalar: impl FnMut(usize) -> usize,
    mut sink: impl FnMut(usize, usize),
) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut scalar_until = 0;
    // How far the scalar scanner goes after a window of another script found nothing: doubled
    // each time in a row, so text without Latin letters pays one window in a few KB.
    let mut backoff = 64;
    while pos < bytes.len() {
        if pos >= scalar_until {
            if let Some(window) = bytes.get(pos..pos + 64) {
                let window: &[u8; 64] = window.try_into().expect("64 bytes");
                let found = starts(window);
                let mut rest = found.bits & !1;
                if rest != 0 {
                    let mut start = 0;
                    while rest != 0 {
                        let end = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        sink(pos + start, pos + end);
                        start = end;
                    }
                    pos += start;
                    backoff = 64;
                    continue;
                }
                if found.other_script {
                    scalar_until = pos + backoff;
                    backoff = (backoff * 2).min(4096);
                } else {
                    scalar_until = pos + found.horizon as usize + 1;
                }
            } else {
                scalar_until = bytes.len();
            }
        }
        let end = scalar(pos);
        debug_assert!(end > pos);
        sink(pos, end);
        pos = end;
    }
}

/// The char starting at byte `pos` (a char boundary), if any. ASCII is read as one byte.
#[inline]
fn char_at(text: &str, pos: usize) -> Option<char> {
    match text.as_bytes().get(pos) {
        Some(&b) if b < 0x80 => Some(char::from(b)),
        Some(_) => text[pos..].chars().next(),
        None => None,
    }
}

/// What the scanners' patterns tell apart: `\p{L}`, `\p{N}`, `\s`, and the rest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Letter,
    Number,
    Space,
    Other,
}

/// The kind of an ASCII char (the reference spelling is [`ascii_kind_slow`]).
static ASCII_KIND: [Kind; 128] = {
    let mut table = [Kind::Other; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = ascii_kind_slow(i as u8);
        i += 1;
    }
    table
};

/// `\p{L}`, `\p{N}` and `\s` on ASCII, spelled out; [`ASCII_KIND`] is built from it.
const fn ascii_kind_slow(b: u8) -> Kind {
    if b.is_ascii_alphabetic() {
        Kind::Letter
    } else if b.is_ascii_digit() {
        Kind::Number
    } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        Kind::Space
    } else {
        Kind::Other
    }
}

#[inline]
fn kind(classes: &ScanClasses, c: char) -> Kind {
    if c.is_ascii() {
        return ASCII_KIND[c as usize];
    }
    match classes.bmp.get(c as usize) {
        Some(&k) => k,
        None => kind_slow(classes, c),
    }
}

/// The class tables of the scanners, with every Basic Multilingual Plane char's kind looked up
/// once (64 KiB): one load instead of up to three binary searches per non-ASCII char.
pub(crate) struct ScanClasses {
    classes: &'static Classes,
    /// `bmp[c]`: `kind_slow(c)` for every `c` below U+10000 (surrogates: `Other`, never read).
    bmp: Box<[Kind]>,
}

impl std::ops::Deref for ScanClasses {
    type Target = Classes;
    fn deref(&self) -> &Classes {
        self.classes
    }
}

/// Shared, lazily built [`ScanClasses`].
fn scan_classes() -> &'static ScanClasses {
    static TABLES: OnceLock<ScanClasses> = OnceLock::new();
    TABLES.get_or_init(|| {
        let classes = classes();
        let bmp = (0..0x1_0000u32)
            .map(|cp| char::from_u32(cp).map_or(Kind::Other, |c| kind_slow(classes, c)))
            .collect();
        ScanClasses { classes, bmp }
    })
}

/// The kind of a char from the class tables (the reference [`kind`] is checked against).
fn kind_slow(classes: &Classes, c: char) -> Kind {
    if c.is_ascii() {
        return ASCII_KIND[c as usize];
    }
    if classes.letter.contains(c) {
        Kind::Letter
    } else if classes.number.contains(c) {
        Kind::Number
    } else if classes.space.contains(c) {
        Kind::Space
    } else {
        Kind::Other
    }
}

/// End of the maximal run of chars of kind `k` starting at `pos` (a char boundary). ASCII is
/// classified eight bytes at a time ([`ascii_kind_lanes`]), the rest byte by byte; other chars
/// are decoded.
#[inline]
fn run_end(classes: &ScanClasses, text: &str, pos: usize, k: Kind) -> usize {
    // One copy of the loop per kind, so that the lane test is fixed inside it.
    match k {
        Kind::Letter => run_end_of(classes, text, pos, Kind::Letter),
        Kind::Number => run_end_of(classes, text, pos, Kind::Number),
        Kind::Space => run_end_of(classes, text, pos, Kind::Space),
        Kind::Other => run_end_of(classes, text, pos, Kind::Other),
    }
}

/// [`run_end`] for one `k`. Always inlined, so that `k` is a constant in each of the four
/// copies (a const-generic spelling measured slower: the copies were not inlined).
#[allow(clippy::inline_always)]
#[inline(always)]
fn run_end_of(classes: &ScanClasses, text: &str, pos: usize, k: Kind) -> usize {
    let bytes = text.as_bytes();
    let mut end = pos;
    loop {
        if let Some(chunk) = bytes.get(end..end + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let stop = !ascii_kind_lanes(u64::from_le_bytes(word), k) & LANE_HIGH;
            if stop == 0 {
                end += 8;
                continue;
            }
            // The first byte that is not ASCII of kind `k`; below, it ends the run or is the
            // start of a non-ASCII char.
            end += (stop.trailing_zeros() / 8) as usize;
        }
        let Some(&b) = bytes.get(end) else {
            break;
        };
        if b < 0x80 {
            if ASCII_KIND[usize::from(b)] != k {
                break;
            }
            end += 1;
        } else {
            let Some(c) = text[end..].chars().next() else {
                break;
            };
            if kind(classes, c) != k {
                break;
            }
            end += c.len_utf8();
        }
    }
    end
}

/// The first index from `from` on whose byte is not ASCII outside kind `k` (a non-ASCII byte,
/// an ASCII byte of kind `k`, or `bytes.len()`), found eight bytes at a time.
#[inline]
pub(crate) fn skip_ascii_outside(bytes: &[u8], from: usize, k: Kind) -> usize {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let stop = (ascii_kind_lanes(word, k) | word) & LANE_HIGH;
        if stop != 0 {
            return at + (stop.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b >= 0x80 || ASCII_KIND[usize::from(b)] == k {
            break;
        }
        at += 1;
    }
    at
}

const LANE_LOW: u64 = 0x0101_0101_0101_0101;
const LANE_HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` (a lane) set where that byte is ASCII of kind `k` (by
/// [`ASCII_KIND`]; the test `ascii_kind_lanes_agree_with_the_table` checks every byte in every
/// lane), clear elsewhere, non-ASCII bytes included. Ranges are tested on the low seven bits
/// of each lane by adding `0x80 - lo` to every lane at once: the sum's high bit says `>= lo`,
/// and no lane carries into the next (at most `0x7f + 0x77`).
#[inline]
fn ascii_kind_lanes(word: u64, k: Kind) -> u64 {
    let ascii = !word & LANE_HIGH;
    let low = word & !LANE_HIGH;
    // Setting 0x20 folds A-Z onto a-z, and nothing else onto a-z.
    let letter = || lanes_within(low | (LANE_LOW * 0x20), b'a', b'z');
    let number = || lanes_within(low, b'0', b'9');
    let space = || lanes_within(low, b' ', b' ') | lanes_within(low, b'\t', 0x0d);
    let lanes = match k {
        Kind::Letter => letter(),
        Kind::Number => number(),
        Kind::Space => space(),
        Kind::Other => !(letter() | number() | space()) & LANE_HIGH,
    };
    lanes & ascii
}

/// The high bit of each lane of `low` (bytes below 0x80) that is in `lo..=hi` (`hi < 0x7f`).
#[inline]
fn lanes_within(low: u64, lo: u8, hi: u8) -> u64 {
    let at_least = |lo: u8| (low + LANE_LOW * u64::from(0x80 - lo)) & LANE_HIGH;
    at_least(lo) & !at_least(hi + 1)
}

/// [`ascii_kind_lanes`] for the lowercase ASCII letters alone (o200k's lower-case runs).
#[inline]
fn ascii_lower_lanes(word: u64) -> u64 {
    lanes_within(word & !LANE_HIGH, b'a', b'z') & !word & LANE_HIGH
}

/// The contraction suffixes of the supported patterns (`'s|'t|'re|'ve|'m|'ll|'d`, matched after
/// an apostrophe; case-insensitively in the cl100k and o200k families), lowercase. No one is a
/// prefix of another, so at most one matches at a position.
pub(crate) const CONTRACTIONS: &[&str] = &["s", "t", "re", "ve", "m", "ll", "d"];

/// Length in bytes of a contraction suffix ([`CONTRACTIONS`]) right after an apostrophe.
/// Spelled out as a `match` for speed (this runs at every apostrophe of every encode); the test
/// `contraction_len_knows_every_contraction` keeps it in step with [`CONTRACTIONS`].
fn contraction_len(text: &str, pos: usize, case_insensitive: bool) -> Option<usize> {
    let mut chars = text[pos..].chars();
    let fold = |c: char| {
        if case_insensitive {
            match c {
                // U+017F LATIN SMALL LETTER LONG S case-folds to 's'.
                '\u{17f}' => 's',
                _ => c.to_ascii_lowercase(),
            }
        } else {
            c
        }
    };
    let first = chars.next()?;
    match fold(first) {
        's' | 't' | 'm' | 'd' => Some(first.len_utf8()),
        f @ ('r' | 'v' | 'l') => {
            let second = chars.next()?;
            let want = if f == 'l' { 'l' } else { 'e' };
            (fold(second) == want).then_some(first.len_utf8() + second.len_utf8())
        }
        _ => None,
    }
}

/// The whitespace alternatives shared by both families: `\s+(?!\S)|\s+` on the run at `pos`.
fn space_run_match_end(classes: &ScanClasses, text: &str, pos: usize) -> usize {
    space_run_match_end_at(text, pos, run_end(classes, text, pos, Kind::Space))
}

/// [`space_run_match_end`] where the whitespace run `pos..run` is known.
#[inline]
fn space_run_match_end_at(text: &str, pos: usize, run: usize) -> usize {
    if run == text.len() {
        return run;
    }
    // Followed by a non-space: `\s+(?!\S)` gives the run minus its last char, when that is not empty.
    let last_start = text[..run]
        .char_indices()
        .next_back()
        .map_or(pos, |(i, _)| i);
    if last_start > pos {
        last_start
    } else {
        run
    }
}

/// `\p{N}{1,max_digits}` at `pos`.
fn number_end(classes: &ScanClasses, text: &str, pos: usize, max_digits: usize) -> usize {
    let mut end = pos;
    for d in text[pos..].chars().take(max_digits) {
        if kind(classes, d) != Kind::Number {
            break;
        }
        end += d.len_utf8();
    }
    end
}

/// ` ?[^\s\p{L}\p{N}]+[trailing]*` at `pos`, if it matches there.
fn punctuation_end(
    classes: &ScanClasses,
    text: &str,
    pos: usize,
    next_kind: Option<Kind>,
    trailing: &[u8],
) -> Option<usize> {
    let c = char_at(text, pos)?;
    let start = if kind(classes, c) == Kind::Other {
        pos
    } else if c == ' ' && next_kind == Some(Kind::Other) {
        pos + 1
    } else {
        return None;
    };
    let end = run_end(classes, text, start, Kind::Other);
    Some(
        end + text[end..]
            .bytes()
            .take_while(|b| trailing.contains(b))
            .count(),
    )
}

/// `\s*[\r\n]+|\s+(?!\S)|\s+` on the whitespace run at `pos`.
fn newline_or_space_end(classes: &ScanClasses, text: &str, pos: usize) -> usize {
    newline_or_space_end_at(text, pos, run_end(classes, text, pos, Kind::Space))
}

/// [`newline_or_space_end`] where the whitespace run `pos..run` is known.
#[inline]
fn newline_or_space_end_at(text: &str, pos: usize, run: usize) -> usize {
    // `\s*[\r\n]+`: up to and including the last CR/LF of the whitespace run.
    if let Some(last_newline) = text.as_bytes()[pos..run]
        .iter()
        .rposition(|&b| b == b'\r' || b == b'\n')
    {
        return pos + last_newline + 1;
    }
    space_run_match_end_at(text, pos, run)
}

fn gpt2_match_end(classes: &ScanClasses, text: &str, pos: usize) -> usize {
    let Some(c) = char_at(text, pos) else {
        return pos;
    };
    if c == '\'' {
        if let Some(n) = contraction_len(text, pos + 1, false) {
            return pos + 1 + n;
        }
    }
    let start = if c == ' ' { pos + 1 } else { pos };
    if let Some(next) = char_at(text, start) {
        let k = kind(classes, next);
        if k != Kind::Space {
            return run_end(classes, text, start, k);
        }
    }
    space_run_match_end(classes, text, pos)
}

fn cl100k_match_end(
    classes: &ScanClasses,
    text: &str,
    pos: usize,
    max_digits: usize,
    whole_trailing_space: bool,
) -> usize {
    let Some(c) = char_at(text, pos) else {
        return pos;
    };
    if c == '\'' {
        if let Some(n) = contraction_len(text, pos + 1, true) {
            return pos + 1 + n;
        }
    }
    let k = kind(classes, c);
    let next_pos = pos + c.len_utf8();
    let next_kind = char_at(text, next_pos).map(|n| kind(classes, n));
    match k {
        Kind::Letter => return run_end(classes, text, pos, Kind::Letter),
        Kind::Number => return number_end(classes, text, pos, max_digits),
        _ => {}
    }
    // `[^\r\n\p{L}\p{N}]?\p{L}+` with the optional char present.
    if c != '\r' && c != '\n' && next_kind == Some(Kind::Letter) {
        return run_end(classes, text, next_pos, Kind::Letter);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if let Some(end) = punctuation_end(classes, text, pos, next_kind, b"\r\n") {
        return end;
    }
    let run = run_end(classes, text, pos, Kind::Space);
    if whole_trailing_space && run == text.len() {
        return run;
    }
    newline_or_space_end_at(text, pos, run)
}

/// ASCII byte classes of the fast paths ([`gpt2_ascii_end`], [`cl100k_ascii_end`],
/// [`o200k_ascii_end`]).
const A_UPPER: u8 = 1;
const A_LOWER: u8 = 2;
const A_DIGIT: u8 = 3;
/// Space, tab, vertical tab, form feed.
const A_SPACE: u8 = 4;
/// CR and LF.
const A_NEWLINE: u8 = 5;
/// Every other ASCII char (punctuation, controls, the apostrophe).
const A_OTHER: u8 = 6;
/// A byte of a non-ASCII char: the fast paths give up on it.
const A_WIDE: u8 = 0;

/// The [`A_UPPER`].. class of each byte (`\p{L}`, `\p{N}` and `\s` on ASCII, as
/// [`ascii_kind_slow`]; the test `ascii_classes_refine_the_kinds` checks the two agree).
static ASCII_CLASS: [u8; 256] = {
    let mut table = [A_WIDE; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        table[i] = if b.is_ascii_uppercase() {
            A_UPPER
        } else if b.is_ascii_lowercase() {
            A_LOWER
        } else if b.is_ascii_digit() {
            A_DIGIT
        } else if b == b'\r' || b == b'\n' {
            A_NEWLINE
        } else if matches!(b, b' ' | b'\t' | 0x0b | 0x0c) {
            A_SPACE
        } else {
            A_OTHER
        };
        i += 1;
    }
    table
};

/// The class of `bytes[i]`; past the end, `A_END` (a class no run continues into).
const A_END: u8 = 7;

#[inline(always)]
#[allow(clippy::inline_always)]
fn class_at(bytes: &[u8], i: usize) -> u8 {
    match bytes.get(i) {
        Some(&b) => ASCII_CLASS[usize::from(b)],
        None => A_END,
    }
}

/// End of the run of bytes whose class is `lo..=hi` from `i`, and the class of the byte that
/// stops it.
#[inline(always)]
#[allow(clippy::inline_always)]
fn ascii_run(bytes: &[u8], mut i: usize, lo: u8, hi: u8) -> (usize, u8) {
    // Letter, digit and whitespace runs eight bytes at a time by the general scanner's lane
    // tests (the classes are constants where this is inlined, so the match folds away): a
    // word's end is found without a branch per byte, whose exit the CPU cannot predict when
    // word lengths vary.
    let in_class: Option<fn(u64) -> u64> = match (lo, hi) {
        (A_UPPER, A_LOWER) => Some(|w| ascii_kind_lanes(w, Kind::Letter)),
        (A_LOWER, A_LOWER) => Some(ascii_lower_lanes),
        (A_DIGIT, A_DIGIT) => Some(|w| ascii_kind_lanes(w, Kind::Number)),
        (A_SPACE, A_NEWLINE) => Some(|w| ascii_kind_lanes(w, Kind::Space)),
        _ => None,
    };
    if let Some(in_class) = in_class {
        while let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let outside = !in_class(u64::from_le_bytes(word)) & LANE_HIGH;
            if outside != 0 {
                let end = i + (outside.trailing_zeros() / 8) as usize;
                return (end, class_at(bytes, end));
            }
            i += 8;
        }
    }
    ascii_run_bytewise(bytes, i, lo, hi)
}

/// [`ascii_run`] one byte at a time: cheaper for runs that are mostly empty or one byte long.
#[inline(always)]
#[allow(clippy::inline_always)]
fn ascii_run_bytewise(bytes: &[u8], mut i: usize, lo: u8, hi: u8) -> (usize, u8) {
    loop {
        let c = class_at(bytes, i);
        if c < lo || c > hi {
            return (i, c);
        }
        i += 1;
    }
}

/// `\p{N}{1,max_digits}` from `pos` (a digit) on ASCII; `None` where a non-ASCII char could
/// still be a digit of the match.
#[inline(always)]
#[allow(clippy::inline_always)]
fn ascii_digits_end(bytes: &[u8], pos: usize, max_digits: usize) -> Option<usize> {
    let mut end = pos;
    while end - pos < max_digits {
        match class_at(bytes, end) {
            A_DIGIT => end += 1,
            A_WIDE => return None,
            _ => break,
        }
    }
    Some(end)
}

/// The whitespace alternatives of the cl100k and o200k families (`\s*[\r\n]+|\s+(?!\S)|\s+`,
/// and `\s++\z` first when `whole_trailing_space`) on the ASCII whitespace run at `pos`, as
/// [`cl100k_match_end`] ends; `None` where the run goes on into a non-ASCII char (which may be
/// whitespace).
#[inline(always)]
#[allow(clippy::inline_always)]
fn ascii_space_end(text: &str, pos: usize, whole_trailing_space: bool) -> Option<usize> {
    let (run, stop) = ascii_run(text.as_bytes(), pos, A_SPACE, A_NEWLINE);
    match stop {
        A_WIDE => None,
        A_END if whole_trailing_space => Some(run),
        _ => Some(newline_or_space_end_at(text, pos, run)),
    }
}

/// ` ?[^\s\p{L}\p{N}]+[trailing]*` on ASCII from `start` (the first punctuation char).
#[inline(always)]
#[allow(clippy::inline_always)]
fn ascii_punctuation_end(bytes: &[u8], start: usize, trailing: &[u8]) -> Option<usize> {
    let (end, stop) = ascii_run(bytes, start, A_OTHER, A_OTHER);
    if stop == A_WIDE {
        return None;
    }
    Some(
        end + bytes[end..]
            .iter()
            .take_while(|b| trailing.contains(b))
            .count(),
    )
}

/// The last alternatives of the cl100k and o200k families on ASCII at `pos` (of class `c`,
/// followed by class `next`): ` ?[^\s\p{L}\p{N}]+[trailing]*`, else the whitespace ones.
#[inline(always)]
#[allow(clippy::inline_always)]
fn ascii_punctuation_or_space_end(
    text: &str,
    pos: usize,
    (c, next): (u8, u8),
    trailing: &[u8],
    whole_trailing_space: bool,
) -> Option<usize> {
    let bytes = text.as_bytes();
    if c == A_OTHER {
        return ascii_punctuation_end(bytes, pos, trailing);
    }
    if bytes[pos] == b' ' && next == A_OTHER {
        return ascii_punctuation_end(bytes, pos + 1, trailing);
    }
    ascii_space_end(text, pos, whole_trailing_space)
}

/// [`gpt2_match_end`] where the text at `pos` is ASCII as far as the match depends on it (as
/// [`cl100k_ascii_end`]).
#[inline(always)]
#[allow(clippy::inline_always)]
fn gpt2_ascii_end(text: &str, pos: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let c = *bytes.get(pos)?;
    if c == b'\'' {
        if let Some(n) = contraction_len(text, pos + 1, false) {
            return Some(pos + 1 + n);
        }
    }
    let start = if c == b' ' { pos + 1 } else { pos };
    // each run with constant classes, so `ascii_run` picks its eight-byte loop when inlined
    let (end, stop) = match class_at(bytes, start) {
        A_UPPER | A_LOWER => ascii_run(bytes, start, A_UPPER, A_LOWER),
        A_DIGIT => ascii_run(bytes, start, A_DIGIT, A_DIGIT),
        A_OTHER => ascii_run(bytes, start, A_OTHER, A_OTHER),
        A_WIDE => return None,
        _ => {
            // `\s+(?!\S)|\s+` on the whitespace run at `pos`
            let (run, stop) = ascii_run(bytes, pos, A_SPACE, A_NEWLINE);
            return (stop != A_WIDE).then(|| space_run_match_end_at(text, pos, run));
        }
    };
    (stop != A_WIDE).then_some(end)
}

/// [`cl100k_match_end`] where the text at `pos` is ASCII as far as the match depends on it:
/// the same end, or `None` when a non-ASCII char could change it (the caller then runs the
/// general scanner). Letters, digits and the rest are told apart by one table load per byte.
#[inline(always)]
#[allow(clippy::inline_always)]
fn cl100k_ascii_end(
    text: &str,
    pos: usize,
    max_digits: usize,
    whole_trailing_space: bool,
) -> Option<usize> {
    let bytes = text.as_bytes();
    let c = class_at(bytes, pos);
    let next = class_at(bytes, pos + 1);
    match c {
        A_UPPER | A_LOWER => return letters_end(bytes, pos + 1),
        A_DIGIT => return ascii_digits_end(bytes, pos, max_digits),
        A_WIDE | A_END => return None,
        _ => {}
    }
    if bytes[pos] == b'\'' {
        if let Some(n) = contraction_len(text, pos + 1, true) {
            return Some(pos + 1 + n);
        }
    }
    // `[^\r\n\p{L}\p{N}]?\p{L}+` with the optional char present
    if c != A_NEWLINE {
        match next {
            A_UPPER | A_LOWER => return letters_end(bytes, pos + 2),
            A_WIDE => return None,
            _ => {}
        }
    }
    ascii_punctuation_or_space_end(text, pos, (c, next), b"\r\n", whole_trailing_space)
}

/// End of the ASCII letter run that goes on at `from`; `None` if a non-ASCII char follows it.
#[inline(always)]
#[allow(clippy::inline_always)]
fn letters_end(bytes: &[u8], from: usize) -> Option<usize> {
    let (end, stop) = ascii_run(bytes, from, A_UPPER, A_LOWER);
    (stop != A_WIDE).then_some(end)
}

/// [`o200k_match_end`] where the text at `pos` is ASCII as far as the match depends on it
/// (as [`cl100k_ascii_end`]). On ASCII the upper-case class is `A-Z` and the lower-case one
/// `a-z`, so the two letter alternatives are: upper run, then lower run; the match is both
/// when the lower run is not empty, else the upper run alone, else no letter match.
#[inline(always)]
#[allow(clippy::inline_always)]
fn o200k_ascii_end(text: &str, pos: usize, max_digits: usize, contractions: bool) -> Option<usize> {
    let bytes = text.as_bytes();
    let c = class_at(bytes, pos);
    let letters_from = match c {
        A_DIGIT => return ascii_digits_end(bytes, pos, max_digits),
        A_WIDE | A_END => return None,
        // `[^\r\n\p{L}\p{N}]?` leads a letter run
        A_SPACE | A_OTHER => pos + 1,
        _ => pos, // a letter, or CR/LF (no lead)
    };
    // mostly empty or one capital: byte by byte
    let (upper, stop) = ascii_run_bytewise(bytes, letters_from, A_UPPER, A_UPPER);
    if stop == A_WIDE {
        return None;
    }
    let (lower, stop) = ascii_run(bytes, upper, A_LOWER, A_LOWER);
    if stop == A_WIDE {
        return None;
    }
    if lower > letters_from {
        // the letter run is decided; a contraction (`ſ` folds to `s`) may follow
        if contractions && bytes.get(lower) == Some(&b'\'') {
            if let Some(n) = contraction_len(text, lower + 1, true) {
                return Some(lower + 1 + n);
            }
        }
        return Some(lower);
    }
    let next = class_at(bytes, pos + 1);
    ascii_punctuation_or_space_end(text, pos, (c, next), b"\r\n/", false)
}

/// End of the maximal run of chars in `class` starting at `pos`.
#[inline]
fn class_run_end(text: &str, pos: usize, class: &crate::unicode_class::CharClass) -> usize {
    // As `run_end`: ASCII bytes one at a time, other chars decoded.
    let bytes = text.as_bytes();
    let mut end = pos;
    while let Some(&b) = bytes.get(end) {
        let c = if b < 0x80 {
            char::from(b)
        } else {
            let Some(c) = text[end..].chars().next() else {
                break;
            };
            c
        };
        if !class.contains(c) {
            break;
        }
        end += c.len_utf8();
    }
    end
}

/// `U*W+` from `start` with the regex engine's backtracking: the longest upper run, then the
/// longest lower run; if that is empty, the match ends after the last lower char inside the upper
/// run (the classes overlap on Lm, Lo and marks).
fn o200k_upper_lower(classes: &ScanClasses, text: &str, start: usize) -> Option<usize> {
    let upper_end = class_run_end(text, start, &classes.upper);
    let lower_end = class_run_end(text, upper_end, &classes.lower);
    if lower_end > upper_end {
        return Some(lower_end);
    }
    text[start..upper_end]
        .char_indices()
        .rfind(|&(_, c)| classes.lower.contains(c))
        .map(|(i, c)| start + i + c.len_utf8())
}

/// `U+W*` from `start`.
fn o200k_upper_then_lower(classes: &ScanClasses, text: &str, start: usize) -> Option<usize> {
    let upper_end = class_run_end(text, start, &classes.upper);
    (upper_end > start).then(|| class_run_end(text, upper_end, &classes.lower))
}

fn o200k_match_end(
    classes: &ScanClasses,
    text: &str,
    pos: usize,
    max_digits: usize,
    contractions: bool,
) -> usize {
    let Some(c) = char_at(text, pos) else {
        return pos;
    };
    let k = kind(classes, c);
    let next_pos = pos + c.len_utf8();
    // `[^\r\n\p{L}\p{N}]?`: any char but CR, LF, letters and numbers may lead a letter run.
    let may_lead = c != '\r' && c != '\n' && k != Kind::Letter && k != Kind::Number;
    let with_suffix = |end: usize| {
        if contractions && text[end..].starts_with('\'') {
            if let Some(n) = contraction_len(text, end + 1, true) {
                return end + 1 + n;
            }
        }
        end
    };
    // The two letter alternatives in order, each first with the leading char, then without.
    if may_lead {
        if let Some(end) = o200k_upper_lower(classes, text, next_pos) {
            return with_suffix(end);
        }
    }
    if let Some(end) = o200k_upper_lower(classes, text, pos) {
        return with_suffix(end);
    }
    if may_lead {
        if let Some(end) = o200k_upper_then_lower(classes, text, next_pos) {
            return with_suffix(end);
        }
    }
    if let Some(end) = o200k_upper_then_lower(classes, text, pos) {
        return with_suffix(end);
    }
    if k == Kind::Number {
        return number_end(classes, text, pos, max_digits);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
    let next_kind = char_at(text, next_pos).map(|n| kind(classes, n));
    if let Some(end) = punctuation_end(classes, text, pos, next_kind, b"\r\n/") {
        return end;
    }
    newline_or_space_end(classes, text, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CL100K: Scanner = Scanner::Cl100k {
        max_digits: 3,
        whole_trailing_space: false,
    };
    const CL100K_TIKTOKEN: Scanner = Scanner::Cl100k {
        max_digits: 3,
        whole_trailing_space: true,
    };
    const O200K: Scanner = Scanner::O200k {
        max_digits: 3,
        contractions: true,
    };
    const TEKKEN: Scanner = Scanner::O200k {
        max_digits: 1,
        contractions: false,
    };
    const QWEN2: Scanner = Scanner::Cl100k {
        max_digits: 1,
        whole_trailing_space: false,
    };
    const CL100K_VERBATIM: Scanner = Scanner::Cl100k {
        max_digits: usize::MAX,
        whole_trailing_space: true,
    };

    /// Every scanner and the pattern it stands for.
    const ALL: [(Scanner, &str); 7] = [
        (Scanner::Gpt2, GPT2_PATTERN),
        (CL100K, CL100K_PATTERN),
        (CL100K_TIKTOKEN, CL100K_TIKTOKEN_PATTERN),
        (QWEN2, CL100K_SINGLE_DIGIT_PATTERN),
        (CL100K_VERBATIM, CL100K_TIKTOKEN_VERBATIM_PATTERN),
        (O200K, O200K_PATTERN),
        (TEKKEN, TEKKEN_PATTERN),
    ];

    fn regex_matches(pattern: &str, text: &str) -> Vec<(usize, usize)> {
        Regex::new(pattern, "test")
            .expect("pattern compiles")
            .find_all(text)
            .expect("no retry limit on short inputs")
    }

    fn scanner_matches(scanner: Scanner, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        scanner.for_each_match(text, |s, e| out.push((s, e)));
        out
    }

    const TRICKY: &[&str] = &[
        "Hello world's  end\n\n  x",
        "it'S I'LL we'Re 'd '",
        "  \n\t 123456 1,000.5 x²³ ٣٤٥٦",
        "foo.\n\r\nbar  \t\n   \n",
        "a\u{a0}b\u{3000}c\u{85}d   ",
        "ſ'ſ don\u{2019}t 'ſ",
        "😀😀 emoji\u{200d}👩 ",
        "中文字符 and ελληνικά!!!\n",
        "   ",
        "x",
        "\n",
        "'",
        " '",
        " !",
        "a\u{85}b\u{2028}c\u{2029}d\x0be\x0cf\r\rg \u{85}\n",
        "1234567 ١٢٣٤٥ १२३४ 𝟎𝟏𝟐𝟑 ⅠⅡⅢⅣ ①②③④ 12\u{300}34",
        "x  \n\n  ",
        "x \u{2028}",
        "K'ſ 'K 'ǅ",
    ];

    /// Every contraction, whitespace run and digit run at every offset of a window and across
    /// its end (a window starts at the first byte here, after the run of `x`).
    #[test]
    fn windows_match_regex_at_every_offset() {
        let tails = [
            "'s",
            "'re",
            "'ll",
            "'S",
            "'LL",
            "'x",
            " 's",
            "\n\n  \n y",
            ";\n \n z",
            "\t\t;",
            "  ;",
            "12345678 ",
            "é",
            "\u{a0}x",
            "'ſ",
            "aB'sC",
            "X'LLy",
            ".\n/\n/x",
            "éB",
            "a'é",
        ];
        for k in 0..130 {
            for tail in tails {
                let text = format!("{}{tail}abc def{}", "x".repeat(k), " .".repeat(40));
                for (scanner, pattern) in ALL {
                    assert_eq!(
                        scanner_matches(scanner, &text),
                        regex_matches(pattern, &text),
                        "{pattern} on {text:?}"
                    );
                }
            }
        }
    }

    /// `Digits` (`individual_digits`) then GPT-2's regex on each piece, as the two steps run.
    fn digits_then_gpt2(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        let flush = |out: &mut Vec<(usize, usize)>, s: usize, e: usize| {
            for (a, b) in regex_matches(GPT2_PATTERN, &text[s..e]) {
                out.push((s + a, s + b));
            }
        };
        for (i, c) in text.char_indices() {
            if c.is_numeric() {
                flush(&mut out, start, i);
                out.push((i, i + c.len_utf8()));
                start = i + c.len_utf8();
            }
        }
        flush(&mut out, start, text.len());
        out
    }

    fn isolated_digits_matches(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        gpt2_isolated_digits_for_each_match(text, |s, e| out.push((s, e)));
        out
    }

    #[test]
    fn gpt2_after_isolated_digits_matches_the_two_steps() {
        for k in 0..130 {
            for tail in [
                "1",
                " 1",
                "  1",
                "\n 1",
                "a1b",
                "'s1",
                "1's",
                "x 2 3  4\n5",
                "٣ ",
                " ²",
            ] {
                let text = format!("{}{tail} abc  {}", "x".repeat(k), " 1.".repeat(30));
                assert_eq!(
                    isolated_digits_matches(&text),
                    digits_then_gpt2(&text),
                    "{text:?}"
                );
            }
        }
        for text in [
            include_str!("scanner.rs"),
            include_str!("../../../README.md"),
        ] {
            assert_eq!(isolated_digits_matches(text), digits_then_gpt2(text));
        }
    }

    /// Real text that was not written for the scanners: this crate's own sources.
    #[test]
    fn windows_match_regex_on_source_files() {
        for text in [
            include_str!("scanner.rs"),
            include_str!("tokenizer.rs"),
            include_str!("../../../README.md"),
        ] {
            for (scanner, pattern) in ALL {
                assert_eq!(scanner_matches(scanner, text), regex_matches(pattern, text));
            }
        }
    }

    #[test]
    fn scanners_match_their_regex_on_tricky_text() {
        for (scanner, pattern) in ALL {
            for text in TRICKY {
                assert_eq!(
                    scanner_matches(scanner, text),
                    regex_matches(pattern, text),
                    "pattern {pattern} on {text:?}"
                );
            }
        }
    }

    fn tricky_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            " ", "  ", "\n", "\r\n", "\t", "\u{a0}", "a", "Z", "é", "中", "1", "٣", "½", "'", "'s",
            "'LL", "'re", ".", ",", "!", "😀", "\u{17f}", "_", "-", "/", "x1", "\u{300}", "HELLO",
            "World", "aB", "ǅ", "ʰ", "\u{301}", "Ω", "ω", "'S", "\r", "\u{2160}", "\u{85}",
            "\u{2028}", "\u{2029}", "\x0b", "\x0c", "12345", "१२", "𝟎", "①", "\u{212a}",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn gpt2_scanner_matches_regex(text in tricky_text()) {
            prop_assert_eq!(scanner_matches(Scanner::Gpt2, &text), regex_matches(GPT2_PATTERN, &text));
        }

        #[test]
        fn cl100k_scanner_matches_regex(text in tricky_text()) {
            prop_assert_eq!(scanner_matches(CL100K, &text), regex_matches(CL100K_PATTERN, &text));
            prop_assert_eq!(
                scanner_matches(CL100K_TIKTOKEN, &text),
                regex_matches(CL100K_TIKTOKEN_PATTERN, &text)
            );
            prop_assert_eq!(scanner_matches(QWEN2, &text), regex_matches(CL100K_SINGLE_DIGIT_PATTERN, &text));
            prop_assert_eq!(
                scanner_matches(CL100K_VERBATIM, &text),
                regex_matches(CL100K_TIKTOKEN_VERBATIM_PATTERN, &text)
            );
        }

        #[test]
        fn o200k_scanners_match_regex(text in tricky_text()) {
            prop_assert_eq!(scanner_matches(O200K, &text), regex_matches(O200K_PATTERN, &text));
            prop_assert_eq!(scanner_matches(TEKKEN, &text), regex_matches(TEKKEN_PATTERN, &text));
        }

        /// Mostly ASCII, where the fast paths decide (`cl100k_ascii_end`, `o200k_ascii_end`),
        /// with a non-ASCII letter, number, space or mark now and then at any place of a match.
        #[test]
        fn scanners_match_regex_on_mostly_ascii(
            text in prop::collection::vec(prop::sample::select(vec![
                "a", "b", "Z", "Q", " ", " ", "\n", "\r", "\t", "\x0b", "\x0c", "0", "7", "'",
                "s", "L", "l", "e", "E", "r", "v", "m", "D", ".", "(", "/", "#", "_", "-", "\0",
                "'ve", "'re", "'ll", "'s", "'t", "'m", "'d", "'VE", "'Ll", "'x", "xy",
                "é", "Ω", "\u{a0}", "\u{300}", "٣", "\u{17f}", "\u{2028}", "ʰ",
            ]), 0..32).prop_map(|v| v.concat())
        ) {
            for (scanner, pattern) in ALL {
                prop_assert_eq!(scanner_matches(scanner, &text), regex_matches(pattern, &text),
                    "{}", pattern);
            }
        }

        /// Texts of a few hundred bytes, so that the 64-byte windows of GPT-2, the cl100k and
        /// the o200k families (`scan_blocks`) meet every rule at every offset, at window ends, and where a window
        /// gives up (non-ASCII, long whitespace and digit runs).
        #[test]
        fn windows_match_regex_on_long_text(
            text in prop::collection::vec(prop::sample::select(vec![
                "a", "b", "Z", "s", "t", "L", "l", "e", "E", "r", "v", "m", "D", " ", " ", " ",
                "  ", "        ", "\n", "\n", "\r\n", "\t", "\x0b", "\x0c", "0", "7", "1234", "'", "'s",
                "'S", "'ll", "'Re", "'ve", "'x", ".", "(", ")", ":", "#", "_", "-", "\0", "\x1f",
                "ident", " word", "\n    ", ";\n", ",\n\n", " '", " 's", "'LL", "''", "camelCase",
                "HTTPServer", "aB", "Ab", "/", ";\n/", "\n//", "'sA", "é", "\u{a0}", "\u{17f}", "中",
                "×", "÷", "Ā", "ő", "Ü", "'ſ", "été", "\u{c0}", "\u{ff}",
                "\u{2028}", "\u{85}", "٣",
            ]), 0..160).prop_map(|v| v.concat())
        ) {
            for (scanner, pattern) in ALL {
                prop_assert_eq!(scanner_matches(scanner, &text), regex_matches(pattern, &text),
                    "{}", pattern);
            }
        }

        #[test]
        fn gpt2_after_isolated_digits_matches_on_long_text(
            text in prop::collection::vec(prop::sample::select(vec![
                "a", "Z", "s", " ", " ", "  ", "\n", "\t", "0", "1", "42", "2024", "'", "'s", "'ll",
                ".", "(", "_", "ident", " word", "\n    ", " 1", "  7", "é", "\u{a0}", "٣", "²", "中",
            ]), 0..160).prop_map(|v| v.concat())
        ) {
            prop_assert_eq!(isolated_digits_matches(&text), digits_then_gpt2(&text));
        }

        #[test]
        fn scanners_match_regex_on_any_string(text in "\\PC{0,40}") {
            prop_assert_eq!(scanner_matches(Scanner::Gpt2, &text), regex_matches(GPT2_PATTERN, &text));
            prop_assert_eq!(scanner_matches(CL100K, &text), regex_matches(CL100K_PATTERN, &text));
            prop_assert_eq!(
                scanner_matches(CL100K_TIKTOKEN, &text),
                regex_matches(CL100K_TIKTOKEN_PATTERN, &text)
            );
            prop_assert_eq!(scanner_matches(O200K, &text), regex_matches(O200K_PATTERN, &text));
            prop_assert_eq!(scanner_matches(TEKKEN, &text), regex_matches(TEKKEN_PATTERN, &text));
            prop_assert_eq!(scanner_matches(QWEN2, &text), regex_matches(CL100K_SINGLE_DIGIT_PATTERN, &text));
            prop_assert_eq!(
                scanner_matches(CL100K_VERBATIM, &text),
                regex_matches(CL100K_TIKTOKEN_VERBATIM_PATTERN, &text)
            );
        }
    }

    #[test]
    fn lower_lanes_mark_exactly_the_lowercase_letters() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                for fill in [0u8, b'`', b'{', 0x80, 0xe1, 0xfb, 0xff] {
                    let mut word = [fill; 8];
                    word[lane] = b;
                    let marks = ascii_lower_lanes(u64::from_le_bytes(word)).to_le_bytes();
                    for (i, &m) in marks.iter().enumerate() {
                        let want = if word[i].is_ascii_lowercase() {
                            0x80
                        } else {
                            0
                        };
                        assert_eq!(m, want, "{word:?} lane {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn ascii_runs_eight_at_a_time_match_the_class_table() {
        // Every byte at every lane, next to letters, digits and the class boundaries' neighbours,
        // so a borrow between lanes or a wrong bound shows.
        let fillers = [
            b'a', b'Z', b'5', b' ', 0x80, 0xff, b'@', b'[', b'`', b'{', b'/', b':',
        ];
        for (lo, hi) in [
            (A_UPPER, A_LOWER),
            (A_UPPER, A_UPPER),
            (A_LOWER, A_LOWER),
            (A_DIGIT, A_DIGIT),
        ] {
            for b in 0..=255u8 {
                for lane in 0..8 {
                    for &fill in &fillers {
                        let mut bytes = vec![fill; 19];
                        bytes[lane] = b;
                        bytes[lane + 9] = b;
                        for start in [0, 1, 3] {
                            let mut want = start;
                            while (lo..=hi).contains(&class_at(&bytes, want)) {
                                want += 1;
                            }
                            let got = ascii_run(&bytes, start, lo, hi);
                            assert_eq!(
                                got,
                                (want, class_at(&bytes, want)),
                                "{lo}-{hi} {bytes:?} from {start}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ascii_classes_refine_the_kinds() {
        for b in 0u8..128 {
            let want = match ascii_kind_slow(b) {
                Kind::Letter if b.is_ascii_uppercase() => A_UPPER,
                Kind::Letter => A_LOWER,
                Kind::Number => A_DIGIT,
                Kind::Space if b == b'\r' || b == b'\n' => A_NEWLINE,
                Kind::Space => A_SPACE,
                Kind::Other => A_OTHER,
            };
            assert_eq!(ASCII_CLASS[usize::from(b)], want, "byte {b}");
        }
        assert!(ASCII_CLASS[128..].iter().all(|&c| c == A_WIDE));
    }

    #[test]
    fn contraction_len_knows_every_contraction() {
        // Every contraction, in every ASCII case where the match ignores case, and nothing else:
        // each one cut short, or followed by a letter no contraction starts with.
        for suffix in CONTRACTIONS {
            let upper = suffix.to_ascii_uppercase();
            let mixed: String = suffix
                .chars()
                .enumerate()
                .map(|(i, c)| if i == 0 { c.to_ascii_uppercase() } else { c })
                .collect();
            assert_eq!(contraction_len(suffix, 0, false), Some(suffix.len()));
            assert_eq!(
                contraction_len(&format!("{suffix}x"), 0, false),
                Some(suffix.len())
            );
            for spelled in [upper.as_str(), mixed.as_str()] {
                assert_eq!(contraction_len(spelled, 0, true), Some(suffix.len()));
                if spelled != *suffix {
                    assert_eq!(contraction_len(spelled, 0, false), None);
                }
            }
            if suffix.len() > 1 {
                assert_eq!(contraction_len(&suffix[..1], 0, true), None);
            }
        }
        // Every ASCII letter and pair of letters: a contraction exactly where one starts it.
        let letters = ('a'..='z').map(String::from);
        let pairs = ('a'..='z').flat_map(|a| ('a'..='z').map(move |b| format!("{a}{b}")));
        for text in letters.chain(pairs) {
            let want = CONTRACTIONS
                .iter()
                .find(|c| text.starts_with(*c))
                .map(|c| c.len());
            assert_eq!(contraction_len(&text, 0, true), want, "{text}");
        }
    }

    #[test]
    fn ascii_kind_table_agrees_with_the_classes() {
        let c = scan_classes();
        for b in 0..128u8 {
            let ch = char::from(b);
            let want = if c.letter.contains(ch) {
                Kind::Letter
            } else if c.number.contains(ch) {
                Kind::Number
            } else if c.space.contains(ch) {
                Kind::Space
            } else {
                Kind::Other
            };
            assert!(ASCII_KIND[usize::from(b)] == want, "byte {b:#04x}");
            assert!(kind(c, ch) == want, "byte {b:#04x}");
        }
    }

    #[test]
    fn ascii_kind_lanes_agree_with_the_table() {
        let kinds = [Kind::Letter, Kind::Number, Kind::Space, Kind::Other];
        for b in 0..=255u8 {
            for lane in 0..8 {
                // `b` in one lane, the other lanes a mix that exercises the neighbours.
                let mut word = *b"a1 .\xff\x0bZ\x7f";
                word[lane] = b;
                let lanes = ascii_kind_lanes(u64::from_le_bytes(word), Kind::Other);
                for k in kinds {
                    let lanes_k = ascii_kind_lanes(u64::from_le_bytes(word), k);
                    for (i, &x) in word.iter().enumerate() {
                        let want = x < 0x80 && ASCII_KIND[usize::from(x)] == k;
                        assert_eq!(lanes_k >> (8 * i + 7) & 1 == 1, want, "byte {x:#04x}");
                        assert_eq!(lanes_k >> (8 * i) & 0x7f, 0);
                    }
                }
                assert_eq!(lanes & !LANE_HIGH, 0);
            }
        }
    }

    #[test]
    fn ascii_number_and_space_kinds_are_rusts_numeric_and_whitespace() {
        // `skip_ascii_outside` stands for `char::is_numeric` / `char::is_whitespace` on ASCII in
        // the pre-tokenizer's char-class splits.
        for b in 0..128u8 {
            let c = char::from(b);
            assert_eq!(ASCII_KIND[usize::from(b)] == Kind::Number, c.is_numeric());
            assert_eq!(ASCII_KIND[usize::from(b)] == Kind::Space, c.is_whitespace());
        }
    }

    proptest! {
        #[test]
        fn skip_ascii_outside_finds_the_first_stop(
            bytes in prop::collection::vec(prop::sample::select(vec![b'a', b' ', b'1', b'.', b'\n', 0xc3, 0x7f, b'Z']), 0..40),
            from in 0usize..40,
        ) {
            let from = from.min(bytes.len());
            for k in [Kind::Letter, Kind::Number, Kind::Space, Kind::Other] {
                let want = (from..bytes.len())
                    .find(|&i| bytes[i] >= 0x80 || ASCII_KIND[usize::from(bytes[i])] == k)
                    .unwrap_or(bytes.len());
                prop_assert_eq!(skip_ascii_outside(&bytes, from, k), want);
            }
        }
    }

    #[test]
    fn kind_table_agrees_with_the_classes_on_every_char() {
        let c = scan_classes();
        for ch in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            assert!(kind(c, ch) == kind_slow(c, ch), "U+{:04X}", ch as u32);
        }
    }

    #[test]
    fn every_scanner_knows_its_pattern() {
        for (pattern, scanner) in KNOWN {
            assert_eq!(Scanner::for_pattern(pattern), Some(scanner));
            assert_eq!(scanner.pattern(), pattern);
            let re = scanner.reference_regex().expect("known patterns compile");
            assert_eq!(re.as_str(), pattern);
        }
    }

    #[test]
    fn long_whitespace_run_is_linear() {
        let text = " ".repeat(1 << 20) + "x";
        let m = scanner_matches(CL100K, &text);
        assert_eq!(m, vec![(0, (1 << 20) - 1), ((1 << 20) - 1, (1 << 20) + 1)]);
    }
}
