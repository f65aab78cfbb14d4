"""A continuation prior from text counts, for the output rows of transferred tokens.

A new token ``t`` spelled by original tokens ``p1 .. pk`` should score
``log P(t | h) = log P(p1 | h) + log P(p2 .. pk | h, p1)``. The output tower
(:class:`toktool.zett.model.HyperNetwork`) approximates the second term by one number per extra
part (the calibrated length prior) on top of the mean of the parts' rows. This module estimates
it from text instead: among the places in a text sample where an original token starts with the
bytes of ``p1``, the share that go on with the rest of ``t``::

    prior(t) = ln((count(t) + s * exp(b * (k - 1))) / (count(p1) + s))

``count(x)``: occurrences of the bytes of ``x`` starting at an original token boundary of the
sample (so that ``"ing"`` inside ``"thing"`` is not counted as a continuation after ``"ing"``
starts a token); ``b``: the tower's length prior, which the estimate falls back to when the
sample has never seen ``p1`` (``s`` is the smoothing, in pseudo-occurrences).

:func:`mix_output_rows` averages the tower's rows with ``e_p1 + prior(t) * u`` (the first
part's row shifted by the prior along the tower's logit direction ``u``), a product of the two
estimates in probability. Measured in docs/ZETT.md (variants): on held-out code and prose it
closes more of the FVT-to-original gap than either alone.

:func:`unigram_shift` then corrects every output row for how often the new tokenizer emits
the token (label shift): the original model's logits carry the original tokenization's token
frequencies, and under the new tokenizer these change (a prose word the new vocabulary lacks
becomes fragments, ``" pri" "vile" "ged"``, which the original rarely emits; a token the new
vocabulary absorbs into longer ones is emitted less). Each row moves along ``u`` by
``lambda * ln(p_new(t) / p_implied(t))``: ``p_new`` the new tokenizer's unigram frequency on
the sample, ``p_implied`` the original's frequency of the token (one part) or of its first part
times ``exp(prior(t))`` (2+ parts).

Counts are exact for pieces of up to ``max_bytes`` bytes (hashed substrings, 64-bit, one sorted
table per length); longer pieces count as never seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from toktool.errors import InvalidInputError

__all__ = ["ContinuationCounts", "continuation_prior", "mix_output_rows", "sample_texts",
           "unigram_shift"]

_MULT = np.uint64(0x100000001B3)
_SEPARATOR = b"\x00"


def sample_texts(texts: Sequence[str], megabytes: float = 16.0, seed: int = 0) -> list[str]:
    """Whole texts of ``texts`` in a seeded random order until ``megabytes`` of UTF-8."""
    order = np.random.default_rng(seed).permutation(len(texts))
    picked: list[str] = []
    size = 0
    for i in order:
        if size >= megabytes * 1e6:
            break
        picked.append(texts[int(i)])
        size += len(texts[int(i)].encode())
    return picked


def _hash(piece: bytes) -> np.uint64:
    h = np.uint64(0)
    with np.errstate(over="ignore"):
        for byte in piece:
            h = h * _MULT + np.uint64(byte) + np.uint64(1)
    return h


class ContinuationCounts:
    """Occurrences of byte strings at original token boundaries of a text sample.

    ``tokenizer``: the original tokenizer (whose boundaries count); ``texts``: the sample (a
    model's training text, e.g. :func:`sample_texts` of it), kept as ``texts``;
    ``token_counts``: how often the original tokenizer emits each id on it."""

    def __init__(self, tokenizer: Any, texts: Sequence[str], max_bytes: int = 24):
        if max_bytes < 1:
            raise InvalidInputError(f"max_bytes must be >= 1, got {max_bytes}")
        texts = [t for t in texts if t]
        if not texts:
            raise InvalidInputError("counting continuations needs some text")
        self.max_bytes = max_bytes
        self.texts = texts
        encoded = [t.encode() for t in texts]
        blob = _SEPARATOR.join(encoded)
        starts = np.zeros(len(blob) + 1, dtype=bool)
        vocab = tokenizer.all_token_bytes()
        lengths = np.array([len(b) if b else 0 for b in vocab], dtype=np.int64)
        self.token_counts = np.zeros(len(vocab), dtype=np.int64)
        at = 0
        for raw, ids in zip(encoded, tokenizer.encode_batch(texts, as_array=True)):
            ids = np.asarray(ids, dtype=np.int64)
            self.token_counts += np.bincount(ids, minlength=len(vocab))[: len(vocab)]
            ends = np.cumsum(lengths[ids])
            starts[at] = True
            starts[at + ends[:-1]] = True
            at += len(raw) + 1
        data = np.frombuffer(blob, dtype=np.uint8).astype(np.uint64)
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        h = np.zeros(len(data), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for n in range(1, max_bytes + 1):
                if len(data) < n:
                    break
                h = h[: len(data) - n + 1] * _MULT + data[n - 1:] + np.uint64(1)
                self._tables[n] = np.unique(h[starts[: len(h)]], return_counts=True)

    def count(self, pieces: Sequence[bytes]) -> np.ndarray:
        """Occurrences of each piece at a token boundary (0 for empty or too long pieces)."""
        out = np.zeros(len(pieces), dtype=np.int64)
        for i, piece in enumerate(pieces):
            table = self._tables.get(len(piece))
            if table is None:
                continue
            keys, counts = table
            h = _hash(piece)
            at = int(np.searchsorted(keys, h))
            if at < len(keys) and keys[at] == h:
                out[i] = int(counts[at])
        return out


def continuation_prior(
    counts: ContinuationCounts,
    tokens: Sequence[bytes],
    first_parts: Sequence[bytes],
    n_parts: np.ndarray,
    length_bias: float,
    smoothing: float = 1.0,
) -> np.ndarray:
    """``ln P(rest of token | its first part)`` per token, in nats (0 for one-part tokens); see
    the module docstring."""
    if smoothing <= 0:
        raise InvalidInputError(f"smoothing must be > 0, got {smoothing}")
    n_parts = np.asarray(n_parts)
    multi = n_parts > 1
    full = counts.count([t if m else b"" for t, m in zip(tokens, multi)]).astype(np.float64)
    first = counts.count([f if m else b"" for f, m in zip(first_parts, multi)]).astype(np.float64)
    fallback = np.exp(length_bias * np.maximum(n_parts - 1, 0))
    prior = np.log((full + smoothing * fallback) / (first + smoothing))
    return np.where(multi, prior, 0.0)


def unigram_shift(
    counts: ContinuationCounts,
    new: Any,
    first_ids: np.ndarray,
    n_parts: np.ndarray,
    prior: np.ndarray,
    smoothing: float = 1.0,
) -> np.ndarray:
    """``ln(p_new(t) / p_implied(t))`` per token of ``new`` (nats; 0 for tokens of no parts).

    ``p_new``: ``new``'s unigram frequency on ``counts.texts``; ``p_implied``: the original's
    frequency of the token's first part (``first_ids``, original ids) times ``exp(prior)``
    (:func:`continuation_prior`, 0 for one-part tokens), both smoothed by ``smoothing``
    occurrences. See the module docstring."""
    from toktool.zett.train import token_counts

    n_parts = np.asarray(n_parts)
    emitted = token_counts(new, counts.texts).astype(np.float64)
    original = counts.token_counts.astype(np.float64)
    first = original[np.where(n_parts > 0, np.asarray(first_ids), 0)]
    implied = first * np.exp(np.asarray(prior, dtype=np.float64))
    shift = (np.log((emitted + smoothing) / max(emitted.sum(), 1.0))
             - np.log((implied + smoothing) / max(original.sum(), 1.0)))
    return np.where(n_parts > 0, shift, 0.0)


def mix_output_rows(
    tower_rows: Any,
    first_rows: Any,
    prior: np.ndarray,
    direction: Any,
    n_parts: np.ndarray,
    mix: float = 0.5,
) -> Any:
    """``(1 - mix) * tower_rows + mix * (first_rows + prior * direction)`` for tokens of 2+
    parts; other rows as ``tower_rows``."""
    from toktool._torch import load_torch

    torch = load_torch()
    if not 0.0 <= mix <= 1.0:
        raise InvalidInputError(f"mix must be in [0, 1], got {mix}")
    shift = torch.as_tensor(prior, dtype=torch.float32, device=tower_rows.device).unsqueeze(1)
    counted = first_rows.float() + shift * direction.float().to(tower_rows.device)
    mixed = (1.0 - mix) * tower_rows.float() + mix * counted
    multi = torch.as_tensor(np.asarray(n_parts) > 1, device=tower_rows.device).unsqueeze(1)
    return torch.where(multi, mixed.to(tower_rows.dtype), tower_rows)
