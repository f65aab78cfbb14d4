//! Pre-tokenizers: split normalized text into the pieces BPE runs on, exactly as HF does.
//!
//! Steps run as a chain of callbacks: each step hands every piece it produces to the next, and
//! the last hands them to the model. No piece list is materialized on the common paths.

use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;

use crate::digits::DigitSplitter;
use crate::error::{Error, Result};
use crate::json::{compile_regex, pattern_spec, Node, PatternSpec};
use crate::regex::Regex;
use crate::scanner::{skip_ascii_outside, Kind, Scanner, GPT2_PATTERN};

/// How a `Split` step treats the matches of its pattern (HF's `SplitDelimiterBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

impl Behavior {
    fn parse(s: &str, path: &str) -> Result<Behavior> {
        Ok(match s {
            "Removed" => Behavior::Removed,
            "Isolated" => Behavior::Isolated,
            "MergedWithPrevious" => Behavior::MergedWithPrevious,
            "MergedWithNext" => Behavior::MergedWithNext,
            "Contiguous" => Behavior::Contiguous,
            other => {
                return Err(Error::json(
                    path,
                    format!("unknown split behavior {other:?}"),
                ))
            }
        })
    }
}

/// What a `Split` step looks for.
#[derive(Debug)]
pub enum Matcher {
    /// A pattern with an exact hand-written scanner.
    Scanner(Scanner),
    /// A canonical digit-grouping pattern (see [`crate::digits`]), run in linear time.
    Digits(DigitSplitter),
    /// Any other regex: Oniguruma, as HF runs it.
    Regex(Regex),
    Literal(String),
    /// One char class: HF's char-predicate patterns (`Digits`, `WhitespaceSplit`).
    Numeric,
    Whitespace,
}

impl Matcher {
    /// `(start, end, is_match)` segments that tile `text`, as HF's `find_matches`. In
    /// `reference` mode the regex a scanner or digit splitter stands for runs instead.
    fn segments(&self, text: &str, reference: bool) -> Result<Vec<(usize, usize, bool)>> {
        let mut out = Vec::new();
        if text.is_empty() {
            return Ok(out);
        }
        let mut prev = 0;
        let mut push_match = |out: &mut Vec<(usize, usize, bool)>, s: usize, e: usize| {
            if prev != s {
                out.push((prev, s, false));
            }
            out.push((s, e, true));
            prev = e;
        };
        // Regexes (and, in reference mode, the regex a scanner or digit splitter stands for) go
        // one way ...
        let digits_regex;
        let regex = match self {
            Matcher::Scanner(scanner) if reference => Some(scanner.reference_regex()?),
            Matcher::Digits(splitter) if reference => {
                digits_regex = digits_reference_regex(splitter)?;
                Some(&*digits_regex)
            }
            Matcher::Regex(re) => Some(re),
            _ => None,
        };
        if let Some(re) = regex {
            re.for_each_match(text, |s, e| push_match(&mut out, s, e))?;
        }
        // ... and everything else here.
        match self {
            Matcher::Regex(_) => {}
            Matcher::Scanner(_) | Matcher::Digits(_) if reference => {}
            Matcher::Scanner(scanner) => {
                scanner.for_each_match(text, |s, e| push_match(&mut out, s, e));
            }
            Matcher::Digits(splitter) => {
                splitter.for_each_match(text, |s, e| push_match(&mut out, s, e));
            }
            Matcher::Literal(lit) => {
                if !lit.is_empty() {
                    for (s, _) in text.match_indices(lit.as_str()) {
                        push_match(&mut out, s, s + lit.len());
                    }
                }
            }
            Matcher::Numeric | Matcher::Whitespace => {
                let numeric = matches!(self, Matcher::Numeric);
                for (s, c) in text.char_indices() {
                    let hit = if numeric {
                        c.is_numeric()
                    } else {
                        c.is_whitespace()
                    };
                    if hit {
                        push_match(&mut out, s, s + c.len_utf8());
                    }
                }
            }
        }
        if prev != text.len() {
            out.push((prev, text.len(), false));
        }
        Ok(out)
    }
}

/// The regex a digit splitter stands for, compiled once per pattern: the reference it is
/// checked against (quadratic on long digit runs, which is why the splitter exists).
fn digits_reference_regex(splitter: &DigitSplitter) -> Result<Arc<Regex>> {
    static COMPILED: Mutex<Option<FxHashMap<String, Arc<Regex>>>> = Mutex::new(None);
    let pattern = splitter.pattern();
    let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = compiled.get_or_insert_with(FxHashMap::default);
    if let Some(re) = cache.get(&pattern) {
        return Ok(Arc::clone(re));
    }
    let re = Arc::new(compile_regex(&pattern, "digit splitter reference")?);
    cache.insert(pattern, Arc::clone(&re));
    Ok(re)
}

/// Apply HF's split behavior to tiled segments; returns the kept `(start, end)` ranges.
fn apply_behavior(segments: Vec<(usize, usize, bool)>, behavior: Behavior) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(segments.len());
    match behavior {
        Behavior::Isolated => out.extend(segments.iter().map(|&(s, e, _)| (s, e))),
        Behavior::Removed => out.extend(segments.iter().filter(|x| !x.2).map(|&(s, e, _)| (s, e))),
        Behavior::MergedWithPrevious => {
            let mut previous_match = false;
            for (s, e, is_match) in segments {
                match out.last_mut() {
                    Some(last) if is_match && !previous_match => last.1 = e,
                    _ => out.push((s, e)),
                }
                previous_match = is_match;
            }
        }
        Behavior::MergedWithNext => {
            let mut previous_match = false;
            for (s, e, is_match) in segments.into_iter().rev() {
                match out.last_mut() {
                    Some(last) if is_match && !previous_match => last.0 = s,
                    _ => out.push((s, e)),
                }
                previous_match = is_match;
            }
            out.reverse();
        }
        Behavior::Contiguous => {
            let mut previous_match = false;
            for (i, (s, e, is_match)) in segments.into_iter().enumerate() {
                match out.last_mut() {
                    Some(last) if i > 0 && is_match == previous_match => last.1 = e,
                    _ => out.push((s, e)),
                }
                previous_match = is_match;
            }
        }
    }
    out.retain(|&(s, e)| s != e);
    out
}

/// When `Metaspace` adds its replacement char in front of a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrependScheme {
    Always,
    First,
    Never,
}

/// One pre-tokenizer step.
#[derive(Debug)]
pub enum Step {
    Split {
        matcher: Matcher,
        behavior: Behavior,
        invert: bool,
    },
    /// GPT-2 byte-level: optional prefix space, optional GPT-2 regex; the byte mapping itself is
    /// implicit because the model works on raw bytes.
    ByteLevel {
        add_prefix_space: bool,
        use_regex: bool,
    },
    Metaspace {
        replacement: char,
        prepend: PrependScheme,
        split: bool,
    },
}

/// The `ByteLevel` step on `piece`: an optional prefix space, then GPT-2's pattern (or its
/// regex, in `reference` mode) if `use_regex`.
fn byte_level<F: FnMut(&str) + ?Sized>(
    piece: &str,
    add_prefix_space: bool,
    use_regex: bool,
    reference: bool,
    sink: &mut F,
) -> Result<()> {
    let owned;
    let text = if add_prefix_space && !piece.starts_with(' ') {
        owned = format!(" {piece}");
        owned.as_str()
    } else {
        piece
    };
    if use_regex && reference {
        let re = Scanner::Gpt2.reference_regex()?;
        re.for_each_match(text, |s, e| sink(&text[s..e]))?;
    } else if use_regex {
        Scanner::Gpt2.for_each_match(text, |s, e| sink(&text[s..e]));
    } else {
        sink(text);
    }
    Ok(())
}

/// The whole pre-tokenizer of a file, flattened.
#[derive(Debug, Default)]
pub struct PreTokenizer {
    steps: Vec<Step>,
}

impl PreTokenizer {
    /// Parse a `pre_tokenizer` value (`None` for null).
    pub fn from_json(node: Option<Node<'_>>) -> Result<PreTokenizer> {
        let mut steps = Vec::new();
        if let Some(node) = node {
            parse_into(node, &mut steps)?;
        }
        if let Some(pos) = steps
            .iter()
            .position(|s| matches!(s, Step::ByteLevel { .. }))
        {
            if pos + 1 != steps.len() {
                return Err(Error::unsupported(
                    "pre_tokenizer",
                    node.map_or("$.pre_tokenizer", |n| n.path),
                    "ByteLevel must be the last pre-tokenizer step",
                ));
            }
        }
        Ok(PreTokenizer { steps })
    }

    /// How each splitting step is run, for `toktool info`: which hand-written scanner, or the
    /// exact general regex path (Oniguruma) and its pattern. Steps joined by `"; "`.
    pub fn describe_path(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Split { matcher, .. } => match matcher {
                    Matcher::Scanner(scanner) => scanner.describe(),
                    Matcher::Digits(_) => "digit-grouping splitter".to_owned(),
                    Matcher::Regex(re) => {
                        format!("exact general regex path (Oniguruma) for {:?}", re.as_str())
                    }
                    Matcher::Literal(lit) => format!("literal split on {lit:?}"),
                    Matcher::Numeric => "char-class split (numeric)".to_owned(),
                    Matcher::Whitespace => "char-class split (whitespace)".to_owned(),
                },
                Step::ByteLevel {
                    use_regex: true, ..
                } => "GPT-2 scanner (ByteLevel)".to_owned(),
                Step::ByteLevel { .. } => "ByteLevel without split".to_owned(),
                Step::Metaspace { .. } => "Metaspace".to_owned(),
            })
            .collect();
        if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join("; ")
        }
    }

    /// Whether the chain ends in `ByteLevel`, i.e. the model's vocabulary is byte-level.
    pub fn is_byte_level(&self) -> bool {
        matches!(self.steps.last(), Some(Step::ByteLevel { .. }))
    }

    /// Whether every step is one of the hand-written class scanners (or a char-class split, each
    /// char its own piece) with `Isolated` behavior, or `ByteLevel`: pre-tokenizers whose pieces
    /// are decided by char kinds with at most a few chars of look-ahead, so appending text can
    /// only lengthen the piece that reaches the end. The cover search relies on it.
    pub fn is_class_scanned(&self) -> bool {
        self.steps.iter().all(|step| {
            matches!(
                step,
                Step::ByteLevel { .. }
                    | Step::Split {
                        matcher: Matcher::Scanner(_)
                            | Matcher::Digits(_)
                            | Matcher::Numeric
                            | Matcher::Whitespace,
                        behavior: Behavior::Isolated,
                        invert: false,
                    }
            )
        })
    }

    /// Whether letter runs ignore case: a class-scanned chain without o200k's scanner (which
    /// splits a run where lowercase turns to uppercase).
    pub fn letter_runs_ignore_case(&self) -> bool {
        self.is_class_scanned()
            && !self.steps.iter().any(|step| {
                matches!(
                    step,
                    Step::Split {
                        matcher: Matcher::Scanner(Scanner::O200k { .. }),
                        ..
                    }
                )
            })
    }

    /// Whether the chain has no steps (the normalized text is one pre-token).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The replacement char and prepend scheme when the chain is one `Metaspace` step that
    /// does not split (the whole text is one pre-token with every space written as the char).
    pub fn sole_unsplit_metaspace(&self) -> Option<(char, PrependScheme)> {
        match self.steps.as_slice() {
            [Step::Metaspace {
                replacement,
                prepend,
                split: false,
            }] => Some((*replacement, *prepend)),
            _ => None,
        }
    }

    /// The `Metaspace` replacement char, if the chain has one.
    pub fn metaspace(&self) -> Option<(char, PrependScheme)> {
        self.steps.iter().find_map(|s| match s {
            Step::Metaspace {
                replacement,
                prepend,
                ..
            } => Some((*replacement, *prepend)),
            _ => None,
        })
    }

    /// Run the chain on `text`; `first` says whether `text` starts the original input.
    pub fn run<F: FnMut(&str) + ?Sized>(
        &self,
        text: &str,
        first: bool,
        sink: &mut F,
    ) -> Result<()> {
        self.run_from(0, text, first, false, sink)
    }

    /// `run` with every hand-written scanner replaced by the regex it stands for: the slow
    /// reference of the pre-tokenizer (regex engines may give up on pathological inputs).
    pub fn run_reference<F: FnMut(&str) + ?Sized>(
        &self,
        text: &str,
        first: bool,
        sink: &mut F,
    ) -> Result<()> {
        self.run_from(0, text, first, true, sink)
    }

    /// A `Split` on one char class with `Isolated` behavior (`Digits` with `individual_digits`):
    /// every char of the class its own piece, the text between them pieces too; the segments of
    /// `Matcher::segments` without collecting them.
    fn run_class_isolated<F: FnMut(&str) + ?Sized>(
        &self,
        next: usize,
        piece: &str,
        first: bool,
        numeric: bool,
        sink: &mut F,
    ) -> Result<()> {
        let in_class = |c: char| {
            if numeric {
                c.is_numeric()
            } else {
                c.is_whitespace()
            }
        };
        // ASCII bytes outside the class are skipped eight at a time (on ASCII the class is the
        // scanners' `Number` or `Space` kind), the others tested one at a time (a byte below 0x80
        // is a whole char); other chars are decoded. The same as `char_indices` and the
        // predicate on every char.
        let ascii_kind = if numeric { Kind::Number } else { Kind::Space };
        let bytes = piece.as_bytes();
        let mut prev = 0;
        let mut s = 0;
        loop {
            s = skip_ascii_outside(bytes, s, ascii_kind);
            let Some(&b) = bytes.get(s) else {
                break;
            };
            let (hit, len) = if b < 0x80 {
                (in_class(char::from(b)), 1)
            } else {
                let c = piece[s..].chars().next().unwrap_or_default();
                (in_class(c), c.len_utf8())
            };
            let e = s + len;
            if hit {
                if prev != s {
                    self.run_from(next, &piece[prev..s], first && prev == 0, false, sink)?;
                }
                self.run_from(next, &piece[s..e], first && s == 0, false, sink)?;
                prev = e;
            }
            s = e;
        }
        if prev != piece.len() {
            self.run_from(next, &piece[prev..], first && prev == 0, false, sink)?;
        }
        Ok(())
    }

    /// Whether the steps from `index` on hand every non-empty piece to the sink unchanged: none
    /// are left, or only a `ByteLevel` that neither splits nor adds a prefix space.
    fn passes_through(&self, index: usize) -> bool {
        self.steps.get(index..).is_some_and(|rest| {
            rest.iter().all(|step| {
                matches!(
                    step,
                    Step::ByteLevel {
                        add_prefix_space: false,
                        use_regex: false
                    }
                )
            })
        })
    }

    /// Whether the only step from `index` on is `ByteLevel` with GPT-2's pattern and no prefix
    /// space.
    fn only_gpt2_after(&self, index: usize) -> bool {
        matches!(
            self.steps.get(index..),
            Some([Step::ByteLevel {
                add_prefix_space: false,
                use_regex: true
            }])
        )
    }

    fn run_from<F: FnMut(&str) + ?Sized>(
        &self,
        index: usize,
        piece: &str,
        first: bool,
        reference: bool,
        sink: &mut F,
    ) -> Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        let Some(step) = self.steps.get(index) else {
            sink(piece);
            return Ok(());
        };
        let next = index + 1;
        match step {
            Step::Split {
                matcher: Matcher::Scanner(scanner),
                behavior: Behavior::Isolated,
                invert: false,
            } if !reference => {
                if self.passes_through(next) {
                    // The common chains (cl100k, o200k, Llama 3): the split is the last step that
                    // changes anything, so each match goes straight to the sink.
                    scanner.for_each_match(
                        piece,
                        #[inline(always)]
                        |s, e| sink(&piece[s..e]),
                    );
                    return Ok(());
                }
                let mut result = Ok(());
                scanner.for_each_match(piece, |s, e| {
                    if result.is_ok() {
                        result = self.run_from(next, &piece[s..e], first && s == 0, false, sink);
                    }
                });
                result?;
            }
            Step::Split {
                matcher: Matcher::Numeric,
                behavior: Behavior::Isolated,
                invert: false,
            } if !reference && self.only_gpt2_after(next) => {
                // `Digits` (`individual_digits`) then GPT-2's pattern (SmolLM2, StarCoder) in one
                // windowed pass.
                crate::scanner::gpt2_isolated_digits_for_each_match(piece, |s, e| {
                    sink(&piece[s..e]);
                });
            }
            Step::Split {
                matcher: class @ (Matcher::Numeric | Matcher::Whitespace),
                behavior: Behavior::Isolated,
                invert: false,
            } if !reference => {
                let numeric = matches!(class, Matcher::Numeric);
                self.run_class_isolated(next, piece, first, numeric, sink)?;
            }
            Step::Split {
                matcher,
                behavior,
                invert,
            } => {
                let mut segments = matcher.segments(piece, reference)?;
                if *invert {
                    for seg in &mut segments {
                        seg.2 = !seg.2;
                    }
                }
                for (s, e) in apply_behavior(segments, *behavior) {
                    self.run_from(next, &piece[s..e], first && s == 0, reference, sink)?;
                }
            }
            Step::ByteLevel {
                add_prefix_space,
                use_regex,
            } => byte_level(piece, *add_prefix_space, *use_regex, reference, sink)?,
            Step::Metaspace {
                replacement,
                prepend,
                split,
            } => {
                let wants_prefix = match prepend {
                    PrependScheme::Always => true,
                    PrependScheme::First => first,
                    PrependScheme::Never => false,
                };
                let text = replace_spaces(piece, *replacement, wants_prefix);
                if *split {
                    let matcher = Matcher::Literal(replacement.to_string());
                    for (s, e) in apply_behavior(
                        matcher.segments(&text, reference)?,
                        Behavior::MergedWithNext,
                    ) {
                        self.run_from(next, &text[s..e], first && s == 0, reference, sink)?;
                    }
                } else {
                    self.run_from(next, &text, first, reference, sink)?;
                }
            }
        }
        Ok(())
    }
}

/// `Metaspace`'s text: `piece` with every space replaced by `replacement`, which is also put in
/// front when `prefix` and the result does not already start with it. Copies the runs between
/// spaces whole (`str::replace` searches char by char, and the prefix would shift the text); the
/// replacement char is pushed as a char, encoded in line, where a `&str` of it costs a `memcpy`
/// call per space (indented code has a space in a fifth of its bytes).
fn replace_spaces(piece: &str, replacement: char, prefix: bool) -> String {
    let bytes = piece.as_bytes();
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2 + replacement.len_utf8());
    if prefix && !piece.starts_with(' ') && !piece.starts_with(replacement) {
        out.push(replacement);
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b' ' {
            // A space byte is a whole char, so both ends of the run are char boundaries.
            if run < i {
                out.push_str(&piece[run..i]);
            }
            out.push(replacement);
            run = i + 1;
        }
    }
    out.push_str(&piece[run..]);
    out
}

fn parse_into(node: Node<'_>, steps: &mut Vec<Step>) -> Result<()> {
    let ty = node.type_name()?;
    match ty {
        "Sequence" => {
            let path = node.child_path("pretokenizers");
            for (i, item) in node.array("pretokenizers")?.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                parse_into(Node::new(&item_path, item)?, steps)?;
            }
        }
        "ByteLevel" => steps.push(Step::ByteLevel {
            add_prefix_space: node.bool_or("add_prefix_space", true)?,
            use_regex: node.bool_or("use_regex", true)?,
        }),
        "Split" => {
            let behavior = Behavior::parse(node.str("behavior")?, &node.child_path("behavior"))?;
            let matcher = match pattern_spec(node, "pattern")? {
                PatternSpec::Literal(s) => Matcher::Literal(s.to_owned()),
                PatternSpec::Regex(r) => {
                    if let Some(scanner) = Scanner::for_pattern(r) {
                        Matcher::Scanner(scanner)
                    } else if let Some(splitter) = DigitSplitter::for_pattern(r) {
                        Matcher::Digits(splitter)
                    } else {
                        Matcher::Regex(compile_regex(r, &node.child_path("pattern"))?)
                    }
                }
            };
            steps.push(Step::Split {
                matcher,
                behavior,
                invert: node.bool_or("invert", false)?,
            });
        }
        "Digits" => steps.push(Step::Split {
            matcher: Matcher::Numeric,
            behavior: if node.bool_or("individual_digits", false)? {
                Behavior::Isolated
            } else {
                Behavior::Contiguous
            },
            invert: false,
        }),
        "Whitespace" => steps.push(Step::Split {
            matcher: Matcher::Regex(compile_regex(r"\w+|[^\w\s]+", node.path)?),
            behavior: Behavior::Removed,
            invert: true,
        }),
        "WhitespaceSplit" => steps.push(Step::Split {
            matcher: Matcher::Whitespace,
            behavior: Behavior::Removed,
            invert: false,
        }),
        "Metaspace" => {
            let replacement_str = node.str("replacement")?;
            let mut chars = replacement_str.chars();
            let (Some(replacement), None) = (chars.next(), chars.next()) else {
                return Err(Error::json(
                    node.child_path("replacement"),
                    "expected exactly one character",
                ));
            };
            let prepend = match node.opt_str("prepend_scheme")? {
                Some("always") => PrependScheme::Always,
                Some("first") => PrependScheme::First,
                Some("never") => PrependScheme::Never,
                Some(other) => {
                    return Err(Error::json(
                        node.child_path("prepend_scheme"),
                        format!("unknown prepend scheme {other:?}"),
                    ))
                }
                None if node.bool_or("add_prefix_space", true)? => PrependScheme::Always,
                None => PrependScheme::Never,
            };
            steps.push(Step::Metaspace {
                replacement,
                prepend,
                split: node.bool_or("split", true)?,
            });
        }
        other => {
            return Err(Error::unsupported(
                "pre_tokenizer",
                node.path,
                format!("type {other:?} (supported: ByteLevel, Split, Digits, Metaspace, Whitespace, WhitespaceSplit, Sequence)"),
            ))
        }
    }
    Ok(())
}

/// The GPT-2 pattern, re-exported for the reference implementation in tests.
pub const BYTE_LEVEL_PATTERN: &str = GPT2_PATTERN;

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(v: &[(usize, usize, bool)]) -> Vec<(usize, usize, bool)> {
        v.to_vec()
    }

    #[test]
    fn behaviors_follow_hf() {
        // "a-b--c": matches of "-" at 1, 3, 4.
        let s = segs(&[
            (0, 1, false),
            (1, 2, true),
            (2, 3, false),
            (3, 4, true),
            (4, 5, true),
            (5, 6, false),
        ]);
        assert_eq!(
            apply_behavior(s.clone(), Behavior::Removed),
            vec![(0, 1), (2, 3), (5, 6)]
        );
        assert_eq!(apply_behavior(s.clone(), Behavior::Isolated).len(), 6);
        assert_eq!(
            apply_behavior(s.clone(), Behavior::MergedWithPrevious),
            vec![(0, 2), (2, 4), (4, 5), (5, 6)]
        );
        assert_eq!(
            apply_behavior(s.clone(), Behavior::MergedWithNext),
            vec![(0, 1), (1, 3), (3, 4), (4, 6)]
        );
        assert_eq!(
            apply_behavior(s, Behavior::Contiguous),
            vec![(0, 1), (1, 2), (2, 3), (3, 5), (5, 6)]
        );
    }

    proptest::proptest! {
        /// The run-copying replacement equals `str::replace` plus `insert` (the readable
        /// version it replaced).
        #[test]
        fn replace_spaces_matches_str_replace(
            text in "[ a▁é\n]{0,40}",
            replacement in proptest::sample::select(vec!['▁', '_', ' ']),
            prefix in proptest::bool::ANY,
        ) {
            let mut expected = text.replace(' ', replacement.encode_utf8(&mut [0; 4]));
            if prefix && !expected.starts_with(replacement) {
                expected.insert(0, replacement);
            }
            proptest::prop_assert_eq!(replace_spaces(&text, replacement, prefix), expected);
        }
    }

    fn pretokens(json: &str, text: &str) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(json).expect("test JSON");
        let pre = PreTokenizer::from_json(Some(Node::new("$", &value).expect("object")))
            .expect("pre-tokenizer loads");
        let mut out = Vec::new();
        pre.run(text, true, &mut |p| out.push(p.to_owned()))
            .expect("no regex limit");
        out
    }

    const R2L: &str = r"\\p{Nd}{1,3}(?=(?:\\p{Nd}{3})*(?!\\p{Nd}))|[\\p{Nl}\\p{No}]+";

    #[test]
    fn canonical_digit_pattern_uses_the_splitter() {
        let json = format!(
            r#"{{"type": "Split", "pattern": {{"Regex": "{R2L}"}}, "behavior": "Isolated", "invert": false}}"#
        );
        let value: serde_json::Value = serde_json::from_str(&json).expect("test JSON");
        let pre =
            PreTokenizer::from_json(Some(Node::new("$", &value).expect("object"))).expect("loads");
        assert!(matches!(
            pre.steps[0],
            Step::Split {
                matcher: Matcher::Digits(_),
                ..
            }
        ));
    }

    #[test]
    fn digit_groups_before_cl100k_keep_the_text_around_numbers() {
        // MergedWithPrevious: the first group travels with the text before it, so the cl100k
        // regex sees "   1" and splits the spaces exactly as it does without conversion.
        let cl100k = crate::scanner::CL100K_PATTERN.replace('\\', r"\\");
        let json = format!(
            r#"{{"type": "Sequence", "pretokenizers": [
                {{"type": "Split", "pattern": {{"Regex": "{R2L}"}}, "behavior": "MergedWithPrevious", "invert": false}},
                {{"type": "Split", "pattern": {{"Regex": "{cl100k}"}}, "behavior": "Isolated", "invert": false}}]}}"#
        );
        assert_eq!(
            pretokens(&json, "a   1234567 b½2"),
            ["a", "  ", " ", "1", "234", "567", " b", "½", "2"]
        );
        // A megabyte of digits: linear (a backtracking engine would need ~10^11 steps).
        let text = "9".repeat(1 << 20);
        let started = std::time::Instant::now();
        let pieces = pretokens(&json, &text);
        assert!(started.elapsed().as_secs_f64() < 10.0);
        assert_eq!(pieces.len(), (1 << 20) / 3 + 1);
        assert_eq!(pieces[0], "9");
        assert!(pieces[1..].iter().all(|p| p == "999"));
    }
}
