//! The data side of `ZeTT` (zero-shot tokenizer transfer; Minixhofer, Ponti and Vulić,
//! `NeurIPS` 2024): spelling a new vocabulary's tokens in the original tokenizer's ids (the hypernetwork's
//! input), and the training-time tokenizer sampler (a `UnigramLM` vocabulary drawn from noised
//! substring frequencies of the current batch, which then segments the batch by Viterbi).
//!
//! Both are pure functions of their inputs (and the seed); the `PyTorch` side lives in
//! `toktool.zett`.

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::parallel::maybe_par_map;
use crate::tokenizer::Tokenizer;

// ---------------------------------------------------------------------------------------------
// Decomposition
// ---------------------------------------------------------------------------------------------

/// Many pieces' decompositions laid end to end: piece `i`'s ids are
/// `ids[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decomposition {
    pub ids: Vec<u32>,
    /// `pieces + 1` entries, starting at 0.
    pub offsets: Vec<usize>,
    /// How many pieces were cut to `max_len` ids.
    pub truncated: usize,
    /// How many pieces were left empty because the original tokenizer cannot spell them exactly
    /// ([`decompose_vocab`] only; [`decompose`] fails instead).
    pub unspellable: usize,
}

impl Decomposition {
    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (possibly truncated) ids of piece `i`.
    pub fn get(&self, i: usize) -> Option<&[u32]> {
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.ids.get(start..end)
    }

    /// Lay out spellings (`None`: unspellable, left empty) cut to `max_len`.
    fn from_spellings(spellings: Vec<Result<Option<Vec<u32>>>>, max_len: usize) -> Result<Self> {
        let mut out = Decomposition {
            ids: Vec::with_capacity(spellings.len() * 2),
            offsets: Vec::with_capacity(spellings.len() + 1),
            truncated: 0,
            unspellable: 0,
        };
        out.offsets.push(0);
        for spelled in spellings {
            let Some(spelled) = spelled? else {
                out.unspellable += 1;
                out.offsets.push(out.ids.len());
                continue;
            };
            if spelled.len() > max_len {
                out.truncated += 1;
            }
            out.ids
                .extend_from_slice(&spelled[..spelled.len().min(max_len)]);
            out.offsets.push(out.ids.len());
        }
        Ok(out)
    }
}

/// Spell each piece (a new token's raw bytes) in `original`'s ids, cut to the first `max_len`.
///
/// A piece is spelled the way `original`'s BPE model spells those exact bytes as ONE pre-token:
/// no normalizer, no pre-tokenizer split, no implicit prefix space. Byte-level models see the
/// raw bytes. Character-level (SentencePiece-style) models see the text with spaces written as
/// their space char (`▁`); bytes that are not UTF-8, and literal `▁` chars (which that model's
/// tokens cannot stand for, since its `▁` means a space), are spelled by their `<0xXX>`
/// byte-fallback tokens, splitting the text around them.
///
/// Untruncated decompositions decode exactly to their piece: the concatenation of
/// `original.token_bytes(id)` over the ids is the piece. Errors: `max_len == 0`, an empty
/// piece, or a piece `original` cannot spell exactly (a byte missing from a byte-level
/// vocabulary, or needing byte fallback in a model without it).
pub fn decompose(original: &Tokenizer, pieces: &[&[u8]], max_len: usize) -> Result<Decomposition> {
    check_max_len(max_len)?;
    let indices: Vec<usize> = (0..pieces.len()).collect();
    let spellings = maybe_par_map(&indices, |&i| {
        if pieces[i].is_empty() {
            return Err(Error::InvalidInput(format!("piece {i} is empty")));
        }
        match spell(original, pieces[i])? {
            Some(ids) => Ok(Some(ids)),
            None => Err(Error::InvalidInput(format!(
                "piece {i} ({}) has no exact spelling in the original tokenizer: it holds a \
                 byte with no token and no byte fallback",
                escape(pieces[i])
            ))),
        }
    });
    Decomposition::from_spellings(spellings, max_len)
}

/// [`decompose`] over every id `0..new.vocab_size()` of `new`, by its `token_bytes`. Holes in
/// `new`'s id space (ids with no token) get an empty decomposition, and so do tokens `original`
/// cannot spell exactly (counted in `unspellable`; e.g. `SmolLM2`'s vocabulary lacks 21 bytes
/// that never occur in UTF-8 text or are rare control chars, which cl100k has as tokens).
pub fn decompose_vocab(
    new: &Tokenizer,
    original: &Tokenizer,
    max_len: usize,
) -> Result<Decomposition> {
    check_max_len(max_len)?;
    let tokens = new.all_token_bytes();
    let spellings = maybe_par_map(tokens, |token| match token.as_deref() {
        None | Some([]) => Ok(Some(Vec::new())),
        Some(bytes) => spell(original, bytes),
    });
    Decomposition::from_spellings(spellings, max_len)
}

fn check_max_len(max_len: usize) -> Result<()> {
    if max_len == 0 {
        return Err(Error::InvalidInput("max_len must be at least 1".into()));
    }
    Ok(())
}

/// The full spelling of one non-empty piece, checked to decode to exactly the piece (`None`
/// when it does not: `original` cannot spell some byte).
fn spell(original: &Tokenizer, piece: &[u8]) -> Result<Option<Vec<u32>>> {
    let ids = if original.is_byte_level() {
        original.bpe_bytes(piece)?
    } else {
        spell_by_chars(original, piece)?
    };
    let mut decoded = Vec::with_capacity(piece.len());
    for &id in &ids {
        decoded.extend_from_slice(original.token_bytes(id)?);
    }
    Ok((decoded == piece).then_some(ids))
}

/// Character-level models: BPE on each run of ordinary text; byte fallback for the rest.
fn spell_by_chars(original: &Tokenizer, piece: &[u8]) -> Result<Vec<u32>> {
    let mut ids = Vec::with_capacity(piece.len());
    let fallback = |bytes: &[u8], ids: &mut Vec<u32>| {
        for &b in bytes {
            // An unspellable byte is left out here and reported by the exactness check.
            ids.extend(original.byte_fallback_id(b));
        }
    };
    for chunk in piece.utf8_chunks() {
        let text = chunk.valid();
        let mut rest = text;
        if let Some(space_char) = original.space_replacement() {
            while let Some(at) = rest.find(space_char) {
                if at > 0 {
                    ids.extend(original.bpe_bytes(&rest.as_bytes()[..at])?);
                }
                let end = at + space_char.len_utf8();
                fallback(&rest.as_bytes()[at..end], &mut ids);
                rest = &rest[end..];
            }
        }
        if !rest.is_empty() {
            ids.extend(original.bpe_bytes(rest.as_bytes())?);
        }
        fallback(chunk.invalid(), &mut ids);
    }
    Ok(ids)
}

/// Bytes as a readable string literal (`b"..."` style escapes).
fn escape(bytes: &[u8]) -> String {
    format!("b\"{}\"", bytes.escape_ascii())
}

// ---------------------------------------------------------------------------------------------
// Tokenizer sampler
// ---------------------------------------------------------------------------------------------

/// Parameters of [`sample_unigram`].
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// Size of the sampled vocabulary, the 256 single bytes included (at least 256).
    pub vocab_size: usize,
    /// Longest substring considered, in bytes (at least 1; 1 gives the bytes only).
    pub max_token_bytes: usize,
    /// Scale of the Gumbel noise added to the log frequencies before choosing (0: top-k).
    pub noise: f64,
    /// Substrings occurring fewer times than this are never chosen.
    pub min_count: u32,
    pub seed: u64,
}

/// A sampled `UnigramLM` tokenizer and the batch segmented with it.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledTokenizer {
    /// Token bytes by id: the 256 single bytes at ids `0..=255`, then the chosen substrings by
    /// descending noised score.
    pub vocab: Vec<Vec<u8>>,
    /// `scores[id]`: the UNNOISED log frequency of the token in the batch (the unigram model
    /// the segmentation maximises). Noise only decides which substrings enter the vocabulary.
    pub scores: Vec<f64>,
    /// `ids[i]`: the segmentation of `texts[i]`, pre-token after pre-token.
    pub ids: Vec<Vec<u32>>,
}

/// Draw a `UnigramLM` tokenizer from the batch `texts` and segment the batch with it.
///
/// 1. Every text is normalized and pre-tokenized by `original` (see
///    [`Tokenizer::for_each_pretoken`]: added tokens count as plain text; Metaspace `▁` is a
///    space again), giving pieces of raw bytes.
/// 2. Every substring of 2..=`max_token_bytes` bytes of every piece is counted, weighted by the
///    number of times the piece occurs; those counted at least `min_count` times are kept.
///    The score of a kept substring, and of a single byte, is `ln(count / total)` where `total`
///    sums the counts of the kept substrings and of all bytes. Bytes that never occur get the
///    lowest score minus 10.
/// 3. Gumbel(0, `noise`) noise is added to the kept substrings' scores, and the
///    `vocab_size - 256` best (ties: smaller bytes first) follow the 256 bytes in the vocabulary.
///    The noise of a substring is a hash of `(seed, bytes)`, so the draw does not depend on any
///    iteration order. Fewer kept substrings than that give a smaller vocabulary.
/// 4. Each piece is segmented by Viterbi: the segmentation with the largest sum of scores; ties
///    go to fewer tokens, then to the longer first token.
///
/// The vocabulary bytes of `ids[i]` laid end to end are the pieces of `texts[i]` laid end to
/// end: the (normalized) text, for pre-tokenizers that keep every char.
pub fn sample_unigram(
    original: &Tokenizer,
    texts: &[&str],
    config: &SamplerConfig,
) -> Result<SampledTokenizer> {
    check_config(config)?;
    let pieces_per_text = maybe_par_map(texts, |text| pretokens(original, text))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let batch = PieceCounts::new(&pieces_per_text);
    let (vocab, scores) = choose_vocab(&batch, config);
    let segmenter = Segmenter::new(&vocab, &scores);
    let segmentations = maybe_par_map(&batch.unique, |piece| segmenter.segment(piece));
    let ids = batch
        .sequence
        .iter()
        .map(|piece_indices| {
            piece_indices
                .iter()
                .flat_map(|&p| segmentations[p as usize].iter().copied())
                .collect()
        })
        .collect();
    Ok(SampledTokenizer {
        vocab: vocab.into_iter().map(<[u8]>::to_vec).collect(),
        scores,
        ids,
    })
}

fn check_config(config: &SamplerConfig) -> Result<()> {
    if config.vocab_size < 256 {
        return Err(Error::InvalidInput(format!(
            "vocab_size must be at least 256 (the single bytes), got {}",
            config.vocab_size
        )));
    }
    if config.max_token_bytes == 0 {
        return Err(Error::InvalidInput(
            "max_token_bytes must be at least 1".into(),
        ));
    }
    if !(config.noise.is_finite() && config.noise >= 0.0) {
        return Err(Error::InvalidInput(format!(
            "noise must be a finite number >= 0, got {}",
            config.noise
        )));
    }
    Ok(())
}

/// The pre-tokens of one text, in order.
fn pretokens(original: &Tokenizer, text: &str) -> Result<Vec<Vec<u8>>> {
    let mut pieces = Vec::new();
    original.for_each_pretoken(text, &mut |piece| pieces.push(piece.to_vec()))?;
    Ok(pieces)
}

/// The batch's distinct pieces, how often each occurs, and each text as piece indices.
struct PieceCounts<'a> {
    unique: Vec<&'a [u8]>,
    counts: Vec<u64>,
    sequence: Vec<Vec<u32>>,
}

impl<'a> PieceCounts<'a> {
    fn new(pieces_per_text: &'a [Vec<Vec<u8>>]) -> Self {
        let mut index: FxHashMap<&'a [u8], u32> = FxHashMap::default();
        let mut unique = Vec::new();
        let mut counts = Vec::new();
        let sequence = pieces_per_text
            .iter()
            .map(|pieces| {
                pieces
                    .iter()
                    .map(|piece| {
                        let i = *index.entry(piece.as_slice()).or_insert_with(|| {
                            unique.push(piece.as_slice());
                            counts.push(0);
                            (unique.len() - 1) as u32
                        });
                        counts[i as usize] += 1;
                        i
                    })
                    .collect()
            })
            .collect();
        PieceCounts {
            unique,
            counts,
            sequence,
        }
    }
}

/// Steps 2 and 3 of [`sample_unigram`]: the vocabulary and its unnoised scores.
// Counts are far below 2^52, where `u64 as f64` starts rounding.
#[allow(clippy::cast_precision_loss)]
fn choose_vocab<'a>(batch: &PieceCounts<'a>, config: &SamplerConfig) -> (Vec<&'a [u8]>, Vec<f64>) {
    let (byte_counts, kept) = count_substrings(batch, config.max_token_bytes, config.min_count);
    let total = kept.iter().map(|&(_, c)| c).sum::<u64>() + byte_counts.iter().sum::<u64>();
    let log_total = (total.max(1) as f64).ln();
    let score = |count: u64| (count as f64).ln() - log_total;

    let mut ranked: Vec<(f64, &'a [u8], f64)> = kept
        .iter()
        .map(|&(bytes, count)| {
            let s = score(count);
            (s + config.noise * gumbel(config.seed, bytes), bytes, s)
        })
        .collect();
    let better = |a: &(f64, &[u8], f64), b: &(f64, &[u8], f64)| {
        b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
    };
    let wanted = (config.vocab_size - 256).min(ranked.len());
    if wanted < ranked.len() && wanted > 0 {
        ranked.select_nth_unstable_by(wanted - 1, better);
    }
    ranked.truncate(wanted);
    ranked.sort_unstable_by(better);

    let lowest = kept
        .iter()
        .map(|&(_, c)| c)
        .chain(byte_counts.iter().copied().filter(|&c| c > 0))
        .min()
        .map_or(0.0, score);
    let mut vocab: Vec<&'a [u8]> = Vec::with_capacity(256 + wanted);
    let mut scores = Vec::with_capacity(256 + wanted);
    for (byte, &count) in byte_counts.iter().enumerate() {
        vocab.push(std::slice::from_ref(&SINGLE_BYTES[byte]));
        scores.push(if count > 0 {
            score(count)
        } else {
            lowest - 10.0
        });
    }
    for (_, bytes, s) in ranked {
        vocab.push(bytes);
        scores.push(s);
    }
    (vocab, scores)
}

/// Step 2 of [`sample_unigram`]: how often each byte occurs, and the substrings of
/// 2..=`max_len` bytes that occur at least `min_count` times, with their counts (in no
/// particular order). Each piece counts as often as it occurs.
///
/// Substrings are nodes of a trie walked from every start position, so extending a substring
/// by one byte costs one lookup keyed by `(node, byte)` instead of hashing the whole slice.
fn count_substrings<'a>(
    batch: &PieceCounts<'a>,
    max_len: usize,
    min_count: u32,
) -> ([u64; 256], Vec<(&'a [u8], u64)>) {
    let mut children: FxHashMap<u64, u32> = FxHashMap::default();
    // Per node: its count and where it was first seen (piece, start, length).
    let mut counts: Vec<u64> = vec![0];
    let mut spans: Vec<(u32, u32, u32)> = vec![(0, 0, 0)];
    for (p, (&piece, &count)) in batch.unique.iter().zip(&batch.counts).enumerate() {
        for start in 0..piece.len() {
            let mut node = 0u32;
            for (len, &b) in piece[start..].iter().take(max_len).enumerate() {
                let next = counts.len() as u32;
                node = *children
                    .entry(u64::from(node) << 8 | u64::from(b))
                    .or_insert_with(|| {
                        counts.push(0);
                        spans.push((p as u32, start as u32, len as u32 + 1));
                        next
                    });
                counts[node as usize] += count;
            }
        }
    }
    let mut byte_counts = [0u64; 256];
    let mut kept = Vec::new();
    for (&(p, start, len), &count) in spans.iter().zip(&counts).skip(1) {
        let bytes = &batch.unique[p as usize][start as usize..(start + len) as usize];
        if len == 1 {
            byte_counts[usize::from(bytes[0])] = count;
        } else if count >= u64::from(min_count) {
            kept.push((bytes, count));
        }
    }
    (byte_counts, kept)
}

/// `SINGLE_BYTES[b] == b`, so single-byte tokens can borrow a `'static` slice.
static SINGLE_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = i as u8;
        i += 1;
    }
    table
};

/// A standard Gumbel draw determined by `(seed, bytes)`: FNV-1a of the bytes, mixed with the
/// seed by `SplitMix64`'s finalizer, as a uniform in (0, 1), then `-ln(-ln(u))`.
#[allow(clippy::cast_precision_loss)] // 53-bit values are exact in f64
fn gumbel(seed: u64, bytes: &[u8]) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let uniform = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -(-uniform.ln()).ln()
}

/// Viterbi segmentation under a unigram model. The vocabulary is a byte trie, so the tokens
/// starting at a position are found by one walk that stops where no token continues.
struct Segmenter<'a> {
    /// `(node << 8 | byte) -> child node`; node 0 is the root.
    children: FxHashMap<u64, u32>,
    /// `token_at[node]`: the id of the token spelled by the path to `node`, if any.
    token_at: Vec<Option<u32>>,
    scores: &'a [f64],
}

impl<'a> Segmenter<'a> {
    fn new(vocab: &[&[u8]], scores: &'a [f64]) -> Self {
        let mut children: FxHashMap<u64, u32> = FxHashMap::default();
        let mut token_at: Vec<Option<u32>> = vec![None];
        for (id, token) in vocab.iter().enumerate() {
            let mut node = 0u32;
            for &b in *token {
                let next = token_at.len() as u32;
                node = *children
                    .entry(u64::from(node) << 8 | u64::from(b))
                    .or_insert_with(|| {
                        token_at.push(None);
                        next
                    });
            }
            token_at[node as usize] = Some(id as u32);
        }
        Segmenter {
            children,
            token_at,
            scores,
        }
    }

    /// Every `(id, length)` of a vocabulary token that `text` starts with, shortest first.
    fn prefixes<'t>(&'t self, text: &'t [u8]) -> impl Iterator<Item = (u32, usize)> + 't {
        let mut node = 0u32;
        text.iter()
            .enumerate()
            .map_while(move |(i, &b)| {
                node = *self.children.get(&(u64::from(node) << 8 | u64::from(b)))?;
                Some((self.token_at[node as usize], i + 1))
            })
            .filter_map(|(id, len)| Some((id?, len)))
    }

    /// The best segmentation of `piece` (every single byte must be in the vocabulary).
    ///
    /// Right to left: `best[i]` is the best segmentation of `piece[i..]`, compared by
    /// (score sum, fewer tokens, longer first token); the winner at 0 is read off forwards.
    // Exact float ties are the point: equal sums go to the tie-breaks.
    #[allow(clippy::float_cmp)]
    fn segment(&self, piece: &[u8]) -> Vec<u32> {
        let n = piece.len();
        // (score, tokens, id, token length) of the best segmentation of piece[i..].
        let mut best: Vec<(f64, u32, u32, usize)> = vec![(0.0, 0, 0, 0); n + 1];
        for start in (0..n).rev() {
            let mut winner: Option<(f64, u32, u32, usize)> = None;
            for (id, len) in self.prefixes(&piece[start..]) {
                let (rest_score, rest_tokens, _, _) = best[start + len];
                let candidate = (
                    self.scores[id as usize] + rest_score,
                    rest_tokens + 1,
                    id,
                    len,
                );
                // Lengths grow, so on a full tie the later candidate has the longer first token.
                let wins = winner.is_none_or(|w| {
                    candidate.0 > w.0 || (candidate.0 == w.0 && candidate.1 <= w.1)
                });
                if wins {
                    winner = Some(candidate);
                }
            }
            // Single bytes are always in the vocabulary, so some candidate exists.
            best[start] = winner.unwrap_or((f64::NEG_INFINITY, 0, u32::from(piece[start]), 1));
        }
        let mut ids = Vec::with_capacity(best[0].1 as usize);
        let mut at = 0;
        while at < n {
            let (_, _, id, len) = best[at];
            ids.push(id);
            at += len;
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::byte_level::byte_to_char_table;
    use proptest::prelude::*;
    use serde_json::json;

    fn byte_level_tokenizer() -> Tokenizer {
        byte_level_tokenizer_without(&[])
    }

    /// Byte-level BPE over the 256 bytes but `missing`, plus a few merges, GPT-2 split.
    fn byte_level_tokenizer_without(missing: &[u8]) -> Tokenizer {
        let table = byte_to_char_table();
        let spell = |bytes: &[u8]| -> String { bytes.iter().map(|&b| table[b as usize]).collect() };
        let mut vocab: serde_json::Map<String, serde_json::Value> = (0..=255u8)
            .filter(|b| !missing.contains(b))
            .map(|b| (spell(&[b]), json!(b)))
            .collect();
        let mut merges = Vec::new();
        for (l, r) in [
            ("t", "h"),
            ("th", "e"),
            (" ", "a"),
            ("a", "b"),
            ("ab", "ab"),
        ] {
            let joined = format!("{l}{r}");
            vocab.insert(spell(joined.as_bytes()), json!(256 + merges.len()));
            merges.push(json!([spell(l.as_bytes()), spell(r.as_bytes())]));
        }
        let doc = json!({
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
            "model": {"type": "BPE", "vocab": vocab, "merges": merges}});
        Tokenizer::from_json_str(&doc.to_string()).expect("tiny tokenizer loads")
    }

    /// SentencePiece-style: Metaspace, char units, byte fallback for everything else.
    fn metaspace_tokenizer() -> Tokenizer {
        let mut vocab = serde_json::Map::new();
        vocab.insert("<unk>".into(), json!(0));
        for b in 0..=255u8 {
            vocab.insert(format!("<0x{b:02X}>"), json!(vocab.len()));
        }
        for t in ["▁", "a", "b", "c", "é", "▁a", "ab", "▁ab"] {
            vocab.insert(t.into(), json!(vocab.len()));
        }
        let merges = [["▁", "a"], ["a", "b"], ["▁a", "b"]];
        let doc = json!({
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                              "split": false},
            "model": {"type": "BPE", "vocab": vocab, "merges": merges, "unk_token": "<unk>",
                      "byte_fallback": true}});
        Tokenizer::from_json_str(&doc.to_string()).expect("tiny tokenizer loads")
    }

    fn decoded(tok: &Tokenizer, ids: &[u32]) -> Vec<u8> {
        ids.iter()
            .flat_map(|&id| tok.token_bytes(id).expect("valid id").to_vec())
            .collect()
    }

    #[test]
    fn decompose_spells_with_the_bpe_model() {
        let tok = byte_level_tokenizer();
        let the = tok.bpe_bytes(b"the").expect("spells");
        assert_eq!(the.len(), 1);
        let d = decompose(&tok, &[b"the", b" abab", b"x"], 8).expect("decomposes");
        assert_eq!(d.get(0), Some(the.as_slice()));
        assert_eq!(d.len(), 3);
        assert_eq!(decoded(&tok, d.get(1).expect("piece 1")), b" abab");
        assert_eq!(d.truncated, 0);
    }

    #[test]
    fn decompose_counts_truncations() {
        let tok = byte_level_tokenizer();
        let d = decompose(&tok, &[b"xyzw", b"xy"], 3).expect("decomposes");
        assert_eq!(d.truncated, 1);
        assert_eq!(d.get(0).map(<[u32]>::len), Some(3));
        assert_eq!(d.get(1).map(<[u32]>::len), Some(2));
    }

    #[test]
    fn decompose_metaspace_maps_spaces_and_falls_back_to_bytes() {
        let tok = metaspace_tokenizer();
        let pieces: [&[u8]; 4] = [b" ab", b"ab c", "▁é".as_bytes(), b"\xff a\xe9"];
        let d = decompose(&tok, &pieces, 16).expect("decomposes");
        for (i, piece) in pieces.iter().enumerate() {
            assert_eq!(decoded(&tok, d.get(i).expect("piece")), *piece, "piece {i}");
        }
        assert_eq!(
            d.get(0),
            Some(&[tok.token_to_id("▁ab").expect("in vocab")][..])
        );
    }

    #[test]
    fn decompose_rejects_bad_arguments() {
        let tok = byte_level_tokenizer();
        assert!(matches!(
            decompose(&tok, &[b"a"], 0),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            decompose(&tok, &[b"a", b""], 4),
            Err(Error::InvalidInput(m)) if m.contains("piece 1")
        ));
    }

    #[test]
    fn unspellable_pieces_fail_decompose_and_stay_empty_in_decompose_vocab() {
        let (new, original) = (
            byte_level_tokenizer(),
            byte_level_tokenizer_without(&[0xff]),
        );
        assert!(matches!(
            decompose(&original, &[b"ab", b"a\xff"], 8),
            Err(Error::InvalidInput(m)) if m.contains("piece 1")
        ));
        let d = decompose_vocab(&new, &original, 8).expect("decomposes");
        assert_eq!(d.unspellable, 1);
        assert_eq!(d.get(0xff), Some(&[][..]));
        assert_eq!(d.get(usize::from(b'a')).map(<[u32]>::len), Some(1));
    }

    #[test]
    fn decompose_vocab_roundtrips_every_token() {
        let (new, original) = (metaspace_tokenizer(), byte_level_tokenizer());
        let d = decompose_vocab(&new, &original, 64).expect("decomposes");
        assert_eq!(d.len(), new.vocab_size());
        for id in 0..new.vocab_size() {
            let bytes = new.token_bytes(id as u32).expect("no holes");
            assert_eq!(decoded(&original, d.get(id).expect("id")), bytes);
        }
    }

    proptest! {
        #[test]
        fn untruncated_decompositions_decode_to_the_piece(
            pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..12), 1..20),
            alphabet_only in any::<bool>(),
        ) {
            let pieces: Vec<Vec<u8>> = if alphabet_only {
                pieces.iter().map(|p| p.iter().map(|b| b"ab c\xc3\xa9"[*b as usize % 6]).collect())
                    .collect()
            } else {
                pieces
            };
            let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
            for tok in [byte_level_tokenizer(), metaspace_tokenizer()] {
                let d = decompose(&tok, &refs, 64)?;
                prop_assert_eq!(d.truncated, 0);
                for (i, piece) in refs.iter().enumerate() {
                    prop_assert_eq!(&decoded(&tok, d.get(i).expect("piece")), piece);
                }
            }
        }
    }

    /// The slow reference of [`count_substrings`]: every substring slice hashed into a map.
    fn count_substrings_reference<'a>(
        batch: &PieceCounts<'a>,
        max_len: usize,
        min_count: u32,
    ) -> ([u64; 256], Vec<(&'a [u8], u64)>) {
        let mut byte_counts = [0u64; 256];
        let mut substrings: FxHashMap<&'a [u8], u64> = FxHashMap::default();
        for (&piece, &count) in batch.unique.iter().zip(&batch.counts) {
            for start in 0..piece.len() {
                byte_counts[usize::from(piece[start])] += count;
                for len in 2..=max_len.min(piece.len() - start) {
                    *substrings.entry(&piece[start..start + len]).or_insert(0) += count;
                }
            }
        }
        let kept = substrings
            .into_iter()
            .filter(|&(_, c)| c >= u64::from(min_count))
            .collect();
        (byte_counts, kept)
    }

    proptest! {
        #[test]
        fn substring_counts_match_reference(
            texts in prop::collection::vec(
                prop::collection::vec(prop::collection::vec(
                    prop::sample::select(b"ab \xff".to_vec()), 1..12), 0..6),
                0..5),
            max_len in 1usize..6,
            min_count in 0u32..4,
        ) {
            let batch = PieceCounts::new(&texts);
            let (bytes, mut kept) = count_substrings(&batch, max_len, min_count);
            let (bytes_ref, mut kept_ref) = count_substrings_reference(&batch, max_len, min_count);
            kept.sort_unstable();
            kept_ref.sort_unstable();
            prop_assert_eq!(bytes, bytes_ref);
            prop_assert_eq!(kept, kept_ref);
        }
    }

    fn config(vocab_size: usize, noise: f64, seed: u64) -> SamplerConfig {
        SamplerConfig {
            vocab_size,
            max_token_bytes: 8,
            noise,
            min_count: 2,
            seed,
        }
    }

    const TEXTS: [&str; 3] = [
        "the cat sat on the mat, the end.",
        "then the other cat ate the rat\n\n  indented",
        "Ünïcödé text: the thé",
    ];

    #[test]
    fn sampled_ids_decode_to_the_texts() {
        let tok = byte_level_tokenizer();
        let sampled = sample_unigram(&tok, &TEXTS, &config(300, 1.0, 7)).expect("samples");
        for (text, ids) in TEXTS.iter().zip(&sampled.ids) {
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|&id| sampled.vocab[id as usize].clone())
                .collect();
            assert_eq!(bytes, text.as_bytes());
            assert!(ids.len() < text.len(), "some multi-byte tokens are used");
        }
    }

    #[test]
    fn metaspace_pieces_become_spaces() {
        let tok = metaspace_tokenizer();
        let sampled = sample_unigram(&tok, &["ab ab c"], &config(260, 0.0, 0)).expect("samples");
        let bytes: Vec<u8> = sampled.ids[0]
            .iter()
            .flat_map(|&id| sampled.vocab[id as usize].clone())
            .collect();
        assert_eq!(bytes, b" ab ab c");
        assert!(sampled.vocab.iter().any(|t| t == b" ab"));
    }

    #[test]
    fn vocab_layout_and_determinism() {
        let tok = byte_level_tokenizer();
        let a = sample_unigram(&tok, &TEXTS, &config(268, 1.0, 3)).expect("samples");
        let b = sample_unigram(&tok, &TEXTS, &config(268, 1.0, 3)).expect("samples");
        let c = sample_unigram(&tok, &TEXTS, &config(268, 1.0, 4)).expect("samples");
        assert_eq!(a, b);
        assert_ne!(a.vocab, c.vocab);
        assert_eq!(a.vocab.len(), 268);
        assert_eq!(a.scores.len(), 268);
        for (b, token) in a.vocab.iter().take(256).enumerate() {
            assert_eq!(token, &[b as u8]);
        }
        assert!(a.vocab[256..].iter().all(|t| t.len() >= 2));
        assert!(a.scores.iter().all(|s| s.is_finite() && *s < 0.0));
    }

    #[test]
    fn zero_noise_takes_the_most_frequent_substrings() {
        let tok = byte_level_tokenizer();
        let sampled = sample_unigram(&tok, &TEXTS, &config(266, 0.0, 0)).expect("samples");
        let chosen = &sampled.scores[256..];
        assert!(chosen.windows(2).all(|w| w[0] >= w[1]));
        assert!(sampled.vocab.iter().any(|t| t == b"th"));
    }

    #[test]
    fn sampler_rejects_bad_configs() {
        let tok = byte_level_tokenizer();
        for bad in [
            config(255, 1.0, 0),
            config(300, -1.0, 0),
            config(300, f64::NAN, 0),
            SamplerConfig {
                max_token_bytes: 0,
                ..config(300, 1.0, 0)
            },
        ] {
            assert!(matches!(
                sample_unigram(&tok, &TEXTS, &bad),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    /// The slow reference of [`Segmenter::segment`]: every segmentation of `piece` into
    /// vocabulary tokens, by (score sum, fewer tokens, longer tokens first).
    fn brute_force_segment(piece: &[u8], vocab: &[&[u8]], scores: &[f64]) -> (f64, Vec<u32>) {
        fn all(piece: &[u8], vocab: &[&[u8]]) -> Vec<Vec<u32>> {
            if piece.is_empty() {
                return vec![Vec::new()];
            }
            let mut out = Vec::new();
            for (id, token) in vocab.iter().enumerate() {
                if let Some(rest) = piece.strip_prefix(*token) {
                    for mut tail in all(rest, vocab) {
                        tail.insert(0, id as u32);
                        out.push(tail);
                    }
                }
            }
            out
        }
        let total = |ids: &[u32]| ids.iter().map(|&i| scores[i as usize]).sum::<f64>();
        all(piece, vocab)
            .into_iter()
            .map(|ids| (total(&ids), ids))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .expect("single bytes always segment")
    }

    proptest! {
        #[test]
        fn viterbi_finds_the_best_score(
            piece in prop::collection::vec(prop::sample::select(b"abc".to_vec()), 1..10),
            extra in prop::collection::vec(
                (prop::collection::vec(prop::sample::select(b"abc".to_vec()), 2..5), -8.0f64..-1.0),
                0..12),
        ) {
            let bytes: Vec<[u8; 1]> = (0..=255u8).map(|b| [b]).collect();
            let mut vocab: Vec<&[u8]> = bytes.iter().map(<[u8; 1]>::as_slice).collect();
            let mut scores = vec![-4.0; 256];
            for (token, score) in &extra {
                if !vocab.contains(&token.as_slice()) {
                    vocab.push(token);
                    scores.push(*score);
                }
            }
            let ids = Segmenter::new(&vocab, &scores).segment(&piece);
            let joined: Vec<u8> = ids.iter().flat_map(|&i| vocab[i as usize].to_vec()).collect();
            prop_assert_eq!(&joined, &piece);
            let score: f64 = ids.iter().map(|&i| scores[i as usize]).sum();
            let (best, _) = brute_force_segment(&piece, &vocab, &scores);
            prop_assert!((score - best).abs() < 1e-9, "viterbi {} vs best {}", score, best);
        }
    }

    #[test]
    fn viterbi_ties_prefer_fewer_then_longer_first_tokens() {
        let bytes: Vec<[u8; 1]> = (0..=255u8).map(|b| [b]).collect();
        let mut vocab: Vec<&[u8]> = bytes.iter().map(<[u8; 1]>::as_slice).collect();
        let mut scores = vec![-1.0; 256];
        vocab.extend([b"ab".as_slice(), b"bc"]);
        scores.extend([-2.0, -2.0]);
        let segmenter = Segmenter::new(&vocab, &scores);
        // "abc": a|b|c, ab|c and a|bc all score -3; the two-token ones win, "ab" first.
        assert_eq!(segmenter.segment(b"abc"), vec![256, u32::from(b'c')]);
    }
}
