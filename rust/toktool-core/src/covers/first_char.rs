//! The first-char shortcut of [`CoverSearch::valid_among`]: with a class scanner, how the tail
//! and a candidate token are pre-tokenized around their border depends only on the token's first
//! char (or, after whitespace, its leading whitespace and the kind of char after it), so it is
//! decided once per question and char ([`Border`]), and many candidates are answered from that
//! alone.

use std::sync::{Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use super::memo::{remembered, Answers};
use super::{CoverSearch, LocalQuestion};

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

    /// The answer for `t` that the first-char shortcut gives to a localized question (see
    /// [`CoverSearch::border_for`]), if it gives one.
    pub(super) fn first_char_shortcut(&self, question: &LocalQuestion, t: u32) -> Option<bool> {
        let (Some(w), Some(groups)) = (question.fast_tail, &question.groups) else {
            return None;
        };
        let prefix = question.prefix;
        match self.border_for(groups, w, prefix, question.at_start, t) {
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
pub(super) fn lead_kind(c: char) -> u32 {
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
