//! Normalizers: the text transforms a `tokenizer.json` applies before pre-tokenization.

use std::borrow::Cow;

use unicode_normalization_alignments::{
    char::canonical_combining_class, is_nfc_quick, is_nfd_quick, is_nfkc_quick, is_nfkd_quick,
    IsNormalized, UnicodeNormalization,
};

use crate::error::{Error, Result};
use crate::json::{compile_regex, pattern_spec, Node, PatternSpec};

/// How many times longer than its input a normalizer may make a text (see [`Normalizer::apply`]).
pub const MAX_EXPANSION: usize = 64;

/// One normalizer step, as HF `tokenizers` defines it.
#[derive(Debug)]
pub enum Normalizer {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
    StripAccents,
    Strip {
        left: bool,
        right: bool,
    },
    Prepend(String),
    ReplaceLiteral {
        pattern: String,
        content: String,
    },
    ReplaceRegex {
        regex: crate::regex::Regex,
        content: String,
    },
    Sequence(Vec<Normalizer>),
}

impl Normalizer {
    /// Parse a `normalizer` object.
    pub fn from_json(node: Node<'_>) -> Result<Normalizer> {
        let ty = node.type_name()?;
        Ok(match ty {
            "NFC" => Normalizer::Nfc,
            "NFD" => Normalizer::Nfd,
            "NFKC" => Normalizer::Nfkc,
            "NFKD" => Normalizer::Nfkd,
            "Lowercase" => Normalizer::Lowercase,
            "StripAccents" => Normalizer::StripAccents,
            "Strip" => Normalizer::Strip {
                left: node.bool_or("strip_left", true)?,
                right: node.bool_or("strip_right", true)?,
            },
            "Prepend" => Normalizer::Prepend(node.str("prepend")?.to_owned()),
            "Replace" => {
                let content = node.str("content")?.to_owned();
                match pattern_spec(node, "pattern")? {
                    PatternSpec::Literal(p) => Normalizer::ReplaceLiteral {
                        pattern: p.to_owned(),
                        content,
                    },
                    PatternSpec::Regex(r) => Normalizer::ReplaceRegex {
                        regex: compile_regex(r, &node.child_path("pattern"))?,
                        content,
                    },
                }
            }
            "Sequence" => {
                let path = node.child_path("normalizers");
                let items = node.array("normalizers")?;
                let mut steps = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    steps.push(Normalizer::from_json(Node::new(&item_path, item)?)?);
                }
                Normalizer::Sequence(steps)
            }
            other => {
                return Err(Error::unsupported(
                    "normalizer",
                    node.path,
                    format!("type {other:?} (supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip, Prepend, Replace, Sequence)"),
                ))
            }
        })
    }

    /// [`Normalizer::apply`] on borrowed text: a Unicode normalization form returns the text
    /// itself when it is already in that form (no copy), the other steps a new string.
    pub fn apply_str<'a>(&self, text: &'a str) -> Result<Cow<'a, str>> {
        match self.form() {
            Some(form) => Ok(form.normalize(text)),
            None => self.apply(text.to_owned()).map(Cow::Owned),
        }
    }

    /// The Unicode normalization form this step is, if it is one.
    fn form(&self) -> Option<Form> {
        match self {
            Normalizer::Nfc => Some(Form::Nfc),
            Normalizer::Nfd => Some(Form::Nfd),
            Normalizer::Nfkc => Some(Form::Nfkc),
            Normalizer::Nfkd => Some(Form::Nfkd),
            _ => None,
        }
    }

    /// Apply the normalizer to `text`.
    ///
    /// Fails (`InvalidInput`) rather than allocate without bound when the file's `Replace` or
    /// `Prepend` steps would make the text more than [`MAX_EXPANSION`] times longer (plus 1 MiB):
    /// a hostile file can chain doublings. Real normalizers stay far below (NFKD: at most 18×).
    pub fn apply(&self, text: String) -> Result<String> {
        let limit = text
            .len()
            .saturating_mul(MAX_EXPANSION)
            .saturating_add(1 << 20);
        self.apply_within(text, limit)
    }

    fn apply_within(&self, text: String, limit: usize) -> Result<String> {
        let too_long = |len: usize| {
            Error::InvalidInput(format!(
                "the tokenizer's normalizer would expand this text to more than {len} bytes \
                 ({MAX_EXPANSION}× its length plus 1 MiB); refusing to allocate that"
            ))
        };
        let grown = |len: usize, extra: usize| len.saturating_add(extra);
        Ok(match self {
            Normalizer::Nfc | Normalizer::Nfd | Normalizer::Nfkc | Normalizer::Nfkd => {
                match self.form().map(|form| form.normalize(&text)) {
                    Some(Cow::Owned(normalized)) => normalized,
                    _ => text,
                }
            }
            // Char by char, like HF: no final-sigma rule.
            Normalizer::Lowercase => text.chars().flat_map(char::to_lowercase).collect(),
            // HF's marks: its normalization crate's tables (Unicode 9.0), so a mark assigned
            // later (U+1193B, Unicode 13) stays, as in HF.
            Normalizer::StripAccents => text
                .chars()
                .filter(|&c| !unicode_normalization_alignments::char::is_combining_mark(c))
                .collect(),
            Normalizer::Strip { left, right } => {
                let mut s = text.as_str();
                if *left {
                    s = s.trim_start();
                }
                if *right {
                    s = s.trim_end();
                }
                s.to_owned()
            }
            Normalizer::Prepend(prefix) => {
                if grown(text.len(), prefix.len()) > limit {
                    return Err(too_long(limit));
                }
                if text.is_empty() {
                    text
                } else {
                    let mut out = String::with_capacity(prefix.len() + text.len());
                    out.push_str(prefix);
                    out.push_str(&text);
                    out
                }
            }
            Normalizer::ReplaceLiteral { pattern, content } => {
                if pattern.is_empty() {
                    text
                } else {
                    if content.len() > pattern.len() {
                        let hits = text.matches(pattern.as_str()).count();
                        let extra = hits.saturating_mul(content.len() - pattern.len());
                        if grown(text.len(), extra) > limit {
                            return Err(too_long(limit));
                        }
                    }
                    text.replace(pattern.as_str(), content)
                }
            }
            Normalizer::ReplaceRegex { regex, content } => {
                let mut out = String::with_capacity(text.len());
                let mut last = 0;
                for (start, end) in regex.find_all(&text)? {
                    out.push_str(&text[last..start]);
                    out.push_str(content);
                    last = end;
                    if grown(out.len(), text.len() - last) > limit {
                        return Err(too_long(limit));
                    }
                }
                out.push_str(&text[last..]);
                out
            }
            Normalizer::Sequence(steps) => {
                let mut text = text;
                for step in steps {
                    text = step.apply_within(text, limit)?;
                }
                text
            }
        })
    }

    /// The char `c` and whether `c` is put in front, when this normalizer does nothing but
    /// write `c` for every space and, optionally, put `c` in front of a non-empty text (the
    /// `SentencePiece` legacy form: `Replace(" ", c)` with or without `Prepend(c)`, in either
    /// order).
    pub fn as_space_rewrite(&self) -> Option<(char, bool)> {
        let single = |s: &str| {
            let mut chars = s.chars();
            chars.next().filter(|_| chars.next().is_none())
        };
        let replace = |n: &Normalizer| match n {
            Normalizer::ReplaceLiteral { pattern, content } if pattern == " " => single(content),
            _ => None,
        };
        let prepend =
            |n: &Normalizer, c: char| matches!(n, Normalizer::Prepend(p) if single(p) == Some(c));
        match self {
            Normalizer::Sequence(steps) => match steps.as_slice() {
                [only] => only.as_space_rewrite(),
                [a, b] => match (replace(a), replace(b)) {
                    (Some(c), None) if prepend(b, c) => Some((c, true)),
                    (None, Some(c)) if prepend(a, c) => Some((c, true)),
                    _ => None,
                },
                _ => None,
            },
            other => replace(other).map(|c| (c, false)),
        }
    }

    /// The char this normalizer writes in place of a space, if it does (`SentencePiece` style).
    pub fn space_replacement(&self) -> Option<char> {
        match self {
            Normalizer::ReplaceLiteral { pattern, content } if pattern == " " => {
                let mut chars = content.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some(c),
                    _ => None,
                }
            }
            Normalizer::Sequence(steps) => steps.iter().find_map(Normalizer::space_replacement),
            _ => None,
        }
    }
}

/// A Unicode normalization form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
}

impl Form {
    /// `text` in this form, borrowed when it already is. Only the stretches around chars that
    /// the quick check does not pass are normalized (see [`Form::is_boundary_before`]): ASCII
    /// text and text already in the form cost one pass of table lookups, and a fullwidth
    /// parenthesis in a Japanese page no longer sends the whole page through the normalizer.
    fn normalize(self, text: &str) -> Cow<'_, str> {
        if text.is_ascii() {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        // `text[..done]` is in `out`; `text[boundary..at]` passed the quick check so far.
        let mut done = 0;
        let mut boundary = 0;
        let mut last_class = 0u8;
        let mut at = 0;
        while let Some(c) = text[at..].chars().next() {
            let class = if c.is_ascii() {
                0
            } else {
                canonical_combining_class(c)
            };
            if self.is_boundary_before(c, class) {
                boundary = at;
                last_class = 0;
                at += c.len_utf8();
                continue;
            }
            if self.quick_check(c) == IsNormalized::Yes && (class == 0 || last_class <= class) {
                last_class = class;
                at += c.len_utf8();
                continue;
            }
            // Normalize from the last boundary to the next one.
            let mut end = at + c.len_utf8();
            while let Some(next) = text[end..].chars().next() {
                let next_class = if next.is_ascii() {
                    0
                } else {
                    canonical_combining_class(next)
                };
                if self.is_boundary_before(next, next_class) {
                    break;
                }
                end += next.len_utf8();
            }
            out.push_str(&text[done..boundary]);
            self.extend(&mut out, &text[boundary..end]);
            done = end;
            boundary = end;
            last_class = 0;
            at = end;
        }
        if done == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[done..]);
        Cow::Owned(out)
    }

    /// Whether normalizing a text equals normalizing its part before `c` and its part from `c`
    /// on, each alone: `c` is a starter (combining class 0, so reordering never moves a mark
    /// across it) that the quick check passes (it is unchanged, and only chars whose check says
    /// "maybe" compose with a char before them). ICU calls this a boundary before `c`.
    #[inline]
    fn is_boundary_before(self, c: char, class: u8) -> bool {
        c.is_ascii() || (class == 0 && self.quick_check(c) == IsNormalized::Yes)
    }

    #[inline]
    fn quick_check(self, c: char) -> IsNormalized {
        let one = std::iter::once(c);
        match self {
            Form::Nfc => is_nfc_quick(one),
            Form::Nfd => is_nfd_quick(one),
            Form::Nfkc => is_nfkc_quick(one),
            Form::Nfkd => is_nfkd_quick(one),
        }
    }

    /// The full algorithm, appending to `out`.
    fn extend(self, out: &mut String, text: &str) {
        match self {
            Form::Nfc => out.extend(text.nfc().map(|(c, _)| c)),
            Form::Nfd => out.extend(text.nfd().map(|(c, _)| c)),
            Form::Nfkc => out.extend(text.nfkc().map(|(c, _)| c)),
            Form::Nfkd => out.extend(text.nfkd().map(|(c, _)| c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FORMS: [Form; 4] = [Form::Nfc, Form::Nfd, Form::Nfkc, Form::Nfkd];

    /// The whole text through the full algorithm: the reference of [`Form::normalize`].
    fn reference(form: Form, text: &str) -> String {
        let mut out = String::new();
        form.extend(&mut out, text);
        out
    }

    /// Starters, marks in and out of canonical order, composable pairs (`e` + acute, `<` +
    /// long solidus overlay), Hangul jamo that compose, compatibility chars (ligature, fullwidth,
    /// superscript, circled digit, `ſ`), precomposed chars and chars that change under NFC alone
    /// (Kelvin sign, Ångström sign, the Greek question mark).
    const NASTY: &[&str] = &[
        "e", "a", "<", " ", "\u{301}", "\u{323}", "\u{338}", "\u{327}", "\u{1100}", "\u{1161}",
        "\u{11a8}", "\u{ac00}", "ﬁ", "（", "Ａ", "²", "①", "ſ", "é", "Å", "\u{212a}", "\u{212b}",
        "\u{37e}", "日", "ｶ", "\u{3099}", "か", "\u{fb2c}", "\u{5b7}", "\u{1e9b}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)))]

        /// Normalizing stretch by stretch equals normalizing the whole text (and the text is
        /// borrowed only when it is already normalized).
        #[test]
        fn stretches_normalize_like_the_whole(
            parts in prop::collection::vec(prop::sample::select(NASTY), 0..16),
        ) {
            let text = parts.concat();
            for form in FORMS {
                let expected = reference(form, &text);
                let got = form.normalize(&text);
                if matches!(got, Cow::Borrowed(_)) {
                    prop_assert_eq!(&expected, &text);
                }
                prop_assert_eq!(got.as_ref(), expected.as_str(), "{:?}", form);
            }
        }

        #[test]
        fn arbitrary_text_normalizes_like_the_whole(text in "\\PC{0,24}") {
            for form in FORMS {
                let expected = reference(form, &text);
                let got = form.normalize(&text);
                prop_assert_eq!(got.as_ref(), expected.as_str());
            }
        }
    }

    /// Every char of the first planes, alone and between two chars that compose or reorder
    /// with neighbours.
    #[test]
    fn every_char_normalizes_like_the_whole() {
        for c in (0..0x3_0000).filter_map(char::from_u32) {
            for text in [
                c.to_string(),
                format!("e{c}\u{301}"),
                format!("\u{1100}{c}\u{323}a"),
            ] {
                for form in FORMS {
                    assert_eq!(
                        form.normalize(&text).as_ref(),
                        reference(form, &text),
                        "{form:?} U+{:04X}",
                        u32::from(c)
                    );
                }
            }
        }
    }
}
