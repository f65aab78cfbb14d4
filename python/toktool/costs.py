"""What exact byte-level decoding costs against naive token decoding, measured the same way
everywhere: ``bench/eval_bytes.py`` (the tables in docs/BYTES.md) and ``toktool demo`` call these.

Each measurement starts from an empty KV cache (``lm.reset()``), so both sides pay their own
prompt prefill, and reports seconds, model forward calls and bytes; the exact side also splits its
time into the model, the Rust cover bookkeeping and the rest (Python around them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from toktool.bytes import ByteLM, score_sequence
from toktool.tokenizer import Tokenizer

__all__ = ["Cost", "greedy_costs", "naive_greedy", "naive_logprob", "scoring_costs"]


@dataclass
class Cost:
    """The work of one decoding or scoring call."""

    seconds: float
    forwards: int
    nbytes: int
    model_seconds: float | None = None
    bookkeeping_seconds: float | None = None

    @property
    def seconds_per_byte(self) -> float:
        return self.seconds / max(1, self.nbytes)

    @property
    def forwards_per_byte(self) -> float:
        return self.forwards / max(1, self.nbytes)

    @property
    def python_seconds(self) -> float | None:
        """Time outside the model and the bookkeeping (exact side only)."""
        if self.model_seconds is None or self.bookkeeping_seconds is None:
            return None
        return self.seconds - self.model_seconds - self.bookkeeping_seconds

    def __add__(self, other: Cost) -> Cost:
        def add(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        return Cost(self.seconds + other.seconds, self.forwards + other.forwards,
                    self.nbytes + other.nbytes, add(self.model_seconds, other.model_seconds),
                    add(self.bookkeeping_seconds, other.bookkeeping_seconds))


def naive_greedy(lm: Any, tok: Tokenizer, prompt: bytes, limit: int, stop: bytes | None = b"\n",
                 step_seconds: list[float] | None = None) -> bytes:
    """Greedy token decoding from the prompt's own tokens, until ``stop`` appears or ``limit``
    bytes are out (the last token may run past it). ``step_seconds`` collects the time of every
    forward after the prompt's prefill (one new token on the KV cache)."""
    ids = tok.encode(prompt.decode("utf-8", "replace"))
    out = b""
    for i in range(limit):
        t0 = time.perf_counter()
        row = lm([ids])[0]
        if step_seconds is not None and i > 0:
            step_seconds.append(time.perf_counter() - t0)
        t = int(np.argmax(row))
        ids.append(t)
        out += tok.token_bytes(t)
        if (stop is not None and stop in out) or len(out) >= limit:
            break
    return out


def naive_logprob(lm: Any, tok: Tokenizer, prompt: bytes, cont: bytes) -> float:
    """log P(cont's tokens | prompt's tokens), prompt and continuation tokenized apart."""
    p_ids = tok.encode(prompt.decode("utf-8", "replace"))
    c_ids = tok.encode(cont.decode("utf-8", "replace"))
    return score_sequence(lm, p_ids + c_ids) - score_sequence(lm, p_ids)


def _measure(lm: Any, blm: ByteLM | None, fn: Any) -> tuple[Any, Cost]:
    lm.reset()
    f0, t0 = lm.forward_calls, time.perf_counter()
    m0 = dict(blm.seconds) if blm is not None else None
    result = fn()
    seconds = time.perf_counter() - t0
    cost = Cost(seconds, lm.forward_calls - f0, 0)
    if blm is not None and m0 is not None:
        cost.model_seconds = blm.seconds["model"] - m0["model"]
        cost.bookkeeping_seconds = blm.seconds["bookkeeping"] - m0["bookkeeping"]
    return result, cost


def greedy_costs(blm: ByteLM, tok: Tokenizer, prompt: bytes, limit: int,
                 stop: bytes | None = b"\n") -> tuple[bytes, Cost, bytes, Cost]:
    """(naive output, its cost, exact output, its cost) of greedy decoding after ``prompt``,
    at most ``limit`` bytes or up to ``stop``; ``blm.lm`` must be an :class:`HFTokenLM`-like LM
    with ``reset`` and ``forward_calls``."""
    lm = blm.lm
    naive, naive_cost = _measure(lm, None, lambda: naive_greedy(lm, tok, prompt, limit, stop))
    naive_cost.nbytes = len(naive)
    stops = [stop] if stop is not None else None
    exact, exact_cost = _measure(
        lm, blm, lambda: blm.generate(prompt, max_bytes=limit, temperature=0, stop=stops))
    exact_cost.nbytes = len(exact)
    return naive, naive_cost, exact, exact_cost


def scoring_costs(blm: ByteLM, tok: Tokenizer, prompt: bytes,
                  cont: bytes) -> tuple[float, Cost, float, Cost]:
    """(naive log-prob, its cost, exact log-prob, its cost) of ``cont`` after ``prompt``."""
    lm = blm.lm
    naive, naive_cost = _measure(lm, None, lambda: naive_logprob(lm, tok, prompt, cont))
    exact, exact_cost = _measure(lm, blm, lambda: blm.logprob(cont, prefix=prompt))
    naive_cost.nbytes = exact_cost.nbytes = len(cont)
    return naive, naive_cost, exact, exact_cost
