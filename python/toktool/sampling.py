"""One sampler and one stop rule for every generator (byte-level, healed and naive).

``pick`` chooses the next symbol (a byte or a token) from log-probabilities; ``Stops`` says when
the text generated so far ends a generation. Both ``ByteLM.generate`` and
``toktool.healing``'s generators use them, so ``temperature``, ``top_p`` and ``stop`` mean the same
thing everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

__all__ = ["Stops", "pick"]


def pick(logp: np.ndarray, temperature: float, rng: np.random.Generator, top_p: float = 1.0) -> int:
    """The index of the next symbol: the argmax for ``temperature <= 0``, else a sample.

    A sample is drawn from ``softmax(logp / temperature)``, restricted to the smallest set of
    most likely symbols whose mass reaches ``top_p`` (nucleus sampling) when ``top_p < 1``.
    ``-inf`` entries (masked symbols) are never drawn.
    """
    if temperature <= 0:
        return int(np.argmax(logp))
    scaled = logp / temperature
    p = np.exp(scaled - np.max(scaled))
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p)
        keep = np.cumsum(p[order]) - p[order] < top_p
        cut = np.zeros_like(p)
        cut[order[keep]] = p[order[keep]]
        p = cut / cut.sum()
    return int(rng.choice(p.size, p=p))


StopArg = Union[bytes, Sequence[bytes], None]


class Stops:
    """Stop strings: a generation ends once its text contains one of them.

    ``stop`` may be one ``bytes`` or a sequence of them; empty strings are ignored. A generator
    that emits bytes cuts its output right after the first stop string (:meth:`cut`); one that
    emits tokens ends with the token that completes it (a token may hold bytes past the stop).
    """

    def __init__(self, stop: StopArg):
        if stop is None:
            items: list[bytes] = []
        elif isinstance(stop, (bytes, bytearray, memoryview)):
            items = [bytes(stop)]
        else:
            items = [bytes(s) for s in stop]
        self.items = [s for s in items if s]

    def __bool__(self) -> bool:
        return bool(self.items)

    def hit(self, text: bytes) -> bool:
        """Whether ``text`` contains a stop string."""
        return any(s in text for s in self.items)

    def hit_at_end(self, text: bytes) -> bool:
        """Whether ``text`` ends with a stop string (the check for text growing a byte at a time)."""
        return any(text.endswith(s) for s in self.items)

    def cut(self, text: bytes) -> bytes:
        """``text`` up to and including the earliest stop string in it (all of it if none)."""
        ends = [k + len(s) for s in self.items if (k := text.find(s)) >= 0]
        return text[: min(ends)] if ends else text
