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



def chi_square_pvalue(observed: dict, expected: dict, n: int) -> float:
    """Pearson's chi-square p-value (Wilson-Hilferty), pooling cells with expectation < 5."""
    stat, dof, pooled_obs, pooled_exp = 0.0, -1, 0.0, 0.0
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
    assert dof >= 3
    z = ((stat / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize("prompt", ["ba", "a 1", ""])
def test_exact_sampling_matches_the_exact_distribution(setup, prompt: str) -> None:  # type: ignore[no-untyped-def]
    source, _, lm, blm = setup
    expected: dict[bytes, float] = defaultdict(float)
    for s, p in source.probs.items():
        if s.startswith(prompt) and p > 0:
            expected[s[len(prompt):].encode()] += p / source.prefix_mass[prompt]
    n = 1500
    observed: dict[bytes, int] = defaultdict(int)
    for seed in range(n):
        observed[blm.generate(prompt.encode(), max_bytes=MAX_LEN, seed=seed)] += 1
    assert set(observed) <= set(expected)
    assert chi_square_pvalue(observed, expected, n) > 1e-3


@pytest.mark.parametrize("negligible", [1e-9, 0.0])
def test_lazy_greedy_gives_the_bytes_of_the_full_distribution(setup, negligible) -> None:  # type: ignore[no-untyped-def]
    # Greedy with lazy rows (bounds settle the argmax from kept rows) against greedy that asks
    # for every cover's row at every byte, and against the source's own argmax, from many
    # prompts; the lazy side must also ask the model less often.
    source, tok, lm, _ = setup
    lazy = ByteLM(lm, tok, eos_id=tok.token_to_id("<eos>"), negligible=negligible)
    eager = ByteLM(lm, tok, eos_id=tok.token_to_id("<eos>"), negligible=negligible,
                   lazy_rows=False)
    prompts = sorted(all_prefixes(source), key=lambda x: -source.prefix_mass[x])[:40]
    prompts += all_prefixes(source)[::97]
    calls = {}
    for name, blm in (("lazy", lazy), ("eager", eager)):
        lm.calls = 0
        calls[name] = [blm.generate(x.encode(), max_bytes=MAX_LEN, temperature=0)
                       for x in prompts]
        calls[name + "_calls"] = lm.calls
    assert calls["lazy"] == calls["eager"]
    for x, out in zip(prompts, calls["lazy"]):
        for byte in out:
            assert byte == int(np.argmax(source.next_byte(x))), x
            x += chr(byte)
        if len(x) < MAX_LEN:  # stopped: end of text is the argmax
            assert int(np.argmax(source.next_byte(x))) == EOT, x
    assert calls["lazy_calls"] < calls["eager_calls"]


def test_lazy_greedy_state_matches_logprobs_at_every_step(setup) -> None:  # type: ignore[no-untyped-def]
    # ByteState.greedy() on a state whose kept rows grow byte by byte is argmax(logprobs()) of
    # a fresh computation after the same bytes, also off the greedy path (pushed bytes chosen
    # by the source's order of likelihood, not the argmax).
    source, tok, lm, blm = setup
    for x in sorted(all_prefixes(source), key=lambda x: -source.prefix_mass[x])[:30]:
        state = blm.state(b"")
        done = ""
        for ch in x:
            assert state.greedy() == int(np.argmax(blm.next_byte_logprobs(done.encode()))), done
            state.push(ch.encode())
            done += ch
        assert state.greedy() == int(np.argmax(blm.next_byte_logprobs(done.encode())))


def test_greedy_generation_follows_the_argmax_byte(setup) -> None:  # type: ignore[no-untyped-def]
    source, _, _, blm = setup
    prompt = "b"
    out = blm.generate(prompt.encode(), max_bytes=4, temperature=0)
    x = prompt
    for byte in out:
        truth = source.next_byte(x)
        assert byte == int(np.argmax(truth))
        x += chr(byte)


def brute_force_covers(tok: toktool.Tokenizer, x: bytes, max_extra: int) -> set[tuple[int, ...]]:
    """Covers of x by definition: prefixes of canonical encodings of strings extending x.

    Continuations are every string over the alphabet up to ``max_extra`` chars, optionally ended
    by one char of another class (text outside the source's alphabet exists too).
    """
    found: set[tuple[int, ...]] = set()
    endings = ["", ".", "é", "\n", "A", "-"]
    for extra in range(max_extra + 1):
        for chars, ending in itertools.product(
            itertools.product(ALPHABET, repeat=extra), endings
        ):
            s = x.decode() + "".join(chars) + ending
            pos = 0
            ids = tok.encode(s)
            for k, t in enumerate(ids):
                n = len(tok.token_bytes(t))
                if pos < len(x) <= pos + n:
                    found.add(tuple(ids[: k + 1]))
                    break
                pos += n
    return found


class RandomTokenLM:
    """A deterministic random LM: mass on every token, canonical or not."""

    def __init__(self, vocab: int, seed: int):
        self.vocab, self.seed = vocab, seed

    def __call__(self, contexts):  # type: ignore[no-untyped-def]
        rows = []
        for ctx in contexts:
            rng = np.random.default_rng([self.seed, len(ctx), *ctx])
            logits = rng.normal(size=self.vocab) * 2
            rows.append(logits - np.logaddexp.reduce(logits))
        return np.array(rows)


@settings(max_examples=max(10, EXAMPLES // 10), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(x=st.text(alphabet=ALPHABET, min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_cover_search_matches_brute_force(setup, x: str, seed: int) -> None:  # type: ignore[no-untyped-def]
    _, tok, _, _ = setup
    y = x.encode()
    c = toktool.CoverSearch(tok).covers(y)
    ours = {tuple(c.head) + tuple(g.prefix) + (t,) for g in c.groups for t in g.last}
    ours |= {tuple(c.head) + tuple(e) for e in c.exact}
    longest = max(len(tok.token_bytes(i)) for i in range(tok.vocab_size))
    truth = brute_force_covers(tok, y, max_extra=longest)
    assert ours == truth
    # and the probability of the prefix under a random LM is the sum over exactly those covers
    lm = RandomTokenLM(tok.vocab_size, seed)
    blm = ByteLM(lm, tok)
    expected = np.logaddexp.reduce([
        sum(lm([list(cov[:i])])[0][cov[i]] for i in range(len(cov))) for cov in truth
    ])
    assert math.isclose(blm.prefix_logprob(y), float(expected), abs_tol=1e-9)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda ctx: np.full((len(ctx), 5), -1.0), "columns"),
        (lambda ctx: np.full((len(ctx) + 1, 400), -math.log(400)), "shape"),
        (lambda ctx: np.full((len(ctx), 400), np.nan), "NaN"),
        (lambda ctx: np.zeros((len(ctx), 400)), "normalized"),
    ],
)
def test_bad_token_lm_outputs_raise(setup, bad, message: str) -> None:  # type: ignore[no-untyped-def]
    _, tok, _, _ = setup
    blm = ByteLM(bad, tok)
    with pytest.raises(toktool.InvalidInputError, match=message):
        blm.next_byte_logprobs(b"ab")


def test_bad_prefixes(setup) -> None:  # type: ignore[no-untyped-def]
    _, tok, lm, blm = setup
    with pytest.raises(TypeError):
        blm.next_byte_logprobs("ab")  # type: ignore[arg-type]
    # empty prefix: the distribution of the first byte
    first = np.exp(blm.next_byte_logprobs(b""))
    assert abs(first.sum() - 1) < 1e-12
    # bytes no token can produce: probability zero, reported as an error, never a guess
    with pytest.raises(toktool.InvalidInputError):
        blm.next_byte_logprobs(b"\xff\xfe")
    assert blm.prefix_logprob(b"zzz") == -math.inf
    with pytest.raises(toktool.InvalidInputError):
        blm.generate(b"ab", max_bytes=-1)


def test_ensemble_of_identical_models_equals_the_model(setup) -> None:  # type: ignore[no-untyped-def]
    source, _, _, blm = setup
    for mode in ("mixture", "product"):
        ens = ByteEnsemble([blm, blm], weights=[0.3, 0.7], mode=mode)
        for x in ["", "a", "ba", "a 1"]:
            np.testing.assert_allclose(
                np.exp(ens.next_byte_logprobs(x.encode())), source.next_byte(x), atol=1e-9
            )
    with pytest.raises(toktool.InvalidInputError):
        ByteEnsemble([blm], mode="median")  # type: ignore[arg-type]


class ContextualTokenLM(EnumeratedTokenLM):
    """Two sources behind a one-token context: after [ctx_ids[k]] the text is drawn from
    sources[k] (canonical encodings + <eos>), so P(bytes | context) is known exactly."""

    def __init__(self, sources: list[MarkovSource], tok: toktool.Tokenizer, eos_id: int,
                 ctx_ids: list[int]):
        self.vocab = tok.vocab_size
        self.eos_id = eos_id
        self.mass = defaultdict(float)
        for source, c in zip(sources, ctx_ids):
            self.mass[()] += 1.0
            for s, p in source.probs.items():
                seq = (c,) + tuple(tok.encode(s)) + (eos_id,)
                for i in range(1, len(seq) + 1):
                    self.mass[seq[:i]] += p
        self.calls = 0


@pytest.fixture(scope="module")
def context_setup(setup):  # type: ignore[no-untyped-def]
    source, tok, _, _ = setup
    other = MarkovSource(seed=7)
    eos_id = tok.token_to_id("<eos>")
    ctx_ids = [tok.token_to_id("a"), tok.token_to_id("b")]
    lm = ContextualTokenLM([source, other], tok, eos_id, ctx_ids)
    return [source, other], ctx_ids, ByteLM(lm, tok, eos_id=eos_id)


def test_next_byte_after_a_context_matches_its_source(context_setup) -> None:  # type: ignore[no-untyped-def]
    sources, ctx_ids, blm = context_setup
    for source, c in zip(sources, ctx_ids):
        for x in all_prefixes(source):
            ours = np.exp(blm.next_byte_logprobs(x.encode(), context=[c]))
            np.testing.assert_allclose(ours, source.next_byte(x), atol=1e-9, err_msg=repr(x))


def test_logprob_after_a_context_is_the_sources_conditional(context_setup) -> None:  # type: ignore[no-untyped-def]
    sources, ctx_ids, blm = context_setup
    for source, c in zip(sources, ctx_ids):
        for x in [p for p in all_prefixes(source) if 2 <= len(p) <= 4][:40]:
            for cut in range(len(x) + 1):
                want = math.log(source.prefix_mass[x] / source.prefix_mass[x[:cut]])
                got = blm.logprob(x[cut:].encode(), prefix=x[:cut].encode(), context=[c])
                assert abs(got - want) < 1e-9, (x, cut)
            assert abs(blm.prefix_logprob(x.encode(), context=[c])
                       - math.log(source.prefix_mass[x])) < 1e-9


def test_greedy_and_sampling_after_a_context_follow_its_source(context_setup) -> None:  # type: ignore[no-untyped-def]
    sources, ctx_ids, blm = context_setup
    for source, c in zip(sources, ctx_ids):
        x = ""
        out = blm.generate(b"", max_bytes=MAX_LEN, temperature=0, context=[c])
        for b in out:  # each greedy byte is the source's argmax after the bytes so far
            assert b == int(np.argmax(source.next_byte(x)))
            x += chr(b)
        samples = [blm.generate(b"", max_bytes=MAX_LEN, seed=s, context=[c]) for s in range(30)]
        # exact sampling after the context draws only strings of that source
        assert all(source.probs.get(s.decode(), 0.0) > 0 for s in samples)


def test_context_ids_outside_the_vocabulary_raise(context_setup) -> None:  # type: ignore[no-untyped-def]
    _, _, blm = context_setup
    with pytest.raises(toktool.InvalidInputError, match="outside the tokenizer's vocabulary"):
        blm.next_byte_logprobs(b"a", context=[10**6])


def test_fim_and_chat_contexts_use_the_tokenizers_special_tokens() -> None:
    from toktool import artifacts
    from toktool.bytes import chat_context, fim

    cl = toktool.Tokenizer.from_file(artifacts.tokenizer_json("cl100k"))
    ids = fim(cl, "def f(x):\n    return ", "\n")
    assert ids[0] == cl.special_tokens["<|fim_prefix|>"]
    assert ids[-1] == cl.special_tokens["<|fim_middle|>"]
    assert cl.special_tokens["<|fim_suffix|>"] in ids
    assert cl.decode_bytes(ids[1:-1]).startswith(b"def f(x):\n    return ")
    with pytest.raises(toktool.InvalidInputError, match="no ChatML tokens"):
        chat_context(cl, [("user", "hi")])
    smol = toktool.Tokenizer.from_file(artifacts.tokenizer_json("smollm2"))
    chat = chat_context(smol, [("system", "Be brief."), ("user", "hi")])
    assert smol.decode_bytes(chat) == (b"<|im_start|>system\nBe brief.<|im_end|>\n"
                                       b"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert chat == smol.encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi"
                               "<|im_end|>\n<|im_start|>assistant\n")
    with pytest.raises(toktool.InvalidInputError, match="no fill-in-the-middle tokens"):
        fim(smol, "a", "b")
