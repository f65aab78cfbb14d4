//! The regex engine for `tokenizer.json` patterns: Oniguruma, exactly as HF `tokenizers` uses it.
//!
//! HF compiles every `Split` / `Replace` regex with `onig::Regex::new` (Oniguruma's default Ruby
//! syntax, UTF-8) and walks the matches with `onig::FindMatches`. Using the same engine with the
//! same iteration gives every construct its Oniguruma meaning by construction: `\p{N}{1,3}+` is a
//! nested repetition, `$` a line anchor, `\h` a hex digit, and so on. The one difference is on
//! purpose: where Oniguruma gives up on an input (its retry limit), HF panics and toktool returns
//! [`Error::InvalidInput`].

use onig::{MatchParam, Region, SearchOptions};

use crate::error::{Error, Result};

/// A compiled pattern and its source text.
#[derive(Debug)]
pub struct Regex {
    inner: onig::Regex,
    pattern: String,
}

impl Regex {
    /// Compile `pattern` as HF does; `path` (the JSON path) goes into the error.
    pub fn new(pattern: &str, path: &str) -> Result<Regex> {
        let inner = onig::Regex::new(pattern).map_err(|e| Error::Regex {
            pattern: pattern.to_owned(),
            path: path.to_owned(),
            message: e.description().to_owned(),
        })?;
        Ok(Regex {
            inner,
            pattern: pattern.to_owned(),
        })
    }

    /// The pattern as written in the file.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Calls `sink(start, end)` for every match, in the order and with the empty-match rule of
    /// `onig::FindMatches` (an empty match right where the previous match ended is skipped and
    /// the search moves on one char).
    pub fn for_each_match(&self, text: &str, mut sink: impl FnMut(usize, usize)) -> Result<()> {
        let mut region = Region::new();
        let mut from = 0;
        let mut last_match_end: Option<usize> = None;
        while from <= text.len() {
            region.clear();
            let found = self
                .inner
                .search_with_param(
                    text,
                    from,
                    text.len(),
                    SearchOptions::SEARCH_OPTION_NONE,
                    Some(&mut region),
                    MatchParam::default(),
                )
                .map_err(|e| self.gave_up(e.description()))?;
            if found.is_none() {
                break;
            }
            let Some((start, end)) = region.pos(0) else {
                return Err(Error::Internal(format!(
                    "Oniguruma reported a match of {:?} without its range",
                    self.pattern
                )));
            };
            if start == end && last_match_end == Some(end) {
                from += text[from..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            from = end;
            last_match_end = Some(end);
            sink(start, end);
        }
        Ok(())
    }

    /// Every match as `(start, end)`.
    pub fn find_all(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        self.for_each_match(text, |s, e| out.push((s, e)))?;
        Ok(out)
    }

    fn gave_up(&self, why: &str) -> Error {
        Error::InvalidInput(format!(
            "the pre-tokenizer regex {:?} gave up on this input ({why}); toktool refuses \
             rather than split it differently from the file's intent (tokenizers panics here)",
            self.pattern
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> Vec<(usize, usize)> {
        Regex::new(pattern, "$")
            .expect("compiles")
            .find_all(text)
            .expect("no retry limit")
    }

    #[test]
    fn iteration_matches_onig_find_iter() {
        for (pattern, text) in [
            (r"\p{N}{1,3}+", "12345 x 1"),
            (r"a*", "baaac"),
            (r"(?=\d)|x", "1x2é"),
            (r"$", "a\nb\n"),
            (r"^\s*", "  a\n b"),
            (r"\b", "ab cd"),
            (r"", "éa"),
        ] {
            let onig_matches: Vec<_> = onig::Regex::new(pattern)
                .expect("compiles")
                .find_iter(text)
                .collect();
            assert_eq!(
                matches(pattern, text),
                onig_matches,
                "{pattern} on {text:?}"
            );
        }
    }

    #[test]
    fn oniguruma_meanings() {
        // Nested repetition, not possessive: every digit run is one match.
        assert_eq!(matches(r"\p{N}{1,3}+", "1234567"), [(0, 7)]);
        // `\h` is a hex digit.
        assert_eq!(matches(r"\h+", "0fz A"), [(0, 2), (4, 5)]);
        // `$` is a line anchor (before "\n").
        assert_eq!(matches(r"a$", "a\na"), [(0, 1), (2, 3)]);
    }

    #[test]
    fn bad_pattern_names_its_path() {
        let err = Regex::new(r"(?<", "$.pre_tokenizer.pattern").expect_err("invalid");
        assert!(matches!(err, Error::Regex { ref path, .. } if path == "$.pre_tokenizer.pattern"));
    }
}
