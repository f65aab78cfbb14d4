"""The ``TokenLM`` protocol: what toktool needs from a tokenized language model.

A ``TokenLM`` is any callable ``lm(contexts) -> np.ndarray`` mapping a batch of token-id
contexts to next-token natural-log probabilities of shape ``(len(contexts), vocab_size)``. The
empty context means "start of text" (an adapter adds BOS if its model needs one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from toktool.errors import InvalidInputError

__all__ = ["TokenLM", "check_logprobs"]


@runtime_checkable
class TokenLM(Protocol):
    """Next-token log-probabilities for a batch of contexts."""

    def __call__(self, contexts: Sequence[Sequence[int]]) -> np.ndarray: ...


def check_logprobs(rows: np.ndarray, n_contexts: int, vocab_size: int | None = None,
                   atol: float = 1e-3) -> np.ndarray:
    """Validate a ``TokenLM`` result: shape, finiteness and normalization; returns float64 rows.

    Raises :class:`toktool.InvalidInputError` naming what is wrong, instead of letting a bad model
    output turn into a silently wrong distribution.
    """
    arr = np.asarray(rows, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n_contexts:
        raise InvalidInputError(
            f"the token LM returned shape {arr.shape}, expected ({n_contexts}, vocab_size)"
        )
    if vocab_size is not None and arr.shape[1] < vocab_size:
        raise InvalidInputError(
            f"the token LM returned shape {arr.shape}: {arr.shape[1]} columns, fewer than the tokenizer's "
            f"vocab_size {vocab_size}"
        )
    if np.isnan(arr).any() or np.isposinf(arr).any():
        raise InvalidInputError("the token LM returned NaN or +inf log-probabilities")
    totals = np.logaddexp.reduce(arr, axis=1)
    bad = np.abs(totals) > atol
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidInputError(
            f"the token LM's row {row} is not normalized: log-sum-exp = {totals[row]:.4g} "
            "(return log_softmax of the logits)"
        )
    return arr
