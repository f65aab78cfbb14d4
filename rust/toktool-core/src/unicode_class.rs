//! Character classes for the hand-written pre-tokenizer scanners.
//!
//! The tables come from `regex-syntax`; a test checks them, code point by code point, against
//! Oniguruma (the engine HF `tokenizers` runs the patterns with), so the scanners classify every
//! code point as HF does.

use std::sync::OnceLock;

/// A class of code points as sorted, disjoint, inclusive ranges plus an ASCII bitmap.
pub struct CharClass {
    ranges: Vec<(u32, u32)>,
    ascii: [bool; 128],
}

impl CharClass {
    fn from_regex(pattern: &str) -> CharClass {
        use regex_syntax::hir::{Class, HirKind};
        let hir = regex_syntax::Parser::new()
            .parse(pattern)
            .unwrap_or_else(|e| panic!("built-in class {pattern} must parse: {e}"));
        let ranges: Vec<(u32, u32)> = match hir.kind() {
            HirKind::Class(Class::Unicode(class)) => class
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
            other => panic!("built-in class {pattern} parsed to {other:?}"),
        };
        let mut ascii = [false; 128];
        for (i, slot) in ascii.iter_mut().enumerate() {
            let cp = i as u32;
            *slot = ranges.iter().any(|&(lo, hi)| lo <= cp && cp <= hi);
        }
        CharClass { ranges, ascii }
    }

    /// Whether `c` is in the class.
    #[inline]
    pub fn contains(&self, c: char) -> bool {
        let cp = c as u32;
        if cp < 128 {
            return self.ascii[cp as usize];
        }
        self.ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < cp {
                    std::cmp::Ordering::Less
                } else if lo > cp {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
}

/// The classes the scanners need.
pub struct Classes {
    pub letter: CharClass,
    pub number: CharClass,
    /// Decimal digits (`\p{Nd}`), a subset of `number`.
    pub decimal: CharClass,
    pub space: CharClass,
    /// o200k's "upper-ish" letters: `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
    pub upper: CharClass,
    /// o200k's "lower-ish" letters: `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
    pub lower: CharClass,
}

/// Shared, lazily built class tables.
pub fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(|| Classes {
        letter: CharClass::from_regex(r"\p{L}"),
        number: CharClass::from_regex(r"\p{N}"),
        decimal: CharClass::from_regex(r"\p{Nd}"),
        space: CharClass::from_regex(r"\s"),
        upper: CharClass::from_regex(r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
        lower: CharClass::from_regex(r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_agree_with_known_points() {
        let c = classes();
        for ch in ['a', 'Z', 'é', 'ж', '中', 'ǅ'] {
            assert!(c.letter.contains(ch), "{ch:?} is a letter");
        }
        for ch in ['1', '٣', '½', 'Ⅻ'] {
            assert!(c.number.contains(ch), "{ch:?} is a number");
            assert!(!c.letter.contains(ch));
        }
        for ch in [' ', '\t', '\n', '\u{a0}', '\u{3000}', '\u{85}'] {
            assert!(c.space.contains(ch), "{ch:?} is a space");
        }
        for ch in ['_', '.', '\'', '😀'] {
            assert!(!c.letter.contains(ch) && !c.number.contains(ch) && !c.space.contains(ch));
        }
    }

    /// Every scalar value, as one string with the byte offset of each char.
    fn all_chars() -> (String, Vec<(usize, char)>) {
        let text: String = (0..=0x10_FFFF_u32).filter_map(char::from_u32).collect();
        let offsets = text.char_indices().collect();
        (text, offsets)
    }

    #[test]
    fn classes_agree_with_oniguruma_on_every_code_point() {
        let (text, chars) = all_chars();
        let c = classes();
        for (pattern, class) in [
            (r"\p{L}", &c.letter),
            (r"\p{N}", &c.number),
            (r"\p{Nd}", &c.decimal),
            (r"\s", &c.space),
            (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", &c.upper),
            (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", &c.lower),
        ] {
            let re = crate::regex::Regex::new(pattern, "test").expect("compiles");
            let mut in_onig = vec![false; text.len() + 1];
            re.for_each_match(&text, |s, _| in_onig[s] = true)
                .expect("single-char class");
            let differ: Vec<String> = chars
                .iter()
                .filter(|&&(i, ch)| in_onig[i] != class.contains(ch))
                .map(|&(_, ch)| format!("U+{:04X}", ch as u32))
                .take(20)
                .collect();
            assert!(differ.is_empty(), "{pattern}: {differ:?}");
        }
    }
}
