//! Added and special tokens: split out of the text before normalization and BPE, as HF does.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::error::{Error, Result};

/// One entry of `added_tokens`.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // the flags of HF's `AddedToken`, one for one
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    pub normalized: bool,
    pub special: bool,
}

/// A piece of input after added-token splitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Token(u32),
    Text(usize, usize),
}

/// A set of added tokens searched with leftmost-longest matching.
#[derive(Debug)]
pub struct TokenMatcher {
    automaton: AhoCorasick,
    tokens: Vec<AddedToken>,
}

impl TokenMatcher {
    /// Build a matcher; `patterns[i]` is what is searched for `tokens[i]`.
    pub fn new(tokens: Vec<AddedToken>, patterns: &[String]) -> Result<Option<TokenMatcher>> {
        if tokens.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .map_err(|e| Error::Internal(format!("added-token automaton: {e}")))?;
        Ok(Some(TokenMatcher { automaton, tokens }))
    }

    /// Split `text` into tokens and the text between them (HF `AddedVocabulary::find_matches`).
    pub fn split(&self, text: &str) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut start_offset = 0;
        for m in self.automaton.find_iter(text) {
            let token = &self.tokens[m.pattern().as_usize()];
            let (mut start, mut stop) = (m.start(), m.end());
            if token.single_word {
                let start_space = start == 0 || !ends_with_word_char(&text[..start]);
                let stop_space = stop == text.len() || !starts_with_word_char(&text[stop..]);
                if !start_space || !stop_space {
                    continue;
                }
            }
            if token.lstrip {
                let trimmed = text[..start].trim_end_matches(char::is_whitespace).len();
                start = trimmed.max(start_offset);
            }
            if token.rstrip {
                let rest = &text[stop..];
                stop += rest.len() - rest.trim_start_matches(char::is_whitespace).len();
            }
            if start < start_offset {
                // An earlier rstrip swallowed this match's start; HF keeps the overlap as-is.
                start = start_offset;
            }
            if start_offset < start {
                out.push(Segment::Text(start_offset, start));
            }
            out.push(Segment::Token(token.id));
            start_offset = stop;
        }
        if start_offset < text.len() {
            out.push(Segment::Text(start_offset, text.len()));
        }
        out
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn ends_with_word_char(s: &str) -> bool {
    s.chars().next_back().is_some_and(is_word_char)
}

fn starts_with_word_char(s: &str) -> bool {
    s.chars().next().is_some_and(is_word_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(id: u32, content: &str) -> AddedToken {
        AddedToken {
            id,
            content: content.into(),
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special: true,
        }
    }

    #[test]
    fn leftmost_longest_wins() {
        let tokens = vec![tok(1, "<a>"), tok(2, "<a><b>")];
        let patterns: Vec<String> = tokens.iter().map(|t| t.content.clone()).collect();
        let m = TokenMatcher::new(tokens, &patterns).unwrap().unwrap();
        assert_eq!(
            m.split("x<a><b>y<a>"),
            vec![
                Segment::Text(0, 1),
                Segment::Token(2),
                Segment::Text(7, 8),
                Segment::Token(1)
            ]
        );
    }

    #[test]
    fn lstrip_and_rstrip_absorb_spaces() {
        let mut t = tok(5, "<m>");
        t.lstrip = true;
        t.rstrip = true;
        let m = TokenMatcher::new(vec![t], &["<m>".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            m.split("a  <m>  b"),
            vec![Segment::Text(0, 1), Segment::Token(5), Segment::Text(8, 9)]
        );
    }
}
