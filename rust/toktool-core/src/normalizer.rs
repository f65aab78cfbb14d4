//! Normalizers: the text transforms a `tokenizer.json` applies before pre-tokenization.

use unicode_normalization::UnicodeNormalization;

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
            Normalizer::Nfc => text.nfc().collect(),
            Normalizer::Nfd => text.nfd().collect(),
            Normalizer::Nfkc => text.nfkc().collect(),
            Normalizer::Nfkd => text.nfkd().collect(),
            // Char by char, like HF: no final-sigma rule.
            Normalizer::Lowercase => text.chars().flat_map(char::to_lowercase).collect(),
            Normalizer::StripAccents => text
                .chars()
                .filter(|&c| !unicode_normalization::char::is_combining_mark(c))
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
