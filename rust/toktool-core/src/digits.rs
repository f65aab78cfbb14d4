//! Linear-time digit-run splitting: left-to-right or right-to-left groups, or single digits.
//!
//! `toktool convert tokenizer --digits ...` writes a `Split` pre-tokenizer whose regex is one of
//! the canonical strings built by [`DigitSplitter::pattern`]. Hugging Face runs that regex with
//! Oniguruma; the right-to-left form needs a look-ahead (`(?=(?:\p{Nd}{3})*(?!\p{Nd}))`) that a
//! backtracking engine re-scans from every position of a digit run, so it is quadratic on long
//! runs. [`DigitSplitter::for_pattern`] recognizes the exact strings, and the pre-tokenizer runs
//! this splitter instead: two passes over each run, whatever its length. A property test checks
//! that the splitter and the reference regex engine (Oniguruma, as HF runs it) find the same matches.
//!
//! What is a digit: a Unicode decimal digit, `\p{Nd}` (`0-9`, `٠-٩`, `०-९`, `０-９`, ...), the
//! characters with a place value. Other numeric characters (`\p{Nl}`, `\p{No}`: `²`, `½`, `Ⅻ`,
//! `①`) are not grouped; an optional second alternative matches them on their own (one char, or a
//! maximal run), so that a later regex never glues them to a digit group.

use crate::error::{Error, Result};
use crate::unicode_class::{classes, Classes};

/// The digit class of every canonical pattern.
pub const DIGIT: &str = r"\p{Nd}";
/// Numeric characters that are not decimal digits (`\p{N}` is exactly `Nd`, `Nl` and `No`).
pub const OTHER_NUMERIC: &str = r"[\p{Nl}\p{No}]";
/// The largest group size a canonical pattern may have.
pub const MAX_GROUP: usize = 64;

/// Which end of a digit run the groups are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `12345` -> `123` `45` (what `\p{N}{1,3}` does in cl100k, o200k, Llama 3).
    LeftToRight,
    /// `12345` -> `12` `345`: every group but the first is a full place-value group.
    RightToLeft,
}

/// What the pattern does with numeric characters that are not decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherNumeric {
    /// Not matched: they stay in the text between matches.
    Ignore,
    /// Each one is a match of its own (`|[\p{Nl}\p{No}]`).
    Single,
    /// Each maximal run of them is one match (`|[\p{Nl}\p{No}]+`).
    Run,
}

/// A digit-run splitter: the matches of one canonical pattern, found in linear time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitSplitter {
    order: Order,
    group: usize,
    other: OtherNumeric,
}

impl DigitSplitter {
    /// A splitter with groups of `group` digits (`1` means single digits; the order is then
    /// irrelevant and normalized to left-to-right).
    pub fn new(order: Order, group: usize, other: OtherNumeric) -> Result<DigitSplitter> {
        if group == 0 || group > MAX_GROUP {
            return Err(Error::InvalidInput(format!(
                "digit group size must be between 1 and {MAX_GROUP}, got {group}"
            )));
        }
        let order = if group == 1 {
            Order::LeftToRight
        } else {
            order
        };
        Ok(DigitSplitter {
            order,
            group,
            other,
        })
    }

    pub fn order(&self) -> Order {
        self.order
    }

    pub fn group(&self) -> usize {
        self.group
    }

    pub fn other(&self) -> OtherNumeric {
        self.other
    }

    /// The canonical regex for this splitter (what the converter writes into `tokenizer.json`).
    pub fn pattern(&self) -> String {
        let g = self.group;
        let digits = match (self.group, self.order) {
            (1, _) => DIGIT.to_owned(),
            (_, Order::LeftToRight) => format!(r"{DIGIT}{{1,{g}}}"),
            (_, Order::RightToLeft) => {
                format!(r"{DIGIT}{{1,{g}}}(?=(?:{DIGIT}{{{g}}})*(?!{DIGIT}))")
            }
        };
        match self.other {
            OtherNumeric::Ignore => digits,
            OtherNumeric::Single => format!("{digits}|{OTHER_NUMERIC}"),
            OtherNumeric::Run => format!("{digits}|{OTHER_NUMERIC}+"),
        }
    }

    /// The splitter whose canonical pattern is exactly `pattern`, if there is one.
    pub fn for_pattern(pattern: &str) -> Option<DigitSplitter> {
        let run_suffix = format!("|{OTHER_NUMERIC}+");
        let single_suffix = format!("|{OTHER_NUMERIC}");
        let (core, other) = if let Some(core) = pattern.strip_suffix(run_suffix.as_str()) {
            (core, OtherNumeric::Run)
        } else if let Some(core) = pattern.strip_suffix(single_suffix.as_str()) {
            (core, OtherNumeric::Single)
        } else {
            (pattern, OtherNumeric::Ignore)
        };
        let (order, group) = if core == DIGIT {
            (Order::LeftToRight, 1)
        } else {
            let rest = core.strip_prefix(DIGIT)?.strip_prefix("{1,")?;
            let close = rest.find('}')?;
            let group: usize = rest[..close].parse().ok()?;
            let order = if rest[close + 1..].is_empty() {
                Order::LeftToRight
            } else {
                Order::RightToLeft
            };
            (order, group)
        };
        let splitter = DigitSplitter::new(order, group, other).ok()?;
        // Only the exact canonical spelling: anything else goes to the regex engine.
        (splitter.pattern() == pattern).then_some(splitter)
    }

    /// Calls `sink` with the byte range of every match, in order (as a regex `find_iter` would).
    pub fn for_each_match(&self, text: &str, mut sink: impl FnMut(usize, usize)) {
        let classes = classes();
        let mut iter = text.char_indices().peekable();
        while let Some((start, c)) = iter.next() {
            match numeric_kind(classes, c) {
                Numeric::No => {}
                Numeric::Digit => {
                    // One pass to the end of the run (counting chars), one to emit the groups.
                    let mut end = start + c.len_utf8();
                    let mut count = 1usize;
                    while let Some(&(i, d)) = iter.peek() {
                        if numeric_kind(classes, d) != Numeric::Digit {
                            break;
                        }
                        end = i + d.len_utf8();
                        count += 1;
                        iter.next();
                    }
                    self.emit_groups(&text[start..end], start, count, &mut sink);
                }
                Numeric::Other => match self.other {
                    OtherNumeric::Ignore => {}
                    OtherNumeric::Single => sink(start, start + c.len_utf8()),
                    OtherNumeric::Run => {
                        let mut end = start + c.len_utf8();
                        while let Some(&(i, d)) = iter.peek() {
                            if numeric_kind(classes, d) != Numeric::Other {
                                break;
                            }
                            end = i + d.len_utf8();
                            iter.next();
                        }
                        sink(start, end);
                    }
                },
            }
        }
    }

    /// Emit the groups of one maximal digit run of `count` chars starting at byte `offset`.
    fn emit_groups(
        &self,
        run: &str,
        offset: usize,
        count: usize,
        sink: &mut impl FnMut(usize, usize),
    ) {
        let g = self.group;
        // Chars in the current group before it is emitted.
        let mut want = match self.order {
            Order::LeftToRight => g,
            Order::RightToLeft => match count % g {
                0 => g,
                r => r,
            },
        };
        let mut group_start = 0;
        let mut have = 0;
        for (i, c) in run.char_indices() {
            have += 1;
            if have == want {
                let end = i + c.len_utf8();
                sink(offset + group_start, offset + end);
                group_start = end;
                have = 0;
                want = g;
            }
        }
        if group_start < run.len() {
            sink(offset + group_start, offset + run.len());
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Numeric {
    Digit,
    Other,
    No,
}

#[inline]
fn numeric_kind(classes: &Classes, c: char) -> Numeric {
    if c.is_ascii() {
        return if c.is_ascii_digit() {
            Numeric::Digit
        } else {
            Numeric::No
        };
    }
    if classes.decimal.contains(c) {
        Numeric::Digit
    } else if classes.number.contains(c) {
        Numeric::Other
    } else {
        Numeric::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn splitter(order: Order, group: usize, other: OtherNumeric) -> DigitSplitter {
        DigitSplitter::new(order, group, other).expect("valid group")
    }

    fn matches<'t>(s: &DigitSplitter, text: &'t str) -> Vec<&'t str> {
        let mut out = Vec::new();
        s.for_each_match(text, |a, b| out.push(&text[a..b]));
        out
    }

    fn regex_matches(pattern: &str, text: &str) -> Vec<(usize, usize)> {
        crate::regex::Regex::new(pattern, "test")
            .expect("canonical pattern compiles")
            .find_all(text)
            .expect("no retry limit on short inputs")
    }

    fn splitter_matches(s: &DigitSplitter, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        s.for_each_match(text, |a, b| out.push((a, b)));
        out
    }

    const ALL_OTHER: [OtherNumeric; 3] = [
        OtherNumeric::Ignore,
        OtherNumeric::Single,
        OtherNumeric::Run,
    ];

    #[test]
    fn groups_follow_the_mode() {
        let r2l = splitter(Order::RightToLeft, 3, OtherNumeric::Run);
        let l2r = splitter(Order::LeftToRight, 3, OtherNumeric::Run);
        let single = splitter(Order::RightToLeft, 1, OtherNumeric::Single);
        let text = "x1234567 = 89, 3.14159 ٣٤٥٦ ½² １２３４";
        assert_eq!(
            matches(&r2l, text),
            [
                "1",
                "234",
                "567",
                "89",
                "3",
                "14",
                "159",
                "٣",
                "٤٥٦",
                "½²",
                "１",
                "２３４"
            ]
        );
        assert_eq!(
            matches(&l2r, text),
            [
                "123",
                "456",
                "7",
                "89",
                "3",
                "141",
                "59",
                "٣٤٥",
                "٦",
                "½²",
                "１２３",
                "４"
            ]
        );
        assert_eq!(matches(&single, "12½²"), ["1", "2", "½", "²"]);
        assert_eq!(
            matches(
                &splitter(Order::RightToLeft, 2, OtherNumeric::Ignore),
                "12345½"
            ),
            ["1", "23", "45"]
        );
        assert!(matches(&r2l, "").is_empty());
        assert!(matches(&r2l, "no digits here").is_empty());
    }

    #[test]
    fn canonical_patterns_round_trip() {
        for order in [Order::LeftToRight, Order::RightToLeft] {
            for group in 1..=MAX_GROUP {
                for other in ALL_OTHER {
                    let s = splitter(order, group, other);
                    assert_eq!(DigitSplitter::for_pattern(&s.pattern()), Some(s));
                }
            }
        }
        assert_eq!(
            splitter(Order::RightToLeft, 3, OtherNumeric::Run).pattern(),
            r"\p{Nd}{1,3}(?=(?:\p{Nd}{3})*(?!\p{Nd}))|[\p{Nl}\p{No}]+"
        );
        assert_eq!(
            splitter(Order::LeftToRight, 1, OtherNumeric::Single).pattern(),
            r"\p{Nd}|[\p{Nl}\p{No}]"
        );
    }

    #[test]
    fn other_spellings_are_not_recognized() {
        for pattern in [
            r"\d{1,3}(?=(?:\d{3})*(?!\d))",
            r"\p{Nd}{1,03}",
            r"\p{Nd}{1,1}",
            r"\p{Nd}{1,0}",
            r"\p{Nd}{1,65}",
            r"\p{Nd}{1,3}(?=(?:\p{Nd}{4})*(?!\p{Nd}))",
            r"\p{Nd}{1,3}(?=(?:\p{Nd}{3})*(?!\p{Nd}))|[\p{Nl}\p{No}]*",
            r"\p{N}{1,3}",
            r"\p{Nd}+",
            "",
        ] {
            assert_eq!(DigitSplitter::for_pattern(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn long_digit_run_is_linear() {
        // A backtracking engine re-scans the look-ahead from each group start: ~n^2/6 steps,
        // 10^11 for one megabyte. Two passes here.
        let n = 1 << 20;
        let text = "7".repeat(n) + "٣" + &"1".repeat(n);
        let s = splitter(Order::RightToLeft, 3, OtherNumeric::Run);
        let started = std::time::Instant::now();
        let mut count = 0usize;
        let mut first = None;
        s.for_each_match(&text, |a, b| {
            first.get_or_insert((a, b));
            count += 1;
        });
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
        // 2n + 1 digits: (2n + 1) mod 3 = 0 for n = 2^20, so the first group is full.
        assert_eq!(count, (2 * n + 1) / 3);
        assert_eq!(first, Some((0, 3)));
    }

    fn tricky_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "0", "1", "9", "12", "345", "٣", "٤٥", "०", "１", "²", "½", "Ⅻ", "①", "a", "x", " ",
            ".", ",", "-", "\n", "é", "中", "😀",
        ]);
        prop::collection::vec(pieces, 0..30).prop_map(|v| v.concat())
    }

    fn any_splitter() -> impl Strategy<Value = DigitSplitter> {
        (
            prop::sample::select(vec![Order::LeftToRight, Order::RightToLeft]),
            1..=6usize,
            prop::sample::select(ALL_OTHER.to_vec()),
        )
            .prop_map(|(o, g, x)| splitter(o, g, x))
    }

    proptest! {
        #[test]
        fn splitter_agrees_with_its_regex(s in any_splitter(), text in tricky_text()) {
            prop_assert_eq!(splitter_matches(&s, &text), regex_matches(&s.pattern(), &text));
        }

        #[test]
        fn splitter_agrees_with_its_regex_on_any_string(s in any_splitter(), text in "\\PC{0,40}") {
            prop_assert_eq!(splitter_matches(&s, &text), regex_matches(&s.pattern(), &text));
        }

        #[test]
        fn right_to_left_groups_are_place_value_groups(g in 2..=5usize, run in "[0-9]{1,40}") {
            let s = splitter(Order::RightToLeft, g, OtherNumeric::Ignore);
            let groups = matches(&s, &run);
            prop_assert_eq!(groups.concat(), run.clone());
            let mut digits_to_the_right = run.len();
            for (i, group) in groups.iter().enumerate() {
                prop_assert!(!group.is_empty() && group.len() <= g);
                if i > 0 {
                    prop_assert_eq!(group.len(), g);
                }
                digits_to_the_right -= group.len();
                prop_assert_eq!(digits_to_the_right % g, 0);
            }
        }
    }
}
