"""Exact byte-level probabilities (toktool.ByteLM) against a known byte-level source.

The source is a Markov chain over a small alphabet with a space and a digit; strings end with an
explicit end-of-text and are at most MAX_LEN bytes. A BPE is trained on its samples with GPT-2's
byte-level pre-tokenizer, and the exactly equivalent token LM is built by enumeration: it puts
mass only on canonical encodings. Converting that token LM back to bytes must give the source's
next-byte distribution for every prefix, mid-token prefixes included.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

import toktool
from toktool.bytes import EOT, ByteEnsemble, ByteLM

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))
ALPHABET = "ab 1"
MAX_LEN = 6


class MarkovSource:
    """A byte-level source: P(s) for every string over ALPHABET of length <= MAX_LEN."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        k = len(ALPHABET)
        self.start = rng.dirichlet(np.ones(k))
        self.trans = rng.dirichlet(np.ones(k + 1) * 0.7, size=k)  # last column: end of text
        self.probs: dict[str, float] = {"": 0.0}
        for n in range(1, MAX_LEN + 1):
            for chars in itertools.product(range(k), repeat=n):
                p = self.start[chars[0]]
                for a, b in zip(chars, chars[1:]):
                    p *= self.trans[a, b]
                end = 1.0 if n == MAX_LEN else self.trans[chars[-1], k]
                self.probs["".join(ALPHABET[c] for c in chars)] = p * end
        assert abs(sum(self.probs.values()) - 1.0) < 1e-12

    @functools.cached_property
    def prefix_mass(self) -> dict[str, float]:
        mass: dict[str, float] = defaultdict(float)
        for s, p in self.probs.items():
            for i in range(len(s) + 1):
                mass[s[:i]] += p
        return dict(mass)

    def next_byte(self, x: str) -> np.ndarray:
        out = np.zeros(257)
        for c in ALPHABET:
            out[ord(c)] = self.prefix_mass.get(x + c, 0.0)
        out[EOT] = self.probs.get(x, 0.0)
        return out / self.prefix_mass[x]


def train_tokenizer(source: MarkovSource, vocab_size: int = 290) -> str:
    rng = np.random.default_rng(0)
    strings, weights = zip(*source.probs.items())
    w = np.array(weights) / sum(weights)
    sample = [strings[i] for i in rng.choice(len(strings), size=3000, p=w)]
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<eos>"], show_progress=False,
    )
    tok.train_from_iterator(sample, trainer=trainer)
    return tok.to_str()


class EnumeratedTokenLM:
    """The token LM equivalent to the source: mass only on canonical encodings + <eos>."""

    def __init__(self, source: MarkovSource, tok: toktool.Tokenizer, eos_id: int):
        self.vocab = tok.vocab_size
        self.eos_id = eos_id
        self.mass: dict[tuple[int, ...], float] = defaultdict(float)
        for s, p in source.probs.items():
            seq = tuple(tok.encode(s)) + (eos_id,)
            for i in range(len(seq) + 1):
                self.mass[seq[:i]] += p
        self.calls = 0

    def __call__(self, contexts):  # type: ignore[no-untyped-def]
        self.calls += 1
        out = np.full((len(contexts), self.vocab), -np.inf)
        for row, ctx in enumerate(contexts):
            ctx = tuple(ctx)
            total = self.mass.get(ctx, 0.0)
            if total == 0.0:
                out[row] = -math.log(self.vocab)
                continue
            for t in range(self.vocab):
                m = self.mass.get(ctx + (t,), 0.0)
                if m > 0:
                    out[row, t] = math.log(m / total)
        return out


@pytest.fixture(scope="module", params=[1, 2])
def setup(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    source = MarkovSource(seed=request.param)
    tok = toktool.Tokenizer.from_str(train_tokenizer(source))
    eos_id = tok.token_to_id("<eos>")
    lm = EnumeratedTokenLM(source, tok, eos_id)
    return source, tok, lm, ByteLM(lm, tok, eos_id=eos_id)


def all_prefixes(source: MarkovSource) -> list[str]:
    return [x for x, m in source.prefix_mass.items() if m > 0 and len(x) < MAX_LEN]


def test_tokenizer_has_multi_byte_tokens_across_classes(setup) -> None:  # type: ignore[no-untyped-def]
    _, tok, _, _ = setup
    spans = {tok.token_bytes(i) for i in range(tok.vocab_size)}
    assert any(len(b) >= 3 for b in spans)
    assert any(b.startswith(b" ") and len(b) > 1 for b in spans)


def test_next_byte_matches_source_for_every_prefix(setup) -> None:  # type: ignore[no-untyped-def]
    source, tok, _, blm = setup
    mid_token = 0
    for x in all_prefixes(source):
        ours = np.exp(blm.next_byte_logprobs(x.encode()))
        truth = source.next_byte(x)
        np.testing.assert_allclose(ours, truth, atol=1e-9, err_msg=repr(x))
        ids = tok.encode(x)
        if ids and tok.encode(x + "a")[: len(ids)] != ids:
            mid_token += 1
    assert mid_token > 10  # the check covered many prompts that end mid-token


def test_naive_prompting_fails_on_the_same_prefixes(setup) -> None:  # type: ignore[no-untyped-def]
    source, tok, lm, _ = setup
    worst = 0.0
    for x in all_prefixes(source):
        row = np.exp(lm([tok.encode(x)])[0])
        naive = np.zeros(257)
        for t in range(tok.vocab_size):
            b = tok.token_bytes(t)
            if t == lm.eos_id:
                naive[EOT] += row[t]
            elif b:
                naive[b[0]] += row[t]
        worst = max(worst, float(np.abs(naive - source.next_byte(x)).max()))
    assert worst > 0.1  # naive prompting is visibly wrong somewhere


def test_distributions_sum_to_one_and_prefix_scores_compose(setup) -> None:  # type: ignore[no-untyped-def]
    source, _, _, blm = setup
    for x in all_prefixes(source)[:60]:
        p = np.exp(blm.next_byte_logprobs(x.encode()))
        assert abs(p.sum() - 1.0) < 1e-12
        assert math.isclose(
            blm.prefix_logprob(x.encode()), math.log(source.prefix_mass[x]), abs_tol=1e-9
        )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_logprob_chain_rule_and_incremental_state(setup, data) -> None:  # type: ignore[no-untyped-def]
    source, _, _, blm = setup
    x = data.draw(st.sampled_from(all_prefixes(source)))
    if len(x) < 2:
        return
    cut = data.draw(st.integers(0, len(x)))
    a, b = x[:cut].encode(), x[cut:].encode()
    whole = blm.logprob(a + b)
    assert math.isclose(whole, blm.logprob(a) + blm.logprob(b, prefix=a), abs_tol=1e-9)
    state = blm.state(a)
    stepwise = 0.0
    for byte in b:
        stepwise += float(state.logprobs()[byte])
        state.push(bytes([byte]))
    assert math.isclose(stepwise, blm.logprob(b, prefix=a), abs_tol=1e-9)
    np.testing.assert_allclose(state.logprobs(), blm.next_byte_logprobs(a + b), atol=1e-12)



def chi_square(observed: dict[bytes, int], expected: dict[bytes, float], n: int) -> tuple[float, int]:
    stat, dof = 0.0, -1
    pooled_obs = pooled_exp = 0.0
    for key, p in expected.items():
        e = n * p
        if e < 5:
            pooled_obs += observed.get(key, 0)
            pooled_exp += e
            continue
        stat += (observed.get(key, 0) - e) ** 2 / e
        dof += 1
    if pooled_exp > 0:
        stat += (pooled_obs - pooled_exp) ** 2 / pooled_exp
        dof += 1
    return stat, dof
