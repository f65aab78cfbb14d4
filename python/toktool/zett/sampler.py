"""The ZeTT training-time tokenizer sampler: a fresh UnigramLM tokenizer per batch.

Every text is normalized and pre-tokenized by the ORIGINAL tokenizer (added/special tokens in the
text count as plain text; SentencePiece ``▁`` becomes a space again). Every substring of
2..``max_token_bytes`` bytes of every pre-token is counted; those seen at least ``min_count``
times are kept and scored by their log frequency ``ln(count / total)`` (``total``: the counts of
the kept substrings and of all bytes). Gumbel(0, ``noise``) noise is added to the scores and the
best ``vocab_size - 256`` substrings follow the 256 single bytes (ids 0..255) in the vocabulary,
by descending noised score (``noise=0``: the most frequent). Each pre-token is then segmented by
Viterbi under the UNNOISED scores (ties: fewer tokens, then the longer first token).

Joining ``vocab[i]`` over ``ids[j]`` gives back text ``j``'s bytes (after the tokenizer's
normalizer and any prefix space it adds). Deterministic for a seed; runs in the Rust core
(``rust/toktool-core/src/zett.rs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from toktool import _toktool
from toktool._toktool import Tokenizer

__all__ = ["SampledTokenizer", "sample_tokenizer"]


@dataclass(frozen=True)
class SampledTokenizer:
    """A sampled UnigramLM tokenizer and the batch segmented with it.

    ``vocab[id]``: the token's bytes (``vocab[b] == bytes([b])`` for ``b < 256``); it has
    ``vocab_size`` entries unless the batch has fewer kept substrings. ``scores``: float64, the
    unnoised log frequency of each token (the unigram model of the segmentation). ``ids[j]``:
    int64 ids of ``texts[j]``.
    """

    vocab: list[bytes]
    scores: npt.NDArray[np.float64]
    ids: list[npt.NDArray[np.int64]]


def sample_tokenizer(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    vocab_size: int,
    *,
    max_token_bytes: int = 16,
    noise: float = 1.0,
    min_count: int = 2,
    seed: int = 0,
) -> SampledTokenizer:
    """Draw a UnigramLM tokenizer from ``texts`` and segment ``texts`` with it.

    Raises :class:`toktool.errors.InvalidInputError` for ``vocab_size < 256``,
    ``max_token_bytes < 1``, a negative or non-finite ``noise``, or a negative ``min_count`` or
    ``seed``.
    """
    raw = _toktool.zett_sample_unigram(
        tokenizer, texts, vocab_size, max_token_bytes, float(noise), min_count, seed
    )
    ends = np.cumsum(raw.lengths.astype(np.int64))
    per_text = np.split(raw.ids.astype(np.int64), ends[:-1]) if len(ends) else []
    return SampledTokenizer(vocab=raw.vocab, scores=raw.scores, ids=per_text)
