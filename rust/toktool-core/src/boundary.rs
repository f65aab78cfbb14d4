//! Where dynamic merging may join tokens: the *units* (pre-tokens, words or sentences) of a
//! sequence given only its token ids, and the tokenizer-aware driver of [`crate::merge`].
//!
//! # Recovering pre-tokens from ids
//!
//! The ids are decoded to bytes (`decode_bytes`). Each valid UTF-8 stretch of those bytes is
//! run through the tokenizer's own pipeline (`encode_with_pretokens`), which says where its
//! pre-tokens (and added tokens) start; each invalid byte sequence starts a unit of its own. A
//! pre-token start that falls on the start of one of the given tokens starts a new unit there;
//! one that falls inside a token is ignored (that token joins both pre-tokens into one unit).
//! When the ids are the tokenizer's own encoding of their text this is exactly the tokenizer's
//! pre-tokenization ([`Recovery::Exact`]); windows cut out of a longer encoding differ at most
//! at their edges ([`Recovery::Aligned`]).
//!
//! This needs the re-encoded text to spell the same bytes as the decoded ids (up to the one
//! prefix space that SentencePiece-style files add). When a normalizer changes the text (NFC,
//! lowercasing, ...) it does not, and the sequence falls back to [`Recovery::Whitespace`]: every
//! token is a pre-token of its own and the word rule below joins them.
//!
//! # Units
//!
//! - `pretoken`: one unit per pre-token (and per added token).
//! - `word`: consecutive pre-tokens joined into whitespace-delimited words. A pre-token starts
//!   a new word when it starts with a whitespace character or the pre-token before it ends with
//!   one (Unicode `White_Space`). So `" world"` and `","` form the word `" world,"`, while a
//!   whitespace-only pre-token such as `"\n\n"` is a word of its own.
//! - `sentence`: consecutive pre-tokens joined into sentences. A pre-token starts a new sentence
//!   when the current sentence's last non-whitespace character is one of `. ! ? …` and
//!   whitespace follows it (at the end of the pre-tokens before, or at the start of this one),
//!   or when the character right before it is one of `。 ！ ？` (which CJK text does not follow
//!   with a space).
//!
//! In every mode an added token (special or not) is a unit of its own, and special tokens are
//! never merged at all (their unit is [`NO_UNIT`]).

use std::str::FromStr;

use rustc_hash::FxHashSet;

use crate::error::{Error, Result};
use crate::merge::{apply_unit_merges, merge_units_spelled, MergeOptions, MergedBatch, NO_UNIT};
use crate::parallel::maybe_par_map;
use crate::tokenizer::Tokenizer;

/// Which units merges may not cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Boundary {
    #[default]
    Pretoken,
    Word,
    Sentence,
}

impl Boundary {
    /// Every boundary, in the order the names are listed to users.
    pub const ALL: [Boundary; 3] = [Boundary::Pretoken, Boundary::Word, Boundary::Sentence];

    /// The name users write (`"pretoken"`, `"word"`, `"sentence"`).
    pub fn name(self) -> &'static str {
        match self {
            Boundary::Pretoken => "pretoken",
            Boundary::Word => "word",
            Boundary::Sentence => "sentence",
        }
    }
}

impl FromStr for Boundary {
    type Err = Error;

    /// The boundary named `s`, exactly as [`Boundary::name`] spells it.
    fn from_str(s: &str) -> Result<Self> {
        Boundary::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Boundary::ALL.iter().map(|b| b.name()).collect();
                Error::InvalidInput(format!(
                    "unknown boundary '{s}' (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// How the pre-tokens of a sequence were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The ids are the tokenizer's own encoding of their text.
    Exact,
    /// The tokenizer's pre-tokenization of the decoded text, aligned to the given tokens.
    Aligned,
    /// Whitespace between tokens (the re-encoded text did not spell the same bytes).
    Whitespace,
    /// Units given by the caller.
    Given,
}

impl Recovery {
    pub fn as_str(self) -> &'static str {
        match self {
            Recovery::Exact => "exact",
            Recovery::Aligned => "aligned",
            Recovery::Whitespace => "whitespace",
            Recovery::Given => "given",
        }
    }
}

/// The units of one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceUnits {
    /// Unit of each token ([`NO_UNIT`] for special tokens).
    pub units: Vec<u32>,
    /// Number of units, special tokens included: the length at saturation.
    pub n_units: usize,
    /// Number of words, special tokens included: the length at word level.
    pub n_words: usize,
    pub recovery: Recovery,
    /// Offset in `decode_bytes(ids)` where each token starts.
    pub byte_starts: Vec<u32>,
    /// `decode_bytes(ids).len()`.
    pub n_bytes: usize,
}

/// Which ids are added tokens and which of those are special.
#[derive(Debug, Clone, Default)]
pub struct TokenClasses {
    added: FxHashSet<u32>,
    special: FxHashSet<u32>,
}

impl TokenClasses {
    pub fn new(tok: &Tokenizer) -> Self {
        let mut classes = TokenClasses::default();
        for t in tok.added_tokens() {
            classes.added.insert(t.id);
            if t.special {
                classes.special.insert(t.id);
            }
        }
        classes
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.contains(&id)
    }

    pub fn is_added(&self, id: u32) -> bool {
        self.added.contains(&id)
    }
}

/// Find the units of `ids` for `boundary`.
pub fn sequence_units(
    tok: &Tokenizer,
    classes: &TokenClasses,
    ids: &[u32],
    boundary: Boundary,
) -> Result<SequenceUnits> {
    let (byte_starts, decoded) = byte_layout(tok, ids)?;
    let isolated: Vec<bool> = ids.iter().map(|&id| classes.is_added(id)).collect();
    let (pretoken_starts, recovery) =
        if let Some((offsets, exact)) = pretoken_offsets(tok, ids, &decoded)? {
            let starts = claim_starts(&byte_starts, &offsets, &isolated);
            let recovery = if exact {
                Recovery::Exact
            } else {
                Recovery::Aligned
            };
            (starts, recovery)
        } else {
            let every_token: Vec<bool> = vec![true; ids.len()];
            let spans = Spans::new(&every_token, &byte_starts, &decoded, &isolated);
            (spans.word_starts(), Recovery::Whitespace)
        };
    let spans = Spans::new(&pretoken_starts, &byte_starts, &decoded, &isolated);
    let word_starts = spans.word_starts();
    let n_words = word_starts.iter().filter(|&&s| s).count();
    let starts = match boundary {
        Boundary::Pretoken => pretoken_starts,
        Boundary::Word => word_starts,
        Boundary::Sentence => spans.sentence_starts(),
    };
    let mut units = Vec::with_capacity(ids.len());
    let mut unit = 0u32;
    let mut n_units = 0usize;
    for (t, &start) in starts.iter().enumerate() {
        if start {
            n_units += 1;
            unit = n_units as u32 - 1;
        }
        units.push(if classes.is_special(ids[t]) {
            NO_UNIT
        } else {
            unit
        });
    }
    Ok(SequenceUnits {
        units,
        n_units,
        n_words,
        recovery,
        byte_starts,
        n_bytes: decoded.len(),
    })
}

/// Units given by the caller: `word_ids[t]` (`None`: never merged). Tokens merge only with
/// neighbours of the same word id; special tokens never merge.
pub fn given_units(
    tok: &Tokenizer,
    classes: &TokenClasses,
    ids: &[u32],
    word_ids: &[Option<u32>],
) -> Result<SequenceUnits> {
    if word_ids.len() != ids.len() {
        return Err(Error::InvalidInput(format!(
            "{} word ids for {} token ids",
            word_ids.len(),
            ids.len()
        )));
    }
    let (byte_starts, decoded) = byte_layout(tok, ids)?;
    let mut units = Vec::with_capacity(ids.len());
    let mut n_units = 0usize;
    for (t, (&id, &word)) in ids.iter().zip(word_ids).enumerate() {
        let unit = match word {
            Some(w) if w != NO_UNIT && !classes.is_special(id) => w,
            _ => NO_UNIT,
        };
        if t == 0 || unit == NO_UNIT || unit != units[t - 1] {
            n_units += 1;
        }
        units.push(unit);
    }
    Ok(SequenceUnits {
        units,
        n_units,
        n_words: n_units,
        recovery: Recovery::Given,
        byte_starts,
        n_bytes: decoded.len(),
    })
}

/// Where each token starts in `decode_bytes(ids)`, and those bytes.
fn byte_layout(tok: &Tokenizer, ids: &[u32]) -> Result<(Vec<u32>, Vec<u8>)> {
    let mut offsets = Vec::with_capacity(ids.len());
    let mut len = 0usize;
    for &id in ids {
        offsets.push(len);
        len += tok.token_bytes(id)?.len();
    }
    let decoded = tok.decode_bytes(ids)?;
    // decode_bytes drops at most one leading space (SentencePiece-style files).
    let strip = len - decoded.len();
    if len > u32::MAX as usize {
        return Err(Error::InvalidInput(
            "a sequence longer than 4 GiB".to_owned(),
        ));
    }
    let starts = offsets
        .into_iter()
        .map(|o| o.saturating_sub(strip) as u32)
        .collect();
    Ok((starts, decoded))
}

/// Offsets in `decoded` where the tokenizer's pre-tokens start, and whether re-encoding gave
/// back exactly `ids`; `None` when the re-encoded text does not spell the same bytes.
fn pretoken_offsets(
    tok: &Tokenizer,
    ids: &[u32],
    decoded: &[u8],
) -> Result<Option<(Vec<usize>, bool)>> {
    let mut offsets = Vec::new();
    let mut exact = true;
    let mut base = 0usize;
    for chunk in decoded.utf8_chunks() {
        let valid = chunk.valid();
        if !valid.is_empty() {
            let (re_ids, re_words) = tok.encode_with_pretokens(valid)?;
            let mut spelled = Vec::with_capacity(valid.len() + 1);
            let mut re_starts = Vec::with_capacity(re_ids.len());
            for &id in &re_ids {
                re_starts.push(spelled.len());
                spelled.extend_from_slice(tok.token_bytes(id)?);
            }
            let shift = if spelled == valid.as_bytes() {
                0
            } else if spelled.len() == valid.len() + 1
                && spelled[0] == b' '
                && &spelled[1..] == valid.as_bytes()
            {
                1
            } else {
                return Ok(None);
            };
            exact &= base == 0 && valid.len() == decoded.len() && re_ids == ids;
            for (k, &start) in re_starts.iter().enumerate() {
                if k == 0 || re_words[k] != re_words[k - 1] {
                    offsets.push(base + start.saturating_sub(shift));
                }
            }
            base += valid.len();
        }
        let invalid = chunk.invalid();
        if !invalid.is_empty() {
            exact = false;
            offsets.push(base);
            base += invalid.len();
        }
    }
    Ok(Some((offsets, exact)))
}

/// Which tokens start a pre-token: those that start where a pre-token starts (each offset is
/// claimed by the first token there), added tokens and the tokens after them.
fn claim_starts(byte_starts: &[u32], offsets: &[usize], isolated: &[bool]) -> Vec<bool> {
    let mut starts = Vec::with_capacity(byte_starts.len());
    let mut k = 0usize;
    for (t, &b) in byte_starts.iter().enumerate() {
        let b = b as usize;
        while k < offsets.len() && offsets[k] < b {
            k += 1;
        }
        let claimed = k < offsets.len() && offsets[k] == b;
        if claimed {
            k += 1;
        }
        starts.push(t == 0 || claimed || isolated[t] || isolated[t - 1]);
    }
    starts
}

/// The pre-tokens of a sequence as byte spans of its decoded text.
struct Spans<'a> {
    /// `(first token, text)` of each pre-token.
    items: Vec<(usize, &'a [u8])>,
    isolated: &'a [bool],
    n_tokens: usize,
}

const SENTENCE_END: [char; 4] = ['.', '!', '?', '…'];
const CJK_SENTENCE_END: [char; 3] = ['。', '！', '？'];

impl<'a> Spans<'a> {
    fn new(starts: &[bool], byte_starts: &[u32], decoded: &'a [u8], isolated: &'a [bool]) -> Self {
        let firsts: Vec<usize> = (0..starts.len()).filter(|&t| starts[t]).collect();
        let spans = firsts
            .iter()
            .enumerate()
            .map(|(g, &t)| {
                let begin = byte_starts[t] as usize;
                let end = firsts
                    .get(g + 1)
                    .map_or(decoded.len(), |&u| byte_starts[u] as usize);
                (t, &decoded[begin..end.max(begin)])
            })
            .collect();
        Spans {
            items: spans,
            isolated,
            n_tokens: starts.len(),
        }
    }

    /// Turn per-span decisions ("does span g start a group?") into per-token starts.
    fn to_token_starts(&self, mut starts_group: impl FnMut(usize) -> bool) -> Vec<bool> {
        let mut out = vec![false; self.n_tokens];
        for g in 0..self.items.len() {
            let first = self.items[g].0;
            out[first] = g == 0
                || self.isolated[first]
                || self.isolated[self.items[g - 1].0]
                || starts_group(g);
        }
        out
    }

    fn word_starts(&self) -> Vec<bool> {
        self.to_token_starts(|g| {
            first_char(self.items[g].1).is_some_and(char::is_whitespace)
                || last_char(self.items[g - 1].1).is_some_and(char::is_whitespace)
        })
    }

    fn sentence_starts(&self) -> Vec<bool> {
        // The current sentence's last non-whitespace char, and whether whitespace followed it.
        let mut last_visible: Option<char> = None;
        let mut space_after = false;
        let mut out = vec![false; self.n_tokens];
        for g in 0..self.items.len() {
            let (first, text) = self.items[g];
            let starts = g == 0 || self.isolated[first] || self.isolated[self.items[g - 1].0] || {
                let ended = last_visible
                    .is_some_and(|c| SENTENCE_END.contains(&c) || CJK_SENTENCE_END.contains(&c));
                let space = space_after || first_char(text).is_some_and(char::is_whitespace);
                let after_cjk_end =
                    last_char(self.items[g - 1].1).is_some_and(|c| CJK_SENTENCE_END.contains(&c));
                (ended && space) || after_cjk_end
            };
            out[first] = starts;
            if starts || self.isolated[first] {
                last_visible = None;
                space_after = false;
            }
            if self.isolated[first] {
                continue;
            }
            for c in String::from_utf8_lossy(text).chars() {
                if !c.is_whitespace() {
                    last_visible = Some(c);
                    space_after = false;
                } else if last_visible.is_some() {
                    space_after = true;
                }
            }
        }
        out
    }
}

fn first_char(bytes: &[u8]) -> Option<char> {
    (1..=bytes.len().min(4))
        .find_map(|n| std::str::from_utf8(&bytes[..n]).ok())
        .and_then(|s| s.chars().next())
}

fn last_char(bytes: &[u8]) -> Option<char> {
    let len = bytes.len();
    (1..=len.min(4))
        .find_map(|n| std::str::from_utf8(&bytes[len - n..]).ok())
        .and_then(|s| s.chars().next_back())
}

/// Merges on a tokenized batch, with the units found from the tokenizer.
#[derive(Debug, Clone)]
pub struct TokenizedMerge {
    pub merged: MergedBatch,
    /// The units of each input sequence (per original token).
    pub units: Vec<SequenceUnits>,
}

impl TokenizedMerge {
    /// Unit of each merged token of sequence `s` ([`NO_UNIT`] for special tokens).
    pub fn merged_units(&self, s: usize) -> Vec<u32> {
        let units = &self.units[s].units;
        self.merged.starts[s]
            .iter()
            .map(|&i| units[i as usize])
            .collect()
    }

    /// Byte offset of each merged token of sequence `s` in `decode_bytes` of that sequence.
    pub fn merged_byte_starts(&self, s: usize) -> Vec<u32> {
        let seq = &self.units[s];
        self.merged.starts[s]
            .iter()
            .map(|&i| seq.byte_starts[i as usize])
            .collect()
    }

    /// Byte span of each merged token of sequence `s` in `decode_bytes` of that sequence.
    pub fn merged_offsets(&self, s: usize) -> Vec<(u32, u32)> {
        let seq = &self.units[s];
        let starts = &self.merged.starts[s];
        starts
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                let begin = seq.byte_starts[i as usize];
                let end = starts
                    .get(j + 1)
                    .map_or(seq.n_bytes as u32, |&k| seq.byte_starts[k as usize]);
                (begin, end)
            })
            .collect()
    }
}

/// The units of every sequence of a batch (or those `word_ids` give).
pub fn batch_units(
    tok: &Tokenizer,
    batch: &[Vec<u32>],
    word_ids: Option<&[Vec<Option<u32>>]>,
    boundary: Boundary,
) -> Result<Vec<SequenceUnits>> {
    let classes = TokenClasses::new(tok);
    match word_ids {
        Some(words) => {
            if words.len() != batch.len() {
                return Err(Error::InvalidInput(format!(
                    "{} word id lists for {} sequences",
                    words.len(),
                    batch.len()
                )));
            }
            let pairs: Vec<(&Vec<u32>, &Vec<Option<u32>>)> = batch.iter().zip(words).collect();
            maybe_par_map(&pairs, |(ids, w)| given_units(tok, &classes, ids, w))
                .into_iter()
                .collect()
        }
        None => maybe_par_map(batch, |ids| sequence_units(tok, &classes, ids, boundary))
            .into_iter()
            .collect(),
    }
}

fn first_new_id(tok: &Tokenizer) -> Result<u32> {
    u32::try_from(tok.vocab_size())
        .map_err(|_| Error::InvalidInput("vocabulary too large".to_owned()))
}

/// Find the units of every sequence (or take `word_ids`), then learn and apply the merges.
/// New ids start at the tokenizer's `vocab_size`.
pub fn merge_batch(
    tok: &Tokenizer,
    batch: &[Vec<u32>],
    word_ids: Option<&[Vec<Option<u32>>]>,
    boundary: Boundary,
    options: MergeOptions,
) -> Result<TokenizedMerge> {
    let units = batch_units(tok, batch, word_ids, boundary)?;
    let unit_lists: Vec<&[u32]> = units.iter().map(|u| u.units.as_slice()).collect();
    let spell = |id: u32| tok.token_bytes(id).map(<[u8]>::to_vec).unwrap_or_default();
    let merged = merge_units_spelled(
        batch,
        &unit_lists,
        first_new_id(tok)?,
        options,
        Some(&spell),
    )?;
    Ok(TokenizedMerge { merged, units })
}

/// Find the units of every sequence, then apply merges learned on another batch
/// ([`crate::merge::apply_unit_merges`]).
pub fn apply_merges(
    tok: &Tokenizer,
    batch: &[Vec<u32>],
    word_ids: Option<&[Vec<Option<u32>>]>,
    boundary: Boundary,
    pairs: &[(u32, u32)],
) -> Result<TokenizedMerge> {
    let units = batch_units(tok, batch, word_ids, boundary)?;
    let unit_lists: Vec<&[u32]> = units.iter().map(|u| u.units.as_slice()).collect();
    let merged = apply_unit_merges(batch, &unit_lists, pairs, first_new_id(tok)?)?;
    Ok(TokenizedMerge { merged, units })
}

/// [`merge_batch`] on independent batches, in parallel.
pub fn merge_batches(
    tok: &Tokenizer,
    batches: &[Vec<Vec<u32>>],
    boundary: Boundary,
    options: MergeOptions,
) -> Result<Vec<TokenizedMerge>> {
    maybe_par_map(batches, |batch| {
        merge_batch(tok, batch, None, boundary, options)
    })
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpt2_like() -> Tokenizer {
        // Byte-level BPE over single bytes plus a few merges, GPT-2 pre-tokenizer.
        let bytes = crate::byte_level::byte_to_char_table();
        let mut vocab = serde_json::Map::new();
        for (i, c) in bytes.iter().enumerate() {
            vocab.insert(c.to_string(), serde_json::Value::from(i));
        }
        let merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("Ġ", "w"), ("o", "r")];
        for (a, b) in merges {
            let n = vocab.len();
            vocab.insert(format!("{a}{b}"), serde_json::Value::from(n));
        }
        let n = vocab.len();
        let json = serde_json::json!({
            "version": "1.0",
            "added_tokens": [{"id": n, "content": "<|eos|>", "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
            "normalizer": null,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                "trim_offsets": true, "use_regex": true},
            "post_processor": null,
            "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab,
                "merges": merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>()}
        });
        Tokenizer::from_json_str(&json.to_string()).expect("valid tokenizer")
    }

    fn units_of(tok: &Tokenizer, text: &str, boundary: Boundary) -> (Vec<u32>, SequenceUnits) {
        let ids = tok.encode(text).expect("encodes");
        let u = sequence_units(tok, &TokenClasses::new(tok), &ids, boundary).expect("units");
        (ids, u)
    }

    #[test]
    fn pretoken_units_match_the_tokenizer() {
        let tok = gpt2_like();
        let text = "hello world, it's done.<|eos|> Next";
        let (ids, u) = units_of(&tok, text, Boundary::Pretoken);
        let (_, words) = tok.encode_with_pretokens(text).expect("encodes");
        assert_eq!(u.recovery, Recovery::Exact);
        let specials: Vec<bool> = u.units.iter().map(|&x| x == NO_UNIT).collect();
        assert_eq!(specials.iter().filter(|&&s| s).count(), 1);
        // Same grouping as encode_with_pretokens (special aside).
        for t in 1..ids.len() {
            if !specials[t] && !specials[t - 1] {
                assert_eq!(u.units[t] == u.units[t - 1], words[t] == words[t - 1]);
            }
        }
        assert_eq!(u.n_units as u32, words.last().map_or(0, |w| w + 1));
    }

    #[test]
    fn words_and_sentences_coarsen_pretokens() {
        let tok = gpt2_like();
        let text = "hello world, it's done. Next one!\n\nok";
        let (_, p) = units_of(&tok, text, Boundary::Pretoken);
        let (_, w) = units_of(&tok, text, Boundary::Word);
        let (_, s) = units_of(&tok, text, Boundary::Sentence);
        // words: "hello" " world," " it's" " done." " Next" " one!" "\n" "\n" "ok"
        // (GPT-2's pattern splits "\n\nok" into "\n", "\n", "ok")
        assert_eq!(w.n_units, 9);
        assert_eq!(p.n_words, 9);
        // sentences: "hello world, it's done." " Next one!" "\n\nok"
        assert_eq!(s.n_units, 3);
        assert!(p.n_units > w.n_units);
    }

    #[test]
    fn cut_windows_and_broken_utf8_still_align() {
        let tok = gpt2_like();
        let ids = tok.encode("héllo wörld").expect("encodes");
        // Cut inside the two-byte 'é': the decoded bytes are not valid UTF-8.
        let window = &ids[2..];
        let u = sequence_units(&tok, &TokenClasses::new(&tok), window, Boundary::Pretoken)
            .expect("units");
        assert_eq!(u.recovery, Recovery::Aligned);
        assert_eq!(u.units.len(), window.len());
        assert!(u.n_units >= 2);
    }
}
