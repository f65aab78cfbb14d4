//! The tokenizer: loads a `tokenizer.json` of the BPE kind and encodes exactly as HF does with
//! `add_special_tokens=False` (post-processors are not applied; truncation is refused).

use std::borrow::Cow;

use serde_json::Value;

use crate::added::{AddedToken, Segment, TokenMatcher};
use crate::bpe::{Bpe, CharIds, DensePairs, MergeMap, ShortKeys, UnkPolicy};
use crate::byte_level::{byte_to_char_table, CharToByte};
use crate::cuts::{Cuts, RunSplit, SpaceCuts, MAX_RUN};
use crate::error::{Error, Result};
use crate::json::{kind, Node};
use crate::normalizer::Normalizer;
use crate::parallel::maybe_par_map;
use crate::piece_cache::{self, write_spaced};
use crate::pretokenizer::{PreTokenizer, PrependScheme};

/// A loaded tokenizer. Immutable and `Sync`: share it across threads freely.
#[derive(Debug)]
#[allow(clippy::struct_field_names)] // `pre_tokenizer` is the pipeline stage's HF name
pub struct Tokenizer {
    normalizer: Option<Normalizer>,
    pre_tokenizer: PreTokenizer,
    model: Bpe,
    /// Where pre-tokens may be cut before BPE without changing the ids (proven at load time).
    cuts: Cuts,
    /// Where the text reaches the model as one pre-token with every space written as a char
    /// (`▁`) whose cut is certified: how to cut and encode it before the spaces are rewritten.
    space_cuts: Option<SpacePath>,
    /// The UTF-8 of the space char of a char-unit model when it is several bytes (`▁`), which
    /// the pre-token cache squeezes to fit more pieces in its keys.
    cache_squeeze: Option<([u8; 4], usize)>,
    /// Added tokens matched on the raw text.
    raw_added: Option<TokenMatcher>,
    /// Added tokens matched on the normalized text.
    normalized_added: Option<TokenMatcher>,
    added_tokens: Vec<AddedToken>,
    /// `token_bytes[id]`: the text bytes each id stands for (`None` for holes in the id space).
    token_bytes: Vec<Option<Box<[u8]>>>,
    /// `token_strings[id]`: the token as the file spells it.
    token_strings: Vec<Option<String>>,
    /// Whether decoding drops one leading space (SentencePiece-style prefix space).
    strip_leading_space: bool,
    /// The char SentencePiece-style files write for a space (`▁`), if any.
    space_replacement: Option<char>,
    summary: Summary,
    /// Names this tokenizer's tables in the per-thread pre-token caches and holds what each
    /// of them starts with.
    pub(crate) cache: piece_cache::Tables,
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        piece_cache::forget(self.cache.owner);
    }
}

/// A short description of a loaded file, for `toktool info`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub model_type: String,
    pub normalizer: String,
    pub pre_tokenizer: String,
    /// How the pre-tokenizer runs: scanners or the exact general regex path (Oniguruma).
    pub pre_tokenizer_path: String,
    pub decoder: String,
    pub byte_level: bool,
    pub byte_fallback: bool,
    pub num_merges: usize,
    pub num_added_tokens: usize,
    pub num_special_tokens: usize,
}

impl Tokenizer {
    /// Load from the text of a `tokenizer.json`.
    pub fn from_json_str(json: &str) -> Result<Tokenizer> {
        let root: Value = serde_json::from_str(json).map_err(|e| {
            Error::json(
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        Tokenizer::from_json_value(&root)
    }

    /// Load from a parsed `tokenizer.json`.
    pub fn from_json_value(root: &Value) -> Result<Tokenizer> {
        let root = Node::new("$", root)?;
        if root.get("truncation").is_some() {
            return Err(Error::unsupported(
                "truncation",
                "$.truncation",
                "toktool encodes whole texts; set truncation to null (tokenizers: no_truncation())",
            ));
        }
        let normalizer = match root.get("normalizer") {
            Some(v) => Some(Normalizer::from_json(Node::new("$.normalizer", v)?)?),
            None => None,
        };
        let pre_tokenizer = match root.get("pre_tokenizer") {
            Some(v) => PreTokenizer::from_json(Some(Node::new("$.pre_tokenizer", v)?))?,
            None => PreTokenizer::default(),
        };
        let model_value = root
            .get("model")
            .ok_or_else(|| Error::json("$.model", "missing"))?;
        let model_node = Node::new("$.model", model_value)?;
        let byte_level = pre_tokenizer.is_byte_level();
        let loaded = load_bpe(model_node, byte_level)?;
        let added_tokens = parse_added_tokens(&root)?;

        let vocab_size = loaded.strings.len().max(
            added_tokens
                .iter()
                .map(|t| t.id as usize + 1)
                .max()
                .unwrap_or(0),
        );
        let defined = loaded.strings.iter().filter(|s| s.is_some()).count() + added_tokens.len();
        check_unused_ids(vocab_size, defined, "$.added_tokens")?;
        let mut token_strings = loaded.strings;
        token_strings.resize(vocab_size, None);
        for t in &added_tokens {
            if token_strings[t.id as usize].is_none() {
                token_strings[t.id as usize] = Some(t.content.clone());
            }
        }

        let space_replacement = pre_tokenizer
            .metaspace()
            .map(|(c, _)| c)
            .or_else(|| normalizer.as_ref().and_then(Normalizer::space_replacement));
        let strip_leading_space = match pre_tokenizer.metaspace() {
            Some((_, scheme)) => scheme != PrependScheme::Never,
            None => normalizer_prepends(normalizer.as_ref(), space_replacement),
        };
        let token_bytes = compute_token_bytes(
            &token_strings,
            &added_tokens,
            byte_level,
            loaded.model.byte_fallback.is_some(),
            space_replacement,
        );

        let mut model = loaded.model;
        model.build_indexes();
        model.compute_self_encoding(vocab_size);
        let cuts = Cuts::certify(&model, space_replacement);
        let space_cuts = SpacePath::new(
            &model,
            &cuts,
            &pre_tokenizer,
            normalizer.as_ref(),
            added_tokens.iter().any(|t| t.normalized),
        );
        let cache_squeeze = space_replacement
            .filter(|c| !model.byte_level && c.len_utf8() > 1)
            .map(utf8_of);

        let (raw_added, normalized_added) = added_matchers(&added_tokens, normalizer.as_ref())?;
        let summary = Summary {
            model_type: "BPE".into(),
            normalizer: describe(root.get("normalizer")),
            pre_tokenizer: describe(root.get("pre_tokenizer")),
            pre_tokenizer_path: SpacePath::describe(space_cuts.as_ref(), &pre_tokenizer),
            decoder: describe(root.get("decoder")),
            byte_level,
            byte_fallback: model.byte_fallback.is_some(),
            num_merges: model.merges.len(),
            num_added_tokens: added_tokens.len(),
            num_special_tokens: added_tokens.iter().filter(|t| t.special).count(),
        };
        let cache = piece_cache::Tables::new(space_cuts.as_ref().map(|p| p.cuts.space()));
        Ok(Tokenizer {
            normalizer,
            pre_tokenizer,
            model,
            cuts,
            space_cuts,
            cache_squeeze,
            raw_added,
            normalized_added,
            added_tokens,
            token_bytes,
            token_strings,
            strip_leading_space,
            space_replacement,
            summary,
            cache,
        })
    }

    /// Number of ids: one more than the largest id in the vocabulary or the added tokens.
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    pub fn added_tokens(&self) -> &[AddedToken] {
        &self.added_tokens
    }

    /// Whether the model's units are bytes.
    pub fn is_byte_level(&self) -> bool {
        self.model.byte_level
    }

    /// Whether `decode_bytes` drops one leading space (SentencePiece-style prefix space), so that
    /// the first token's bytes are not its text.
    pub fn strips_leading_space(&self) -> bool {
        self.strip_leading_space
    }

    /// Encode `text` (no special tokens added; added tokens in the text are recognized).
    ///
    /// Fails only when a fallback regex engine gives up on a pathological input; files whose
    /// patterns have exact scanners (GPT-2, cl100k, Llama 3, Qwen2) never fail.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_at(text, true)
    }

    /// `encode`, where `at_start` says whether `text` begins the document. It matters only to
    /// pre-tokenizers that treat the start specially (`Metaspace` with `prepend_scheme: first`):
    /// encoding a suffix that starts at a certain pre-token boundary with `at_start = false`
    /// gives the ids that the whole document's encoding has there.
    pub fn encode_at(&self, text: &str, at_start: bool) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let model = &self.model;
        let cuts = &self.cuts;
        let squeeze = self.cache_squeeze();
        piece_cache::with_cache(&self.cache, &self.model, |cache| match cache {
            // Files without cuts (all byte-level ones) keep the plain loop: one copy of the
            // cache lookup per pre-token, no cut scan. The sink is inlined into the scanner's
            // loops (LLVM kept it a call per pre-token: 1.04-1.07x on unseen code, measured
            // in one process against a copy without the attribute; no gain on the cut path).
            // Pieces are slices of `text`, so their keys are read from it without a branch on
            // their length (`key_within`: 1.05-1.14x on unseen code, measured the same way; level
            // on the space path, which keeps `Key::new`).
            Some(cache) if !cuts.any() => self.encode_pieces(
                text,
                at_start,
                false,
                &mut same(
                    #[inline(always)]
                    |piece| match piece {
                        Piece::Token(id) => out.push(id),
                        Piece::Text(bytes) => {
                            cache.encode_piece_in(model, text.as_bytes(), bytes, squeeze, &mut out);
                        }
                    },
                ),
            ),
            // The space path (a sole unsplit `Metaspace`, or the legacy rewriting normalizer):
            // each text is cut and looked up before its spaces are rewritten (parts keyed by
            // their raw bytes; see `encode_spaced_text`).
            Some(cache) if self.space_cuts.is_some() => {
                let path = self.space_cuts.as_ref().expect("checked by the guard");
                let normalize = path.rewriting == Rewriting::Metaspace;
                self.segments(text, at_start, normalize, &mut |part| match part {
                    Part::Token(id) => {
                        out.push(id);
                        Ok(())
                    }
                    Part::Text(text, first) => {
                        self.encode_spaced_text(path, text, first, cache, &mut out)
                    }
                })
            }
            Some(cache) => self.encode_pieces(text, at_start, false, &mut |piece| match piece {
                Piece::Token(id) => out.push(id),
                Piece::Text(bytes) => cuts.for_each_part(bytes, |part| {
                    cache.encode_piece(model, part, squeeze, &mut out);
                }),
            }),
            None => self.encode_pieces(text, at_start, false, &mut |piece| match piece {
                Piece::Token(id) => out.push(id),
                Piece::Text(bytes) => {
                    cuts.for_each_part(bytes, |part| model.encode_piece(part, &mut out));
                }
            }),
        })?;
        Ok(out)
    }

    /// The ids of one text (no added tokens in it) on the [`SpacePath`], from the pre-token
    /// cache. The text is cut as it is ([`SpaceCuts`]) and each part up to the cache's key
    /// length is keyed by its raw bytes, so a hit never rewrites spaces; other parts are
    /// rewritten and take the usual path. A text holding the space char itself (whose parts the
    /// raw cuts do not see) or an empty one goes the usual way whole. `text` is normalized,
    /// except where the normalizer is the rewriting itself ([`Rewriting::Normalizer`]).
    fn encode_spaced_text(
        &self,
        path: &SpacePath,
        text: &str,
        first: bool,
        cache: &mut piece_cache::PieceCache,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let (model, squeeze, space) = (&self.model, self.cache_squeeze(), path.cuts.space());
        let bytes = text.as_bytes();
        if bytes.is_empty() || memchr::memmem::find(bytes, space).is_some() {
            let normalized: Cow<'_, str> = match &self.normalizer {
                Some(n) if path.rewriting == Rewriting::Normalizer => n.apply_str(text)?,
                _ => Cow::Borrowed(text),
            };
            return self.pre_tokenize(&normalized, first, false, &mut |piece: &str| {
                self.cuts.for_each_part(piece.as_bytes(), |part| {
                    cache.encode_piece(model, part, squeeze, out);
                });
            });
        }
        let prefix = match path.prepend {
            PrependScheme::Always => true,
            PrependScheme::First => first,
            PrependScheme::Never => false,
        } && (path.rewriting == Rewriting::Normalizer || bytes[0] != b' ');
        let mut rewritten = Vec::new();
        let mut encode_part = |part: &[u8], prefixed: bool, out: &mut Vec<u32>| {
            if !prefixed && part.len() <= piece_cache::MAX_KEY {
                cache.encode_spaced(model, part, space, out);
                return;
            }
            let front = if prefixed { space.len() } else { 0 };
            rewritten.resize(front + part.len() * space.len(), 0);
            rewritten[..front].copy_from_slice(&space[..front]);
            let len = front + write_spaced(part, space, &mut rewritten[front..]);
            cache.encode_piece(model, &rewritten[..len], squeeze, out);
        };
        path.cuts.for_each_part(bytes, |part, at| {
            let prefixed = prefix && at == 0;
            let run = part.iter().take_while(|&&b| b == b' ').count();
            match &path.runs {
                // A leading run of spaces and more: the run's ids from the table, then those of
                // the rest with one space in front (see `RunSplit`).
                Some(runs) if !prefixed && run >= 2 && run < part.len() && run <= MAX_RUN => {
                    let start = out.len();
                    encode_part(&part[run - 1..], false, out);
                    if out.get(start) == Some(&runs.lone()) {
                        out.splice(start..=start, runs.run(run).iter().copied());
                    } else {
                        out.splice(start..start, runs.run(run - 1).iter().copied());
                    }
                }
                _ => encode_part(part, prefixed, out),
            }
        });
        Ok(())
    }

    fn cache_squeeze(&self) -> Option<&[u8]> {
        self.cache_squeeze.as_ref().map(|(buf, len)| &buf[..*len])
    }

    /// The slow, readable reference of [`Tokenizer::encode`], kept for property tests and the
    /// `encode_matches_reference` fuzz target: pre-tokenizer regexes run instead of the
    /// hand-written scanners, and BPE recomputes every pair rank each round
    /// ([`crate::bpe::reference_merge`]) with no whole-piece shortcut. Quadratic per pre-token;
    /// the regex engine may give up on pathological inputs (an error, as in `encode`).
    pub fn encode_reference(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let model = &self.model;
        self.encode_pieces(text, true, true, &mut |piece| match piece {
            Piece::Token(id) => out.push(id),
            Piece::Text(bytes) => model.encode_piece_reference(bytes, &mut out),
        })?;
        Ok(out)
    }

    /// Bytes that decoding drops at the start of a document (`" "` for SentencePiece-style files
    /// that prepend `▁`; empty otherwise). Token bytes of a document's encoding are these bytes
    /// followed by the document.
    pub fn implicit_prefix(&self) -> &'static [u8] {
        if self.strip_leading_space {
            b" "
        } else {
            b""
        }
    }

    /// Whether a normalizer may change the text (then some byte strings have no encoding).
    pub fn has_normalizer(&self) -> bool {
        self.normalizer.is_some()
    }

    /// Encode many texts, in parallel when parallelism is enabled. Equal to mapping `encode`.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        maybe_par_map(texts, |t| self.encode(t.as_ref()))
            .into_iter()
            .collect()
    }

    /// Encode `text` and say which pre-token each id came from: `words[i]` is the index of the
    /// pre-token (or added token) that produced `ids[i]`. Merging never crosses these.
    pub fn encode_with_pretokens(&self, text: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        self.encode_with_pretokens_at(text, true)
    }

    /// `encode_with_pretokens`, where `at_start` says whether `text` begins the document (see
    /// [`Tokenizer::encode_at`]).
    pub fn encode_with_pretokens_at(
        &self,
        text: &str,
        at_start: bool,
    ) -> Result<(Vec<u32>, Vec<u32>)> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut words = Vec::with_capacity(ids.capacity());
        let mut word = 0u32;
        let squeeze = self.cache_squeeze();
        piece_cache::with_cache(&self.cache, &self.model, |mut cache| {
            self.encode_pieces(text, at_start, false, &mut |piece| {
                match (piece, cache.as_deref_mut()) {
                    (Piece::Token(id), _) => ids.push(id),
                    (Piece::Text(bytes), Some(cache)) => self.cuts.for_each_part(bytes, |part| {
                        cache.encode_piece(&self.model, part, squeeze, &mut ids);
                    }),
                    (Piece::Text(bytes), None) => self
                        .cuts
                        .for_each_part(bytes, |part| self.model.encode_piece(part, &mut ids)),
                }
                words.resize(ids.len(), word);
                word += 1;
            })
        })?;
        Ok((ids, words))
    }

    /// Run only the BPE model on one pre-token given as raw text bytes (no normalization or
    /// pre-tokenization; for SentencePiece-style files spaces become the replacement char).
    pub fn bpe_bytes(&self, piece: &[u8]) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        if self.model.byte_level {
            self.model.encode_piece(piece, &mut out);
            return Ok(out);
        }
        let text = std::str::from_utf8(piece).map_err(|e| {
            Error::InvalidInput(format!(
                "this tokenizer's units are characters; the bytes are not UTF-8 ({e})"
            ))
        })?;
        match self.space_replacement {
            Some(r) => self.model.encode_piece(
                text.replace(' ', r.encode_utf8(&mut [0; 4])).as_bytes(),
                &mut out,
            ),
            None => self.model.encode_piece(piece, &mut out),
        }
        Ok(out)
    }

    /// Normalize and pre-tokenize `text` as one whole document, handing every pre-token to
    /// `sink` as raw text bytes: the `SentencePiece` space char (`▁`) of `Metaspace`-style files is
    /// mapped back to a space, so the pieces laid end to end are the normalized text with the
    /// files' spaces (and any prefix space the pipeline adds). Added tokens are not matched:
    /// their text is split like any other text.
    pub fn for_each_pretoken(&self, text: &str, sink: &mut dyn FnMut(&[u8])) -> Result<()> {
        let normalized: Cow<'_, str> = match &self.normalizer {
            Some(n) => n.apply_str(text)?,
            None => Cow::Borrowed(text),
        };
        match self.space_replacement {
            Some(r) => self.pre_tokenizer.run(&normalized, true, &mut |piece| {
                sink(piece.replace(r, " ").as_bytes());
            }),
            None => self
                .pre_tokenizer
                .run(&normalized, true, &mut |piece| sink(piece.as_bytes())),
        }
    }

    /// Whether encoding a text that contains no added token is exactly "pre-tokenize the raw
    /// text, then BPE every piece on its bytes": a byte-level BPE with no normalizer and no
    /// implicit prefix. (The ids spell the text back when every byte has a unit.) The cover
    /// search's fast canonicity check relies on it.
    pub(crate) fn is_plain_byte_level(&self) -> bool {
        self.model.byte_level
            && self.normalizer.is_none()
            && !self.strip_leading_space
            && self.space_replacement.is_none()
    }

    /// See [`PreTokenizer::is_class_scanned`].
    pub(crate) fn is_class_scanned(&self) -> bool {
        self.pre_tokenizer.is_class_scanned()
    }

    /// See [`PreTokenizer::letter_runs_ignore_case`].
    pub(crate) fn letter_runs_ignore_case(&self) -> bool {
        self.pre_tokenizer.letter_runs_ignore_case()
    }

    /// The pre-tokenizer alone, on raw text (see [`Tokenizer::is_plain_byte_level`]).
    pub(crate) fn pre_tokenize_at(
        &self,
        text: &str,
        at_start: bool,
        sink: &mut dyn FnMut(&str),
    ) -> Result<()> {
        self.pre_tokenizer.run(text, at_start, sink)
    }

    /// The BPE model.
    pub(crate) fn bpe(&self) -> &Bpe {
        &self.model
    }

    /// The char SentencePiece-style files write for a space (`▁`), if any.
    pub fn space_replacement(&self) -> Option<char> {
        self.space_replacement
    }

    /// The id of the `<0xXX>` token of `byte`, for models with `byte_fallback`.
    pub fn byte_fallback_id(&self, byte: u8) -> Option<u32> {
        self.model
            .byte_fallback
            .as_ref()
            .and_then(|table| table[usize::from(byte)])
    }

    /// The pipeline up to the model: every added token and every pre-token, in order
    /// (`reference`: pre-tokenize with the slow reference, see `encode_reference`).
    fn encode_pieces<F: FnMut(Piece<'_>) + ?Sized>(
        &self,
        text: &str,
        at_start: bool,
        reference: bool,
        sink: &mut F,
    ) -> Result<()> {
        self.segments(text, at_start, true, &mut |part| match part {
            Part::Token(id) => {
                sink(Piece::Token(id));
                Ok(())
            }
            Part::Text(text, first) => self.pre_tokenize(
                text,
                first,
                reference,
                // Inlined into the scanner with the sink (see `encode_at`).
                &mut same_str(
                    #[inline(always)]
                    |piece: &str| sink(Piece::Text(piece.as_bytes())),
                ),
            ),
        })
    }

    /// Split raw added tokens, normalize (unless `normalize` is false: the [`SpacePath`] of a
    /// rewriting normalizer), and split normalized added tokens: what the pre-tokenizer runs
    /// on, in order, each text with whether it starts the document.
    ///
    /// Generic over the sinks (here and in the pre-tokenizer) so that the hot path, from the
    /// scanner to the pre-token cache, compiles to direct calls.
    fn segments<F: FnMut(Part<'_>) -> Result<()> + ?Sized>(
        &self,
        text: &str,
        at_start: bool,
        normalize: bool,
        sink: &mut F,
    ) -> Result<()> {
        match &self.raw_added {
            Some(matcher) => {
                for segment in matcher.split(text) {
                    match segment {
                        Segment::Token(id) => sink(Part::Token(id))?,
                        Segment::Text(s, e) => {
                            self.normalized_parts(
                                &text[s..e],
                                at_start && s == 0,
                                normalize,
                                sink,
                            )?;
                        }
                    }
                }
                Ok(())
            }
            None => self.normalized_parts(text, at_start, normalize, sink),
        }
    }

    /// Normalize one segment and split normalized added tokens (see [`Tokenizer::segments`]).
    fn normalized_parts<F: FnMut(Part<'_>) -> Result<()> + ?Sized>(
        &self,
        segment: &str,
        first: bool,
        normalize: bool,
        sink: &mut F,
    ) -> Result<()> {
        let normalized: Cow<'_, str> = match &self.normalizer {
            Some(n) if normalize => n.apply_str(segment)?,
            _ => Cow::Borrowed(segment),
        };
        match &self.normalized_added {
            Some(matcher) => {
                for part in matcher.split(&normalized) {
                    match part {
                        Segment::Token(id) => sink(Part::Token(id))?,
                        Segment::Text(s, e) => {
                            sink(Part::Text(&normalized[s..e], first && s == 0))?;
                        }
                    }
                }
                Ok(())
            }
            None => sink(Part::Text(&normalized, first)),
        }
    }

    /// The pre-tokenizer, or its slow reference.
    fn pre_tokenize<G: FnMut(&str) + ?Sized>(
        &self,
        text: &str,
        first: bool,
        reference: bool,
        sink: &mut G,
    ) -> Result<()> {
        if reference {
            self.pre_tokenizer.run_reference(text, first, sink)
        } else {
            self.pre_tokenizer.run(text, first, sink)
        }
    }

    /// The text bytes of one id.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8]> {
        self.token_bytes
            .get(id as usize)
            .and_then(|b| b.as_deref())
            .ok_or(Error::InvalidId {
                id: u64::from(id),
                vocab_size: self.vocab_size(),
            })
    }

    /// All token bytes, indexed by id (`None` for holes).
    pub fn all_token_bytes(&self) -> &[Option<Box<[u8]>>] {
        &self.token_bytes
    }

    /// The token as the file spells it.
    pub fn id_to_token(&self, id: u32) -> Result<&str> {
        self.token_strings
            .get(id as usize)
            .and_then(|s| s.as_deref())
            .ok_or(Error::InvalidId {
                id: u64::from(id),
                vocab_size: self.vocab_size(),
            })
    }

    /// The id of a token spelled as in the file (model vocabulary or added tokens).
    pub fn token_to_id(&self, token: &str) -> Result<u32> {
        if let Some(t) = self.added_tokens.iter().find(|t| t.content == token) {
            return Ok(t.id);
        }
        self.token_strings
            .iter()
            .position(|s| s.as_deref() == Some(token))
            .map(|i| i as u32)
            .ok_or_else(|| Error::UnknownToken {
                token: token.to_owned(),
            })
    }

    /// The exact bytes `ids` stand for; no lossy UTF-8 step.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            out.extend_from_slice(self.token_bytes(id)?);
        }
        if self.strip_leading_space && out.first() == Some(&b' ') {
            out.remove(0);
        }
        Ok(out)
    }

    /// True iff `encode(decode_bytes(ids)) == ids`.
    pub fn is_canonical(&self, ids: &[u32]) -> Result<bool> {
        let bytes = self.decode_bytes(ids)?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Ok(false);
        };
        Ok(self.encode(text)? == ids)
    }
}

/// How a file whose model gets the whole text as one pre-token, every space written as a char
/// `c` (`▁`), is encoded before the rewriting: `c`'s cut is certified ([`Cuts::on_raw_spaces`]),
/// and the rewriting is either a sole unsplit `Metaspace` pre-tokenizer or the whole normalizer
/// with no pre-tokenizer (`Replace(" ", c)`, optionally `Prepend(c)`: the `SentencePiece` legacy
/// form) and no added token matched on normalized text.
#[derive(Debug)]
struct SpacePath {
    cuts: SpaceCuts,
    /// Where a part's leading run of spaces can be split off ([`RunSplit`]).
    runs: Option<RunSplit>,
    /// When `c` is put in front of a text (for the legacy form, `Always` or `Never`).
    prepend: PrependScheme,
    rewriting: Rewriting,
}

/// What writes a file's spaces as `c`, which decides the rest of [`SpacePath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewriting {
    /// The pre-tokenizer: the normalizer runs before the path, and no `c` goes in front of a
    /// text that starts with a space (that space becomes the `c` in front).
    Metaspace,
    /// The normalizer itself, which the path replaces: its `Prepend` puts a `c` in front of a
    /// text that starts with a space too.
    Normalizer,
}

impl SpacePath {
    /// `Summary::pre_tokenizer_path` for a file that takes this path or not.
    fn describe(path: Option<&SpacePath>, pre_tokenizer: &PreTokenizer) -> String {
        let Some(path) = path else {
            return pre_tokenizer.describe_path();
        };
        let how = match path.rewriting {
            Rewriting::Metaspace => "Metaspace, cut and cached before spaces are rewritten",
            Rewriting::Normalizer => {
                "none; the space-rewriting normalizer runs with the cuts \
                                      (cut and cached before spaces are rewritten)"
            }
        };
        match path.runs {
            Some(_) => format!("{how}; leading runs of spaces split off"),
            None => how.to_owned(),
        }
    }

    fn new(
        model: &Bpe,
        cuts: &Cuts,
        pre_tokenizer: &PreTokenizer,
        normalizer: Option<&Normalizer>,
        normalized_added: bool,
    ) -> Option<SpacePath> {
        if let Some((c, prepend)) = pre_tokenizer.sole_unsplit_metaspace() {
            return Some(SpacePath {
                cuts: cuts.on_raw_spaces(c)?,
                runs: RunSplit::certify(model, c),
                prepend,
                rewriting: Rewriting::Metaspace,
            });
        }
        if !pre_tokenizer.is_empty() || normalized_added {
            return None;
        }
        let (c, prepends) = normalizer?.as_space_rewrite()?;
        Some(SpacePath {
            cuts: cuts.on_raw_spaces(c)?,
            runs: RunSplit::certify(model, c),
            prepend: if prepends {
                PrependScheme::Always
            } else {
                PrependScheme::Never
            },
            rewriting: Rewriting::Normalizer,
        })
    }
}

/// What the pre-tokenizer is handed: an added token, or a text with whether it starts the
/// document.
enum Part<'a> {
    Token(u32),
    Text(&'a str, bool),
}

/// What the pipeline hands the model: an added token, or one pre-token's bytes.
enum Piece<'a> {
    Token(u32),
    Text(&'a [u8]),
}

struct LoadedBpe {
    model: Bpe,
    strings: Vec<Option<String>>,
}

fn load_bpe(node: Node<'_>, byte_level: bool) -> Result<LoadedBpe> {
    match node.opt_str("type")? {
        Some("BPE") => {}
        None if node.get("merges").is_some() => {}
        Some(other) => {
            return Err(Error::unsupported(
                "model",
                node.child_path("type"),
                format!("model type {other:?}: toktool implements BPE tokenizers only"),
            ))
        }
        None => return Err(Error::json(node.child_path("type"), "missing model type")),
    }
    if let Some(v) = node.get("dropout") {
        if v.as_f64() != Some(0.0) {
            return Err(Error::unsupported(
                "model.dropout",
                node.child_path("dropout"),
                "BPE dropout makes encoding random; set it to null",
            ));
        }
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if node.opt_str(key)?.is_some_and(|s| !s.is_empty()) {
            return Err(Error::unsupported(
                format!("model.{key}"),
                node.child_path(key),
                "subword prefixes/suffixes are not implemented",
            ));
        }
    }
    let vocab = node.object("vocab")?;
    let strings = vocab_by_id(vocab, &node.child_path("vocab"))?;

    let char_to_byte = CharToByte::new();
    let mut key_to_id = rustc_hash::FxHashMap::default();
    let mut byte_ids = [None; 256];
    for (id, s) in strings.iter().enumerate() {
        let Some(s) = s else { continue };
        let key: Option<Vec<u8>> = if byte_level {
            char_to_byte.decode(s)
        } else {
            Some(s.as_bytes().to_vec())
        };
        if let Some(key) = key {
            if byte_level && key.len() == 1 {
                byte_ids[key[0] as usize] = Some(id as u32);
            }
            key_to_id.insert(key.into_boxed_slice(), id as u32);
        }
    }

    let ids: rustc_hash::FxHashMap<&str, u32> = strings
        .iter()
        .enumerate()
        .filter_map(|(id, s)| Some((s.as_deref()?, id as u32)))
        .collect();
    let merges = parse_merges(node, &ids)?;
    let lookup = |name: &str| -> Option<u32> { ids.get(name).copied() };
    let unk_id = match node.opt_str("unk_token")? {
        Some(unk) => Some(lookup(unk).ok_or_else(|| {
            Error::json(
                node.child_path("unk_token"),
                format!("unk_token {unk:?} is not in the vocabulary"),
            )
        })?),
        None => None,
    };
    let byte_fallback = if node.bool_or("byte_fallback", false)? {
        let mut table = [None; 256];
        for (b, slot) in table.iter_mut().enumerate() {
            *slot = lookup(&format!("<0x{b:02X}>"));
        }
        Some(table)
    } else {
        None
    };
    let model = Bpe {
        byte_level,
        key_to_id,
        byte_ids,
        merges,
        unk: UnkPolicy {
            id: unk_id,
            fuse: node.bool_or("fuse_unk", false)?,
        },
        byte_fallback,
        ignore_merges: node.bool_or("ignore_merges", false)?,
        byte_chars: byte_to_char_table(),
        self_encoding: Vec::new(),
        whole_only: rustc_hash::FxHashMap::default(),
        char_ids: CharIds::default(),
        dense_pairs: DensePairs::default(),
        short_keys: ShortKeys::default(),
    };
    Ok(LoadedBpe { model, strings })
}

/// `strings[id]`: the token with that id, checked before the table is allocated.
fn vocab_by_id(vocab: &serde_json::Map<String, Value>, path: &str) -> Result<Vec<Option<String>>> {
    let mut ids = Vec::with_capacity(vocab.len());
    for (token, id_value) in vocab {
        let id = id_value
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .filter(|&i| i < (1 << 30))
            .ok_or_else(|| {
                Error::json(
                    format!("$.model.vocab[{token:?}]"),
                    format!("expected a token id below 2^30, found {id_value}"),
                )
            })?;
        ids.push(id);
    }
    let id_space = ids.iter().max().map_or(0, |&m| m as usize + 1);
    check_unused_ids(id_space, vocab.len(), path)?;
    let mut strings: Vec<Option<String>> = vec![None; id_space];
    for ((token, _), id) in vocab.iter().zip(ids) {
        let slot = &mut strings[id as usize];
        if let Some(previous) = slot {
            return Err(Error::json(
                format!("$.model.vocab[{token:?}]"),
                format!("id {id} is already used by {previous:?}"),
            ));
        }
        *slot = Some(token.clone());
    }
    Ok(strings)
}

/// Ids index dense tables, so a file may leave at most this many ids unused (real files leave a
/// few hundred at most); a single id near 2^30 would otherwise allocate gigabytes.
pub const MAX_UNUSED_IDS: usize = 1 << 20;

fn check_unused_ids(id_space: usize, defined: usize, path: &str) -> Result<()> {
    if id_space > defined.saturating_add(MAX_UNUSED_IDS) {
        return Err(Error::unsupported(
            "sparse token ids",
            path,
            format!(
                "ids go up to {} but only {defined} are defined; toktool keeps dense id tables \
                 and accepts at most {MAX_UNUSED_IDS} unused ids",
                id_space - 1
            ),
        ));
    }
    Ok(())
}

/// The merges of `node` (`"left right"` strings or `[left, right]` pairs) by their ids in
/// `ids` (the vocabulary, string -> id). One hash lookup per token name and no allocation per
/// merge: a real file has 100k-450k merges, and the load time is mostly theirs.
fn parse_merges(node: Node<'_>, ids: &rustc_hash::FxHashMap<&str, u32>) -> Result<MergeMap> {
    let items = node.array("merges")?;
    let mut merges = MergeMap::default();
    merges.reserve(items.len());
    let path = |rank: usize| format!("$.model.merges[{rank}]");
    let id_of = |name: &str, rank: usize| -> Result<u32> {
        ids.get(name).copied().ok_or_else(|| {
            Error::json(
                path(rank),
                format!("merge token {name:?} is not in the vocabulary"),
            )
        })
    };
    let mut product = String::new();
    for (rank, item) in items.iter().enumerate() {
        let (a, b): (&str, &str) = match item {
            Value::String(s) => s
                .split_once(' ')
                .ok_or_else(|| Error::json(path(rank), "expected \"left right\""))?,
            Value::Array(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                (Value::String(a), Value::String(b)) => (a, b),
                _ => return Err(Error::json(path(rank), "expected two strings")),
            },
            other => {
                return Err(Error::json(
                    path(rank),
                    format!("expected a string or a pair, found {}", kind(other)),
                ))
            }
        };
        let left = id_of(a, rank)?;
        let right = id_of(b, rank)?;
        product.clear();
        product.push_str(a);
        product.push_str(b);
        let product_id = id_of(&product, rank)?;
        let rank32 = u32::try_from(rank).map_err(|_| Error::json(path(rank), "too many merges"))?;
        merges.insert((left, right), (rank32, product_id));
    }
    Ok(merges)
}

fn parse_added_tokens(root: &Node<'_>) -> Result<Vec<AddedToken>> {
    let Some(items) = root.get("added_tokens") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = items else {
        return Err(Error::json("$.added_tokens", "expected an array"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("$.added_tokens[{i}]");
        let node = Node::new(&path, item)?;
        let id = node.usize_or("id", usize::MAX)?;
        let id = u32::try_from(id)
            .ok()
            .filter(|&id| id < (1 << 30))
            .ok_or_else(|| Error::json(node.child_path("id"), "missing or too large"))?;
        let content = node.str("content")?.to_owned();
        if content.is_empty() {
            return Err(Error::json(node.child_path("content"), "empty added token"));
        }
        let special = node.bool_or("special", false)?;
        out.push(AddedToken {
            id,
            content,
            single_word: node.bool_or("single_word", false)?,
            lstrip: node.bool_or("lstrip", false)?,
            rstrip: node.bool_or("rstrip", false)?,
            normalized: node.bool_or("normalized", !special)?,
            special,
        });
    }
    Ok(out)
}

/// The matchers of the added tokens found on the raw text and of those found on the normalized
/// text (whose contents are normalized first).
fn added_matchers(
    added_tokens: &[AddedToken],
    normalizer: Option<&Normalizer>,
) -> Result<(Option<TokenMatcher>, Option<TokenMatcher>)> {
    let (on_normalized, on_raw): (Vec<AddedToken>, Vec<AddedToken>) =
        added_tokens.iter().cloned().partition(|t| t.normalized);
    let raw_patterns: Vec<String> = on_raw.iter().map(|t| t.content.clone()).collect();
    let normalized_patterns: Vec<String> = on_normalized
        .iter()
        .map(|t| match normalizer {
            Some(n) => n.apply(t.content.clone()),
            None => Ok(t.content.clone()),
        })
        .collect::<Result<_>>()?;
    Ok((
        TokenMatcher::new(on_raw, &raw_patterns)?,
        TokenMatcher::new(on_normalized, &normalized_patterns)?,
    ))
}

fn normalizer_prepends(normalizer: Option<&Normalizer>, replacement: Option<char>) -> bool {
    fn walk(n: &Normalizer, want: &str) -> bool {
        match n {
            Normalizer::Prepend(p) => p == want,
            Normalizer::Sequence(steps) => steps.iter().any(|s| walk(s, want)),
            _ => false,
        }
    }
    match (normalizer, replacement) {
        (Some(n), Some(c)) => walk(n, &c.to_string()),
        _ => false,
    }
}

fn compute_token_bytes(
    strings: &[Option<String>],
    added: &[AddedToken],
    byte_level: bool,
    byte_fallback: bool,
    space_replacement: Option<char>,
) -> Vec<Option<Box<[u8]>>> {
    let char_to_byte = CharToByte::new();
    let mut out: Vec<Option<Box<[u8]>>> = strings
        .iter()
        .map(|s| {
            let s = s.as_deref()?;
            let bytes = if byte_level {
                char_to_byte
                    .decode(s)
                    .unwrap_or_else(|| s.as_bytes().to_vec())
            } else if let Some(b) = byte_fallback.then(|| parse_byte_token(s)).flatten() {
                vec![b]
            } else if let Some(r) = space_replacement {
                s.replace(r, " ").into_bytes()
            } else {
                s.as_bytes().to_vec()
            };
            Some(bytes.into_boxed_slice())
        })
        .collect();
    for t in added {
        // A byte-fallback token is one byte wherever it is listed: HF's `ByteFallback` decoder
        // turns every `<0xXX>` token into its byte, added tokens included.
        let bytes = match byte_fallback
            .then(|| parse_byte_token(&t.content))
            .flatten()
        {
            Some(b) => vec![b],
            None => t.content.as_bytes().to_vec(),
        };
        out[t.id as usize] = Some(bytes.into_boxed_slice());
    }
    out
}

/// A char's UTF-8 bytes and their number.
fn utf8_of(c: char) -> ([u8; 4], usize) {
    let mut buf = [0u8; 4];
    let len = c.encode_utf8(&mut buf).len();
    (buf, len)
}

/// `<0xAB>` -> `0xAB`.
fn parse_byte_token(s: &str) -> Option<u8> {
    let hex = s.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

fn describe(value: Option<&Value>) -> String {
    fn walk(v: &Value) -> String {
        let Some(obj) = v.as_object() else {
            return "none".into();
        };
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("?");
        let children = ["normalizers", "pretokenizers", "decoders"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_array));
        match children {
            Some(items) => format!(
                "{ty}[{}]",
                items.iter().map(walk).collect::<Vec<_>>().join(", ")
            ),
            None => match ty {
                "Split" => {
                    let pattern = obj
                        .get("pattern")
                        .and_then(|p| p.get("Regex").or_else(|| p.get("String")))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    let short: String = pattern.chars().take(40).collect();
                    let ellipsis = if pattern.chars().count() > 40 {
                        "…"
                    } else {
                        ""
                    };
                    format!("Split({short}{ellipsis})")
                }
                _ => ty.to_owned(),
            },
        }
    }
    value.map_or_else(|| "none".into(), walk)
}

/// `f` itself: lets a closure carry `#[inline(always)]` where it is passed by reference.
fn same<F: FnMut(Piece<'_>)>(f: F) -> F {
    f
}

/// [`same`] for the pre-tokenizer's sinks.
fn same_str<F: FnMut(&str)>(f: F) -> F {
    f
}
