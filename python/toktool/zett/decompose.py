"""Spell a new vocabulary's tokens in the original tokenizer's ids: the hypernetwork's input.

A new token's decomposition is how the ORIGINAL tokenizer's BPE model spells exactly its bytes as
one pre-token: no normalizer, no pre-tokenizer split, no implicit prefix space. Byte-level models
see the raw bytes; SentencePiece-style models see the text with spaces written as ``▁``, and
bytes that are not UTF-8 (or a literal ``▁``) go to their ``<0xXX>`` byte-fallback tokens. An
untruncated decomposition decodes exactly to its token (``b"".join(original.token_bytes(i) for i
in ids) == token``). Runs in the Rust core (``rust/toktool-core/src/zett.rs``), in parallel.

>>> import toktool
>>> from toktool.zett.decompose import decompose_vocab
>>> smollm2 = toktool.load_tokenizer("smollm2")  # doctest: +SKIP
>>> d = decompose_vocab(toktool.load_tokenizer("cl100k"), smollm2, max_len=8)  # doctest: +SKIP
>>> d.ids.shape  # doctest: +SKIP
(100277, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from toktool import _toktool
from toktool._toktool import Tokenizer

__all__ = ["Decomposition", "decompose", "decompose_vocab"]


@dataclass(frozen=True)
class Decomposition:
    """Decompositions of ``n`` pieces into original ids.

    ``ids``: int64, shape ``(n, max_len)``, row ``i`` holds piece ``i``'s first ``lengths[i]``
    ids, padded with -1. ``lengths``: int64, shape ``(n,)``. ``truncated``: how many pieces had
    more than ``max_len`` ids (their rows hold the first ``max_len``). ``unspellable``: how many
    tokens :func:`decompose_vocab` left at length 0 because the original cannot spell them
    exactly (always 0 from :func:`decompose`, which raises instead).
    """

    ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    truncated: int
    unspellable: int = 0


def _padded(raw: _toktool.Decomposition, max_len: int) -> Decomposition:
    ids = raw.ids.astype(np.int64)
    lens = raw.lengths.astype(np.int64)
    out = np.full((len(lens), max_len), -1, dtype=np.int64)
    # Row-major boolean assignment fills each row's first lengths[i] slots in order.
    out[np.arange(max_len)[None, :] < lens[:, None]] = ids
    return Decomposition(ids=out, lengths=lens, truncated=raw.truncated,
                         unspellable=raw.unspellable)


def decompose(tokenizer: Tokenizer, pieces: Sequence[bytes], max_len: int = 8) -> Decomposition:
    """Spell each piece (a new token's raw bytes) in ``tokenizer``'s ids, cut to ``max_len``.

    Raises :class:`toktool.errors.InvalidInputError` for ``max_len < 1``, an empty piece, or a
    piece ``tokenizer`` cannot spell exactly (a byte missing from a byte-level vocabulary, or one
    needing byte fallback in a model without it); ``TypeError`` for a piece that is not bytes.
    """
    return _padded(_toktool.zett_decompose(tokenizer, pieces, max_len), max_len)


def decompose_vocab(new: Tokenizer, original: Tokenizer, max_len: int = 8) -> Decomposition:
    """:func:`decompose` over every id ``0 .. new.vocab_size - 1``, by ``new.token_bytes(id)``.

    Added and special tokens are spelled by their text like any other token. Ids with no token
    (holes in ``new``'s id space) get length 0 and a row of -1, and so do tokens ``original``
    cannot spell exactly (counted in ``unspellable``): SmolLM2's vocabulary, for one, lacks 21
    bytes (``0xC0 0xC1 0xF1 0xF2 0xF5..0xFF``, which never or hardly occur in UTF-8, and six
    control chars) that cl100k and o200k have as tokens.
    """
    return _padded(_toktool.zett_decompose_vocab(new, original, max_len), max_len)
