"""toktool.costs (the naive-vs-exact measurement behind `toktool demo` and bench/eval_bytes.py)
on the enumerated Markov-source LM of test_bytes.py: the outputs it times are the ones the
decoders give, the exact score is the source's, and the counts are the LM calls made."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import toktool
from toktool.bytes import ByteLM
from toktool.costs import greedy_costs, naive_greedy, scoring_costs

from test_bytes import EnumeratedTokenLM, MarkovSource, train_tokenizer


class CountingLM:
    """An LM with HFTokenLM's bookkeeping surface: ``forward_calls`` and ``reset``."""

    def __init__(self, inner: EnumeratedTokenLM):
        self.inner = inner
        self.forward_calls = 0
        self.resets = 0

    def __call__(self, contexts: Any) -> np.ndarray:
        self.forward_calls += 1
        return self.inner(contexts)

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture(scope="module")
def setup() -> tuple[MarkovSource, toktool.Tokenizer, CountingLM, ByteLM]:
    source = MarkovSource(seed=1)
    tok = toktool.Tokenizer.from_str(train_tokenizer(source))
    eos_id = tok.token_to_id("<eos>")
    assert eos_id is not None
    lm = CountingLM(EnumeratedTokenLM(source, tok, eos_id))
    return source, tok, lm, ByteLM(lm, tok, eos_id=eos_id)


def test_greedy_costs_time_the_decoders_outputs(setup: Any) -> None:
    _, tok, lm, blm = setup
    prompt = b"ab a"
    resets = lm.resets
    naive, naive_cost, exact, exact_cost = greedy_costs(blm, tok, prompt, 4, stop=None)
    assert lm.resets == resets + 2  # each side from an empty cache
    assert exact == blm.generate(prompt, max_bytes=4, temperature=0)
    ids = tok.encode(prompt.decode())
    expected = b""
    while len(expected) < 4:
        t = int(np.argmax(lm.inner([ids])[0]))
        ids.append(t)
        expected += tok.token_bytes(t)
    assert naive == expected
    assert naive_cost.forwards == len(ids) - len(tok.encode(prompt.decode()))
    assert (naive_cost.nbytes, exact_cost.nbytes) == (len(naive), len(exact))
    assert exact_cost.forwards > 0
    assert exact_cost.model_seconds is not None and exact_cost.bookkeeping_seconds is not None
    assert exact_cost.model_seconds + exact_cost.bookkeeping_seconds <= exact_cost.seconds
    assert naive_cost.python_seconds is None


def test_naive_greedy_stops_at_the_stop_bytes(setup: Any) -> None:
    _, tok, lm, _ = setup
    free = naive_greedy(lm, tok, b"a", 12, stop=None)
    assert len(free) >= 12
    stop = free[3:4]  # a byte the free run produces after its first few
    out = naive_greedy(lm, tok, b"a", 12, stop=stop)
    assert stop in out and free.startswith(out) and len(out) < len(free)


def test_scoring_costs_give_the_exact_and_the_naive_log_probability(setup: Any) -> None:
    source, tok, lm, blm = setup
    prompt, cont = b"ab", b" ab"  # cut at a pre-token boundary: naive is finite here
    naive, naive_cost, exact, exact_cost = scoring_costs(blm, tok, prompt, cont)
    truth = math.log(source.prefix_mass["ab ab"] / source.prefix_mass["ab"])
    assert abs(exact - truth) < 1e-9
    p_ids, c_ids = tok.encode("ab"), tok.encode(" ab")
    rows = [lm.inner([p_ids + c_ids[:i]])[0] for i in range(len(c_ids))]
    expected = sum(float(r[t]) for r, t in zip(rows, c_ids))
    assert math.isfinite(expected) and abs(naive - expected) < 1e-9
    assert naive_cost.nbytes == exact_cost.nbytes == len(cont)
    assert naive_cost.forwards > 0 and exact_cost.forwards > 0
